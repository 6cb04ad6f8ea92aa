package store_test

import (
	"context"
	"testing"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/store"
	"github.com/tenure-io/tenure/store/storetest"
)

func TestApprovalEscalationAndMessages(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		a := tenure.Approval{ID: "apr_1", EmployeeID: "E1", WorkflowID: "employee/E1", App: "aws",
			Approver: tenure.ApproverManager, ApproverID: "M1"}
		if err := db.CreateApproval(ctx, a); err != nil {
			t.Fatal(err)
		}
		msg := tenure.MessageRef{Channel: "D1", TS: "1.1"}
		for range 2 {
			if err := db.AddApprovalMessages(ctx, "apr_1", []tenure.MessageRef{msg}); err != nil {
				t.Fatal(err)
			}
		}
		if err := db.EscalateApproval(ctx, "apr_1", "M2"); err != nil {
			t.Fatal(err)
		}
		if err := db.AddApprovalMessages(ctx, "apr_1", []tenure.MessageRef{{Channel: "D2", TS: "2.2"}}); err != nil {
			t.Fatal(err)
		}
		got, err := db.GetApproval(ctx, "apr_1")
		if err != nil {
			t.Fatal(err)
		}
		if got.EscalatedTo != "M2" || len(got.Messages) != 2 || got.Messages[0] != msg {
			t.Fatalf("approval = %+v", got)
		}
		if !got.MayDecide("M1") || !got.MayDecide("M2") || got.MayDecide("M3") || got.MayDecide("") {
			t.Error("MayDecide lets the wrong people decide")
		}
		if err := db.DecideApproval(ctx, "apr_1", tenure.ApprovalApproved, "M2", "", got.RequestedAt); err != nil {
			t.Fatal(err)
		}
		// A decided approval no longer escalates.
		if err := db.EscalateApproval(ctx, "apr_1", "IT"); err != nil {
			t.Fatal(err)
		}
		if got, _ := db.GetApproval(ctx, "apr_1"); got.EscalatedTo != "M2" {
			t.Errorf("escalated_to = %q after a decision", got.EscalatedTo)
		}
		if err := db.EscalateApproval(ctx, "nope", "IT"); tenure.ErrorCode(err) != tenure.ENOTFOUND {
			t.Errorf("escalating an unknown approval: %v", err)
		}
	})
}

func TestFindEmployeeByEmail(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		e := tenure.Employee{Person: tenure.Person{ID: "E1", Email: "Ada.Lovelace@Example.com", GivenName: "Ada", FamilyName: "Lovelace"}}
		if err := db.UpsertEmployee(ctx, e); err != nil {
			t.Fatal(err)
		}
		got, err := db.FindEmployeeByEmail(ctx, " ada.lovelace@example.COM")
		if err != nil || got.ID != "E1" {
			t.Fatalf("got %+v, %v", got, err)
		}
		if _, err := db.FindEmployeeByEmail(ctx, "grace@example.com"); tenure.ErrorCode(err) != tenure.ENOTFOUND {
			t.Errorf("unknown email: %v", err)
		}
	})
}

func TestMarkEventDiscarded(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		if _, _, err := db.CreateEvent(ctx, tenure.EventRecord{ID: "ev1", EmployeeID: "E1", Type: tenure.EventUpdate, WorkflowID: "employee/E1", BodyHash: "h"}); err != nil {
			t.Fatal(err)
		}
		if err := db.MarkEventDiscarded(ctx, "ev1", "older than the record applied at 2026-01-02T00:00:00Z"); err != nil {
			t.Fatal(err)
		}
		got, err := db.GetEvent(ctx, "ev1")
		if err != nil || got.Status != tenure.EventDiscarded || got.Note == "" {
			t.Fatalf("event = %+v, %v", got, err)
		}
		if err := db.MarkEventDiscarded(ctx, "nope", "x"); tenure.ErrorCode(err) != tenure.ENOTFOUND {
			t.Errorf("unknown event: %v", err)
		}
	})
}
