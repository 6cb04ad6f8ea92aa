package tenure

import (
	"context"
	"time"
)

// EmployeeFilter selects people for a list page.
type EmployeeFilter struct {
	Q      string       // matches id, email, name, department or title, case-insensitively
	Status PersonStatus // empty for all
	Limit  int          // 0 means 50; at most 500
	Offset int
}

// ApprovalFilter selects approvals.
type ApprovalFilter struct {
	Status     ApprovalStatus
	EmployeeID string
	Limit      int
	Offset     int
}

// AuditFilter selects audit records, newest first.
type AuditFilter struct {
	EmployeeID string
	Action     string
	Since      time.Time
	Limit      int
	Offset     int
}

// Store is the read model: what the API and console read, and what activities
// write. It is the entity stores together; a consumer that needs only one or
// two of them depends on those. Every write is idempotent: writing the same
// record twice leaves one record. Lookups of missing rows return an *Error
// with code ENOTFOUND.
type Store interface {
	// Ping returns nil while the store answers.
	Ping(ctx context.Context) error
	EventStore
	EmployeeStore
	AccountStore
	GrantStore
	StepStore
	ApprovalStore
	RunStore
	AuditStore
	AppStore
	AccountHistoryStore
	AccessReviewStore
	NoticeStore
	ReconcileStore
}

// Engine runs lifecycle work: it is how the API hands events and decisions to
// Temporal. The workflows package implements it over a Temporal client.
type Engine interface {
	// SubmitEvent hands an HR event to the person's workflow, starting it if needed,
	// and returns that workflow's ID. Submitting the same event twice is harmless.
	SubmitEvent(ctx context.Context, ev Event) (workflowID string, err error)
	// Lock disables the person everywhere now; Unlock restores what Lock disabled.
	Lock(ctx context.Context, employeeID, requestID, actor string) (workflowID string, err error)
	Unlock(ctx context.Context, employeeID, requestID, actor string) (workflowID string, err error)
	// Decide hands an approval decision to the workflow that waits on it, which
	// checks it and records it, and returns the approval's new status. A
	// decision the workflow refuses is ECONFLICT (already decided), ENOTFOUND
	// (not the caller's to decide) or EFORBIDDEN (their own access).
	Decide(ctx context.Context, a Approval, d Decision) (ApprovalStatus, error)
	// Retry runs the person's last change again in one app, after a failure.
	Retry(ctx context.Context, employeeID, app, requestID, actor string) (workflowID string, err error)
	// Reconverge brings the person's access in every app in line with the
	// active policy version, through their own workflow: what it gives is
	// granted, and what Tenure granted that it no longer gives is revoked.
	// The same requestID runs once. ENOTFOUND when the person has no workflow.
	Reconverge(ctx context.Context, employeeID, requestID, actor string) (workflowID string, err error)
	// Ready returns nil once Temporal answers and a worker polls the task queue.
	Ready(ctx context.Context) error
	// RunURL is the Temporal UI's page for a workflow, or "" when no UI is known.
	RunURL(workflowID string) string
}

// WorkflowID returns the ID of a person's long-running workflow.
func WorkflowID(employeeID string) string { return "employee/" + employeeID }
