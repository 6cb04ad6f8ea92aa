package web

import (
	"encoding/csv"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/intake"
	"github.com/tenure-io/tenure/internal/csvsafe"
	"github.com/tenure-io/tenure/policy"
)

// approvalView is an approval with the name of whom it is for.
type approvalView struct {
	tenure.Approval
	Person    string
	MayDecide bool
}

type approvalsData struct {
	Pending []approvalView
	Decided []approvalView
	Done    string
	Errors  map[string]string
	ErrorID string
}

// approvalsShown bounds each list of the inbox.
const approvalsShown = 100

func (c *console) approvals(w http.ResponseWriter, r *http.Request, s *session) error {
	d, err := c.approvalsData(r, s)
	if err != nil {
		return err
	}
	switch r.URL.Query().Get("done") {
	case "approved":
		d.Done = "Approved. The person's workflow is granting the access now."
	case "denied":
		d.Done = "Denied. The person's workflow has recorded the decision."
	}
	c.render(w, r, s, http.StatusOK, "approvals", "Approvals", d)
	return nil
}

func (c *console) approvalsData(r *http.Request, s *session) (*approvalsData, error) {
	ctx := r.Context()
	d := &approvalsData{}
	names := map[string]string{}
	view := func(a tenure.Approval) approvalView {
		if _, ok := names[a.EmployeeID]; !ok {
			names[a.EmployeeID] = a.EmployeeID
			if e, err := c.store.GetEmployee(ctx, a.EmployeeID); err == nil {
				names[a.EmployeeID] = e.DisplayName()
			}
		}
		return approvalView{Approval: a, Person: names[a.EmployeeID], MayDecide: c.mayDecide(s, a)}
	}
	pending, err := c.store.ListApprovals(ctx, tenure.ApprovalFilter{Status: tenure.ApprovalPending, Limit: approvalsShown})
	if err != nil {
		return nil, tenure.Unavailable("the store", err)
	}
	recent, err := c.store.ListApprovals(ctx, tenure.ApprovalFilter{Limit: approvalsShown})
	if err != nil {
		return nil, tenure.Unavailable("the store", err)
	}
	// A manager sees only what is theirs to decide; other roles see everything.
	manager := s.User.Role == tenure.RoleManager
	for _, a := range pending {
		if !manager || c.mayDecide(s, a) {
			d.Pending = append(d.Pending, view(a))
		}
	}
	for _, a := range recent {
		if a.Status != tenure.ApprovalPending && (!manager || a.MayDecide(s.User.EmployeeID)) {
			d.Decided = append(d.Decided, view(a))
		}
	}
	return d, nil
}

// mayDecide is tenure.MayDecide, the rule the API applies too, for the signed-in user.
func (c *console) mayDecide(s *session, a tenure.Approval) bool {
	return tenure.MayDecide(s.User.principal(), a) == nil
}

// decide hands an approval decision, with its reason, to the workflow that waits
// on it, as the API does; the workflow records the outcome.
func (c *console) decide(w http.ResponseWriter, r *http.Request, s *session) error {
	ctx := r.Context()
	a, err := c.store.GetApproval(ctx, r.PathValue("id"))
	if err != nil {
		return tenure.Unavailable("the store", err)
	}
	if err := tenure.MayDecide(s.User.principal(), a); err != nil {
		return err
	}
	if a.Status != tenure.ApprovalPending {
		return tenure.Errorf(tenure.ECONFLICT, "this approval is already %s", a.Status)
	}
	var p intake.Problems
	decision := r.PostFormValue("decision")
	if decision != "approve" && decision != "deny" {
		p.Add("decision", "must be approve or deny")
	}
	reason := strings.TrimSpace(r.PostFormValue("reason"))
	if reason == "" {
		p.Add("reason", "is required: say why, for the audit trail")
	} else {
		intake.CheckText("reason", reason, intake.MaxReason, true, &p)
	}
	if err := p.Err(); err != nil {
		d, derr := c.approvalsData(r, s)
		if derr != nil {
			return derr
		}
		d.Errors, d.ErrorID = fieldErrors(err), a.ID
		c.render(w, r, s, http.StatusBadRequest, "approvals", "Approvals", d)
		return nil
	}
	who := s.User.principal()
	d := tenure.Decision{ApprovalID: a.ID, Approve: decision == "approve", By: who.Actor(), Reason: reason, Role: who.Role}
	status, err := c.engine.Decide(ctx, a, d)
	if err != nil {
		return tenure.Unavailable("the workflow engine", err)
	}
	http.Redirect(w, r, "/approvals?done="+url.QueryEscape(string(status)), http.StatusSeeOther)
	return nil
}

// appView is an app with its health and how many accounts it holds in each status.
type appView struct {
	tenure.App
	Active, Disabled, Failed, Total int
}

func (c *console) apps(w http.ResponseWriter, r *http.Request, s *session) error {
	ctx := r.Context()
	apps, err := c.store.ListApps(ctx)
	if err != nil {
		return tenure.Unavailable("the store", err)
	}
	counts, err := c.store.AccountCounts(ctx)
	if err != nil {
		return tenure.Unavailable("the store", err)
	}
	out := make([]appView, 0, len(apps))
	for _, a := range apps {
		v := appView{App: a}
		for st, n := range counts[a.Name] {
			v.Total += n
			switch st {
			case tenure.AccessActive:
				v.Active += n
			case tenure.AccessDisabled:
				v.Disabled += n
			case tenure.AccessFailed:
				v.Failed += n
			}
		}
		out = append(out, v)
	}
	c.render(w, r, s, http.StatusOK, "apps", "Apps", out)
	return nil
}

type policyData struct {
	File   string
	Source []byte
	Edit   string
	// Problems are the edit's errors, each with its line; Valid says it has none.
	Problems []*policy.Error
	Valid    bool
	Checked  bool
	Effect   *policyEffect
}

// policyEffect is what an edited policy would change across everyone.
type policyEffect struct {
	People   int
	Affected int
	Changes  []grantChange
}

// grantChange is how many people would gain and lose one grant.
type grantChange struct {
	Key        string
	Gain, Lose int
}

func (c *console) policyPage(w http.ResponseWriter, r *http.Request, s *session) error {
	d := &policyData{File: c.policyFile, Source: c.policySrc, Edit: string(c.policySrc)}
	c.render(w, r, s, http.StatusOK, "policy", "Policy", d)
	return nil
}

// checkEdit parses an edited policy, as the workers would load it.
func (c *console) checkEdit(r *http.Request) (*policyData, *policy.Policy) {
	d := &policyData{File: c.policyFile, Source: c.policySrc, Edit: r.PostFormValue("policy"), Checked: true}
	if c.parse == nil {
		d.Problems = []*policy.Error{{File: c.policyFile, Reason: "this console cannot check policies"}}
		return d, nil
	}
	pol, err := c.parse(c.policyFile, []byte(d.Edit))
	if err != nil {
		d.Problems = policyProblems(c.policyFile, err)
		return d, nil
	}
	d.Valid = true
	return d, pol
}

// policyProblems lists every error of a policy parse, each with its line.
func policyProblems(file string, err error) []*policy.Error {
	var out []*policy.Error
	var walk func(error)
	walk = func(err error) {
		var pe *policy.Error
		if joined, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range joined.Unwrap() {
				walk(e)
			}
			return
		}
		if errors.As(err, &pe) {
			out = append(out, pe)
			return
		}
		out = append(out, &policy.Error{File: file, Reason: tenure.ErrorMessage(err)})
	}
	walk(err)
	return out
}

func (c *console) policyValidate(w http.ResponseWriter, r *http.Request, s *session) error {
	d, _ := c.checkEdit(r)
	c.policyResult(w, r, s, d)
	return nil
}

// policyPreview evaluates the current and the edited policy for everyone who is
// not terminated and counts, per grant, who would gain and who would lose it.
func (c *console) policyPreview(w http.ResponseWriter, r *http.Request, s *session) error {
	d, edited := c.checkEdit(r)
	if edited != nil {
		eff := &policyEffect{}
		by := map[string]*grantChange{}
		change := func(k string) *grantChange {
			if by[k] == nil {
				by[k] = &grantChange{Key: k}
			}
			return by[k]
		}
		err := c.store.EachEmployee(r.Context(), func(e tenure.Employee) error {
			eff.People++
			before, after := keys(c.policy.Evaluate(e.Person)), keys(edited.Evaluate(e.Person))
			affected := false
			for k := range after {
				if !before[k] {
					change(k).Gain++
					affected = true
				}
			}
			for k := range before {
				if !after[k] {
					change(k).Lose++
					affected = true
				}
			}
			if affected {
				eff.Affected++
			}
			return nil
		})
		if err != nil {
			return tenure.Unavailable("the store", err)
		}
		for _, ch := range by {
			eff.Changes = append(eff.Changes, *ch)
		}
		slices.SortFunc(eff.Changes, func(a, b grantChange) int { return strings.Compare(a.Key, b.Key) })
		d.Effect = eff
	}
	c.policyResult(w, r, s, d)
	return nil
}

func keys(gs []tenure.Grant) map[string]bool {
	out := make(map[string]bool, len(gs))
	for _, g := range gs {
		out[g.Key()] = true
	}
	return out
}

func (c *console) policyResult(w http.ResponseWriter, r *http.Request, s *session, d *policyData) {
	status := http.StatusOK
	if !d.Valid {
		status = http.StatusUnprocessableEntity
	}
	if isHTMX(r) {
		// htmx swaps only 2xx answers: the problems are the answer here.
		c.renderFragment(w, s, http.StatusOK, "policy", "result", d)
		return
	}
	c.render(w, r, s, status, "policy", "Policy", d)
}

// auditPage is the size of a page of the audit log.
const auditPage = 100

type auditData struct {
	Employee, Action, From, To string
	Actions                    []string
	Records                    []tenure.AuditRecord
	Page                       int
	Prev, Next, CSV            string
}

// auditFilter reads the audit log's filters: a person, an action and a range of
// days (both inclusive, UTC).
func auditFilter(r *http.Request) (tenure.AuditFilter, time.Time, url.Values, error) {
	q := r.URL.Query()
	var p intake.Problems
	f := tenure.AuditFilter{EmployeeID: strings.TrimSpace(q.Get("employee")), Action: strings.TrimSpace(q.Get("action"))}
	if f.EmployeeID != "" && !intake.ValidHRID(f.EmployeeID) {
		p.Add("employee", "must be an HR ID")
	}
	intake.CheckText("action", f.Action, intake.MaxText, false, &p)
	from, _ := intake.CheckDate("from", strings.TrimSpace(q.Get("from")), &p)
	to, hasTo := intake.CheckDate("to", strings.TrimSpace(q.Get("to")), &p)
	f.Since = from
	var until time.Time
	if hasTo {
		until = to.AddDate(0, 0, 1)
		if !from.IsZero() && to.Before(from) {
			p.Add("to", "must not be before from")
		}
	}
	keep := url.Values{}
	for _, k := range []string{"employee", "action", "from", "to"} {
		if v := strings.TrimSpace(q.Get(k)); v != "" {
			keep.Set(k, v)
		}
	}
	return f, until, keep, p.Err()
}

func (c *console) audit(w http.ResponseWriter, r *http.Request, s *session) error {
	ctx := r.Context()
	f, until, keep, err := auditFilter(r)
	if err != nil {
		return err
	}
	d := &auditData{Employee: keep.Get("employee"), Action: keep.Get("action"), From: keep.Get("from"), To: keep.Get("to"), Page: 1}
	if v := r.URL.Query().Get("page"); v != "" {
		if d.Page, err = strconv.Atoi(v); err != nil || d.Page < 1 || d.Page > 1_000_000 {
			return tenure.Invalid(tenure.FieldError{Field: "page", Problem: "must be a page number"})
		}
	}
	if d.Actions, err = c.store.AuditActions(ctx); err != nil {
		return tenure.Unavailable("the store", err)
	}
	// One more than a page says whether there is a next page without counting.
	f.Limit, f.Offset = auditPage+1, (d.Page-1)*auditPage
	if d.Records, err = c.store.ListAuditBetween(ctx, f, until); err != nil {
		return tenure.Unavailable("the store", err)
	}
	link := func(pg int) string {
		v := url.Values{}
		for k, x := range keep {
			v[k] = x
		}
		if pg > 1 {
			v.Set("page", strconv.Itoa(pg))
		}
		if len(v) == 0 {
			return "/audit"
		}
		return "/audit?" + v.Encode()
	}
	if len(d.Records) > auditPage {
		d.Records = d.Records[:auditPage]
		d.Next = link(d.Page + 1)
	}
	if d.Page > 1 {
		d.Prev = link(d.Page - 1)
	}
	d.CSV = "/audit.csv"
	if len(keep) > 0 {
		d.CSV += "?" + keep.Encode()
	}
	c.render(w, r, s, http.StatusOK, "audit", "Audit log", d)
	return nil
}

// maxExport bounds one CSV export; narrow the filter for more.
const maxExport = 100_000

// auditCSV exports the filtered audit log. Every cell goes through csvsafe, so a
// name or detail that begins with =, +, - or @ cannot run as a spreadsheet formula.
func (c *console) auditCSV(w http.ResponseWriter, r *http.Request, s *session) error {
	ctx := r.Context()
	f, until, _, err := auditFilter(r)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="tenure-audit-`+c.now().UTC().Format("20060102-150405")+`.csv"`)
	cw := csv.NewWriter(w)
	cw.Write([]string{"at", "actor", "action", "employee_id", "app", "workflow_id", "detail"})
	const batch = 500
	for off := 0; off < maxExport; off += batch {
		f.Limit, f.Offset = batch, off
		recs, err := c.store.ListAuditBetween(ctx, f, until)
		if err != nil {
			// The header is out; end the file short rather than pretend it is whole.
			c.log.Error("exporting the audit log", "error", err)
			cw.Write([]string{"export interrupted: the store is unavailable"})
			break
		}
		for _, a := range recs {
			cw.Write(csvsafe.Row([]string{a.At.UTC().Format(time.RFC3339), a.Actor, a.Action, a.EmployeeID, a.App, a.WorkflowID, a.Detail}))
		}
		if len(recs) < batch {
			break
		}
	}
	cw.Flush()
	return nil
}

// sessionsShown bounds the list of signed-in sessions.
const sessionsShown = 200

type sessionsData struct {
	Sessions []tenure.ConsoleSession
	Done     string
	Email    string
	Errors   map[string]string
}

// sessionsPage lists the console sessions signed in now, with a control that
// signs a user out everywhere: an admin's answer to a stolen laptop or a
// leaver who must lose the console before their sessions expire.
func (c *console) sessionsPage(w http.ResponseWriter, r *http.Request, s *session) error {
	d := &sessionsData{}
	if n, err := strconv.Atoi(r.URL.Query().Get("revoked")); err == nil && n >= 0 {
		d.Done = fmt.Sprintf("Signed out of %d session(s). The user's next request, in the console or the Temporal UI, is refused.", n)
	}
	return c.renderSessions(w, r, s, http.StatusOK, d)
}

func (c *console) renderSessions(w http.ResponseWriter, r *http.Request, s *session, status int, d *sessionsData) error {
	var err error
	if d.Sessions, err = c.store.ListSessions(r.Context(), c.now(), sessionsShown); err != nil {
		return tenure.Unavailable("the store", err)
	}
	c.render(w, r, s, status, "sessions", "Sessions", d)
	return nil
}

// revokeSessions revokes every session of one email, as DELETE
// /api/v1/sessions does, through the same function, which audits it.
func (c *console) revokeSessions(w http.ResponseWriter, r *http.Request, s *session) error {
	email := r.PostFormValue("email")
	n, err := tenure.RevokeUserSessions(r.Context(), c.store, email, s.User.Actor(), c.now())
	if errs := fieldErrors(err); errs != nil {
		return c.renderSessions(w, r, s, http.StatusBadRequest, &sessionsData{Email: email, Errors: errs})
	}
	if err != nil {
		return tenure.Unavailable("the store", err)
	}
	http.Redirect(w, r, "/sessions?revoked="+strconv.Itoa(n), http.StatusSeeOther)
	return nil
}
