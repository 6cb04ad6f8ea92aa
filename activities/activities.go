// Package activities holds Tenure's Temporal activities: calls into each app
// through its connector, policy evaluation, and read-model writes. Every activity is
// idempotent on a business key (employee, event, app and operation), reads back what
// it changed, and writes the read model and an audit record.
package activities

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/integrations"
	"github.com/tenure-io/tenure/internal/giveway"
	"github.com/tenure-io/tenure/workflows"
)

// Actor is how Tenure's own steps appear in the audit trail.
const Actor = "tenure"

// Activities carries what the activities need.
type Activities struct {
	Store tenure.Store
	// Policies is the policy in force and the apps' connectors.
	Policies Policies
	// Rollouts keeps policy versions and rollouts, and Engine re-evaluates
	// people for them; both nil leave the rollout activities unusable.
	Rollouts RolloutStore
	Engine   Reconverger
	// RolloutPoll is how often a rollout's batch reads how its people stand;
	// 0 means DefaultRolloutPoll.
	RolloutPoll time.Duration
	// GiveWay holds a rollout's hand-over back while a lock's or a leaver's
	// disables are under way in this process; nil holds nothing back.
	GiveWay *giveway.Way
	// Notifier tells people what needs them and what happened; nil only logs.
	Notifier tenure.Notifier
	// Publisher sends outbound events to subscribers; nil sends none.
	Publisher tenure.Publisher
	// RunURL links to a run in the Temporal UI; nil for no links.
	RunURL func(workflowID string) string
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Outages tracks apps whose steps keep failing, so IT hears of an outage
	// once; nil tracks nothing.
	Outages *Outages
	// Metrics counts finished runs and every call into an app; nil counts
	// nothing.
	Metrics Metrics

	// caps remembers each app's capabilities for capsTTL: asking costs a
	// round trip (an LDAP bind, a Google users.list), and a lock should not pay
	// it in every app.
	caps sync.Map // app -> capsEntry
}

// capsTTL is how long an app's capabilities are taken as known.
const capsTTL = 5 * time.Minute

type capsEntry struct {
	caps integrations.Capabilities
	at   time.Time
}

// capabilities returns what the app can do, asking it at most every capsTTL.
func (a *Activities) capabilities(ctx context.Context, app string, c integrations.Connector) (integrations.Capabilities, error) {
	now := time.Now()
	if e, ok := a.caps.Load(app); ok && now.Sub(e.(capsEntry).at) < capsTTL {
		return e.(capsEntry).caps, nil
	}
	caps, err := c.Capabilities(ctx)
	if err != nil {
		return caps, err
	}
	a.caps.Store(app, capsEntry{caps: caps, at: now})
	return caps, nil
}

func (a *Activities) now() time.Time {
	if a.Now != nil {
		return a.Now().UTC()
	}
	return time.Now().UTC()
}

func (a *Activities) logger() *slog.Logger {
	if a.Logger != nil {
		return a.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// EvaluatePolicy returns the person's desired access under the policy version
// in force.
func (a *Activities) EvaluatePolicy(ctx context.Context, p tenure.Person) (workflows.Plan, error) {
	pol, err := a.Policies.Current(ctx)
	if err != nil {
		return workflows.Plan{}, err
	}
	approvals := pol.Approvals()
	plan := workflows.Plan{
		Grants:        pol.Evaluate(p),
		Retention:     pol.Retention(),
		ITApprover:    approvals.ITApprover,
		PolicyDigest:  pol.Digest(),
		RemindAfter:   approvals.RemindAfter,
		EscalateAfter: approvals.EscalateAfter,
		ExpireAfter:   approvals.ExpireAfter,
		MoverGrace:    pol.MoverGrace(),
	}
	for _, app := range pol.Apps() {
		ref := workflows.AppRef{
			Name: app.Name, Connector: app.Connector, Owner: app.Owner, Managed: pol.Managed(app.Name),
		}
		if Limited(app) {
			ref.TaskQueue = workflows.AppTaskQueue(app.Name)
		}
		plan.Apps = append(plan.Apps, ref)
	}
	return plan, nil
}

// Limited reports whether the policy limits the app's rate or concurrency, so
// that its bulk calls go through its own task queue.
func Limited(app integrations.AppConfig) bool {
	return app.Limits.Rate > 0 || app.Limits.MaxConcurrent > 0
}

// RecordEmployee writes a person's record and status, and audits the change.
// A lock's and a termination's go ahead of bulk work's (killSwitch).
func (a *Activities) RecordEmployee(ctx context.Context, rec workflows.EmployeeRecord) error {
	ctx = killSwitch(ctx, rec.Action == "employee.locked" || rec.Action == "employee.terminated")
	log := &stepLog{}
	log.writes.Employees = append(log.writes.Employees, rec.Employee)
	actor := rec.Actor
	if actor == "" {
		actor = Actor
	}
	a.logAudit(ctx, log, tenure.AuditRecord{
		Key: rec.Key, Actor: actor, Action: rec.Action, EmployeeID: rec.Employee.ID,
		WorkflowID: tenure.WorkflowID(rec.Employee.ID),
		Detail:     "status " + string(rec.Employee.Status),
	})
	if typ, ok := employeeEvents[rec.Action]; ok {
		ev, err := a.event(typ, rec.Key, rec.Employee.ID, map[string]any{
			"employee": rec.Employee.Person, "status": rec.Employee.Status, "actor": actor,
		})
		if err != nil {
			return err
		}
		log.events = append(log.events, ev)
	}
	return a.write(ctx, log, nil)
}

// employeeEvents maps the workflow's audit actions to outbound event types.
var employeeEvents = map[string]string{
	"employee.hire":                  tenure.EventEmployeeHired,
	"employee.rehire":                tenure.EventEmployeeHired,
	"employee.update":                tenure.EventEmployeeHired,
	"employee.updated":               tenure.EventEmployeeUpdated,
	"employee.started":               tenure.EventEmployeeUpdated,
	"employee.termination_scheduled": tenure.EventEmployeeUpdated,
	"employee.terminated":            tenure.EventEmployeeTerminated,
	"employee.locked":                tenure.EventEmployeeLocked,
	"employee.unlocked":              tenure.EventEmployeeUnlocked,
}

// RecordRun writes a lifecycle run to the read model, and counts it once it
// has finished. A lock's and a leaver's go ahead of bulk work's (killSwitch).
func (a *Activities) RecordRun(ctx context.Context, r tenure.Run) error {
	ctx = killSwitch(ctx, r.Type == workflows.LockWorkflowName || r.Type == workflows.LeaverWorkflowName)
	if err := a.Store.UpsertRun(ctx, r); err != nil {
		return err
	}
	if a.Metrics != nil {
		a.Metrics.RunFinished(r)
	}
	return nil
}

// killSwitch marks ctx urgent (tenure.Urgent) when the work in it is the kill
// switch's own: a lock's or a leaver's disables (Operations), and their status
// and run, which the workflow records before it disables anything. Left
// behind a bulk onboarding's writes to the read model, those records held a
// lock's disables back by 120 to 240 ms (docs/performance.md).
func killSwitch(ctx context.Context, ours bool) context.Context {
	if ours {
		return tenure.Urgent(ctx)
	}
	return ctx
}

// ListAccess returns the person's accounts as the read model knows them.
func (a *Activities) ListAccess(ctx context.Context, employeeID string) ([]tenure.Account, error) {
	return a.Store.ListAccounts(ctx, employeeID)
}

// RecordFailure marks one app's access as failed, with the error a person can act on.
func (a *Activities) RecordFailure(ctx context.Context, f workflows.FailureRecord) error {
	acct, _ := a.account(ctx, f.EmployeeID, f.App)
	acct.Status, acct.Error = tenure.AccessFailed, f.Error
	if err := a.Store.UpsertAccount(ctx, acct); err != nil {
		return err
	}
	a.logger().Error("an app step failed", "employee_id", f.EmployeeID, "app", f.App, "error", f.Error)
	if err := a.audit(ctx, tenure.AuditRecord{Key: f.Key, Actor: Actor, Action: "access.failed",
		EmployeeID: f.EmployeeID, App: f.App, Detail: f.Error}); err != nil {
		return err
	}
	wf := workflowID(ctx)
	if err := a.notifier().StepFailed(ctx, tenure.FailureNotice{EmployeeID: f.EmployeeID, Person: a.person(ctx, f.EmployeeID),
		WorkflowID: wf, RunURL: a.runURL(wf), App: f.App, Error: f.Error}); err != nil {
		return err
	}
	return a.publish(ctx, tenure.EventWorkflowFailed, f.Key, f.EmployeeID, map[string]any{
		"app": f.App, "error": f.Error, "workflow_id": wf,
	})
}

// RequestApproval records an approval request and the grant that waits on it,
// and asks the approver (askApprover: an approver who cannot be reached falls
// back to the IT channel and the console). Until Slack is configured, the
// request is only logged.
func (a *Activities) RequestApproval(ctx context.Context, req workflows.ApprovalRequest) error {
	ap := req.Approval
	if err := a.recordRequest(ctx, req); err != nil {
		return err
	}
	// A retried request that already reached someone, or was recorded as
	// reaching nobody, does not ask again.
	if stored, err := a.Store.GetApproval(ctx, ap.ID); err != nil {
		return err
	} else if len(stored.Messages) > 0 || stored.Notice != "" {
		return nil
	}
	n := a.approvalNotice(ctx, ap, ap.ApproverID, req.RequestedBy)
	n.Person = req.Person
	return a.askApprover(ctx, n, "request", func() ([]tenure.MessageRef, error) {
		return a.notifier().ApprovalRequested(ctx, n)
	})
}

// recordRequest writes an approval request, the grant that waits on it and
// its audit record, and publishes it; each once, however often it runs.
func (a *Activities) recordRequest(ctx context.Context, req workflows.ApprovalRequest) error {
	ap := req.Approval
	if err := a.Store.CreateApproval(ctx, ap); err != nil {
		return err
	}
	if err := a.Store.UpsertGrant(ctx, tenure.GrantRecord{
		EmployeeID: ap.EmployeeID, App: ap.App, Entitlement: ap.Entitlement,
		Status: tenure.AccessPendingApproval, Rule: ap.Rule, ApprovalID: ap.ID, UpdatedAt: a.now(),
	}); err != nil {
		return err
	}
	if err := a.audit(ctx, tenure.AuditRecord{Key: "approval/" + ap.ID + "/requested", Actor: Actor,
		Action: "approval.requested", EmployeeID: ap.EmployeeID, App: ap.App, WorkflowID: ap.WorkflowID,
		Detail: fmt.Sprintf("%s needs %s approval (%s), rule %s", grantName(ap.App, ap.Entitlement), ap.Approver, ap.ApproverID, ap.Rule)}); err != nil {
		return err
	}
	return a.publish(ctx, tenure.EventApprovalRequested, "approval/"+ap.ID+"/requested", ap.EmployeeID, ap)
}

// RecordDecision records an approval's outcome and the grant's new state.
func (a *Activities) RecordDecision(ctx context.Context, rec workflows.DecisionRecord) error {
	ap := rec.Approval
	at := a.now()
	if ap.DecidedAt != nil {
		at = *ap.DecidedAt
	}
	err := a.Store.DecideApproval(ctx, ap.ID, ap.Status, ap.DecidedBy, ap.Reason, at)
	if tenure.ErrorCode(err) == tenure.ECONFLICT {
		// The workflow is the source of truth: it accepted this decision first.
		a.logger().Warn("approval already decided otherwise in the read model", "approval_id", ap.ID)
	} else if err != nil {
		return err
	}
	status := tenure.AccessPending
	if ap.Status != tenure.ApprovalApproved {
		status = tenure.AccessDenied
	}
	if err := a.Store.UpsertGrant(ctx, tenure.GrantRecord{
		EmployeeID: ap.EmployeeID, App: ap.App, Entitlement: ap.Entitlement,
		Status: status, Rule: ap.Rule, ApprovalID: ap.ID, UpdatedAt: at,
	}); err != nil {
		return err
	}
	detail := fmt.Sprintf("%s %s by %s", grantName(ap.App, ap.Entitlement), ap.Status, ap.DecidedBy)
	if ap.Reason != "" {
		detail += ": " + ap.Reason
	}
	if err := a.audit(ctx, tenure.AuditRecord{Key: "approval/" + ap.ID + "/decided", Actor: ap.DecidedBy,
		Action: "approval." + string(ap.Status), EmployeeID: ap.EmployeeID, App: ap.App,
		WorkflowID: ap.WorkflowID, Detail: detail}); err != nil {
		return err
	}
	// The stored approval knows where the request was posted, to update it there.
	stored, err := a.Store.GetApproval(ctx, ap.ID)
	if err != nil {
		return err
	}
	stored.Status, stored.DecidedBy, stored.Reason, stored.DecidedAt = ap.Status, ap.DecidedBy, ap.Reason, &at
	// Updating the request's messages is a notice like any other: retried, then
	// recorded as failed, never a reason for the decision to fail.
	if err := a.notifier().ApprovalDecided(ctx, a.approvalNotice(ctx, stored, ap.DecidedBy, "")); err != nil {
		if !unreachable(err) && !lastNoticeAttempt(ctx) {
			return err
		}
		if err := a.noticeFailed(ctx, stored, "decision", "updating the request's messages with the decision failed: "+err.Error()); err != nil {
			return err
		}
	}
	return a.publish(ctx, tenure.EventApprovalDecided, "approval/"+ap.ID+"/decided", ap.EmployeeID, stored)
}

func grantName(app, entitlement string) string {
	if entitlement == "" {
		return app
	}
	return app + "/" + entitlement
}

// account returns the read model's row for one app, or a new row.
func (a *Activities) account(ctx context.Context, employeeID, app string) (tenure.Account, error) {
	accounts, err := a.Store.ListAccounts(ctx, employeeID)
	if err != nil {
		return tenure.Account{EmployeeID: employeeID, App: app}, err
	}
	for _, acct := range accounts {
		if acct.App == app {
			return acct, nil
		}
	}
	return tenure.Account{EmployeeID: employeeID, App: app, Status: tenure.AccessPending}, nil
}

func (a *Activities) audit(ctx context.Context, r tenure.AuditRecord) error {
	return a.Store.AppendAudit(ctx, a.auditRecord(ctx, r))
}

// logAudit is audit for a step: the record goes in its log.
func (a *Activities) logAudit(ctx context.Context, log *stepLog, r tenure.AuditRecord) {
	log.writes.Audit = append(log.writes.Audit, a.auditRecord(ctx, r))
}

// auditRecord is r with its time and workflow filled in where it has none.
func (a *Activities) auditRecord(ctx context.Context, r tenure.AuditRecord) tenure.AuditRecord {
	if r.At.IsZero() {
		r.At = a.now()
	}
	if r.WorkflowID == "" {
		r.WorkflowID = workflowID(ctx)
	}
	return r
}

// runKey is the context key of the run an activity's step belongs to.
type runKey struct{}

// withRun marks ctx as a step of run, when run is set.
func withRun(ctx context.Context, run string) context.Context {
	if run == "" {
		return ctx
	}
	return context.WithValue(ctx, runKey{}, run)
}

// workflowID is the run the activity is a step of: the run inside the person's
// workflow it was marked with (withRun), or else the ID of the workflow that
// runs the activity, if any.
func workflowID(ctx context.Context) string {
	if run, ok := ctx.Value(runKey{}).(string); ok {
		return run
	}
	if !activity.IsActivity(ctx) {
		return ""
	}
	return activity.GetInfo(ctx).WorkflowExecution.ID
}

// verifyAttempts bounds how often a step whose change the app does not show is
// tried again: an app that takes a change but never shows it would otherwise keep
// a person's run going for ever.
const verifyAttempts = 5

// temporalError decides, in one place, how a failed app call is retried:
//   - a rate limit after the delay the app asked for, for as long as it takes;
//   - a transient fault (5xx, a timeout, a refused connection) with backoff,
//     until the app's give_up_after has passed since the step was first tried;
//   - a permanent fault never.
//
// The retry policy sets no attempt limit: how long an app may be down is a
// matter of time, decided here.
func (a *Activities) temporalError(ctx context.Context, req workflows.AccountRequest, err error) error {
	var e *integrations.Error
	if !errors.As(err, &e) {
		return err
	}
	if verdict := appVerdict(e, err); verdict != nil {
		return verdict
	}
	if activity.IsActivity(ctx) && !activity.GetInfo(ctx).ScheduledTime.IsZero() {
		// ScheduledTime is when the step was first scheduled, on the server's
		// clock, so failing is how long this step has been failing.
		info := activity.GetInfo(ctx)
		failing := a.now().Sub(info.ScheduledTime)
		if limit := a.giveUpAfter(ctx, req.App); failing >= limit {
			return temporal.NewNonRetryableApplicationError(
				fmt.Sprintf("%s (gave up after %s of failures, the app's give_up_after)", e.Error(), limit.Round(time.Second)), "GaveUp", err)
		}
		a.Outages.Failing(req.App, req.EmployeeID, e.Error(), info.ScheduledTime)
		// The wait grows with how long the step has been failing, not with its
		// attempt count, which rate limits inflate: a 503 after twenty 429s is
		// no reason to wait minutes.
		return temporal.NewApplicationErrorWithOptions(e.Error(), e.Kind.String(),
			temporal.ApplicationErrorOptions{NextRetryDelay: transientDelay(failing), Cause: err})
	}
	return temporal.NewApplicationError(e.Error(), e.Kind.String())
}

// appVerdict is what every activity does with an app's own verdict on a call
// (err, whose *integrations.Error is e): a rate limit is retried after the
// delay the app asked for; a permanent fault is never retried, nor is a
// conflict the connector could not resolve by adopting (the account is
// another person's), which needs a person to sort it out. It returns nil for
// a transient fault, whose retry the caller decides.
func appVerdict(e *integrations.Error, err error) error {
	switch e.Kind {
	case integrations.RateLimited:
		return temporal.NewApplicationErrorWithOptions(e.Error(), "RateLimited",
			temporal.ApplicationErrorOptions{NextRetryDelay: e.RetryAfter, Cause: err})
	case integrations.Permanent:
		return temporal.NewNonRetryableApplicationError(e.Error(), "Permanent", err)
	case integrations.Conflict:
		return temporal.NewNonRetryableApplicationError(e.Error(), "Conflict", err)
	}
	return nil
}

// The bounds of transientDelay.
const (
	minTransientDelay = 200 * time.Millisecond
	maxTransientDelay = 30 * time.Second
)

// transientDelay is the wait before a step that has been failing for failing
// tries again: a quarter of that, between 200 ms and 30 s. A brief fault is
// retried at once; an outage of hours is asked about twice a minute.
func transientDelay(failing time.Duration) time.Duration {
	return min(max(failing/4, minTransientDelay), maxTransientDelay)
}

// giveUpAfter is how long the app's steps ride out transient faults.
func (a *Activities) giveUpAfter(ctx context.Context, app string) time.Duration {
	if a.Policies != nil {
		if cfg, _, err := a.Policies.App(ctx, app); err == nil && cfg.Limits.GiveUpAfter > 0 {
			return cfg.Limits.GiveUpAfter
		}
	}
	return integrations.DefaultGiveUpAfter
}

// notVerified is returned when an app, read back, does not show the change: the
// step is tried again, up to verifyAttempts times, and then fails with what the
// app showed rather than being reported as done.
func notVerified(ctx context.Context, app, format string, args ...any) error {
	msg := app + ": not verified: " + fmt.Sprintf(format, args...)
	if activity.IsActivity(ctx) {
		if n := activity.GetInfo(ctx).Attempt; n >= verifyAttempts {
			return temporal.NewNonRetryableApplicationError(fmt.Sprintf("%s (after %d attempts)", msg, n), "NotVerified", nil)
		}
	}
	return temporal.NewApplicationError(msg, "NotVerified")
}
