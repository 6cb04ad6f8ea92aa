package activities

import (
	"context"
	"fmt"
	"sync"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"golang.org/x/time/rate"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/rollout"
	"github.com/tenure-io/tenure/workflows"
)

// RolloutStore is the read model as a rollout's activities use it.
type RolloutStore interface {
	tenure.PolicyStore
	tenure.RolloutStore
}

// Reconverger re-evaluates a person through their own workflow;
// workflows.Engine is one.
type Reconverger interface {
	Reconverge(ctx context.Context, employeeID, requestID, actor string) (string, error)
}

// DefaultRolloutPoll is how often a rollout's batch reads how its people stand
// (one query for its 100 people). The next batch starts only once this one
// has seen its last person done, so a slower poll costs the rollout its
// pace: at half a second, a rollout paced at 80 people a second made 69.
const DefaultRolloutPoll = 100 * time.Millisecond

// RolloutSignalers bounds how many people of a batch are handed to their
// workflows at once. Each hand-over is a write on the Temporal server, and a
// lock's signal waits behind those already queued there: at 16, a lock during
// a rollout waited up to 486 ms for its signal.
const RolloutSignalers = 4

// ActivateRollout puts a rollout's version in force, once this worker has
// loaded it: a version the workers cannot run (a secret's variable unset, a
// file missing) fails the rollout and never comes into force.
func (a *Activities) ActivateRollout(ctx context.Context, step workflows.RolloutStep) error {
	if _, err := a.Policies.Load(ctx, step.Version); err != nil {
		if tenure.ErrorCode(err) == tenure.EUNAVAILABLE {
			return err
		}
		return temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("the workers cannot load policy version %s: %s", short(step.Version), tenure.ErrorMessage(err)), "PolicyNotLoaded", nil)
	}
	r, err := a.Rollouts.GetRollout(ctx, step.RolloutID)
	if err != nil {
		return err
	}
	if !r.Status.Open() {
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("rollout %s is %s", step.RolloutID, r.Status), "RolloutClosed", nil)
	}
	now := a.now()
	if err := a.Rollouts.ActivatePolicyVersion(ctx, "rollout/"+step.RolloutID, step.Version, step.Actor, now); err != nil {
		return err
	}
	if _, err := a.Rollouts.SetRolloutStatus(ctx, step.RolloutID, tenure.RolloutRunning, "", now); err != nil {
		return err
	}
	if err := a.audit(ctx, tenure.AuditRecord{Key: rollout.AuditKey(step.RolloutID, "activated"), Actor: step.Actor,
		Action: "policy.activated", Detail: fmt.Sprintf("version %s in force; rollout %s re-evaluates %d people", short(step.Version), step.RolloutID, r.Total)}); err != nil {
		return err
	}
	// Load the version in force now, so that its new apps are served and
	// their connectors built before the first person needs them.
	_, err = a.Policies.Current(ctx)
	return err
}

// NextRolloutBatch returns the next people of a rollout still pending after
// b.After, and the rate at which to hand them over: the rollout rate of the
// policy in force (the rollout's version, once it is activated), shared
// among the b.Batches batches that run at once.
func (a *Activities) NextRolloutBatch(ctx context.Context, b workflows.RolloutBatch) (workflows.RolloutBatch, error) {
	items, err := a.Rollouts.PendingRolloutItems(ctx, b.RolloutID, b.After, b.Limit)
	if err != nil {
		return b, err
	}
	b.People = make([]string, 0, len(items))
	for _, it := range items {
		b.People = append(b.People, it.EmployeeID)
	}
	if len(b.People) == 0 {
		return b, nil
	}
	pol, err := a.Policies.Current(ctx)
	if err != nil {
		return b, err
	}
	b.Rate = pol.RolloutRate() / float64(max(b.Batches, 1))
	return b, nil
}

// RunRolloutBatch hands each person of the batch to their workflow, to be
// re-evaluated under the version in force, and waits until every one of them
// has finished (their workflows record how it went). It hands them over at
// b.Rate people a second (any rate when 0), so that a rollout leaves the
// machines room for the kill switch; and while a lock's or a leaver's
// disables are under way in this process, it hands over no one (GiveWay).
// Handing a person over again, on a retry, runs nothing twice. Someone whose
// workflow has closed is skipped.
func (a *Activities) RunRolloutBatch(ctx context.Context, b workflows.RolloutBatch) error {
	req := workflows.RolloutRequestID(b.RolloutID)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		sem   = make(chan struct{}, RolloutSignalers)
		limit = rate.Inf
	)
	if b.Rate > 0 {
		limit = rate.Limit(b.Rate)
	}
	pace := rate.NewLimiter(limit, 1)
	for _, id := range b.People {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			err := pace.Wait(ctx)
			if err == nil {
				err = a.GiveWay.Wait(ctx)
			}
			if err == nil {
				_, err = a.Engine.Reconverge(ctx, id, req, b.Actor)
			}
			if tenure.ErrorCode(err) == tenure.ENOTFOUND {
				err = a.Rollouts.RecordRolloutOutcome(ctx, tenure.RolloutItem{RolloutID: b.RolloutID, EmployeeID: id,
					Status: tenure.RolloutItemSkipped, Error: tenure.ErrorMessage(err)})
			}
			if err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if first != nil {
		return first
	}
	poll := a.RolloutPoll
	if poll <= 0 {
		poll = DefaultRolloutPoll
	}
	t := time.NewTicker(poll)
	defer t.Stop()
	var stopping <-chan struct{}
	if activity.IsActivity(ctx) {
		stopping = activity.GetWorkerStopChannel(ctx)
	}
	for {
		items, err := a.Rollouts.ListRolloutItems(ctx, b.RolloutID, b.People)
		if err != nil {
			return err
		}
		pending := 0
		for _, it := range items {
			if it.Status == tenure.RolloutItemPending {
				pending++
			}
		}
		if activity.IsActivity(ctx) {
			activity.RecordHeartbeat(ctx, len(b.People)-pending)
		}
		if pending == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-stopping:
			// The worker is stopping: hand the batch back at once rather than
			// wait to be cut off, so that another worker takes it up now.
			return temporal.NewApplicationError("the worker is stopping; the batch goes on elsewhere", "WorkerStopping")
		case <-t.C:
		}
	}
}

// FinishRollout closes a rollout whose people have all finished: completed,
// or failed when anyone's access could not be brought in line.
func (a *Activities) FinishRollout(ctx context.Context, step workflows.RolloutStep) error {
	r, err := a.Rollouts.GetRollout(ctx, step.RolloutID)
	if err != nil {
		return err
	}
	status, note := tenure.RolloutCompleted, fmt.Sprintf("%d of %d people brought in line", r.Done, r.Total)
	if r.Failed > 0 {
		status, note = tenure.RolloutFailed, fmt.Sprintf("%d of %d people failed; retry them from their page, or deploy again", r.Failed, r.Total)
	}
	step.Status, step.Note = status, note
	return a.CloseRollout(ctx, step)
}

// CloseRollout records how a rollout ended, once.
func (a *Activities) CloseRollout(ctx context.Context, step workflows.RolloutStep) error {
	moved, err := a.Rollouts.SetRolloutStatus(ctx, step.RolloutID, step.Status, step.Note, a.now())
	if err != nil || !moved {
		return err
	}
	return a.audit(ctx, tenure.AuditRecord{Key: rollout.AuditKey(step.RolloutID, string(step.Status)), Actor: Actor,
		Action: "policy.rollout_" + string(step.Status), Detail: step.Note})
}

// RecordReconverged records how a person's re-evaluation went: for a
// rollout's, on the person's line of the rollout.
func (a *Activities) RecordReconverged(ctx context.Context, r workflows.Reconverged) error {
	id, ok := workflows.RolloutOf(r.Key)
	if !ok || a.Rollouts == nil {
		return nil
	}
	return a.Rollouts.RecordRolloutOutcome(ctx, tenure.RolloutItem{RolloutID: id, EmployeeID: r.EmployeeID,
		Status: r.Status, FailedApps: r.FailedApps, Error: r.Error})
}

// short is the first 12 characters of a version, as people read it.
func short(version string) string {
	if len(version) > 12 {
		return version[:12]
	}
	return version
}
