package policy_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/integrations"
	"github.com/tenure-io/tenure/integrations/scim"
	"github.com/tenure-io/tenure/policy"
)

// specs are the connector kinds the tests know: SCIM, and the fakes of
// apps_test.go for kinds with other keys and capabilities.
var specs = []integrations.Spec{scim.Spec, fakeDir, fakeDB}

func noEnv(string) string { return "" }

// testPolicy exercises every form of match. Its line numbers do not matter.
const testPolicy = `
version: 1
approvals:
  it_approver: it-security
apps:
  - {name: google, connector: scim, sandbox: true}
  - {name: github, connector: scim, sandbox: true}
  - {name: aws, connector: scim, sandbox: true}
  - {name: vpn, connector: scim, sandbox: true}
  - {name: finance, connector: scim, sandbox: true, owner: E9}
rules:
  - name: everyone
    match: {}
    grant:
      - app: google
        entitlements: [all-staff]
  - name: eng
    match: {department: Engineering}
    grant:
      - app: github
        entitlements: [engineering]
  - name: senior-eng
    match:
      department: engineering
      title: {pattern: "*senior*"}
    grant:
      - app: aws
        entitlements: [production-admin, readonly]
        approval: manager
  - name: senior-it
    match:
      title: {pattern: "*Senior*"}
    grant:
      - app: aws
        entitlements: [production-admin]
        approval: it
  - name: sre
    match:
      title: {regex: "^SRE\\b"}
    grant:
      - app: aws
        entitlements: [readonly]
  - name: offices
    match:
      location: [London, berlin]
      employment_type: employee
    grant:
      - app: vpn
  - name: finance
    match:
      attributes: {cost_center: [CC-42, {pattern: "cc-9*"}]}
    grant:
      - app: finance
        entitlements: [ledger]
        approval: app_owner
`

func mustParse(t testing.TB, src string) *policy.Policy {
	t.Helper()
	p, err := policy.Parse("test.yaml", []byte(src), specs, noEnv)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return p
}

func TestEvaluate(t *testing.T) {
	p := mustParse(t, testPolicy)
	g := func(app, ent string, approval tenure.Approver, rule string) tenure.Grant {
		return tenure.Grant{App: app, Entitlement: ent, Approval: approval, Rule: rule}
	}
	tests := []struct {
		name   string
		person tenure.Person
		want   []tenure.Grant
	}{{
		name:   "no match but everyone",
		person: tenure.Person{ID: "E1", Department: "Marketing", Location: "Paris", EmploymentType: "employee"},
		want:   []tenure.Grant{g("google", "", "", "everyone"), g("google", "all-staff", "", "everyone")},
	}, {
		// The department differs in case from the rule; the glob too. The first
		// rule's approver (manager) is kept over the later rule's (it).
		name: "senior engineer in an office",
		person: tenure.Person{ID: "E2", Department: "ENGINEERING", Title: "Senior Engineer",
			Location: "Berlin", EmploymentType: "Employee"},
		want: []tenure.Grant{
			g("aws", "", tenure.ApproverManager, "senior-eng"),
			g("aws", "production-admin", tenure.ApproverManager, "senior-eng"),
			g("aws", "readonly", tenure.ApproverManager, "senior-eng"),
			g("github", "", "", "eng"),
			g("github", "engineering", "", "eng"),
			g("google", "", "", "everyone"),
			g("google", "all-staff", "", "everyone"),
			g("vpn", "", "", "offices"),
		},
	}, {
		// A grant without approval (sre) beats one with (senior-eng), for the
		// account and the shared entitlement; a contractor in London gets no VPN.
		name: "senior SRE contractor",
		person: tenure.Person{ID: "E3", Department: "Engineering", Title: "SRE, Senior",
			Location: "London", EmploymentType: "contractor"},
		want: []tenure.Grant{
			g("aws", "", "", "sre"),
			g("aws", "production-admin", tenure.ApproverManager, "senior-eng"),
			g("aws", "readonly", "", "sre"),
			g("github", "", "", "eng"),
			g("github", "engineering", "", "eng"),
			g("google", "", "", "everyone"),
			g("google", "all-staff", "", "everyone"),
		},
	}, {
		// AND: a senior title outside Engineering misses senior-eng; the regex is
		// case-sensitive, so "sre" does not count.
		name:   "senior outside engineering",
		person: tenure.Person{ID: "E4", Department: "Support", Title: "sre senior"},
		want: []tenure.Grant{
			g("aws", "", tenure.ApproverIT, "senior-it"),
			g("aws", "production-admin", tenure.ApproverIT, "senior-it"),
			g("google", "", "", "everyone"),
			g("google", "all-staff", "", "everyone"),
		},
	}, {
		name:   "attribute exact",
		person: tenure.Person{ID: "E5", Attributes: map[string]string{"cost_center": "cc-42"}},
		want: []tenure.Grant{
			g("finance", "", tenure.ApproverAppOwner, "finance"),
			g("finance", "ledger", tenure.ApproverAppOwner, "finance"),
			g("google", "", "", "everyone"),
			g("google", "all-staff", "", "everyone"),
		},
	}, {
		name:   "attribute glob",
		person: tenure.Person{ID: "E6", Attributes: map[string]string{"cost_center": "CC-917"}},
		want: []tenure.Grant{
			g("finance", "", tenure.ApproverAppOwner, "finance"),
			g("finance", "ledger", tenure.ApproverAppOwner, "finance"),
			g("google", "", "", "everyone"),
			g("google", "all-staff", "", "everyone"),
		},
	}, {
		name:   "attribute miss",
		person: tenure.Person{ID: "E7", Attributes: map[string]string{"cost_center": "CC-420", "other": "CC-42"}},
		want:   []tenure.Grant{g("google", "", "", "everyone"), g("google", "all-staff", "", "everyone")},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := p.Evaluate(tt.person)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Evaluate:\n got %v\nwant %v", got, tt.want)
			}
		})
	}
}

func TestEvaluateNoRules(t *testing.T) {
	p := mustParse(t, "version: 1\n")
	if got := p.Evaluate(tenure.Person{ID: "E1"}); got == nil || len(got) != 0 {
		t.Errorf("Evaluate = %#v, want an empty, non-nil list", got)
	}
}

func TestManaged(t *testing.T) {
	p := mustParse(t, testPolicy)
	for app, want := range map[string][]string{
		"aws":     {"production-admin", "readonly"},
		"google":  {"all-staff"},
		"vpn":     nil,
		"unknown": nil,
	} {
		got := p.Managed(app)
		if len(got) != len(want) || len(want) > 0 && !reflect.DeepEqual(got, want) {
			t.Errorf("Managed(%q) = %v, want %v", app, got, want)
		}
	}
	// The caller's copy is its own.
	p.Managed("aws")[0] = "changed"
	if got := p.Managed("aws")[0]; got != "production-admin" {
		t.Errorf("Managed returned the policy's own slice: now %q", got)
	}
}

func TestInvalid(t *testing.T) {
	const head = "version: 1\napps:\n  - {name: aws, connector: scim, sandbox: true}\n" // lines 1-3
	tests := []struct {
		name   string
		src    string
		line   int
		reason string
	}{
		{"yaml syntax", head + "rules:\n  - name: [x\n", 5, "invalid YAML: sequence end token ']' not found"},
		{"yaml indentation", "version: 1\napps:\n  - name: a\n connector: scim\n", 4, "invalid YAML"},
		{"yaml tab", "version: 1\n\tapps: []\n", 2, "invalid YAML"},
		{"alias to an unknown anchor", "version: 1\napps:\n  - *a\n", 3, "aliases are not supported"},
		{"unclosed quote", "version: 1\napps:\n  - name: \"aws\n", 3, "invalid YAML: could not find end character of double-quoted text"},
		{"second document", "version: 1\n---\nversion: 1\n", 3, "a policy is one YAML document"},
		{"tag", "version: 1\napps:\n  - name: !!str aws\n", 3, "tags such as !!str are not supported"},
		{"nested too deep", "version: 1\nrules: " + strings.Repeat("[", 100) + "\n", 2, "invalid YAML: the policy nests more than 64 levels deep"},
		{"merge key", "version: 1\napprovals:\n  <<: {remind_after: 1h}\n", 3, "merge keys (<<) are not supported"},
		{"empty file", "", 1, "empty"},
		{"only comments", "# version: 1\n", 1, "empty"},
		{"not a mapping", "- a\n- b\n", 1, "must be a mapping"},
		{"missing version", "apps: []\n", 1, "version is required"},
		{"version 2", "# comment\nversion: 2\n", 2, "unsupported version"},
		{"version string", "version: \"1\"\n", 1, "unsupported version"},
		{"unknown top key", head + "colour: blue\n", 4, `unknown key "colour"`},
		{"duplicate key", "version: 1\nversion: 1\n", 2, `duplicate key "version"`},
		{"apps wrong type", "version: 1\napps: {}\n", 2, "apps must be a list"},
		{"unknown app key", "version: 1\napps:\n  - name: aws\n    connector: scim\n    sandbox: true\n    tokn: x\n", 6, `unknown key "tokn" in an app`},
		{"sandbox not bool", "version: 1\napps:\n  - name: aws\n    connector: scim\n    sandbox: sure\n", 5, "sandbox must be true or false"},
		{"name is a list", "version: 1\napps:\n  - name: [aws]\n    connector: scim\n", 3, "app name must be a string"},
		{"bad app name", "version: 1\napps:\n  - name: GitHub\n    connector: scim\n    sandbox: true\n", 3, `app name "GitHub" may only hold`},
		{"app without name", "version: 1\napps:\n  - connector: scim\n    sandbox: true\n", 3, "needs a name"},
		{"duplicate app", head + "  - name: aws\n    connector: scim\n    sandbox: true\n", 4, `duplicate app name "aws" (first at line 3)`},
		{"unknown connector", "version: 1\napps:\n  - name: dir\n    connector: ldap\n    base_url: ldap://dir:389\n", 4, `unknown connector "ldap"`},
		{"missing connector", "version: 1\napps:\n  - name: dir\n    sandbox: true\n", 3, "needs a connector"},
		{"missing base_url", "version: 1\napps:\n  - {name: aws, connector: scim, sandbox: true}\n  - name: crm\n    connector: scim\n", 4, `app "crm" needs a base_url`},
		{"relative base_url", "version: 1\napps:\n  - name: crm\n    connector: scim\n    base_url: /scim/v2\n", 5, "not an absolute URL"},
		{"sandbox with base_url", "version: 1\napps:\n  - name: crm\n    connector: scim\n    sandbox: true\n    base_url: https://crm.example/scim/v2\n", 6, "remove base_url"},
		{"empty token_env", "version: 1\napps:\n  - name: crm\n    connector: scim\n    base_url: https://crm.example/scim/v2\n    token_env: CRM_TOKEN\n", 6, "environment variable CRM_TOKEN"},
		{"bad token_env name", "version: 1\napps:\n  - name: crm\n    connector: scim\n    base_url: https://crm.example/scim/v2\n    token_env: crm-token\n", 6, "not an environment variable name"},
		{"settings not a map", head + "  - name: crm\n    connector: scim\n    sandbox: true\n    settings: [a]\n", 7, "settings must be a mapping"},
		{"bad retention", head + "retention: forever\n", 4, `retention: bad duration "forever"`},
		{"bare number retention", head + "retention: 30\n", 4, "bad duration"},
		{"zero retention", head + "retention: 0d\n", 4, "must be positive"},
		{"fractional days", head + "retention: 1.5d\n", 4, "whole days"},
		{"bad approval duration", head + "approvals:\n  remind_after: 1w\n", 5, "approvals.remind_after: bad duration"},
		{"approval order", head + "approvals:\n  remind_after: 2d\n  expire_after: 1d\n", 6, "remind_after (48h0m0s) must be shorter than expire_after"},
		{"unknown approvals key", head + "approvals:\n  remind: 1d\n", 5, `unknown key "remind" in approvals`},
		{"rule without name", head + "rules:\n  - match: {}\n    grant: [{app: aws}]\n", 5, "a rule needs a name"},
		{"duplicate rule", head + "rules:\n  - {name: r, match: {}, grant: [{app: aws}]}\n  - {name: r, match: {}, grant: [{app: aws}]}\n", 6, `duplicate rule name "r" (first at line 5)`},
		{"rule without match", head + "rules:\n  - name: r\n    grant: [{app: aws}]\n", 5, "needs a match; write match: {}"},
		{"rule without grant", head + "rules:\n  - name: r\n    match: {}\n", 5, `rule "r" needs a grant`},
		{"empty grant", head + "rules:\n  - name: r\n    match: {}\n    grant: []\n", 7, "grants nothing"},
		{"unknown rule key", head + "rules:\n  - name: r\n    when: {}\n    match: {}\n    grant: [{app: aws}]\n", 6, `unknown key "when" in a rule`},
		{"unknown match key", head + "rules:\n  - name: r\n    match:\n      team: core\n    grant: [{app: aws}]\n", 7, `unknown key "team" in match`},
		{"null match value", head + "rules:\n  - name: r\n    match:\n      department:\n    grant: [{app: aws}]\n", 7, "department needs a value"},
		{"empty list match", head + "rules:\n  - name: r\n    match:\n      location: []\n    grant: [{app: aws}]\n", 7, "empty list matches no one"},
		{"bad glob", head + "rules:\n  - name: r\n    match:\n      title: {pattern: \"[Senior\"}\n    grant: [{app: aws}]\n", 7, "bad glob pattern"},
		{"bad regex", head + "rules:\n  - name: r\n    match:\n      title:\n        regex: \"(Senior\"\n    grant: [{app: aws}]\n", 8, "bad regex"},
		{"pattern and regex", head + "rules:\n  - name: r\n    match:\n      title: {pattern: a, regex: b}\n    grant: [{app: aws}]\n", 7, "exactly one of pattern or regex"},
		{"unknown matcher key", head + "rules:\n  - name: r\n    match:\n      title: {glob: a}\n    grant: [{app: aws}]\n", 7, `unknown key "glob" in title`},
		{"bad attribute matcher", head + "rules:\n  - name: r\n    match:\n      attributes:\n        cost_center: [[a]]\n    grant: [{app: aws}]\n", 8, "lists inside lists"},
		{"unknown app in grant", head + "rules:\n  - name: r\n    match: {}\n    grant:\n      - app: aws\n      - app: gcp\n", 9, `rule "r" grants unknown app "gcp"`},
		{"bad approval", head + "rules:\n  - name: r\n    match: {}\n    grant:\n      - app: aws\n        approval: ceo\n", 9, `bad approval "ceo"`},
		{"app_owner without owner", head + "rules:\n  - name: r\n    match: {}\n    grant:\n      - app: aws\n        approval: app_owner\n", 9, `needs an owner on app "aws"`},
		{"it without it_approver", head + "rules:\n  - name: r\n    match: {}\n    grant:\n      - app: aws\n        approval: it\n", 9, "approvals.it_approver"},
		{"unknown grant key", head + "rules:\n  - name: r\n    match: {}\n    grant:\n      - app: aws\n        entitlement: [x]\n", 9, `unknown key "entitlement" in a grant`},
		{"duplicate entitlement", head + "rules:\n  - name: r\n    match: {}\n    grant:\n      - app: aws\n        entitlements:\n          - a\n          - a\n", 11, `entitlement "a" is listed twice`},
		{"alias", "version: 1\napps:\n  - &a {name: aws, connector: scim, sandbox: true}\n  - *a\n", 4, "aliases are not supported"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := policy.Parse("p.yaml", []byte(tt.src), specs, noEnv)
			if err == nil {
				t.Fatal("Parse accepted an invalid policy")
			}
			var pe *policy.Error
			if !errors.As(err, &pe) {
				t.Fatalf("error %v (%T) is not a *policy.Error", err, err)
			}
			if pe.File != "p.yaml" || pe.Line != tt.line || !strings.Contains(pe.Reason, tt.reason) {
				t.Errorf("error = %q (line %d), want line %d and a reason containing %q", err, pe.Line, tt.line, tt.reason)
			}
			if code := tenure.ErrorCode(err); code != tenure.EINVALID {
				t.Errorf("ErrorCode = %q, want %q", code, tenure.EINVALID)
			}
		})
	}
}

func TestSandboxIsSCIM(t *testing.T) {
	src := "version: 1\napps:\n  - name: dir\n    connector: fakedir\n    sandbox: true\n"
	_, err := policy.Parse("p.yaml", []byte(src), specs, noEnv)
	var pe *policy.Error
	if !errors.As(err, &pe) || pe.Line != 5 || !strings.Contains(pe.Reason, "only serves scim apps, not fakedir") {
		t.Errorf("error = %v, want line 5 saying the sandbox serves SCIM apps only", err)
	}
}

func TestErrorFormat(t *testing.T) {
	_, err := policy.Parse("/etc/tenure/policy.yaml", []byte("version: 1\nfoo: 1\n"), specs, noEnv)
	want := `/etc/tenure/policy.yaml:2: unknown key "foo" in the policy; known keys: version, retention, mover_grace, approvals, apps, rules, guard, rollout, reconcile`
	if err == nil || err.Error() != want {
		t.Errorf("error = %v, want %s", err, want)
	}
	if msg := tenure.ErrorMessage(err); msg != want {
		t.Errorf("ErrorMessage = %q, want the whole error", msg)
	}
}

func TestSeveralErrors(t *testing.T) {
	src := "version: 1\nrules:\n  - name: r\n    match: {}\n    grant: [{app: nope}]\nretention: soon\n"
	_, err := policy.Parse("p.yaml", []byte(src), specs, noEnv)
	var pe *policy.Error
	if !errors.As(err, &pe) || pe.Line != 5 {
		t.Fatalf("first error = %v, want the one on line 5", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "p.yaml:5: ") || !strings.Contains(msg, "p.yaml:6: ") {
		t.Errorf("error = %q, want both problems, each with its line", msg)
	}
}

func TestDev(t *testing.T) {
	p, err := policy.Parse("dev.yaml", policy.Dev, specs, noEnv)
	if err != nil {
		t.Fatalf("the dev policy is invalid: %v", err)
	}
	want := []string{"google", "slack", "github", "aws", "salesforce"}
	if got := p.SandboxApps(); !reflect.DeepEqual(got, want) {
		t.Errorf("SandboxApps = %v, want %v", got, want)
	}
	if got := p.Retention(); got != 30*24*time.Hour {
		t.Errorf("Retention = %v, want 30 days", got)
	}
	if got := p.Approvals(); got != (policy.ApprovalSettings{RemindAfter: 24 * time.Hour, EscalateAfter: 48 * time.Hour, ExpireAfter: 7 * 24 * time.Hour, ITApprover: "it-security"}) {
		t.Errorf("Approvals = %+v", got)
	}
	keys := func(gs []tenure.Grant) []string {
		var out []string
		for _, g := range gs {
			k := g.Key()
			if g.Approval != "" {
				k += "(" + string(g.Approval) + ")"
			}
			out = append(out, k)
		}
		return out
	}
	for _, tt := range []struct {
		person tenure.Person
		want   []string
	}{
		{tenure.Person{Department: "Marketing", Title: "Senior Manager", EmploymentType: "employee"},
			[]string{"google", "google/all-staff", "slack", "slack/general"}},
		{tenure.Person{Department: "engineering", Title: "Engineer"},
			[]string{"github", "github/engineering", "google", "google/all-staff", "slack", "slack/general"}},
		{tenure.Person{Department: "Engineering", Title: "Staff Engineer"},
			[]string{"aws(manager)", "aws/production-admin(manager)", "github", "github/engineering", "google", "google/all-staff", "slack", "slack/general"}},
		{tenure.Person{Department: "Engineering", Title: "Tech Lead"},
			[]string{"aws(manager)", "aws/production-admin(manager)", "github", "github/engineering", "google", "google/all-staff", "slack", "slack/general"}},
		{tenure.Person{Department: "Sales", EmploymentType: "Contractor"},
			[]string{"google", "google/all-staff", "salesforce", "salesforce/sales-users", "slack", "slack/contractors", "slack/general"}},
	} {
		if got := keys(p.Evaluate(tt.person)); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Evaluate(%s, %s, %s) = %v, want %v", tt.person.Department, tt.person.Title, tt.person.EmploymentType, got, tt.want)
		}
	}
	if got := p.Managed("slack"); !reflect.DeepEqual(got, []string{"contractors", "general"}) {
		t.Errorf("Managed(slack) = %v", got)
	}
}

func TestWithSandbox(t *testing.T) {
	src := `version: 1
apps:
  - {name: github, connector: scim, sandbox: true, settings: {create_groups: "true"}}
  - name: crm
    connector: scim
    base_url: https://crm.example/scim/v2/
    token_env: CRM_TOKEN
`
	env := func(k string) string {
		if k == "CRM_TOKEN" {
			return "crm-secret"
		}
		return ""
	}
	p, err := policy.Parse("p.yaml", []byte(src), specs, env)
	if err != nil {
		t.Fatal(err)
	}
	before := p.Apps()
	if before[0].BaseURL != "" || before[0].Token != "" {
		t.Errorf("sandbox app before WithSandbox = %+v, want no URL or token", before[0])
	}
	s := p.WithSandbox("http://127.0.0.1:8080/", "sandbox-secret")
	defaults := integrations.Limits{GiveUpAfter: integrations.DefaultGiveUpAfter}
	want := []integrations.AppConfig{
		{Name: "github", Connector: "scim", BaseURL: "http://127.0.0.1:8080/sandbox/github/scim/v2", Token: "sandbox-secret",
			Settings: map[string]string{"create_groups": "true"},
			Params:   map[string]string{"base_url": "http://127.0.0.1:8080/sandbox/github/scim/v2"},
			Secrets:  map[string]string{"token": "sandbox-secret"},
			Limits:   defaults, Orphans: policy.OrphansReport},
		{Name: "crm", Connector: "scim", BaseURL: "https://crm.example/scim/v2", Token: "crm-secret",
			Params:  map[string]string{"base_url": "https://crm.example/scim/v2/"},
			Secrets: map[string]string{"token": "crm-secret"},
			Limits:  defaults, Orphans: policy.OrphansReport},
	}
	if got := s.Apps(); !reflect.DeepEqual(got, want) {
		t.Errorf("Apps after WithSandbox:\n got %+v\nwant %+v", got, want)
	}
	if got, ok := s.App("github"); !ok || got.BaseURL != want[0].BaseURL {
		t.Errorf("App(github) = %+v, %v", got, ok)
	}
	if _, ok := s.App("nope"); ok {
		t.Error("App(nope) found an app")
	}
	if got := p.Apps(); !reflect.DeepEqual(got, before) {
		t.Errorf("WithSandbox changed the original: %+v", got)
	}
	if s.Digest() != p.Digest() {
		t.Error("WithSandbox changed the digest")
	}
	// Changing a returned config must not change the policy.
	apps := s.Apps()
	apps[0].Settings["create_groups"] = "false"
	apps[1].Params["base_url"] = "https://evil.example"
	apps[1].Secrets["token"] = "changed"
	if got, _ := s.App("github"); got.Settings["create_groups"] != "true" {
		t.Error("a caller changed the policy's settings through Apps")
	}
	if got, _ := s.App("crm"); got.Params["base_url"] != "https://crm.example/scim/v2/" || got.Secrets["token"] != "crm-secret" {
		t.Errorf("a caller changed the policy's params or secrets through Apps: %v", got.Params)
	}
}

func TestTokenEnv(t *testing.T) {
	src := "version: 1\napps:\n  - name: crm\n    connector: scim\n    base_url: https://crm.example/scim/v2\n    token_env: CRM_TOKEN\n"
	p, err := policy.Parse("p.yaml", []byte(src), specs, func(k string) string {
		if k == "CRM_TOKEN" {
			return "s3cret-value"
		}
		return ""
	})
	if err != nil {
		t.Fatal(err)
	}
	if a, _ := p.App("crm"); a.Token != "s3cret-value" {
		t.Errorf("token = %q, want the variable's value", a.Token)
	}

	_, err = policy.Parse("p.yaml", []byte(src), specs, noEnv)
	var pe *policy.Error
	if !errors.As(err, &pe) || pe.Line != 6 || !strings.Contains(pe.Reason, "CRM_TOKEN") {
		t.Errorf("error = %v, want line 6 naming CRM_TOKEN", err)
	}

	// With a token present and another fault, the message still holds no secret.
	bad := strings.Replace(src, "https://crm.example/scim/v2", "crm", 1)
	_, err = policy.Parse("p.yaml", []byte(bad), specs, func(string) string { return "s3cret-value" })
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("error = %v, want an error without the token", err)
	}
}

func TestDurations(t *testing.T) {
	for _, tt := range []struct {
		src           string
		retention     time.Duration
		expire, remid time.Duration
	}{
		{"retention: 30d\n", 720 * time.Hour, 168 * time.Hour, 24 * time.Hour},
		{"retention: 36h\napprovals: {expire_after: 14d, remind_after: 90m}\n", 36 * time.Hour, 14 * 24 * time.Hour, 90 * time.Minute},
		{"approvals: {expire_after: 3d}\n", 720 * time.Hour, 72 * time.Hour, 24 * time.Hour},
	} {
		p := mustParse(t, "version: 1\n"+tt.src)
		a := p.Approvals()
		if p.Retention() != tt.retention || a.ExpireAfter != tt.expire || a.RemindAfter != tt.remid || a.EscalateAfter != 48*time.Hour {
			t.Errorf("%q: retention %v, approvals %+v", tt.src, p.Retention(), a)
		}
	}
	_, err := policy.Parse("p.yaml", []byte("version: 1\nretention: 999999999d\n"), specs, noEnv)
	if err == nil {
		t.Error("an overflowing retention was accepted")
	}
}

func TestDigestAndLoad(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "policy.yaml")
	data := []byte(testPolicy)
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := policy.Load(file, specs, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	if got := p.Digest(); got != hex.EncodeToString(sum[:]) {
		t.Errorf("Digest = %s, want the file's sha256", got)
	}
	if mustParse(t, testPolicy+"\n").Digest() == p.Digest() {
		t.Error("different bytes gave the same digest")
	}

	_, err = policy.Load(filepath.Join(dir, "missing.yaml"), specs, noEnv)
	if !errors.Is(err, fs.ErrNotExist) || tenure.ErrorCode(err) != tenure.EINVALID {
		t.Errorf("Load(missing) = %v, want a not-exist error with code invalid", err)
	}
	if err := os.WriteFile(file, []byte("version: 1\nrules: x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := policy.Load(file, specs, noEnv); err == nil || !strings.HasPrefix(err.Error(), file+":2: ") {
		t.Errorf("Load(invalid) = %v, want an error naming %s:2", err, file)
	}
}

func BenchmarkEvaluate(b *testing.B) {
	p, err := policy.Parse("dev.yaml", policy.Dev, specs, noEnv)
	if err != nil {
		b.Fatal(err)
	}
	person := tenure.Person{ID: "E1", Department: "Engineering", Title: "Senior Engineer",
		Location: "London", EmploymentType: "employee", Attributes: map[string]string{"cost_center": "CC-42"}}
	b.ReportAllocs()
	for b.Loop() {
		p.Evaluate(person)
	}
}

func FuzzParse(f *testing.F) {
	f.Add(policy.Dev)
	f.Add([]byte(testPolicy))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := policy.Parse("fuzz.yaml", data, specs, func(k string) string { return "tok" })
		if err != nil {
			var pe *policy.Error
			if !errors.As(err, &pe) {
				t.Fatalf("error %v (%T) is not a *policy.Error", err, err)
			}
			return
		}
		people := []tenure.Person{{}, {Department: "Engineering", Title: "Senior", Attributes: map[string]string{"a": "b"}}}
		for _, person := range people {
			for _, g := range p.Evaluate(person) {
				if _, ok := p.App(g.App); !ok {
					t.Fatalf("grant %v names an app the policy does not have", g)
				}
			}
		}
		for _, a := range p.WithSandbox("http://127.0.0.1:1", "t").Apps() {
			// Every SCIM app needs a URL, given or the sandbox's; the fakes need none.
			if a.Connector == scim.Kind && a.BaseURL == "" {
				t.Fatalf("app %s has no URL after WithSandbox", a.Name)
			}
			if a.Limits.GiveUpAfter <= 0 || a.Limits.Rate < 0 || a.Limits.MaxConcurrent < 0 {
				t.Fatalf("app %s has limits %+v", a.Name, a.Limits)
			}
			if a.Orphans != policy.OrphansReport && a.Orphans != policy.OrphansDisable {
				t.Fatalf("app %s has orphans %q", a.Name, a.Orphans)
			}
			for k, v := range a.Secrets {
				if v == "" {
					t.Fatalf("app %s has an empty secret %s", a.Name, k)
				}
			}
			if len(p.Managed(a.Name)) > 0 && a.Connector == fakeDB.Kind {
				t.Fatalf("app %s of a kind without groups has managed entitlements", a.Name)
			}
		}
	})
}
