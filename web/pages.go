package web

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/intake"
)

// peoplePage is the size of a page of the people list.
const peoplePage = 50

// personStatuses are the person statuses, for the people filter.
var personStatuses = []tenure.PersonStatus{tenure.PersonPending, tenure.PersonActive, tenure.PersonLocked, tenure.PersonTerminated}

type peopleData struct {
	Q, Status, Department, App string
	Statuses                   []tenure.PersonStatus
	Departments, Apps          []string
	People                     []tenure.Employee
	Total, From, To            int
	Page, Pages                int
	Prev, Next                 string
	Filtered                   bool
	// NoRecord says a manager has no HR record, so has no reports to show.
	NoRecord bool
}

func (c *console) people(w http.ResponseWriter, r *http.Request, s *session) error {
	ctx := r.Context()
	q := r.URL.Query()
	d := peopleData{
		Q: strings.TrimSpace(q.Get("q")), Status: q.Get("status"), Department: q.Get("department"), App: q.Get("app"),
		Statuses: personStatuses, Page: 1,
	}
	var p intake.Problems
	if d.Status != "" && !slices.Contains(personStatuses, tenure.PersonStatus(d.Status)) {
		p.Add("status", "must be one of pending, active, locked, terminated")
	}
	intake.CheckText("q", d.Q, intake.MaxText, false, &p)
	intake.CheckText("department", d.Department, intake.MaxText, false, &p)
	pol, err := c.active(ctx)
	if err != nil {
		return err
	}
	for _, a := range pol.Apps() {
		d.Apps = append(d.Apps, a.Name)
	}
	if d.App != "" && !slices.Contains(d.Apps, d.App) {
		p.Add("app", "is not an app of the policy")
	}
	if v := q.Get("page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1_000_000 {
			p.Add("page", "must be a page number")
		}
		d.Page = n
	}
	if err := p.Err(); err != nil {
		return err
	}
	d.Filtered = d.Q != "" || d.Status != "" || d.Department != "" || d.App != ""
	manager := ""
	if s.User.Role == tenure.RoleManager {
		if manager = s.User.EmployeeID; manager == "" {
			d.NoRecord = true
			c.render(w, r, s, http.StatusOK, "people", "People", d)
			return nil
		}
	}
	if d.Departments, err = c.store.Departments(ctx); err != nil {
		return tenure.Unavailable("the store", err)
	}
	f := tenure.EmployeeFilter{Q: d.Q, Status: tenure.PersonStatus(d.Status), Limit: peoplePage, Offset: (d.Page - 1) * peoplePage}
	d.People, d.Total, err = c.store.SearchEmployees(ctx, f, d.Department, d.App, manager)
	if err != nil {
		return tenure.Unavailable("the store", err)
	}
	d.Pages = max(1, (d.Total+peoplePage-1)/peoplePage)
	if len(d.People) > 0 {
		d.From, d.To = f.Offset+1, f.Offset+len(d.People)
	}
	link := func(pg int) string {
		v := url.Values{}
		for k, x := range map[string]string{"q": d.Q, "status": d.Status, "department": d.Department, "app": d.App} {
			if x != "" {
				v.Set(k, x)
			}
		}
		if pg > 1 {
			v.Set("page", strconv.Itoa(pg))
		}
		if len(v) == 0 {
			return "/people"
		}
		return "/people?" + v.Encode()
	}
	if d.Page > 1 {
		d.Prev = link(min(d.Page-1, d.Pages))
	}
	if d.Page < d.Pages {
		d.Next = link(d.Page + 1)
	}
	c.render(w, r, s, http.StatusOK, "people", "People", d)
	return nil
}

// personData is the person page; all of it is re-rendered by the live fragment.
type personData struct {
	Employee tenure.Employee
	// Received is true while Tenure has the hire but the run has not written the
	// person yet.
	Received bool
	Access   []appAccess
	Timeline []timelineItem
	Workflow string
	// Poll is the live fragment's URL while something is in flight, else "".
	Poll string
}

// appAccess is one app's account and grants for one person.
type appAccess struct {
	App          string
	AccountID    string
	Status       tenure.AccessStatus
	Entitlements []string
	VerifiedAt   *time.Time
	Error        string
	Grants       []tenure.GrantRecord
	// RetryID names a retry of this failure, so a second click does not run it twice.
	RetryID string
}

// timelineItem is an HR event or a run, with its page in the Temporal UI.
type timelineItem struct {
	At     time.Time
	Kind   string
	Label  string
	Status string
	Error  string
	URL    string
}

// livePeriod is how long a person's page keeps polling after an action, even
// before the run it started shows up.
const livePeriod = 30 * time.Second

func (c *console) person(w http.ResponseWriter, r *http.Request, s *session) error {
	until := time.Time{}
	if r.URL.Query().Get("live") != "" {
		until = c.now().Add(livePeriod)
	}
	d, err := c.personData(r.Context(), s, r.PathValue("id"), until)
	if err != nil {
		return err
	}
	c.render(w, r, s, http.StatusOK, "person", d.Employee.DisplayName(), d)
	return nil
}

// personLive is the person page's live part, which htmx polls while a run is in flight.
func (c *console) personLive(w http.ResponseWriter, r *http.Request, s *session) error {
	var until time.Time
	if v, err := strconv.ParseInt(r.URL.Query().Get("until"), 10, 64); err == nil {
		until = time.Unix(v, 0)
	}
	d, err := c.personData(r.Context(), s, r.PathValue("id"), until)
	if err != nil {
		return err
	}
	c.renderFragment(w, s, http.StatusOK, "person", "live", d)
	return nil
}

// personData reads everything the person page shows, and decides whether it
// should keep polling: while a run is running, an account or grant is pending,
// an event is not yet dispatched, or an action was taken moments ago.
func (c *console) personData(ctx context.Context, s *session, id string, until time.Time) (*personData, error) {
	if !intake.ValidHRID(id) {
		return nil, tenure.Errorf(tenure.ENOTFOUND, "there is no person %q", id)
	}
	d := &personData{Workflow: c.engine.RunURL(tenure.WorkflowID(id))}
	emp, err := c.store.GetEmployee(ctx, id)
	events, evErr := c.store.ListEvents(ctx, id)
	if evErr != nil {
		return nil, tenure.Unavailable("the store", evErr)
	}
	switch {
	case err == nil:
		d.Employee = emp
	case tenure.ErrorCode(err) == tenure.ENOTFOUND && len(events) > 0:
		// The hire is accepted but its run has not recorded the person yet: show
		// what HR sent, and keep watching.
		var ev tenure.Event
		_ = json.Unmarshal(events[len(events)-1].Body, &ev)
		d.Employee = tenure.Employee{Person: ev.Employee, Status: tenure.PersonPending}
		d.Employee.ID = id
		d.Received = true
	default:
		return nil, tenure.Unavailable("the store", err)
	}
	if err := tenure.MayRead(s.User.principal(), d.Employee); err != nil {
		return nil, err
	}
	accounts, err := c.store.ListAccounts(ctx, id)
	if err != nil {
		return nil, tenure.Unavailable("the store", err)
	}
	grants, err := c.store.ListGrants(ctx, id)
	if err != nil {
		return nil, tenure.Unavailable("the store", err)
	}
	runs, err := c.store.ListRuns(ctx, id)
	if err != nil {
		return nil, tenure.Unavailable("the store", err)
	}
	d.Access = accessByApp(accounts, grants)
	inFlight := d.Received || c.now().Before(until)
	for _, a := range d.Access {
		inFlight = inFlight || a.Status == tenure.AccessPending
	}
	for _, ev := range events {
		d.Timeline = append(d.Timeline, timelineItem{At: ev.ReceivedAt, Kind: "event",
			Label: "HR event " + string(ev.Type) + " (" + ev.ID + ")", Status: string(ev.Status), URL: c.engine.RunURL(ev.WorkflowID)})
		inFlight = inFlight || ev.Status == tenure.EventReceived
	}
	for _, run := range runs {
		d.Timeline = append(d.Timeline, timelineItem{At: run.StartedAt, Kind: "run", Label: run.Type,
			Status: string(run.Status), Error: run.Error, URL: c.engine.RunURL(run.HistoryID())})
		inFlight = inFlight || run.Status == tenure.RunRunning
	}
	slices.SortStableFunc(d.Timeline, func(a, b timelineItem) int { return b.At.Compare(a.At) })
	if inFlight {
		d.Poll = "/people/" + url.PathEscape(id) + "/live"
		if !until.IsZero() {
			d.Poll += "?until=" + strconv.FormatInt(until.Unix(), 10)
		}
	}
	return d, nil
}

// accessByApp joins accounts and grants per app. An app with grants and no
// account yet (waiting for approval, or not yet created) shows its grants' status.
func accessByApp(accounts []tenure.Account, grants []tenure.GrantRecord) []appAccess {
	by := map[string]*appAccess{}
	get := func(app string) *appAccess {
		if by[app] == nil {
			by[app] = &appAccess{App: app}
		}
		return by[app]
	}
	hasAccount := map[string]bool{}
	for _, a := range accounts {
		x := get(a.App)
		hasAccount[a.App] = true
		x.AccountID, x.Status, x.Entitlements, x.VerifiedAt, x.Error = a.AccountID, a.Status, a.Entitlements, a.VerifiedAt, a.Error
		x.RetryID = "console-retry-" + a.App + "-" + strconv.FormatInt(a.UpdatedAt.UnixNano(), 36)
	}
	for _, g := range grants {
		x := get(g.App)
		x.Grants = append(x.Grants, g)
	}
	rank := []tenure.AccessStatus{tenure.AccessFailed, tenure.AccessPendingApproval, tenure.AccessPending,
		tenure.AccessActive, tenure.AccessDenied, tenure.AccessDisabled, tenure.AccessDeleted}
	out := make([]appAccess, 0, len(by))
	for app, x := range by {
		if !hasAccount[app] {
			best := len(rank)
			for _, g := range x.Grants {
				if i := slices.Index(rank, g.Status); i >= 0 && i < best {
					best = i
				}
			}
			x.Status = tenure.AccessPending
			if best < len(rank) {
				x.Status = rank[best]
			}
		}
		out = append(out, *x)
	}
	slices.SortFunc(out, func(a, b appAccess) int { return cmp.Compare(a.App, b.App) })
	return out
}

// killData is the confirmation page of a lock or an unlock.
type killData struct {
	Action    string
	Employee  tenure.Employee
	Accounts  []tenure.Account
	RequestID string
}

// confirmKill asks before locking or unlocking, listing the accounts it touches.
func (c *console) confirmKill(w http.ResponseWriter, r *http.Request, s *session) error {
	ctx := r.Context()
	action := lastSegment(r)
	emp, err := c.store.GetEmployee(ctx, r.PathValue("id"))
	if err != nil {
		return tenure.Unavailable("the store", err)
	}
	accounts, err := c.store.ListAccounts(ctx, emp.ID)
	if err != nil {
		return tenure.Unavailable("the store", err)
	}
	want := tenure.AccessActive
	if action == "unlock" {
		want = tenure.AccessDisabled
	}
	d := killData{Action: action, Employee: emp, RequestID: "console-" + action + "-" + rand.Text()}
	for _, a := range accounts {
		if a.Status == want {
			d.Accounts = append(d.Accounts, a)
		}
	}
	c.render(w, r, s, http.StatusOK, "confirm", strings.ToUpper(action[:1])+action[1:]+" "+emp.DisplayName(), d)
	return nil
}

// lastSegment is the last segment of the request's path: lock or unlock.
func lastSegment(r *http.Request) string {
	p := r.URL.Path
	return p[strings.LastIndexByte(p, '/')+1:]
}

// kill locks or unlocks. The confirmation page's request ID makes a second
// submission of the same form harmless.
func (c *console) kill(w http.ResponseWriter, r *http.Request, s *session) error {
	ctx := r.Context()
	id := r.PathValue("id")
	reqID := r.PostFormValue("request_id")
	if !intake.ValidEventID(reqID) {
		return tenure.Invalid(tenure.FieldError{Field: "request_id", Problem: intake.EventIDProblem})
	}
	if _, err := c.store.GetEmployee(ctx, id); err != nil {
		return tenure.Unavailable("the store", err)
	}
	do := c.engine.Lock
	if lastSegment(r) == "unlock" {
		do = c.engine.Unlock
	}
	if _, err := do(ctx, id, reqID, s.User.Actor()); err != nil {
		return tenure.Unavailable("the workflow engine", err)
	}
	http.Redirect(w, r, "/people/"+url.PathEscape(id)+"?live=1", http.StatusSeeOther)
	return nil
}

// retry runs the person's last change again in one app that failed.
func (c *console) retry(w http.ResponseWriter, r *http.Request, s *session) error {
	ctx := r.Context()
	id, app := r.PathValue("id"), r.PathValue("app")
	pol, err := c.active(ctx)
	if err != nil {
		return err
	}
	if _, ok := pol.App(app); !ok {
		return tenure.Errorf(tenure.ENOTFOUND, "there is no app %q", app)
	}
	if _, err := c.store.GetEmployee(ctx, id); err != nil {
		return tenure.Unavailable("the store", err)
	}
	reqID := r.PostFormValue("request_id")
	if !intake.ValidEventID(reqID) {
		return tenure.Invalid(tenure.FieldError{Field: "request_id", Problem: intake.EventIDProblem})
	}
	if _, err := c.engine.Retry(ctx, id, app, reqID, s.User.Actor()); err != nil {
		return tenure.Unavailable("the workflow engine", err)
	}
	http.Redirect(w, r, "/people/"+url.PathEscape(id)+"?live=1", http.StatusSeeOther)
	return nil
}
