package activities

import (
	"context"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/workflows"
)

// outbound finds the outbound service: the Publisher (outbound.Service), or the
// Store when that is the Service wrapping the read model. A worker given neither
// says so.
func (a *Activities) outbound() (tenure.Outbound, error) {
	if o, ok := a.Publisher.(tenure.Outbound); ok {
		return o, nil
	}
	if o, ok := a.Store.(tenure.Outbound); ok {
		return o, nil
	}
	// Retryable: another worker of the fleet may be configured.
	return nil, temporal.NewApplicationError("outbound events are not configured on this worker", "OutboundNotConfigured")
}

// Deliver makes one attempt to deliver an event to a subscription (the
// outbound.Deliver activity) and records it in the delivery log. A failed attempt
// is a retryable DeliveryFailed error, after the delay the subscriber asked for
// when it named one; delivered, gone and skipped are results.
func (a *Activities) Deliver(ctx context.Context, req tenure.DeliveryRequest) (tenure.DeliveryResult, error) {
	o, err := a.outbound()
	if err != nil {
		return tenure.DeliveryResult{}, err
	}
	req.Attempt = int(activity.GetInfo(ctx).Attempt)
	res, err := o.Deliver(ctx, req)
	if err != nil {
		switch tenure.ErrorCode(err) {
		case tenure.EINVALID, tenure.ENOTFOUND:
			// The event is gone from the read model: no retry brings it back.
			return res, temporal.NewNonRetryableApplicationError(err.Error(), tenure.ErrorCode(err), err)
		}
		return res, err
	}
	if res.Outcome == tenure.DeliveryFailed {
		return res, temporal.NewApplicationErrorWithOptions(res.Error, workflows.DeliveryFailedError,
			temporal.ApplicationErrorOptions{NextRetryDelay: res.RetryAfter})
	}
	return res, nil
}

// DisableSubscription disables a subscription whose endpoint answered 410 Gone.
func (a *Activities) DisableSubscription(ctx context.Context, d workflows.SubscriptionDisable) error {
	o, err := a.outbound()
	if err != nil {
		return err
	}
	return o.DisableSubscription(ctx, d.SubscriptionID, d.Reason)
}
