package rollout

import (
	"context"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/guard"
)

// Guard is the blast-radius guard as a deploy uses it; *guard.Guard is one.
// Preview says what Check would decide and writes nothing, for plans; Check
// counts the people a deploy takes access from against the policy source's
// window, and holds the deploy whole when there are too many: its rollout's
// workflow waits for the hold's decision. Release and Discard decide a hold,
// audit the decision and signal the workflow that waits for it.
type Guard interface {
	Preview(ctx context.Context, r guard.Request) (guard.Verdict, error)
	Check(ctx context.Context, r guard.Request) (guard.Verdict, error)
	Release(ctx context.Context, id, actor, note string) (tenure.Hold, error)
	Discard(ctx context.Context, id, actor, note string) (tenure.Hold, error)
}

var _ Guard = (*guard.Guard)(nil)
