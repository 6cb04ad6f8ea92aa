// Package metrics is what Tenure tells Prometheus: its own counters and
// histograms (runs, app calls, lock and leaver latency), the approvals waiting
// in the read model, the blast-radius guard's open holds, and the Temporal SDK's metrics through an adapter of the
// SDK's metrics handler. Labels carry app names, operations, run types and
// outcomes only, never a person's email or HR ID.
package metrics

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/integrations"
	"github.com/tenure-io/tenure/workflows"
)

// The names of Tenure's own metrics.
const (
	RunsTotal           = "tenure_runs_total"
	AppCallsTotal       = "tenure_app_calls_total"
	AppCallSeconds      = "tenure_app_call_seconds"
	LockSeconds         = "tenure_lock_seconds"
	LeaverPhase1Seconds = "tenure_leaver_phase1_seconds"
	ApprovalsPending    = "tenure_approvals_pending"
	GuardHolds          = "tenure_guard_holds"
	ReconcileFindings   = "tenure_reconcile_findings"
)

// Names lists every metric Tenure itself exports (the SDK's are in SDKNames).
var Names = []string{RunsTotal, AppCallsTotal, AppCallSeconds, LockSeconds, LeaverPhase1Seconds, ApprovalsPending, GuardHolds, ReconcileFindings}

// latencyBuckets, in seconds, span a fast app call (5 ms) to a lock or leaver
// that waited out an app's retries (an hour).
var latencyBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600}

// Registry holds every metric of one process. Its methods are safe for
// concurrent use; a nil *Registry counts nothing.
type Registry struct {
	reg                 *prometheus.Registry
	runs                *prometheus.CounterVec
	appCalls            *prometheus.CounterVec
	appCallSeconds      *prometheus.HistogramVec
	lockSeconds         prometheus.Histogram
	leaverPhase1Seconds prometheus.Histogram
	sdk                 *sdkCollector
}

// New returns a registry with Tenure's metrics, the Go runtime's and the
// process's, and an empty set of the SDK's (see TemporalHandler).
func New() *Registry {
	r := &Registry{
		reg: prometheus.NewRegistry(),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: RunsTotal, Help: "Lifecycle runs (Joiner, Mover, Leaver, Lock, Unlock) that finished, by type and outcome (completed, failed, canceled, superseded).",
		}, []string{"type", "outcome"}),
		appCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: AppCallsTotal, Help: "Calls into apps through their connectors, by app, connector operation and outcome (ok, not_found, conflict, transient, rate_limited, permanent, canceled).",
		}, []string{"app", "operation", "outcome"}),
		appCallSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: AppCallSeconds, Help: "How long calls into apps took, by app and connector operation.", Buckets: latencyBuckets,
		}, []string{"app", "operation"}),
		lockSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: LockSeconds, Help: "Time from a lock's request to every app disabled and verified, for locks that completed.", Buckets: latencyBuckets,
		}),
		leaverPhase1Seconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: LeaverPhase1Seconds, Help: "Time from a leaver's phase 1 starting to every app disabled and verified, for leavers that completed.", Buckets: latencyBuckets,
		}),
		sdk: newSDKCollector(),
	}
	r.reg.MustRegister(r.runs, r.appCalls, r.appCallSeconds, r.lockSeconds, r.leaverPhase1Seconds, r.sdk,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return r
}

// Handler serves the registry in Prometheus's text format.
func (r *Registry) Handler() http.Handler {
	return promhttp.HandlerFor(r.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// RunFinished counts a lifecycle run as the read model records it. A run still
// running counts nothing; a completed Lock, and a completed Leaver's phase 1,
// add their time from start to close to the latency histograms.
func (r *Registry) RunFinished(run tenure.Run) {
	if r == nil || run.Status == tenure.RunRunning || run.ClosedAt == nil {
		return
	}
	r.runs.WithLabelValues(run.Type, string(run.Status)).Inc()
	if run.Status != tenure.RunCompleted {
		return
	}
	took := run.ClosedAt.Sub(run.StartedAt).Seconds()
	switch {
	case run.Type == workflows.LockWorkflowName:
		r.lockSeconds.Observe(took)
	case run.Type == workflows.LeaverWorkflowName && workflows.RunPhase(run) == workflows.LeaverDisable:
		r.leaverPhase1Seconds.Observe(took)
	}
}

// AppCall counts one call into an app and how long it took.
func (r *Registry) AppCall(app, operation string, took time.Duration, err error) {
	if r == nil {
		return
	}
	r.appCalls.WithLabelValues(app, operation, Outcome(err)).Inc()
	r.appCallSeconds.WithLabelValues(app, operation).Observe(took.Seconds())
}

// Outcome names how an app call ended: ok, canceled, or the kind of the
// app's error (not_found, conflict, transient, rate_limited, permanent).
func Outcome(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, context.Canceled):
		return "canceled"
	}
	return integrations.KindOf(err).String()
}

// WatchApprovals exports tenure_approvals_pending, asked of pending at each
// scrape, so it is the read model's count and not this process's.
func (r *Registry) WatchApprovals(pending func(context.Context) (int, error)) {
	r.reg.MustRegister(&approvalsCollector{pending: pending})
}

var approvalsDesc = prometheus.NewDesc(ApprovalsPending, "Approval requests waiting for a decision, as the read model holds them.", nil, nil)

// approvalsCollector reads the pending approvals at scrape time.
type approvalsCollector struct {
	pending func(context.Context) (int, error)
}

func (c *approvalsCollector) Describe(ch chan<- *prometheus.Desc) { ch <- approvalsDesc }

func (c *approvalsCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	n, err := c.pending(ctx)
	if err != nil {
		// The scrape reports the error; a stale or zero value would lie.
		ch <- prometheus.NewInvalidMetric(approvalsDesc, err)
		return
	}
	ch <- prometheus.MustNewConstMetric(approvalsDesc, prometheus.GaugeValue, float64(n))
}

// WatchHolds exports tenure_guard_holds, the blast-radius guard's holds that
// wait for a decision, per source, asked of open at each scrape.
func (r *Registry) WatchHolds(open func(context.Context) (map[string]int, error)) {
	r.reg.MustRegister(&holdsCollector{open: open})
}

var holdsDesc = prometheus.NewDesc(GuardHolds, "Holds of the blast-radius guard waiting for an admin's decision, per source, as the read model holds them.", []string{"source"}, nil)

// holdsCollector reads the open holds at scrape time.
type holdsCollector struct {
	open func(context.Context) (map[string]int, error)
}

func (c *holdsCollector) Describe(ch chan<- *prometheus.Desc) { ch <- holdsDesc }

func (c *holdsCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	counts, err := c.open(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(holdsDesc, err)
		return
	}
	for source, n := range counts {
		ch <- prometheus.MustNewConstMetric(holdsDesc, prometheus.GaugeValue, float64(n), source)
	}
}
