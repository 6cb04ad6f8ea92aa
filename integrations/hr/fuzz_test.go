package hr

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/intake"
)

// checkItem holds every mapped event to what intake would accept.
func checkItem(t *testing.T, it Item) {
	if it.Err != nil || it.Skip != "" {
		if it.Err != nil && tenure.ErrorCode(it.Err) != tenure.EINVALID {
			t.Fatalf("an unmappable item's error is %v, want EINVALID", it.Err)
		}
		return
	}
	if !intake.ValidEventID(it.Event.ID) {
		t.Fatalf("event ID %q is not a valid event ID", it.Event.ID)
	}
	if err := intake.ValidateEvent(it.Event); err != nil {
		t.Fatalf("a mapped event fails validation: %v (%+v)", err, it.Event)
	}
}

// FuzzGeneric feeds the generic webhook parser arbitrary bodies: it must never
// panic, and every event it maps must pass intake's validation.
func FuzzGeneric(f *testing.F) {
	f.Add([]byte(`{"id":"h1","type":"hire","employee":{"id":"E1","email":"a@example.com","given_name":"A","family_name":"B"}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		items, err := Generic(body)
		if err != nil {
			if tenure.ErrorCode(err) != tenure.EINVALID {
				t.Fatalf("error %v, want EINVALID", err)
			}
			return
		}
		for _, it := range items {
			checkItem(t, it)
		}
	})
}

// FuzzBambooHR feeds the BambooHR payload parser arbitrary bodies: it must never
// panic, every event it maps (onto nothing, and onto a known record) must pass
// intake's validation, and an entry must always match its own event.
func FuzzBambooHR(f *testing.F) {
	for _, name := range []string{"created.json", "updated_english_names.json", "terminated.json", "deleted.json"} {
		b, err := os.ReadFile(filepath.Join("testdata", "bamboohr", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	base := &tenure.Employee{Status: tenure.PersonActive, Person: tenure.Person{ID: "112", Email: "b@example.com", GivenName: "B", FamilyName: "H"}}
	f.Fuzz(func(t *testing.T, body []byte) {
		changes, err := BambooHR(body)
		if err != nil {
			if tenure.ErrorCode(err) != tenure.EINVALID {
				t.Fatalf("error %v, want EINVALID", err)
			}
			return
		}
		for _, ch := range changes {
			for _, b := range []*tenure.Employee{nil, base} {
				it := ch.Item(b)
				checkItem(t, it)
				if it.Err == nil && it.Skip == "" && !ch.Matches(it.Event, it) {
					t.Fatalf("entry does not match its own event %+v", it.Event)
				}
			}
		}
	})
}

// FuzzWorkdayReport feeds the report parser and the differ arbitrary reports.
func FuzzWorkdayReport(f *testing.F) {
	b, err := os.ReadFile(filepath.Join("testdata", "workday", "report.json"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Fuzz(func(t *testing.T, body []byte) {
		rows, err := ParseWorkdayReport(body)
		if err != nil {
			return
		}
		var ws []WorkdayWorker
		for _, r := range rows {
			if r.Err == nil {
				ws = append(ws, r.Worker)
			}
		}
		a, b := DiffWorkday(ws, nil), DiffWorkday(ws, nil)
		for i := range a {
			if a[i].ID != b[i].ID {
				t.Fatalf("the diff is not deterministic: %s then %s", a[i].ID, b[i].ID)
			}
		}
	})
}
