package api

import (
	"context"
	"testing"
	"time"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/internal/giveway"
)

// slowLock is an engine whose Lock and SubmitEvent block until released, as
// calls waiting on a busy Temporal server do.
type slowLock struct {
	fakeEngine
	release chan struct{}
}

func (e *slowLock) Lock(ctx context.Context, id, req, actor string) (string, error) {
	<-e.release
	return e.fakeEngine.Lock(ctx, id, req, actor)
}

func (e *slowLock) SubmitEvent(ctx context.Context, ev tenure.Event) (string, error) {
	if ev.Type == tenure.EventTerminate {
		<-e.release
	}
	return e.fakeEngine.SubmitEvent(ctx, ev)
}

// While a lock or a termination due now is under way, and for giveway.For after,
// no bulk event is handed over; a bulk event already handed over is not held
// back, and a future termination holds nothing back.
func TestTheBulkGivesWayToTheKillSwitch(t *testing.T) {
	for _, tc := range []struct {
		name   string
		urgent func(e tenure.Engine) error
	}{
		{"lock", func(e tenure.Engine) error { _, err := e.Lock(t.Context(), "E1", "r1", "admin"); return err }},
		{"termination", func(e tenure.Engine) error {
			_, err := e.SubmitEvent(t.Context(), tenure.Event{ID: "t1", Type: tenure.EventTerminate, Employee: tenure.Person{ID: "E1"}, ReceivedAt: time.Now()})
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inner := &slowLock{release: make(chan struct{})}
			way := giveway.New(time.Now)
			urgent, bulk := urgentEngine{Engine: inner, way: way}, bulkEngine{Engine: inner, way: way}

			locked := make(chan error)
			go func() { locked <- tc.urgent(urgent) }()
			waitFor(t, way.Busy)

			handed := make(chan time.Time)
			go func() {
				_, err := bulk.SubmitEvent(t.Context(), tenure.Event{ID: "h1", Type: tenure.EventHire, Employee: tenure.Person{ID: "H1"}})
				if err != nil {
					t.Error(err)
				}
				handed <- time.Now()
			}()
			select {
			case <-handed:
				t.Fatal("a bulk event was handed over while the kill switch's call was under way")
			case <-time.After(100 * time.Millisecond):
			}
			close(inner.release)
			if err := <-locked; err != nil {
				t.Fatal(err)
			}
			ended := time.Now()
			if at := <-handed; at.Sub(ended) < giveway.For-10*time.Millisecond {
				t.Fatalf("the bulk event went %s after the kill switch's call, want at least %s", at.Sub(ended), giveway.For)
			}
		})
	}

	t.Run("a future termination holds nothing back", func(t *testing.T) {
		inner := &slowLock{release: make(chan struct{})}
		close(inner.release)
		way := giveway.New(time.Now)
		later := time.Now().Add(24 * time.Hour)
		if _, err := (urgentEngine{Engine: inner, way: way}).SubmitEvent(t.Context(), tenure.Event{ID: "t2", Type: tenure.EventTerminate,
			EffectiveAt: &later, Employee: tenure.Person{ID: "E2"}, ReceivedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if _, err := (bulkEngine{Engine: inner, way: way}).SubmitEvent(t.Context(), tenure.Event{ID: "h2", Type: tenure.EventHire, Employee: tenure.Person{ID: "H2"}}); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d > giveway.For/2 {
			t.Fatalf("a bulk event waited %s after a future termination", d)
		}
	})

	t.Run("a bulk event waiting gives up with its context", func(t *testing.T) {
		way := giveway.New(time.Now)
		done := way.Urgent()
		defer done()
		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		defer cancel()
		if _, err := (bulkEngine{Engine: &fakeEngine{}, way: way}).SubmitEvent(ctx, tenure.Event{ID: "h3"}); err == nil {
			t.Fatal("a bulk event was handed over during a kill-switch call")
		}
	})
}

// waitFor polls cond for up to a second.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(time.Millisecond)
	}
}
