package guard

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/tenure-io/tenure"
)

// HoldDetail is a hold and the first of the people it holds.
type HoldDetail struct {
	tenure.Hold
	// EmployeeIDs are the people held, in order, at most MaxPeopleShown.
	EmployeeIDs []string `json:"employee_ids"`
}

// MaxPeopleShown bounds the people a hold's detail lists.
const MaxPeopleShown = 500

// Holds lists holds, newest first.
func (g *Guard) Holds(ctx context.Context, f tenure.HoldFilter) ([]tenure.Hold, error) {
	return g.store.ListHolds(ctx, f)
}

// Hold returns one hold and whom it holds.
func (g *Guard) Hold(ctx context.Context, id string) (HoldDetail, error) {
	h, err := g.store.GetHold(ctx, id)
	if err != nil {
		return HoldDetail{}, err
	}
	people, err := g.store.ListHoldPeople(ctx, id, MaxPeopleShown)
	if err != nil {
		return HoldDetail{}, err
	}
	return HoldDetail{Hold: h, EmployeeIDs: people}, nil
}

// Release lets a hold's work go on: its HR events are handed to the people's
// workflows through intake, in the order they were held (each person's one
// after another), or its workflow is signalled to go on. actor must be an
// admin; the decision is audited. Releasing a released hold again hands on
// what is still pending, so a release that failed half-way is finished by
// asking again.
func (g *Guard) Release(ctx context.Context, id, actor, note string) (tenure.Hold, error) {
	return g.settle(ctx, id, actor, note, true)
}

// Discard drops a hold's work: its HR events are recorded as discarded and never
// run, and its workflow is signalled to end as canceled. The decision is audited.
func (g *Guard) Discard(ctx context.Context, id, actor, note string) (tenure.Hold, error) {
	return g.settle(ctx, id, actor, note, false)
}

func (g *Guard) settle(ctx context.Context, id, actor, note string, release bool) (tenure.Hold, error) {
	status, verb, act := tenure.HoldDiscarded, "discarded", "discard"
	if release {
		status, verb, act = tenure.HoldReleased, "released", "release"
	}
	cur, err := g.store.GetHold(ctx, id)
	if err != nil {
		return tenure.Hold{}, err
	}
	if cur.WorkflowID != "" && g.signaler == nil {
		return tenure.Hold{}, tenure.Errorf(tenure.EUNAVAILABLE, "hold %s waits in workflow %s, and this process cannot signal workflows", id, cur.WorkflowID)
	}
	h, _, err := g.store.DecideHold(ctx, id, status, actor, note, g.now())
	if err != nil {
		return tenure.Hold{}, err
	}
	detail := fmt.Sprintf("%s hold %s of %s %s: %d people, %d HR events", verb, h.ID, h.Source, h.Operation, h.People, h.Events)
	if note != "" {
		detail += "; reason: " + note
	}
	g.audit(ctx, tenure.AuditRecord{Key: "guard/" + h.ID + "/" + verb, Actor: actor, Action: "guard." + verb,
		WorkflowID: h.WorkflowID, Detail: detail})
	if h.WorkflowID != "" {
		if err := g.signaler.SignalGuardDecision(ctx, h.WorkflowID, Decision{HoldID: h.ID, Release: release, Actor: actor}); err != nil {
			g.log.ErrorContext(ctx, "signalling a held workflow", "hold_id", h.ID, "workflow_id", h.WorkflowID, "error", err)
			return h, tenure.Errorf(tenure.EUNAVAILABLE, "hold %s is %s, but workflow %s could not be told: the workflow engine is unavailable; %s it again to retry",
				h.ID, verb, h.WorkflowID, act)
		}
	}
	events, err := g.store.ListHoldEvents(ctx, id)
	if err != nil {
		return h, tenure.Unavailable("the store", err)
	}
	var pending []tenure.EventRecord
	for _, ev := range events {
		if ev.Status == tenure.EventHeld {
			pending = append(pending, ev)
		}
	}
	if release {
		err = g.dispatch(ctx, pending)
	} else {
		err = g.drop(ctx, h, actor, pending)
	}
	if after, gerr := g.store.GetHold(ctx, id); gerr == nil {
		h = after
	}
	if err != nil {
		g.log.ErrorContext(ctx, "settling a hold's events", "hold_id", h.ID, "error", err)
		return h, tenure.Errorf(tenure.EUNAVAILABLE, "hold %s is %s, but %d of its events are still pending: the workflow engine or the store is unavailable; %s it again to retry",
			h.ID, verb, h.Pending, act)
	}
	return h, nil
}

// releaseWorkers is how many people's held events are handed on at once.
const releaseWorkers = 16

// dispatch hands held events to intake, as importer.Apply does: one person's
// in order, one after another, and different people's in parallel. An event
// that fails holds back that person's later ones, for the next attempt.
func (g *Guard) dispatch(ctx context.Context, events []tenure.EventRecord) error {
	var order []string
	byPerson := map[string][]tenure.EventRecord{}
	for _, ev := range events {
		if _, ok := byPerson[ev.EmployeeID]; !ok {
			order = append(order, ev.EmployeeID)
		}
		byPerson[ev.EmployeeID] = append(byPerson[ev.EmployeeID], ev)
	}
	jobs := make(chan []tenure.EventRecord)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		fails int
	)
	for range min(releaseWorkers, len(order)) {
		wg.Go(func() {
			for evs := range jobs {
				for _, ev := range evs {
					if _, err := g.intake.Dispatch(ctx, ev); err != nil {
						mu.Lock()
						fails++
						if first == nil {
							first = err
						}
						mu.Unlock()
						break
					}
				}
			}
		})
	}
	for _, id := range order {
		jobs <- byPerson[id]
	}
	close(jobs)
	wg.Wait()
	if first != nil {
		return fmt.Errorf("%d people's events were not handed on: %w", fails, first)
	}
	return nil
}

// drop records each held event as discarded, saying by whom.
func (g *Guard) drop(ctx context.Context, h tenure.Hold, actor string, events []tenure.EventRecord) error {
	why := fmt.Sprintf("held by the guard in hold %s and discarded by %s", h.ID, actor)
	var errs []string
	for _, ev := range events {
		if err := g.store.MarkEventDiscarded(ctx, ev.ID, why); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if errs != nil {
		return fmt.Errorf("%d events not marked discarded: %s", len(errs), strings.Join(errs[:1], ""))
	}
	return nil
}
