package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tenure-io/tenure/api"
	"github.com/tenure-io/tenure/guard"
	"github.com/tenure-io/tenure/internal/authlimit"
	"github.com/tenure-io/tenure/internal/devserver"
	"github.com/tenure-io/tenure/store"
)

// TestTokenCLI issues tokens with `tenure token` into a dev store, uses them against
// an API server wired as tenure dev wires it, and revokes them.
func TestTokenCLI(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := store.Open(ctx, "sqlite:"+filepath.Join(dir, "tenure.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	const bootstrap = "bootstrap-admin-token-0123456789"
	eng := &countingEngine{ids: map[string]int{}}
	g, err := guard.New(guard.Config{Store: db, Engine: eng})
	if err != nil {
		t.Fatal(err)
	}
	h, err := api.NewServer(api.Config{Store: db, Tokens: db, Managers: db, Engine: eng, Guard: g, Auth: apiAuth(db, bootstrap)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	env := map[string]string{"USER": "alice"}
	getenv := func(k string) string { return env[k] }
	tenure := func(args ...string) (string, error) {
		t.Helper()
		var out, errOut bytes.Buffer
		err := run(ctx, append([]string{"token"}, args...), getenv, &out, &errOut)
		return out.String() + errOut.String(), err
	}
	call := func(token, path string) int {
		t.Helper()
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	tokenLine := regexp.MustCompile(`(?m)^token +(tnr_\S+)$`)
	idLine := regexp.MustCompile(`(?m)^id +(tok_\S+)$`)

	// Bad input is refused with the flag's name, and writes nothing.
	out, err := tenure("create", "--name", "Bea", "--role", "manager", "--data-dir", dir)
	if err == nil || !strings.Contains(err.Error(), "--employee-id") {
		t.Fatalf("a manager without --employee-id: %v\n%s", err, out)
	}
	if _, err := tenure("create", "--name", "x", "--role", "root", "--data-dir", dir); err == nil || !strings.Contains(err.Error(), "--role") {
		t.Fatalf("an unknown role: %v", err)
	}
	if _, err := tenure("list"); err == nil || !strings.Contains(err.Error(), "DATABASE_URL") {
		t.Fatalf("no database named: %v", err)
	}
	if _, err := tenure("list", "--data-dir", filepath.Join(dir, "nowhere")); err == nil || !strings.Contains(err.Error(), "no Tenure store") {
		t.Fatalf("a data dir without a store: %v", err)
	}
	if list, _ := db.ListTokens(ctx); len(list) != 0 {
		t.Fatalf("refused commands wrote %d tokens", len(list))
	}

	// Create: shown once, and it works for its role.
	out, err = tenure("create", "--name", "SOX evidence", "--role", "auditor", "--expires", "720h", "--data-dir", dir)
	if err != nil {
		t.Fatalf("create: %v\n%s", err, out)
	}
	m, id := tokenLine.FindStringSubmatch(out), idLine.FindStringSubmatch(out)
	if m == nil || id == nil || !strings.Contains(out, "only time the token is shown") {
		t.Fatalf("create printed:\n%s", out)
	}
	tok := m[1]
	if got := call(tok, "/api/v1/audit"); got != http.StatusOK {
		t.Fatalf("the new auditor token: %d", got)
	}
	if got := call(tok, "/api/v1/tokens"); got != http.StatusForbidden {
		t.Fatalf("an auditor listing tokens: %d, want 403", got)
	}
	if got := call(bootstrap, "/api/v1/tokens"); got != http.StatusOK {
		t.Fatalf("the bootstrap token: %d", got)
	}

	// The database file holds the hash, never the token.
	raw, err := os.ReadFile(filepath.Join(dir, "tenure.db"))
	if err != nil {
		t.Fatal(err)
	}
	wal, _ := os.ReadFile(filepath.Join(dir, "tenure.db-wal"))
	if secret := tok[len(api.TokenPrefix)+8:]; bytes.Contains(raw, []byte(secret)) || bytes.Contains(wal, []byte(secret)) {
		t.Fatal("the database file holds the token")
	}
	if !bytes.Contains(append(raw, wal...), []byte(api.HashToken(tok))) {
		t.Fatal("the database file does not hold the token's hash")
	}

	// List: the prefix, never the token.
	out, err = tenure("list", "--data-dir", dir)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, tok[:12]+"…") || strings.Contains(out, tok) || !strings.Contains(out, "active") || !strings.Contains(out, "SOX evidence") {
		t.Fatalf("list:\n%s", out)
	}

	// Revoke (flags after the ID too): 401 at once, and the list says so.
	out, err = tenure("revoke", id[1], "--data-dir", dir)
	if err != nil || !strings.Contains(out, "revoked "+id[1]) {
		t.Fatalf("revoke: %v\n%s", err, out)
	}
	if got := call(tok, "/api/v1/audit"); got != http.StatusUnauthorized {
		t.Fatalf("the revoked token: %d, want 401", got)
	}
	if out, _ := tenure("list", "--data-dir", dir); !strings.Contains(out, "revoked") {
		t.Fatalf("list after revoking:\n%s", out)
	}
	if _, err := tenure("revoke", "tok_nothere", "--data-dir", dir); err == nil {
		t.Fatal("revoking an unknown token succeeded")
	}

	// Through DATABASE_URL, a manager token that has run out.
	env["DATABASE_URL"] = "sqlite:" + filepath.Join(dir, "tenure.db")
	out, err = tenure("create", "--name", "Bea", "--role", "manager", "--employee-id", "E0001", "--expires", "1ns")
	if err != nil {
		t.Fatalf("create: %v\n%s", err, out)
	}
	if got := call(tokenLine.FindStringSubmatch(out)[1], "/api/v1/employees"); got != http.StatusUnauthorized {
		t.Fatalf("an expired token: %d, want 401", got)
	}
	if out, _ := tenure("list"); !strings.Contains(out, "expired") || !strings.Contains(out, "E0001") {
		t.Fatalf("list:\n%s", out)
	}
}

// TestTokenCLIReplacesTheBootstrapToken rotates the bootstrap token out, as
// docs/deployment.md tells operators to: `tenure api` refuses to start with
// neither TENURE_ADMIN_TOKEN nor an active admin token in the database; the
// first admin token made with `tenure token create` lets it start without the
// bootstrap token, and that token then works, on the API and on SCIM. The same
// server limits failed tokens across the API and SCIM with one limiter, and
// builds SCIM locations from TENURE_PUBLIC_URL.
func TestTokenCLIReplacesTheBootstrapToken(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an embedded Temporal server")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	env := map[string]string{"DATABASE_URL": "sqlite:" + filepath.Join(dir, "tenure.db"), "USER": "ops",
		"TENURE_PUBLIC_URL": "https://tenure.example.com"}
	getenv := func(k string) string { return env[k] }
	tenure := func(args ...string) (string, error) {
		t.Helper()
		var out, errOut bytes.Buffer
		err := run(ctx, args, getenv, &out, &errOut)
		return out.String() + errOut.String(), err
	}
	if out, err := tenure("migrate"); err != nil {
		t.Fatalf("migrate: %v\n%s", err, out)
	}
	tokenLine := regexp.MustCompile(`(?m)^token +(tnr_\S+)$`)
	idLine := regexp.MustCompile(`(?m)^id +(tok_\S+)$`)

	// Without the bootstrap token and without an admin token, it refuses, and
	// says what to do; tokens of other roles, or an admin token that has run
	// out, are not enough. It stops before it needs Temporal.
	refused := func(when string) {
		t.Helper()
		_, err := tenure("api", "--http-addr", "127.0.0.1:0", "--temporal-address", "127.0.0.1:1")
		if err == nil || !strings.Contains(err.Error(), "TENURE_ADMIN_TOKEN") || !strings.Contains(err.Error(), "tenure token create --role admin") {
			t.Fatalf("api %s: %v, want a refusal naming TENURE_ADMIN_TOKEN and tenure token create", when, err)
		}
	}
	refused("with no tokens")
	if out, err := tenure("token", "create", "--name", "HR feed", "--role", "hr"); err != nil || strings.Contains(out, "TENURE_ADMIN_TOKEN") {
		t.Fatalf("create hr: %v\n%s", err, out)
	}
	if out, err := tenure("token", "create", "--name", "brief admin", "--role", "admin", "--expires", "1ns"); err != nil {
		t.Fatalf("create expiring admin: %v\n%s", err, out)
	}
	refused("with an hr token and an expired admin token")
	env["TENURE_PUBLIC_URL"] = "tenure.example.com"
	if _, err := tenure("api", "--http-addr", "127.0.0.1:0"); err == nil || !strings.Contains(err.Error(), "TENURE_PUBLIC_URL") {
		t.Fatalf("api with a public URL that is no URL: %v", err)
	}
	env["TENURE_PUBLIC_URL"] = "https://tenure.example.com"
	env["TENURE_ADMIN_TOKEN"] = "too-short"
	if _, err := tenure("api", "--http-addr", "127.0.0.1:0"); err == nil || !strings.Contains(err.Error(), "at least 16") {
		t.Fatalf("api with a short bootstrap token: %v", err)
	}
	delete(env, "TENURE_ADMIN_TOKEN")

	// The first admin token: shown once, with the note that the bootstrap token
	// can go.
	out, err := tenure("token", "create", "--name", "IT admin", "--role", "admin")
	if err != nil {
		t.Fatalf("create admin: %v\n%s", err, out)
	}
	m, id := tokenLine.FindStringSubmatch(out), idLine.FindStringSubmatch(out)
	if m == nil || id == nil || !strings.Contains(out, "only time the token is shown") ||
		!strings.Contains(out, "bootstrap token can now be removed: once this token works, unset TENURE_ADMIN_TOKEN") {
		t.Fatalf("create admin printed:\n%s", out)
	}
	admin := m[1]

	// The API starts without TENURE_ADMIN_TOKEN.
	srv, err := devserver.Start(ctx, devserver.Options{DataDir: t.TempDir(), UIPort: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Stop() })
	apiCtx, stopAPI := context.WithCancel(ctx)
	var stdout, stderr syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(apiCtx, []string{"api", "--http-addr", "127.0.0.1:0", "--temporal-address", srv.HostPort(), "--namespace", srv.Namespace(), "--shutdown-delay", "0"},
			getenv, &stdout, &stderr)
	}()
	listening := regexp.MustCompile(`Tenure API listening on (\S+)`)
	var base string
	waitFor(t, "the API to listen", func() bool {
		select {
		case err := <-done:
			t.Fatalf("api stopped: %v\n%s", err, stderr.String())
		default:
		}
		if m := listening.FindStringSubmatch(stdout.String()); m != nil {
			base = "http://" + m[1]
			return true
		}
		return false
	})
	defer func() {
		stopAPI()
		if err := <-done; err != nil {
			t.Errorf("api: %v", err)
		}
		if strings.Contains(stderr.String(), admin) {
			t.Error("the API logged the admin token")
		}
	}()
	call := func(from, token, method, path, host string) (*http.Response, string) {
		t.Helper()
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
		tr := &http.Transport{DialContext: d.DialContext}
		defer tr.CloseIdleConnections()
		req, _ := http.NewRequest(method, base+path, nil)
		if host != "" {
			req.Host = host
		}
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := (&http.Client{Transport: tr}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res, string(b)
	}

	// The new admin token works: it lists tokens, and SCIM takes it. SCIM's
	// locations come from TENURE_PUBLIC_URL, whatever the Host header says.
	if res, body := call("127.0.0.1", admin, "GET", "/api/v1/tokens", ""); res.StatusCode != http.StatusOK || !strings.Contains(body, id[1]) {
		t.Fatalf("the new admin token: %d %s", res.StatusCode, body)
	}
	if res, body := call("127.0.0.1", admin, "GET", "/scim/v2/Users", "evil.attacker.example"); res.StatusCode != http.StatusOK || strings.Contains(body, "evil.attacker") {
		t.Fatalf("SCIM with the new admin token: %d %s", res.StatusCode, body)
	}
	if !strings.Contains(stderr.String(), "TENURE_ADMIN_TOKEN is not set") {
		t.Errorf("the API did not say it runs without the bootstrap token:\n%s", stderr.String())
	}

	// One limiter for the API and SCIM: failures on one count on the other.
	for i := range authlimit.DefaultBurst {
		if res, _ := call("127.0.0.9", fmt.Sprintf("guess%03d-token", i), "GET", "/api/v1/employees", ""); res.StatusCode != http.StatusUnauthorized {
			t.Fatalf("wrong token %d: %d", i, res.StatusCode)
		}
	}
	if res, body := call("127.0.0.9", "guess-on-scim", "GET", "/scim/v2/Users", ""); res.StatusCode != http.StatusTooManyRequests || res.Header.Get("Retry-After") == "" {
		t.Fatalf("SCIM after the API's failures: %d %v %s", res.StatusCode, res.Header, body)
	}
	if res, _ := call("127.0.0.1", admin, "GET", "/api/v1/employees", ""); res.StatusCode != http.StatusOK {
		t.Fatalf("the admin token from another client: %d", res.StatusCode)
	}

	// Revoked with the CLI, it stops working at once.
	if out, err := tenure("token", "revoke", id[1]); err != nil {
		t.Fatalf("revoke: %v\n%s", err, out)
	}
	if res, _ := call("127.0.0.1", admin, "GET", "/api/v1/tokens", ""); res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("the revoked admin token: %d, want 401", res.StatusCode)
	}
}
