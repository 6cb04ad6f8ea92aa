package tenure

import (
	"context"
	"time"
)

// ApprovalNotice is what the approver is told about an approval.
type ApprovalNotice struct {
	Approval Approval `json:"approval"`
	// Person is who the access is for.
	Person Person `json:"person"`
	// Approver is the HR record of who must decide now (after an escalation, the
	// person it escalated to).
	Approver Person `json:"approver"`
	// RequestedBy says who or what asked, such as "HR event hire-42".
	RequestedBy string `json:"requested_by"`
}

// AccessReadyNotice tells a manager that a new hire's accounts are ready.
type AccessReadyNotice struct {
	Person   Person    `json:"person"`
	Manager  Person    `json:"manager"`
	Accounts []Account `json:"accounts"`
}

// FailureNotice alerts IT to a step that failed in one app.
type FailureNotice struct {
	EmployeeID string `json:"employee_id"`
	Person     Person `json:"person"`
	WorkflowID string `json:"workflow_id"`
	RunURL     string `json:"run_url,omitempty"`
	App        string `json:"app"`
	Error      string `json:"error"`
}

// OutageNotice tells IT that an app has been failing for a while and that Tenure
// is still retrying: once per app and outage, not once per person.
type OutageNotice struct {
	App       string    `json:"app"`
	People    int       `json:"people"`     // how many people have a step failing and retrying
	LastError string    `json:"last_error"` // the app's own words
	Since     time.Time `json:"since"`
}

// LeaverNotice tells IT and security what a leaver lost, where and when.
type LeaverNotice struct {
	Person     Person    `json:"person"`
	WorkflowID string    `json:"workflow_id"`
	RunURL     string    `json:"run_url,omitempty"`
	Accounts   []Account `json:"accounts"`
	At         time.Time `json:"at"`
}

// Notifier tells people what Tenure needs from them and what it did: in Slack
// when it is configured, and in the log otherwise. Implementations are
// idempotent where they can be: a retried notice should not post twice.
type Notifier interface {
	// ApprovalRequested asks the approver and returns where the request went.
	ApprovalRequested(ctx context.Context, n ApprovalNotice) ([]MessageRef, error)
	// ApprovalReminder nudges the approver who has not answered.
	ApprovalReminder(ctx context.Context, n ApprovalNotice) error
	// ApprovalEscalated asks the person the approval escalated to.
	ApprovalEscalated(ctx context.Context, n ApprovalNotice) ([]MessageRef, error)
	// ApprovalUnreachable tells IT that n.Approver cannot be reached (why
	// says how), so that an admin decides the approval in the console, and
	// returns where it went.
	ApprovalUnreachable(ctx context.Context, n ApprovalNotice, why string) ([]MessageRef, error)
	// ApprovalDecided updates the request's messages with the decision, who made
	// it and when.
	ApprovalDecided(ctx context.Context, n ApprovalNotice) error
	// AccessReady tells the manager which of a new hire's accounts are ready.
	AccessReady(ctx context.Context, n AccessReadyNotice) error
	// StepFailed alerts IT, with the error, a link to the run and a way to retry.
	StepFailed(ctx context.Context, n FailureNotice) error
	// LeaverSummary tells IT and security what was revoked, where and when.
	LeaverSummary(ctx context.Context, n LeaverNotice) error
	// AppFailing tells IT that an app keeps failing and Tenure keeps retrying.
	AppFailing(ctx context.Context, n OutageNotice) error
	ReconcileNotifier
}
