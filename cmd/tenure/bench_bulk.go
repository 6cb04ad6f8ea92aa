package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/api"
	"github.com/tenure-io/tenure/importer"
	"github.com/tenure-io/tenure/integrations"
	"github.com/tenure-io/tenure/internal/sandbox"
	"github.com/tenure-io/tenure/workflows"
)

const (
	// benchBulkMax bounds --bulk: the sandbox keeps every app in memory.
	benchBulkMax = 100_000
	// benchBulkApps and benchBulkPeople are --apps and --people under --bulk: the
	// project's bulk target is for hires into 3 apps.
	benchBulkApps   = 3
	benchBulkPeople = 10
	// benchBulkLockDelay is how long after the bulk's first batch the first timed
	// lock is sent, so it meets the intake at full speed.
	benchBulkLockDelay = 3 * time.Second
	// benchBulkStall fails the bulk when no one more is done for this long: a
	// bulk of 10,000 may take an hour, but it must keep moving.
	benchBulkStall = 3 * time.Minute
	// benchBulkPoll is how often the bulk reads the read model for its
	// progress: counting 30,000 accounts five times a second cost the
	// machine 3% of what it measures at 10,000 hires.
	benchBulkPoll = time.Second
	// benchBatchTimeout bounds one POST /api/v1/events:batch: a thousand hires
	// take about 12 s on 2 loaded cores.
	benchBatchTimeout = 10 * time.Minute
	// benchNoopWorkflow is the ceiling's workflow type. It is registered only on
	// the bench's own task queue, never in workflows.Registry.
	benchNoopWorkflow = "tenure.bench.Noop"
)

// bulkPeople are the people of one bulk run: the hires, and those locked while
// the hires run.
type bulkPeople struct {
	hires, lockers []tenure.Person
}

// ceilingResult is the engine's rate for one no-op workflow per person.
type ceilingResult struct {
	n         int
	submitted time.Duration // until the last signal-with-start returned
	total     time.Duration // until the last workflow closed, by Temporal's own close times
	cpu       time.Duration // the process's CPU until visibility counted them all closed
}

// bulkRun is what the bulk measured.
type bulkRun struct {
	n         int
	submitted time.Duration // until the last batch was answered
	total     time.Duration // until every app showed everyone done
	cpu       time.Duration // the process's CPU until the read model showed everyone done
	locks     []time.Duration
	traces    []trace
	// loaded[i] is whether locks[i] was seen done before the bulk was: the
	// locks go one at a time, so a slow one can push the next past the bulk.
	loaded []bool
	// lockErrs are the locks not seen done within benchBulkStall; the bulk and
	// the other locks carry on.
	lockErrs []error
}

// bulk is `tenure bench --bulk N`: the engine's ceiling, then the hires with
// locks timed among them, then the check that nothing was lost or duplicated.
func (b *benchRun) bulk(ctx context.Context, stdout io.Writer, say func(string, ...any)) error {
	n := b.cfg.bulk
	if err := b.patchNoContent(b.s.sandbox.Apps()...); err != nil {
		return err
	}
	progress := serialized(say)
	progress("engine ceiling: %d no-op workflows started by signal-with-start, %d at a time", n, importer.DefaultWorkers)
	ceil, err := b.profiledCeiling(ctx, b.ceiling, n, progress)
	if err != nil {
		return err
	}

	people := bulkPeople{hires: b.newPeople("H", n), lockers: b.newPeople("L", b.cfg.people)}
	// Each hire has a manager, who hears when their access is ready, as in
	// a real onboarding: the first person locked, hired before the bulk.
	for i := range people.hires {
		people.hires[i].ManagerID = people.lockers[0].ID
	}
	progress("hiring %d people to lock during the bulk", len(people.lockers))
	if err := b.hireAll(ctx, people.lockers); err != nil {
		return err
	}
	progress("hiring %d people through POST /api/v1/events:batch into %d apps; locking %d of them on the way", n, len(b.s.sandbox.Apps()), len(people.lockers))
	b.lockTimeout = benchBulkStall
	stop, err := b.profile("")
	if err != nil {
		return err
	}
	res, err := b.runBulk(ctx, people, progress)
	stop()
	if err != nil {
		return err
	}
	if b.cfg.beforeCheck != nil {
		if err := b.cfg.beforeCheck(ctx, b, people); err != nil {
			return err
		}
	}
	progress("checking every app's own state and the read model")
	check := b.checkBulk(ctx, people)
	b.bulkReport(stdout, ceil, res, check)
	return res.failed(check)
}

// failed is the error of a run under load: its locks that failed, and what
// its check found.
func (r bulkRun) failed(check bulkCheck) error {
	if len(r.lockErrs) > 0 {
		return errors.Join(append([]error{fmt.Errorf("%d of the timed locks failed", len(r.lockErrs))}, append(r.lockErrs, check.err)...)...)
	}
	return check.err
}

// patchNoContent has the apps answer a PATCH with 204 No Content, as AWS IAM
// Identity Center does, not with the whole resource: in one process with
// Tenure, the sandbox writing out every member of a group of everyone with
// each change (the RFC's other answer) took a third of the CPU that Tenure is
// measured on at 10,000 hires.
func (b *benchRun) patchNoContent(apps ...string) error {
	for _, app := range apps {
		if err := b.s.sandbox.SetDialect(app, sandbox.Dialect{PatchNoContent: true}); err != nil {
			return err
		}
	}
	return nil
}

// profiledCeiling measures the engine's ceiling for n people with measure,
// under the ceiling's own CPU profile (--cpuprofile's FILE.ceiling), and says
// its rate.
func (b *benchRun) profiledCeiling(ctx context.Context, measure func(context.Context, int) (ceilingResult, error), n int, progress func(string, ...any)) (ceilingResult, error) {
	stop, err := b.profile(".ceiling")
	if err != nil {
		return ceilingResult{}, err
	}
	ceil, err := measure(ctx, n)
	stop()
	if err != nil {
		return ceilingResult{}, fmt.Errorf("engine ceiling: %w", err)
	}
	progress("engine ceiling: %.1f people/s", rate(ceil.n, ceil.total))
	return ceil, nil
}

// profile starts the CPU profile of one phase of the bulk, into --cpuprofile's
// file with suffix added, when there is a --cpuprofile.
func (b *benchRun) profile(suffix string) (stop func(), err error) {
	if b.cfg.cpuProfile == "" {
		return func() {}, nil
	}
	return startCPUProfile(b.cfg.cpuProfile + suffix)
}

// benchNoop is the ceiling's workflow: it takes the command it was started
// with and completes, in one workflow task.
func benchNoop(ctx workflow.Context, _ workflows.EmployeeInput) error {
	var c workflows.Command
	workflow.GetSignalChannel(ctx, workflows.CommandSignal).ReceiveAsync(&c)
	return nil
}

// ceiling measures the engine alone: n workflows started exactly as
// workflows.Engine starts a person's (signal-with-start, the same options,
// the hire's command as the signal, through the same client and payload
// codec), as many at a time as the bulk path hands over, each completing in
// its first workflow task on a worker with the production worker's pollers.
func (b *benchRun) ceiling(ctx context.Context, n int) (ceilingResult, error) {
	queue := b.prefix + "-noop"
	stop, err := b.noopWorker(queue, benchNoop, benchNoopWorkflow)
	if err != nil {
		return ceilingResult{}, err
	}
	defer stop()

	people := b.newPeople("N", n)
	t0, cpu0 := time.Now(), processCPU()
	if err := b.startNoops(ctx, queue, benchNoopWorkflow, people); err != nil {
		return ceilingResult{}, err
	}
	return b.allClosed(ctx, queue, people, t0, cpu0)
}

// noopWorker starts a worker for one of the bench's own workflow types on
// queue, with the production worker's pollers and slots.
func (b *benchRun) noopWorker(queue string, fn any, name string) (stop func(), err error) {
	w := sdkworker.New(b.s.client, queue, sdkworker.Options{
		MaxConcurrentWorkflowTaskPollers:       workerPollers,
		MaxConcurrentActivityTaskPollers:       workerPollers,
		MaxConcurrentWorkflowTaskExecutionSize: workerTaskSlots,
	})
	w.RegisterWorkflowWithOptions(fn, workflow.RegisterOptions{Name: name})
	if err := w.Start(); err != nil {
		return nil, fmt.Errorf("starting the bench's worker: %w", err)
	}
	return w.Stop, nil
}

// startNoops starts one workflow of type name per person on queue, as
// workflows.Engine starts a hire, importer.DefaultWorkers at a time.
func (b *benchRun) startNoops(ctx context.Context, queue, name string, people []tenure.Person) error {
	return eachAtOnce(ctx, len(people), importer.DefaultWorkers, func(ctx context.Context, i int) error {
		p := people[i]
		ev := tenure.Event{ID: "bench-hire-" + p.ID, Type: tenure.EventHire, Employee: p, ReceivedAt: time.Now().UTC()}
		id := "bench-noop/" + p.ID
		_, err := b.s.client.SignalWithStartWorkflow(ctx, id, workflows.CommandSignal,
			workflows.Command{Kind: workflows.CommandEvent, RequestID: "event:" + ev.ID, Event: &ev},
			client.StartWorkflowOptions{
				ID:                       id,
				TaskQueue:                queue,
				WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
				WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
			},
			name, workflows.EmployeeInput{EmployeeID: p.ID})
		return err
	})
}

// allClosed waits until every person's no-op workflow on queue has closed,
// and measures from t0 (and the process's CPU from cpu0). Temporal's
// visibility says when they have all closed, a moment late; each workflow's
// own close time, read by ID afterwards, says when that was. It asks
// visibility once every benchBulkPoll, as the bulk asks the read model: its
// count scans the visibility store, and asked ten times a second it took a
// share of the machine that the ceiling is measured on. A query that times
// out on a loaded machine is asked again.
func (b *benchRun) allClosed(ctx context.Context, queue string, people []tenure.Person, t0 time.Time, cpu0 time.Duration) (ceilingResult, error) {
	n := len(people)
	res := ceilingResult{n: n, submitted: time.Since(t0)}
	closed := fmt.Sprintf("TaskQueue = '%s' AND ExecutionStatus != 'Running'", queue)
	last, lastAt := int64(-1), time.Now()
	for {
		c, err := b.s.client.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Namespace: b.s.temporal.Namespace(), Query: closed})
		if ctx.Err() != nil {
			return ceilingResult{}, ctx.Err()
		}
		if err == nil && c.GetCount() >= int64(n) {
			res.cpu = processCPU() - cpu0
			break
		}
		if err == nil && c.GetCount() != last {
			last, lastAt = c.GetCount(), time.Now()
		} else if time.Since(lastAt) > benchBulkStall {
			return ceilingResult{}, fmt.Errorf("%d of %d no-op workflows closed, and none more for %s (last error: %v)", last, n, benchBulkStall, err)
		}
		if err := sleep(ctx, benchBulkPoll); err != nil {
			return ceilingResult{}, err
		}
	}
	closedAt := make([]time.Time, n)
	err := eachAtOnce(ctx, n, importer.DefaultWorkers, func(ctx context.Context, i int) error {
		id := "bench-noop/" + people[i].ID
		d, err := b.s.client.DescribeWorkflowExecution(ctx, id, "")
		if err != nil {
			return fmt.Errorf("describing %s: %w", id, err)
		}
		info := d.GetWorkflowExecutionInfo()
		if info.GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED {
			return fmt.Errorf("no-op workflow %s is %s", id, info.GetStatus())
		}
		closedAt[i] = info.GetCloseTime().AsTime()
		return nil
	})
	if err != nil {
		return ceilingResult{}, err
	}
	res.total = slices.MaxFunc(closedAt, time.Time.Compare).Sub(t0)
	return res, nil
}

// runBulk hires everyone through the batch API, one batch at a time as
// `tenure import` sends them, and polls every app until each hire has an active
// account with their entitlements there, timing the lockers' locks meanwhile.
func (b *benchRun) runBulk(ctx context.Context, people bulkPeople, progress func(string, ...any)) (bulkRun, error) {
	send := func(ctx context.Context) error { return b.sendBatches(ctx, people.hires) }
	return b.underLoad(ctx, people, b.appGrants(people.hires[0]), send, progress)
}

// underLoad runs start, which sets the hires' work going, and polls the apps
// of want until every hire has an active account with the entitlements want
// names in each. Meanwhile it times the lockers' locks, one at a time, spread
// over the work by how far it has got.
func (b *benchRun) underLoad(ctx context.Context, people bulkPeople, want map[string][]string, start func(context.Context) error, progress func(string, ...any)) (bulkRun, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	n := len(people.hires)
	res := bulkRun{n: n}
	var (
		done     atomic.Int64 // hires done in every app, as of the last poll
		finished = make(chan struct{})
		wg       sync.WaitGroup
	)
	t0, cpu0 := time.Now(), processCPU()

	wg.Go(func() {
		if err := start(ctx); err != nil {
			cancel(err)
			return
		}
		res.submitted = time.Since(t0)
	})

	var lockEnds []time.Time
	wg.Go(func() {
		for k, p := range people.lockers {
			// The k-th lock waits until the bulk is k/len of the way there, and
			// the first until the intake is under way; once the bulk is done,
			// the rest go at once (and are not counted as under load).
			turn := func() bool {
				return time.Since(t0) >= benchBulkLockDelay && done.Load()*int64(len(people.lockers)) >= int64(k*n)
			}
			for !turn() {
				select {
				case <-finished:
				case <-ctx.Done():
					return
				case <-time.After(100 * time.Millisecond):
					continue
				}
				break
			}
			sent := time.Now()
			d, tr, err := b.lock(ctx, p)
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				res.lockErrs = append(res.lockErrs, err)
				progress("lock %d of %d failed: %v", k+1, len(people.lockers), err)
				continue
			}
			res.locks, res.traces = append(res.locks, d), append(res.traces, tr)
			progress("lock %d of %d: %s (%s), with %d of %d hires done in every app", k+1, len(people.lockers), ms(d), tr.milestones(), done.Load(), n)
			lockEnds = append(lockEnds, sent.Add(d))
		}
	})

	hired := map[string]bool{}
	for _, p := range people.hires {
		hired[p.ID] = true
	}
	// The read model says how far the work has got, cheaply, every
	// benchBulkPoll; the apps' own state, listed in full, says when it is done.
	// Listing every app costs the machine what it measures, so the apps are
	// listed only once the read model shows enough accounts active, and then
	// no more than a quarter of the time.
	var end time.Time
	lastDone, lastMove, lastSaid, nextList := -1, time.Now(), time.Now(), time.Time{}
	for {
		count, err := b.activeInEveryApp(ctx, want)
		if err != nil {
			cancel(err)
			break
		}
		count = min(count, n)
		if count == n && res.cpu == 0 {
			res.cpu = processCPU() - cpu0
		}
		if count == n && !time.Now().Before(nextList) {
			t := time.Now()
			if count, err = b.doneInEveryApp(ctx, want, hired); err != nil {
				cancel(err)
				break
			}
			if count == n {
				if end, err = b.lastVerified(ctx, people.hires, want, t); err != nil {
					cancel(err)
				}
				close(finished)
				break
			}
			nextList = time.Now().Add(3 * time.Since(t))
		}
		done.Store(int64(count))
		if count != lastDone {
			lastDone, lastMove = count, time.Now()
		} else if time.Since(lastMove) > benchBulkStall {
			cancel(fmt.Errorf("%d of %d people done in every app, and none more for %s", count, n, benchBulkStall))
			break
		}
		if time.Since(lastSaid) >= 30*time.Second {
			progress("%s: %d of %d people done in every app", time.Since(t0).Round(time.Second), count, n)
			lastSaid = time.Now()
		}
		if err := sleep(ctx, benchBulkPoll); err != nil {
			break
		}
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return res, err
	}
	res.total = end.Sub(t0)
	for _, at := range lockEnds {
		res.loaded = append(res.loaded, at.Before(end))
	}
	return res, nil
}

// sendBatches posts the hires in batches of api.MaxBatch, each one only after
// the last was answered, and fails unless every event was accepted.
func (b *benchRun) sendBatches(ctx context.Context, hires []tenure.Person) error {
	hc := &http.Client{Timeout: benchBatchTimeout}
	for i := 0; i < len(hires); i += api.MaxBatch {
		batch := hires[i:min(i+api.MaxBatch, len(hires))]
		events := make([]map[string]any, len(batch))
		for j, p := range batch {
			events[j] = map[string]any{"id": "bench-hire-" + p.ID, "type": tenure.EventHire, "employee": p}
		}
		body, err := json.Marshal(map[string]any{"events": events})
		if err != nil {
			return err
		}
		res, err := b.doWith(ctx, hc, http.MethodPost, "/api/v1/events:batch", body, nil)
		if err != nil {
			return fmt.Errorf("batch of hires %d to %d: %w", i+1, i+len(batch), err)
		}
		var ans struct {
			Accepted int `json:"accepted"`
			Results  []struct {
				EmployeeID string          `json:"employee_id"`
				Status     string          `json:"status"`
				Error      json.RawMessage `json:"error"`
			} `json:"results"`
		}
		if res.status != http.StatusOK || json.Unmarshal(res.body, &ans) != nil {
			return fmt.Errorf("batch of hires %d to %d: HTTP %d: %.300s", i+1, i+len(batch), res.status, res.body)
		}
		if ans.Accepted != len(batch) {
			var bad []string
			for _, r := range ans.Results {
				if r.Status != importer.StatusAccepted && len(bad) < 3 {
					bad = append(bad, fmt.Sprintf("%s %s %s", r.EmployeeID, r.Status, r.Error))
				}
			}
			return fmt.Errorf("batch of hires %d to %d: %d of %d accepted: %s", i+1, i+len(batch), ans.Accepted, len(batch), strings.Join(bad, "; "))
		}
	}
	return nil
}

// appGrants is, per app, the entitlements the policy gives p there.
func (b *benchRun) appGrants(p tenure.Person) map[string][]string {
	out := map[string][]string{}
	for _, g := range b.s.policy.Evaluate(p) {
		if g.Approval != "" {
			continue
		}
		if _, ok := out[g.App]; !ok {
			out[g.App] = nil // the account, with or without entitlements
		}
		if g.Entitlement != "" {
			out[g.App] = append(out[g.App], g.Entitlement)
		}
	}
	return out
}

// activeInEveryApp is the fewest accounts the read model shows active in
// any app of want: an upper bound on the hires done in every app, since an
// account is recorded active only once the app read it back active, and its
// entitlements follow within the same step.
func (b *benchRun) activeInEveryApp(ctx context.Context, want map[string][]string) (int, error) {
	counts, err := b.s.store.AccountCounts(ctx)
	if err != nil {
		return 0, fmt.Errorf("reading the read model: %w", err)
	}
	fewest := -1
	for app := range want {
		if k := counts[app][tenure.AccessActive]; fewest < 0 || k < fewest {
			fewest = k
		}
	}
	return max(fewest, 0), nil
}

// lastVerified is when the last hire was done: the latest time at which a
// step read a hire's account back from an app of want, as the read model
// records it (tenure.Account.VerifiedAt), once the apps' own state showed
// every hire done at listed. A step writes the account it read back with its
// entitlements, so this is the moment the last app confirmed the last hire,
// not the moment the bench happened to list the apps.
func (b *benchRun) lastVerified(ctx context.Context, hires []tenure.Person, want map[string][]string, listed time.Time) (time.Time, error) {
	var last time.Time
	for _, p := range hires {
		accounts, err := b.s.store.ListAccounts(ctx, p.ID)
		if err != nil {
			return time.Time{}, fmt.Errorf("reading %s's accounts: %w", p.ID, err)
		}
		for _, a := range accounts {
			if _, ok := want[a.App]; !ok {
				continue
			}
			if a.VerifiedAt == nil {
				return listed, nil // not recorded: the listing is all there is
			}
			if a.VerifiedAt.After(last) {
				last = *a.VerifiedAt
			}
		}
	}
	if last.IsZero() || last.After(listed) {
		return listed, nil
	}
	return last, nil
}

// doneInEveryApp counts the hires that have, in every app of want, an active
// account with the entitlements want names, reading each app's users page by
// page through the bench's own connector.
func (b *benchRun) doneInEveryApp(ctx context.Context, want map[string][]string, hired map[string]bool) (int, error) {
	doneIn := map[string]int{}
	for app, ents := range want {
		err := b.conns[app].List(ctx, func(a integrations.Account) bool {
			if hired[a.ExternalID] && a.Active && containsAll(a.Groups, ents) {
				doneIn[a.ExternalID]++
			}
			return true
		})
		if err != nil {
			return 0, fmt.Errorf("listing the users of %s: %w", app, err)
		}
	}
	count := 0
	for _, k := range doneIn {
		if k == len(want) {
			count++
		}
	}
	return count, nil
}

func containsAll(have, want []string) bool {
	for _, w := range want {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}

// eachAtOnce runs fn(0..n-1), at most width at a time, and returns the first
// error, after which it starts nothing more.
func eachAtOnce(ctx context.Context, n, width int, fn func(context.Context, int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	next := atomic.Int64{}
	var wg sync.WaitGroup
	for range min(width, n) {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := fn(ctx, i); err != nil {
					cancel(err)
					return
				}
			}
		})
	}
	wg.Wait()
	return context.Cause(ctx)
}

// rate is people per second.
func rate(n int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}
