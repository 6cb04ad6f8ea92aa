package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/tenure-io/tenure"
)

// DeliverWorkflowName is the workflow that delivers one outbound event to one
// subscriber.
const DeliverWorkflowName = "Deliver"

// Activities of outbound delivery.
const (
	// DeliverActivity makes one delivery attempt and records it.
	DeliverActivity = "outbound.Deliver"
	// DisableSubscriptionActivity disables a subscription whose endpoint is gone.
	DisableSubscriptionActivity = "outbound.DisableSubscription"
)

// DeliveryFailedError is the error type of a failed attempt, which is retried.
const DeliveryFailedError = "DeliveryFailed"

// Delivery's retry schedule: exponential backoff from DeliveryInitialInterval,
// doubling, capped at DeliveryMaxInterval, for DeliveryWindow in all.
const (
	DeliveryInitialInterval = time.Second
	DeliveryMaxInterval     = time.Hour
	DeliveryWindow          = 72 * time.Hour
	// deliveryAttemptTimeout bounds one attempt: the HTTP call and the log write.
	deliveryAttemptTimeout = time.Minute
	// deliveryMaxAttempts only bounds the attempts: with the interval capped at an
	// hour, the 3-day window ends after about 80, long before this.
	deliveryMaxAttempts = 500
)

// DeliveryWorkflowID is the ID of the delivery of an event to a subscription, so
// starting it twice delivers once.
func DeliveryWorkflowID(eventID, subscriptionID string) string {
	return "delivery/" + eventID + "/" + subscriptionID
}

// DeliverInput names the event and the subscription. It carries no payload and no
// secret: the activity reads both from the read model.
type DeliverInput struct {
	EventID        string `json:"event_id"`
	SubscriptionID string `json:"subscription_id"`
}

// SubscriptionDisable asks for a subscription to be disabled, and why.
type SubscriptionDisable struct {
	SubscriptionID string `json:"subscription_id"`
	Reason         string `json:"reason"`
}

// Deliver delivers one event to one subscription: it retries with exponential
// backoff for up to three days, and disables the subscription when its endpoint
// answers 410 Gone. It fails when the window closes without a delivery.
func Deliver(ctx workflow.Context, in DeliverInput) (tenure.DeliveryResult, error) {
	if in.EventID == "" || in.SubscriptionID == "" {
		return tenure.DeliveryResult{}, temporal.NewNonRetryableApplicationError("Deliver needs an event_id and a subscription_id", "InvalidInput", nil)
	}
	req := tenure.DeliveryRequest{
		DeliveryID:     workflow.GetInfo(ctx).WorkflowExecution.ID,
		EventID:        in.EventID,
		SubscriptionID: in.SubscriptionID,
	}
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		ScheduleToCloseTimeout: DeliveryWindow,
		StartToCloseTimeout:    deliveryAttemptTimeout,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:    DeliveryInitialInterval,
			BackoffCoefficient: 2,
			MaximumInterval:    DeliveryMaxInterval,
			MaximumAttempts:    deliveryMaxAttempts,
		},
	})
	var res tenure.DeliveryResult
	if err := workflow.ExecuteActivity(actx, DeliverActivity, req).Get(ctx, &res); err != nil {
		return res, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("gave up delivering event %s to subscription %s", in.EventID, in.SubscriptionID), "DeliveryAbandoned", err)
	}
	if res.Outcome == tenure.DeliveryGone {
		dctx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 30 * time.Second})
		d := SubscriptionDisable{SubscriptionID: in.SubscriptionID, Reason: fmt.Sprintf("the endpoint answered 410 Gone to event %s", in.EventID)}
		if err := workflow.ExecuteActivity(dctx, DisableSubscriptionActivity, d).Get(ctx, nil); err != nil {
			return res, err
		}
	}
	return res, nil
}
