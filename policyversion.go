package tenure

import (
	"context"
	"time"
)

// PolicyVersion is one deployed access policy. It never changes once stored:
// Version is the hex SHA-256 of YAML, so the same text is always the same
// version, and the workers that evaluate a version by its hash agree.
type PolicyVersion struct {
	Version string `json:"version"`
	// YAML is the policy file as it was deployed.
	YAML string `json:"yaml"`
	// Author is who deployed it first, as the audit trail names them.
	Author    string    `json:"author"`
	CreatedAt time.Time `json:"created_at"`
	// ActivatedAt and ActivatedBy say when the version last came into force,
	// and through whom; nil for a version that is not the active one.
	ActivatedAt *time.Time `json:"activated_at,omitempty"`
	ActivatedBy string     `json:"activated_by,omitempty"`
}

// PolicyStore keeps the deployed policy versions and which one is in force.
type PolicyStore interface {
	// SavePolicyVersion stores v unless a version with its hash exists, and
	// returns the stored version either way.
	SavePolicyVersion(ctx context.Context, v PolicyVersion) (PolicyVersion, error)
	GetPolicyVersion(ctx context.Context, version string) (PolicyVersion, error)
	// ActivePolicyVersion returns the version in force: ENOTFOUND before the
	// first deploy.
	ActivePolicyVersion(ctx context.Context) (PolicyVersion, error)
	// ActiveVersion returns only the hash of the version in force, for the
	// workers that ask before every evaluation; ENOTFOUND before the first
	// deploy.
	ActiveVersion(ctx context.Context) (string, error)
	// ActivatePolicyVersion puts version in force. key makes it idempotent: a
	// second activation with the same key changes nothing, even when another
	// version was activated in between.
	ActivatePolicyVersion(ctx context.Context, key, version, by string, at time.Time) error
}

// RolloutStatus is how far a policy rollout has got.
type RolloutStatus string

// The rollout statuses.
const (
	// RolloutHeld waits for a person to confirm a deploy the guard held; the
	// version is not in force yet.
	RolloutHeld      RolloutStatus = "held"
	RolloutRunning   RolloutStatus = "running"
	RolloutCompleted RolloutStatus = "completed"
	// RolloutFailed finished with at least one person whose access could not
	// be brought in line, or could not start.
	RolloutFailed   RolloutStatus = "failed"
	RolloutCanceled RolloutStatus = "canceled"
)

// Open reports whether the rollout may still change anyone's access.
func (s RolloutStatus) Open() bool { return s == RolloutHeld || s == RolloutRunning }

// AppProgress is one app's part in a rollout: how many people the plan gives
// something in the app (Gain) or takes something from (Lose), and how many of
// them have been brought in line there (Done) or failed there (Failed).
type AppProgress struct {
	Gain   int `json:"gain"`
	Lose   int `json:"lose"`
	Done   int `json:"done"`
	Failed int `json:"failed"`
}

// Rollout is one deploy of a policy version: every person whose access the
// version changes is re-evaluated through their own workflow.
type Rollout struct {
	ID      string        `json:"id"`
	Version string        `json:"version"`
	Status  RolloutStatus `json:"status"`
	// Actor is who deployed, and Source how: "api", "console", or the policy
	// file a process was started with.
	Actor  string `json:"actor"`
	Source string `json:"source"`
	// Total is the people the plan found; Done those brought in line (Deferred
	// of them wait for an unlock, Skipped were no longer employed), Failed
	// those whose access could not be.
	Total    int                    `json:"total"`
	Done     int                    `json:"done"`
	Failed   int                    `json:"failed"`
	Deferred int                    `json:"deferred"`
	Skipped  int                    `json:"skipped"`
	ByApp    map[string]AppProgress `json:"by_app"`
	// HoldID and Reason are the guard's, while and after it held the deploy.
	HoldID string `json:"hold_id,omitempty"`
	Reason string `json:"reason,omitempty"`
	// Note says why a rollout failed or was canceled.
	Note      string     `json:"note,omitempty"`
	CreatedAt time.Time  `json:"created_at"`
	UpdatedAt time.Time  `json:"updated_at"`
	ClosedAt  *time.Time `json:"closed_at,omitempty"`
}

// RolloutItemStatus is where one person stands in a rollout.
type RolloutItemStatus string

// The rollout item statuses.
const (
	RolloutItemPending RolloutItemStatus = "pending"
	RolloutItemDone    RolloutItemStatus = "done"
	RolloutItemFailed  RolloutItemStatus = "failed"
	// RolloutItemDeferred is a locked person: their unlock applies the version.
	RolloutItemDeferred RolloutItemStatus = "deferred"
	// RolloutItemSkipped is someone no longer employed when their turn came.
	RolloutItemSkipped RolloutItemStatus = "skipped"
)

// RolloutItem is one person in a rollout: the apps the plan changes for them
// and, once their workflow has finished, how it went.
type RolloutItem struct {
	RolloutID  string            `json:"rollout_id"`
	EmployeeID string            `json:"employee_id"`
	Status     RolloutItemStatus `json:"status"`
	Apps       []string          `json:"apps,omitempty"`
	FailedApps []string          `json:"failed_apps,omitempty"`
	Error      string            `json:"error,omitempty"`
}

// RolloutStore keeps rollouts and where each person stands in them.
type RolloutStore interface {
	// CreateRollout stores r with its people, all pending, at once; ECONFLICT
	// when a rollout with its ID exists.
	CreateRollout(ctx context.Context, r Rollout, items []RolloutItem) error
	// GetRollout returns a rollout with its counts as they stand.
	GetRollout(ctx context.Context, id string) (Rollout, error)
	// AddRolloutItems adds people, pending, to an open rollout, leaving those
	// it has already as they are, and reports how many it added; ECONFLICT
	// when the rollout has closed.
	AddRolloutItems(ctx context.Context, id string, items []RolloutItem) (int, error)
	// ListRollouts returns the latest rollouts, newest first, with their
	// counts; source "" lists every source.
	ListRollouts(ctx context.Context, source string, limit int) ([]Rollout, error)
	// OpenRollouts returns the rollouts still held or running, oldest first.
	OpenRollouts(ctx context.Context) ([]Rollout, error)
	// SetRolloutStatus moves a rollout that is still open to status, with a
	// note; a closed rollout stays as it is. It reports whether it moved.
	SetRolloutStatus(ctx context.Context, id string, status RolloutStatus, note string, at time.Time) (bool, error)
	// PendingRolloutItems returns up to limit people of the rollout still
	// pending, with employee IDs after after, in ID order.
	PendingRolloutItems(ctx context.Context, id, after string, limit int) ([]RolloutItem, error)
	// ListRolloutItems returns the rollout's items for the people named.
	ListRolloutItems(ctx context.Context, id string, employeeIDs []string) ([]RolloutItem, error)
	// RecordRolloutOutcome moves a pending item to its outcome; an item that
	// is no longer pending stays as it is.
	RecordRolloutOutcome(ctx context.Context, item RolloutItem) error
}

// RolloutEngine runs rollouts: the workflows package implements it over a
// Temporal client.
type RolloutEngine interface {
	// StartRollout starts the rollout's workflow, which waits for the guard's
	// decision when r.HoldID is set. Starting the same rollout twice is
	// harmless.
	StartRollout(ctx context.Context, r Rollout) error
	// CancelRollout stops a rollout: nobody else is re-evaluated, and the
	// people already under way finish.
	CancelRollout(ctx context.Context, id, actor string) error
}

// PersonAccess is one person as a plan compares them: their record and
// status, and the accounts and grants Tenure recorded for them.
type PersonAccess struct {
	Employee Employee
	Accounts []Account
	Grants   []GrantRecord
}

// AccessReader reads everyone's recorded access, a page at a time.
type AccessReader interface {
	// EachPersonAccess calls fn with every person who is not terminated, in ID
	// order, with their accounts and grants. It stops at fn's first error.
	EachPersonAccess(ctx context.Context, fn func(PersonAccess) error) error
}

// RolloutWorkflowID returns the ID of a rollout's workflow.
func RolloutWorkflowID(rolloutID string) string { return "policy-rollout/" + rolloutID }
