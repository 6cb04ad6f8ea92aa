package web

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/intake"
	"github.com/tenure-io/tenure/reconcile"
)

// The Reconciliation page: the latest run per app, one run's findings with
// filters, a form to start a run, and one click to remediate a finding. It
// starts runs and remediations through reconcile.Starter, as the API does.

// reconcileData is what the page shows.
type reconcileData struct {
	// Latest is each app's part of the latest run that read it.
	Latest []tenure.ReconcileApp
	// Runs are the latest runs; Run is the one whose findings are shown.
	Runs     []tenure.Reconciliation
	Run      *tenure.Reconciliation
	Findings []tenure.Finding
	Total    int
	// Kind and App filter the findings; Kinds and Apps are the choices.
	Kind, App string
	Kinds     []tenure.FindingKind
	Apps      []string
	Page      int
	Prev      string
	Next      string
	// RequestID makes the start form's submission idempotent.
	RequestID string
	Done      string
	Errors    map[string]string
	// CanStart says whether this console can start runs at all.
	CanStart bool
}

// reconcilePage is how many findings the page shows at once.
const reconcilePage = 100

func (c *console) reconciliation(w http.ResponseWriter, r *http.Request, s *session) error {
	d, err := c.reconcileData(r)
	if err != nil {
		return err
	}
	switch r.URL.Query().Get("done") {
	case "started":
		d.Done = "Started. The run reads every account of the apps; reload to see its findings."
	case "remediating":
		d.Done = "Remediating, through the guard. The finding's status follows what the app reads back."
	}
	c.render(w, r, s, http.StatusOK, "reconciliation", "Reconciliation", d)
	return nil
}

func (c *console) reconcileData(r *http.Request) (*reconcileData, error) {
	ctx := r.Context()
	q := r.URL.Query()
	d := &reconcileData{Kind: q.Get("kind"), App: q.Get("app"), Kinds: tenure.FindingKinds, Page: 1,
		RequestID: intake.NewID(), CanStart: c.recon != nil}
	if d.Kind != "" && !slices.Contains(tenure.FindingKinds, tenure.FindingKind(d.Kind)) {
		return nil, tenure.Invalid(tenure.FieldError{Field: "kind", Problem: "must be missing, drift, orphan or unmanaged"})
	}
	if v := q.Get("page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1_000_000 {
			return nil, tenure.Invalid(tenure.FieldError{Field: "page", Problem: "must be a page number"})
		}
		d.Page = n
	}
	pol, err := c.active(ctx)
	if err != nil {
		return nil, err
	}
	for _, a := range pol.Apps() {
		d.Apps = append(d.Apps, a.Name)
	}
	if d.Latest, err = c.store.LatestReconcileApps(ctx); err != nil {
		return nil, tenure.Unavailable("the store", err)
	}
	if d.Runs, err = c.store.ListReconciliations(ctx, tenure.ReconcileFilter{Limit: 20}); err != nil {
		return nil, tenure.Unavailable("the store", err)
	}
	id := q.Get("run")
	if id == "" && len(d.Runs) > 0 {
		id = d.Runs[0].ID
	}
	if id == "" {
		return d, nil
	}
	run, err := c.store.GetReconciliation(ctx, id)
	if err != nil {
		return nil, tenure.Unavailable("the store", err)
	}
	d.Run = &run
	f := tenure.FindingFilter{ReconciliationID: id, App: d.App, Kind: tenure.FindingKind(d.Kind),
		Limit: reconcilePage, Offset: (d.Page - 1) * reconcilePage}
	if d.Findings, d.Total, err = c.store.ListFindings(ctx, f); err != nil {
		return nil, tenure.Unavailable("the store", err)
	}
	link := func(page int) string {
		v := url.Values{"run": {id}}
		if d.Kind != "" {
			v.Set("kind", d.Kind)
		}
		if d.App != "" {
			v.Set("app", d.App)
		}
		if page > 1 {
			v.Set("page", strconv.Itoa(page))
		}
		return "/reconciliation?" + v.Encode()
	}
	if d.Page*reconcilePage < d.Total {
		d.Next = link(d.Page + 1)
	}
	if d.Page > 1 {
		d.Prev = link(d.Page - 1)
	}
	return d, nil
}

// starter is how the console starts runs and remediations: as the API does.
func (c *console) starter() (reconcile.Starter, error) {
	if c.recon == nil {
		return reconcile.Starter{}, tenure.Errorf(tenure.EUNAVAILABLE, "this console cannot start reconciliations")
	}
	return reconcile.Starter{Store: c.store, Engine: c.recon, Now: c.now}, nil
}

// startReconciliation starts a run from the page's form: a report for admins
// and auditors, enforce for admins.
func (c *console) startReconciliation(w http.ResponseWriter, r *http.Request, s *session) error {
	st, err := c.starter()
	if err != nil {
		return err
	}
	key := r.PostFormValue("request_id")
	if !intake.ValidEventID(key) {
		return tenure.Invalid(tenure.FieldError{Field: "request_id", Problem: intake.EventIDProblem})
	}
	run, err := st.Start(r.Context(), s.User.principal(), reconcile.Request{
		App: r.PostFormValue("app"), Mode: r.PostFormValue("mode"), Key: key, Trigger: "console"})
	if errs := fieldErrors(err); errs != nil {
		d, derr := c.reconcileData(r)
		if derr != nil {
			return derr
		}
		d.Errors = errs
		c.render(w, r, s, http.StatusBadRequest, "reconciliation", "Reconciliation", d)
		return nil
	}
	if err != nil {
		return err
	}
	http.Redirect(w, r, "/reconciliation?done=started&run="+url.QueryEscape(run.ID), http.StatusSeeOther)
	return nil
}

// remediateFinding remediates one finding, for an admin, through the guard.
func (c *console) remediateFinding(w http.ResponseWriter, r *http.Request, s *session) error {
	st, err := c.starter()
	if err != nil {
		return err
	}
	run := r.PathValue("id")
	if _, err := st.Remediate(r.Context(), s.User.principal(), run, r.PathValue("finding")); err != nil {
		return err
	}
	http.Redirect(w, r, "/reconciliation?done=remediating&run="+url.QueryEscape(run), http.StatusSeeOther)
	return nil
}
