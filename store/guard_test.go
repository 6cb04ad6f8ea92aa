package store_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/store"
	"github.com/tenure-io/tenure/store/storetest"
)

// admitAll puts every one of the query's people in the window.
func admitAll(q tenure.GuardQuery) func(tenure.GuardState) (tenure.GuardWrite, error) {
	return func(tenure.GuardState) (tenure.GuardWrite, error) { return tenure.GuardWrite{Window: q.People}, nil }
}

func heldEvent(id, employee, hash string) tenure.EventRecord {
	return tenure.EventRecord{ID: id, EmployeeID: employee, Type: tenure.EventTerminate, WorkflowID: tenure.WorkflowID(employee),
		BodyHash: hash, Body: []byte(`{"id":"` + id + `"}`), ReceivedAt: ts(1)}
}

func TestGuardWindowCountsPeopleOnceAndSlides(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t0 := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
		q := tenure.GuardQuery{Source: "batch", Since: t0.Add(-time.Hour), At: t0, People: []string{"a", "b"}}
		_, err := db.Guard(ctx, q, admitAll(q))
		must(t, err)
		// Another source's window is its own.
		other := tenure.GuardQuery{Source: "import", Since: t0.Add(-time.Hour), At: t0, People: []string{"c"}}
		_, err = db.Guard(ctx, other, admitAll(other))
		must(t, err)

		// b again, half an hour later: still one person, counted at the new time.
		q2 := tenure.GuardQuery{Source: "batch", Since: t0.Add(-30 * time.Minute), At: t0.Add(30 * time.Minute), People: []string{"b", "d"}}
		st, err := db.PeekGuard(ctx, q2)
		must(t, err)
		if st.Window != 2 || !st.InWindow["b"] || st.InWindow["d"] || st.OpenHold != "" || len(st.Blocked) != 0 {
			t.Fatalf("state = %+v, want a and b in the window, b among the asked", st)
		}
		_, err = db.Guard(ctx, q2, func(st tenure.GuardState) (tenure.GuardWrite, error) {
			return tenure.GuardWrite{Window: []string{"b"}}, nil
		})
		must(t, err)

		// An hour after the first: a has left the window, b (refreshed) has not.
		q3 := tenure.GuardQuery{Source: "batch", Since: t0.Add(time.Minute), At: t0.Add(61 * time.Minute), People: []string{"a", "b"}}
		st, err = db.PeekGuard(ctx, q3)
		must(t, err)
		if st.Window != 1 || st.InWindow["a"] || !st.InWindow["b"] {
			t.Fatalf("state = %+v, want only b in the window", st)
		}
		st, err = db.PeekGuard(ctx, tenure.GuardQuery{Source: "import", Since: t0.Add(-time.Minute), At: t0, People: []string{"c"}})
		must(t, err)
		if st.Window != 1 || !st.InWindow["c"] {
			t.Fatalf("import's window = %+v, want c", st)
		}
	})
}

func TestGuardHoldsEventsAndBlocksTheirPeople(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		// e0 was accepted before; e9 too, with another body: neither is held again.
		_, _, err := db.CreateEvent(ctx, tenure.EventRecord{ID: "e0", EmployeeID: "p1", Type: tenure.EventTerminate, BodyHash: "h0", Status: tenure.EventDispatched})
		must(t, err)
		_, _, err = db.CreateEvent(ctx, tenure.EventRecord{ID: "e9", EmployeeID: "p2", Type: tenure.EventTerminate, BodyHash: "other"})
		must(t, err)
		at := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
		q := tenure.GuardQuery{Source: "batch", Since: at.Add(-time.Hour), At: at, People: []string{"p1", "p2", "p3"}}
		res, err := db.Guard(ctx, q, func(st tenure.GuardState) (tenure.GuardWrite, error) {
			return tenure.GuardWrite{
				Window:     []string{"p3"},
				NewHold:    &tenure.Hold{ID: "hold_1", Source: "batch", Operation: "b1", Actor: "ada", Reason: "too many"},
				HoldPeople: map[string][]string{"hold_1": {"p1", "p2"}},
				HoldEvents: map[string][]tenure.EventRecord{"hold_1": {
					heldEvent("e0", "p1", "h0"), heldEvent("e1", "p1", "h1"), heldEvent("e2", "p2", "h2"),
					heldEvent("e9", "p2", "h9"), heldEvent("e3", "p1", "h3"),
				}},
			}, nil
		})
		must(t, err)
		if fmt.Sprint(res.HeldEvents) != "map[e1:hold_1 e2:hold_1 e3:hold_1]" {
			t.Fatalf("held events = %v, want e1, e2, e3", res.HeldEvents)
		}
		h, err := db.GetHold(ctx, "hold_1")
		must(t, err)
		if h.Status != tenure.HoldOpen || h.People != 2 || h.Events != 3 || h.Pending != 3 || h.Source != "batch" ||
			h.Operation != "b1" || h.Actor != "ada" || h.Reason != "too many" || !h.CreatedAt.Equal(at) {
			t.Fatalf("hold = %+v", h)
		}
		ev, err := db.GetEvent(ctx, "e1")
		must(t, err)
		if ev.Status != tenure.EventHeld || string(ev.Body) != `{"id":"e1"}` || ev.BodyHash != "h1" {
			t.Fatalf("held event = %+v", ev)
		}
		if ev, _ := db.GetEvent(ctx, "e0"); ev.Status != tenure.EventDispatched {
			t.Fatalf("e0 = %s, want left dispatched", ev.Status)
		}
		evs, err := db.ListHoldEvents(ctx, "hold_1")
		must(t, err)
		if len(evs) != 3 || evs[0].ID != "e1" || evs[1].ID != "e2" || evs[2].ID != "e3" {
			t.Fatalf("hold events = %+v, want e1, e2, e3 in order", evs)
		}
		people, err := db.ListHoldPeople(ctx, "hold_1", 0)
		must(t, err)
		if fmt.Sprint(people) != "[p1 p2]" {
			t.Fatalf("hold people = %v", people)
		}

		// p1 and p2 are now behind the hold; the source's open hold is hold_1.
		st, err := db.PeekGuard(ctx, tenure.GuardQuery{Source: "batch", Since: at.Add(-time.Hour), At: at, People: []string{"p1", "p2", "p3", "p4"}})
		must(t, err)
		if fmt.Sprint(st.Blocked) != "map[p1:hold_1 p2:hold_1]" || st.OpenHold != "hold_1" || st.Window != 1 {
			t.Fatalf("state = %+v", st)
		}
		// A workflow-backed hold of another source neither blocks nor is joined.
		_, err = db.Guard(ctx, tenure.GuardQuery{Source: "policy", Since: at.Add(-time.Hour), At: at, People: []string{"p4"}},
			func(tenure.GuardState) (tenure.GuardWrite, error) {
				return tenure.GuardWrite{NewHold: &tenure.Hold{ID: "hold_2", Source: "policy", Operation: "r1", WorkflowID: "rollout/r1"},
					HoldPeople: map[string][]string{"hold_2": {"p4"}}}, nil
			})
		must(t, err)
		st, err = db.PeekGuard(ctx, tenure.GuardQuery{Source: "policy", Since: at.Add(-time.Hour), At: at, People: []string{"p4"}})
		must(t, err)
		if len(st.Blocked) != 0 || st.OpenHold != "" {
			t.Fatalf("policy state = %+v, want nothing blocked and no open hold of events", st)
		}
		counts, err := db.CountOpenHolds(ctx)
		must(t, err)
		if fmt.Sprint(counts) != "map[batch:1 policy:1]" {
			t.Fatalf("open holds = %v", counts)
		}
		list, err := db.ListHolds(ctx, tenure.HoldFilter{Status: tenure.HoldOpen})
		must(t, err)
		if len(list) != 2 {
			t.Fatalf("open holds = %+v", list)
		}
		_, err = db.ListHolds(ctx, tenure.HoldFilter{Status: "maybe"})
		wantCode(t, err, tenure.EINVALID)

		// An error from decide writes nothing.
		_, err = db.Guard(ctx, q, func(tenure.GuardState) (tenure.GuardWrite, error) {
			return tenure.GuardWrite{}, tenure.Errorf(tenure.ECONFLICT, "no")
		})
		wantCode(t, err, tenure.ECONFLICT)
	})
}

func TestDecideHold(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		at := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
		q := tenure.GuardQuery{Source: "scim", Since: at.Add(-time.Hour), At: at, People: []string{"p1"}}
		_, err := db.Guard(ctx, q, func(tenure.GuardState) (tenure.GuardWrite, error) {
			return tenure.GuardWrite{NewHold: &tenure.Hold{ID: "hold_1", Source: "scim", Operation: "o"},
				HoldPeople: map[string][]string{"hold_1": {"p1"}},
				HoldEvents: map[string][]tenure.EventRecord{"hold_1": {heldEvent("e1", "p1", "h1")}}}, nil
		})
		must(t, err)
		_, _, err = db.DecideHold(ctx, "hold_x", tenure.HoldReleased, "ada", "", at)
		wantCode(t, err, tenure.ENOTFOUND)
		_, _, err = db.DecideHold(ctx, "hold_1", tenure.HoldOpen, "ada", "", at)
		wantCode(t, err, tenure.EINVALID)

		h, changed, err := db.DecideHold(ctx, "hold_1", tenure.HoldReleased, "ada", "HR confirmed the list", at.Add(time.Minute))
		must(t, err)
		if !changed || h.Status != tenure.HoldReleased || h.DecidedBy != "ada" || h.Note != "HR confirmed the list" ||
			h.DecidedAt == nil || !h.DecidedAt.Equal(at.Add(time.Minute)) {
			t.Fatalf("released = %+v, changed %t", h, changed)
		}
		// The same decision again changes nothing; the other one is a conflict.
		h, changed, err = db.DecideHold(ctx, "hold_1", tenure.HoldReleased, "bob", "", at.Add(2*time.Minute))
		must(t, err)
		if changed || h.DecidedBy != "ada" {
			t.Fatalf("released again = %+v, changed %t", h, changed)
		}
		_, _, err = db.DecideHold(ctx, "hold_1", tenure.HoldDiscarded, "bob", "", at)
		wantCode(t, err, tenure.ECONFLICT)

		// A decided hold blocks nobody, and new excess starts a new hold.
		st, err := db.PeekGuard(ctx, q)
		must(t, err)
		if len(st.Blocked) != 0 || st.OpenHold != "" {
			t.Fatalf("state after the release = %+v", st)
		}
	})
}

// TestGuardIsSerialisedAcrossProcesses: two processes on one database, many
// requests at once, each admitting one newcomer only while the window holds
// fewer than 10. Exactly 10 get in: no two read the same free place.
func TestGuardIsSerialisedAcrossProcesses(t *testing.T) {
	for _, backend := range []store.Backend{store.SQLite, store.Postgres} {
		t.Run(string(backend), func(t *testing.T) {
			dbs := storetest.Processes(t, backend, 2)
			at := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
			var (
				wg       sync.WaitGroup
				mu       sync.Mutex
				admitted int
			)
			for i := range 30 {
				wg.Go(func() {
					id := fmt.Sprintf("p%02d", i)
					q := tenure.GuardQuery{Source: "batch", Since: at.Add(-time.Hour), At: at, People: []string{id}}
					in := false
					_, err := dbs[i%2].Guard(ctx, q, func(st tenure.GuardState) (tenure.GuardWrite, error) {
						in = st.Window < 10
						if !in {
							return tenure.GuardWrite{}, nil
						}
						return tenure.GuardWrite{Window: []string{id}}, nil
					})
					if err != nil {
						t.Error(err)
						return
					}
					if in {
						mu.Lock()
						admitted++
						mu.Unlock()
					}
				})
			}
			wg.Wait()
			st, err := dbs[0].PeekGuard(ctx, tenure.GuardQuery{Source: "batch", Since: at.Add(-time.Hour), At: at})
			must(t, err)
			if admitted != 10 || st.Window != 10 {
				t.Fatalf("%d admitted, window %d; want exactly 10", admitted, st.Window)
			}
		})
	}
}

func TestEmployeesAndEventsByID(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		must(t, db.UpsertEmployee(ctx, tenure.Employee{Person: person("e1", "Ada", "Lovelace"), Status: tenure.PersonActive}))
		_, _, err := db.CreateEvent(ctx, tenure.EventRecord{ID: "ev1", EmployeeID: "e1", Type: tenure.EventHire, BodyHash: "h"})
		must(t, err)
		ids := []string{"e1", "nobody"}
		for i := range 700 { // more than one chunk of the IN list
			ids = append(ids, fmt.Sprintf("x%d", i))
		}
		people, err := db.EmployeesByID(ctx, ids)
		must(t, err)
		if len(people) != 1 || people["e1"].GivenName != "Ada" || people["e1"].Status != tenure.PersonActive {
			t.Fatalf("people = %+v", people)
		}
		events, err := db.EventsByID(ctx, append(ids, "ev1"))
		must(t, err)
		if len(events) != 1 || events["ev1"].BodyHash != "h" {
			t.Fatalf("events = %+v", events)
		}
	})
}
