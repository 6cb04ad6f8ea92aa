package web

import (
	"context"
	"crypto/rand"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/intake"
)

// The HR forms: hire a new person, change someone's record (a mover), terminate.
const (
	formHire      = "hire"
	formChange    = "change"
	formTerminate = "terminate"
)

// employmentTypes are the choices of the employment type field.
var employmentTypes = []string{"employee", "contractor", "intern", "temp"}

type formData struct {
	Kind    string
	Action  string
	Person  tenure.Person
	Current *tenure.Employee
	EventID string
	// Effective is a termination's last day (YYYY-MM-DD); empty means now.
	Effective       string
	Errors          map[string]string
	Preview         *previewData
	EmploymentTypes []string
}

// previewData is what a submitted form would do to the person's access.
type previewData struct {
	Grant, Revoke, Keep []tenure.Grant
	// Disable lists the accounts a termination disables.
	Disable []tenure.Account
	Invalid bool
}

// formKind reads which form a request is for, from its path.
func formKind(r *http.Request) (string, error) {
	if r.PathValue("id") == "" {
		return formHire, nil
	}
	switch k := r.PathValue("form"); k {
	case formChange, formTerminate:
		return k, nil
	}
	return "", tenure.Errorf(tenure.ENOTFOUND, "there is no page at %s", r.URL.Path)
}

// eventForm shows an empty hire form, or a change or termination form filled in
// from the person's record, with a preview of what it would do.
func (c *console) eventForm(w http.ResponseWriter, r *http.Request, s *session) error {
	kind, err := formKind(r)
	if err != nil {
		return err
	}
	d := &formData{Kind: kind, EventID: "console-" + kind + "-" + rand.Text(), EmploymentTypes: employmentTypes}
	if kind != formHire {
		emp, err := c.store.GetEmployee(r.Context(), r.PathValue("id"))
		if err != nil {
			return tenure.Unavailable("the store", err)
		}
		d.Current, d.Person = &emp, emp.Person
	}
	d.Action = formAction(kind, d.Person.ID)
	if d.Preview, err = c.preview(r.Context(), d); err != nil {
		return err
	}
	c.render(w, r, s, http.StatusOK, "form", formTitle(d), d)
	return nil
}

func formAction(kind, id string) string {
	if kind == formHire {
		return "/hire"
	}
	return "/people/" + url.PathEscape(id) + "/" + kind
}

func formTitle(d *formData) string {
	switch d.Kind {
	case formChange:
		return "Change " + d.Current.DisplayName()
	case formTerminate:
		return "Terminate " + d.Current.DisplayName()
	}
	return "Hire someone"
}

// readForm builds the form's data and its HR event from the request.
func (c *console) readForm(r *http.Request) (*formData, tenure.Event, error) {
	kind, err := formKind(r)
	if err != nil {
		return nil, tenure.Event{}, err
	}
	d := &formData{Kind: kind, EmploymentTypes: employmentTypes, EventID: strings.TrimSpace(r.PostFormValue("event_id"))}
	if kind != formHire {
		emp, err := c.store.GetEmployee(r.Context(), r.PathValue("id"))
		if err != nil {
			return nil, tenure.Event{}, tenure.Unavailable("the store", err)
		}
		d.Current = &emp
	}
	field := func(name string) string { return strings.TrimSpace(r.PostFormValue(name)) }
	ev := tenure.Event{ID: d.EventID}
	switch kind {
	case formTerminate:
		// A termination needs only who: the record stays as HR last sent it.
		d.Person = d.Current.Person
		d.Effective = field("effective_date")
		ev.Type = tenure.EventTerminate
	default:
		d.Person = tenure.Person{
			ID: field("id"), Email: field("email"), GivenName: field("given_name"), FamilyName: field("family_name"),
			ManagerID: field("manager_id"), Department: field("department"), Title: field("title"),
			Location: field("location"), EmploymentType: field("employment_type"),
			StartDate: field("start_date"), EndDate: field("end_date"),
		}
		ev.Type = tenure.EventHire
		if kind == formChange {
			// The record's ID is the page's; its custom attributes are kept as HR sent them.
			d.Person.ID, d.Person.Attributes = d.Current.ID, d.Current.Attributes
			ev.Type = tenure.EventUpdate
		}
	}
	d.Action = formAction(kind, d.Person.ID)
	ev.Employee = d.Person
	var p intake.Problems
	if d.EventID == "" || !intake.ValidEventID(d.EventID) {
		p.Add("event_id", "is missing; reload the form")
	}
	if d.Effective != "" {
		if t, ok := intake.CheckDate("effective_date", d.Effective, &p); ok && t.After(c.now()) {
			ev.EffectiveAt = &t
		}
	}
	if err := intake.ValidateEvent(ev); err != nil {
		if te, ok := asTenure(err); ok {
			for _, f := range te.Fields {
				p.Add(f.Field, f.Problem)
			}
		}
	}
	if kind == formHire && d.Person.ID != "" && !p.Has("employee.id") {
		if emp, err := c.store.GetEmployee(r.Context(), d.Person.ID); err == nil && emp.Status != tenure.PersonTerminated {
			p.Add("employee.id", "already belongs to "+emp.DisplayName()+"; use their Change form")
		} else if err == nil {
			ev.Type = tenure.EventRehire
		}
	}
	if err := p.Err(); err != nil {
		d.Errors = formErrors(fieldErrors(err))
		return d, ev, err
	}
	return d, ev, nil
}

// formErrors names fields as the form's inputs do fields as the inputs do, without "employee.".
func formErrors(errs map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range errs {
		out[strings.TrimPrefix(k, "employee.")] = v
	}
	return out
}

// submitEvent validates the form and hands the event to intake, the API's own
// path; a rejected form is shown again with each problem next to its field, and
// nothing is written.
func (c *console) submitEvent(w http.ResponseWriter, r *http.Request, s *session) error {
	d, ev, err := c.readForm(r)
	if d == nil {
		return err
	}
	if err == nil {
		_, err = c.intake.Accept(r.Context(), ev)
		if err == nil {
			http.Redirect(w, r, "/people/"+url.PathEscape(ev.Employee.ID)+"?live=1", http.StatusSeeOther)
			return nil
		}
		if tenure.ErrorCode(err) != tenure.EINVALID && tenure.ErrorCode(err) != tenure.ECONFLICT {
			return tenure.Unavailable("accepting the event", err)
		}
		d.Errors = map[string]string{"": tenure.ErrorMessage(err)}
	}
	var perr error
	if d.Preview, perr = c.preview(r.Context(), d); perr != nil {
		return perr
	}
	c.render(w, r, s, http.StatusBadRequest, "form", formTitle(d), d)
	return nil
}

// previewEvent answers htmx with what the form, as filled in so far, would do.
func (c *console) previewEvent(w http.ResponseWriter, r *http.Request, s *session) error {
	d, _, err := c.readForm(r)
	if d == nil {
		return err
	}
	if d.Preview, err = c.preview(r.Context(), d); err != nil {
		return err
	}
	c.renderFragment(w, s, http.StatusOK, "form", "preview", d)
	return nil
}

// preview diffs the access the policy gives the form's record against what the
// person has now: grants that are active or on their way. A termination revokes
// all of it and disables every account.
func (c *console) preview(ctx context.Context, d *formData) (*previewData, error) {
	p := &previewData{Invalid: len(d.Errors) > 0}
	current := map[string]tenure.Grant{}
	if d.Current != nil && d.Current.Status != tenure.PersonTerminated {
		grants, err := c.store.ListGrants(ctx, d.Current.ID)
		if err != nil {
			return nil, tenure.Unavailable("the store", err)
		}
		for _, g := range grants {
			switch g.Status {
			case tenure.AccessActive, tenure.AccessPending, tenure.AccessPendingApproval, tenure.AccessFailed:
				gr := tenure.Grant{App: g.App, Entitlement: g.Entitlement, Rule: g.Rule}
				current[gr.Key()] = gr
			}
		}
		if d.Kind == formTerminate {
			accounts, err := c.store.ListAccounts(ctx, d.Current.ID)
			if err != nil {
				return nil, tenure.Unavailable("the store", err)
			}
			for _, a := range accounts {
				if a.Status != tenure.AccessDisabled && a.Status != tenure.AccessDeleted {
					p.Disable = append(p.Disable, a)
				}
			}
		}
	}
	desired := map[string]tenure.Grant{}
	if d.Kind != formTerminate {
		pol, err := c.active(ctx)
		if err != nil {
			return nil, err
		}
		for _, g := range pol.Evaluate(d.Person) {
			desired[g.Key()] = g
		}
	}
	for k, g := range desired {
		if _, ok := current[k]; ok {
			p.Keep = append(p.Keep, g)
		} else {
			p.Grant = append(p.Grant, g)
		}
	}
	for k, g := range current {
		if _, ok := desired[k]; !ok {
			p.Revoke = append(p.Revoke, g)
		}
	}
	for _, l := range [][]tenure.Grant{p.Grant, p.Revoke, p.Keep} {
		slices.SortFunc(l, func(a, b tenure.Grant) int { return strings.Compare(a.Key(), b.Key()) })
	}
	return p, nil
}
