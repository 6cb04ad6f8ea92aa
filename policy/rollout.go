package policy

import (
	"github.com/goccy/go-yaml/ast"
)

// DefaultRolloutRate is how many people a second a deploy's rollout
// re-evaluates when the policy's `rollout:` block sets no rate. A rollout
// that runs as fast as the engine can keeps every core busy, and a lock sent
// during it queues behind its work: on the embedded default on 2 cores, an
// unpaced rollout to 10,000 people ran at 128 a second with a lock's p99 from
// 228 to 740 ms across runs; paced at 80 a second, the CPU keeps room for the
// kill switch (docs/performance.md).
const DefaultRolloutRate = 80.0

// RolloutRate is how many people a second a deploy of this policy
// re-evaluates, the default where it sets none.
func (p *Policy) RolloutRate() float64 {
	if p == nil || p.rolloutRate == 0 {
		return DefaultRolloutRate
	}
	return p.rolloutRate
}

// rolloutSettings reads the `rollout:` block: its rate, in people per second,
// or 0 to keep the default.
func (p *parser) rolloutSettings(n ast.Node) float64 {
	f, ok := p.mapping(n, "rollout", "rate")
	if !ok {
		return 0
	}
	v, ok := f["rate"]
	if !ok {
		return 0
	}
	s, ok := p.str(v.val, "rollout.rate")
	if !ok {
		return 0
	}
	r, err := parseRate(s, "people")
	if err != nil {
		p.errorf(v.val, "rollout.rate: bad rate %q: %v", s, err)
		return 0
	}
	return r
}
