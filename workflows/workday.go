package workflows

import (
	"context"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// Workday has no push: a Temporal Schedule runs WorkdaySync now and then, and its
// one activity fetches the RaaS report, diffs it against the read model and
// hands what changed to intake.
const (
	// WorkdaySyncWorkflowName is the workflow the schedule starts.
	WorkdaySyncWorkflowName = "WorkdaySync"
	// WorkdaySyncActivity fetches, diffs and emits; it runs only on workers that
	// hold the Workday credentials, which poll WorkdayTaskQueue.
	WorkdaySyncActivity = "workday.Sync"
	// WorkdayTaskQueue is where the sync activity runs, so that only processes
	// configured with the Workday credentials ever take it.
	WorkdayTaskQueue = "tenure-workday"
	// WorkdayScheduleID is the schedule's ID, and the prefix of its runs' IDs.
	WorkdayScheduleID = "workday-sync"
	// DefaultWorkdayInterval is how often the report is pulled when unset.
	DefaultWorkdayInterval = 15 * time.Minute
)

// WorkdaySyncInput is the scheduled run's input. It carries no credentials: the
// activity's worker holds them, so they never reach history.
type WorkdaySyncInput struct{}

// WorkdaySyncResult counts what one sync did. It holds no personal data, only
// numbers, so the history shows the outcome and nothing about anyone.
type WorkdaySyncResult struct {
	Rows         int `json:"rows"`
	Refused      int `json:"refused"`
	Hires        int `json:"hires"`
	Rehires      int `json:"rehires"`
	Updates      int `json:"updates"`
	Terminations int `json:"terminations"`
	// Duplicates are events a previous run had already handed over.
	Duplicates int `json:"duplicates"`
	// Held are changes the blast-radius guard holds for an admin's decision.
	Held int `json:"held,omitempty"`
}

// WorkdaySync runs one pull of the Workday report. The activity is idempotent:
// its event IDs come from the report and the read model, so a retried or
// overlapping run hands over nothing new.
func WorkdaySync(ctx workflow.Context, _ WorkdaySyncInput) (WorkdaySyncResult, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		TaskQueue: WorkdayTaskQueue,
		// A report of tens of thousands of workers takes a while to fetch and diff;
		// the activity heartbeats as it goes.
		StartToCloseTimeout: 10 * time.Minute,
		HeartbeatTimeout:    time.Minute,
		// If no worker holds the credentials, give up before the next run is due
		// rather than pile up.
		ScheduleToCloseTimeout: 30 * time.Minute,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        10 * time.Second,
			BackoffCoefficient:     2,
			MaximumInterval:        5 * time.Minute,
			NonRetryableErrorTypes: []string{WorkdayAuthError, WorkdayReportError},
		},
	})
	var res WorkdaySyncResult
	err := workflow.ExecuteActivity(ctx, WorkdaySyncActivity, WorkdaySyncInput{}).Get(ctx, &res)
	return res, err
}

// Error types of the sync activity that retrying cannot fix.
const (
	// WorkdayAuthError: Workday refused the credentials.
	WorkdayAuthError = "WorkdayAuth"
	// WorkdayReportError: the report is not a RaaS JSON report.
	WorkdayReportError = "WorkdayReport"
)

// EnsureWorkdaySchedule creates the schedule that runs WorkdaySync every
// interval, or brings an existing one to this interval. Every worker calls it
// on start, so it is idempotent: whichever creates it first, the others update
// it to the same thing. A new schedule runs once at once.
func EnsureWorkdaySchedule(ctx context.Context, c client.Client, every time.Duration) error {
	return ensureSchedule(ctx, c, schedule{
		id: WorkdayScheduleID, what: "Workday", workflow: WorkdaySyncWorkflowName, arg: WorkdaySyncInput{}, every: every,
		// One run is enough: it does the whole report.
		runTimeout: 45 * time.Minute,
		note:       "Pulls the Workday RaaS report and hands what changed to Tenure (created by the Tenure worker).",
	})
}
