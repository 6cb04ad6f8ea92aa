package evidence_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/evidence"
	"github.com/tenure-io/tenure/internal/attest"
	"github.com/tenure-io/tenure/store"
	"github.com/tenure-io/tenure/store/storetest"
)

var ctx = context.Background()

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func at(min int) time.Time { return time.Date(2026, 3, 1, 9, min, 0, 0, time.UTC) }

// seedLeaver writes what a person's workflows write for a hire, a lock that
// was lifted, a second lock, an unlock the termination superseded and then the
// termination with both phases: the evidence must count the second lock and
// the termination, not the first lock.
func seedLeaver(t *testing.T, db *store.DB) {
	t.Helper()
	p := tenure.Person{ID: "E1", Email: "grace@example.com", GivenName: "Grace", FamilyName: "Hopper", ManagerID: "M1",
		Department: "Engineering", Title: "SRE"}
	must(t, db.UpsertEmployee(ctx, tenure.Employee{Person: p, Status: tenure.PersonTerminated}))
	_, _, err := db.CreateEvent(ctx, tenure.EventRecord{ID: "term-1", EmployeeID: "E1", Type: tenure.EventTerminate,
		WorkflowID: "employee/E1", Status: tenure.EventDispatched, ReceivedAt: at(20)})
	must(t, err)
	runs := []tenure.Run{
		{WorkflowID: "employee/E1/joiner/hire-1", Type: "Joiner", EventID: "hire-1", StartedAt: at(0)},
		{WorkflowID: "employee/E1/lock/req-1", Type: "Lock", EventID: "req-1", StartedAt: at(5)},
		{WorkflowID: "employee/E1/unlock/req-2", Type: "Unlock", EventID: "req-2", StartedAt: at(6)},
		{WorkflowID: "employee/E1/lock/req-3", Type: "Lock", EventID: "req-3", StartedAt: at(10)},
		{WorkflowID: "employee/E1/leaver/term-1", Type: "Leaver", EventID: "term-1", StartedAt: at(20)},
		{WorkflowID: "employee/E1/leaver/term-1-delete", Type: "Leaver", EventID: "term-1-delete", StartedAt: at(50)},
	}
	for _, r := range runs {
		closed := r.StartedAt.Add(time.Second)
		r.EmployeeID, r.Status, r.ClosedAt = "E1", tenure.RunCompleted, &closed
		must(t, db.UpsertRun(ctx, r))
	}
	// An unlock that the termination superseded never ran: the second lock
	// was never lifted, and is part of the leaving.
	superseded := at(15)
	must(t, db.UpsertRun(ctx, tenure.Run{WorkflowID: "employee/E1/unlock/req-4", EmployeeID: "E1", Type: "Unlock", EventID: "req-4",
		Status: tenure.RunSuperseded, StartedAt: superseded, ClosedAt: &superseded}))
	audit := []tenure.AuditRecord{
		{Key: "E1/locked:req-1", At: at(5), Actor: "ada", Action: "employee.locked", WorkflowID: "employee/E1"},
		{Key: "E1/lock-1/github/DisableAccount", At: at(5), Actor: "tenure", Action: "account.disabled", App: "github", WorkflowID: "employee/E1/lock/req-1"},
		{Key: "E1/locked:req-3", At: at(10), Actor: "ada", Action: "employee.locked", WorkflowID: "employee/E1"},
		{Key: "E1/req-3/github/DisableAccount", At: at(10), Actor: "tenure", Action: "account.disabled", App: "github", WorkflowID: "employee/E1/lock/req-3"},
		{Key: "E1/req-3/slack/DisableAccount", At: at(10), Actor: "tenure", Action: "account.absent", App: "slack", WorkflowID: "employee/E1/lock/req-3"},
		{Key: "E1/terminated:term-1", At: at(20), Actor: "hr", Action: "employee.terminated", WorkflowID: "employee/E1"},
		{Key: "E1/term-1/github/DisableAccount", At: at(20), Actor: "tenure", Action: "account.disabled", App: "github", WorkflowID: "employee/E1/leaver/term-1"},
		{Key: "E1/term-1-delete/github/DeleteAccount", At: at(50), Actor: "tenure", Action: "account.deleted", App: "github", WorkflowID: "employee/E1/leaver/term-1-delete"},
	}
	for _, a := range audit {
		a.EmployeeID = "E1"
		must(t, db.AppendAudit(ctx, a))
	}
	verified := at(1)
	for _, b := range []tenure.AccountBefore{
		{Key: "E1/lock-1/github/DisableAccount", WorkflowID: "employee/E1/lock/req-1", Status: tenure.AccessActive, ReadAt: at(5)},
		{Key: "E1/req-3/github/DisableAccount", WorkflowID: "employee/E1/lock/req-3", Status: tenure.AccessActive,
			Entitlements: []string{"eng", "oncall"}, EntitlementsVerifiedAt: &verified, ReadAt: at(10)},
		{Key: "E1/term-1/github/DisableAccount", WorkflowID: "employee/E1/leaver/term-1", Status: tenure.AccessDisabled, ReadAt: at(20)},
		{Key: "E1/term-1-delete/github/DeleteAccount", WorkflowID: "employee/E1/leaver/term-1-delete", Status: tenure.AccessDisabled, ReadAt: at(50)},
	} {
		b.EmployeeID, b.App, b.AccountID, b.UserName = "E1", "github", "gh-7", "grace@example.com"
		b.Operation = "DisableAccount"
		must(t, db.RecordAccountBefore(ctx, b))
	}
	deleted, absent := at(50), at(10)
	must(t, db.UpsertAccount(ctx, tenure.Account{EmployeeID: "E1", App: "github", AccountID: "gh-7", Status: tenure.AccessDeleted, VerifiedAt: &deleted}))
	must(t, db.UpsertAccount(ctx, tenure.Account{EmployeeID: "E1", App: "slack", Status: tenure.AccessDeleted, VerifiedAt: &absent}))
	// Someone who has not left.
	must(t, db.UpsertEmployee(ctx, tenure.Employee{Person: tenure.Person{ID: "E2", Email: "e2@example.com", ManagerID: "M1"}, Status: tenure.PersonActive}))
}

func builder(db *store.DB) *evidence.Builder {
	key, _ := attest.ParseKey(attest.NewKey())
	return &evidence.Builder{Store: db, Key: key, RunURL: func(id string) string { return "http://ui.test/" + id },
		Now: func() time.Time { return at(59) }}
}

func TestLeaverEvidence(t *testing.T) {
	db := storetest.SQLite(t)
	seedLeaver(t, db)
	b := builder(db)
	auditor := tenure.Principal{Name: "SOX token", Role: tenure.RoleAuditor}
	doc, err := b.Build(ctx, auditor, "E1")
	must(t, err)

	if doc.Type != evidence.DocumentType || doc.Version != 1 || doc.GeneratedBy != "SOX token" || !doc.GeneratedAt.Equal(at(59)) {
		t.Fatalf("header = %+v", doc)
	}
	if doc.Employee.Name != "Grace Hopper" || doc.Employee.Status != tenure.PersonTerminated || !doc.Complete {
		t.Fatalf("employee %+v complete %t", doc.Employee, doc.Complete)
	}
	var ids []string
	for _, w := range doc.Workflows {
		ids = append(ids, w.WorkflowID)
	}
	want := []string{"employee/E1/lock/req-3", "employee/E1/leaver/term-1", "employee/E1/leaver/term-1-delete"}
	if !slices.Equal(ids, want) {
		t.Fatalf("workflows = %v, want %v (the lifted lock is not part of the leaving)", ids, want)
	}
	lock, term, purge := doc.Workflows[0], doc.Workflows[1], doc.Workflows[2]
	if lock.Trigger.Kind != evidence.TriggerLock || lock.Trigger.ID != "req-3" || lock.Trigger.Actor != "ada" || lock.TemporalURL != "http://ui.test/employee/E1/lock/req-3" {
		t.Fatalf("lock = %+v", lock)
	}
	for _, w := range []evidence.Workflow{term, purge} {
		if w.Trigger.Kind != evidence.TriggerHREvent || w.Trigger.ID != "term-1" || w.Trigger.Actor != "hr" || w.Trigger.At == nil || !w.Trigger.At.Equal(at(20)) {
			t.Fatalf("%s trigger = %+v", w.WorkflowID, w.Trigger)
		}
	}
	var keys []string
	for _, a := range doc.Audit {
		keys = append(keys, a.Key)
	}
	if !slices.Equal(keys, []string{"E1/locked:req-3", "E1/terminated:term-1"}) {
		t.Fatalf("top-level audit = %v", keys)
	}

	if len(doc.Apps) != 2 || doc.Apps[0].App != "github" || doc.Apps[1].App != "slack" {
		t.Fatalf("apps = %+v", doc.Apps)
	}
	gh := doc.Apps[0]
	if gh.Before == nil || gh.Before.Status != tenure.AccessActive || !slices.Equal(gh.Before.Entitlements, []string{"eng", "oncall"}) ||
		gh.Before.WorkflowID != "employee/E1/lock/req-3" || gh.UserName != "grace@example.com" || gh.AccountID != "gh-7" {
		t.Fatalf("github before = %+v (%+v), want the second lock's: active with eng, oncall", gh.Before, gh)
	}
	if gh.After.Status != tenure.AccessDeleted || gh.VerifiedAt == nil || !gh.VerifiedAt.Equal(at(50)) {
		t.Fatalf("github after = %+v at %v", gh.After, gh.VerifiedAt)
	}
	if len(gh.Workflows) != 3 || len(gh.Audit) != 3 || gh.Audit[0].Key != "E1/req-3/github/DisableAccount" || gh.Audit[2].Action != "account.deleted" {
		t.Fatalf("github workflows %+v audit %+v", gh.Workflows, gh.Audit)
	}
	slack := doc.Apps[1]
	if slack.Before != nil || slack.After.Status != tenure.AccessDeleted || len(slack.Audit) != 1 || slack.Audit[0].Action != "account.absent" ||
		len(slack.Workflows) != 1 || slack.Workflows[0].WorkflowID != "employee/E1/lock/req-3" {
		t.Fatalf("slack = %+v", slack)
	}

	// Signed, it verifies against the builder's key, and holds the same document.
	env, err := b.Signed(ctx, auditor, "E1")
	must(t, err)
	must(t, attest.Verify(env, b.Key.Public().(ed25519.PublicKey)))
	var back evidence.Document
	must(t, json.Unmarshal(env.Payload, &back))
	if back.Employee.ID != "E1" || len(back.Apps) != 2 {
		t.Fatalf("signed payload = %s", env.Payload)
	}
}

// TestEvidenceRefusals: someone who has not left is a conflict, a manager sees
// only their own reports (anyone else is not found, as for nobody), and
// without a key nothing is signed.
func TestEvidenceRefusals(t *testing.T) {
	db := storetest.SQLite(t)
	seedLeaver(t, db)
	b := builder(db)
	admin := tenure.Principal{Name: "ada", Role: tenure.RoleAdmin}
	for _, c := range []struct {
		p    tenure.Principal
		id   string
		code string
	}{
		{admin, "E2", tenure.ECONFLICT},
		{admin, "nobody", tenure.ENOTFOUND},
		{tenure.Principal{Name: "m2", Role: tenure.RoleManager, EmployeeID: "M2"}, "E1", tenure.ENOTFOUND},
		{tenure.Principal{Name: "m1", Role: tenure.RoleManager, EmployeeID: "M1"}, "E2", tenure.ECONFLICT},
	} {
		if _, err := b.Signed(ctx, c.p, c.id); tenure.ErrorCode(err) != c.code {
			t.Errorf("%s as %s: %v, want %s", c.id, c.p.Name, err, c.code)
		}
	}
	if _, err := b.Signed(ctx, tenure.Principal{Name: "m1", Role: tenure.RoleManager, EmployeeID: "M1"}, "E1"); err != nil {
		t.Errorf("the manager's own report: %v", err)
	}
	_, err := b.Signed(ctx, tenure.Principal{Name: "m1", Role: tenure.RoleManager, EmployeeID: "M1"}, "E2")
	if msg := tenure.ErrorMessage(err); msg != "E2 is active: evidence is for people who have left or are locked" {
		t.Errorf("conflict message = %q", msg)
	}
	b.Key = nil
	_, err = b.Signed(ctx, admin, "E1")
	if tenure.ErrorCode(err) != tenure.EUNAVAILABLE || tenure.ErrorMessage(err) != "evidence cannot be signed: TENURE_AUDIT_SIGNING_KEY is not set" {
		t.Errorf("without a key: %v", err)
	}
}

// TestEvidenceOfALeavingInProgress: an app whose disable failed keeps the
// document from being complete, and the failure shows.
func TestEvidenceOfALeavingInProgress(t *testing.T) {
	db := storetest.SQLite(t)
	seedLeaver(t, db)
	must(t, db.UpsertAccount(ctx, tenure.Account{EmployeeID: "E1", App: "aws", AccountID: "u-1", Status: tenure.AccessFailed, Error: "aws: 403"}))
	doc, err := builder(db).Build(ctx, tenure.Principal{Name: "ada", Role: tenure.RoleAdmin}, "E1")
	must(t, err)
	if doc.Complete || doc.Apps[0].App != "aws" || doc.Apps[0].After.Error != "aws: 403" || doc.Apps[0].VerifiedAt != nil {
		t.Fatalf("complete %t, apps %+v", doc.Complete, doc.Apps)
	}
}

func TestAccessReview(t *testing.T) {
	db := storetest.SQLite(t)
	p := tenure.Person{ID: "E3", Email: "e3@example.com", GivenName: "Ada", FamilyName: "Lovelace", Department: "Engineering", Title: "SRE"}
	must(t, db.UpsertEmployee(ctx, tenure.Employee{Person: p, Status: tenure.PersonActive}))
	verified, decided := at(3), at(2)
	must(t, db.UpsertAccount(ctx, tenure.Account{EmployeeID: "E3", App: "aws", AccountID: "u-3", Status: tenure.AccessActive,
		Entitlements: []string{"admin", "dev"}, VerifiedAt: &verified}))
	must(t, db.UpsertGrant(ctx, tenure.GrantRecord{EmployeeID: "E3", App: "aws", Entitlement: "dev", Status: tenure.AccessActive}))
	must(t, db.UpsertGrant(ctx, tenure.GrantRecord{EmployeeID: "E3", App: "aws", Entitlement: "admin", Status: tenure.AccessActive,
		Rule: "sre-admin", ApprovalID: "apr_1"}))
	must(t, db.CreateApproval(ctx, tenure.Approval{ID: "apr_1", EmployeeID: "E3", App: "aws", Entitlement: "admin",
		Approver: tenure.ApproverManager, ApproverID: "M1", RequestedAt: at(1)}))
	must(t, db.DecideApproval(ctx, "apr_1", tenure.ApprovalApproved, "M1", "on call", decided))

	r := evidence.Review{Store: db, Rules: func(tenure.Person) []tenure.Grant {
		return []tenure.Grant{{App: "aws", Rule: "engineers"}, {App: "aws", Entitlement: "dev", Rule: "engineers"}}
	}}
	var lines []evidence.ReviewLine
	must(t, r.Each(ctx, "", func(l evidence.ReviewLine) error { lines = append(lines, l); return nil }))
	if len(lines) != 3 {
		t.Fatalf("lines = %+v", lines)
	}
	acct, admin, dev := lines[0], lines[1], lines[2]
	if acct.Entitlement != "" || acct.Rule != "engineers" || acct.AccountStatus != tenure.AccessActive || acct.Name != "Ada Lovelace" ||
		acct.VerifiedAt == nil || acct.ApprovalID != "" {
		t.Fatalf("account line = %+v", acct)
	}
	if admin.Entitlement != "admin" || admin.Rule != "sre-admin" || admin.ApprovalID != "apr_1" || admin.DecidedBy != "M1" ||
		admin.Approver != tenure.ApproverManager || admin.ApproverID != "M1" || admin.ApprovalStatus != tenure.ApprovalApproved ||
		admin.DecidedAt == nil || !admin.DecidedAt.Equal(decided) || admin.EntitlementStatus != tenure.AccessActive {
		t.Fatalf("admin line = %+v", admin)
	}
	if dev.Rule != "engineers" || dev.ApprovalID != "" || dev.Department != "Engineering" || dev.Title != "SRE" {
		t.Fatalf("dev line = %+v", dev)
	}
	want := []string{"E3", "Ada Lovelace", "e3@example.com", "Engineering", "SRE", "active", "aws", "u-3", "admin", "active", "active",
		"2026-03-01T09:03:00Z", "sre-admin", "apr_1", "approved", "manager", "M1", "M1", "2026-03-01T09:02:00Z"}
	if got := admin.Cells(); !slices.Equal(got, want) || len(got) != len(evidence.ReviewColumns) {
		t.Fatalf("cells = %q\nwant %q", got, want)
	}
}
