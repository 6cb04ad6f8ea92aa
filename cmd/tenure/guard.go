package main

import (
	"log/slog"
	"strings"

	"github.com/tenure-io/tenure/guard"
	"github.com/tenure-io/tenure/outbound"
	"github.com/tenure-io/tenure/rollout"
	"github.com/tenure-io/tenure/store"
	"github.com/tenure-io/tenure/workflows"
)

// newGuard is the blast-radius guard of one process, on the read model, which
// every process shares: its windows and holds live there. It tells IT of a
// hold in Slack when Slack is configured (else in the log), sends guard.held
// to subscribers when outbound events are on, and signals held
// workflow-backed operations through engine. consoleURL, when known, is where
// the notices link to the holds page.
//
// Its threshold is the guard: block of the policy version in force, read with
// parse, and a held rollout is decided through it.
func newGuard(db *store.DB, engine *workflows.Engine, parse rollout.Parser, notes notifications, out *outbound.Service, consoleURL string, log *slog.Logger) (*guard.Guard, error) {
	cfg := guard.Config{Store: db, Engine: engine, Policy: rollout.NewVersions(db, parse), Signaler: engine, Notifier: notes.holds, Logger: log}
	if out != nil {
		cfg.Publisher = out
	}
	if consoleURL != "" {
		cfg.HoldsURL = strings.TrimRight(consoleURL, "/") + "/holds"
	}
	return guard.New(cfg)
}
