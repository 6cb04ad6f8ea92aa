package outbound

import (
	"context"
	"encoding/json"
	"slices"
	"sync"
	"testing"

	"go.temporal.io/sdk/client"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/store/storetest"
)

// starts is a Temporal client that records the workflows started.
type starts struct {
	mu  sync.Mutex
	ids []string
}

func (s *starts) ExecuteWorkflow(_ context.Context, opts client.StartWorkflowOptions, _ any, _ ...any) (client.WorkflowRun, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ids = append(s.ids, opts.ID)
	return nil, nil
}

// A step's events are published together: each is stored, an event stored
// already keeps what it had, and each starts a delivery to every subscription
// that wants its type. An invalid event publishes none of them.
func TestPublishSeveralEvents(t *testing.T) {
	ctx := context.Background()
	db := storetest.SQLite(t)
	key, err := ParseKey(NewKey())
	if err != nil {
		t.Fatal(err)
	}
	started := &starts{}
	svc, err := New(Config{Store: db, Temporal: started, Key: key, AllowPrivate: true})
	if err != nil {
		t.Fatal(err)
	}
	all, _, err := svc.Subscribe(ctx, tenure.NewSubscription{URL: "http://127.0.0.1:9/all", Events: []string{"*"}})
	if err != nil {
		t.Fatal(err)
	}
	revoked, _, err := svc.Subscribe(ctx, tenure.NewSubscription{URL: "http://127.0.0.1:9/revoked", Events: []string{tenure.EventAccessRevoked}})
	if err != nil {
		t.Fatal(err)
	}
	old := tenure.OutboundEvent{ID: "evt_old", Type: tenure.EventAccessGranted, EmployeeID: "E1", Data: json.RawMessage(`{"first":true}`)}
	if _, _, err := db.CreateOutboundEvent(ctx, old); err != nil {
		t.Fatal(err)
	}
	again := old
	again.Data = json.RawMessage(`{"first":false}`)
	evs := []tenure.OutboundEvent{
		again,
		{ID: "evt_granted", Type: tenure.EventAccessGranted, EmployeeID: "E1"},
		{ID: "evt_revoked", Type: tenure.EventAccessRevoked, EmployeeID: "E1"},
	}
	if err := svc.Publish(ctx, evs...); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"delivery/evt_old/" + all.ID,
		"delivery/evt_granted/" + all.ID,
		"delivery/evt_revoked/" + all.ID,
		"delivery/evt_revoked/" + revoked.ID,
	}
	if !slices.Equal(started.ids, want) {
		t.Fatalf("deliveries started = %q, want %q", started.ids, want)
	}
	if got, err := db.GetOutboundEvent(ctx, "evt_old"); err != nil || string(got.Data) != `{"first":true}` {
		t.Fatalf("evt_old = %+v, %v; want its first data kept", got, err)
	}
	for _, id := range []string{"evt_granted", "evt_revoked"} {
		if got, err := db.GetOutboundEvent(ctx, id); err != nil || got.At.IsZero() {
			t.Fatalf("%s = %+v, %v; want it stored with a time", id, got, err)
		}
	}

	started.ids = nil
	bad := []tenure.OutboundEvent{{ID: "evt_ok", Type: tenure.EventAccessGranted}, {ID: "evt_bad", Type: "access.invented"}}
	if err := svc.Publish(ctx, bad...); tenure.ErrorCode(err) != tenure.EINVALID {
		t.Fatalf("publishing an invalid event: %v, want EINVALID", err)
	}
	if _, err := db.GetOutboundEvent(ctx, "evt_ok"); tenure.ErrorCode(err) != tenure.ENOTFOUND || len(started.ids) != 0 {
		t.Fatalf("an invalid event's companion was published: %v, deliveries %q", err, started.ids)
	}
}
