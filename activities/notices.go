package activities

import (
	"context"
	"fmt"

	"go.temporal.io/sdk/activity"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/integrations"
	"github.com/tenure-io/tenure/workflows"
)

// noticeAttempts bounds how often a notice about an approval is tried. On
// its last attempt a notice that still fails is recorded as such and the
// activity succeeds: a notice never fails the person's workflow, and is never
// retried for ever. It is the MaximumAttempts of the workflows' notice
// options, and it holds as well where a run retries longer (runs older than
// notices ask as a local activity, up to 20 times).
const noticeAttempts = 5

// lastNoticeAttempt reports whether this is a notice's last attempt: the
// noticeAttempts-th, or a call outside an activity, which nobody retries.
func lastNoticeAttempt(ctx context.Context) bool {
	return !activity.IsActivity(ctx) || activity.GetInfo(ctx).Attempt >= noticeAttempts
}

// unreachable reports whether a notice failed in a way that asking again
// cannot change: the recipient has no email, Slack knows no such user or
// channel, or Slack refused the call.
func unreachable(err error) bool {
	k := integrations.KindOf(err)
	return k == integrations.Permanent || k == integrations.NotFound
}

// askApprover sends a notice that asks for a decision (what: the request, a
// reminder, the escalation) through send, and records how it went on the
// approval. An approver who cannot be reached, or a notice still failing on
// its last attempt, falls back to the IT channel (ApprovalUnreachable) and the
// console; when that fails too, the approval is recorded as notice failed.
// Either way the approval stays pending, for an admin to decide in the console
// or the API. Only the read model's own failures fail the activity.
func (a *Activities) askApprover(ctx context.Context, n tenure.ApprovalNotice, what string, send func() ([]tenure.MessageRef, error)) error {
	id := n.Approval.ID
	msgs, err := send()
	if err == nil {
		if err := a.addMessages(ctx, id, msgs); err != nil {
			return err
		}
		status := tenure.NoticeSent
		if _, logged := a.notifier().(LogNotifier); logged {
			// Without Slack nobody was told: the notice is in the log.
			status = tenure.NoticeLogged
		}
		return a.Store.SetApprovalNotice(ctx, id, status, "")
	}
	if !unreachable(err) && !lastNoticeAttempt(ctx) {
		return err
	}
	to := n.Approver.ID
	if to == "" {
		to = "nobody"
	}
	why := fmt.Sprintf("the %s to %s failed: %v", what, to, err)
	msgs, ferr := a.notifier().ApprovalUnreachable(ctx, n, why)
	if ferr != nil {
		if !unreachable(ferr) && !lastNoticeAttempt(ctx) {
			return ferr
		}
		return a.noticeFailed(ctx, n.Approval, what, fmt.Sprintf("%s; telling the IT channel failed too: %v", why, ferr))
	}
	a.logger().Warn("approver unreachable; told the IT channel", "approval_id", id, "notice", what, "error", err)
	if err := a.addMessages(ctx, id, msgs); err != nil {
		return err
	}
	if err := a.Store.SetApprovalNotice(ctx, id, tenure.NoticeSentToIT, why); err != nil {
		return err
	}
	return a.audit(ctx, tenure.AuditRecord{Key: "approval/" + id + "/" + what + "/sent_to_it", Actor: Actor,
		Action: "approval.notice_sent_to_it", EmployeeID: n.Approval.EmployeeID, App: n.Approval.App,
		WorkflowID: n.Approval.WorkflowID, Detail: why + "; the IT channel was told, to decide in the console"})
}

// noticeFailed records that a notice about the approval reached nobody: on the
// approval (notice failed, with why) and in the audit trail.
func (a *Activities) noticeFailed(ctx context.Context, ap tenure.Approval, what, why string) error {
	a.logger().Error("a notice about an approval failed; decide it in the console", "approval_id", ap.ID, "notice", what, "error", why)
	if err := a.Store.SetApprovalNotice(ctx, ap.ID, tenure.NoticeFailed, why); err != nil {
		return err
	}
	return a.audit(ctx, tenure.AuditRecord{Key: "approval/" + ap.ID + "/" + what + "/notice_failed", Actor: Actor,
		Action: "approval.notice_failed", EmployeeID: ap.EmployeeID, App: ap.App, WorkflowID: ap.WorkflowID,
		Detail: why})
}

func (a *Activities) addMessages(ctx context.Context, id string, msgs []tenure.MessageRef) error {
	if len(msgs) == 0 {
		return nil
	}
	return a.Store.AddApprovalMessages(ctx, id, msgs)
}

// RecordNoticeFailed records an approval whose request activity failed for
// good: the approval and its grant, as RequestApproval would have, and the
// failure. The person's workflow carries on, and the approval is decided in
// the console or the API.
func (a *Activities) RecordNoticeFailed(ctx context.Context, f workflows.NoticeFailure) error {
	if err := a.recordRequest(ctx, f.Request); err != nil {
		return err
	}
	return a.noticeFailed(ctx, f.Request.Approval, "request", "asking for the approval failed: "+f.Error)
}
