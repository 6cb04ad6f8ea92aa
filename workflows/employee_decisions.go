package workflows

import (
	"errors"
	"fmt"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/tenure-io/tenure"
)

// decisionsChange guards checking who decided. Decisions that arrive as a
// signal are checked against the approval's approver and escalation target, and
// a refused one is recorded instead of applied; nobody is asked to approve their
// own access. Runs that started before it replay without the checks.
const decisionsChange = "decisions-checked"

// DecideUpdate is the Temporal Update through which the API, the console and
// Slack decide an approval. Its validator refuses a decision that is not the
// caller's to make, or comes too late, before anything is written to the
// history; an accepted one returns the approval's new status once it is
// recorded.
const DecideUpdate = "decide"

// The reasons a decision is refused: the type of the ApplicationError that the
// Update answers with, which Engine.Decide turns into the API's error codes.
const (
	RefusedNotFound  = "ApprovalNotFound"
	RefusedDecided   = "ApprovalAlreadyDecided"
	RefusedNotYours  = "ApprovalNotYours"
	RefusedOwnAccess = "ApprovalOwnAccess"
)

func refuse(reason, format string, args ...any) error {
	return temporal.NewApplicationError(fmt.Sprintf(format, args...), reason)
}

// validateDecision is DecideUpdate's validator. It only reads the state.
func (e *employee) validateDecision(d tenure.Decision) error {
	i := e.approvalIndex(d.ApprovalID)
	if i < 0 {
		return refuse(RefusedNotFound, "approval %s is not waiting in this person's workflow", d.ApprovalID)
	}
	a := e.Approvals[i]
	if a.Deciding {
		return refuse(RefusedDecided, "approval %s is already being decided", a.ID)
	}
	if a.Status != tenure.ApprovalPending {
		return refuse(RefusedDecided, "approval %s is already %s", a.ID, a.Status)
	}
	return e.mayDecide(a, d)
}

// mayDecide checks who decided, whatever the API checked before: nobody decides
// their own access; an admin decides anything else; anyone else only what
// names them as the approver or was escalated to them.
func (e *employee) mayDecide(a ApprovalState, d tenure.Decision) error {
	switch {
	case d.By == "":
		return refuse(RefusedNotYours, "a decision on approval %s must say who decided", a.ID)
	case d.By == e.EmployeeID:
		return refuse(RefusedOwnAccess, "nobody may decide an approval for their own access")
	case d.Role == tenure.RoleAdmin:
		return nil
	case !a.ApproverKnown:
		// Requested by code that did not keep the approver: the API's check,
		// against the stored approval, is the one that applies.
		return nil
	case d.By == a.ApproverID || (a.EscalatedTo != "" && d.By == a.EscalatedTo):
		return nil
	}
	return refuse(RefusedNotYours, "%s is neither the approver of %s nor whom it was escalated to", d.By, a.ID)
}

// decideUpdate is DecideUpdate's handler, run after validateDecision accepted
// d: it records the decision and answers with the approval's new status. An
// approval's access is granted afterwards, in turn, by the main loop.
func (e *employee) decideUpdate(ctx workflow.Context, d tenure.Decision) (tenure.ApprovalStatus, error) {
	i := e.approvalIndex(d.ApprovalID)
	status := decisionStatus(d)
	e.Approvals[i].Deciding = true
	err := e.recordDecision(ctx, e.Approvals[i], status, d.By, d.Reason)
	e.Approvals[i].Deciding = false
	if err != nil {
		return "", err
	}
	e.Approvals[i].Status = status
	if status == tenure.ApprovalApproved {
		e.Approved = append(e.Approved, e.Approvals[i].Grant.Key())
		e.enqueue(Command{Kind: CommandApproved, RequestID: "approved:" + d.ApprovalID})
	}
	return status, nil
}

// decide applies a decision that arrived as a signal, as older APIs sent them.
// Only a pending approval can be decided, by whoever mayDecide lets.
func (e *employee) decide(ctx workflow.Context, d tenure.Decision) error {
	i := e.approvalIndex(d.ApprovalID)
	if i < 0 || e.Approvals[i].Status != tenure.ApprovalPending || e.Approvals[i].Deciding {
		e.logger.Info("ignoring a decision on an approval that is not pending", "approval_id", d.ApprovalID)
		return nil
	}
	a := &e.Approvals[i]
	if e.checks >= 1 {
		if err := e.mayDecide(*a, d); err != nil {
			return e.recordRefusal(ctx, *a, d, err)
		}
	}
	status := decisionStatus(d)
	if err := e.recordDecision(ctx, *a, status, d.By, d.Reason); err != nil {
		return err
	}
	a.Status = status
	if !d.Approve {
		return nil
	}
	e.Approved = append(e.Approved, a.Grant.Key())
	return e.applyApproval(ctx, a.ID)
}

// applyApproval grants what an approval let through, unless the person left.
func (e *employee) applyApproval(ctx workflow.Context, approvalID string) error {
	if e.Status == tenure.PersonTerminated {
		return nil
	}
	return e.converge(ctx, MoverWorkflowName, approvalID, e.Status == tenure.PersonActive, true)
}

func decisionStatus(d tenure.Decision) tenure.ApprovalStatus {
	if d.Approve {
		return tenure.ApprovalApproved
	}
	return tenure.ApprovalDenied
}

// approvalIndex is the index of the approval with id in e.Approvals, or -1.
// Handlers look approvals up again after every wait: the main loop may have
// added some meanwhile.
func (e *employee) approvalIndex(id string) int {
	for i := range e.Approvals {
		if e.Approvals[i].ID == id {
			return i
		}
	}
	return -1
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

// recordRefusal writes a refused decision to the audit trail; the approval stays
// pending.
func (e *employee) recordRefusal(ctx workflow.Context, a ApprovalState, d tenure.Decision, why error) error {
	e.logger.Warn("refusing a decision", "approval_id", a.ID)
	msg := why.Error()
	var appErr *temporal.ApplicationError
	if errors.As(why, &appErr) {
		msg = appErr.Message()
	}
	rec := RefusalRecord{ApprovalID: a.ID, EmployeeID: e.EmployeeID, App: a.Grant.App, By: d.By, Why: msg}
	lctx := workflow.WithLocalActivityOptions(ctx, localOptions)
	return workflow.ExecuteLocalActivity(lctx, RecordRefusalActivity, rec).Get(ctx, nil)
}
