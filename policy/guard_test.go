package policy_test

import (
	"strings"
	"testing"
	"time"

	"github.com/tenure-io/tenure/policy"
)

func TestGuardDefaults(t *testing.T) {
	p, err := policy.Parse("p.yaml", []byte("version: 1\n"), specs, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	g := p.Guard()
	if g.People != 10 || g.Percent != 5 || g.Window != time.Hour {
		t.Fatalf("defaults = %+v, want 10 people, 5%%, 1h", g)
	}
	// More than 10 people and more than 5% of the active ones.
	for _, c := range []struct{ active, limit int }{
		{0, 10}, {100, 10}, {200, 10}, {219, 10}, {220, 11}, {1000, 50}, {1019, 50}, {1020, 51}, {100000, 5000},
	} {
		if got := g.Limit(c.active); got != c.limit {
			t.Errorf("Limit(%d) = %d, want %d", c.active, got, c.limit)
		}
	}
}

func TestGuardBlock(t *testing.T) {
	p, err := policy.Parse("p.yaml", []byte("version: 1\nguard:\n  people: 100\n  percent: 2.5%\n  window: 30m\n"), specs, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if g := p.Guard(); g.People != 100 || g.Percent != 2.5 || g.Window != 30*time.Minute {
		t.Fatalf("guard = %+v", g)
	}
	if got := p.Guard().Limit(10000); got != 250 {
		t.Errorf("Limit(10000) = %d, want 250", got)
	}
	// What a block leaves out keeps its default.
	p, err = policy.Parse("p.yaml", []byte("version: 1\nguard: {people: 0}\n"), specs, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if g := p.Guard(); g.People != 0 || g.Percent != 5 || g.Window != time.Hour {
		t.Fatalf("guard = %+v", g)
	}
}

func TestGuardBlockErrors(t *testing.T) {
	for _, c := range []struct{ yaml, want string }{
		{"guard:\n  people: -1\n", "p.yaml:3: guard.people must be a whole number of people, 0 or more"},
		{"guard:\n  people: ten\n", "p.yaml:3: guard.people must be a whole number"},
		{"guard:\n  percent: 101\n", "p.yaml:3: guard.percent must be a number from 0 to 100"},
		{"guard:\n  window: 0s\n", "p.yaml:3: guard.window: bad duration"},
		{"guard:\n  window: 60\n", "p.yaml:3: guard.window: bad duration"},
		{"guard:\n  limit: 3\n", `p.yaml:3: unknown key "limit" in guard; known keys: people, percent, window`},
		{"guard: 10\n", "p.yaml:2: guard must be a mapping"},
	} {
		_, err := policy.Parse("p.yaml", []byte("version: 1\n"+c.yaml), specs, noEnv)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: err = %v, want %q", c.yaml, err, c.want)
		}
	}
}
