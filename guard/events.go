package guard

import (
	"context"
	"slices"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/importer"
	"github.com/tenure-io/tenure/intake"
)

// Bulk names a bulk of HR events for the guard: where they came from, the
// operation (a batch, a file, a delivery, a sync) and who sent it.
type Bulk struct {
	Source    string
	Operation string
	Actor     string
}

// EventsVerdict is what the guard decided about a bulk of HR events.
type EventsVerdict struct {
	Verdict
	// HoldOf[i] is the hold that keeps events[i], or "" when the event goes on
	// to intake. A held event is recorded in the event log, body and all, with
	// status held: it is accepted, and waits for the hold's decision.
	HoldOf []string
}

// Events stands in front of a bulk of HR events that intake is about to take:
// it works out whose access they would disable or revoke (Counted), counts
// those people into the source's window, and holds the excess with all their
// events. Events that are not held go on to intake as they would without the
// guard. An event without an ID is given one here, in events, so that intake
// records it under the ID the guard saw.
func (g *Guard) Events(ctx context.Context, b Bulk, events []tenure.Event) (EventsVerdict, error) {
	out := EventsVerdict{HoldOf: make([]string, len(events))}
	if len(events) == 0 {
		return out, nil
	}
	r := Request{Source: b.Source, Operation: b.Operation, Actor: b.Actor}
	if _, err := r.check(); err != nil {
		return out, err
	}
	for i := range events {
		if events[i].ID == "" {
			events[i].ID = intake.NewID()
		}
	}
	disabling, err := g.Counted(ctx, events)
	if err != nil {
		return out, err
	}
	r.People = disabling
	concerned := slices.Clone(disabling)
	now := g.now()
	records := make([]tenure.EventRecord, len(events))
	for i, ev := range events {
		concerned = append(concerned, ev.Employee.ID)
		records[i] = intake.Record(ev, now)
	}
	v, res, err := g.guard(ctx, r, disabling, uniq(concerned), records)
	if err != nil {
		return out, err
	}
	out.Verdict = v
	for i, ev := range events {
		out.HoldOf[i] = res.HeldEvents[ev.ID]
	}
	return out, nil
}

// PreviewEvents says what Events would decide about events now, writing
// nothing: for a dry run.
func (g *Guard) PreviewEvents(ctx context.Context, b Bulk, events []tenure.Event) (Verdict, error) {
	disabling, err := g.Counted(ctx, events)
	if err != nil {
		return Verdict{}, err
	}
	return g.Preview(ctx, Request{Source: b.Source, Operation: b.Operation, Actor: b.Actor, People: disabling})
}

// Counted returns the people whose access events would disable or revoke, in
// the order of their first such event, as the import planner works it out from
// the read model: a termination of someone employed, taking effect now or
// scheduled; and a change of someone's record that the policy answers with
// less (an app or an entitlement taken away). An event Tenure has received
// before counts nobody: it runs nothing new. Without a policy only
// terminations count.
func (g *Guard) Counted(ctx context.Context, events []tenure.Event) ([]string, error) {
	ids := make([]string, 0, len(events))
	eventIDs := make([]string, 0, len(events))
	for _, ev := range events {
		ids = append(ids, ev.Employee.ID)
		eventIDs = append(eventIDs, ev.ID)
	}
	people, err := g.store.EmployeesByID(ctx, ids)
	if err != nil {
		return nil, tenure.Unavailable("the store", err)
	}
	seen, err := g.store.EventsByID(ctx, eventIDs)
	if err != nil {
		return nil, tenure.Unavailable("the store", err)
	}
	pol, err := g.active(ctx)
	if err != nil {
		return nil, err
	}
	if pol == nil {
		return terminations(events, people, seen), nil
	}
	rows := make([]importer.Row, len(events))
	for i, ev := range events {
		rows[i] = importer.Row{Line: i, Event: ev}
	}
	pl := &importer.Planner{People: known(people), Events: received(seen), Policy: pol, Now: g.now}
	p, err := pl.Plan(ctx, rows)
	if err != nil {
		return nil, tenure.Unavailable("working out what the events revoke", err)
	}
	takes := make([]bool, len(events))
	for _, s := range p.Terminations {
		takes[s.Line] = s.Kind == importer.KindTermination
	}
	for _, s := range p.Changes {
		takes[s.Line] = s.Kind == importer.KindChange && len(s.Revokes) > 0
	}
	var out []string
	for i, ev := range events {
		if takes[i] {
			out = append(out, ev.Employee.ID)
		}
	}
	return uniq(out), nil
}

// terminations counts, without a policy, the terminations of people who are
// employed (or hired earlier in the same bulk).
func terminations(events []tenure.Event, people map[string]tenure.Employee, seen map[string]tenure.EventRecord) []string {
	employed := map[string]bool{}
	for id, e := range people {
		employed[id] = e.Status != tenure.PersonTerminated
	}
	var out []string
	for _, ev := range events {
		if _, dup := seen[ev.ID]; dup {
			continue
		}
		id := ev.Employee.ID
		switch ev.Type {
		case tenure.EventTerminate:
			if employed[id] {
				out = append(out, id)
			}
		case tenure.EventHire, tenure.EventRehire:
			employed[id] = true
		}
	}
	return uniq(out)
}

// known is the people the store returned, as the planner asks for them.
type known map[string]tenure.Employee

func (k known) GetEmployee(_ context.Context, id string) (tenure.Employee, error) {
	if e, ok := k[id]; ok {
		return e, nil
	}
	return tenure.Employee{}, tenure.Errorf(tenure.ENOTFOUND, "employee %q not found", id)
}

// received is the events the store returned, as the planner asks for them.
type received map[string]tenure.EventRecord

func (r received) GetEvent(_ context.Context, id string) (tenure.EventRecord, error) {
	if e, ok := r[id]; ok {
		return e, nil
	}
	return tenure.EventRecord{}, tenure.Errorf(tenure.ENOTFOUND, "event %q not found", id)
}
