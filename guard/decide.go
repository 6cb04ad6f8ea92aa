package guard

import (
	"fmt"
	"strings"
	"time"

	"github.com/tenure-io/tenure"
)

// plan is what decide chose for one operation.
type plan struct {
	write tenure.GuardWrite
	// admitted are the people who go on; held those who wait, in order.
	admitted, held []string
	// holdID is the hold of the excess (or of the whole operation), else the
	// first hold that keeps someone's earlier events; created says it is new.
	holdID  string
	created bool
	// total is how many people the window would hold with everyone admitted.
	total  int
	whole  bool
	reason string
}

// decide is the guard's rule, on the state the store read inside its
// transaction. A source's window holds each person once, however often they
// come back within it; a newcomer enters while the window holds fewer than the
// limit (at most People people, or Percent of the active people when that is
// more), and the rest are the excess. A workflow-backed operation is all or
// nothing: held whole when admitting all of it would cross the limit. People
// whose earlier HR events a hold keeps stay behind them, in that hold, whatever
// the window says, so that one person's events never run out of order. newID
// names a hold decide creates.
func decide(st tenure.GuardState, th threshold, r Request, people []string, events []tenure.EventRecord, newID string) plan {
	d := plan{write: tenure.GuardWrite{HoldPeople: map[string][]string{}, HoldEvents: map[string][]tenure.EventRecord{}}}
	heldBy := map[string]string{}
	var excess []string
	window := st.Window
	if r.WorkflowID != "" {
		d.total = st.Window
		for _, p := range people {
			if !st.InWindow[p] {
				d.total++
			}
		}
		if d.total > th.limit {
			d.whole = true
			excess = people
		} else {
			d.admitted = people
		}
	} else {
		for _, p := range people {
			switch {
			case st.Blocked[p] != "":
				heldBy[p] = st.Blocked[p]
				d.held = append(d.held, p)
			case st.InWindow[p]:
				d.admitted = append(d.admitted, p)
			case window < th.limit:
				d.admitted = append(d.admitted, p)
				window++
			default:
				excess = append(excess, p)
			}
		}
		d.total = window + len(excess)
	}
	d.write.Window = d.admitted
	if len(excess) > 0 {
		d.reason = reasonFor(r, th, d.total, len(d.admitted), len(excess), d.whole)
		target := st.OpenHold
		if target == "" || d.whole {
			target, d.created = newID, true
			d.write.NewHold = &tenure.Hold{ID: newID, Source: r.Source, Operation: r.Operation, Actor: r.Actor,
				WorkflowID: r.WorkflowID, Reason: d.reason}
		}
		d.holdID = target
		d.write.HoldPeople[target] = excess
		for _, p := range excess {
			heldBy[p] = target
			d.held = append(d.held, p)
		}
	}
	// The events of everyone held wait in the hold that holds them, in order;
	// so do the events of anyone whose earlier events a hold keeps.
	for _, e := range events {
		h, ok := heldBy[e.EmployeeID]
		if !ok {
			if h = st.Blocked[e.EmployeeID]; h == "" {
				continue
			}
			heldBy[e.EmployeeID] = h
			d.held = append(d.held, e.EmployeeID)
		}
		d.write.HoldEvents[h] = append(d.write.HoldEvents[h], e)
	}
	if d.holdID == "" && len(d.held) > 0 {
		d.holdID = heldBy[d.held[0]]
	}
	if d.reason == "" && len(d.held) > 0 {
		d.reason = fmt.Sprintf("%d people have earlier HR events held by the guard; their later events wait behind them, in the same hold", len(d.held))
	}
	return d
}

// reasonFor says why the guard held, with the threshold it crossed.
func reasonFor(r Request, th threshold, total, admitted, excess int, whole bool) string {
	window := span(th.Window)
	limit := fmt.Sprintf("the guard allows at most %d per %s (more than %d people and more than %g%% of the %d active people is held)",
		th.limit, window, th.People, th.Percent, th.active)
	if whole {
		return fmt.Sprintf("%s %s would disable or revoke access for %d people within %s, and %s: it is held whole until an admin releases or discards it",
			r.Source, r.Operation, total, window, limit)
	}
	return fmt.Sprintf("%s would disable or revoke access for %d people within %s, and %s: %d went ahead in this operation, %d are held until an admin releases or discards them",
		r.Source, total, window, limit, admitted, excess)
}

// span writes a window as people do: 1h, 30m, 1h30m.
func span(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// verdict is the plan as Check answers it.
func (d plan) verdict() Verdict {
	if len(d.held) == 0 {
		return Verdict{}
	}
	return Verdict{Held: true, HoldID: d.holdID, Reason: d.reason, HeldPeople: d.held}
}
