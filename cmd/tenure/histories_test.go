package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/workflows"
)

// historiesOut prepares a test to record histories for the replay test in
// workflows/ when TENURE_WRITE_HISTORIES=v<N> is set: payloads are sealed with the
// key committed beside the histories, and the directory they go to is returned.
// Without the variable it returns "" and the test records nothing. Call it before
// the stack starts, as it sets the codec key in the environment.
func historiesOut(t *testing.T) string {
	t.Helper()
	version := os.Getenv("TENURE_WRITE_HISTORIES")
	if version == "" {
		return ""
	}
	root := filepath.Join("..", "..", "workflows", "testdata", "histories")
	key, err := os.ReadFile(filepath.Join(root, "codec.key"))
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(codecKeyEnv, strings.TrimSpace(string(key)))
	out := filepath.Join(root, filepath.Base(version))
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	return out
}

// writeRunHistory saves one run's history as JSON, as the Temporal CLI and UI
// export it; gzipped when path ends in .gz, for a long history. A workflow that
// does not exist is skipped: runs of later versions are inline, with no child.
func writeRunHistory(t *testing.T, c client.Client, workflowID, runID, path string) {
	t.Helper()
	iter := c.GetWorkflowHistory(context.Background(), workflowID, runID, false, 0)
	h := &historypb.History{}
	for iter.HasNext() {
		ev, err := iter.Next()
		var notFound *serviceerror.NotFound
		if errors.As(err, &notFound) {
			t.Logf("no history for %s: skipped", workflowID)
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		h.Events = append(h.Events, ev)
	}
	b, err := protojson.MarshalOptions{Indent: "  "}.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasSuffix(path, ".gz") {
		var z bytes.Buffer
		w := gzip.NewWriter(&z)
		if _, err := w.Write(b); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		b = z.Bytes()
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s (%d events)", path, len(h.Events))
}

// TestEmployeeContinuesAsNewAndKeepsItsState grows a locked person's workflow past
// workflows.HistoryLimit the way a retrying caller would, with one lock request
// sent again and again under the same Idempotency-Key, then changes their
// department. The workflow continues as new, and the new run still knows
// everything: the unlock restores exactly what the lock disabled and catches up
// on the change deferred while locked, and the old lock request, sent once more,
// is still recognised and locks nothing.
func TestEmployeeContinuesAsNewAndKeepsItsState(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the embedded Temporal server")
	}
	out := historiesOut(t)
	p := startDev(t, t.TempDir())
	c, err := client.Dial(client.Options{HostPort: p.temporal})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	id := tenure.WorkflowID("E7")

	p.event("hire-7", "hire", person("E7", "Engineering", "Engineer"))
	p.waitApps("E7", map[string]string{"google": "active all-staff", "slack": "active general", "github": "active engineering"})
	p.lockWithKey("E7", "lock-7")
	locked := map[string]string{"google": "disabled all-staff", "slack": "disabled general", "github": "disabled engineering"}
	p.waitApps("E7", locked)

	desc, err := c.DescribeWorkflowExecution(ctx, id, "")
	if err != nil {
		t.Fatal(err)
	}
	first := desc.GetWorkflowExecutionInfo().GetExecution().GetRunId()
	sent := 0
	for desc.GetWorkflowExecutionInfo().GetHistoryLength() <= workflows.HistoryLimit {
		if sent >= 4*workflows.HistoryLimit {
			t.Fatalf("%d repeated requests grew the history to only %d events", sent, desc.GetWorkflowExecutionInfo().GetHistoryLength())
		}
		for range 100 {
			p.lockWithKey("E7", "lock-7")
		}
		sent += 100
		if desc, err = c.DescribeWorkflowExecution(ctx, id, first); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d repeated lock requests grew the history to %d events", sent, desc.GetWorkflowExecutionInfo().GetHistoryLength())
	if got := p.appState("E7"); fmt.Sprint(got) != fmt.Sprint(locked) {
		t.Fatalf("after the repeated lock requests the apps are %v, want them as the one lock left them: %v", got, locked)
	}

	// The workflow continues as new once it is idle again: after this change,
	// which waits for the unlock.
	p.event("move-7", "update", person("E7", "Sales", "Account Executive"))
	second := waitNewRun(t, c, id, first)

	p.call("POST", "/api/v1/employees/E7/unlock", nil, nil)
	moved := map[string]string{"google": "active all-staff", "slack": "active general", "github": "disabled", "salesforce": "active sales-users"}
	p.waitApps("E7", moved)

	// Commands run in order: once the later title change shows, the repeated lock
	// before it has been handled.
	p.lockWithKey("E7", "lock-7")
	p.event("title-7", "update", person("E7", "Sales", "Senior Account Executive"))
	deadline := time.Now().Add(30 * time.Second)
	for p.title("E7") != "Senior Account Executive" {
		if time.Now().After(deadline) {
			t.Fatal("the title change after the repeated lock request was not applied within 30s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got := p.appState("E7"); fmt.Sprint(got) != fmt.Sprint(moved) {
		t.Errorf("after the old lock request came again the apps are %v, want %v: the new run forgot it", got, moved)
	}
	locks := 0
	for _, w := range p.employee("E7").Workflows {
		if w.Type == workflows.LockWorkflowName {
			locks++
		}
	}
	if locks != 1 {
		t.Errorf("%d Lock runs, want the one", locks)
	}

	if out != "" {
		writeRunHistory(t, c, id, first, filepath.Join(out, "employee-continued-as-new.json.gz"))
		writeRunHistory(t, c, id, second, filepath.Join(out, "employee-after-continue-as-new.json"))
	}
}

// lockWithKey asks for the person to be locked, as a caller that retries with an
// Idempotency-Key does.
func (p *devProcess) lockWithKey(employeeID, key string) {
	p.t.Helper()
	req, _ := http.NewRequest("POST", p.base+"/api/v1/employees/"+employeeID+"/lock", nil)
	req.Header.Set("Authorization", "Bearer "+p.token)
	req.Header.Set("Idempotency-Key", key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		p.t.Fatalf("POST lock: %s", resp.Status)
	}
}

// title is the person's job title in Tenure's read model.
func (p *devProcess) title(employeeID string) string {
	var v struct {
		Title string `json:"title"`
	}
	p.call("GET", "/api/v1/employees/"+employeeID, nil, &v)
	return v.Title
}

// waitNewRun waits for the workflow to continue as new from run and returns the
// new run's ID.
func waitNewRun(t *testing.T, c client.Client, workflowID, run string) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		desc, err := c.DescribeWorkflowExecution(context.Background(), workflowID, "")
		if err != nil {
			t.Fatal(err)
		}
		if r := desc.GetWorkflowExecutionInfo().GetExecution().GetRunId(); r != run {
			return r
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s did not continue as new within 30s", workflowID)
	return ""
}
