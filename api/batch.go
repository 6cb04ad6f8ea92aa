package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/guard"
	"github.com/tenure-io/tenure/importer"
	"github.com/tenure-io/tenure/intake"
)

// MaxBatch is the most events one POST /api/v1/events:batch may carry.
const MaxBatch = 1000

// maxBatchBody is the largest batch body: a thousand events of about 4 KiB each.
const maxBatchBody = 4 << 20

// batchResult is what became of one event of a batch.
type batchResult struct {
	Index      int    `json:"index"`
	EventID    string `json:"event_id,omitempty"`
	EmployeeID string `json:"employee_id,omitempty"`
	WorkflowID string `json:"workflow_id,omitempty"`
	Status     string `json:"status"`
	// HoldID is the guard's hold that keeps a held event.
	HoldID string       `json:"hold_id,omitempty"`
	Error  *errorDetail `json:"error,omitempty"`
}

// batchCounts tallies a batch's or an import's outcomes.
type batchCounts struct {
	Accepted   int `json:"accepted"`
	Duplicates int `json:"duplicates"`
	Invalid    int `json:"invalid"`
	Conflicts  int `json:"conflicts"`
	Errors     int `json:"errors"`
	// Held are accepted events the blast-radius guard holds for an admin.
	Held int `json:"held"`
}

func (c *batchCounts) add(status string) {
	switch status {
	case importer.StatusAccepted:
		c.Accepted++
	case importer.StatusDuplicate:
		c.Duplicates++
	case importer.StatusInvalid:
		c.Invalid++
	case importer.StatusConflict:
		c.Conflicts++
	case importer.StatusHeld:
		c.Held++
	default:
		c.Errors++
	}
}

// batchResponse is the body of a batch's answer.
type batchResponse struct {
	batchCounts
	// Guard is what the blast-radius guard decided about the batch.
	Guard   guardVerdict  `json:"guard"`
	Results []batchResult `json:"results"`
}

// postEventBatch accepts up to MaxBatch events and answers for each: one bad
// event does not stop the others, and an invalid one writes nothing. The
// blast-radius guard sees the valid events first and holds those over its
// threshold (recorded, status held); every other event goes through intake
// exactly as POST /api/v1/events would take it, so the same id sent again is a
// duplicate and runs nothing new.
func (s *server) postEventBatch(c echo.Context) error {
	body, err := readBody(c)
	if err != nil {
		return err
	}
	var (
		p     intake.Problems
		items []json.RawMessage
	)
	present := intake.DecodeObject(body, "", map[string]any{"events": &items}, &p)
	switch {
	case !present:
		p.Add("body", `is empty; send {"events": [...]}`)
	case p.Has("body") || p.Has("events"):
	case items == nil:
		p.Add("events", "is required")
	case len(items) == 0:
		p.Add("events", "must hold at least one event")
	case len(items) > MaxBatch:
		p.Addf("events", "holds %d events; send at most %d per batch", len(items), MaxBatch)
	}
	if err := p.Err(); err != nil {
		return err
	}

	results := make([]batchResult, len(items))
	var (
		valid []tenure.Event
		at    []int // valid[j] is items[at[j]]
	)
	for i, raw := range items {
		results[i].Index = i
		var evp intake.Problems
		ev := intake.DecodeEvent(raw, "", &evp)
		if err := evp.Err(); err != nil {
			results[i].Status = importer.StatusInvalid
			results[i].Error = s.errorDetail(c, err)
			continue
		}
		valid = append(valid, ev)
		at = append(at, i)
	}
	outcomes, v, err := s.applyGuarded(c, guard.Bulk{Source: guard.SourceBatch, Operation: "batch-" + requestID(c), Actor: principal(c).Actor()}, valid)
	if err != nil {
		return err
	}
	for j, o := range outcomes {
		s.fillResult(c, &results[at[j]], o)
	}
	resp := batchResponse{Guard: verdictOf(v)}
	resp.Results = results
	for _, r := range results {
		resp.add(r.Status)
	}
	return respond(c, http.StatusOK, resp)
}

// fillResult records an outcome in r; internal causes are logged, not shown.
func (s *server) fillResult(c echo.Context, r *batchResult, o importer.Outcome) {
	r.Status = o.Status()
	r.EventID, r.EmployeeID, r.WorkflowID = o.Accepted.EventID, o.Accepted.EmployeeID, o.Accepted.WorkflowID
	r.HoldID = o.HoldID
	if o.Err != nil {
		r.Error = s.errorDetail(c, o.Err)
	}
}

// errorDetail is err as the API's error body shows it. What the caller may not
// see is logged with the request's ID.
func (s *server) errorDetail(c echo.Context, err error) *errorDetail {
	var te *tenure.Error
	code := tenure.ErrorCode(err)
	if code == tenure.EINTERNAL || code == tenure.EUNAVAILABLE {
		s.log.ErrorContext(c.Request().Context(), "accepting an event failed",
			slog.String("request_id", requestID(c)),
			slog.String("error", err.Error()))
	}
	d := &errorDetail{Code: code, Message: tenure.ErrorMessage(err)}
	if errors.As(err, &te) {
		d.Fields = te.Fields
	}
	return d
}

// authLimit is auth with a body limit of its own, for the routes that take
// many events at once.
func (s *server) authLimit(limit int64, roles ...string) []echo.MiddlewareFunc {
	return []echo.MiddlewareFunc{s.requireAuth, allow(roles...), limitBodyTo(limit)}
}

// limitBodyTo refuses request bodies over limit bytes before a handler reads them.
func limitBodyTo(limit int64) echo.MiddlewareFunc {
	tooLarge := echo.NewHTTPError(http.StatusRequestEntityTooLarge,
		fmt.Sprintf("the request body is larger than %d bytes", limit))
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			r := c.Request()
			if r.ContentLength > limit {
				return tooLarge
			}
			r.Body = http.MaxBytesReader(c.Response(), r.Body, limit)
			if err := next(c); err != errTooLarge {
				return err
			}
			return tooLarge
		}
	}
}
