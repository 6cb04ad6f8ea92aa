package workflows

import (
	"context"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// Every hour a Temporal Schedule runs AuditCheckpoint, whose one activity signs
// the audit chain's head, keeps the signed checkpoint and publishes it as an
// audit.checkpoint outbound event, so that a copy lives outside Tenure's
// database. It runs only where the signing key is.
const (
	// AuditCheckpointWorkflowName is the workflow the schedule starts.
	AuditCheckpointWorkflowName = "AuditCheckpoint"
	// AuditCheckpointActivity verifies the chain since the last checkpoint,
	// signs its head, stores the checkpoint and publishes it.
	AuditCheckpointActivity = "audit.Checkpoint"
	// AuditTaskQueue is where the checkpoint activity runs: only workers that
	// hold the audit signing key poll it, and the key never leaves them.
	AuditTaskQueue = "tenure-audit"
	// AuditCheckpointScheduleID is the schedule's ID, and the prefix of its runs' IDs.
	AuditCheckpointScheduleID = "audit-checkpoint"
	// AuditCheckpointInterval is how often the head is signed.
	AuditCheckpointInterval = time.Hour
	// AuditChainBrokenError is the activity's error type when the chain no
	// longer extends the last signed checkpoint: tampering, which retrying
	// cannot fix and which must never be signed over.
	AuditChainBrokenError = "AuditChainBroken"
)

// AuditCheckpointInput is the scheduled run's input. It carries no key: the
// activity's worker holds it, so it never reaches history.
type AuditCheckpointInput struct{}

// AuditCheckpointResult says what one run signed: the chain's position and
// hash, never a record's contents.
type AuditCheckpointResult struct {
	// Seq and Hash are the head signed; 0 and "" when the trail is empty.
	Seq  int64  `json:"seq"`
	Hash string `json:"hash"`
	// KeyID names the key that signed the checkpoint.
	KeyID string `json:"key_id,omitempty"`
	// Verified is how many records were checked before signing: those since
	// the last checkpoint, or all of them when there is none to trust.
	Verified int64 `json:"verified"`
	// Published is false when outbound events are off.
	Published bool `json:"published"`
}

// AuditCheckpoint runs one checkpoint of the audit chain. The activity is
// idempotent: a checkpoint is stored once per seq, and its event's ID comes
// from the seq, so a retry or a quiet hour publishes nothing new.
func AuditCheckpoint(ctx workflow.Context, _ AuditCheckpointInput) (AuditCheckpointResult, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		TaskQueue: AuditTaskQueue,
		// The first run, and the first after the key changes, walks the whole
		// trail; later runs walk one hour of it.
		StartToCloseTimeout: 30 * time.Minute,
		// If no worker holds the key, give up before the next run is due
		// rather than pile up.
		ScheduleToCloseTimeout: 50 * time.Minute,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        10 * time.Second,
			BackoffCoefficient:     2,
			MaximumInterval:        5 * time.Minute,
			NonRetryableErrorTypes: []string{AuditChainBrokenError},
		},
	})
	var res AuditCheckpointResult
	err := workflow.ExecuteActivity(ctx, AuditCheckpointActivity, AuditCheckpointInput{}).Get(ctx, &res)
	return res, err
}

// EnsureAuditCheckpointSchedule creates the schedule that runs AuditCheckpoint
// every interval, or brings an existing one to this interval. Every worker that
// holds the signing key calls it on start.
func EnsureAuditCheckpointSchedule(ctx context.Context, c client.Client, every time.Duration) error {
	return ensureSchedule(ctx, c, schedule{
		id: AuditCheckpointScheduleID, what: "audit checkpoint", workflow: AuditCheckpointWorkflowName,
		arg: AuditCheckpointInput{}, every: every, runTimeout: time.Hour,
		note: "Signs the audit chain's head and publishes it as an audit.checkpoint event (created by the Tenure worker).",
	})
}
