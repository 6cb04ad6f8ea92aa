package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/tenure-io/tenure/internal/devserver"
)

// notForProduction labels `tenure temporal` in its help and its start-up log.
const notForProduction = "NOT FOR PRODUCTION: one node, no TLS, no authentication"

func runTemporal(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("temporal", "Runs the Temporal server and UI that `tenure dev` embeds as a process of its own, so that\n"+
		"`tenure api` and `tenure worker` can run against it without Docker.\n"+notForProduction+".\n"+
		"State is in DIR/temporal.db, or with --db in PostgreSQL: the database it names and one\n"+
		"named <name>_visibility, created and set up (or updated) on every start.", stderr)
	dataDir := fs.String("data-dir", envOr(getenv, "TENURE_DATA_DIR", ".tenure"), "directory of the SQLite file (`DIR`); env TENURE_DATA_DIR")
	db := fs.String("db", getenv("TENURE_TEMPORAL_DB"), "keep Temporal's state in the PostgreSQL database at this `URL` instead of DIR, such as\npostgres://user@host:5432/temporal; env TENURE_TEMPORAL_DB (use the variable if the URL holds a password)")
	port := fs.Int("port", 7233, "port of the Temporal frontend (gRPC)")
	uiPort := fs.Int("ui-port", 8233, "port of the Temporal UI (-1 turns it off)")
	namespace := fs.String("namespace", "default", "namespace to create if missing")
	var level slog.Level
	fs.TextVar(&level, "log-level", logLevel(getenv), "log level: debug, info, warn or error; env TENURE_LOG_LEVEL")
	var format logFormat
	if err := logFormatFlag(fs, getenv, &format); err != nil {
		return err
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("temporal takes no arguments, got %q", fs.Args())
	}
	log := newLogger(stderr, level, format)
	log.Warn("tenure temporal is " + notForProduction + ": run a Temporal cluster in production (docs/deployment.md)")
	srv, err := devserver.Start(ctx, devserver.Options{
		DataDir: *dataDir, PostgresURL: *db, Port: *port, UIPort: *uiPort, Namespace: *namespace, Logger: log,
	})
	if err != nil {
		return err
	}
	ui := srv.UIURL()
	if ui == "" {
		ui = "off"
	}
	log.Info("temporal is ready", "address", srv.HostPort(), "namespace", srv.Namespace(), "ui", ui, "store", srv.Store())
	fmt.Fprintf(stdout, `Temporal is running (%s)
  Temporal:    %s (namespace %s)
  Temporal UI: %s
  State:       %s
Press Ctrl+C to stop.
`, notForProduction, srv.HostPort(), srv.Namespace(), ui, srv.Store())
	<-ctx.Done()
	log.Info("stopping temporal")
	if err := srv.Stop(); err != nil {
		return fmt.Errorf("stopping temporal: %w", err)
	}
	log.Info("temporal stopped")
	return nil
}
