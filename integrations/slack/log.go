package slack

import (
	"context"
	"log/slog"

	"github.com/tenure-io/tenure"
)

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
	lg.LogAttrs(ctx, slog.LevelInfo, "slack not configured; would have sent: "+msg, attrs...)
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

// ApprovalDecided logs the decision.
func (l LogNotifier) ApprovalDecided(ctx context.Context, n tenure.ApprovalNotice) error {
	l.info(ctx, "approval decision", append(approvalAttrs(n),
		slog.String("status", string(n.Approval.Status)), slog.String("decided_by", n.Approval.DecidedBy))...)
	return nil
}

// AccessReady logs which accounts the manager would be told about.
func (l LogNotifier) AccessReady(ctx context.Context, n tenure.AccessReadyNotice) error {
	l.info(ctx, "accounts ready", slog.String("employee_id", n.Person.ID),
		slog.String("manager_id", n.Manager.ID), slog.String("apps", appNames(n.Accounts)))
	return nil
}

// StepFailed logs the failure IT would be alerted to.
func (l LogNotifier) StepFailed(ctx context.Context, n tenure.FailureNotice) error {
	l.info(ctx, "failed step", slog.String("employee_id", n.EmployeeID), slog.String("app", n.App),
		slog.String("workflow_id", n.WorkflowID), slog.String("run_url", n.RunURL), slog.String("error", n.Error))
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
