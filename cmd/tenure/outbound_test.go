package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	sdkworker "go.temporal.io/sdk/worker"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/activities"
	"github.com/tenure-io/tenure/internal/devserver"
	"github.com/tenure-io/tenure/internal/signing"
	"github.com/tenure-io/tenure/store/storetest"
	"github.com/tenure-io/tenure/worker"
	"github.com/tenure-io/tenure/workflows"
)

// flakySubscriber is an endpoint that is down (503) for its first failures
// requests, then up. It counts, per event ID, the deliveries it accepted, and
// rejects any whose signature does not verify.
type flakySubscriber struct {
	t        *testing.T
	secret   string
	failures int

	mu       sync.Mutex
	requests int
	accepted map[string]int
	badSigs  int
}

func (f *flakySubscriber) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests++
	if err := signing.Verify(r.Header.Get(signing.Header), body, []string{f.secret}, time.Now(), signing.DefaultTolerance); err != nil {
		f.badSigs++
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if f.requests <= f.failures {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	var ev tenure.OutboundEvent
	if err := json.Unmarshal(body, &ev); err != nil || ev.ID != r.Header.Get("Tenure-Event-Id") {
		f.t.Errorf("delivery body %s does not match its Tenure-Event-Id header", body)
	}
	f.accepted[ev.ID]++
	w.WriteHeader(http.StatusNoContent)
}

func (f *flakySubscriber) snapshot() (map[string]int, int, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := map[string]int{}
	for k, v := range f.accepted {
		m[k] = v
	}
	return m, f.requests, f.badSigs
}

// TestOutboundSubscriberFailsThenRecoversAndGetsEachEventOnce runs delivery on a
// real embedded Temporal server and the real store: a subscriber that is down at
// first receives every event exactly once per event ID, although each event is
// published several times, some at once.
func TestOutboundSubscriberFailsThenRecoversAndGetsEachEventOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an embedded Temporal server")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	log := slog.New(slog.DiscardHandler)
	out := historiesOut(t)
	// Payloads are sealed only when histories are recorded, with their key.
	codec, err := payloadCodec(os.Getenv, "", log)
	if err != nil {
		t.Fatal(err)
	}

	srv, err := devserver.Start(ctx, devserver.Options{DataDir: t.TempDir(), UIPort: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Stop() })
	c, err := dialTemporal(ctx, srv.HostPort(), srv.Namespace(), temporalConn{}, codec, observability{}, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)

	db := storetest.SQLite(t)
	dataDir := t.TempDir()
	key, err := outboundKey(func(string) string { return "" }, dataDir)
	if err != nil {
		t.Fatal(err)
	}
	again, err := outboundKey(func(string) string { return "" }, dataDir)
	if err != nil || string(again) != string(key) {
		t.Fatalf("the dev key changed between starts: %v", err)
	}
	svc, err := newOutbound(db, c, key, true, log)
	if err != nil {
		t.Fatal(err)
	}
	w := sdkworker.New(c, workflows.TaskQueue, sdkworker.Options{})
	worker.Register(w, &activities.Activities{Store: svc, Publisher: svc})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)

	sub := &flakySubscriber{t: t, failures: 4, accepted: map[string]int{}}
	hook := httptest.NewServer(sub)
	t.Cleanup(hook.Close)
	created, secret, err := svc.Subscribe(ctx, tenure.NewSubscription{URL: hook.URL + "/tenure", Events: []string{"*"}})
	if err != nil {
		t.Fatal(err)
	}
	sub.mu.Lock()
	sub.secret = secret
	sub.mu.Unlock()
	// A subscriber to other types receives none of these.
	quiet := &flakySubscriber{t: t, accepted: map[string]int{}}
	quietHook := httptest.NewServer(quiet)
	t.Cleanup(quietHook.Close)
	_, quietSecret, err := svc.Subscribe(ctx, tenure.NewSubscription{URL: quietHook.URL, Events: []string{tenure.EventWorkflowFailed}})
	if err != nil {
		t.Fatal(err)
	}
	quiet.mu.Lock()
	quiet.secret = quietSecret
	quiet.mu.Unlock()

	types := []string{tenure.EventEmployeeHired, tenure.EventAccessGranted, tenure.EventEmployeeLocked, tenure.EventEmployeeUnlocked, tenure.EventEmployeeTerminated}
	var events []tenure.OutboundEvent
	for i, typ := range types {
		events = append(events, tenure.OutboundEvent{
			ID: fmt.Sprintf("evt_e2e_%d", i), Type: typ, EmployeeID: "E1001",
			At: time.Now().UTC(), Data: json.RawMessage(fmt.Sprintf(`{"n":%d}`, i)),
		})
	}
	// Each event is published three times, twice at once, as retried steps would.
	var wg sync.WaitGroup
	for _, ev := range events {
		for range 2 {
			wg.Go(func() {
				if err := svc.Publish(ctx, ev); err != nil {
					t.Errorf("publish %s: %v", ev.ID, err)
				}
			})
		}
	}
	wg.Wait()
	for _, ev := range events {
		if err := svc.Publish(ctx, ev); err != nil {
			t.Fatalf("publish %s again: %v", ev.ID, err)
		}
	}

	deadline := time.Now().Add(90 * time.Second)
	for {
		got, _, _ := sub.snapshot()
		if len(got) == len(events) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 90s the subscriber has %v of %d events", got, len(events))
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Let any duplicate that was going to arrive arrive.
	time.Sleep(3 * time.Second)
	got, requests, bad := sub.snapshot()
	for _, ev := range events {
		if got[ev.ID] != 1 {
			t.Errorf("event %s accepted %d times, want exactly once", ev.ID, got[ev.ID])
		}
	}
	if bad != 0 {
		t.Errorf("%d deliveries had a bad signature", bad)
	}
	if requests != len(events)+sub.failures {
		t.Errorf("the subscriber saw %d requests, want %d events + %d refused", requests, len(events), sub.failures)
	}
	// Only deliveries signed for this subscription count: the test binary's
	// other tests run their own stacks, and a port they used may be this one.
	if quietGot, _, _ := quiet.snapshot(); len(quietGot) != 0 {
		t.Errorf("a subscriber to workflow.failed received %v", quietGot)
	}

	// The delivery log shows the refusals and then the delivery, per event.
	log2, err := svc.ListDeliveries(ctx, tenure.DeliveryFilter{SubscriptionID: created.ID, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	failed, delivered := 0, 0
	var retried string
	for _, d := range log2 {
		switch d.Outcome {
		case tenure.DeliveryFailed:
			failed++
			retried = d.DeliveryID
			if d.StatusCode != 503 {
				t.Errorf("failed attempt %+v, want 503", d)
			}
		case tenure.DeliveryDelivered:
			delivered++
			if d.StatusCode != 204 || d.DeliveryID != workflows.DeliveryWorkflowID(d.EventID, created.ID) {
				t.Errorf("delivered attempt %+v", d)
			}
		}
	}
	if failed != sub.failures || delivered != len(events) {
		t.Errorf("delivery log: %d failed, %d delivered; want %d and %d", failed, delivered, sub.failures, len(events))
	}

	// A redelivery is a new delivery, and arrives again.
	rd, err := svc.Redeliver(ctx, events[0].ID, created.ID)
	if err != nil || len(rd) != 1 {
		t.Fatalf("redeliver: %v %v", rd, err)
	}
	deadline = time.Now().Add(30 * time.Second)
	for {
		got, _, _ := sub.snapshot()
		if got[events[0].ID] == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the redelivery did not arrive: %v", got)
		}
		time.Sleep(100 * time.Millisecond)
	}

	if out != "" {
		// The delivery that the subscriber refused before it took it.
		writeRunHistory(t, c, retried, "", filepath.Join(out, "deliver.json"))
	}
}
