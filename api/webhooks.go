package api

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/guard"
	"github.com/tenure-io/tenure/integrations/hr"
	"github.com/tenure-io/tenure/internal/authlimit"
	"github.com/tenure-io/tenure/internal/signing"
)

// webhookResult is the answer for one event of a webhook delivery.
type webhookResult struct {
	Index      int    `json:"index"`
	Status     int    `json:"status"`
	EventID    string `json:"event_id,omitempty"`
	EmployeeID string `json:"employee_id,omitempty"`
	WorkflowID string `json:"workflow_id,omitempty"`
	// Duplicate is true when the event had been accepted before and nothing new ran.
	Duplicate bool `json:"duplicate,omitempty"`
	// Held is true when the blast-radius guard holds the (accepted) event, in
	// hold HoldID, until an admin releases or discards it.
	Held   bool   `json:"held,omitempty"`
	HoldID string `json:"hold_id,omitempty"`
	// Skipped says why an entry needed no event.
	Skipped string       `json:"skipped,omitempty"`
	Error   *errorDetail `json:"error,omitempty"`
}

// webhookResponse is the body of every answer to a verified delivery.
type webhookResponse struct {
	Source  string          `json:"source"`
	Results []webhookResult `json:"results"`
}

// postHRWebhook takes a signed delivery from an HR system. The signature is
// checked on the raw bytes before anything is parsed, so an unsigned or altered
// body is refused having written nothing and having cost no more than an HMAC.
// The blast-radius guard sees the delivery's events first and holds those over
// its threshold; each other event is then accepted through intake on its own:
// the answer lists each event's outcome.
func (s *server) postHRWebhook(c echo.Context) error {
	source := c.Param("source")
	if !slices.Contains(hr.Sources, source) {
		return tenure.Errorf(tenure.ENOTFOUND, "no HR source %q: use one of %s", source, strings.Join(hr.Sources, ", "))
	}
	if len(s.hrSecrets) == 0 {
		return tenure.Errorf(tenure.EUNAUTHORIZED, "HR webhooks are not enabled: no webhook secret is configured")
	}
	sig := c.Request().Header.Get(signing.Header)
	keys := []string{authlimit.ClientKey(c.Request()), signatureKey(sig)}
	if err := s.mayTry(keys...); err != nil {
		return err
	}
	body, err := readBody(c)
	if err != nil {
		return err
	}
	if err := signing.Verify(sig, body, s.hrSecrets, s.now(), signing.DefaultTolerance); err != nil {
		s.limiter.Fail(keys...)
		return err
	}
	// For the request log: who sent it, now that the signature says so.
	c.Set(principalKey, tenure.Principal{Name: "hr-webhook:" + source})

	var items []hr.Item
	switch source {
	case hr.SourceGeneric:
		items, err = hr.Generic(body)
	case hr.SourceBambooHR:
		items, err = s.mapBambooHR(c, body)
	}
	if err != nil {
		return err
	}
	results, err := s.acceptItems(c, source, items)
	if err != nil {
		return err
	}
	return respond(c, deliveryStatus(results), webhookResponse{Source: source, Results: results})
}

// signatureKey names a delivery's signature for the limiter by its first v1
// value. The timestamp is left out: every delivery in one second shares it.
func signatureKey(header string) string {
	_, sigs, err := signing.Parse(header)
	if err != nil {
		return ""
	}
	return authlimit.CredentialKey("hr-signature", hex.EncodeToString(sigs[0]))
}

// mapBambooHR maps each entry onto what Tenure knows of the person (BambooHR
// posts only some fields). Entries about the same person in one delivery build
// on each other, as the read model lags behind: each on the record the one
// before it maps to.
func (s *server) mapBambooHR(c echo.Context, body []byte) ([]hr.Item, error) {
	changes, err := hr.BambooHR(body)
	if err != nil {
		return nil, err
	}
	ctx := c.Request().Context()
	seen := map[string]*tenure.Employee{}
	items := make([]hr.Item, 0, len(changes))
	for _, ch := range changes {
		if ch.Err != nil {
			items = append(items, hr.Item{Err: ch.Err})
			continue
		}
		base, ok := seen[ch.EmployeeID]
		if !ok {
			e, err := s.store.GetEmployee(ctx, ch.EmployeeID)
			switch {
			case err == nil:
				base = &e
			case tenure.ErrorCode(err) != tenure.ENOTFOUND:
				items = append(items, hr.Item{Err: err})
				continue
			}
		}
		it := ch.Item(base)
		// A redelivery maps onto a record that may have moved on since; the event
		// accepted the first time is the one to answer with, if it came from the
		// same entry.
		if it.Err == nil && it.Skip == "" {
			if rec, err := s.store.GetEvent(ctx, it.Event.ID); err == nil {
				var prev tenure.Event
				if json.Unmarshal(rec.Body, &prev) == nil && ch.Matches(prev, it) {
					it.Event = prev
				}
			}
			next := tenure.Employee{Person: it.Event.Employee, Status: tenure.PersonActive}
			if base != nil {
				next.Status = base.Status
			}
			switch it.Event.Type {
			case tenure.EventTerminate:
				next.Status = tenure.PersonTerminated
			case tenure.EventHire, tenure.EventRehire:
				next.Status = tenure.PersonActive
			}
			seen[ch.EmployeeID] = &next
		}
		items = append(items, it)
	}
	return items, nil
}

// acceptItems puts a delivery's events before the blast-radius guard, then
// accepts, each on its own, those it did not hold, and says what became of each.
func (s *server) acceptItems(c echo.Context, source string, items []hr.Item) ([]webhookResult, error) {
	var (
		events []tenure.Event
		at     []int // events[j] is items[at[j]]'s
	)
	for i, it := range items {
		if it.Err == nil && it.Skip == "" {
			events = append(events, it.Event)
			at = append(at, i)
		}
	}
	b := guard.Bulk{Source: guard.WebhookSource(source), Operation: "delivery-" + requestID(c), Actor: "hr-webhook:" + source}
	v, err := s.guard.Events(c.Request().Context(), b, events)
	if err != nil {
		return nil, tenure.Unavailable("the guard", err)
	}
	held := make([]string, len(items))
	for j, i := range at {
		items[i].Event, held[i] = events[j], v.HoldOf[j]
	}
	results := make([]webhookResult, 0, len(items))
	for i, it := range items {
		if held[i] != "" {
			ev := it.Event
			results = append(results, webhookResult{Index: i, Status: http.StatusAccepted, EventID: ev.ID, EmployeeID: ev.Employee.ID,
				WorkflowID: tenure.WorkflowID(ev.Employee.ID), Held: true, HoldID: held[i]})
			continue
		}
		results = append(results, s.acceptItem(c, i, it))
	}
	return results, nil
}

// acceptItem accepts one mapped event and says what became of it.
func (s *server) acceptItem(c echo.Context, i int, it hr.Item) webhookResult {
	switch {
	case it.Err != nil:
		return s.itemError(c, i, it.Err)
	case it.Skip != "":
		return webhookResult{Index: i, Status: http.StatusOK, Skipped: it.Skip}
	}
	acc, err := s.intake.Accept(c.Request().Context(), it.Event)
	if err != nil {
		return s.itemError(c, i, tenure.Unavailable("accepting the event", err))
	}
	res := webhookResult{Index: i, Status: http.StatusAccepted, EventID: acc.EventID,
		EmployeeID: acc.EmployeeID, WorkflowID: acc.WorkflowID, Duplicate: acc.Duplicate, Held: acc.Held}
	if acc.Duplicate {
		res.Status = http.StatusOK
	}
	return res
}

// itemError is one event's error, shaped as the API's error body; internals are
// logged and shown as unavailable.
func (s *server) itemError(c echo.Context, i int, err error) webhookResult {
	if tenure.ErrorCode(err) == tenure.EINTERNAL {
		err = tenure.Unavailable("the store", err)
	}
	d := &errorDetail{Code: tenure.ErrorCode(err), Message: tenure.ErrorMessage(err)}
	var te *tenure.Error
	if errors.As(err, &te) {
		d.Fields = te.Fields
	}
	return webhookResult{Index: i, Status: tenure.HTTPStatus(d.Code), Error: d}
}

// deliveryStatus is the status of a whole delivery. A single event answers with
// its own status. Of several: 202 when all were taken (or were duplicates), 503
// when any failed for want of the store or Temporal (the sender's retry is safe:
// the events taken are duplicates then), and 207 when some were refused, which
// a retry would not change.
func deliveryStatus(results []webhookResult) int {
	if len(results) == 1 {
		return results[0].Status
	}
	status := http.StatusAccepted
	for _, r := range results {
		switch {
		case r.Status == http.StatusServiceUnavailable:
			return http.StatusServiceUnavailable
		case r.Status >= 300:
			status = http.StatusMultiStatus
		}
	}
	return status
}
