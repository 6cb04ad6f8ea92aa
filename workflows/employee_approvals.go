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
	// ApproverID and EscalatedTo are the HR IDs who may decide it; ApproverKnown
	// says they were kept (approvals requested by older code have neither).
	ApproverID    string `json:"approver_id,omitempty"`
	EscalatedTo   string `json:"escalated_to,omitempty"`
	ApproverKnown bool   `json:"approver_known,omitempty"`
	// Deciding is set while an accepted decision is being recorded.
	Deciding bool `json:"deciding,omitempty"`
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
			ApproverID:  approverID(g, plan, *e.Person, e.checks >= 1),
			Status:      tenure.ApprovalPending,
			RequestedAt: workflow.Now(ctx).UTC(),
		}
		req := ApprovalRequest{Approval: a, Person: *e.Person, RequestedBy: requestedBy(key)}
		if err := e.requestApproval(ctx, lctx, req); err != nil {
			return err
		}
		e.Approvals = append(e.Approvals, ApprovalState{ID: a.ID, Grant: g, Status: tenure.ApprovalPending, RequestedAt: a.RequestedAt,
			ApproverID: a.ApproverID, ApproverKnown: true})
	}
	e.Timers = ApprovalTimers{RemindAfter: plan.RemindAfter, EscalateAfter: plan.EscalateAfter,
		ExpireAfter: plan.ExpireAfter, ITApprover: plan.ITApprover}
	return nil
}

// requestApproval records the request and asks the approver. Since notices came,
// asking is a regular activity, as it calls Slack. Since lifecycleChange, a
// request that fails for good never fails the person's workflow: the approval
// is recorded as notice failed, and waits, decidable in the console and the
// API.
func (e *employee) requestApproval(ctx, lctx workflow.Context, req ApprovalRequest) error {
	if e.version < 1 {
		return workflow.ExecuteLocalActivity(lctx, RequestApprovalActivity, req).Get(ctx, nil)
	}
	err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, noticeOptions), RequestApprovalActivity, req).Get(ctx, nil)
	if err == nil || e.lifecycle < 1 {
		return err
	}
	e.logger.Error("asking for an approval failed; it waits in the console", "approval_id", req.Approval.ID, "error", err)
	f := NoticeFailure{Request: req, Error: childError(err)}
	return workflow.ExecuteLocalActivity(lctx, RecordNoticeFailedActivity, f).Get(ctx, nil)
}

// requestedBy says what asked for an approval, from the key of the change.
func requestedBy(key string) string {
	if id, ok := RolloutOf(key); ok {
		return "Tenure (policy rollout " + id + ")"
	}
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

// approverID is the HR ID asked to decide a grant: the manager, the app's owner,
// or IT. With notSelf, nobody is asked to decide their own access: the request
// goes to the next in line, their manager and then IT, or, when all of those
// are the person, to no one (an admin decides it).
func approverID(g tenure.Grant, plan Plan, p tenure.Person, notSelf bool) string {
	named := plan.ITApprover
	switch g.Approval {
	case tenure.ApproverManager:
		if p.ManagerID != "" {
			named = p.ManagerID
		}
	case tenure.ApproverAppOwner:
		if ref, ok := plan.App(g.App); ok && ref.Owner != "" {
			named = ref.Owner
		}
	}
	if !notSelf || named != p.ID {
		return named
	}
	for _, next := range []string{p.ManagerID, plan.ITApprover} {
		if next != "" && next != p.ID {
			return next
		}
	}
	return ""
}

// approvalID is deterministic, so a replayed or retried request names the same approval.
func approvalID(employeeID, key, grantKey string) string {
	sum := sha256.Sum256([]byte(employeeID + "\x00" + key + "\x00" + grantKey))
	return "apr_" + hex.EncodeToString(sum[:8])
}
