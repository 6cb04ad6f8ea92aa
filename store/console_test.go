package store_test

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/store"
	"github.com/tenure-io/tenure/store/storetest"
)

func TestSearchEmployeesFilters(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		for _, e := range []tenure.Employee{
			{Person: tenure.Person{ID: "e1", Email: "ada@example.com", GivenName: "Ada", FamilyName: "Lovelace", Department: "Engineering", ManagerID: "m1"}, Status: tenure.PersonActive},
			{Person: tenure.Person{ID: "e2", Email: "grace@example.com", GivenName: "Grace", FamilyName: "Hopper", Department: "Engineering", ManagerID: "m2"}, Status: tenure.PersonLocked},
			{Person: tenure.Person{ID: "e3", Email: "joan@example.com", GivenName: "Joan", FamilyName: "Clarke", Department: "Sales", ManagerID: "m1"}, Status: tenure.PersonActive},
		} {
			must(t, db.UpsertEmployee(ctx, e))
		}
		must(t, db.UpsertAccount(ctx, tenure.Account{EmployeeID: "e1", App: "github", Status: tenure.AccessActive}))
		must(t, db.UpsertAccount(ctx, tenure.Account{EmployeeID: "e2", App: "github", Status: tenure.AccessDeleted}))
		must(t, db.UpsertAccount(ctx, tenure.Account{EmployeeID: "e3", App: "salesforce", Status: tenure.AccessDisabled}))

		ids := func(f tenure.EmployeeFilter, dept, app, mgr string) []string {
			t.Helper()
			list, total, err := db.SearchEmployees(ctx, f, dept, app, mgr)
			must(t, err)
			out := []string{}
			for _, e := range list {
				out = append(out, e.ID)
			}
			if total != len(out) {
				t.Fatalf("total = %d, rows = %v", total, out)
			}
			return out
		}
		for _, c := range []struct {
			name           string
			f              tenure.EmployeeFilter
			dept, app, mgr string
			want           []string
		}{
			{"everyone, by family name", tenure.EmployeeFilter{}, "", "", "", []string{"e3", "e2", "e1"}},
			{"department", tenure.EmployeeFilter{}, "Engineering", "", "", []string{"e2", "e1"}},
			{"department and status", tenure.EmployeeFilter{Status: tenure.PersonActive}, "Engineering", "", "", []string{"e1"}},
			{"app, ignoring deleted accounts", tenure.EmployeeFilter{}, "", "github", "", []string{"e1"}},
			{"app with a disabled account", tenure.EmployeeFilter{}, "", "salesforce", "", []string{"e3"}},
			{"a manager's reports", tenure.EmployeeFilter{}, "", "", "m1", []string{"e3", "e1"}},
			{"search and manager", tenure.EmployeeFilter{Q: "ADA"}, "", "", "m1", []string{"e1"}},
			{"no match", tenure.EmployeeFilter{}, "Legal", "", "", []string{}},
		} {
			if got := ids(c.f, c.dept, c.app, c.mgr); !reflect.DeepEqual(got, c.want) {
				t.Errorf("%s: got %v, want %v", c.name, got, c.want)
			}
		}
		_, _, err := db.SearchEmployees(ctx, tenure.EmployeeFilter{Status: "asleep"}, "", "", "")
		wantCode(t, err, tenure.EINVALID)

		depts, err := db.Departments(ctx)
		must(t, err)
		if !reflect.DeepEqual(depts, []string{"Engineering", "Sales"}) {
			t.Errorf("departments = %v", depts)
		}
	})
}

func TestSearchEmployeesPagesThroughMany(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		const n = 1200
		for i := range n {
			must(t, db.UpsertEmployee(ctx, tenure.Employee{Person: person(fmt.Sprintf("p%05d", i), "Given", fmt.Sprintf("F%05d", i))}))
		}
		seen := map[string]bool{}
		for off := 0; ; off += store.MaxLimit {
			list, total, err := db.SearchEmployees(ctx, tenure.EmployeeFilter{Limit: store.MaxLimit, Offset: off}, "", "", "")
			must(t, err)
			if total != n {
				t.Fatalf("total = %d, want %d", total, n)
			}
			if len(list) == 0 {
				break
			}
			for _, e := range list {
				if seen[e.ID] {
					t.Fatalf("%s on two pages", e.ID)
				}
				seen[e.ID] = true
			}
		}
		if len(seen) != n {
			t.Fatalf("paged through %d people, want %d", len(seen), n)
		}
		// EachEmployee walks everyone too, in pages, skipping leavers.
		must(t, db.SetEmployeeStatus(ctx, "p00007", tenure.PersonTerminated))
		count := 0
		must(t, db.EachEmployee(ctx, func(e tenure.Employee) error {
			if e.ID == "p00007" {
				t.Errorf("EachEmployee gave a terminated person")
			}
			count++
			return nil
		}))
		if count != n-1 {
			t.Fatalf("EachEmployee gave %d people, want %d", count, n-1)
		}
		stop := errors.New("stop")
		if err := db.EachEmployee(ctx, func(tenure.Employee) error { return stop }); err != stop {
			t.Fatalf("EachEmployee returned %v, want fn's error", err)
		}
	})
}

func TestConsoleCounts(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		for _, a := range []tenure.Account{
			{EmployeeID: "e1", App: "github", Status: tenure.AccessActive},
			{EmployeeID: "e2", App: "github", Status: tenure.AccessActive},
			{EmployeeID: "e3", App: "github", Status: tenure.AccessFailed, Error: "400 bad userName"},
			{EmployeeID: "e1", App: "slack", Status: tenure.AccessDisabled},
		} {
			must(t, db.UpsertAccount(ctx, a))
		}
		counts, err := db.AccountCounts(ctx)
		must(t, err)
		want := map[string]map[tenure.AccessStatus]int{
			"github": {tenure.AccessActive: 2, tenure.AccessFailed: 1},
			"slack":  {tenure.AccessDisabled: 1},
		}
		if !reflect.DeepEqual(counts, want) {
			t.Errorf("account counts = %v, want %v", counts, want)
		}
		failed, err := db.ListFailedAccounts(ctx, 10)
		must(t, err)
		if len(failed) != 1 || failed[0].EmployeeID != "e3" || failed[0].Error != "400 bad userName" {
			t.Errorf("failed accounts = %+v", failed)
		}

		day1 := time.Date(2026, 5, 1, 23, 30, 0, 0, time.UTC)
		day2 := day1.Add(time.Hour) // the next UTC day
		closed := day2.Add(time.Second)
		for _, r := range []tenure.Run{
			{WorkflowID: "employee/e1/joiner/h1", EmployeeID: "e1", Type: "Joiner", Status: tenure.RunCompleted, StartedAt: day1, ClosedAt: &closed},
			{WorkflowID: "employee/e2/joiner/h2", EmployeeID: "e2", Type: "Joiner", Status: tenure.RunRunning, StartedAt: day1.Add(time.Minute)},
			{WorkflowID: "employee/e1/leaver/t1", EmployeeID: "e1", Type: "Leaver", Status: tenure.RunCompleted, StartedAt: day2, ClosedAt: &closed},
			{WorkflowID: "employee/e3/mover/m1", EmployeeID: "e3", Type: "Mover", Status: tenure.RunFailed, Error: "github failed", StartedAt: day2.Add(time.Minute)},
			{WorkflowID: "employee/e3/joiner/old", EmployeeID: "e3", Type: "Joiner", Status: tenure.RunCompleted, StartedAt: day1.AddDate(0, 0, -40)},
		} {
			must(t, db.UpsertRun(ctx, r))
		}
		byStatus, err := db.CountRuns(ctx)
		must(t, err)
		if !reflect.DeepEqual(byStatus, map[tenure.RunStatus]int{tenure.RunCompleted: 3, tenure.RunRunning: 1, tenure.RunFailed: 1}) {
			t.Errorf("runs by status = %v", byStatus)
		}
		running, err := db.ListRecentRuns(ctx, "", tenure.RunRunning, 10)
		must(t, err)
		if len(running) != 1 || running[0].EmployeeID != "e2" {
			t.Errorf("running = %+v", running)
		}
		leavers, err := db.ListRecentRuns(ctx, "Leaver", tenure.RunCompleted, 10)
		must(t, err)
		if len(leavers) != 1 || leavers[0].ClosedAt == nil || !leavers[0].ClosedAt.Equal(closed) {
			t.Errorf("leavers = %+v", leavers)
		}
		all, err := db.ListRecentRuns(ctx, "", "", 2)
		must(t, err)
		if len(all) != 2 || all[0].WorkflowID != "employee/e3/mover/m1" || all[1].WorkflowID != "employee/e1/leaver/t1" {
			t.Errorf("latest two runs = %+v", all)
		}
		perDay, err := db.RunsPerDay(ctx, day1.AddDate(0, 0, -30))
		must(t, err)
		wantDays := map[string]map[string]int{
			"2026-05-01": {"Joiner": 2},
			"2026-05-02": {"Leaver": 1, "Mover": 1},
		}
		if !reflect.DeepEqual(perDay, wantDays) {
			t.Errorf("runs per day = %v, want %v", perDay, wantDays)
		}

		must(t, db.CreateApproval(ctx, tenure.Approval{ID: "a1", EmployeeID: "e1", App: "aws"}))
		must(t, db.CreateApproval(ctx, tenure.Approval{ID: "a2", EmployeeID: "e2", App: "aws"}))
		must(t, db.DecideApproval(ctx, "a2", tenure.ApprovalDenied, "m1", "no", time.Time{}))
		if n, err := db.CountApprovals(ctx, tenure.ApprovalPending); err != nil || n != 1 {
			t.Errorf("pending approvals = %d, %v; want 1", n, err)
		}
	})
}

func TestListAuditBetween(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		base := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
		for i, action := range []string{"employee.locked", "account.disabled", "employee.locked", "employee.unlocked"} {
			must(t, db.AppendAudit(ctx, tenure.AuditRecord{
				Key: fmt.Sprintf("k%d", i), At: base.AddDate(0, 0, i), Actor: "admin", Action: action, EmployeeID: "e1",
			}))
		}
		keys := func(f tenure.AuditFilter, until time.Time) []string {
			t.Helper()
			list, err := db.ListAuditBetween(ctx, f, until)
			must(t, err)
			out := []string{}
			for _, r := range list {
				out = append(out, r.Key)
			}
			return out
		}
		if got := keys(tenure.AuditFilter{Since: base.AddDate(0, 0, 1)}, base.AddDate(0, 0, 3)); !reflect.DeepEqual(got, []string{"k2", "k1"}) {
			t.Errorf("days 2 and 3 = %v", got)
		}
		if got := keys(tenure.AuditFilter{Action: "employee.locked"}, time.Time{}); !reflect.DeepEqual(got, []string{"k2", "k0"}) {
			t.Errorf("locks = %v", got)
		}
		if got := keys(tenure.AuditFilter{EmployeeID: "e2"}, time.Time{}); len(got) != 0 {
			t.Errorf("someone else's = %v", got)
		}
		actions, err := db.AuditActions(ctx)
		must(t, err)
		if !reflect.DeepEqual(actions, []string{"account.disabled", "employee.locked", "employee.unlocked"}) {
			t.Errorf("actions = %v", actions)
		}
	})
}
