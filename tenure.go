// Package tenure holds Tenure's domain types: the HR record, lifecycle events,
// access, approvals, audit records and the application error codes. Every other
// package may import it; it imports nothing of Tenure's own and does no I/O.
package tenure

import (
	"context"
	"slices"
	"time"
)

// DateLayout is the layout of HR dates such as a start date or an end date.
const DateLayout = "2006-01-02"

// EventType is the kind of HR event that HR sends.
type EventType string

// The HR event types of the API contract.
const (
	EventHire      EventType = "hire"
	EventUpdate    EventType = "update"
	EventTerminate EventType = "terminate"
	EventRehire    EventType = "rehire"
)

// Valid reports whether t is one of the contract's event types.
func (t EventType) Valid() bool {
	switch t {
	case EventHire, EventUpdate, EventTerminate, EventRehire:
		return true
	}
	return false
}

// Person is an HR record: who someone is, what they do and when they start and end.
// Dates are HR calendar dates (YYYY-MM-DD) and take effect at midnight UTC.
type Person struct {
	ID             string            `json:"id"`
	Email          string            `json:"email"`
	GivenName      string            `json:"given_name"`
	FamilyName     string            `json:"family_name"`
	ManagerID      string            `json:"manager_id,omitempty"`
	Department     string            `json:"department,omitempty"`
	Title          string            `json:"title,omitempty"`
	Location       string            `json:"location,omitempty"`
	EmploymentType string            `json:"employment_type,omitempty"`
	StartDate      string            `json:"start_date,omitempty"`
	EndDate        string            `json:"end_date,omitempty"`
	Attributes     map[string]string `json:"attributes,omitempty"`
}

// Start returns the start date as a UTC time, and false when there is none.
func (p Person) Start() (time.Time, bool) { return parseDate(p.StartDate) }

// End returns the end date (a contractor's last day) as a UTC time, and false when
// there is none. Access ends at the start of the day after the end date.
func (p Person) End() (time.Time, bool) {
	t, ok := parseDate(p.EndDate)
	if !ok {
		return time.Time{}, false
	}
	return t.AddDate(0, 0, 1), true
}

// DisplayName is the person's full name.
func (p Person) DisplayName() string {
	switch {
	case p.GivenName == "":
		return p.FamilyName
	case p.FamilyName == "":
		return p.GivenName
	}
	return p.GivenName + " " + p.FamilyName
}

func parseDate(s string) (time.Time, bool) {
	if s == "" {
		return time.Time{}, false
	}
	t, err := time.Parse(DateLayout, s)
	if err != nil {
		return time.Time{}, false
	}
	return t, true
}

// Event is one HR event about one person. ID is HR's (or the caller's) idempotency
// key: the same ID is processed once.
type Event struct {
	ID          string     `json:"id"`
	Type        EventType  `json:"type"`
	EffectiveAt *time.Time `json:"effective_at,omitempty"`
	Employee    Person     `json:"employee"`
	ReceivedAt  time.Time  `json:"received_at"`
}

// PersonStatus is where a person is in their employment lifecycle.
type PersonStatus string

// The person statuses of the API contract.
const (
	PersonPending    PersonStatus = "pending"
	PersonActive     PersonStatus = "active"
	PersonLocked     PersonStatus = "locked"
	PersonTerminated PersonStatus = "terminated"
)

// AccessStatus is the state of one person's account in one app, or of one grant.
type AccessStatus string

// The access statuses of the API contract.
const (
	AccessPending         AccessStatus = "pending"
	AccessPendingApproval AccessStatus = "pending_approval"
	AccessActive          AccessStatus = "active"
	AccessDisabled        AccessStatus = "disabled"
	AccessDeleted         AccessStatus = "deleted"
	AccessFailed          AccessStatus = "failed"
	// AccessDenied marks a grant whose approval was denied or expired.
	AccessDenied AccessStatus = "denied"
	// AccessUnverifiable marks a grant the app took but gives no way to read
	// back (a SCIM app that shows members neither on the User nor on the Group).
	AccessUnverifiable AccessStatus = "unverifiable"
)

// Held reports whether a grant with status s is held in the app as far as
// Tenure knows: read back (active), or taken by an app that cannot show it
// (unverifiable).
func (s AccessStatus) Held() bool { return s == AccessActive || s == AccessUnverifiable }

// Granted reports whether a grant with status s was given by Tenure and not
// revoked: held, or asked of the app and not yet read back (pending).
func (s AccessStatus) Granted() bool { return s == AccessPending || s.Held() }

// Approver names who must approve a grant.
type Approver string

// The approvers a policy can name.
const (
	ApproverManager  Approver = "manager"
	ApproverAppOwner Approver = "app_owner"
	ApproverIT       Approver = "it"
)

// Valid reports whether a is an approver the policy language knows.
func (a Approver) Valid() bool {
	switch a {
	case ApproverManager, ApproverAppOwner, ApproverIT:
		return true
	}
	return false
}

// Grant is one unit of desired access: an account in an app, or one entitlement
// (a group or role) inside it. Entitlement is empty for the account itself.
type Grant struct {
	App         string   `json:"app"`
	Entitlement string   `json:"entitlement,omitempty"`
	Approval    Approver `json:"approval,omitempty"`
	Rule        string   `json:"rule,omitempty"`
}

// Key identifies the grant within one person's access: "app" or "app/entitlement".
func (g Grant) Key() string {
	if g.Entitlement == "" {
		return g.App
	}
	return g.App + "/" + g.Entitlement
}

// Employee is the read model's view of a person: their HR record and status.
type Employee struct {
	Person
	Status    PersonStatus `json:"status"`
	CreatedAt time.Time    `json:"created_at"`
	UpdatedAt time.Time    `json:"updated_at"`
}

// EmployeeStore keeps people's HR records and statuses.
type EmployeeStore interface {
	// UpsertEmployee writes the HR record and status of a person.
	UpsertEmployee(ctx context.Context, e Employee) error
	SetEmployeeStatus(ctx context.Context, id string, status PersonStatus) error
	GetEmployee(ctx context.Context, id string) (Employee, error)
	// FindEmployeeByEmail finds a person by work email, case-insensitively.
	FindEmployeeByEmail(ctx context.Context, email string) (Employee, error)
	// ListEmployees returns one page and the total number that match.
	ListEmployees(ctx context.Context, f EmployeeFilter) ([]Employee, int, error)
}

// Account is one person's account in one app, as last read back from the app.
type Account struct {
	EmployeeID   string       `json:"employee_id"`
	App          string       `json:"app"`
	AccountID    string       `json:"account_id"`
	Status       AccessStatus `json:"status"`
	Entitlements []string     `json:"entitlements"`
	Error        string       `json:"error,omitempty"`
	VerifiedAt   *time.Time   `json:"verified_at,omitempty"`
	UpdatedAt    time.Time    `json:"updated_at"`
}

// AccountStore keeps each person's accounts as last read back from the apps.
type AccountStore interface {
	UpsertAccount(ctx context.Context, a Account) error
	ListAccounts(ctx context.Context, employeeID string) ([]Account, error)
}

// GrantRecord is the read model's state of one grant for one person.
type GrantRecord struct {
	EmployeeID  string       `json:"employee_id"`
	App         string       `json:"app"`
	Entitlement string       `json:"entitlement,omitempty"`
	Status      AccessStatus `json:"status"`
	Rule        string       `json:"rule,omitempty"`
	ApprovalID  string       `json:"approval_id,omitempty"`
	UpdatedAt   time.Time    `json:"updated_at"`
}

// ManagedEntitlements is what Tenure manages in one app for one person:
// fromPolicy, every entitlement the policy in force can grant there, and every
// entitlement recorded (the read model's grants of the person in that app, by
// entitlement) says Tenure granted and has not revoked (pending, active or
// unverifiable), whatever the policy says now. So an entitlement that a later
// version renames or drops is revoked, rather than left behind for ever; groups
// Tenure never granted are still left alone. The result is sorted. Provisioning
// (SyncEntitlements) and reconciliation both go by it.
func ManagedEntitlements(fromPolicy []string, recorded map[string]AccessStatus) []string {
	out := slices.Clone(fromPolicy)
	for g, status := range recorded {
		if status.Granted() && g != "" && !slices.Contains(out, g) {
			out = append(out, g)
		}
	}
	slices.Sort(out)
	return out
}

// GrantStore keeps the state of each person's grants.
type GrantStore interface {
	UpsertGrant(ctx context.Context, g GrantRecord) error
	ListGrants(ctx context.Context, employeeID string) ([]GrantRecord, error)
}

// StepWrites is what one step records in the read model: the people, accounts
// and grants as it left them, and its audit records, in order.
type StepWrites struct {
	Employees []Employee
	Accounts  []Account
	Grants    []GrantRecord
	Audit     []AuditRecord
}

// Empty reports whether w records nothing.
func (w StepWrites) Empty() bool {
	return len(w.Employees) == 0 && len(w.Accounts) == 0 && len(w.Grants) == 0 && len(w.Audit) == 0
}

// StepStore writes a step's records together.
type StepStore interface {
	// WriteStep applies w in one transaction, each part as UpsertEmployee,
	// UpsertAccount, UpsertGrant and AppendAudit would: all of it, or, when a
	// record is invalid or the store fails, none of it.
	WriteStep(ctx context.Context, w StepWrites) error
}

// ApprovalStatus is the state of an approval request.
type ApprovalStatus string

// The approval statuses.
const (
	ApprovalPending  ApprovalStatus = "pending"
	ApprovalApproved ApprovalStatus = "approved"
	ApprovalDenied   ApprovalStatus = "denied"
	ApprovalExpired  ApprovalStatus = "expired"
)

// Approval is a request for a person (the approver) to decide one grant.
type Approval struct {
	ID          string         `json:"id"`
	EmployeeID  string         `json:"employee_id"`
	WorkflowID  string         `json:"workflow_id"`
	App         string         `json:"app"`
	Entitlement string         `json:"entitlement,omitempty"`
	Rule        string         `json:"rule,omitempty"`
	Approver    Approver       `json:"approver"`
	ApproverID  string         `json:"approver_id,omitempty"`
	Status      ApprovalStatus `json:"status"`
	DecidedBy   string         `json:"decided_by,omitempty"`
	Reason      string         `json:"reason,omitempty"`
	RequestedAt time.Time      `json:"requested_at"`
	DecidedAt   *time.Time     `json:"decided_at,omitempty"`
	// EscalatedTo is who the approval went to when the approver did not answer;
	// they may decide as well as the approver.
	EscalatedTo string `json:"escalated_to,omitempty"`
	// Messages are where the request was posted (Slack), to update on a decision.
	Messages []MessageRef `json:"messages,omitempty"`
	// Notice says whether the latest notice about the approval reached anyone
	// (sent, logged, sent_to_it, failed), and NoticeError why not; empty for
	// approvals requested before Tenure kept it.
	Notice      NoticeStatus `json:"notice,omitempty"`
	NoticeError string       `json:"notice_error,omitempty"`
}

// ApprovalStore keeps approval requests and their decisions.
type ApprovalStore interface {
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
}

// MayDecide reports whether the person with HR ID id may decide the approval:
// they are its approver or it escalated to them, and the access is not their own.
func (a Approval) MayDecide(id string) bool {
	return id != "" && id != a.EmployeeID && (id == a.ApproverID || id == a.EscalatedTo)
}

// MessageRef is where a notification was posted, so that it can be updated.
type MessageRef struct {
	Channel string `json:"channel"`
	TS      string `json:"ts"`
}

// Decision is someone's answer to an approval.
type Decision struct {
	ApprovalID string `json:"approval_id"`
	Approve    bool   `json:"approve"`
	By         string `json:"by"`
	Reason     string `json:"reason,omitempty"`
	// Role is the decider's role as Tenure authenticated them: an admin may
	// decide any approval but one for their own access; anyone else only one
	// that names them. Empty for a decision from Slack, which is by HR ID.
	Role string `json:"role,omitempty"`
}

// EventStatus says how far an accepted HR event has got.
type EventStatus string

// The event statuses.
const (
	// EventReceived is written before the event is handed to Temporal.
	EventReceived EventStatus = "received"
	// EventDispatched means the person's workflow has the event.
	EventDispatched EventStatus = "dispatched"
	// EventDiscarded means the event arrived after a newer one and was not applied.
	EventDiscarded EventStatus = "discarded"
)

// EventRecord is an HR event as the read model keeps it.
type EventRecord struct {
	ID         string      `json:"id"`
	EmployeeID string      `json:"employee_id"`
	Type       EventType   `json:"type"`
	WorkflowID string      `json:"workflow_id"`
	BodyHash   string      `json:"-"`
	Body       []byte      `json:"-"`
	Status     EventStatus `json:"status"`
	ReceivedAt time.Time   `json:"received_at"`
	// Note says why an event was discarded.
	Note string `json:"note,omitempty"`
}

// EventStore keeps the HR events Tenure accepted and how far each got.
type EventStore interface {
	// CreateEvent inserts rec unless an event with its ID exists; then it returns
	// the existing record and created=false, and writes nothing.
	CreateEvent(ctx context.Context, rec EventRecord) (existing EventRecord, created bool, err error)
	MarkEventDispatched(ctx context.Context, id string) error
	// MarkEventDiscarded records that an event was not applied, and why.
	MarkEventDiscarded(ctx context.Context, id, reason string) error
	GetEvent(ctx context.Context, id string) (EventRecord, error)
	ListEvents(ctx context.Context, employeeID string) ([]EventRecord, error)
}

// RunStatus is the state of a workflow run as the read model shows it.
type RunStatus string

// The run statuses.
const (
	RunRunning   RunStatus = "running"
	RunCompleted RunStatus = "completed"
	RunFailed    RunStatus = "failed"
	RunCanceled  RunStatus = "canceled"
	// RunSuperseded is a joiner or mover that was never run: a termination or
	// a lock that takes effect now was queued behind it.
	RunSuperseded RunStatus = "superseded"
)

// Run is one lifecycle run (Joiner, Mover, Leaver, Lock or Unlock) for one
// person: a child workflow of the person's workflow, or, for a lock or a
// leaver's phase 1, a step run inside the person's workflow itself, to save
// the child's round trips. WorkflowID names the run either way; InWorkflow is
// the workflow that holds an inline run's history.
type Run struct {
	WorkflowID string     `json:"workflow_id"`
	InWorkflow string     `json:"in_workflow,omitempty"`
	EmployeeID string     `json:"employee_id"`
	Type       string     `json:"type"`
	EventID    string     `json:"event_id,omitempty"`
	Status     RunStatus  `json:"status"`
	Error      string     `json:"error,omitempty"`
	StartedAt  time.Time  `json:"started_at"`
	ClosedAt   *time.Time `json:"closed_at,omitempty"`
}

// HistoryID is the workflow whose history shows the run: the one it ran
// inside, or its own; or, for a superseded change, which never ran, the
// person's workflow that superseded it.
func (r Run) HistoryID() string {
	switch {
	case r.InWorkflow != "":
		return r.InWorkflow
	case r.Status == RunSuperseded:
		return WorkflowID(r.EmployeeID)
	}
	return r.WorkflowID
}

// RunStore keeps the lifecycle runs of each person.
type RunStore interface {
	UpsertRun(ctx context.Context, r Run) error
	ListRuns(ctx context.Context, employeeID string) ([]Run, error)
}

// AuditRecord is one entry of the audit trail. Key is a business key
// (employee/event/app/operation) so that a retried step writes it once.
type AuditRecord struct {
	Key        string    `json:"key"`
	At         time.Time `json:"at"`
	Actor      string    `json:"actor"`
	Action     string    `json:"action"`
	EmployeeID string    `json:"employee_id,omitempty"`
	App        string    `json:"app,omitempty"`
	WorkflowID string    `json:"workflow_id,omitempty"`
	Detail     string    `json:"detail,omitempty"`
	// Seq is the record's position in the deployment's one audit chain: 1, 2,
	// 3... with no gaps. The store assigns it.
	Seq int64 `json:"seq,omitempty"`
	// PrevHash and Hash chain the records: Hash is the SHA-256, in hex, of
	// PrevHash and this record's fields, so altering, deleting or inserting a
	// record breaks every hash after it. The store assigns both.
	PrevHash string `json:"prev_hash,omitempty"`
	Hash     string `json:"hash,omitempty"`
}

// AuditStore keeps the audit trail.
type AuditStore interface {
	// AppendAudit inserts r unless a record with its Key exists.
	AppendAudit(ctx context.Context, r AuditRecord) error
	ListAudit(ctx context.Context, f AuditFilter) ([]AuditRecord, error)
}

// App is an integrated app and its health.
type App struct {
	Name      string     `json:"name"`
	Connector string     `json:"connector"`
	BaseURL   string     `json:"base_url"`
	Health    string     `json:"health"`
	LastError string     `json:"last_error,omitempty"`
	CheckedAt *time.Time `json:"checked_at,omitempty"`
}

// AppStore keeps the integrated apps and their health.
type AppStore interface {
	UpsertApp(ctx context.Context, a App) error
	ListApps(ctx context.Context) ([]App, error)
}

// App health values.
const (
	HealthUnknown = "unknown"
	HealthOK      = "ok"
	HealthFailing = "failing"
)
