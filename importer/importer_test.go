package importer

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/intake"
	"github.com/tenure-io/tenure/integrations"
	"github.com/tenure-io/tenure/integrations/scim"
	"github.com/tenure-io/tenure/policy"
	"github.com/tenure-io/tenure/store/storetest"
)

const header = "type,employee_id,email,given_name,family_name,department,title,start_date,end_date,effective_at,attr.cost_center\n"

func parse(t *testing.T, csv string) *File {
	t.Helper()
	f, err := Parse(strings.NewReader(csv), "people.csv")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return f
}

func problemStrings(f *File) []string {
	out := make([]string, len(f.Problems))
	for i, p := range f.Problems {
		out[i] = p.String()
	}
	return out
}

func TestParseReportsEveryBadRowByLineAndColumn(t *testing.T) {
	csv := header +
		"hire,E1,ada@example.com,Ada,Lovelace,Engineering,Engineer,2026-04-01,,,CC-1\n" + // line 2: fine
		"hire,E2,not-an-email,Grace,Hopper,,,,,,\n" + // line 3
		"fire,E3,alan@example.com,Alan,Turing,,,,,,\n" + // line 4
		"hire,E4,\"Ada <ada4@example.com>\",,Byron,,,2026-13-01,,,\n" + // line 5: three problems
		"\"update\",E5,\"e5@example.com\",\"Byron, Ada\",X,,,,,,\n" + // line 6: fine, a quoted comma
		"terminate,E6,e6@example.com,,,,,,,tomorrow,\n" + // line 7
		"hire,E7,e7@example.com,Too,Few\n" + // line 8
		"hire,../E8,e8@example.com,Bad,Id,,,2026-05-01,2026-04-01,,\n" + // line 9
		"hire,E9,e9@example.com,Fine,Row,,,,,2026-03-01,\n" // line 10: a date is a valid effective_at
	f := parse(t, csv)
	want := []string{
		"line 3: email: is not a valid email address",
		"line 4: type: must be one of hire, update, terminate, rehire",
		"line 5: email: must be a bare address such as ada@example.com, without a name or angle brackets",
		"line 5: given_name: is required for a hire",
		"line 5: start_date: must be a date as YYYY-MM-DD",
		"line 7: effective_at: must be an RFC 3339 time such as 2026-01-02T15:04:05Z, or a date as YYYY-MM-DD",
		"line 8: has 5 cells but the header has 11 columns",
		"line 9: employee_id: must be 1 to 64 letters, digits or . _ - (and not . or ..)",
		"line 9: end_date: must not be before start_date",
	}
	if got := problemStrings(f); !slices.Equal(got, want) {
		t.Fatalf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if f.Total != 9 || f.InvalidRows != 6 || len(f.Rows) != 3 {
		t.Fatalf("total %d, invalid %d, valid %d; want 9, 6, 3", f.Total, f.InvalidRows, len(f.Rows))
	}
	lines := []int{}
	for _, r := range f.Rows {
		lines = append(lines, r.Line)
	}
	if !slices.Equal(lines, []int{2, 6, 10}) {
		t.Fatalf("valid rows at lines %v, want [2 6 10]", lines)
	}
	ada := f.Rows[0].Event
	if ada.ID != "csv:people.csv:2" || ada.Type != tenure.EventHire || ada.Employee.Attributes["cost_center"] != "CC-1" ||
		ada.Employee.Department != "Engineering" || ada.Employee.StartDate != "2026-04-01" {
		t.Fatalf("line 2 became %+v", ada)
	}
	if got := f.Rows[1].Event.Employee.GivenName; got != "Byron, Ada" {
		t.Fatalf("line 6 given name %q", got)
	}
	if eff := f.Rows[2].Event.EffectiveAt; eff == nil || !eff.Equal(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("line 10 effective_at = %v", eff)
	}
	err := f.Err()
	e, ok := err.(*tenure.Error)
	if !ok || e.Code != tenure.EINVALID || len(e.Fields) != len(want) || e.Fields[0].Field != "line 3: email" ||
		!strings.Contains(e.Message, "6 of 9 rows") {
		t.Fatalf("Err() = %#v", err)
	}
}

func TestParseMultilineCellIsOneRowAndLinesStayTrue(t *testing.T) {
	csv := "type,employee_id,email,given_name,family_name,title\n" +
		"hire,E1,e1@example.com,Ada,Lovelace,\"Senior\nEngineer\"\n" + // lines 2-3: a newline is a control character
		"hire,E2,bad,Grace,Hopper,\n" // line 4
	f := parse(t, csv)
	want := []string{"line 2: title: must not contain control characters", "line 4: email: is not a valid email address"}
	if got := problemStrings(f); !slices.Equal(got, want) {
		t.Fatalf("problems %q, want %q", got, want)
	}
}

func TestParseHeader(t *testing.T) {
	for _, tc := range []struct {
		name, csv, want string
	}{
		{"empty", "", "the file is empty"},
		{"no rows", "type,employee_id,email\n", "no rows"},
		{"misspelt", "type,employee_id,emial\nhire,E1,a@example.com\n", `"emial" is not a known column`},
		{"missing", "type,email\nhire,a@example.com\n", "employee_id"},
		{"twice", "type,employee_id,email,Email\nhire,E1,a@example.com,b@example.com\n", "appears twice"},
		{"bad attr", "type,employee_id,email,attr.bad key\nhire,E1,a@example.com,x\n", "not a valid attribute column"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(tc.csv), "x.csv")
			if tenure.ErrorCode(err) != tenure.EINVALID {
				t.Fatalf("err = %v, want EINVALID", err)
			}
			e := err.(*tenure.Error)
			all := e.Message
			for _, f := range e.Fields {
				all += " | " + f.Field + ": " + f.Problem
			}
			if !strings.Contains(all, tc.want) {
				t.Fatalf("error %q does not say %q", all, tc.want)
			}
		})
	}
	// A spreadsheet's byte order mark, case and spaces in the header are fine.
	f := parse(t, "\ufeff Type , Employee_ID,EMAIL,given_name,family_name,attr.Level\nHire,E1, ada@example.com ,Ada,Lovelace,L5\n")
	if len(f.Problems) != 0 || f.Rows[0].Event.Type != tenure.EventHire || f.Rows[0].Event.Employee.Email != "ada@example.com" ||
		f.Rows[0].Event.Employee.Attributes["Level"] != "L5" {
		t.Fatalf("got %+v %v", f.Rows, f.Problems)
	}
}

func TestIDs(t *testing.T) {
	csv := "type,id,employee_id,email,given_name,family_name\n" +
		"hire,hr-1,E1,e1@example.com,A,B\n" +
		"hire,,E2,e2@example.com,A,B\n" +
		"update,hr-1,E1,e1@example.com,A,C\n" +
		"hire,bad id,E3,e3@example.com,A,B\n"
	f := parse(t, csv)
	want := []string{
		"line 4: id: is the same event ID as line 2's; give each row its own",
		"line 5: id: " + intake.EventIDProblem,
	}
	if got := problemStrings(f); !slices.Equal(got, want) {
		t.Fatalf("problems %q, want %q", got, want)
	}
	if f.Rows[0].Event.ID != "hr-1" || f.Rows[1].Event.ID != "csv:people.csv:3" {
		t.Fatalf("ids %q %q", f.Rows[0].Event.ID, f.Rows[1].Event.ID)
	}
	// Default IDs are valid event IDs whatever the file is called, and differ
	// between names that differ only in characters an ID cannot hold.
	a, b := DefaultID("HR export (May).csv", 7), DefaultID("HR export [May].csv", 7)
	if !intake.ValidEventID(a) || !intake.ValidEventID(b) || a == b || a != DefaultID("HR export (May).csv", 7) {
		t.Fatalf("default IDs %q and %q", a, b)
	}
	if long := DefaultID(strings.Repeat("n", 500)+".csv", 99999); !intake.ValidEventID(long) {
		t.Fatalf("default ID of a long name %q is not valid", long)
	}
}

func TestParseTenThousandRows(t *testing.T) {
	f := parse(t, bulkCSV(10_000))
	if f.Total != 10_000 || len(f.Rows) != 10_000 || len(f.Problems) != 0 {
		t.Fatalf("total %d, valid %d, problems %v", f.Total, len(f.Rows), f.Problems[:min(3, len(f.Problems))])
	}
	if last := f.Rows[9999]; last.Line != 10_001 || last.Event.Employee.ID != "B10000" {
		t.Fatalf("last row %+v", last)
	}
	if _, err := Parse(strings.NewReader(bulkCSV(MaxRows+1)), "big.csv"); !strings.Contains(fmt.Sprint(err), "split it") {
		t.Fatalf("a file over MaxRows: %v", err)
	}
}

// bulkCSV is a file of n birthright hires.
func bulkCSV(n int) string {
	var b strings.Builder
	b.WriteString("type,employee_id,email,given_name,family_name,department,title\n")
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "hire,B%d,b%d@example.com,Bulk,Person %d,Operations,Analyst\n", i, i, i)
	}
	return b.String()
}

const testPolicy = `version: 1
apps:
  - {name: google, connector: scim, sandbox: true}
  - {name: github, connector: scim, sandbox: true}
  - {name: salesforce, connector: scim, sandbox: true}
  - {name: aws, connector: scim, sandbox: true}
rules:
  - name: everyone
    match: {}
    grant: [{app: google, entitlements: [all-staff]}]
  - name: engineering
    match: {department: Engineering}
    grant: [{app: github, entitlements: [engineering]}]
  - name: senior
    match: {department: Engineering, title: {pattern: "*Senior*"}}
    grant: [{app: aws, entitlements: [admin], approval: manager}]
  - name: sales
    match: {department: Sales}
    grant: [{app: salesforce, entitlements: [sales-users]}]
`

func keys(gs []tenure.Grant) []string {
	out := []string{}
	for _, g := range gs {
		out = append(out, Describe(g))
	}
	return out
}

func TestPlanAgainstTheStoreAndThePolicy(t *testing.T) {
	ctx := context.Background()
	db := storetest.SQLite(t)
	pol, err := policy.Parse("test.yaml", []byte(testPolicy), []integrations.Spec{scim.Spec}, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range []tenure.Employee{
		{Person: tenure.Person{ID: "mover", Email: "m@example.com", GivenName: "Mo", FamilyName: "Ver", Department: "Engineering", Title: "Senior Engineer"}, Status: tenure.PersonActive},
		{Person: tenure.Person{ID: "leaver", Email: "l@example.com", GivenName: "Lee", FamilyName: "Ver", Department: "Sales"}, Status: tenure.PersonActive},
		{Person: tenure.Person{ID: "gone", Email: "g@example.com", GivenName: "Gone", FamilyName: "Away", Department: "Sales"}, Status: tenure.PersonTerminated},
	} {
		if err := db.UpsertEmployee(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	csv := "type,employee_id,email,given_name,family_name,department,title,start_date,effective_at\n" +
		"hire,new,n@example.com,New,Hire,Engineering,Engineer,2026-09-01,\n" + // 2: a future start
		"update,mover,m@example.com,Mo,Ver,Sales,Account Executive,,\n" + // 3: engineering to sales
		"terminate,leaver,l@example.com,,,,,,2026-06-30T17:00:00Z\n" + // 4: scheduled
		"terminate,nobody,x@example.com,,,,,,\n" + // 5: not employed
		"rehire,gone,g@example.com,Gone,Away,Engineering,Engineer,,\n" + // 6: a rehire
		"update,new,n@example.com,New,Hire,Engineering,Senior Engineer,2026-09-01,\n" // 7: same file, against line 2
	f := parse(t, csv)
	if len(f.Problems) != 0 {
		t.Fatal(f.Problems)
	}
	planner := &Planner{People: db, Events: db, Policy: pol, Now: func() time.Time { return time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC) }}
	plan, err := planner.Plan(ctx, f.Rows)
	if err != nil {
		t.Fatal(err)
	}
	type want struct {
		line          int
		kind          string
		grants, revok []string
		note          string
	}
	check := func(group string, got []Step, w []want) {
		t.Helper()
		if len(got) != len(w) {
			t.Fatalf("%s: %d steps, want %d: %+v", group, len(got), len(w), got)
		}
		for i := range w {
			g := got[i]
			if g.Line != w[i].line || g.Kind != w[i].kind || !slices.Equal(keys(g.Grants), w[i].grants) ||
				!slices.Equal(keys(g.Revokes), w[i].revok) || !strings.Contains(g.Note, w[i].note) {
				t.Errorf("%s[%d] = line %d %s +%v -%v %q; want %+v", group, i, g.Line, g.Kind, keys(g.Grants), keys(g.Revokes), g.Note, w[i])
			}
		}
	}
	check("hires", plan.Hires, []want{
		{2, KindHire, []string{"github", "github/engineering", "google", "google/all-staff"}, []string{}, "starts 2026-09-01"},
		{6, KindRehire, []string{"github", "github/engineering", "google", "google/all-staff"}, []string{}, ""},
	})
	check("changes", plan.Changes, []want{
		{3, KindChange, []string{"salesforce", "salesforce/sales-users"},
			[]string{"aws (needs manager approval)", "aws/admin (needs manager approval)", "github", "github/engineering"}, ""},
		{7, KindChange, []string{"aws (needs manager approval)", "aws/admin (needs manager approval)"}, []string{}, ""},
	})
	check("terminations", plan.Terminations, []want{
		{4, KindTermination, []string{}, []string{"google", "google/all-staff", "salesforce", "salesforce/sales-users"}, "scheduled for 2026-06-30T17:00:00Z"},
		{5, KindNone, []string{}, []string{}, "not employed"},
	})

	// A plan writes nothing.
	if events, _ := db.ListEvents(ctx, "new"); len(events) != 0 {
		t.Fatalf("planning wrote events: %v", events)
	}
	if _, err := db.GetEmployee(ctx, "new"); tenure.ErrorCode(err) != tenure.ENOTFOUND {
		t.Fatalf("planning wrote a person: %v", err)
	}

	// Rows already imported say so, and a changed row is a conflict.
	eng := &recordingEngine{}
	in := &intake.Intake{Store: db, Engine: eng}
	Apply(ctx, in, f.Events()[:2], 0, nil)
	f.Rows[1].Event.Employee.Title = "Changed"
	plan, err = planner.Plan(ctx, f.Rows)
	if err != nil {
		t.Fatal(err)
	}
	if n := plan.Hires[0].Note; plan.Hires[0].Kind != KindNone || !strings.Contains(n, "already imported") {
		t.Errorf("line 2 after import: %s %q", plan.Hires[0].Kind, n)
	}
	if n := plan.Changes[0].Note; !strings.Contains(n, "conflict") {
		t.Errorf("line 3 changed after import: %q", n)
	}

	if _, err := (&Planner{People: db}).Plan(ctx, f.Rows); tenure.ErrorCode(err) != tenure.EUNAVAILABLE {
		t.Fatalf("a plan without a policy: %v", err)
	}
}

// recordingEngine is a stand-in for Temporal that records what it is handed,
// and fails for the people in fail.
type recordingEngine struct {
	mu      sync.Mutex
	submits []tenure.Event
	fail    map[string]bool
	active  int
	peak    int
}

func (r *recordingEngine) SubmitEvent(_ context.Context, ev tenure.Event) (string, error) {
	r.mu.Lock()
	r.active++
	r.peak = max(r.peak, r.active)
	r.mu.Unlock()
	time.Sleep(time.Millisecond) // a little of Temporal's latency, so calls overlap
	r.mu.Lock()
	defer r.mu.Unlock()
	r.active--
	r.submits = append(r.submits, ev)
	if r.fail[ev.Employee.ID] {
		return "", fmt.Errorf("dial tcp: connection refused")
	}
	return tenure.WorkflowID(ev.Employee.ID), nil
}
func (r *recordingEngine) Lock(context.Context, string, string, string) (string, error) {
	return "", nil
}
func (r *recordingEngine) Unlock(context.Context, string, string, string) (string, error) {
	return "", nil
}
func (r *recordingEngine) Decide(context.Context, tenure.Approval, tenure.Decision) (tenure.ApprovalStatus, error) {
	return "", nil
}
func (r *recordingEngine) Retry(context.Context, string, string, string, string) (string, error) {
	return "", nil
}
func (r *recordingEngine) Reconverge(context.Context, string, string, string) (string, error) {
	return "", nil
}
func (r *recordingEngine) Ready(context.Context) error { return nil }
func (r *recordingEngine) RunURL(string) string        { return "" }

func TestApplyKeepsEachPersonInOrderAndRunsPeopleInParallel(t *testing.T) {
	ctx := context.Background()
	db := storetest.SQLite(t)
	eng := &recordingEngine{fail: map[string]bool{"P3": true}}
	in := &intake.Intake{Store: db, Engine: eng}
	var events []tenure.Event
	for step := range 3 {
		for p := range 20 {
			typ := tenure.EventHire
			if step > 0 {
				typ = tenure.EventUpdate
			}
			events = append(events, tenure.Event{ID: fmt.Sprintf("ev-P%d-%d", p, step), Type: typ, Employee: tenure.Person{
				ID: fmt.Sprintf("P%d", p), Email: fmt.Sprintf("p%d@example.com", p), GivenName: "P", FamilyName: fmt.Sprint(step)}})
		}
	}
	var mu sync.Mutex
	done := 0
	out := Apply(ctx, in, events, 8, func() { mu.Lock(); done++; mu.Unlock() })
	if done != len(events) || len(out) != len(events) {
		t.Fatalf("done %d, outcomes %d, want %d", done, len(out), len(events))
	}
	for i, o := range out {
		want := StatusAccepted
		if events[i].Employee.ID == "P3" {
			want = StatusError
		}
		if o.Status() != want || (want == StatusAccepted && o.Accepted.EventID != events[i].ID) {
			t.Fatalf("event %d: %s %+v %v, want %s", i, o.Status(), o.Accepted, o.Err, want)
		}
	}
	last := map[string]string{}
	for _, ev := range eng.submits {
		if prev := last[ev.Employee.ID]; prev > ev.ID {
			t.Fatalf("%s was handed over after %s", ev.ID, prev)
		}
		last[ev.Employee.ID] = ev.ID
	}
	if eng.peak < 2 || eng.peak > 8 {
		t.Fatalf("at most %d events were in flight; want 2 to 8", eng.peak)
	}
	// Again: everything is a duplicate, except the failures, which are retried.
	eng.fail = nil
	for i, o := range Apply(ctx, in, events, 8, nil) {
		want := StatusDuplicate
		if events[i].Employee.ID == "P3" {
			want = StatusAccepted
		}
		if o.Status() != want {
			t.Fatalf("second time, event %d is %s, want %s", i, o.Status(), want)
		}
	}
}
