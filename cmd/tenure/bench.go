package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/api"
	"github.com/tenure-io/tenure/integrations"
	"github.com/tenure-io/tenure/internal/sandbox"
	"github.com/tenure-io/tenure/worker"
	"github.com/tenure-io/tenure/workflows"
)

const (
	// benchStepTimeout bounds each thing the bench waits for, so a stuck workflow
	// ends the run with the person and apps at fault rather than hanging it.
	benchStepTimeout = 30 * time.Second
	// benchPoll is how often the sandbox apps' own state is read while timing: a
	// coarser poll would add its own period to every figure.
	benchPoll = 2 * time.Millisecond
	// benchSettlePoll is how often the read model is asked whether a person's runs
	// have closed; that wait is not timed, so it need not be fine.
	benchSettlePoll = 20 * time.Millisecond
)

// benchConfig is what `tenure bench` is told.
type benchConfig struct {
	apps   int
	devPol bool
	// policyFile is a policy to run on instead of --apps sandbox apps.
	policyFile string
	people     int
	dataDir    string
	latency    time.Duration
	gap        time.Duration
	timeline   bool
	// bulk is the number of hires of `--bulk`; 0 runs the one-at-a-time bench.
	bulk int
	// bulkPriority is "low" (the bulk path's own, workflows.BulkPriority) or
	// "default", which measures the bulk without it.
	bulkPriority string
	// rollout is the number of people of `--rollout`.
	rollout int
	// reconcile is the number of people of `--reconcile`.
	reconcile int
	// cpuProfile is a file to write the whole run's CPU profile to.
	cpuProfile string
	// beforeCheck, when set, runs after the bulk or the rollout and before its
	// final check of the apps' state, so a test can make that check fail.
	beforeCheck func(context.Context, *benchRun, bulkPeople) error
}

// runBench is `tenure bench`: it checks the flags and runs the bench.
func runBench(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("bench", "Measures lock and leaver latency on the embedded default (in-process Temporal on SQLite,\n"+
		"worker, API and sandbox SCIM apps) against the performance targets in docs/architecture.md, and the same\n"+
		"disables made directly and in parallel with the SCIM client as a baseline.", stderr)
	var cfg benchConfig
	var pol string
	fs.IntVar(&cfg.apps, "apps", 10, "number of sandbox SCIM apps (app01..appNN), each granted to everyone")
	fs.StringVar(&pol, "policy", "", "\"dev\" runs on the built-in dev policy instead of --apps; a `FILE` runs on that policy\n(its apps of every kind, such as LDAP and PostgreSQL next to sandbox SCIM apps; everyone the\nbench hires is in department Engineering)")
	fs.IntVar(&cfg.people, "people", 30, "people timed in each phase")
	fs.StringVar(&cfg.dataDir, "data-dir", "", "directory for all state (`DIR`); default a temporary directory, removed afterwards")
	fs.DurationVar(&cfg.latency, "latency", 0, "latency to add to every sandbox SCIM request, as a slower SaaS API would")
	fs.DurationVar(&cfg.gap, "gap", 0, "idle time before each timed lock or leaver, to let the previous one's background work finish")
	fs.BoolVar(&cfg.timeline, "timeline", false, "also print the Temporal history of the median lock, event by event")
	fs.IntVar(&cfg.bulk, "bulk", 0, "instead, hire `N` people at once through POST /api/v1/events:batch, against the rate of a no-op\n"+
		"workflow per person measured first, and time --people locks (default 10) during the bulk;\n"+
		"--apps defaults to 3")
	fs.IntVar(&cfg.rollout, "rollout", 0, "instead, hire `N` people as --bulk does, then deploy a policy that grants everyone one more app\n"+
		"through PUT /api/v1/policy, against the rate of a no-op re-evaluation per person measured first, and\n"+
		"time --people locks (default 10) during the rollout; --apps defaults to 3")
	fs.StringVar(&cfg.bulkPriority, "bulk-priority", "low", "Temporal priority of the bulk's hires: \"low\", as the batch API starts them, or \"default\",\nto measure what the lower priority does for the locks during the bulk")
	fs.IntVar(&cfg.reconcile, "reconcile", 0, "instead, seed `N` people and their accounts in --apps sandbox apps (default 5) with a known mix of\n"+
		"findings, and time one report reconciliation of every app and its peak memory")
	fs.StringVar(&cfg.cpuProfile, "cpuprofile", "", "write the run's CPU profile (of the worker, the API, the embedded Temporal server and the\nsandboxes, all in this process) to `FILE`, for go tool pprof; under --bulk or --rollout, FILE is\nthe hires or the rollout alone and FILE.ceiling the engine ceiling's no-op workflows")
	if err := fs.Parse(args); err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	appsSet := set["apps"]
	if cfg.reconcile > 0 && !appsSet {
		cfg.apps = benchReconcileApps
	}
	if cfg.bulk > 0 || cfg.rollout > 0 {
		if !appsSet {
			cfg.apps = benchBulkApps
		}
		if !set["people"] {
			cfg.people = benchBulkPeople
		}
	}
	switch {
	case fs.NArg() > 0:
		return fmt.Errorf("bench takes no arguments, got %q: %w", fs.Args(), errUsage)
	case set["reconcile"] && (cfg.reconcile < 1 || cfg.reconcile > benchReconcileMax):
		return fmt.Errorf("--reconcile must be 1 to %d, got %d: %w", benchReconcileMax, cfg.reconcile, errUsage)
	case set["reconcile"] && (set["bulk"] || set["rollout"] || pol != "" || set["gap"] || set["timeline"] || set["latency"] || set["people"]):
		return fmt.Errorf("--reconcile runs on --apps sandbox apps: it takes no --bulk, --rollout, --policy, --people, --latency, --gap or --timeline: %w", errUsage)
	case set["rollout"] && (cfg.rollout < 1 || cfg.rollout > benchBulkMax):
		return fmt.Errorf("--rollout must be 1 to %d, got %d: %w", benchBulkMax, cfg.rollout, errUsage)
	case set["rollout"] && (set["bulk"] || set["bulk-priority"] || pol != "" || set["gap"] || set["timeline"] || cfg.apps > 98):
		return fmt.Errorf("--rollout runs on up to 98 --apps sandbox apps, adds one, and times its locks back to back: it takes no --bulk, --bulk-priority, --policy, --gap or --timeline: %w", errUsage)
	case cfg.bulk < 0 || cfg.bulk > benchBulkMax:
		return fmt.Errorf("--bulk must be 1 to %d, got %d: %w", benchBulkMax, cfg.bulk, errUsage)
	case set["bulk"] && cfg.bulk == 0:
		return fmt.Errorf("--bulk must be 1 to %d, got 0: %w", benchBulkMax, errUsage)
	case cfg.bulkPriority != "low" && cfg.bulkPriority != "default":
		return fmt.Errorf("--bulk-priority is \"low\" or \"default\", got %q: %w", cfg.bulkPriority, errUsage)
	case cfg.bulk == 0 && set["bulk-priority"]:
		return fmt.Errorf("--bulk-priority goes with --bulk: %w", errUsage)
	case cfg.bulk > 0 && (pol != "" || set["gap"] || set["timeline"]):
		return fmt.Errorf("--bulk runs on --apps sandbox apps and times its locks back to back: it takes no --policy, --gap or --timeline: %w", errUsage)
	case pol != "" && appsSet:
		return fmt.Errorf("--apps and --policy exclude each other: %w", errUsage)
	case cfg.apps < 1 || cfg.apps > 99:
		return fmt.Errorf("--apps must be 1 to 99, got %d: %w", cfg.apps, errUsage)
	case cfg.people < 1 || cfg.people > 1000:
		return fmt.Errorf("--people must be 1 to 1000, got %d: %w", cfg.people, errUsage)
	case cfg.latency < 0 || cfg.gap < 0:
		return fmt.Errorf("--latency and --gap must not be negative: %w", errUsage)
	}
	cfg.devPol = pol == "dev"
	if pol != "dev" && pol != "" {
		if _, err := os.Stat(pol); err != nil {
			return fmt.Errorf("--policy is \"dev\" or a policy file: %w: %w", err, errUsage)
		}
		cfg.policyFile = pol
	}
	return bench(ctx, cfg, getenv, stdout, stderr)
}

// bench starts the embedded stack, hires everyone, times each lock and leaver
// one at a time, then the direct baseline, and reports against the targets.
func bench(ctx context.Context, cfg benchConfig, getenv func(string) string, stdout, stderr io.Writer) (err error) {
	if cfg.dataDir == "" {
		dir, err := os.MkdirTemp("", "tenure-bench-")
		if err != nil {
			return fmt.Errorf("temporary data dir: %w", err)
		}
		defer os.RemoveAll(dir)
		cfg.dataDir = dir
	}
	if cfg.cpuProfile != "" && cfg.bulk == 0 && cfg.rollout == 0 {
		// A bulk or a rollout profiles its phases apart (benchRun.profile).
		stop, err := startCPUProfile(cfg.cpuProfile)
		if err != nil {
			return err
		}
		defer stop()
	}
	if cfg.reconcile > 0 {
		// Tenure runs as a process of its own there, apart from the apps.
		return benchReconcile(ctx, cfg, stdout, stderr)
	}
	policyPath := cfg.policyFile
	if !cfg.devPol && policyPath == "" {
		if err := os.MkdirAll(cfg.dataDir, 0o700); err != nil {
			return fmt.Errorf("data dir: %w", err)
		}
		policyPath = filepath.Join(cfg.dataDir, "bench-policy.yaml")
		if err := os.WriteFile(policyPath, benchPolicy(cfg.apps), 0o600); err != nil {
			return fmt.Errorf("writing the bench policy: %w", err)
		}
	}
	progress := func(format string, args ...any) { fmt.Fprintf(stderr, "bench: "+format+"\n", args...) }

	progress("starting the embedded stack in %s", cfg.dataDir)
	s, err := startStack(ctx, devConfig{
		dataDir: cfg.dataDir, httpAddr: "127.0.0.1:0", temporalPort: 0, uiPort: -1,
		policyPath: policyPath, logLevel: slog.LevelWarn, bulkAtDefault: cfg.bulkPriority == "default",
	}, getenv, stderr)
	if err != nil {
		return err
	}
	sctx, stopServing := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- s.serve(sctx) }()
	defer func() {
		stopServing()
		if serr := <-served; serr != nil && err == nil {
			err = fmt.Errorf("serving HTTP: %w", serr)
		}
		s.Close()
	}()

	// The bench reads every app's own state through connectors of its own, as
	// a script beside Tenure would.
	conns, err := worker.Connectors(s.policy)
	if err != nil {
		return err
	}
	b := &benchRun{
		load:   loadAverage(),
		cfg:    cfg,
		s:      s,
		conns:  conns,
		http:   &http.Client{Timeout: benchStepTimeout},
		prefix: "bench-" + strconv.FormatInt(time.Now().Unix(), 36),
		getenv: getenv,
	}
	if err := b.waitHealthy(ctx); err != nil {
		return err
	}
	apps := s.sandbox.Apps()
	if cfg.latency > 0 {
		for _, app := range apps {
			if err := s.sandbox.SetFaults(app, sandbox.Faults{Latency: cfg.latency}); err != nil {
				return fmt.Errorf("setting latency on %s: %w", app, err)
			}
		}
	}
	if cfg.bulk > 0 {
		return b.bulk(ctx, stdout, progress)
	}
	if cfg.rollout > 0 {
		return b.rollout(ctx, stdout, progress)
	}

	lockers := b.newPeople("L", cfg.people)
	leavers := b.newPeople("T", cfg.people)
	all := append(slices.Clone(lockers), leavers...)
	progress("hiring %d people into %d apps", len(all), len(apps))
	if err := b.hireAll(ctx, all); err != nil {
		return err
	}

	var lock, leave, base []time.Duration
	var lockTraces, leaveTraces []trace
	progress("locking %d people, one at a time", len(lockers))
	for _, p := range lockers {
		if err := sleep(ctx, cfg.gap); err != nil {
			return err
		}
		d, tr, err := b.lock(ctx, p)
		if err != nil {
			return err
		}
		lock, lockTraces = append(lock, d), append(lockTraces, tr)
	}
	progress("terminating %d people, one at a time", len(leavers))
	for _, p := range leavers {
		if err := sleep(ctx, cfg.gap); err != nil {
			return err
		}
		d, tr, err := b.terminate(ctx, p)
		if err != nil {
			return err
		}
		leave, leaveTraces = append(leave, d), append(leaveTraces, tr)
	}
	progress("disabling %d apps directly, %d rounds", len(b.appsOf(lockers[0])), cfg.people)
	if base, err = b.baseline(ctx, cfg.people); err != nil {
		return err
	}
	progress("timing the engine floor (a signal, a workflow task, one local activity), %d rounds", cfg.people)
	floor, err := b.floor(ctx, cfg.people)
	if err != nil {
		return err
	}

	b.report(stdout, lock, leave, base, floor, lockTraces, leaveTraces)
	if cfg.timeline {
		printTimeline(stdout, lockTraces, lock)
	}
	return nil
}

// benchPolicy is a policy of n sandbox apps, every one granted to everyone with
// one entitlement, so a lock or a leaver touches all n.
func benchPolicy(n int) []byte {
	var b bytes.Buffer
	b.WriteString("# Written by `tenure bench`: every person gets every app.\nversion: 1\napps:\n")
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "  - name: %s\n    connector: scim\n    sandbox: true\n", benchAppName(i))
	}
	b.WriteString("rules:\n  - name: everyone\n    match: {}\n    grant:\n")
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "      - app: %s\n        entitlements: [%s]\n", benchAppName(i), benchEntitlement)
	}
	return b.Bytes()
}

// benchEntitlement is the one entitlement benchPolicy grants in every app.
const benchEntitlement = "staff"

func benchAppName(i int) string { return fmt.Sprintf("app%02d", i) }

// benchRun is one run of the bench against one stack.
type benchRun struct {
	load   string // the load average when the bench began: other work skews the figures
	cfg    benchConfig
	s      *stack
	conns  map[string]integrations.Connector // app -> a connector of the bench's own
	http   *http.Client
	prefix string // keeps people from an earlier run in the same data dir apart
	// getenv is the environment the stack's policies are parsed with.
	getenv func(string) string
	// lockTimeout bounds a timed lock's wait for the apps and for its runs to
	// close: benchStepTimeout when 0. Locks during a bulk wait behind the
	// hires, so they get longer, to be measured rather than cut off.
	lockTimeout time.Duration
}

func (b *benchRun) stepTimeout() time.Duration {
	if b.lockTimeout > 0 {
		return b.lockTimeout
	}
	return benchStepTimeout
}

func (b *benchRun) newPeople(kind string, n int) []tenure.Person {
	out := make([]tenure.Person, n)
	for i := range out {
		id := fmt.Sprintf("%s-%s%03d", b.prefix, kind, i+1)
		out[i] = tenure.Person{
			ID: id, Email: id + "@bench.example", GivenName: "Bench", FamilyName: kind + strconv.Itoa(i+1),
			// Engineering earns github under the dev policy, without an approval.
			Department: "Engineering", Title: "Engineer", EmploymentType: "employee",
		}
	}
	return out
}

// appsOf lists the apps where the policy gives p an account, which are the apps a
// lock or a leaver must be seen to disable.
func (b *benchRun) appsOf(p tenure.Person) []string {
	var apps []string
	for _, g := range b.s.policy.Evaluate(p) {
		if g.Approval == "" && !slices.Contains(apps, g.App) {
			apps = append(apps, g.App)
		}
	}
	return apps
}

// hireAll hires everyone through the API, a few at a time as an HRIS would, and
// waits until each has an active account in each of their apps and no run left open.
func (b *benchRun) hireAll(ctx context.Context, people []tenure.Person) error {
	errs := make([]error, len(people))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i, p := range people {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			errs[i] = b.postEvent(ctx, "bench-hire-"+p.ID, tenure.EventHire, p)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	// Joiners run at once, so the step's time grows with the number of people.
	timeout := benchStepTimeout + time.Duration(len(people))*time.Second
	for _, p := range people {
		if _, err := b.waitActive(ctx, p, true, timeout); err != nil {
			return fmt.Errorf("hiring: %w", err)
		}
	}
	for _, p := range people {
		if err := b.settle(ctx, p.ID); err != nil {
			return fmt.Errorf("hiring: %w", err)
		}
	}
	return nil
}

// lock times one kill switch: from the request to every app's own state showing
// the account disabled.
func (b *benchRun) lock(ctx context.Context, p tenure.Person) (time.Duration, trace, error) {
	reqID := "bench-lock-" + p.ID
	t0 := time.Now()
	res, err := b.do(ctx, http.MethodPost, "/api/v1/employees/"+p.ID+"/lock", nil, map[string]string{api.HeaderIdempotencyKey: reqID})
	if err != nil {
		return 0, trace{}, fmt.Errorf("locking %s: %w", p.ID, err)
	}
	if res.status != http.StatusAccepted {
		return 0, trace{}, fmt.Errorf("locking %s: HTTP %d: %s", p.ID, res.status, res.body)
	}
	t1, err := b.waitActive(ctx, p, false, b.stepTimeout())
	if err != nil {
		return 0, trace{}, fmt.Errorf("lock: %w", err)
	}
	if err := b.settle(ctx, p.ID); err != nil {
		return 0, trace{}, fmt.Errorf("lock: %w", err)
	}
	child := workflows.ChildWorkflowID(p.ID, strings.ToLower(workflows.LockWorkflowName), reqID)
	tr := b.trace(ctx, p.ID, child, t0, t1)
	return t1.Sub(t0), tr, nil
}

// terminate times leaver phase 1: from the HR event to every app's own state
// showing the account disabled.
func (b *benchRun) terminate(ctx context.Context, p tenure.Person) (time.Duration, trace, error) {
	evID := "bench-terminate-" + p.ID
	t0 := time.Now()
	if err := b.postEvent(ctx, evID, tenure.EventTerminate, p); err != nil {
		return 0, trace{}, err
	}
	t1, err := b.waitActive(ctx, p, false, b.stepTimeout())
	if err != nil {
		return 0, trace{}, fmt.Errorf("leaver: %w", err)
	}
	if err := b.settle(ctx, p.ID); err != nil {
		return 0, trace{}, fmt.Errorf("leaver: %w", err)
	}
	child := workflows.ChildWorkflowID(p.ID, strings.ToLower(workflows.LeaverWorkflowName), evID)
	tr := b.trace(ctx, p.ID, child, t0, t1)
	return t1.Sub(t0), tr, nil
}

// baseline times the same disables without Tenure: for each app at once, the
// calls a careful script would make (find the account, disable it, read it back),
// with the connector Tenure itself uses.
func (b *benchRun) baseline(ctx context.Context, rounds int) ([]time.Duration, error) {
	p := b.newPeople("B", 1)[0]
	apps := b.appsOf(p)
	clients := make([]integrations.Connector, len(apps))
	for i, app := range apps {
		clients[i] = b.conns[app]
	}
	// Creating the accounts also opens each client's connection, as the worker's
	// are open by the time it locks anyone.
	ids := make([]string, len(apps))
	err := parallel(len(apps), func(i int) error {
		a, err := clients[i].Create(ctx, integrations.User{
			ExternalID: p.ID, UserName: p.Email, Email: p.Email, GivenName: p.GivenName,
			FamilyName: p.FamilyName, DisplayName: p.DisplayName(), Active: true,
		})
		ids[i] = a.ID
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("baseline: creating %s: %w", p.ID, err)
	}
	out := make([]time.Duration, 0, rounds)
	for range rounds {
		cctx, cancel := context.WithTimeout(ctx, benchStepTimeout)
		t0 := time.Now()
		err := parallel(len(apps), func(i int) error {
			a, err := clients[i].Lookup(cctx, p.ID, p.Email)
			if err != nil {
				return err
			}
			if err := clients[i].SetActive(cctx, a.ID, false); err != nil {
				return err
			}
			if a, err = clients[i].Get(cctx, a.ID); err != nil {
				return err
			}
			if a.Active {
				return fmt.Errorf("%s: the account is still active after disabling it", apps[i])
			}
			return nil
		})
		t1 := time.Now()
		if err == nil {
			err = parallel(len(apps), func(i int) error { return clients[i].SetActive(cctx, ids[i], true) })
		}
		cancel()
		if err != nil {
			return nil, fmt.Errorf("baseline: %w", err)
		}
		out = append(out, t1.Sub(t0))
	}
	return out, nil
}

// parallel runs fn(0..n-1) at once and joins their errors.
func parallel(n int, fn func(i int) error) error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { errs[i] = fn(i) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// startCPUProfile profiles this process's CPU into file until the returned
// function is called.
func startCPUProfile(file string) (func(), error) {
	f, err := os.Create(file)
	if err != nil {
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
