package workflows_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/workflows"
)

// decideOutcome is what one DecideUpdate came to.
type decideOutcome struct {
	rejected error
	status   tenure.ApprovalStatus
	err      error
}

// decide sends a DecideUpdate at d and keeps its outcome in out.
func (h *harness) decide(d time.Duration, id string, dec tenure.Decision, out *decideOutcome) {
	h.at(d, func() {
		if dec.ApprovalID == "" {
			dec.ApprovalID = h.apps.approvals[0].ID
		}
		h.env.UpdateWorkflow(workflows.DecideUpdate, id, &testsuite.TestUpdateCallback{
			OnAccept: func() {},
			OnReject: func(err error) { out.rejected = err },
			OnComplete: func(v any, err error) {
				out.err = err
				if s, ok := v.(tenure.ApprovalStatus); ok {
					out.status = s
				}
			},
		}, dec)
	})
}

func refusedAs(err error) string {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		return appErr.Type()
	}
	return ""
}

func TestDecideUpdateChecksWhoDecides(t *testing.T) {
	h := newHarness(t)
	h.event(time.Minute, "e1", tenure.EventHire, senior("E1"))
	var stranger, self, byApprover, again decideOutcome
	h.decide(time.Hour, "u1", tenure.Decision{Approve: true, By: "X9", Role: tenure.RoleManager}, &stranger)
	h.decide(time.Hour+time.Minute, "u2", tenure.Decision{Approve: true, By: "E1", Role: tenure.RoleAdmin}, &self)
	h.decide(time.Hour+2*time.Minute, "u3", tenure.Decision{Approve: true, By: "M1", Role: tenure.RoleManager}, &byApprover)
	h.decide(time.Hour+3*time.Minute, "u4", tenure.Decision{Approve: false, By: "M1", Role: tenure.RoleManager}, &again)
	h.wantApps(2*time.Hour, "E1", map[string]string{"google": "active", "slack": "active general", "github": "active engineering", "aws": "active admin"})
	if err := h.run("E1"); err != nil {
		t.Fatal(err)
	}
	if got := refusedAs(stranger.rejected); got != workflows.RefusedNotYours {
		t.Errorf("a stranger's decision: rejected %v (%s), want %s", stranger.rejected, got, workflows.RefusedNotYours)
	}
	if got := refusedAs(self.rejected); got != workflows.RefusedOwnAccess {
		t.Errorf("deciding one's own access, even as admin: rejected %v, want %s", self.rejected, workflows.RefusedOwnAccess)
	}
	if byApprover.rejected != nil || byApprover.err != nil || byApprover.status != tenure.ApprovalApproved {
		t.Errorf("the approver's decision: %+v, want approved", byApprover)
	}
	if got := refusedAs(again.rejected); got != workflows.RefusedDecided {
		t.Errorf("a second decision: rejected %v, want %s", again.rejected, workflows.RefusedDecided)
	}
	if len(h.apps.decisions) != 1 || h.apps.decisions[0].DecidedBy != "M1" {
		t.Errorf("recorded decisions = %+v, want M1's alone", h.apps.decisions)
	}
}

func TestAdminDecidesAndEscalationTargetDecides(t *testing.T) {
	for _, tc := range []struct {
		name string
		dec  tenure.Decision
		at   time.Duration
	}{
		{"an admin", tenure.Decision{Approve: true, By: "it-admin", Role: tenure.RoleAdmin}, time.Hour},
		// The fake escalates to the IT approver, "it", after 48 hours.
		{"whom it escalated to", tenure.Decision{Approve: true, By: "it", Role: tenure.RoleManager}, 50 * time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.event(time.Minute, "e1", tenure.EventHire, senior("E1"))
			var out decideOutcome
			h.decide(tc.at, "u1", tc.dec, &out)
			h.wantApps(tc.at+time.Hour, "E1", map[string]string{"google": "active", "slack": "active general", "github": "active engineering", "aws": "active admin"})
			if err := h.run("E1"); err != nil {
				t.Fatal(err)
			}
			if out.rejected != nil || out.status != tenure.ApprovalApproved {
				t.Errorf("outcome %+v, want approved", out)
			}
		})
	}
}

// A decision signalled straight to Temporal (as anyone holding the codec key
// could) is checked as the Update is: one by someone else is recorded as
// refused, and the approval stays pending.
func TestSignalledDecisionByAStrangerIsRefused(t *testing.T) {
	h := newHarness(t)
	h.event(time.Minute, "e1", tenure.EventHire, senior("E1"))
	h.at(time.Hour, func() {
		a := h.apps.approvals[0]
		h.env.SignalWorkflow(workflows.CommandSignal, workflows.Command{Kind: workflows.CommandDecision,
			RequestID: "decision:" + a.ID, Decision: &tenure.Decision{ApprovalID: a.ID, Approve: true, By: "mallory"}})
	})
	h.wantApps(2*time.Hour, "E1", map[string]string{"google": "active", "slack": "active general", "github": "active engineering"})
	h.check(2*time.Hour, func(s workflows.EmployeeState) {
		if len(s.Approvals) != 1 || s.Approvals[0].Status != tenure.ApprovalPending {
			t.Errorf("approvals = %+v, want one still pending", s.Approvals)
		}
	})
	if err := h.run("E1"); err != nil {
		t.Fatal(err)
	}
	if len(h.apps.decisions) != 0 {
		t.Errorf("decisions = %+v, want none", h.apps.decisions)
	}
	if !slices.ContainsFunc(h.apps.notices, func(n string) bool { return n == "refused "+h.apps.approvals[0].ID+" mallory" }) {
		t.Errorf("notices = %v, want the refusal recorded", h.apps.notices)
	}
}

// Someone who manages themselves (a CEO) is not asked to approve their own
// access: the request goes to IT.
func TestNobodyIsAskedToApproveTheirOwnAccess(t *testing.T) {
	h := newHarness(t)
	ceo := senior("E1")
	ceo.ManagerID = "E1"
	h.event(time.Minute, "e1", tenure.EventHire, ceo)
	h.at(time.Hour, func() {
		if len(h.apps.approvals) != 1 || h.apps.approvals[0].ApproverID != "it" {
			t.Errorf("approvals = %+v, want one asking it", h.apps.approvals)
		}
	})
	if err := h.run("E1"); err != nil {
		t.Fatal(err)
	}
}
