package main

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	taskqueuepb "go.temporal.io/api/taskqueue/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/internal/devserver"
	"github.com/tenure-io/tenure/workflows"
)

// A lock on someone whose workflow task is already queued at the bulk's
// priority, behind other bulk work, is served first: the lock raises the
// workflow, and the real server reschedules a queued task whose workflow's
// priority changed.
func TestALockGoesAheadOfQueuedBulkWork(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the embedded Temporal server")
	}
	srv, err := devserver.Start(context.Background(), devserver.Options{DataDir: t.TempDir(), UIPort: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Stop() })
	c, err := client.Dial(client.Options{HostPort: srv.HostPort(), Namespace: srv.Namespace()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	ctx := t.Context()
	engine := &workflows.Engine{Client: c, Namespace: srv.Namespace()}
	bulk := engine.Bulk()

	// No worker polls yet: every person's first task queues at the bulk's
	// priority, the locked person's last.
	var people []string
	for i := range 20 {
		id := fmt.Sprintf("P%02d", i)
		people = append(people, id)
		ev := tenure.Event{ID: "hire-" + id, Type: tenure.EventHire, Employee: tenure.Person{ID: id}}
		if _, err := bulk.SubmitEvent(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	const locked = "P19"
	if _, err := engine.Lock(ctx, locked, "r1", "admin"); err != nil {
		t.Fatal(err)
	}
	// The raise reschedules the queued task through the server's own queues:
	// wait until the task queue holds it at the urgent priority.
	for deadline := time.Now().Add(time.Minute); ; {
		d, err := c.WorkflowService().DescribeTaskQueue(ctx, &workflowservice.DescribeTaskQueueRequest{
			Namespace: srv.Namespace(), TaskQueue: &taskqueuepb.TaskQueue{Name: workflows.TaskQueue},
			TaskQueueType: enumspb.TASK_QUEUE_TYPE_WORKFLOW, ReportStats: true,
		})
		if err != nil {
			t.Fatal(err)
		}
		if d.GetStatsByPriorityKey()[workflows.UrgentPriority].GetApproximateBacklogCount() > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after a minute the task queue holds no urgent task: %v", d.GetStatsByPriorityKey())
		}
		time.Sleep(50 * time.Millisecond)
	}

	// One worker, two tasks at a time (the SDK's least): the order it is
	// handed the tasks is the order of their priorities.
	var (
		mu    sync.Mutex
		order []string
	)
	first := func(ctx workflow.Context, in workflows.EmployeeInput) error {
		mu.Lock()
		defer mu.Unlock()
		if !slices.Contains(order, in.EmployeeID) {
			order = append(order, in.EmployeeID)
		}
		return nil
	}
	w := sdkworker.New(c, workflows.TaskQueue, sdkworker.Options{
		MaxConcurrentWorkflowTaskPollers:       2, // the least the SDK takes
		MaxConcurrentWorkflowTaskExecutionSize: 2,
	})
	w.RegisterWorkflowWithOptions(first, workflow.RegisterOptions{Name: workflows.EmployeeWorkflowName})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	deadline := time.Now().Add(time.Minute)
	for {
		mu.Lock()
		n := len(order)
		got := slices.Clone(order)
		mu.Unlock()
		if n == len(people) {
			if !slices.Contains(got[:2], locked) {
				t.Fatalf("tasks were served in the order %v; want the locked %s among the first two", got, locked)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after a minute, %d of %d workflows had run: %v", n, len(people), got)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
