package workflows

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/tenure-io/tenure"
)

// seenLimit bounds how many request IDs the workflow remembers for deduplication.
const seenLimit = 500

// HistoryLimit is the history length after which an idle person's workflow
// continues as new, well before Temporal's own limits make it slow.
const HistoryLimit = 5000

// EmployeeInput starts or continues a person's workflow.
type EmployeeInput struct {
	EmployeeID string `json:"employee_id"`
	// State is carried over by continue-as-new.
	State *EmployeeState `json:"state,omitempty"`
	// Baseline is the version of baselineChange that the code starting the
	// run gives it (see baselineOf): a run started with one takes it without
	// a version marker. Zero, from a starter that predates the field, leaves
	// the run to ask GetVersion.
	Baseline workflow.Version `json:"baseline,omitempty"`
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

	// GraceAt ends a mover's grace period (the policy's mover_grace): until
	// then the old role's access is kept. GraceKey is the change that began it.
	GraceAt  *time.Time `json:"grace_at,omitempty"`
	GraceKey string     `json:"grace_key,omitempty"`
	// Retired are the accounts movers disabled, each deleted once the
	// retention period has passed, as a leaver's are.
	Retired []RetiredAccount `json:"retired,omitempty"`
}

// urgentLaneChange guards running Lock children and leaver phase 1 on
// UrgentTaskQueue. Runs that started before it replay with every child on
// TaskQueue.
const urgentLaneChange = "urgent-lane"

// noticesChange guards what came with Slack: approval reminders, escalations and
// expiry, notices to managers and IT, and discarding late HR events. Runs that
// started before it replay without them.
const noticesChange = "approval-timers-and-notices"

// baselineChange is the first thing every person's workflow settles. A
// workflow that began on code with every change up to version 1 of it
// (noticesChange, decisionsChange, urgentLaneChange, lifecycleChange,
// inlineChange, reconvergeChange, and notices tried in place first) takes them
// all without asking for each: one version, not one marker and one
// search-attribute update per change, which bulk onboarding paid for in every
// workflow it started. Since EmployeeInput.Baseline, a new run is given it and
// records no marker at all (baselineOf). A workflow that began earlier asks
// for each change where it always did. A later change is asked for on its own,
// or raises this version (and Baseline) for the workflows that begin after it:
// version 2 makes a joiner's and a mover's app calls first in place
// (callFirstInPlace), and version 3 has a rollout's re-evaluation leave alone
// the apps already in line (inLineChange).
const baselineChange = "baseline"

// Baseline is the newest version of baselineChange: the one every run that
// Tenure starts now is given (EmployeeInput.Baseline).
const Baseline workflow.Version = 3

// baselineOf is the version of baselineChange a run takes, given the one its
// starter gave it. A run given none asks GetVersion, as every run did before
// EmployeeInput.Baseline. A run given one takes it as it starts, with no
// version marker: GetVersion's marker comes with an update of the run's
// TemporalChangeVersion search attribute, which the server writes to
// visibility, and which cost a tenth of each hire's work in bulk onboarding
// (docs/performance.md). Replayed, a run that was given one still honours a
// marker where its history has one: a worker older than the field ran its
// first workflow task (a deployment that upgraded its API first) and
// recorded the version it took. A version newer than this code knows fails
// the workflow task, as GetVersion's would, until a newer worker takes it.
func baselineOf(ctx workflow.Context, given workflow.Version) workflow.Version {
	if given == 0 {
		return workflow.GetVersion(ctx, baselineChange, workflow.DefaultVersion, Baseline)
	}
	if given > Baseline {
		panic(fmt.Sprintf("workflow code is too old for version %d of %q, which this run was started with; the newest it knows is %d",
			given, baselineChange, Baseline))
	}
	if !workflow.IsReplaying(ctx) {
		return given
	}
	// In replay, GetVersion records nothing: it reads the run's marker, or
	// answers DefaultVersion where there is none.
	if v := workflow.GetVersion(ctx, baselineChange, workflow.DefaultVersion, Baseline); v != workflow.DefaultVersion {
		return v
	}
	return given
}

// employee runs one person's workflow.
type employee struct {
	EmployeeState
	logger interface {
		Info(string, ...any)
		Warn(string, ...any)
		Error(string, ...any)
	}
	signals workflow.ReceiveChannel
	// baseline is the version of baselineChange this run began with.
	baseline workflow.Version
	// version is the workflow code version this run follows (see noticesChange),
	// checks whether decisions are checked (see decisionsChange), urgent
	// whether locks and leavers take the urgent lane (see urgentLaneChange),
	// lifecycle whether queued changes are superseded, notices never fail the
	// run and movers get a grace period (see lifecycleChange), and inlined
	// whether every run is inline in this workflow (see inlineChange).
	version, checks, urgent, lifecycle, inlined workflow.Version
	// ran and ranResult are the last run this workflow closed and the
	// outcomes of the last converge, for reconverge to record.
	ran       tenure.Run
	ranResult Result
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

// setup restores the state a continue-as-new carried over and starts taking
// commands: each signal is queued as it arrives, so that a lock or a termination
// can pre-empt the change that is running.
func (e *employee) setup(ctx workflow.Context, in EmployeeInput) error {
	if in.EmployeeID == "" {
		return temporal.NewNonRetryableApplicationError("employee_id is required", "InvalidInput", nil)
	}
	if in.State != nil {
		e.EmployeeState = *in.State
	}
	e.EmployeeID = in.EmployeeID
	e.logger = workflow.GetLogger(ctx)
	e.baseline = baselineOf(ctx, in.Baseline)
	if e.baseline >= 1 {
		e.version, e.checks, e.urgent, e.lifecycle, e.inlined = 1, 1, 1, 1, 1
	} else {
		e.version = workflow.GetVersion(ctx, noticesChange, workflow.DefaultVersion, 1)
		e.checks = workflow.GetVersion(ctx, decisionsChange, workflow.DefaultVersion, 1)
		e.urgent = workflow.GetVersion(ctx, urgentLaneChange, workflow.DefaultVersion, 1)
		e.lifecycle = workflow.GetVersion(ctx, lifecycleChange, workflow.DefaultVersion, 1)
		e.inlined = workflow.GetVersion(ctx, inlineChange, workflow.DefaultVersion, 1)
	}
	e.signals = workflow.GetSignalChannel(ctx, CommandSignal)
	workflow.Go(ctx, func(ctx workflow.Context) {
		for {
			var c Command
			e.signals.Receive(ctx, &c)
			e.enqueue(c)
		}
	})
	if err := workflow.SetUpdateHandlerWithOptions(ctx, DecideUpdate, e.decideUpdate,
		workflow.UpdateHandlerOptions{Validator: e.validateDecision}); err != nil {
		return err
	}
	return workflow.SetQueryHandler(ctx, StateQuery, func() (EmployeeState, error) {
		return e.EmployeeState, nil
	})
}

// run works through queued commands first, then due dates; when idle it closes
// after a purge, continues as new once the history is long, or waits for the next
// command or deadline.
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
		if info.GetContinueAsNewSuggested() || info.GetCurrentHistoryLength() > HistoryLimit {
			state := e.EmployeeState
			return workflow.NewContinueAsNewError(ctx, EmployeeWorkflowName, EmployeeInput{EmployeeID: e.EmployeeID, State: &state, Baseline: Baseline})
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

// handle runs one command to completion.
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
	case CommandApproved:
		return e.applyApproval(ctx, c.key())
	case CommandRetry:
		return e.retry(ctx, c)
	case CommandReconverge:
		return e.reconverge(ctx, c)
	}
	e.logger.Warn("ignoring an unknown command", "kind", c.Kind)
	return nil
}

// handleEvent routes an HR event by where the person stands: a hire, a change to
// the record, or a termination now or on its effective date.
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
	e.GraceAt, e.GraceKey, e.Retired = nil, "", nil
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
	return e.move(ctx, ev.ID, e.Status == tenure.PersonActive)
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

// leave runs leaver phase 1 now and schedules phase 2 after the retention period.
func (e *employee) leave(ctx workflow.Context, key string) error {
	e.StartAt, e.EndAt, e.TerminateAt, e.TerminateID = nil, nil, nil, ""
	e.Status, e.PrevStatus, e.Locked, e.Deferred = tenure.PersonTerminated, "", nil, false
	// Phase 2 deletes every account, those movers disabled with the rest.
	e.GraceAt, e.GraceKey, e.Retired = nil, "", nil
	if err := e.record(ctx, "terminated:"+key, "employee.terminated"); err != nil {
		return err
	}
	for i := range e.Approvals {
		if e.Approvals[i].Status == tenure.ApprovalPending && !e.Approvals[i].Deciding {
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
		if err := e.notice(ctx, LeaverSummaryActivity, key, e.runLink(ctx, LeaverWorkflowName, key), res); err != nil {
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

// purgeSuffix ends the key of a leaver's phase 2, after phase 1's key.
const purgeSuffix = "-delete"

// RunPhase says which phase of a leaver a Leaver run is, from its key.
func RunPhase(r tenure.Run) LeaverPhase {
	if strings.HasSuffix(r.EventID, purgeSuffix) {
		return LeaverDelete
	}
	return LeaverDisable
}

// purge runs leaver phase 2: the accounts are deleted.
func (e *employee) purge(ctx workflow.Context) error {
	key := e.LeaverKey + purgeSuffix
	e.PurgeAt = nil
	if _, _, err := e.everywhere(ctx, LeaverWorkflowName, key, LeaverDelete, ""); err != nil {
		return err
	}
	e.Purged = true
	return nil
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
