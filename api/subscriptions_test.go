package api

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/outbound"
	"github.com/tenure-io/tenure/store"
	"github.com/tenure-io/tenure/store/storetest"
	"github.com/tenure-io/tenure/workflows"
)

// starts records the Deliver workflows started, and refuses a second start of an
// ID the way Temporal does under REJECT_DUPLICATE.
type starts struct {
	mu   sync.Mutex
	ids  []string
	runs map[string]bool
}

func (s *starts) ExecuteWorkflow(_ context.Context, o client.StartWorkflowOptions, wf any, args ...any) (client.WorkflowRun, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if wf != workflows.DeliverWorkflowName || o.TaskQueue != workflows.TaskQueue ||
		o.WorkflowIDReusePolicy != enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE || len(args) != 1 {
		panic("unexpected start of " + o.ID)
	}
	if s.runs == nil {
		s.runs = map[string]bool{}
	}
	if s.runs[o.ID] {
		return nil, serviceerror.NewWorkflowExecutionAlreadyStarted("already started", "", "")
	}
	s.runs[o.ID] = true
	s.ids = append(s.ids, o.ID)
	return nil, nil
}

func (s *starts) started() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.ids...)
}

const auditorToken = "auditor-token-for-tests"
const hrToken = "hr-token-for-tests"

type outboundHarness struct {
	*harness
	db     *store.DB
	svc    *outbound.Service
	starts *starts
}

func newOutboundHarness(t *testing.T, allowPrivate bool) *outboundHarness {
	t.Helper()
	db := storetest.SQLite(t)
	st := &starts{}
	key, _ := outbound.ParseKey(outbound.NewKey())
	h := &harness{t: t, store: db, engine: &fakeEngine{}, logs: &syncBuffer{}}
	svc, err := outbound.New(outbound.Config{Store: db, Temporal: st, Key: key, AllowPrivate: allowPrivate,
		Logger: slog.New(slog.NewTextHandler(h.logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	h.cfg = Config{
		Store:    svc,
		Tokens:   db,
		Managers: db,
		Engine:   h.engine,
		Guard:    testGuard(t, db, h.engine, nil),
		Auth: StaticTokens(map[string]tenure.Principal{
			adminToken:   {Name: "ada", Role: tenure.RoleAdmin},
			auditorToken: {Name: "audrey", Role: tenure.RoleAuditor},
			hrToken:      {Name: "harriet", Role: tenure.RoleHR},
		}),
		Logger: slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	srv := httptest.NewServer(mustServer(t, h.cfg))
	t.Cleanup(srv.Close)
	h.url = srv.URL
	return &outboundHarness{harness: h, db: db, svc: svc, starts: st}
}

func (h *outboundHarness) subscribe(url string, events ...string) subscriptionCreated {
	h.t.Helper()
	b, _ := json.Marshal(map[string]any{"url": url, "events": events, "description": "data lake"})
	res := h.do("POST", "/api/v1/subscriptions", string(b))
	if res.status != http.StatusCreated {
		h.t.Fatalf("subscribe: %d %s", res.status, res.body)
	}
	var out subscriptionCreated
	if err := json.Unmarshal(res.body, &out); err != nil {
		h.t.Fatal(err)
	}
	return out
}

func TestSubscribeReturnsTheSecretOnceAndStoresItSealed(t *testing.T) {
	h := newOutboundHarness(t, false)
	created := h.subscribe("https://hooks.example.com/tenure", "employee.hired", "access.revoked", "employee.hired")
	if !strings.HasPrefix(created.Secret, "whsec_") || len(created.Secret) < 40 {
		t.Fatalf("secret = %q", created.Secret)
	}
	if created.ID == "" || created.Status != tenure.SubscriptionActive || len(created.Events) != 2 {
		t.Fatalf("created = %+v, want active with the duplicate type dropped", created.Subscription)
	}
	res := h.do("GET", "/api/v1/subscriptions", "")
	if res.status != http.StatusOK || strings.Contains(string(res.body), created.Secret) || strings.Contains(string(res.body), "secret") {
		t.Fatalf("list: %d %s", res.status, res.body)
	}
	var list subscriptionList
	json.Unmarshal(res.body, &list)
	if len(list.Subscriptions) != 1 || list.Subscriptions[0].URL != "https://hooks.example.com/tenure" {
		t.Fatalf("list = %+v", list)
	}
	stored, err := h.db.GetSubscription(context.Background(), created.ID)
	if err != nil || len(stored.SealedSecret) == 0 || strings.Contains(string(stored.SealedSecret), created.Secret) ||
		strings.Contains(string(stored.SealedSecret), strings.TrimPrefix(created.Secret, "whsec_")) {
		t.Fatalf("the secret is not sealed at rest: %v", err)
	}
	if strings.Contains(h.logs.String(), created.Secret) {
		t.Fatal("the secret was logged")
	}

	// Deleting stops it; deleting again is a 404.
	if res := h.do("DELETE", "/api/v1/subscriptions/"+created.ID, ""); res.status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", res.status, res.body)
	}
	wantError(t, h.do("DELETE", "/api/v1/subscriptions/"+created.ID, ""), http.StatusNotFound, tenure.ENOTFOUND)
}

func TestSubscribeValidationWritesNothing(t *testing.T) {
	h := newOutboundHarness(t, false)
	e := wantError(t, h.do("POST", "/api/v1/subscriptions",
		`{"url":"ftp://files.example.com/x","events":["employee.hired","employee.fired"],"colour":"red"}`),
		http.StatusBadRequest, tenure.EINVALID)
	got := map[string]string{}
	for _, f := range e.Fields {
		got[f.Field] = f.Problem
	}
	for _, f := range []string{"url", "events[1]", "colour"} {
		if got[f] == "" {
			t.Errorf("no problem reported for %s: %v", f, got)
		}
	}
	for _, url := range []string{
		"http://127.0.0.1:8080/hook", "http://localhost/hook", "http://10.1.2.3/hook", "http://[::1]/hook",
		"http://169.254.169.254/latest/meta-data", "https://user:pass@hooks.example.com/", "hooks.example.com/x", "",
		// IPv6 forms that reach an IPv4 address: NAT64, 6to4, Teredo, IPv4-compatible.
		"http://[64:ff9b::a9fe:a9fe]/latest/meta-data", "http://[2002:a9fe:a9fe::1]/hook",
		"http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/hook", "http://[::7f00:1]/hook",
	} {
		b, _ := json.Marshal(map[string]any{"url": url, "events": []string{"*"}})
		e := wantError(t, h.do("POST", "/api/v1/subscriptions", string(b)), http.StatusBadRequest, tenure.EINVALID)
		if len(e.Fields) != 1 || e.Fields[0].Field != "url" {
			t.Errorf("%q: fields = %+v, want url", url, e.Fields)
		}
	}
	e = wantError(t, h.do("POST", "/api/v1/subscriptions", `{"url":"https://hooks.example.com/"}`), http.StatusBadRequest, tenure.EINVALID)
	if len(e.Fields) != 1 || e.Fields[0].Field != "events" {
		t.Fatalf("fields = %+v, want events", e.Fields)
	}
	wantError(t, h.do("POST", "/api/v1/subscriptions", `{"url":"https://hooks.example.com/","events":"*"}`), http.StatusBadRequest, tenure.EINVALID)
	subs, _ := h.db.ListSubscriptions(context.Background())
	if len(subs) != 0 {
		t.Fatalf("rejected requests wrote %d subscriptions", len(subs))
	}
}

func TestLoopbackSubscribersWhenAllowed(t *testing.T) {
	h := newOutboundHarness(t, true)
	created := h.subscribe("http://127.0.0.1:9999/hook", "*")
	if len(created.Events) != 1 || created.Events[0] != "*" {
		t.Fatalf("events = %v", created.Events)
	}
}

func TestSubscriptionRoutesByRole(t *testing.T) {
	h := newOutboundHarness(t, false)
	for _, c := range []struct {
		token, method, path string
		status              int
	}{
		{auditorToken, "GET", "/api/v1/deliveries", http.StatusOK},
		{auditorToken, "GET", "/api/v1/outbound-events", http.StatusOK},
		{auditorToken, "GET", "/api/v1/subscriptions", http.StatusForbidden},
		{auditorToken, "POST", "/api/v1/subscriptions", http.StatusForbidden},
		{auditorToken, "DELETE", "/api/v1/subscriptions/sub_x", http.StatusForbidden},
		{auditorToken, "POST", "/api/v1/outbound-events/evt_x/redeliver", http.StatusForbidden},
		{hrToken, "GET", "/api/v1/deliveries", http.StatusForbidden},
		{hrToken, "GET", "/api/v1/subscriptions", http.StatusForbidden},
	} {
		body := ""
		if c.method == "POST" {
			body = `{"url":"https://hooks.example.com/","events":["*"]}`
		}
		res := h.do(c.method, c.path, body, "Authorization", "Bearer "+c.token)
		if res.status != c.status {
			t.Errorf("%s %s as %s: %d, want %d: %s", c.method, c.path, c.token, res.status, c.status, res.body)
		}
	}
	if subs, _ := h.db.ListSubscriptions(context.Background()); len(subs) != 0 {
		t.Fatal("a forbidden request created a subscription")
	}
}

func TestPublishDeliversOnceAndRedeliverStartsAnotherDelivery(t *testing.T) {
	h := newOutboundHarness(t, false)
	ctx := context.Background()
	hires := h.subscribe("https://hooks.example.com/hires", "employee.hired")
	all := h.subscribe("https://hooks.example.com/all", "*")
	h.subscribe("https://hooks.example.com/locks", "employee.locked")

	ev := tenure.OutboundEvent{ID: "evt_1", Type: tenure.EventEmployeeHired, EmployeeID: "E1",
		At: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC), Data: json.RawMessage(`{"department":"Engineering"}`)}
	for range 3 { // a retried step publishes again
		if err := h.svc.Publish(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	got := h.starts.started()
	want := []string{"delivery/evt_1/" + hires.ID, "delivery/evt_1/" + all.ID}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("started %v, want %v", got, want)
	}
	wantError(t, h.do("GET", "/api/v1/outbound-events?type=employee.fired", ""), http.StatusBadRequest, tenure.EINVALID)
	res := h.do("GET", "/api/v1/outbound-events?type=employee.hired", "")
	var events outboundEventList
	json.Unmarshal(res.body, &events)
	if res.status != http.StatusOK || len(events.Events) != 1 || string(events.Events[0].Data) != `{"department":"Engineering"}` {
		t.Fatalf("events: %d %s", res.status, res.body)
	}

	// Redelivery to one subscription, then to all that want the event.
	res = h.do("POST", "/api/v1/outbound-events/evt_1/redeliver?subscription_id="+all.ID, "")
	var acc redeliverAccepted
	json.Unmarshal(res.body, &acc)
	if res.status != http.StatusAccepted || len(acc.Deliveries) != 1 ||
		!strings.HasPrefix(acc.Deliveries[0].WorkflowID, "delivery/evt_1/"+all.ID+"/redeliver-") {
		t.Fatalf("redeliver: %d %s", res.status, res.body)
	}
	res = h.do("POST", "/api/v1/outbound-events/evt_1/redeliver", "")
	json.Unmarshal(res.body, &acc)
	if res.status != http.StatusAccepted || len(acc.Deliveries) != 2 {
		t.Fatalf("redeliver to all: %d %s", res.status, res.body)
	}
	if n := len(h.starts.started()); n != 5 {
		t.Fatalf("%d deliveries started, want 2 + 1 + 2", n)
	}
	wantError(t, h.do("POST", "/api/v1/outbound-events/evt_nope/redeliver", ""), http.StatusNotFound, tenure.ENOTFOUND)
	wantError(t, h.do("POST", "/api/v1/outbound-events/evt_1/redeliver?subscription_id=sub_nope", ""), http.StatusNotFound, tenure.ENOTFOUND)
	if err := h.svc.DisableSubscription(ctx, hires.ID, "gone"); err != nil {
		t.Fatal(err)
	}
	wantError(t, h.do("POST", "/api/v1/outbound-events/evt_1/redeliver?subscription_id="+hires.ID, ""), http.StatusConflict, tenure.ECONFLICT)
}

func TestDeliveryLogFilters(t *testing.T) {
	h := newOutboundHarness(t, false)
	ctx := context.Background()
	at := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	for i, d := range []tenure.Delivery{
		{DeliveryID: "delivery/evt_1/sub_a", EventID: "evt_1", SubscriptionID: "sub_a", Attempt: 1, Outcome: tenure.DeliveryFailed, StatusCode: 503, Error: "HTTP 503"},
		{DeliveryID: "delivery/evt_1/sub_a", EventID: "evt_1", SubscriptionID: "sub_a", Attempt: 2, Outcome: tenure.DeliveryDelivered, StatusCode: 200},
		{DeliveryID: "delivery/evt_2/sub_b", EventID: "evt_2", SubscriptionID: "sub_b", Attempt: 1, Outcome: tenure.DeliveryDelivered, StatusCode: 204},
	} {
		d.At = at.Add(time.Duration(i) * time.Second)
		if err := h.db.RecordDelivery(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	var list deliveryList
	res := h.do("GET", "/api/v1/deliveries?event_id=evt_1", "", "Authorization", "Bearer "+auditorToken)
	json.Unmarshal(res.body, &list)
	if res.status != http.StatusOK || len(list.Deliveries) != 2 || list.Deliveries[0].Attempt != 2 || list.Deliveries[1].Error != "HTTP 503" {
		t.Fatalf("deliveries: %d %s", res.status, res.body)
	}
	res = h.do("GET", "/api/v1/deliveries?subscription_id=sub_b", "")
	json.Unmarshal(res.body, &list)
	if len(list.Deliveries) != 1 || list.Deliveries[0].StatusCode != 204 {
		t.Fatalf("deliveries: %s", res.body)
	}
	wantError(t, h.do("GET", "/api/v1/deliveries?limit=0", ""), http.StatusBadRequest, tenure.EINVALID)
}

// An API process without the outbound service still reads the log from the read
// model, but cannot subscribe or deliver, and says so.
func TestOutboundRoutesWithoutTheService(t *testing.T) {
	h := newHarness(t)
	if res := h.do("GET", "/api/v1/deliveries", ""); res.status != http.StatusOK {
		t.Fatalf("deliveries: %d %s", res.status, res.body)
	}
	wantError(t, h.do("POST", "/api/v1/subscriptions", `{}`), http.StatusBadRequest, tenure.EINVALID)
	wantError(t, h.do("POST", "/api/v1/subscriptions", `{"url":"https://hooks.example.com/","events":["*"]}`),
		http.StatusServiceUnavailable, tenure.EUNAVAILABLE)
	wantError(t, h.do("POST", "/api/v1/outbound-events/evt_nope/redeliver", ""), http.StatusNotFound, tenure.ENOTFOUND)
}
