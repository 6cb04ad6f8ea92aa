package workflows

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/tenure-io/tenure"
)

// seenLimit bounds how many request IDs the workflow remembers for deduplication.
const seenLimit = 500

// historyLimit is the history length after which an idle workflow continues as new.
const historyLimit = 5000

// EmployeeInput starts or continues a person's workflow.
type EmployeeInput struct {
	EmployeeID string `json:"employee_id"`
	// State is carried over by continue-as-new.
	State *EmployeeState `json:"state,omitempty"`
}

// ApprovalState is an approval as the person's workflow tracks it.
type ApprovalState struct {
	ID     string                `json:"id"`
	Grant  tenure.Grant          `json:"grant"`
	Status tenure.ApprovalStatus `json:"status"`
	// RequestedAt starts the reminder, escalation and expiry clocks.
	RequestedAt time.Time `json:"requested_at,omitempty"`
	Reminded    bool      `json:"reminded,omitempty"`
	Escalated   bool      `json:"escalated,omitempty"`
}

// ApprovalTimers say when an unanswered approval is reminded, escalated and
// expired, from the policy in force when it was requested.
type ApprovalTimers struct {
	RemindAfter   time.Duration `json:"remind_after"`
	EscalateAfter time.Duration `json:"escalate_after"`
	ExpireAfter   time.Duration `json:"expire_after"`
	ITApprover    string        `json:"it_approver,omitempty"`
}

// LockedAccount is an account that a lock disabled and an unlock restores.
type LockedAccount struct {
	App       string `json:"app"`
	Connector string `json:"connector"`
	AccountID string `json:"account_id"`
}

// EmployeeState is everything a person's workflow knows. StateQuery returns it.
type EmployeeState struct {
	EmployeeID string              `json:"employee_id"`
	Person     *tenure.Person      `json:"person,omitempty"`
	Status     tenure.PersonStatus `json:"status,omitempty"`
	// Seen holds recent request IDs, so a repeated event or request runs once.
	Seen  []string  `json:"seen,omitempty"`
	Queue []Command `json:"queue,omitempty"`

	// Effective dates, as durable timers.
	StartAt     *time.Time `json:"start_at,omitempty"`
	StartKey    string     `json:"start_key,omitempty"`
	EndAt       *time.Time `json:"end_at,omitempty"`
	TerminateAt *time.Time `json:"terminate_at,omitempty"`
	TerminateID string     `json:"terminate_id,omitempty"`
	PurgeAt     *time.Time `json:"purge_at,omitempty"`
	LeaverKey   string     `json:"leaver_key,omitempty"`
	Purged      bool       `json:"purged,omitempty"`

	// Lock state: what the lock disabled, and the status to return to.
	PrevStatus tenure.PersonStatus `json:"prev_status,omitempty"`
	Locked     []LockedAccount     `json:"locked,omitempty"`
	// Deferred is set when access should change while the person is locked; the
	// change runs on unlock.
	Deferred bool `json:"deferred,omitempty"`

	Approvals []ApprovalState `json:"approvals,omitempty"`
	// Approved holds the keys of approved grants.
	Approved []string       `json:"approved,omitempty"`
	Timers   ApprovalTimers `json:"timers,omitempty"`

	// RecordAt is the HR time of the record applied last: an older event that
	// arrives later is discarded rather than undoing a newer change.
	RecordAt *time.Time `json:"record_at,omitempty"`
}

// noticesChange guards what came with Slack: approval reminders, escalations and
// expiry, notices to managers and IT, and discarding late HR events. Runs that
// started before it replay without them.
const noticesChange = "approval-timers-and-notices"

// employee runs one person's workflow.
type employee struct {
	EmployeeState
	logger interface {
		Info(string, ...any)
		Warn(string, ...any)
		Error(string, ...any)
	}
	signals workflow.ReceiveChannel
	// version is the workflow code version this run follows (see noticesChange).
	version workflow.Version
}

// Employee is a person's long-running workflow, ID employee/<hr-id>. It takes HR
// events, lock requests and approval decisions one at a time through CommandSignal,
// keeps effective dates as durable timers, and runs each change as a Joiner, Mover,
// Leaver, Lock or Unlock child. A termination or lock pre-empts a running joiner or
// mover.
func Employee(ctx workflow.Context, in EmployeeInput) error {
	e := &employee{}
	if err := e.setup(ctx, in); err != nil {
		return err
	}
	return e.run(ctx)
}

func (e *employee) setup(ctx workflow.Context, in EmployeeInput) error {
	if in.EmployeeID == "" {
		return temporal.NewNonRetryableApplicationError("employee_id is required", "InvalidInput", nil)
	}
	if in.State != nil {
		e.EmployeeState = *in.State
	}
	e.EmployeeID = in.EmployeeID
	e.logger = workflow.GetLogger(ctx)
	e.version = workflow.GetVersion(ctx, noticesChange, workflow.DefaultVersion, 1)
	e.signals = workflow.GetSignalChannel(ctx, CommandSignal)
	workflow.Go(ctx, func(ctx workflow.Context) {
		for {
			var c Command
			e.signals.Receive(ctx, &c)
			e.enqueue(c)
		}
	})
	return workflow.SetQueryHandler(ctx, StateQuery, func() (EmployeeState, error) {
		return e.EmployeeState, nil
	})
}

func (e *employee) run(ctx workflow.Context) error {
	for {
		if len(e.Queue) > 0 {
			c := e.Queue[0]
			e.Queue = e.Queue[1:]
			if err := e.handle(ctx, c); err != nil {
				return err
			}
			continue
		}
		now := workflow.Now(ctx)
		if fired, err := e.fireTimer(ctx, now); err != nil || fired {
			if err != nil {
				return err
			}
			continue
		}
		e.drain()
		if len(e.Queue) > 0 {
			continue
		}
		if e.Purged {
			// Everything is done: the accounts are gone. A rehire starts a new run.
			e.logger.Info("leaver complete; closing the person's workflow")
			return nil
		}
		info := workflow.GetInfo(ctx)
		if info.GetContinueAsNewSuggested() || info.GetCurrentHistoryLength() > historyLimit {
			state := e.EmployeeState
			return workflow.NewContinueAsNewError(ctx, EmployeeWorkflowName, EmployeeInput{EmployeeID: e.EmployeeID, State: &state})
		}
		ready := func() bool { return len(e.Queue) > 0 }
		if next, ok := e.nextDeadline(); ok {
			if _, err := workflow.AwaitWithTimeout(ctx, next.Sub(now), ready); err != nil {
				return err
			}
		} else if err := workflow.Await(ctx, ready); err != nil {
			return err
		}
	}
}

// enqueue adds a command unless its request was seen already.
func (e *employee) enqueue(c Command) {
	if c.RequestID != "" {
		if slices.Contains(e.Seen, c.RequestID) {
			e.logger.Info("dropping a repeated request", "request_id", c.RequestID)
			return
		}
		e.Seen = append(e.Seen, c.RequestID)
		if len(e.Seen) > seenLimit {
			e.Seen = e.Seen[len(e.Seen)-seenLimit:]
		}
	}
	e.Queue = append(e.Queue, c)
}

// drain moves signals that arrived in this workflow task into the queue, so none is
// lost when the workflow closes or continues as new.
func (e *employee) drain() {
	for {
		var c Command
		if !e.signals.ReceiveAsync(&c) {
			return
		}
		e.enqueue(c)
	}
}

// preempting reports whether a queued command must stop a running joiner or mover:
// a lock, or a termination that takes effect now.
func (e *employee) preempting(now time.Time) bool {
	for _, c := range e.Queue {
		if c.Kind == CommandLock {
			return true
		}
		if c.Kind == CommandEvent && c.Event.Type == tenure.EventTerminate &&
			(c.Event.EffectiveAt == nil || !c.Event.EffectiveAt.After(now)) {
			return true
		}
	}
	return false
}

func (e *employee) handle(ctx workflow.Context, c Command) error {
	switch c.Kind {
	case CommandEvent:
		if c.Event == nil {
			return nil
		}
		return e.handleEvent(ctx, *c.Event)
	case CommandLock:
		return e.lock(ctx, c)
	case CommandUnlock:
		return e.unlock(ctx, c)
	case CommandDecision:
		if c.Decision == nil {
			return nil
		}
		return e.decide(ctx, *c.Decision)
	case CommandRetry:
		return e.retry(ctx, c)
	}
	e.logger.Warn("ignoring an unknown command", "kind", c.Kind)
	return nil
}

func (e *employee) handleEvent(ctx workflow.Context, ev tenure.Event) error {
	now := workflow.Now(ctx)
	if ev.Type != tenure.EventTerminate && e.version >= 1 {
		if stale, err := e.discardIfStale(ctx, ev); stale || err != nil {
			return err
		}
	}
	switch ev.Type {
	case tenure.EventHire, tenure.EventRehire:
		if e.Status == tenure.PersonActive || e.Status == tenure.PersonPending || e.Status == tenure.PersonLocked {
			// Already employed: a hire or rehire rescinds a scheduled termination,
			// and is otherwise a change to the record.
			e.TerminateAt, e.TerminateID = nil, ""
			return e.change(ctx, ev)
		}
		return e.hire(ctx, ev)
	case tenure.EventUpdate:
		if e.Status == "" {
			return e.hire(ctx, ev)
		}
		return e.change(ctx, ev)
	case tenure.EventTerminate:
		if e.Status == "" || e.Status == tenure.PersonTerminated {
			e.logger.Info("termination for someone not employed; nothing to revoke", "event_id", ev.ID)
			return nil
		}
		p := ev.Employee
		e.Person = &p
		if ev.EffectiveAt != nil && ev.EffectiveAt.After(now) {
			at := ev.EffectiveAt.UTC()
			e.TerminateAt, e.TerminateID = &at, ev.ID
			return e.record(ctx, "termination_scheduled:"+ev.ID, "employee.termination_scheduled")
		}
		return e.leave(ctx, ev.ID)
	}
	e.logger.Warn("ignoring an unknown event type", "type", ev.Type)
	return nil
}

// discardIfStale drops a record change that HR made before the one applied last,
// and records that it did. Only HR's own times (effective_at) are compared: an
// event without one is applied in the order it arrived, since Tenure's clock
// says nothing about when HR made the change.
func (e *employee) discardIfStale(ctx workflow.Context, ev tenure.Event) (bool, error) {
	if ev.EffectiveAt == nil || ev.EffectiveAt.IsZero() {
		return false, nil
	}
	at := *ev.EffectiveAt
	if e.RecordAt != nil && at.Before(*e.RecordAt) {
		e.logger.Warn("discarding an HR event older than the record applied", "event_id", ev.ID)
		d := DiscardRecord{EventID: ev.ID, EmployeeID: e.EmployeeID, At: at, NewerAt: *e.RecordAt}
		lctx := workflow.WithLocalActivityOptions(ctx, localOptions)
		return true, workflow.ExecuteLocalActivity(lctx, RecordDiscardActivity, d).Get(ctx, nil)
	}
	at = at.UTC()
	e.RecordAt = &at
	return false, nil
}

// hire provisions a new hire or a rehire. Before the start date, accounts are
// created inactive; the start timer activates them.
func (e *employee) hire(ctx workflow.Context, ev tenure.Event) error {
	now := workflow.Now(ctx)
	p := ev.Employee
	e.Person = &p
	e.PurgeAt, e.Purged, e.TerminateAt, e.TerminateID, e.LeaverKey = nil, false, nil, "", ""
	e.Locked, e.PrevStatus, e.Deferred, e.Approved = nil, "", false, nil
	e.setEnd(now)
	active := true
	e.Status = tenure.PersonActive
	e.StartAt, e.StartKey = nil, ""
	if start, ok := p.Start(); ok && start.After(now) {
		active = false
		e.Status = tenure.PersonPending
		e.StartAt, e.StartKey = &start, ev.ID
	}
	if err := e.record(ctx, "hired:"+ev.ID, "employee."+string(ev.Type)); err != nil {
		return err
	}
	return e.converge(ctx, JoinerWorkflowName, ev.ID, active, false)
}

// change applies a new HR record: dates move, and access follows the new role.
func (e *employee) change(ctx workflow.Context, ev tenure.Event) error {
	now := workflow.Now(ctx)
	p := ev.Employee
	e.Person = &p
	if e.Status == tenure.PersonTerminated {
		// A leaver's record is kept current, but no access comes back without a rehire.
		return e.record(ctx, "updated:"+ev.ID, "employee.updated")
	}
	e.setEnd(now)
	if e.Status == tenure.PersonPending || (e.Status == tenure.PersonLocked && e.PrevStatus == tenure.PersonPending) {
		e.StartAt = nil
		if start, ok := p.Start(); ok && start.After(now) {
			e.StartAt, e.StartKey = &start, ev.ID
		} else if e.Status == tenure.PersonPending {
			e.Status = tenure.PersonActive
		} else {
			e.PrevStatus = tenure.PersonActive
		}
	}
	if err := e.record(ctx, "updated:"+ev.ID, "employee.updated"); err != nil {
		return err
	}
	return e.converge(ctx, MoverWorkflowName, ev.ID, e.Status == tenure.PersonActive, true)
}

// setEnd keeps the contractor end-date timer in step with the record.
func (e *employee) setEnd(now time.Time) {
	e.EndAt = nil
	if end, ok := e.Person.End(); ok {
		if end.Before(now) {
			end = now
		}
		e.EndAt = &end
	}
}

// converge runs a Joiner or Mover that moves the person's access to the policy's
// plan for their record. While the person is locked it waits for the unlock.
func (e *employee) converge(ctx workflow.Context, kind, key string, active, revoke bool) error {
	return e.convergeApps(ctx, kind, key, active, revoke, "")
}

// convergeApps is converge, limited to one app when only is set.
func (e *employee) convergeApps(ctx workflow.Context, kind, key string, active, revoke bool, only string) error {
	if e.Status == tenure.PersonLocked {
		e.Deferred = true
		return nil
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
	in.Grant, in.Revoke = e.diff(plan, accounts, revoke)
	if only != "" {
		in.Grant, in.Revoke = onlyApp(in.Grant, only), onlyApp(in.Revoke, only)
	}
	var res Result
	if err := e.runChild(ctx, kind, key, in, &res, true); err != nil {
		return err
	}
	if kind == JoinerWorkflowName && active && e.version >= 1 {
		// The manager hears which accounts are ready, on the day they are.
		return e.notice(ctx, AccessReadyActivity, key, ChildWorkflowID(e.EmployeeID, lower(kind), key), res)
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
// logged: it never fails the person's workflow.
func (e *employee) notice(ctx workflow.Context, activity, key, workflowID string, res Result) error {
	n := Notice{Key: key, EmployeeID: e.EmployeeID, Person: *e.Person, WorkflowID: workflowID, Result: res}
	actx := workflow.WithActivityOptions(ctx, noticeOptions)
	if err := workflow.ExecuteActivity(actx, activity, n).Get(ctx, nil); err != nil {
		e.logger.Error("sending a notice", "activity", activity, "error", err)
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
		grant = append(grant, AppTarget{App: app, Connector: ref.Connector, AccountID: accountID(app),
			Entitlements: byApp[app], Managed: ref.Managed})
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
		take = append(take, AppTarget{App: a.App, Connector: ref.Connector, AccountID: a.AccountID, Managed: ref.Managed})
	}
	return grant, take
}

// requestApprovals asks for every grant of the plan that needs approval and is not
// approved or asked for already.
func (e *employee) requestApprovals(ctx workflow.Context, plan Plan, key string) error {
	lctx := workflow.WithLocalActivityOptions(ctx, localOptions)
	for _, g := range plan.Grants {
		if e.granted(plan, g) || e.approvalFor(g.Key()) != nil || (g.Entitlement == "" && approvalCovers(plan, g)) {
			continue
		}
		a := tenure.Approval{
			ID:          approvalID(e.EmployeeID, key, g.Key()),
			EmployeeID:  e.EmployeeID,
			WorkflowID:  EmployeeWorkflowID(e.EmployeeID),
			App:         g.App,
			Entitlement: g.Entitlement,
			Rule:        g.Rule,
			Approver:    g.Approval,
			ApproverID:  approverID(g, plan, *e.Person),
			Status:      tenure.ApprovalPending,
			RequestedAt: workflow.Now(ctx).UTC(),
		}
		req := ApprovalRequest{Approval: a, Person: *e.Person, RequestedBy: requestedBy(key)}
		if err := e.requestApproval(ctx, lctx, req); err != nil {
			return err
		}
		e.Approvals = append(e.Approvals, ApprovalState{ID: a.ID, Grant: g, Status: tenure.ApprovalPending, RequestedAt: a.RequestedAt})
	}
	e.Timers = ApprovalTimers{RemindAfter: plan.RemindAfter, EscalateAfter: plan.EscalateAfter,
		ExpireAfter: plan.ExpireAfter, ITApprover: plan.ITApprover}
	return nil
}

// requestApproval records the request and asks the approver. Since notices came,
// asking is a regular activity, as it calls Slack.
func (e *employee) requestApproval(ctx, lctx workflow.Context, req ApprovalRequest) error {
	if e.version >= 1 {
		return workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, noticeOptions), RequestApprovalActivity, req).Get(ctx, nil)
	}
	return workflow.ExecuteLocalActivity(lctx, RequestApprovalActivity, req).Get(ctx, nil)
}

// requestedBy says what asked for an approval, from the key of the change.
func requestedBy(key string) string {
	if strings.HasPrefix(key, "retry-") || strings.HasPrefix(key, "unlock-") || strings.HasPrefix(key, "apr_") {
		return "Tenure (" + key + ")"
	}
	return "HR event " + strings.TrimSuffix(key, "-start")
}

// granted reports whether a grant is in force: it needs no approval, it was
// approved, or it is an app's account and an entitlement in that app was approved.
func (e *employee) granted(plan Plan, g tenure.Grant) bool {
	if g.Approval == "" || slices.Contains(e.Approved, g.Key()) {
		return true
	}
	if g.Entitlement != "" {
		return false
	}
	for _, o := range plan.Grants {
		if o.App == g.App && o.Entitlement != "" && o.Approval != "" && slices.Contains(e.Approved, o.Key()) {
			return true
		}
	}
	return false
}

// approvalCovers reports whether approving an entitlement of the account grant's app
// also decides the account, so that one request covers both.
func approvalCovers(plan Plan, account tenure.Grant) bool {
	for _, o := range plan.Grants {
		if o.App == account.App && o.Entitlement != "" && o.Approval != "" {
			return true
		}
	}
	return false
}

// approvalFor returns the pending or approved approval for a grant key.
func (e *employee) approvalFor(key string) *ApprovalState {
	for i := range e.Approvals {
		a := &e.Approvals[i]
		if a.Grant.Key() == key && (a.Status == tenure.ApprovalPending || a.Status == tenure.ApprovalApproved) {
			return a
		}
	}
	return nil
}

func approverID(g tenure.Grant, plan Plan, p tenure.Person) string {
	switch g.Approval {
	case tenure.ApproverManager:
		if p.ManagerID != "" {
			return p.ManagerID
		}
	case tenure.ApproverAppOwner:
		if ref, ok := plan.App(g.App); ok && ref.Owner != "" {
			return ref.Owner
		}
	}
	return plan.ITApprover
}

// approvalID is deterministic, so a replayed or retried request names the same approval.
func approvalID(employeeID, key, grantKey string) string {
	sum := sha256.Sum256([]byte(employeeID + "\x00" + key + "\x00" + grantKey))
	return "apr_" + hex.EncodeToString(sum[:8])
}

// decide applies an approval decision. Only a pending approval can be decided.
func (e *employee) decide(ctx workflow.Context, d tenure.Decision) error {
	var a *ApprovalState
	for i := range e.Approvals {
		if e.Approvals[i].ID == d.ApprovalID {
			a = &e.Approvals[i]
		}
	}
	if a == nil || a.Status != tenure.ApprovalPending {
		e.logger.Info("ignoring a decision on an approval that is not pending", "approval_id", d.ApprovalID)
		return nil
	}
	status := tenure.ApprovalDenied
	if d.Approve {
		status = tenure.ApprovalApproved
	}
	if err := e.recordDecision(ctx, *a, status, d.By, d.Reason); err != nil {
		return err
	}
	a.Status = status
	if !d.Approve {
		return nil
	}
	e.Approved = append(e.Approved, a.Grant.Key())
	if e.Status == tenure.PersonTerminated {
		return nil
	}
	return e.converge(ctx, MoverWorkflowName, a.ID, e.Status == tenure.PersonActive, true)
}

func (e *employee) recordDecision(ctx workflow.Context, a ApprovalState, status tenure.ApprovalStatus, by, reason string) error {
	at := workflow.Now(ctx).UTC()
	rec := DecisionRecord{Approval: tenure.Approval{
		ID: a.ID, EmployeeID: e.EmployeeID, WorkflowID: EmployeeWorkflowID(e.EmployeeID),
		App: a.Grant.App, Entitlement: a.Grant.Entitlement, Rule: a.Grant.Rule, Approver: a.Grant.Approval,
		Status: status, DecidedBy: by, Reason: reason, DecidedAt: &at,
	}}
	if e.version >= 1 {
		return workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, noticeOptions), RecordDecisionActivity, rec).Get(ctx, nil)
	}
	lctx := workflow.WithLocalActivityOptions(ctx, localOptions)
	return workflow.ExecuteLocalActivity(lctx, RecordDecisionActivity, rec).Get(ctx, nil)
}

// leave runs leaver phase 1 now and schedules phase 2 after the retention period.
func (e *employee) leave(ctx workflow.Context, key string) error {
	e.StartAt, e.EndAt, e.TerminateAt, e.TerminateID = nil, nil, nil, ""
	e.Status, e.PrevStatus, e.Locked, e.Deferred = tenure.PersonTerminated, "", nil, false
	if err := e.record(ctx, "terminated:"+key, "employee.terminated"); err != nil {
		return err
	}
	for i := range e.Approvals {
		if e.Approvals[i].Status == tenure.ApprovalPending {
			if err := e.recordDecision(ctx, e.Approvals[i], tenure.ApprovalExpired, "tenure", "the person left"); err != nil {
				return err
			}
			e.Approvals[i].Status = tenure.ApprovalExpired
		}
	}
	plan, res, err := e.everywhere(ctx, LeaverWorkflowName, key, LeaverDisable, "")
	if err != nil {
		return err
	}
	if e.version >= 1 {
		if err := e.notice(ctx, LeaverSummaryActivity, key, ChildWorkflowID(e.EmployeeID, "leaver", key), res); err != nil {
			return err
		}
	}
	retention := plan.Retention
	if retention <= 0 {
		retention = DefaultRetention
	}
	purge := workflow.Now(ctx).Add(retention)
	e.PurgeAt, e.LeaverKey = &purge, key
	return nil
}

// purge runs leaver phase 2: the accounts are deleted.
func (e *employee) purge(ctx workflow.Context) error {
	key := e.LeaverKey + "-delete"
	e.PurgeAt = nil
	if _, _, err := e.everywhere(ctx, LeaverWorkflowName, key, LeaverDelete, ""); err != nil {
		return err
	}
	e.Purged = true
	return nil
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
	var res Result
	err = e.runChild(ctx, kind, key, in, &res, false)
	return plan, res, err
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

// everyApp lists every configured app, with the account ID where the read model
// knows it: a leaver or a lock looks everywhere, not only where Tenure provisioned.
func (e *employee) everyApp(ctx workflow.Context, plan Plan) ([]AppTarget, error) {
	accounts, err := e.accounts(ctx)
	if err != nil {
		return nil, err
	}
	apps := make([]AppTarget, 0, len(plan.Apps))
	for _, ref := range plan.Apps {
		t := AppTarget{App: ref.Name, Connector: ref.Connector, Managed: ref.Managed}
		for _, a := range accounts {
			if a.App == ref.Name && a.Status != tenure.AccessDeleted {
				t.AccountID = a.AccountID
			}
		}
		apps = append(apps, t)
	}
	return apps, nil
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
	key := c.key()
	if err := e.recordBy(ctx, "locked:"+key, "employee.locked", c.Actor); err != nil {
		return err
	}
	in := RevokeInput{EmployeeID: e.EmployeeID, Key: key, Person: *e.Person, Apps: apps}
	var res Result
	err = e.runChild(ctx, LockWorkflowName, key, in, &res, false)
	e.remember(plan, res)
	return err
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
	in := RevokeInput{EmployeeID: e.EmployeeID, Key: key, Person: *e.Person, Apps: apps}
	var res Result
	if err := e.runChild(ctx, UnlockWorkflowName, key, in, &res, false); err != nil {
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

func onlyApp(targets []AppTarget, app string) []AppTarget {
	var out []AppTarget
	for _, t := range targets {
		if t.App == app {
			out = append(out, t)
		}
	}
	return out
}

// fireTimer runs the earliest effective date that is due, if any.
func (e *employee) fireTimer(ctx workflow.Context, now time.Time) (bool, error) {
	switch {
	case e.TerminateAt != nil && !e.TerminateAt.After(now):
		return true, e.leave(ctx, e.TerminateID)
	case e.EndAt != nil && !e.EndAt.After(now):
		return true, e.leave(ctx, "end-"+e.EndAt.Format(tenure.DateLayout))
	case e.StartAt != nil && !e.StartAt.After(now):
		key := e.StartKey + "-start"
		e.StartAt = nil
		if e.Status == tenure.PersonLocked {
			e.PrevStatus = tenure.PersonActive
			e.Deferred = true
			return true, nil
		}
		e.Status = tenure.PersonActive
		if err := e.record(ctx, "started:"+key, "employee.started"); err != nil {
			return true, err
		}
		return true, e.converge(ctx, JoinerWorkflowName, key, true, false)
	case e.PurgeAt != nil && !e.PurgeAt.After(now):
		return true, e.purge(ctx)
	}
	return e.fireApprovalTimer(ctx, now)
}

// approvalDeadlines are a pending approval's next reminder, escalation and expiry;
// a zero time is one that is done or not configured.
func (e *employee) approvalDeadlines(a ApprovalState) (remind, escalate, expire time.Time) {
	if e.version < 1 || a.Status != tenure.ApprovalPending || a.RequestedAt.IsZero() {
		return
	}
	if e.Timers.RemindAfter > 0 && !a.Reminded {
		remind = a.RequestedAt.Add(e.Timers.RemindAfter)
	}
	if e.Timers.EscalateAfter > 0 && !a.Escalated {
		escalate = a.RequestedAt.Add(e.Timers.EscalateAfter)
	}
	if e.Timers.ExpireAfter > 0 {
		expire = a.RequestedAt.Add(e.Timers.ExpireAfter)
	}
	return
}

// fireApprovalTimer expires, escalates or reminds the first approval that is due.
func (e *employee) fireApprovalTimer(ctx workflow.Context, now time.Time) (bool, error) {
	due := func(t time.Time) bool { return !t.IsZero() && !t.After(now) }
	for i := range e.Approvals {
		a := &e.Approvals[i]
		remind, escalate, expire := e.approvalDeadlines(*a)
		step := ApprovalStep{ApprovalID: a.ID, ITApprover: e.Timers.ITApprover}
		actx := workflow.WithActivityOptions(ctx, noticeOptions)
		switch {
		case due(expire):
			// No answer in time counts as a denial.
			if err := e.recordDecision(ctx, *a, tenure.ApprovalExpired, "tenure", "no decision within "+e.Timers.ExpireAfter.String()); err != nil {
				return true, err
			}
			a.Status = tenure.ApprovalExpired
			return true, nil
		case due(escalate):
			a.Escalated = true
			var to string
			if err := workflow.ExecuteActivity(actx, EscalateApprovalActivity, step).Get(ctx, &to); err != nil {
				e.logger.Error("escalating an approval", "approval_id", a.ID, "error", err)
			}
			return true, nil
		case due(remind):
			a.Reminded = true
			if err := workflow.ExecuteActivity(actx, RemindApprovalActivity, step).Get(ctx, nil); err != nil {
				e.logger.Error("reminding an approver", "approval_id", a.ID, "error", err)
			}
			return true, nil
		}
	}
	return false, nil
}

// nextDeadline is the earliest pending effective date.
func (e *employee) nextDeadline() (time.Time, bool) {
	var next time.Time
	for _, t := range []*time.Time{e.StartAt, e.EndAt, e.TerminateAt, e.PurgeAt} {
		if t != nil && (next.IsZero() || t.Before(next)) {
			next = *t
		}
	}
	for _, a := range e.Approvals {
		remind, escalate, expire := e.approvalDeadlines(a)
		for _, t := range []time.Time{remind, escalate, expire} {
			if !t.IsZero() && (next.IsZero() || t.Before(next)) {
				next = t
			}
		}
	}
	return next, !next.IsZero()
}

// runChild runs one lifecycle child and records the run in the read model. A
// pre-emptable child is cancelled when a lock or an immediate termination arrives;
// the cancellation waits for the child's calls in flight to finish.
func (e *employee) runChild(ctx workflow.Context, kind, key string, in, out any, preemptable bool) error {
	id := ChildWorkflowID(e.EmployeeID, lower(kind), key)
	run := tenure.Run{WorkflowID: id, EmployeeID: e.EmployeeID, Type: kind, EventID: key,
		Status: tenure.RunRunning, StartedAt: workflow.Now(ctx).UTC()}
	if err := e.recordRun(ctx, run); err != nil {
		return err
	}
	cctx, cancel := workflow.WithCancel(ctx)
	defer cancel()
	cctx = workflow.WithChildOptions(cctx, workflow.ChildWorkflowOptions{
		WorkflowID:          id,
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
	err := fut.Get(ctx, out)
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
		if errors.As(err, &appErr) && appErr.HasDetails() {
			if derr := appErr.Details(out); derr != nil {
				e.logger.Warn("reading a failed child's outcomes", "workflow_id", id, "error", derr)
			}
		}
		e.logger.Error("a lifecycle step failed", "workflow_id", id, "error", run.Error)
	}
	return e.recordRun(ctx, run)
}

func childError(err error) string {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		return appErr.Message()
	}
	return err.Error()
}

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

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

func (e *employee) recordRun(ctx workflow.Context, r tenure.Run) error {
	lctx := workflow.WithLocalActivityOptions(ctx, localOptions)
	if err := workflow.ExecuteLocalActivity(lctx, RecordRunActivity, r).Get(ctx, nil); err != nil {
		return fmt.Errorf("recording run %s: %w", r.WorkflowID, err)
	}
	return nil
}
