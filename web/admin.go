package web

import (
	"context"
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
	"github.com/tenure-io/tenure/rollout"
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
	// Active is the version in force; Source its text.
	Active tenure.PolicyVersion
	Source []byte
	Edit   string
	// Problems are the edit's errors, each with its line; Valid says it has none.
	Problems []*policy.Error
	Valid    bool
	Checked  bool
	Plan     *planView
	// Rollouts are the latest deploys, newest first.
	Rollouts []tenure.Rollout
}

// planView is what an edited policy would change, as the policy page shows it.
type planView struct {
	rollout.Plan
	Apps []appPlan
	// Shown are the first changes; Plan.ChangesTotal counts them all.
	Shown []rollout.Change
}

// appPlan is one app's line of a plan: the people who gain and lose there.
type appPlan struct {
	App        string
	Gain, Lose int
}

// planShown is how many changes the policy page lists.
const planShown = 100

// rolloutsShown is how many deploys the policy page lists.
const rolloutsShown = 5

// policyFile names an edited policy in its errors.
const policyFile = rollout.PolicyFile

func (c *console) policyPage(w http.ResponseWriter, r *http.Request, s *session) error {
	d, err := c.policyData(r, false)
	if err != nil {
		return err
	}
	d.Edit = string(d.Source)
	c.render(w, r, s, http.StatusOK, "policy", "Policy", d)
	return nil
}

// policyData reads the version in force and the latest deploys; checked says
// an edit is being checked.
func (c *console) policyData(r *http.Request, checked bool) (*policyData, error) {
	ctx := r.Context()
	d := &policyData{Checked: checked}
	active, err := c.policies.ActiveVersion(ctx)
	switch {
	case err == nil:
		d.Active, d.Source = active, []byte(active.YAML)
	case tenure.ErrorCode(err) != tenure.ENOTFOUND:
		return nil, err
	}
	if d.Rollouts, err = c.policies.Rollouts(ctx, rolloutsShown); err != nil {
		return nil, err
	}
	if checked {
		d.Edit = r.PostFormValue("policy")
	}
	return d, nil
}

// active is the policy in force.
func (c *console) active(ctx context.Context) (*policy.Policy, error) {
	pol, err := c.policies.ActivePolicy(ctx)
	if err != nil {
		return nil, tenure.Unavailable("the policy", err)
	}
	return pol, nil
}

// checkEdit parses an edited policy, as the workers would load it.
func (c *console) checkEdit(r *http.Request) (*policyData, error) {
	d, err := c.policyData(r, true)
	if err != nil {
		return nil, err
	}
	if _, err := c.policies.Parse(policyFile, []byte(d.Edit)); err != nil {
		d.Problems = policyProblems(policyFile, err)
		return d, nil
	}
	d.Valid = true
	return d, nil
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
	d, err := c.checkEdit(r)
	if err != nil {
		return err
	}
	c.policyResult(w, r, s, d)
	return nil
}

// policyPreview plans the edited policy: its desired access for everyone who
// is not terminated against the access Tenure recorded for them, and what the
// guard would say, as the API's plan does.
func (c *console) policyPreview(w http.ResponseWriter, r *http.Request, s *session) error {
	d, err := c.checkEdit(r)
	if err != nil {
		return err
	}
	if d.Valid {
		plan, err := c.policies.Plan(r.Context(), []byte(d.Edit), s.User.principal().Actor())
		switch {
		case tenure.ErrorCode(err) == tenure.EINVALID:
			// Valid YAML that cannot be deployed, such as a dropped app that
			// people still have accounts in.
			d.Valid, d.Problems = false, []*policy.Error{{File: policyFile, Reason: tenure.ErrorMessage(err)}}
		case err != nil:
			return err
		default:
			d.Plan = newPlanView(plan)
		}
	}
	c.policyResult(w, r, s, d)
	return nil
}

func newPlanView(p rollout.Plan) *planView {
	v := &planView{Plan: p, Shown: p.Changes[:min(planShown, len(p.Changes))]}
	for app, n := range p.Summary.ByApp {
		v.Apps = append(v.Apps, appPlan{App: app, Gain: n.Gain, Lose: n.Lose})
	}
	slices.SortFunc(v.Apps, func(a, b appPlan) int { return strings.Compare(a.App, b.App) })
	return v
}

// policyDeploy deploys the edited policy, as PUT /api/v1/policy does, and
// shows its rollout.
func (c *console) policyDeploy(w http.ResponseWriter, r *http.Request, s *session) error {
	d, err := c.checkEdit(r)
	if err != nil {
		return err
	}
	if d.Valid {
		dep, err := c.policies.Deploy(r.Context(), []byte(d.Edit), s.User.principal().Actor(), "console")
		switch {
		case tenure.ErrorCode(err) == tenure.EINVALID:
			d.Valid, d.Problems = false, []*policy.Error{{File: policyFile, Reason: tenure.ErrorMessage(err)}}
		case err != nil:
			return err
		default:
			to := "/policy/rollouts/" + url.PathEscape(dep.RolloutID)
			if isHTMX(r) {
				w.Header().Set("HX-Redirect", to)
				w.WriteHeader(http.StatusOK)
				return nil
			}
			http.Redirect(w, r, to, http.StatusSeeOther)
			return nil
		}
	}
	c.policyResult(w, r, s, d)
	return nil
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

// rolloutData is a rollout as its page shows it.
type rolloutData struct {
	tenure.Rollout
	Apps []appProgress
	// Percent is how far it has got; Poll is where to read it again while it
	// is open ("" once it has closed).
	Percent int
	Poll    string
	// ETA estimates when it finishes, from its pace so far; "" when unknown.
	ETA string
}

type appProgress struct {
	App string
	tenure.AppProgress
}

func (c *console) rolloutData(ctx context.Context, id string) (*rolloutData, error) {
	r, err := c.policies.Rollout(ctx, id)
	if err != nil {
		return nil, err
	}
	d := &rolloutData{Rollout: r}
	for app, p := range r.ByApp {
		d.Apps = append(d.Apps, appProgress{App: app, AppProgress: p})
	}
	slices.SortFunc(d.Apps, func(a, b appProgress) int { return strings.Compare(a.App, b.App) })
	finished := r.Done + r.Failed
	if r.Total > 0 {
		d.Percent = finished * 100 / r.Total
	} else if !r.Status.Open() {
		d.Percent = 100
	}
	if r.Status.Open() {
		d.Poll = "/policy/rollouts/" + url.PathEscape(r.ID) + "/live"
	}
	if r.Status == tenure.RolloutRunning && finished > 0 && finished < r.Total {
		// A running rollout's row last changed when it started running.
		spent := c.now().Sub(r.UpdatedAt)
		left := time.Duration(float64(spent) / float64(finished) * float64(r.Total-finished))
		d.ETA = left.Round(time.Second).String()
	}
	return d, nil
}

// rolloutPage shows a rollout and, while it is open, its progress as it goes.
func (c *console) rolloutPage(w http.ResponseWriter, r *http.Request, s *session) error {
	d, err := c.rolloutData(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	c.render(w, r, s, http.StatusOK, "rollout", "Rollout "+d.ID, d)
	return nil
}

// rolloutLive is the rollout page's live part, which htmx polls while it is open.
func (c *console) rolloutLive(w http.ResponseWriter, r *http.Request, s *session) error {
	d, err := c.rolloutData(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	c.renderFragment(w, s, http.StatusOK, "rollout", "live", d)
	return nil
}

// rolloutDecide confirms a rollout the guard held, or cancels an open one.
func (c *console) rolloutDecide(w http.ResponseWriter, r *http.Request, s *session) error {
	id, actor := r.PathValue("id"), s.User.principal().Actor()
	var err error
	switch r.PathValue("decision") {
	case "confirm":
		_, err = c.policies.Confirm(r.Context(), id, actor)
	case "cancel":
		_, err = c.policies.Cancel(r.Context(), id, actor)
	default:
		return tenure.Errorf(tenure.ENOTFOUND, "there is no page at %s", r.URL.Path)
	}
	if err != nil {
		return err
	}
	http.Redirect(w, r, "/policy/rollouts/"+url.PathEscape(id), http.StatusSeeOther)
	return nil
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
