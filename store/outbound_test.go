package store_test

import (
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/store"
	"github.com/tenure-io/tenure/store/storetest"
)

func TestOutboundEventsAreStoredOncePerID(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ev := tenure.OutboundEvent{
			ID: "employee/E1/hired/h1", Type: tenure.EventEmployeeHired, At: ts(1), EmployeeID: "E1",
			Data: json.RawMessage(`{"department":"Engineering"}`),
		}
		// Concurrent publishers of one event create one row and all see it.
		var wg sync.WaitGroup
		created := make(chan bool, 8)
		for range 8 {
			wg.Go(func() {
				_, c, err := db.CreateOutboundEvent(ctx, ev)
				if err != nil {
					t.Error(err)
				}
				created <- c
			})
		}
		wg.Wait()
		close(created)
		n := 0
		for c := range created {
			if c {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("%d publishers created the event, want 1", n)
		}
		// A second publish with other data keeps the first.
		other := ev
		other.Data = json.RawMessage(`{"department":"Sales"}`)
		stored, c, err := db.CreateOutboundEvent(ctx, other)
		must(t, err)
		if c || string(stored.Data) != `{"department":"Engineering"}` {
			t.Fatalf("republish: created=%t data=%s", c, stored.Data)
		}
		if !stored.At.Equal(ts(1).Truncate(time.Microsecond)) || stored.At.Location() != time.UTC {
			t.Fatalf("at = %v", stored.At)
		}

		_, _, err = db.CreateOutboundEvent(ctx, tenure.OutboundEvent{ID: "e2", Type: tenure.EventEmployeeLocked, At: ts(2), EmployeeID: "E2"})
		must(t, err)
		got, err := db.GetOutboundEvent(ctx, "e2")
		must(t, err)
		if string(got.Data) != "{}" {
			t.Fatalf("missing data stored as %s, want {}", got.Data)
		}
		list, err := db.ListOutboundEvents(ctx, tenure.OutboundEventFilter{})
		must(t, err)
		if len(list) != 2 || list[0].ID != "e2" {
			t.Fatalf("list = %+v, want newest first", list)
		}
		list, err = db.ListOutboundEvents(ctx, tenure.OutboundEventFilter{Type: tenure.EventEmployeeHired, EmployeeID: "E1"})
		must(t, err)
		if len(list) != 1 || list[0].ID != ev.ID {
			t.Fatalf("filtered list = %+v", list)
		}
		_, err = db.GetOutboundEvent(ctx, "nope")
		wantCode(t, err, tenure.ENOTFOUND)
		_, _, err = db.CreateOutboundEvent(ctx, tenure.OutboundEvent{ID: "bad", Type: "x", Data: json.RawMessage(`{`)})
		wantCode(t, err, tenure.EINVALID)
	})
}

// A step's events go in one statement: an event stored already keeps what it
// had, and one invalid event stores none of them.
func TestOutboundEventsStoredTogether(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		first := tenure.OutboundEvent{ID: "e1", Type: tenure.EventAccessGranted, At: ts(1), EmployeeID: "E1",
			Data: json.RawMessage(`{"app":"github"}`)}
		must(t, db.CreateOutboundEvents(ctx, []tenure.OutboundEvent{first}))
		again := first
		again.Data = json.RawMessage(`{"app":"slack"}`)
		second := tenure.OutboundEvent{ID: "e2", Type: tenure.EventAccessGranted, At: ts(2), EmployeeID: "E1"}
		must(t, db.CreateOutboundEvents(ctx, []tenure.OutboundEvent{again, second}))
		got, err := db.GetOutboundEvent(ctx, "e1")
		must(t, err)
		if string(got.Data) != `{"app":"github"}` {
			t.Fatalf("e1 stored again as %s, want its first data", got.Data)
		}
		if got, err := db.GetOutboundEvent(ctx, "e2"); err != nil || string(got.Data) != "{}" {
			t.Fatalf("e2 = %+v, %v; want it stored with {}", got, err)
		}
		bad := []tenure.OutboundEvent{{ID: "e3", Type: tenure.EventAccessGranted}, {ID: "e4", Type: tenure.EventAccessGranted, Data: json.RawMessage(`{`)}}
		wantCode(t, db.CreateOutboundEvents(ctx, bad), tenure.EINVALID)
		_, err = db.GetOutboundEvent(ctx, "e3")
		wantCode(t, err, tenure.ENOTFOUND)
		must(t, db.CreateOutboundEvents(ctx, nil))
	})
}

func TestSubscriptionsLifecycle(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		s := tenure.Subscription{
			ID: "sub1", URL: "https://hooks.example.com/tenure", Events: []string{tenure.EventEmployeeHired},
			Description: "HR data lake", SealedSecret: []byte{1, 2, 3, 0, 255}, CreatedAt: ts(1),
		}
		must(t, db.CreateSubscription(ctx, s))
		wantCode(t, db.CreateSubscription(ctx, s), tenure.ECONFLICT)
		wantCode(t, db.CreateSubscription(ctx, tenure.Subscription{ID: "sub2", URL: "https://x"}), tenure.EINVALID)

		got, err := db.GetSubscription(ctx, "sub1")
		must(t, err)
		if got.Status != tenure.SubscriptionActive || string(got.SealedSecret) != string(s.SealedSecret) ||
			got.URL != s.URL || len(got.Events) != 1 || got.Description != s.Description {
			t.Fatalf("got %+v", got)
		}

		must(t, db.DisableSubscription(ctx, "sub1", "410 Gone", ts(5)))
		must(t, db.DisableSubscription(ctx, "sub1", "another reason", ts(6)))
		got, err = db.GetSubscription(ctx, "sub1")
		must(t, err)
		if got.Status != tenure.SubscriptionDisabled || got.DisabledReason != "410 Gone" || got.Wants(tenure.EventEmployeeHired) {
			t.Fatalf("after disable: %+v", got)
		}
		wantCode(t, db.DisableSubscription(ctx, "nope", "x", ts(1)), tenure.ENOTFOUND)

		list, err := db.ListSubscriptions(ctx)
		must(t, err)
		if len(list) != 1 {
			t.Fatalf("list = %+v", list)
		}
		must(t, db.DeleteSubscription(ctx, "sub1"))
		wantCode(t, db.DeleteSubscription(ctx, "sub1"), tenure.ENOTFOUND)
		_, err = db.GetSubscription(ctx, "sub1")
		wantCode(t, err, tenure.ENOTFOUND)
	})
}

func TestDeliveryLog(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		base := tenure.Delivery{DeliveryID: "delivery/e1/s1", EventID: "e1", SubscriptionID: "s1"}
		a1 := base
		a1.Attempt, a1.At, a1.Outcome, a1.StatusCode, a1.Error, a1.DurationMS = 1, ts(1), tenure.DeliveryFailed, 503, "HTTP 503", 12
		a2 := base
		a2.Attempt, a2.At, a2.Outcome, a2.StatusCode, a2.DurationMS = 2, ts(3), tenure.DeliveryDelivered, 200, 8
		must(t, db.RecordDelivery(ctx, a1))
		must(t, db.RecordDelivery(ctx, a2))
		must(t, db.RecordDelivery(ctx, a2)) // a retried write
		other := tenure.Delivery{DeliveryID: "delivery/e2/s2", EventID: "e2", SubscriptionID: "s2", Attempt: 1, At: ts(2), Outcome: tenure.DeliveryGone, StatusCode: 410}
		must(t, db.RecordDelivery(ctx, other))
		wantCode(t, db.RecordDelivery(ctx, tenure.Delivery{DeliveryID: "d", EventID: "e", SubscriptionID: "s", Outcome: tenure.DeliveryFailed}), tenure.EINVALID)

		list, err := db.ListDeliveries(ctx, tenure.DeliveryFilter{EventID: "e1"})
		must(t, err)
		if len(list) != 2 || list[0].Attempt != 2 || list[0].StatusCode != 200 || list[1].Error != "HTTP 503" || list[1].DurationMS != 12 {
			t.Fatalf("e1 deliveries = %+v", list)
		}
		list, err = db.ListDeliveries(ctx, tenure.DeliveryFilter{SubscriptionID: "s2"})
		must(t, err)
		if len(list) != 1 || list[0].Outcome != tenure.DeliveryGone {
			t.Fatalf("s2 deliveries = %+v", list)
		}
		list, err = db.ListDeliveries(ctx, tenure.DeliveryFilter{Limit: 2})
		must(t, err)
		if len(list) != 2 || list[0].EventID != "e1" || list[1].EventID != "e2" {
			t.Fatalf("all deliveries = %+v, want newest first", list)
		}
	})
}
