package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/tenure-io/tenure/api"
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
	h, err := api.NewServer(api.Config{Store: db, Tokens: db, Managers: db, Engine: &countingEngine{ids: map[string]int{}}, Auth: apiAuth(db, bootstrap)})
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
