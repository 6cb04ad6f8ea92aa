package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/tenure-io/tenure"
)

// plan evaluates the policy for the person's current record.
func (e *employee) plan(ctx workflow.Context) (Plan, error) {
	var plan Plan
	lctx := workflow.WithLocalActivityOptions(ctx, localOptions)
	err := workflow.ExecuteLocalActivity(lctx, EvaluatePolicyActivity, *e.Person).Get(ctx, &plan)
	return plan, err
}

// accounts reads the person's accounts from the read model.
func (e *employee) accounts(ctx workflow.Context) ([]tenure.Account, error) {
	var accounts []tenure.Account
	lctx := workflow.WithLocalActivityOptions(ctx, localOptions)
	err := workflow.ExecuteLocalActivity(lctx, ListAccessActivity, e.EmployeeID).Get(ctx, &accounts)
	return accounts, err
}

// record is recordBy for a change that came from HR.
func (e *employee) record(ctx workflow.Context, key, action string) error {
	return e.recordBy(ctx, key, action, "hr")
}

// recordBy writes the person's record and status to the read model, with an audit record.
func (e *employee) recordBy(ctx workflow.Context, key, action, actor string) error {
	if e.Person == nil {
		return nil
	}
	rec := EmployeeRecord{
		Key:      e.EmployeeID + "/" + key,
		Employee: tenure.Employee{Person: *e.Person, Status: e.Status},
		Action:   action,
		Actor:    actor,
	}
	lctx := workflow.WithLocalActivityOptions(ctx, localOptions)
	return workflow.ExecuteLocalActivity(lctx, RecordEmployeeActivity, rec).Get(ctx, nil)
}

// recordRun writes a child run's status to the read model, for the console.
func (e *employee) recordRun(ctx workflow.Context, r tenure.Run) error {
	lctx := workflow.WithLocalActivityOptions(ctx, localOptions)
	if err := workflow.ExecuteLocalActivity(lctx, RecordRunActivity, r).Get(ctx, nil); err != nil {
		return fmt.Errorf("recording run %s: %w", r.WorkflowID, err)
	}
	return nil
}

// noticeOptions are the options of notices to people: retried, but never for long
// enough to hold up the person's workflow.
var noticeOptions = workflow.ActivityOptions{
	StartToCloseTimeout: 30 * time.Second,
	RetryPolicy: &temporal.RetryPolicy{
		InitialInterval:    time.Second,
		BackoffCoefficient: 2,
		MaximumInterval:    time.Minute,
		MaximumAttempts:    5,
	},
}

// notice tells people about a finished run. A notice that cannot be sent is
// logged: it never fails the person's workflow. Under baselineChange its
// first try is made in place, in the workflow task that finished the run, and
// only a notice that fails there goes on as an activity with retries: the
// common notice costs the workflow no activity and no further workflow task.
func (e *employee) notice(ctx workflow.Context, activity, key, workflowID string, res Result) error {
	n := Notice{Key: key, EmployeeID: e.EmployeeID, Person: *e.Person, WorkflowID: workflowID, Result: res}
	if e.baseline >= 1 {
		var ignored AccountResult
		done, err := tryInPlace(ctx, urgentTry, InPlace(activity), n, &ignored)
		if err != nil {
			e.logger.Error("sending a notice", "activity", activity, "error", err)
		}
		if done {
			return nil
		}
	}
	actx := workflow.WithActivityOptions(ctx, noticeOptions)
	if err := workflow.ExecuteActivity(actx, activity, n).Get(ctx, nil); err != nil {
		e.logger.Error("sending a notice", "activity", activity, "error", err)
	}
	return nil
}
