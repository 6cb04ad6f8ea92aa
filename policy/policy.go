package policy

import (
	_ "embed"
	"path"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/integrations"
)

// Dev is the default policy `tenure dev` ships with: five sandbox SCIM apps and
// rules for birthright, department, senior-title and contractor access.
//
//go:embed dev.yaml
var Dev []byte

// Policy is a loaded, valid policy. It is immutable and safe for concurrent use.
type Policy struct {
	apps      []app
	rules     []rule
	managed   map[string][]string // app -> sorted entitlements any rule grants
	retention time.Duration
	approvals ApprovalSettings
	// moverGrace is read in lifecycle.go.
	moverGrace time.Duration
	digest     string
	guard      *GuardSettings // nil: the defaults (guard.go)
	// rolloutRate is people per second; 0 is the default (rollout.go).
	rolloutRate float64
	reconcile   reconcileSettings
}

// ApprovalSettings says how long an approval waits before its approver is
// reminded, before it escalates and before it expires into a denial, and who
// decides `it` approvals and escalations that have no manager's manager.
type ApprovalSettings struct {
	RemindAfter, EscalateAfter, ExpireAfter time.Duration
	ITApprover                              string
}

type app struct {
	integrations.AppConfig
	spec    *integrations.Spec // nil when the connector is unknown, and the policy invalid
	sandbox bool
}

type rule struct {
	name   string
	conds  []cond // all must hold
	grants []tenure.Grant
}

// cond tests one HR field (get) or one custom attribute (attr).
type cond struct {
	get  func(tenure.Person) string
	attr string
	m    matcher
}

func (c cond) holds(p tenure.Person) bool {
	if c.get != nil {
		return c.m.match(c.get(p))
	}
	return c.m.match(p.Attributes[c.attr])
}

// matcher matches when any of its terms does.
type matcher []term

func (m matcher) match(v string) bool {
	for _, t := range m {
		if t.match(v) {
			return true
		}
	}
	return false
}

type termKind int

const (
	exactTerm termKind = iota
	globTerm
	regexTerm
)

type term struct {
	kind termKind
	s    string // the exact value, or the lowercased glob
	re   *regexp.Regexp
}

func (t term) match(v string) bool {
	switch t.kind {
	case globTerm:
		ok, _ := path.Match(t.s, strings.ToLower(v))
		return ok
	case regexTerm:
		return t.re.MatchString(v)
	}
	return strings.EqualFold(t.s, v)
}

func (r *rule) matches(p tenure.Person) bool {
	for _, c := range r.conds {
		if !c.holds(p) {
			return false
		}
	}
	return true
}

// Apps returns the apps in file order. Sandbox apps have BaseURL and Token set
// only after WithSandbox.
func (p *Policy) Apps() []integrations.AppConfig {
	out := make([]integrations.AppConfig, len(p.apps))
	for i, a := range p.apps {
		out[i] = a.appConfig()
	}
	return out
}

// App returns the app called name, and false when the policy has none.
func (p *Policy) App(name string) (integrations.AppConfig, bool) {
	for _, a := range p.apps {
		if a.Name == name {
			return a.appConfig(), true
		}
	}
	return integrations.AppConfig{}, false
}

// WithSandbox returns a copy whose sandbox apps are served at
// baseURL/sandbox/<name>/scim/v2 and authenticate with token, given both as
// the policy would give a real SCIM app's base_url and token.
func (p *Policy) WithSandbox(baseURL, token string) *Policy {
	c := *p
	c.apps = slices.Clone(p.apps)
	base := strings.TrimRight(baseURL, "/")
	for i := range c.apps {
		a := &c.apps[i]
		if a.sandbox {
			a.BaseURL = base + "/sandbox/" + a.Name + "/scim/v2"
			a.Token = token
			// New maps: the original policy shares the old ones.
			a.Params = map[string]string{"base_url": a.BaseURL}
			a.Secrets = map[string]string{"token": token}
		}
	}
	return &c
}

// SandboxApps returns the names of the sandbox apps in file order.
func (p *Policy) SandboxApps() []string {
	var out []string
	for _, a := range p.apps {
		if a.sandbox {
			out = append(out, a.Name)
		}
	}
	return out
}

// Evaluate returns the person's desired access: every grant of every matching
// rule, flattened into one tenure.Grant per account (Entitlement "") and per
// entitlement, deduplicated by Key, sorted by Key. An app's account grant is
// implied by any grant in it and carries that grant's approval. Where several
// rules give the same key, a grant without approval wins; otherwise the first
// rule's approver is kept. Rule is the name of the rule whose grant was kept.
func (p *Policy) Evaluate(person tenure.Person) []tenure.Grant {
	out := []tenure.Grant{}
	at := map[string]int{}
	for i := range p.rules {
		r := &p.rules[i]
		if !r.matches(person) {
			continue
		}
		for _, g := range r.grants {
			k := g.Key()
			i, seen := at[k]
			switch {
			case !seen:
				at[k] = len(out)
				out = append(out, g)
			case out[i].Approval != "" && g.Approval == "":
				// Someone already gets this without asking, so asking is moot.
				out[i] = g
			}
		}
	}
	slices.SortFunc(out, func(a, b tenure.Grant) int { return strings.Compare(a.Key(), b.Key()) })
	return out
}

// Managed returns, sorted, every entitlement any rule can grant in app: the
// ones Tenure may revoke there. Entitlements outside it are left alone.
func (p *Policy) Managed(app string) []string {
	return slices.Clone(p.managed[app])
}

// Retention is how long a leaver's accounts stay disabled before they are deleted.
func (p *Policy) Retention() time.Duration { return p.retention }

// Approvals returns the approval timings and the IT approver.
func (p *Policy) Approvals() ApprovalSettings { return p.approvals }

// Digest is the hex SHA-256 of the policy file's bytes, to record which policy
// was applied.
func (p *Policy) Digest() string { return p.digest }
