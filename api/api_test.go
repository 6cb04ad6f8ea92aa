package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/guard"
	"github.com/tenure-io/tenure/intake"
	"github.com/tenure-io/tenure/internal/authlimit"
	"github.com/tenure-io/tenure/store/storetest"
)

const adminToken = "s3cret-admin-token-for-tests"

// echoParam finds Echo's path parameters (:id) to write them as OpenAPI's ({id});
// an escaped colon (events\:batch) is a literal one, not a parameter.
var echoParam = regexp.MustCompile(`(^|[^\\]):([a-z_]+)`)

// fakeEngine records what the API hands to Temporal and can be told to fail.
type fakeEngine struct {
	mu         sync.Mutex
	submits    []tenure.Event // every call, failed ones included
	locks      []killCall
	unlocks    []killCall
	retries    []killCall
	decisions  []tenure.Decision
	failSubmit error
	notReady   error
	// reconciles and remediations are the reconciliations and the findings'
	// remediations asked for; failReconcile fails the former.
	reconciles    []tenure.ReconcileRequest
	remediations  []killCall
	failReconcile error
}

type killCall struct{ EmployeeID, RequestID, Actor string }

// StartReconciliation records the request, as the engine would start its
// workflow.
func (f *fakeEngine) StartReconciliation(_ context.Context, r tenure.ReconcileRequest) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reconciles = append(f.reconciles, r)
	return f.failReconcile
}

// reconcileCalls are the reconciliations and remediations asked for so far.
func (f *fakeEngine) reconcileCalls() ([]tenure.ReconcileRequest, []killCall) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.reconciles), slices.Clone(f.remediations)
}

// RemediateFinding records the finding, as the engine would start its
// remediation.
func (f *fakeEngine) RemediateFinding(_ context.Context, fd tenure.Finding, actor string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.remediations = append(f.remediations, killCall{fd.EmployeeID, fd.ID, actor})
	return "remediate-" + fd.ID, nil
}

func (f *fakeEngine) SubmitEvent(_ context.Context, ev tenure.Event) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.submits = append(f.submits, ev)
	if f.failSubmit != nil {
		return "", f.failSubmit
	}
	return tenure.WorkflowID(ev.Employee.ID), nil
}

func (f *fakeEngine) Lock(_ context.Context, id, req, actor string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.locks = append(f.locks, killCall{id, req, actor})
	return tenure.WorkflowID(id), nil
}

func (f *fakeEngine) Unlock(_ context.Context, id, req, actor string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.unlocks = append(f.unlocks, killCall{id, req, actor})
	return tenure.WorkflowID(id), nil
}

func (f *fakeEngine) Retry(_ context.Context, id, app, req, actor string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.retries = append(f.retries, killCall{id, app + "/" + req, actor})
	return tenure.WorkflowID(id), nil
}

func (f *fakeEngine) Reconverge(_ context.Context, id, _, _ string) (string, error) {
	return tenure.WorkflowID(id), nil
}

func (f *fakeEngine) Decide(_ context.Context, _ tenure.Approval, d tenure.Decision) (tenure.ApprovalStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.decisions = append(f.decisions, d)
	if d.Approve {
		return tenure.ApprovalApproved, nil
	}
	return tenure.ApprovalDenied, nil
}

func (f *fakeEngine) Ready(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.notReady
}

func (f *fakeEngine) RunURL(id string) string { return "http://temporal.test/workflows/" + id }

func (f *fakeEngine) set(fn func(*fakeEngine)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

// recorded is a copy of what the engine was asked, taken under its lock.
type recorded struct {
	submits   []tenure.Event
	locks     []killCall
	unlocks   []killCall
	retries   []killCall
	decisions []tenure.Decision
}

func (f *fakeEngine) calls() recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	return recorded{slices.Clone(f.submits), slices.Clone(f.locks), slices.Clone(f.unlocks), slices.Clone(f.retries), slices.Clone(f.decisions)}
}

func (f *fakeEngine) submitCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.submits)
}

// syncBuffer is a log sink that tests read after the server wrote to it.
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

// testGuard is a blast-radius guard on db, with the default threshold unless a
// policy in force says otherwise, that hands released events to engine.
func testGuard(t testing.TB, db guard.Store, engine tenure.Engine, now func() time.Time, pol ...guard.Policies) *guard.Guard {
	t.Helper()
	cfg := guard.Config{Store: db, Engine: engine, Now: now}
	if len(pol) > 0 && pol[0] != nil {
		cfg.Policy = pol[0]
	}
	g, err := guard.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// mustServer is NewServer for a test, which stops at a missing dependency.
func mustServer(t testing.TB, cfg Config) http.Handler {
	t.Helper()
	h, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestNewServerRefusesMissingDependencies: a server without its token store,
// its manager scoping, its engine or its authenticator does not start, rather
// than failing the first request that needs one.
func TestNewServerRefusesMissingDependencies(t *testing.T) {
	db := storetest.SQLite(t)
	auth := StaticTokens(nil)
	g := testGuard(t, db, &fakeEngine{}, nil)
	full := Config{Store: db, Tokens: db, Managers: db, Engine: &fakeEngine{}, Auth: auth, Guard: g}
	if _, err := NewServer(full); err != nil {
		t.Fatalf("NewServer with every dependency = %v", err)
	}
	for name, cfg := range map[string]Config{
		"Tokens":   {Store: db, Managers: db, Engine: &fakeEngine{}, Auth: auth, Guard: g},
		"Managers": {Store: db, Tokens: db, Engine: &fakeEngine{}, Auth: auth, Guard: g},
		"Engine":   {Store: db, Tokens: db, Managers: db, Auth: auth, Guard: g},
		"Auth":     {Store: db, Tokens: db, Managers: db, Engine: &fakeEngine{}, Guard: g},
		"Store":    {Tokens: db, Managers: db, Engine: &fakeEngine{}, Auth: auth, Guard: g},
		"Guard":    {Store: db, Tokens: db, Managers: db, Engine: &fakeEngine{}, Auth: auth},
	} {
		h, err := NewServer(cfg)
		if err == nil || h != nil || !strings.Contains(err.Error(), name) {
			t.Errorf("NewServer without %s = %v, %v; want an error naming it", name, h, err)
		}
	}
}

type harness struct {
	t      *testing.T
	url    string
	store  tenure.Store
	engine *fakeEngine
	logs   *syncBuffer
	cfg    Config
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	db := storetest.SQLite(t)
	h := &harness{t: t, store: db, engine: &fakeEngine{}, logs: &syncBuffer{}}
	now := func() time.Time { return time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC) }
	h.cfg = Config{
		Store:    db,
		Tokens:   db,
		Managers: db,
		Engine:   h.engine,
		Guard:    testGuard(t, db, h.engine, now),
		Auth:     StaticTokens(map[string]tenure.Principal{adminToken: {Name: "ada", Role: tenure.RoleAdmin}}),
		Logger:   slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Mounts: map[string]http.Handler{
			"/sandbox/": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/plain")
				io.WriteString(w, "sandbox "+r.URL.Path)
			}),
		},
		Now: now,
	}
	srv := httptest.NewServer(mustServer(t, h.cfg))
	t.Cleanup(srv.Close)
	h.url = srv.URL
	t.Cleanup(func() {
		if strings.Contains(h.logs.String(), adminToken) {
			t.Errorf("the logs contain the bearer token")
		}
	})
	return h
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("response is not a JSON object: %v: %s", err, r.body)
	}
	return m
}

// do sends a request as the admin; headers are name, value pairs and an
// "Authorization" pair replaces the admin's.
func (h *harness) do(method, path, body string, headers ...string) response {
	h.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, h.url+path, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "" {
			req.Header.Del(headers[i])
		} else {
			req.Header.Set(headers[i], headers[i+1])
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// wantError checks the status and that the body is the API's error shape with code.
func wantError(t *testing.T, r response, status int, code string) errorDetail {
	t.Helper()
	if r.status != status {
		t.Fatalf("status = %d, want %d; body %s", r.status, status, r.body)
	}
	var body errorBody
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		t.Fatalf("not an error body: %v: %s", err, r.body)
	}
	if body.Error.Code != code || body.Error.Message == "" {
		t.Fatalf("error = %+v, want code %q and a message", body.Error, code)
	}
	return body.Error
}

// apiRoutes walks Echo's routes: every /api/ method and path the server answers.
func apiRoutes(t *testing.T, cfg Config) []*echo.Route {
	t.Helper()
	var out []*echo.Route
	e, err := newEcho(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range e.Routes() {
		// /api/* is the fallback that answers 404 and 405, not a route.
		if r.Method == echo.RouteNotFound || !strings.HasPrefix(r.Path, "/api/") || r.Path == "/api/*" {
			continue
		}
		out = append(out, r)
	}
	if len(out) < 11 {
		t.Fatalf("found only %d /api/ routes", len(out))
	}
	return out
}

func TestEveryAPIRouteRequiresAToken(t *testing.T) {
	h := newHarness(t)
	// Every route gets a wrong token here, more than the default allowance of
	// failures; TestBearerGuessingIsLimited tests the limit.
	h.cfg.AuthLimiter = authlimit.New(1000, time.Second, nil)
	srv := httptest.NewServer(mustServer(t, h.cfg))
	t.Cleanup(srv.Close)
	h.url = srv.URL
	for _, r := range apiRoutes(t, h.cfg) {
		path := strings.ReplaceAll(strings.ReplaceAll(r.Path, ":id", "someone"), `\:`, ":")
		body := ""
		if r.Method == http.MethodPost {
			body = `{"type":"hire","employee":{"id":"e1","email":"e1@example.com","given_name":"E","family_name":"One"}}`
		}
		for name, auth := range map[string]string{
			"missing":     "",
			"wrong token": "Bearer not-the-token",
			"basic":       "Basic " + adminToken,
			"empty":       "Bearer ",
		} {
			res := h.do(r.Method, path, body, "Authorization", auth)
			wantError(t, res, http.StatusUnauthorized, tenure.EUNAUTHORIZED)
			if res.header.Get("WWW-Authenticate") == "" {
				t.Errorf("%s %s (%s): no WWW-Authenticate header", r.Method, path, name)
			}
		}
	}
	if n := h.engine.submitCount(); n != 0 {
		t.Fatalf("unauthenticated requests reached the engine %d times", n)
	}
	if len(h.engine.calls().locks)+len(h.engine.calls().unlocks)+len(h.engine.calls().decisions) != 0 {
		t.Fatal("unauthenticated requests reached the engine")
	}
}

func TestUnknownRoutesAnswerWithTheErrorBody(t *testing.T) {
	h := newHarness(t)
	wantError(t, h.do("GET", "/nowhere", ""), http.StatusNotFound, tenure.ENOTFOUND)
	wantError(t, h.do("GET", "/api/v1/nowhere", ""), http.StatusNotFound, tenure.ENOTFOUND)
	wantError(t, h.do("GET", "/api/v1/nowhere", "", "Authorization", ""), http.StatusNotFound, tenure.ENOTFOUND)
	res := h.do("DELETE", "/api/v1/events", "")
	wantError(t, res, http.StatusMethodNotAllowed, "method_not_allowed")
	if res.header.Get("Allow") == "" {
		t.Error("a 405 without an Allow header")
	}
}

func TestSecurityHeadersAndMounts(t *testing.T) {
	h := newHarness(t)
	res := h.do("GET", "/api/v1/apps", "")
	if res.status != http.StatusOK {
		t.Fatalf("status %d: %s", res.status, res.body)
	}
	for k, v := range map[string]string{
		"X-Content-Type-Options": "nosniff",
		"X-Frame-Options":        "DENY",
		"Cache-Control":          "no-store",
	} {
		if got := res.header.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if res.header.Get(HeaderRequestID) == "" {
		t.Error("no request ID in the response")
	}
	// A mount is served as it is, without the API's token or headers.
	res = h.do("GET", "/sandbox/hr/scim/v2/Users", "", "Authorization", "")
	if res.status != http.StatusOK || string(res.body) != "sandbox /sandbox/hr/scim/v2/Users" {
		t.Fatalf("mount: %d %s", res.status, res.body)
	}
	if res.header.Get("Content-Security-Policy") != "" {
		t.Error("the API's CSP leaked onto a mount")
	}
}

func TestHealthz(t *testing.T) {
	h := newHarness(t)
	res := h.do("GET", "/healthz", "", "Authorization", "")
	if res.status != http.StatusOK || res.json(t)["status"] != "ok" {
		t.Fatalf("healthz: %d %s", res.status, res.body)
	}
	h.engine.set(func(f *fakeEngine) { f.notReady = errors.New("no worker polls tenure-main") })
	e := wantError(t, h.do("GET", "/healthz", "", "Authorization", ""), http.StatusServiceUnavailable, tenure.EUNAVAILABLE)
	if !strings.Contains(e.Message, "engine") || strings.Contains(e.Message, "store") {
		t.Fatalf("message %q should name the engine only", e.Message)
	}
	if strings.Contains(e.Message, "tenure-main") {
		t.Fatalf("message %q leaks the internal cause", e.Message)
	}
}

// TestProbesCheckNoDependency: with Temporal and its workers down, /healthz
// says so, but /livez and /readyz still answer 200, so the orchestrator neither
// restarts the API nor takes it out of the load balancer. Once the process
// drains, /readyz answers 503 and /livez still 200. Neither needs a token, and
// the console mounted at the root does not shadow them.
func TestProbesCheckNoDependency(t *testing.T) {
	h := newHarness(t)
	draining := make(chan struct{})
	h.cfg.Draining = draining
	h.cfg.Mounts = map[string]http.Handler{"/": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("console")) })}
	srv := httptest.NewServer(mustServer(t, h.cfg))
	defer srv.Close()
	h.url = srv.URL
	h.engine.set(func(f *fakeEngine) { f.notReady = errors.New("no worker polls tenure-main") })
	wantError(t, h.do("GET", "/healthz", "", "Authorization", ""), http.StatusServiceUnavailable, tenure.EUNAVAILABLE)
	for _, path := range []string{"/livez", "/readyz"} {
		res := h.do("GET", path, "", "Authorization", "")
		if res.status != http.StatusOK || res.json(t)["status"] != "ok" {
			t.Fatalf("%s with Temporal down: %d %s, want 200", path, res.status, res.body)
		}
	}
	// Passing probes, asked every few seconds, are logged at debug only; a
	// failing one as every request is.
	for _, line := range strings.Split(h.logs.String(), "\n") {
		if strings.Contains(line, "msg=request") && (strings.Contains(line, "route=/readyz") || strings.Contains(line, "route=/livez")) &&
			!strings.Contains(line, "level=DEBUG") {
			t.Errorf("a passing probe logged above debug: %s", line)
		}
	}
	close(draining)
	e := wantError(t, h.do("GET", "/readyz", "", "Authorization", ""), http.StatusServiceUnavailable, tenure.EUNAVAILABLE)
	if !regexp.MustCompile(`level=INFO msg=request .*route=/readyz .*status=503`).MatchString(h.logs.String()) ||
		strings.Contains(h.logs.String(), "level=ERROR msg=\"request failed\" method=GET route=/readyz") {
		t.Errorf("the probe that failed while draining was not logged at info, or was logged as an error:\n%s", h.logs.String())
	}
	if e.Message != "shutting down" {
		t.Errorf("readyz while draining: message %q", e.Message)
	}
	if res := h.do("GET", "/livez", "", "Authorization", ""); res.status != http.StatusOK {
		t.Errorf("livez while draining: %d %s, want 200", res.status, res.body)
	}
	// openapi.json describes the probes as it does /healthz.
	var doc struct {
		Paths map[string]map[string]struct {
			Security  []any          `json:"security"`
			Responses map[string]any `json:"responses"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(openAPI, &doc); err != nil {
		t.Fatal(err)
	}
	for path, codes := range map[string][]string{"/livez": {"200"}, "/readyz": {"200", "503"}} {
		op, ok := doc.Paths[path]["get"]
		if !ok {
			t.Errorf("openapi.json does not describe GET %s", path)
			continue
		}
		if op.Security == nil || len(op.Security) != 0 {
			t.Errorf("openapi.json: GET %s should need no token (security: [])", path)
		}
		for _, c := range codes {
			if op.Responses[c] == nil {
				t.Errorf("openapi.json: GET %s has no %s response", path, c)
			}
		}
	}
}

func hireBody(id, employee string) string {
	idField := ""
	if id != "" {
		idField = `"id":"` + id + `",`
	}
	return `{` + idField + `"type":"hire","effective_at":"2026-03-02T09:00:00+01:00","employee":{"id":"` + employee +
		`","email":"` + employee + `@example.com","given_name":"Grace","family_name":"Hopper","department":"eng",` +
		`"start_date":"2026-04-01","attributes":{"level":"L5","cost_center":"42"}}}`
}

func TestEventValidationListsEveryProblemAndWritesNothing(t *testing.T) {
	h := newHarness(t)
	body := `{"id":"ev bad","type":"hire","effective_at":"yesterday","colour":"red","employee":{
		"id":"employee/1","email":"Grace <grace@example.com>","given_name":"","family_name":7,
		"start_date":"2026-13-01","end_date":"2026-01-01","nickname":"amazing","attributes":{"bad key":"x"}}}`
	e := wantError(t, h.do("POST", "/api/v1/events", body), http.StatusBadRequest, tenure.EINVALID)
	got := map[string]string{}
	for _, f := range e.Fields {
		got[f.Field] = f.Problem
	}
	want := []string{
		"id", "effective_at", "colour", "employee.id", "employee.email", "employee.given_name",
		"employee.family_name", "employee.start_date", "employee.nickname", "employee.attributes.bad key",
	}
	for _, f := range want {
		if got[f] == "" {
			t.Errorf("no problem reported for %s; got %v", f, got)
		}
	}
	if len(e.Fields) != len(want) {
		t.Errorf("got %d problems, want %d: %v", len(e.Fields), len(want), got)
	}
	if !strings.Contains(got["employee.family_name"], "string") {
		t.Errorf("family_name problem %q should say it must be a string", got["employee.family_name"])
	}
	if _, err := h.store.GetEvent(context.Background(), "ev bad"); tenure.ErrorCode(err) != tenure.ENOTFOUND {
		t.Fatalf("a rejected event was stored: %v", err)
	}
	if h.engine.submitCount() != 0 {
		t.Fatal("a rejected event reached the engine")
	}

	// end_date before start_date, and an unknown type; names are not needed for an update.
	e = wantError(t, h.do("POST", "/api/v1/events", `{"type":"promote","employee":{"id":"e1","email":"e1@example.com","start_date":"2026-04-01","end_date":"2026-03-31"}}`),
		http.StatusBadRequest, tenure.EINVALID)
	if len(e.Fields) != 2 || e.Fields[0].Field != "type" || e.Fields[1].Field != "employee.end_date" {
		t.Fatalf("fields = %+v, want type and employee.end_date", e.Fields)
	}
	wantError(t, h.do("POST", "/api/v1/events", `{"type":"update"}`), http.StatusBadRequest, tenure.EINVALID)

	// Malformed JSON names where it broke.
	e = wantError(t, h.do("POST", "/api/v1/events", "{\n  \"type\": \"hire\",\n  \"employee\": {,}\n}"), http.StatusBadRequest, tenure.EINVALID)
	if len(e.Fields) != 1 || e.Fields[0].Field != "body" || !strings.Contains(e.Fields[0].Problem, "line 3") {
		t.Fatalf("fields = %+v, want the body at line 3", e.Fields)
	}
	wantError(t, h.do("POST", "/api/v1/events", ""), http.StatusBadRequest, tenure.EINVALID)
	wantError(t, h.do("POST", "/api/v1/events", `[]`), http.StatusBadRequest, tenure.EINVALID)
	wantError(t, h.do("POST", "/api/v1/events", hireBody("", "e1"), "Content-Type", "text/xml"), http.StatusBadRequest, tenure.EINVALID)

	// A body over 1 MiB is refused before it is parsed.
	big := `{"type":"hire","employee":{"id":"e1","email":"e1@example.com","title":"` + strings.Repeat("x", maxBody) + `"}}`
	wantError(t, h.do("POST", "/api/v1/events", big), http.StatusRequestEntityTooLarge, tenure.EINVALID)

	if h.engine.submitCount() != 0 {
		t.Fatal("a rejected event reached the engine")
	}
	events, err := h.store.ListEvents(context.Background(), "e1")
	if err != nil || len(events) != 0 {
		t.Fatalf("rejected events were stored: %v %v", events, err)
	}
}

func TestEventIsDispatchedOnce(t *testing.T) {
	h := newHarness(t)
	first := h.do("POST", "/api/v1/events", hireBody("ev-1", "grace"))
	if first.status != http.StatusAccepted {
		t.Fatalf("status %d: %s", first.status, first.body)
	}
	got := first.json(t)
	want := map[string]any{"event_id": "ev-1", "employee_id": "grace", "workflow_id": "employee/grace"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	second := h.do("POST", "/api/v1/events", hireBody("ev-1", "grace"))
	if second.status != http.StatusAccepted || !bytes.Equal(first.body, second.body) {
		t.Fatalf("repeat: %d %s, want 202 %s", second.status, second.body, first.body)
	}
	if n := h.engine.submitCount(); n != 1 {
		t.Fatalf("SubmitEvent called %d times, want 1", n)
	}
	ev := h.engine.calls().submits[0]
	if ev.ID != "ev-1" || ev.Type != tenure.EventHire || ev.Employee.Attributes["level"] != "L5" ||
		ev.EffectiveAt == nil || !ev.EffectiveAt.Equal(time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)) {
		t.Fatalf("submitted %+v", ev)
	}
	rec, err := h.store.GetEvent(context.Background(), "ev-1")
	if err != nil {
		t.Fatal(err)
	}
	if rec.Status != tenure.EventDispatched || rec.BodyHash == "" || rec.WorkflowID != "employee/grace" {
		t.Fatalf("stored %+v", rec)
	}

	// Same ID, another body: a conflict, and nothing runs.
	e := wantError(t, h.do("POST", "/api/v1/events", hireBody("ev-1", "alan")), http.StatusConflict, tenure.ECONFLICT)
	if !strings.Contains(e.Message, "ev-1") {
		t.Errorf("message %q should name the event", e.Message)
	}
	if n := h.engine.submitCount(); n != 1 {
		t.Fatalf("SubmitEvent called %d times after a conflict, want 1", n)
	}
}

// TestEngineUnavailableShowsNoInternals: the real engine reports Temporal down
// as EUNAVAILABLE with gRPC's text as the cause; callers see a clean message
// and the log gets the cause.
func TestEngineUnavailableShowsNoInternals(t *testing.T) {
	h := newHarness(t)
	cause := errors.New(`rpc error: code = Unavailable desc = dial tcp 10.20.30.40:7233: connect: connection refused`)
	h.engine.set(func(f *fakeEngine) { f.failSubmit = tenure.Unavailable("Temporal", cause) })
	res := h.do("POST", "/api/v1/events", hireBody("ev-3", "grace"))
	wantError(t, res, http.StatusServiceUnavailable, tenure.EUNAVAILABLE)
	if strings.Contains(string(res.body), "10.20.30.40") || strings.Contains(string(res.body), "rpc error") {
		t.Errorf("the response leaks Temporal's address: %s", res.body)
	}
	if !strings.Contains(h.logs.String(), "10.20.30.40:7233") {
		t.Errorf("the cause is not in the log:\n%s", h.logs.String())
	}
}

func TestEngineFailureLeavesTheEventForARetry(t *testing.T) {
	h := newHarness(t)
	h.engine.set(func(f *fakeEngine) { f.failSubmit = errors.New("dial tcp 127.0.0.1:7233: connection refused") })
	e := wantError(t, h.do("POST", "/api/v1/events", hireBody("ev-2", "grace")), http.StatusServiceUnavailable, tenure.EUNAVAILABLE)
	if strings.Contains(e.Message, "7233") {
		t.Errorf("message %q leaks the cause", e.Message)
	}
	if !strings.Contains(h.logs.String(), "dial tcp 127.0.0.1:7233") {
		t.Errorf("the cause is not in the log:\n%s", h.logs.String())
	}
	rec, err := h.store.GetEvent(context.Background(), "ev-2")
	if err != nil || rec.Status != tenure.EventReceived {
		t.Fatalf("after a failure the event is %+v, %v; want received", rec, err)
	}

	h.engine.set(func(f *fakeEngine) { f.failSubmit = nil })
	res := h.do("POST", "/api/v1/events", hireBody("ev-2", "grace"))
	if res.status != http.StatusAccepted {
		t.Fatalf("retry: %d %s", res.status, res.body)
	}
	if n := h.engine.submitCount(); n != 2 {
		t.Fatalf("SubmitEvent called %d times, want 2 (the failure and the retry)", n)
	}
	if rec, _ := h.store.GetEvent(context.Background(), "ev-2"); rec.Status != tenure.EventDispatched {
		t.Fatalf("after the retry the event is %s, want dispatched", rec.Status)
	}
	// The retry carries the first arrival time.
	if got := h.engine.calls().submits[1].ReceivedAt; !got.Equal(rec.ReceivedAt) {
		t.Errorf("retry received_at = %v, want %v", got, rec.ReceivedAt)
	}
	h.do("POST", "/api/v1/events", hireBody("ev-2", "grace"))
	if n := h.engine.submitCount(); n != 2 {
		t.Fatalf("a dispatched event ran again: %d calls", n)
	}
}

func TestIdempotencyKeyHeader(t *testing.T) {
	h := newHarness(t)
	first := h.do("POST", "/api/v1/events", hireBody("", "grace"), HeaderIdempotencyKey, "hr-batch-7:grace")
	if first.status != http.StatusAccepted || first.json(t)["event_id"] != "hr-batch-7:grace" {
		t.Fatalf("first: %d %s", first.status, first.body)
	}
	second := h.do("POST", "/api/v1/events", hireBody("", "grace"), HeaderIdempotencyKey, "hr-batch-7:grace")
	if !bytes.Equal(first.body, second.body) || h.engine.submitCount() != 1 {
		t.Fatalf("second: %s, %d submits", second.body, h.engine.submitCount())
	}
	// The body's id wins, but a different header is a mistake worth reporting.
	wantError(t, h.do("POST", "/api/v1/events", hireBody("ev-9", "grace"), HeaderIdempotencyKey, "other"), http.StatusBadRequest, tenure.EINVALID)

	// Without either, each request is a new event.
	a := h.do("POST", "/api/v1/events", hireBody("", "alan")).json(t)["event_id"]
	b := h.do("POST", "/api/v1/events", hireBody("", "alan")).json(t)["event_id"]
	if a == "" || a == nil || a == b {
		t.Fatalf("random ids %v and %v", a, b)
	}
	if n := h.engine.submitCount(); n != 3 {
		t.Fatalf("%d submits, want 3", n)
	}
}

func seedEmployee(t *testing.T, s tenure.Store, id string, status tenure.PersonStatus) {
	t.Helper()
	err := s.UpsertEmployee(context.Background(), tenure.Employee{
		Person: tenure.Person{ID: id, Email: id + "@example.com", GivenName: "Grace", FamilyName: "Hopper", Department: "eng"},
		Status: status,
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestEmployeeDetail(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	seedEmployee(t, h.store, "grace", tenure.PersonActive)
	verified := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(h.store.UpsertAccount(ctx, tenure.Account{EmployeeID: "grace", App: "github", AccountID: "gh-1", Status: tenure.AccessActive, Entitlements: []string{"eng"}, VerifiedAt: &verified}))
	must(h.store.UpsertGrant(ctx, tenure.GrantRecord{EmployeeID: "grace", App: "github", Entitlement: "eng", Status: tenure.AccessActive}))
	must(h.store.UpsertGrant(ctx, tenure.GrantRecord{EmployeeID: "grace", App: "aws", Entitlement: "admin", Status: tenure.AccessPendingApproval, ApprovalID: "ap-1"}))
	must(h.store.UpsertRun(ctx, tenure.Run{WorkflowID: "employee/grace/joiner/ev-1", EmployeeID: "grace", Type: "Joiner", EventID: "ev-1", Status: tenure.RunCompleted, StartedAt: verified, ClosedAt: &verified}))
	if _, _, err := h.store.CreateEvent(ctx, tenure.EventRecord{ID: "ev-1", EmployeeID: "grace", Type: tenure.EventHire, WorkflowID: "employee/grace", BodyHash: "h", Status: tenure.EventDispatched, ReceivedAt: verified}); err != nil {
		t.Fatal(err)
	}

	res := h.do("GET", "/api/v1/employees/grace", "")
	if res.status != http.StatusOK {
		t.Fatalf("status %d: %s", res.status, res.body)
	}
	var d struct {
		ID     string `json:"id"`
		Email  string `json:"email"`
		Status string `json:"status"`
		Access []struct {
			App          string   `json:"app"`
			AccountID    string   `json:"account_id"`
			Status       string   `json:"status"`
			Entitlements []string `json:"entitlements"`
			VerifiedAt   *string  `json:"verified_at"`
			Grants       []struct {
				Entitlement string `json:"entitlement"`
				Status      string `json:"status"`
				ApprovalID  string `json:"approval_id"`
			} `json:"grants"`
		} `json:"access"`
		Workflows []struct {
			WorkflowID  string  `json:"workflow_id"`
			Type        string  `json:"type"`
			Status      string  `json:"status"`
			TemporalURL string  `json:"temporal_url"`
			StartedAt   string  `json:"started_at"`
			ClosedAt    *string `json:"closed_at"`
		} `json:"workflows"`
		Events []struct {
			ID     string `json:"id"`
			Status string `json:"status"`
		} `json:"events"`
	}
	if err := json.Unmarshal(res.body, &d); err != nil {
		t.Fatal(err)
	}
	if d.ID != "grace" || d.Email != "grace@example.com" || d.Status != "active" {
		t.Fatalf("person: %s", res.body)
	}
	if len(d.Access) != 2 {
		t.Fatalf("access: %s", res.body)
	}
	aws, gh := d.Access[0], d.Access[1]
	if aws.App != "aws" || aws.Status != "pending_approval" || aws.AccountID != "" || aws.VerifiedAt != nil ||
		len(aws.Grants) != 1 || aws.Grants[0].ApprovalID != "ap-1" || aws.Entitlements == nil {
		t.Errorf("aws access: %+v", aws)
	}
	if gh.App != "github" || gh.AccountID != "gh-1" || gh.Status != "active" || !slices.Equal(gh.Entitlements, []string{"eng"}) ||
		gh.VerifiedAt == nil || len(gh.Grants) != 1 || gh.Grants[0].Entitlement != "eng" {
		t.Errorf("github access: %+v", gh)
	}
	if len(d.Workflows) != 1 || d.Workflows[0].TemporalURL != "http://temporal.test/workflows/employee/grace/joiner/ev-1" ||
		d.Workflows[0].Status != "completed" || d.Workflows[0].ClosedAt == nil || d.Workflows[0].Type != "Joiner" {
		t.Errorf("workflows: %+v", d.Workflows)
	}
	if len(d.Events) != 1 || d.Events[0].ID != "ev-1" || d.Events[0].Status != "dispatched" {
		t.Errorf("events: %+v", d.Events)
	}
	if bytes.Contains(res.body, []byte(`"h"`)) {
		t.Error("the event's body hash is exposed")
	}

	wantError(t, h.do("GET", "/api/v1/employees/nobody", ""), http.StatusNotFound, tenure.ENOTFOUND)
}

func TestEmployeeList(t *testing.T) {
	h := newHarness(t)
	seedEmployee(t, h.store, "grace", tenure.PersonActive)
	seedEmployee(t, h.store, "alan", tenure.PersonLocked)
	res := h.do("GET", "/api/v1/employees?status=locked", "")
	var l struct {
		Employees []tenure.Employee `json:"employees"`
		Total     int               `json:"total"`
		Limit     int               `json:"limit"`
		Offset    int               `json:"offset"`
	}
	if err := json.Unmarshal(res.body, &l); err != nil || res.status != http.StatusOK {
		t.Fatalf("%d %s %v", res.status, res.body, err)
	}
	if l.Total != 1 || len(l.Employees) != 1 || l.Employees[0].ID != "alan" || l.Limit != defaultPage || l.Offset != 0 {
		t.Fatalf("list: %s", res.body)
	}
	e := wantError(t, h.do("GET", "/api/v1/employees?status=asleep&limit=9999", ""), http.StatusBadRequest, tenure.EINVALID)
	if len(e.Fields) != 2 || e.Fields[0].Field != "limit" && e.Fields[1].Field != "limit" {
		t.Fatalf("fields %+v, want status and limit", e.Fields)
	}
	if res := h.do("GET", "/api/v1/employees?limit=1&offset=1", ""); !strings.Contains(string(res.body), `"total":2`) || !strings.Contains(string(res.body), `"limit":1`) {
		t.Fatalf("page: %s", res.body)
	}
}

func TestLockAndUnlock(t *testing.T) {
	h := newHarness(t)
	wantError(t, h.do("POST", "/api/v1/employees/nobody/lock", ""), http.StatusNotFound, tenure.ENOTFOUND)
	if len(h.engine.calls().locks) != 0 {
		t.Fatal("locking an unknown person reached the engine")
	}
	seedEmployee(t, h.store, "grace", tenure.PersonActive)
	res := h.do("POST", "/api/v1/employees/grace/lock", "", HeaderIdempotencyKey, "lock-1")
	if res.status != http.StatusAccepted {
		t.Fatalf("lock: %d %s", res.status, res.body)
	}
	if got := res.json(t); got["employee_id"] != "grace" || got["workflow_id"] != "employee/grace" {
		t.Fatalf("lock body %s", res.body)
	}
	if want := (killCall{"grace", "lock-1", "ada"}); len(h.engine.calls().locks) != 1 || h.engine.calls().locks[0] != want {
		t.Fatalf("locks %+v, want %+v", h.engine.calls().locks, want)
	}
	res = h.do("POST", "/api/v1/employees/grace/unlock", "")
	if res.status != http.StatusAccepted || len(h.engine.calls().unlocks) != 1 || h.engine.calls().unlocks[0].RequestID == "" || h.engine.calls().unlocks[0].Actor != "ada" {
		t.Fatalf("unlock: %d %s %+v", res.status, res.body, h.engine.calls().unlocks)
	}
}

func TestRetryOneApp(t *testing.T) {
	h := newHarness(t)
	seedEmployee(t, h.store, "grace", tenure.PersonActive)
	if err := h.store.UpsertApp(context.Background(), tenure.App{Name: "github", Connector: "scim", Health: tenure.HealthOK}); err != nil {
		t.Fatal(err)
	}
	wantError(t, h.do("POST", "/api/v1/employees/grace/apps/gitlab/retry", ""), http.StatusNotFound, tenure.ENOTFOUND)
	res := h.do("POST", "/api/v1/employees/grace/apps/github/retry", "", HeaderIdempotencyKey, "r-1")
	if res.status != http.StatusAccepted {
		t.Fatalf("retry: %d %s", res.status, res.body)
	}
	if want := (killCall{"grace", "github/r-1", "ada"}); len(h.engine.calls().retries) != 1 || h.engine.calls().retries[0] != want {
		t.Fatalf("retries %+v, want %+v", h.engine.calls().retries, want)
	}
}

func TestApprovals(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	for _, id := range []string{"ap-1", "ap-2", "ap-3"} {
		err := h.store.CreateApproval(ctx, tenure.Approval{ID: id, EmployeeID: "grace", WorkflowID: "employee/grace", App: "aws",
			Entitlement: "admin", Approver: tenure.ApproverManager, ApproverID: "boss", Status: tenure.ApprovalPending, RequestedAt: time.Now().UTC()})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := h.store.DecideApproval(ctx, "ap-3", tenure.ApprovalApproved, "boss", "", time.Now()); err != nil {
		t.Fatal(err)
	}
	res := h.do("GET", "/api/v1/approvals?status=pending&employee_id=grace", "")
	var l struct{ Approvals []tenure.Approval }
	if err := json.Unmarshal(res.body, &l); err != nil || len(l.Approvals) != 2 {
		t.Fatalf("pending approvals: %d %s", res.status, res.body)
	}
	wantError(t, h.do("GET", "/api/v1/approvals?status=maybe", ""), http.StatusBadRequest, tenure.EINVALID)

	res = h.do("POST", "/api/v1/approvals/ap-1/approve", `{"reason":"on call"}`)
	if got := res.json(t); res.status != http.StatusOK || got["approval_id"] != "ap-1" || got["status"] != "approved" {
		t.Fatalf("approve: %d %s", res.status, res.body)
	}
	res = h.do("POST", "/api/v1/approvals/ap-2/deny", "")
	if got := res.json(t); res.status != http.StatusOK || got["status"] != "denied" {
		t.Fatalf("deny: %d %s", res.status, res.body)
	}
	want := []tenure.Decision{
		{ApprovalID: "ap-1", Approve: true, By: "ada", Reason: "on call", Role: tenure.RoleAdmin},
		{ApprovalID: "ap-2", Approve: false, By: "ada", Role: tenure.RoleAdmin},
	}
	if !slices.Equal(h.engine.calls().decisions, want) {
		t.Fatalf("decisions %+v, want %+v", h.engine.calls().decisions, want)
	}

	wantError(t, h.do("POST", "/api/v1/approvals/ap-3/deny", `{"reason":"too late"}`), http.StatusConflict, tenure.ECONFLICT)
	wantError(t, h.do("POST", "/api/v1/approvals/ap-404/approve", ""), http.StatusNotFound, tenure.ENOTFOUND)
	e := wantError(t, h.do("POST", "/api/v1/approvals/ap-1/deny", `{"reason":"`+strings.Repeat("n", intake.MaxReason+1)+`","why":1}`), http.StatusBadRequest, tenure.EINVALID)
	if len(e.Fields) != 2 {
		t.Fatalf("fields %+v, want reason and why", e.Fields)
	}
	if len(h.engine.calls().decisions) != 2 {
		t.Fatalf("refused decisions reached the engine: %+v", h.engine.calls().decisions)
	}
}

func TestAppsAndAudit(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	if err := h.store.UpsertApp(ctx, tenure.App{Name: "github", Connector: "scim", BaseURL: "http://x/scim/v2", Health: tenure.HealthOK}); err != nil {
		t.Fatal(err)
	}
	for i, action := range []string{"account.created", "account.disabled"} {
		err := h.store.AppendAudit(ctx, tenure.AuditRecord{Key: "k" + action, At: time.Date(2026, 3, 1, i, 0, 0, 0, time.UTC), Actor: "worker", Action: action, EmployeeID: "grace", App: "github"})
		if err != nil {
			t.Fatal(err)
		}
	}
	res := h.do("GET", "/api/v1/apps", "")
	var apps struct{ Apps []tenure.App }
	if err := json.Unmarshal(res.body, &apps); err != nil || len(apps.Apps) != 1 || apps.Apps[0].Health != "ok" || apps.Apps[0].Connector != "scim" {
		t.Fatalf("apps: %s", res.body)
	}
	res = h.do("GET", "/api/v1/audit?employee_id=grace&action=account.disabled&since=2026-03-01T00:00:00Z", "")
	var audit struct{ Records []tenure.AuditRecord }
	if err := json.Unmarshal(res.body, &audit); err != nil || len(audit.Records) != 1 || audit.Records[0].Action != "account.disabled" {
		t.Fatalf("audit: %s", res.body)
	}
	e := wantError(t, h.do("GET", "/api/v1/audit?since=yesterday&limit=0", ""), http.StatusBadRequest, tenure.EINVALID)
	if len(e.Fields) != 2 {
		t.Fatalf("fields %+v, want since and limit", e.Fields)
	}
}

func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	h := newHarness(t)
	res := h.do("GET", "/api/v1/openapi.json", "")
	if res.status != http.StatusOK {
		t.Fatalf("status %d", res.status)
	}
	var doc struct {
		OpenAPI string                               `json:"openapi"`
		Paths   map[string]map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(res.body, &doc); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.0") {
		t.Fatalf("openapi = %q", doc.OpenAPI)
	}
	described := 0
	for _, r := range apiRoutes(t, h.cfg) {
		path := strings.ReplaceAll(echoParam.ReplaceAllString(r.Path, "${1}{$2}"), `\:`, ":")
		op, ok := doc.Paths[path][strings.ToLower(r.Method)]
		if !ok {
			t.Errorf("%s %s is not in openapi.json", r.Method, path)
			continue
		}
		if op["responses"] == nil {
			t.Errorf("%s %s has no responses", r.Method, path)
		}
		described++
	}
	// And the document describes nothing the server does not answer.
	total := 0
	for path, ops := range doc.Paths {
		if strings.HasPrefix(path, "/api/") {
			total += len(ops)
		}
	}
	if total != described {
		t.Errorf("openapi.json has %d /api/ operations, the server %d", total, described)
	}
}

func TestWrongMethodIs405EvenWithTheConsoleMountedAtTheRoot(t *testing.T) {
	h := newHarness(t)
	console := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("console")) })
	h.cfg.Mounts = map[string]http.Handler{"/": console}
	srv := httptest.NewServer(mustServer(t, h.cfg))
	defer srv.Close()
	for _, c := range []struct {
		method, path string
		status       int
		allow        string
	}{
		{"GET", "/api/v1/events", http.StatusMethodNotAllowed, "POST"},
		{"DELETE", "/api/v1/employees/E1", http.StatusMethodNotAllowed, "GET"},
		{"GET", "/api/v1/nothing-here", http.StatusNotFound, ""},
		{"GET", "/people", http.StatusOK, ""},
	} {
		req, _ := http.NewRequest(c.method, srv.URL+c.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.status || resp.Header.Get("Allow") != c.allow {
			t.Errorf("%s %s = %d Allow %q, want %d Allow %q", c.method, c.path, resp.StatusCode, resp.Header.Get("Allow"), c.status, c.allow)
		}
	}
}
