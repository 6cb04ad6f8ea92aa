package workflows

import (
	"errors"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/guard"
)

// RolloutWorkflowName is the workflow type of a policy rollout.
const RolloutWorkflowName = "PolicyRollout"

// The defaults of a rollout's pace.
const (
	// DefaultRolloutBatch is how many people one activity hands to their
	// workflows and waits for.
	DefaultRolloutBatch = 100
	// DefaultRolloutParallel is how many batches run at once: with the batch,
	// it bounds how many people are re-evaluated at a time. The apps' own
	// limits (rate, max_concurrent) hold inside that, on their task queues.
	DefaultRolloutParallel = 4
	// rolloutHistoryLimit is the history length after which a rollout
	// continues as new, between batches.
	rolloutHistoryLimit = 2000
)

// RolloutInput starts, or continues, a rollout.
type RolloutInput struct {
	RolloutID string `json:"rollout_id"`
	Version   string `json:"version"`
	Actor     string `json:"actor"`
	// HoldID is set when the guard held the deploy: the rollout waits for its
	// decision before the version comes into force.
	HoldID string `json:"hold_id,omitempty"`
	// Batch and Parallel set the pace; zero means the defaults.
	Batch    int `json:"batch,omitempty"`
	Parallel int `json:"parallel,omitempty"`
	// Activated and After are carried over by continue-as-new: the version is
	// in force, and everyone up to After has been handed to their workflow.
	Activated bool   `json:"activated,omitempty"`
	After     string `json:"after,omitempty"`
}

// RolloutStep names a rollout for the activities that record how it stands.
type RolloutStep struct {
	RolloutID string               `json:"rollout_id"`
	Version   string               `json:"version,omitempty"`
	Actor     string               `json:"actor,omitempty"`
	Status    tenure.RolloutStatus `json:"status,omitempty"`
	Note      string               `json:"note,omitempty"`
}

// RolloutBatch is the next people of a rollout: NextRolloutBatchActivity
// answers it, and RunRolloutBatchActivity hands them to their workflows and
// waits until each has finished.
type RolloutBatch struct {
	RolloutID string   `json:"rollout_id"`
	Actor     string   `json:"actor,omitempty"`
	After     string   `json:"after,omitempty"`
	Limit     int      `json:"limit,omitempty"`
	People    []string `json:"people,omitempty"`
	// Batches is how many batches run at once, so that each hands its people
	// over at its share of the policy's rollout rate: Rate, in people a
	// second (0, as in a batch planned before rates were kept, for any rate).
	Batches int     `json:"batches,omitempty"`
	Rate    float64 `json:"rate,omitempty"`
}

// Reconverged is how one person's re-evaluation under the active policy went,
// for the read model: the request's key, and the outcome.
type Reconverged struct {
	Key        string                   `json:"key"`
	EmployeeID string                   `json:"employee_id"`
	Status     tenure.RolloutItemStatus `json:"status"`
	FailedApps []string                 `json:"failed_apps,omitempty"`
	Error      string                   `json:"error,omitempty"`
}

// rolloutKeyPrefix starts the request key of a rollout's re-evaluations.
const rolloutKeyPrefix = "rollout-"

// RolloutRequestID is the request ID that re-evaluates a person for a rollout;
// their Mover child is employee/<id>/mover/rollout-<rollout ID>.
func RolloutRequestID(rolloutID string) string { return rolloutKeyPrefix + rolloutID }

// RolloutOf returns the rollout a re-evaluation's key belongs to.
func RolloutOf(key string) (string, bool) {
	if len(key) > len(rolloutKeyPrefix) && key[:len(rolloutKeyPrefix)] == rolloutKeyPrefix {
		return key[len(rolloutKeyPrefix):], true
	}
	return "", false
}

// rolloutOptions are the options of a rollout's steps. Running a batch waits
// for people's workflows, which may wait on an app's rate limit or outage for
// a long time: it heartbeats, and a worker that dies hands it to another
// within the heartbeat timeout, which sends the batch again (each person's
// workflow runs a request once) and waits on.
var rolloutOptions = workflow.ActivityOptions{
	StartToCloseTimeout: time.Hour,
	HeartbeatTimeout:    20 * time.Second,
	RetryPolicy: &temporal.RetryPolicy{
		InitialInterval:    time.Second,
		BackoffCoefficient: 2,
		MaximumInterval:    time.Minute,
	},
}

// PolicyRollout brings everyone a policy version changes in line with it. When
// the guard held the deploy it first waits for the hold's decision: a release
// puts the version in force, a discard ends the rollout as canceled with
// nothing changed. Then it hands the people, a batch at a time and a few
// batches at once, to their own workflows, which re-evaluate them under the
// version in force, and waits for each. It continues as new between batches
// when its history grows long, and records its progress in the read model
// as it goes.
func PolicyRollout(ctx workflow.Context, in RolloutInput) error {
	if in.RolloutID == "" || in.Version == "" {
		return temporal.NewNonRetryableApplicationError("rollout_id and version are required", "InvalidInput", nil)
	}
	r := &policyRollout{in: in, log: workflow.GetLogger(ctx)}
	if in.Batch <= 0 {
		r.in.Batch = DefaultRolloutBatch
	}
	if in.Parallel <= 0 {
		r.in.Parallel = DefaultRolloutParallel
	}
	actx := workflow.WithActivityOptions(ctx, rolloutOptions)
	if !r.in.Activated {
		if released, err := r.awaitRelease(ctx); err != nil || !released {
			return r.closed(ctx, err)
		}
		step := RolloutStep{RolloutID: in.RolloutID, Version: in.Version, Actor: in.Actor}
		if err := workflow.ExecuteActivity(actx, ActivateRolloutActivity, step).Get(ctx, nil); err != nil {
			return r.closed(ctx, err)
		}
		r.in.Activated = true
	}
	done, err := r.run(ctx, actx)
	if err != nil || !done {
		return r.closed(ctx, err)
	}
	return workflow.ExecuteActivity(actx, FinishRolloutActivity, RolloutStep{RolloutID: in.RolloutID, Actor: in.Actor}).Get(ctx, nil)
}

type policyRollout struct {
	in  RolloutInput
	log interface {
		Info(string, ...any)
		Warn(string, ...any)
	}
}

// awaitRelease waits, when the guard held the deploy, for the hold's
// decision, and reports whether the rollout may go on.
func (r *policyRollout) awaitRelease(ctx workflow.Context) (bool, error) {
	if r.in.HoldID == "" {
		return true, nil
	}
	ch := workflow.GetSignalChannel(ctx, guard.DecisionSignal)
	for {
		if err := workflow.Await(ctx, func() bool { return ch.Len() > 0 }); err != nil {
			return false, err
		}
		var d guard.Decision
		ch.ReceiveAsync(&d)
		if d.HoldID != r.in.HoldID {
			r.log.Warn("ignoring a decision on another hold", "hold_id", d.HoldID)
			continue
		}
		if d.Release {
			r.log.Info("released", "by", d.Actor)
			return true, nil
		}
		return false, r.close(ctx, tenure.RolloutCanceled, "the guard's hold was discarded by "+d.Actor)
	}
}

// run hands every pending person to their workflow, up to Parallel batches at
// once. It reports false after continuing as new is due, with no batch in
// flight and r.in.After where the next run starts.
func (r *policyRollout) run(ctx, actx workflow.Context) (bool, error) {
	lctx := workflow.WithLocalActivityOptions(ctx, localOptions)
	inflight, exhausted := 0, false
	var failure error
	for {
		for !exhausted && failure == nil && inflight < r.in.Parallel && !r.due(ctx) {
			var next RolloutBatch
			req := RolloutBatch{RolloutID: r.in.RolloutID, After: r.in.After, Limit: r.in.Batch, Batches: r.in.Parallel}
			if err := workflow.ExecuteLocalActivity(lctx, NextRolloutBatchActivity, req).Get(ctx, &next); err != nil {
				return false, err
			}
			if len(next.People) == 0 {
				exhausted = true
				break
			}
			r.in.After = next.People[len(next.People)-1]
			inflight++
			batch := RolloutBatch{RolloutID: r.in.RolloutID, Actor: r.in.Actor, People: next.People, Rate: next.Rate}
			workflow.Go(ctx, func(ctx workflow.Context) {
				defer func() { inflight-- }()
				if err := workflow.ExecuteActivity(actx, RunRolloutBatchActivity, batch).Get(ctx, nil); err != nil && failure == nil {
					failure = err
				}
			})
		}
		if inflight == 0 && (exhausted || failure != nil) {
			return failure == nil, failure
		}
		if inflight == 0 && r.due(ctx) {
			return false, workflow.NewContinueAsNewError(ctx, RolloutWorkflowName, r.in)
		}
		before := inflight
		if err := workflow.Await(ctx, func() bool { return inflight < before }); err != nil {
			return false, err
		}
	}
}

// due reports whether the history is long enough to continue as new.
func (r *policyRollout) due(ctx workflow.Context) bool {
	info := workflow.GetInfo(ctx)
	return info.GetContinueAsNewSuggested() || info.GetCurrentHistoryLength() > rolloutHistoryLimit
}

// closed records why the rollout stopped, unless it continues as new: as
// canceled when it was canceled, as failed when a step failed for good.
func (r *policyRollout) closed(ctx workflow.Context, err error) error {
	var cont *workflow.ContinueAsNewError
	switch {
	case err == nil, errors.As(err, &cont):
		return err
	case temporal.IsCanceledError(err) || ctx.Err() != nil:
		dctx, cancel := workflow.NewDisconnectedContext(ctx)
		defer cancel()
		if cerr := r.close(dctx, tenure.RolloutCanceled, "canceled"); cerr != nil {
			r.log.Warn("recording the cancellation", "error", cerr)
		}
		return err
	}
	if cerr := r.close(ctx, tenure.RolloutFailed, childError(err)); cerr != nil {
		r.log.Warn("recording the failure", "error", cerr)
	}
	return err
}

// close records the rollout's end in the read model.
func (r *policyRollout) close(ctx workflow.Context, status tenure.RolloutStatus, note string) error {
	actx := workflow.WithActivityOptions(ctx, rolloutOptions)
	step := RolloutStep{RolloutID: r.in.RolloutID, Actor: r.in.Actor, Status: status, Note: note}
	return workflow.ExecuteActivity(actx, CloseRolloutActivity, step).Get(ctx, nil)
}
