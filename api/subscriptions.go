package api

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/intake"
)

// outbound is the outbound-events service: Config.Outbound, or a store that is
// one (outbound.Service wraps the read model); without one, the routes that
// subscribe or deliver answer 503 and say why.
func (s *server) outbound() (tenure.Outbound, error) {
	if s.out != nil {
		return s.out, nil
	}
	if o, ok := s.store.(tenure.Outbound); ok {
		return o, nil
	}
	return nil, tenure.Errorf(tenure.EUNAVAILABLE, "outbound events are not configured on this server")
}

// outboundReads is what the read routes need: the service, or failing that the
// read model's outbound tables, so the log can be read on any API process.
type outboundReads interface {
	ListSubscriptions(ctx context.Context) ([]tenure.Subscription, error)
	ListOutboundEvents(ctx context.Context, f tenure.OutboundEventFilter) ([]tenure.OutboundEvent, error)
	ListDeliveries(ctx context.Context, f tenure.DeliveryFilter) ([]tenure.Delivery, error)
	GetOutboundEvent(ctx context.Context, id string) (tenure.OutboundEvent, error)
}

func (s *server) outboundReads() (outboundReads, error) {
	if o, ok := s.store.(outboundReads); ok {
		return o, nil
	}
	return nil, tenure.Errorf(tenure.EUNAVAILABLE, "outbound events are not configured on this server")
}

// subscriptionCreated is the body of POST /api/v1/subscriptions: the only answer
// that carries the signing secret.
type subscriptionCreated struct {
	tenure.Subscription
	Secret string `json:"secret"`
}

type subscriptionList struct {
	Subscriptions []tenure.Subscription `json:"subscriptions"`
}

func (s *server) createSubscription(c echo.Context) error {
	var (
		p   intake.Problems
		req tenure.NewSubscription
	)
	if err := decodeBody(c, map[string]any{
		"url": &req.URL, "events": &req.Events, "description": &req.Description,
	}, false, &p); err != nil {
		return err
	}
	if p.Has("body") {
		return p.Err()
	}
	if req.URL == "" {
		p.Add("url", "is required")
	}
	if len(req.Events) == 0 {
		p.Add("events", `is required: list event types, or "*" for all`)
	}
	o, err := s.outbound()
	if err != nil {
		if perr := p.Err(); perr != nil {
			return perr
		}
		return err
	}
	// Report the members that did not decode together with what is wrong with
	// the rest, so one round trip shows every problem.
	var invalid *tenure.Error
	if err := o.CheckSubscription(req); errors.As(err, &invalid) {
		for _, f := range invalid.Fields {
			p.Add(f.Field, f.Problem)
		}
	} else if err != nil {
		return err
	}
	if err := p.Err(); err != nil {
		return err
	}
	sub, secret, err := o.Subscribe(c.Request().Context(), req)
	if err != nil {
		return tenure.Unavailable("the store", err)
	}
	c.Response().Header().Set(echo.HeaderLocation, "/api/v1/subscriptions/"+sub.ID)
	return respond(c, http.StatusCreated, subscriptionCreated{Subscription: sub, Secret: secret})
}

func (s *server) listSubscriptions(c echo.Context) error {
	o, err := s.outboundReads()
	if err != nil {
		return err
	}
	subs, err := o.ListSubscriptions(c.Request().Context())
	if err != nil {
		return tenure.Unavailable("the store", err)
	}
	return respond(c, http.StatusOK, subscriptionList{Subscriptions: orEmpty(subs)})
}

func (s *server) deleteSubscription(c echo.Context) error {
	var del func(ctx context.Context, id string) error
	switch o := s.store.(type) {
	case tenure.Outbound:
		del = o.Unsubscribe
	case tenure.OutboundStore:
		del = o.DeleteSubscription
	default:
		return tenure.Errorf(tenure.EUNAVAILABLE, "outbound events are not configured on this server")
	}
	if err := del(c.Request().Context(), c.Param("id")); err != nil {
		return tenure.Unavailable("the store", err)
	}
	return c.NoContent(http.StatusNoContent)
}

type outboundEventList struct {
	Events []tenure.OutboundEvent `json:"events"`
	Limit  int                    `json:"limit"`
	Offset int                    `json:"offset"`
}

func (s *server) listOutboundEvents(c echo.Context) error {
	o, err := s.outboundReads()
	if err != nil {
		return err
	}
	var p intake.Problems
	f := tenure.OutboundEventFilter{
		Type:       c.QueryParam("type"),
		EmployeeID: c.QueryParam("employee_id"),
		Limit:      queryInt(c, "limit", defaultPage, 1, maxPage, &p),
		Offset:     queryInt(c, "offset", 0, 0, 1<<31-1, &p),
	}
	if f.Type != "" && !slices.Contains(tenure.OutboundEventTypes, f.Type) {
		p.Add("type", "must be one of "+strings.Join(tenure.OutboundEventTypes, ", "))
	}
	if len(f.EmployeeID) > intake.MaxText {
		p.Addf("employee_id", "must be at most %d characters", intake.MaxText)
	}
	if err := p.Err(); err != nil {
		return err
	}
	events, err := o.ListOutboundEvents(c.Request().Context(), f)
	if err != nil {
		return tenure.Unavailable("the store", err)
	}
	return respond(c, http.StatusOK, outboundEventList{Events: orEmpty(events), Limit: f.Limit, Offset: f.Offset})
}

type redeliverAccepted struct {
	EventID    string              `json:"event_id"`
	Deliveries []tenure.Redelivery `json:"deliveries"`
}

func (s *server) redeliver(c echo.Context) error {
	// An unknown event is a 404 whether or not this server can deliver.
	if r, err := s.outboundReads(); err == nil {
		if _, err := r.GetOutboundEvent(c.Request().Context(), c.Param("id")); err != nil {
			return tenure.Unavailable("the store", err)
		}
	}
	o, err := s.outbound()
	if err != nil {
		return err
	}
	ds, err := o.Redeliver(c.Request().Context(), c.Param("id"), c.QueryParam("subscription_id"))
	if err != nil {
		return tenure.Unavailable("delivery", err)
	}
	return respond(c, http.StatusAccepted, redeliverAccepted{EventID: c.Param("id"), Deliveries: orEmpty(ds)})
}

type deliveryList struct {
	Deliveries []tenure.Delivery `json:"deliveries"`
	Limit      int               `json:"limit"`
	Offset     int               `json:"offset"`
}

func (s *server) listDeliveries(c echo.Context) error {
	o, err := s.outboundReads()
	if err != nil {
		return err
	}
	var p intake.Problems
	f := tenure.DeliveryFilter{
		EventID:        c.QueryParam("event_id"),
		SubscriptionID: c.QueryParam("subscription_id"),
		Limit:          queryInt(c, "limit", defaultPage, 1, maxPage, &p),
		Offset:         queryInt(c, "offset", 0, 0, 1<<31-1, &p),
	}
	if len(f.EventID) > intake.MaxText {
		p.Addf("event_id", "must be at most %d characters", intake.MaxText)
	}
	if len(f.SubscriptionID) > intake.MaxText {
		p.Addf("subscription_id", "must be at most %d characters", intake.MaxText)
	}
	if err := p.Err(); err != nil {
		return err
	}
	ds, err := o.ListDeliveries(c.Request().Context(), f)
	if err != nil {
		return tenure.Unavailable("the store", err)
	}
	return respond(c, http.StatusOK, deliveryList{Deliveries: orEmpty(ds), Limit: f.Limit, Offset: f.Offset})
}
