package policy

import (
	"path"
	"regexp"
	"slices"
	"strings"

	"github.com/goccy/go-yaml/ast"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/integrations"
)

func (p *parser) rules(n ast.Node, pol *Policy) []rule {
	items, ok := p.sequence(n, "rules")
	if !ok {
		return nil
	}
	apps := map[string]*app{}
	for i := range pol.apps {
		apps[pol.apps[i].Name] = &pol.apps[i]
	}
	var rules []rule
	lines := map[string]int{}
	managed := map[string]map[string]bool{}
	for _, item := range items {
		f, ok := p.mapping(item, "a rule", "name", "match", "grant")
		if !ok {
			continue
		}
		var r rule
		if v, ok := f["name"]; !ok {
			p.errorf(item, "a rule needs a name")
		} else if r.name, ok = p.name(v.val, "rule name"); ok {
			if first, dup := lines[r.name]; dup {
				p.errorf(v.val, "duplicate rule name %q (first at line %d)", r.name, first)
			} else {
				lines[r.name] = line(v.val)
			}
		}
		// An omitted match is refused rather than read as "everyone", so a slip
		// of the pen cannot hand privileged access to the whole company.
		if v, ok := f["match"]; !ok {
			p.errorf(item, "rule %q needs a match; write match: {} to match everyone", r.name)
		} else {
			r.conds = p.match(v.val)
		}
		if v, ok := f["grant"]; !ok {
			p.errorf(item, "rule %q needs a grant", r.name)
		} else {
			r.grants = p.grants(v.val, r.name, apps, pol.approvals.ITApprover)
			if len(r.grants) == 0 && isEmptyList(v.val) {
				p.errorf(v.val, "rule %q grants nothing", r.name)
			}
		}
		for _, g := range r.grants {
			if managed[g.App] == nil {
				managed[g.App] = map[string]bool{}
			}
			if g.Entitlement != "" {
				managed[g.App][g.Entitlement] = true
			}
		}
		rules = append(rules, r)
	}
	for name, set := range managed {
		ents := make([]string, 0, len(set))
		for e := range set {
			ents = append(ents, e)
		}
		slices.Sort(ents)
		pol.managed[name] = ents
	}
	return rules
}

func (p *parser) grants(n ast.Node, ruleName string, apps map[string]*app, itApprover string) []tenure.Grant {
	items, ok := p.sequence(n, "grant")
	if !ok {
		return nil
	}
	var out []tenure.Grant
	for _, item := range items {
		f, ok := p.mapping(item, "a grant", "app", "entitlements", "approval")
		if !ok {
			continue
		}
		var a *app
		if v, ok := f["app"]; !ok {
			p.errorf(item, "a grant needs an app")
			continue
		} else if name, ok := p.name(v.val, "app"); !ok {
			continue
		} else if a = apps[name]; a == nil {
			p.errorf(v.val, "rule %q grants unknown app %q; add it under apps", ruleName, name)
			continue
		}
		var approval tenure.Approver
		if v, ok := f["approval"]; ok {
			if s, ok := p.name(v.val, "approval"); ok {
				approval = tenure.Approver(s)
				switch {
				case !approval.Valid():
					p.errorf(v.val, "bad approval %q; use manager, app_owner or it", s)
				case approval == tenure.ApproverAppOwner && a.Owner == "":
					p.errorf(v.val, "approval app_owner needs an owner on app %q", a.Name)
				case approval == tenure.ApproverIT && itApprover == "":
					p.errorf(v.val, "approval it needs approvals.it_approver")
				}
			}
		}
		out = append(out, tenure.Grant{App: a.Name, Approval: approval, Rule: ruleName})
		if v, ok := f["entitlements"]; ok {
			ents, _ := p.sequence(v.val, "entitlements")
			if len(ents) > 0 && !p.can(v.key, ruleName, a, integrations.Capabilities{Groups: true}) {
				continue
			}
			seen := map[string]bool{}
			for _, e := range ents {
				s, ok := p.name(e, "an entitlement")
				if !ok {
					continue
				}
				if seen[s] {
					p.errorf(e, "entitlement %q is listed twice", s)
					continue
				}
				seen[s] = true
				out = append(out, tenure.Grant{App: a.Name, Entitlement: s, Approval: approval, Rule: ruleName})
			}
		}
	}
	return out
}

// can reports whether a's kind can do what a grant needs, and the error when
// not: a policy that asks for what the app cannot do would fail at every joiner.
func (p *parser) can(at ast.Node, ruleName string, a *app, need integrations.Capabilities) bool {
	if a.spec == nil {
		return true // the unknown connector is reported already
	}
	missing := a.spec.Can.Missing(need)
	if len(missing) == 0 {
		return true
	}
	p.errorf(at, "rule %q grants entitlements on app %q but connector %s cannot manage %s",
		ruleName, a.Name, a.Connector, strings.Join(missing, " or "))
	return false
}

// personFields are the HR fields a match can test, besides attributes.
var personFields = map[string]func(tenure.Person) string{
	"department":      func(p tenure.Person) string { return p.Department },
	"title":           func(p tenure.Person) string { return p.Title },
	"location":        func(p tenure.Person) string { return p.Location },
	"employment_type": func(p tenure.Person) string { return p.EmploymentType },
	"manager_id":      func(p tenure.Person) string { return p.ManagerID },
}

var matchKeys = []string{"department", "title", "location", "employment_type", "manager_id", "attributes"}

func (p *parser) match(n ast.Node) []cond {
	f, ok := p.mapping(n, "match", matchKeys...)
	if !ok {
		return nil
	}
	var conds []cond
	// Walk in file order so that conditions, and errors, come in a stable order.
	for _, k := range keysInOrder(f) {
		v := f[k]
		if k == "attributes" {
			attrs, ok := p.mapping(v.val, "match.attributes")
			if !ok {
				continue
			}
			for _, name := range keysInOrder(attrs) {
				av := attrs[name]
				if strings.TrimSpace(name) == "" {
					p.errorf(av.key, "an attribute name must not be empty")
					continue
				}
				if m, ok := p.matcher(av.val, "attributes."+name); ok {
					conds = append(conds, cond{attr: name, m: m})
				}
			}
			continue
		}
		if m, ok := p.matcher(v.val, k); ok {
			conds = append(conds, cond{get: personFields[k], m: m})
		}
	}
	return conds
}

// matcher reads the three forms of a match value: a scalar, a {pattern} or
// {regex} mapping, or a list of those, any of which may match.
func (p *parser) matcher(n ast.Node, what string) (matcher, bool) {
	n, ok := p.resolve(n)
	if !ok {
		return nil, false
	}
	list, isList := n.(*ast.SequenceNode)
	if !isList {
		t, ok := p.term(n, what)
		return matcher{t}, ok
	}
	if len(list.Values) == 0 {
		p.errorf(n, "%s: an empty list matches no one", what)
		return nil, false
	}
	m := make(matcher, 0, len(list.Values))
	good := true
	for _, item := range list.Values {
		item, ok := p.resolve(item)
		if !ok {
			good = false
			continue
		}
		if _, nested := item.(*ast.SequenceNode); nested {
			p.errorf(item, "%s: lists inside lists are not supported", what)
			good = false
			continue
		}
		t, ok := p.term(item, what)
		good = good && ok
		m = append(m, t)
	}
	return m, good
}

// term reads one item of a match value; n is resolved already.
func (p *parser) term(n ast.Node, what string) (term, bool) {
	switch n.(type) {
	case *ast.MappingNode, *ast.MappingValueNode:
		f, ok := p.mapping(n, what, "pattern", "regex")
		if !ok {
			return term{}, false
		}
		if len(f) != 1 {
			p.errorf(n, "%s: give exactly one of pattern or regex", what)
			return term{}, false
		}
		if v, ok := f["pattern"]; ok {
			s, ok := p.str(v.val, what+" pattern")
			if !ok {
				return term{}, false
			}
			glob := strings.ToLower(s)
			if _, err := path.Match(glob, ""); err != nil {
				p.errorf(v.val, "%s: bad glob pattern %q", what, s)
				return term{}, false
			}
			return term{kind: globTerm, s: glob}, true
		}
		v := f["regex"]
		s, ok := p.str(v.val, what+" regex")
		if !ok {
			return term{}, false
		}
		re, err := regexp.Compile(s)
		if err != nil {
			p.errorf(v.val, "%s: bad regex %q: %v", what, s, strings.TrimPrefix(err.Error(), "error parsing regexp: "))
			return term{}, false
		}
		return term{kind: regexTerm, re: re}, true
	}
	s, ok := scalar(n)
	if !ok {
		p.errorf(n, "%s needs a value: a string, a list, {pattern: ...} or {regex: ...}", what)
		return term{}, false
	}
	return term{kind: exactTerm, s: s}, true
}
