package intake

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/tenure-io/tenure"
)

// DecodeEvent decodes and validates one HR event in Tenure's own JSON schema,
// the contract of POST /api/v1/events and of the generic HR webhook, and adds
// every problem it finds to p, each with the field's name. key is an
// idempotency key sent beside the body ("" for none); the event's ID is left
// empty when neither names one. The event is only meaningful when p has no
// problems.
func DecodeEvent(body []byte, key string, p *Problems) tenure.Event {
	var (
		req struct {
			ID, Type, EffectiveAt string
			Employee              tenure.Person
		}
		employee json.RawMessage
	)
	present := DecodeObject(body, "", map[string]any{
		"id":           &req.ID,
		"type":         &req.Type,
		"effective_at": &req.EffectiveAt,
		"employee":     &employee,
	}, p)
	if !present {
		p.Add("body", "is empty; send a JSON object")
		return tenure.Event{}
	}
	if p.Has("body") {
		return tenure.Event{}
	}
	e := &req.Employee
	hasEmployee := DecodeObject(employee, "employee.", map[string]any{
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
	}, p)

	ev := tenure.Event{ID: req.ID, Type: tenure.EventType(req.Type), Employee: req.Employee}
	switch {
	case req.ID != "":
		if !ValidEventID(req.ID) {
			p.Add("id", EventIDProblem)
		} else if key != "" && key != req.ID {
			p.Add("Idempotency-Key", "differs from the body's id; send one or make them equal")
		}
	case key != "":
		if !ValidEventID(key) {
			p.Add("Idempotency-Key", EventIDProblem)
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
		return ev
	}
	ValidatePerson(e, ev.Type, p)
	return ev
}

// DecodeObject decodes a JSON object member by member into fields (JSON name to
// a pointer), so that every unknown member and every member of the wrong type is
// reported, not only the first. path prefixes the names in problems
// ("employee."). It returns false when raw is absent or null.
func DecodeObject(raw []byte, path string, fields map[string]any, p *Problems) bool {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return false
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(raw, &members); err != nil {
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			line, col := position(raw, syn.Offset)
			p.Addf(fieldName(path, "body"), "is not valid JSON: %s at line %d, column %d (byte %d)", syn.Error(), line, col, syn.Offset)
		} else {
			p.Add(fieldName(path, "body"), "must be a JSON object")
		}
		return true
	}
	names := make([]string, 0, len(members))
	for name := range members {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		target, ok := fields[name]
		if !ok {
			p.Add(path+name, "is not a known field")
			continue
		}
		if err := json.Unmarshal(members[name], target); err != nil {
			p.Add(path+name, "must be "+jsonKind(reflect.TypeOf(target).Elem()))
		}
	}
	return true
}

// fieldName names the whole object at path: "body" at the top, else the path.
func fieldName(path, whole string) string {
	if path == "" {
		return whole
	}
	return strings.TrimSuffix(path, ".")
}

// position turns a byte offset into a 1-based line and column, for people who
// read their payload in an editor.
func position(b []byte, offset int64) (line, col int) {
	if offset > int64(len(b)) {
		offset = int64(len(b))
	}
	before := b[:offset]
	line = bytes.Count(before, []byte("\n")) + 1
	col = int(offset) - bytes.LastIndexByte(before, '\n') - 1
	return line, col
}

// jsonKind names the JSON type a Go type decodes from.
func jsonKind(t reflect.Type) string {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int64, reflect.Int32, reflect.Float64:
		return "a number"
	case reflect.Map:
		return "an object of " + strings.TrimPrefix(strings.TrimPrefix(jsonKind(t.Elem()), "a "), "an ") + "s"
	case reflect.Slice:
		return "an array"
	}
	return "an object"
}
