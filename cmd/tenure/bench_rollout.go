package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	taskqueuepb "go.temporal.io/api/taskqueue/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/workflow"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/activities"
	"github.com/tenure-io/tenure/api"
	"github.com/tenure-io/tenure/internal/sandbox"
	"github.com/tenure-io/tenure/rollout"
	"github.com/tenure-io/tenure/worker"
	"github.com/tenure-io/tenure/workflows"
)

const (
	// benchWaiterWorkflow is the rollout ceiling's workflow type, registered
	// only on the bench's own task queue.
	benchWaiterWorkflow = "tenure.bench.Waiter"
	// benchRolloutWidth is how many people a rollout hands to their workflows
	// at once: its batches at a time, each signalling a few people at once.
	benchRolloutWidth = workflows.DefaultRolloutParallel * activities.RolloutSignalers
)

var rolloutLabels = loadLabels{
	noun:       "rollout",
	ceilingRow: "engine ceiling (a signal to a waiting no-op workflow per person)",
	row:        "rollout (active and entitled in the new app)",
	perPerson:  "re-evaluation",
}

// rollout is `tenure bench --rollout N`: N people hired as --bulk hires them;
// the engine's ceiling for re-evaluating a person; then a policy version that
// grants everyone one more app, deployed through PUT /api/v1/policy and timed
// until the new app shows every hire active there with their entitlement,
// with the lockers' locks timed during it; then the lockers are unlocked, and
// the check that everyone has exactly one account, as the policy says, in
// every app.
func (b *benchRun) rollout(ctx context.Context, stdout io.Writer, say func(string, ...any)) error {
	n := b.cfg.rollout
	if err := b.patchNoContent(b.s.sandbox.Apps()...); err != nil {
		return err
	}
	progress := serialized(say)
	progress("engine ceiling: %d waiting no-op workflows, each sent one command, %d at a time", n, benchRolloutWidth)
	ceil, err := b.profiledCeiling(ctx, b.reevaluationCeiling, n, progress)
	if err != nil {
		return err
	}

	people := bulkPeople{hires: b.newPeople("H", n), lockers: b.newPeople("L", b.cfg.people)}
	progress("hiring %d people to lock during the rollout", len(people.lockers))
	if err := b.hireAll(ctx, people.lockers); err != nil {
		return err
	}
	progress("hiring %d people through POST /api/v1/events:batch into %d apps", n, len(b.s.sandbox.Apps()))
	hired, err := b.runBulk(ctx, bulkPeople{hires: people.hires}, progress)
	if err != nil {
		return fmt.Errorf("hiring: %w", err)
	}
	progress("hired: %.1f people/s", rate(hired.n, hired.total))

	// The new app is served, in the apps' dialect, before the policy that
	// grants it is deployed; the bench reads it through a connector of its own.
	before := len(b.s.sandbox.Apps())
	app, text := benchAppName(before+1), benchPolicy(before+1)
	next, err := policyRun(b.getenv, b.s.baseURL, b.s.sandboxToken)("bench-policy.yaml", text)
	if err != nil {
		return err
	}
	conns, err := worker.Connectors(next)
	if err != nil {
		return err
	}
	b.conns[app] = conns[app]
	if err := b.s.sandbox.AddApp(app); err != nil {
		return err
	}
	if err := b.patchNoContent(app); err != nil {
		return err
	}
	if err := b.s.sandbox.SetFaults(app, sandbox.Faults{Latency: b.cfg.latency}); err != nil {
		return err
	}
	progress("deploying a policy that grants %s to everyone, through PUT /api/v1/policy; locking %d people on the way", app, len(people.lockers))
	b.lockTimeout = benchBulkStall
	var dep rollout.Deployment
	deploy := func(ctx context.Context) (err error) {
		dep, err = b.deploy(ctx, text)
		return err
	}
	stop, err := b.profile("")
	if err != nil {
		return err
	}
	res, err := b.underLoad(ctx, people, map[string][]string{app: {benchEntitlement}}, deploy, progress)
	stop()
	if err != nil {
		return err
	}
	r, err := b.rolloutClosed(ctx, dep.RolloutID)
	if err != nil {
		return err
	}

	// The locked are re-evaluated when unlocked, and the check holds
	// everyone to the version in force in every app.
	b.s.policy = next
	progress("unlocking the %d people locked during the rollout", len(people.lockers))
	if err := b.unlockAll(ctx, people.lockers); err != nil {
		return err
	}
	if b.cfg.beforeCheck != nil {
		if err := b.cfg.beforeCheck(ctx, b, people); err != nil {
			return err
		}
	}
	progress("checking every app's own state and the read model")
	check := b.checkBulk(ctx, people)
	b.rolloutReport(stdout, ceil, hired, res, r, check)
	return res.failed(check)
}

// serialized is say for several goroutines at once: the locks report from a
// goroutine of their own.
func serialized(say func(string, ...any)) func(string, ...any) {
	var mu sync.Mutex
	return func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		say(format, args...)
	}
}

// benchWaiter is the rollout ceiling's workflow: started as a person's is,
// with their hire, it waits for a command as a person's workflow waits, and
// completes in the workflow task that brings it.
func benchWaiter(ctx workflow.Context, _ workflows.EmployeeInput) error {
	ch := workflow.GetSignalChannel(ctx, workflows.CommandSignal)
	var c workflows.Command
	ch.Receive(ctx, &c) // the hire it was started with
	ch.Receive(ctx, &c) // the re-evaluation
	return nil
}

// reevaluationCeiling measures the engine alone for a rollout: n workflows,
// started (untimed) as the ceiling of --bulk starts them and then waiting,
// are each sent the command Engine.Reconverge sends, as many at a time as a
// rollout hands people over, and each completes in the workflow task it
// brings.
func (b *benchRun) reevaluationCeiling(ctx context.Context, n int) (ceilingResult, error) {
	queue := b.prefix + "-waiter"
	stop, err := b.noopWorker(queue, benchWaiter, benchWaiterWorkflow)
	if err != nil {
		return ceilingResult{}, err
	}
	defer stop()

	people := b.newPeople("W", n)
	if err := b.startNoops(ctx, queue, benchWaiterWorkflow, people); err != nil {
		return ceilingResult{}, err
	}
	if err := b.drained(ctx, queue); err != nil {
		return ceilingResult{}, err
	}
	cmd := workflows.Command{Kind: workflows.CommandReconverge, RequestID: "reconverge:" + workflows.RolloutRequestID("bench"), Actor: "bench"}
	t0, cpu0 := time.Now(), processCPU()
	err = eachAtOnce(ctx, n, benchRolloutWidth, func(ctx context.Context, i int) error {
		return b.s.client.SignalWorkflow(ctx, "bench-noop/"+people[i].ID, "", workflows.CommandSignal, cmd)
	})
	if err != nil {
		return ceilingResult{}, err
	}
	return b.allClosed(ctx, queue, people, t0, cpu0)
}

// drained waits until queue has had no workflow task waiting for a worker in
// three polls in a row, a second apart: the waiters have all run their first.
func (b *benchRun) drained(ctx context.Context, queue string) error {
	deadline := time.Now().Add(benchBulkStall)
	for empty := 0; empty < 3; {
		d, err := b.s.client.WorkflowService().DescribeTaskQueue(ctx, &workflowservice.DescribeTaskQueueRequest{
			Namespace: b.s.temporal.Namespace(), TaskQueue: &taskqueuepb.TaskQueue{Name: queue},
			TaskQueueType: enumspb.TASK_QUEUE_TYPE_WORKFLOW, ReportStats: true,
		})
		if err != nil {
			return fmt.Errorf("describing task queue %s: %w", queue, err)
		}
		empty++
		for _, s := range d.GetStatsByPriorityKey() {
			if s.GetApproximateBacklogCount() > 0 {
				empty = 0
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("task queue %s still holds workflow tasks after %s", queue, benchBulkStall)
		}
		if err := sleep(ctx, time.Second); err != nil {
			return err
		}
	}
	return nil
}

// deploy sends a policy to PUT /api/v1/policy, as `tenure policy deploy`
// does, and requires its rollout to have started rather than been held.
func (b *benchRun) deploy(ctx context.Context, policy []byte) (rollout.Deployment, error) {
	var d rollout.Deployment
	res, err := b.do(ctx, http.MethodPut, "/api/v1/policy", policy, map[string]string{"Content-Type": "application/yaml"})
	if err != nil {
		return d, fmt.Errorf("deploying the policy: %w", err)
	}
	if res.status != http.StatusAccepted || json.Unmarshal(res.body, &d) != nil {
		return d, fmt.Errorf("deploying the policy: HTTP %d: %.300s", res.status, res.body)
	}
	if d.Status != tenure.RolloutRunning {
		return d, fmt.Errorf("deploying the policy: rollout %s is %s, not running: %s", d.RolloutID, d.Status, d.Reason)
	}
	return d, nil
}

// rolloutClosed waits until GET /api/v1/rollouts/{id} shows the rollout
// closed, and requires it completed with no one failed.
func (b *benchRun) rolloutClosed(ctx context.Context, id string) (tenure.Rollout, error) {
	deadline := time.Now().Add(benchBulkStall)
	for {
		var r tenure.Rollout
		res, err := b.do(ctx, http.MethodGet, "/api/v1/rollouts/"+id, nil, nil)
		if err != nil {
			return r, fmt.Errorf("reading rollout %s: %w", id, err)
		}
		if res.status != http.StatusOK || json.Unmarshal(res.body, &r) != nil {
			return r, fmt.Errorf("reading rollout %s: HTTP %d: %.300s", id, res.status, res.body)
		}
		switch {
		case r.Status == tenure.RolloutCompleted && r.Failed == 0:
			return r, nil
		case !r.Status.Open() || r.Failed > 0:
			return r, fmt.Errorf("rollout %s is %s, %d of %d failed: %s", id, r.Status, r.Failed, r.Total, r.Note)
		case time.Now().After(deadline):
			return r, fmt.Errorf("rollout %s is still %s after %s, %d of %d done", id, r.Status, benchBulkStall, r.Done, r.Total)
		}
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return r, err
		}
	}
}

// unlockAll unlocks each person and waits until their account in every app
// of the version in force is active.
func (b *benchRun) unlockAll(ctx context.Context, people []tenure.Person) error {
	for _, p := range people {
		res, err := b.do(ctx, http.MethodPost, "/api/v1/employees/"+p.ID+"/unlock", nil, map[string]string{api.HeaderIdempotencyKey: "bench-unlock-" + p.ID})
		if err != nil {
			return fmt.Errorf("unlocking %s: %w", p.ID, err)
		}
		if res.status != http.StatusAccepted {
			return fmt.Errorf("unlocking %s: HTTP %d: %s", p.ID, res.status, res.body)
		}
	}
	for _, p := range people {
		if _, err := b.waitActive(ctx, p, true, benchBulkStall); err != nil {
			return fmt.Errorf("unlock: %w", err)
		}
	}
	return nil
}

// rolloutReport prints a rollout run as bulkReport prints a bulk: the set-up,
// the machine and its load, then each phase against its target.
func (b *benchRun) rolloutReport(w io.Writer, ceil ceilingResult, hired, res bulkRun, r tenure.Rollout, check bulkCheck) {
	apps := b.s.sandbox.Apps()
	fmt.Fprintf(w, "Tenure bench --rollout, %s\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(w, "Policy:  %d sandbox apps (app01..app%02d), every one granted to everyone; then a version that grants %s to everyone too, deployed through PUT /api/v1/policy\n",
		len(apps)-1, len(apps)-1, apps[len(apps)-1])
	fmt.Fprintf(w, "People:  %d hired through POST /api/v1/events:batch before the rollout, at %.1f/s (not timed against the targets); %d locked one at a time during the rollout and unlocked after it; latency added per SCIM request: %s\n",
		hired.n, rate(hired.n, hired.total), len(res.locks), b.cfg.latency)
	var took time.Duration
	if r.ClosedAt != nil {
		took = r.ClosedAt.Sub(r.CreatedAt)
	}
	fmt.Fprintf(w, "Rollout: %s %s in %s, batches of %d, %d at a time, handed over at up to %g people a second (the policy's rollout rate): %d people, %d done (%d of them deferred by a lock until the unlock), %d failed, %d skipped\n",
		r.ID, r.Status, secs(took), workflows.DefaultRolloutBatch, workflows.DefaultRolloutParallel, b.s.policy.RolloutRate(), r.Total, r.Done, r.Deferred, r.Failed, r.Skipped)
	b.printMachine(w)
	rolloutLabels.report(w, ceil, res, check)
}
