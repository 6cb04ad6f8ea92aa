package policy

import (
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml/ast"
)

// The blast-radius guard's defaults: hold what would disable or revoke access
// for more than 10 people and more than 5% of the active people, within one
// hour, per source.
const (
	DefaultGuardPeople  = 10
	DefaultGuardPercent = 5.0
	DefaultGuardWindow  = time.Hour
)

// GuardSettings is the policy's `guard:` block: when the blast-radius guard
// holds. It holds when, within Window, one source would disable or revoke access
// for more than People people and more than Percent percent of the active people.
type GuardSettings struct {
	People  int
	Percent float64
	Window  time.Duration
}

// Limit is the most people a source may disable or revoke within the window
// when active people are active: more than both People and Percent of them
// crosses the threshold.
func (g GuardSettings) Limit(active int) int {
	share := int(math.Floor(g.Percent*float64(max(active, 0))/100 + 1e-9))
	return max(g.People, share)
}

// Guard returns the policy's guard settings, the defaults where it sets none.
func (p *Policy) Guard() GuardSettings {
	if p == nil || p.guard == nil {
		return GuardSettings{People: DefaultGuardPeople, Percent: DefaultGuardPercent, Window: DefaultGuardWindow}
	}
	return *p.guard
}

// guardSettings reads the `guard:` block; what it leaves out keeps its default.
func (p *parser) guardSettings(n ast.Node) *GuardSettings {
	g := (*Policy)(nil).Guard()
	f, ok := p.mapping(n, "guard", "people", "percent", "window")
	if !ok {
		return &g
	}
	if v, ok := f["people"]; ok {
		if s, ok := p.str(v.val, "guard.people"); ok {
			n, err := strconv.Atoi(s)
			if err != nil || n < 0 {
				p.errorf(v.val, "guard.people must be a whole number of people, 0 or more, not %q", s)
			}
			g.People = max(n, 0)
		}
	}
	if v, ok := f["percent"]; ok {
		if s, ok := p.str(v.val, "guard.percent"); ok {
			x, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(s), "%"), 64)
			if err != nil || math.IsNaN(x) || x < 0 || x > 100 {
				p.errorf(v.val, "guard.percent must be a number from 0 to 100, such as 5 or 2.5, not %q", s)
			} else {
				g.Percent = x
			}
		}
	}
	if v, ok := f["window"]; ok {
		if d, ok := p.duration(v.val, "guard.window"); ok {
			g.Window = d
		}
	}
	return &g
}
