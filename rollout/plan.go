package rollout

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/policy"
)

// Action is what a rollout does to one grant of one person.
type Action string

// The actions of a plan.
const (
	// ActionCreate gives the person an account in an app (or switches the
	// one they have back on).
	ActionCreate Action = "create"
	// ActionGrant adds an entitlement.
	ActionGrant Action = "grant"
	// ActionRevoke removes an entitlement Tenure granted.
	ActionRevoke Action = "revoke"
	// ActionDisable switches off the account of an app the policy no longer gives.
	ActionDisable Action = "disable"
)

// gains reports whether the action gives access.
func (a Action) gains() bool { return a == ActionCreate || a == ActionGrant }

// Change is one grant that a rollout changes for one person. Entitlement is
// empty for the account itself.
type Change struct {
	EmployeeID  string `json:"employee_id"`
	App         string `json:"app"`
	Entitlement string `json:"entitlement,omitempty"`
	Action      Action `json:"action"`
}

// AppCounts are the people who gain something in an app and who lose something.
type AppCounts struct {
	Gain int `json:"gain"`
	Lose int `json:"lose"`
}

// Summary counts people: everyone who is not terminated (People), those who
// gain something, those who lose something (a person can do both), and those
// the version leaves as they are.
type Summary struct {
	People    int                  `json:"people"`
	Gain      int                  `json:"gain"`
	Lose      int                  `json:"lose"`
	Unchanged int                  `json:"unchanged"`
	ByApp     map[string]AppCounts `json:"by_app"`
}

// GuardView is what the guard would decide about the deploy.
type GuardView struct {
	Held   bool   `json:"held"`
	Reason string `json:"reason,omitempty"`
}

// MaxChanges is how many changes a plan lists; ChangesTotal counts them all.
const MaxChanges = 1000

// Plan is what deploying a version would change: the version's desired access
// for everyone, against the access Tenure recorded for them.
type Plan struct {
	Version      string    `json:"version"`
	Summary      Summary   `json:"summary"`
	Guard        GuardView `json:"guard"`
	Changes      []Change  `json:"changes"`
	ChangesTotal int       `json:"changes_total"`

	// people are everyone the version changes, in ID order, with the apps it
	// changes for them; losers those who lose something, for the guard.
	people []tenure.RolloutItem
	losers []string
	byApp  map[string]tenure.AppProgress
	policy *policy.Policy
}

// compare works out the plan of pol for everyone people holds.
func compare(ctx context.Context, pol *policy.Policy, people tenure.AccessReader) (Plan, error) {
	plan := Plan{Version: pol.Digest(), Summary: Summary{ByApp: map[string]AppCounts{}}, Changes: []Change{}, policy: pol}
	removed := map[string]int{}
	err := people.EachPersonAccess(ctx, func(pa tenure.PersonAccess) error {
		plan.Summary.People++
		changes, gone := diff(pol, pa)
		for _, app := range gone {
			removed[app]++
		}
		if len(changes) == 0 {
			plan.Summary.Unchanged++
			return nil
		}
		plan.add(pa.Employee.ID, changes)
		return nil
	})
	if err != nil {
		return Plan{}, tenure.Unavailable("the store", err)
	}
	if len(removed) > 0 {
		return Plan{}, removedApps(removed)
	}
	plan.byApp = map[string]tenure.AppProgress{}
	for app, c := range plan.Summary.ByApp {
		plan.byApp[app] = tenure.AppProgress{Gain: c.Gain, Lose: c.Lose}
	}
	return plan, nil
}

// add counts one person's changes.
func (p *Plan) add(id string, changes []Change) {
	gain, lose := false, false
	apps := map[string]AppCounts{}
	for _, c := range changes {
		a := apps[c.App]
		if c.Action.gains() {
			gain, a.Gain = true, 1
		} else {
			lose, a.Lose = true, 1
		}
		apps[c.App] = a
	}
	if gain {
		p.Summary.Gain++
	}
	if lose {
		p.Summary.Lose++
		p.losers = append(p.losers, id)
	}
	names := make([]string, 0, len(apps))
	for app, a := range apps {
		t := p.Summary.ByApp[app]
		t.Gain += a.Gain
		t.Lose += a.Lose
		p.Summary.ByApp[app] = t
		names = append(names, app)
	}
	sort.Strings(names)
	p.people = append(p.people, tenure.RolloutItem{EmployeeID: id, Apps: names})
	p.ChangesTotal += len(changes)
	if room := MaxChanges - len(p.Changes); room > 0 {
		p.Changes = append(p.Changes, changes[:min(room, len(changes))]...)
	}
}

// removedApps refuses a version that drops an app in which people still have
// accounts: without the app in the policy, nothing could disable them.
func removedApps(removed map[string]int) error {
	names := make([]string, 0, len(removed))
	for app := range removed {
		names = append(names, app)
	}
	sort.Strings(names)
	var parts []string
	fields := make([]tenure.FieldError, 0, len(names))
	for _, app := range names {
		parts = append(parts, fmt.Sprintf("%s (%d people)", app, removed[app]))
		fields = append(fields, tenure.FieldError{Field: "apps", Problem: fmt.Sprintf(
			"app %q is no longer under apps, but %d people have accounts there that Tenure could then never disable", app, removed[app])})
	}
	return &tenure.Error{Code: tenure.EINVALID, Fields: fields, Message: "the policy drops apps that people still have accounts in: " +
		strings.Join(parts, ", ") + "; keep each under apps, with no rule granting it, deploy that so that the rollout disables " +
		"the accounts, then remove it"}
}

// diff returns what pol changes for one person, in app and entitlement order,
// and the apps they have accounts in that pol no longer names. It reads the
// person's access as the person's workflow does:
//   - an account counts as held while it is active or pending (created before
//     the start date, or an invitation not yet accepted), or disabled by a
//     lock, which the unlock gives back; a failed one is tried again;
//   - an entitlement counts as held while Tenure's grant record says it gave
//     it and the app showed it (active), or took it without a way to show it
//     (unverifiable): whatever later versions say, Tenure manages what it
//     granted until it has revoked it;
//   - a grant waiting for its approver is already asked for: it is no change.
func diff(pol *policy.Policy, pa tenure.PersonAccess) (changes []Change, gone []string) {
	locked := pa.Employee.Status == tenure.PersonLocked
	accounts := map[string]tenure.Account{}
	for _, a := range pa.Accounts {
		accounts[a.App] = a
	}
	held := map[string][]string{}
	asked := map[string]bool{}
	for _, g := range pa.Grants {
		switch {
		case g.Status.Held():
			if g.Entitlement != "" {
				held[g.App] = append(held[g.App], g.Entitlement)
			}
		case g.Status == tenure.AccessPendingApproval:
			asked[tenure.Grant{App: g.App, Entitlement: g.Entitlement}.Key()] = true
		}
	}
	hasAccount := func(app string) bool {
		switch accounts[app].Status {
		case tenure.AccessActive, tenure.AccessPending:
			return true
		case tenure.AccessDisabled:
			return locked
		}
		return false
	}
	want := map[string][]string{}
	for _, g := range pol.Evaluate(pa.Employee.Person) {
		if _, ok := want[g.App]; !ok {
			want[g.App] = []string{}
		}
		if asked[g.Key()] {
			continue
		}
		if g.Entitlement == "" {
			if !hasAccount(g.App) {
				changes = append(changes, Change{EmployeeID: pa.Employee.ID, App: g.App, Action: ActionCreate})
			}
			continue
		}
		want[g.App] = append(want[g.App], g.Entitlement)
		if !slices.Contains(held[g.App], g.Entitlement) {
			changes = append(changes, Change{EmployeeID: pa.Employee.ID, App: g.App, Entitlement: g.Entitlement, Action: ActionGrant})
		}
	}
	for app, ents := range held {
		wanted, ok := want[app]
		if !ok && !hasAccount(app) && accounts[app].Status != tenure.AccessFailed {
			// The account is off already: the mover leaves it as it is.
			continue
		}
		for _, e := range ents {
			if !slices.Contains(wanted, e) {
				changes = append(changes, Change{EmployeeID: pa.Employee.ID, App: app, Entitlement: e, Action: ActionRevoke})
			}
		}
	}
	for app, a := range accounts {
		if _, ok := want[app]; ok {
			continue
		}
		open := hasAccount(app) || (a.Status == tenure.AccessFailed && a.AccountID != "")
		if !open {
			continue
		}
		if _, ok := pol.App(app); !ok {
			gone = append(gone, app)
			continue
		}
		changes = append(changes, Change{EmployeeID: pa.Employee.ID, App: app, Action: ActionDisable})
	}
	slices.SortFunc(changes, func(a, b Change) int {
		if c := strings.Compare(a.App, b.App); c != 0 {
			return c
		}
		return strings.Compare(a.Entitlement, b.Entitlement)
	})
	sort.Strings(gone)
	return changes, gone
}
