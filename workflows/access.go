package workflows

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/tenure-io/tenure"
)

// connectorOptions are the options of every call into an app. Transient faults are
// retried with capped backoff and rate limits after the delay the app asked for
// (the activity sets NextRetryDelay for both), so an app's outage is waited out; permanent
// faults are non-retryable. The retry policy sets no attempt limit: the activity
// decides when to stop (the app's give_up_after for transient faults, a bounded
// number of attempts for a change the app does not show), so a rate limit never
// uses up a step's attempts. Cancellation waits for a call in flight, so a
// pre-empted joiner never creates an account behind the leaver's back.
var connectorOptions = workflow.ActivityOptions{
	StartToCloseTimeout: 30 * time.Second,
	RetryPolicy: &temporal.RetryPolicy{
		InitialInterval:    200 * time.Millisecond,
		BackoffCoefficient: 2,
		MaximumInterval:    30 * time.Second,
	},
	WaitForCancellation: true,
}

// localOptions are the options of read-model writes, which run as local activities.
var localOptions = workflow.LocalActivityOptions{
	StartToCloseTimeout: 10 * time.Second,
	RetryPolicy: &temporal.RetryPolicy{
		InitialInterval:    100 * time.Millisecond,
		BackoffCoefficient: 2,
		MaximumInterval:    5 * time.Second,
		MaximumAttempts:    20,
	},
}

// Joiner gives a new hire (or a rehire) the access of Grant. Accounts are created
// inactive when the start date is still ahead, and activated on the day.
func Joiner(ctx workflow.Context, in AccessInput) (Result, error) {
	return converge(ctx, in)
}

// Mover moves a person's access to what their new record gives: Grant is created
// or updated and Revoke, the apps the new role no longer gives, is disabled.
func Mover(ctx workflow.Context, in AccessInput) (Result, error) {
	return converge(ctx, in)
}

// converge makes each app in in.Grant hold an account with exactly the managed
// entitlements it should, disables the accounts in in.Revoke and deletes those
// in in.Delete, all apps in parallel, two activities per app granted. One app
// failing never stops the others. Inputs from before Delete existed have none,
// and run as they did.
func converge(ctx workflow.Context, in AccessInput) (Result, error) {
	return convergeBy(ctx, in, grantApp, revokeApp)
}

// provision is converge with one call per app, ProvisionAccount or
// RevokeAccount, each made by call (callLimited, or callFirstInPlace): a
// joiner or mover run in the person's own workflow.
func provision(ctx workflow.Context, in AccessInput, call stepCall) (Result, error) {
	return convergeBy(ctx, in, provisionApp(call), revokeAppOnce(call))
}

// stepCall makes one app step's call, op for the app t.
type stepCall func(ctx workflow.Context, t AppTarget, op string, req AccountRequest, out *AccountResult) error

// appStep brings one app of a joiner or mover to where it should be.
type appStep func(ctx workflow.Context, in AccessInput, t AppTarget) AppOutcome

func convergeBy(ctx workflow.Context, in AccessInput, grantApp, revokeApp appStep) (Result, error) {
	ctx = workflow.WithActivityOptions(ctx, connectorOptions)
	outcomes := make([]AppOutcome, len(in.Grant)+len(in.Revoke)+len(in.Delete))
	wg := workflow.NewWaitGroup(ctx)
	for i, t := range in.Grant {
		wg.Add(1)
		workflow.Go(ctx, func(ctx workflow.Context) {
			defer wg.Done()
			outcomes[i] = grantApp(ctx, in, t)
		})
	}
	for i, t := range in.Revoke {
		wg.Add(1)
		workflow.Go(ctx, func(ctx workflow.Context) {
			defer wg.Done()
			outcomes[len(in.Grant)+i] = revokeApp(ctx, in, t)
		})
	}
	for i, t := range in.Delete {
		wg.Add(1)
		workflow.Go(ctx, func(ctx workflow.Context) {
			defer wg.Done()
			outcomes[len(in.Grant)+len(in.Revoke)+i] = deleteApp(ctx, in, t)
		})
	}
	wg.Wait(ctx)
	return finish(ctx, in.EmployeeID, in.Key, outcomes)
}

func grantApp(ctx workflow.Context, in AccessInput, t AppTarget) AppOutcome {
	req := stepRequest(in.EmployeeID, in.Key, in.Run, in.Person, t, OpCreateAccount)
	req.Active = in.Active
	var acct AccountResult
	if err := callLimited(ctx, t, OpCreateAccount, req, &acct); err != nil {
		return failed(t.App, t.AccountID, err)
	}
	req.Key = stepKey(in.EmployeeID, in.Key, t.App, OpSyncEntitlements)
	req.AccountID = acct.AccountID
	req.Entitlements = t.Entitlements
	req.Managed = t.Managed
	if err := callLimited(ctx, t, OpSyncEntitlements, req, &acct); err != nil {
		return failed(t.App, acct.AccountID, err)
	}
	return grantedOutcome(t, acct)
}

// provisionApp is grantApp in one call.
func provisionApp(call stepCall) appStep {
	return func(ctx workflow.Context, in AccessInput, t AppTarget) AppOutcome {
		req := stepRequest(in.EmployeeID, in.Key, in.Run, in.Person, t, OpProvisionAccount)
		req.Active, req.Entitlements, req.Managed = in.Active, t.Entitlements, t.Managed
		var acct AccountResult
		if err := call(ctx, t, OpProvisionAccount, req, &acct); err != nil {
			return failed(t.App, t.AccountID, err)
		}
		return grantedOutcome(t, acct)
	}
}

// grantedOutcome is what granting t did: the account active, or pending
// until the app activates it.
func grantedOutcome(t AppTarget, acct AccountResult) AppOutcome {
	status := tenure.AccessActive
	if !acct.Active {
		status = tenure.AccessPending
	}
	return AppOutcome{App: t.App, AccountID: acct.AccountID, Status: status,
		Entitlements: acct.Groups, Changed: true, VerifiedAt: acct.VerifiedAt, Note: acct.Note}
}

// revokeAppOnce is revokeApp in one call.
func revokeAppOnce(call stepCall) appStep {
	return func(ctx workflow.Context, in AccessInput, t AppTarget) AppOutcome {
		req := stepRequest(in.EmployeeID, in.Key, in.Run, in.Person, t, OpRevokeAccount)
		req.Managed = t.Managed
		var acct AccountResult
		if err := call(ctx, t, OpRevokeAccount, req, &acct); err != nil {
			return failed(t.App, t.AccountID, err)
		}
		return revokedOutcome(t, acct)
	}
}

// revokedOutcome is what revoking t did: the account disabled, or none there.
func revokedOutcome(t AppTarget, acct AccountResult) AppOutcome {
	if !acct.Found {
		return AppOutcome{App: t.App, Status: tenure.AccessDeleted, VerifiedAt: acct.VerifiedAt}
	}
	return AppOutcome{App: t.App, AccountID: acct.AccountID, Status: tenure.AccessDisabled,
		Changed: acct.WasActive, VerifiedAt: acct.VerifiedAt, Note: acct.Note}
}

// revokeApp takes away an app the person's new role no longer gives: the account
// is disabled first, so access ends at once, then Tenure's entitlements are removed.
func revokeApp(ctx workflow.Context, in AccessInput, t AppTarget) AppOutcome {
	req := stepRequest(in.EmployeeID, in.Key, in.Run, in.Person, t, OpDisableAccount)
	var acct AccountResult
	if err := callLimited(ctx, t, OpDisableAccount, req, &acct); err != nil {
		return failed(t.App, t.AccountID, err)
	}
	if !acct.Found {
		return revokedOutcome(t, acct)
	}
	req.Key = stepKey(in.EmployeeID, in.Key, t.App, OpSyncEntitlements)
	req.AccountID = acct.AccountID
	req.Managed = t.Managed
	if err := callLimited(ctx, t, OpSyncEntitlements, req, &acct); err != nil {
		return failed(t.App, acct.AccountID, err)
	}
	return revokedOutcome(t, acct)
}

// deleteApp deletes an account that a mover disabled, once the retention
// period is over, as a leaver's phase 2 does: the app's data goes to the
// manager first where it can, and an app that cannot delete keeps the account
// disabled (the read model says which).
func deleteApp(ctx workflow.Context, in AccessInput, t AppTarget) AppOutcome {
	req := stepRequest(in.EmployeeID, in.Key, in.Run, in.Person, t, OpDeleteAccount)
	var acct AccountResult
	if err := callLimited(ctx, t, OpDeleteAccount, req, &acct); err != nil {
		return failed(t.App, t.AccountID, err)
	}
	return AppOutcome{App: t.App, AccountID: acct.AccountID, Status: tenure.AccessDeleted,
		VerifiedAt: acct.VerifiedAt, Note: acct.Note}
}

// Leaver takes a person's access away. Phase 1 disables every account in parallel,
// revokes sessions where the app can, and verifies each by reading it back. Phase 2,
// after the retention period, deletes the accounts.
func Leaver(ctx workflow.Context, in RevokeInput) (Result, error) {
	op, status := OpDisableAccount, tenure.AccessDisabled
	if in.Phase == LeaverDelete {
		op, status = OpDeleteAccount, tenure.AccessDeleted
	}
	return fanOut(ctx, in, op, status)
}

// Lock disables every account the person has now, in parallel, and verifies it.
// Its outcomes marked Changed are the accounts Unlock restores.
func Lock(ctx workflow.Context, in RevokeInput) (Result, error) {
	return fanOut(ctx, in, OpDisableAccount, tenure.AccessDisabled)
}

// Unlock re-enables exactly the accounts that the lock disabled.
func Unlock(ctx workflow.Context, in RevokeInput) (Result, error) {
	return fanOut(ctx, in, OpEnableAccount, tenure.AccessActive)
}

// fanOut runs one operation against every app at once, each call an activity:
// a deletion on the app's own task queue where the policy limits the app, as
// bulk work is, and anything else on the workflow's task queue.
func fanOut(ctx workflow.Context, in RevokeInput, op string, status tenure.AccessStatus) (Result, error) {
	ctx = workflow.WithActivityOptions(ctx, connectorOptions)
	return fanOutWith(ctx, in, op, status, func(ctx workflow.Context, t AppTarget, req AccountRequest, out *AccountResult) error {
		if op == OpDeleteAccount {
			// Deletion after the retention period is bulk work, not urgent.
			return callLimited(ctx, t, op, req, out)
		}
		return call(ctx, t.Connector, op, req, out)
	})
}

// appCall makes one app's call of a fan-out.
type appCall func(ctx workflow.Context, t AppTarget, req AccountRequest, out *AccountResult) error

// fanOutWith runs op against every app at once through callApp, and records
// and reports the outcomes as finish does.
func fanOutWith(ctx workflow.Context, in RevokeInput, op string, status tenure.AccessStatus, callApp appCall) (Result, error) {
	outcomes := make([]AppOutcome, len(in.Apps))
	wg := workflow.NewWaitGroup(ctx)
	for i, t := range in.Apps {
		wg.Add(1)
		workflow.Go(ctx, func(ctx workflow.Context) {
			defer wg.Done()
			req := stepRequest(in.EmployeeID, in.Key, in.Run, in.Person, t, op)
			var acct AccountResult
			if err := callApp(ctx, t, req, &acct); err != nil {
				outcomes[i] = failed(t.App, t.AccountID, err)
				return
			}
			o := AppOutcome{App: t.App, AccountID: acct.AccountID, Status: status,
				VerifiedAt: acct.VerifiedAt, Entitlements: acct.Groups, Note: acct.Note}
			switch {
			case !acct.Found:
				// Nothing to take away in this app: there is no account.
				o.Status = tenure.AccessDeleted
			case op == OpDisableAccount:
				o.Changed = acct.WasActive
			case op == OpEnableAccount:
				o.Changed = !acct.WasActive
			}
			outcomes[i] = o
		})
	}
	wg.Wait(ctx)
	return finish(ctx, in.EmployeeID, in.Key, outcomes)
}

// finish records each failed app in the read model and fails the run, naming the
// apps, when any app failed: nothing is reported as done that is not.
func finish(ctx workflow.Context, employeeID, key string, outcomes []AppOutcome) (Result, error) {
	if err := ctx.Err(); err != nil {
		return Result{}, temporal.NewCanceledError()
	}
	sort.Slice(outcomes, func(i, j int) bool { return outcomes[i].App < outcomes[j].App })
	res := Result{Outcomes: outcomes}
	failedApps := res.Failed()
	if len(failedApps) == 0 {
		return res, nil
	}
	lctx := workflow.WithLocalActivityOptions(ctx, localOptions)
	msgs := make([]string, 0, len(failedApps))
	for _, o := range failedApps {
		rec := FailureRecord{Key: stepKey(employeeID, key, o.App, "failed"), EmployeeID: employeeID, App: o.App, Error: o.Error}
		if err := workflow.ExecuteLocalActivity(lctx, RecordFailureActivity, rec).Get(ctx, nil); err != nil {
			workflow.GetLogger(ctx).Error("recording a failed app", "app", o.App, "error", err)
		}
		msgs = append(msgs, o.App+": "+o.Error)
	}
	return res, temporal.NewNonRetryableApplicationError(
		fmt.Sprintf("%d of %d apps failed: %s", len(failedApps), len(outcomes), strings.Join(msgs, "; ")),
		"AppsFailed", nil, res)
}

// call runs one connector operation for one app, on Tenure's task queue.
func call(ctx workflow.Context, connector, op string, req AccountRequest, out *AccountResult) error {
	return workflow.ExecuteActivity(ctx, ConnectorActivity(connector, op), req).Get(ctx, out)
}

// callLimited runs one bulk connector operation on the app's own task queue
// when the policy limits the app, so that the limit holds across every worker.
func callLimited(ctx workflow.Context, t AppTarget, op string, req AccountRequest, out *AccountResult) error {
	if t.TaskQueue != "" {
		opts := workflow.GetActivityOptions(ctx)
		opts.TaskQueue = t.TaskQueue
		ctx = workflow.WithActivityOptions(ctx, opts)
	}
	return call(ctx, t.Connector, op, req, out)
}

func failed(app, accountID string, err error) AppOutcome {
	msg := err.Error()
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		msg = appErr.Message()
	}
	var canceled *temporal.CanceledError
	if errors.As(err, &canceled) {
		msg = "canceled"
	}
	return AppOutcome{App: app, AccountID: accountID, Status: tenure.AccessFailed, Error: msg}
}

// stepRequest is the request of one step of a run for the app t: op, under its
// business key, as a step of run (AccountRequest.Run).
func stepRequest(employeeID, key, run string, person tenure.Person, t AppTarget, op string) AccountRequest {
	return AccountRequest{
		Key:        stepKey(employeeID, key, t.App, op),
		EmployeeID: employeeID,
		App:        t.App,
		Person:     person,
		AccountID:  t.AccountID,
		Run:        run,
	}
}

// stepKey is the business key of one step: employee, event, app and operation.
func stepKey(employeeID, key, app, op string) string {
	return employeeID + "/" + key + "/" + app + "/" + op
}
