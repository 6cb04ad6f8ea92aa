package api

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/intake"
)

// approvalList is the body of GET /api/v1/approvals.
type approvalList struct {
	Approvals []tenure.Approval `json:"approvals"`
}

func (s *server) listApprovals(c echo.Context) error {
	var p intake.Problems
	f := tenure.ApprovalFilter{
		Status:     tenure.ApprovalStatus(c.QueryParam("status")),
		EmployeeID: c.QueryParam("employee_id"),
		Limit:      queryInt(c, "limit", defaultPage, 1, maxPage, &p),
		Offset:     queryInt(c, "offset", 0, 0, 1<<31-1, &p),
	}
	switch f.Status {
	case "", tenure.ApprovalPending, tenure.ApprovalApproved, tenure.ApprovalDenied, tenure.ApprovalExpired:
	default:
		p.Add("status", "must be one of pending, approved, denied, expired")
	}
	if f.EmployeeID != "" && !intake.ValidHRID(f.EmployeeID) {
		p.Add("employee_id", "must be 1 to 64 letters, digits or . _ -")
	}
	if err := p.Err(); err != nil {
		return err
	}
	list, err := s.listApprovalsFor(c, f)
	if err != nil {
		return tenure.Unavailable("the store", err)
	}
	return respond(c, http.StatusOK, approvalList{Approvals: orEmpty(list)})
}

// decisionOutcome is the body of the approve and deny routes: the status the
// person's workflow recorded.
type decisionOutcome struct {
	ApprovalID string                `json:"approval_id"`
	Status     tenure.ApprovalStatus `json:"status"`
}

func (s *server) approve(c echo.Context) error { return s.decide(c, true) }
func (s *server) deny(c echo.Context) error    { return s.decide(c, false) }

// decide hands a decision to the workflow waiting on the approval and answers
// with its outcome. The API does not write the outcome itself: the workflow
// checks who decided, again, and records it.
func (s *server) decide(c echo.Context, approve bool) error {
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
	ctx := c.Request().Context()
	a, err := s.store.GetApproval(ctx, c.Param("id"))
	if err != nil {
		return tenure.Unavailable("the store", err)
	}
	if err := tenure.MayDecide(principal(c), a); err != nil {
		return err
	}
	if a.Status != tenure.ApprovalPending {
		return tenure.Errorf(tenure.ECONFLICT, "approval %s is already %s", a.ID, a.Status)
	}
	d := tenure.Decision{ApprovalID: a.ID, Approve: approve, By: principal(c).Actor(), Reason: reason, Role: principal(c).Role}
	status, err := s.engine.Decide(ctx, a, d)
	if err != nil {
		return tenure.Unavailable("the workflow engine", err)
	}
	return respond(c, http.StatusOK, decisionOutcome{ApprovalID: a.ID, Status: status})
}
