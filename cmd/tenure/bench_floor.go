package main

import (
	"context"
	"fmt"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// The engine floor's workflow, signal and local activity, registered only on
// the bench's own worker.
const (
	benchFloorWorkflow = "bench.Floor"
	benchFloorSignal   = "floor"
	benchFloorActivity = "bench.FloorCall"
)

// benchFloor is the least a kill switch can cost on this engine: for each
// signal, one workflow task that runs one local activity.
func benchFloor(ctx workflow.Context) error {
	signals := workflow.GetSignalChannel(ctx, benchFloorSignal)
	lctx := workflow.WithLocalActivityOptions(ctx, firstTryLocal)
	for {
		var round int
		signals.Receive(ctx, &round)
		if err := workflow.ExecuteLocalActivity(lctx, benchFloorActivity, round).Get(ctx, nil); err != nil {
			return err
		}
	}
}

// firstTryLocal matches the options of a lock's first try at each app.
var firstTryLocal = workflow.LocalActivityOptions{ScheduleToCloseTimeout: 10 * time.Second}

// floor times the engine floor in the same run as the locks: from sending the
// signal, through the same client and payload codec, to the local activity
// running on a worker with the production worker's pollers. The first round
// starts the workflow and is not counted, as the people locked were hired first.
func (b *benchRun) floor(ctx context.Context, rounds int) ([]time.Duration, error) {
	queue := b.prefix + "-floor"
	ran := make(chan time.Time, 1)
	w := sdkworker.New(b.s.client, queue, sdkworker.Options{
		MaxConcurrentWorkflowTaskPollers:       workerPollers,
		MaxConcurrentActivityTaskPollers:       workerPollers,
		MaxConcurrentWorkflowTaskExecutionSize: workerTaskSlots,
	})
	w.RegisterWorkflowWithOptions(benchFloor, workflow.RegisterOptions{Name: benchFloorWorkflow})
	w.RegisterActivityWithOptions(func(context.Context, int) error {
		ran <- time.Now()
		return nil
	}, activity.RegisterOptions{Name: benchFloorActivity})
	if err := w.Start(); err != nil {
		return nil, fmt.Errorf("starting the bench's worker: %w", err)
	}
	defer w.Stop()

	id := "bench-floor/" + b.prefix
	if _, err := b.s.client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: queue}, benchFloorWorkflow); err != nil {
		return nil, fmt.Errorf("starting the floor's workflow: %w", err)
	}
	// A kept data dir holds no open bench workflow.
	defer b.s.client.TerminateWorkflow(context.WithoutCancel(ctx), id, "", "the bench is done") //nolint:errcheck

	out := make([]time.Duration, 0, rounds)
	for round := 0; round <= rounds; round++ {
		t0 := time.Now()
		if err := b.s.client.SignalWorkflow(ctx, id, "", benchFloorSignal, round); err != nil {
			return nil, fmt.Errorf("signalling the floor's workflow: %w", err)
		}
		select {
		case t1 := <-ran:
			if round > 0 {
				out = append(out, t1.Sub(t0))
			}
		case <-time.After(benchStepTimeout):
			return nil, fmt.Errorf("the floor's local activity did not run within %s", benchStepTimeout)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if err := sleep(ctx, b.cfg.gap); err != nil {
			return nil, err
		}
	}
	return out, nil
}
