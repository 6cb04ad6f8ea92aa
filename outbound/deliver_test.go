package outbound

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/store/storetest"
)

// noStarts is a Temporal client for tests that publish nothing.
type noStarts struct{}

func (noStarts) ExecuteWorkflow(context.Context, client.StartWorkflowOptions, any, ...any) (client.WorkflowRun, error) {
	return nil, errors.New("this test starts no workflows")
}

func TestNotPublic(t *testing.T) {
	for _, c := range []struct {
		addr string
		want string // a part of the kind, or "" for public
	}{
		{"93.184.216.34", ""},
		{"2606:2800:220:1:248:1893:25c8:1946", ""},
		{"::ffff:93.184.216.34", ""}, // IPv4-mapped public: the public IPv4 address itself
		{"127.0.0.1", "loopback"},
		{"10.1.2.3", "private"},
		{"169.254.169.254", "link-local"},
		{"100.64.0.1", "carrier-grade NAT"},
		{"0.0.0.0", "unspecified"},
		{"::1", "loopback"},
		{"fd00::1", "private"},
		{"fe80::1%eth0", "link-local"},
		{"ff02::1", "not unicast"},
		// IPv4-mapped addresses are the IPv4 address they embed.
		{"::ffff:127.0.0.1", "loopback"},
		{"::ffff:10.0.0.1", "private"},
		{"::ffff:169.254.169.254", "link-local"},
		// NAT64: the well-known prefix and the local-use one, whatever they embed.
		{"64:ff9b::7f00:1", "NAT64"},
		{"64:ff9b::a9fe:a9fe", "NAT64"},
		{"64:ff9b::5db8:d822", "NAT64"},
		{"64:ff9b:1::a00:1", "local-use NAT64"},
		{"64:ff9b:1:ffff:ffff:ffff:ffff:ffff", "local-use NAT64"},
		{"64:ff9b::7f00:1%eth0", "NAT64"}, // a zone must not hide the prefix
		// 6to4 embeds the IPv4 address in bits 16 to 48.
		{"2002:7f00:1::", "6to4"},
		{"2002:a9fe:a9fe::1", "6to4"},
		{"2002:5db8:d822::1", "6to4"},
		// Teredo.
		{"2001:0:4136:e378:8000:63bf:3fff:fdd2", "Teredo"},
		{"2001::1", "Teredo"},
		// IPv4-compatible (deprecated) and IPv4-translated.
		{"::7f00:1", "IPv4-compatible"},
		{"::a00:1", "IPv4-compatible"},
		{"::5db8:d822", "IPv4-compatible"},
		{"::ffff:0:7f00:1", "IPv4-translated"},
		// Just outside the refused prefixes.
		{"64:ff9b:0:1::1", ""},
		{"2003::1", ""},
		{"2001:1::1", ""},
	} {
		got := notPublic(netip.MustParseAddr(c.addr))
		switch {
		case c.want == "" && got != "":
			t.Errorf("%s: refused as %q, want public", c.addr, got)
		case c.want != "" && !strings.Contains(got, c.want):
			t.Errorf("%s: %q, want it refused as %s", c.addr, got, c.want)
		}
	}
}

// strictAndDev returns two Services over one read model and key: one as in
// production, and one that allows private addresses as tenure dev does, which
// can store a subscription that production would refuse (as a subscription
// stored before a rule existed, or a name that resolves elsewhere later).
func strictAndDev(t *testing.T) (strict, dev *Service) {
	t.Helper()
	db := storetest.SQLite(t)
	key, err := ParseKey(NewKey())
	if err != nil {
		t.Fatal(err)
	}
	strict, err = New(Config{Store: db, Temporal: noStarts{}, Key: key, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	dev, err = New(Config{Store: db, Temporal: noStarts{}, Key: key, AllowPrivate: true, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return strict, dev
}

// The dialer refuses the address it is about to connect to, so a subscription
// already stored (or a name resolving to one of these) is refused at every
// attempt, and the refusal is in the delivery log.
func TestDeliverRefusesTunnelledAddressesAtDialTime(t *testing.T) {
	strict, dev := strictAndDev(t)
	ctx := context.Background()
	ev, _, err := strict.db.CreateOutboundEvent(ctx, tenure.OutboundEvent{ID: "evt_1", Type: tenure.EventEmployeeHired,
		EmployeeID: "E1", At: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ url, kind string }{
		{"http://[64:ff9b::7f00:1]:9/hook", "NAT64"},
		{"http://[64:ff9b:1::a00:1]:9/hook", "local-use NAT64"},
		{"http://[2002:7f00:1::1]:9/hook", "6to4"},
		{"http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]:9/hook", "Teredo"},
		{"http://[::7f00:1]:9/hook", "IPv4-compatible"},
	} {
		sub, _, err := dev.Subscribe(ctx, tenure.NewSubscription{URL: c.url, Events: []string{"*"}})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		res, err := strict.Deliver(ctx, tenure.DeliveryRequest{DeliveryID: "delivery/evt_1/" + sub.ID, EventID: ev.ID, SubscriptionID: sub.ID})
		if err != nil {
			t.Fatal(err)
		}
		if res.Outcome != tenure.DeliveryFailed || !strings.Contains(res.Error, errNotPublic.Error()) || !strings.Contains(res.Error, c.kind) {
			t.Errorf("%s: %+v, want a refusal naming %s", c.url, res, c.kind)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("%s: the refusal took %s; the dialer tried to connect", c.url, d)
		}
		log, err := strict.ListDeliveries(ctx, tenure.DeliveryFilter{SubscriptionID: sub.ID})
		if err != nil || len(log) != 1 || log[0].Error != res.Error {
			t.Errorf("%s: delivery log %+v, %v", c.url, log, err)
		}
	}
}

// An IPv4-mapped URL reaches the IPv4 address it embeds: a receiver on loopback
// gets the dev delivery, and never the production one.
func TestDeliverRefusesIPv4MappedLoopback(t *testing.T) {
	strict, dev := strictAndDev(t)
	ctx := context.Background()
	var hits atomic.Int64
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { hits.Add(1) }))
	defer rc.Close()
	port := rc.URL[strings.LastIndex(rc.URL, ":")+1:]
	sub, _, err := dev.Subscribe(ctx, tenure.NewSubscription{URL: "http://[::ffff:127.0.0.1]:" + port + "/hook", Events: []string{"*"}})
	if err != nil {
		t.Fatal(err)
	}
	ev, _, err := strict.db.CreateOutboundEvent(ctx, tenure.OutboundEvent{ID: "evt_1", Type: tenure.EventEmployeeHired, EmployeeID: "E1", At: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	req := tenure.DeliveryRequest{DeliveryID: "delivery/evt_1/" + sub.ID, EventID: ev.ID, SubscriptionID: sub.ID}
	if res, err := dev.Deliver(ctx, req); err != nil || res.Outcome != tenure.DeliveryDelivered || hits.Load() != 1 {
		t.Fatalf("dev delivery: %+v, %v, %d requests; the receiver must be reachable for this test to mean anything", res, err, hits.Load())
	}
	req.Attempt = 2
	res, err := strict.Deliver(ctx, req)
	if err != nil || res.Outcome != tenure.DeliveryFailed || !strings.Contains(res.Error, "127.0.0.1 is loopback") {
		t.Fatalf("production delivery: %+v, %v; want a refusal", res, err)
	}
	if hits.Load() != 1 {
		t.Fatal("the production delivery reached the receiver on loopback")
	}
}

func TestSubscribeRefusesTunnelledAddresses(t *testing.T) {
	strict, _ := strictAndDev(t)
	ctx := context.Background()
	for _, url := range []string{
		"https://[64:ff9b::7f00:1]/hook", "https://[64:ff9b::5db8:d822]/hook", "https://[64:ff9b:1::1]/hook",
		"https://[2002:a9fe:a9fe::1]/hook", "https://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/hook",
		"https://[::7f00:1]/hook", "https://[::ffff:7f00:1]/hook", "https://[::ffff:0:7f00:1]/hook",
		"https://[64:ff9b::7f00:1%25eth0]/hook",
	} {
		_, _, err := strict.Subscribe(ctx, tenure.NewSubscription{URL: url, Events: []string{"*"}})
		var e *tenure.Error
		if !errors.As(err, &e) || e.Code != tenure.EINVALID || len(e.Fields) != 1 || e.Fields[0].Field != "url" ||
			!strings.Contains(e.Fields[0].Problem, "reserved address") {
			t.Errorf("%s: %v, want the url refused", url, err)
		}
	}
	if subs, _ := strict.ListSubscriptions(ctx); len(subs) != 0 {
		t.Fatalf("refused URLs wrote %d subscriptions", len(subs))
	}
	if _, _, err := strict.Subscribe(ctx, tenure.NewSubscription{URL: "https://[2606:2800:220:1:248:1893:25c8:1946]/hook", Events: []string{"*"}}); err != nil {
		t.Fatalf("a public IPv6 address: %v", err)
	}
}
