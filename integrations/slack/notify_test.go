package slack_test

import (
	"context"
	"strings"
	"testing"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/integrations"
)

// An answer Slack marks ok but that lacks what the method returns is an error
// the activity can act on, never a nil pointer: conversations.open without its
// channel (slack-go then returns a nil *Channel), users.lookupByEmail without
// the user, chat.postMessage without the message's channel and ts.
func TestAnswersWithoutAChannelAreErrors(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name, method, field string
		kind                integrations.Kind
	}{
		{"conversations.open without the channel", "conversations.open", "channel", integrations.Transient},
		{"users.lookupByEmail without the user", "users.lookupByEmail", "user", integrations.Transient},
		{"chat.postMessage without the channel", "chat.postMessage", "channel", integrations.Permanent},
		{"chat.postMessage without the ts", "chat.postMessage", "ts", integrations.Permanent},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFake(t)
			s := newSlack(t, f)
			f.DropField(c.method, c.field)
			refs, err := s.ApprovalRequested(ctx, notice())
			checkMalformed(t, "ApprovalRequested", err, c.method, c.kind)
			if len(refs) != 0 {
				t.Errorf("ApprovalRequested returned %v with its error", refs)
			}
			_, err = s.ApprovalEscalated(ctx, notice())
			checkMalformed(t, "ApprovalEscalated", err, c.method, c.kind)
			checkMalformed(t, "ApprovalReminder", s.ApprovalReminder(ctx, notice()), c.method, c.kind)
			checkMalformed(t, "AccessReady", s.AccessReady(ctx, tenure.AccessReadyNotice{Person: ada, Manager: bossP}), c.method, c.kind)
			if c.method == "chat.postMessage" {
				checkMalformed(t, "StepFailed", s.StepFailed(ctx, tenure.FailureNotice{EmployeeID: ada.ID, App: "github", Error: "x"}), c.method, c.kind)
			} else if n := len(f.Calls("chat.postMessage")); n != 0 {
				t.Errorf("%d messages posted without a channel to post them to", n)
			}
		})
	}
}

func checkMalformed(t *testing.T, what string, err error, method string, kind integrations.Kind) {
	t.Helper()
	if err == nil || integrations.KindOf(err) != kind || !strings.Contains(err.Error(), method) || !strings.Contains(err.Error(), "answered ok without") {
		t.Errorf("%s: %v (kind %v), want a %v error from %s", what, err, integrations.KindOf(err), kind, method)
	}
}
