package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/tenure-io/tenure/internal/devserver"
	"github.com/tenure-io/tenure/internal/metrics"
)

// A real dev stack, after a hire (which leaves one approval waiting), a lock
// and a termination, shows on /metrics what happened: runs by type and outcome,
// every app call, the lock's and the leaver's latency, the approvals the read
// model holds, and the Temporal SDK's own metrics. A scrape needs the metrics
// token or an admin's or auditor's, and shows no person's email or HR ID.
func TestMetricsScrapeOfDevStack(t *testing.T) {
	if testing.Short() {
		t.Skip("starts tenure dev")
	}
	const metricsToken = "metrics-scraper-token-0123456789"
	p := startDevWith(t, t.TempDir(), nil, map[string]string{metrics.TokenEnv: metricsToken})

	p.event("hire-m1", "hire", person("E7", "Engineering", "Senior Engineer"))
	p.waitApps("E7", map[string]string{"google": "active all-staff", "slack": "active general", "github": "active engineering"})
	var pending struct {
		Approvals []struct{ ID string } `json:"approvals"`
	}
	p.call("GET", "/api/v1/approvals?status=pending", nil, &pending)
	if len(pending.Approvals) != 1 {
		t.Fatalf("pending approvals after the hire = %d, want 1 (aws)", len(pending.Approvals))
	}
	if v := gauge(t, p.scrape(metricsToken), metrics.ApprovalsPending); v != 1 {
		t.Errorf("%s = %v after the hire, want 1 as the store holds", metrics.ApprovalsPending, v)
	}

	p.call("POST", "/api/v1/employees/E7/lock", nil, nil)
	p.waitRunType("E7", "Lock")
	p.event("term-m1", "terminate", person("E7", "Engineering", "Senior Engineer"))
	if status, _, _ := p.waitRun("E7", "employee/E7/leaver/term-m1"); status != "completed" {
		t.Fatalf("leaver = %s", status)
	}

	// RecordRun counts a run after writing it, so the read model may show it
	// closed a moment before the scrape does.
	var fams map[string]*dto.MetricFamily
	var raw string
	deadline := time.Now().Add(15 * time.Second)
	for {
		raw = p.scrape(metricsToken)
		fams = parseMetrics(t, raw)
		if histogramCount(fams[metrics.LeaverPhase1Seconds]) >= 1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}

	runs := counters(fams[metrics.RunsTotal], "type", "outcome")
	for _, want := range []string{"Joiner/completed", "Lock/completed", "Leaver/completed"} {
		if runs[want] < 1 {
			t.Errorf("%s{%s} = %v, want ≥ 1 (all: %v)", metrics.RunsTotal, want, runs[want], runs)
		}
	}
	calls := counters(fams[metrics.AppCallsTotal], "app", "operation", "outcome")
	for _, want := range []string{"google/Create/ok", "github/SetActive/ok", "slack/Get/ok"} {
		if calls[want] < 1 {
			t.Errorf("%s{%s} = %v, want ≥ 1 (all: %v)", metrics.AppCallsTotal, want, calls[want], calls)
		}
	}
	for key := range calls {
		app := strings.Split(key, "/")[0]
		if !slices.Contains([]string{"aws", "github", "google", "salesforce", "slack"}, app) {
			t.Errorf("%s has app %q, not one of the policy's apps", metrics.AppCallsTotal, app)
		}
	}
	if n := histogramCount(fams[metrics.AppCallSeconds]); n < uint64(sum(calls)) || n == 0 {
		t.Errorf("%s counts %d calls, the counter %v", metrics.AppCallSeconds, n, sum(calls))
	}
	for _, name := range []string{metrics.LockSeconds, metrics.LeaverPhase1Seconds} {
		f := fams[name]
		if n := histogramCount(f); n < 1 || f.Metric[0].GetHistogram().GetSampleSum() <= 0 {
			t.Errorf("%s: count %d, sum %v; want a completed run's time", name, n, f.GetMetric())
		}
	}
	// The termination expired the pending approval: the gauge is the store's.
	if v := gauge(t, raw, metrics.ApprovalsPending); v != 0 {
		t.Errorf("%s = %v after the termination, want 0", metrics.ApprovalsPending, v)
	}
	// The Temporal SDK's own metrics, from the adapter.
	if v := sum(counters(fams["temporal_request_total"], "operation")); v < 1 {
		t.Errorf("temporal_request_total = %v", v)
	}
	for _, name := range []string{"temporal_workflow_task_schedule_to_start_latency", "temporal_activity_schedule_to_start_latency", "temporal_workflow_endtoend_latency"} {
		if histogramCount(fams[name]) < 1 {
			t.Errorf("%s has no observations: %v", name, fams[name])
		}
	}
	if n := histogramCount(fams["temporal_workflow_task_execution_latency"]); n < 3 {
		t.Errorf("temporal_workflow_task_execution_latency has %d observations, want the joiner's, lock's and leaver's", n)
	}
	if n := histogramCount(fams["temporal_local_activity_execution_latency"]); n < 1 {
		t.Errorf("temporal_local_activity_execution_latency has no observations, want the lock's and leaver's first tries")
	}

	// No personal data: not the email, not the HR ID, not a workflow ID.
	for _, leak := range []string{"@example.com", "e7@", "E7", "employee/"} {
		if strings.Contains(raw, leak) {
			t.Errorf("the scrape shows %q", leak)
		}
	}

	t.Run("who may scrape", func(t *testing.T) {
		for _, c := range []struct {
			name, auth string
			want       int
		}{
			{"nobody", "", http.StatusUnauthorized},
			{"a wrong token", "Bearer not-the-metrics-token-at-all", http.StatusUnauthorized},
			{"the metrics token as basic auth", "Basic " + metricsToken, http.StatusUnauthorized},
			{"the metrics token", "Bearer " + metricsToken, http.StatusOK},
			{"the admin token", "Bearer " + p.token, http.StatusOK},
			{"an hr token", "Bearer " + p.newToken("hr"), http.StatusForbidden},
			{"an auditor token", "Bearer " + p.newToken("auditor"), http.StatusOK},
		} {
			code, body := p.getAs("/metrics", c.auth)
			if code != c.want {
				t.Errorf("%s: %d, want %d", c.name, code, c.want)
			}
			if code != http.StatusOK && strings.Contains(body, metrics.RunsTotal) {
				t.Errorf("%s: refused, yet shown the metrics", c.name)
			}
		}
	})

	t.Run("the metrics token opens nothing else", func(t *testing.T) {
		if code, _ := p.getAs("/api/v1/employees", "Bearer "+metricsToken); code != http.StatusUnauthorized {
			t.Errorf("GET /api/v1/employees with the metrics token: %d, want 401", code)
		}
	})
}

// `tenure worker --metrics-addr` serves the Temporal SDK's metrics there, to
// the metrics token only, and with --log-format json (here from the
// environment) writes its log as JSON lines.
func TestMetricsOfWorkerListener(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an embedded Temporal server")
	}
	const metricsToken = "worker-scraper-token-0123456789"
	srv, err := devserver.Start(context.Background(), devserver.Options{DataDir: t.TempDir(), UIPort: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Stop() })
	addr := fmt.Sprintf("127.0.0.1:%d", freePorts(t, 1)[0])
	env := map[string]string{
		"DATABASE_URL":         "sqlite:" + filepath.Join(t.TempDir(), "tenure.db"),
		"TENURE_SANDBOX_URL":   "http://127.0.0.1:9",
		"TENURE_SANDBOX_TOKEN": "unused",
		metrics.TokenEnv:       metricsToken,
		logFormatEnv:           "json",
	}
	ctx, cancel := context.WithCancel(context.Background())
	stderr := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"worker", "--temporal-address", srv.HostPort(), "--namespace", srv.Namespace(), "--metrics-addr", addr},
			func(k string) string { return env[k] }, io.Discard, stderr)
	}()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			if err := <-done; err != nil {
				t.Errorf("tenure worker: %v\n%s", err, stderr)
			}
		}
	}
	defer stop()

	scrape := func(auth string) (int, string) {
		req, _ := http.NewRequest("GET", "http://"+addr+"/metrics", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	var code int
	var body string
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case err := <-done:
			stopped = true
			t.Fatalf("tenure worker exited: %v\n%s", err, stderr)
		default:
		}
		// The pollers report once the workers have started.
		if code, body = scrape("Bearer " + metricsToken); code == http.StatusOK && strings.Contains(body, "temporal_num_pollers") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the worker's /metrics: %d\n%s\n%s", code, body, stderr)
		}
		time.Sleep(200 * time.Millisecond)
	}
	fams := parseMetrics(t, body)
	if v := sum(counters(fams["temporal_request_total"], "operation")); v < 1 {
		t.Errorf("temporal_request_total = %v", v)
	}
	if fams[metrics.ApprovalsPending] != nil {
		t.Errorf("the worker exports %s: the API does, once per deployment", metrics.ApprovalsPending)
	}
	for _, auth := range []string{"", "Bearer wrong-token-0123456789", "Bearer "} {
		if code, body := scrape(auth); code != http.StatusUnauthorized || strings.Contains(body, "temporal_") {
			t.Errorf("scrape with %q: %d, want 401", auth, code)
		}
	}

	stop()
	var sawServing bool
	for _, l := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Errorf("a log line is not JSON: %q", l)
			continue
		}
		if rec["msg"] == "serving metrics" && rec["addr"] == addr {
			sawServing = true
		}
	}
	if !sawServing {
		t.Errorf("the log does not say where metrics are served:\n%s", stderr)
	}
}

// scrape reads /metrics with the bearer token.
func (p *devProcess) scrape(token string) string {
	p.t.Helper()
	code, body := p.getAs("/metrics", "Bearer "+token)
	if code != http.StatusOK {
		p.t.Fatalf("GET /metrics: %d %s", code, body)
	}
	return body
}

// getAs sends a GET with the Authorization header auth ("" for none).
func (p *devProcess) getAs(path, auth string) (int, string) {
	p.t.Helper()
	req, _ := http.NewRequest("GET", p.base+path, nil)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// newToken issues an API token with role.
func (p *devProcess) newToken(role string) string {
	p.t.Helper()
	var out struct {
		Token string `json:"token"`
	}
	spec := map[string]string{"name": "metrics test " + role, "role": role}
	if code := p.call("POST", "/api/v1/tokens", spec, &out); code != http.StatusCreated || out.Token == "" {
		p.t.Fatalf("POST /api/v1/tokens (%s): %d", role, code)
	}
	return out.Token
}

// waitRunType waits for a run of the type to close and returns its status.
func (p *devProcess) waitRunType(employeeID, typ string) string {
	p.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		var v employeeView
		p.call("GET", "/api/v1/employees/"+employeeID, nil, &v)
		for _, w := range v.Workflows {
			if w.Type == typ && w.Status != "running" {
				return w.Status
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	p.t.Fatalf("no %s run of %s closed", typ, employeeID)
	return ""
}

func parseMetrics(t *testing.T, text string) map[string]*dto.MetricFamily {
	t.Helper()
	var parser expfmt.TextParser
	fams, err := parser.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("parsing the scrape: %v", err)
	}
	return fams
}

// counters sums a counter family by the values of labels, joined with "/".
func counters(f *dto.MetricFamily, labels ...string) map[string]float64 {
	out := map[string]float64{}
	for _, m := range f.GetMetric() {
		var key []string
		for _, l := range labels {
			v := ""
			for _, lp := range m.GetLabel() {
				if lp.GetName() == l {
					v = lp.GetValue()
				}
			}
			key = append(key, v)
		}
		out[strings.Join(key, "/")] += m.GetCounter().GetValue()
	}
	return out
}

func sum(m map[string]float64) float64 {
	var n float64
	for _, v := range m {
		n += v
	}
	return n
}

// histogramCount is the observations of every series of a histogram family.
func histogramCount(f *dto.MetricFamily) uint64 {
	var n uint64
	for _, m := range f.GetMetric() {
		n += m.GetHistogram().GetSampleCount()
	}
	return n
}

// gauge is the value of an unlabelled gauge in a scrape.
func gauge(t *testing.T, text, name string) float64 {
	t.Helper()
	f := parseMetrics(t, text)[name]
	if f == nil || len(f.Metric) != 1 {
		t.Fatalf("%s is not in the scrape once: %v", name, f)
	}
	return f.Metric[0].GetGauge().GetValue()
}

// A scraper token is a secret: one shorter than 16 characters stops dev, api
// and worker before they start anything.
func TestMetricsTokenMustBeLong(t *testing.T) {
	env := map[string]string{metrics.TokenEnv: "short", "DATABASE_URL": "sqlite:" + filepath.Join(t.TempDir(), "t.db")}
	for _, args := range [][]string{{"dev", "--http-addr", "127.0.0.1:1"}, {"api", "--http-addr", "127.0.0.1:1"}, {"worker"}} {
		err := run(context.Background(), args, func(k string) string { return env[k] }, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), metrics.TokenEnv) {
			t.Errorf("%s with a 5-character %s: %v", args[0], metrics.TokenEnv, err)
		}
	}
}
