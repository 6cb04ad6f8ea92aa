package activities

import (
	"cmp"
	"context"
	"errors"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/tenure-io/tenure/integrations"
	"github.com/tenure-io/tenure/workflows"
)

// Operation is one connector operation as an activity.
type Operation func(context.Context, workflows.AccountRequest) (workflows.AccountResult, error)

// Operations returns a's connector operations by name (workflows.OpCreateAccount
// and the rest). Each runs as a step of its request's run: a step of a run
// inside the person's workflow is recorded under that run (AccountRequest.Run),
// not under the person's workflow. It is a function, not a method, so that
// registering Activities as a whole does not take it for an activity.
func Operations(a *Activities) map[string]Operation {
	ops := map[string]Operation{
		workflows.OpCreateAccount:    a.CreateAccount,
		workflows.OpSyncEntitlements: a.SyncEntitlements,
		workflows.OpEnableAccount:    a.EnableAccount,
		workflows.OpDisableAccount:   a.DisableAccount,
		workflows.OpDeleteAccount:    a.DeleteAccount,
		workflows.OpProvisionAccount: a.ProvisionAccount,
		workflows.OpRevokeAccount:    a.RevokeAccount,
	}
	for name, op := range ops {
		ops[name] = func(ctx context.Context, req workflows.AccountRequest) (workflows.AccountResult, error) {
			kill := name == workflows.OpDisableAccount && urgent(ctx)
			if kill {
				// A rollout this process hands over waits for it (GiveWay).
				defer a.GiveWay.Urgent()()
			}
			ctx = killSwitch(withRun(ctx, req.Run), kill)
			return op(ctx, req)
		}
	}
	return ops
}

// urgent reports whether the call in ctx is the kill switch's: a disable
// tried in place (a lock's or a leaver phase 1's first try) or on the urgent
// lane. Its writes to the read model go ahead of bulk work's.
func urgent(ctx context.Context) bool {
	if !activity.IsActivity(ctx) {
		return false
	}
	info := activity.GetInfo(ctx)
	return info.IsLocalActivity || info.TaskQueue == workflows.UrgentTaskQueue
}

// ProvisionAccount is CreateAccount then SyncEntitlements, as one activity: a
// joiner's or mover's one step in an app. Each operation keeps the business
// key it has as a step of its own, so a retry repeats neither in the app nor
// in the audit trail. When the entitlements fail once the account is made, its
// ID is recorded as the activity's progress (a heartbeat) before the attempt
// fails, and the retry goes straight to the entitlements: a step of two needs
// no more luck than two steps would. A step that succeeds records no
// progress, which would cost a round trip to the server and a write there.
//
// An account created by this step is read back once, after its entitlements:
// that one read verifies both, two requests fewer in each app for every
// joiner (provisionNew).
func (a *Activities) ProvisionAccount(ctx context.Context, req workflows.AccountRequest) (workflows.AccountResult, error) {
	var made workflows.AccountResult
	resumed := progress(ctx, &made)
	log := &stepLog{}
	sync := req.Step(workflows.OpSyncEntitlements)
	if !resumed {
		create := req.Step(workflows.OpCreateAccount)
		c, m, err := a.makeAccount(ctx, create)
		if err != nil {
			return workflows.AccountResult{}, a.write(ctx, log, err)
		}
		if m.action == accountCreated {
			sync.AccountID = m.acct.ID
			return a.provisionNew(ctx, create, sync, c, m, log)
		}
		if made, err = a.readBack(ctx, create, c, m, log); err != nil {
			return made, a.write(ctx, log, err)
		}
	}
	sync.AccountID = made.AccountID
	res, err := a.syncEntitlements(ctx, sync, log)
	return res, a.writeSteps(ctx, log, err, resumed, made)
}

// provisionNew gives an account this step has just created its entitlements.
// Nothing is read before the adds, since a new account holds no group yet,
// and the read-back after them verifies the account too. Should the
// entitlements fail, the account is read back and recorded on its own, as
// CreateAccount would have, so that the retry goes straight to them.
func (a *Activities) provisionNew(ctx context.Context, create, sync workflows.AccountRequest, c integrations.Connector, m madeAccount, log *stepLog) (workflows.AccountResult, error) {
	s, err := a.applyEntitlements(ctx, sync, c, &m.acct, log)
	if err != nil {
		made, rerr := a.readBack(ctx, create, c, m, log)
		if rerr != nil {
			// Neither part is verified: the retry starts again from the
			// account, found by its business key.
			return workflows.AccountResult{}, a.write(ctx, log, err)
		}
		return workflows.AccountResult{}, a.writeSteps(ctx, log, err, false, made)
	}
	made, err := a.verifyAccount(ctx, create, m, s.got, log)
	if err != nil {
		return workflows.AccountResult{}, a.write(ctx, log, err)
	}
	res, err := a.recordEntitlements(ctx, sync, s, log)
	return res, a.writeSteps(ctx, log, err, false, made)
}

// RevokeAccount is DisableAccount then, where there is an account, a
// SyncEntitlements that removes every entitlement Tenure manages, as one
// activity: a mover's step in an app the new role no longer gives. WasActive
// says whether the account was active before it was disabled. As in
// ProvisionAccount, a retry after the disable goes straight to the
// entitlements.
func (a *Activities) RevokeAccount(ctx context.Context, req workflows.AccountRequest) (workflows.AccountResult, error) {
	var res workflows.AccountResult
	resumed := progress(ctx, &res)
	log := &stepLog{}
	if !resumed {
		var err error
		if res, err = a.disableAccount(ctx, req.Step(workflows.OpDisableAccount), log); err != nil || !res.Found {
			return res, a.write(ctx, log, err)
		}
	}
	sync := req.Step(workflows.OpSyncEntitlements)
	sync.AccountID, sync.Entitlements = res.AccountID, nil
	out, err := a.syncEntitlements(ctx, sync, log)
	out.WasActive = res.WasActive
	return out, a.writeSteps(ctx, log, err, resumed, res)
}

// writeSteps writes the log of a step of two whose second part ended with
// err, and, when that part failed after the first was done here and
// recorded, remembers the first's result for the retry.
func (a *Activities) writeSteps(ctx context.Context, log *stepLog, err error, resumed bool, first workflows.AccountResult) error {
	if werr := a.write(ctx, log, nil); werr != nil {
		// The first part's records are lost with this attempt: the retry
		// does it again (found in the app by its business key) and records it.
		return cmp.Or(err, werr)
	}
	if err != nil && !resumed {
		remember(ctx, first)
	}
	return err
}

// remember records, as the activity's heartbeat, what this failing attempt
// has done, for progress to read on the retry. A local activity has no retry
// to tell.
func remember(ctx context.Context, done workflows.AccountResult) {
	if activity.IsActivity(ctx) && !activity.GetInfo(ctx).IsLocalActivity {
		activity.RecordHeartbeat(ctx, done)
	}
}

// progress reads what an earlier attempt of this activity recorded it had
// done, and reports whether there was any.
func progress(ctx context.Context, out *workflows.AccountResult) bool {
	if !activity.IsActivity(ctx) || activity.GetInfo(ctx).IsLocalActivity || !activity.HasHeartbeatDetails(ctx) {
		return false
	}
	return activity.GetHeartbeatDetails(ctx, out) == nil
}

// InPlace is op as the local activity of its first try in place
// (workflows.InPlaceActivity): its failure comes back in the result, sealed
// with it, never as the local activity's own failure, whose message the
// history would show in plain text.
func InPlace[R any](op func(context.Context, R) (workflows.AccountResult, error)) func(context.Context, R) (workflows.InPlaceResult, error) {
	return func(ctx context.Context, req R) (workflows.InPlaceResult, error) {
		res, err := op(ctx, req)
		out := workflows.InPlaceResult{Result: res}
		if err != nil {
			out.Failure = failureOf(err)
		}
		return out, nil
	}
}

// NoticeInPlace is a notice to people (NotifyAccessReady, NotifyLeaver) as
// the local activity of its first try in place (workflows.InPlace): InPlace
// of a call with no result.
func NoticeInPlace(notice func(context.Context, workflows.Notice) error) func(context.Context, workflows.Notice) (workflows.InPlaceResult, error) {
	return InPlace(func(ctx context.Context, n workflows.Notice) (workflows.AccountResult, error) {
		return workflows.AccountResult{}, notice(ctx, n)
	})
}

// failureOf is what the workflow needs of a failed call: the app's words,
// whether to try again, and after how long.
func failureOf(err error) *workflows.CallFailure {
	f := &workflows.CallFailure{Message: err.Error()}
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		f.Message, f.Type, f.NonRetryable, f.RetryAfter = appErr.Message(), appErr.Type(), appErr.NonRetryable(), appErr.NextRetryDelay()
	}
	return f
}
