package tenure

import (
	"context"
	"slices"
	"time"
)

// SubscriptionStatus says whether a subscription still receives events.
type SubscriptionStatus string

// The subscription statuses.
const (
	SubscriptionActive SubscriptionStatus = "active"
	// SubscriptionDisabled receives nothing: its endpoint answered 410 Gone.
	SubscriptionDisabled SubscriptionStatus = "disabled"
)

// AllEvents subscribes to every outbound event type, including types added later.
const AllEvents = "*"

// Subscription is an endpoint that receives outbound events of the types it names.
type Subscription struct {
	ID             string             `json:"id"`
	URL            string             `json:"url"`
	Events         []string           `json:"events"`
	Description    string             `json:"description,omitempty"`
	Status         SubscriptionStatus `json:"status"`
	DisabledReason string             `json:"disabled_reason,omitempty"`
	CreatedAt      time.Time          `json:"created_at"`
	UpdatedAt      time.Time          `json:"updated_at"`
	// SealedSecret is the signing secret encrypted at rest. It never leaves the
	// process in JSON, in a log or in Temporal history.
	SealedSecret []byte `json:"-"`
}

// Wants reports whether the subscription receives events of type t.
func (s Subscription) Wants(t string) bool {
	return s.Status == SubscriptionActive && (slices.Contains(s.Events, AllEvents) || slices.Contains(s.Events, t))
}

// NewSubscription is a request to subscribe an endpoint.
type NewSubscription struct {
	URL         string   `json:"url"`
	Events      []string `json:"events"`
	Description string   `json:"description,omitempty"`
}

// DeliveryOutcome is what one delivery attempt came to.
type DeliveryOutcome string

// The delivery outcomes.
const (
	// DeliveryDelivered: the endpoint answered 2xx.
	DeliveryDelivered DeliveryOutcome = "delivered"
	// DeliveryFailed: any other answer, or none; the attempt is retried.
	DeliveryFailed DeliveryOutcome = "failed"
	// DeliveryGone: the endpoint answered 410 and the subscription is disabled.
	DeliveryGone DeliveryOutcome = "gone"
	// DeliverySkipped: the subscription was deleted or disabled before the attempt.
	DeliverySkipped DeliveryOutcome = "skipped"
)

// Delivery is one attempt to deliver one event to one subscription. DeliveryID is
// the delivery's workflow ID, so a redelivery's attempts are told apart.
type Delivery struct {
	DeliveryID     string          `json:"delivery_id"`
	EventID        string          `json:"event_id"`
	SubscriptionID string          `json:"subscription_id"`
	Attempt        int             `json:"attempt"`
	At             time.Time       `json:"at"`
	Outcome        DeliveryOutcome `json:"outcome"`
	StatusCode     int             `json:"status_code,omitempty"`
	Error          string          `json:"error,omitempty"`
	DurationMS     int64           `json:"duration_ms"`
}

// DeliveryRequest asks for one attempt to deliver an event to a subscription.
type DeliveryRequest struct {
	DeliveryID     string `json:"delivery_id"`
	EventID        string `json:"event_id"`
	SubscriptionID string `json:"subscription_id"`
	Attempt        int    `json:"attempt"`
}

// DeliveryResult is what one attempt came to. RetryAfter is the delay the
// endpoint asked for (429 or 503 with Retry-After), zero when it named none.
type DeliveryResult struct {
	Outcome    DeliveryOutcome `json:"outcome"`
	StatusCode int             `json:"status_code,omitempty"`
	Error      string          `json:"error,omitempty"`
	RetryAfter time.Duration   `json:"retry_after,omitempty"`
}

// Redelivery names the delivery that a redeliver request started.
type Redelivery struct {
	SubscriptionID string `json:"subscription_id"`
	WorkflowID     string `json:"workflow_id"`
}

// OutboundEventFilter selects outbound events, newest first.
type OutboundEventFilter struct {
	Type       string
	EmployeeID string
	Limit      int
	Offset     int
}

// DeliveryFilter selects delivery attempts, newest first.
type DeliveryFilter struct {
	EventID        string
	SubscriptionID string
	Limit          int
	Offset         int
}

// OutboundStore is the read model of outbound events, subscriptions and the
// delivery log. Writes are idempotent; missing rows are ENOTFOUND.
type OutboundStore interface {
	// CreateOutboundEvent inserts ev unless an event with its ID exists; then it
	// returns the stored event and created=false, and writes nothing.
	CreateOutboundEvent(ctx context.Context, ev OutboundEvent) (stored OutboundEvent, created bool, err error)
	// CreateOutboundEvents inserts each of evs unless an event with its ID
	// exists, all in one statement.
	CreateOutboundEvents(ctx context.Context, evs []OutboundEvent) error
	GetOutboundEvent(ctx context.Context, id string) (OutboundEvent, error)
	ListOutboundEvents(ctx context.Context, f OutboundEventFilter) ([]OutboundEvent, error)

	CreateSubscription(ctx context.Context, s Subscription) error
	GetSubscription(ctx context.Context, id string) (Subscription, error)
	// ListSubscriptions returns every subscription, oldest first.
	ListSubscriptions(ctx context.Context) ([]Subscription, error)
	DeleteSubscription(ctx context.Context, id string) error
	DisableSubscription(ctx context.Context, id, reason string, at time.Time) error

	// RecordDelivery writes one attempt, keyed by delivery ID and attempt.
	RecordDelivery(ctx context.Context, d Delivery) error
	ListDeliveries(ctx context.Context, f DeliveryFilter) ([]Delivery, error)
}

// Outbound manages subscribers and hands them events: the API's subscription
// routes and the delivery activities use it. It is found on the tenure.Store given
// to the API and the activities (outbound.Service wraps the read model), so
// wiring it in changes neither's configuration.
type Outbound interface {
	Publisher
	// CheckSubscription validates a request to subscribe without writing anything.
	CheckSubscription(req NewSubscription) error
	// Subscribe registers an endpoint and returns its signing secret, this once.
	Subscribe(ctx context.Context, req NewSubscription) (sub Subscription, secret string, err error)
	ListSubscriptions(ctx context.Context) ([]Subscription, error)
	Unsubscribe(ctx context.Context, id string) error
	ListOutboundEvents(ctx context.Context, f OutboundEventFilter) ([]OutboundEvent, error)
	ListDeliveries(ctx context.Context, f DeliveryFilter) ([]Delivery, error)
	// Redeliver delivers an event again, to one subscription or (subscriptionID
	// "") to every active subscription that wants it.
	Redeliver(ctx context.Context, eventID, subscriptionID string) ([]Redelivery, error)
	// Deliver makes one delivery attempt and records it in the delivery log.
	Deliver(ctx context.Context, req DeliveryRequest) (DeliveryResult, error)
	// DisableSubscription stops deliveries to a subscription, saying why.
	DisableSubscription(ctx context.Context, id, reason string) error
}
