package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tenure-io/tenure/integrations"
	"github.com/tenure-io/tenure/integrations/github"
	"github.com/tenure-io/tenure/integrations/github/githubtest"
	"github.com/tenure-io/tenure/integrations/scim"
	"github.com/tenure-io/tenure/internal/sandbox"
)

// appsCLI runs `tenure apps test` with args and env, and returns its stdout,
// its stderr and its error.
func appsCLI(t *testing.T, env map[string]string, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), append([]string{"apps", "test"}, args...), func(k string) string { return env[k] }, &out, &errOut)
	return out.String(), errOut.String(), err
}

// appBlock returns the lines the text report gives app, header first, and
// fails the test when there are none.
func appBlock(t *testing.T, out, app string) []string {
	t.Helper()
	for _, block := range strings.Split(out, "\n\n") {
		lines := strings.Split(strings.Trim(block, "\n"), "\n")
		if strings.HasPrefix(lines[0], app+" (") {
			return lines
		}
	}
	t.Fatalf("no report for %s in:\n%s", app, out)
	return nil
}

// hasLine reports whether one of lines starts, after its indent, with the
// marker mark and then holds every one of words.
func hasLine(lines []string, mark string, words ...string) bool {
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) == 0 || f[0] != mark {
			continue
		}
		all := true
		for _, w := range words {
			all = all && strings.Contains(l, w)
		}
		if all {
			return true
		}
	}
	return false
}

// closedURL is the address of a port on which nothing listens.
func closedURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

// TestAppsTestSCIM tests three SCIM apps of a policy file: a sandbox app that
// answers (served as tenure dev would serve it), an app whose token is wrong,
// and one nobody answers at. Each is named with its outcome, and the command
// fails because two of them are not ready.
func TestAppsTestSCIM(t *testing.T) {
	const sandboxToken = "sandbox-token-for-apps-test"
	const wrongToken = "not-the-wiki-token-at-all"
	sb, err := sandbox.New(sandbox.Options{Apps: []string{"crm", "wiki"}, Token: sandboxToken})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sb.Handler())
	t.Cleanup(func() {
		srv.Close()
		_ = sb.Close()
	})
	// crm is an app whose users cannot be switched off, only deleted.
	if err := sb.SetDialect("crm", sandbox.Dialect{NoActive: true}); err != nil {
		t.Fatal(err)
	}
	crm, err := scim.New(integrations.AppConfig{Name: "crm", BaseURL: srv.URL + "/sandbox/crm/scim/v2", Token: sandboxToken})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := crm.Create(context.Background(), integrations.User{UserName: "ada@example.com", GivenName: "Ada", FamilyName: "Lovelace", Active: true}); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	pol := filepath.Join(dir, "policy.yaml")
	writeAppsFile(t, pol, `version: 1
apps:
  - name: crm
    connector: scim
    sandbox: true
  - name: wiki
    connector: scim
    base_url: `+srv.URL+`/sandbox/wiki/scim/v2
    token_env: WIKI_TOKEN
  - name: billing
    connector: scim
    base_url: `+closedURL(t)+`/scim/v2
    token_env: BILLING_TOKEN
rules:
  - name: everyone
    match: {}
    grant:
      - app: crm
        entitlements: [staff, sales]
      - app: wiki
      - app: billing
`)
	env := map[string]string{
		"TENURE_SANDBOX_URL":   srv.URL,
		"TENURE_SANDBOX_TOKEN": sandboxToken,
		"WIKI_TOKEN":           wrongToken,
		"BILLING_TOKEN":        "billing-token-0123",
	}

	out, stderr, err := appsCLI(t, env, "--policy", pol, "--timeout", "5s")
	if err == nil || !strings.Contains(err.Error(), "wiki, billing") || strings.Contains(err.Error(), "crm") {
		t.Fatalf("want an error naming wiki and billing only, got %v\n%s%s", err, out, stderr)
	}
	if strings.Contains(out+stderr, wrongToken) || strings.Contains(out+stderr, sandboxToken) {
		t.Fatalf("a token was printed:\n%s%s", out, stderr)
	}

	crmLines := appBlock(t, out, "crm")
	for _, want := range []struct {
		mark  string
		words []string
	}{
		{"ok", []string{"reachable, credentials accepted"}},
		{"ok", []string{"can read accounts", "ms)"}},
		{"ok", []string{"finds no account for a user who does not exist"}},
		{"ok", []string{"groups", "needed: 2 entitlements in the policy"}},
		// The sandbox's dialect took disable away; the scim kind has it.
		{"no", []string{"disable", "a lock removes the person", "(the scim connector can; this app does not offer it)"}},
		{"no", []string{"revoke_sessions", "this app cannot end sessions"}},
		{"ok", []string{"delete"}},
	} {
		if !hasLine(crmLines, want.mark, want.words...) {
			t.Errorf("crm: no %q line with %q in:\n%s", want.mark, want.words, strings.Join(crmLines, "\n"))
		}
	}
	if strings.Contains(strings.Join(crmLines, "\n"), "none yet") {
		t.Errorf("crm holds an account, but the report says none:\n%s", strings.Join(crmLines, "\n"))
	}

	wikiLines := appBlock(t, out, "wiki")
	if !hasLine(wikiLines, "FAILED", "credentials refused (HTTP 401)", "a valid bearer token is required") || len(wikiLines) != 2 {
		t.Errorf("wiki: want the app's 401 and nothing after it:\n%s", strings.Join(wikiLines, "\n"))
	}
	billingLines := appBlock(t, out, "billing")
	if !hasLine(billingLines, "FAILED", "not reachable", "connection refused") || len(billingLines) != 2 {
		t.Errorf("billing: want it unreachable:\n%s", strings.Join(billingLines, "\n"))
	}
	if !strings.Contains(out, "1 of 3 apps ready") {
		t.Errorf("no summary in:\n%s", out)
	}

	// An app that takes the connection but never answers fails after
	// --timeout.
	hung := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	t.Cleanup(hung.Close)
	slow := filepath.Join(dir, "slow.yaml")
	writeAppsFile(t, slow, `version: 1
apps:
  - name: slow
    connector: scim
    base_url: `+hung.URL+`/scim/v2
    token_env: BILLING_TOKEN
`)
	began := time.Now()
	out, _, err = appsCLI(t, env, "--policy", slow, "--timeout", "300ms")
	if err == nil || !hasLine(appBlock(t, out, "slow"), "FAILED", "no answer within 300ms") {
		t.Fatalf("a hung app: %v\n%s", err, out)
	}
	if took := time.Since(began); took > 5*time.Second {
		t.Errorf("a hung app took %s to fail with --timeout 300ms", took)
	}

	// Named apps only; the one that works passes alone.
	out, stderr, err = appsCLI(t, env, "crm", "--policy", pol)
	if err != nil || strings.Contains(out, "wiki") {
		t.Fatalf("crm alone: %v\n%s%s", err, out, stderr)
	}
	// An unknown name is refused, listing the known ones, before any test.
	out, _, err = appsCLI(t, env, "--policy", pol, "crm", "jira")
	if err == nil || !strings.Contains(err.Error(), `"jira"`) || !strings.Contains(err.Error(), "crm, wiki, billing") || out != "" {
		t.Fatalf("an unknown app: %v\n%s", err, out)
	}

	// The token comes from tenure dev's data directory when the environment
	// has none; without either, the sandbox app cannot be tested but the
	// others still are.
	delete(env, "TENURE_SANDBOX_TOKEN")
	devDir := t.TempDir()
	out, _, err = appsCLI(t, env, "--policy", pol, "--data-dir", devDir, "crm", "billing")
	if err == nil || !hasLine(appBlock(t, out, "crm"), "FAILED", filepath.Join(devDir, "sandbox.token"), "TENURE_SANDBOX_TOKEN") ||
		!hasLine(appBlock(t, out, "billing"), "FAILED", "not reachable") {
		t.Fatalf("no sandbox token: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(devDir, "sandbox.token")); err == nil {
		t.Fatal("apps test made up a sandbox token, which tenure dev would then not accept")
	}
	writeAppsFile(t, filepath.Join(devDir, "sandbox.token"), sandboxToken+"\n")
	out, stderr, err = appsCLI(t, env, "--policy", pol, "--data-dir", devDir, "crm")
	if err != nil || !hasLine(appBlock(t, out, "crm"), "ok", "reachable, credentials accepted") {
		t.Fatalf("token from the data dir: %v\n%s%s", err, out, stderr)
	}

	// A sandbox app that refuses the token, or is not served where it is
	// looked for, says what to check in tenure dev.
	env["TENURE_SANDBOX_TOKEN"] = "the-token-of-another-tenure-dev"
	out, _, err = appsCLI(t, env, "--policy", pol, "crm")
	if lines := appBlock(t, out, "crm"); err == nil || !hasLine(lines, "FAILED", "HTTP 401") || !strings.Contains(lines[2], "--data-dir") {
		t.Fatalf("a wrong sandbox token: %v\n%s", err, out)
	}
	env["TENURE_SANDBOX_TOKEN"] = sandboxToken
	nowhere := closedURL(t)
	out, _, err = appsCLI(t, env, "--policy", pol, "--dev-url", nowhere, "crm")
	if lines := appBlock(t, out, "crm"); err == nil || !hasLine(lines, "FAILED", "not reachable") || !strings.Contains(lines[2], "is it running at "+nowhere) {
		t.Fatalf("no tenure dev at --dev-url: %v\n%s", err, out)
	}

	// --json says the same for machines.
	out, _, err = appsCLI(t, env, "--policy", pol, "--json")
	if err == nil {
		t.Fatal("--json: want an error, as two apps are not ready")
	}
	var res struct {
		OK   bool `json:"ok"`
		Apps []struct {
			Name   string `json:"name"`
			OK     bool   `json:"ok"`
			Checks []struct {
				Name  string `json:"name"`
				OK    bool   `json:"ok"`
				Error *struct {
					Kind    string `json:"kind"`
					Status  int    `json:"status"`
					Message string `json:"message"`
				} `json:"error"`
			} `json:"checks"`
			Capabilities []struct {
				Name         string   `json:"name"`
				App          bool     `json:"app"`
				Kind         bool     `json:"kind"`
				Needed       bool     `json:"needed"`
				Entitlements []string `json:"entitlements"`
			} `json:"capabilities"`
		} `json:"apps"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("--json output: %v\n%s", err, out)
	}
	if res.OK || len(res.Apps) != 3 || !res.Apps[0].OK || res.Apps[1].OK || res.Apps[2].OK {
		t.Fatalf("--json: %+v", res)
	}
	if c := res.Apps[1].Checks; len(c) != 2 || c[1].Name != "connect" || c[1].Error == nil ||
		c[1].Error.Kind != "permanent" || c[1].Error.Status != 401 {
		t.Errorf("--json wiki checks: %+v", c)
	}
	if c := res.Apps[2].Checks; len(c) != 2 || c[1].Error == nil || c[1].Error.Kind != "transient" {
		t.Errorf("--json billing checks: %+v", c)
	}
	caps := res.Apps[0].Capabilities
	if len(caps) == 0 || caps[0].Name != "groups" || !caps[0].App || !caps[0].Needed || strings.Join(caps[0].Entitlements, ",") != "sales,staff" {
		t.Errorf("--json crm capabilities: %+v", caps)
	}
}

// TestAppsTestGitHub tests a GitHub organisation through the github connector
// against a fake GitHub: it is ready, with teams for the policy's
// entitlements, and says it cannot end sessions, which the policy does not
// need. A GitHub app whose org is not a GitHub login fails on its config.
func TestAppsTestGitHub(t *testing.T) {
	const token = "ghp_apps_test_token_0123456789"
	gh := githubtest.NewServer(githubtest.WithToken(token))
	t.Cleanup(gh.Close)
	dir := t.TempDir()
	pol := filepath.Join(dir, "policy.yaml")
	writeAppsFile(t, pol, `version: 1
apps:
  - name: github
    connector: github
    org: acme
    token_env: GITHUB_TOKEN
    base_url: `+gh.URL+`
  - name: github-typo
    connector: github
    org: "acme corp"
    token_env: GITHUB_TOKEN
    base_url: `+gh.URL+`
rules:
  - name: engineering
    match: {department: Engineering}
    grant:
      - app: github
        entitlements: [backend, frontend, sre]
`)
	env := map[string]string{"GITHUB_TOKEN": token}

	out, stderr, err := appsCLI(t, env, "--policy", pol, "github")
	if err != nil {
		t.Fatalf("github: %v\n%s%s", err, out, stderr)
	}
	lines := appBlock(t, out, "github")
	if !strings.Contains(lines[0], "github at "+gh.URL) || !strings.Contains(lines[0], "org acme") {
		t.Errorf("header %q does not say where and which org", lines[0])
	}
	for _, want := range []struct {
		mark  string
		words []string
	}{
		{"ok", []string{"reachable, credentials accepted"}},
		{"ok", []string{"can read accounts"}},
		{"ok", []string{"finds no account for a user who does not exist"}},
		{"ok", []string{"groups", "needed: 3 entitlements in the policy"}},
		{"no", []string{"revoke_sessions", "this app cannot end sessions: a lock removes the person instead"}},
		{"no", []string{"disable", "a lock removes the person"}},
		{"no", []string{"transfer_data"}},
		{"ok", []string{"delete"}},
	} {
		if !hasLine(lines, want.mark, want.words...) {
			t.Errorf("github: no %q line with %q in:\n%s", want.mark, want.words, strings.Join(lines, "\n"))
		}
	}
	// The connector really asked GitHub.
	if reqs := strings.Join(gh.Requests(), "\n"); !strings.Contains(reqs, "/orgs/acme") {
		t.Errorf("GitHub saw no call for the org:\n%s", reqs)
	}

	out, stderr, err = appsCLI(t, env, "--policy", pol)
	if err == nil || !strings.Contains(err.Error(), "github-typo") {
		t.Fatalf("github-typo: want it to fail, got %v\n%s%s", err, out, stderr)
	}
	if !hasLine(appBlock(t, out, "github-typo"), "FAILED", "apps.github-typo.org") {
		t.Errorf("github-typo does not name its bad key:\n%s", out)
	}
	if !hasLine(appBlock(t, out, "github"), "ok", "reachable") {
		t.Errorf("github is not tested beside github-typo:\n%s", out)
	}
	if strings.Contains(out+stderr, token) {
		t.Fatalf("the token was printed:\n%s%s", out, stderr)
	}
}

// TestAppsTestNeeds checks the verdict on capabilities: an app that lacks
// groups while the policy grants entitlements in it is not ready; one that
// lacks only what Tenure can do without is.
func TestAppsTestNeeds(t *testing.T) {
	kind := scim.Spec.Can
	noGroups := kind
	noGroups.Groups = false
	caps := compare("scim", noGroups, kind, []string{"admins"})
	if c := caps[0]; c.Name != "groups" || c.App || !c.Kind || !c.Needed ||
		!strings.Contains(c.Note, "needed: 1 entitlement in the policy") || !strings.Contains(c.Note, "does not offer it") {
		t.Fatalf("groups lacking but needed: %+v", c)
	}
	if ready(caps) {
		t.Error("an app without the groups the policy grants is ready")
	}
	r := appReport{Name: "erp", Connector: "scim", Capabilities: caps}
	var out bytes.Buffer
	r.print(&out)
	if !hasLine(strings.Split(out.String(), "\n"), "MISSING", "groups") {
		t.Errorf("no MISSING line:\n%s", out.String())
	}
	if !ready(compare("github", github.Spec.Can, github.Spec.Can, []string{"backend"})) || !ready(compare("scim", noGroups, kind, nil)) {
		t.Error("an app that lacks only what the policy does not need is not ready")
	}
}

func writeAppsFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}
