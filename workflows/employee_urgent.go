package workflows

import (
	"errors"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/tenure-io/tenure"
)

// urgentInlineChange guards running a lock's and a leaver phase 1's calls in the
// person's own workflow, each app's first try a local activity. Runs that
// started before it replay with a Lock or Leaver child (see urgentLaneChange).
const urgentInlineChange = "urgent-inline"

// firstTryOptions are the options of an urgent call's first try: one attempt,
// as a local activity, in the workflow task that asked for it.
var firstTryOptions = workflow.LocalActivityOptions{
	ScheduleToCloseTimeout: 10 * time.Second,
	RetryPolicy:            &temporal.RetryPolicy{MaximumAttempts: 1},
}

// urgentOptions are connectorOptions on the urgent lane, for an urgent call
// whose first try did not succeed.
var urgentOptions = func() workflow.ActivityOptions {
	o := connectorOptions
	o.TaskQueue = UrgentTaskQueue
	return o
}()

// inline reports whether kind, in phase, runs in the person's own workflow
// rather than as a child: a Lock, or a leaver's phase 1, taking access away now.
func (e *employee) inline(kind string, phase LeaverPhase) bool {
	return e.inlined >= 1 && (kind == LockWorkflowName || (kind == LeaverWorkflowName && phase == LeaverDisable))
}

// runUrgent disables every app of in at once from the person's own workflow,
// and records the run as runChild records a child: the engine's floor for
// taking access away is the signal and this workflow task, with no child
// workflow to create and schedule. kind names the run (Lock or Leaver).
func (e *employee) runUrgent(ctx workflow.Context, kind string, in RevokeInput) (Result, error) {
	run := tenure.Run{WorkflowID: ChildWorkflowID(e.EmployeeID, strings.ToLower(kind), in.Key),
		InWorkflow: workflow.GetInfo(ctx).WorkflowExecution.ID, EmployeeID: e.EmployeeID, Type: kind,
		EventID: in.Key, Status: tenure.RunRunning, StartedAt: workflow.Now(ctx).UTC()}
	if err := e.recordRun(ctx, run); err != nil {
		return Result{}, err
	}
	res, err := fanOutWith(ctx, in, OpDisableAccount, tenure.AccessDisabled, urgentCall(OpDisableAccount))
	return res, e.closeRun(ctx, run, err, nil)
}

// urgentCall makes an urgent app call: first as a local activity, which runs
// at once on this worker with no round trip through the server; then, when
// that try fails with anything but a permanent error, as an ordinary activity
// on UrgentTaskQueue with connectorOptions' retries, so an app's outage or rate
// limit is waited out durably and shows in the history. Both tries carry the
// same business key, so the call happens once in the app.
func urgentCall(op string) appCall {
	return func(ctx workflow.Context, t AppTarget, req AccountRequest, out *AccountResult) error {
		name := ConnectorActivity(t.Connector, op)
		lctx := workflow.WithLocalActivityOptions(ctx, firstTryOptions)
		err := workflow.ExecuteLocalActivity(lctx, name, req).Get(ctx, out)
		var appErr *temporal.ApplicationError
		if err == nil || ctx.Err() != nil || (errors.As(err, &appErr) && appErr.NonRetryable()) {
			return err
		}
		actx := workflow.WithActivityOptions(ctx, urgentOptions)
		return workflow.ExecuteActivity(actx, name, req).Get(ctx, out)
	}
}
