package workflows_test

import (
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	enumspb "go.temporal.io/api/enums/v1"
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
	sealed, migrating := historyCodec(t), historyCodec(t, payloadcodec.AllowPlaintext())
	for _, h := range committedHistories(t) {
		t.Run(h.name, func(t *testing.T) {
			// v0 ran before payloads were sealed: replaying it is what a
			// deployment does while such runs finish, with plaintext allowed.
			codec := sealed
			if strings.HasPrefix(h.name, "v0/") {
				codec = migrating
			}
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

// TestEveryWorkflowHasAHistory keeps the replay test honest: a workflow type with
// no committed history would never be checked for a change that breaks its runs,
// and nor would the Employee workflow's continue-as-new, which a person's workflow
// reaches only after years of changes.
func TestEveryWorkflowHasAHistory(t *testing.T) {
	byType := map[string][]string{}
	var continued, carried bool
	for _, h := range committedHistories(t) {
		byType[h.workflowType] = append(byType[h.workflowType], h.name)
		events := h.history.GetEvents()
		last := events[len(events)-1]
		if h.workflowType == workflows.EmployeeWorkflowName &&
			last.GetEventType() == enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW {
			continued = true
		}
		if events[0].GetWorkflowExecutionStartedEventAttributes().GetContinuedExecutionRunId() != "" {
			carried = true
		}
	}
	var names []string
	for name := range workflows.Registry() {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if len(byType[name]) == 0 {
			t.Errorf("no committed history of the %s workflow: record one with TENURE_WRITE_HISTORIES (see cmd/tenure)", name)
		}
	}
	for typ, files := range byType {
		if !slices.Contains(names, typ) {
			t.Errorf("%v: histories of %s, which the registry does not have", files, typ)
		}
	}
	if !continued {
		t.Error("no committed history of an Employee run that continued as new")
	}
	if !carried {
		t.Error("no committed history of a run that started from a continue-as-new")
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
	plain, err := filepath.Glob(filepath.Join(root, "v*", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	// A long history, such as one that reached the continue-as-new limit, is kept
	// gzipped.
	zipped, err := filepath.Glob(filepath.Join(root, "v*", "*.json.gz"))
	if err != nil {
		t.Fatal(err)
	}
	files := append(plain, zipped...)
	if len(files) == 0 {
		t.Fatal("no committed histories")
	}
	var out []committedHistory
	for _, f := range files {
		h, err := readHistory(f)
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

// readHistory reads a history as the Temporal CLI and UI export it, gzipped when
// its name ends in .gz.
func readHistory(path string) (*historypb.History, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(path, ".gz") {
		z, err := gzip.NewReader(f)
		if err != nil {
			return nil, err
		}
		defer z.Close()
		r = z
	}
	return client.HistoryFromJSON(r, client.HistoryJSONOptions{})
}

// historyCodec opens the histories' payloads. They are sealed as in production,
// with a key kept beside them for them alone (it protects no real data); older
// histories are plain, and need payloadcodec.AllowPlaintext.
func historyCodec(t *testing.T, opts ...payloadcodec.Option) *payloadcodec.Codec {
	t.Helper()
	key, err := os.ReadFile(filepath.Join("testdata", "histories", "codec.key"))
	if err != nil {
		t.Fatal(err)
	}
	k, err := payloadcodec.ParseKey(string(key))
	if err != nil {
		t.Fatal(err)
	}
	codec, err := payloadcodec.New(k, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return codec
}

// TestARunGivenItsBaselineHonoursAnOlderWorkersMarker replays runs as a
// deployment that upgraded its API before its workers makes them: the new API
// starts a person's workflow with EmployeeInput.Baseline, an older worker, which
// knows nothing of the field, runs its first workflow task and records the
// version it takes in a marker, and a new worker replays it. v6's runs took
// version 1, whose joiner schedules each app call as an activity; a replay that
// went by the input's version instead would call the apps in place, and fail.
func TestARunGivenItsBaselineHonoursAnOlderWorkersMarker(t *testing.T) {
	codec := historyCodec(t)
	dc := codec.DataConverter()
	h, err := readHistory(filepath.Join("testdata", "histories", "v6", "employee.json"))
	if err != nil {
		t.Fatal(err)
	}
	start := h.GetEvents()[0].GetWorkflowExecutionStartedEventAttributes()
	var in workflows.EmployeeInput
	if err := dc.FromPayloads(start.GetInput(), &in); err != nil {
		t.Fatal(err)
	}
	if in.Baseline != 0 {
		t.Fatalf("v6's run was given baseline %d; it predates the field", in.Baseline)
	}
	in.Baseline = workflows.Baseline
	payloads, err := dc.ToPayloads(in)
	if err != nil {
		t.Fatal(err)
	}
	start.Input = payloads

	r, err := worker.NewWorkflowReplayerWithOptions(worker.WorkflowReplayerOptions{DataConverter: dc})
	if err != nil {
		t.Fatal(err)
	}
	for name, fn := range workflows.Registry() {
		r.RegisterWorkflowWithOptions(fn, workflow.RegisterOptions{Name: name})
	}
	if err := r.ReplayWorkflowHistory(nil, h); err != nil {
		t.Fatal(err)
	}
}
