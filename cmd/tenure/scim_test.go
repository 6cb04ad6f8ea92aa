package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"
)

// TestDevSCIMLocationsAreTheStacksOwn: in `tenure dev`, the inbound SCIM
// server writes locations under the stack's own address, not under the Host
// header a client sent.
func TestDevSCIMLocationsAreTheStacksOwn(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the dev stack")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := startStack(ctx, devConfig{dataDir: t.TempDir(), httpAddr: "127.0.0.1:0", temporalPort: 0, uiPort: -1, logLevel: slog.LevelError},
		func(string) string { return "" }, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.serve(ctx) }()
	defer func() {
		cancel()
		<-served
		s.Close()
	}()
	body := `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"ada@example.com",
		"name":{"givenName":"Ada","familyName":"Lovelace"},"emails":[{"value":"ada@example.com","primary":true}],"active":true}`
	req, _ := http.NewRequestWithContext(ctx, "POST", s.baseURL+scimPrefix+"Users", strings.NewReader(body))
	req.Host = "evil.attacker.example"
	req.Header.Set("Authorization", "Bearer "+s.adminToken)
	req.Header.Set("Content-Type", "application/scim+json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	want := s.baseURL + scimPrefix + "Users/"
	if res.StatusCode != http.StatusCreated || !strings.HasPrefix(res.Header.Get("Location"), want) ||
		!strings.Contains(string(raw), `"location":"`+want) || strings.Contains(string(raw), "evil.attacker") {
		t.Fatalf("create: %d, Location %q, body %s; want locations under %s", res.StatusCode, res.Header.Get("Location"), raw, want)
	}
}
