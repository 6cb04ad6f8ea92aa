package hr

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tenure-io/tenure"
)

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func fields(err error) map[string]string {
	out := map[string]string{}
	var te *tenure.Error
	if errors.As(err, &te) {
		for _, f := range te.Fields {
			out[f.Field] = f.Problem
		}
	}
	return out
}

func TestGenericSingleAndBatch(t *testing.T) {
	one := `{"id":"hire-1","type":"hire","effective_at":"2026-01-02T10:00:00+01:00",
	  "employee":{"id":"E1","email":"ada@example.com","given_name":"Ada","family_name":"Lovelace"}}`
	items, err := Generic([]byte(one))
	if err != nil || len(items) != 1 || items[0].Err != nil {
		t.Fatalf("Generic(one) = %+v, %v", items, err)
	}
	ev := items[0].Event
	if ev.ID != "hire-1" || ev.Type != tenure.EventHire || ev.Employee.Email != "ada@example.com" ||
		ev.EffectiveAt == nil || !ev.EffectiveAt.Equal(time.Date(2026, 1, 2, 9, 0, 0, 0, time.UTC)) {
		t.Errorf("event = %+v", ev)
	}

	batch := `{"events":[` + one + `,
	  {"id":"bad id","type":"fire","employee":{"id":"E2","email":"nope"},"extra":1},
	  {"type":"update","employee":{"id":"E3","email":"c@example.com"}}]}`
	items, err = Generic([]byte(batch))
	if err != nil || len(items) != 3 {
		t.Fatalf("Generic(batch) = %d items, %v", len(items), err)
	}
	if items[0].Err != nil {
		t.Errorf("first event: %v", items[0].Err)
	}
	// Every problem is named at once, as the API names them: an unknown member
	// does not hide the bad id, type and email.
	f1 := fields(items[1].Err)
	for _, want := range []string{"extra", "id", "type", "employee.email"} {
		if f1[want] == "" {
			t.Errorf("no problem for %s; got %v", want, f1)
		}
	}
	if f := fields(items[2].Err); !strings.Contains(f["id"], "required") {
		t.Errorf("a webhook event without an id must be refused: %v", items[2].Err)
	}

	items, _ = Generic([]byte(`{"id":"x1","type":"fire","employee":{"id":"E2","email":"nope","start_date":"2026-13-01"}}`))
	f := fields(items[0].Err)
	for _, want := range []string{"type", "employee.email", "employee.start_date"} {
		if f[want] == "" {
			t.Errorf("no problem for %s; got %v", want, f)
		}
	}
	for _, bad := range []string{``, `[]`, `"x"`, `{"events":{}}`, `{"events":[]}`, `{"events":[],"id":"x"}`} {
		if _, err := Generic([]byte(bad)); tenure.ErrorCode(err) != tenure.EINVALID {
			t.Errorf("Generic(%q) = %v, want EINVALID", bad, err)
		}
	}
}

func bamboo(t *testing.T, name string) []BambooChange {
	t.Helper()
	ch, err := BambooHR(fixture(t, "bamboohr/"+name))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return ch
}

func TestBambooHRCreatedIsAHire(t *testing.T) {
	ch := bamboo(t, "created.json")
	it := ch[0].Item(nil)
	if it.Err != nil {
		t.Fatal(it.Err)
	}
	ev := it.Event
	want := tenure.Person{ID: "112", Email: "bryony.hale@example.com", GivenName: "Bryony", FamilyName: "Hale",
		ManagerID: "40", Department: "Engineering", Title: "Software Engineer", Location: "London",
		EmploymentType: "Full-Time", StartDate: "2026-02-02",
		Attributes: map[string]string{"division": "Platform", "employee_number": "1042"}}
	if ev.Type != tenure.EventHire || ev.ID != "bamboohr-112-created-20260131T184200Z" || samePerson(ev.Employee, want) == false {
		t.Errorf("event = %+v\nwant record %+v", ev, want)
	}
	if ev.EffectiveAt == nil || !ev.EffectiveAt.Equal(time.Date(2026, 1, 31, 18, 42, 0, 0, time.UTC)) {
		t.Errorf("effective_at = %v, want BambooHR's timestamp", ev.EffectiveAt)
	}
	// Redelivered, the same entry is the same event.
	again := bamboo(t, "created.json")[0].Item(nil)
	if again.Event.ID != ev.ID || !ch[0].Matches(again.Event, it) {
		t.Errorf("a redelivery maps to another event: %s", again.Event.ID)
	}
}

func TestBambooHRCreatedWithoutFieldsSaysWhatToConfigure(t *testing.T) {
	it := bamboo(t, "created_no_fields.json")[0].Item(nil)
	if p := fields(it.Err)["employee.email"]; !strings.Contains(p, "Work Email") {
		t.Errorf("problem = %q, want a hint to post Work Email", p)
	}
}

func TestBambooHRUpdateMergesOntoTheKnownRecord(t *testing.T) {
	base := &tenure.Employee{Status: tenure.PersonActive, Person: tenure.Person{ID: "112", Email: "bryony.hale@example.com",
		GivenName: "Bryony", FamilyName: "Hale", Department: "Engineering", Title: "Software Engineer",
		Attributes: map[string]string{"division": "Platform"}}}
	ch := bamboo(t, "updated_english_names.json")[0]
	it := ch.Item(base)
	if it.Err != nil {
		t.Fatal(it.Err)
	}
	p := it.Event.Employee
	if it.Event.Type != tenure.EventUpdate || p.Department != "Sales" || p.Title != "Account Executive" ||
		p.Email != "bryony.hale@example.com" || p.Attributes["division"] != "Platform" {
		t.Errorf("event = %+v", it.Event)
	}
	if base.Department != "Engineering" {
		t.Error("the base record was changed")
	}
	// The same entry redelivered after Tenure's record moved on still matches.
	base.Location = "Leeds"
	again := ch.Item(base)
	if again.Event.ID != it.Event.ID || !ch.Matches(it.Event, again) {
		t.Error("a redelivery after the record changed no longer matches")
	}
	// Someone Tenure never saw: the update hires them, and needs a whole record.
	if it := ch.Item(nil); tenure.ErrorCode(it.Err) != tenure.EINVALID {
		t.Errorf("update of an unknown person with a partial record = %+v", it)
	}
	// Someone Tenure saw leave: a rehire.
	base.Status = tenure.PersonTerminated
	if it := ch.Item(base); it.Event.Type != tenure.EventRehire {
		t.Errorf("update of a terminated person = %s, want rehire", it.Event.Type)
	}
}

func TestBambooHRTerminationAndDeletion(t *testing.T) {
	base := &tenure.Employee{Status: tenure.PersonActive, Person: tenure.Person{ID: "112", Email: "bryony.hale@example.com",
		GivenName: "Bryony", FamilyName: "Hale", EmploymentType: "Full-Time"}}
	it := bamboo(t, "terminated.json")[0].Item(base)
	if it.Err != nil {
		t.Fatal(it.Err)
	}
	if it.Event.Type != tenure.EventTerminate || it.Event.EffectiveAt == nil ||
		!it.Event.EffectiveAt.Equal(time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("termination = %+v, want effective at the end of 2026-04-30", it.Event)
	}
	if it.Event.Employee.EmploymentType != "Full-Time" {
		t.Errorf("the Terminated employment status replaced the employment type")
	}
	del := bamboo(t, "deleted.json")[0]
	if it := del.Item(base); it.Event.Type != tenure.EventTerminate || it.Event.Employee.Email != base.Email {
		t.Errorf("deletion = %+v", it)
	}
	if it := del.Item(nil); it.Skip == "" || it.Err != nil {
		t.Errorf("deletion of an unknown person = %+v, want skipped", it)
	}
}

func TestBambooHREntriesFailAlone(t *testing.T) {
	body := `{"employees":[
	  {"id":"../1","action":"Updated","timestamp":"yesterday","fields":{"hireDate":"soon","firstName":{"a":1}}},
	  {"id":7,"action":"Deleted","fields":{}}]}`
	ch, err := BambooHR([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	f := fields(ch[0].Err)
	for _, want := range []string{"id", "timestamp", "fields.hireDate", "fields.firstName"} {
		if f[want] == "" {
			t.Errorf("no problem for %s; got %v", want, f)
		}
	}
	if ch[1].Err != nil || ch[1].EmployeeID != "7" || !strings.HasPrefix(ch[1].EventID(), "bamboohr-7-deleted-") {
		t.Errorf("second entry = %+v (%s)", ch[1], ch[1].EventID())
	}
	for _, bad := range []string{`{}`, `{"employees":[]}`, `[]`, `nope`} {
		if _, err := BambooHR([]byte(bad)); tenure.ErrorCode(err) != tenure.EINVALID {
			t.Errorf("BambooHR(%q) = %v", bad, err)
		}
	}
}

func TestBambooHROutOfOrderEntriesKeepTheirOwnTime(t *testing.T) {
	body := `{"employees":[
	  {"id":"112","action":"Updated","timestamp":"2026-03-10T09:15:00+0000","fields":{"Department":"Sales"}},
	  {"id":"112","action":"Updated","timestamp":"2026-03-09T09:15:00+0000","fields":{"Department":"Engineering"}}]}`
	ch, err := BambooHR([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	base := &tenure.Employee{Status: tenure.PersonActive, Person: tenure.Person{ID: "112", Email: "b@example.com"}}
	newer, older := ch[0].Item(base).Event, ch[1].Item(base).Event
	if newer.ID == older.ID || !older.EffectiveAt.Before(*newer.EffectiveAt) {
		t.Errorf("newer %s at %v, older %s at %v", newer.ID, newer.EffectiveAt, older.ID, older.EffectiveAt)
	}
}

func workers(t *testing.T) []WorkdayWorker {
	t.Helper()
	rows, err := ParseWorkdayReport(fixture(t, "workday/report.json"))
	if err != nil {
		t.Fatal(err)
	}
	var out []WorkdayWorker
	for _, r := range rows {
		if r.Err != nil {
			t.Fatalf("row %+v: %v", r.Worker, r.Err)
		}
		out = append(out, r.Worker)
	}
	return out
}

func TestParseWorkdayReport(t *testing.T) {
	ws := workers(t)
	if len(ws) != 3 {
		t.Fatalf("%d workers", len(ws))
	}
	want := tenure.Person{ID: "21001", Email: "logan.mcneil@example.com", GivenName: "Logan", FamilyName: "McNeil",
		ManagerID: "21000", Department: "Engineering", Title: "Software Engineer", Location: "San Francisco",
		EmploymentType: "Regular", StartDate: "2026-01-05"}
	if !samePerson(ws[0].Person, want) || !ws[0].Active || ws[0].Terminated() {
		t.Errorf("first worker = %+v", ws[0])
	}
	if !ws[2].Terminated() || ws[2].TerminationDate != "2026-03-31" {
		t.Errorf("third worker = %+v, want terminated on 2026-03-31", ws[2])
	}
	rows, err := ParseWorkdayReport([]byte(`{"Report_Entry":[{"Worker":"No ID"},{"Employee_ID":"9","Hire_Date":"later"}]}`))
	if err != nil || len(rows) != 2 || fields(rows[0].Err)["Employee_ID"] == "" || fields(rows[1].Err)["Hire_Date"] == "" {
		t.Errorf("bad rows = %+v, %v", rows, err)
	}
	if _, err := ParseWorkdayReport([]byte(`<wd:Report_Data/>`)); tenure.ErrorCode(err) != tenure.EINVALID {
		t.Errorf("an XML report = %v, want EINVALID", err)
	}
}

func TestDiffWorkday(t *testing.T) {
	ws := workers(t)
	// Nobody known: the two active workers are hired; the leaver is never hired.
	evs := DiffWorkday(ws, nil)
	if len(evs) != 2 || evs[0].Type != tenure.EventHire || evs[0].Employee.ID != "21001" || evs[1].Employee.ID != "21002" {
		t.Fatalf("first sync = %+v", evs)
	}
	if again := DiffWorkday(ws, nil); again[0].ID != evs[0].ID || again[1].ID != evs[1].ID {
		t.Error("a re-run before the hires are applied has other event IDs")
	}

	// Once applied, nothing changes; a changed title is an update; the known
	// leaver is terminated at the end of the last day.
	created := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	known := map[string]tenure.Employee{}
	for _, ev := range evs {
		known[ev.Employee.ID] = tenure.Employee{Person: ev.Employee, Status: tenure.PersonActive, CreatedAt: created}
	}
	if evs := DiffWorkday(ws, known); len(evs) != 0 {
		t.Errorf("after the hires: %+v, want nothing", evs)
	}
	maria := ws[2].Person
	maria.Attributes = map[string]string{"badge": "77"}
	known["21003"] = tenure.Employee{Person: maria, Status: tenure.PersonActive, CreatedAt: created}
	moved := clonePerson(ws[1].Person)
	moved.Title = "Sales Manager"
	ws2 := []WorkdayWorker{ws[0], {Person: moved, Active: true, fields: ws[1].fields}, ws[2]}
	evs = DiffWorkday(ws2, known)
	if len(evs) != 2 {
		t.Fatalf("second sync = %+v", evs)
	}
	if evs[0].Type != tenure.EventUpdate || evs[0].Employee.Title != "Sales Manager" || !strings.HasPrefix(evs[0].ID, "workday-21002-update-") {
		t.Errorf("update = %+v", evs[0])
	}
	term := evs[1]
	if term.Type != tenure.EventTerminate || term.ID != "workday-21003-terminate-2026-03-31" ||
		!term.EffectiveAt.Equal(time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)) || term.Employee.Attributes["badge"] != "77" {
		t.Errorf("termination = %+v", term)
	}

	// Terminated in Tenure and active again in Workday: a rehire.
	k := known["21001"]
	k.Status = tenure.PersonTerminated
	known["21001"] = k
	if evs := DiffWorkday(ws[:1], known); len(evs) != 1 || evs[0].Type != tenure.EventRehire {
		t.Errorf("rehire = %+v", evs)
	}
	// Already terminated and still a leaver: nothing.
	known["21003"] = tenure.Employee{Person: maria, Status: tenure.PersonTerminated}
	if evs := DiffWorkday(ws[2:], known); len(evs) != 0 {
		t.Errorf("terminated twice: %+v", evs)
	}
}
