package store_test

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/store"
	"github.com/tenure-io/tenure/store/storetest"
)

func TestReconciliations(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		r := tenure.Reconciliation{ID: "rec-1", Mode: tenure.ReconcileEnforce, Apps: []string{"github", "slack"},
			Status: tenure.ReconcileRunning, Actor: "admin", Trigger: "api", StartedAt: ts(1)}
		created, err := db.CreateReconciliation(ctx, r)
		must(t, err)
		if !created {
			t.Fatal("the first create did not insert")
		}
		// Creating it again (a retried Begin) changes nothing.
		again := r
		again.Actor = "someone else"
		created, err = db.CreateReconciliation(ctx, again)
		must(t, err)
		if created {
			t.Error("a second create inserted")
		}
		_, err = db.CreateReconciliation(ctx, tenure.Reconciliation{ID: "rec-x"})
		wantCode(t, err, tenure.EINVALID)

		must(t, db.RecordReconcileApp(ctx, tenure.ReconcileApp{ReconciliationID: "rec-1", App: "slack", Mode: r.Mode,
			Status: tenure.ReconcileRunning, StartedAt: ts(2)}))
		fin := ts(3)
		slack := tenure.ReconcileApp{ReconciliationID: "rec-1", App: "slack", Mode: r.Mode, Status: tenure.ReconcileCompleted,
			Counts: tenure.ReconcileCounts{Accounts: 10, Matched: 8, Orphan: 2}, StartedAt: ts(2), FinishedAt: &fin}
		must(t, db.RecordReconcileApp(ctx, slack))
		gh := tenure.ReconcileApp{ReconciliationID: "rec-1", App: "github", Mode: r.Mode, Status: tenure.ReconcileFailed,
			Error: "github: list: HTTP 500", StartedAt: ts(2), FinishedAt: &fin}
		must(t, db.RecordReconcileApp(ctx, gh))

		closed := ts(4)
		r.Status, r.Counts, r.Remediated, r.Failed, r.Error, r.ClosedAt = tenure.ReconcileFailed, slack.Counts, 2, 0, "github could not be read", &closed
		r.Guard = &tenure.GuardOutcome{Held: true, HoldID: "hold-1", Reason: "too many"}
		must(t, db.UpdateReconciliation(ctx, r))
		// A closed reconciliation is never reopened, and a late write is no error.
		late := r
		late.Status, late.ClosedAt = tenure.ReconcileRunning, nil
		must(t, db.UpdateReconciliation(ctx, late))
		wantCode(t, db.UpdateReconciliation(ctx, tenure.Reconciliation{ID: "nope", Status: tenure.ReconcileCompleted}), tenure.ENOTFOUND)

		got, err := db.GetReconciliation(ctx, "rec-1")
		must(t, err)
		want := r
		want.StartedAt, want.ClosedAt = ts(1).UTC().Truncate(time.Microsecond), ptrTime(ts(4).UTC().Truncate(time.Microsecond))
		slack.StartedAt, slack.FinishedAt = ts(2).UTC().Truncate(time.Microsecond), ptrTime(ts(3).UTC().Truncate(time.Microsecond))
		gh.StartedAt, gh.FinishedAt = slack.StartedAt, slack.FinishedAt
		want.ByApp = []tenure.ReconcileApp{gh, slack}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("got  %+v\nwant %+v", got, want)
		}
		_, err = db.GetReconciliation(ctx, "nope")
		wantCode(t, err, tenure.ENOTFOUND)

		// A later run of slack alone is the latest for slack, not for github.
		_, err = db.CreateReconciliation(ctx, tenure.Reconciliation{ID: "rec-2", Mode: tenure.ReconcileReport, Apps: []string{"slack"},
			Status: tenure.ReconcileRunning, StartedAt: ts(5)})
		must(t, err)
		fin2 := ts(6)
		must(t, db.RecordReconcileApp(ctx, tenure.ReconcileApp{ReconciliationID: "rec-2", App: "slack", Mode: tenure.ReconcileReport,
			Status: tenure.ReconcileCompleted, Counts: tenure.ReconcileCounts{Accounts: 11}, StartedAt: ts(5), FinishedAt: &fin2}))
		// One still running is nobody's latest.
		must(t, db.RecordReconcileApp(ctx, tenure.ReconcileApp{ReconciliationID: "rec-3", App: "github", Status: tenure.ReconcileRunning, StartedAt: ts(7)}))
		latest, err := db.LatestReconcileApps(ctx)
		must(t, err)
		if len(latest) != 2 || latest[0].App != "github" || latest[0].ReconciliationID != "rec-1" ||
			latest[1].App != "slack" || latest[1].ReconciliationID != "rec-2" || latest[1].Counts.Accounts != 11 {
			t.Errorf("latest = %+v", latest)
		}

		// A run that never started goes; one that read an app stays.
		_, err = db.CreateReconciliation(ctx, tenure.Reconciliation{ID: "rec-refused", Mode: tenure.ReconcileReport, Status: tenure.ReconcileRunning, StartedAt: ts(8)})
		must(t, err)
		must(t, db.DeleteReconciliation(ctx, "rec-refused"))
		_, err = db.GetReconciliation(ctx, "rec-refused")
		wantCode(t, err, tenure.ENOTFOUND)
		must(t, db.DeleteReconciliation(ctx, "rec-1"))
		_, err = db.GetReconciliation(ctx, "rec-1")
		must(t, err)

		list, err := db.ListReconciliations(ctx, tenure.ReconcileFilter{})
		must(t, err)
		if len(list) != 2 || list[0].ID != "rec-2" || list[1].ID != "rec-1" {
			t.Errorf("list = %+v, want rec-2 then rec-1", list)
		}
		list, err = db.ListReconciliations(ctx, tenure.ReconcileFilter{App: "github"})
		must(t, err)
		if len(list) != 1 || list[0].ID != "rec-1" {
			t.Errorf("list of github = %+v, want rec-1", list)
		}
		list, err = db.ListReconciliations(ctx, tenure.ReconcileFilter{App: "git"})
		must(t, err)
		if len(list) != 0 {
			t.Errorf("list of git = %+v, want none: a name is matched whole", list)
		}
	})
}

func ptrTime(t time.Time) *time.Time { return &t }

func TestFindings(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		var fs []tenure.Finding
		for i := range 1200 {
			kind, app := tenure.FindingMissing, "github"
			if i%3 == 0 {
				kind, app = tenure.FindingOrphan, "slack"
			}
			fs = append(fs, tenure.Finding{ID: fmt.Sprintf("fnd_%04d", i), ReconciliationID: "rec-1", App: app,
				AccountID: fmt.Sprint("acct-", i), UserName: fmt.Sprintf("u%d@example.com", i), EmployeeID: fmt.Sprint("E", i),
				Kind: kind, Detail: "d", Remediation: tenure.RemediateResync, Status: tenure.FindingOpen})
		}
		fs[1].Remediation = tenure.RemediateReport
		must(t, db.AddFindings(ctx, fs))
		must(t, db.AddFindings(ctx, fs[:10])) // a retried write
		must(t, db.AddFindings(ctx, []tenure.Finding{{ID: "fnd_other", ReconciliationID: "rec-2", App: "github", Kind: tenure.FindingDrift}}))
		wantCode(t, db.AddFindings(ctx, []tenure.Finding{{ID: "x"}}), tenure.EINVALID)

		page, total, err := db.ListFindings(ctx, tenure.FindingFilter{ReconciliationID: "rec-1", Limit: 500})
		must(t, err)
		if total != 1200 || len(page) != 500 || page[0].ID != "fnd_0000" || !reflect.DeepEqual(page[0], fs[0]) {
			t.Fatalf("first page: %d of %d, first %+v", len(page), total, page[0])
		}
		// Paging by key carries on after the last one seen.
		next, total, err := db.ListFindings(ctx, tenure.FindingFilter{ReconciliationID: "rec-1", AfterID: page[499].ID, Limit: 500})
		must(t, err)
		if total != 1200 || len(next) != 500 || next[0].ID != "fnd_0500" {
			t.Errorf("the page after %s starts at %s (%d of %d)", page[499].ID, next[0].ID, len(next), total)
		}
		orphans, total, err := db.ListFindings(ctx, tenure.FindingFilter{ReconciliationID: "rec-1", App: "slack", Kind: tenure.FindingOrphan})
		must(t, err)
		if total != 400 || len(orphans) != store.DefaultLimit {
			t.Errorf("slack orphans: %d of %d", len(orphans), total)
		}
		_, total, err = db.ListFindings(ctx, tenure.FindingFilter{ReconciliationID: "rec-1", Kind: tenure.FindingMissing, ActsOnly: true})
		must(t, err)
		if total != 799 {
			t.Errorf("missing that act: %d, want 799", total)
		}
		_, _, err = db.ListFindings(ctx, tenure.FindingFilter{ReconciliationID: "rec-1", Limit: -1})
		wantCode(t, err, tenure.EINVALID)

		f := fs[2]
		at := ts(9)
		f.Status, f.Error, f.RemediatedBy, f.RemediatedAt, f.RetryKey = tenure.FindingResyncing, "", "admin", &at, "rec-1-fnd_0002"
		f.Detail = "not written by a status update"
		must(t, db.SetFindingStatus(ctx, f))
		got, err := db.GetFinding(ctx, f.ID)
		must(t, err)
		if got.Status != tenure.FindingResyncing || got.RetryKey != "rec-1-fnd_0002" || got.RemediatedBy != "admin" ||
			!got.RemediatedAt.Equal(at.Truncate(time.Microsecond)) || got.Detail != "d" {
			t.Errorf("after the status update: %+v", got)
		}
		_, total, err = db.ListFindings(ctx, tenure.FindingFilter{ReconciliationID: "rec-1", Status: tenure.FindingResyncing})
		must(t, err)
		if total != 1 {
			t.Errorf("%d resyncing, want 1", total)
		}
		wantCode(t, db.SetFindingStatus(ctx, tenure.Finding{ID: "nope"}), tenure.ENOTFOUND)
		_, err = db.GetFinding(ctx, "nope")
		wantCode(t, err, tenure.ENOTFOUND)

		// A scan that starts again drops what its app's earlier attempt wrote.
		must(t, db.ReplaceFindings(ctx, "rec-1", "slack"))
		_, total, err = db.ListFindings(ctx, tenure.FindingFilter{ReconciliationID: "rec-1"})
		must(t, err)
		if total != 800 {
			t.Errorf("%d findings after replacing slack's, want 800", total)
		}
		_, total, err = db.ListFindings(ctx, tenure.FindingFilter{ReconciliationID: "rec-2"})
		must(t, err)
		if total != 1 {
			t.Errorf("another run's findings: %d, want 1", total)
		}
	})
}

func TestPeopleIndex(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		for i, st := range []tenure.PersonStatus{tenure.PersonActive, tenure.PersonTerminated, tenure.PersonPending, tenure.PersonLocked} {
			p := person(fmt.Sprint("E", i), "Given", "Family")
			p.Email = fmt.Sprintf("Person.%d@Example.com", i)
			must(t, db.UpsertEmployee(ctx, tenure.Employee{Person: p, Status: st}))
		}
		must(t, db.UpsertGrant(ctx, tenure.GrantRecord{EmployeeID: "E1", App: "aws", Entitlement: "admin", Status: tenure.AccessActive}))

		byID, err := db.PeopleByID(ctx, []string{"E0", "E3", "E9", ""})
		must(t, err)
		if ids(byID) != "E0,E3" {
			t.Errorf("by ID: %s", ids(byID))
		}
		byEmail, err := db.EmployeesByEmail(ctx, []string{"person.1@example.com", "PERSON.2@EXAMPLE.COM", "nobody@example.com"})
		must(t, err)
		if ids(byEmail) != "E1,E2" {
			t.Errorf("by email: %s", ids(byEmail))
		}
		after, err := db.EmployeesAfter(ctx, "E0", 10, tenure.PersonActive, tenure.PersonPending)
		must(t, err)
		if ids(after) != "E2" {
			t.Errorf("after E0, active or pending: %s", ids(after))
		}
		all, err := db.EmployeesAfter(ctx, "", 2)
		must(t, err)
		if ids(all) != "E0,E1" {
			t.Errorf("the first two: %s", ids(all))
		}
		must(t, db.UpsertGrant(ctx, tenure.GrantRecord{EmployeeID: "E1", App: "slack", Entitlement: "general", Status: tenure.AccessActive}))
		must(t, db.UpsertGrant(ctx, tenure.GrantRecord{EmployeeID: "E2", App: "aws", Entitlement: "admin", Status: tenure.AccessDeleted}))
		grants, err := db.GrantsOf(ctx, "aws", []string{"E0", "E1"})
		must(t, err)
		if len(grants) != 1 || grants[0].EmployeeID != "E1" || grants[0].App != "aws" || grants[0].Entitlement != "admin" {
			t.Errorf("grants in aws: %+v", grants)
		}
	})
}

func ids(es []tenure.Employee) string {
	var s []string
	for _, e := range es {
		s = append(s, e.ID)
	}
	slices.Sort(s)
	return strings.Join(s, ",")
}

func TestSeedEmployees(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		var es []tenure.Employee
		for i := range 2500 {
			es = append(es, tenure.Employee{Person: person(fmt.Sprintf("S%05d", i), "Seed", "Ed"), Status: tenure.PersonActive})
		}
		must(t, db.SeedEmployees(ctx, es))
		_, total, err := db.ListEmployees(ctx, tenure.EmployeeFilter{})
		must(t, err)
		if total != 2500 {
			t.Fatalf("%d people after seeding 2500", total)
		}
		got, err := db.GetEmployee(ctx, "S01234")
		must(t, err)
		if got.Status != tenure.PersonActive || got.Email != "S01234@example.com" {
			t.Errorf("a seeded person: %+v", got)
		}
		// One that exists fails the whole seed.
		err = db.SeedEmployees(ctx, []tenure.Employee{{Person: person("S99999", "New", "One")}, es[0]})
		if err == nil {
			t.Fatal("seeding someone who exists succeeded")
		}
		if _, err := db.GetEmployee(ctx, "S99999"); tenure.ErrorCode(err) != tenure.ENOTFOUND {
			t.Errorf("a failed seed wrote part of itself: %v", err)
		}
	})
}

// TestScanCheckpoints: a checkpoint and the findings up to it are written
// together or not at all; a scan that starts over drops both.
func TestScanCheckpoints(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		finding := func(id, app string) tenure.Finding {
			return tenure.Finding{ID: id, ReconciliationID: "rec-1", App: app, Kind: tenure.FindingOrphan,
				Remediation: tenure.RemediateReport, Status: tenure.FindingOpen}
		}
		first := tenure.ScanCheckpoint{ReconciliationID: "rec-1", App: "slack", Seq: 1, Phase: tenure.ScanListing, Cursor: "501",
			Counts: tenure.ReconcileCounts{Accounts: 500, Matched: 499, Orphan: 1}, Seen: []byte{1, 2, 3}}
		must(t, db.SaveCheckpoint(ctx, first, []tenure.Finding{finding("fnd_1", "slack")}))
		second := tenure.ScanCheckpoint{ReconciliationID: "rec-1", App: "slack", Seq: 2, Phase: tenure.ScanMissing,
			Counts: tenure.ReconcileCounts{Accounts: 700, Matched: 698, Orphan: 2}}
		must(t, db.SaveCheckpoint(ctx, second, []tenure.Finding{finding("fnd_2", "slack")}))
		must(t, db.SaveCheckpoint(ctx, tenure.ScanCheckpoint{ReconciliationID: "rec-1", App: "github", Seq: 1, Phase: tenure.ScanListing}, nil))

		// The same checkpoint again fails, and its findings are not written.
		err := db.SaveCheckpoint(ctx, second, []tenure.Finding{finding("fnd_3", "slack")})
		if err == nil {
			t.Error("a checkpoint saved twice")
		}
		if _, err := db.GetFinding(ctx, "fnd_3"); tenure.ErrorCode(err) != tenure.ENOTFOUND {
			t.Errorf("the findings of a checkpoint that failed were written: %v", err)
		}
		wantCode(t, db.SaveCheckpoint(ctx, tenure.ScanCheckpoint{ReconciliationID: "rec-1", App: "slack", Phase: tenure.ScanListing}, nil), tenure.EINVALID)
		wantCode(t, db.SaveCheckpoint(ctx, tenure.ScanCheckpoint{ReconciliationID: "rec-1", App: "slack", Seq: 3}, nil), tenure.EINVALID)

		got, err := db.Checkpoints(ctx, "rec-1", "slack")
		must(t, err)
		second.Seen = nil
		if len(got) != 2 || !reflect.DeepEqual(got[0], first) || got[1].Seq != 2 || got[1].Phase != tenure.ScanMissing ||
			got[1].Counts != second.Counts || len(got[1].Seen) != 0 {
			t.Errorf("checkpoints %+v, want %+v and %+v", got, first, second)
		}
		_, total, err := db.ListFindings(ctx, tenure.FindingFilter{ReconciliationID: "rec-1", App: "slack"})
		must(t, err)
		if total != 2 {
			t.Errorf("%d findings with the checkpoints, want 2", total)
		}

		// Starting over drops slack's findings and checkpoints, and only those.
		must(t, db.ReplaceFindings(ctx, "rec-1", "slack"))
		if got, _ := db.Checkpoints(ctx, "rec-1", "slack"); len(got) != 0 {
			t.Errorf("checkpoints after starting over: %+v", got)
		}
		if got, _ := db.Checkpoints(ctx, "rec-1", "github"); len(got) != 1 {
			t.Errorf("github's checkpoints after slack started over: %+v", got)
		}
		must(t, db.DropCheckpoints(ctx, "rec-1", "github"))
		if got, _ := db.Checkpoints(ctx, "rec-1", "github"); len(got) != 0 {
			t.Errorf("checkpoints after they were dropped: %+v", got)
		}
	})
}
