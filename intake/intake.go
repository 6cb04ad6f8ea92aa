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
}

// Accept records ev and hands it to the person's workflow. The store row is
// written before Temporal is called, so an event that Temporal did not take stays
// "received" and a retry with the same ID dispatches it; one that Temporal took
// is never run twice. The same ID with another body is ECONFLICT. An event
// without an ID gets a new one. Store and engine failures are EUNAVAILABLE, or
// the error itself when it carries a code.
func (in *Intake) Accept(ctx context.Context, ev tenure.Event) (Accepted, error) {
	if ev.ID == "" {
		ev.ID = NewID()
	}
	canon, hash := Canonical(ev)
	now := time.Now
	if in.Now != nil {
		now = in.Now
	}
	rec, created, err := in.Store.CreateEvent(ctx, tenure.EventRecord{
		ID:         ev.ID,
		EmployeeID: ev.Employee.ID,
		Type:       ev.Type,
		WorkflowID: tenure.WorkflowID(ev.Employee.ID),
		BodyHash:   hash,
		Body:       canon,
		Status:     tenure.EventReceived,
		ReceivedAt: now().UTC(),
	})
	if err != nil {
		return Accepted{}, tenure.Unavailable("the store", err)
	}
	acc := Accepted{EventID: rec.ID, EmployeeID: rec.EmployeeID, WorkflowID: rec.WorkflowID}
	if !created {
		if rec.BodyHash != hash {
			return Accepted{}, tenure.Errorf(tenure.ECONFLICT, "event %s was already received with a different body; send a new id", ev.ID)
		}
		if rec.Status == tenure.EventDispatched {
			acc.Duplicate = true
			return acc, nil
		}
	}
	// The workflow sees when the event first arrived, whichever attempt dispatches it.
	ev.ReceivedAt = rec.ReceivedAt
	if _, err := in.Engine.SubmitEvent(ctx, ev); err != nil {
		return Accepted{}, tenure.Unavailable("the workflow engine", err)
	}
	if err := in.Store.MarkEventDispatched(ctx, rec.ID); err != nil {
		return Accepted{}, tenure.Unavailable("the store", err)
	}
	return acc, nil
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
