package workflows

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/guard"
)

// Reconciliation reads what is actually in the apps and compares it with the
// policy. The Reconcile workflow reads each app in an activity of its own,
// which streams the app's accounts page by page and writes what it finds to
// the read model; only counts pass through the history, never an account or a
// person. In enforce mode it then asks the blast-radius guard about the
// remediations as a whole, waits for an admin while the guard holds them, and
// remediates: a resync through the person's own workflow, or a disable
// through the app's connector, read back.
const (
	// ReconcileWorkflowName is the workflow of one reconciliation, and of one
	// finding's remediation.
	ReconcileWorkflowName = "Reconcile"
	// ReconcileBeginActivity records the run and says which apps it reads.
	ReconcileBeginActivity = "reconcile.Begin"
	// ReconcileScanActivity reads one app and records its findings.
	ReconcileScanActivity = "reconcile.Scan"
	// ReconcileGuardActivity asks the guard about the remediations.
	ReconcileGuardActivity = "reconcile.Guard"
	// ReconcileRemediateActivity remediates the findings that need it.
	ReconcileRemediateActivity = "reconcile.Remediate"
	// ReconcileFinishActivity closes the run, and tells IT and subscribers.
	ReconcileFinishActivity = "reconcile.Finish"
	// ReconcileScheduleIDPrefix starts the ID of every reconcile schedule, and
	// so of every scheduled reconciliation.
	ReconcileScheduleIDPrefix = "reconcile-"
	// RemediationIDPrefix starts the workflow ID of one finding's remediation.
	RemediationIDPrefix = "remediate-"
	// ReconcileGuardWait is how long held remediations wait for an admin's
	// decision before the run ends as canceled.
	ReconcileGuardWait = 7 * 24 * time.Hour
)

// How a reconciliation was started.
const (
	TriggerAPI      = "api"
	TriggerConsole  = "console"
	TriggerSchedule = "schedule"
)

// ReconcileInput is what a reconciliation is asked to do. It carries app names
// and who asked, no personal data.
type ReconcileInput struct {
	// Apps to read; none means every app of the policy.
	Apps    []string             `json:"apps,omitempty"`
	Mode    tenure.ReconcileMode `json:"mode"`
	Actor   string               `json:"actor"`
	Trigger string               `json:"trigger"`
	// Finding, when set, asks for that one finding of an earlier run to be
	// remediated: nothing is read, and the run's ID is the finding's.
	Finding string `json:"finding,omitempty"`
}

// ReconcileBegin asks for a run to be recorded.
type ReconcileBegin struct {
	ID        string         `json:"id"`
	Input     ReconcileInput `json:"input"`
	StartedAt time.Time      `json:"started_at"`
}

// ReconcileScan asks for one app of a run to be read.
type ReconcileScan struct {
	ID   string               `json:"id"`
	App  string               `json:"app"`
	Mode tenure.ReconcileMode `json:"mode"`
}

// ReconcileAppResult is one app's part of a run: what it counted, or why it
// could not be read.
type ReconcileAppResult struct {
	App    string                 `json:"app"`
	Counts tenure.ReconcileCounts `json:"counts"`
	Error  string                 `json:"error,omitempty"`
}

// ReconcileGuardInput asks the guard about a run's remediations (or one
// finding's), or, with Preview, what it would say, recording nothing.
type ReconcileGuardInput struct {
	ID         string `json:"id"`
	Finding    string `json:"finding,omitempty"`
	Actor      string `json:"actor"`
	WorkflowID string `json:"workflow_id"`
	Preview    bool   `json:"preview,omitempty"`
}

// ReconcileRemediate asks for a run's findings (or one finding) to be remediated.
type ReconcileRemediate struct {
	ID      string `json:"id"`
	Finding string `json:"finding,omitempty"`
	Actor   string `json:"actor"`
}

// ReconcileRemediated counts what remediating did. Resyncing are the resyncs
// the persons' workflows had not yet reported on when the activity stopped
// waiting for them.
type ReconcileRemediated struct {
	Remediated int `json:"remediated"`
	Failed     int `json:"failed"`
	Resyncing  int `json:"resyncing"`
	// Error is why one finding's remediation failed.
	Error string `json:"error,omitempty"`
}

// ReconcileFinish asks for a run to be closed.
type ReconcileFinish struct {
	ID     string                 `json:"id"`
	Status tenure.ReconcileStatus `json:"status"`
	// Apps are every app's part; those that failed are recorded as such.
	Apps        []ReconcileAppResult `json:"apps"`
	Remediation ReconcileRemediated  `json:"remediation"`
	Guard       *tenure.GuardOutcome `json:"guard,omitempty"`
	Error       string               `json:"error,omitempty"`
	ClosedAt    time.Time            `json:"closed_at"`
}

// ReconcileResult is what a reconciliation reports: numbers only.
type ReconcileResult struct {
	ID          string                 `json:"id"`
	Status      tenure.ReconcileStatus `json:"status"`
	Counts      tenure.ReconcileCounts `json:"counts"`
	Remediation ReconcileRemediated    `json:"remediation"`
}

// Activity options of a reconciliation: short steps on the read model; each
// app's scan, which heartbeats as it pages; and the remediations, which do too.
var (
	reconcileStepOptions = workflow.ActivityOptions{
		StartToCloseTimeout:    time.Minute,
		ScheduleToCloseTimeout: time.Hour,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute,
			NonRetryableErrorTypes: []string{ReconcileInvalidError},
		},
	}
	reconcileScanOptions = workflow.ActivityOptions{
		StartToCloseTimeout: 4 * time.Hour,
		HeartbeatTimeout:    2 * time.Minute,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval: 10 * time.Second, BackoffCoefficient: 2, MaximumInterval: 5 * time.Minute,
			MaximumAttempts:        5,
			NonRetryableErrorTypes: []string{ReconcileInvalidError, "Permanent"},
		},
	}
	reconcileRemediateOptions = workflow.ActivityOptions{
		StartToCloseTimeout: 12 * time.Hour,
		HeartbeatTimeout:    2 * time.Minute,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval: 10 * time.Second, BackoffCoefficient: 2, MaximumInterval: 5 * time.Minute,
			MaximumAttempts:        10,
			NonRetryableErrorTypes: []string{ReconcileInvalidError},
		},
	}
)

// ReconcileInvalidError is the error type of a request no retry can fix: an
// app the policy does not have, a finding that does not exist.
const ReconcileInvalidError = "ReconcileInvalid"

// Reconcile runs one reconciliation, ID its workflow ID: it records the run,
// reads every app in parallel, and in enforce mode remediates what it found
// once the guard lets it. With ReconcileInput.Finding it remediates that one
// finding instead.
func Reconcile(ctx workflow.Context, in ReconcileInput) (ReconcileResult, error) {
	id := workflow.GetInfo(ctx).WorkflowExecution.ID
	if in.Finding != "" {
		return remediateOne(ctx, id, in)
	}
	if !in.Mode.Valid() {
		return ReconcileResult{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("mode must be report or enforce, not %q", in.Mode), ReconcileInvalidError, nil)
	}
	step := workflow.WithActivityOptions(ctx, reconcileStepOptions)
	var apps []string
	begin := ReconcileBegin{ID: id, Input: in, StartedAt: workflow.Now(ctx).UTC()}
	if err := workflow.ExecuteActivity(step, ReconcileBeginActivity, begin).Get(ctx, &apps); err != nil {
		return ReconcileResult{}, err
	}

	results := scanApps(ctx, id, in.Mode, apps)
	fin := ReconcileFinish{ID: id, Status: tenure.ReconcileCompleted, Apps: results}
	var failed []string
	for _, r := range results {
		if r.Error != "" {
			failed = append(failed, r.App)
		}
	}
	if len(failed) > 0 {
		fin.Status, fin.Error = tenure.ReconcileFailed, "could not read "+strings.Join(failed, ", ")
	}

	g := ReconcileGuardInput{ID: id, Actor: in.Actor, WorkflowID: id, Preview: in.Mode == tenure.ReconcileReport}
	if err := workflow.ExecuteActivity(step, ReconcileGuardActivity, g).Get(ctx, &fin.Guard); err != nil {
		return ReconcileResult{}, err
	}
	if in.Mode == tenure.ReconcileEnforce {
		released, why, err := awaitRelease(ctx, fin.Guard)
		if err != nil {
			return ReconcileResult{}, err
		}
		if released {
			rem := workflow.WithActivityOptions(ctx, reconcileRemediateOptions)
			req := ReconcileRemediate{ID: id, Actor: in.Actor}
			if err := workflow.ExecuteActivity(rem, ReconcileRemediateActivity, req).Get(ctx, &fin.Remediation); err != nil {
				fin.Status, fin.Error = tenure.ReconcileFailed, join(fin.Error, "remediation failed: "+failureMessage(err))
			}
		} else {
			fin.Status, fin.Error = tenure.ReconcileCanceled, join(fin.Error, why)
		}
	}
	fin.ClosedAt = workflow.Now(ctx).UTC()
	var res ReconcileResult
	err := workflow.ExecuteActivity(step, ReconcileFinishActivity, fin).Get(ctx, &res)
	return res, err
}

// scanApps reads every app at once, each in its own activity, and returns
// their results sorted by app. An app that cannot be read is a result with an
// error; the others go on.
func scanApps(ctx workflow.Context, id string, mode tenure.ReconcileMode, apps []string) []ReconcileAppResult {
	scan := workflow.WithActivityOptions(ctx, reconcileScanOptions)
	apps = slices.Sorted(slices.Values(apps))
	futures := make([]workflow.Future, len(apps))
	for i, app := range apps {
		futures[i] = workflow.ExecuteActivity(scan, ReconcileScanActivity, ReconcileScan{ID: id, App: app, Mode: mode})
	}
	out := make([]ReconcileAppResult, len(apps))
	for i, f := range futures {
		out[i].App = apps[i]
		if err := f.Get(ctx, &out[i]); err != nil {
			out[i] = ReconcileAppResult{App: apps[i], Error: failureMessage(err)}
		}
	}
	return out
}

// awaitRelease waits, while the guard holds the operation, for an admin to
// release or discard the hold. It reports whether the operation may go on,
// and why not.
func awaitRelease(ctx workflow.Context, verdict *tenure.GuardOutcome) (bool, string, error) {
	if verdict == nil || !verdict.Held {
		return true, "", nil
	}
	workflow.GetLogger(ctx).Info("the guard holds the remediations; waiting for a decision", "hold_id", verdict.HoldID)
	ch := workflow.GetSignalChannel(ctx, guard.DecisionSignal)
	deadline := workflow.Now(ctx).Add(ReconcileGuardWait)
	for {
		left := deadline.Sub(workflow.Now(ctx))
		if left <= 0 {
			return false, fmt.Sprintf("the guard's hold %s was not decided within %s", verdict.HoldID, ReconcileGuardWait), nil
		}
		var d guard.Decision
		ok, _ := ch.ReceiveWithTimeout(ctx, left, &d)
		if !ok {
			continue
		}
		if d.HoldID != "" && d.HoldID != verdict.HoldID {
			workflow.GetLogger(ctx).Warn("a decision on another hold", "hold_id", d.HoldID)
			continue
		}
		if !d.Release {
			return false, fmt.Sprintf("the guard's hold %s was discarded by %s", verdict.HoldID, d.Actor), nil
		}
		return true, "", nil
	}
}

// remediateOne remediates one finding through the guard. It fails when the
// remediation does, so that the same finding may be remediated again.
func remediateOne(ctx workflow.Context, id string, in ReconcileInput) (ReconcileResult, error) {
	step := workflow.WithActivityOptions(ctx, reconcileStepOptions)
	res := ReconcileResult{ID: id, Status: tenure.ReconcileCompleted}
	var verdict *tenure.GuardOutcome
	g := ReconcileGuardInput{ID: id, Finding: in.Finding, Actor: in.Actor, WorkflowID: id}
	if err := workflow.ExecuteActivity(step, ReconcileGuardActivity, g).Get(ctx, &verdict); err != nil {
		return res, err
	}
	released, why, err := awaitRelease(ctx, verdict)
	if err != nil {
		return res, err
	}
	if !released {
		res.Status = tenure.ReconcileCanceled
		return res, temporal.NewCanceledError(why)
	}
	rem := workflow.WithActivityOptions(ctx, reconcileRemediateOptions)
	req := ReconcileRemediate{ID: id, Finding: in.Finding, Actor: in.Actor}
	if err := workflow.ExecuteActivity(rem, ReconcileRemediateActivity, req).Get(ctx, &res.Remediation); err != nil {
		return res, err
	}
	if res.Remediation.Failed > 0 {
		res.Status = tenure.ReconcileFailed
		return res, temporal.NewApplicationError("the remediation failed: "+res.Remediation.Error, "RemediationFailed")
	}
	return res, nil
}

// failureMessage is an activity's failure as people read it.
func failureMessage(err error) string {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		return appErr.Message()
	}
	var timeout *temporal.TimeoutError
	if errors.As(err, &timeout) {
		return "timed out (" + timeout.TimeoutType().String() + ")"
	}
	return err.Error()
}

func join(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}
