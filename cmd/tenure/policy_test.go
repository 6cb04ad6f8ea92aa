package main

import (
	"bytes"
	"context"
	"errors"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/api"
	"github.com/tenure-io/tenure/guard"
	"github.com/tenure-io/tenure/rollout"
	"github.com/tenure-io/tenure/store/storetest"
)

// TestPolicyCommandsReportEachProblemWithItsLine runs tenure policy plan and
// apply against the real API, on a real store, with a broken policy: each
// problem is printed with the file and its line, nothing is deployed, and the
// command fails.
func TestPolicyCommandsReportEachProblemWithItsLine(t *testing.T) {
	db := storetest.SQLite(t)
	parse := policyCheck(func(string) string { return "" })
	eng := &countingEngine{ids: map[string]int{}}
	g, err := guard.New(guard.Config{Store: db, Engine: eng, Policy: rollout.NewVersions(db, parse)})
	if err != nil {
		t.Fatal(err)
	}
	policies, err := rollout.New(rollout.Config{Store: db, Guard: g, Parse: parse})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := policies.Bootstrap(context.Background(), "v1.yaml", []byte(swapV1), "test", "file"); err != nil {
		t.Fatal(err)
	}
	h, err := api.NewServer(api.Config{Store: db, Tokens: db, Managers: db, Engine: eng, Guard: g, Policies: policies,
		Auth: api.StaticTokens(map[string]tenure.Principal{"policy-cli-token": {Name: "ci", Role: tenure.RoleAdmin}})})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	file := filepath.Join(t.TempDir(), "broken.yaml")
	writeFile(t, file, strings.Replace(strings.Replace(swapV2, "app: chat-new\n", "app: chat-nwe\n", 1), "rate: 25/s", "rate: fast", 1))
	for _, cmd := range []string{"plan", "apply"} {
		var out bytes.Buffer
		err := run(context.Background(), []string{"policy", cmd, "--url", srv.URL, "--token", "policy-cli-token", file},
			func(string) string { return "" }, &out, &out)
		if err == nil || !strings.Contains(err.Error(), file+" is not a valid policy:\n  "+file+":9: ") ||
			!strings.Contains(err.Error(), file+":17: rule \"everyone\" grants unknown app \"chat-nwe\"") {
			t.Errorf("tenure policy %s: %v\n%s", cmd, err, out.String())
		}
	}
	if rs, _ := policies.Rollouts(context.Background(), 10); len(rs) != 1 {
		t.Fatalf("%d rollouts, want only the first version's", len(rs))
	}
	var out bytes.Buffer
	err = run(context.Background(), []string{"policy", "apply"}, func(string) string { return "" }, &out, &out)
	if !errors.Is(err, errUsage) {
		t.Fatalf("apply without a file: %v", err)
	}
}
