// Package hr turns what HR systems send or serve into Tenure's HR events:
// the generic webhook (Tenure's own event schema), BambooHR's field-based
// webhook, and the Workday RaaS report that a schedule pulls and diffs against
// the read model. Mapping is pure: it does no I/O except the Workday report
// fetch, and its event IDs come from the payload, so a redelivery or a re-run
// maps to the same events and intake runs them once.
package hr

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"time"
	"unicode"

	"github.com/tenure-io/tenure"
)

// The webhook sources Tenure understands, as they appear in /webhooks/hr/{source}.
const (
	SourceGeneric  = "generic"
	SourceBambooHR = "bamboohr"
)

// Sources lists the webhook sources, for error messages and docs.
var Sources = []string{SourceGeneric, SourceBambooHR}

// MaxEvents is the most events one delivery may carry, as for the batch API.
const MaxEvents = 1000

// Item is one event of a delivery: the event to accept, the reason there is
// nothing to do, or why this one event cannot be taken. One bad item never
// spoils the others.
type Item struct {
	Event tenure.Event
	// Skip says why the item needs no event (such as a deletion of someone Tenure
	// never knew); Event is then empty.
	Skip string
	// Err is an *tenure.Error (EINVALID with the fields at fault) when the item
	// cannot be mapped.
	Err error
}

// normKey folds a field name so that BambooHR's English names ("Work Email"),
// its API names ("workEmail") and report aliases ("Work_Email") all meet.
func normKey(s string) string {
	var b strings.Builder
	for _, r := range s {
		if unicode.IsLetter(r) || unicode.IsDigit(r) || r == '#' {
			b.WriteRune(unicode.ToLower(r))
		}
	}
	return b.String()
}

// scalar reads a JSON string, number or boolean as text; null and absent are "".
// ok is false for objects and arrays, which no mapped field may be.
func scalar(raw json.RawMessage) (string, bool) {
	if len(raw) == 0 {
		return "", true
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return "", false
	}
	switch x := v.(type) {
	case nil:
		return "", true
	case string:
		return strings.TrimSpace(x), true
	case bool:
		if x {
			return "true", true
		}
		return "false", true
	case float64:
		// Keep the number as it was written: 12345, not 12345.000000.
		return strings.TrimSpace(string(raw)), true
	}
	return "", false
}

// hrDate reads an HR date. BambooHR writes an empty date as 0000-00-00 and
// Workday may append a zone offset (2026-01-05-08:00); both are read as the
// calendar date. ok is false when s is no date at all.
func hrDate(s string) (date string, ok bool) {
	s = strings.TrimSpace(s)
	if s == "" || strings.HasPrefix(s, "0000-00-00") {
		return "", true
	}
	if len(s) >= 10 {
		if _, err := time.Parse(tenure.DateLayout, s[:10]); err == nil {
			return s[:10], true
		}
	}
	return "", false
}

// dayAfter is the first instant after an HR date: a last day worked ends at the
// following midnight UTC, as a contractor's end date does.
func dayAfter(date string) *time.Time {
	t, err := time.Parse(tenure.DateLayout, date)
	if err != nil {
		return nil
	}
	t = t.AddDate(0, 0, 1).UTC()
	return &t
}

// shortHash is a stable digest of parts, for event IDs that must be the same
// whenever the same data arrives again.
func shortHash(parts ...any) string {
	h := sha256.New()
	enc := json.NewEncoder(h)
	for _, p := range parts {
		// Only plain data is hashed; an encoding error would be a bug here.
		if err := enc.Encode(p); err != nil {
			panic(err)
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// personField reads one field of a person by its JSON name.
func personField(p *tenure.Person, name string) *string {
	switch name {
	case "email":
		return &p.Email
	case "given_name":
		return &p.GivenName
	case "family_name":
		return &p.FamilyName
	case "manager_id":
		return &p.ManagerID
	case "department":
		return &p.Department
	case "title":
		return &p.Title
	case "location":
		return &p.Location
	case "employment_type":
		return &p.EmploymentType
	case "start_date":
		return &p.StartDate
	case "end_date":
		return &p.EndDate
	}
	return nil
}

// getField reads a field by name; "attributes.x" reads a custom attribute.
func getField(p tenure.Person, name string) string {
	if k, ok := strings.CutPrefix(name, "attributes."); ok {
		return p.Attributes[k]
	}
	if f := personField(&p, name); f != nil {
		return *f
	}
	return ""
}

// setField writes a field by name on p; an empty attribute is removed.
func setField(p *tenure.Person, name, v string) {
	if k, ok := strings.CutPrefix(name, "attributes."); ok {
		attrs := make(map[string]string, len(p.Attributes)+1)
		for ak, av := range p.Attributes {
			attrs[ak] = av
		}
		if v == "" {
			delete(attrs, k)
		} else {
			attrs[k] = v
		}
		if len(attrs) == 0 {
			attrs = nil
		}
		p.Attributes = attrs
		return
	}
	if f := personField(p, name); f != nil {
		*f = v
	}
}

// clonePerson copies p so that a change to the copy's attributes leaves p alone.
func clonePerson(p tenure.Person) tenure.Person {
	if p.Attributes != nil {
		attrs := make(map[string]string, len(p.Attributes))
		for k, v := range p.Attributes {
			attrs[k] = v
		}
		p.Attributes = attrs
	}
	return p
}
