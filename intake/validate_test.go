package intake

import (
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
