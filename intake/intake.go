// Package intake is how HR events enter Tenure, whatever brought them: the API,
// a signed HR webhook, a CSV import, inbound SCIM or the console. It decodes
// Tenure's JSON event contract (one decoder for the API and the generic webhook),
// validates an event, records it, and hands it to the person's workflow exactly
// once.
package intake

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"time"

	"github.com/tenure-io/tenure"
)

// Intake accepts HR events.
type Intake struct {
	// Store records each event before it is handed on, and that it was.
	Store  tenure.EventStore
	Engine tenure.Engine
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Accepted is what became of an accepted event.
type Accepted struct {
	EventID    string `json:"event_id"`
	EmployeeID string `json:"employee_id"`
	WorkflowID string `json:"workflow_id"`
	// Duplicate is true when the event had been accepted before; nothing new ran.
	Duplicate bool `json:"-"`
	// Held is true when the blast-radius guard holds the event: it is recorded,
	// and goes to the person's workflow only if an admin releases its hold.
	Held bool `json:"held,omitempty"`
}

// Accept records ev and hands it to the person's workflow. The store row is
// written before Temporal is called, so an event that Temporal did not take stays
// "received" and a retry with the same ID dispatches it; one that Temporal took
// is never run twice. The same ID with another body is ECONFLICT. An event the
// guard holds is not dispatched (Held), nor one whose hold was discarded
// (Duplicate): only the hold's release hands it on. An event without an ID gets
// a new one. Store and engine failures are EUNAVAILABLE, or the error itself
// when it carries a code.
func (in *Intake) Accept(ctx context.Context, ev tenure.Event) (Accepted, error) {
	if ev.ID == "" {
		ev.ID = NewID()
	}
	mine := Record(ev, in.now())
	rec, created, err := in.Store.CreateEvent(ctx, mine)
	if err != nil {
		return Accepted{}, tenure.Unavailable("the store", err)
	}
	acc := Accepted{EventID: rec.ID, EmployeeID: rec.EmployeeID, WorkflowID: rec.WorkflowID}
	if !created {
		if rec.BodyHash != mine.BodyHash {
			return Accepted{}, tenure.Errorf(tenure.ECONFLICT, "event %s was already received with a different body; send a new id", ev.ID)
		}
		switch rec.Status {
		case tenure.EventDispatched, tenure.EventDiscarded:
			acc.Duplicate = true
			return acc, nil
		case tenure.EventHeld:
			acc.Held = true
			return acc, nil
		}
	}
	return in.dispatch(ctx, rec, ev)
}

// Record is the event log's record of ev, received at now, before it is handed on.
func Record(ev tenure.Event, now time.Time) tenure.EventRecord {
	canon, hash := Canonical(ev)
	return tenure.EventRecord{
		ID:         ev.ID,
		EmployeeID: ev.Employee.ID,
		Type:       ev.Type,
		WorkflowID: tenure.WorkflowID(ev.Employee.ID),
		BodyHash:   hash,
		Body:       canon,
		Status:     tenure.EventReceived,
		ReceivedAt: now.UTC(),
	}
}

// Dispatch hands a recorded event (received, or held by the guard and now
// released) to the person's workflow and marks it dispatched. The workflow sees
// when the event first arrived, whichever attempt dispatches it, and runs it
// once however often it is dispatched.
func (in *Intake) Dispatch(ctx context.Context, rec tenure.EventRecord) (Accepted, error) {
	var ev tenure.Event
	if err := json.Unmarshal(rec.Body, &ev); err != nil || ev.ID != rec.ID {
		return Accepted{}, tenure.Errorf(tenure.EINTERNAL, "event %s: its recorded body cannot be read", rec.ID)
	}
	return in.dispatch(ctx, rec, ev)
}

func (in *Intake) dispatch(ctx context.Context, rec tenure.EventRecord, ev tenure.Event) (Accepted, error) {
	ev.ReceivedAt = rec.ReceivedAt
	if _, err := in.Engine.SubmitEvent(ctx, ev); err != nil {
		return Accepted{}, tenure.Unavailable("the workflow engine", err)
	}
	if err := in.Store.MarkEventDispatched(ctx, rec.ID); err != nil {
		return Accepted{}, tenure.Unavailable("the store", err)
	}
	return Accepted{EventID: rec.ID, EmployeeID: rec.EmployeeID, WorkflowID: rec.WorkflowID}, nil
}

func (in *Intake) now() time.Time {
	if in.Now != nil {
		return in.Now()
	}
	return time.Now()
}

// Canonical re-encodes an event without its arrival time: two requests mean the
// same event exactly when these bytes are equal. encoding/json sorts map keys and
// effective_at is kept in UTC, so the encoding is stable.
func Canonical(ev tenure.Event) (body []byte, hash string) {
	var effective any
	if ev.EffectiveAt != nil {
		effective = ev.EffectiveAt.UTC()
	}
	body, err := json.Marshal(struct {
		ID          string           `json:"id"`
		Type        tenure.EventType `json:"type"`
		EffectiveAt any              `json:"effective_at,omitempty"`
		Employee    tenure.Person    `json:"employee"`
	}{ev.ID, ev.Type, effective, ev.Employee})
	if err != nil {
		// Only strings, a map of strings and a time are encoded: this cannot fail.
		panic(err)
	}
	sum := sha256.Sum256(body)
	return body, hex.EncodeToString(sum[:])
}

// NewID returns a random ID for a request that brought none.
func NewID() string { return rand.Text() }
