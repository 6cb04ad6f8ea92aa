package workflows

import (
	"go.temporal.io/sdk/workflow"

	"github.com/tenure-io/tenure"
)

// LockedAccount is an account that a lock disabled and an unlock restores.
type LockedAccount struct {
	App       string `json:"app"`
	Connector string `json:"connector"`
	AccountID string `json:"account_id"`
}

// lock disables the person's accounts everywhere now and remembers which it disabled.
func (e *employee) lock(ctx workflow.Context, c Command) error {
	if e.Status == "" || e.Status == tenure.PersonTerminated {
		e.logger.Info("lock for someone not employed; nothing to lock", "request_id", c.RequestID)
		return nil
	}
	plan, err := e.plan(ctx)
	if err != nil {
		return err
	}
	apps, err := e.everyApp(ctx, plan)
	if err != nil {
		return err
	}
	if e.Status != tenure.PersonLocked {
		e.PrevStatus = e.Status
	}
	e.Status = tenure.PersonLocked
	if e.GraceAt != nil {
		// The lock supersedes a mover's grace period: the unlock converges on
		// the new role alone.
		e.GraceAt, e.GraceKey, e.Deferred = nil, "", true
	}
	key := c.key()
	if err := e.recordBy(ctx, "locked:"+key, "employee.locked", c.Actor); err != nil {
		return err
	}
	in := RevokeInput{EmployeeID: e.EmployeeID, Key: key, Person: *e.Person, Apps: apps}
	var res Result
	if e.inlined >= 1 {
		in.Run = inlineRunID(e.EmployeeID, LockWorkflowName, key)
		res, err = e.runInline(ctx, LockWorkflowName, key, false, func(ctx workflow.Context) (Result, error) { return disableNow(ctx, in) })
	} else {
		err = e.runChild(ctx, e.lane(LockWorkflowName, 0), LockWorkflowName, key, in, &res, false)
	}
	e.remember(plan, res)
	return err
}

// remember adds the accounts a lock disabled to those an unlock restores.
func (e *employee) remember(plan Plan, res Result) {
	for _, o := range res.Outcomes {
		if o.Changed {
			ref, _ := plan.App(o.App)
			e.Locked = append(e.Locked, LockedAccount{App: o.App, Connector: ref.Connector, AccountID: o.AccountID})
		}
	}
}

// unlock restores exactly what the lock disabled, then catches up on any change
// that arrived while the person was locked.
func (e *employee) unlock(ctx workflow.Context, c Command) error {
	if e.Status != tenure.PersonLocked {
		e.logger.Info("unlock for someone not locked", "request_id", c.RequestID)
		return nil
	}
	apps := make([]AppTarget, 0, len(e.Locked))
	for _, l := range e.Locked {
		apps = append(apps, AppTarget{App: l.App, Connector: l.Connector, AccountID: l.AccountID})
	}
	key := c.key()
	if by, ok := e.superseder(workflow.Now(ctx)); ok && e.lifecycle >= 1 {
		// Nothing comes back a moment before a lock or a leaver takes it again.
		return e.supersede(ctx, UnlockWorkflowName, key, by)
	}
	in := RevokeInput{EmployeeID: e.EmployeeID, Key: key, Person: *e.Person, Apps: apps}
	var res Result
	var err error
	if e.inlined >= 1 {
		in.Run = inlineRunID(e.EmployeeID, UnlockWorkflowName, key)
		res, err = e.runInline(ctx, UnlockWorkflowName, key, false, func(ctx workflow.Context) (Result, error) { return Unlock(ctx, in) })
	} else {
		err = e.runChild(ctx, "", UnlockWorkflowName, key, in, &res, false)
	}
	if err != nil {
		return err
	}
	e.Status, e.PrevStatus, e.Locked = e.PrevStatus, "", nil
	if e.Status == "" {
		e.Status = tenure.PersonActive
	}
	if err := e.recordBy(ctx, "unlocked:"+key, "employee.unlocked", c.Actor); err != nil {
		return err
	}
	if e.Deferred {
		e.Deferred = false
		return e.converge(ctx, MoverWorkflowName, "unlock-"+key, e.Status == tenure.PersonActive, true)
	}
	return nil
}

// retry runs the person's current state again in one app, after a failure there:
// a leaver's disable, a lock's disable, or the access their record gives.
func (e *employee) retry(ctx workflow.Context, c Command) error {
	key := "retry-" + c.key()
	switch e.Status {
	case "":
		return nil
	case tenure.PersonTerminated, tenure.PersonLocked:
		kind := LeaverWorkflowName
		if e.Status == tenure.PersonLocked {
			kind = LockWorkflowName
		}
		plan, res, err := e.everywhere(ctx, kind, key, LeaverDisable, c.App)
		if err != nil {
			return err
		}
		if kind == LockWorkflowName {
			e.remember(plan, res)
		}
		return nil
	}
	return e.convergeApps(ctx, MoverWorkflowName, key, e.Status == tenure.PersonActive, true, c.App)
}
