package activities

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/workflows"
)

// publish hands an outbound event to its subscribers. The event's ID comes from
// the business key of the step, so a retried step publishes the same event.
func (a *Activities) publish(ctx context.Context, typ, key, employeeID string, data any) error {
	if a.Publisher == nil {
		return nil
	}
	ev, err := a.event(typ, key, employeeID, data)
	if err != nil {
		return err
	}
	return a.Publisher.Publish(ctx, ev)
}

// event is the outbound event of type typ caused by the step with business key
// key, its ID derived from both.
func (a *Activities) event(typ, key, employeeID string, data any) (tenure.OutboundEvent, error) {
	body, err := json.Marshal(data)
	if err != nil {
		return tenure.OutboundEvent{}, err
	}
	sum := sha256.Sum256([]byte(typ + "\x00" + key))
	return tenure.OutboundEvent{
		ID: "evt_" + hex.EncodeToString(sum[:12]), Type: typ, At: a.now(),
		EmployeeID: employeeID, Data: body,
	}, nil
}

// notifier is the configured notifier, or one that only logs.
func (a *Activities) notifier() tenure.Notifier {
	if a.Notifier != nil {
		return a.Notifier
	}
	return LogNotifier{Logger: a.logger()}
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
	n := a.approvalNotice(ctx, ap, approver, "")
	if err := a.askApprover(ctx, n, "reminder", func() ([]tenure.MessageRef, error) {
		return nil, a.notifier().ApprovalReminder(ctx, n)
	}); err != nil {
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
		n := a.approvalNotice(ctx, ap, to, "")
		if err := a.askApprover(ctx, n, "escalation", func() ([]tenure.MessageRef, error) {
			return a.notifier().ApprovalEscalated(ctx, n)
		}); err != nil {
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

// RecordRefusal audits a decision the person's workflow refused: it did not come
// from the approver, whom it escalated to, or an admin. The key is the decision's,
// so a retried refusal leaves one record.
func (a *Activities) RecordRefusal(ctx context.Context, r workflows.RefusalRecord) error {
	return a.audit(ctx, tenure.AuditRecord{Key: "approval/" + r.ApprovalID + "/refused/" + r.By, Actor: r.By,
		Action: "approval.refused", EmployeeID: r.EmployeeID, App: r.App, WorkflowID: tenure.WorkflowID(r.EmployeeID),
		Detail: "decision on " + r.ApprovalID + " refused: " + r.Why})
}

// LogNotifier is the notifier when Slack is not configured (the dev default): it
// logs what would have been sent, by HR ID and app, never a token or an email.
// Approvals then go through the API and the console.
type LogNotifier struct {
	// Logger receives one line per notice; nil means slog.Default().
	Logger *slog.Logger
}

var _ tenure.Notifier = LogNotifier{}

func (l LogNotifier) info(ctx context.Context, msg string, attrs ...slog.Attr) {
	lg := l.Logger
	if lg == nil {
		lg = slog.Default()
	}
	lg.LogAttrs(ctx, slog.LevelInfo, "no notifier configured; would have sent: "+msg, attrs...)
}

func approvalAttrs(n tenure.ApprovalNotice) []slog.Attr {
	return []slog.Attr{
		slog.String("approval_id", n.Approval.ID),
		slog.String("employee_id", n.Approval.EmployeeID),
		slog.String("app", n.Approval.App),
		slog.String("entitlement", n.Approval.Entitlement),
		slog.String("rule", n.Approval.Rule),
		slog.String("approver_id", n.Approver.ID),
		slog.String("requested_by", n.RequestedBy),
	}
}

// ApprovalRequested logs the request; there is no message to update later.
func (l LogNotifier) ApprovalRequested(ctx context.Context, n tenure.ApprovalNotice) ([]tenure.MessageRef, error) {
	l.info(ctx, "approval request", approvalAttrs(n)...)
	return nil, nil
}

// ApprovalReminder logs the reminder.
func (l LogNotifier) ApprovalReminder(ctx context.Context, n tenure.ApprovalNotice) error {
	l.info(ctx, "approval reminder", approvalAttrs(n)...)
	return nil
}

// ApprovalEscalated logs the escalation to n.Approver.
func (l LogNotifier) ApprovalEscalated(ctx context.Context, n tenure.ApprovalNotice) ([]tenure.MessageRef, error) {
	l.info(ctx, "approval escalation", approvalAttrs(n)...)
	return nil, nil
}

// ApprovalUnreachable logs that the approver cannot be reached; the approval
// waits in the console.
func (l LogNotifier) ApprovalUnreachable(ctx context.Context, n tenure.ApprovalNotice, why string) ([]tenure.MessageRef, error) {
	l.info(ctx, "approver unreachable; decide in the console", append(approvalAttrs(n), slog.String("why", why))...)
	return nil, nil
}

// ApprovalDecided logs the decision.
func (l LogNotifier) ApprovalDecided(ctx context.Context, n tenure.ApprovalNotice) error {
	l.info(ctx, "approval decision", append(approvalAttrs(n),
		slog.String("status", string(n.Approval.Status)), slog.String("decided_by", n.Approval.DecidedBy))...)
	return nil
}

// AccessReady logs which accounts the manager would be told about.
func (l LogNotifier) AccessReady(ctx context.Context, n tenure.AccessReadyNotice) error {
	apps := make([]string, 0, len(n.Accounts))
	for _, a := range n.Accounts {
		apps = append(apps, a.App)
	}
	l.info(ctx, "accounts ready", slog.String("employee_id", n.Person.ID),
		slog.String("manager_id", n.Manager.ID), slog.String("apps", strings.Join(apps, ", ")))
	return nil
}

// StepFailed logs the failure IT would be alerted to.
func (l LogNotifier) StepFailed(ctx context.Context, n tenure.FailureNotice) error {
	l.info(ctx, "failed step", slog.String("employee_id", n.EmployeeID), slog.String("app", n.App),
		slog.String("workflow_id", n.WorkflowID), slog.String("run_url", n.RunURL), slog.String("error", n.Error))
	return nil
}

// AppFailing logs the outage IT would be told about.
func (l LogNotifier) AppFailing(ctx context.Context, n tenure.OutageNotice) error {
	l.info(ctx, fmt.Sprintf("%s is failing for %d people; still retrying", n.App, n.People), slog.String("app", n.App),
		slog.Time("since", n.Since), slog.String("error", n.LastError))
	return nil
}

// LeaverSummary logs what a leaver lost, where and when.
func (l LogNotifier) LeaverSummary(ctx context.Context, n tenure.LeaverNotice) error {
	attrs := []slog.Attr{slog.String("employee_id", n.Person.ID), slog.String("workflow_id", n.WorkflowID),
		slog.Time("at", n.At)}
	for _, a := range n.Accounts {
		attrs = append(attrs, slog.String("revoked."+a.App, string(a.Status)))
	}
	l.info(ctx, "leaver summary", attrs...)
	return nil
}

// ReconcileFindings logs what a reconciliation found: counts only.
func (l LogNotifier) ReconcileFindings(ctx context.Context, n tenure.ReconcileNotice) error {
	r := n.Reconciliation
	l.info(ctx, "reconciliation "+r.ID+" ("+string(r.Mode)+") found "+r.Summary(), slog.String("reconciliation_id", r.ID),
		slog.String("status", string(r.Status)), slog.Int("remediated", r.Remediated), slog.Int("remediation_failed", r.Failed))
	return nil
}
