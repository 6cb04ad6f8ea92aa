package workflows

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/tenure-io/tenure"
)

// ApprovalState is an approval as the person's workflow tracks it.
type ApprovalState struct {
	ID     string                `json:"id"`
	Grant  tenure.Grant          `json:"grant"`
	Status tenure.ApprovalStatus `json:"status"`
	// RequestedAt starts the reminder, escalation and expiry clocks.
	RequestedAt time.Time `json:"requested_at,omitempty"`
	Reminded    bool      `json:"reminded,omitempty"`
	Escalated   bool      `json:"escalated,omitempty"`
}

// ApprovalTimers say when an unanswered approval is reminded, escalated and
// expired, from the policy in force when it was requested.
type ApprovalTimers struct {
	RemindAfter   time.Duration `json:"remind_after"`
	EscalateAfter time.Duration `json:"escalate_after"`
	ExpireAfter   time.Duration `json:"expire_after"`
	ITApprover    string        `json:"it_approver,omitempty"`
}

// requestApprovals asks for every grant of the plan that needs approval and is not
// approved or asked for already.
func (e *employee) requestApprovals(ctx workflow.Context, plan Plan, key string) error {
	lctx := workflow.WithLocalActivityOptions(ctx, localOptions)
	for _, g := range plan.Grants {
		if e.granted(plan, g) || e.approvalFor(g.Key()) != nil || (g.Entitlement == "" && approvalCovers(plan, g)) {
			continue
		}
		a := tenure.Approval{
			ID:          approvalID(e.EmployeeID, key, g.Key()),
			EmployeeID:  e.EmployeeID,
			WorkflowID:  tenure.WorkflowID(e.EmployeeID),
			App:         g.App,
			Entitlement: g.Entitlement,
			Rule:        g.Rule,
			Approver:    g.Approval,
			ApproverID:  approverID(g, plan, *e.Person),
			Status:      tenure.ApprovalPending,
			RequestedAt: workflow.Now(ctx).UTC(),
		}
		req := ApprovalRequest{Approval: a, Person: *e.Person, RequestedBy: requestedBy(key)}
		if err := e.requestApproval(ctx, lctx, req); err != nil {
			return err
		}
		e.Approvals = append(e.Approvals, ApprovalState{ID: a.ID, Grant: g, Status: tenure.ApprovalPending, RequestedAt: a.RequestedAt})
	}
	e.Timers = ApprovalTimers{RemindAfter: plan.RemindAfter, EscalateAfter: plan.EscalateAfter,
		ExpireAfter: plan.ExpireAfter, ITApprover: plan.ITApprover}
	return nil
}

// requestApproval records the request and asks the approver. Since notices came,
// asking is a regular activity, as it calls Slack.
func (e *employee) requestApproval(ctx, lctx workflow.Context, req ApprovalRequest) error {
	if e.version >= 1 {
		return workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, noticeOptions), RequestApprovalActivity, req).Get(ctx, nil)
	}
	return workflow.ExecuteLocalActivity(lctx, RequestApprovalActivity, req).Get(ctx, nil)
}

// requestedBy says what asked for an approval, from the key of the change.
func requestedBy(key string) string {
	if strings.HasPrefix(key, "retry-") || strings.HasPrefix(key, "unlock-") || strings.HasPrefix(key, "apr_") {
		return "Tenure (" + key + ")"
	}
	return "HR event " + strings.TrimSuffix(key, "-start")
}

// granted reports whether a grant is in force: it needs no approval, it was
// approved, or it is an app's account and an entitlement in that app was approved.
func (e *employee) granted(plan Plan, g tenure.Grant) bool {
	if g.Approval == "" || slices.Contains(e.Approved, g.Key()) {
		return true
	}
	if g.Entitlement != "" {
		return false
	}
	for _, o := range plan.Grants {
		if o.App == g.App && o.Entitlement != "" && o.Approval != "" && slices.Contains(e.Approved, o.Key()) {
			return true
		}
	}
	return false
}

// approvalCovers reports whether approving an entitlement of the account grant's app
// also decides the account, so that one request covers both.
func approvalCovers(plan Plan, account tenure.Grant) bool {
	for _, o := range plan.Grants {
		if o.App == account.App && o.Entitlement != "" && o.Approval != "" {
			return true
		}
	}
	return false
}

// approvalFor returns the pending or approved approval for a grant key.
func (e *employee) approvalFor(key string) *ApprovalState {
	for i := range e.Approvals {
		a := &e.Approvals[i]
		if a.Grant.Key() == key && (a.Status == tenure.ApprovalPending || a.Status == tenure.ApprovalApproved) {
			return a
		}
	}
	return nil
}

func approverID(g tenure.Grant, plan Plan, p tenure.Person) string {
	switch g.Approval {
	case tenure.ApproverManager:
		if p.ManagerID != "" {
			return p.ManagerID
		}
	case tenure.ApproverAppOwner:
		if ref, ok := plan.App(g.App); ok && ref.Owner != "" {
			return ref.Owner
		}
	}
	return plan.ITApprover
}

// approvalID is deterministic, so a replayed or retried request names the same approval.
func approvalID(employeeID, key, grantKey string) string {
	sum := sha256.Sum256([]byte(employeeID + "\x00" + key + "\x00" + grantKey))
	return "apr_" + hex.EncodeToString(sum[:8])
}

// decide applies an approval decision. Only a pending approval can be decided.
func (e *employee) decide(ctx workflow.Context, d tenure.Decision) error {
	var a *ApprovalState
	for i := range e.Approvals {
		if e.Approvals[i].ID == d.ApprovalID {
			a = &e.Approvals[i]
		}
	}
	if a == nil || a.Status != tenure.ApprovalPending {
		e.logger.Info("ignoring a decision on an approval that is not pending", "approval_id", d.ApprovalID)
		return nil
	}
	status := tenure.ApprovalDenied
	if d.Approve {
		status = tenure.ApprovalApproved
	}
	if err := e.recordDecision(ctx, *a, status, d.By, d.Reason); err != nil {
		return err
	}
	a.Status = status
	if !d.Approve {
		return nil
	}
	e.Approved = append(e.Approved, a.Grant.Key())
	if e.Status == tenure.PersonTerminated {
		return nil
	}
	return e.converge(ctx, MoverWorkflowName, a.ID, e.Status == tenure.PersonActive, true)
}

func (e *employee) recordDecision(ctx workflow.Context, a ApprovalState, status tenure.ApprovalStatus, by, reason string) error {
	at := workflow.Now(ctx).UTC()
	rec := DecisionRecord{Approval: tenure.Approval{
		ID: a.ID, EmployeeID: e.EmployeeID, WorkflowID: tenure.WorkflowID(e.EmployeeID),
		App: a.Grant.App, Entitlement: a.Grant.Entitlement, Rule: a.Grant.Rule, Approver: a.Grant.Approval,
		Status: status, DecidedBy: by, Reason: reason, DecidedAt: &at,
	}}
	if e.version >= 1 {
		return workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, noticeOptions), RecordDecisionActivity, rec).Get(ctx, nil)
	}
	lctx := workflow.WithLocalActivityOptions(ctx, localOptions)
	return workflow.ExecuteLocalActivity(lctx, RecordDecisionActivity, rec).Get(ctx, nil)
}
