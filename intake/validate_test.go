package intake

import (
	"fmt"
	"strings"
	"testing"

	"github.com/tenure-io/tenure"
)

func TestValidateEventNamesEveryBadField(t *testing.T) {
	ev := tenure.Event{ID: "bad id!", Type: "fire", Employee: tenure.Person{
		ID: "../E1", Email: "Ada <ada@example.com>", StartDate: "2026-13-01",
	}}
	err := ValidateEvent(ev)
	e, ok := err.(*tenure.Error)
	if !ok || e.Code != tenure.EINVALID {
		t.Fatalf("ValidateEvent = %v, want EINVALID", err)
	}
	got := map[string]bool{}
	for _, f := range e.Fields {
		got[f.Field] = true
	}
	for _, want := range []string{"id", "type", "employee.id", "employee.email", "employee.start_date"} {
		if !got[want] {
			t.Errorf("no problem reported for %s; got %+v", want, e.Fields)
		}
	}
	good := tenure.Event{ID: "hire-1", Type: tenure.EventHire, Employee: tenure.Person{
		ID: "E1", Email: "ada@example.com", GivenName: "Ada", FamilyName: "Lovelace"}}
	if err := ValidateEvent(good); err != nil {
		t.Errorf("a good event: %v", err)
	}
}

// invisibleChars are the bidirectional controls and zero-width characters that
// names and titles refuse.
var invisibleChars = []rune{
	'\u202a', '\u202b', '\u202c', '\u202d', '\u202e', '\u2066', '\u2067', '\u2068', '\u2069',
	'\u200e', '\u200f', '\u061c', '\u200b', '\u200c', '\u200d', '\u2060', '\ufeff',
}

func TestNamesAndTitlesRefuseBidiAndZeroWidthCharacters(t *testing.T) {
	for _, r := range invisibleChars {
		for _, field := range []string{"employee.given_name", "employee.family_name", "employee.title"} {
			for _, typ := range []tenure.EventType{tenure.EventHire, tenure.EventUpdate} {
				e := tenure.Person{ID: "E1", Email: "ada@example.com", GivenName: "Ada", FamilyName: "Lovelace", Title: "Engineer"}
				bad := "Ad" + string(r) + "a"
				switch field {
				case "employee.given_name":
					e.GivenName = bad
				case "employee.family_name":
					e.FamilyName = bad
				case "employee.title":
					e.Title = bad
				}
				err := ValidateEvent(tenure.Event{ID: "ev-1", Type: typ, Employee: e})
				fe, ok := err.(*tenure.Error)
				if !ok || fe.Code != tenure.EINVALID || len(fe.Fields) != 1 || fe.Fields[0].Field != field ||
					!strings.Contains(fe.Fields[0].Problem, fmt.Sprintf("%U at character 3", r)) {
					t.Errorf("%s with %U in a %s: %v, want one problem naming the field and the character", field, r, typ, err)
				}
			}
		}
	}
	// Names in any script pass, and other fields keep their own rules.
	for _, name := range []string{"Zoë", "Łukasz", "محمد", "李小龙", "Nguyễn", "O'Brien-Smith", "Ådne"} {
		ev := tenure.Event{Type: tenure.EventHire, Employee: tenure.Person{ID: "E1", Email: "x@example.com", GivenName: name, FamilyName: name, Title: name}}
		if err := ValidateEvent(ev); err != nil {
			t.Errorf("%q: %v", name, err)
		}
	}
}
