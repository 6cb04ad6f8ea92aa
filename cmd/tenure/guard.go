package main

import (
	"log/slog"
	"strings"

	"github.com/tenure-io/tenure/guard"
	"github.com/tenure-io/tenure/outbound"
	"github.com/tenure-io/tenure/policy"
	"github.com/tenure-io/tenure/store"
	"github.com/tenure-io/tenure/workflows"
)

// newGuard is the blast-radius guard of one process, on the read model, which
// every process shares: its windows and holds live there. It tells IT of a
// hold in Slack when Slack is configured (else in the log), sends guard.held
// to subscribers when outbound events are on, and signals held
// workflow-backed operations through engine. consoleURL, when known, is where
// the notices link to the holds page.
func newGuard(db *store.DB, engine *workflows.Engine, pol *policy.Policy, notes notifications, out *outbound.Service, consoleURL string, log *slog.Logger) (*guard.Guard, error) {
	cfg := guard.Config{Store: db, Engine: engine, Policy: pol, Signaler: engine, Notifier: notes.holds, Logger: log}
	if out != nil {
		cfg.Publisher = out
	}
	if consoleURL != "" {
		cfg.HoldsURL = strings.TrimRight(consoleURL, "/") + "/holds"
	}
	return guard.New(cfg)
}
