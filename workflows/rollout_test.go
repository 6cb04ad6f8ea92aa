package workflows_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/guard"
	"github.com/tenure-io/tenure/workflows"
)

// swapped is the test policy after a deploy that takes Slack away from
// everyone and renames github's engineering to eng (the read model's history
// keeps engineering managed, which the connector activities do).
func swapped(p tenure.Person) workflows.Plan {
	pl := plan(p)
	var grants []tenure.Grant
	for _, g := range pl.Grants {
		switch {
		case g.App == "slack":
			continue
		case g.Key() == "github/engineering":
			g.Entitlement = "eng"
		}
		grants = append(grants, g)
	}
	pl.Grants = grants
	for i, a := range pl.Apps {
		if a.Name == "github" {
			pl.Apps[i].Managed = []string{"eng", "engineering"}
		}
	}
	return pl
}

func reconverge(id string) workflows.Command {
	return workflows.Command{Kind: workflows.CommandReconverge, RequestID: "reconverge:" + workflows.RolloutRequestID(id), Actor: "ada"}
}

func TestReconvergeAppliesThePolicyInForceAsAMover(t *testing.T) {
	h := newHarness(t)
	h.event(time.Minute, "e1", tenure.EventHire, engineer("E1"))
	h.wantApps(time.Hour, "E1", map[string]string{"google": "active", "slack": "active general", "github": "active engineering"})
	h.at(time.Hour, func() { h.apps.policy = swapped })
	h.send(2*time.Hour, reconverge("r1"))
	// Sent again, as a retried batch does: it runs once.
	h.send(3*time.Hour, reconverge("r1"))
	h.wantApps(4*time.Hour, "E1", map[string]string{"google": "active", "slack": "disabled", "github": "active eng"})
	if err := h.run("E1"); err != nil {
		t.Fatal(err)
	}
	if r := h.apps.runs["employee/E1/mover/rollout-r1"]; r.Status != tenure.RunCompleted || r.Type != workflows.MoverWorkflowName {
		t.Fatalf("the rollout's run = %+v", r)
	}
	want := []workflows.Reconverged{{Key: "rollout-r1", EmployeeID: "E1", Status: tenure.RolloutItemDone}}
	if fmt.Sprint(h.apps.reconverged) != fmt.Sprint(want) {
		t.Fatalf("recorded %+v, want %+v", h.apps.reconverged, want)
	}
}

// A rollout's re-evaluation calls only the apps the version changes: google,
// where the account is active with exactly what the plan gives, is left
// alone. A run that began on an older baseline asks for the change, once.
func TestReconvergeLeavesTheAppsInLineAlone(t *testing.T) {
	for _, c := range []struct {
		name     string
		baseline workflow.Version
		markers  int
	}{
		{"new run", workflows.Baseline, 0},
		{"run begun on baseline 2", 2, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t)
			upserts := h.countVersionUpdates()
			h.event(time.Minute, "e1", tenure.EventHire, engineer("E1"))
			h.wantApps(time.Hour, "E1", map[string]string{"google": "active", "slack": "active general", "github": "active engineering"})
			var before int
			h.at(time.Hour, func() { h.apps.policy, before = swapped, len(h.apps.calls) })
			h.send(2*time.Hour, reconverge("r1"))
			h.wantApps(3*time.Hour, "E1", map[string]string{"google": "active", "slack": "disabled", "github": "active eng"})
			var after []string
			h.at(3*time.Hour, func() { after = slices.Clone(h.apps.calls[before:]) })
			h.at(3*time.Hour+time.Minute, func() { h.env.CancelWorkflow() })
			h.env.ExecuteWorkflow(workflows.EmployeeWorkflowName, workflows.EmployeeInput{EmployeeID: "E1", Baseline: c.baseline})
			if len(after) == 0 || slices.ContainsFunc(after, func(call string) bool { return strings.HasSuffix(call, " google") }) {
				t.Errorf("the re-evaluation called %v; want github and slack, and not google", after)
			}
			if *upserts != c.markers {
				t.Errorf("version markers = %d, want %d", *upserts, c.markers)
			}
			want := []workflows.Reconverged{{Key: "rollout-r1", EmployeeID: "E1", Status: tenure.RolloutItemDone}}
			if fmt.Sprint(h.apps.reconverged) != fmt.Sprint(want) {
				t.Errorf("recorded %+v, want %+v", h.apps.reconverged, want)
			}
		})
	}
}

func TestReconvergeRecordsTheAppsThatFailed(t *testing.T) {
	h := newHarness(t)
	h.event(time.Minute, "e1", tenure.EventHire, engineer("E1"))
	h.at(time.Hour, func() {
		h.apps.policy = swapped
		h.apps.fail["github"] = temporal.NewNonRetryableApplicationError("github: 400 bad team", "Permanent", nil)
	})
	h.send(2*time.Hour, reconverge("r1"))
	if err := h.run("E1"); err != nil {
		t.Fatal(err)
	}
	if len(h.apps.reconverged) != 1 {
		t.Fatalf("recorded %+v", h.apps.reconverged)
	}
	got := h.apps.reconverged[0]
	if got.Status != tenure.RolloutItemFailed || !slices.Equal(got.FailedApps, []string{"github"}) || got.Error == "" {
		t.Fatalf("outcome = %+v, want failed in github", got)
	}
}

func TestReconvergeWhileLockedWaitsForTheUnlock(t *testing.T) {
	h := newHarness(t)
	h.event(time.Minute, "e1", tenure.EventHire, engineer("E1"))
	h.send(time.Hour, workflows.Command{Kind: workflows.CommandLock, RequestID: "lock:k", Actor: "it"})
	h.at(90*time.Minute, func() { h.apps.policy = swapped })
	h.send(2*time.Hour, reconverge("r1"))
	h.wantApps(150*time.Minute, "E1", map[string]string{"google": "disabled", "slack": "disabled general", "github": "disabled engineering"})
	h.send(3*time.Hour, workflows.Command{Kind: workflows.CommandUnlock, RequestID: "unlock:k", Actor: "it"})
	h.wantApps(4*time.Hour, "E1", map[string]string{"google": "active", "slack": "disabled", "github": "active eng"})
	if err := h.run("E1"); err != nil {
		t.Fatal(err)
	}
	if len(h.apps.reconverged) != 1 || h.apps.reconverged[0].Status != tenure.RolloutItemDeferred {
		t.Fatalf("recorded %+v, want deferred", h.apps.reconverged)
	}
}

func TestReconvergeOfSomeoneNotEmployedChangesNothing(t *testing.T) {
	h := newHarness(t)
	h.send(time.Minute, reconverge("r1"))
	if err := h.run("E1"); err != nil {
		t.Fatal(err)
	}
	if len(h.apps.calls) != 0 || len(h.apps.reconverged) != 1 || h.apps.reconverged[0].Status != tenure.RolloutItemSkipped {
		t.Fatalf("calls %v, recorded %+v", h.apps.calls, h.apps.reconverged)
	}
}

// fakeRollout stands in for a rollout's activities: its people, pending or
// finished, and what the workflow did.
type fakeRollout struct {
	mu        sync.Mutex
	pending   []string
	done      map[string]bool
	activated int
	closed    []string // "status note"
	batches   int
	inflight  int
	maxFlight int
	// rates are the rates the batches were handed over at.
	rates map[float64]int
	// fail makes RunBatch fail for good.
	fail bool
	// onBatch is told how many batches have finished.
	onBatch func(n int)
}

func newFakeRollout(n int) *fakeRollout {
	r := &fakeRollout{done: map[string]bool{}, rates: map[float64]int{}}
	for i := range n {
		r.pending = append(r.pending, fmt.Sprintf("E%04d", i))
	}
	return r
}

func (r *fakeRollout) register(env *testsuite.TestWorkflowEnvironment) {
	env.RegisterWorkflowWithOptions(workflows.PolicyRollout, workflow.RegisterOptions{Name: workflows.RolloutWorkflowName})
	for name, fn := range map[string]any{
		workflows.ActivateRolloutActivity: func(_ context.Context, s workflows.RolloutStep) error {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.activated++
			return nil
		},
		workflows.NextRolloutBatchActivity: func(_ context.Context, b workflows.RolloutBatch) (workflows.RolloutBatch, error) {
			r.mu.Lock()
			defer r.mu.Unlock()
			b.People = nil
			for _, id := range r.pending {
				if id > b.After && !r.done[id] && len(b.People) < b.Limit {
					b.People = append(b.People, id)
				}
			}
			// As the activity does: the policy's rate (here 60 a second),
			// shared among the batches that run at once.
			b.Rate = 60 / float64(b.Batches)
			return b, nil
		},
		workflows.RunRolloutBatchActivity: func(_ context.Context, b workflows.RolloutBatch) error {
			r.mu.Lock()
			r.inflight++
			r.maxFlight = max(r.maxFlight, r.inflight)
			r.rates[b.Rate]++
			fail := r.fail
			r.mu.Unlock()
			time.Sleep(time.Millisecond)
			r.mu.Lock()
			defer r.mu.Unlock()
			r.inflight--
			if fail {
				return temporal.NewNonRetryableApplicationError("the store is gone", "Test", nil)
			}
			r.batches++
			if r.onBatch != nil {
				r.onBatch(r.batches)
			}
			for _, id := range b.People {
				if r.done[id] {
					return fmt.Errorf("%s handed over twice", id)
				}
				r.done[id] = true
			}
			return nil
		},
		workflows.FinishRolloutActivity: func(_ context.Context, s workflows.RolloutStep) error {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.closed = append(r.closed, "finished")
			return nil
		},
		workflows.CloseRolloutActivity: func(_ context.Context, s workflows.RolloutStep) error {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.closed = append(r.closed, string(s.Status)+" "+s.Note)
			return nil
		},
	} {
		env.RegisterActivityWithOptions(fn, activity.RegisterOptions{Name: name})
	}
}

func rolloutEnv(r *fakeRollout) *testsuite.TestWorkflowEnvironment {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	r.register(env)
	return env
}

func TestRolloutHandsEveryoneOverOnceInBoundedBatches(t *testing.T) {
	r := newFakeRollout(230)
	env := rolloutEnv(r)
	env.ExecuteWorkflow(workflows.RolloutWorkflowName, workflows.RolloutInput{RolloutID: "r1", Version: "v2", Actor: "ada", Batch: 20, Parallel: 3})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if len(r.done) != 230 || r.activated != 1 || r.batches != 12 || !slices.Equal(r.closed, []string{"finished"}) {
		t.Fatalf("done %d, activated %d, batches %d, closed %v", len(r.done), r.activated, r.batches, r.closed)
	}
	if r.maxFlight > 3 {
		t.Fatalf("%d batches ran at once, want at most 3", r.maxFlight)
	}
	// Each of the 3 batches at once hands over a third of the rollout's rate.
	if len(r.rates) != 1 || r.rates[20] != 12 {
		t.Fatalf("batches handed over at %v (rate: batches), want all 12 at 20 a second", r.rates)
	}
}

func TestAHeldRolloutChangesNothingUntilReleased(t *testing.T) {
	r := newFakeRollout(5)
	env := rolloutEnv(r)
	env.RegisterDelayedCallback(func() {
		if r.activated != 0 || len(r.done) != 0 {
			t.Errorf("before the decision: activated %d, %d people handed over", r.activated, len(r.done))
		}
		// A decision on another hold is no decision on this one.
		env.SignalWorkflow(guard.DecisionSignal, guard.Decision{HoldID: "other", Release: true, Actor: "eve"})
	}, time.Hour)
	env.RegisterDelayedCallback(func() {
		if r.activated != 0 {
			t.Error("another hold's release activated the version")
		}
		env.SignalWorkflow(guard.DecisionSignal, guard.Decision{HoldID: "h1", Release: true, Actor: "ada"})
	}, 2*time.Hour)
	env.ExecuteWorkflow(workflows.RolloutWorkflowName, workflows.RolloutInput{RolloutID: "r1", Version: "v2", Actor: "ada", HoldID: "h1"})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if r.activated != 1 || len(r.done) != 5 || !slices.Equal(r.closed, []string{"finished"}) {
		t.Fatalf("activated %d, done %d, closed %v", r.activated, len(r.done), r.closed)
	}
}

func TestADiscardedHoldEndsTheRolloutWithNothingChanged(t *testing.T) {
	r := newFakeRollout(5)
	env := rolloutEnv(r)
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(guard.DecisionSignal, guard.Decision{HoldID: "h1", Release: false, Actor: "ada"})
	}, time.Hour)
	env.ExecuteWorkflow(workflows.RolloutWorkflowName, workflows.RolloutInput{RolloutID: "r1", Version: "v2", Actor: "ada", HoldID: "h1"})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if r.activated != 0 || len(r.done) != 0 || !slices.Equal(r.closed, []string{"canceled the guard's hold was discarded by ada"}) {
		t.Fatalf("activated %d, done %d, closed %v", r.activated, len(r.done), r.closed)
	}
}

func TestACanceledHeldRolloutIsRecordedAsCanceled(t *testing.T) {
	r := newFakeRollout(5)
	env := rolloutEnv(r)
	env.RegisterDelayedCallback(env.CancelWorkflow, time.Hour)
	env.ExecuteWorkflow(workflows.RolloutWorkflowName, workflows.RolloutInput{RolloutID: "r1", Version: "v2", Actor: "ada", HoldID: "h1"})
	var canceled *temporal.CanceledError
	if err := env.GetWorkflowError(); !errors.As(err, &canceled) {
		t.Fatalf("error = %v, want canceled", err)
	}
	if r.activated != 0 || !slices.Equal(r.closed, []string{"canceled canceled"}) {
		t.Fatalf("activated %d, closed %v", r.activated, r.closed)
	}
}

func TestARolloutWhoseBatchFailsForGoodIsRecordedAsFailed(t *testing.T) {
	r := newFakeRollout(5)
	r.fail = true
	env := rolloutEnv(r)
	env.ExecuteWorkflow(workflows.RolloutWorkflowName, workflows.RolloutInput{RolloutID: "r1", Version: "v2", Actor: "ada"})
	if err := env.GetWorkflowError(); err == nil {
		t.Fatal("no error")
	}
	if len(r.closed) != 1 || r.closed[0] != "failed the store is gone" {
		t.Fatalf("closed %v", r.closed)
	}
}

func TestALongRolloutContinuesAsNewWhereItWas(t *testing.T) {
	r := newFakeRollout(600)
	env := rolloutEnv(r)
	// The history grows past the limit after 100 batches.
	r.onBatch = func(n int) {
		if n == 100 {
			env.SetCurrentHistoryLength(3000)
		}
	}
	env.ExecuteWorkflow(workflows.RolloutWorkflowName, workflows.RolloutInput{RolloutID: "r1", Version: "v2", Actor: "ada", Batch: 1, Parallel: 1})
	var cont *workflow.ContinueAsNewError
	if err := env.GetWorkflowError(); !errors.As(err, &cont) {
		t.Fatalf("error = %v, want to continue as new", err)
	}
	var next workflows.RolloutInput
	if err := converter.GetDefaultDataConverter().FromPayloads(cont.Input, &next); err != nil {
		t.Fatal(err)
	}
	if !next.Activated || next.After != "E0099" || len(r.done) != 100 || r.activated != 1 {
		t.Fatalf("continued with %+v after %d people, activated %d", next, len(r.done), r.activated)
	}
	// The next run picks up after them, and activates nothing again.
	r.onBatch = nil
	env = rolloutEnv(r)
	env.ExecuteWorkflow(workflows.RolloutWorkflowName, next)
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if r.activated != 1 || len(r.done) != 600 || !slices.Equal(r.closed, []string{"finished"}) {
		t.Fatalf("activated %d times, %d done, closed %v", r.activated, len(r.done), r.closed)
	}
}
