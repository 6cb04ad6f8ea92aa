package api

import (
	"encoding/json"
	"maps"
	"net/mail"
	"regexp"
	"slices"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/tenure-io/tenure"
)

// Limits on free text, so one request cannot fill the read model.
const (
	maxText       = 200
	maxAttributes = 100
	maxAttrValue  = 1024
	maxReason     = 500
)

var (
	// hrID is an HR ID: it becomes part of a workflow ID and of URLs.
	hrID = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)
	// eventID is an event's idempotency key: it becomes part of child workflow IDs.
	eventID = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)
	// attrKey is the name of a custom HR attribute that policies match on.
	attrKey = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)
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
		p        problems
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
		p.add("body", "is empty; send a JSON object")
		return tenure.Event{}, p.err()
	}
	if p.has("body") {
		return tenure.Event{}, p.err()
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
		if !eventID.MatchString(req.ID) {
			p.add("id", "must be 1 to 128 letters, digits or . _ : -")
		} else if key != "" && key != req.ID {
			p.add("Idempotency-Key", "differs from the body's id; send one or make them equal")
		}
	case key != "":
		if !eventID.MatchString(key) {
			p.add("Idempotency-Key", "must be 1 to 128 letters, digits or . _ : -")
		}
		ev.ID = key
	}
	switch {
	case req.Type == "":
		p.add("type", "is required")
	case !ev.Type.Valid():
		p.add("type", "must be one of hire, update, terminate, rehire")
	}
	if req.EffectiveAt != "" {
		t, err := time.Parse(time.RFC3339, req.EffectiveAt)
		if err != nil {
			p.add("effective_at", "must be an RFC 3339 time such as 2026-01-02T15:04:05Z")
		} else {
			t = t.UTC()
			ev.EffectiveAt = &t
		}
	}
	if !hasEmployee {
		p.add("employee", "is required")
		return tenure.Event{}, p.err()
	}
	validatePerson(e, ev.Type, &p)
	if err := p.err(); err != nil {
		return tenure.Event{}, err
	}
	return ev, nil
}

// validatePerson checks an HR record; names are required only when the event
// creates a person (hire, rehire), since an update or a termination may send
// just what changed.
func validatePerson(e *tenure.Person, typ tenure.EventType, p *problems) {
	switch {
	case e.ID == "":
		p.add("employee.id", "is required")
	case e.ID == "." || e.ID == ".." || !hrID.MatchString(e.ID):
		p.add("employee.id", "must be 1 to 64 letters, digits or . _ - (and not . or ..)")
	}
	switch {
	case e.Email == "":
		p.add("employee.email", "is required")
	default:
		addr, err := mail.ParseAddress(e.Email)
		switch {
		case err != nil || len(e.Email) > 254:
			p.add("employee.email", "is not a valid email address")
		case addr.Address != e.Email:
			p.add("employee.email", "must be a bare address such as ada@example.com, without a name or angle brackets")
		}
	}
	needName := typ == tenure.EventHire || typ == tenure.EventRehire
	for _, f := range []struct {
		field    string
		v        string
		required bool
	}{
		{"employee.given_name", e.GivenName, needName},
		{"employee.family_name", e.FamilyName, needName},
		{"employee.department", e.Department, false},
		{"employee.title", e.Title, false},
		{"employee.location", e.Location, false},
		{"employee.employment_type", e.EmploymentType, false},
	} {
		switch {
		case f.v == "" && f.required:
			p.addf(f.field, "is required for a %s", typ)
		case f.v != "":
			checkText(f.field, f.v, maxText, false, p)
		}
	}
	if e.ManagerID != "" && !hrID.MatchString(e.ManagerID) {
		p.add("employee.manager_id", "must be 1 to 64 letters, digits or . _ -")
	} else if e.ManagerID != "" && e.ManagerID == e.ID {
		p.add("employee.manager_id", "must not be the employee themselves")
	}
	start, startOK := checkDate("employee.start_date", e.StartDate, p)
	end, endOK := checkDate("employee.end_date", e.EndDate, p)
	if startOK && endOK && end.Before(start) {
		p.add("employee.end_date", "must not be before start_date")
	}
	if len(e.Attributes) > maxAttributes {
		p.addf("employee.attributes", "must have at most %d entries", maxAttributes)
	}
	for _, k := range slices.Sorted(maps.Keys(e.Attributes)) {
		v := e.Attributes[k]
		if !attrKey.MatchString(k) {
			p.add("employee.attributes."+k, "is not a valid key: use 1 to 64 letters, digits or . _ -")
		} else {
			checkText("employee.attributes."+k, v, maxAttrValue, false, p)
		}
	}
}

// checkDate parses an optional HR date.
func checkDate(field, s string, p *problems) (time.Time, bool) {
	if s == "" {
		return time.Time{}, false
	}
	t, err := time.Parse(tenure.DateLayout, s)
	if err != nil {
		p.add(field, "must be a date as YYYY-MM-DD")
		return time.Time{}, false
	}
	return t, true
}

// checkText bounds free text and refuses control characters, which have no place
// in an HR record and garble the apps it is copied into; a multiline text (a
// reason) may hold newlines and tabs.
func checkText(field, s string, max int, multiline bool, p *problems) {
	if !utf8.ValidString(s) {
		p.add(field, "must be valid UTF-8")
		return
	}
	if utf8.RuneCountInString(s) > max {
		p.addf(field, "must be at most %d characters", max)
		return
	}
	for _, r := range s {
		if unicode.IsControl(r) && !(multiline && (r == '\n' || r == '\t')) {
			p.add(field, "must not contain control characters")
			return
		}
	}
}
