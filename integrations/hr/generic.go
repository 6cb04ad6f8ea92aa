package hr

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/intake"
)

// genericEvent is one event of the generic webhook: Tenure's own event schema,
// as POST /api/v1/events takes it.
type genericEvent struct {
	ID          string           `json:"id"`
	Type        tenure.EventType `json:"type"`
	EffectiveAt string           `json:"effective_at"`
	Employee    *tenure.Person   `json:"employee"`
}

// Generic maps a generic webhook body: one event object, or {"events": [...]}.
// The error is for a body that is not such a delivery at all (nothing is then
// accepted); each event's own problems are in its Item. Unlike the API, each
// event must carry an id: the sender redelivers webhooks, and only the id tells
// a redelivery from a new event.
func Generic(body []byte) ([]Item, error) {
	body = bytes.TrimSpace(body)
	var members map[string]json.RawMessage
	if err := json.Unmarshal(body, &members); err != nil || members == nil {
		return nil, tenure.Invalid(tenure.FieldError{Field: "body", Problem: "must be one event object or {\"events\": [...]}"})
	}
	raws := []json.RawMessage{body}
	if list, ok := members["events"]; ok {
		if len(members) != 1 {
			return nil, tenure.Invalid(tenure.FieldError{Field: "body", Problem: "a batch has only the member \"events\""})
		}
		if err := json.Unmarshal(list, &raws); err != nil {
			return nil, tenure.Invalid(tenure.FieldError{Field: "events", Problem: "must be an array of events"})
		}
		if len(raws) == 0 {
			return nil, tenure.Invalid(tenure.FieldError{Field: "events", Problem: "is empty"})
		}
		if len(raws) > MaxEvents {
			return nil, tenure.Invalid(tenure.FieldError{Field: "events", Problem: fmt.Sprintf("has %d events; send at most %d", len(raws), MaxEvents)})
		}
	}
	items := make([]Item, len(raws))
	for i, raw := range raws {
		ev, err := genericOne(raw)
		items[i] = Item{Event: ev, Err: err}
	}
	return items, nil
}

// genericOne decodes and validates one event, naming every field at fault.
func genericOne(raw json.RawMessage) (tenure.Event, error) {
	var (
		p  intake.Problems
		in genericEvent
	)
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		p.Add(decodeField(err), decodeProblem(err))
		return tenure.Event{}, p.Err()
	}
	if _, err := dec.Token(); err != io.EOF {
		p.Add("body", "has data after the event object")
		return tenure.Event{}, p.Err()
	}
	ev := tenure.Event{ID: in.ID, Type: in.Type}
	if in.ID == "" {
		p.Add("id", "is required: a webhook sender redelivers, and the id is how a redelivery is recognised")
	}
	if in.Type == "" {
		p.Add("type", "is required")
	}
	if in.EffectiveAt != "" {
		t, err := time.Parse(time.RFC3339, in.EffectiveAt)
		if err != nil {
			p.Add("effective_at", "must be an RFC 3339 time such as 2026-01-02T15:04:05Z")
		} else {
			t = t.UTC()
			ev.EffectiveAt = &t
		}
	}
	if in.Employee == nil {
		p.Add("employee", "is required")
	} else {
		ev.Employee = *in.Employee
	}
	if err := intake.ValidateEvent(ev); err != nil {
		var te *tenure.Error
		if errors.As(err, &te) {
			for _, f := range te.Fields {
				p.Add(f.Field, f.Problem)
			}
		}
	}
	if err := p.Err(); err != nil {
		return tenure.Event{}, err
	}
	return ev, nil
}

// decodeField names the field a decoding error is about.
func decodeField(err error) string {
	var typ *json.UnmarshalTypeError
	if errors.As(err, &typ) && typ.Field != "" {
		return typ.Field
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return strings.Trim(name, `"`)
	}
	return "body"
}

// decodeProblem says what a decoding error means for the sender.
func decodeProblem(err error) string {
	var (
		typ *json.UnmarshalTypeError
		syn *json.SyntaxError
	)
	switch {
	case errors.As(err, &typ):
		return "must be " + jsonKind(typ.Type.String())
	case errors.As(err, &syn):
		return "is not valid JSON: " + syn.Error()
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return "is not a known field"
	}
	return "must be an event object"
}

func jsonKind(goType string) string {
	switch {
	case goType == "string" || goType == "tenure.EventType":
		return "a string"
	case strings.HasPrefix(goType, "map["):
		return "an object of strings"
	}
	return "an object"
}
