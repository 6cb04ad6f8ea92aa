package workflows

import (
	"context"
	"errors"

	"go.temporal.io/api/serviceerror"

	"github.com/tenure-io/tenure/guard"
)

// SignalGuardDecision hands an admin's decision on a hold to the workflow-backed
// operation that waits for it (a policy rollout, a reconciliation), as the
// guard.DecisionSignal signal. A workflow that has closed is not an error:
// nothing waits for the decision any more.
func (e *Engine) SignalGuardDecision(ctx context.Context, workflowID string, d guard.Decision) error {
	err := e.Client.SignalWorkflow(ctx, workflowID, "", guard.DecisionSignal, d)
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return nil
	}
	return err
}
