// Package outbound takes the events Tenure publishes to the subscribers that want
// them: it keeps subscriptions (with their signing secrets sealed by AES-GCM),
// stores each event once, starts one Deliver workflow per event and subscriber,
// and makes the signed HTTP delivery attempts that workflow retries.
//
// A Service wraps the read model: it is a tenure.Store that is also a
// tenure.Outbound, so the API and the activities find it on the store they
// already have.
package outbound

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/workflows"
)

// Store is the read model the Service needs: all of it, since the Service stands
// in for it, and its outbound tables.
type Store interface {
	tenure.Store
	tenure.OutboundStore
}

// Starter starts workflows; a Temporal client is one.
type Starter interface {
	ExecuteWorkflow(ctx context.Context, opts client.StartWorkflowOptions, workflow any, args ...any) (client.WorkflowRun, error)
}

// Config holds a Service's dependencies and options.
type Config struct {
	Store Store
	// Temporal starts the Deliver workflows.
	Temporal Starter
	// Key seals signing secrets at rest (KeySize bytes).
	Key []byte
	// AllowPrivate lets subscribers live on loopback and private addresses, for
	// tenure dev and tests. Off in production, so that a subscription cannot make
	// Tenure call into its own network.
	AllowPrivate bool
	// Timeout bounds one delivery attempt's HTTP call; zero means DefaultTimeout.
	Timeout time.Duration
	Logger  *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// DefaultTimeout is how long one delivery attempt waits for the subscriber.
const DefaultTimeout = 10 * time.Second

// Limits on a subscription.
const (
	MaxURL         = 2048
	MaxDescription = 500
)

// Service is the read model with outbound events: subscriptions, publishing,
// delivery and the delivery log.
type Service struct {
	tenure.Store
	db           tenure.OutboundStore
	temporal     Starter
	seal         *sealer
	allowPrivate bool
	http         *http.Client
	log          *slog.Logger
	now          func() time.Time
}

var (
	_ tenure.Outbound = (*Service)(nil)
	_ tenure.Store    = (*Service)(nil)
)

// New returns a Service over cfg.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil || cfg.Temporal == nil {
		return nil, errors.New("outbound: a Store and a Temporal client are required")
	}
	seal, err := newSealer(cfg.Key)
	if err != nil {
		return nil, err
	}
	s := &Service{
		Store: cfg.Store, db: cfg.Store, temporal: cfg.Temporal, seal: seal,
		allowPrivate: cfg.AllowPrivate, log: cfg.Logger, now: cfg.Now,
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	s.http = newHTTPClient(timeout, cfg.AllowPrivate)
	return s, nil
}

// Publish stores each event (once per ID) and starts a delivery of it to
// every active subscription that wants its type. Each delivery's workflow ID
// is delivery/<event id>/<subscription id>, and a second start of it is
// refused by Temporal, so publishing again (a retried step) delivers nothing
// twice. Every event is checked before any is stored, all are stored in one
// statement, and the subscriptions are read once for all of them.
func (s *Service) Publish(ctx context.Context, evs ...tenure.OutboundEvent) error {
	for _, ev := range evs {
		if err := validateEvent(ev); err != nil {
			return err
		}
	}
	if len(evs) == 0 {
		return nil
	}
	stored := slices.Clone(evs)
	for i := range stored {
		if stored[i].At.IsZero() {
			stored[i].At = s.now()
		}
	}
	if err := s.db.CreateOutboundEvents(ctx, stored); err != nil {
		return err
	}
	subs, err := s.db.ListSubscriptions(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, ev := range stored {
		for _, sub := range subs {
			if !sub.Wants(ev.Type) {
				continue
			}
			id := workflows.DeliveryWorkflowID(ev.ID, sub.ID)
			if err := s.start(ctx, id, ev.ID, sub.ID); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

func validateEvent(ev tenure.OutboundEvent) error {
	var fe []tenure.FieldError
	if strings.TrimSpace(ev.ID) == "" {
		fe = append(fe, tenure.FieldError{Field: "id", Problem: "is required"})
	}
	if !slices.Contains(tenure.OutboundEventTypes, ev.Type) {
		fe = append(fe, tenure.FieldError{Field: "type", Problem: "must be one of " + strings.Join(tenure.OutboundEventTypes, ", ")})
	}
	if len(ev.Data) > 0 && !json.Valid(ev.Data) {
		fe = append(fe, tenure.FieldError{Field: "data", Problem: "must be JSON"})
	}
	if fe != nil {
		return tenure.Invalid(fe...)
	}
	return nil
}

// start starts one delivery; a delivery with that ID that has already started,
// running or closed, is success.
func (s *Service) start(ctx context.Context, workflowID, eventID, subscriptionID string) error {
	_, err := s.temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                       workflowID,
		TaskQueue:                workflows.TaskQueue,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		// Ask for the error, so a closed delivery is never mistaken for a new one.
		WorkflowExecutionErrorWhenAlreadyStarted: true,
	}, workflows.DeliverWorkflowName, workflows.DeliverInput{EventID: eventID, SubscriptionID: subscriptionID})
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &started) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("outbound: starting delivery %s: %w", workflowID, err)
	}
	return nil
}

// Subscribe validates req, seals a new signing secret and stores the
// subscription. The secret is returned this once and never again.
func (s *Service) Subscribe(ctx context.Context, req tenure.NewSubscription) (tenure.Subscription, string, error) {
	sub, err := s.validate(req)
	if err != nil {
		return tenure.Subscription{}, "", err
	}
	sub.ID = "sub_" + randomHex(12)
	secret := "whsec_" + randomHex(32)
	sub.SealedSecret = s.seal.seal(sub.ID, secret)
	sub.Status = tenure.SubscriptionActive
	sub.CreatedAt = s.now().UTC().Truncate(time.Microsecond)
	sub.UpdatedAt = sub.CreatedAt
	if err := s.db.CreateSubscription(ctx, sub); err != nil {
		return tenure.Subscription{}, "", err
	}
	s.log.InfoContext(ctx, "subscription created", "subscription_id", sub.ID, "events", sub.Events)
	return sub, secret, nil
}

// CheckSubscription validates req and reports every problem at once, writing nothing.
func (s *Service) CheckSubscription(req tenure.NewSubscription) error {
	_, err := s.validate(req)
	return err
}

// validate checks a subscription request and reports every problem at once.
func (s *Service) validate(req tenure.NewSubscription) (tenure.Subscription, error) {
	var fe []tenure.FieldError
	add := func(field, problem string) { fe = append(fe, tenure.FieldError{Field: field, Problem: problem}) }
	if problem := s.checkURL(req.URL); problem != "" {
		add("url", problem)
	}
	var events []string
	if len(req.Events) == 0 {
		add("events", `is required: list event types, or "*" for all`)
	}
	for i, e := range req.Events {
		switch {
		case e == tenure.AllEvents || slices.Contains(tenure.OutboundEventTypes, e):
			if !slices.Contains(events, e) {
				events = append(events, e)
			}
		default:
			add(fmt.Sprintf("events[%d]", i), fmt.Sprintf("%q is not an event type; use %s or \"*\"", e, strings.Join(tenure.OutboundEventTypes, ", ")))
		}
	}
	if slices.Contains(events, tenure.AllEvents) {
		events = []string{tenure.AllEvents}
	}
	if len(req.Description) > MaxDescription {
		add("description", fmt.Sprintf("must be at most %d characters", MaxDescription))
	}
	if fe != nil {
		return tenure.Subscription{}, tenure.Invalid(fe...)
	}
	return tenure.Subscription{URL: req.URL, Events: events, Description: req.Description}, nil
}

// checkURL returns what is wrong with a subscriber URL, or "". Names are not
// resolved here: the delivery's dialer checks every address it connects to, which
// also catches a name that later points inside.
func (s *Service) checkURL(raw string) string {
	if strings.TrimSpace(raw) == "" {
		return "is required"
	}
	if len(raw) > MaxURL {
		return fmt.Sprintf("must be at most %d characters", MaxURL)
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return "must be an absolute http or https URL"
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "must use http or https"
	}
	if u.User != nil {
		return "must not carry credentials; the signature authenticates Tenure"
	}
	if u.Fragment != "" {
		return "must not have a fragment"
	}
	if s.allowPrivate {
		return ""
	}
	host := strings.ToLower(strings.TrimSuffix(u.Hostname(), "."))
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return "must not point at a loopback or private address"
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if kind := notPublic(ip); kind != "" {
			return fmt.Sprintf("must not point at a loopback, private or reserved address: %s is %s", host, kind)
		}
	}
	return ""
}

// ListSubscriptions returns every subscription, without secrets.
func (s *Service) ListSubscriptions(ctx context.Context) ([]tenure.Subscription, error) {
	return s.db.ListSubscriptions(ctx)
}

// Unsubscribe deletes a subscription; deliveries in flight to it stop at their
// next attempt.
func (s *Service) Unsubscribe(ctx context.Context, id string) error {
	if err := s.db.DeleteSubscription(ctx, id); err != nil {
		return err
	}
	s.log.InfoContext(ctx, "subscription deleted", "subscription_id", id)
	return nil
}

// ListOutboundEvents returns one page of published events, newest first.
func (s *Service) ListOutboundEvents(ctx context.Context, f tenure.OutboundEventFilter) ([]tenure.OutboundEvent, error) {
	return s.db.ListOutboundEvents(ctx, f)
}

// GetOutboundEvent returns one published event; ENOTFOUND when there is none.
func (s *Service) GetOutboundEvent(ctx context.Context, id string) (tenure.OutboundEvent, error) {
	return s.db.GetOutboundEvent(ctx, id)
}

// ListDeliveries returns one page of the delivery log, newest first.
func (s *Service) ListDeliveries(ctx context.Context, f tenure.DeliveryFilter) ([]tenure.Delivery, error) {
	return s.db.ListDeliveries(ctx, f)
}

// Redeliver starts a new delivery of an event, whose workflow ID is the first
// delivery's with a /redeliver-<random> suffix: to subscriptionID, or to every
// active subscription that wants the event when subscriptionID is "".
func (s *Service) Redeliver(ctx context.Context, eventID, subscriptionID string) ([]tenure.Redelivery, error) {
	ev, err := s.db.GetOutboundEvent(ctx, eventID)
	if err != nil {
		return nil, err
	}
	var subs []tenure.Subscription
	if subscriptionID != "" {
		sub, err := s.db.GetSubscription(ctx, subscriptionID)
		if err != nil {
			return nil, err
		}
		if sub.Status != tenure.SubscriptionActive {
			return nil, tenure.Errorf(tenure.ECONFLICT, "subscription %s is %s (%s); subscribe the endpoint again", sub.ID, sub.Status, sub.DisabledReason)
		}
		subs = append(subs, sub)
	} else {
		all, err := s.db.ListSubscriptions(ctx)
		if err != nil {
			return nil, err
		}
		for _, sub := range all {
			if sub.Wants(ev.Type) {
				subs = append(subs, sub)
			}
		}
	}
	out := make([]tenure.Redelivery, 0, len(subs))
	suffix := "/redeliver-" + randomHex(6)
	for _, sub := range subs {
		id := workflows.DeliveryWorkflowID(ev.ID, sub.ID) + suffix
		if err := s.start(ctx, id, ev.ID, sub.ID); err != nil {
			return out, err
		}
		out = append(out, tenure.Redelivery{SubscriptionID: sub.ID, WorkflowID: id})
	}
	return out, nil
}

// DisableSubscription stops deliveries to a subscription whose endpoint is gone.
func (s *Service) DisableSubscription(ctx context.Context, id, reason string) error {
	err := s.db.DisableSubscription(ctx, id, reason, s.now())
	if tenure.ErrorCode(err) == tenure.ENOTFOUND {
		return nil // deleted meanwhile: nothing left to disable
	}
	if err == nil {
		s.log.WarnContext(ctx, "subscription disabled", "subscription_id", id, "reason", reason)
	}
	return err
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
