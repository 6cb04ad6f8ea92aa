package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/importer"
)

type importAnswer struct {
	File       string             `json:"file"`
	Rows       int                `json:"rows"`
	Accepted   int                `json:"accepted"`
	Duplicates int                `json:"duplicates"`
	Invalid    int                `json:"invalid"`
	Conflicts  int                `json:"conflicts"`
	Errors     int                `json:"errors"`
	Problems   []importer.Problem `json:"problems"`
	Results    []struct {
		Line    int    `json:"line"`
		EventID string `json:"event_id"`
		Status  string `json:"status"`
	} `json:"results"`
}

const importCSV = "type,employee_id,email,given_name,family_name,department,title\n" +
	"hire,E1,e1@example.com,Ada,Lovelace,Engineering,Engineer\n" + // 2
	"hire,E2,not-an-email,Grace,Hopper,,\n" + // 3
	"hire,E3,e3@example.com,Alan,Turing,Sales,Rep\n" + // 4
	"hire,E4,e4@example.com,,Byron,,\n" + // 5
	"update,E1,e1@example.com,Ada,Lovelace,Engineering,Senior Engineer\n" // 6

func TestImportWithInvalidRowsReportsLinesAndWritesNothing(t *testing.T) {
	b := newBulkServer(t, nil)
	res := b.post("/api/v1/imports?filename=people.csv", bulkHRToken, "text/csv", []byte(importCSV), nil)
	e := wantError(t, res, http.StatusBadRequest, tenure.EINVALID)
	got := []string{}
	for _, f := range e.Fields {
		got = append(got, f.Field+": "+f.Problem)
	}
	want := []string{"line 3: email: is not a valid email address", "line 5: given_name: is required for a hire"}
	if !slices.Equal(got, want) {
		t.Fatalf("fields %q, want %q", got, want)
	}
	if !strings.Contains(e.Message, "2 of 5 rows") || !strings.Contains(e.Message, "skip_invalid") {
		t.Errorf("message %q", e.Message)
	}
	if n := len(b.eng.submitted()); n != 0 {
		t.Fatalf("%d events reached the engine", n)
	}
	if evs, _ := b.store.ListEvents(context.Background(), "E1"); len(evs) != 0 {
		t.Fatalf("a refused import stored %v", evs)
	}
}

func TestImportSkipInvalidAndReimport(t *testing.T) {
	b := newBulkServer(t, nil)
	var got importAnswer
	res := b.post("/api/v1/imports?filename=people.csv&skip_invalid=true", adminToken, "text/csv; charset=utf-8", []byte(importCSV), &got)
	if res.status != http.StatusOK {
		t.Fatalf("import: %d %s", res.status, res.body)
	}
	if got.File != "people.csv" || got.Rows != 5 || got.Accepted != 3 || got.Invalid != 2 || len(got.Problems) != 2 || got.Problems[0].Line != 3 {
		t.Fatalf("answer %+v", got)
	}
	lines := []int{}
	for _, r := range got.Results {
		lines = append(lines, r.Line)
		if r.Status != importer.StatusAccepted || r.EventID != fmt.Sprintf("csv:people.csv:%d", r.Line) {
			t.Errorf("result %+v", r)
		}
	}
	if !slices.Equal(lines, []int{2, 4, 6}) {
		t.Errorf("results for lines %v, want 2, 4, 6", lines)
	}
	// E1's hire reached the workflow before E1's update.
	var e1 []string
	for _, ev := range b.eng.submitted() {
		if ev.Employee.ID == "E1" {
			e1 = append(e1, ev.Employee.Title)
		}
	}
	if !slices.Equal(e1, []string{"Engineer", "Senior Engineer"}) {
		t.Errorf("E1's events arrived as %v", e1)
	}

	// The same file again runs nothing: every row is a duplicate.
	got = importAnswer{}
	b.post("/api/v1/imports?filename=people.csv&skip_invalid=true", adminToken, "text/csv", []byte(importCSV), &got)
	if got.Accepted != 0 || got.Duplicates != 3 || len(b.eng.submitted()) != 3 {
		t.Fatalf("re-import: %+v, %d submits", got, len(b.eng.submitted()))
	}
	// A changed row under the same file name is a conflict, not a silent change.
	changed := strings.Replace(importCSV, "Alan,Turing,Sales", "Alan,Turing,Marketing", 1)
	got = importAnswer{}
	b.post("/api/v1/imports?filename=people.csv&skip_invalid=true", adminToken, "text/csv", []byte(changed), &got)
	if got.Conflicts != 1 || got.Duplicates != 2 {
		t.Fatalf("changed re-import: %+v", got)
	}
}

func TestImportDryRunPlans(t *testing.T) {
	b := newBulkServer(t, []byte(`version: 1
apps:
  - {name: google, connector: scim, sandbox: true}
  - {name: github, connector: scim, sandbox: true}
  - {name: salesforce, connector: scim, sandbox: true}
rules:
  - {name: everyone, match: {}, grant: [{app: google}]}
  - {name: engineering, match: {department: Engineering}, grant: [{app: github, entitlements: [engineering]}]}
  - {name: sales, match: {department: Sales}, grant: [{app: salesforce}]}
`))
	ctx := context.Background()
	if err := b.store.UpsertEmployee(ctx, tenure.Employee{Person: tenure.Person{ID: "E9", Email: "e9@example.com", GivenName: "Old", FamilyName: "Timer", Department: "Engineering"}, Status: tenure.PersonActive}); err != nil {
		t.Fatal(err)
	}
	csv := importCSV + "terminate,E9,e9@example.com,,,,\n" // 7
	var plan struct {
		Rows, Valid, Invalid int
		Problems             []importer.Problem
		Plan                 importer.Plan
	}
	res := b.post("/api/v1/imports?dry_run=true&filename=people.csv", adminToken, "text/csv", []byte(csv), &plan)
	if res.status != http.StatusOK {
		t.Fatalf("dry run: %d %s", res.status, res.body)
	}
	if plan.Rows != 6 || plan.Valid != 4 || plan.Invalid != 2 || len(plan.Problems) != 2 {
		t.Fatalf("dry run counts %+v", plan)
	}
	describe := func(steps []importer.Step) []string {
		out := []string{}
		for _, s := range steps {
			g, r := []string{}, []string{}
			for _, x := range s.Grants {
				g = append(g, x.Key())
			}
			for _, x := range s.Revokes {
				r = append(r, x.Key())
			}
			out = append(out, fmt.Sprintf("%d %s %s +%v -%v", s.Line, s.Kind, s.EmployeeID, g, r))
		}
		return out
	}
	for name, tc := range map[string]struct{ got, want []string }{
		"hires":        {describe(plan.Plan.Hires), []string{"2 hire E1 +[github github/engineering google] -[]", "4 hire E3 +[google salesforce] -[]"}},
		"changes":      {describe(plan.Plan.Changes), []string{"6 change E1 +[] -[]"}},
		"terminations": {describe(plan.Plan.Terminations), []string{"7 termination E9 +[] -[github github/engineering google]"}},
	} {
		if !slices.Equal(tc.got, tc.want) {
			t.Errorf("%s: %q, want %q", name, tc.got, tc.want)
		}
	}
	if len(b.eng.submitted()) != 0 {
		t.Fatal("a dry run reached the engine")
	}
	if _, err := b.store.GetEvent(ctx, "csv:people.csv:2"); tenure.ErrorCode(err) != tenure.ENOTFOUND {
		t.Fatalf("a dry run stored an event: %v", err)
	}
	// Without a policy there is no plan, and the caller is told why.
	nopol := newBulkServer(t, nil)
	wantError(t, nopol.post("/api/v1/imports?dry_run=true", adminToken, "text/csv", []byte(csv), nil), http.StatusServiceUnavailable, tenure.EUNAVAILABLE)
}

func TestImportRefusals(t *testing.T) {
	b := newBulkServer(t, nil)
	for name, tc := range map[string]struct {
		query, contentType, body, field string
	}{
		"json":         {"", "application/json", `{"events":[]}`, "Content-Type"},
		"bad flag":     {"?dry_run=maybe", "text/csv", importCSV, "dry_run"},
		"spreadsheet":  {"", "text/csv", "PK\x03\x04\x00\x00binary", "body"},
		"bad header":   {"", "text/csv", "type,employee_id,emial\nhire,E1,x@example.com\n", "line 1: column 3"},
		"control name": {"?filename=a%01.csv", "text/csv", importCSV, "filename"},
	} {
		t.Run(name, func(t *testing.T) {
			e := wantError(t, b.post("/api/v1/imports"+tc.query, adminToken, tc.contentType, []byte(tc.body), nil), http.StatusBadRequest, tenure.EINVALID)
			if len(e.Fields) == 0 || e.Fields[0].Field != tc.field {
				t.Fatalf("error %+v, want field %s", e, tc.field)
			}
		})
	}
	wantError(t, b.post("/api/v1/imports", bulkAuditorToken, "text/csv", []byte(importCSV), nil), http.StatusForbidden, tenure.EFORBIDDEN)
	if len(b.eng.submitted()) != 0 {
		t.Fatal("a refused import reached the engine")
	}
}

func TestImportTenThousandRows(t *testing.T) {
	b := newBulkServer(t, nil)
	var sb strings.Builder
	sb.WriteString("type,employee_id,email,given_name,family_name,department,title,attr.cost_center\n")
	const n = 10_000
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&sb, "hire,B%05d,b%05d@example.com,Bulk,Person,Operations,Analyst,CC-%d\n", i, i, i%7)
	}
	var got importAnswer
	res := b.post("/api/v1/imports?filename=bulk.csv", adminToken, "text/csv", []byte(sb.String()), &got)
	if res.status != http.StatusOK || got.Accepted != n || got.Rows != n || len(got.Results) != n {
		t.Fatalf("import: %d, %d rows, %d accepted, %d results", res.status, got.Rows, got.Accepted, len(got.Results))
	}
	seen := map[string]bool{}
	for _, ev := range b.eng.submitted() {
		if seen[ev.ID] {
			t.Fatalf("%s reached the engine twice", ev.ID)
		}
		seen[ev.ID] = true
	}
	if len(seen) != n {
		t.Fatalf("%d events reached the engine, want %d", len(seen), n)
	}
	for _, id := range []string{"B00001", "B05000", "B10000"} {
		evs, err := b.store.ListEvents(context.Background(), id)
		if err != nil || len(evs) != 1 || evs[0].Status != tenure.EventDispatched {
			t.Fatalf("%s: %+v %v", id, evs, err)
		}
	}
	var raw map[string]json.RawMessage
	_ = json.Unmarshal(res.body, &raw)
	if _, ok := raw["results"]; !ok {
		t.Fatal("no results")
	}
}
