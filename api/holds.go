package api

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/guard"
	"github.com/tenure-io/tenure/importer"
	"github.com/tenure-io/tenure/intake"
)

// holdList is the body of GET /api/v1/holds.
type holdList struct {
	Holds []tenure.Hold `json:"holds"`
}

// listHolds lists what the blast-radius guard holds, newest first.
func (s *server) listHolds(c echo.Context) error {
	var p intake.Problems
	f := tenure.HoldFilter{
		Status: tenure.HoldStatus(c.QueryParam("status")),
		Limit:  queryInt(c, "limit", defaultPage, 1, maxPage, &p),
		Offset: queryInt(c, "offset", 0, 0, 1<<31-1, &p),
	}
	if f.Status != "" && !f.Status.Valid() {
		p.Add("status", "must be one of held, released, discarded")
	}
	if err := p.Err(); err != nil {
		return err
	}
	list, err := s.guard.Holds(c.Request().Context(), f)
	if err != nil {
		return tenure.Unavailable("the store", err)
	}
	return respond(c, http.StatusOK, holdList{Holds: orEmpty(list)})
}

// getHold returns one hold and the people it holds.
func (s *server) getHold(c echo.Context) error {
	h, err := s.guard.Hold(c.Request().Context(), c.Param("id"))
	if err != nil {
		return tenure.Unavailable("the store", err)
	}
	h.EmployeeIDs = orEmpty(h.EmployeeIDs)
	return respond(c, http.StatusOK, h)
}

func (s *server) releaseHold(c echo.Context) error { return s.decideHold(c, true) }
func (s *server) discardHold(c echo.Context) error { return s.decideHold(c, false) }

// decideHold releases or discards a hold, as the admin who asked, with their
// optional reason; the guard audits the decision. The answer is the hold as the
// store has it afterwards.
func (s *server) decideHold(c echo.Context, release bool) error {
	var (
		p      intake.Problems
		reason string
	)
	if err := decodeBody(c, map[string]any{"reason": &reason}, true, &p); err != nil {
		return err
	}
	if reason != "" {
		intake.CheckText("reason", reason, intake.MaxReason, true, &p)
	}
	if err := p.Err(); err != nil {
		return err
	}
	decide := s.guard.Discard
	if release {
		decide = s.guard.Release
	}
	h, err := decide(c.Request().Context(), c.Param("id"), principal(c).Actor(), reason)
	if err != nil {
		return tenure.Unavailable("the store", err)
	}
	return respond(c, http.StatusOK, h)
}

// guardVerdict is what the guard decided about a bulk of events, in its answer.
type guardVerdict struct {
	Held   bool   `json:"held"`
	HoldID string `json:"hold_id,omitempty"`
	Reason string `json:"reason,omitempty"`
}

func verdictOf(v guard.Verdict) guardVerdict {
	return guardVerdict{Held: v.Held, HoldID: v.HoldID, Reason: v.Reason}
}

// applyGuarded puts the guard in front of importer.Apply: the events it holds
// are answered as held; the others go to intake as they would without it.
func (s *server) applyGuarded(c echo.Context, b guard.Bulk, events []tenure.Event) ([]importer.Outcome, guard.Verdict, error) {
	ctx := c.Request().Context()
	v, err := s.guard.Events(ctx, b, events)
	if err != nil {
		return nil, guard.Verdict{}, tenure.Unavailable("the guard", err)
	}
	out := make([]importer.Outcome, len(events))
	var (
		pass []tenure.Event
		at   []int // pass[j] is events[at[j]]
	)
	for i, ev := range events {
		if h := v.HoldOf[i]; h != "" {
			out[i] = importer.Outcome{HoldID: h, Accepted: intake.Accepted{EventID: ev.ID, EmployeeID: ev.Employee.ID,
				WorkflowID: tenure.WorkflowID(ev.Employee.ID), Held: true}}
			continue
		}
		pass = append(pass, ev)
		at = append(at, i)
	}
	for j, o := range importer.Apply(ctx, s.bulk, pass, 0, nil) {
		out[at[j]] = o
	}
	return out, v.Verdict, nil
}
