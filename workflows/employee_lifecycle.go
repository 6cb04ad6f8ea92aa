package workflows

import (
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/tenure-io/tenure"
)

// lifecycleChange guards a lifecycle that never lies:
//   - a joiner, mover or unlock queued ahead of a termination or a lock that
//     takes effect now is superseded: recorded as such, never run (supersede);
//   - an approval whose request cannot be sent is recorded as notice failed,
//     and the person's workflow carries on (requestApproval);
//   - a mover keeps the old role's access for the policy's mover_grace
//     (holdForGrace, endGrace);
//   - the accounts a mover disabled are deleted after the retention period
//     (retire, deleteRetired).
//
// Runs that started before it replay without any of it.
const lifecycleChange = "lifecycle-never-lies"

// revocation says what a Joiner or Mover takes away.
type revocation int

const (
	// grantOnly takes nothing away: a joiner.
	grantOnly revocation = iota
	// revokeNow takes away what the plan no longer gives.
	revokeNow
	// revokeAfterGrace is a change of role: with the policy's mover_grace, the
	// old role's access goes when the grace period ends, else now.
	revokeAfterGrace
)

// move runs the mover of a change to the person's record.
func (e *employee) move(ctx workflow.Context, key string, active bool) error {
	if e.lifecycle < 1 {
		return e.converge(ctx, MoverWorkflowName, key, active, true)
	}
	return e.convergeWith(ctx, MoverWorkflowName, key, active, revokeAfterGrace, "", false)
}

// SupersededRecord records a change that was never run because a termination
// or a lock that takes effect now was queued behind it.
type SupersededRecord struct {
	Run tenure.Run `json:"run"`
	// By says what superseded it, such as "termination term-1" or "lock r1".
	By string `json:"by"`
}

// supersede records that the change kind/key will not run: by, queued behind
// it, takes access away now. Nothing is created for a leaver, and nothing
// comes back a moment before a lock takes it again. A change superseded by a
// lock is applied on the unlock, as one that arrives while the person is
// locked; the person's record is kept current either way.
func (e *employee) supersede(ctx workflow.Context, kind, key string, by Command) error {
	what := "lock " + by.key()
	if by.Kind == CommandEvent {
		what = "termination " + by.Event.ID
	}
	if by.Kind == CommandLock && kind != UnlockWorkflowName {
		e.Deferred = true
	}
	e.logger.Info("a queued change is superseded", "kind", kind, "key", key, "by", what)
	now := workflow.Now(ctx).UTC()
	run := tenure.Run{WorkflowID: ChildWorkflowID(e.EmployeeID, strings.ToLower(kind), key), EmployeeID: e.EmployeeID,
		Type: kind, EventID: key, Status: tenure.RunSuperseded, StartedAt: now, ClosedAt: &now}
	e.ran = run
	lctx := workflow.WithLocalActivityOptions(ctx, localOptions)
	return workflow.ExecuteLocalActivity(lctx, RecordSupersededActivity, SupersededRecord{Run: run, By: what}).Get(ctx, nil)
}

// holdForGrace reports whether this converge keeps the old role's access:
// a change of role starts (or, for a later change, starts again) the policy's
// mover_grace, and while it runs no converge takes access away. A change
// under a policy with no grace ends one that was running.
func (e *employee) holdForGrace(ctx workflow.Context, plan Plan, key string, how revocation) bool {
	if how == grantOnly {
		return false
	}
	if how == revokeAfterGrace {
		e.GraceAt, e.GraceKey = nil, ""
		if plan.MoverGrace > 0 {
			end := workflow.Now(ctx).Add(plan.MoverGrace).UTC()
			e.GraceAt, e.GraceKey = &end, key
		}
	}
	return e.GraceAt != nil
}

// keepHeld adds to each app of grant the managed entitlements the person
// holds there now, so that a mover in its grace period takes none away.
func keepHeld(grant []AppTarget, accounts []tenure.Account) []AppTarget {
	for i, t := range grant {
		for _, a := range accounts {
			if a.App != t.App || a.Status == tenure.AccessDeleted || a.Status == tenure.AccessDisabled {
				continue
			}
			for _, g := range a.Entitlements {
				if slices.Contains(t.Managed, g) && !slices.Contains(t.Entitlements, g) {
					grant[i].Entitlements = append(grant[i].Entitlements, g)
				}
			}
		}
	}
	return grant
}

// graceSuffix ends the key of the mover that ends a grace period.
const graceSuffix = "-grace"

// endGrace takes the old role's access away once the grace period is over:
// a mover onto the plan of the person's record as it is now.
func (e *employee) endGrace(ctx workflow.Context) error {
	key := e.GraceKey + graceSuffix
	e.GraceAt, e.GraceKey = nil, ""
	return e.converge(ctx, MoverWorkflowName, key, e.Status == tenure.PersonActive, true)
}

// RetiredAccount is an account a mover disabled, to be deleted at DeleteAt.
type RetiredAccount struct {
	App       string    `json:"app"`
	AccountID string    `json:"account_id,omitempty"`
	Key       string    `json:"key"`
	DeleteAt  time.Time `json:"delete_at"`
}

// retire keeps the accounts the mover key disabled, to delete them after the
// policy's retention period; an app the mover granted is no longer to be
// deleted.
func (e *employee) retire(plan Plan, in AccessInput, res Result, key string, now time.Time) {
	for _, t := range in.Grant {
		e.Retired = slices.DeleteFunc(e.Retired, func(r RetiredAccount) bool { return r.App == t.App })
	}
	retention := plan.Retention
	if retention <= 0 {
		retention = DefaultRetention
	}
	for _, o := range res.Outcomes {
		revoked := slices.ContainsFunc(in.Revoke, func(t AppTarget) bool { return t.App == o.App })
		if !revoked || o.Status != tenure.AccessDisabled {
			continue
		}
		e.Retired = slices.DeleteFunc(e.Retired, func(r RetiredAccount) bool { return r.App == o.App })
		e.Retired = append(e.Retired, RetiredAccount{App: o.App, AccountID: o.AccountID, Key: key, DeleteAt: now.Add(retention).UTC()})
	}
}

// retiredDue reports whether an account a mover disabled is due for deletion.
func (e *employee) retiredDue(now time.Time) bool {
	return slices.ContainsFunc(e.Retired, func(r RetiredAccount) bool { return !r.DeleteAt.After(now) })
}

// retiredSuffix ends the key of the mover that deletes what movers disabled.
const retiredSuffix = "-delete"

// deleteRetired deletes the accounts movers disabled whose retention period
// is over, as a leaver's phase 2 does, in one Mover: those the policy gives the
// person again, or whose app is no longer configured, are left alone.
func (e *employee) deleteRetired(ctx workflow.Context, now time.Time) error {
	var due []RetiredAccount
	e.Retired = slices.DeleteFunc(e.Retired, func(r RetiredAccount) bool {
		if r.DeleteAt.After(now) {
			return false
		}
		due = append(due, r)
		return true
	})
	plan, err := e.plan(ctx)
	if err != nil {
		return err
	}
	in := AccessInput{EmployeeID: e.EmployeeID, Key: due[0].Key + retiredSuffix, Person: *e.Person}
	for _, r := range due {
		ref, ok := plan.App(r.App)
		wanted := slices.ContainsFunc(plan.Grants, func(g tenure.Grant) bool { return g.App == r.App })
		if !ok || wanted {
			e.logger.Info("not deleting an account a mover disabled", "app", r.App, "configured", ok, "wanted", wanted)
			continue
		}
		in.Delete = append(in.Delete, ref.target(r.AccountID))
	}
	if len(in.Delete) == 0 {
		return nil
	}
	var res Result
	if e.inlined >= 1 {
		in.Run = inlineRunID(e.EmployeeID, MoverWorkflowName, in.Key)
		_, err := e.runInline(ctx, MoverWorkflowName, in.Key, false, func(ctx workflow.Context) (Result, error) { return provision(ctx, in, e.stepCall()) })
		return err
	}
	return e.runChild(ctx, "", MoverWorkflowName, in.Key, in, &res, false)
}

// NoticeFailure records an approval whose request activity failed for good.
type NoticeFailure struct {
	Request ApprovalRequest `json:"request"`
	Error   string          `json:"error"`
}
