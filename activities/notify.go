package activities

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/workflows"
)

// publish hands an outbound event to its subscribers. The event's ID comes from
// the business key of the step, so a retried step publishes the same event.
func (a *Activities) publish(ctx context.Context, typ, key, employeeID string, data any) error {
	if a.Publisher == nil {
		return nil
	}
	body, err := json.Marshal(data)
	if err != nil {
		return err
	}
	sum := sha256.Sum256([]byte(typ + "\x00" + key))
	return a.Publisher.Publish(ctx, tenure.OutboundEvent{
		ID: "evt_" + hex.EncodeToString(sum[:12]), Type: typ, At: a.now(),
		EmployeeID: employeeID, Data: body,
	})
}

// notifier is the configured notifier, or one that only logs.
func (a *Activities) notifier() tenure.Notifier {
	if a.Notifier != nil {
		return a.Notifier
	}
	return logOnly{a}
}

// runURL links to a run in the Temporal UI, when one is known.
func (a *Activities) runURL(workflowID string) string {
	if a.RunURL == nil {
		return ""
	}
	return a.RunURL(workflowID)
}

// person returns someone's HR record from the read model, or just their ID.
func (a *Activities) person(ctx context.Context, id string) tenure.Person {
	if id == "" {
		return tenure.Person{}
	}
	e, err := a.Store.GetEmployee(ctx, id)
	if err != nil {
		return tenure.Person{ID: id}
	}
	return e.Person
}

// approvalNotice gathers what an approver is told.
func (a *Activities) approvalNotice(ctx context.Context, ap tenure.Approval, approverID, requestedBy string) tenure.ApprovalNotice {
	if requestedBy == "" {
		requestedBy = "policy rule " + ap.Rule
	}
	return tenure.ApprovalNotice{
		Approval: ap, Person: a.person(ctx, ap.EmployeeID), Approver: a.person(ctx, approverID),
		RequestedBy: requestedBy,
	}
}

// RemindApproval nudges an approver who has not answered.
func (a *Activities) RemindApproval(ctx context.Context, step workflows.ApprovalStep) error {
	ap, err := a.Store.GetApproval(ctx, step.ApprovalID)
	if err != nil {
		return err
	}
	if ap.Status != tenure.ApprovalPending {
		return nil
	}
	approver := ap.ApproverID
	if ap.EscalatedTo != "" {
		approver = ap.EscalatedTo
	}
	if err := a.notifier().ApprovalReminder(ctx, a.approvalNotice(ctx, ap, approver, "")); err != nil {
		return err
	}
	return a.audit(ctx, tenure.AuditRecord{Key: "approval/" + ap.ID + "/reminded", Actor: Actor,
		Action: "approval.reminded", EmployeeID: ap.EmployeeID, App: ap.App, WorkflowID: ap.WorkflowID,
		Detail: "reminded " + approver})
}

// EscalateApproval hands an unanswered approval to the approver's own manager, or
// to the IT approver when there is none, and asks them. It returns who it went to.
func (a *Activities) EscalateApproval(ctx context.Context, step workflows.ApprovalStep) (string, error) {
	ap, err := a.Store.GetApproval(ctx, step.ApprovalID)
	if err != nil {
		return "", err
	}
	if ap.Status != tenure.ApprovalPending {
		return ap.EscalatedTo, nil
	}
	to := ap.EscalatedTo
	if to == "" {
		if ap.Approver == tenure.ApproverManager {
			to = a.person(ctx, ap.ApproverID).ManagerID
		}
		if to == "" || to == ap.ApproverID {
			to = step.ITApprover
		}
		if to == "" || to == ap.ApproverID {
			return "", nil
		}
		if err := a.Store.EscalateApproval(ctx, ap.ID, to); err != nil {
			return "", err
		}
		ap.EscalatedTo = to
	}
	if len(ap.Messages) == 0 || !a.escalationPosted(ctx, ap) {
		msgs, err := a.notifier().ApprovalEscalated(ctx, a.approvalNotice(ctx, ap, to, ""))
		if err != nil {
			return "", err
		}
		if err := a.Store.AddApprovalMessages(ctx, ap.ID, msgs); err != nil {
			return "", err
		}
	}
	return to, a.audit(ctx, tenure.AuditRecord{Key: "approval/" + ap.ID + "/escalated", Actor: Actor,
		Action: "approval.escalated", EmployeeID: ap.EmployeeID, App: ap.App, WorkflowID: ap.WorkflowID,
		Detail: fmt.Sprintf("no answer from %s; escalated to %s", ap.ApproverID, to)})
}

// escalationPosted reports whether a retried escalation already asked: its audit
// record is written last.
func (a *Activities) escalationPosted(ctx context.Context, ap tenure.Approval) bool {
	recs, err := a.Store.ListAudit(ctx, tenure.AuditFilter{EmployeeID: ap.EmployeeID, Action: "approval.escalated", Limit: 500})
	if err != nil {
		return false
	}
	for _, r := range recs {
		if r.Key == "approval/"+ap.ID+"/escalated" {
			return true
		}
	}
	return false
}

// NotifyAccessReady tells the manager which of a new hire's accounts are ready.
func (a *Activities) NotifyAccessReady(ctx context.Context, n workflows.Notice) error {
	if n.Person.ManagerID == "" {
		return nil
	}
	accounts, err := a.Store.ListAccounts(ctx, n.EmployeeID)
	if err != nil {
		return err
	}
	var ready []tenure.Account
	for _, acct := range accounts {
		if acct.Status == tenure.AccessActive {
			ready = append(ready, acct)
		}
	}
	return a.notifier().AccessReady(ctx, tenure.AccessReadyNotice{
		Person: n.Person, Manager: a.person(ctx, n.Person.ManagerID), Accounts: ready,
	})
}

// NotifyLeaver tells IT and security what a leaver lost, where and when.
func (a *Activities) NotifyLeaver(ctx context.Context, n workflows.Notice) error {
	accounts := make([]tenure.Account, 0, len(n.Result.Outcomes))
	for _, o := range n.Result.Outcomes {
		at := o.VerifiedAt
		accounts = append(accounts, tenure.Account{EmployeeID: n.EmployeeID, App: o.App, AccountID: o.AccountID,
			Status: o.Status, Entitlements: o.Entitlements, Error: o.Error, VerifiedAt: &at})
	}
	return a.notifier().LeaverSummary(ctx, tenure.LeaverNotice{
		Person: n.Person, WorkflowID: n.WorkflowID, RunURL: a.runURL(n.WorkflowID), Accounts: accounts, At: a.now(),
	})
}

// RecordDiscard records an HR event that arrived after a newer one and was not applied.
func (a *Activities) RecordDiscard(ctx context.Context, d workflows.DiscardRecord) error {
	note := fmt.Sprintf("HR time %s is older than the record already applied (%s)",
		d.At.UTC().Format("2006-01-02T15:04:05Z07:00"), d.NewerAt.UTC().Format("2006-01-02T15:04:05Z07:00"))
	if err := a.Store.MarkEventDiscarded(ctx, d.EventID, note); err != nil && tenure.ErrorCode(err) != tenure.ENOTFOUND {
		return err
	}
	return a.audit(ctx, tenure.AuditRecord{Key: d.EmployeeID + "/" + d.EventID + "/discarded", Actor: Actor,
		Action: "event.discarded", EmployeeID: d.EmployeeID, Detail: "event " + d.EventID + ": " + note})
}

// logOnly is the notifier when none is configured: it logs what would be sent.
type logOnly struct{ a *Activities }

func (l logOnly) log(what string, args ...any) {
	l.a.logger().Info("notice (no notifier configured): "+what, args...)
}

func (l logOnly) ApprovalRequested(_ context.Context, n tenure.ApprovalNotice) ([]tenure.MessageRef, error) {
	l.log("approval requested", "approval_id", n.Approval.ID, "approver", n.Approver.ID)
	return nil, nil
}
func (l logOnly) ApprovalReminder(_ context.Context, n tenure.ApprovalNotice) error {
	l.log("approval reminder", "approval_id", n.Approval.ID, "approver", n.Approver.ID)
	return nil
}
func (l logOnly) ApprovalEscalated(_ context.Context, n tenure.ApprovalNotice) ([]tenure.MessageRef, error) {
	l.log("approval escalated", "approval_id", n.Approval.ID, "to", n.Approver.ID)
	return nil, nil
}
func (l logOnly) ApprovalDecided(_ context.Context, n tenure.ApprovalNotice) error {
	l.log("approval decided", "approval_id", n.Approval.ID, "status", n.Approval.Status)
	return nil
}
func (l logOnly) AccessReady(_ context.Context, n tenure.AccessReadyNotice) error {
	l.log("access ready", "employee_id", n.Person.ID, "manager", n.Manager.ID, "accounts", len(n.Accounts))
	return nil
}
func (l logOnly) StepFailed(_ context.Context, n tenure.FailureNotice) error {
	l.log("step failed", "employee_id", n.EmployeeID, "app", n.App, "error", n.Error)
	return nil
}
func (l logOnly) LeaverSummary(_ context.Context, n tenure.LeaverNotice) error {
	l.log("leaver summary", "employee_id", n.Person.ID, "accounts", len(n.Accounts))
	return nil
}
