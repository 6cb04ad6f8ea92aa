package outbound

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"syscall"
	"time"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/integrations"
	"github.com/tenure-io/tenure/internal/signing"
)

// Headers of a delivery, besides signing.Header.
const (
	HeaderEventID   = "Tenure-Event-Id"
	HeaderEventType = "Tenure-Event-Type"
	// HeaderAttempt is the attempt number, from 1; a receiver that dedupes on the
	// event ID can ignore it.
	HeaderAttempt = "Tenure-Delivery-Attempt"
)

// maxRetryAfter caps the delay a subscriber may ask for, like the backoff.
const maxRetryAfter = time.Hour

// Deliver makes one attempt to deliver an event to a subscription and records it
// in the delivery log. The body is the normalised event, signed with the
// subscription's secret like inbound webhooks. 2xx is delivered; 410 is gone (the
// caller disables the subscription); anything else, or no answer, is failed and
// the caller retries. A deleted or disabled subscription is skipped. The error is
// for what is not the subscriber's doing: the store, or a secret that does not open.
func (s *Service) Deliver(ctx context.Context, req tenure.DeliveryRequest) (tenure.DeliveryResult, error) {
	if req.Attempt < 1 {
		req.Attempt = 1
	}
	rec := tenure.Delivery{
		DeliveryID: req.DeliveryID, EventID: req.EventID, SubscriptionID: req.SubscriptionID,
		Attempt: req.Attempt, At: s.now().UTC(),
	}
	sub, err := s.db.GetSubscription(ctx, req.SubscriptionID)
	switch {
	case tenure.ErrorCode(err) == tenure.ENOTFOUND:
		return s.record(ctx, rec, tenure.DeliveryResult{Outcome: tenure.DeliverySkipped, Error: "the subscription was deleted"})
	case err != nil:
		return tenure.DeliveryResult{}, err
	case sub.Status != tenure.SubscriptionActive:
		return s.record(ctx, rec, tenure.DeliveryResult{Outcome: tenure.DeliverySkipped, Error: "the subscription is " + string(sub.Status)})
	}
	ev, err := s.db.GetOutboundEvent(ctx, req.EventID)
	if err != nil {
		return tenure.DeliveryResult{}, err
	}
	secret, err := s.seal.open(sub.ID, sub.SealedSecret)
	if err != nil {
		return tenure.DeliveryResult{}, err
	}
	body, err := Body(ev)
	if err != nil {
		return tenure.DeliveryResult{}, err
	}

	start := time.Now()
	res := s.post(ctx, sub.URL, secret, ev, body, req.Attempt)
	rec.DurationMS = time.Since(start).Milliseconds()
	return s.record(ctx, rec, res)
}

// Body is the JSON a subscriber receives for ev: {"id","type","at","employee_id","data"}.
func Body(ev tenure.OutboundEvent) ([]byte, error) {
	ev.At = ev.At.UTC()
	if len(ev.Data) == 0 {
		ev.Data = json.RawMessage("{}")
	}
	return json.Marshal(ev)
}

func (s *Service) post(ctx context.Context, url, secret string, ev tenure.OutboundEvent, body []byte, attempt int) tenure.DeliveryResult {
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return tenure.DeliveryResult{Outcome: tenure.DeliveryFailed, Error: "the URL is not valid: " + err.Error()}
	}
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("User-Agent", "Tenure-Webhooks/1")
	r.Header.Set(signing.Header, signing.Sign(secret, s.now(), body))
	r.Header.Set(HeaderEventID, ev.ID)
	r.Header.Set(HeaderEventType, ev.Type)
	r.Header.Set(HeaderAttempt, strconv.Itoa(attempt))
	resp, err := s.http.Do(r)
	if err != nil {
		// The error names the URL and the cause, never the secret or the body.
		return tenure.DeliveryResult{Outcome: tenure.DeliveryFailed, Error: err.Error()}
	}
	defer resp.Body.Close()
	// Read a little of the answer so the connection can be reused; keep none of it.
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	res := tenure.DeliveryResult{StatusCode: resp.StatusCode}
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		res.Outcome = tenure.DeliveryDelivered
	case resp.StatusCode == http.StatusGone:
		res.Outcome, res.Error = tenure.DeliveryGone, "HTTP 410 Gone: the subscription is disabled"
	default:
		res.Outcome, res.Error = tenure.DeliveryFailed, "HTTP "+resp.Status
		if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
			// A subscriber may not hold a delivery longer than the backoff would.
			if d, ok := integrations.RetryAfter(resp.Header.Get("Retry-After"), s.now()); ok {
				res.RetryAfter = min(d, maxRetryAfter)
			}
		}
	}
	return res
}

// record writes the attempt to the delivery log and returns res.
func (s *Service) record(ctx context.Context, rec tenure.Delivery, res tenure.DeliveryResult) (tenure.DeliveryResult, error) {
	rec.Outcome, rec.StatusCode, rec.Error = res.Outcome, res.StatusCode, res.Error
	if err := s.db.RecordDelivery(ctx, rec); err != nil {
		return tenure.DeliveryResult{}, err
	}
	return res, nil
}

// newHTTPClient returns the client of deliveries: no proxy from the environment,
// no redirects (a 3xx is a failed attempt, so a subscriber cannot bounce Tenure
// elsewhere), and, unless private addresses are allowed, a dialer that refuses
// every address that is not public, whatever the name resolved to.
func newHTTPClient(timeout time.Duration, allowPrivate bool) *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	if !allowPrivate {
		d.Control = func(_, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return fmt.Errorf("refusing to connect to %s", address)
			}
			if kind := notPublic(ap.Addr()); kind != "" {
				return fmt.Errorf("%w: %s is %s", errNotPublic, ap.Addr(), kind)
			}
			return nil
		}
	}
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			Proxy:                 nil,
			DialContext:           d.DialContext,
			ForceAttemptHTTP2:     true,
			MaxIdleConns:          100,
			MaxIdleConnsPerHost:   4,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   5 * time.Second,
			ResponseHeaderTimeout: timeout,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

var errNotPublic = errors.New("the subscriber's address is not public (loopback or private, or reserved), which this Tenure does not call")

// cgnat is the shared address space of carrier-grade NAT (RFC 6598).
var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// tunnels are the IPv6 prefixes whose packets a translator or relay turns into
// IPv4 packets to an address the dialer never sees as IPv4: 64:ff9b::7f00:1 is
// 127.0.0.1 behind a NAT64 gateway. They are refused whatever they embed, since
// not every prefix says where its IPv4 address sits (a local-use NAT64 prefix
// may be any length within its /48, and Teredo obfuscates the client's).
// IPv4-mapped addresses (::ffff:a.b.c.d) are not here: Unmap turns them into the
// IPv4 address they are, which is then checked as one.
var tunnels = []struct {
	prefix netip.Prefix
	kind   string
}{
	{netip.MustParsePrefix("64:ff9b::/96"), "a NAT64 address (RFC 6052)"},
	{netip.MustParsePrefix("64:ff9b:1::/48"), "a local-use NAT64 address (RFC 8215)"},
	{netip.MustParsePrefix("2002::/16"), "a 6to4 address (RFC 3056)"},
	{netip.MustParsePrefix("2001::/32"), "a Teredo address (RFC 4380)"},
	{netip.MustParsePrefix("::/96"), "an IPv4-compatible address (RFC 4291)"},
	{netip.MustParsePrefix("::ffff:0:0:0/96"), "an IPv4-translated address (RFC 2765)"},
}

// notPublic says what ip is when it is not an ordinary public unicast address
// ("loopback", "a NAT64 address", ...), and "" when it is. Registration and the
// dialer both ask it, so a URL refused at one is refused at the other.
func notPublic(ip netip.Addr) string {
	// A zone would make every prefix below miss: fe80::1%eth0 is in no prefix.
	ip = ip.Unmap().WithZone("")
	switch {
	case !ip.IsValid():
		return "not an IP address"
	case ip.IsUnspecified():
		return "unspecified"
	case ip.IsLoopback():
		return "loopback"
	case ip.IsPrivate():
		return "private"
	case ip.IsLinkLocalUnicast():
		return "link-local"
	case cgnat.Contains(ip):
		return "shared address space (carrier-grade NAT)"
	case !ip.IsGlobalUnicast():
		return "not unicast"
	}
	for _, t := range tunnels {
		if t.prefix.Contains(ip) {
			return t.kind
		}
	}
	return ""
}
