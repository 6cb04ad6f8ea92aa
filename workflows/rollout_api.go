package workflows

import (
	"context"
	"errors"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/tenure-io/tenure"
)

var _ tenure.RolloutEngine = (*Engine)(nil)

// Reconverge asks the person's workflow to bring their access in line with
// the policy version in force. The person's workflow must be running: one
// that has closed (a leaver whose accounts are deleted) has nothing to change.
func (e *Engine) Reconverge(ctx context.Context, employeeID, requestID, actor string) (string, error) {
	id := tenure.WorkflowID(employeeID)
	c := Command{Kind: CommandReconverge, RequestID: "reconverge:" + requestID, Actor: actor}
	err := e.Client.SignalWorkflow(ctx, id, "", CommandSignal, c)
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return "", tenure.Errorf(tenure.ENOTFOUND, "%s has no running workflow to re-evaluate", employeeID)
	}
	if err != nil {
		return "", tenure.Unavailable("Temporal", err)
	}
	return id, nil
}

// StartRollout starts the rollout's workflow on Tenure's task queue; one that
// has started already is left as it is.
func (e *Engine) StartRollout(ctx context.Context, r tenure.Rollout) error {
	opts := client.StartWorkflowOptions{
		ID:                       tenure.RolloutWorkflowID(r.ID),
		TaskQueue:                TaskQueue,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
	}
	in := RolloutInput{RolloutID: r.ID, Version: r.Version, Actor: r.Actor, HoldID: r.HoldID}
	_, err := e.Client.ExecuteWorkflow(ctx, opts, RolloutWorkflowName, in)
	if temporal.IsWorkflowExecutionAlreadyStartedError(err) {
		return nil
	}
	return tenure.Unavailable("Temporal", err)
}

// CancelRollout asks the rollout's workflow to stop.
func (e *Engine) CancelRollout(ctx context.Context, id, _ string) error {
	return rolloutGone(id, e.Client.CancelWorkflow(ctx, tenure.RolloutWorkflowID(id), ""))
}

// rolloutGone turns a rollout workflow that has closed into ECONFLICT.
func rolloutGone(id string, err error) error {
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return tenure.Errorf(tenure.ECONFLICT, "rollout %s is no longer running", id)
	}
	return tenure.Unavailable("Temporal", err)
}
