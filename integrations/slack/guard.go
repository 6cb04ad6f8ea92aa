package slack

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	slackapi "github.com/slack-go/slack"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/integrations"
)

var _ tenure.HoldNotifier = (*Slack)(nil)

// GuardHeld alerts the IT channel at once that the blast-radius guard held an
// operation: what, how many people, why, and Release and Discard buttons for
// the Slack admins (each asks to confirm first), with a link to the console's
// holds. It names no one: the people are listed in the console, to admins.
func (s *Slack) GuardHeld(ctx context.Context, n tenure.HoldNotice) error {
	h := n.Hold
	blocks := append(holdBlocks(h),
		contextLine(fmt.Sprintf("Hold `%s`. A Slack admin (TENURE_SLACK_ADMINS) releases or discards it here; any admin in the console, or with POST /api/v1/holds/%s/release (.../discard).",
			esc(h.ID), esc(h.ID))),
		slackapi.NewActionBlock(HoldBlockPrefix+h.ID, holdButtons(h, n.URL)...))
	_, err := s.post(ctx, s.cfg.ITChannel, heldText(h), blocks)
	return err
}

// HoldDecided rewrites a hold's alert once the hold is decided: the same
// summary, what was decided, by whom and when, and no Release or Discard.
// slackUser is the Slack user who decided it from the alert, "" when it was
// decided elsewhere. A message that is gone is not an error: there is nothing
// left to update.
func (s *Slack) HoldDecided(ctx context.Context, ref tenure.MessageRef, h tenure.Hold, slackUser string) error {
	summary := holdBlocks(h)
	blocks := []slackapi.Block{summary[0], section(holdDecision(h, slackUser)), summary[1],
		contextLine(fmt.Sprintf("Hold `%s`.", esc(h.ID)))}
	if s.cfg.ConsoleURL != "" {
		blocks = append(blocks, slackapi.NewActionBlock(HoldBlockPrefix+h.ID,
			linkButton("open_holds", "Review the hold", strings.TrimRight(s.cfg.ConsoleURL, "/")+"/holds")))
	}
	text := fmt.Sprintf("%s: %s", heldText(h), h.Status)
	_, _, _, err := s.api.UpdateMessageContext(ctx, ref.Channel, ref.TS,
		slackapi.MsgOptionText(esc(text), false), slackapi.MsgOptionBlocks(blocks...))
	if err = callError("chat.update", err); err != nil && !integrations.IsNotFound(err) {
		return err
	}
	return nil
}

// heldText says what the guard held, for the notification and the header.
func heldText(h tenure.Hold) string {
	what := fmt.Sprintf("%d people", h.People)
	if h.WorkflowID != "" {
		what = fmt.Sprintf("%s %s, for %d people, whole", h.Source, h.Operation, h.People)
	}
	return fmt.Sprintf("Tenure's blast-radius guard held %s from %s", what, h.Source)
}

// holdBlocks are a hold's header and summary, as its alert shows them before
// and after the decision.
func holdBlocks(h tenure.Hold) []slackapi.Block {
	return []slackapi.Block{
		slackapi.NewHeaderBlock(plain(":octagonal_sign: " + heldText(h))),
		section(fmt.Sprintf("*%s* (`%s`, by %s) would disable or revoke more access than the policy's guard allows. Nothing irreversible has happened to the people held.\n>%s",
			esc(h.Source), esc(h.Operation), esc(h.Actor), esc(clip(h.Reason, 1500)))),
	}
}

// holdButtons are Release and Discard, each with its consequence to confirm,
// and the link to the console's holds when url is known. The block ID and
// both values carry the hold ID, which is all the API needs to find it again.
func holdButtons(h tenure.Hold, url string) []slackapi.BlockElement {
	goesOn := fmt.Sprintf("The held work goes on: %d people lose the access it takes away.", h.People)
	never := "The held work never runs."
	switch {
	case h.WorkflowID != "":
		never = fmt.Sprintf("%s %s never runs: it ends as canceled.", h.Source, h.Operation)
	case h.Events > 0:
		never = fmt.Sprintf("The held work never runs: its %d HR events are dropped for good.", h.Events)
	}
	release := slackapi.NewButtonBlockElement(ActionRelease, h.ID, plain("Release"))
	release.Style = slackapi.StylePrimary
	release.Confirm = slackapi.NewConfirmationBlockObject(plain("Release this hold?"), plain(goesOn), plain("Release"), plain("Keep it held"))
	discard := slackapi.NewButtonBlockElement(ActionDiscard, h.ID, plain("Discard"))
	discard.Style = slackapi.StyleDanger
	discard.Confirm = slackapi.NewConfirmationBlockObject(plain("Discard this hold?"), plain(never), plain("Discard"), plain("Keep it held")).
		WithStyle(slackapi.StyleDanger)
	buttons := []slackapi.BlockElement{release, discard}
	if url != "" {
		buttons = append(buttons, linkButton("open_holds", "Review the hold", url))
	}
	return buttons
}

// slackUserID is what a Slack user ID looks like: only such an ID is written
// into a message as a mention.
var slackUserID = regexp.MustCompile(`^[UW][A-Z0-9]{2,20}$`)

// holdDecision says what was decided about a hold, by whom and when: the
// Slack user who decided it from the alert is mentioned, and so is one that
// the decider's ID names (slack:<user ID>).
func holdDecision(h tenure.Hold, slackUser string) string {
	if slackUser == "" {
		slackUser, _ = strings.CutPrefix(h.DecidedBy, "slack:")
	}
	by := "`" + esc(orDash(h.DecidedBy)) + "`"
	if slackUserID.MatchString(slackUser) {
		by = "<@" + slackUser + ">"
		if h.DecidedBy != "" && h.DecidedBy != "slack:"+slackUser {
			by += " (`" + esc(h.DecidedBy) + "`)"
		}
	}
	when := "at an unrecorded time"
	if h.DecidedAt != nil {
		when = "on " + formatTime(*h.DecidedAt)
	}
	var line string
	switch h.Status {
	case tenure.HoldReleased:
		line = fmt.Sprintf(":white_check_mark: *Released* by %s %s: the held work goes on.", by, when)
		if h.Pending > 0 {
			line += fmt.Sprintf(" %d of its HR events are still to be handed on: release it again in the console or the API.", h.Pending)
		}
	case tenure.HoldDiscarded:
		line = fmt.Sprintf(":wastebasket: *Discarded* by %s %s: the held work never runs.", by, when)
	default:
		line = fmt.Sprintf("*%s*", esc(string(h.Status)))
	}
	if h.Note != "" {
		line += "\n>" + strings.ReplaceAll(esc(clip(h.Note, MaxReason)), "\n", "\n>")
	}
	return line
}
