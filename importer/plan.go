package importer

import (
	"context"
	"fmt"
	"time"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/intake"
	"github.com/tenure-io/tenure/policy"
)

// The kinds of step a plan holds.
const (
	KindHire        = "hire"
	KindRehire      = "rehire"
	KindChange      = "change"
	KindTermination = "termination"
	// KindNone is a row that changes nobody's access, such as a termination for
	// someone who is not employed.
	KindNone = "none"
)

// Step is what one row would do: to whom, and the access it grants and revokes.
type Step struct {
	Line       int              `json:"line"`
	EventID    string           `json:"event_id"`
	Type       tenure.EventType `json:"type"`
	Kind       string           `json:"kind"`
	EmployeeID string           `json:"employee_id"`
	Name       string           `json:"name,omitempty"`
	// Grants and Revokes are one entry per account and per entitlement, as the
	// policy evaluates them; a grant with Approval waits for that approver.
	Grants  []tenure.Grant `json:"grants"`
	Revokes []tenure.Grant `json:"revokes"`
	// Note says what else a person should know: a future start date, a scheduled
	// termination, a locked person.
	Note string `json:"note,omitempty"`
}

// Plan is what a file would do, grouped as HR thinks of it.
type Plan struct {
	Hires        []Step `json:"hires"`
	Changes      []Step `json:"changes"`
	Terminations []Step `json:"terminations"`
}

// People finds a person's current record; the store implements it.
type People interface {
	GetEmployee(ctx context.Context, id string) (tenure.Employee, error)
}

// Events finds an event Tenure has already received; the store implements it.
type Events interface {
	GetEvent(ctx context.Context, id string) (tenure.EventRecord, error)
}

// Planner plans a file against the people Tenure knows and the access policy.
type Planner struct {
	People People
	// Events, when set, marks rows imported before, which would run nothing.
	Events Events
	Policy *policy.Policy
	// Now is the clock, for telling future dates from past ones; nil means time.Now.
	Now func() time.Time
}

// person is what the plan knows of someone so far: their record in the store,
// then as each earlier row of the file left it.
type person struct {
	status tenure.PersonStatus // "" for someone Tenure has not seen
	record tenure.Person
}

func (p person) employed() bool {
	switch p.status {
	case tenure.PersonActive, tenure.PersonPending, tenure.PersonLocked:
		return true
	}
	return false
}

// Plan works out, row by row and in file order, what each row would do. It
// reads each person's current record once; later rows for the same person are
// planned against what the earlier rows left, as the person's workflow would
// apply them. The decisions follow the Employee workflow: a hire or rehire of
// someone employed is a change; an update for someone unknown is a hire; a
// leaver's record may change but gets no access back without a rehire.
func (pl *Planner) Plan(ctx context.Context, rows []Row) (Plan, error) {
	if pl.Policy == nil {
		return Plan{}, tenure.Errorf(tenure.EUNAVAILABLE, "no access policy is loaded, so no plan can be made")
	}
	now := time.Now
	if pl.Now != nil {
		now = pl.Now
	}
	plan := Plan{Hires: []Step{}, Changes: []Step{}, Terminations: []Step{}}
	known := map[string]*person{}
	for _, r := range rows {
		ev := r.Event
		id := ev.Employee.ID
		p, ok := known[id]
		if !ok {
			p = &person{}
			emp, err := pl.People.GetEmployee(ctx, id)
			switch code := tenure.ErrorCode(err); code {
			case "":
				p.status, p.record = emp.Status, emp.Person
			case tenure.ENOTFOUND:
			default:
				return Plan{}, err
			}
			known[id] = p
		}
		step := Step{Line: r.Line, EventID: ev.ID, Type: ev.Type, EmployeeID: id, Name: ev.Employee.DisplayName()}
		if note, seen, err := pl.seen(ctx, ev); err != nil {
			return Plan{}, err
		} else if seen {
			step.Kind, step.Grants, step.Revokes, step.Note = KindNone, []tenure.Grant{}, []tenure.Grant{}, note
			plan.add(step)
			continue
		}
		before := pl.access(*p)
		switch {
		case ev.Type == tenure.EventTerminate:
			if !p.employed() {
				step.Kind, step.Grants, step.Revokes = KindNone, []tenure.Grant{}, []tenure.Grant{}
				step.Note = "not employed: nothing to revoke"
				plan.Terminations = append(plan.Terminations, step)
				p.record = ev.Employee
				continue
			}
			step.Kind, step.Grants, step.Revokes = KindTermination, []tenure.Grant{}, before
			if ev.EffectiveAt != nil && ev.EffectiveAt.After(now()) {
				step.Note = "scheduled for " + ev.EffectiveAt.UTC().Format(time.RFC3339) + "; a later hire or rehire rescinds it"
			} else {
				// Only a termination that takes effect now is certain to end
				// employment before the next row; a scheduled one may yet be rescinded.
				p.status = tenure.PersonTerminated
			}
			p.record = ev.Employee
			plan.Terminations = append(plan.Terminations, step)
			continue
		case !p.employed() && p.status == tenure.PersonTerminated && ev.Type == tenure.EventUpdate:
			step.Kind, step.Grants, step.Revokes = KindNone, []tenure.Grant{}, []tenure.Grant{}
			step.Note = "a leaver's record is updated; no access comes back without a rehire"
			p.record = ev.Employee
			plan.Changes = append(plan.Changes, step)
			continue
		case !p.employed():
			step.Kind = KindHire
			if p.status == tenure.PersonTerminated || ev.Type == tenure.EventRehire {
				step.Kind = KindRehire
			}
			p.status = tenure.PersonActive
			if start, ok := ev.Employee.Start(); ok && start.After(now()) {
				p.status = tenure.PersonPending
				step.Note = "starts " + ev.Employee.StartDate + ": accounts are created disabled and switched on that morning"
			}
			before = []tenure.Grant{}
		default:
			step.Kind = KindChange
			if p.status == tenure.PersonLocked {
				step.Note = "locked: the change applies when the person is unlocked"
			}
		}
		p.record = ev.Employee
		after := pl.access(*p)
		step.Grants, step.Revokes = diff(before, after)
		if step.Kind == KindHire || step.Kind == KindRehire {
			plan.Hires = append(plan.Hires, step)
		} else {
			plan.Changes = append(plan.Changes, step)
		}
	}
	return plan, nil
}

// seen says whether ev was received before, and what a re-import would do.
func (pl *Planner) seen(ctx context.Context, ev tenure.Event) (string, bool, error) {
	if pl.Events == nil {
		return "", false, nil
	}
	rec, err := pl.Events.GetEvent(ctx, ev.ID)
	switch code := tenure.ErrorCode(err); {
	case code == tenure.ENOTFOUND:
		return "", false, nil
	case code != "":
		return "", false, err
	}
	if _, hash := intake.Canonical(ev); hash != rec.BodyHash {
		return "conflict: event " + ev.ID + " was received before with different content, so this row will be refused; give it a new id", true, nil
	}
	return "already imported as event " + ev.ID + ": runs nothing", true, nil
}

// add files a step under its event type.
func (p *Plan) add(s Step) {
	switch s.Type {
	case tenure.EventTerminate:
		p.Terminations = append(p.Terminations, s)
	case tenure.EventUpdate:
		p.Changes = append(p.Changes, s)
	default:
		p.Hires = append(p.Hires, s)
	}
}

// access is what the policy gives someone in their current state.
func (pl *Planner) access(p person) []tenure.Grant {
	if !p.employed() {
		return []tenure.Grant{}
	}
	return pl.Policy.Evaluate(p.record)
}

// diff is what after adds to before and what it takes away, by grant key.
func diff(before, after []tenure.Grant) (grants, revokes []tenure.Grant) {
	grants, revokes = []tenure.Grant{}, []tenure.Grant{}
	was := map[string]bool{}
	for _, g := range before {
		was[g.Key()] = true
	}
	is := map[string]bool{}
	for _, g := range after {
		is[g.Key()] = true
		if !was[g.Key()] {
			grants = append(grants, g)
		}
	}
	for _, g := range before {
		if !is[g.Key()] {
			revokes = append(revokes, g)
		}
	}
	return grants, revokes
}

// Describe is a grant as a person reads it: "github/engineering (needs manager approval)".
func Describe(g tenure.Grant) string {
	if g.Approval == "" {
		return g.Key()
	}
	return fmt.Sprintf("%s (needs %s approval)", g.Key(), g.Approval)
}
