package tenure

import (
	"context"
	"time"
)

// AccountBefore is a person's account in one app as it stood just before a step
// took it away (a leaver's or a lock's disable, a leaver's delete): what the app
// showed when the step read it, and the entitlements the read model had last
// verified there. The step records it before it changes anything, once per step
// key, so a retry that finds the account already disabled keeps what was there
// before the first attempt.
type AccountBefore struct {
	// Key is the step's business key, employee/key/app/operation.
	Key        string `json:"key"`
	EmployeeID string `json:"employee_id"`
	App        string `json:"app"`
	// WorkflowID is the run the step belongs to, such as employee/E1/leaver/evt-9.
	WorkflowID string `json:"workflow_id"`
	// Operation is the connector operation that followed, such as DisableAccount.
	Operation string `json:"operation"`
	AccountID string `json:"account_id"`
	// UserName is the account's user name as the app stores it.
	UserName string `json:"user_name,omitempty"`
	// Status is what the app showed: active, pending (an invitation) or disabled.
	Status AccessStatus `json:"status"`
	// Entitlements are those the read model last verified in the app, and
	// EntitlementsVerifiedAt when; nil when it had never verified the account.
	Entitlements           []string   `json:"entitlements"`
	EntitlementsVerifiedAt *time.Time `json:"entitlements_verified_at,omitempty"`
	// ReadAt is when the step read the account from the app.
	ReadAt time.Time `json:"read_at"`
}

// AccountHistoryStore keeps the state each account was in before a step took it away.
type AccountHistoryStore interface {
	// RecordAccountBefore inserts b unless a record with its Key exists.
	RecordAccountBefore(ctx context.Context, b AccountBefore) error
	// ListAccountsBefore returns a person's records, oldest first.
	ListAccountsBefore(ctx context.Context, employeeID string) ([]AccountBefore, error)
}

// AccessHeld is one line of an access review: a person's account in one app, or
// one entitlement inside it, as the read model last verified it, with the grant
// and the approval behind it where the read model has them.
type AccessHeld struct {
	Employee Employee
	Account  Account
	// Entitlement is empty for the account itself.
	Entitlement string
	// Grant is the read model's grant for this line; nil when it has none (an
	// account whose grant needed no approval has no grant row of its own).
	Grant *GrantRecord
	// Approval is the approval the grant names; nil when it names none.
	Approval *Approval
}

// AccessReviewStore reads everyone's access for an access review, a page at a
// time, so that a large organisation is never held in memory at once.
type AccessReviewStore interface {
	// EachAccess calls fn with every account, then every entitlement grant in
	// it, ordered by person, app and entitlement; app "" means every app. It
	// stops at fn's first error and returns it.
	EachAccess(ctx context.Context, app string, fn func(AccessHeld) error) error
}
