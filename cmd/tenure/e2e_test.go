package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/encoding/protojson"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/tenure-io/tenure/integrations"
	"github.com/tenure-io/tenure/integrations/scim"
	"github.com/tenure-io/tenure/workflows"
)

// devProcess is `tenure dev` running in-process through run(), as a user starts it.
type devProcess struct {
	t        *testing.T
	dir      string
	args     []string
	base     string
	temporal string
	cancel   context.CancelFunc
	done     chan error
	out      *syncBuffer
	token    string
	sbToken  string
	// getenv is the process's environment; nil means the test's own.
	getenv func(string) string
}

// syncBuffer collects a process's output safely across goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// freePorts returns n distinct ports that were free a moment ago.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports
}

// startDev runs `tenure dev` on dir with free ports and waits for /healthz.
func startDev(t *testing.T, dir string) *devProcess {
	t.Helper()
	ports := freePorts(t, 3)
	httpPort, temporalPort, uiPort := ports[0], ports[1], ports[2]
	p := &devProcess{t: t, dir: dir, base: fmt.Sprintf("http://127.0.0.1:%d", httpPort),
		temporal: fmt.Sprintf("127.0.0.1:%d", temporalPort), out: &syncBuffer{}}
	p.args = []string{"dev", "--data-dir", dir, "--http-addr", fmt.Sprintf("127.0.0.1:%d", httpPort),
		"--temporal-port", strconv.Itoa(temporalPort), "--ui-port", strconv.Itoa(uiPort), "--log-level", "warn"}
	p.start()
	t.Cleanup(p.stop)
	return p
}

func (p *devProcess) start() {
	t := p.t
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel, p.done = cancel, make(chan error, 1)
	getenv := p.getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	go func() { p.done <- run(ctx, p.args, getenv, p.out, p.out) }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case err := <-p.done:
			t.Fatalf("tenure dev exited: %v\n%s", err, p.out)
		default:
		}
		resp, err := http.Get(p.base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("tenure dev not healthy after 60s\n%s", p.out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	p.token = readToken(t, filepath.Join(p.dir, "admin.token"))
	p.sbToken = readToken(t, filepath.Join(p.dir, "sandbox.token"))
}

// stop stops the process as Ctrl+C does, and waits for it to exit.
func (p *devProcess) stop() {
	if p.cancel == nil {
		return
	}
	p.cancel()
	p.cancel = nil
	select {
	case err := <-p.done:
		if err != nil {
			p.t.Errorf("tenure dev: %v", err)
		}
	case <-time.After(30 * time.Second):
		p.t.Errorf("tenure dev did not stop within 30s")
	}
}

func readToken(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// call sends an API request with the admin token and decodes the JSON answer.
func (p *devProcess) call(method, path string, body any, out any) int {
	p.t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, p.base+path, r)
	req.Header.Set("Authorization", "Bearer "+p.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			p.t.Fatalf("%s %s: %v: %s", method, path, err, data)
		}
	}
	return resp.StatusCode
}

// app returns a SCIM client for a sandbox app, to read the app's own state.
func (p *devProcess) app(name string) *scim.Client {
	c, err := scim.New(integrations.AppConfig{Name: name, Connector: scim.Kind,
		BaseURL: p.base + "/sandbox/" + name + "/scim/v2", Token: p.sbToken})
	if err != nil {
		p.t.Fatal(err)
	}
	return c
}

// accounts returns every account the sandbox app holds for an HR ID.
func (p *devProcess) accounts(app, hrID string) []integrations.Account {
	var out []integrations.Account
	err := p.app(app).List(context.Background(), func(a integrations.Account) bool {
		if a.ExternalID == hrID {
			out = append(out, a)
		}
		return true
	})
	if err != nil {
		p.t.Fatalf("listing %s: %v", app, err)
	}
	return out
}

// appState summarises a person's accounts in the sandbox apps: app -> "active [groups]".
func (p *devProcess) appState(hrID string) map[string]string {
	out := map[string]string{}
	for _, app := range []string{"aws", "github", "google", "salesforce", "slack"} {
		accts := p.accounts(app, hrID)
		if len(accts) > 1 {
			p.t.Errorf("%s holds %d accounts for %s", app, len(accts), hrID)
		}
		for _, a := range accts {
			s := "disabled"
			if a.Active {
				s = "active"
			}
			out[app] = strings.TrimSpace(s + " " + strings.Join(a.Groups, ","))
		}
	}
	return out
}

// waitApps waits until the sandbox apps' own state for hrID is want.
func (p *devProcess) waitApps(hrID string, want map[string]string) {
	p.t.Helper()
	var got map[string]string
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if got = p.appState(hrID); fmt.Sprint(got) == fmt.Sprint(want) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	p.t.Fatalf("apps for %s = %v, want %v", hrID, got, want)
}

type employeeView struct {
	Status string `json:"status"`
	Access []struct {
		App          string   `json:"app"`
		Status       string   `json:"status"`
		Entitlements []string `json:"entitlements"`
		Error        string   `json:"error"`
		VerifiedAt   *string  `json:"verified_at"`
	} `json:"access"`
	Workflows []struct {
		WorkflowID  string `json:"workflow_id"`
		Type        string `json:"type"`
		Status      string `json:"status"`
		TemporalURL string `json:"temporal_url"`
		StartedAt   string `json:"started_at"`
		ClosedAt    string `json:"closed_at"`
	} `json:"workflows"`
}

func (p *devProcess) employee(id string) employeeView {
	var v employeeView
	if code := p.call("GET", "/api/v1/employees/"+id, nil, &v); code != http.StatusOK {
		p.t.Fatalf("GET employee %s: %d", id, code)
	}
	return v
}

// waitHealthChecked waits for the worker's first health check of every app, so
// that it does not take a fault meant for a workflow.
func (p *devProcess) waitHealthChecked() {
	p.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		var out struct {
			Apps []struct {
				Name   string `json:"name"`
				Health string `json:"health"`
			} `json:"apps"`
		}
		p.call("GET", "/api/v1/apps", nil, &out)
		checked := len(out.Apps) > 0
		for _, a := range out.Apps {
			if a.Health != "ok" {
				checked = false
			}
		}
		if checked {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	p.t.Fatal("the apps were not health-checked within 30s")
}

// waitRun waits for a workflow run of the person to close and returns it.
func (p *devProcess) waitRun(employeeID, workflowID string) (status, startedAt, closedAt string) {
	p.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		var v employeeView
		// The person appears once their workflow has written the read model.
		p.call("GET", "/api/v1/employees/"+employeeID, nil, &v)
		for _, w := range v.Workflows {
			if w.WorkflowID == workflowID && w.Status != "running" {
				return w.Status, w.StartedAt, w.ClosedAt
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	p.t.Fatalf("run %s did not close", workflowID)
	return "", "", ""
}

func person(id, dept, title string) map[string]any {
	return map[string]any{"id": id, "email": strings.ToLower(id) + "@example.com", "given_name": "Grace",
		"family_name": "Hopper", "manager_id": "M1", "department": dept, "title": title}
}

func (p *devProcess) event(id, typ string, emp map[string]any) {
	p.t.Helper()
	var out map[string]string
	if code := p.call("POST", "/api/v1/events", map[string]any{"id": id, "type": typ, "employee": emp}, &out); code != http.StatusAccepted {
		p.t.Fatalf("POST event %s: %d %v", id, code, out)
	}
}

func (p *devProcess) faults(app string, f map[string]any) {
	p.t.Helper()
	b, _ := json.Marshal(f)
	req, _ := http.NewRequest("PUT", p.base+"/sandbox/"+app+"/_faults", bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+p.sbToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		p.t.Fatalf("setting faults on %s: %d", app, resp.StatusCode)
	}
}

func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the embedded Temporal server")
	}
	dir := t.TempDir()
	if os.Getenv("TENURE_WRITE_HISTORIES") != "" {
		// Histories for the replay test are sealed with the key committed beside them.
		key, err := os.ReadFile(filepath.Join("..", "..", "workflows", "testdata", "histories", "codec.key"))
		if err != nil {
			t.Fatal(err)
		}
		t.Setenv("TENURE_CODEC_KEY", strings.TrimSpace(string(key)))
	}
	p := startDev(t, dir)

	t.Run("hire", func(t *testing.T) {
		p.t = t
		p.event("hire-1", "hire", person("E1", "Engineering", "Senior Engineer"))
		p.waitApps("E1", map[string]string{"google": "active all-staff", "slack": "active general", "github": "active engineering"})
		v := p.employee("E1")
		if v.Status != "active" {
			t.Errorf("status = %q", v.Status)
		}
		if len(v.Workflows) == 0 || !strings.Contains(v.Workflows[0].TemporalURL, "/namespaces/default/workflows/") {
			t.Errorf("workflows = %+v, want a Temporal UI link", v.Workflows)
		}
	})

	t.Run("personal data in Temporal is encrypted, and IT can decode it", func(t *testing.T) {
		p.t = t
		c, err := client.Dial(client.Options{HostPort: p.temporal})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		// The joiner ran in the person's own workflow, whose history holds its calls.
		iter := c.GetWorkflowHistory(context.Background(), "employee/E1", "", false, 0)
		h := &historypb.History{}
		for iter.HasNext() {
			ev, err := iter.Next()
			if err != nil {
				t.Fatal(err)
			}
			h.Events = append(h.Events, ev)
		}
		raw, _ := protojson.Marshal(h)
		if len(h.Events) == 0 || bytes.Contains(raw, []byte("e1@example.com")) || bytes.Contains(raw, []byte("Hopper")) {
			t.Fatalf("the person's history (%d events) shows personal data in plain text", len(h.Events))
		}
		// The hire's command carries the person's record.
		var input *commonpb.Payloads
		for _, ev := range h.Events {
			if ev.GetEventType() == enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED {
				input = ev.GetWorkflowExecutionSignaledEventAttributes().GetInput()
				break
			}
		}
		body, _ := protojson.Marshal(input)
		decode := func(auth string) (int, []byte) {
			req, _ := http.NewRequest("POST", p.base+"/codec/decode", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			if auth != "" {
				req.Header.Set("Authorization", "Bearer "+auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			out, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, out
		}
		if code, _ := decode(""); code != http.StatusUnauthorized {
			t.Errorf("decoding without a token: %d, want 401", code)
		}
		code, out := decode(p.token)
		var decoded commonpb.Payloads
		if err := protojson.Unmarshal(out, &decoded); code != http.StatusOK || err != nil || len(decoded.Payloads) == 0 ||
			!bytes.Contains(decoded.Payloads[0].Data, []byte("e1@example.com")) {
			t.Errorf("decoding as admin: %d %v %s", code, err, out)
		}
	})

	t.Run("a decision sent straight to Temporal changes nothing", func(t *testing.T) {
		p.t = t
		forgedDecisions(t, p)
	})

	t.Run("approval", func(t *testing.T) {
		p.t = t
		var list struct {
			Approvals []struct{ ID, App, Entitlement, ApproverID string } `json:"approvals"`
		}
		p.call("GET", "/api/v1/approvals?status=pending", nil, &list)
		if len(list.Approvals) != 1 || list.Approvals[0].App != "aws" {
			t.Fatalf("pending approvals = %+v, want one for aws", list.Approvals)
		}
		var outcome struct{ Status string }
		if code := p.call("POST", "/api/v1/approvals/"+list.Approvals[0].ID+"/approve", map[string]string{"reason": "on call"}, &outcome); code != http.StatusOK || outcome.Status != "approved" {
			t.Fatalf("approve: %d %+v, want 200 approved", code, outcome)
		}
		p.waitApps("E1", map[string]string{"google": "active all-staff", "slack": "active general",
			"github": "active engineering", "aws": "active production-admin"})
		if code := p.call("POST", "/api/v1/approvals/"+list.Approvals[0].ID+"/approve", nil, nil); code != http.StatusConflict {
			t.Errorf("approving twice: %d, want 409", code)
		}
	})

	t.Run("department change", func(t *testing.T) {
		p.t = t
		p.event("move-1", "update", person("E1", "Sales", "Account Executive"))
		p.waitApps("E1", map[string]string{"google": "active all-staff", "slack": "active general",
			"github": "disabled", "aws": "disabled", "salesforce": "active sales-users"})
	})

	t.Run("lock and unlock", func(t *testing.T) {
		p.t = t
		p.call("POST", "/api/v1/employees/E1/lock", nil, nil)
		p.waitApps("E1", map[string]string{"google": "disabled all-staff", "slack": "disabled general",
			"github": "disabled", "aws": "disabled", "salesforce": "disabled sales-users"})
		p.call("POST", "/api/v1/employees/E1/unlock", nil, nil)
		// Exactly what the lock disabled comes back; what was already off stays off.
		p.waitApps("E1", map[string]string{"google": "active all-staff", "slack": "active general",
			"github": "disabled", "aws": "disabled", "salesforce": "active sales-users"})
	})

	t.Run("termination", func(t *testing.T) {
		p.t = t
		p.event("term-1", "terminate", person("E1", "Sales", "Account Executive"))
		p.waitApps("E1", map[string]string{"google": "disabled all-staff", "slack": "disabled general",
			"github": "disabled", "aws": "disabled", "salesforce": "disabled sales-users"})
		if status, _, _ := p.waitRun("E1", "employee/E1/leaver/term-1"); status != "completed" {
			t.Errorf("leaver = %s", status)
		}
		// Every run ran in the person's own workflow, with no child to start,
		// and the console links each to that workflow's history.
		if got := taskQueueOf(t, p, "employee/E1"); got != workflows.TaskQueue {
			t.Errorf("employee/E1 ran on task queue %q, want %q", got, workflows.TaskQueue)
		}
		// The lock raised the person's workflow above everything queued.
		if got := priorityOf(t, p, "employee/E1"); got != workflows.UrgentPriority {
			t.Errorf("employee/E1 has priority %d after its lock, want %d", got, workflows.UrgentPriority)
		}
		if n := countEvents(t, p, "employee/E1", enumspb.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED); n != 0 {
			t.Errorf("employee/E1 started %d child workflows, want none", n)
		}
		for _, w := range p.employee("E1").Workflows {
			if !strings.HasSuffix(w.TemporalURL, "/workflows/"+url.PathEscape("employee/E1")) {
				t.Errorf("run %s links to %q, want the person's workflow", w.WorkflowID, w.TemporalURL)
			}
		}
		v := p.employee("E1")
		if v.Status != "terminated" {
			t.Errorf("status = %q, want terminated", v.Status)
		}
		for _, a := range v.Access {
			if a.Status != "disabled" || a.VerifiedAt == nil {
				t.Errorf("access %s = %s verified %v, want disabled and verified", a.App, a.Status, a.VerifiedAt)
			}
		}
		var audit struct {
			Records []struct{ Action, App string } `json:"records"`
		}
		p.call("GET", "/api/v1/audit?employee_id=E1&action=account.disabled&limit=100", nil, &audit)
		apps := map[string]bool{}
		for _, r := range audit.Records {
			apps[r.App] = true
		}
		if len(apps) != 5 {
			t.Errorf("account.disabled audit covers %v, want all five apps", apps)
		}
	})

	// Faults apply to every request, so these wait for the run through the API
	// before reading the apps.
	t.Run("rate limit waits for Retry-After", func(t *testing.T) {
		p.t = t
		p.waitHealthChecked()
		p.faults("github", map[string]any{"rateLimit": 1, "retryAfter": "2s"})
		p.event("hire-3", "hire", person("E3", "Engineering", "Engineer"))
		_, started, closed := p.waitRun("E3", "employee/E3/joiner/hire-3")
		s, _ := time.Parse(time.RFC3339Nano, started)
		c, _ := time.Parse(time.RFC3339Nano, closed)
		if c.Sub(s) < 2*time.Second {
			t.Errorf("joiner took %s: it did not wait for github's Retry-After of 2s", c.Sub(s))
		}
		p.waitApps("E3", map[string]string{"google": "active all-staff", "slack": "active general", "github": "active engineering"})
	})

	t.Run("a permanent error fails that app alone", func(t *testing.T) {
		p.t = t
		// Apps quote what they were sent: the error names the person's email.
		p.faults("slack", map[string]any{"failNext": 1, "failStatus": 400, "failDetail": "userName e4@example.com is malformed"})
		p.event("hire-4", "hire", person("E4", "Engineering", "Engineer"))
		if status, _, _ := p.waitRun("E4", "employee/E4/joiner/hire-4"); status != "failed" {
			t.Errorf("joiner = %s, want failed", status)
		}
		p.waitApps("E4", map[string]string{"google": "active all-staff", "github": "active engineering"})
		for _, a := range p.employee("E4").Access {
			if a.App == "slack" && (a.Status != "failed" || !strings.Contains(a.Error, "is malformed")) {
				t.Errorf("slack access = %s %q, want failed with the app's detail", a.Status, a.Error)
			}
		}
		// The failure is in Temporal's histories too, sealed like every payload.
		c, err := client.Dial(client.Options{HostPort: p.temporal})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		for _, id := range []string{"employee/E4"} {
			iter := c.GetWorkflowHistory(context.Background(), id, "", false, 0)
			h := &historypb.History{}
			for iter.HasNext() {
				ev, err := iter.Next()
				if err != nil {
					t.Fatal(err)
				}
				h.Events = append(h.Events, ev)
			}
			raw, _ := protojson.Marshal(h)
			if bytes.Contains(raw, []byte("e4@example.com")) || bytes.Contains(raw, []byte("is malformed")) {
				t.Errorf("%s's history shows the failure in plain text", id)
			}
		}
	})

	t.Run("restart mid-run loses nothing and duplicates nothing", func(t *testing.T) {
		p.t = t
		for _, app := range []string{"google", "slack", "github"} {
			p.faults(app, map[string]any{"latency": "400ms"})
		}
		p.event("hire-2", "hire", person("E2", "Engineering", "Engineer"))
		time.Sleep(600 * time.Millisecond)
		p.stop()
		p.start()
		p.waitApps("E2", map[string]string{"google": "active all-staff", "slack": "active general", "github": "active engineering"})
		if status, _, _ := p.waitRun("E2", "employee/E2/joiner/hire-2"); status != "completed" {
			t.Errorf("joiner after restart = %s, want completed", status)
		}
	})

	if dir := os.Getenv("TENURE_WRITE_HISTORIES"); dir != "" {
		writeHistories(t, p, dir)
	}
}

// writeHistories saves the histories of this test's runs for the replay test in
// workflows/: after a versioned change to workflow code, run with
// TENURE_WRITE_HISTORIES=v<N> to add the new version's histories beside the old.
func writeHistories(t *testing.T, p *devProcess, version string) {
	c, err := client.Dial(client.Options{HostPort: p.temporal})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	out := filepath.Join("..", "..", "workflows", "testdata", "histories", filepath.Base(version))
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, id := range map[string]string{
		"employee": "employee/E1",
		"joiner":   "employee/E1/joiner/hire-1",
		"mover":    "employee/E1/mover/move-1",
		"leaver":   "employee/E1/leaver/term-1",
	} {
		writeRunHistory(t, c, id, "", filepath.Join(out, name+".json"))
	}
	// Lock and unlock IDs come from request IDs the API generated.
	for _, w := range p.employee("E1").Workflows {
		if w.Type == "Lock" || w.Type == "Unlock" {
			writeRunHistory(t, c, w.WorkflowID, "", filepath.Join(out, strings.ToLower(w.Type)+".json"))
		}
	}
}

// priorityOf is the Temporal priority key of the workflow with id.
func priorityOf(t *testing.T, p *devProcess, id string) int32 {
	t.Helper()
	return describeWorkflow(t, p, id).GetWorkflowExecutionInfo().GetPriority().GetPriorityKey()
}

// countEvents counts the events of one type in a workflow's history.
func countEvents(t *testing.T, p *devProcess, workflowID string, typ enumspb.EventType) int {
	t.Helper()
	c, err := client.Dial(client.Options{HostPort: p.temporal})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	n := 0
	iter := c.GetWorkflowHistory(context.Background(), workflowID, "", false, 0)
	for iter.HasNext() {
		ev, err := iter.Next()
		if err != nil {
			t.Fatal(err)
		}
		if ev.GetEventType() == typ {
			n++
		}
	}
	return n
}

// taskQueueOf is the task queue that the workflow with id ran on.
func taskQueueOf(t *testing.T, p *devProcess, id string) string {
	t.Helper()
	return describeWorkflow(t, p, id).GetExecutionConfig().GetTaskQueue().GetName()
}

// describeWorkflow is Temporal's description of the workflow with id.
func describeWorkflow(t *testing.T, p *devProcess, id string) *workflowservice.DescribeWorkflowExecutionResponse {
	t.Helper()
	c, err := client.Dial(client.Options{HostPort: p.temporal})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	resp, err := c.DescribeWorkflowExecution(context.Background(), id, "")
	if err != nil {
		t.Fatalf("describing %s: %v", id, err)
	}
	return resp
}
