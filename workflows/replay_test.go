package workflows_test

import (
	"os"
	"path/filepath"
	"testing"

	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/tenure-io/tenure/internal/payloadcodec"
	"github.com/tenure-io/tenure/workflows"
)

// TestReplayCommittedHistories replays histories recorded from real runs (by the
// end-to-end test in cmd/tenure, with TENURE_WRITE_HISTORIES=v<N>) against today's
// workflow code. A failure means a change would break running workflows: put it
// behind workflow.GetVersion.
func TestReplayCommittedHistories(t *testing.T) {
	// Payloads are sealed as in production, with a key kept beside the histories
	// for them alone (it protects no real data); older histories are plain, and pass.
	key, err := os.ReadFile(filepath.Join("testdata", "histories", "codec.key"))
	if err != nil {
		t.Fatal(err)
	}
	k, err := payloadcodec.ParseKey(string(key))
	if err != nil {
		t.Fatal(err)
	}
	codec, err := payloadcodec.New(k)
	if err != nil {
		t.Fatal(err)
	}
	// One directory per workflow code version, each with every workflow type.
	versions, err := filepath.Glob(filepath.Join("testdata", "histories", "v*"))
	if err != nil || len(versions) == 0 {
		t.Fatalf("no committed histories: %v", err)
	}
	var files []string
	for _, v := range versions {
		for _, name := range []string{"employee", "joiner", "leaver", "lock", "mover", "unlock"} {
			files = append(files, filepath.Join(v, name+".json"))
		}
	}
	for _, f := range files {
		t.Run(filepath.Base(filepath.Dir(f))+"/"+filepath.Base(f), func(t *testing.T) {
			r, err := worker.NewWorkflowReplayerWithOptions(worker.WorkflowReplayerOptions{DataConverter: codec.DataConverter()})
			if err != nil {
				t.Fatal(err)
			}
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
