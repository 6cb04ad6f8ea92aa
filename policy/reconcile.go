package policy

import (
	"fmt"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/goccy/go-yaml/ast"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/integrations"
)

// This file reads the reconcile settings: how often reconciliation reads each
// app and compares it with the policy, and whether it only reports what it
// finds or also remediates it. The top-level reconcile key applies to every app
// that has no reconcile key of its own.
//
//	reconcile: {every: 24h, mode: report}
//	apps:
//	  - name: github
//	    reconcile: {every: 6h, mode: enforce}

// ReconcileSetting is how often a scheduled reconciliation runs, and in which mode.
type ReconcileSetting struct {
	Every time.Duration
	Mode  tenure.ReconcileMode
}

// MinReconcileEvery is the shortest interval a policy may set: a
// reconciliation lists every account of the app, and more often than this it
// would be the app's main load.
const MinReconcileEvery = 15 * time.Minute

// ReconcileScope is one scheduled reconciliation: the apps it reads (sorted)
// and how often, in which mode.
type ReconcileScope struct {
	Apps []string
	ReconcileSetting
}

// reconcileSettings are the policy's reconcile keys: the top-level one (nil
// when there is none) and each app's own.
type reconcileSettings struct {
	all  *ReconcileSetting
	apps map[string]ReconcileSetting
}

// ReconcileScopes returns the scheduled reconciliations the policy asks for:
// the top-level setting over every app without a setting of its own, then
// each app's own, in file order. None when the policy has no reconcile key.
func (p *Policy) ReconcileScopes() []ReconcileScope {
	var out []ReconcileScope
	if all := p.reconcile.all; all != nil {
		var apps []string
		for _, a := range p.apps {
			if _, own := p.reconcile.apps[a.Name]; !own {
				apps = append(apps, a.Name)
			}
		}
		if len(apps) > 0 {
			slices.Sort(apps)
			out = append(out, ReconcileScope{Apps: apps, ReconcileSetting: *all})
		}
	}
	for _, a := range p.apps {
		if s, ok := p.reconcile.apps[a.Name]; ok {
			out = append(out, ReconcileScope{Apps: []string{a.Name}, ReconcileSetting: s})
		}
	}
	return out
}

// Ignored reports whether the app's ignore patterns match an account's user
// name: such an account is unmanaged, and reconciliation leaves it alone. The
// match ignores case, as user names are mostly emails.
func Ignored(app integrations.AppConfig, userName string) (pattern string, ok bool) {
	name := strings.ToLower(userName)
	for _, pat := range app.Ignore {
		if m, _ := path.Match(strings.ToLower(pat), name); m {
			return pat, true
		}
	}
	return "", false
}

// reconcileSetting reads one reconcile mapping: every is required, mode is
// report unless it says enforce.
func (p *parser) reconcileSetting(n ast.Node, what string) (ReconcileSetting, bool) {
	f, ok := p.mapping(n, what, "every", "mode")
	if !ok {
		return ReconcileSetting{}, false
	}
	s := ReconcileSetting{Mode: tenure.ReconcileReport}
	valid := true
	if v, ok := f["every"]; !ok {
		p.errorf(n, "%s needs every, such as every: 24h", what)
		valid = false
	} else if d, ok := p.duration(v.val, what+".every"); !ok {
		valid = false
	} else if d < MinReconcileEvery {
		p.errorf(v.val, "%s.every must be at least %s, not %s: each run lists every account of the app", what, MinReconcileEvery, d)
		valid = false
	} else {
		s.Every = d
	}
	if v, ok := f["mode"]; ok {
		if m, ok := p.name(v.val, what+".mode"); !ok {
			valid = false
		} else if s.Mode = tenure.ReconcileMode(m); !s.Mode.Valid() {
			p.errorf(v.val, "%s.mode must be %s or %s, not %q", what, tenure.ReconcileReport, tenure.ReconcileEnforce, m)
			valid = false
		}
	}
	return s, valid
}

// appReconcile reads an app's own reconcile key.
func (p *parser) appReconcile(f map[string]field, a *app) {
	v, ok := f["reconcile"]
	if !ok {
		return
	}
	if s, ok := p.reconcileSetting(v.val, fmt.Sprintf("app %q: reconcile", a.Name)); ok {
		if p.appRecon == nil {
			p.appRecon = map[string]ReconcileSetting{}
		}
		p.appRecon[a.Name] = s
	}
}

// reconcile reads the top-level reconcile key, and gathers the apps' own.
func (p *parser) reconcile(top map[string]field) reconcileSettings {
	out := reconcileSettings{apps: p.appRecon}
	if v, ok := top["reconcile"]; ok {
		if s, ok := p.reconcileSetting(v.val, "reconcile"); ok {
			out.all = &s
		}
	}
	return out
}

// NeedsApproval reports whether some rule's grant in app waits for an
// approval: whether the person's grants, not the policy alone, say what they
// should hold there.
func (p *Policy) NeedsApproval(app string) bool {
	for _, r := range p.rules {
		for _, g := range r.grants {
			if g.App == app && g.Approval != "" {
				return true
			}
		}
	}
	return false
}
