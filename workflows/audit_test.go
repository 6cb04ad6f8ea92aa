package workflows_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"testing"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/tenure-io/tenure/workflows"
)

// checkpointEnv runs AuditCheckpoint with fn standing in for the activity.
func checkpointEnv(fn func(context.Context, workflows.AuditCheckpointInput) (workflows.AuditCheckpointResult, error)) *testsuite.TestWorkflowEnvironment {
	var s testsuite.WorkflowTestSuite
	s.SetLogger(log.NewStructuredLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError + 1}))))
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(workflows.AuditCheckpoint, workflow.RegisterOptions{Name: workflows.AuditCheckpointWorkflowName})
	env.RegisterActivityWithOptions(fn, activity.RegisterOptions{Name: workflows.AuditCheckpointActivity})
	return env
}

func TestAuditCheckpointRunsWhereTheKeyIs(t *testing.T) {
	want := workflows.AuditCheckpointResult{Seq: 42, Hash: "ab12", KeyID: "k1", Verified: 7, Published: true}
	var queue string
	env := checkpointEnv(func(ctx context.Context, _ workflows.AuditCheckpointInput) (workflows.AuditCheckpointResult, error) {
		queue = activity.GetInfo(ctx).TaskQueue
		return want, nil
	})
	env.ExecuteWorkflow(workflows.AuditCheckpointWorkflowName, workflows.AuditCheckpointInput{})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	var got workflows.AuditCheckpointResult
	if err := env.GetWorkflowResult(&got); err != nil || got != want {
		t.Fatalf("result = %+v, %v; want %+v", got, err, want)
	}
	if queue != workflows.AuditTaskQueue {
		t.Errorf("the checkpoint ran on %q, want %q where the key is", queue, workflows.AuditTaskQueue)
	}
}

func TestAuditCheckpointRetriesAnOutageButNotABrokenChain(t *testing.T) {
	attempts := 0
	env := checkpointEnv(func(context.Context, workflows.AuditCheckpointInput) (workflows.AuditCheckpointResult, error) {
		attempts++
		if attempts < 3 {
			return workflows.AuditCheckpointResult{}, errors.New("store: read the audit head: connection refused")
		}
		return workflows.AuditCheckpointResult{Seq: 1, Hash: "h"}, nil
	})
	env.ExecuteWorkflow(workflows.AuditCheckpointWorkflowName, workflows.AuditCheckpointInput{})
	if err := env.GetWorkflowError(); err != nil || attempts != 3 {
		t.Fatalf("after an outage: %v after %d attempts", err, attempts)
	}

	// The retry policy, not the activity, refuses to retry a broken chain.
	attempts = 0
	env = checkpointEnv(func(context.Context, workflows.AuditCheckpointInput) (workflows.AuditCheckpointResult, error) {
		attempts++
		return workflows.AuditCheckpointResult{}, temporal.NewApplicationError("the audit chain is broken at seq 4", workflows.AuditChainBrokenError)
	})
	env.ExecuteWorkflow(workflows.AuditCheckpointWorkflowName, workflows.AuditCheckpointInput{})
	var appErr *temporal.ApplicationError
	if err := env.GetWorkflowError(); !errors.As(err, &appErr) || appErr.Type() != workflows.AuditChainBrokenError || attempts != 1 {
		t.Fatalf("a broken chain: %v after %d attempts, want one attempt and %s", err, attempts, workflows.AuditChainBrokenError)
	}
}
