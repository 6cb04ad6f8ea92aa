package slack

import (
	"context"
	"fmt"

	slackapi "github.com/slack-go/slack"

	"github.com/tenure-io/tenure"
)

var _ tenure.HoldNotifier = (*Slack)(nil)

// GuardHeld alerts the IT channel at once that the blast-radius guard held an
// operation: what, how many people, why, and where to decide. It names no one:
// the people are listed in the console, to admins.
func (s *Slack) GuardHeld(ctx context.Context, n tenure.HoldNotice) error {
	h := n.Hold
	what := fmt.Sprintf("%d people", h.People)
	if h.WorkflowID != "" {
		what = fmt.Sprintf("%s %s, for %d people, whole", h.Source, h.Operation, h.People)
	}
	text := fmt.Sprintf("Tenure's blast-radius guard held %s from %s", what, h.Source)
	blocks := []slackapi.Block{
		slackapi.NewHeaderBlock(plain(":octagonal_sign: " + text)),
		section(fmt.Sprintf("*%s* (`%s`, by %s) would disable or revoke more access than the policy's guard allows. Nothing irreversible has happened to the people held.\n>%s",
			esc(h.Source), esc(h.Operation), esc(h.Actor), esc(clip(h.Reason, 1500)))),
		contextLine(fmt.Sprintf("Hold `%s`. An admin releases it (POST /api/v1/holds/%s/release) or discards it (.../discard).", esc(h.ID), esc(h.ID))),
	}
	if n.URL != "" {
		blocks = append(blocks, slackapi.NewActionBlock("hold:"+h.ID, linkButton("open_holds", "Review the hold", n.URL)))
	}
	_, err := s.post(ctx, s.cfg.ITChannel, text, blocks)
	return err
}
