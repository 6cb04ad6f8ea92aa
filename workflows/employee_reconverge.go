package workflows

import (
	"go.temporal.io/sdk/workflow"

	"github.com/tenure-io/tenure"
)

// reconvergeChange guards CommandReconverge. A worker from before it ignored
// the command as unknown, so a run that took one there replays ignoring it.
const reconvergeChange = "reconverge"

// inLineChange makes a rollout's re-evaluation leave alone the apps where the
// person's account is already as the version in force wants it (inLine). A
// run that began on version 3 of baselineChange takes it; one that began
// earlier asks for it here, and replays without it where it took none.
const inLineChange = "rollout-skips-apps-in-line"

// reconverge brings the person's access in line with the policy version in
// force, as a mover does: what it gives is granted, apps it no longer gives are
// disabled, and entitlements Tenure granted that it no longer gives are
// revoked (the connector activities keep them managed until then); an app
// where nothing changes is not called. A locked
// person's re-evaluation waits for the unlock; someone not employed has
// nothing to re-evaluate. The outcome goes to the read model under the
// request's key, which is how a policy rollout follows its people.
func (e *employee) reconverge(ctx workflow.Context, c Command) error {
	if e.baseline == 0 && workflow.GetVersion(ctx, reconvergeChange, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		e.logger.Warn("ignoring an unknown command", "kind", c.Kind)
		return nil
	}
	key := c.key()
	out := Reconverged{Key: key, EmployeeID: e.EmployeeID, Status: tenure.RolloutItemDone}
	switch e.Status {
	case "", tenure.PersonTerminated:
		out.Status = tenure.RolloutItemSkipped
	case tenure.PersonLocked:
		e.Deferred = true
		out.Status = tenure.RolloutItemDeferred
	default:
		e.ran, e.ranResult = tenure.Run{}, Result{}
		skipInLine := e.baseline >= 3 || workflow.GetVersion(ctx, inLineChange, workflow.DefaultVersion, 1) >= 1
		if err := e.convergeWith(ctx, MoverWorkflowName, key, e.Status == tenure.PersonActive, revokeNow, "", skipInLine); err != nil {
			return err
		}
		switch e.ran.Status {
		case tenure.RunFailed:
			out.Status, out.Error = tenure.RolloutItemFailed, e.ran.Error
			for _, o := range e.ranResult.Failed() {
				out.FailedApps = append(out.FailedApps, o.App)
			}
		case tenure.RunCanceled, tenure.RunSuperseded:
			// A lock or a termination pre-empted it, or was queued ahead of
			// it: the unlock applies the policy, and a leaver takes
			// everything anyway.
			e.Deferred = true
			out.Status = tenure.RolloutItemDeferred
		}
	}
	lctx := workflow.WithLocalActivityOptions(ctx, localOptions)
	return workflow.ExecuteLocalActivity(lctx, RecordReconvergedActivity, out).Get(ctx, nil)
}
