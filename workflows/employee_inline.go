package workflows

import (
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/tenure-io/tenure"
)

// inlineChange guards running every lifecycle run (joiner, mover, leaver, lock,
// unlock) in the person's own workflow rather than as a child workflow: a
// joiner or mover with one activity per app, and a lock or a leaver's phase 1
// with each app's first try a local activity. Runs that started before it
// replay with children (see urgentLaneChange for their task queues).
const inlineChange = "inline-runs"

// firstTry is how a call's first try in place is made (tryInPlace): one
// attempt, as a local activity in the workflow task that asked for it, within
// timeout; when held, a cancellation waits for the try in flight.
type firstTry struct {
	timeout time.Duration
	held    bool
}

// urgentTry is the first try of the kill switch's calls and of notices to
// people, which nothing pre-empts.
var urgentTry = firstTry{timeout: 10 * time.Second}

// bulkTry is the first try of a joiner's or mover's call (callFirstInPlace).
// Its timeout is short, so that a worker too busy to make the call soon hands
// it to an ordinary activity, which any worker can take, rather than keeping
// the workflow task open: the workflow task of a bulk import's hire must stay
// well inside its own timeout, or a killed or saturated worker's tasks are
// tried again and again. It is held, since a lock or a termination pre-empts
// the run it belongs to.
var bulkTry = firstTry{timeout: 3 * time.Second, held: true}

// runLink is the workflow whose history shows the run kind/key: the child's
// own, or, for a run inline, the person's.
func (e *employee) runLink(ctx workflow.Context, kind, key string) string {
	if e.inlined >= 1 {
		return workflow.GetInfo(ctx).WorkflowExecution.ID
	}
	return ChildWorkflowID(e.EmployeeID, strings.ToLower(kind), key)
}

// runInline runs work as the run kind/key in the person's own workflow, and
// records it in the read model as runChild records a child. A pre-emptable
// run is cancelled when a lock or an immediate termination arrives; the
// cancellation waits for the calls in flight to finish, as a child's does.
func (e *employee) runInline(ctx workflow.Context, kind, key string, preemptable bool, work func(workflow.Context) (Result, error)) (Result, error) {
	run := tenure.Run{WorkflowID: inlineRunID(e.EmployeeID, kind, key),
		InWorkflow: workflow.GetInfo(ctx).WorkflowExecution.ID, EmployeeID: e.EmployeeID, Type: kind,
		EventID: key, Status: tenure.RunRunning, StartedAt: workflow.Now(ctx).UTC()}
	if err := e.recordRun(ctx, run); err != nil {
		return Result{}, err
	}
	wctx, cancel := workflow.WithCancel(ctx)
	defer cancel()
	var res Result
	var err error
	done := false
	workflow.Go(wctx, func(ctx workflow.Context) {
		res, err = work(ctx)
		done = true
	})
	if werr := workflow.Await(ctx, func() bool { return done || (preemptable && e.preempting(workflow.Now(ctx))) }); werr != nil {
		return Result{}, werr
	}
	if !done {
		e.logger.Info("pre-empting a running change", "run", run.WorkflowID)
		cancel()
		if werr := workflow.Await(ctx, func() bool { return done }); werr != nil {
			return Result{}, werr
		}
	}
	return res, e.closeRun(ctx, run, err, nil)
}

// inlineRunID names a run inside the person's workflow: the ID a child of
// kind would have had. The run's steps carry it (AccessInput.Run,
// RevokeInput.Run), so the audit trail and the evidence name the run.
func inlineRunID(employeeID, kind, key string) string {
	return ChildWorkflowID(employeeID, strings.ToLower(kind), key)
}

// disableNow disables every app of in at once, as a Lock or a leaver's phase 1
// does, with urgent calls.
func disableNow(ctx workflow.Context, in RevokeInput) (Result, error) {
	return fanOutWith(ctx, in, OpDisableAccount, tenure.AccessDisabled, func(ctx workflow.Context, t AppTarget, req AccountRequest, out *AccountResult) error {
		return callInPlace(ctx, t.Connector, OpDisableAccount, UrgentTaskQueue, req, out)
	})
}

// stepCall is how this run makes a joiner's or mover's app calls: first in
// place from version 2 of baselineChange, and as activities before it.
func (e *employee) stepCall() stepCall {
	if e.baseline >= 2 {
		return callFirstInPlace
	}
	return callLimited
}

// callFirstInPlace makes a joiner's or mover's call for the app t, op, first
// in place as bulkTry, then as callLimited does, through the task queue. A
// hire then costs the Temporal server one workflow task rather than one per
// app step and one more to finish. An app the policy limits is never called in place:
// all its calls go through its own task queue, so that its limit holds across
// every worker.
func callFirstInPlace(ctx workflow.Context, t AppTarget, op string, req AccountRequest, out *AccountResult) error {
	if t.TaskQueue == "" {
		if done, err := tryInPlace(ctx, bulkTry, InPlaceActivity(t.Connector, op), req, out); done {
			return err
		}
		// The next try goes to whichever worker polls for it, not eagerly
		// back to this one: a worker that could not make the call in time
		// may be saturated, or stopping, and would give the activity its
		// shutdown budget on top of the try's own timeout.
		opts := workflow.GetActivityOptions(ctx)
		opts.DisableEagerExecution = true
		ctx = workflow.WithActivityOptions(ctx, opts)
	}
	return callLimited(ctx, t, op, req, out)
}

// callInPlace makes an urgent app call first as a local activity, which runs at once
// on this worker, in this workflow task, with no round trip through the
// server; then, when that try fails with anything but a permanent error, as
// an ordinary activity on queue ("" for the workflow's own) with
// connectorOptions' retries, so an app's outage or rate limit is waited out
// durably and shows in the history. Both tries carry the same business key,
// so the change happens once in the app.
func callInPlace(ctx workflow.Context, connector, op, queue string, req AccountRequest, out *AccountResult) error {
	if done, err := tryInPlace(ctx, urgentTry, InPlaceActivity(connector, op), req, out); done {
		return err
	}
	opts := connectorOptions
	opts.TaskQueue = queue
	return workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, opts), ConnectorActivity(connector, op), req).Get(ctx, out)
}

// tryInPlace makes a call's first try, try, as the local activity name. It is
// done when the call succeeded, failed for good, or was cancelled; otherwise it
// has waited as long as the retry policy or the app asked before a second try,
// and the caller goes on with an ordinary activity. When the try is held, a
// cancellation waits for the try in flight, as connectorOptions'
// WaitForCancellation waits for an activity: the SDK would otherwise give up
// on a cancelled local activity at once, while its call could still change the
// app behind a pre-empting lock's back. (The urgent tries keep the SDK's
// behaviour their histories recorded.)
func tryInPlace[R any](ctx workflow.Context, try firstTry, name string, req R, out *AccountResult) (bool, error) {
	lactx := ctx
	if try.held {
		lactx, _ = workflow.NewDisconnectedContext(ctx)
	}
	lctx := workflow.WithLocalActivityOptions(lactx, workflow.LocalActivityOptions{
		ScheduleToCloseTimeout: try.timeout,
		RetryPolicy:            &temporal.RetryPolicy{MaximumAttempts: 1},
	})
	var res InPlaceResult
	if err := workflow.ExecuteLocalActivity(lctx, name, req).Get(lactx, &res); err != nil {
		// The local activity itself failed (it timed out): try again durably.
		return ctx.Err() != nil, ctx.Err()
	}
	if res.Failure == nil {
		*out = res.Result
		return true, nil
	}
	f := res.Failure
	if f.NonRetryable {
		return true, temporal.NewNonRetryableApplicationError(f.Message, f.Type, nil)
	}
	wait := connectorOptions.RetryPolicy.InitialInterval
	if f.RetryAfter > 0 {
		wait = f.RetryAfter
	}
	if err := workflow.Sleep(ctx, wait); err != nil {
		return true, err
	}
	return false, nil
}
