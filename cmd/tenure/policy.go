package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/rollout"
)

// rolloutPoll is how often `tenure policy apply` reads its rollout.
const rolloutPoll = 500 * time.Millisecond

// planChanges is how many changes `tenure policy plan` prints by default.
const planChanges = 20

const policyUsage = `Usage: tenure policy plan|apply|confirm

  tenure policy plan FILE       what deploying FILE would change, against the access Tenure
                                recorded for everyone, and whether the guard would hold it
  tenure policy apply FILE      deploy FILE, then follow its rollout with a progress bar until it
                                completes; exits non-zero if it fails, or if the guard holds it
  tenure policy confirm ID      release a rollout the guard held, then follow it as apply does

Each talks to a running Tenure API, as tenure import does: --url and --token (TENURE_URL,
TENURE_TOKEN), or the admin token of a tenure dev in --data-dir. A policy can so live in git
and deploy from CI: plan on every change, apply on merge.`

func runPolicy(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, policyUsage)
		return errUsage
	}
	switch args[0] {
	case "-h", "--help", "help":
		fmt.Fprintln(stderr, policyUsage)
		return flag.ErrHelp
	case "plan":
		return policyPlan(ctx, args[1:], getenv, stdout, stderr)
	case "apply":
		return policyApply(ctx, args[1:], getenv, stdout, stderr)
	case "confirm":
		return policyConfirm(ctx, args[1:], getenv, stdout, stderr)
	}
	fmt.Fprintln(stderr, policyUsage)
	return fmt.Errorf("unknown policy command %q: %w", args[0], errUsage)
}

// policyFlags parses a policy subcommand's flags and its one argument.
func policyFlags(name, usage string, args []string, getenv func(string) string, stderr io.Writer, extra func(*flag.FlagSet)) (*apiClient, string, error) {
	fs := newSubFlags("policy "+name, usage, stderr)
	var target apiTarget
	apiTargetFlags(fs, getenv, &target, "admin (or, to plan, auditor)")
	if extra != nil {
		extra(fs)
	}
	if err := fs.Parse(args); err != nil {
		return nil, "", err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return nil, "", fmt.Errorf("tenure policy %s takes one argument: %w", name, errUsage)
	}
	if err := target.resolve(); err != nil {
		return nil, "", err
	}
	return &apiClient{target: target, http: &http.Client{Timeout: 5 * time.Minute}}, fs.Arg(0), nil
}

func readPolicyFile(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the policy: %w", err)
	}
	return data, nil
}

func policyPlan(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var show int
	c, path, err := policyFlags("plan", "Usage: tenure policy plan [flags] FILE\n\nPrints what deploying FILE would change (POST /api/v1/policy/plan); deploys nothing.",
		args, getenv, stderr, func(fs *flag.FlagSet) {
			fs.IntVar(&show, "changes", planChanges, "how many of the changes to print (the API lists up to 1,000)")
		})
	if err != nil {
		return err
	}
	data, err := readPolicyFile(path)
	if err != nil {
		return err
	}
	var plan rollout.Plan
	if _, err := c.do(ctx, http.MethodPost, "/api/v1/policy/plan", "application/yaml", data, nil, &plan); err != nil {
		return policyError(path, err)
	}
	printPolicyPlan(stdout, plan, show)
	return nil
}

// printPolicyPlan prints a plan: the counts, the guard's verdict, each app and the
// first changes.
func printPolicyPlan(w io.Writer, plan rollout.Plan, show int) {
	s := plan.Summary
	fmt.Fprintf(w, "Version %s: of %d people, %d gain access, %d lose access, %d stay as they are.\n",
		shortVersion(plan.Version), s.People, s.Gain, s.Lose, s.Unchanged)
	if plan.Guard.Held {
		fmt.Fprintf(w, "The guard would hold this deploy until someone confirms it: %s\n", plan.Guard.Reason)
	}
	if len(s.ByApp) > 0 {
		tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
		fmt.Fprintln(tw, "  APP\tGAIN\tLOSE")
		for _, app := range sortedKeys(s.ByApp) {
			fmt.Fprintf(tw, "  %s\t%d\t%d\n", app, s.ByApp[app].Gain, s.ByApp[app].Lose)
		}
		tw.Flush()
	}
	if len(plan.Changes) == 0 {
		return
	}
	n := min(show, len(plan.Changes))
	fmt.Fprintf(w, "Changes (%d of %d):\n", n, plan.ChangesTotal)
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	for _, ch := range plan.Changes[:n] {
		what := ch.App
		if ch.Entitlement != "" {
			what += "/" + ch.Entitlement
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", ch.EmployeeID, ch.Action, what)
	}
	tw.Flush()
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// policyError names the file in an invalid policy's problems, each with its line.
func policyError(path string, err error) error {
	var te *tenure.Error
	if !errors.As(err, &te) || te.Code != tenure.EINVALID || len(te.Fields) == 0 || te.Fields[0].Field == "Content-Type" {
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s is not a valid policy:", path)
	for _, f := range te.Fields {
		if line, ok := strings.CutPrefix(f.Field, "line "); ok {
			fmt.Fprintf(&b, "\n  %s:%s: %s", path, line, f.Problem)
		} else {
			fmt.Fprintf(&b, "\n  %s: %s", path, f.Problem)
		}
	}
	return errors.New(b.String())
}

func policyApply(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var timeout time.Duration
	c, path, err := policyFlags("apply", "Usage: tenure policy apply [flags] FILE\n\nDeploys FILE (PUT /api/v1/policy) and follows its rollout until it completes. Exits non-zero\nif the rollout fails or is canceled, if the guard holds it (confirm it with tenure policy\nconfirm ID), or if --timeout passes first (the rollout goes on in Tenure).",
		args, getenv, stderr, func(fs *flag.FlagSet) {
			fs.DurationVar(&timeout, "timeout", 0, "stop following after this long (0: until the rollout closes)")
		})
	if err != nil {
		return err
	}
	data, err := readPolicyFile(path)
	if err != nil {
		return err
	}
	var d rollout.Deployment
	if _, err := c.do(ctx, http.MethodPut, "/api/v1/policy", "application/yaml", data, nil, &d); err != nil {
		return policyError(path, err)
	}
	s := d.Summary
	fmt.Fprintf(stdout, "Deploying version %s: rollout %s, %d people (%d gain access, %d lose access)\n",
		shortVersion(d.Version), d.RolloutID, s.People-s.Unchanged, s.Gain, s.Lose)
	if len(d.Superseded) > 0 {
		fmt.Fprintf(stdout, "It supersedes rollout %s, now canceled; and also re-evaluates %d more people they had not brought in line\n",
			strings.Join(d.Superseded, ", "), d.Carried)
	}
	if d.Status == tenure.RolloutHeld {
		return fmt.Errorf("the guard holds rollout %s, and nothing changes until someone confirms it: %s; "+
			"confirm it with `tenure policy confirm %s`, or discard it with POST /api/v1/rollouts/%s/cancel", d.RolloutID, d.Reason, d.RolloutID, d.RolloutID)
	}
	return followRollout(ctx, c, d.RolloutID, timeout, stdout)
}

func policyConfirm(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var timeout time.Duration
	c, id, err := policyFlags("confirm", "Usage: tenure policy confirm [flags] ROLLOUT\n\nReleases a rollout the guard held (POST /api/v1/rollouts/{id}/confirm), then follows it as\ntenure policy apply does.",
		args, getenv, stderr, func(fs *flag.FlagSet) {
			fs.DurationVar(&timeout, "timeout", 0, "stop following after this long (0: until the rollout closes)")
		})
	if err != nil {
		return err
	}
	var r tenure.Rollout
	if _, err := c.do(ctx, http.MethodPost, "/api/v1/rollouts/"+url.PathEscape(id)+"/confirm", "", nil, nil, &r); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Confirmed rollout %s of version %s: %d people\n", id, shortVersion(r.Version), r.Total)
	return followRollout(ctx, c, id, timeout, stdout)
}

// followRollout reads the rollout until it closes, drawing its progress, and
// fails unless it completed.
func followRollout(ctx context.Context, c *apiClient, id string, timeout time.Duration, out io.Writer) error {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	bar := newRolloutBar(out)
	for {
		var r tenure.Rollout
		_, err := c.do(ctx, http.MethodGet, "/api/v1/rollouts/"+url.PathEscape(id), "", nil, nil, &r)
		switch {
		case err == nil:
			bar.show(r)
			if !r.Status.Open() {
				bar.done()
				return rolloutResult(r, bar.since())
			}
		case ctx.Err() == nil:
			bar.done()
			return err
		}
		if ctx.Err() != nil {
			bar.done()
			return fmt.Errorf("rollout %s is not done after %s; it goes on in Tenure: follow it with GET /api/v1/rollouts/%s", id, timeout, id)
		}
		if err := sleep(ctx, rolloutPoll); err != nil && ctx.Err() == nil {
			return err
		}
	}
}

// rolloutResult says how a closed rollout ended: nil only when it completed.
func rolloutResult(r tenure.Rollout, took time.Duration) error {
	switch r.Status {
	case tenure.RolloutCompleted:
		return nil
	case tenure.RolloutFailed:
		var apps []string
		for _, app := range sortedKeys(r.ByApp) {
			if n := r.ByApp[app].Failed; n > 0 {
				apps = append(apps, fmt.Sprintf("%s (%d)", app, n))
			}
		}
		return fmt.Errorf("rollout %s failed after %s: %d of %d people failed%s: %s", r.ID, took.Round(time.Millisecond),
			r.Failed, r.Total, orNothing(" in "+strings.Join(apps, ", "), len(apps) > 0), r.Note)
	}
	return fmt.Errorf("rollout %s %s: %s", r.ID, r.Status, r.Note)
}

func orNothing(s string, ok bool) string {
	if ok {
		return s
	}
	return ""
}

// rolloutBar draws a rollout's progress: one line redrawn in place on a
// terminal, or a line each time it moves otherwise (a CI log).
type rolloutBar struct {
	w     io.Writer
	tty   bool
	start time.Time
	drawn bool
	// last is what was shown last, off a terminal: a line is printed when
	// the count or the status moves.
	last string
}

func newRolloutBar(w io.Writer) *rolloutBar {
	b := &rolloutBar{w: w, start: time.Now()}
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			b.tty = true
		}
	}
	return b
}

func (b *rolloutBar) since() time.Duration { return time.Since(b.start) }

// line is the rollout's progress as one line: a bar, people done out of the
// total, failures, and an estimate of the time left from the pace so far.
func (b *rolloutBar) line(r tenure.Rollout) string {
	const width = 30
	finished := r.Done + r.Failed
	filled := width
	if r.Total > 0 {
		filled = width * finished / r.Total
	}
	s := fmt.Sprintf("[%s%s] %d/%d people", strings.Repeat("#", filled), strings.Repeat(".", width-filled), finished, r.Total)
	if r.Failed > 0 {
		s += fmt.Sprintf(", %d failed", r.Failed)
	}
	switch {
	case !r.Status.Open():
		s += fmt.Sprintf(", %s in %s", r.Status, b.since().Round(100*time.Millisecond))
	case finished > 0 && finished < r.Total:
		left := time.Duration(float64(b.since()) / float64(finished) * float64(r.Total-finished))
		s += fmt.Sprintf(", ETA %s", left.Round(time.Second))
	case r.Status == tenure.RolloutHeld:
		s += ", held"
	}
	return s
}

func (b *rolloutBar) show(r tenure.Rollout) {
	if b.tty {
		fmt.Fprintf(b.w, "\r\033[K%s", b.line(r))
		b.drawn = true
		return
	}
	if key := fmt.Sprint(r.Done, r.Failed, r.Status); key != b.last {
		fmt.Fprintln(b.w, b.line(r))
		b.last = key
	}
}

func (b *rolloutBar) done() {
	if b.drawn {
		fmt.Fprintln(b.w)
		b.drawn = false
	}
}
