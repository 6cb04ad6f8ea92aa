package main

import (
	"compress/gzip"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"
)

// otlpReceiver is an OTLP/HTTP collector in the test: it decodes the spans
// Tenure exports (protobuf, gzipped or not) and keeps them.
type otlpReceiver struct {
	mu    sync.Mutex
	spans []receivedSpan
}

type receivedSpan struct {
	service, name, traceID string
	attrs                  string // every attribute, as text, to look for leaks
}

func (r *otlpReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.URL.Path != "/v1/traces" {
		http.NotFound(w, req)
		return
	}
	var body io.Reader = req.Body
	if req.Header.Get("Content-Encoding") == "gzip" {
		gz, err := gzip.NewReader(req.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body = gz
	}
	raw, err := io.ReadAll(body)
	var export coltracepb.ExportTraceServiceRequest
	if err == nil {
		err = proto.Unmarshal(raw, &export)
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rs := range export.ResourceSpans {
		service := ""
		for _, a := range rs.GetResource().GetAttributes() {
			if a.Key == "service.name" {
				service = a.GetValue().GetStringValue()
			}
		}
		for _, ss := range rs.ScopeSpans {
			for _, s := range ss.Spans {
				var attrs strings.Builder
				for _, a := range s.Attributes {
					attrs.WriteString(a.Key + "=" + a.GetValue().String() + " ")
				}
				r.spans = append(r.spans, receivedSpan{service: service, name: s.Name,
					traceID: hex.EncodeToString(s.TraceId), attrs: attrs.String()})
			}
		}
	}
	w.Header().Set("Content-Type", "application/x-protobuf")
	b, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	w.Write(b)
}

func (r *otlpReceiver) all() []receivedSpan {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]receivedSpan(nil), r.spans...)
}

// With OTEL_EXPORTER_OTLP_ENDPOINT set, a hire is one trace: the API's span
// for the HR event, the person's workflow, the joiner, and each app's
// activity share one trace ID, as an OTLP/HTTP collector receives them. A
// later lock's request is a trace of its own with the signal it sent, while
// the lock's work runs in the person's workflow, in the hire's trace. No span
// names a person by email.
func TestTracingFromHREventToAppCalls(t *testing.T) {
	if testing.Short() {
		t.Skip("starts tenure dev")
	}
	rec := &otlpReceiver{}
	collector := httptest.NewServer(rec)
	defer collector.Close()
	p := startDevWith(t, t.TempDir(), nil, map[string]string{otlpEndpointEnv: collector.URL})

	p.event("hire-t1", "hire", person("E8", "Engineering", "Senior Engineer"))
	p.waitApps("E8", map[string]string{"google": "active all-staff", "slack": "active general", "github": "active engineering"})
	if status, _, _ := p.waitRun("E8", "employee/E8/joiner/hire-t1"); status != "completed" {
		t.Fatalf("joiner = %s", status)
	}
	// A lock on the running workflow: the API's span and the signal it sent
	// are one trace; the work is the workflow's, in the trace of the event
	// that started it.
	p.call("POST", "/api/v1/employees/E8/lock", nil, nil)
	if status := p.waitRunType("E8", "Lock"); status != "completed" {
		t.Fatalf("lock = %s", status)
	}
	p.stop() // flushes the spans still batched

	spans := rec.all()
	var traceID string
	for _, s := range spans {
		if s.name == "POST /api/v1/events" {
			traceID = s.traceID
		}
	}
	if traceID == "" {
		t.Fatalf("no span for POST /api/v1/events among %d spans: %v", len(spans), names(spans))
	}
	inTrace := map[string]bool{}
	for _, s := range spans {
		if s.traceID == traceID {
			inTrace[s.name] = true
			if s.service != "tenure-dev" {
				t.Errorf("span %s is from service %q", s.name, s.service)
			}
		}
		if strings.Contains(s.attrs, "@example.com") || strings.Contains(s.name, "@") {
			t.Errorf("span %s shows an email: %s", s.name, s.attrs)
		}
	}
	// The person's workflow runs for as long as they work here, so its own
	// RunWorkflow span is not exported yet; the command it handled is.
	var lockTrace string
	for _, s := range spans {
		if s.name == "POST /api/v1/employees" {
			lockTrace = s.traceID
		}
	}
	lockSpans := map[string]bool{}
	for _, s := range spans {
		if s.traceID == lockTrace {
			lockSpans[s.name] = true
		}
	}
	if lockTrace == "" || lockTrace == traceID || !lockSpans["SignalWithStartWorkflow:Employee"] || !lockSpans["HandleSignal:command"] {
		t.Errorf("the lock's request is not its own trace with the signal: %v", keys(lockSpans))
	}
	for _, want := range []string{"RunActivity:inplace.scim.DisableAccount"} {
		if !inTrace[want] {
			t.Errorf("the lock's work (%s) is not in the trace of the event that started the workflow; that has %v", want, keys(inTrace))
		}
	}
	for _, want := range []string{
		"POST /api/v1/events",
		"SignalWithStartWorkflow:Employee",
		"HandleSignal:command",
		"RunActivity:policy.Evaluate",
		"RunActivity:inplace.scim.ProvisionAccount",
	} {
		if !inTrace[want] {
			t.Errorf("the hire's trace has no span %q; it has %v", want, keys(inTrace))
		}
	}
}

func names(spans []receivedSpan) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.name)
	}
	return out
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// The API's span names keep the route and leave out what follows it, where an
// HR ID or an app's user ID would be.
func TestTracingSpanNamesLeaveOutPeople(t *testing.T) {
	for path, want := range map[string]string{
		"/api/v1/events":                  "/api/v1/events",
		"/api/v1/events:batch":            "/api/v1/events:batch",
		"/api/v1/employees/E1/lock":       "/api/v1/employees",
		"/api/v1/employees/E1/evidence":   "/api/v1/employees",
		"/scim/v2/Users/2819c223":         "/scim",
		"/sandbox/google/scim/v2/Users/1": "/sandbox",
		"/metrics":                        "/metrics",
		"/":                               "/",
	} {
		if got := routeOf(httptest.NewRequest("GET", path, nil)); got != want {
			t.Errorf("routeOf(%s) = %s, want %s", path, got, want)
		}
	}
}
