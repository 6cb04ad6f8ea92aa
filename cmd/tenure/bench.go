package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/api"
	"github.com/tenure-io/tenure/integrations"
	"github.com/tenure-io/tenure/integrations/scim"
	"github.com/tenure-io/tenure/internal/sandbox"
	"github.com/tenure-io/tenure/workflows"
)

// The performance targets of DESIGN.md, on the embedded default.
const (
	targetP50   = 300 * time.Millisecond
	targetP99   = time.Second
	targetRatio = 3.0
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
	apps     int
	devPol   bool
	people   int
	dataDir  string
	latency  time.Duration
	gap      time.Duration
	timeline bool
}

func runBench(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("bench", "Measures lock and leaver latency on the embedded default (in-process Temporal on SQLite,\n"+
		"worker, API and sandbox SCIM apps) against DESIGN.md's performance targets, and the same\n"+
		"disables made directly and in parallel with the SCIM client as a baseline.", stderr)
	var cfg benchConfig
	var pol string
	fs.IntVar(&cfg.apps, "apps", 10, "number of sandbox SCIM apps (app01..appNN), each granted to everyone")
	fs.StringVar(&pol, "policy", "", "\"dev\" runs on the built-in dev policy instead of --apps")
	fs.IntVar(&cfg.people, "people", 30, "people timed in each phase")
	fs.StringVar(&cfg.dataDir, "data-dir", "", "directory for all state (`DIR`); default a temporary directory, removed afterwards")
	fs.DurationVar(&cfg.latency, "latency", 0, "latency to add to every sandbox SCIM request, as a slower SaaS API would")
	fs.DurationVar(&cfg.gap, "gap", 0, "idle time before each timed lock or leaver, to let the previous one's background work finish")
	fs.BoolVar(&cfg.timeline, "timeline", false, "also print the Temporal history of the median lock, event by event")
	if err := fs.Parse(args); err != nil {
		return err
	}
	appsSet := false
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "apps" {
			appsSet = true
		}
	})
	switch {
	case fs.NArg() > 0:
		return fmt.Errorf("bench takes no arguments, got %q: %w", fs.Args(), errUsage)
	case pol != "" && pol != "dev":
		return fmt.Errorf("--policy: only \"dev\" is known, got %q: %w", pol, errUsage)
	case pol == "dev" && appsSet:
		return fmt.Errorf("--apps and --policy dev exclude each other: %w", errUsage)
	case cfg.apps < 1 || cfg.apps > 99:
		return fmt.Errorf("--apps must be 1 to 99, got %d: %w", cfg.apps, errUsage)
	case cfg.people < 1 || cfg.people > 1000:
		return fmt.Errorf("--people must be 1 to 1000, got %d: %w", cfg.people, errUsage)
	case cfg.latency < 0 || cfg.gap < 0:
		return fmt.Errorf("--latency and --gap must not be negative: %w", errUsage)
	}
	cfg.devPol = pol == "dev"
	return bench(ctx, cfg, getenv, stdout, stderr)
}

func bench(ctx context.Context, cfg benchConfig, getenv func(string) string, stdout, stderr io.Writer) (err error) {
	if cfg.dataDir == "" {
		dir, err := os.MkdirTemp("", "tenure-bench-")
		if err != nil {
			return fmt.Errorf("temporary data dir: %w", err)
		}
		defer os.RemoveAll(dir)
		cfg.dataDir = dir
	}
	policyPath := ""
	if !cfg.devPol {
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
		policyPath: policyPath, logLevel: slog.LevelWarn,
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

	b := &benchRun{
		load:   loadAverage(),
		cfg:    cfg,
		s:      s,
		http:   &http.Client{Timeout: benchStepTimeout},
		prefix: "bench-" + strconv.FormatInt(time.Now().Unix(), 36),
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

	b.report(stdout, lock, leave, base, lockTraces, leaveTraces)
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
		fmt.Fprintf(&b, "      - app: %s\n        entitlements: [staff]\n", benchAppName(i))
	}
	return b.Bytes()
}

func benchAppName(i int) string { return fmt.Sprintf("app%02d", i) }

// benchRun is one run of the bench against one stack.
type benchRun struct {
	load   string // the load average when the bench began: other work skews the figures
	cfg    benchConfig
	s      *stack
	http   *http.Client
	prefix string // keeps people from an earlier run in the same data dir apart
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

// waitHealthy waits until GET /healthz answers 200. It asks the engine directly
// while the worker starts, so the API does not log every early 503.
func (b *benchRun) waitHealthy(ctx context.Context) error {
	deadline := time.Now().Add(2 * benchStepTimeout)
	for b.s.engine.Ready(ctx) != nil && time.Now().Before(deadline) {
		if err := sleep(ctx, 50*time.Millisecond); err != nil {
			return err
		}
	}
	last := ""
	for {
		res, err := b.do(ctx, http.MethodGet, "/healthz", nil, nil)
		if err == nil && res.status == http.StatusOK {
			return nil
		}
		if err != nil {
			last = err.Error()
		} else {
			last = fmt.Sprintf("HTTP %d: %s", res.status, strings.TrimSpace(string(res.body)))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("GET /healthz did not answer 200 within %s: %s", 2*benchStepTimeout, last)
		}
		if err := sleep(ctx, 50*time.Millisecond); err != nil {
			return err
		}
	}
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
	t1, err := b.waitActive(ctx, p, false, benchStepTimeout)
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
	t1, err := b.waitActive(ctx, p, false, benchStepTimeout)
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
	clients := make([]*scim.Client, len(apps))
	for i, app := range apps {
		cfg, ok := b.s.policy.App(app)
		if !ok {
			return nil, fmt.Errorf("baseline: app %s is not in the policy", app)
		}
		c, err := scim.New(cfg)
		if err != nil {
			return nil, fmt.Errorf("baseline: %w", err)
		}
		clients[i] = c
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

// waitActive polls the sandbox apps' own state until p's account in each of their
// apps has the wanted active flag, and returns when it saw that.
func (b *benchRun) waitActive(ctx context.Context, p tenure.Person, active bool, timeout time.Duration) (time.Time, error) {
	pending := b.appsOf(p)
	deadline := time.Now().Add(timeout)
	for {
		var still []string
		for _, app := range pending {
			users, err := b.s.sandbox.Users(app)
			if err != nil {
				return time.Time{}, fmt.Errorf("reading sandbox app %s: %w", app, err)
			}
			ok := false
			for _, u := range users {
				if u.ExternalID == p.ID {
					ok = u.Active == active
					break
				}
			}
			if !ok {
				still = append(still, app)
			}
		}
		now := time.Now()
		if len(still) == 0 {
			return now, nil
		}
		pending = still
		if now.After(deadline) {
			want := "disabled"
			if active {
				want = "active"
			}
			return time.Time{}, fmt.Errorf("%s is not yet %s after %s in %s", p.ID, want, timeout, strings.Join(still, ", "))
		}
		if err := sleep(ctx, benchPoll); err != nil {
			return time.Time{}, err
		}
	}
}

// settle waits until the read model shows every run of the person closed, so the
// tail of one measurement (verifying, recording) does not land in the next.
func (b *benchRun) settle(ctx context.Context, id string) error {
	deadline := time.Now().Add(benchStepTimeout)
	for {
		res, err := b.do(ctx, http.MethodGet, "/api/v1/employees/"+id, nil, nil)
		if err != nil {
			return err
		}
		var open []string
		if res.status == http.StatusOK {
			var detail struct {
				Workflows []struct {
					WorkflowID string           `json:"workflow_id"`
					Status     tenure.RunStatus `json:"status"`
				} `json:"workflows"`
			}
			if err := json.Unmarshal(res.body, &detail); err != nil {
				return fmt.Errorf("reading %s: %w", id, err)
			}
			for _, w := range detail.Workflows {
				if w.Status == tenure.RunRunning {
					open = append(open, w.WorkflowID)
				}
			}
			if len(open) == 0 && len(detail.Workflows) > 0 {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s still has runs open after %s: %v (last answer HTTP %d)", id, benchStepTimeout, open, res.status)
		}
		if err := sleep(ctx, benchSettlePoll); err != nil {
			return err
		}
	}
}

func (b *benchRun) postEvent(ctx context.Context, id string, typ tenure.EventType, p tenure.Person) error {
	body, err := json.Marshal(map[string]any{"id": id, "type": typ, "employee": p})
	if err != nil {
		return err
	}
	res, err := b.do(ctx, http.MethodPost, "/api/v1/events", body, nil)
	if err != nil {
		return fmt.Errorf("%s event for %s: %w", typ, p.ID, err)
	}
	if res.status != http.StatusAccepted {
		return fmt.Errorf("%s event for %s: HTTP %d: %s", typ, p.ID, res.status, res.body)
	}
	return nil
}

type benchResponse struct {
	status int
	body   []byte
}

func (b *benchRun) do(ctx context.Context, method, path string, body []byte, header map[string]string) (benchResponse, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, b.s.baseURL+path, r)
	if err != nil {
		return benchResponse{}, err
	}
	req.Header.Set("Authorization", "Bearer "+b.s.adminToken)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := b.http.Do(req)
	if err != nil {
		return benchResponse{}, err
	}
	defer res.Body.Close()
	out, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	return benchResponse{status: res.StatusCode, body: out}, err
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// trace is where one lock's or leaver's time went, read from Temporal's history:
// each milestone is its offset from the moment the request was sent.
type trace struct {
	err error
	// The milestones, in order; negative when the history lacks one.
	signaled, childInitiated, childStarted, firstAppCall, lastAppCall, childClosed, parentSawChild, seen time.Duration
	// Workflow tasks of the parent between the signal and the child's start, and of the child.
	parentTasks, childTasks int
	// Activities the parent ran between the signal and the child (regular, local).
	parentActivities, parentLocal int
	childActivities               map[string]int
	// Per connector call: time from scheduled to picked up by a worker, and from
	// picked up to completed.
	queued, ran []time.Duration
	events      []traceEvent // the two histories merged, for --timeline
}

type traceEvent struct {
	at    time.Duration
	where string
	what  string
}

// trace reads the histories of the person's workflow and of the child that did
// the work. A history that cannot be read leaves the trace empty with its error:
// the timing itself stands without it.
func (b *benchRun) trace(ctx context.Context, employeeID, childID string, t0, t1 time.Time) trace {
	tr := trace{seen: t1.Sub(t0), childActivities: map[string]int{}}
	parent, err := b.history(ctx, workflows.EmployeeWorkflowID(employeeID))
	if err != nil {
		tr.err = err
		return tr
	}
	child, err := b.history(ctx, childID)
	if err != nil {
		tr.err = err
		return tr
	}
	at := func(e *historypb.HistoryEvent) time.Duration { return e.GetEventTime().AsTime().Sub(t0) }
	for _, f := range []*time.Duration{&tr.signaled, &tr.childInitiated, &tr.childStarted, &tr.firstAppCall, &tr.lastAppCall, &tr.childClosed, &tr.parentSawChild} {
		*f = -1
	}
	initiated := slices.IndexFunc(parent, func(e *historypb.HistoryEvent) bool {
		return e.GetEventType() == enumspb.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED &&
			e.GetStartChildWorkflowExecutionInitiatedEventAttributes().GetWorkflowId() == childID
	})
	if initiated < 0 {
		tr.err = fmt.Errorf("%s never started %s", workflows.EmployeeWorkflowID(employeeID), childID)
		return tr
	}
	signal := initiated
	for signal >= 0 && parent[signal].GetEventType() != enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED {
		signal--
	}
	if signal < 0 {
		signal = 0
	} else {
		tr.signaled = at(parent[signal])
	}
	tr.childInitiated = at(parent[initiated])
	for _, e := range parent[signal:initiated] {
		switch e.GetEventType() {
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
			tr.parentTasks++
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
			tr.parentActivities++
		case enumspb.EVENT_TYPE_MARKER_RECORDED:
			tr.parentLocal++
		}
	}
	for _, e := range parent[signal:] {
		if e.GetEventType() == enumspb.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_COMPLETED &&
			e.GetChildWorkflowExecutionCompletedEventAttributes().GetWorkflowExecution().GetWorkflowId() == childID {
			tr.parentSawChild = at(e)
			break
		}
	}
	for _, e := range parent[signal:] {
		if d := at(e); d <= tr.parentSawChild+time.Millisecond || tr.parentSawChild < 0 {
			tr.events = append(tr.events, traceEvent{d, "parent", eventName(e)})
		}
	}

	// Connector activities are named "<kind>.<Operation>"; the rest are the
	// workflow's own bookkeeping.
	scheduled := map[int64]string{}
	schedAt, startAt := map[int64]time.Duration{}, map[int64]time.Duration{}
	for _, e := range child {
		name := eventName(e)
		switch e.GetEventType() {
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
			tr.childStarted = at(e)
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
			tr.childTasks++
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
			act := e.GetActivityTaskScheduledEventAttributes().GetActivityType().GetName()
			scheduled[e.GetEventId()] = act
			schedAt[e.GetEventId()] = at(e)
			tr.childActivities[act]++
			name += " " + act
			if isConnectorActivity(act) && tr.firstAppCall < 0 {
				tr.firstAppCall = at(e)
			}
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_STARTED:
			id := e.GetActivityTaskStartedEventAttributes().GetScheduledEventId()
			startAt[id] = at(e)
			name += " " + scheduled[id]
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
			id := e.GetActivityTaskCompletedEventAttributes().GetScheduledEventId()
			act := scheduled[id]
			name += " " + act
			if isConnectorActivity(act) {
				tr.lastAppCall = at(e)
				if st, ok := startAt[id]; ok {
					tr.queued = append(tr.queued, st-schedAt[id])
					tr.ran = append(tr.ran, at(e)-st)
				}
			}
		case enumspb.EVENT_TYPE_MARKER_RECORDED:
			tr.childActivities["(local activity)"]++
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED:
			tr.childClosed = at(e)
		}
		tr.events = append(tr.events, traceEvent{at(e), "child", name})
	}
	tr.events = append(tr.events, traceEvent{tr.seen, "bench", "all disabled seen in the apps"})
	slices.SortStableFunc(tr.events, func(a, b traceEvent) int { return int(a.at - b.at) })
	return tr
}

func isConnectorActivity(name string) bool {
	kind, op, ok := strings.Cut(name, ".")
	return ok && kind != "store" && kind != "policy" && kind != "approvals" && op != ""
}

func eventName(e *historypb.HistoryEvent) string {
	return strings.TrimPrefix(e.GetEventType().String(), "EVENT_TYPE_")
}

func (b *benchRun) history(ctx context.Context, workflowID string) ([]*historypb.HistoryEvent, error) {
	hctx, cancel := context.WithTimeout(ctx, benchStepTimeout)
	defer cancel()
	it := b.s.client.GetWorkflowHistory(hctx, workflowID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	var out []*historypb.HistoryEvent
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			return nil, fmt.Errorf("history of %s: %w", workflowID, err)
		}
		out = append(out, e)
	}
	return out, nil
}

// stats are the figures of one phase.
type stats struct {
	n                  int
	p50, p90, p99, max time.Duration
}

func summarize(ds []time.Duration) stats {
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s) == 0 {
		return stats{}
	}
	return stats{n: len(s), p50: percentile(s, 50), p90: percentile(s, 90), p99: percentile(s, 99), max: s[len(s)-1]}
}

// percentile is the nearest-rank percentile of sorted: the smallest value that
// at least p percent of the samples do not exceed.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func ms(d time.Duration) string {
	if d < 0 {
		return "-"
	}
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 1, 64) + " ms"
}

func verdict(ok bool) string {
	if ok {
		return "PASS"
	}
	return "MISS"
}

func (b *benchRun) report(w io.Writer, lock, leave, base []time.Duration, lockTr, leaveTr []trace) {
	apps := b.s.sandbox.Apps()
	policyName := fmt.Sprintf("%d sandbox apps (app01..app%02d), every one granted to everyone", len(apps), len(apps))
	if b.cfg.devPol {
		policyName = fmt.Sprintf("built-in dev policy: %d apps, each person has accounts in %s", len(apps), strings.Join(b.appsOf(b.newPeople("X", 1)[0]), ", "))
	}
	fmt.Fprintf(w, "Tenure bench, %s\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(w, "Policy:  %s\n", policyName)
	fmt.Fprintf(w, "People:  %d locked and %d terminated, one at a time, %s apart; latency added per SCIM request: %s\n", len(lock), len(leave), b.cfg.gap, b.cfg.latency)
	fmt.Fprintf(w, "Machine: %s\n", machine())
	fmt.Fprintf(w, "Load:    %s at the start, %s at the end (1, 5 and 15 minute load averages)\n\n", b.load, loadAverage())

	lk, lv, bs := summarize(lock), summarize(leave), summarize(base)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "phase\tn\tp50\tp90\tp99\tmax\ttarget\t")
	for _, r := range []struct {
		name   string
		s      stats
		target string
	}{
		{"lock", lk, fmt.Sprintf("p50 < %s %s, p99 < %s %s", ms(targetP50), verdict(lk.p50 < targetP50), ms(targetP99), verdict(lk.p99 < targetP99))},
		{"leaver phase 1", lv, fmt.Sprintf("p50 < %s %s, p99 < %s %s", ms(targetP50), verdict(lv.p50 < targetP50), ms(targetP99), verdict(lv.p99 < targetP99))},
		{"direct baseline", bs, "-"},
	} {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t\n", r.name, r.s.n, ms(r.s.p50), ms(r.s.p90), ms(r.s.p99), ms(r.s.max), r.target)
	}
	tw.Flush()
	ratio := float64(lv.p50) / float64(max(bs.p50, 1))
	fmt.Fprintf(w, "\nleaver p50 / baseline p50 = %.1fx (target <= %.0fx) %s\n", ratio, targetRatio, verdict(ratio <= targetRatio))
	// The apps show the account disabled before the activity has read it back; the
	// baseline's figure includes that read, so compare like with like as well.
	if v := medianOf(leaveTr, func(t trace) time.Duration { return t.lastAppCall }); v >= 0 {
		vr := float64(v) / float64(max(bs.p50, 1))
		fmt.Fprintf(w, "leaver to verified (last app call completed, median from the histories) %s / baseline p50 = %.1fx %s\n", ms(v), vr, verdict(vr <= targetRatio))
	}

	fmt.Fprintf(w, "\nWhere the time goes (median offset from the request, from Temporal's histories):\n")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "milestone\tlock\tleaver\t")
	for _, m := range []struct {
		name string
		f    func(trace) time.Duration
	}{
		{"signal in the person's history", func(t trace) time.Duration { return t.signaled }},
		{"child workflow initiated", func(t trace) time.Duration { return t.childInitiated }},
		{"child workflow started", func(t trace) time.Duration { return t.childStarted }},
		{"first app call scheduled", func(t trace) time.Duration { return t.firstAppCall }},
		{"last app call completed (verified)", func(t trace) time.Duration { return t.lastAppCall }},
		{"all disabled seen in the apps", func(t trace) time.Duration { return t.seen }},
		{"child workflow completed", func(t trace) time.Duration { return t.childClosed }},
		{"person's workflow saw it complete", func(t trace) time.Duration { return t.parentSawChild }},
	} {
		fmt.Fprintf(tw, "%s\t%s\t%s\t\n", m.name, ms(medianOf(lockTr, m.f)), ms(medianOf(leaveTr, m.f)))
	}
	tw.Flush()
	for _, p := range []struct {
		name string
		trs  []trace
	}{{"lock", lockTr}, {"leaver", leaveTr}} {
		if t, ok := firstGood(p.trs); ok {
			fmt.Fprintf(w, "%s: the person's workflow ran %d workflow tasks, %d activities and %d local activities between the signal and the child; the child ran %d workflow tasks and %s\n",
				p.name, t.parentTasks, t.parentActivities, t.parentLocal, t.childTasks, activityCounts(t.childActivities))
		}
		var queued, ran []time.Duration
		for _, t := range p.trs {
			queued, ran = append(queued, t.queued...), append(ran, t.ran...)
		}
		if q, r := summarize(queued), summarize(ran); q.n > 0 {
			fmt.Fprintf(w, "%s: each app call waited for a worker p50 %s, p90 %s, max %s, then ran p50 %s, p90 %s, max %s (%d calls)\n",
				p.name, ms(q.p50), ms(q.p90), ms(q.max), ms(r.p50), ms(r.p90), ms(r.max), q.n)
		}
		for _, t := range p.trs {
			if t.err != nil {
				fmt.Fprintf(w, "%s: a history could not be read: %v\n", p.name, t.err)
				break
			}
		}
	}
}

// medianOf is the median of one milestone over the traces that have it.
func medianOf(trs []trace, f func(trace) time.Duration) time.Duration {
	var ds []time.Duration
	for _, t := range trs {
		if d := f(t); t.err == nil && d >= 0 {
			ds = append(ds, d)
		}
	}
	if len(ds) == 0 {
		return -1
	}
	slices.Sort(ds)
	return percentile(ds, 50)
}

func firstGood(trs []trace) (trace, bool) {
	for _, t := range trs {
		if t.err == nil {
			return t, true
		}
	}
	return trace{}, false
}

func activityCounts(m map[string]int) string {
	if len(m) == 0 {
		return "no activities"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%d x %s", m[k], k))
	}
	return "activities " + strings.Join(parts, ", ")
}

// printTimeline prints, event by event, the histories of the lock whose time was
// the median, so the gaps between workflow tasks can be read directly.
func printTimeline(w io.Writer, trs []trace, ds []time.Duration) {
	if len(trs) == 0 {
		return
	}
	idx := make([]int, len(ds))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int { return int(ds[a] - ds[b]) })
	t := trs[idx[(len(idx)-1)/2]]
	if t.err != nil {
		fmt.Fprintf(w, "\nNo timeline: %v\n", t.err)
		return
	}
	fmt.Fprintf(w, "\nTimeline of the median lock (%s), offsets from the request:\n", ms(t.seen))
	prev := time.Duration(0)
	for _, e := range t.events {
		fmt.Fprintf(w, "  %9s  (+%7s)  %-6s %s\n", ms(e.at), ms(e.at-prev), e.where, e.what)
		prev = e.at
	}
}

// machine describes where the figures were taken.
func machine() string {
	cpu := "unknown CPU"
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	return fmt.Sprintf("%d CPUs (runtime.NumCPU), %s/%s, %s, %s", runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, cpu, runtime.Version())
}

// loadAverage is /proc/loadavg's three load averages, or "unknown".
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "unknown"
}
