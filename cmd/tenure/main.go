// Command tenure runs Tenure: `tenure dev` runs everything in one process on an
// embedded Temporal server; `tenure worker` and `tenure api` run the parts
// separately against an existing Temporal cluster and PostgreSQL; `tenure migrate`
// prepares the database; `tenure temporal` runs the embedded Temporal server on its
// own, to try that shape without a cluster.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// The first signal starts a graceful stop (shutdownConfig); a second one
	// ends the process at once, as stop gives the signals their default back.
	go func() {
		<-ctx.Done()
		stop()
	}()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "tenure:", err)
		}
		os.Exit(exitCode(err))
	}
}

func exitCode(err error) int {
	if errors.Is(err, flag.ErrHelp) || errors.Is(err, errUsage) {
		return 2
	}
	return 1
}

var errUsage = errors.New("usage")

// command is one subcommand.
type command struct {
	name  string
	short string
	run   func(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"dev", "run everything in one process on an embedded Temporal server", runDev},
		{"worker", "run the Temporal worker against an external Temporal and PostgreSQL", runWorker},
		{"api", "serve the API (and console) against an external Temporal and PostgreSQL", runAPI},
		{"migrate", "create or update the database schema", runMigrate},
		{"temporal", "run the embedded Temporal server and UI on their own (SQLite or PostgreSQL; not for production)", runTemporal},
		{"healthcheck", "exit 0 when a running API answers /healthz with 200", runHealthcheck},
		{"bench", "measure lock and leaver latency against the performance targets", runBench},
		{"import", "import HR events from a CSV file (validated first; --dry-run prints the plan)", runImport},
		{"lock", "kill switch: disable a person in every app, and wait for each app's verified result", runLock},
		{"unlock", "lift a lock: restore what it disabled, and wait for each app's verified result", runUnlock},
		{"status", "print a person's status, each app's account state and their latest runs", runStatus},
		{"token", "create, list or revoke API tokens (create|list|revoke)", runToken},
		{"audit", "verify the audit trail's hash chain and signed checkpoints (verify|public-key)", runAudit},
		{"apps", "test each app's connection, credentials and capabilities (apps test [APP...])", runApps},
		{"evidence", "verify a leaver's signed evidence offline, or print the key that signs it (verify FILE|public-key)", runEvidence},
		{"policy", "plan or deploy a policy file and follow its rollout (plan FILE|apply FILE|confirm ID)", runPolicy},
	}
}

// run is the whole program, so tests can drive it.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return errUsage
		}
		return nil
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(ctx, args[1:], getenv, stdout, stderr)
		}
	}
	usage(stderr)
	return fmt.Errorf("unknown command %q", args[0])
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Usage: tenure <command> [flags]\n\nCommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.short)
	}
	fmt.Fprintln(w, "\nRun 'tenure <command> --help' for a command's flags.")
}

// newFlags returns a flag set that prints its usage to stderr.
func newFlags(name, summary string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("tenure "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: tenure %s [flags]\n\n%s\n\nFlags:\n", name, summary)
		fs.PrintDefaults()
	}
	return fs
}

// newSubFlags returns a flag set for a subcommand, such as "token create",
// whose usage is the command's own usage text followed by its flags.
func newSubFlags(name, usage string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("tenure "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "%s\n\nFlags:\n", usage)
		fs.PrintDefaults()
	}
	return fs
}

// envOr returns the environment variable's value, or def when it is unset.
func envOr(getenv func(string) string, name, def string) string {
	if v := getenv(name); v != "" {
		return v
	}
	return def
}
