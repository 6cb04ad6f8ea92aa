package store_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/store"
	"github.com/tenure-io/tenure/store/storetest"
)

func TestPolicyVersionsAreImmutableAndTheLatestActivationIsInForce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		if _, err := db.ActivePolicyVersion(ctx); tenure.ErrorCode(err) != tenure.ENOTFOUND {
			t.Fatalf("active version before any deploy: %v, want not found", err)
		}
		v1, err := db.SavePolicyVersion(ctx, tenure.PolicyVersion{Version: "aaa", YAML: "version: 1\n", Author: "ada", CreatedAt: ts(1)})
		must(t, err)
		// Saving the same hash again keeps the first text and author.
		again, err := db.SavePolicyVersion(ctx, tenure.PolicyVersion{Version: "aaa", YAML: "changed", Author: "eve", CreatedAt: ts(2)})
		must(t, err)
		if again.YAML != "version: 1\n" || again.Author != "ada" || !again.CreatedAt.Equal(v1.CreatedAt) {
			t.Fatalf("saved again = %+v, want the first %+v", again, v1)
		}
		_, err = db.SavePolicyVersion(ctx, tenure.PolicyVersion{Version: "bbb", YAML: "version: 1 # b\n", Author: "grace"})
		must(t, err)
		if err := db.ActivatePolicyVersion(ctx, "k-missing", "zzz", "ada", ts(3)); tenure.ErrorCode(err) != tenure.ENOTFOUND {
			t.Fatalf("activating an unknown version: %v, want not found", err)
		}
		must(t, db.ActivatePolicyVersion(ctx, "k1", "aaa", "ada", ts(3)))
		must(t, db.ActivatePolicyVersion(ctx, "k2", "bbb", "grace", ts(4)))
		// A retried first activation does not bring the old version back.
		must(t, db.ActivatePolicyVersion(ctx, "k1", "aaa", "ada", ts(5)))
		active, err := db.ActivePolicyVersion(ctx)
		must(t, err)
		if active.Version != "bbb" || active.ActivatedBy != "grace" || active.ActivatedAt == nil || !active.ActivatedAt.Equal(ts(4).Truncate(time.Microsecond)) {
			t.Fatalf("active = %+v, want bbb activated by grace at %v", active, ts(4))
		}
		if h, err := db.ActiveVersion(ctx); err != nil || h != "bbb" {
			t.Fatalf("ActiveVersion = %q, %v", h, err)
		}
		old, err := db.GetPolicyVersion(ctx, "aaa")
		must(t, err)
		if old.ActivatedAt != nil {
			t.Fatalf("a version no longer in force shows activated_at %v", old.ActivatedAt)
		}
	})
}

func TestRolloutCountsItsPeopleAndApps(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		r := tenure.Rollout{ID: "r1", Version: "v", Status: tenure.RolloutRunning, Actor: "ada", Source: "api",
			ByApp: map[string]tenure.AppProgress{"slack": {Lose: 3}, "teams": {Gain: 3}}, CreatedAt: ts(1)}
		var items []tenure.RolloutItem
		for i := range 3 {
			items = append(items, tenure.RolloutItem{EmployeeID: fmt.Sprintf("E%d", i), Apps: []string{"slack", "teams"}})
		}
		must(t, db.CreateRollout(ctx, r, items))
		if err := db.CreateRollout(ctx, r, nil); tenure.ErrorCode(err) != tenure.ECONFLICT {
			t.Fatalf("second create: %v, want conflict", err)
		}
		got, err := db.GetRollout(ctx, "r1")
		must(t, err)
		if got.Total != 3 || got.Done != 0 || got.ByApp["slack"].Lose != 3 || got.ByApp["teams"].Gain != 3 {
			t.Fatalf("new rollout = %+v", got)
		}
		pending, err := db.PendingRolloutItems(ctx, "r1", "E0", 10)
		must(t, err)
		if len(pending) != 2 || pending[0].EmployeeID != "E1" {
			t.Fatalf("pending after E0 = %+v", pending)
		}
		must(t, db.RecordRolloutOutcome(ctx, tenure.RolloutItem{RolloutID: "r1", EmployeeID: "E0", Status: tenure.RolloutItemDone}))
		must(t, db.RecordRolloutOutcome(ctx, tenure.RolloutItem{RolloutID: "r1", EmployeeID: "E1", Status: tenure.RolloutItemFailed,
			FailedApps: []string{"teams"}, Error: "teams: 503"}))
		// A second outcome for the same person changes nothing.
		must(t, db.RecordRolloutOutcome(ctx, tenure.RolloutItem{RolloutID: "r1", EmployeeID: "E1", Status: tenure.RolloutItemDone}))
		must(t, db.RecordRolloutOutcome(ctx, tenure.RolloutItem{RolloutID: "r1", EmployeeID: "E2", Status: tenure.RolloutItemDeferred}))
		got, err = db.GetRollout(ctx, "r1")
		must(t, err)
		if got.Done != 2 || got.Failed != 1 || got.Deferred != 1 {
			t.Fatalf("counts = done %d failed %d deferred %d, want 2, 1, 1", got.Done, got.Failed, got.Deferred)
		}
		if s, tm := got.ByApp["slack"], got.ByApp["teams"]; s.Done != 3 || s.Failed != 0 || tm.Done != 2 || tm.Failed != 1 {
			t.Fatalf("by app = %+v", got.ByApp)
		}
		listed, err := db.ListRolloutItems(ctx, "r1", []string{"E1"})
		must(t, err)
		if len(listed) != 1 || listed[0].Status != tenure.RolloutItemFailed || listed[0].Error != "teams: 503" {
			t.Fatalf("E1's item = %+v", listed)
		}
		if pending, _ := db.PendingRolloutItems(ctx, "r1", "", 10); len(pending) != 0 {
			t.Fatalf("still pending: %+v", pending)
		}

		moved, err := db.SetRolloutStatus(ctx, "r1", tenure.RolloutFailed, "1 person failed", ts(9))
		must(t, err)
		if !moved {
			t.Fatal("a running rollout did not move to failed")
		}
		// A closed rollout stays closed.
		moved, err = db.SetRolloutStatus(ctx, "r1", tenure.RolloutCanceled, "too late", ts(10))
		must(t, err)
		got, _ = db.GetRollout(ctx, "r1")
		if moved || got.Status != tenure.RolloutFailed || got.Note != "1 person failed" || got.ClosedAt == nil || !got.ClosedAt.Equal(ts(9).Truncate(time.Microsecond)) {
			t.Fatalf("after a late cancel: moved=%t %+v", moved, got)
		}
		if _, err := db.SetRolloutStatus(ctx, "nope", tenure.RolloutCanceled, "", ts(1)); tenure.ErrorCode(err) != tenure.ENOTFOUND {
			t.Fatalf("unknown rollout: %v", err)
		}

		must(t, db.CreateRollout(ctx, tenure.Rollout{ID: "r2", Version: "v", Status: tenure.RolloutCompleted, Source: "file", CreatedAt: ts(2)}, nil))
		all, err := db.ListRollouts(ctx, "", 10)
		must(t, err)
		if len(all) != 2 || all[0].ID != "r2" {
			t.Fatalf("rollouts = %+v, want r2 then r1", all)
		}
		files, err := db.ListRollouts(ctx, "file", 10)
		must(t, err)
		if len(files) != 1 || files[0].ID != "r2" {
			t.Fatalf("rollouts from the file = %+v", files)
		}
	})
}

func TestOpenRolloutsTakeMorePeopleUntilTheyClose(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		for i, st := range []tenure.RolloutStatus{tenure.RolloutRunning, tenure.RolloutCompleted, tenure.RolloutHeld} {
			r := tenure.Rollout{ID: fmt.Sprintf("r%d", i), Version: "v", Status: st, Source: "api", CreatedAt: ts(3 - i)}
			must(t, db.CreateRollout(ctx, r, []tenure.RolloutItem{{EmployeeID: "E1", Apps: []string{"slack"}}}))
		}
		open, err := db.OpenRollouts(ctx)
		must(t, err)
		if len(open) != 2 || open[0].ID != "r2" || open[1].ID != "r0" || open[1].Total != 1 {
			t.Fatalf("open rollouts = %+v, want r2 then r0, oldest first", open)
		}
		// E1 is there already and keeps their apps; E2 and E3 are new.
		added, err := db.AddRolloutItems(ctx, "r0", []tenure.RolloutItem{{EmployeeID: "E1"}, {EmployeeID: "E2"}, {EmployeeID: "E3", Apps: []string{"teams"}}})
		must(t, err)
		if added != 2 {
			t.Fatalf("added %d, want 2", added)
		}
		r, err := db.GetRollout(ctx, "r0")
		must(t, err)
		items, err := db.ListRolloutItems(ctx, "r0", []string{"E1", "E2", "E3"})
		must(t, err)
		if r.Total != 3 || len(items) != 3 || items[0].Apps[0] != "slack" || len(items[1].Apps) != 0 || items[2].Apps[0] != "teams" ||
			items[2].Status != tenure.RolloutItemPending {
			t.Fatalf("after adding: total %d, items %+v", r.Total, items)
		}
		if _, err := db.AddRolloutItems(ctx, "r1", []tenure.RolloutItem{{EmployeeID: "E2"}}); tenure.ErrorCode(err) != tenure.ECONFLICT {
			t.Fatalf("adding to a completed rollout: %v, want conflict", err)
		}
		if r, _ := db.GetRollout(ctx, "r1"); r.Total != 1 {
			t.Fatalf("a refused add changed the total: %+v", r)
		}
		if _, err := db.AddRolloutItems(ctx, "nope", nil); tenure.ErrorCode(err) != tenure.ENOTFOUND {
			t.Fatalf("adding to an unknown rollout: %v", err)
		}
	})
}

func TestEachPersonAccessPagesThroughEveryoneNotTerminated(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		n := store.MaxLimit + 7
		var wg sync.WaitGroup
		sem := make(chan struct{}, 8)
		for i := range n {
			wg.Go(func() {
				sem <- struct{}{}
				defer func() { <-sem }()
				id := fmt.Sprintf("E%04d", i)
				status := tenure.PersonActive
				if i%100 == 0 {
					status = tenure.PersonTerminated
				}
				must(t, db.UpsertEmployee(ctx, tenure.Employee{Person: tenure.Person{ID: id, Email: id + "@example.com"}, Status: status}))
				if i%2 == 0 {
					must(t, db.UpsertAccount(ctx, tenure.Account{EmployeeID: id, App: "slack", AccountID: "a" + id, Status: tenure.AccessActive}))
					must(t, db.UpsertGrant(ctx, tenure.GrantRecord{EmployeeID: id, App: "slack", Entitlement: "general", Status: tenure.AccessActive}))
				}
			})
		}
		wg.Wait()
		seen, withAccount, prev := 0, 0, ""
		err := db.EachPersonAccess(ctx, func(p tenure.PersonAccess) error {
			if p.Employee.Status == tenure.PersonTerminated {
				t.Errorf("%s is terminated", p.Employee.ID)
			}
			if p.Employee.ID <= prev {
				t.Errorf("%s after %s: not in ID order", p.Employee.ID, prev)
			}
			prev = p.Employee.ID
			seen++
			if len(p.Accounts) > 0 {
				withAccount++
				if len(p.Grants) != 1 || p.Grants[0].Entitlement != "general" || p.Accounts[0].App != "slack" {
					t.Errorf("%s: accounts %+v grants %+v", p.Employee.ID, p.Accounts, p.Grants)
				}
			}
			return nil
		})
		must(t, err)
		terminated := (n + 99) / 100
		if seen != n-terminated || withAccount != n/2+n%2-terminated {
			t.Fatalf("saw %d people, %d with an account; want %d and %d", seen, withAccount, n-terminated, n/2+n%2-terminated)
		}
	})
}
