package intake

import (
	"testing"

	"github.com/tenure-io/tenure"
)

// TestDecodeEventNamesEveryProblem: an unknown member, a member of the wrong
// type and invalid values are all reported at once, each by its field, and a
// good event decodes whole.
func TestDecodeEventNamesEveryProblem(t *testing.T) {
	var p Problems
	DecodeEvent([]byte(`{"id":"bad id","type":"fire","extra":1,
	  "employee":{"id":"E1","email":"nope","given_name":7,"start_date":"2026-13-01","boss":"x"}}`), "", &p)
	got := map[string]bool{}
	for _, f := range p.List() {
		got[f.Field] = true
	}
	for _, want := range []string{"id", "type", "extra", "employee.email", "employee.given_name", "employee.start_date", "employee.boss"} {
		if !got[want] {
			t.Errorf("no problem for %s; got %v", want, p.List())
		}
	}

	var ok Problems
	ev := DecodeEvent([]byte(`{"type":"hire","effective_at":"2026-01-02T10:00:00+01:00",
	  "employee":{"id":"E1","email":"ada@example.com","given_name":"Ada","family_name":"Lovelace"}}`), "key-1", &ok)
	if err := ok.Err(); err != nil {
		t.Fatal(err)
	}
	if ev.ID != "key-1" || ev.Type != tenure.EventHire || ev.Employee.GivenName != "Ada" || ev.EffectiveAt == nil || ev.EffectiveAt.Hour() != 9 {
		t.Errorf("event = %+v", ev)
	}
}
