package metrics

import (
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/sdk/client"
)

// TemporalHandler is the Temporal SDK's metrics handler (client.Options.
// MetricsHandler), exporting the SDK's metrics under their own names: a
// counter as <name>_total, a gauge as <name>, a timer as the histogram <name>
// in seconds. The SDK's tags (namespace, task_queue, workflow_type,
// activity_type, operation...) become labels.
func (r *Registry) TemporalHandler() client.MetricsHandler {
	return sdkHandler{c: r.sdk}
}

// sdkHandler is one set of tags over the shared collector.
type sdkHandler struct {
	c    *sdkCollector
	tags map[string]string
}

func (h sdkHandler) WithTags(tags map[string]string) client.MetricsHandler {
	merged := maps.Clone(h.tags)
	if merged == nil {
		merged = map[string]string{}
	}
	maps.Copy(merged, tags)
	return sdkHandler{c: h.c, tags: merged}
}

func (h sdkHandler) Counter(name string) client.MetricsCounter {
	s := h.c.series(name+"_total", prometheus.CounterValue, h.tags)
	return counterFunc(func(d int64) { s.add(float64(d)) })
}

func (h sdkHandler) Gauge(name string) client.MetricsGauge {
	s := h.c.series(name, prometheus.GaugeValue, h.tags)
	return gaugeFunc(func(v float64) { s.set(v) })
}

func (h sdkHandler) Timer(name string) client.MetricsTimer {
	s := h.c.series(name, prometheus.UntypedValue, h.tags) // untyped marks a histogram here
	return timerFunc(func(d time.Duration) { s.observe(d.Seconds()) })
}

// counterFunc, gaugeFunc and timerFunc are the SDK's instruments as functions.
type (
	counterFunc func(int64)
	gaugeFunc   func(float64)
	timerFunc   func(time.Duration)
)

func (f counterFunc) Inc(d int64)          { f(d) }
func (f gaugeFunc) Update(v float64)       { f(v) }
func (f timerFunc) Record(d time.Duration) { f(d) }

// sdkCollector keeps every series the SDK has touched. Prometheus wants one
// set of label names per metric, and the SDK tags one name differently from
// different places, so each family is exported with the union of its tags'
// keys, a missing tag as "".
type sdkCollector struct {
	mu       sync.Mutex
	families map[string]*family
}

type family struct {
	kind   prometheus.ValueType
	series map[string]*series // by the canonical form of its tags
}

type series struct {
	tags map[string]string

	mu      sync.Mutex
	value   float64  // a counter's total, a gauge's value
	count   uint64   // a histogram's observations
	sum     float64  // and their total
	buckets []uint64 // observations ≤ latencyBuckets[i] (not cumulative)
}

func newSDKCollector() *sdkCollector {
	return &sdkCollector{families: map[string]*family{}}
}

// series returns the series of name with tags, creating it.
func (c *sdkCollector) series(name string, kind prometheus.ValueType, tags map[string]string) *series {
	key := canonical(tags)
	c.mu.Lock()
	defer c.mu.Unlock()
	f := c.families[name]
	if f == nil {
		f = &family{kind: kind, series: map[string]*series{}}
		c.families[name] = f
	}
	s := f.series[key]
	if s == nil {
		s = &series{tags: maps.Clone(tags), buckets: make([]uint64, len(latencyBuckets))}
		f.series[key] = s
	}
	return s
}

func canonical(tags map[string]string) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(tags)) {
		b.WriteString(k)
		b.WriteByte(0)
		b.WriteString(tags[k])
		b.WriteByte(0)
	}
	return b.String()
}

func (s *series) add(d float64) {
	s.mu.Lock()
	s.value += d
	s.mu.Unlock()
}

func (s *series) set(v float64) {
	s.mu.Lock()
	s.value = v
	s.mu.Unlock()
}

func (s *series) observe(v float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.count++
	s.sum += v
	if i, _ := slices.BinarySearch(latencyBuckets, v); i < len(latencyBuckets) {
		s.buckets[i]++
	}
}

// Describe sends nothing: the SDK's families are known only as it uses them,
// which makes this an unchecked collector.
func (c *sdkCollector) Describe(chan<- *prometheus.Desc) {}

func (c *sdkCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for name, f := range c.families {
		keys := map[string]bool{}
		for _, s := range f.series {
			for k := range s.tags {
				keys[k] = true
			}
		}
		labels := slices.Sorted(maps.Keys(keys))
		desc := prometheus.NewDesc(name, "Temporal SDK metric "+name+".", labels, nil)
		for _, s := range f.series {
			values := make([]string, len(labels))
			for i, l := range labels {
				values[i] = s.tags[l]
			}
			ch <- s.metric(desc, f.kind, values)
		}
	}
}

func (s *series) metric(desc *prometheus.Desc, kind prometheus.ValueType, values []string) prometheus.Metric {
	s.mu.Lock()
	defer s.mu.Unlock()
	if kind != prometheus.UntypedValue {
		return prometheus.MustNewConstMetric(desc, kind, s.value, values...)
	}
	cumulative := make(map[float64]uint64, len(latencyBuckets))
	var n uint64
	for i, le := range latencyBuckets {
		n += s.buckets[i]
		cumulative[le] = n
	}
	return prometheus.MustNewConstHistogram(desc, s.count, s.sum, cumulative, values...)
}
