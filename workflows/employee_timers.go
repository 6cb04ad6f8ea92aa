package workflows

import (
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/tenure-io/tenure"
)

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
	case e.GraceAt != nil && !e.GraceAt.After(now):
		return true, e.endGrace(ctx)
	case e.retiredDue(now):
		return true, e.deleteRetired(ctx, now)
	}
	return e.fireApprovalTimer(ctx, now)
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
			a.EscalatedTo = to
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

// approvalDeadlines are a pending approval's next reminder, escalation and expiry;
// a zero time is one that is done or not configured.
func (e *employee) approvalDeadlines(a ApprovalState) (remind, escalate, expire time.Time) {
	if e.version < 1 || a.Status != tenure.ApprovalPending || a.Deciding || a.RequestedAt.IsZero() {
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

// nextDeadline is the earliest pending effective date.
func (e *employee) nextDeadline() (time.Time, bool) {
	var next time.Time
	for _, t := range []*time.Time{e.StartAt, e.EndAt, e.TerminateAt, e.PurgeAt, e.GraceAt} {
		if t != nil && (next.IsZero() || t.Before(next)) {
			next = *t
		}
	}
	for _, r := range e.Retired {
		if next.IsZero() || r.DeleteAt.Before(next) {
			next = r.DeleteAt
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
