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

// Store is the read model: what the API and console read, and what activities write.
// Every write is idempotent: writing the same record twice leaves one record.
// Lookups of missing rows return an *Error with code ENOTFOUND.
type Store interface {
	Ping(ctx context.Context) error

	// CreateEvent inserts rec unless an event with its ID exists; then it returns
	// the existing record and created=false, and writes nothing.
	CreateEvent(ctx context.Context, rec EventRecord) (existing EventRecord, created bool, err error)
	MarkEventDispatched(ctx context.Context, id string) error
	// MarkEventDiscarded records that an event was not applied, and why.
	MarkEventDiscarded(ctx context.Context, id, reason string) error
	GetEvent(ctx context.Context, id string) (EventRecord, error)
	ListEvents(ctx context.Context, employeeID string) ([]EventRecord, error)

	// UpsertEmployee writes the HR record and status of a person.
	UpsertEmployee(ctx context.Context, e Employee) error
	SetEmployeeStatus(ctx context.Context, id string, status PersonStatus) error
	GetEmployee(ctx context.Context, id string) (Employee, error)
	// FindEmployeeByEmail finds a person by work email, case-insensitively.
	FindEmployeeByEmail(ctx context.Context, email string) (Employee, error)
	// ListEmployees returns one page and the total number that match.
	ListEmployees(ctx context.Context, f EmployeeFilter) ([]Employee, int, error)

	UpsertAccount(ctx context.Context, a Account) error
	ListAccounts(ctx context.Context, employeeID string) ([]Account, error)
	UpsertGrant(ctx context.Context, g GrantRecord) error
	ListGrants(ctx context.Context, employeeID string) ([]GrantRecord, error)

	// CreateApproval inserts a unless one with its ID exists.
	CreateApproval(ctx context.Context, a Approval) error
	GetApproval(ctx context.Context, id string) (Approval, error)
	ListApprovals(ctx context.Context, f ApprovalFilter) ([]Approval, error)
	// DecideApproval moves a pending approval to status. It returns ECONFLICT when
	// the approval is already decided with another outcome, and nil when it was
	// already decided the same way.
	DecideApproval(ctx context.Context, id string, status ApprovalStatus, by, reason string, at time.Time) error
	// EscalateApproval records who a pending approval escalated to.
	EscalateApproval(ctx context.Context, id, to string) error
	// AddApprovalMessages records where the approval's request was posted.
	AddApprovalMessages(ctx context.Context, id string, msgs []MessageRef) error

	UpsertRun(ctx context.Context, r Run) error
	ListRuns(ctx context.Context, employeeID string) ([]Run, error)

	// AppendAudit inserts r unless a record with its Key exists.
	AppendAudit(ctx context.Context, r AuditRecord) error
	ListAudit(ctx context.Context, f AuditFilter) ([]AuditRecord, error)

	UpsertApp(ctx context.Context, a App) error
	ListApps(ctx context.Context) ([]App, error)
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
	// Decide hands an approval decision to the workflow that waits on it.
	Decide(ctx context.Context, a Approval, d Decision) error
	// Retry runs the person's last change again in one app, after a failure.
	Retry(ctx context.Context, employeeID, app, requestID, actor string) (workflowID string, err error)
	// Ready returns nil once Temporal answers and a worker polls the task queue.
	Ready(ctx context.Context) error
	// RunURL is the Temporal UI's page for a workflow, or "" when no UI is known.
	RunURL(workflowID string) string
}

// WorkflowID returns the ID of a person's long-running workflow.
func WorkflowID(employeeID string) string { return "employee/" + employeeID }
