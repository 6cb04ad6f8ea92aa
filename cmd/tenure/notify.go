package main

import (
	"log/slog"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/activities"
	"github.com/tenure-io/tenure/api"
	"github.com/tenure-io/tenure/integrations/slack"
)

// notifications is how Tenure reaches people: Slack when TENURE_SLACK_BOT_TOKEN
// is set, else the log. app answers Slack's interactions, and is nil without
// Slack; so is holds, which tells IT of the blast-radius guard's holds (the
// guard logs them itself without it).
type notifications struct {
	notifier tenure.Notifier
	holds    tenure.HoldNotifier
	app      api.SlackApp
	admins   []string
}

func newNotifications(getenv func(string) string, log *slog.Logger) (notifications, error) {
	cfg, ok := slack.FromEnv(getenv)
	if !ok {
		log.Info("Slack is not configured (TENURE_SLACK_BOT_TOKEN): approvals and notices are logged; decide in the API or console")
		return notifications{notifier: activities.LogNotifier{Logger: log}}, nil
	}
	s, err := slack.New(cfg, slack.WithLogger(log))
	if err != nil {
		return notifications{}, err
	}
	return notifications{notifier: s, holds: s, app: s, admins: cfg.Admins}, nil
}
