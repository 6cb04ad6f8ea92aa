package api

import (
	"net/http"
	"slices"

	"github.com/labstack/echo/v4"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/intake"
	"github.com/tenure-io/tenure/reconcile"
)

// The reconciliation routes: start one (a report for admins and auditors,
// enforce for admins), read them with their findings, and remediate one
// finding (admins).

// reconciler is how the routes start runs and remediations; without an
// engine that can, they answer 503 and say why.
func (s *server) reconciler() (reconcile.Starter, error) {
	if s.recon == nil {
		return reconcile.Starter{}, tenure.Errorf(tenure.EUNAVAILABLE, "reconciliation is not configured on this server")
	}
	return reconcile.Starter{Store: s.store, Engine: s.recon, Now: s.now}, nil
}

func (s *server) postReconciliation(c echo.Context) error {
	var (
		p         intake.Problems
		app, mode string
	)
	if err := decodeBody(c, map[string]any{"app": &app, "mode": &mode}, false, &p); err != nil {
		return err
	}
	key := c.Request().Header.Get(HeaderIdempotencyKey)
	if key != "" && !intake.ValidEventID(key) {
		p.Add(HeaderIdempotencyKey, intake.EventIDProblem)
	}
	if err := p.Err(); err != nil {
		return err
	}
	st, err := s.reconciler()
	if err != nil {
		return err
	}
	run, err := st.Start(c.Request().Context(), principal(c), reconcile.Request{App: app, Mode: mode, Key: key, Trigger: "api"})
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderLocation, "/api/v1/reconciliations/"+run.ID)
	return respond(c, http.StatusAccepted, run)
}

// reconciliationList is the body of GET /api/v1/reconciliations.
type reconciliationList struct {
	Reconciliations []tenure.Reconciliation `json:"reconciliations"`
	// Latest is each app's part of the latest reconciliation that read it.
	Latest []tenure.ReconcileApp `json:"latest"`
	Limit  int                   `json:"limit"`
	Offset int                   `json:"offset"`
}

func (s *server) listReconciliations(c echo.Context) error {
	var p intake.Problems
	f := tenure.ReconcileFilter{
		App:    c.QueryParam("app"),
		Limit:  queryInt(c, "limit", defaultPage, 1, maxPage, &p),
		Offset: queryInt(c, "offset", 0, 0, 1<<31-1, &p),
	}
	if err := p.Err(); err != nil {
		return err
	}
	ctx := c.Request().Context()
	runs, err := s.store.ListReconciliations(ctx, f)
	if err != nil {
		return tenure.Unavailable("the store", err)
	}
	latest, err := s.store.LatestReconcileApps(ctx)
	if err != nil {
		return tenure.Unavailable("the store", err)
	}
	return respond(c, http.StatusOK, reconciliationList{Reconciliations: orEmpty(runs), Latest: orEmpty(latest), Limit: f.Limit, Offset: f.Offset})
}

// reconciliationDetail is the body of GET /api/v1/reconciliations/{id}: the
// run and one page of its findings.
type reconciliationDetail struct {
	tenure.Reconciliation
	Findings []tenure.Finding `json:"findings"`
	// Total is how many findings match the filters.
	Total  int `json:"total"`
	Limit  int `json:"limit"`
	Offset int `json:"offset"`
}

func (s *server) getReconciliation(c echo.Context) error {
	var p intake.Problems
	f := tenure.FindingFilter{
		ReconciliationID: c.Param("id"),
		App:              c.QueryParam("app"),
		Kind:             tenure.FindingKind(c.QueryParam("kind")),
		Status:           tenure.FindingStatus(c.QueryParam("status")),
		Limit:            queryInt(c, "limit", defaultPage, 1, maxPage, &p),
		Offset:           queryInt(c, "offset", 0, 0, 1<<31-1, &p),
	}
	if f.Kind != "" && !slices.Contains(tenure.FindingKinds, f.Kind) {
		p.Add("kind", "must be missing, drift, orphan or unmanaged")
	}
	switch f.Status {
	case "", tenure.FindingOpen, tenure.FindingResyncing, tenure.FindingRemediated, tenure.FindingFailed:
	default:
		p.Add("status", "must be open, resyncing, remediated or failed")
	}
	if err := p.Err(); err != nil {
		return err
	}
	ctx := c.Request().Context()
	run, err := s.store.GetReconciliation(ctx, f.ReconciliationID)
	if err != nil {
		return tenure.Unavailable("the store", err)
	}
	findings, total, err := s.store.ListFindings(ctx, f)
	if err != nil {
		return tenure.Unavailable("the store", err)
	}
	return respond(c, http.StatusOK, reconciliationDetail{Reconciliation: run, Findings: orEmpty(findings), Total: total,
		Limit: f.Limit, Offset: f.Offset})
}

// remediationAccepted is the body of POST .../findings/{finding}/remediate.
type remediationAccepted struct {
	FindingID  string `json:"finding_id"`
	WorkflowID string `json:"workflow_id"`
}

func (s *server) remediateFinding(c echo.Context) error {
	st, err := s.reconciler()
	if err != nil {
		return err
	}
	id := c.Param("finding")
	wf, err := st.Remediate(c.Request().Context(), principal(c), c.Param("id"), id)
	if err != nil {
		return err
	}
	return respond(c, http.StatusAccepted, remediationAccepted{FindingID: id, WorkflowID: wf})
}

// addReconcileRoutes adds the reconciliation routes to v1, each behind auth:
// an auditor may ask for a report (the handler refuses them enforce) and read
// everything; only an admin remediates.
func addReconcileRoutes(v1 *echo.Group, s *server, auth func(roles ...string) []echo.MiddlewareFunc) {
	v1.POST("/reconciliations", s.postReconciliation, auth(tenure.RoleAdmin, tenure.RoleAuditor)...)
	v1.GET("/reconciliations", s.listReconciliations, auth(tenure.RoleAdmin, tenure.RoleAuditor)...)
	v1.GET("/reconciliations/:id", s.getReconciliation, auth(tenure.RoleAdmin, tenure.RoleAuditor)...)
	v1.POST("/reconciliations/:id/findings/:finding/remediate", s.remediateFinding, auth(tenure.RoleAdmin)...)
}
