package workflows

import (
	"errors"
	"slices"
	"sort"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/tenure-io/tenure"
)

// converge runs a Joiner or Mover that moves the person's access to the policy's
// plan for their record. While the person is locked it waits for the unlock.
func (e *employee) converge(ctx workflow.Context, kind, key string, active, revoke bool) error {
	return e.convergeApps(ctx, kind, key, active, revoke, "")
}

// convergeApps is converge, limited to one app when only is set.
func (e *employee) convergeApps(ctx workflow.Context, kind, key string, active, revoke bool, only string) error {
	how := grantOnly
	if revoke {
		how = revokeNow
	}
	return e.convergeWith(ctx, kind, key, active, how, only, false)
}

// convergeWith runs a Joiner or Mover that takes away what how says. A change
// queued ahead of a termination or lock that takes effect now is superseded
// instead (supersede), and while a mover's grace period runs the old role's
// access is kept (holdForGrace). With skipInLine it leaves alone the apps
// where the person's account is already as the plan wants it (inLine).
func (e *employee) convergeWith(ctx workflow.Context, kind, key string, active bool, how revocation, only string, skipInLine bool) error {
	if e.Status == tenure.PersonLocked {
		e.Deferred = true
		return nil
	}
	if by, ok := e.superseder(workflow.Now(ctx)); ok && e.lifecycle >= 1 {
		return e.supersede(ctx, kind, key, by)
	}
	plan, err := e.plan(ctx)
	if err != nil {
		return err
	}
	if err := e.requestApprovals(ctx, plan, key); err != nil {
		return err
	}
	accounts, err := e.accounts(ctx)
	if err != nil {
		return err
	}
	in := AccessInput{EmployeeID: e.EmployeeID, Key: key, Person: *e.Person, Active: active}
	hold := e.lifecycle >= 1 && e.holdForGrace(ctx, plan, key, how)
	in.Grant, in.Revoke = e.diff(plan, accounts, how != grantOnly && !hold)
	if hold {
		in.Grant = keepHeld(in.Grant, accounts)
	}
	if only != "" {
		in.Grant, in.Revoke = onlyApp(in.Grant, only), onlyApp(in.Revoke, only)
	}
	if skipInLine {
		in.Grant = slices.DeleteFunc(in.Grant, func(t AppTarget) bool { return inLine(t, accounts, active) })
	}
	var res Result
	if e.inlined >= 1 {
		in.Run = inlineRunID(e.EmployeeID, kind, key)
		res, err = e.runInline(ctx, kind, key, true, func(ctx workflow.Context) (Result, error) { return provision(ctx, in, e.stepCall()) })
	} else {
		err = e.runChild(ctx, "", kind, key, in, &res, true)
	}
	e.ranResult = res
	if err != nil {
		return err
	}
	if e.lifecycle >= 1 {
		e.retire(plan, in, res, key, workflow.Now(ctx))
	}
	if kind == JoinerWorkflowName && active && e.version >= 1 && (e.baseline == 0 || e.Person.ManagerID != "") {
		// The manager hears which accounts are ready, on the day they are.
		return e.notice(ctx, AccessReadyActivity, key, e.runLink(ctx, kind, key), res)
	}
	return nil
}

// diff returns the apps the person should have, with the entitlements they should
// hold there, and (for a mover) the apps they hold but should no longer have.
func (e *employee) diff(plan Plan, accounts []tenure.Account, revoke bool) (grant, take []AppTarget) {
	byApp := map[string][]string{}
	var order []string
	for _, g := range plan.Grants {
		if !e.granted(plan, g) {
			continue
		}
		if _, ok := byApp[g.App]; !ok {
			order = append(order, g.App)
			byApp[g.App] = nil
		}
		if g.Entitlement != "" {
			byApp[g.App] = append(byApp[g.App], g.Entitlement)
		}
	}
	accountID := func(app string) string {
		for _, a := range accounts {
			if a.App == app {
				return a.AccountID
			}
		}
		return ""
	}
	sort.Strings(order)
	for _, app := range order {
		ref, ok := plan.App(app)
		if !ok {
			continue
		}
		t := ref.target(accountID(app))
		t.Entitlements = byApp[app]
		grant = append(grant, t)
	}
	if !revoke {
		return grant, nil
	}
	for _, a := range accounts {
		_, wanted := byApp[a.App]
		if wanted || a.Status == tenure.AccessDeleted || a.Status == tenure.AccessDisabled {
			continue
		}
		ref, ok := plan.App(a.App)
		if !ok {
			e.logger.Warn("an account in an app that is no longer configured", "app", a.App)
			continue
		}
		take = append(take, ref.target(a.AccountID))
	}
	return grant, take
}

// inLine reports whether the read model shows the person's account in t's app
// as t wants it: active as the person is, with no error, holding exactly t's
// entitlements, as the app last read it back. A policy rollout's
// re-evaluation leaves such an app alone: the version changes nothing there,
// and calling it anyway spent the app's rate limit on every person the
// rollout reached. An app changed behind Tenure's back is reconciliation's to
// find.
func inLine(t AppTarget, accounts []tenure.Account, active bool) bool {
	i := slices.IndexFunc(accounts, func(a tenure.Account) bool { return a.App == t.App && a.AccountID == t.AccountID })
	if i < 0 || !active || t.AccountID == "" {
		return false
	}
	a := accounts[i]
	if a.Status != tenure.AccessActive || a.Error != "" || len(a.Entitlements) != len(t.Entitlements) {
		return false
	}
	have := slices.Sorted(slices.Values(a.Entitlements))
	want := slices.Sorted(slices.Values(t.Entitlements))
	return slices.Equal(have, want)
}

func onlyApp(targets []AppTarget, app string) []AppTarget {
	var out []AppTarget
	for _, t := range targets {
		if t.App == app {
			out = append(out, t)
		}
	}
	return out
}

// everywhere runs a Leaver or Lock child over every configured app (or the one
// named by only) and returns the plan it used and the child's outcomes.
func (e *employee) everywhere(ctx workflow.Context, kind, key string, phase LeaverPhase, only string) (Plan, Result, error) {
	plan, err := e.plan(ctx)
	if err != nil {
		return plan, Result{}, err
	}
	apps, err := e.everyApp(ctx, plan)
	if err != nil {
		return plan, Result{}, err
	}
	if only != "" {
		apps = onlyApp(apps, only)
	}
	in := RevokeInput{EmployeeID: e.EmployeeID, Key: key, Person: *e.Person, Phase: phase, Apps: apps}
	if e.inlined >= 1 {
		in.Run = inlineRunID(e.EmployeeID, kind, key)
		res, err := e.runInline(ctx, kind, key, false, func(ctx workflow.Context) (Result, error) {
			if phase == LeaverDisable {
				return disableNow(ctx, in)
			}
			return Leaver(ctx, in)
		})
		return plan, res, err
	}
	var res Result
	err = e.runChild(ctx, e.lane(kind, phase), kind, key, in, &res, false)
	return plan, res, err
}

// everyApp lists every configured app, with the account ID where the read model
// knows it: a leaver or a lock looks everywhere, not only where Tenure provisioned.
func (e *employee) everyApp(ctx workflow.Context, plan Plan) ([]AppTarget, error) {
	accounts, err := e.accounts(ctx)
	if err != nil {
		return nil, err
	}
	apps := make([]AppTarget, 0, len(plan.Apps))
	for _, ref := range plan.Apps {
		t := ref.target("")
		for _, a := range accounts {
			if a.App == ref.Name && a.Status != tenure.AccessDeleted {
				t.AccountID = a.AccountID
			}
		}
		apps = append(apps, t)
	}
	return apps, nil
}

// lane is the task queue of a child that takes access away now, a Lock or a
// leaver's phase 1: UrgentTaskQueue, where its calls run too (an activity runs
// on its workflow's task queue), so that it never waits behind bulk work.
// Anything else runs on the workflow's own task queue ("").
func (e *employee) lane(kind string, phase LeaverPhase) string {
	if e.urgent >= 1 && (kind == LockWorkflowName || (kind == LeaverWorkflowName && phase == LeaverDisable)) {
		return UrgentTaskQueue
	}
	return ""
}

// runChild runs one lifecycle child on queue ("" for the person's own) and
// records the run in the read model. A pre-emptable child is cancelled when a
// lock or an immediate termination arrives; the cancellation waits for the
// child's calls in flight to finish.
func (e *employee) runChild(ctx workflow.Context, queue, kind, key string, in, out any, preemptable bool) error {
	id := ChildWorkflowID(e.EmployeeID, strings.ToLower(kind), key)
	run := tenure.Run{WorkflowID: id, EmployeeID: e.EmployeeID, Type: kind, EventID: key,
		Status: tenure.RunRunning, StartedAt: workflow.Now(ctx).UTC()}
	if err := e.recordRun(ctx, run); err != nil {
		return err
	}
	cctx, cancel := workflow.WithCancel(ctx)
	defer cancel()
	cctx = workflow.WithChildOptions(cctx, workflow.ChildWorkflowOptions{
		WorkflowID:          id,
		TaskQueue:           queue,
		WaitForCancellation: true,
	})
	fut := workflow.ExecuteChildWorkflow(cctx, kind, in)
	if preemptable {
		if err := workflow.Await(ctx, func() bool { return fut.IsReady() || e.preempting(workflow.Now(ctx)) }); err != nil {
			return err
		}
		if !fut.IsReady() {
			e.logger.Info("pre-empting a running child", "workflow_id", id)
			cancel()
		}
	}
	return e.closeRun(ctx, run, fut.Get(ctx, out), out)
}

// closeRun records how a run ended, from its error: completed, canceled, or
// failed with the failure's own message. A failed child's outcomes are read
// into out from the failure's details when out is set.
func (e *employee) closeRun(ctx workflow.Context, run tenure.Run, err error, out any) error {
	id := run.WorkflowID
	closed := workflow.Now(ctx).UTC()
	run.ClosedAt = &closed
	run.Status = tenure.RunCompleted
	var canceled *temporal.CanceledError
	switch {
	case errors.As(err, &canceled):
		run.Status = tenure.RunCanceled
	case err != nil:
		run.Status, run.Error = tenure.RunFailed, childError(err)
		// A failed app is recorded and alerted on, and the person's workflow goes on
		// with the outcomes of the apps that did not fail.
		var appErr *temporal.ApplicationError
		if out != nil && errors.As(err, &appErr) && appErr.HasDetails() {
			if derr := appErr.Details(out); derr != nil {
				e.logger.Warn("reading a failed child's outcomes", "workflow_id", id, "error", derr)
			}
		}
		e.logger.Error("a lifecycle step failed", "workflow_id", id, "error", run.Error)
	}
	e.ran = run
	return e.recordRun(ctx, run)
}

// preempting reports whether a queued command must stop a running joiner or mover:
// a lock, or a termination that takes effect now.
func (e *employee) preempting(now time.Time) bool {
	_, ok := e.superseder(now)
	return ok
}

// superseder returns the first queued command that takes access away now: a
// lock, or a termination that takes effect now. A joiner or mover running,
// or about to run, ahead of it is pre-empted or superseded.
func (e *employee) superseder(now time.Time) (Command, bool) {
	for _, c := range e.Queue {
		if c.Kind == CommandLock {
			return c, true
		}
		if c.Kind == CommandEvent && c.Event != nil && c.Event.Type == tenure.EventTerminate &&
			(c.Event.EffectiveAt == nil || !c.Event.EffectiveAt.After(now)) {
			return c, true
		}
	}
	return Command{}, false
}

// childError is what the run record shows of a child's failure: the failure's own
// message, without the chain of wrappers Temporal adds.
func childError(err error) string {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		return appErr.Message()
	}
	return err.Error()
}
