package policy_test

import (
	"strings"
	"testing"

	"github.com/tenure-io/tenure/policy"
)

func TestRolloutRate(t *testing.T) {
	for _, c := range []struct {
		yaml string
		want float64
	}{
		{"", policy.DefaultRolloutRate},
		{"rollout: {}\n", policy.DefaultRolloutRate},
		{"rollout:\n  rate: 200/s\n", 200},
		{"rollout:\n  rate: 600/m\n", 10},
		{"rollout:\n  rate: 0.5/s\n", 0.5},
	} {
		p, err := policy.Parse("p.yaml", []byte("version: 1\n"+c.yaml), specs, noEnv)
		if err != nil {
			t.Fatalf("%q: %v", c.yaml, err)
		}
		if got := p.RolloutRate(); got != c.want {
			t.Errorf("%q: rate %v people/s, want %v", c.yaml, got, c.want)
		}
	}
}

func TestRolloutBlockErrors(t *testing.T) {
	for _, c := range []struct{ yaml, want string }{
		{"rollout:\n  rate: 80\n", `p.yaml:3: rollout.rate: bad rate "80": give it a unit: 80/s, 80/m or 80/h`},
		{"rollout:\n  rate: fast\n", `p.yaml:3: rollout.rate: bad rate "fast": write people per second, minute or hour, such as 10/s, 600/m or 5/h`},
		{"rollout:\n  rate: 0/s\n", `p.yaml:3: rollout.rate: bad rate "0/s": must be more than 0`},
		{"rollout:\n  batch: 3\n", `p.yaml:3: unknown key "batch" in rollout; known keys: rate`},
		{"rollout: 80/s\n", "p.yaml:2: rollout must be a mapping"},
	} {
		_, err := policy.Parse("p.yaml", []byte("version: 1\n"+c.yaml), specs, noEnv)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: err = %v, want %q", c.yaml, err, c.want)
		}
	}
}
