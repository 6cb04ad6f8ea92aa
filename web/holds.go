package web

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/guard"
	"github.com/tenure-io/tenure/intake"
)

// holdsShown bounds each list of the holds page, and holdPeopleShown the people
// listed for each open hold.
const (
	holdsShown      = 50
	holdPeopleShown = 50
)

type holdsData struct {
	Open    []guard.HoldDetail
	Decided []tenure.Hold
	Done    string
	Errors  map[string]string
	ErrorID string
}

// holds lists what the blast-radius guard holds, with Release and Discard for
// admins, and what was decided lately.
func (c *console) holds(w http.ResponseWriter, r *http.Request, s *session) error {
	d, err := c.holdsData(r)
	if err != nil {
		return err
	}
	switch r.URL.Query().Get("done") {
	case "released":
		d.Done = "Released. The held events are on their way to the people's workflows."
	case "discarded":
		d.Done = "Discarded. The held events will never run."
	}
	c.render(w, r, s, http.StatusOK, "holds", "Holds", d)
	return nil
}

func (c *console) holdsData(r *http.Request) (*holdsData, error) {
	ctx := r.Context()
	d := &holdsData{}
	open, err := c.guard.Holds(ctx, tenure.HoldFilter{Status: tenure.HoldOpen, Limit: holdsShown})
	if err != nil {
		return nil, tenure.Unavailable("the store", err)
	}
	for _, h := range open {
		detail, err := c.guard.Hold(ctx, h.ID)
		if err != nil {
			return nil, tenure.Unavailable("the store", err)
		}
		if len(detail.EmployeeIDs) > holdPeopleShown {
			detail.EmployeeIDs = detail.EmployeeIDs[:holdPeopleShown]
		}
		d.Open = append(d.Open, detail)
	}
	recent, err := c.guard.Holds(ctx, tenure.HoldFilter{Limit: holdsShown})
	if err != nil {
		return nil, tenure.Unavailable("the store", err)
	}
	for _, h := range recent {
		if h.Status != tenure.HoldOpen {
			d.Decided = append(d.Decided, h)
		}
	}
	return d, nil
}

// decideHold releases or discards a hold as the signed-in admin, with the
// reason they give, through the guard, which audits it, as the API does.
func (c *console) decideHold(w http.ResponseWriter, r *http.Request, s *session) error {
	id := r.PathValue("id")
	var p intake.Problems
	decision := r.PostFormValue("decision")
	if decision != "release" && decision != "discard" {
		p.Add("decision", "must be release or discard")
	}
	reason := strings.TrimSpace(r.PostFormValue("reason"))
	if reason == "" {
		p.Add("reason", "is required: say why, for the audit trail")
	} else {
		intake.CheckText("reason", reason, intake.MaxReason, true, &p)
	}
	if err := p.Err(); err != nil {
		d, derr := c.holdsData(r)
		if derr != nil {
			return derr
		}
		d.Errors, d.ErrorID = fieldErrors(err), id
		c.render(w, r, s, http.StatusBadRequest, "holds", "Holds", d)
		return nil
	}
	decide := c.guard.Discard
	if decision == "release" {
		decide = c.guard.Release
	}
	h, err := decide(r.Context(), id, s.User.principal().Actor(), reason)
	if err != nil {
		return tenure.Unavailable("the store", err)
	}
	http.Redirect(w, r, "/holds?done="+url.QueryEscape(string(h.Status)), http.StatusSeeOther)
	return nil
}
