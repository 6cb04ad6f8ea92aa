package api

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/evidence"
	"github.com/tenure-io/tenure/internal/attest"
)

// testSigningKey signs the evidence the test servers answer.
var testSigningKey, _ = attest.ParseKey("6f1c0e5b2a9d8c7b6a5f4e3d2c1b0a99887766554433221100ffeeddccbbaa99")

func testPublicKey() ed25519.PublicKey { return testSigningKey.Public().(ed25519.PublicKey) }

// seedLeaver writes what the workflows write for a person who was hired into
// github and slack and then left through HR event term-1: each app's state
// before the leaver (as the disable step records it), the account read back
// disabled, the runs and the audit records.
func seedLeaver(t *testing.T, db tenure.Store, id, managerID string) {
	t.Helper()
	ctx := context.Background()
	at := func(min int) time.Time { return time.Date(2026, 2, 1, 10, min, 0, 0, time.UTC) }
	p := tenure.Person{ID: id, Email: id + "@example.com", GivenName: "Lin", FamilyName: "Leaver", ManagerID: managerID}
	must(t, db.UpsertEmployee(ctx, tenure.Employee{Person: p, Status: tenure.PersonTerminated}))
	_, _, err := db.CreateEvent(ctx, tenure.EventRecord{ID: "term-1", EmployeeID: id, Type: tenure.EventTerminate,
		WorkflowID: tenure.WorkflowID(id), Status: tenure.EventDispatched, ReceivedAt: at(10)})
	must(t, err)
	leaver := "employee/" + id + "/leaver/term-1"
	for _, r := range []tenure.Run{
		{WorkflowID: "employee/" + id + "/joiner/hire-1", Type: "Joiner", EventID: "hire-1", StartedAt: at(0)},
		{WorkflowID: leaver, Type: "Leaver", EventID: "term-1", StartedAt: at(10)},
	} {
		closed := r.StartedAt.Add(time.Second)
		r.EmployeeID, r.Status, r.ClosedAt = id, tenure.RunCompleted, &closed
		must(t, db.UpsertRun(ctx, r))
	}
	must(t, db.AppendAudit(ctx, tenure.AuditRecord{Key: id + "/terminated:term-1", At: at(10), Actor: "hr",
		Action: "employee.terminated", EmployeeID: id, WorkflowID: tenure.WorkflowID(id)}))
	verified := at(1)
	for _, app := range []string{"github", "slack"} {
		key := id + "/term-1/" + app + "/DisableAccount"
		must(t, db.AppendAudit(ctx, tenure.AuditRecord{Key: id + "/hire-1/" + app + "/CreateAccount", At: at(1), Actor: "tenure",
			Action: "account.created", EmployeeID: id, App: app, WorkflowID: "employee/" + id + "/joiner/hire-1"}))
		must(t, db.RecordAccountBefore(ctx, tenure.AccountBefore{Key: key, EmployeeID: id, App: app, WorkflowID: leaver,
			Operation: "DisableAccount", AccountID: app + "-1", UserName: id + "@example.com", Status: tenure.AccessActive,
			Entitlements: []string{app + "-users"}, EntitlementsVerifiedAt: &verified, ReadAt: at(11)}))
		disabled := at(12)
		must(t, db.UpsertAccount(ctx, tenure.Account{EmployeeID: id, App: app, AccountID: app + "-1", Status: tenure.AccessDisabled,
			Entitlements: []string{}, VerifiedAt: &disabled}))
		must(t, db.AppendAudit(ctx, tenure.AuditRecord{Key: key, At: at(12), Actor: "tenure", Action: "account.disabled",
			EmployeeID: id, App: app, WorkflowID: leaver, Detail: "account " + app + "-1 was active=true, now verified active=false"}))
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// verifiedDocument checks the answer is an envelope signed by the test key and
// returns its document.
func verifiedDocument(t *testing.T, res response) evidence.Document {
	t.Helper()
	if res.status != http.StatusOK {
		t.Fatalf("evidence: %d %s", res.status, res.body)
	}
	var env attest.Envelope
	must(t, json.Unmarshal(res.body, &env))
	if err := attest.Verify(env, testPublicKey()); err != nil {
		t.Fatalf("the evidence does not verify: %v", err)
	}
	var doc evidence.Document
	must(t, json.Unmarshal(env.Payload, &doc))
	return doc
}

func TestEvidenceOfALeaverThroughTheAPI(t *testing.T) {
	h := newRoleHarness(t)
	seedLeaver(t, h.db, "lin", "boss")
	doc := verifiedDocument(t, h.as(h.tokens[tenure.RoleAuditor], "GET", "/api/v1/employees/lin/evidence", ""))

	if doc.Type != "tenure.leaver-evidence" || doc.Version != 1 || doc.GeneratedBy != "auditor token" ||
		doc.Employee.ID != "lin" || doc.Employee.Name != "Lin Leaver" || doc.Employee.Status != tenure.PersonTerminated || !doc.Complete {
		t.Fatalf("document = %+v", doc)
	}
	if len(doc.Workflows) != 1 {
		t.Fatalf("workflows = %+v, want the leaver only", doc.Workflows)
	}
	w := doc.Workflows[0]
	if w.WorkflowID != "employee/lin/leaver/term-1" || w.TemporalURL != "http://temporal.test/workflows/employee/lin/leaver/term-1" ||
		w.Trigger != (evidence.Trigger{Kind: "hr_event", ID: "term-1", Actor: "hr", At: w.Trigger.At}) || w.Trigger.At == nil {
		t.Fatalf("workflow = %+v", w)
	}
	if len(doc.Apps) != 2 {
		t.Fatalf("apps = %+v", doc.Apps)
	}
	for _, a := range doc.Apps {
		if a.AccountID != a.App+"-1" || a.UserName != "lin@example.com" || a.Before == nil ||
			a.Before.Status != tenure.AccessActive || !slices.Equal(a.Before.Entitlements, []string{a.App + "-users"}) ||
			a.After.Status != tenure.AccessDisabled || len(a.After.Entitlements) != 0 || a.VerifiedAt == nil {
			t.Fatalf("%s = %+v (before %+v)", a.App, a, a.Before)
		}
		// The leaver's records about the app; the hire's are not part of it.
		if len(a.Audit) != 1 || a.Audit[0].Action != "account.disabled" || len(a.Workflows) != 1 || a.Workflows[0].WorkflowID != w.WorkflowID {
			t.Fatalf("%s audit %+v workflows %+v", a.App, a.Audit, a.Workflows)
		}
	}
	if len(doc.Audit) != 1 || doc.Audit[0].Action != "employee.terminated" {
		t.Fatalf("audit = %+v", doc.Audit)
	}
}

// TestEvidenceWhoAndWhom: admins and auditors have anyone's evidence, a manager
// their own reports' only (another's is a 404 like nobody's), hr none; someone
// who has not left is a 409 that says so; without a key, 503 naming the setting.
func TestEvidenceWhoAndWhom(t *testing.T) {
	h := newRoleHarness(t)
	seedLeaver(t, h.db, "lin", "boss")
	seedLeaver(t, h.db, "max", "other")
	for _, role := range []string{tenure.RoleAdmin, tenure.RoleAuditor, tenure.RoleManager} {
		verifiedDocument(t, h.as(h.tokens[role], "GET", "/api/v1/employees/lin/evidence", ""))
	}
	verifiedDocument(t, h.do("GET", "/api/v1/employees/max/evidence", ""))
	wantError(t, h.as(h.tokens[tenure.RoleHR], "GET", "/api/v1/employees/lin/evidence", ""), http.StatusForbidden, tenure.EFORBIDDEN)

	mgr := h.tokens[tenure.RoleManager]
	other := wantError(t, h.as(mgr, "GET", "/api/v1/employees/max/evidence", ""), http.StatusNotFound, tenure.ENOTFOUND)
	nobody := wantError(t, h.as(mgr, "GET", "/api/v1/employees/nobody/evidence", ""), http.StatusNotFound, tenure.ENOTFOUND)
	if strings.Replace(other.Message, "max", "nobody", 1) != nobody.Message {
		t.Errorf("messages differ: %q and %q", other.Message, nobody.Message)
	}
	e := wantError(t, h.as(mgr, "GET", "/api/v1/employees/ada/evidence", ""), http.StatusConflict, tenure.ECONFLICT)
	if e.Message != "ada is active: evidence is for people who have left or are locked" {
		t.Errorf("409 message = %q", e.Message)
	}

	h.cfg.AuditSigningKey = nil
	srv := httptest.NewServer(mustServer(t, h.cfg))
	defer srv.Close()
	h.url = srv.URL
	e = wantError(t, h.do("GET", "/api/v1/employees/lin/evidence", ""), http.StatusServiceUnavailable, tenure.EUNAVAILABLE)
	if !strings.Contains(e.Message, "TENURE_AUDIT_SIGNING_KEY is not set") {
		t.Errorf("503 message = %q", e.Message)
	}
}

// TestEvidenceSurvivesPrettyPrintingButNotAnEdit: the file an auditor keeps
// may be re-indented; changing one byte of what it says breaks it.
func TestEvidenceSurvivesPrettyPrintingButNotAnEdit(t *testing.T) {
	h := newRoleHarness(t)
	seedLeaver(t, h.db, "lin", "boss")
	res := h.do("GET", "/api/v1/employees/lin/evidence", "")
	var pretty bytes.Buffer
	must(t, json.Indent(&pretty, res.body, "", "  "))
	var env attest.Envelope
	must(t, json.Unmarshal(pretty.Bytes(), &env))
	must(t, attest.Verify(env, testPublicKey()))
	env.Payload = bytes.Replace(env.Payload, []byte(`"disabled"`), []byte(`"disablee"`), 1)
	if err := attest.Verify(env, testPublicKey()); err == nil {
		t.Fatal("an edited document verified")
	}
}

func TestAccessReviewRolesAndRefusals(t *testing.T) {
	h := newRoleHarness(t)
	for _, role := range []string{tenure.RoleAdmin, tenure.RoleAuditor} {
		if res := h.as(h.tokens[role], "GET", "/api/v1/access-review?format=csv", ""); res.status != http.StatusOK {
			t.Errorf("%s: %d %s", role, res.status, res.body)
		}
	}
	for _, role := range []string{tenure.RoleHR, tenure.RoleManager} {
		wantError(t, h.as(h.tokens[role], "GET", "/api/v1/access-review", ""), http.StatusForbidden, tenure.EFORBIDDEN)
	}
	e := wantError(t, h.do("GET", "/api/v1/access-review?format=xlsx", ""), http.StatusBadRequest, tenure.EINVALID)
	if len(e.Fields) != 1 || e.Fields[0].Field != "format" {
		t.Errorf("fields = %+v, want format", e.Fields)
	}
	e = wantError(t, h.do("GET", "/api/v1/access-review?app=jira", ""), http.StatusBadRequest, tenure.EINVALID)
	if len(e.Fields) != 1 || e.Fields[0].Field != "app" || !strings.Contains(e.Fields[0].Problem, `"jira"`) {
		t.Errorf("fields = %+v, want app", e.Fields)
	}
	e = wantError(t, h.do("GET", "/api/v1/access-review?app=jira&format=pdf", ""), http.StatusBadRequest, tenure.EINVALID)
	if len(e.Fields) != 2 {
		t.Errorf("fields = %+v, want format and app", e.Fields)
	}
}

// TestAccessReviewContent: who has what, with the verified state, the rule and
// the approval behind a privileged grant, in JSON and in CSV, and one app only.
func TestAccessReviewContent(t *testing.T) {
	h := newRoleHarness(t)
	ctx := context.Background()
	seedLeaver(t, h.db, "lin", "boss")
	verified := time.Date(2026, 2, 2, 9, 0, 0, 0, time.UTC)
	must(t, h.db.UpsertAccount(ctx, tenure.Account{EmployeeID: "ada", App: "github", AccountID: "gh-ada", Status: tenure.AccessActive,
		Entitlements: []string{"admins"}, VerifiedAt: &verified}))
	must(t, h.db.UpsertGrant(ctx, tenure.GrantRecord{EmployeeID: "ada", App: "github", Entitlement: "admins", Status: tenure.AccessActive,
		Rule: "github-admins", ApprovalID: "ap-mine"}))
	must(t, h.db.DecideApproval(ctx, "ap-mine", tenure.ApprovalApproved, "boss", "", verified.Add(-time.Hour)))
	must(t, h.db.UpsertApp(ctx, tenure.App{Name: "slack", Connector: "scim"}))

	res := h.as(h.tokens[tenure.RoleAuditor], "GET", "/api/v1/access-review", "")
	var out struct {
		App      string                `json:"app"`
		Lines    []evidence.ReviewLine `json:"lines"`
		Complete bool                  `json:"complete"`
	}
	if err := json.Unmarshal(res.body, &out); err != nil || res.status != 200 || !out.Complete {
		t.Fatalf("%d %v: %s", res.status, err, res.body)
	}
	var got []string
	for _, l := range out.Lines {
		got = append(got, l.EmployeeID+"/"+l.App+"/"+l.Entitlement+" "+string(l.AccountStatus))
	}
	want := []string{"ada/github/ active", "ada/github/admins active", "lin/github/ disabled", "lin/slack/ disabled"}
	if !slices.Equal(got, want) {
		t.Fatalf("lines = %v, want %v", got, want)
	}
	admins := out.Lines[1]
	if admins.Rule != "github-admins" || admins.ApprovalID != "ap-mine" || admins.DecidedBy != "boss" || admins.DecidedAt == nil ||
		admins.ApproverID != "boss" || admins.VerifiedAt == nil || !admins.VerifiedAt.Equal(verified) || admins.Name != "Ada Lovelace" {
		t.Fatalf("admins line = %+v", admins)
	}

	res = h.do("GET", "/api/v1/access-review?format=csv&app=slack", "")
	if res.status != 200 || !strings.HasPrefix(res.header.Get("Content-Type"), "text/csv") ||
		!strings.Contains(res.header.Get("Content-Disposition"), "attachment") {
		t.Fatalf("%d %v", res.status, res.header)
	}
	rows, err := csv.NewReader(bytes.NewReader(res.body)).ReadAll()
	must(t, err)
	if len(rows) != 2 || !slices.Equal(rows[0], evidence.ReviewColumns) || rows[1][0] != "lin" || rows[1][6] != "slack" || rows[1][9] != "disabled" {
		t.Fatalf("slack review = %q", rows)
	}
}

// TestAccessReviewCSVIsFormulaSafe: a value that begins with =, +, - or @
// reaches a spreadsheet as text, never as a formula.
func TestAccessReviewCSVIsFormulaSafe(t *testing.T) {
	h := newRoleHarness(t)
	ctx := context.Background()
	must(t, h.db.UpsertEmployee(ctx, tenure.Employee{Person: tenure.Person{ID: "evil", Email: "evil@example.com",
		GivenName: `=HYPERLINK("http://x.test","click")`, FamilyName: "", Department: "+1", Title: "-2+3"}, Status: tenure.PersonActive}))
	must(t, h.db.UpsertAccount(ctx, tenure.Account{EmployeeID: "evil", App: "github", AccountID: "@SUM(A1)", Status: tenure.AccessActive}))
	must(t, h.db.UpsertGrant(ctx, tenure.GrantRecord{EmployeeID: "evil", App: "github", Entitlement: "=cmd|' /C calc'!A0", Status: tenure.AccessActive}))

	res := h.do("GET", "/api/v1/access-review?format=csv", "")
	rows, err := csv.NewReader(bytes.NewReader(res.body)).ReadAll()
	must(t, err)
	if len(rows) != 3 {
		t.Fatalf("rows = %q", rows)
	}
	acct, ent := rows[1], rows[2]
	for _, c := range []struct{ got, want string }{
		{acct[1], `'=HYPERLINK("http://x.test","click")`},
		{acct[3], "'+1"},
		{acct[4], "'-2+3"},
		{acct[7], "'@SUM(A1)"},
		{ent[8], "'=cmd|' /C calc'!A0"},
		{acct[2], "evil@example.com"},
	} {
		if c.got != c.want {
			t.Errorf("cell %q, want %q", c.got, c.want)
		}
	}
	// JSON carries the values as they are: only a spreadsheet needs the quote.
	res = h.do("GET", "/api/v1/access-review", "")
	if !strings.Contains(string(res.body), `"department":"+1"`) {
		t.Errorf("json = %s", res.body)
	}
}
