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

// workdayEnv runs WorkdaySync with sync standing in for the activity.
func workdayEnv(sync func(context.Context, workflows.WorkdaySyncInput) (workflows.WorkdaySyncResult, error)) *testsuite.TestWorkflowEnvironment {
	var s testsuite.WorkflowTestSuite
	s.SetLogger(log.NewStructuredLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError + 1}))))
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(workflows.WorkdaySync, workflow.RegisterOptions{Name: workflows.WorkdaySyncWorkflowName})
	env.RegisterActivityWithOptions(sync, activity.RegisterOptions{Name: workflows.WorkdaySyncActivity})
	return env
}

func TestWorkdaySyncReportsWhatTheActivityDid(t *testing.T) {
	want := workflows.WorkdaySyncResult{Rows: 3, Hires: 2, Terminations: 1}
	var queue string
	env := workdayEnv(func(ctx context.Context, _ workflows.WorkdaySyncInput) (workflows.WorkdaySyncResult, error) {
		queue = activity.GetInfo(ctx).TaskQueue
		return want, nil
	})
	env.ExecuteWorkflow(workflows.WorkdaySyncWorkflowName, workflows.WorkdaySyncInput{})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	var got workflows.WorkdaySyncResult
	if err := env.GetWorkflowResult(&got); err != nil || got != want {
		t.Fatalf("result = %+v, %v; want %+v", got, err, want)
	}
	if queue != workflows.WorkdayTaskQueue {
		t.Errorf("the sync ran on %q, want %q where the credentials are", queue, workflows.WorkdayTaskQueue)
	}
}

func TestWorkdaySyncRetriesAnOutageButNotBadCredentials(t *testing.T) {
	attempts := 0
	env := workdayEnv(func(context.Context, workflows.WorkdaySyncInput) (workflows.WorkdaySyncResult, error) {
		attempts++
		if attempts < 3 {
			return workflows.WorkdaySyncResult{}, errors.New("fetching the Workday report: 503 Service Unavailable")
		}
		return workflows.WorkdaySyncResult{Rows: 1, Duplicates: 1}, nil
	})
	env.ExecuteWorkflow(workflows.WorkdaySyncWorkflowName, workflows.WorkdaySyncInput{})
	if err := env.GetWorkflowError(); err != nil || attempts != 3 {
		t.Fatalf("after an outage: %v after %d attempts", err, attempts)
	}

	attempts = 0
	env = workdayEnv(func(context.Context, workflows.WorkdaySyncInput) (workflows.WorkdaySyncResult, error) {
		attempts++
		return workflows.WorkdaySyncResult{}, temporal.NewNonRetryableApplicationError("workday refused the credentials", workflows.WorkdayAuthError, nil)
	})
	env.ExecuteWorkflow(workflows.WorkdaySyncWorkflowName, workflows.WorkdaySyncInput{})
	var appErr *temporal.ApplicationError
	if err := env.GetWorkflowError(); !errors.As(err, &appErr) || appErr.Type() != workflows.WorkdayAuthError || attempts != 1 {
		t.Fatalf("bad credentials: %v after %d attempts, want one attempt and %s", err, attempts, workflows.WorkdayAuthError)
	}
}
