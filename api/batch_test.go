package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/guard"
	"github.com/tenure-io/tenure/rollout"
	"github.com/tenure-io/tenure/store/storetest"
)

const (
	bulkHRToken      = "s3cret-hr-token-for-batch-tests"
	bulkAuditorToken = "s3cret-auditor-token-for-batch-tests"
)

// batchEngine stands in for Temporal: it records every event it is handed, in
// order, and fails for the people in fail.
type batchEngine struct {
	fakeEngine
	mu   sync.Mutex
	fail map[string]bool
	got  []tenure.Event
}

func (b *batchEngine) SubmitEvent(_ context.Context, ev tenure.Event) (string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.got = append(b.got, ev)
	if b.fail[ev.Employee.ID] {
		return "", errors.New("dial tcp 127.0.0.1:7233: connection refused")
	}
	return tenure.WorkflowID(ev.Employee.ID), nil
}

func (b *batchEngine) submitted() []tenure.Event {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]tenure.Event(nil), b.got...)
}

// bulkServer is an API over real HTTP on the real SQLite store, with tokens for
// the admin, HR and an auditor.
type bulkServer struct {
	t     *testing.T
	url   string
	store tenure.Store
	eng   *batchEngine
	logs  *syncBuffer
}

// newBulkServer serves the API with, when pol is not nil, that policy in force.
func newBulkServer(t *testing.T, pol []byte) *bulkServer {
	t.Helper()
	db := storetest.SQLite(t)
	b := &bulkServer{t: t, store: db, eng: &batchEngine{fail: map[string]bool{}}, logs: &syncBuffer{}}
	var policies *rollout.Service
	var inForce guard.Policies
	if pol != nil {
		policies = policyInForce(t, db, nil, pol)
		inForce = policies
	}
	h := mustServer(t, Config{
		Store:    db,
		Tokens:   db,
		Managers: db,
		Engine:   b.eng,
		Guard:    testGuard(t, db, b.eng, nil, inForce),
		Auth: StaticTokens(map[string]tenure.Principal{
			adminToken:       {Name: "ada", Role: tenure.RoleAdmin},
			bulkHRToken:      {Name: "hr-feed", Role: tenure.RoleHR},
			bulkAuditorToken: {Name: "audrey", Role: tenure.RoleAuditor},
		}),
		Logger:   newTestLogger(b.logs),
		Policies: policies,
		Now:      func() time.Time { return time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC) },
	})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	b.url = srv.URL
	return b
}

// post sends body with the token and content type given, and decodes a JSON answer into out.
func (b *bulkServer) post(path, token, contentType string, body []byte, out any) response {
	b.t.Helper()
	req, err := http.NewRequest("POST", b.url+path, bytes.NewReader(body))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	if out != nil && resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(data, out); err != nil {
			b.t.Fatalf("%s: %v: %s", path, err, data)
		}
	}
	return response{status: resp.StatusCode, header: resp.Header, body: data}
}

type batchAnswer struct {
	Accepted   int `json:"accepted"`
	Duplicates int `json:"duplicates"`
	Invalid    int `json:"invalid"`
	Conflicts  int `json:"conflicts"`
	Errors     int `json:"errors"`
	Results    []struct {
		Index      int          `json:"index"`
		EventID    string       `json:"event_id"`
		EmployeeID string       `json:"employee_id"`
		WorkflowID string       `json:"workflow_id"`
		Status     string       `json:"status"`
		Error      *errorDetail `json:"error"`
	} `json:"results"`
}

func eventJSON(id, typ, employee string) string {
	return fmt.Sprintf(`{"id":%q,"type":%q,"employee":{"id":%q,"email":"%s@example.com","given_name":"Grace","family_name":"Hopper"}}`,
		id, typ, employee, strings.ToLower(employee))
}

func batchBody(events ...string) []byte {
	return []byte(`{"events":[` + strings.Join(events, ",") + `]}`)
}

func TestBatchAnswersEachEvent(t *testing.T) {
	b := newBulkServer(t, nil)
	ctx := context.Background()
	// ev-dup was sent before, alone.
	if res := b.post("/api/v1/events", adminToken, "application/json", []byte(eventJSON("ev-dup", "hire", "dup")), nil); res.status != http.StatusAccepted {
		t.Fatalf("single event: %d %s", res.status, res.body)
	}
	b.eng.fail["down"] = true
	var got batchAnswer
	res := b.post("/api/v1/events:batch", bulkHRToken, "application/json", batchBody(
		eventJSON("ev-ok", "hire", "ok"),                                       // 0
		`{"id":"ev-bad","type":"hire","employee":{"id":"bad","email":"nope"}}`, // 1: invalid
		eventJSON("ev-dup", "hire", "dup"),                                     // 2: duplicate
		eventJSON("ev-dup", "hire", "other"),                                   // 3: same id, other body
		eventJSON("ev-down", "hire", "down"),                                   // 4: Temporal fails
		`"not an object"`,                                                      // 5: invalid
		eventJSON("ev-ok2", "update", "ok2"),                                   // 6
	), &got)
	if res.status != http.StatusOK {
		t.Fatalf("batch: %d %s", res.status, res.body)
	}
	want := []string{"accepted", "invalid", "duplicate", "conflict", "error", "invalid", "accepted"}
	if len(got.Results) != len(want) {
		t.Fatalf("%d results, want %d: %s", len(got.Results), len(want), res.body)
	}
	for i, w := range want {
		r := got.Results[i]
		if r.Index != i || r.Status != w {
			t.Errorf("result %d: index %d status %s, want %s: %+v", i, r.Index, r.Status, w, r.Error)
		}
		if (w == "accepted" || w == "duplicate") != (r.Error == nil) {
			t.Errorf("result %d (%s): error %+v", i, w, r.Error)
		}
	}
	if r := got.Results[0]; r.EventID != "ev-ok" || r.EmployeeID != "ok" || r.WorkflowID != "employee/ok" {
		t.Errorf("accepted result %+v", r)
	}
	if e := got.Results[1].Error; e.Code != tenure.EINVALID || len(e.Fields) != 3 || e.Fields[0].Field != "employee.email" {
		t.Errorf("invalid result names %+v; want email, given_name and family_name", e)
	}
	if e := got.Results[3].Error; e.Code != tenure.ECONFLICT || !strings.Contains(e.Message, "ev-dup") {
		t.Errorf("conflict result %+v", e)
	}
	if e := got.Results[4].Error; e.Code != tenure.EUNAVAILABLE || strings.Contains(e.Message, "7233") {
		t.Errorf("engine failure %+v: want unavailable, without the cause", e)
	}
	if got.Accepted != 2 || got.Duplicates != 1 || got.Invalid != 2 || got.Conflicts != 1 || got.Errors != 1 {
		t.Errorf("counts %+v", got)
	}
	// The invalid event wrote nothing; the failed one waits for a retry.
	if _, err := b.store.GetEvent(ctx, "ev-bad"); tenure.ErrorCode(err) != tenure.ENOTFOUND {
		t.Errorf("the invalid event was stored: %v", err)
	}
	if rec, err := b.store.GetEvent(ctx, "ev-down"); err != nil || rec.Status != tenure.EventReceived {
		t.Errorf("the failed event is %+v %v, want received", rec, err)
	}
	// ev-dup reached the engine once (the single POST), ev-ok and ev-ok2 once each.
	count := map[string]int{}
	for _, ev := range b.eng.submitted() {
		count[ev.ID]++
	}
	if count["ev-dup"] != 1 || count["ev-ok"] != 1 || count["ev-ok2"] != 1 || count["ev-bad"] != 0 {
		t.Errorf("engine saw %v", count)
	}
	if strings.Contains(b.logs.String(), adminToken) || strings.Contains(b.logs.String(), bulkHRToken) {
		t.Error("a token reached the log")
	}
}

func TestBatchKeepsOnePersonsEventsInOrder(t *testing.T) {
	// 50 people hired and terminated in one batch: a guard that lets them all
	// through, as this is about their order (holds_test.go holds a batch).
	b := newBulkServer(t, []byte("version: 1\nguard: {people: 100}\n"))
	var events []string
	for step, typ := range []string{"hire", "update", "update", "terminate"} {
		for p := range 50 {
			events = append(events, eventJSON(fmt.Sprintf("ev-%02d-%d", p, step), typ, fmt.Sprintf("P%02d", p)))
		}
	}
	var got batchAnswer
	if res := b.post("/api/v1/events:batch", adminToken, "application/json", batchBody(events...), &got); res.status != http.StatusOK || got.Accepted != 200 {
		t.Fatalf("batch: %d, %d accepted: %.300s", res.status, got.Accepted, res.body)
	}
	last := map[string]string{}
	for _, ev := range b.eng.submitted() {
		if prev := last[ev.Employee.ID]; prev > ev.ID {
			t.Fatalf("%s reached the workflow after %s", ev.ID, prev)
		}
		last[ev.Employee.ID] = ev.ID
	}
	if len(last) != 50 {
		t.Fatalf("%d people reached the engine, want 50", len(last))
	}
}

func TestBatchLimitsAndRefusals(t *testing.T) {
	b := newBulkServer(t, nil)
	many := make([]string, MaxBatch+1)
	for i := range many {
		many[i] = eventJSON(fmt.Sprintf("ev-%d", i), "hire", fmt.Sprintf("E%d", i))
	}
	for name, tc := range map[string]struct {
		body   string
		status int
		field  string
	}{
		"too many":     {string(batchBody(many...)), http.StatusBadRequest, "events"},
		"none":         {`{"events":[]}`, http.StatusBadRequest, "events"},
		"missing":      {`{}`, http.StatusBadRequest, "events"},
		"not an array": {`{"events":{"id":"x"}}`, http.StatusBadRequest, "events"},
		"unknown":      {`{"events":[],"dry_run":true}`, http.StatusBadRequest, "dry_run"},
		"not JSON":     {`{"events":[`, http.StatusBadRequest, "body"},
		"empty":        {``, http.StatusBadRequest, "body"},
	} {
		t.Run(name, func(t *testing.T) {
			e := wantError(t, b.post("/api/v1/events:batch", adminToken, "application/json", []byte(tc.body), nil), tc.status, tenure.EINVALID)
			if len(e.Fields) == 0 || e.Fields[0].Field != tc.field {
				t.Fatalf("fields %+v, want %s", e.Fields, tc.field)
			}
		})
	}
	// Exactly MaxBatch is fine.
	var got batchAnswer
	if res := b.post("/api/v1/events:batch", adminToken, "application/json", batchBody(many[:MaxBatch]...), &got); res.status != http.StatusOK || got.Accepted != MaxBatch {
		t.Fatalf("%d events: %d, %d accepted", MaxBatch, res.status, got.Accepted)
	}
	// A body over the batch limit is refused unread, with its own limit named.
	big := []byte(`{"events":[` + strings.Repeat(" ", maxBatchBody) + `]}`)
	e := wantError(t, b.post("/api/v1/events:batch", adminToken, "application/json", big, nil), http.StatusRequestEntityTooLarge, tenure.EINVALID)
	if !strings.Contains(e.Message, fmt.Sprint(maxBatchBody)) {
		t.Errorf("message %q should name the limit", e.Message)
	}
	wantError(t, b.post("/api/v1/events:batch", adminToken, "text/csv", batchBody(many[0]), nil), http.StatusBadRequest, tenure.EINVALID)
	if n := len(b.eng.submitted()); n != MaxBatch {
		t.Fatalf("refused batches reached the engine: %d submits, want %d", n, MaxBatch)
	}
}

// Echo reads ":" in a route as the start of a parameter; the route is written
// "/events\:batch" so that only the literal path matches.
func TestBatchPathIsALiteralColon(t *testing.T) {
	b := newBulkServer(t, nil)
	body := batchBody(eventJSON("ev-1", "hire", "E1"))
	for _, path := range []string{"/api/v1/events:other", "/api/v1/eventsXbatch", "/api/v1/events/batch", "/api/v1/events:batch/x"} {
		if res := b.post(path, adminToken, "application/json", body, nil); res.status != http.StatusNotFound {
			t.Errorf("POST %s: %d, want 404", path, res.status)
		}
	}
	var got batchAnswer
	if res := b.post("/api/v1/events:batch", adminToken, "application/json", body, &got); res.status != http.StatusOK || got.Accepted != 1 {
		t.Errorf("POST /api/v1/events:batch: %d %s", res.status, res.body)
	}
	// The plain events route is untouched.
	if res := b.post("/api/v1/events", adminToken, "application/json", []byte(eventJSON("ev-2", "hire", "E2")), nil); res.status != http.StatusAccepted {
		t.Errorf("POST /api/v1/events: %d", res.status)
	}
}

func TestBatchRoles(t *testing.T) {
	b := newBulkServer(t, nil)
	body := batchBody(eventJSON("ev-1", "hire", "E1"))
	wantError(t, b.post("/api/v1/events:batch", bulkAuditorToken, "application/json", body, nil), http.StatusForbidden, tenure.EFORBIDDEN)
	wantError(t, b.post("/api/v1/events:batch", "wrong", "application/json", body, nil), http.StatusUnauthorized, tenure.EUNAUTHORIZED)
	if len(b.eng.submitted()) != 0 {
		t.Fatal("a refused caller reached the engine")
	}
	if res := b.post("/api/v1/events:batch", bulkHRToken, "application/json", body, nil); res.status != http.StatusOK {
		t.Fatalf("hr: %d", res.status)
	}
}

// BenchmarkEventBatch measures events per second through the batch endpoint
// over HTTP, on the SQLite store, with an engine that answers at once: the
// API's and the store's own cost per event.
func BenchmarkEventBatch(b *testing.B) {
	db := storetest.SQLite(b)
	srv := httptest.NewServer(mustServer(b, Config{
		Store: db, Tokens: db, Managers: db, Engine: &batchEngine{}, Guard: testGuard(b, db, &batchEngine{}, nil),
		Auth: StaticTokens(map[string]tenure.Principal{adminToken: {Name: "ada"}}),
	}))
	defer srv.Close()
	n := 0
	b.ResetTimer()
	for b.Loop() {
		events := make([]string, 500)
		for i := range events {
			events[i] = eventJSON(fmt.Sprintf("ev-%d", n), "hire", fmt.Sprintf("E%d", n))
			n++
		}
		req, _ := http.NewRequest("POST", srv.URL+"/api/v1/events:batch", bytes.NewReader(batchBody(events...)))
		req.Header.Set("Authorization", "Bearer "+adminToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != http.StatusOK {
			b.Fatalf("batch: %v %v", resp, err)
		}
		resp.Body.Close()
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
}

func newTestLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// A batch's events go to the bulk engine, which starts people at the bulk's
// lower priority; a single event goes to the engine that starts them at the
// default.
func TestBatchGoesToTheBulkEngine(t *testing.T) {
	db := storetest.SQLite(t)
	single, bulk := &batchEngine{fail: map[string]bool{}}, &batchEngine{fail: map[string]bool{}}
	srv := httptest.NewServer(mustServer(t, Config{
		Store: db, Tokens: db, Managers: db, Engine: single, BulkEngine: bulk, Guard: testGuard(t, db, single, nil, nil),
		Auth:   StaticTokens(map[string]tenure.Principal{adminToken: {Name: "ada", Role: tenure.RoleAdmin}}),
		Logger: newTestLogger(&syncBuffer{}),
	}))
	t.Cleanup(srv.Close)
	b := &bulkServer{t: t, url: srv.URL, store: db, eng: single}
	if res := b.post("/api/v1/events", adminToken, "application/json", []byte(eventJSON("ev-1", "hire", "one")), nil); res.status != http.StatusAccepted {
		t.Fatalf("single event: %d %s", res.status, res.body)
	}
	if res := b.post("/api/v1/events:batch", adminToken, "application/json", batchBody(eventJSON("ev-2", "hire", "two")), nil); res.status != http.StatusOK {
		t.Fatalf("batch: %d %s", res.status, res.body)
	}
	if got := single.submitted(); len(got) != 1 || got[0].ID != "ev-1" {
		t.Errorf("the engine got %+v, want the single event", got)
	}
	if got := bulk.submitted(); len(got) != 1 || got[0].ID != "ev-2" {
		t.Errorf("the bulk engine got %+v, want the batch's event", got)
	}
}
