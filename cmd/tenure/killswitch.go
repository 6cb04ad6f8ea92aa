package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/intake"
	"github.com/tenure-io/tenure/workflows"
)

// killSwitchTimeout is how long `tenure lock` and `tenure unlock` wait for every
// app by default: long enough for an app's transient errors to be retried a few
// times, short enough for someone at a terminal during an incident.
const killSwitchTimeout = 2 * time.Minute

// killSwitchPoll is how often they read the person's state while they wait.
const killSwitchPoll = 250 * time.Millisecond

// statusRuns is how many of the person's latest runs `tenure status` prints.
const statusRuns = 10

// personView is the part of GET /api/v1/employees/{id} these commands read.
type personView struct {
	tenure.Employee
	Access    []accessView `json:"access"`
	Workflows []runView    `json:"workflows"`
}

type accessView struct {
	App        string              `json:"app"`
	AccountID  string              `json:"account_id"`
	Status     tenure.AccessStatus `json:"status"`
	VerifiedAt *time.Time          `json:"verified_at"`
	Error      string              `json:"error"`
}

type runView struct {
	WorkflowID  string           `json:"workflow_id"`
	Type        string           `json:"type"`
	Status      tenure.RunStatus `json:"status"`
	Error       string           `json:"error"`
	TemporalURL string           `json:"temporal_url"`
	StartedAt   time.Time        `json:"started_at"`
	ClosedAt    *time.Time       `json:"closed_at"`
}

// killSwitch is what differs between `tenure lock` and `tenure unlock`.
type killSwitch struct {
	verb  string // the route and the command: lock or unlock
	doing string // what the first line says: Locking or Unlocking
	kind  string // the run it starts: workflows.LockWorkflowName or UnlockWorkflowName
	done  string // what the summary says: Locked or Unlocked
	// refuse says why the person's workflow would do nothing for them, or "".
	refuse func(tenure.PersonStatus) string
}

var (
	lockSwitch = killSwitch{verb: "lock", doing: "Locking", kind: workflows.LockWorkflowName, done: "Locked",
		refuse: func(s tenure.PersonStatus) string {
			if s == tenure.PersonTerminated {
				return "is terminated: there is nothing to lock"
			}
			return ""
		}}
	unlockSwitch = killSwitch{verb: "unlock", doing: "Unlocking", kind: workflows.UnlockWorkflowName, done: "Unlocked",
		refuse: func(s tenure.PersonStatus) string {
			if s != tenure.PersonLocked {
				return fmt.Sprintf("is not locked (status %s): there is nothing to unlock", s)
			}
			return ""
		}}
)

func runLock(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return lockSwitch.run(ctx, args, getenv, stdout, stderr,
		"Pulls the kill switch: tenure lock ID. Asks the API to disable the person in every app\n"+
			"(POST /api/v1/employees/{id}/lock), then prints each app as its disable is verified, or\n"+
			"fails with the app's error. Exits non-zero if any app fails or --timeout passes first.")
}

func runUnlock(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return unlockSwitch.run(ctx, args, getenv, stdout, stderr,
		"Lifts the kill switch: tenure unlock ID. Asks the API to restore exactly the accounts the\n"+
			"lock disabled (POST /api/v1/employees/{id}/unlock), then prints each app as it is verified\n"+
			"active again, or fails with the app's error. Exits non-zero if any app fails or --timeout passes.")
}

func (k killSwitch) run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, summary string) error {
	fs := newFlags(k.verb, summary, stderr)
	var target apiTarget
	apiTargetFlags(fs, getenv, &target, "admin")
	timeout := fs.Duration("timeout", killSwitchTimeout, "how long to wait for every app to be verified")
	id, err := parseID(fs, args)
	if err != nil {
		return err
	}
	if *timeout <= 0 {
		return fmt.Errorf("--timeout must be positive: %w", errUsage)
	}
	if err := target.resolve(); err != nil {
		return err
	}
	c := &apiClient{target: target, http: &http.Client{Timeout: 30 * time.Second}}
	return k.apply(ctx, c, id, *timeout, stdout)
}

// apply sends the command and follows the run it starts until every app is
// verified, an app fails, or timeout passes.
func (k killSwitch) apply(ctx context.Context, c *apiClient, id string, timeout time.Duration, out io.Writer) error {
	start := time.Now()
	before, err := getPerson(ctx, c, id)
	if err != nil {
		return err
	}
	if why := k.refuse(before.Status); why != "" {
		return fmt.Errorf("%s %s", id, why)
	}
	// The request's key names the run, so this command follows its own run and
	// no other, and sending it again could not lock twice.
	key := "cli-" + intake.NewID()
	runID := workflows.ChildWorkflowID(id, strings.ToLower(k.kind), key)
	header := http.Header{"Idempotency-Key": {key}}
	if _, err := c.do(ctx, http.MethodPost, "/api/v1/employees/"+url.PathEscape(id)+"/"+k.verb, "", nil, header, nil); err != nil {
		return err
	}
	fmt.Fprintf(out, "%s %s: run %s\n", k.doing, id, runID)

	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	printed := map[string]bool{}
	var failed []string
	now := before
	for {
		next, err := getPerson(ctx, c, id)
		switch {
		case err == nil:
			now = next
		case ctx.Err() == nil:
			return err
		}
		for _, a := range now.Access {
			if printed[a.App] || !landed(a, before.account(a.App)) {
				continue
			}
			printed[a.App] = true
			if a.Status == tenure.AccessFailed {
				failed = append(failed, a.App)
				fmt.Fprintf(out, "  %-12s failed: %s\n", a.App, a.Error)
				continue
			}
			fmt.Fprintf(out, "  %-12s %s, verified %s (%s)\n", a.App, a.Status, a.VerifiedAt.Local().Format(time.TimeOnly), since(start))
		}
		run, ok := now.run(runID)
		if ok && run.Status != tenure.RunRunning {
			return k.finish(out, id, run, len(printed), failed, start)
		}
		if ctx.Err() != nil {
			var waiting []string
			for _, a := range now.Access {
				if a.AccountID != "" && !printed[a.App] {
					waiting = append(waiting, a.App)
				}
			}
			return fmt.Errorf("%s of %s: not done after %s (still waiting on %s); it goes on, follow it with `tenure status %s`",
				k.verb, id, timeout, orNone(waiting), id)
		}
		if err := sleep(ctx, killSwitchPoll); err != nil && ctx.Err() == nil {
			return err
		}
	}
}

// finish prints the total once the run has closed, and fails when it or any app
// did.
func (k killSwitch) finish(out io.Writer, id string, run runView, apps int, failed []string, start time.Time) error {
	switch {
	case len(failed) > 0:
		return fmt.Errorf("%s of %s failed in %d of %d apps (%s) after %s: %s", k.verb, id, len(failed), apps, strings.Join(failed, ", "), since(start), run.Error)
	case run.Status != tenure.RunCompleted:
		return fmt.Errorf("%s of %s %s after %s: %s", k.verb, id, run.Status, since(start), orNone([]string{run.Error}))
	}
	fmt.Fprintf(out, "%s %s: %d apps verified in %s\n", k.done, id, apps, since(start))
	return nil
}

// landed reports whether an app's account has been verified, or has failed,
// since before the command was sent.
func landed(a accessView, before accessView) bool {
	if a.Status == tenure.AccessFailed {
		return a.Status != before.Status || a.Error != before.Error
	}
	return a.VerifiedAt != nil && (before.VerifiedAt == nil || a.VerifiedAt.After(*before.VerifiedAt))
}

func (p personView) account(app string) accessView {
	for _, a := range p.Access {
		if a.App == app {
			return a
		}
	}
	return accessView{}
}

func (p personView) run(workflowID string) (runView, bool) {
	for _, r := range p.Workflows {
		if r.WorkflowID == workflowID {
			return r, true
		}
	}
	return runView{}, false
}

func runStatus(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("status", "Prints a person's status: tenure status ID. Each app's account state with the time it was\n"+
		"last verified, and the person's latest runs with their Temporal links (GET /api/v1/employees/{id}).", stderr)
	var target apiTarget
	apiTargetFlags(fs, getenv, &target, "admin, auditor, hr or manager")
	runs := fs.Int("runs", statusRuns, "how many of the latest runs to print")
	id, err := parseID(fs, args)
	if err != nil {
		return err
	}
	if err := target.resolve(); err != nil {
		return err
	}
	c := &apiClient{target: target, http: &http.Client{Timeout: 30 * time.Second}}
	p, err := getPerson(ctx, c, id)
	if err != nil {
		return err
	}
	printStatus(stdout, p, *runs)
	return nil
}

func printStatus(w io.Writer, p personView, runs int) {
	fmt.Fprintf(w, "%s  %s <%s>  %s\n", p.ID, p.DisplayName(), p.Email, p.Status)
	if len(p.Access) == 0 {
		fmt.Fprintln(w, "\nNo access.")
	} else {
		fmt.Fprintln(w)
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "APP\tSTATE\tVERIFIED\tERROR")
		for _, a := range p.Access {
			verified := "never"
			if a.VerifiedAt != nil {
				verified = a.VerifiedAt.UTC().Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", a.App, a.Status, verified, a.Error)
		}
		tw.Flush()
	}
	latest := slices.Clone(p.Workflows)
	slices.SortStableFunc(latest, func(a, b runView) int { return b.StartedAt.Compare(a.StartedAt) })
	if len(latest) == 0 {
		fmt.Fprintln(w, "\nNo runs.")
		return
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RUN\tSTATUS\tSTARTED\tCLOSED\tTEMPORAL")
	for _, r := range latest[:min(runs, len(latest))] {
		closed := "-"
		if r.ClosedAt != nil {
			closed = r.ClosedAt.UTC().Format(time.RFC3339)
		}
		link := r.TemporalURL
		if link == "" {
			link = r.WorkflowID
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Type, r.Status, r.StartedAt.UTC().Format(time.RFC3339), closed, link)
		if r.Error != "" {
			fmt.Fprintf(tw, "  error: %s\t\t\t\t\n", r.Error)
		}
	}
	tw.Flush()
	if len(latest) > runs {
		fmt.Fprintf(w, "(%d earlier runs not shown; --runs N shows more)\n", len(latest)-runs)
	}
}

// getPerson reads GET /api/v1/employees/{id}.
func getPerson(ctx context.Context, c *apiClient, id string) (personView, error) {
	var p personView
	_, err := c.do(ctx, http.MethodGet, "/api/v1/employees/"+url.PathEscape(id), "", nil, nil, &p)
	return p, err
}

// parseID takes the one person ID, before or after the flags.
func parseID(fs *flag.FlagSet, args []string) (string, error) {
	var ids []string
	for {
		if err := fs.Parse(args); err != nil {
			return "", err
		}
		if fs.NArg() == 0 {
			break
		}
		ids = append(ids, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(ids) != 1 || strings.TrimSpace(ids[0]) == "" {
		fs.Usage()
		return "", fmt.Errorf("%s takes one person's HR ID, got %d: %w", strings.TrimPrefix(fs.Name(), "tenure "), len(ids), errUsage)
	}
	return ids[0], nil
}

// since is the time from start, rounded for people.
func since(start time.Time) time.Duration { return time.Since(start).Round(10 * time.Millisecond) }

func orNone(s []string) string {
	s = slices.DeleteFunc(slices.Clone(s), func(v string) bool { return v == "" })
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}
