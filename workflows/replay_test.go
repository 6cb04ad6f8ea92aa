package workflows_test

import (
	"path/filepath"
	"testing"

	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/tenure-io/tenure/workflows"
)

// TestReplayCommittedHistories replays histories recorded from real runs (by the
// end-to-end test in cmd/tenure, with TENURE_WRITE_HISTORIES=1) against today's
// workflow code. A failure means a change would break running workflows: put it
// behind workflow.GetVersion.
func TestReplayCommittedHistories(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "histories", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"employee", "joiner", "leaver", "lock", "mover", "unlock"}
	if len(files) != len(want) {
		t.Fatalf("found histories %v, want one for each of %v", files, want)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			r := worker.NewWorkflowReplayer()
			for name, fn := range map[string]any{
				workflows.EmployeeWorkflowName: workflows.Employee,
				workflows.JoinerWorkflowName:   workflows.Joiner,
				workflows.MoverWorkflowName:    workflows.Mover,
				workflows.LeaverWorkflowName:   workflows.Leaver,
				workflows.LockWorkflowName:     workflows.Lock,
				workflows.UnlockWorkflowName:   workflows.Unlock,
			} {
				r.RegisterWorkflowWithOptions(fn, workflow.RegisterOptions{Name: name})
			}
			if err := r.ReplayWorkflowHistoryFromJSONFile(nil, f); err != nil {
				t.Fatal(err)
			}
		})
	}
}
