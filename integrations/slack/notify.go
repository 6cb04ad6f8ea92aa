package slack

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	slackapi "github.com/slack-go/slack"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/integrations"
)

var _ tenure.Notifier = (*Slack)(nil)

// dm opens (or finds: conversations.open is idempotent) the direct message with
// the Slack user whose email is p's.
func (s *Slack) dm(ctx context.Context, p tenure.Person) (string, error) {
	if p.Email == "" {
		return "", &integrations.Error{Kind: integrations.Permanent, App: "slack", Op: "users.lookupByEmail",
			Detail: fmt.Sprintf("person %q has no email to find them in Slack by", p.ID)}
	}
	u, err := s.api.GetUserByEmailContext(ctx, p.Email)
	if err == nil && u.ID == "" {
		err = malformed("users.lookupByEmail", "the user's ID")
	}
	if err != nil {
		err = callError("users.lookupByEmail", err)
		if integrations.IsNotFound(err) {
			// Say who, by HR ID: the email stays out of errors that reach Temporal.
			return "", &integrations.Error{Kind: integrations.Permanent, App: "slack", Op: "users.lookupByEmail",
				Detail: fmt.Sprintf("no Slack user has the email of person %q", p.ID)}
		}
		return "", err
	}
	ch, _, _, err := s.api.OpenConversationContext(ctx, &slackapi.OpenConversationParameters{Users: []string{u.ID}})
	if err != nil {
		return "", callError("conversations.open", err)
	}
	if ch == nil || ch.ID == "" {
		// slack-go hands back the answer's channel as it came: nil when absent.
		return "", malformed("conversations.open", "the channel")
	}
	return ch.ID, nil
}

// malformed is the error for an answer Slack marked ok that lacks what the
// method must return. Nothing was sent to anyone yet, so it is transient: the
// activity tries again.
func malformed(method, what string) error {
	return &integrations.Error{Kind: integrations.Transient, App: "slack", Op: method,
		Detail: "Slack answered ok without " + what}
}

// post sends one message and returns where it went. The client does not retry,
// so one call posts at most once; the activity decides about retrying.
func (s *Slack) post(ctx context.Context, channel, text string, blocks []slackapi.Block, opts ...slackapi.MsgOption) (tenure.MessageRef, error) {
	opts = append([]slackapi.MsgOption{
		// The fallback text is mrkdwn too: escape it like the blocks.
		slackapi.MsgOptionText(esc(text), false),
		slackapi.MsgOptionBlocks(blocks...),
		slackapi.MsgOptionDisableLinkUnfurl(),
	}, opts...)
	ch, ts, err := s.api.PostMessageContext(ctx, channel, opts...)
	if err != nil {
		return tenure.MessageRef{}, callError("chat.postMessage", err)
	}
	if ch == "" || ts == "" {
		// The message may well have been posted, so trying again could post it
		// twice; but without its channel and ts it can never be updated.
		return tenure.MessageRef{}, &integrations.Error{Kind: integrations.Permanent, App: "slack", Op: "chat.postMessage",
			Detail: "Slack answered ok without the message's channel and ts"}
	}
	return tenure.MessageRef{Channel: ch, TS: ts}, nil
}

// ApprovalRequested asks the approver in a direct message, with Approve and Deny.
func (s *Slack) ApprovalRequested(ctx context.Context, n tenure.ApprovalNotice) ([]tenure.MessageRef, error) {
	ch, err := s.dm(ctx, n.Approver)
	if err != nil {
		return nil, err
	}
	intro := fmt.Sprintf("*%s* needs access that needs your approval as their %s.",
		esc(n.Person.DisplayName()), esc(approverRole(n.Approval.Approver)))
	ref, err := s.post(ctx, ch, requestText(n), requestBlocks(intro, n))
	if err != nil {
		return nil, err
	}
	return []tenure.MessageRef{ref}, nil
}

// ApprovalReminder nudges the approver in the same direct message, in the
// request's thread when the request is there, so the buttons stay in one place.
func (s *Slack) ApprovalReminder(ctx context.Context, n tenure.ApprovalNotice) error {
	ch, err := s.dm(ctx, n.Approver)
	if err != nil {
		return err
	}
	text := fmt.Sprintf(":bell: Reminder: *%s* is still waiting for your decision on *%s* (asked %s).",
		esc(n.Person.DisplayName()), esc(grantLabel(n.Approval)), formatTime(n.Approval.RequestedAt))
	var opts []slackapi.MsgOption
	for _, m := range n.Approval.Messages {
		if m.Channel == ch && m.TS != "" {
			text += " Approve or deny on the request above."
			opts = append(opts, slackapi.MsgOptionTS(m.TS), slackapi.MsgOptionBroadcast())
			_, err = s.post(ctx, ch, "Reminder: "+requestText(n), []slackapi.Block{section(text)}, opts...)
			return err
		}
	}
	// The request is not in this conversation (it was logged, or went elsewhere):
	// ask again with the buttons.
	_, err = s.post(ctx, ch, "Reminder: "+requestText(n), requestBlocks(text, n))
	return err
}

// ApprovalEscalated asks the person the approval escalated to (n.Approver).
func (s *Slack) ApprovalEscalated(ctx context.Context, n tenure.ApprovalNotice) ([]tenure.MessageRef, error) {
	ch, err := s.dm(ctx, n.Approver)
	if err != nil {
		return nil, err
	}
	intro := fmt.Sprintf(":arrow_up: *Escalated to you.* *%s* needs access, and their %s (`%s`) has not answered since %s. You may decide in their place.",
		esc(n.Person.DisplayName()), esc(approverRole(n.Approval.Approver)), esc(n.Approval.ApproverID),
		formatTime(n.Approval.RequestedAt))
	ref, err := s.post(ctx, ch, "Escalated: "+requestText(n), requestBlocks(intro, n))
	if err != nil {
		return nil, err
	}
	return []tenure.MessageRef{ref}, nil
}

// ApprovalUnreachable tells the IT channel that the approver cannot be reached
// in Slack, and why, with the request's summary and a link to the console,
// where an admin decides it. It has no buttons: in Slack only the named
// approver, or whom it escalated to, may decide.
func (s *Slack) ApprovalUnreachable(ctx context.Context, n tenure.ApprovalNotice, why string) ([]tenure.MessageRef, error) {
	who := n.Approver.ID
	if who == "" {
		who = "nobody"
	}
	blocks := []slackapi.Block{
		slackapi.NewHeaderBlock(plain("Approver unreachable: " + grantLabel(n.Approval))),
		section(fmt.Sprintf(":warning: *%s* needs access that waits for %s approval from `%s`, whom Tenure cannot reach in Slack: %s\nAn admin can decide it in Tenure's console or API.",
			esc(n.Person.DisplayName()), esc(approverRole(n.Approval.Approver)), esc(who), esc(clip(why, 500)))),
	}
	blocks = append(blocks, requestSummary(n)...)
	if s.cfg.ConsoleURL != "" {
		link := strings.TrimRight(s.cfg.ConsoleURL, "/") + "/approvals#approval-" + n.Approval.ID
		blocks = append(blocks, slackapi.NewActionBlock("unreachable:"+n.Approval.ID, linkButton("open_approvals", "Open in the console", link)))
	}
	text := fmt.Sprintf("Approver %s unreachable: %s needs %s; decide it in the console", who, n.Person.DisplayName(), grantLabel(n.Approval))
	ref, err := s.post(ctx, s.cfg.ITChannel, text, blocks)
	if err != nil {
		return nil, err
	}
	return []tenure.MessageRef{ref}, nil
}

// ApprovalDecided rewrites every message of the request to show the decision,
// who made it and when, without buttons. chat.update is idempotent, and a
// message that is gone is not an error: there is nothing left to update.
func (s *Slack) ApprovalDecided(ctx context.Context, n tenure.ApprovalNotice) error {
	blocks := decidedBlocks(n)
	text := fmt.Sprintf("%s: %s", grantLabel(n.Approval), n.Approval.Status)
	var errs []error
	for _, m := range n.Approval.Messages {
		_, _, _, err := s.api.UpdateMessageContext(ctx, m.Channel, m.TS,
			slackapi.MsgOptionText(esc(text), false), slackapi.MsgOptionBlocks(blocks...))
		if err = callError("chat.update", err); err != nil && !integrations.IsNotFound(err) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// AccessReady tells the manager in a direct message which accounts are ready.
func (s *Slack) AccessReady(ctx context.Context, n tenure.AccessReadyNotice) error {
	ch, err := s.dm(ctx, n.Manager)
	if err != nil {
		return err
	}
	blocks := []slackapi.Block{
		slackapi.NewHeaderBlock(plain("Accounts ready for " + n.Person.DisplayName())),
		section(fmt.Sprintf("*%s*'s accounts are set up and verified in each app:\n%s",
			esc(n.Person.DisplayName()), accountLines(n.Accounts, false))),
		fieldsSection("Title", n.Person.Title, "Department", n.Person.Department, "Start date", startDate(n.Person)),
	}
	_, err = s.post(ctx, ch, fmt.Sprintf("%s's accounts are ready: %s", n.Person.DisplayName(), appNames(n.Accounts)), blocks)
	return err
}

// StepFailed alerts the IT channel with the error, a link to the run and Retry.
func (s *Slack) StepFailed(ctx context.Context, n tenure.FailureNotice) error {
	employeeID := n.EmployeeID
	if employeeID == "" {
		employeeID = n.Person.ID
	}
	who := n.Person.DisplayName()
	if who == "" {
		who = employeeID
	}
	blocks := []slackapi.Block{
		slackapi.NewHeaderBlock(plain(fmt.Sprintf("Failed: %s for %s", n.App, who))),
		section(fmt.Sprintf("A step in *%s* failed for *%s* (`%s`):\n```%s```",
			esc(n.App), esc(who), esc(employeeID), esc(clip(n.Error, 2500)))),
		contextLine("Run `" + esc(n.WorkflowID) + "`"),
	}
	buttons := []slackapi.BlockElement{}
	retry := slackapi.NewButtonBlockElement(ActionRetry, RetryValue(employeeID, n.App), plain("Retry "+n.App))
	retry.Style = slackapi.StylePrimary
	buttons = append(buttons, retry)
	if n.RunURL != "" {
		buttons = append(buttons, linkButton("open_run", "Open the run", n.RunURL))
	}
	blocks = append(blocks, slackapi.NewActionBlock("failure:"+employeeID+":"+n.App, buttons...))
	_, err := s.post(ctx, s.cfg.ITChannel, fmt.Sprintf("%s failed for %s: %s", n.App, who, clip(n.Error, 200)), blocks)
	return err
}

// AppFailing tells the IT channel, once per outage, that an app keeps failing
// and that Tenure is still retrying.
func (s *Slack) AppFailing(ctx context.Context, n tenure.OutageNotice) error {
	text := fmt.Sprintf("%s is failing for %d people; still retrying", n.App, n.People)
	blocks := []slackapi.Block{
		slackapi.NewHeaderBlock(plain(text)),
		section(fmt.Sprintf("Since %s, steps in *%s* keep failing. Tenure retries them until the app's `give_up_after`. The latest error:\n```%s```",
			n.Since.UTC().Format("15:04 UTC"), esc(n.App), esc(clip(n.LastError, 2500)))),
	}
	_, err := s.post(ctx, s.cfg.ITChannel, text, blocks)
	return err
}

// LeaverSummary tells the IT and security channels (once each; they may be the
// same) what was revoked, where and when.
func (s *Slack) LeaverSummary(ctx context.Context, n tenure.LeaverNotice) error {
	who := n.Person.DisplayName()
	blocks := []slackapi.Block{
		slackapi.NewHeaderBlock(plain("Leaver: " + who)),
		section(fmt.Sprintf("*%s* (`%s`) has left. Access revoked on %s:\n%s",
			esc(who), esc(n.Person.ID), formatTime(n.At), accountLines(n.Accounts, true))),
		contextLine("Run `" + esc(n.WorkflowID) + "`"),
	}
	if n.RunURL != "" {
		blocks = append(blocks, slackapi.NewActionBlock("leaver:"+n.Person.ID, linkButton("open_run", "Open the run", n.RunURL)))
	}
	text := fmt.Sprintf("Leaver %s: access revoked in %s", who, appNames(n.Accounts))
	var errs []error
	for _, ch := range unique(s.cfg.ITChannel, s.cfg.SecurityChannel) {
		if _, err := s.post(ctx, ch, text, blocks); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func approverRole(a tenure.Approver) string {
	switch a {
	case tenure.ApproverManager:
		return "manager"
	case tenure.ApproverAppOwner:
		return "app owner"
	case tenure.ApproverIT:
		return "IT approver"
	}
	return "approver"
}

func appNames(accounts []tenure.Account) string {
	names := make([]string, 0, len(accounts))
	for _, a := range accounts {
		names = append(names, a.App)
	}
	if len(names) == 0 {
		return "no apps"
	}
	return strings.Join(names, ", ")
}

func unique(xs ...string) []string {
	var out []string
	for _, x := range xs {
		if x != "" && !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}

// ReconcileFindings tells the IT channel what a reconciliation found, and,
// for an enforce run, what it remediated. Counts only: the accounts are in
// the console and the API.
func (s *Slack) ReconcileFindings(ctx context.Context, n tenure.ReconcileNotice) error {
	r := n.Reconciliation
	text := fmt.Sprintf("Reconciliation %s found %s", r.ID, r.Summary())
	body := fmt.Sprintf("Reconciliation `%s` (%s, %s) of %s found %s.", esc(r.ID), esc(string(r.Mode)), esc(string(r.Status)),
		esc(strings.Join(r.Apps, ", ")), esc(r.Summary()))
	if r.Mode == tenure.ReconcileEnforce {
		body += fmt.Sprintf("\nRemediated %d; %d failed.", r.Remediated, r.Failed)
	}
	blocks := []slackapi.Block{
		slackapi.NewHeaderBlock(plain("Reconciliation findings")),
		section(body),
		contextLine("The findings: console page Reconciliation, or `GET /api/v1/reconciliations/" + esc(r.ID) + "`"),
	}
	_, err := s.post(ctx, s.cfg.ITChannel, text, blocks)
	return err
}
