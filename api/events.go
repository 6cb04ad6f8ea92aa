package api

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/tenure-io/tenure"
)

// HeaderIdempotencyKey names a request's idempotency key when the body has no id.
const HeaderIdempotencyKey = "Idempotency-Key"

// eventAccepted is the 202 body of POST /api/v1/events.
type eventAccepted struct {
	EventID    string `json:"event_id"`
	EmployeeID string `json:"employee_id"`
	WorkflowID string `json:"workflow_id"`
}

// postEvent records an HR event and hands it to the person's workflow. The store
// row is written before Temporal is called, so an event that Temporal did not take
// stays "received" and a retry with the same ID dispatches it; one that Temporal
// took is never run twice.
func (s *server) postEvent(c echo.Context) error {
	body, err := readBody(c)
	if err != nil {
		return err
	}
	ev, err := decodeEvent(body, c.Request().Header.Get(HeaderIdempotencyKey))
	if err != nil {
		return err
	}
	if ev.ID == "" {
		ev.ID = newID()
	}
	canon, hash := canonicalEvent(ev)
	ctx := c.Request().Context()
	rec, created, err := s.store.CreateEvent(ctx, tenure.EventRecord{
		ID:         ev.ID,
		EmployeeID: ev.Employee.ID,
		Type:       ev.Type,
		WorkflowID: tenure.WorkflowID(ev.Employee.ID),
		BodyHash:   hash,
		Body:       canon,
		Status:     tenure.EventReceived,
		ReceivedAt: s.now().UTC(),
	})
	if err != nil {
		return s.unavailable(c, "the store", err)
	}
	accepted := eventAccepted{EventID: rec.ID, EmployeeID: rec.EmployeeID, WorkflowID: rec.WorkflowID}
	if !created {
		if rec.BodyHash != hash {
			return tenure.Errorf(tenure.ECONFLICT, "event %s was already received with a different body; send a new id", ev.ID)
		}
		if rec.Status == tenure.EventDispatched {
			return respond(c, http.StatusAccepted, accepted)
		}
	}
	// The workflow sees when the event first arrived, whichever attempt dispatches it.
	ev.ReceivedAt = rec.ReceivedAt
	if _, err := s.engine.SubmitEvent(ctx, ev); err != nil {
		return s.unavailable(c, "the workflow engine", err)
	}
	if err := s.store.MarkEventDispatched(ctx, rec.ID); err != nil {
		return s.unavailable(c, "the store", err)
	}
	return respond(c, http.StatusAccepted, accepted)
}

// canonicalEvent re-encodes an event without its arrival time: two requests mean
// the same event exactly when these bytes are equal. encoding/json sorts map keys
// and effective_at is already in UTC, so the encoding is stable.
func canonicalEvent(ev tenure.Event) (body []byte, hash string) {
	body, err := json.Marshal(struct {
		ID          string           `json:"id"`
		Type        tenure.EventType `json:"type"`
		EffectiveAt any              `json:"effective_at,omitempty"`
		Employee    tenure.Person    `json:"employee"`
	}{ev.ID, ev.Type, optionalTime(ev), ev.Employee})
	if err != nil {
		// Only strings, a map of strings and a time are encoded: this cannot fail.
		panic(err)
	}
	sum := sha256.Sum256(body)
	return body, hex.EncodeToString(sum[:])
}

func optionalTime(ev tenure.Event) any {
	if ev.EffectiveAt == nil {
		return nil
	}
	return ev.EffectiveAt.UTC()
}

// newID returns a random ID for a request that brought none.
func newID() string {
	return rand.Text()
}
