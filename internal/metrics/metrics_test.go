package metrics

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/integrations"
	"github.com/tenure-io/tenure/workflows"
)

func gather(t *testing.T, r *Registry) map[string]*dto.MetricFamily {
	t.Helper()
	fams, err := r.reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	out := map[string]*dto.MetricFamily{}
	for _, f := range fams {
		out[f.GetName()] = f
	}
	return out
}

func labels(m *dto.Metric) string {
	var parts []string
	for _, l := range m.GetLabel() {
		parts = append(parts, l.GetName()+"="+l.GetValue())
	}
	return strings.Join(parts, ",")
}

// A run counts once it has closed; only completed locks and leavers' phase 1
// feed the latency histograms, each with its time from start to close.
func TestRunFinished(t *testing.T) {
	r := New()
	start := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	closed := func(d time.Duration) *time.Time { c := start.Add(d); return &c }
	r.RunFinished(tenure.Run{Type: workflows.LockWorkflowName, Status: tenure.RunRunning, StartedAt: start})
	r.RunFinished(tenure.Run{Type: workflows.LockWorkflowName, Status: tenure.RunCompleted, StartedAt: start, ClosedAt: closed(3 * time.Second)})
	r.RunFinished(tenure.Run{Type: workflows.LockWorkflowName, Status: tenure.RunFailed, StartedAt: start, ClosedAt: closed(time.Hour)})
	r.RunFinished(tenure.Run{Type: workflows.LeaverWorkflowName, EventID: "term-1", Status: tenure.RunCompleted, StartedAt: start, ClosedAt: closed(7 * time.Second)})
	r.RunFinished(tenure.Run{Type: workflows.LeaverWorkflowName, EventID: "term-1-delete", Status: tenure.RunCompleted, StartedAt: start, ClosedAt: closed(time.Minute)})
	r.RunFinished(tenure.Run{Type: workflows.JoinerWorkflowName, Status: tenure.RunCanceled, StartedAt: start, ClosedAt: closed(time.Second)})
	var nilReg *Registry
	nilReg.RunFinished(tenure.Run{Type: "Lock", Status: tenure.RunCompleted, ClosedAt: closed(0)}) // counts nothing, does not panic

	fams := gather(t, r)
	got := map[string]float64{}
	for _, m := range fams[RunsTotal].GetMetric() {
		got[labels(m)] = m.GetCounter().GetValue()
	}
	want := map[string]float64{
		"outcome=completed,type=Lock": 1, "outcome=failed,type=Lock": 1,
		"outcome=completed,type=Leaver": 2, "outcome=canceled,type=Joiner": 1,
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("%s = %v, want %v", RunsTotal, got, want)
	}
	for name, sum := range map[string]float64{LockSeconds: 3, LeaverPhase1Seconds: 7} {
		h := fams[name].GetMetric()[0].GetHistogram()
		if h.GetSampleCount() != 1 || h.GetSampleSum() != sum {
			t.Errorf("%s: count %d sum %v, want 1 and %v", name, h.GetSampleCount(), h.GetSampleSum(), sum)
		}
	}
}

// An app call's outcome is the kind of the app's error.
func TestAppCallOutcomes(t *testing.T) {
	r := New()
	r.AppCall("github", "Create", 20*time.Millisecond, nil)
	r.AppCall("github", "Create", 30*time.Millisecond, &integrations.Error{Kind: integrations.RateLimited})
	r.AppCall("github", "Lookup", time.Millisecond, fmt.Errorf("wrapped: %w", &integrations.Error{Kind: integrations.NotFound}))
	r.AppCall("github", "SetActive", time.Millisecond, errors.New("connection refused"))
	r.AppCall("github", "Get", time.Millisecond, context.Canceled)
	got := map[string]float64{}
	for _, m := range gather(t, r)[AppCallsTotal].GetMetric() {
		got[labels(m)] = m.GetCounter().GetValue()
	}
	for _, want := range []string{
		"app=github,operation=Create,outcome=ok", "app=github,operation=Create,outcome=rate_limited",
		"app=github,operation=Lookup,outcome=not_found", "app=github,operation=SetActive,outcome=transient",
		"app=github,operation=Get,outcome=canceled",
	} {
		if got[want] != 1 {
			t.Errorf("%s{%s} = %v; all: %v", AppCallsTotal, want, got[want], got)
		}
	}
	var creates uint64
	for _, m := range gather(t, r)[AppCallSeconds].GetMetric() {
		if labels(m) == "app=github,operation=Create" {
			creates = m.GetHistogram().GetSampleCount()
		}
	}
	if creates != 2 {
		t.Errorf("%s{Create} counts %d calls, want 2", AppCallSeconds, creates)
	}
}

// The SDK's counters, gauges and timers come out under the SDK's names, with
// its tags as labels; one name tagged differently in different places is one
// family with the union of the tags.
func TestTemporalHandler(t *testing.T) {
	r := New()
	h := r.TemporalHandler().WithTags(map[string]string{"namespace": "default"})
	h.WithTags(map[string]string{"operation": "StartWorkflowExecution"}).Counter("temporal_request").Inc(2)
	h.WithTags(map[string]string{"operation": "StartWorkflowExecution"}).Counter("temporal_request").Inc(1)
	h.WithTags(map[string]string{"task_queue": "tenure"}).Counter("temporal_request").Inc(1)
	h.Gauge("temporal_num_pollers").Update(4)
	h.Gauge("temporal_num_pollers").Update(2)
	timer := h.WithTags(map[string]string{"task_queue": "tenure", "namespace": "other"}).Timer("temporal_workflow_task_schedule_to_start_latency")
	timer.Record(20 * time.Millisecond)
	timer.Record(2 * time.Second)
	timer.Record(2 * time.Hour) // past the last bucket: counted, in +Inf only

	fams := gather(t, r)
	got := map[string]float64{}
	for _, m := range fams["temporal_request_total"].GetMetric() {
		got[labels(m)] = m.GetCounter().GetValue()
	}
	want := map[string]float64{
		"namespace=default,operation=StartWorkflowExecution,task_queue=": 3,
		"namespace=default,operation=,task_queue=tenure":                 1,
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("temporal_request_total = %v, want %v", got, want)
	}
	if g := fams["temporal_num_pollers"].GetMetric()[0].GetGauge().GetValue(); g != 2 {
		t.Errorf("temporal_num_pollers = %v, want 2", g)
	}
	m := fams["temporal_workflow_task_schedule_to_start_latency"].GetMetric()[0]
	if labels(m) != "namespace=other,task_queue=tenure" {
		t.Errorf("the timer's labels: %s", labels(m))
	}
	hist := m.GetHistogram()
	if hist.GetSampleCount() != 3 || hist.GetSampleSum() < 7202 {
		t.Errorf("the timer: count %d sum %v", hist.GetSampleCount(), hist.GetSampleSum())
	}
	cum := map[float64]uint64{}
	for _, b := range hist.GetBucket() {
		cum[b.GetUpperBound()] = b.GetCumulativeCount()
	}
	if cum[0.01] != 0 || cum[0.025] != 1 || cum[2.5] != 2 || cum[3600] != 2 {
		t.Errorf("the timer's buckets: %v", cum)
	}
}

// The approvals gauge is read at each scrape; a store that fails makes the
// scrape say so rather than report a number.
func TestApprovalsPendingAtScrape(t *testing.T) {
	r := New()
	n, fail := 3, false
	r.WatchApprovals(func(context.Context) (int, error) {
		if fail {
			return 0, errors.New("the store is down")
		}
		return n, nil
	})
	if v := gather(t, r)[ApprovalsPending].GetMetric()[0].GetGauge().GetValue(); v != 3 {
		t.Errorf("%s = %v, want 3", ApprovalsPending, v)
	}
	n = 1
	if v := gather(t, r)[ApprovalsPending].GetMetric()[0].GetGauge().GetValue(); v != 1 {
		t.Errorf("%s = %v after a decision, want 1", ApprovalsPending, v)
	}
	fail = true
	if _, err := r.reg.Gather(); err == nil || !strings.Contains(err.Error(), "the store is down") {
		t.Errorf("gather with the store down: %v", err)
	}
}

// The guard's holds are read at each scrape, per source.
func TestGuardHoldsAtScrape(t *testing.T) {
	r := New()
	counts, fail := map[string]int{"batch": 1, "scim": 2}, false
	r.WatchHolds(func(context.Context) (map[string]int, error) {
		if fail {
			return nil, errors.New("the store is down")
		}
		return counts, nil
	})
	got := map[string]float64{}
	for _, m := range gather(t, r)[GuardHolds].GetMetric() {
		got[m.GetLabel()[0].GetValue()] = m.GetGauge().GetValue()
	}
	if fmt.Sprint(got) != "map[batch:1 scim:2]" {
		t.Errorf("%s = %v", GuardHolds, got)
	}
	fail = true
	if _, err := r.reg.Gather(); err == nil || !strings.Contains(err.Error(), "the store is down") {
		t.Errorf("gather with the store down: %v", err)
	}
}

// Protect lets in only the bearer token.
func TestProtect(t *testing.T) {
	const token = "scraper-token-0123456789"
	srv := httptest.NewServer(Protect(New().Handler(), token))
	defer srv.Close()
	for auth, want := range map[string]int{
		"":                       http.StatusUnauthorized,
		"Bearer " + token:        http.StatusOK,
		"bearer  " + token + " ": http.StatusOK,
		"Bearer " + token + "x":  http.StatusUnauthorized,
		"Bearer " + token[:10]:   http.StatusUnauthorized,
		"Basic " + token:         http.StatusUnauthorized,
		"Bearer ":                http.StatusUnauthorized,
	} {
		req, _ := http.NewRequest("GET", srv.URL, nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("%q: %d, want %d", auth, resp.StatusCode, want)
		}
		if want != http.StatusOK && strings.Contains(string(body), "go_goroutines") {
			t.Errorf("%q: refused, yet shown the metrics", auth)
		}
	}
	// Without a token, the listener's address is the protection.
	open := httptest.NewRecorder()
	Protect(New().Handler(), "").ServeHTTP(open, httptest.NewRequest("GET", "/metrics", nil))
	if open.Code != http.StatusOK {
		t.Errorf("with no token set: %d, want 200", open.Code)
	}
	if HasToken(httptest.NewRequest("GET", "/", nil), "") {
		t.Error("an empty token matches a request without one")
	}
}

// The findings gauge is the read model's latest run per app, at each scrape;
// an app whose latest read failed has no figures.
func TestReconcileFindingsAtScrape(t *testing.T) {
	r := New()
	apps := []tenure.ReconcileApp{
		{App: "github", Status: tenure.ReconcileCompleted, Counts: tenure.ReconcileCounts{Accounts: 10, Missing: 1, Orphan: 2}},
		{App: "slack", Status: tenure.ReconcileFailed, Error: "HTTP 500"},
	}
	var fail error
	r.WatchReconcile(func(context.Context) ([]tenure.ReconcileApp, error) { return apps, fail })
	got := map[string]float64{}
	for _, m := range gather(t, r)[ReconcileFindings].GetMetric() {
		got[labels(m)] = m.GetGauge().GetValue()
	}
	want := map[string]float64{"app=github,kind=missing": 1, "app=github,kind=drift": 0, "app=github,kind=orphan": 2, "app=github,kind=unmanaged": 0}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("%s = %v, want %v", ReconcileFindings, got, want)
	}
	fail = errors.New("store down")
	if _, err := r.reg.Gather(); err == nil {
		t.Error("a scrape while the store is down reports no error")
	}
}
