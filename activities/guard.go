package activities

import "context"

// Guard is the blast-radius guard as reconciliation asks it, before anything
// that would disable or revoke access in bulk. It has the method shapes of
// package guard's Guard; GuardRequest and GuardVerdict stand in for
// guard.Request and guard.Verdict, with the same fields, until that package is
// part of this branch.
type Guard interface {
	// Preview says what Check would decide, writing nothing.
	Preview(ctx context.Context, r GuardRequest) (GuardVerdict, error)
	// Check records the people against the source's sliding window and, when
	// the threshold is crossed, creates a hold and alerts.
	Check(ctx context.Context, r GuardRequest) (GuardVerdict, error)
}

// GuardRequest is an operation the guard is asked about.
type GuardRequest struct {
	Source    string   // "reconcile"
	Operation string   // the reconciliation's (or the remediation's) ID
	People    []string // employee IDs whose access this would disable or revoke
	Actor     string
	// WorkflowID is the workflow that waits on the guard's decision signal
	// (workflows.GuardDecisionSignal) while the operation is held.
	WorkflowID string
}

// GuardVerdict is the guard's answer.
type GuardVerdict struct {
	Held   bool
	HoldID string
	Reason string
}

// GuardSource is reconciliation's source name in the guard's windows.
const GuardSource = "reconcile"

// NoGuard holds nothing: it is what the worker is given until package guard
// is wired in, and every remediation goes ahead.
type NoGuard struct{}

// Preview never holds.
func (NoGuard) Preview(context.Context, GuardRequest) (GuardVerdict, error) {
	return GuardVerdict{}, nil
}

// Check never holds.
func (NoGuard) Check(context.Context, GuardRequest) (GuardVerdict, error) { return GuardVerdict{}, nil }
