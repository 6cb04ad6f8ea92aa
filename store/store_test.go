package store_test

import (
	"context"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/store"
	"github.com/tenure-io/tenure/store/storetest"
)

var ctx = context.Background()

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := tenure.ErrorCode(err); got != code {
		t.Fatalf("error code = %q (%v), want %q", got, err, code)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// ts is a time with nanoseconds and a non-UTC zone, to show the store normalises both.
func ts(sec int) time.Time {
	return time.Date(2026, 3, 1, 9, 0, sec, 123456789, time.FixedZone("CET", 3600))
}

func person(id, given, family string) tenure.Person {
	return tenure.Person{ID: id, Email: id + "@example.com", GivenName: given, FamilyName: family}
}

func TestMigrateTwiceKeepsData(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		must(t, db.UpsertEmployee(ctx, tenure.Employee{Person: person("e1", "Ada", "Lovelace")}))
		must(t, db.Migrate(ctx))
		must(t, db.Migrate(ctx))
		e, err := db.GetEmployee(ctx, "e1")
		must(t, err)
		if e.GivenName != "Ada" {
			t.Fatalf("after re-migrating, employee = %+v", e)
		}
	})
}

func TestEmployeeRoundTripAndIdempotence(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		in := tenure.Employee{
			Person: tenure.Person{
				ID: "e1", Email: "ada@example.com", GivenName: "Ada", FamilyName: "Lovelace",
				ManagerID: "m1", Department: "Engineering", Title: "Analyst", Location: "London",
				EmploymentType: "employee", StartDate: "2026-04-01", EndDate: "2027-03-31",
				Attributes: map[string]string{"cost_center": "42", "team": "engines"},
			},
			Status:    tenure.PersonActive,
			CreatedAt: ts(1),
		}
		must(t, db.UpsertEmployee(ctx, in))
		must(t, db.UpsertEmployee(ctx, in))
		got, err := db.GetEmployee(ctx, "e1")
		must(t, err)
		if !reflect.DeepEqual(got.Person, in.Person) || got.Status != tenure.PersonActive {
			t.Fatalf("got %+v\nwant %+v", got, in)
		}
		if !got.CreatedAt.Equal(ts(1).Truncate(time.Microsecond)) || got.CreatedAt.Location() != time.UTC {
			t.Fatalf("created_at = %v, want %v in UTC", got.CreatedAt, ts(1))
		}
		if got.UpdatedAt.Location() != time.UTC || got.UpdatedAt.Before(got.CreatedAt) {
			t.Fatalf("updated_at = %v", got.UpdatedAt)
		}
		_, total, err := db.ListEmployees(ctx, tenure.EmployeeFilter{})
		must(t, err)
		if total != 1 {
			t.Fatalf("two upserts left %d rows, want 1", total)
		}

		// A later write changes the record, keeps created_at, and (with no status)
		// keeps the status: an HR update must not undo a lock.
		must(t, db.SetEmployeeStatus(ctx, "e1", tenure.PersonLocked))
		upd := in
		upd.Title = "Chief Analyst"
		upd.Attributes = nil
		upd.Status = ""
		upd.CreatedAt = time.Time{}
		must(t, db.UpsertEmployee(ctx, upd))
		got, err = db.GetEmployee(ctx, "e1")
		must(t, err)
		if got.Title != "Chief Analyst" || got.Attributes != nil || got.Status != tenure.PersonLocked {
			t.Fatalf("after update: %+v", got)
		}
		if !got.CreatedAt.Equal(ts(1).Truncate(time.Microsecond)) {
			t.Fatalf("created_at moved to %v", got.CreatedAt)
		}

		// A new person without a status starts pending.
		must(t, db.UpsertEmployee(ctx, tenure.Employee{Person: person("e2", "Grace", "Hopper")}))
		got, err = db.GetEmployee(ctx, "e2")
		must(t, err)
		if got.Status != tenure.PersonPending {
			t.Fatalf("new person status = %q, want pending", got.Status)
		}
	})
}

func TestNotFoundAndInvalid(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		_, err := db.GetEmployee(ctx, "nobody")
		wantCode(t, err, tenure.ENOTFOUND)
		wantCode(t, db.SetEmployeeStatus(ctx, "nobody", tenure.PersonLocked), tenure.ENOTFOUND)
		_, err = db.GetEvent(ctx, "nothing")
		wantCode(t, err, tenure.ENOTFOUND)
		wantCode(t, db.MarkEventDispatched(ctx, "nothing"), tenure.ENOTFOUND)
		_, err = db.GetApproval(ctx, "nothing")
		wantCode(t, err, tenure.ENOTFOUND)
		wantCode(t, db.DecideApproval(ctx, "nothing", tenure.ApprovalApproved, "m1", "", time.Time{}), tenure.ENOTFOUND)

		wantCode(t, db.UpsertEmployee(ctx, tenure.Employee{}), tenure.EINVALID)
		wantCode(t, db.UpsertEmployee(ctx, tenure.Employee{Person: person("e1", "A", "B"), Status: "asleep"}), tenure.EINVALID)
		wantCode(t, db.UpsertAccount(ctx, tenure.Account{EmployeeID: "e1"}), tenure.EINVALID)
		wantCode(t, db.AppendAudit(ctx, tenure.AuditRecord{Action: "x"}), tenure.EINVALID)
		_, _, err = db.CreateEvent(ctx, tenure.EventRecord{EmployeeID: "e1"})
		wantCode(t, err, tenure.EINVALID)
		_, _, err = db.ListEmployees(ctx, tenure.EmployeeFilter{Limit: -1})
		wantCode(t, err, tenure.EINVALID)
		// Nothing invalid was written.
		_, total, err := db.ListEmployees(ctx, tenure.EmployeeFilter{})
		must(t, err)
		if total != 0 {
			t.Fatalf("invalid writes left %d people", total)
		}
	})
}

func TestAccountsAndGrants(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		verified := ts(5)
		a := tenure.Account{
			EmployeeID: "e1", App: "github", AccountID: "gh-1", Status: tenure.AccessActive,
			Entitlements: []string{"eng", "admins"}, VerifiedAt: &verified, UpdatedAt: ts(6),
		}
		must(t, db.UpsertAccount(ctx, a))
		must(t, db.UpsertAccount(ctx, a))
		must(t, db.UpsertAccount(ctx, tenure.Account{EmployeeID: "e1", App: "aws", Status: tenure.AccessPending}))
		must(t, db.UpsertAccount(ctx, tenure.Account{EmployeeID: "e2", App: "github", Status: tenure.AccessActive}))

		got, err := db.ListAccounts(ctx, "e1")
		must(t, err)
		if len(got) != 2 || got[0].App != "aws" || got[1].App != "github" {
			t.Fatalf("accounts = %+v, want aws then github", got)
		}
		gh := got[1]
		want := a
		want.VerifiedAt = ptr(verified.UTC().Truncate(time.Microsecond))
		want.UpdatedAt = ts(6).UTC().Truncate(time.Microsecond)
		if !reflect.DeepEqual(gh, want) {
			t.Fatalf("github account = %+v\nwant %+v", gh, want)
		}
		if got[0].Entitlements == nil || len(got[0].Entitlements) != 0 || got[0].VerifiedAt != nil {
			t.Fatalf("aws account = %+v, want empty non-nil entitlements and no verified_at", got[0])
		}

		// The leaver's disable replaces status, entitlements and error in place.
		must(t, db.UpsertAccount(ctx, tenure.Account{
			EmployeeID: "e1", App: "github", AccountID: "gh-1", Status: tenure.AccessFailed, Error: "403 from GitHub",
		}))
		got, err = db.ListAccounts(ctx, "e1")
		must(t, err)
		if got[1].Status != tenure.AccessFailed || got[1].Error != "403 from GitHub" || len(got[1].Entitlements) != 0 || got[1].VerifiedAt != nil {
			t.Fatalf("after update: %+v", got[1])
		}
		none, err := db.ListAccounts(ctx, "nobody")
		must(t, err)
		if none == nil || len(none) != 0 {
			t.Fatalf("accounts of nobody = %#v, want empty list", none)
		}

		g := tenure.GrantRecord{EmployeeID: "e1", App: "github", Entitlement: "admins", Status: tenure.AccessPendingApproval, Rule: "eng-admins", ApprovalID: "ap1", UpdatedAt: ts(7)}
		must(t, db.UpsertGrant(ctx, g))
		must(t, db.UpsertGrant(ctx, g))
		must(t, db.UpsertGrant(ctx, tenure.GrantRecord{EmployeeID: "e1", App: "github", Status: tenure.AccessActive, Rule: "birthright"}))
		g.Status = tenure.AccessActive
		must(t, db.UpsertGrant(ctx, g))
		grants, err := db.ListGrants(ctx, "e1")
		must(t, err)
		if len(grants) != 2 || grants[0].Entitlement != "" || grants[1].Entitlement != "admins" {
			t.Fatalf("grants = %+v", grants)
		}
		if grants[1].Status != tenure.AccessActive || grants[1].ApprovalID != "ap1" || grants[1].Rule != "eng-admins" {
			t.Fatalf("admins grant = %+v", grants[1])
		}
	})
}

func ptr[T any](v T) *T { return &v }

func TestApps(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		must(t, db.UpsertApp(ctx, tenure.App{Name: "slack", Connector: "scim", BaseURL: "http://x/scim/v2"}))
		checked := ts(3)
		must(t, db.UpsertApp(ctx, tenure.App{Name: "github", Connector: "scim", Health: tenure.HealthFailing, LastError: "timeout", CheckedAt: &checked}))
		must(t, db.UpsertApp(ctx, tenure.App{Name: "github", Connector: "scim", Health: tenure.HealthOK, CheckedAt: &checked}))
		apps, err := db.ListApps(ctx)
		must(t, err)
		if len(apps) != 2 || apps[0].Name != "github" || apps[1].Name != "slack" {
			t.Fatalf("apps = %+v", apps)
		}
		if apps[0].Health != tenure.HealthOK || apps[0].LastError != "" || !apps[0].CheckedAt.Equal(checked.Truncate(time.Microsecond)) {
			t.Fatalf("github = %+v", apps[0])
		}
		if apps[1].Health != tenure.HealthUnknown || apps[1].BaseURL != "http://x/scim/v2" {
			t.Fatalf("slack = %+v", apps[1])
		}
	})
}

func TestEvents(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		first := tenure.EventRecord{
			ID: "ev1", EmployeeID: "e1", Type: tenure.EventHire, WorkflowID: "employee/e1",
			BodyHash: "h1", Body: []byte(`{"type":"hire"}`), ReceivedAt: ts(1),
		}
		rec, created, err := db.CreateEvent(ctx, first)
		must(t, err)
		if !created || rec.Status != tenure.EventReceived || !rec.ReceivedAt.Equal(ts(1).Truncate(time.Microsecond)) {
			t.Fatalf("first create: created=%v rec=%+v", created, rec)
		}
		second := first
		second.BodyHash, second.Body, second.Type = "h2", []byte(`{"type":"terminate"}`), tenure.EventTerminate
		rec, created, err = db.CreateEvent(ctx, second)
		must(t, err)
		if created || rec.BodyHash != "h1" || string(rec.Body) != `{"type":"hire"}` || rec.Type != tenure.EventHire {
			t.Fatalf("duplicate create: created=%v rec=%+v, want the first", created, rec)
		}

		must(t, db.MarkEventDispatched(ctx, "ev1"))
		must(t, db.MarkEventDispatched(ctx, "ev1"))
		got, err := db.GetEvent(ctx, "ev1")
		must(t, err)
		if got.Status != tenure.EventDispatched {
			t.Fatalf("status = %q", got.Status)
		}

		_, _, err = db.CreateEvent(ctx, tenure.EventRecord{ID: "ev0", EmployeeID: "e1", Type: tenure.EventUpdate, ReceivedAt: ts(0)})
		must(t, err)
		_, _, err = db.CreateEvent(ctx, tenure.EventRecord{ID: "ev9", EmployeeID: "e2", Type: tenure.EventHire})
		must(t, err)
		list, err := db.ListEvents(ctx, "e1")
		must(t, err)
		if len(list) != 2 || list[0].ID != "ev0" || list[1].ID != "ev1" {
			t.Fatalf("events of e1 = %+v, want ev0 then ev1", list)
		}
	})
}

func TestCreateEventConcurrentSameID(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		const n = 20
		type result struct {
			rec     tenure.EventRecord
			created bool
			err     error
		}
		results := make([]result, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				rec, created, err := db.CreateEvent(ctx, tenure.EventRecord{
					ID: "same", EmployeeID: "e1", Type: tenure.EventHire, BodyHash: fmt.Sprint(i),
				})
				results[i] = result{rec, created, err}
			})
		}
		close(start)
		wg.Wait()
		createdBy := -1
		for i, r := range results {
			if r.err != nil {
				t.Fatalf("goroutine %d: %v", i, r.err)
			}
			if r.created {
				if createdBy >= 0 {
					t.Fatalf("goroutines %d and %d both created the event", createdBy, i)
				}
				createdBy = i
			}
		}
		if createdBy < 0 {
			t.Fatal("no goroutine created the event")
		}
		winner := fmt.Sprint(createdBy)
		for i, r := range results {
			if r.rec.BodyHash != winner {
				t.Fatalf("goroutine %d saw body hash %q, want the creator's %q", i, r.rec.BodyHash, winner)
			}
		}
		list, err := db.ListEvents(ctx, "e1")
		must(t, err)
		if len(list) != 1 {
			t.Fatalf("%d events stored, want 1", len(list))
		}
	})
}

func TestApprovals(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := tenure.Approval{
			ID: "ap1", EmployeeID: "e1", WorkflowID: "employee/e1", App: "aws", Entitlement: "admin",
			Rule: "r1", Approver: tenure.ApproverManager, ApproverID: "m1", RequestedAt: ts(1),
		}
		must(t, db.CreateApproval(ctx, a))
		got, err := db.GetApproval(ctx, "ap1")
		must(t, err)
		want := a
		want.Status = tenure.ApprovalPending
		want.RequestedAt = ts(1).UTC().Truncate(time.Microsecond)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("got %+v\nwant %+v", got, want)
		}

		decidedAt := ts(30)
		must(t, db.DecideApproval(ctx, "ap1", tenure.ApprovalApproved, "m1", "ok", decidedAt))
		// Same decision again (a retried Slack click): fine, and changes nothing.
		must(t, db.DecideApproval(ctx, "ap1", tenure.ApprovalApproved, "m2", "again", ts(40)))
		// Another outcome: a conflict.
		wantCode(t, db.DecideApproval(ctx, "ap1", tenure.ApprovalDenied, "m1", "", ts(50)), tenure.ECONFLICT)
		wantCode(t, db.DecideApproval(ctx, "ap1", tenure.ApprovalPending, "m1", "", ts(50)), tenure.EINVALID)
		// A retried create cannot reopen it.
		must(t, db.CreateApproval(ctx, a))

		got, err = db.GetApproval(ctx, "ap1")
		must(t, err)
		if got.Status != tenure.ApprovalApproved || got.DecidedBy != "m1" || got.Reason != "ok" ||
			got.DecidedAt == nil || !got.DecidedAt.Equal(decidedAt.Truncate(time.Microsecond)) {
			t.Fatalf("decided approval = %+v", got)
		}

		must(t, db.CreateApproval(ctx, tenure.Approval{ID: "ap2", EmployeeID: "e1", App: "db", Approver: tenure.ApproverIT, RequestedAt: ts(2)}))
		must(t, db.CreateApproval(ctx, tenure.Approval{ID: "ap3", EmployeeID: "e2", App: "db", Approver: tenure.ApproverIT, RequestedAt: ts(3)}))
		pending, err := db.ListApprovals(ctx, tenure.ApprovalFilter{Status: tenure.ApprovalPending})
		must(t, err)
		if ids := approvalIDs(pending); !slices.Equal(ids, []string{"ap3", "ap2"}) {
			t.Fatalf("pending = %v, want [ap3 ap2]", ids)
		}
		mine, err := db.ListApprovals(ctx, tenure.ApprovalFilter{EmployeeID: "e1"})
		must(t, err)
		if ids := approvalIDs(mine); !slices.Equal(ids, []string{"ap2", "ap1"}) {
			t.Fatalf("e1's = %v, want [ap2 ap1]", ids)
		}
		pageTwo, err := db.ListApprovals(ctx, tenure.ApprovalFilter{Limit: 1, Offset: 1})
		must(t, err)
		if ids := approvalIDs(pageTwo); !slices.Equal(ids, []string{"ap2"}) {
			t.Fatalf("page two = %v, want [ap2]", ids)
		}
	})
}

func approvalIDs(as []tenure.Approval) []string {
	var ids []string
	for _, a := range as {
		ids = append(ids, a.ID)
	}
	return ids
}

func TestDecideApprovalRace(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		must(t, db.CreateApproval(ctx, tenure.Approval{ID: "ap", EmployeeID: "e1", App: "aws", Approver: tenure.ApproverManager}))
		const n = 10
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			status := tenure.ApprovalApproved
			if i%2 == 1 {
				status = tenure.ApprovalDenied
			}
			wg.Go(func() {
				errs[i] = db.DecideApproval(ctx, "ap", status, fmt.Sprint("m", i), "", time.Time{})
			})
		}
		wg.Wait()
		got, err := db.GetApproval(ctx, "ap")
		must(t, err)
		for i, err := range errs {
			status := tenure.ApprovalApproved
			if i%2 == 1 {
				status = tenure.ApprovalDenied
			}
			if status == got.Status {
				must(t, err)
			} else {
				wantCode(t, err, tenure.ECONFLICT)
			}
		}
	})
}

func TestRuns(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		run := tenure.Run{WorkflowID: "employee/e1/joiner/ev1", EmployeeID: "e1", Type: "Joiner", EventID: "ev1", StartedAt: ts(1)}
		must(t, db.UpsertRun(ctx, run))
		must(t, db.UpsertRun(ctx, run))
		closed := ts(9)
		done := run
		done.Status, done.ClosedAt, done.StartedAt = tenure.RunCompleted, &closed, time.Time{}
		must(t, db.UpsertRun(ctx, done))
		// A retried "running" write arriving late must not reopen the run.
		must(t, db.UpsertRun(ctx, run))
		must(t, db.UpsertRun(ctx, tenure.Run{WorkflowID: "employee/e1/leaver/ev2", EmployeeID: "e1", Type: "Leaver", Status: tenure.RunFailed, Error: "github: 401", StartedAt: ts(20)}))

		runs, err := db.ListRuns(ctx, "e1")
		must(t, err)
		if len(runs) != 2 {
			t.Fatalf("runs = %+v", runs)
		}
		want := tenure.Run{
			WorkflowID: run.WorkflowID, EmployeeID: "e1", Type: "Joiner", EventID: "ev1", Status: tenure.RunCompleted,
			StartedAt: ts(1).UTC().Truncate(time.Microsecond), ClosedAt: ptr(closed.UTC().Truncate(time.Microsecond)),
		}
		if !reflect.DeepEqual(runs[0], want) {
			t.Fatalf("joiner run = %+v\nwant %+v", runs[0], want)
		}
		if runs[1].Status != tenure.RunFailed || runs[1].Error != "github: 401" {
			t.Fatalf("leaver run = %+v", runs[1])
		}
	})
}

func TestAudit(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		recs := []tenure.AuditRecord{
			{Key: "e1/ev1/github/disable", At: ts(3), Actor: "workflow", Action: "account.disabled", EmployeeID: "e1", App: "github"},
			{Key: "e1/ev1/aws/disable", At: ts(3), Actor: "workflow", Action: "account.disabled", EmployeeID: "e1", App: "aws"},
			{Key: "e1/ev0/hire", At: ts(1), Actor: "hr", Action: "event.received", EmployeeID: "e1"},
			{Key: "e2/ev2/hire", At: ts(2), Actor: "hr", Action: "event.received", EmployeeID: "e2"},
			{Key: "e1/ev1/verify", At: ts(4).Add(time.Millisecond), Actor: "workflow", Action: "access.verified", EmployeeID: "e1", Detail: "no active access"},
		}
		for _, r := range recs {
			must(t, db.AppendAudit(ctx, r))
		}
		// A retried step writes its record once, and the first one stands.
		dup := recs[0]
		dup.Detail = "retried"
		must(t, db.AppendAudit(ctx, dup))

		all, err := db.ListAudit(ctx, tenure.AuditFilter{})
		must(t, err)
		wantKeys := []string{"e1/ev1/verify", "e1/ev1/aws/disable", "e1/ev1/github/disable", "e2/ev2/hire", "e1/ev0/hire"}
		if keys := auditKeys(all); !slices.Equal(keys, wantKeys) {
			t.Fatalf("audit = %v\nwant %v", keys, wantKeys)
		}
		if all[2].Detail != "" || !all[0].At.Equal(ts(4).Add(time.Millisecond).Truncate(time.Microsecond)) || all[0].At.Location() != time.UTC {
			t.Fatalf("records = %+v", all)
		}

		cases := []struct {
			f    tenure.AuditFilter
			want []string
		}{
			{tenure.AuditFilter{EmployeeID: "e2"}, []string{"e2/ev2/hire"}},
			{tenure.AuditFilter{Action: "account.disabled"}, []string{"e1/ev1/aws/disable", "e1/ev1/github/disable"}},
			{tenure.AuditFilter{EmployeeID: "e1", Action: "event.received"}, []string{"e1/ev0/hire"}},
			// Since is inclusive, and compares instants whatever the zone.
			{tenure.AuditFilter{Since: ts(3).In(time.UTC)}, wantKeys[:3]},
			{tenure.AuditFilter{Since: ts(3).Add(time.Microsecond)}, wantKeys[:1]},
			{tenure.AuditFilter{Limit: 2, Offset: 1}, wantKeys[1:3]},
		}
		for _, c := range cases {
			got, err := db.ListAudit(ctx, c.f)
			must(t, err)
			if keys := auditKeys(got); !slices.Equal(keys, c.want) {
				t.Errorf("ListAudit(%+v) = %v, want %v", c.f, keys, c.want)
			}
		}
	})
}

func auditKeys(rs []tenure.AuditRecord) []string {
	var keys []string
	for _, r := range rs {
		keys = append(keys, r.Key)
	}
	return keys
}

var (
	families    = []string{"Lovelace", "Hopper", "Turing", "Öztürk", "Noether", "Shannon", "Liskov", "Knuth"}
	departments = []string{"Engineering", "Sales", "Finance", "People"}
	statuses    = []tenure.PersonStatus{tenure.PersonActive, tenure.PersonActive, tenure.PersonPending, tenure.PersonTerminated, tenure.PersonLocked}
)

// seedPeople writes n people with predictable names, departments and statuses.
func seedPeople(tb testing.TB, db *store.DB, n int) {
	tb.Helper()
	for i := range n {
		e := tenure.Employee{
			Person: tenure.Person{
				ID:         fmt.Sprintf("emp-%05d", i),
				Email:      fmt.Sprintf("person%d@example.com", i),
				GivenName:  fmt.Sprintf("Given%d", i%97),
				FamilyName: families[i%len(families)],
				Department: departments[i%len(departments)],
				Title:      "Engineer",
			},
			Status: statuses[i%len(statuses)],
		}
		if i == 7 {
			e.Title = "100%_Owner"
		}
		if err := db.UpsertEmployee(ctx, e); err != nil {
			tb.Fatal(err)
		}
	}
}

func TestListEmployees(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		const n = 1000
		seedPeople(t, db, n)

		// Paging through everything visits each person once, in name order.
		var seen []tenure.Employee
		for off := 0; ; off += 137 {
			page, total, err := db.ListEmployees(ctx, tenure.EmployeeFilter{Limit: 137, Offset: off})
			must(t, err)
			if total != n {
				t.Fatalf("total = %d, want %d", total, n)
			}
			if len(page) == 0 {
				break
			}
			seen = append(seen, page...)
		}
		if len(seen) != n {
			t.Fatalf("paged through %d people, want %d", len(seen), n)
		}
		ordered := slices.IsSortedFunc(seen, func(a, b tenure.Employee) int {
			for _, p := range [][2]string{{a.FamilyName, b.FamilyName}, {a.GivenName, b.GivenName}, {a.ID, b.ID}} {
				if p[0] != p[1] {
					if p[0] < p[1] {
						return -1
					}
					return 1
				}
			}
			return 0
		})
		if !ordered {
			t.Fatal("pages are not ordered by family name, given name, id")
		}
		ids := map[string]bool{}
		for _, e := range seen {
			ids[e.ID] = true
		}
		if len(ids) != n {
			t.Fatalf("%d distinct people across pages, want %d", len(ids), n)
		}

		count := func(pred func(i int) bool) int {
			c := 0
			for i := range n {
				if pred(i) {
					c++
				}
			}
			return c
		}
		cases := []struct {
			name string
			f    tenure.EmployeeFilter
			want int
		}{
			{"status", tenure.EmployeeFilter{Status: tenure.PersonTerminated}, count(func(i int) bool { return i%5 == 3 })},
			{"department any case", tenure.EmployeeFilter{Q: "ENGINeering"}, count(func(i int) bool { return i%4 == 0 })},
			{"non-ascii family name", tenure.EmployeeFilter{Q: "ÖZTÜRK"}, count(func(i int) bool { return i%8 == 3 })},
			{"email", tenure.EmployeeFilter{Q: "person999@"}, 1},
			{"id", tenure.EmployeeFilter{Q: "emp-0012"}, 10},
			{"full name", tenure.EmployeeFilter{Q: "given5 hopper"}, count(func(i int) bool { return i%97 == 5 && i%8 == 1 })},
			{"wildcards are literal", tenure.EmployeeFilter{Q: "100%_"}, 1},
			{"underscore is literal", tenure.EmployeeFilter{Q: "_"}, 1},
			{"search and status", tenure.EmployeeFilter{Q: "sales", Status: tenure.PersonActive}, count(func(i int) bool { return i%4 == 1 && i%5 < 2 })},
			{"no match", tenure.EmployeeFilter{Q: "zzz"}, 0},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				page, total, err := db.ListEmployees(ctx, c.f)
				must(t, err)
				if total != c.want {
					t.Fatalf("total = %d, want %d", total, c.want)
				}
				if len(page) != min(c.want, store.DefaultLimit) {
					t.Fatalf("page has %d, want %d", len(page), min(c.want, store.DefaultLimit))
				}
			})
		}

		big, total, err := db.ListEmployees(ctx, tenure.EmployeeFilter{Limit: 10_000})
		must(t, err)
		if len(big) != store.MaxLimit || total != n {
			t.Fatalf("limit 10000 gave %d of %d, want %d", len(big), total, store.MaxLimit)
		}
		past, total, err := db.ListEmployees(ctx, tenure.EmployeeFilter{Offset: 5000})
		must(t, err)
		if len(past) != 0 || past == nil || total != n {
			t.Fatalf("offset past the end gave %d (nil=%v) of %d", len(past), past == nil, total)
		}
	})
}

// TestConcurrentWriters has activities' writes and the console's reads run at once;
// on SQLite nothing may fail with SQLITE_BUSY.
func TestConcurrentWriters(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		const workers, each = 8, 40
		var wg sync.WaitGroup
		errs := make(chan error, workers*each*4)
		for w := range workers {
			wg.Go(func() {
				emp := fmt.Sprint("w", w)
				for i := range each {
					app := fmt.Sprint("app", i%5)
					errs <- db.UpsertAccount(ctx, tenure.Account{EmployeeID: emp, App: app, Status: tenure.AccessActive, Entitlements: []string{fmt.Sprint(i)}})
					errs <- db.AppendAudit(ctx, tenure.AuditRecord{Key: fmt.Sprint(emp, "/", i), Action: "account.created", EmployeeID: emp})
					_, _, err := db.CreateEvent(ctx, tenure.EventRecord{ID: fmt.Sprint("ev", i), EmployeeID: emp})
					errs <- err
					_, err = db.ListAccounts(ctx, emp)
					errs <- err
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			must(t, err)
		}
		for w := range workers {
			accts, err := db.ListAccounts(ctx, fmt.Sprint("w", w))
			must(t, err)
			if len(accts) != 5 {
				t.Fatalf("worker %d has %d accounts, want 5", w, len(accts))
			}
			audit, err := db.ListAudit(ctx, tenure.AuditFilter{EmployeeID: fmt.Sprint("w", w), Limit: 500})
			must(t, err)
			if len(audit) != each {
				t.Fatalf("worker %d has %d audit records, want %d", w, len(audit), each)
			}
		}
	})
}

func TestOpenDSN(t *testing.T) {
	_, err := store.Open(ctx, "mysql://root@localhost/tenure")
	wantCode(t, err, tenure.EINVALID)

	// A bare path ending in .db is SQLite, and the data survives a reopen.
	path := filepath.Join(t.TempDir(), "dev.db")
	db, err := store.Open(ctx, path)
	must(t, err)
	must(t, db.Migrate(ctx))
	must(t, db.UpsertApp(ctx, tenure.App{Name: "slack"}))
	must(t, db.Close())
	db, err = store.Open(ctx, "sqlite:"+path)
	must(t, err)
	defer db.Close()
	apps, err := db.ListApps(ctx)
	must(t, err)
	if len(apps) != 1 || db.Backend() != store.SQLite {
		t.Fatalf("after reopen: apps=%+v backend=%s", apps, db.Backend())
	}

	mem, err := store.Open(ctx, "sqlite::memory:")
	must(t, err)
	defer mem.Close()
	must(t, mem.Migrate(ctx))
	must(t, mem.UpsertApp(ctx, tenure.App{Name: "github"}))
	apps, err = mem.ListApps(ctx)
	must(t, err)
	if len(apps) != 1 {
		t.Fatalf("in-memory apps = %+v", apps)
	}
}

func TestPostgresBackend(t *testing.T) {
	db := storetest.Postgres(t)
	if db.Backend() != store.Postgres {
		t.Fatalf("backend = %s", db.Backend())
	}
	must(t, db.Ping(ctx))
}
