package store_test

import (
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/store"
	"github.com/tenure-io/tenure/store/storetest"
)

func TestTokens(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		created := time.Date(2026, 3, 1, 9, 0, 0, 123456000, time.UTC)
		expires := created.Add(720 * time.Hour)
		tok := tenure.APIToken{
			ID: "tok_1", Name: "Grace's approvals", Role: "manager", EmployeeID: "E0001",
			Prefix: "tnr_ABCDEFGH", Hash: "aa11", CreatedBy: "admin", CreatedAt: created, ExpiresAt: &expires,
		}
		must(t, db.CreateToken(ctx, tok))
		got, err := db.GetToken(ctx, "tok_1")
		must(t, err)
		if !reflect.DeepEqual(got, tok) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", got, tok)
		}
		byHash, err := db.FindTokenByHash(ctx, "aa11")
		must(t, err)
		if !reflect.DeepEqual(byHash, tok) {
			t.Fatalf("by hash: %+v", byHash)
		}
		_, err = db.FindTokenByHash(ctx, "aa1")
		wantCode(t, err, tenure.ENOTFOUND)
		_, err = db.GetToken(ctx, "tok_404")
		wantCode(t, err, tenure.ENOTFOUND)

		// The same ID, or another token with the same hash, is refused and changes nothing.
		dup := tok
		dup.Name = "changed"
		wantCode(t, db.CreateToken(ctx, dup), tenure.ECONFLICT)
		dup = tok
		dup.ID = "tok_2"
		wantCode(t, db.CreateToken(ctx, dup), tenure.ECONFLICT)
		wantCode(t, db.CreateToken(ctx, tenure.APIToken{ID: "tok_3", Role: "hr", Prefix: "tnr_x", Hash: "bb"}), tenure.EINVALID)
		if got, _ := db.GetToken(ctx, "tok_1"); got.Name != tok.Name {
			t.Fatalf("a refused create changed the token: %+v", got)
		}

		second := tenure.APIToken{ID: "tok_2", Name: "hr feed", Role: "hr", Prefix: "tnr_ZZZZ", Hash: "cc22", CreatedAt: created.Add(time.Hour)}
		must(t, db.CreateToken(ctx, second))
		list, err := db.ListTokens(ctx)
		must(t, err)
		if ids := []string{list[0].ID, list[1].ID}; len(list) != 2 || !slices.Equal(ids, []string{"tok_2", "tok_1"}) {
			t.Fatalf("list = %+v, want newest first", list)
		}

		// A use is recorded, but not again within a minute.
		used := created.Add(2 * time.Hour)
		must(t, db.TouchToken(ctx, "tok_1", used))
		must(t, db.TouchToken(ctx, "tok_1", used.Add(30*time.Second)))
		got, _ = db.GetToken(ctx, "tok_1")
		if got.LastUsedAt == nil || !got.LastUsedAt.Equal(used) {
			t.Fatalf("last used = %v, want %v", got.LastUsedAt, used)
		}
		must(t, db.TouchToken(ctx, "tok_1", used.Add(2*time.Minute)))
		got, _ = db.GetToken(ctx, "tok_1")
		if !got.LastUsedAt.Equal(used.Add(2 * time.Minute)) {
			t.Fatalf("last used = %v, want a minute later", got.LastUsedAt)
		}

		// Revocation sticks to its first time.
		revoked := created.Add(3 * time.Hour)
		r, err := db.RevokeToken(ctx, "tok_1", revoked)
		must(t, err)
		if r.RevokedAt == nil || !r.RevokedAt.Equal(revoked) || r.Active(revoked) {
			t.Fatalf("revoked = %+v", r)
		}
		r, err = db.RevokeToken(ctx, "tok_1", revoked.Add(time.Hour))
		must(t, err)
		if !r.RevokedAt.Equal(revoked) {
			t.Fatalf("a second revocation moved the time to %v", r.RevokedAt)
		}
		_, err = db.RevokeToken(ctx, "tok_404", revoked)
		wantCode(t, err, tenure.ENOTFOUND)
		if other, _ := db.GetToken(ctx, "tok_2"); other.RevokedAt != nil {
			t.Fatal("revoking one token revoked another")
		}
	})
}

func TestManagerScope(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		for _, p := range []tenure.Person{
			{ID: "ada", GivenName: "Ada", FamilyName: "Lovelace", ManagerID: "boss"},
			{ID: "alan", GivenName: "Alan", FamilyName: "Turing", ManagerID: "boss"},
			{ID: "grace", GivenName: "Grace", FamilyName: "Hopper", ManagerID: "other"},
			{ID: "boss", GivenName: "Bea", FamilyName: "Boss"},
		} {
			p.Email = p.ID + "@example.com"
			status := tenure.PersonActive
			if p.ID == "alan" {
				status = tenure.PersonTerminated
			}
			must(t, db.UpsertEmployee(ctx, tenure.Employee{Person: p, Status: status}))
		}
		ids := func(es []tenure.Employee) []string {
			var out []string
			for _, e := range es {
				out = append(out, e.ID)
			}
			return out
		}
		list, total, err := db.ListReports(ctx, "boss", tenure.EmployeeFilter{})
		must(t, err)
		if total != 2 || !slices.Equal(ids(list), []string{"ada", "alan"}) {
			t.Fatalf("reports = %v (%d)", ids(list), total)
		}
		list, total, err = db.ListReports(ctx, "boss", tenure.EmployeeFilter{Status: tenure.PersonActive, Q: "LOVE"})
		must(t, err)
		if total != 1 || !slices.Equal(ids(list), []string{"ada"}) {
			t.Fatalf("filtered reports = %v (%d)", ids(list), total)
		}
		// A search cannot reach past the manager.
		if list, total, _ := db.ListReports(ctx, "boss", tenure.EmployeeFilter{Q: "grace"}); total != 0 || len(list) != 0 {
			t.Fatalf("another manager's report leaked: %v", ids(list))
		}
		_, _, err = db.ListReports(ctx, "", tenure.EmployeeFilter{})
		wantCode(t, err, tenure.EINVALID)

		at := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
		for i, a := range []tenure.Approval{
			{ID: "ap-mine", EmployeeID: "ada", ApproverID: "boss"},
			{ID: "ap-escalated", EmployeeID: "grace", ApproverID: "other"},
			{ID: "ap-other", EmployeeID: "grace", ApproverID: "other"},
			// The boss's own access, escalated to the boss: still not theirs to decide.
			{ID: "ap-own", EmployeeID: "boss", ApproverID: "boss"},
		} {
			a.Approver, a.App, a.RequestedAt = tenure.ApproverManager, "aws", at.Add(time.Duration(i)*time.Minute)
			must(t, db.CreateApproval(ctx, a))
		}
		must(t, db.EscalateApproval(ctx, "ap-escalated", "boss"))
		aps, err := db.ListApprovalsFor(ctx, "boss", tenure.ApprovalFilter{})
		must(t, err)
		var got []string
		for _, a := range aps {
			got = append(got, a.ID)
			if !a.MayDecide("boss") {
				t.Errorf("listed %s, which boss may not decide", a.ID)
			}
		}
		if !slices.Equal(got, []string{"ap-escalated", "ap-mine"}) {
			t.Fatalf("approvals for boss = %v", got)
		}
		aps, err = db.ListApprovalsFor(ctx, "boss", tenure.ApprovalFilter{EmployeeID: "grace", Status: tenure.ApprovalPending})
		must(t, err)
		if len(aps) != 1 || aps[0].ID != "ap-escalated" {
			t.Fatalf("filtered approvals = %+v", aps)
		}
		_, err = db.ListApprovalsFor(ctx, "", tenure.ApprovalFilter{})
		wantCode(t, err, tenure.EINVALID)
	})
}
