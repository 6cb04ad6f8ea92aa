package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tenure-io/tenure"
)

// WatchReconcile exports tenure_reconcile_findings{app,kind}: each app's
// findings of each kind in the latest reconciliation that finished reading it,
// asked of latest at each scrape, so it is the read model's figure and the
// same on every process.
func (r *Registry) WatchReconcile(latest func(context.Context) ([]tenure.ReconcileApp, error)) {
	r.reg.MustRegister(&reconcileCollector{latest: latest})
}

var reconcileDesc = prometheus.NewDesc(ReconcileFindings,
	"Findings of the latest reconciliation that read each app, by app and kind (missing, drift, orphan, unmanaged).",
	[]string{"app", "kind"}, nil)

// reconcileCollector reads the latest findings at scrape time.
type reconcileCollector struct {
	latest func(context.Context) ([]tenure.ReconcileApp, error)
}

func (c *reconcileCollector) Describe(ch chan<- *prometheus.Desc) { ch <- reconcileDesc }

func (c *reconcileCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	apps, err := c.latest(ctx)
	if err != nil {
		// The scrape reports the error; a stale or zero value would lie.
		ch <- prometheus.NewInvalidMetric(reconcileDesc, err)
		return
	}
	for _, a := range apps {
		if a.Status != tenure.ReconcileCompleted {
			continue // an app that could not be read has no figures to give
		}
		for _, k := range tenure.FindingKinds {
			ch <- prometheus.MustNewConstMetric(reconcileDesc, prometheus.GaugeValue, float64(a.Counts.Of(k)), a.App, string(k))
		}
	}
}
