// Package workflows holds Tenure's Temporal workflows: one long-running Employee
// workflow per person, which serialises that person's HR events, timers, locks and
// approvals, and the Joiner, Mover, Leaver, Lock and Unlock child workflows that
// change access in every app. The workflow code is deterministic and does no
// I/O: all I/O happens in activities, which are called by name. Two things here
// are not workflow code and do call Temporal: Engine (api.go, reconcile_api.go),
// through which the API starts and signals these workflows, and the schedules
// (schedule.go), which EnsureWorkdaySchedule, EnsureAuditCheckpointSchedule and
// EnsureReconcileSchedules create.
package workflows

import (
	"fmt"
	"time"
)

// TaskQueue is the task queue that Tenure's workers poll.
const TaskQueue = "tenure"

// UrgentTaskQueue is the kill switch's lane: Lock children and leaver phase 1,
// with their calls into the apps, run here, on pollers and slots of their own
// on every worker, so that they never queue behind a bulk of joiners.
const UrgentTaskQueue = "tenure-urgent"

// Workflow type names, as they appear in the Temporal UI.
const (
	EmployeeWorkflowName = "Employee"
	JoinerWorkflowName   = "Joiner"
	MoverWorkflowName    = "Mover"
	LeaverWorkflowName   = "Leaver"
	LockWorkflowName     = "Lock"
	UnlockWorkflowName   = "Unlock"
)

// CommandSignal is the signal through which HR events, lock requests and approval
// decisions reach a person's workflow.
const CommandSignal = "command"

// StateQuery returns the Employee workflow's state, for IT and for tests.
const StateQuery = "state"

// Names of the activities that are not tied to a connector.
const (
	EvaluatePolicyActivity   = "policy.Evaluate"
	RecordEmployeeActivity   = "store.RecordEmployee"
	RecordRunActivity        = "store.RecordRun"
	ListAccessActivity       = "store.ListAccess"
	RecordFailureActivity    = "store.RecordFailure"
	RequestApprovalActivity  = "approvals.Request"
	RecordDecisionActivity   = "approvals.Record"
	RemindApprovalActivity   = "approvals.Remind"
	EscalateApprovalActivity = "approvals.Escalate"
	AccessReadyActivity      = "notify.AccessReady"
	LeaverSummaryActivity    = "notify.LeaverSummary"
	RecordDiscardActivity    = "store.RecordDiscard"
	RecordRefusalActivity    = "approvals.RecordRefusal"
	// RecordSupersededActivity records a change that a termination or lock
	// superseded; RecordNoticeFailedActivity an approval whose request
	// failed for good.
	RecordSupersededActivity   = "store.RecordSuperseded"
	RecordNoticeFailedActivity = "approvals.RecordNoticeFailed"
)

// Names of a policy rollout's activities, and of the one with which a person's
// workflow records how their re-evaluation went.
const (
	ActivateRolloutActivity   = "rollout.Activate"
	NextRolloutBatchActivity  = "rollout.NextBatch"
	RunRolloutBatchActivity   = "rollout.RunBatch"
	FinishRolloutActivity     = "rollout.Finish"
	CloseRolloutActivity      = "rollout.Close"
	RecordReconvergedActivity = "rollout.RecordReconverged"
)

// Connector operations. A connector kind registers each as "<kind>.<Operation>",
// for example "scim.CreateAccount", so a history reads like what happened.
const (
	OpCreateAccount    = "CreateAccount"
	OpSyncEntitlements = "SyncEntitlements"
	OpEnableAccount    = "EnableAccount"
	OpDisableAccount   = "DisableAccount"
	OpDeleteAccount    = "DeleteAccount"
	// OpProvisionAccount is CreateAccount then SyncEntitlements, and
	// OpRevokeAccount DisableAccount then SyncEntitlements, each as one
	// activity: a joiner's or mover's one step per app.
	OpProvisionAccount = "ProvisionAccount"
	OpRevokeAccount    = "RevokeAccount"
)

// ConnectorActivity names the activity for one operation of one connector kind.
func ConnectorActivity(kind, op string) string { return kind + "." + op }

// InPlaceActivity names the local activity that makes one operation's first
// try in place (see callInPlace), such as "inplace.scim.DisableAccount": it
// returns the operation's failure sealed in its result (InPlaceResult).
func InPlaceActivity(kind, op string) string { return InPlace(ConnectorActivity(kind, op)) }

// InPlace names the local activity that makes activity's first try in place,
// such as "inplace.notify.AccessReady".
func InPlace(activity string) string { return "inplace." + activity }

// ChildWorkflowID returns the deterministic ID of a lifecycle child workflow, such
// as employee/E1/joiner/evt-1.
func ChildWorkflowID(employeeID, kind, key string) string {
	return fmt.Sprintf("employee/%s/%s/%s", employeeID, kind, key)
}

// DefaultRetention is how long a leaver's disabled accounts are kept before phase 2.
const DefaultRetention = 30 * 24 * time.Hour
