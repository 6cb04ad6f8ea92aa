package activities_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/activities"
	"github.com/tenure-io/tenure/internal/giveway"
	"github.com/tenure-io/tenure/policy"
	"github.com/tenure-io/tenure/store/storetest"
	"github.com/tenure-io/tenure/workflows"
)

// reconverger stands in for the people's workflows: each records its outcome
// on the rollout a moment after it is asked, as the Employee workflow does;
// someone without a workflow is ENOTFOUND.
type reconverger struct {
	acts  *activities.Activities
	mu    sync.Mutex
	asked map[string]int
	at    []time.Time // when each was asked, in order
	gone  map[string]bool
}

func (r *reconverger) Reconverge(ctx context.Context, id, requestID, actor string) (string, error) {
	r.mu.Lock()
	r.asked[id]++
	r.at = append(r.at, time.Now())
	r.mu.Unlock()
	if r.gone[id] {
		return "", tenure.Errorf(tenure.ENOTFOUND, "%s has no running workflow to re-evaluate", id)
	}
	go func() {
		time.Sleep(30 * time.Millisecond)
		_ = r.acts.RecordReconverged(context.Background(), workflows.Reconverged{Key: requestID, EmployeeID: id, Status: tenure.RolloutItemDone})
	}()
	return tenure.WorkflowID(id), nil
}

func TestARolloutBatchWaitsForEveryPersonsWorkflow(t *testing.T) {
	ctx := context.Background()
	db := storetest.SQLite(t)
	acts := &activities.Activities{Store: db, Rollouts: db, RolloutPoll: 10 * time.Millisecond, Policies: activities.Static{Policy: rolloutPolicy(t, "")}}
	rec := &reconverger{acts: acts, asked: map[string]int{}, gone: map[string]bool{"E3": true}}
	acts.Engine = rec
	items := []tenure.RolloutItem{{EmployeeID: "E1", Apps: []string{"slack"}}, {EmployeeID: "E2", Apps: []string{"slack"}}, {EmployeeID: "E3", Apps: []string{"slack"}}}
	if err := db.CreateRollout(ctx, tenure.Rollout{ID: "r1", Version: "v", Status: tenure.RolloutRunning}, items); err != nil {
		t.Fatal(err)
	}
	// Each of the 4 batches that run at once hands over a quarter of the
	// policy's rate, the default here.
	next, err := acts.NextRolloutBatch(ctx, workflows.RolloutBatch{RolloutID: "r1", After: "E1", Limit: 10, Batches: 4})
	if err != nil || len(next.People) != 2 || next.People[0] != "E2" || next.Rate != policy.DefaultRolloutRate/4 {
		t.Fatalf("next batch = %+v, %v; want E2 and E3 at %v people a second", next, err, policy.DefaultRolloutRate/4)
	}
	b := workflows.RolloutBatch{RolloutID: "r1", Actor: "ada", People: []string{"E1", "E2", "E3"}}
	if err := acts.RunRolloutBatch(ctx, b); err != nil {
		t.Fatal(err)
	}
	// Handed over again, as a retried batch is (each person's workflow drops
	// a request it has seen), it finds everyone finished and returns.
	if err := acts.RunRolloutBatch(ctx, b); err != nil {
		t.Fatal(err)
	}
	r, err := db.GetRollout(ctx, "r1")
	if err != nil {
		t.Fatal(err)
	}
	if r.Done != 3 || r.Skipped != 1 || r.Failed != 0 || r.ByApp["slack"].Done != 3 {
		t.Fatalf("rollout = %+v", r)
	}
	if err := acts.FinishRollout(ctx, workflows.RolloutStep{RolloutID: "r1", Actor: "ada"}); err != nil {
		t.Fatal(err)
	}
	if r, _ = db.GetRollout(ctx, "r1"); r.Status != tenure.RolloutCompleted || r.Note != "3 of 3 people brought in line" {
		t.Fatalf("finished rollout = %+v", r)
	}
	audit, err := db.ListAudit(ctx, tenure.AuditFilter{Action: "policy.rollout_completed"})
	if err != nil || len(audit) != 1 {
		t.Fatalf("audit = %+v, %v", audit, err)
	}
}

// rolloutPolicy is a policy with the given rollout block ("" for none).
func rolloutPolicy(t *testing.T, block string) *policy.Policy {
	t.Helper()
	pol, err := policy.Parse("p.yaml", []byte("version: 1\n"+block), nil, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	return pol
}

// A batch hands its people over at its rate, which NextRolloutBatch takes from
// the policy's rollout block.
func TestARolloutBatchHandsPeopleOverAtItsRate(t *testing.T) {
	ctx := context.Background()
	db := storetest.SQLite(t)
	acts := &activities.Activities{Store: db, Rollouts: db, RolloutPoll: 10 * time.Millisecond, Policies: activities.Static{Policy: rolloutPolicy(t, "rollout: {rate: 80/s}\n")}}
	rec := &reconverger{acts: acts, asked: map[string]int{}}
	acts.Engine = rec
	var items []tenure.RolloutItem
	for _, id := range []string{"E1", "E2", "E3", "E4", "E5"} {
		items = append(items, tenure.RolloutItem{EmployeeID: id})
	}
	if err := db.CreateRollout(ctx, tenure.Rollout{ID: "r1", Version: "v", Status: tenure.RolloutRunning}, items); err != nil {
		t.Fatal(err)
	}
	b, err := acts.NextRolloutBatch(ctx, workflows.RolloutBatch{RolloutID: "r1", Actor: "ada", Limit: 10, Batches: 4})
	if err != nil || len(b.People) != 5 || b.Rate != 20 {
		t.Fatalf("next batch = %+v, %v; want 5 people at 20 a second", b, err)
	}
	if err := acts.RunRolloutBatch(ctx, b); err != nil {
		t.Fatal(err)
	}
	// 20 a second: the first at once, each next 50 ms after the one before.
	if len(rec.at) != 5 {
		t.Fatalf("%d hand-overs, want 5", len(rec.at))
	}
	if took := rec.at[4].Sub(rec.at[0]); took < 190*time.Millisecond {
		t.Fatalf("5 people handed over in %s; want at least 200 ms at 20 a second", took)
	}
	// With no rate (a batch planned before rates were kept), they go at once.
	rec.at = nil
	if err := db.CreateRollout(ctx, tenure.Rollout{ID: "r2", Version: "v", Status: tenure.RolloutRunning}, items); err != nil {
		t.Fatal(err)
	}
	b.RolloutID, b.Rate = "r2", 0
	if err := acts.RunRolloutBatch(ctx, b); err != nil {
		t.Fatal(err)
	}
	if took := rec.at[len(rec.at)-1].Sub(rec.at[0]); len(rec.at) != 5 || took > 100*time.Millisecond {
		t.Fatalf("%d hand-overs in %s with no rate; want 5 at once", len(rec.at), took)
	}
}

// While a lock's disables are under way in the worker, a rollout hands no one
// over; it goes on once the kill switch is done and its give-way has passed.
func TestARolloutGivesWayToTheKillSwitch(t *testing.T) {
	ctx := context.Background()
	db := storetest.SQLite(t)
	way := giveway.New(time.Now)
	acts := &activities.Activities{Store: db, Rollouts: db, RolloutPoll: 10 * time.Millisecond, GiveWay: way}
	rec := &reconverger{acts: acts, asked: map[string]int{}}
	acts.Engine = rec
	if err := db.CreateRollout(ctx, tenure.Rollout{ID: "r1", Version: "v", Status: tenure.RolloutRunning}, []tenure.RolloutItem{{EmployeeID: "E1"}}); err != nil {
		t.Fatal(err)
	}
	done := way.Urgent()
	ran := make(chan error)
	go func() {
		ran <- acts.RunRolloutBatch(ctx, workflows.RolloutBatch{RolloutID: "r1", Actor: "ada", People: []string{"E1"}})
	}()
	time.Sleep(100 * time.Millisecond)
	rec.mu.Lock()
	asked := rec.asked["E1"]
	rec.mu.Unlock()
	if asked != 0 {
		t.Fatal("the rollout handed E1 over while the kill switch was under way")
	}
	done()
	ended := time.Now()
	if err := <-ran; err != nil {
		t.Fatal(err)
	}
	if rec.asked["E1"] != 1 || time.Since(ended) < giveway.For {
		t.Fatalf("E1 asked %d times, the batch done %s after the kill switch; want once, after %s", rec.asked["E1"], time.Since(ended), giveway.For)
	}
}

func TestAVersionTheWorkersCannotLoadNeverComesIntoForce(t *testing.T) {
	ctx := context.Background()
	db := storetest.SQLite(t)
	acts := &activities.Activities{Store: db, Rollouts: db, Policies: activities.Static{}}
	if _, err := db.SavePolicyVersion(ctx, tenure.PolicyVersion{Version: "v2", YAML: "version: 1\n", Author: "ada"}); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateRollout(ctx, tenure.Rollout{ID: "r1", Version: "v2", Status: tenure.RolloutRunning}, nil); err != nil {
		t.Fatal(err)
	}
	err := acts.ActivateRollout(ctx, workflows.RolloutStep{RolloutID: "r1", Version: "v2", Actor: "ada"})
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || !appErr.NonRetryable() || appErr.Type() != "PolicyNotLoaded" {
		t.Fatalf("activating = %v, want a non-retryable PolicyNotLoaded", err)
	}
	if _, err := db.ActivePolicyVersion(ctx); tenure.ErrorCode(err) != tenure.ENOTFOUND {
		t.Fatalf("a version that does not load came into force: %v", err)
	}
}
