package intake

import (
	"maps"
	"net/mail"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/tenure-io/tenure"
)

// Limits on free text, so one request cannot fill the read model.
const (
	MaxText       = 200
	maxAttributes = 100
	maxAttrValue  = 1024
	// MaxReason bounds an approval decision's reason.
	MaxReason = 500
)

var (
	// hrID is an HR ID: it becomes part of a workflow ID and of URLs.
	hrID = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)
	// eventID is an event's idempotency key: it becomes part of child workflow IDs.
	eventID = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)
	// attrKey is the name of a custom HR attribute that policies match on.
	attrKey = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)
)

// ValidHRID reports whether s can be an HR ID.
func ValidHRID(s string) bool { return hrID.MatchString(s) && s != "." && s != ".." }

// ValidEventID reports whether s can be an event ID or an idempotency key.
func ValidEventID(s string) bool { return eventID.MatchString(s) }

// EventIDProblem is what is wrong with an event ID that ValidEventID refuses.
const EventIDProblem = "must be 1 to 128 letters, digits or . _ : -"

// ValidateEvent checks an event that arrived already structured (from a webhook,
// a CSV row, SCIM or the console) as strictly as the API checks its JSON.
func ValidateEvent(ev tenure.Event) error {
	var p Problems
	if ev.ID != "" && !ValidEventID(ev.ID) {
		p.Add("id", EventIDProblem)
	}
	if !ev.Type.Valid() {
		p.Add("type", "must be one of hire, update, terminate, rehire")
	}
	e := ev.Employee
	ValidatePerson(&e, ev.Type, &p)
	return p.Err()
}

// ValidatePerson checks an HR record; names are required only when the event
// creates a person (hire, rehire), since an update or a termination may send
// just what changed.
func ValidatePerson(e *tenure.Person, typ tenure.EventType, p *Problems) {
	switch {
	case e.ID == "":
		p.Add("employee.id", "is required")
	case !ValidHRID(e.ID):
		p.Add("employee.id", "must be 1 to 64 letters, digits or . _ - (and not . or ..)")
	}
	switch {
	case e.Email == "":
		p.Add("employee.email", "is required")
	default:
		addr, err := mail.ParseAddress(e.Email)
		switch {
		case err != nil || len(e.Email) > 254:
			p.Add("employee.email", "is not a valid email address")
		case addr.Address != e.Email:
			p.Add("employee.email", "must be a bare address such as ada@example.com, without a name or angle brackets")
		}
	}
	needName := typ == tenure.EventHire || typ == tenure.EventRehire
	for _, f := range []struct {
		field    string
		v        string
		required bool
		name     bool // a name or title people read as who someone is
	}{
		{"employee.given_name", e.GivenName, needName, true},
		{"employee.family_name", e.FamilyName, needName, true},
		{"employee.department", e.Department, false, false},
		{"employee.title", e.Title, false, true},
		{"employee.location", e.Location, false, false},
		{"employee.employment_type", e.EmploymentType, false, false},
	} {
		switch {
		case f.v == "" && f.required:
			p.Addf(f.field, "is required for a %s", typ)
		case f.name:
			CheckName(f.field, f.v, p)
		case f.v != "":
			CheckText(f.field, f.v, MaxText, false, p)
		}
	}
	if e.ManagerID != "" && !hrID.MatchString(e.ManagerID) {
		p.Add("employee.manager_id", "must be 1 to 64 letters, digits or . _ -")
	} else if e.ManagerID != "" && e.ManagerID == e.ID {
		p.Add("employee.manager_id", "must not be the employee themselves")
	}
	start, startOK := CheckDate("employee.start_date", e.StartDate, p)
	end, endOK := CheckDate("employee.end_date", e.EndDate, p)
	if startOK && endOK && end.Before(start) {
		p.Add("employee.end_date", "must not be before start_date")
	}
	if len(e.Attributes) > maxAttributes {
		p.Addf("employee.attributes", "must have at most %d entries", maxAttributes)
	}
	for _, k := range slices.Sorted(maps.Keys(e.Attributes)) {
		v := e.Attributes[k]
		if !attrKey.MatchString(k) {
			p.Add("employee.attributes."+k, "is not a valid key: use 1 to 64 letters, digits or . _ -")
		} else {
			CheckText("employee.attributes."+k, v, maxAttrValue, false, p)
		}
	}
}

// CheckDate parses an optional HR date.
func CheckDate(field, s string, p *Problems) (time.Time, bool) {
	if s == "" {
		return time.Time{}, false
	}
	t, err := time.Parse(tenure.DateLayout, s)
	if err != nil {
		p.Add(field, "must be a date as YYYY-MM-DD")
		return time.Time{}, false
	}
	return t, true
}

// CheckName is CheckText for a person's name or title, which people read in
// apps, Slack messages, the console and exports to tell who someone is. It also
// refuses the invisible characters that reorder or hide text: the
// bidirectional controls (U+202A–U+202E, U+2066–U+2069, U+200E, U+200F,
// U+061C), with which "Ada" can display as another name, and the zero-width
// characters (U+200B–U+200D, U+2060, U+FEFF), which make two names that look
// the same differ. It is the one check for names, whichever way the record came.
func CheckName(field, s string, p *Problems) {
	if s == "" {
		return
	}
	CheckText(field, s, MaxText, false, p)
	if p.Has(field) {
		return
	}
	for i, r := range []rune(s) {
		if strings.ContainsRune(invisibles, r) {
			p.Addf(field, "must not contain bidirectional control or zero-width characters (%U at character %d)", r, i+1)
			return
		}
	}
}

// invisibles are the characters CheckName refuses: the bidirectional
// embeddings and overrides (LRE, RLE, PDF, LRO, RLO), isolates (LRI, RLI, FSI,
// PDI) and marks (LRM, RLM, ALM), then the zero-width space, non-joiner and
// joiner, the word joiner and the zero-width no-break space (a BOM).
const invisibles = "\u202a\u202b\u202c\u202d\u202e" + "\u2066\u2067\u2068\u2069" + "\u200e\u200f\u061c" +
	"\u200b\u200c\u200d" + "\u2060\ufeff"

// CheckText bounds free text and refuses control characters, which have no place
// in an HR record and garble the apps it is copied into; a multiline text (a
// reason) may hold newlines and tabs.
func CheckText(field, s string, max int, multiline bool, p *Problems) {
	if !utf8.ValidString(s) {
		p.Add(field, "must be valid UTF-8")
		return
	}
	if utf8.RuneCountInString(s) > max {
		p.Addf(field, "must be at most %d characters", max)
		return
	}
	for _, r := range s {
		if unicode.IsControl(r) && !(multiline && (r == '\n' || r == '\t')) {
			p.Add(field, "must not contain control characters")
			return
		}
	}
}
