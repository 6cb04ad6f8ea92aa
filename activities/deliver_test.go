package activities_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/activities"
	"github.com/tenure-io/tenure/outbound"
	"github.com/tenure-io/tenure/store"
	"github.com/tenure-io/tenure/store/storetest"
	"github.com/tenure-io/tenure/workflows"
)

// noStarts is a Temporal client for tests that publish nothing.
type noStarts struct{}

func (noStarts) ExecuteWorkflow(context.Context, client.StartWorkflowOptions, any, ...any) (client.WorkflowRun, error) {
	return nil, errors.New("this test starts no workflows")
}

// receiver is a subscriber's endpoint: it checks each delivery's signature the way
// the docs tell a subscriber to, independently of Tenure's signing package, and
// answers with the status it is told.
type receiver struct {
	t      *testing.T
	secret string

	mu       sync.Mutex
	status   int
	header   http.Header
	got      []map[string]any
	headers  []http.Header
	badSigns int
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if !validSignature(r.Header.Get("Tenure-Signature"), body, rc.secret, time.Now()) {
		rc.badSigns++
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var ev map[string]any
	if err := json.Unmarshal(body, &ev); err != nil {
		rc.t.Errorf("delivery body is not JSON: %s", body)
	}
	rc.got = append(rc.got, ev)
	rc.headers = append(rc.headers, r.Header.Clone())
	for k, v := range rc.header {
		w.Header()[k] = v
	}
	w.WriteHeader(rc.status)
}

func (rc *receiver) set(status int, header http.Header) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.status, rc.header = status, header
}

func (rc *receiver) count() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.got)
}

// validSignature checks "t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">" within 5 minutes.
func validSignature(header string, body []byte, secret string, now time.Time) bool {
	var ts, sig string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(part, "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sig = v
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || now.Sub(time.Unix(sec, 0)).Abs() > 5*time.Minute {
		return false
	}
	m := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(m, "%s.%s", ts, body)
	want := hex.EncodeToString(m.Sum(nil))
	return hmac.Equal([]byte(want), []byte(sig))
}

type deliverRig struct {
	db   *store.DB
	svc  *outbound.Service
	acts *activities.Activities
	env  *testsuite.TestActivityEnvironment
	rc   *receiver
	sub  tenure.Subscription
	ev   tenure.OutboundEvent
	key  []byte
}

func newDeliverRig(t *testing.T) *deliverRig {
	t.Helper()
	r := &deliverRig{db: storetest.SQLite(t), rc: &receiver{t: t, status: http.StatusOK}}
	key, err := outbound.ParseKey(outbound.NewKey())
	if err != nil {
		t.Fatal(err)
	}
	r.key = key
	r.svc, err = outbound.New(outbound.Config{Store: r.db, Temporal: noStarts{}, Key: key, AllowPrivate: true})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(r.rc)
	t.Cleanup(srv.Close)
	sub, secret, err := r.svc.Subscribe(context.Background(), tenure.NewSubscription{URL: srv.URL + "/hooks/tenure", Events: []string{"*"}})
	if err != nil {
		t.Fatal(err)
	}
	r.sub, r.rc.secret = sub, secret
	r.ev = tenure.OutboundEvent{
		ID: "evt_hired_1", Type: tenure.EventEmployeeHired, EmployeeID: "E1001",
		At:   time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC),
		Data: json.RawMessage(`{"department":"Engineering"}`),
	}
	if _, _, err := r.db.CreateOutboundEvent(context.Background(), r.ev); err != nil {
		t.Fatal(err)
	}
	r.acts = &activities.Activities{Store: r.db, Publisher: r.svc}
	var suite testsuite.WorkflowTestSuite
	r.env = suite.NewTestActivityEnvironment()
	r.env.RegisterActivity(r.acts)
	return r
}

func (r *deliverRig) request() tenure.DeliveryRequest {
	return tenure.DeliveryRequest{DeliveryID: "delivery/evt_hired_1/" + r.sub.ID, EventID: r.ev.ID, SubscriptionID: r.sub.ID}
}

func (r *deliverRig) deliver(t *testing.T) (tenure.DeliveryResult, error) {
	t.Helper()
	val, err := r.env.ExecuteActivity(r.acts.Deliver, r.request())
	if err != nil {
		return tenure.DeliveryResult{}, err
	}
	var res tenure.DeliveryResult
	if err := val.Get(&res); err != nil {
		t.Fatal(err)
	}
	return res, nil
}

func (r *deliverRig) log(t *testing.T) []tenure.Delivery {
	t.Helper()
	l, err := r.db.ListDeliveries(context.Background(), tenure.DeliveryFilter{EventID: r.ev.ID})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestDeliverSignsTheNormalisedEvent(t *testing.T) {
	r := newDeliverRig(t)
	res, err := r.deliver(t)
	if err != nil || res.Outcome != tenure.DeliveryDelivered || res.StatusCode != 200 {
		t.Fatalf("deliver = %+v, %v", res, err)
	}
	if r.rc.badSigns != 0 || r.rc.count() != 1 {
		t.Fatalf("receiver: %d valid deliveries, %d bad signatures", r.rc.count(), r.rc.badSigns)
	}
	got := r.rc.got[0]
	want := map[string]any{
		"id": "evt_hired_1", "type": "employee.hired", "at": "2026-03-02T09:00:00Z", "employee_id": "E1001",
		"data": map[string]any{"department": "Engineering"},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("body = %v\nwant %v", got, want)
	}
	h := r.rc.headers[0]
	if h.Get("Tenure-Event-Id") != "evt_hired_1" || h.Get("Tenure-Event-Type") != "employee.hired" || h.Get("Content-Type") != "application/json" {
		t.Fatalf("headers = %v", h)
	}
	log := r.log(t)
	if len(log) != 1 || log[0].Outcome != tenure.DeliveryDelivered || log[0].StatusCode != 200 || log[0].Attempt != 1 ||
		log[0].SubscriptionID != r.sub.ID || log[0].DeliveryID != r.request().DeliveryID {
		t.Fatalf("delivery log = %+v", log)
	}
}

func TestDeliverFailureIsRetryableAndLogged(t *testing.T) {
	r := newDeliverRig(t)
	r.rc.set(http.StatusInternalServerError, nil)
	_, err := r.deliver(t)
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || appErr.Type() != workflows.DeliveryFailedError || appErr.NonRetryable() {
		t.Fatalf("error = %v, want a retryable %s", err, workflows.DeliveryFailedError)
	}
	if appErr.NextRetryDelay() != 0 {
		t.Fatalf("next retry delay = %s, want the workflow's backoff", appErr.NextRetryDelay())
	}
	log := r.log(t)
	if len(log) != 1 || log[0].Outcome != tenure.DeliveryFailed || log[0].StatusCode != 500 || !strings.Contains(log[0].Error, "500") {
		t.Fatalf("delivery log = %+v", log)
	}
	if strings.Contains(err.Error(), r.rc.secret) || strings.Contains(log[0].Error, r.rc.secret) {
		t.Fatal("the secret leaked into an error")
	}
}

func TestDeliverHonoursRetryAfter(t *testing.T) {
	r := newDeliverRig(t)
	r.rc.set(http.StatusTooManyRequests, http.Header{"Retry-After": {"120"}})
	_, err := r.deliver(t)
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || appErr.NextRetryDelay() != 2*time.Minute {
		t.Fatalf("error = %v, want a retry after 2m", err)
	}
}

func TestDeliverGoneThenDisable(t *testing.T) {
	r := newDeliverRig(t)
	r.rc.set(http.StatusGone, nil)
	res, err := r.deliver(t)
	if err != nil || res.Outcome != tenure.DeliveryGone {
		t.Fatalf("deliver = %+v, %v; want gone and no retry", res, err)
	}
	if _, err := r.env.ExecuteActivity(r.acts.DisableSubscription, workflows.SubscriptionDisable{SubscriptionID: r.sub.ID, Reason: "410"}); err != nil {
		t.Fatal(err)
	}
	sub, err := r.db.GetSubscription(context.Background(), r.sub.ID)
	if err != nil || sub.Status != tenure.SubscriptionDisabled {
		t.Fatalf("subscription = %+v, %v; want disabled", sub, err)
	}
	// A later delivery to the disabled subscription sends nothing.
	r.rc.set(http.StatusOK, nil)
	res, err = r.deliver(t)
	if err != nil || res.Outcome != tenure.DeliverySkipped || r.rc.count() != 1 {
		t.Fatalf("after disabling: %+v, %v, %d requests", res, err, r.rc.count())
	}
}

func TestDeliverToADeletedSubscriptionSendsNothing(t *testing.T) {
	r := newDeliverRig(t)
	if err := r.svc.Unsubscribe(context.Background(), r.sub.ID); err != nil {
		t.Fatal(err)
	}
	res, err := r.deliver(t)
	if err != nil || res.Outcome != tenure.DeliverySkipped || r.rc.count() != 0 {
		t.Fatalf("deliver = %+v, %v, %d requests", res, err, r.rc.count())
	}
}

func TestDeliverRefusesPrivateAddressesUnlessAllowed(t *testing.T) {
	r := newDeliverRig(t)
	// The same read model and key, without the dev allowance: the subscription on
	// 127.0.0.1 was stored, but the dialer will not connect to it.
	strict, err := outbound.New(outbound.Config{Store: r.db, Temporal: noStarts{}, Key: r.key})
	if err != nil {
		t.Fatal(err)
	}
	r.acts.Publisher = strict
	_, err = r.deliver(t)
	if err == nil || !strings.Contains(err.Error(), "loopback or private") {
		t.Fatalf("error = %v, want a refusal to call a private address", err)
	}
	if r.rc.count() != 0 || r.rc.badSigns != 0 {
		t.Fatal("the receiver on loopback was called")
	}
	if _, _, err := strict.Subscribe(context.Background(), tenure.NewSubscription{URL: "http://127.0.0.1:9/x", Events: []string{"*"}}); tenure.ErrorCode(err) != tenure.EINVALID {
		t.Fatalf("subscribing a loopback URL: %v, want invalid", err)
	}
}

func TestDeliverWithAnotherKeyFails(t *testing.T) {
	r := newDeliverRig(t)
	other, _ := outbound.ParseKey(outbound.NewKey())
	svc, err := outbound.New(outbound.Config{Store: r.db, Temporal: noStarts{}, Key: other, AllowPrivate: true})
	if err != nil {
		t.Fatal(err)
	}
	r.acts.Publisher = svc
	if _, err := r.deliver(t); err == nil || !strings.Contains(err.Error(), "does not open") {
		t.Fatalf("error = %v, want the secret not to open", err)
	}
	if r.rc.count()+r.rc.badSigns != 0 {
		t.Fatal("a delivery went out signed with a secret that did not open")
	}
}
