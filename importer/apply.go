package importer

import (
	"context"
	"sync"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/intake"
)

// DefaultWorkers is how many events Apply hands over at once. Each hand-off is
// two store writes and one call to Temporal, so it waits on I/O rather than the
// CPU. 8 hands a bulk over faster than the workers can hire (82 a second against
// 46 at 10,000, on 2 cores), and keeps the queue short on the embedded Temporal
// server's one SQLite connection, which a lock's calls wait in too: with 32, a
// lock sent while a bulk was being handed over took 440 to 650 ms
// (its raise and signal waited behind the starts), with 8 140 to 230 ms
// (`tenure bench --bulk`, docs/performance.md).
const DefaultWorkers = 8

// The statuses of one event in a batch or an import.
const (
	StatusAccepted  = "accepted"
	StatusDuplicate = "duplicate"
	StatusInvalid   = "invalid"
	StatusConflict  = "conflict"
	StatusError     = "error"
	// StatusHeld is an event the blast-radius guard holds until an admin
	// releases or discards its hold.
	StatusHeld = "held"
)

// Outcome is what became of one event handed to intake.
type Outcome struct {
	Accepted intake.Accepted
	// HoldID is the guard's hold that keeps the event, when it is held.
	HoldID string
	Err    error
}

// Status names the outcome: accepted, duplicate, held, invalid, conflict or error.
func (o Outcome) Status() string {
	switch tenure.ErrorCode(o.Err) {
	case "":
		switch {
		case o.HoldID != "" || o.Accepted.Held:
			return StatusHeld
		case o.Accepted.Duplicate:
			return StatusDuplicate
		}
		return StatusAccepted
	case tenure.EINVALID:
		return StatusInvalid
	case tenure.ECONFLICT:
		return StatusConflict
	}
	return StatusError
}

// Apply hands events to in.Accept, up to workers at a time (DefaultWorkers when
// workers < 1), and returns one outcome per event, in order. One person's events
// go one after another in the order given, since their order means something (a
// hire, then a change); different people's go in parallel. An event that fails
// (StatusError) holds back that person's later events, with StatusError too, so
// a retry sends them in order; nothing else stops. done, when set, is called after each event; it must be
// safe for concurrent use.
func Apply(ctx context.Context, in *intake.Intake, events []tenure.Event, workers int, done func()) []Outcome {
	if workers < 1 {
		workers = DefaultWorkers
	}
	out := make([]Outcome, len(events))
	// Queue each person's events together, people in order of first appearance.
	var order []string
	byPerson := map[string][]int{}
	for i, ev := range events {
		id := ev.Employee.ID
		if _, ok := byPerson[id]; !ok {
			order = append(order, id)
		}
		byPerson[id] = append(byPerson[id], i)
	}
	jobs := make(chan []int)
	var wg sync.WaitGroup
	for range min(workers, len(order)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for idx := range jobs {
				var failed string
				for _, i := range idx {
					if failed != "" {
						// Running a later event before an earlier one would change
						// their meaning: hold it back until the earlier one is retried.
						out[i] = Outcome{Err: tenure.Errorf(tenure.EUNAVAILABLE, "not sent: event %s for the same person failed first; retry", failed)}
					} else {
						acc, err := in.Accept(ctx, events[i])
						out[i] = Outcome{Accepted: acc, Err: err}
						if out[i].Status() == StatusError {
							failed = events[i].ID
						}
					}
					if done != nil {
						done()
					}
				}
			}
		}()
	}
	for _, id := range order {
		jobs <- byPerson[id]
	}
	close(jobs)
	wg.Wait()
	return out
}
