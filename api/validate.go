package api

import (
	"encoding/json"
	"time"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/intake"
)

// eventRequest is the body of POST /api/v1/events as it arrives.
type eventRequest struct {
	ID          string
	Type        string
	EffectiveAt string
	Employee    tenure.Person
}

// decodeEvent decodes and validates an HR event, reporting every problem at once.
// key is the Idempotency-Key header. The event's ID is left empty when neither the
// body nor the header names one.
func decodeEvent(body []byte, key string) (tenure.Event, error) {
	var (
		p        intake.Problems
		req      eventRequest
		employee json.RawMessage
	)
	present := decodeObject(body, "", map[string]any{
		"id":           &req.ID,
		"type":         &req.Type,
		"effective_at": &req.EffectiveAt,
		"employee":     &employee,
	}, &p)
	if !present {
		p.Add("body", "is empty; send a JSON object")
		return tenure.Event{}, p.Err()
	}
	if p.Has("body") {
		return tenure.Event{}, p.Err()
	}
	e := &req.Employee
	hasEmployee := decodeObject(employee, "employee.", map[string]any{
		"id":              &e.ID,
		"email":           &e.Email,
		"given_name":      &e.GivenName,
		"family_name":     &e.FamilyName,
		"manager_id":      &e.ManagerID,
		"department":      &e.Department,
		"title":           &e.Title,
		"location":        &e.Location,
		"employment_type": &e.EmploymentType,
		"start_date":      &e.StartDate,
		"end_date":        &e.EndDate,
		"attributes":      &e.Attributes,
	}, &p)

	ev := tenure.Event{ID: req.ID, Type: tenure.EventType(req.Type), Employee: req.Employee}
	switch {
	case req.ID != "":
		if !intake.ValidEventID(req.ID) {
			p.Add("id", intake.EventIDProblem)
		} else if key != "" && key != req.ID {
			p.Add("Idempotency-Key", "differs from the body's id; send one or make them equal")
		}
	case key != "":
		if !intake.ValidEventID(key) {
			p.Add("Idempotency-Key", intake.EventIDProblem)
		}
		ev.ID = key
	}
	switch {
	case req.Type == "":
		p.Add("type", "is required")
	case !ev.Type.Valid():
		p.Add("type", "must be one of hire, update, terminate, rehire")
	}
	if req.EffectiveAt != "" {
		t, err := time.Parse(time.RFC3339, req.EffectiveAt)
		if err != nil {
			p.Add("effective_at", "must be an RFC 3339 time such as 2026-01-02T15:04:05Z")
		} else {
			t = t.UTC()
			ev.EffectiveAt = &t
		}
	}
	if !hasEmployee {
		p.Add("employee", "is required")
		return tenure.Event{}, p.Err()
	}
	intake.ValidatePerson(e, ev.Type, &p)
	if err := p.Err(); err != nil {
		return tenure.Event{}, err
	}
	return ev, nil
}
