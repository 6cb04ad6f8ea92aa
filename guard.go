package tenure

import (
	"context"
	"time"
)

// The blast-radius guard (package guard) stands in front of every bulk path:
// when an operation, or a source within a sliding window, would disable or revoke
// access for more people than the policy's threshold, the excess is held until an
// admin releases or discards it. These are its domain types and what it needs of
// the read model.

// EventHeld marks an HR event that the guard holds: recorded, with its body, but
// not handed to the person's workflow until its hold is released (then it is
// dispatched) or discarded (then it is discarded). Intake never dispatches a
// held event on its own, whoever sends it again.
const EventHeld EventStatus = "held"

// HoldStatus is where a hold is.
type HoldStatus string

// The hold statuses.
const (
	// HoldOpen waits for an admin's decision.
	HoldOpen HoldStatus = "held"
	// HoldReleased: an admin let the held work go on.
	HoldReleased HoldStatus = "released"
	// HoldDiscarded: an admin dropped the held work.
	HoldDiscarded HoldStatus = "discarded"
)

// Valid reports whether s is one of the hold statuses.
func (s HoldStatus) Valid() bool {
	switch s {
	case HoldOpen, HoldReleased, HoldDiscarded:
		return true
	}
	return false
}

// Hold is work the guard stopped: people whose access an operation would have
// disabled or revoked beyond the threshold, with the HR events that would have
// done it, or a whole workflow-backed operation (a policy rollout, a
// reconciliation) that waits for the decision.
type Hold struct {
	ID string `json:"id"`
	// Source is the bulk path ("batch", "import", "webhook:<source>",
	// "workday", "scim", "policy", "reconcile"); Operation is the one that
	// first tripped it (a batch, a file, a rollout...).
	Source    string `json:"source"`
	Operation string `json:"operation"`
	Actor     string `json:"actor"`
	// WorkflowID is set for a workflow-backed operation, held whole: its
	// workflow waits for the decision as a signal.
	WorkflowID string     `json:"workflow_id,omitempty"`
	Status     HoldStatus `json:"status"`
	// Reason says why the guard held it, with the threshold it crossed.
	Reason string `json:"reason"`
	// People is how many people it holds; Events how many HR events, of which
	// Pending are still held (neither dispatched nor discarded).
	People    int        `json:"people"`
	Events    int        `json:"events"`
	Pending   int        `json:"pending"`
	CreatedAt time.Time  `json:"created_at"`
	UpdatedAt time.Time  `json:"updated_at"`
	DecidedBy string     `json:"decided_by,omitempty"`
	DecidedAt *time.Time `json:"decided_at,omitempty"`
	// Note is the decider's reason, when they gave one.
	Note string `json:"note,omitempty"`
}

// HoldFilter selects holds, newest first.
type HoldFilter struct {
	Status HoldStatus // empty for all
	Limit  int        // 0 means 50; at most 500
	Offset int
}

// GuardQuery names a source's sliding window and the people an operation
// concerns.
type GuardQuery struct {
	Source string
	// Since is where the window starts: people counted before it have left it.
	Since time.Time
	// At is now: the time people entered into the window are counted at.
	At time.Time
	// People are everyone the operation concerns: whose access it would take
	// away, and whose HR events it carries.
	People []string
}

// GuardState is what the guard decides on, read inside the store's transaction.
type GuardState struct {
	// Window is how many distinct people the source's window holds.
	Window int
	// InWindow says which of the query's people are already in it.
	InWindow map[string]bool
	// Blocked maps each of the query's people who have HR events in an open
	// hold to that hold: their later events wait behind them, in order.
	Blocked map[string]string
	// OpenHold is the source's open hold of events (not workflow-backed), the
	// one that new excess joins; "" when there is none.
	OpenHold string
}

// GuardWrite is what the guard decided to record.
type GuardWrite struct {
	// Window are the people to count into the source's window at the query's At
	// (or whose time there to refresh).
	Window []string
	// NewHold, when set, is created (status HoldOpen).
	NewHold *Hold
	// HoldPeople are the people each hold (by ID) holds, added to what it held.
	HoldPeople map[string][]string
	// HoldEvents are the HR events each hold keeps, recorded as EventHeld in the
	// event log, in order.
	HoldEvents map[string][]EventRecord
}

// GuardResult says what the store recorded.
type GuardResult struct {
	// HeldEvents maps each held event's ID to its hold. An event that had been
	// received before (a duplicate, or another body under its ID) is not held
	// again: intake answers for it.
	HeldEvents map[string]string
}

// GuardStore is the guard's part of the read model: the sliding windows, the
// holds and what they keep. Holds are durable and shared by every API process;
// two processes cannot both slip under the threshold, because the window is
// read and written in one serialised transaction.
type GuardStore interface {
	// Guard reads the window and the holds for q, calls decide with them and
	// records what it returns, in one transaction that no other Guard call
	// overlaps. decide must not do I/O. An error from decide writes nothing.
	Guard(ctx context.Context, q GuardQuery, decide func(GuardState) (GuardWrite, error)) (GuardResult, error)
	// PeekGuard reads what Guard would hand decide, writing nothing.
	PeekGuard(ctx context.Context, q GuardQuery) (GuardState, error)
	GetHold(ctx context.Context, id string) (Hold, error)
	ListHolds(ctx context.Context, f HoldFilter) ([]Hold, error)
	// ListHoldPeople returns up to limit of the people a hold holds, in order.
	ListHoldPeople(ctx context.Context, id string, limit int) ([]string, error)
	// ListHoldEvents returns the HR events a hold keeps, in the order held, with
	// their current status (held, dispatched or discarded).
	ListHoldEvents(ctx context.Context, id string) ([]EventRecord, error)
	// DecideHold moves an open hold to status (released or discarded) and
	// returns it. A hold already decided the same way is returned with
	// changed=false; one decided the other way is ECONFLICT.
	DecideHold(ctx context.Context, id string, status HoldStatus, by, note string, at time.Time) (h Hold, changed bool, err error)
	// CountOpenHolds counts the open holds per source.
	CountOpenHolds(ctx context.Context) (map[string]int, error)
	// EmployeesByID returns the HR records of those of ids that Tenure knows.
	EmployeesByID(ctx context.Context, ids []string) (map[string]Employee, error)
	// EventsByID returns the events of those of ids that Tenure has received.
	EventsByID(ctx context.Context, ids []string) (map[string]EventRecord, error)
}

// HoldNotice alerts IT to a new hold.
type HoldNotice struct {
	Hold Hold `json:"hold"`
	// URL is the console's page of holds, or "" when no console URL is known.
	URL string `json:"url,omitempty"`
}

// HoldNotifier tells IT at once that the guard held something: in Slack when it
// is configured, in the log otherwise.
type HoldNotifier interface {
	GuardHeld(ctx context.Context, n HoldNotice) error
}
