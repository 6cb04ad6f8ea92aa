package workflows

import (
	"strings"
	"time"

	"github.com/tenure-io/tenure"
)

// CommandKind says what a Command asks of a person's workflow.
type CommandKind string

// The command kinds.
const (
	CommandEvent    CommandKind = "event"
	CommandLock     CommandKind = "lock"
	CommandUnlock   CommandKind = "unlock"
	CommandDecision CommandKind = "decision"
	CommandRetry    CommandKind = "retry"
	// CommandReconverge brings the person's access in line with the policy
	// version in force (see reconverge).
	CommandReconverge CommandKind = "reconverge"
	// CommandApproved grants what an approval decided through DecideUpdate let
	// through; the workflow queues it itself.
	CommandApproved CommandKind = "approved"
)

// Command is what CommandSignal carries. RequestID makes it idempotent: a request
// the workflow has already seen is dropped.
type Command struct {
	Kind      CommandKind      `json:"kind"`
	RequestID string           `json:"request_id"`
	Actor     string           `json:"actor,omitempty"`
	Event     *tenure.Event    `json:"event,omitempty"`
	Decision  *tenure.Decision `json:"decision,omitempty"`
	// App is the one app a retry is for.
	App string `json:"app,omitempty"`
}

// key is the request ID without its kind prefix ("lock:r1" is r1), for child IDs.
func (c Command) key() string {
	if _, rest, ok := strings.Cut(c.RequestID, ":"); ok {
		return rest
	}
	return c.RequestID
}

// AppRef is one app of the policy as the workflows need it.
type AppRef struct {
	Name      string   `json:"name"`
	Connector string   `json:"connector"`
	Owner     string   `json:"owner,omitempty"`
	Managed   []string `json:"managed,omitempty"`
	// TaskQueue is the app's own task queue when the policy limits the app's
	// rate or concurrency (AppTaskQueue), or empty for Tenure's queue.
	TaskQueue string `json:"task_queue,omitempty"`
}

// AppTaskQueue is the task queue of an app whose calls the policy limits: its
// workers cap the calls in flight, and the Temporal server caps the rate across
// every worker that polls it.
func AppTaskQueue(app string) string { return TaskQueue + "-app-" + app }

// target is the app as a child workflow acts on it.
func (r AppRef) target(accountID string) AppTarget {
	return AppTarget{App: r.Name, Connector: r.Connector, AccountID: accountID, Managed: r.Managed, TaskQueue: r.TaskQueue}
}

// Plan is a person's desired access under the policy in force when it was made.
type Plan struct {
	Grants       []tenure.Grant `json:"grants"`
	Apps         []AppRef       `json:"apps"`
	Retention    time.Duration  `json:"retention"`
	ITApprover   string         `json:"it_approver,omitempty"`
	PolicyDigest string         `json:"policy_digest,omitempty"`
	// When an unanswered approval is reminded, escalated and expired.
	RemindAfter   time.Duration `json:"remind_after,omitempty"`
	EscalateAfter time.Duration `json:"escalate_after,omitempty"`
	ExpireAfter   time.Duration `json:"expire_after,omitempty"`
	// MoverGrace is how long a mover keeps the old role's access.
	MoverGrace time.Duration `json:"mover_grace,omitempty"`
}

// App returns the plan's app called name.
func (p Plan) App(name string) (AppRef, bool) {
	for _, a := range p.Apps {
		if a.Name == name {
			return a, true
		}
	}
	return AppRef{}, false
}

// AppTarget is one app a child workflow acts on, with what the person should have there.
type AppTarget struct {
	App          string   `json:"app"`
	Connector    string   `json:"connector"`
	AccountID    string   `json:"account_id,omitempty"`
	Entitlements []string `json:"entitlements,omitempty"`
	Managed      []string `json:"managed,omitempty"`
	// TaskQueue is where bulk calls into the app go (AppRef.TaskQueue). A lock's
	// and a leaver's first phase never wait there: they run on Tenure's own
	// queue, so the kill switch is never held behind an app's rate limit.
	TaskQueue string `json:"task_queue,omitempty"`
}

// AccessInput is the input of the Joiner and Mover workflows: make the person's
// access in Grant match, take away access in Revoke, and delete the accounts
// in Delete, which movers disabled a retention period ago.
type AccessInput struct {
	EmployeeID string        `json:"employee_id"`
	Key        string        `json:"key"`
	Person     tenure.Person `json:"person"`
	Active     bool          `json:"active"`
	Grant      []AppTarget   `json:"grant"`
	Revoke     []AppTarget   `json:"revoke,omitempty"`
	Delete     []AppTarget   `json:"delete,omitempty"`
	// Run is the run's ID when it runs inside the person's workflow (see
	// AccountRequest.Run).
	Run string `json:"run,omitempty"`
}

// LeaverPhase is one of the two phases of a leaver.
type LeaverPhase int

// The leaver phases.
const (
	// LeaverDisable disables every account, revokes sessions and verifies.
	LeaverDisable LeaverPhase = 1
	// LeaverDelete deletes the accounts after the retention period.
	LeaverDelete LeaverPhase = 2
)

// RevokeInput is the input of the Leaver, Lock and Unlock workflows.
type RevokeInput struct {
	EmployeeID string        `json:"employee_id"`
	Key        string        `json:"key"`
	Person     tenure.Person `json:"person"`
	Phase      LeaverPhase   `json:"phase,omitempty"`
	Apps       []AppTarget   `json:"apps"`
	// Run is the run's ID when it runs inside the person's workflow (see
	// AccountRequest.Run).
	Run string `json:"run,omitempty"`
}

// AppOutcome is what a child workflow did in one app.
type AppOutcome struct {
	App          string              `json:"app"`
	AccountID    string              `json:"account_id,omitempty"`
	Status       tenure.AccessStatus `json:"status"`
	Entitlements []string            `json:"entitlements,omitempty"`
	// Changed is true when the step changed the app: for a lock, the account was
	// active and is now disabled, so unlock must restore it.
	Changed    bool      `json:"changed,omitempty"`
	VerifiedAt time.Time `json:"verified_at,omitempty"`
	Error      string    `json:"error,omitempty"`
	// Note says what the app could and could not do, such as "sessions ended" or
	// "this app cannot end sessions".
	Note string `json:"note,omitempty"`
}

// Result is what a child workflow reports: an outcome per app, sorted by app.
type Result struct {
	Outcomes []AppOutcome `json:"outcomes"`
}

// Failed returns the outcomes that failed.
func (r Result) Failed() []AppOutcome {
	var out []AppOutcome
	for _, o := range r.Outcomes {
		if o.Status == tenure.AccessFailed {
			out = append(out, o)
		}
	}
	return out
}

// AccountRequest asks a connector activity to act on one person's account in one app.
type AccountRequest struct {
	// Key is the business key (employee/event/app/operation) the step is idempotent on.
	Key          string        `json:"key"`
	EmployeeID   string        `json:"employee_id"`
	App          string        `json:"app"`
	Person       tenure.Person `json:"person"`
	AccountID    string        `json:"account_id,omitempty"`
	Active       bool          `json:"active,omitempty"`
	Entitlements []string      `json:"entitlements,omitempty"`
	Managed      []string      `json:"managed,omitempty"`
	// Run is the ID of the run the step belongs to, such as
	// employee/E1/leaver/term-1, when the run is inline in the person's
	// workflow; the audit trail and the evidence name it. Empty for a step of a
	// child workflow, whose own ID names the run.
	Run string `json:"run,omitempty"`
}

// Step is the request for one operation within a step of several (such as
// the CreateAccount of a ProvisionAccount): its key names that operation, as
// it would if the operation ran as a step of its own.
func (r AccountRequest) Step(op string) AccountRequest {
	if i := strings.LastIndexByte(r.Key, '/'); i >= 0 {
		r.Key = r.Key[:i+1] + op
	}
	return r
}

// InPlaceResult is what an in-place call (InPlaceActivity) returns: the operation's result, or
// how it failed. A failure comes back inside the result, which is sealed like
// every payload, because a local activity's own failure is recorded in the
// history with its message in plain text, and an app's words can name a person.
type InPlaceResult struct {
	Result  AccountResult `json:"result"`
	Failure *CallFailure  `json:"failure,omitempty"`
}

// CallFailure is a failed call as the workflow needs it.
type CallFailure struct {
	Message      string        `json:"message"`
	Type         string        `json:"type,omitempty"`
	NonRetryable bool          `json:"non_retryable,omitempty"`
	RetryAfter   time.Duration `json:"retry_after,omitempty"`
}

// AccountResult is an account as read back from the app after the change.
type AccountResult struct {
	App       string   `json:"app"`
	AccountID string   `json:"account_id,omitempty"`
	Found     bool     `json:"found"`
	Active    bool     `json:"active"`
	WasActive bool     `json:"was_active"`
	Groups    []string `json:"groups,omitempty"`
	// VerifiedAt is when the app was read back and agreed with the change.
	VerifiedAt time.Time `json:"verified_at"`
	// Note says what the app could and could not do, such as "sessions ended".
	Note string `json:"note,omitempty"`
}

// FailureRecord records that a step failed in one app, for the read model.
type FailureRecord struct {
	Key        string `json:"key"`
	EmployeeID string `json:"employee_id"`
	App        string `json:"app"`
	Error      string `json:"error"`
}

// EmployeeRecord asks the read model to store a person's record and status.
type EmployeeRecord struct {
	Key      string          `json:"key"`
	Employee tenure.Employee `json:"employee"`
	Action   string          `json:"action"`
	Actor    string          `json:"actor,omitempty"`
}

// ApprovalRequest asks for one grant to be approved.
type ApprovalRequest struct {
	Approval tenure.Approval `json:"approval"`
	Person   tenure.Person   `json:"person"`
	// RequestedBy says what asked, such as "HR event hire-42".
	RequestedBy string `json:"requested_by,omitempty"`
}

// ApprovalStep names an approval whose reminder or escalation is due.
type ApprovalStep struct {
	ApprovalID string `json:"approval_id"`
	// ITApprover decides when there is nobody else to escalate to.
	ITApprover string `json:"it_approver,omitempty"`
}

// Notice asks for people to be told about a finished run.
type Notice struct {
	Key        string        `json:"key"`
	EmployeeID string        `json:"employee_id"`
	Person     tenure.Person `json:"person"`
	WorkflowID string        `json:"workflow_id"`
	Result     Result        `json:"result"`
}

// DiscardRecord records an HR event that arrived after a newer one.
type DiscardRecord struct {
	EventID    string    `json:"event_id"`
	EmployeeID string    `json:"employee_id"`
	At         time.Time `json:"at"`
	NewerAt    time.Time `json:"newer_at"`
}

// RefusalRecord records a decision the person's workflow refused.
type RefusalRecord struct {
	ApprovalID string `json:"approval_id"`
	EmployeeID string `json:"employee_id"`
	App        string `json:"app"`
	By         string `json:"by"`
	Why        string `json:"why"`
}

// DecisionRecord records an approval's outcome.
type DecisionRecord struct {
	Approval tenure.Approval `json:"approval"`
}
