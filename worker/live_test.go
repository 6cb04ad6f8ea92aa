package worker_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/policy"
	"github.com/tenure-io/tenure/store/storetest"
	"github.com/tenure-io/tenure/worker"
)

const livePolicy = `version: 1
apps:
  - {name: slack, connector: scim, base_url: "https://slack.example.com/scim/v2", token_env: T}
rules:
  - {name: everyone, match: {}, grant: [{app: slack}]}
`

func TestLiveFollowsTheVersionInForce(t *testing.T) {
	ctx := context.Background()
	db := storetest.SQLite(t)
	parse := func(file string, data []byte) (*policy.Policy, error) {
		return policy.Parse(file, data, worker.Specs, func(string) string { return "secret" })
	}
	put := func(key, src string) string {
		t.Helper()
		p, err := parse("p", []byte(src))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.SavePolicyVersion(ctx, tenure.PolicyVersion{Version: p.Digest(), YAML: src, Author: "test"}); err != nil {
			t.Fatal(err)
		}
		if err := db.ActivatePolicyVersion(ctx, key, p.Digest(), "test", time.Time{}); err != nil {
			t.Fatal(err)
		}
		return p.Digest()
	}
	live := worker.NewLive(db, parse)
	if _, err := live.Current(ctx); tenure.ErrorCode(err) != tenure.ENOTFOUND {
		t.Fatalf("before any version: %v", err)
	}
	v1 := put("k1", livePolicy)
	var loaded []string
	live.OnLoad(func(p *policy.Policy) { loaded = append(loaded, p.Digest()) })
	pol, err := live.Current(ctx)
	if err != nil || pol.Digest() != v1 {
		t.Fatalf("current = %v, %v", pol, err)
	}
	_, slack1, err := live.App(ctx, "slack")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := live.App(ctx, "teams"); tenure.ErrorCode(err) != tenure.ENOTFOUND {
		t.Fatalf("an app no version names: %v", err)
	}

	// v3 adds teams and leaves slack as it was: every worker asks the store,
	// so the next call finds it, with a connector built for it.
	v2src := strings.Replace(livePolicy, "rules:", `  - {name: teams, connector: scim, base_url: "https://teams.example.com/scim/v2", token_env: T}
rules:`, 1)
	v3 := put("k3", v2src)
	cfg, teams, err := live.App(ctx, "teams")
	if err != nil || teams == nil || cfg.BaseURL != "https://teams.example.com/scim/v2" {
		t.Fatalf("teams after v3: %+v %v %v", cfg, teams, err)
	}
	if _, slack3, _ := live.App(ctx, "slack"); slack3 != slack1 {
		t.Fatal("slack's unchanged connector was built again")
	}
	if len(loaded) != 2 || loaded[0] != v1 || loaded[1] != v3 {
		t.Fatalf("hooks saw %v, want v1 then v3", loaded)
	}
	snap, conns := live.Snapshot()
	if snap.Digest() != v3 || len(conns) != 2 {
		t.Fatalf("snapshot = %s with %d connectors", snap.Digest(), len(conns))
	}
	// A version that drops teams keeps its connector for the work begun before.
	put("k4", livePolicy)
	if _, err := live.Current(ctx); err != nil {
		t.Fatal(err)
	}
	if _, c, err := live.App(ctx, "teams"); err != nil || c != teams {
		t.Fatalf("teams after it was dropped: %v %v", c, err)
	}
	if _, err := live.Load(ctx, v3); err != nil {
		t.Fatalf("loading v3: %v", err)
	}
}
