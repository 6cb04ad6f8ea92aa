package activities

import (
	"context"

	"github.com/tenure-io/tenure/guard"
)

// Guard is the blast-radius guard as reconciliation asks it, before anything
// that would disable or revoke access in bulk: *guard.Guard.
type Guard interface {
	// Preview says what Check would decide, writing nothing.
	Preview(ctx context.Context, r guard.Request) (guard.Verdict, error)
	// Check records the people against the source's sliding window and, when
	// the threshold is crossed, creates a hold and alerts. A held
	// reconciliation waits for guard.DecisionSignal.
	Check(ctx context.Context, r guard.Request) (guard.Verdict, error)
}
