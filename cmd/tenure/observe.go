package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	oteltrace "go.opentelemetry.io/otel/trace"
	"go.temporal.io/sdk/client"
	temporalotel "go.temporal.io/sdk/contrib/opentelemetry"
	"go.temporal.io/sdk/interceptor"

	"github.com/tenure-io/tenure/internal/metrics"
)

// logFormat is how the process writes its log: text (slog's key=value) or
// json (one object a line). Both go through the redaction wrapper.
type logFormat string

const (
	logText logFormat = "text"
	logJSON logFormat = "json"
)

// Set checks a --log-format value.
func (f *logFormat) Set(v string) error {
	switch logFormat(v) {
	case logText, logJSON:
		*f = logFormat(v)
		return nil
	}
	return fmt.Errorf("must be text or json, not %q", v)
}

func (f *logFormat) String() string {
	if f == nil || *f == "" {
		return string(logText)
	}
	return string(*f)
}

// logFormatEnv names the variable that sets --log-format.
const logFormatEnv = "TENURE_LOG_FORMAT"

// logFormatFlag adds --log-format to fs, defaulting to TENURE_LOG_FORMAT. A
// bad value in the variable fails the command as a bad flag would.
func logFormatFlag(fs *flag.FlagSet, getenv func(string) string, f *logFormat) error {
	*f = logText
	if v := getenv(logFormatEnv); v != "" {
		if err := f.Set(v); err != nil {
			return fmt.Errorf("%s %w", logFormatEnv, err)
		}
	}
	fs.Var(f, "log-format", "log format: text or json; env "+logFormatEnv)
	return nil
}

// observability is what a process reports through: Prometheus metrics and
// OpenTelemetry traces. Its zero value reports nothing.
type observability struct {
	metrics *metrics.Registry // nil: no metrics
	tracing *tracing          // nil: no traces
}

// temporalOptions are the Temporal client's metrics handler and interceptors
// for what o reports; the worker inherits them from the client.
func (o observability) temporalOptions() (h client.MetricsHandler, icpts []interceptor.ClientInterceptor, err error) {
	if o.metrics != nil {
		h = o.metrics.TemporalHandler()
	}
	if o.tracing != nil {
		// The interceptor carries the trace in Temporal's headers: from the
		// API's signal-with-start into the workflow, its children and activities.
		i, err := temporalotel.NewTracingInterceptor(temporalotel.TracerOptions{
			Tracer: o.tracing.tracer, TextMapPropagator: o.tracing.propagator,
		})
		if err != nil {
			return nil, nil, fmt.Errorf("tracing Temporal: %w", err)
		}
		icpts = append(icpts, i)
	}
	return h, icpts, nil
}

// httpHandler wraps the API's handler in a span per request, continuing a
// trace the caller sent in traceparent.
func (o observability) httpHandler(h http.Handler) http.Handler {
	if o.tracing == nil {
		return h
	}
	return otelhttp.NewHandler(h, "tenure-api",
		otelhttp.WithTracerProvider(o.tracing.provider), otelhttp.WithPropagators(o.tracing.propagator),
		// The route, not the path: a path carries an HR ID.
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return r.Method + " " + routeOf(r) }))
}

// routeOf is a request's path cut before anything that could identify a
// person: /api/v1 and the resource under it (/api/v1/employees), or the first
// segment of any other path (/scim, /sandbox).
func routeOf(r *http.Request) string {
	keep := 1
	if strings.HasPrefix(r.URL.Path, "/api/v1/") {
		keep = 3
	}
	parts := strings.SplitN(r.URL.Path, "/", keep+2) // "", then the segments
	if len(parts) > keep+1 {
		parts = parts[:keep+1]
	}
	return strings.Join(parts, "/")
}

// tracing is one process's OpenTelemetry tracer provider.
type tracing struct {
	provider   oteltrace.TracerProvider
	tracer     oteltrace.Tracer
	propagator propagation.TextMapPropagator
	shutdown   func(context.Context) error
}

// otlpEndpointEnv turns tracing on: the OTLP/HTTP collector's base URL, such
// as http://otel-collector:4318. The exporter reads the other OTEL_EXPORTER_OTLP_*
// variables (headers, timeout, certificate) itself.
const otlpEndpointEnv = "OTEL_EXPORTER_OTLP_ENDPOINT"

// newTracing returns tracing that exports spans to exp, batched, as service
// name. Tests give it an in-memory exporter; processes, newOTLPTracing's.
func newTracing(exp sdktrace.SpanExporter, service string) *tracing {
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp),
		sdktrace.WithResource(resource.NewSchemaless(semconv.ServiceName(service))),
	)
	return &tracing{
		provider:   tp,
		tracer:     tp.Tracer("github.com/tenure-io/tenure"),
		propagator: propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}),
		shutdown:   tp.Shutdown,
	}
}

// otlpTracing is tracing to the OTLP/HTTP collector at OTEL_EXPORTER_OTLP_ENDPOINT,
// or nil when it is not set.
func otlpTracing(ctx context.Context, getenv func(string) string, service string, log *slog.Logger) (*tracing, error) {
	if getenv(otlpEndpointEnv) == "" {
		return nil, nil
	}
	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(getenv(otlpEndpointEnv)+"/v1/traces"))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", otlpEndpointEnv, err)
	}
	log.Info("tracing to OpenTelemetry", "endpoint", getenv(otlpEndpointEnv), "service", service)
	return newTracing(exp, service), nil
}

// close flushes the spans still batched.
func (t *tracing) close() {
	if t == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = t.shutdown(ctx)
}

// scrapeToken is TENURE_METRICS_TOKEN: "" when unset, else a secret of at
// least 16 characters, as the admin token must be.
func scrapeToken(getenv func(string) string) (string, error) {
	t := getenv(metrics.TokenEnv)
	if t != "" && len(t) < 16 {
		return "", errors.New(metrics.TokenEnv + " must be a secret of at least 16 characters (or unset)")
	}
	return t, nil
}

// serveMetrics serves reg's /metrics on addr until ctx ends, to requests that
// carry token when there is one. `tenure worker` runs it with --metrics-addr.
func serveMetrics(ctx context.Context, addr string, reg *metrics.Registry, token string, log *slog.Logger) (func(), error) {
	ln, err := listen(addr, "metrics")
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics.Protect(reg.Handler(), token))
	srv := newHTTPServer(mux)
	done := make(chan struct{})
	sctx, cancel := context.WithCancel(ctx)
	go func() {
		defer close(done)
		// A scrape is short: it gets a few seconds to finish when the worker stops.
		if err := serveHTTP(sctx, srv, ln, shutdownConfig{timeout: 5 * time.Second}); err != nil && !errors.Is(err, context.Canceled) {
			log.Error("serving metrics", "error", err)
		}
	}()
	if token == "" {
		log.Warn("metrics are served without a token: bind --metrics-addr where only the scraper reaches it, or set " + metrics.TokenEnv)
	}
	log.Info("serving metrics", "addr", ln.Addr().String())
	return func() { cancel(); <-done }, nil
}
