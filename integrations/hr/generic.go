package hr

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/intake"
)

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

// genericOne decodes and validates one event as the API does (intake.DecodeEvent),
// naming every field at fault, and also requires the event's id.
func genericOne(raw json.RawMessage) (tenure.Event, error) {
	var p intake.Problems
	ev := intake.DecodeEvent(raw, "", &p)
	if ev.ID == "" && !p.Has("id") && !p.Has("body") {
		p.Add("id", "is required: a webhook sender redelivers, and the id is how a redelivery is recognised")
	}
	if err := p.Err(); err != nil {
		return tenure.Event{}, err
	}
	return ev, nil
}
