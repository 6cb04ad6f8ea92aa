package api

import (
	"context"
	"net/http"
	"slices"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/intake"
)

// maxPage is the largest page a list route returns.
const maxPage = 500

// defaultPage is the page size when the caller names none.
const defaultPage = 50

// employeeList is the body of GET /api/v1/employees.
type employeeList struct {
	Employees []tenure.Employee `json:"employees"`
	Total     int               `json:"total"`
	Limit     int               `json:"limit"`
	Offset    int               `json:"offset"`
}

func (s *server) listEmployees(c echo.Context) error {
	var p intake.Problems
	f := tenure.EmployeeFilter{
		Q:      c.QueryParam("q"),
		Status: tenure.PersonStatus(c.QueryParam("status")),
		Limit:  queryInt(c, "limit", defaultPage, 1, maxPage, &p),
		Offset: queryInt(c, "offset", 0, 0, 1<<31-1, &p),
	}
	switch f.Status {
	case "", tenure.PersonPending, tenure.PersonActive, tenure.PersonLocked, tenure.PersonTerminated:
	default:
		p.Add("status", "must be one of pending, active, locked, terminated")
	}
	if len(f.Q) > intake.MaxText {
		p.Addf("q", "must be at most %d characters", intake.MaxText)
	}
	if err := p.Err(); err != nil {
		return err
	}
	list, total, err := s.listEmployeesFor(c, f)
	if err != nil {
		return tenure.Unavailable("the store", err)
	}
	return respond(c, http.StatusOK, employeeList{Employees: orEmpty(list), Total: total, Limit: f.Limit, Offset: f.Offset})
}

// employeeDetail is the body of GET /api/v1/employees/{id}.
type employeeDetail struct {
	tenure.Employee
	Access    []appAccess          `json:"access"`
	Workflows []workflowRun        `json:"workflows"`
	Events    []tenure.EventRecord `json:"events"`
}

// appAccess is one person's access to one app: the account as last verified and
// the grants inside it.
type appAccess struct {
	App          string              `json:"app"`
	AccountID    string              `json:"account_id"`
	Status       tenure.AccessStatus `json:"status"`
	Entitlements []string            `json:"entitlements"`
	VerifiedAt   *time.Time          `json:"verified_at"`
	Error        string              `json:"error,omitempty"`
	Grants       []grantState        `json:"grants"`
}

type grantState struct {
	Entitlement string              `json:"entitlement"`
	Status      tenure.AccessStatus `json:"status"`
	ApprovalID  string              `json:"approval_id,omitempty"`
}

// workflowRun is one lifecycle run with its page in the Temporal UI.
type workflowRun struct {
	WorkflowID  string           `json:"workflow_id"`
	Type        string           `json:"type"`
	Status      tenure.RunStatus `json:"status"`
	Error       string           `json:"error,omitempty"`
	TemporalURL string           `json:"temporal_url"`
	StartedAt   time.Time        `json:"started_at"`
	ClosedAt    *time.Time       `json:"closed_at"`
}

func (s *server) getEmployee(c echo.Context) error {
	ctx := c.Request().Context()
	id := c.Param("id")
	emp, err := s.store.GetEmployee(ctx, id)
	if err != nil {
		return tenure.Unavailable("the store", err)
	}
	if err := tenure.MayRead(principal(c), emp); err != nil {
		return err
	}
	accounts, err := s.store.ListAccounts(ctx, id)
	if err != nil {
		return tenure.Unavailable("the store", err)
	}
	grants, err := s.store.ListGrants(ctx, id)
	if err != nil {
		return tenure.Unavailable("the store", err)
	}
	runs, err := s.store.ListRuns(ctx, id)
	if err != nil {
		return tenure.Unavailable("the store", err)
	}
	events, err := s.store.ListEvents(ctx, id)
	if err != nil {
		return tenure.Unavailable("the store", err)
	}
	wf := make([]workflowRun, 0, len(runs))
	for _, r := range runs {
		wf = append(wf, workflowRun{
			WorkflowID:  r.WorkflowID,
			Type:        r.Type,
			Status:      r.Status,
			Error:       r.Error,
			TemporalURL: s.engine.RunURL(r.HistoryID()),
			StartedAt:   r.StartedAt,
			ClosedAt:    r.ClosedAt,
		})
	}
	return respond(c, http.StatusOK, employeeDetail{
		Employee:  emp,
		Access:    accessByApp(accounts, grants),
		Workflows: wf,
		Events:    orEmpty(events),
	})
}

// accessByApp joins accounts and grants per app. An app can have grants and no
// account yet (its grants wait for approval, or creation has not run): it still
// shows, with the status its grants give it.
func accessByApp(accounts []tenure.Account, grants []tenure.GrantRecord) []appAccess {
	byApp := map[string]*appAccess{}
	var order []string
	get := func(app string) *appAccess {
		a, ok := byApp[app]
		if !ok {
			a = &appAccess{App: app, Entitlements: []string{}, Grants: []grantState{}}
			byApp[app] = a
			order = append(order, app)
		}
		return a
	}
	hasAccount := map[string]bool{}
	for _, acc := range accounts {
		a := get(acc.App)
		hasAccount[acc.App] = true
		a.AccountID = acc.AccountID
		a.Status = acc.Status
		a.Entitlements = orEmpty(acc.Entitlements)
		a.VerifiedAt = acc.VerifiedAt
		a.Error = acc.Error
	}
	for _, g := range grants {
		a := get(g.App)
		a.Grants = append(a.Grants, grantState{Entitlement: g.Entitlement, Status: g.Status, ApprovalID: g.ApprovalID})
	}
	for app, a := range byApp {
		if !hasAccount[app] {
			a.Status = grantsStatus(a.Grants)
		}
	}
	slices.Sort(order)
	out := make([]appAccess, 0, len(order))
	for _, app := range order {
		out = append(out, *byApp[app])
	}
	return out
}

// grantsStatus sums up the grants of an app that has no account row: what a person
// would most want to know comes first (something failed, then someone must
// approve, then work is pending).
func grantsStatus(grants []grantState) tenure.AccessStatus {
	rank := []tenure.AccessStatus{
		tenure.AccessFailed,
		tenure.AccessPendingApproval,
		tenure.AccessPending,
		tenure.AccessActive,
		tenure.AccessDenied,
		tenure.AccessDisabled,
		tenure.AccessDeleted,
	}
	best := len(rank)
	for _, g := range grants {
		if i := slices.Index(rank, g.Status); i >= 0 && i < best {
			best = i
		}
	}
	if best == len(rank) {
		return tenure.AccessPending
	}
	return rank[best]
}

// killSwitchAccepted is the 202 body of the lock and unlock routes.
type killSwitchAccepted struct {
	EmployeeID string `json:"employee_id"`
	WorkflowID string `json:"workflow_id"`
}

func (s *server) lockEmployee(c echo.Context) error   { return s.killSwitch(c, s.engine.Lock) }
func (s *server) unlockEmployee(c echo.Context) error { return s.killSwitch(c, s.engine.Unlock) }

// retryApp runs the person's last change again in one app, after it failed there.
func (s *server) retryApp(c echo.Context) error {
	app := c.Param("app")
	apps, err := s.store.ListApps(c.Request().Context())
	if err != nil {
		return tenure.Unavailable("the store", err)
	}
	if !slices.ContainsFunc(apps, func(a tenure.App) bool { return a.Name == app }) {
		return tenure.Errorf(tenure.ENOTFOUND, "there is no app %q", app)
	}
	return s.killSwitch(c, func(ctx context.Context, id, requestID, actor string) (string, error) {
		return s.engine.Retry(ctx, id, app, requestID, actor)
	})
}

// killSwitch locks or unlocks a known person. The request ID lets a caller retry a
// lock without it being applied twice.
func (s *server) killSwitch(c echo.Context, do func(ctx context.Context, employeeID, requestID, actor string) (string, error)) error {
	ctx := c.Request().Context()
	id := c.Param("id")
	if _, err := s.store.GetEmployee(ctx, id); err != nil {
		return tenure.Unavailable("the store", err)
	}
	reqID := c.Request().Header.Get(HeaderIdempotencyKey)
	switch {
	case reqID == "":
		reqID = intake.NewID()
	case !intake.ValidEventID(reqID):
		return tenure.Invalid(tenure.FieldError{Field: HeaderIdempotencyKey, Problem: "must be 1 to 128 letters, digits or . _ : -"})
	}
	wf, err := do(ctx, id, reqID, principal(c).Name)
	if err != nil {
		return tenure.Unavailable("the workflow engine", err)
	}
	if wf == "" {
		wf = tenure.WorkflowID(id)
	}
	return respond(c, http.StatusAccepted, killSwitchAccepted{EmployeeID: id, WorkflowID: wf})
}

// orEmpty makes a nil slice encode as [] rather than null.
func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
