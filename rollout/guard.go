package rollout

import "context"

// GuardSource is how policy deploys name themselves to the guard.
const GuardSource = "policy"

// GuardRequest asks the blast-radius guard about an operation that would
// disable or revoke access for People. It has the fields of the guard's own
// request, so that the guard can take its place.
type GuardRequest struct {
	Source     string
	Operation  string
	People     []string
	Actor      string
	WorkflowID string
}

// GuardVerdict is the guard's answer: Held with the hold's ID and the reason,
// or not held.
type GuardVerdict struct {
	Held   bool
	HoldID string
	Reason string
}

// Guard is the blast-radius guard as a deploy uses it. Preview says what Check
// would decide and writes nothing; Check counts the people against the
// source's window and holds the operation when it is too big. A held rollout's
// workflow waits for the hold's decision.
type Guard interface {
	Preview(ctx context.Context, r GuardRequest) (GuardVerdict, error)
	Check(ctx context.Context, r GuardRequest) (GuardVerdict, error)
}

// NeverHold is a guard that holds nothing: the guard in force until the
// blast-radius guard is built in.
type NeverHold struct{}

// Preview never holds.
func (NeverHold) Preview(context.Context, GuardRequest) (GuardVerdict, error) {
	return GuardVerdict{}, nil
}

// Check never holds.
func (NeverHold) Check(context.Context, GuardRequest) (GuardVerdict, error) {
	return GuardVerdict{}, nil
}
