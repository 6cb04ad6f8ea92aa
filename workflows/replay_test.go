package workflows_test

import (
	"os"
	"path/filepath"
	"testing"

	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/tenure-io/tenure/internal/payloadcodec"
	"github.com/tenure-io/tenure/workflows"
)

// TestReplayCommittedHistories replays histories recorded from real runs (by the
// end-to-end tests in cmd/tenure, with TENURE_WRITE_HISTORIES=v<N>) against today's
// workflow code. A failure means a change would break running workflows: put it
// behind workflow.GetVersion.
func TestReplayCommittedHistories(t *testing.T) {
	codec := historyCodec(t)
	for _, h := range committedHistories(t) {
		t.Run(h.name, func(t *testing.T) {
			r, err := worker.NewWorkflowReplayerWithOptions(worker.WorkflowReplayerOptions{DataConverter: codec.DataConverter()})
			if err != nil {
				t.Fatal(err)
			}
			for name, fn := range workflows.Registry() {
				r.RegisterWorkflowWithOptions(fn, workflow.RegisterOptions{Name: name})
			}
			if err := r.ReplayWorkflowHistory(nil, h.history); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// committedHistory is one history file under testdata/histories.
type committedHistory struct {
	// name is the file's path under testdata/histories, such as v1/employee.json.
	name         string
	workflowType string
	history      *historypb.History
}

// committedHistories reads every history under testdata/histories/v*, one
// directory per workflow code version.
func committedHistories(t *testing.T) []committedHistory {
	t.Helper()
	root := filepath.Join("testdata", "histories")
	files, err := filepath.Glob(filepath.Join(root, "v*", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no committed histories: %v", err)
	}
	var out []committedHistory
	for _, f := range files {
		r, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		h, err := client.HistoryFromJSON(r, client.HistoryJSONOptions{})
		r.Close()
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if len(h.GetEvents()) == 0 {
			t.Fatalf("%s: no events", f)
		}
		name, _ := filepath.Rel(root, f)
		typ := h.GetEvents()[0].GetWorkflowExecutionStartedEventAttributes().GetWorkflowType().GetName()
		out = append(out, committedHistory{name: filepath.ToSlash(name), workflowType: typ, history: h})
	}
	return out
}

// historyCodec opens the histories' payloads. They are sealed as in production,
// with a key kept beside them for them alone (it protects no real data); older
// histories are plain, and pass.
func historyCodec(t *testing.T) *payloadcodec.Codec {
	t.Helper()
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
	return codec
}
