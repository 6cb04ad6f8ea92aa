package store_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/store"
	"github.com/tenure-io/tenure/store/storetest"
)

// TestGrantKeepsItsApprovalWhenItBecomesActive: the step that moves an approved
// entitlement to active writes its status alone; the approval behind it, which
// an access review shows, stays recorded. Before, that write blanked it.
func TestGrantKeepsItsApprovalWhenItBecomesActive(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		must(t, db.UpsertGrant(ctx, tenure.GrantRecord{EmployeeID: "e1", App: "aws", Entitlement: "admin",
			Status: tenure.AccessPending, Rule: "sre-admin", ApprovalID: "apr_1"}))
		// As SyncEntitlements writes it once the app shows the membership.
		must(t, db.UpsertGrant(ctx, tenure.GrantRecord{EmployeeID: "e1", App: "aws", Entitlement: "admin", Status: tenure.AccessActive}))
		grants, err := db.ListGrants(ctx, "e1")
		must(t, err)
		if len(grants) != 1 || grants[0].Status != tenure.AccessActive || grants[0].ApprovalID != "apr_1" || grants[0].Rule != "sre-admin" {
			t.Fatalf("grant = %+v, want active and still naming apr_1 and sre-admin", grants)
		}
		// A new approval replaces the old one.
		must(t, db.UpsertGrant(ctx, tenure.GrantRecord{EmployeeID: "e1", App: "aws", Entitlement: "admin",
			Status: tenure.AccessPendingApproval, Rule: "sre-admin-2", ApprovalID: "apr_2"}))
		grants, err = db.ListGrants(ctx, "e1")
		must(t, err)
		if grants[0].ApprovalID != "apr_2" || grants[0].Rule != "sre-admin-2" {
			t.Fatalf("grant = %+v, want apr_2", grants[0])
		}
	})
}

func TestAccountBeforeIsWrittenOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		verified := ts(1)
		first := tenure.AccountBefore{
			Key: "e1/term-1/github/DisableAccount", EmployeeID: "e1", App: "github", WorkflowID: "employee/e1/leaver/term-1",
			Operation: "DisableAccount", AccountID: "gh-1", UserName: "e1@example.com", Status: tenure.AccessActive,
			Entitlements: []string{"eng", "oncall"}, EntitlementsVerifiedAt: &verified, ReadAt: ts(2),
		}
		must(t, db.RecordAccountBefore(ctx, first))
		// A retry finds the account disabled already: what was there stays.
		retry := first
		retry.Status, retry.Entitlements, retry.ReadAt = tenure.AccessDisabled, nil, ts(9)
		must(t, db.RecordAccountBefore(ctx, retry))
		must(t, db.RecordAccountBefore(ctx, tenure.AccountBefore{Key: "e1/term-1/slack/DisableAccount", EmployeeID: "e1", App: "slack",
			Status: tenure.AccessPending, ReadAt: ts(3)}))
		must(t, db.RecordAccountBefore(ctx, tenure.AccountBefore{Key: "e2/x/slack/DisableAccount", EmployeeID: "e2", App: "slack"}))

		got, err := db.ListAccountsBefore(ctx, "e1")
		must(t, err)
		if len(got) != 2 || got[0].App != "github" || got[1].App != "slack" {
			t.Fatalf("records = %+v, want github then slack", got)
		}
		gh := got[0]
		if gh.Status != tenure.AccessActive || !slices.Equal(gh.Entitlements, []string{"eng", "oncall"}) || gh.UserName != "e1@example.com" ||
			gh.WorkflowID != first.WorkflowID || gh.Operation != "DisableAccount" || gh.AccountID != "gh-1" ||
			!gh.ReadAt.Equal(ts(2).Truncate(time.Microsecond)) || gh.EntitlementsVerifiedAt == nil || !gh.EntitlementsVerifiedAt.Equal(verified.Truncate(time.Microsecond)) {
			t.Fatalf("github before = %+v, want the first attempt's", gh)
		}
		if got[1].Entitlements == nil || len(got[1].Entitlements) != 0 || got[1].EntitlementsVerifiedAt != nil {
			t.Fatalf("slack before = %+v, want no entitlements, never verified", got[1])
		}
		wantCode(t, db.RecordAccountBefore(ctx, tenure.AccountBefore{EmployeeID: "e1", App: "x"}), tenure.EINVALID)
	})
}

// TestEachAccessPagesThroughEveryone: more accounts than a page, each person's
// accounts and entitlements in order, the approval behind a grant joined in,
// and the app filter.
func TestEachAccessPagesThroughEveryone(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		const people = store.MaxLimit/2 + 7 // two accounts each: more than one page
		for i := range people {
			id := fmt.Sprintf("e%04d", i)
			must(t, db.UpsertEmployee(ctx, tenure.Employee{Person: person(id, "Given", "Family"), Status: tenure.PersonActive}))
			for _, app := range []string{"slack", "github"} {
				must(t, db.UpsertAccount(ctx, tenure.Account{EmployeeID: id, App: app, AccountID: app + "-" + id, Status: tenure.AccessActive}))
			}
		}
		must(t, db.UpsertGrant(ctx, tenure.GrantRecord{EmployeeID: "e0003", App: "github", Entitlement: "eng", Status: tenure.AccessActive}))
		must(t, db.UpsertGrant(ctx, tenure.GrantRecord{EmployeeID: "e0003", App: "github", Entitlement: "admins", Status: tenure.AccessActive, Rule: "sre", ApprovalID: "apr_9"}))
		decided := ts(4)
		must(t, db.CreateApproval(ctx, tenure.Approval{ID: "apr_9", EmployeeID: "e0003", App: "github", Entitlement: "admins",
			Approver: tenure.ApproverManager, ApproverID: "m1", RequestedAt: ts(3)}))
		must(t, db.DecideApproval(ctx, "apr_9", tenure.ApprovalApproved, "m1", "", decided))

		var lines []string
		var admins tenure.AccessHeld
		err := db.EachAccess(ctx, "", func(h tenure.AccessHeld) error {
			lines = append(lines, h.Employee.ID+"/"+h.Account.App+"/"+h.Entitlement)
			if h.Entitlement == "admins" {
				admins = h
			}
			return nil
		})
		must(t, err)
		if len(lines) != 2*people+2 {
			t.Fatalf("%d lines, want %d", len(lines), 2*people+2)
		}
		if !slices.IsSorted(lines) || len(slices.Compact(slices.Clone(lines))) != len(lines) {
			t.Fatalf("lines are not in order, or repeat: %v", lines[:10])
		}
		if want := []string{"e0003/github/", "e0003/github/admins", "e0003/github/eng", "e0003/slack/"}; !slices.Equal(lines[6:10], want) {
			t.Fatalf("e0003's lines = %v, want %v", lines[6:10], want)
		}
		if admins.Approval == nil || admins.Approval.DecidedBy != "m1" || admins.Approval.DecidedAt == nil ||
			admins.Grant.Rule != "sre" || admins.Account.AccountID != "github-e0003" || admins.Employee.GivenName != "Given" {
			t.Fatalf("admins line = %+v", admins)
		}

		n := 0
		must(t, db.EachAccess(ctx, "slack", func(h tenure.AccessHeld) error {
			if h.Account.App != "slack" || h.Entitlement != "" {
				t.Fatalf("slack review has %+v", h)
			}
			n++
			return nil
		}))
		if n != people {
			t.Fatalf("slack review has %d lines, want %d", n, people)
		}
		stop := errors.New("stop")
		if err := db.EachAccess(ctx, "", func(tenure.AccessHeld) error { return stop }); !errors.Is(err, stop) {
			t.Fatalf("EachAccess = %v, want fn's error", err)
		}
	})
}
