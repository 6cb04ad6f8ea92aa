package workflows

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/tenure-io/tenure"
)

// This file is not workflow code: it starts reconciliations, and keeps their
// schedules, through the Temporal client.

var _ tenure.Reconciler = (*Engine)(nil)

// reconcileRunTimeout bounds a whole reconciliation, held remediations
// included (ReconcileGuardWait).
const reconcileRunTimeout = ReconcileGuardWait + 24*time.Hour

// StartReconciliation starts the Reconcile workflow of r, whose ID is r.ID.
// Starting one that has already started is no error.
func (e *Engine) StartReconciliation(ctx context.Context, r tenure.ReconcileRequest) error {
	opts := client.StartWorkflowOptions{
		ID:                       r.ID,
		TaskQueue:                TaskQueue,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		WorkflowRunTimeout:       reconcileRunTimeout,
	}
	in := ReconcileInput{Apps: r.Apps, Mode: r.Mode, Actor: r.Actor, Trigger: r.Trigger}
	_, err := e.Client.ExecuteWorkflow(ctx, opts, ReconcileWorkflowName, in)
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &started) {
		return nil
	}
	return tenure.Unavailable("Temporal", err)
}

// RemediateFinding starts the remediation of one finding, remediate-<finding
// ID>. While one runs, asking again joins it; once one has succeeded, the
// finding is remediated and asking again is ECONFLICT; after one failed, it
// may run again.
func (e *Engine) RemediateFinding(ctx context.Context, f tenure.Finding, actor string) (string, error) {
	id := RemediationIDPrefix + f.ID
	opts := client.StartWorkflowOptions{
		ID:                       id,
		TaskQueue:                TaskQueue,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE_FAILED_ONLY,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		WorkflowRunTimeout:       reconcileRunTimeout,
	}
	in := ReconcileInput{Finding: f.ID, Actor: actor, Mode: tenure.ReconcileEnforce, Trigger: "remediate"}
	_, err := e.Client.ExecuteWorkflow(ctx, opts, ReconcileWorkflowName, in)
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &started) {
		return id, tenure.Errorf(tenure.ECONFLICT, "finding %s has been remediated already", f.ID)
	}
	if err != nil {
		return "", tenure.Unavailable("Temporal", err)
	}
	return id, nil
}

// ReconcileSchedule is one scheduled reconciliation: which apps, how often,
// in which mode.
type ReconcileSchedule struct {
	Apps  []string
	Every time.Duration
	Mode  tenure.ReconcileMode
}

// ID names the schedule after what it does: its apps and a digest of its
// settings, so that a changed setting is a new schedule and the old one goes.
func (s ReconcileSchedule) ID() string {
	apps := slices.Sorted(slices.Values(s.Apps))
	scope := "apps"
	if len(apps) == 1 {
		scope = apps[0]
	}
	sum := sha256.Sum256([]byte(fmt.Sprintf("%s\x00%s\x00%d", strings.Join(apps, ","), s.Mode, s.Every)))
	return ReconcileScheduleIDPrefix + scope + "-" + hex.EncodeToString(sum[:4])
}

// EnsureReconcileSchedules makes the reconcile schedules those of want:
// each is created, or left as it is, and every other schedule whose ID starts
// with ReconcileScheduleIDPrefix is deleted. Every worker calls it on start,
// with the policy's reconcile settings, so it is idempotent. A new schedule's
// first run comes after one interval.
func EnsureReconcileSchedules(ctx context.Context, c client.Client, want []ReconcileSchedule) error {
	keep := map[string]bool{}
	for _, s := range want {
		id := s.ID()
		keep[id] = true
		err := ensureSchedule(ctx, c, schedule{
			id: id, what: "reconcile " + strings.Join(s.Apps, ", "), workflow: ReconcileWorkflowName,
			arg:   ReconcileInput{Apps: s.Apps, Mode: s.Mode, Actor: TriggerSchedule, Trigger: TriggerSchedule},
			every: s.Every, runTimeout: reconcileRunTimeout, later: true,
			note: fmt.Sprintf("Reconciles %s against the policy every %s, mode %s (created by the Tenure worker from the policy's reconcile settings).",
				strings.Join(s.Apps, ", "), s.Every, s.Mode),
		})
		if err != nil {
			return err
		}
	}
	iter, err := c.ScheduleClient().List(ctx, client.ScheduleListOptions{PageSize: 100})
	if err != nil {
		return fmt.Errorf("listing the reconcile schedules: %w", err)
	}
	var stale []string
	for iter.HasNext() {
		entry, err := iter.Next()
		if err != nil {
			return fmt.Errorf("listing the reconcile schedules: %w", err)
		}
		if strings.HasPrefix(entry.ID, ReconcileScheduleIDPrefix) && !keep[entry.ID] {
			stale = append(stale, entry.ID)
		}
	}
	for _, id := range stale {
		err := c.ScheduleClient().GetHandle(ctx, id).Delete(ctx)
		var nf *serviceerror.NotFound
		if err != nil && !errors.As(err, &nf) {
			return fmt.Errorf("deleting the reconcile schedule %s, which the policy no longer asks for: %w", id, err)
		}
	}
	return nil
}
