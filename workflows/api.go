package workflows

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/tenure-io/tenure"
)

// Engine implements tenure.Engine over a Temporal client: it is how the API hands
// work to the person's workflow.
type Engine struct {
	Client client.Client
	// UIURL is the Temporal UI's base URL, for links to runs; "" for none.
	UIURL     string
	Namespace string
	// Priority is the Temporal priority key of the person's workflows this
	// engine starts, and so of their workflow tasks and activities; 0 is the
	// server's default (3 of 1 to 5, 1 first).
	Priority int
}

// BulkPriority is the Temporal priority of people a bulk operation (a batch
// of events, a CSV import) starts: after the default, so that their queued
// tasks wait behind everyone else's, the kill switch among them.
const BulkPriority = 4

// Bulk returns an engine like e whose new workflows start at BulkPriority.
func (e *Engine) Bulk() *Engine {
	b := *e
	b.Priority = BulkPriority
	return &b
}

var _ tenure.Engine = (*Engine)(nil)

// SubmitEvent signals the person's workflow with the event, starting it if needed.
func (e *Engine) SubmitEvent(ctx context.Context, ev tenure.Event) (string, error) {
	return e.command(ctx, ev.Employee.ID, Command{Kind: CommandEvent, RequestID: "event:" + ev.ID, Event: &ev})
}

// Lock asks the person's workflow to disable every account now. It first
// raises the workflow to UrgentPriority, so that the lock's workflow task, and
// every task of that person's after it, go ahead of any queued bulk work or
// rollout; a workflow that cannot be raised is locked all the same.
//
// The raise goes before the signal, not beside it: the server does reschedule
// a queued task whose workflow's priority changes, but that reschedule is one
// more pass through its task queues, and a raise that lands after the signal
// made the lock slower under load, not faster (docs/performance.md).
func (e *Engine) Lock(ctx context.Context, employeeID, requestID, actor string) (string, error) {
	e.raise(ctx, employeeID)
	urgent := *e
	urgent.Priority = UrgentPriority
	return urgent.command(ctx, employeeID, Command{Kind: CommandLock, RequestID: "lock:" + requestID, Actor: actor})
}

// UrgentPriority is the Temporal priority of a locked person's workflow.
const UrgentPriority = 1

// raise sets the person's running workflow to UrgentPriority. A person with
// no workflow yet gets it at the start; any other failure is left to the
// signal that follows, which does not depend on it.
func (e *Engine) raise(ctx context.Context, employeeID string) {
	ns := e.Namespace
	if ns == "" {
		ns = "default"
	}
	_, _ = e.Client.WorkflowService().UpdateWorkflowExecutionOptions(ctx, &workflowservice.UpdateWorkflowExecutionOptionsRequest{
		Namespace:         ns,
		WorkflowExecution: &commonpb.WorkflowExecution{WorkflowId: tenure.WorkflowID(employeeID)},
		WorkflowExecutionOptions: &workflowpb.WorkflowExecutionOptions{
			Priority: &commonpb.Priority{PriorityKey: UrgentPriority},
		},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"priority"}},
	})
}

// Unlock asks the person's workflow to restore what the lock disabled.
func (e *Engine) Unlock(ctx context.Context, employeeID, requestID, actor string) (string, error) {
	return e.command(ctx, employeeID, Command{Kind: CommandUnlock, RequestID: "unlock:" + requestID, Actor: actor})
}

// Retry asks the person's workflow to run its last change again in one app.
func (e *Engine) Retry(ctx context.Context, employeeID, app, requestID, actor string) (string, error) {
	id := tenure.WorkflowID(employeeID)
	c := Command{Kind: CommandRetry, RequestID: "retry:" + requestID, Actor: actor, App: app}
	err := e.Client.SignalWorkflow(ctx, id, "", CommandSignal, c)
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return "", tenure.Errorf(tenure.ECONFLICT, "%s has no running workflow to retry in", employeeID)
	}
	return id, tenure.Unavailable("Temporal", err)
}

// decideTimeout bounds how long a decision waits for the person's workflow to
// record it: a workflow busy with a long change still answers an Update at once,
// so only a stopped worker makes it wait this long.
const decideTimeout = 20 * time.Second

// Decide hands an approval decision to the person's workflow as DecideUpdate,
// and returns the status the workflow recorded, or why it refused.
func (e *Engine) Decide(ctx context.Context, a tenure.Approval, d tenure.Decision) (tenure.ApprovalStatus, error) {
	ctx, cancel := context.WithTimeout(ctx, decideTimeout)
	defer cancel()
	verdict := "deny"
	if d.Approve {
		verdict = "approve"
	}
	h, err := e.Client.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID: tenure.WorkflowID(a.EmployeeID),
		// A repeated request (a retried click) gets the first answer again.
		UpdateID:     "decision:" + a.ID + ":" + d.By + ":" + verdict,
		UpdateName:   DecideUpdate,
		Args:         []any{d},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	var status tenure.ApprovalStatus
	if err == nil {
		err = h.Get(ctx, &status)
	}
	return status, decideError(a, err)
}

// decideError turns the workflow's refusal into the API's error codes.
func decideError(a tenure.Approval, err error) error {
	var (
		nf     *serviceerror.NotFound
		appErr *temporal.ApplicationError
	)
	switch {
	case err == nil:
		return nil
	case errors.As(err, &nf):
		return tenure.Errorf(tenure.ECONFLICT, "approval %s can no longer be decided: the person's workflow has closed", a.ID)
	case errors.As(err, &appErr):
		switch appErr.Type() {
		case RefusedDecided:
			return tenure.Errorf(tenure.ECONFLICT, "%s", appErr.Message())
		case RefusedNotFound, RefusedNotYours:
			return tenure.Errorf(tenure.ENOTFOUND, "approval %q not found", a.ID)
		case RefusedOwnAccess:
			return tenure.Errorf(tenure.EFORBIDDEN, "%s", appErr.Message())
		}
	}
	return tenure.Unavailable("Temporal", err)
}

func (e *Engine) command(ctx context.Context, employeeID string, c Command) (string, error) {
	id := tenure.WorkflowID(employeeID)
	opts := client.StartWorkflowOptions{
		ID:                       id,
		TaskQueue:                TaskQueue,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		Priority:                 temporal.Priority{PriorityKey: e.Priority},
	}
	_, err := e.Client.SignalWithStartWorkflow(ctx, id, CommandSignal, c, opts, EmployeeWorkflowName, EmployeeInput{EmployeeID: employeeID, Baseline: Baseline})
	if err != nil {
		return "", tenure.Unavailable("Temporal", err)
	}
	return id, nil
}

// Ready returns nil once Temporal answers and a worker polls Tenure's task queue.
func (e *Engine) Ready(ctx context.Context) error {
	if _, err := e.Client.CheckHealth(ctx, &client.CheckHealthRequest{}); err != nil {
		return tenure.Unavailable("Temporal", err)
	}
	resp, err := e.Client.DescribeTaskQueue(ctx, TaskQueue, enumspb.TASK_QUEUE_TYPE_WORKFLOW)
	if err != nil {
		return tenure.Unavailable("Temporal", err)
	}
	if len(resp.GetPollers()) == 0 {
		return tenure.Errorf(tenure.EUNAVAILABLE, "no worker polls task queue %q yet", TaskQueue)
	}
	return nil
}

// RunURL is the Temporal UI's page for a workflow, or "" when no UI is known.
func (e *Engine) RunURL(workflowID string) string {
	if e.UIURL == "" {
		return ""
	}
	ns := e.Namespace
	if ns == "" {
		ns = "default"
	}
	return fmt.Sprintf("%s/namespaces/%s/workflows/%s", e.UIURL, url.PathEscape(ns), url.PathEscape(workflowID))
}
