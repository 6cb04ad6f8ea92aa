package reconcile

import (
	"context"
	"crypto/rand"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/tenure-io/tenure"
)

// Starter is how the API and the console alike start a reconciliation and
// remediate one finding: one set of checks, one way in. It writes the run to
// the read model before it starts the run's workflow, so that the run can be
// read as soon as its ID is answered.
type Starter struct {
	Store interface {
		tenure.ReconcileStore
		tenure.AppStore
	}
	Engine tenure.Reconciler
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Request is a request for a reconciliation, as a caller sends it.
type Request struct {
	App  string // "" for every app
	Mode string
	// Key, when set, names the run (rec-<key>): asking again with the same
	// key answers the same run.
	Key string
	// Trigger says how it was asked for: api or console.
	Trigger string
}

// Start checks req, records the run and starts it. Enforcing is for admins;
// a report is for admins and auditors (the caller's routes let only those in).
func (s Starter) Start(ctx context.Context, who tenure.Principal, req Request) (tenure.Reconciliation, error) {
	var fields []tenure.FieldError
	mode := tenure.ReconcileMode(req.Mode)
	switch {
	case req.Mode == "":
		fields = append(fields, tenure.FieldError{Field: "mode", Problem: "is required: report or enforce"})
	case !mode.Valid():
		fields = append(fields, tenure.FieldError{Field: "mode", Problem: "must be report or enforce"})
	}
	apps, err := s.Store.ListApps(ctx)
	if err != nil {
		return tenure.Reconciliation{}, tenure.Unavailable("the store", err)
	}
	names := make([]string, 0, len(apps))
	for _, a := range apps {
		names = append(names, a.Name)
	}
	if req.App != "" && !slices.Contains(names, req.App) {
		fields = append(fields, tenure.FieldError{Field: "app", Problem: "is not an app of the policy; the apps are " + strings.Join(names, ", ")})
	}
	if len(fields) > 0 {
		return tenure.Reconciliation{}, tenure.Invalid(fields...)
	}
	if mode == tenure.ReconcileEnforce && who.Role != tenure.RoleAdmin {
		return tenure.Reconciliation{}, tenure.Errorf(tenure.EFORBIDDEN, "only an admin may enforce a reconciliation; the %s role may ask for a report", who.Role)
	}
	if req.App != "" {
		names = []string{req.App}
	}
	id := "rec-" + strings.ToLower(rand.Text())
	if req.Key != "" {
		id = "rec-" + req.Key
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	run := tenure.Reconciliation{ID: id, Mode: mode, Apps: names, Status: tenure.ReconcileRunning,
		Actor: who.Actor(), Trigger: req.Trigger, StartedAt: now().UTC()}
	created, err := s.Store.CreateReconciliation(ctx, run)
	if err != nil {
		return run, tenure.Unavailable("the store", err)
	}
	if !created {
		prev, err := s.Store.GetReconciliation(ctx, id)
		if err != nil {
			return run, tenure.Unavailable("the store", err)
		}
		if prev.Mode != run.Mode || !slices.Equal(prev.Apps, run.Apps) {
			return prev, tenure.Errorf(tenure.ECONFLICT, "reconciliation %s was asked for with another app or mode", id)
		}
		run = prev
	}
	// Reconcile's workflow ID makes a second start of the same run harmless.
	err = s.Engine.StartReconciliation(ctx, tenure.ReconcileRequest{ID: id, Apps: names, Mode: mode, Actor: run.Actor, Trigger: req.Trigger})
	if err != nil {
		// Refused: leave nothing behind, so that asking again starts afresh.
		if created {
			if derr := s.Store.DeleteReconciliation(context.WithoutCancel(ctx), id); derr != nil {
				return run, tenure.Unavailable("the store", errors.Join(err, derr))
			}
		}
		return run, tenure.Unavailable("the workflow engine", err)
	}
	return run, nil
}

// Remediate remediates one finding of reconciliation run, for an admin (the
// caller's routes let only admins in), and returns the ID of the workflow
// that does it.
func (s Starter) Remediate(ctx context.Context, who tenure.Principal, run, findingID string) (string, error) {
	f, err := s.Store.GetFinding(ctx, findingID)
	if err == nil && f.ReconciliationID != run {
		err = tenure.Errorf(tenure.ENOTFOUND, "reconciliation %s has no finding %q", run, findingID)
	}
	if err != nil {
		return "", tenure.Unavailable("the store", err)
	}
	switch {
	case !f.Remediation.Acts():
		return "", tenure.Errorf(tenure.ECONFLICT, "finding %s is for IT to look at (remediation %s): Tenure does not change it", f.ID, f.Remediation)
	case f.Status == tenure.FindingRemediated:
		return "", tenure.Errorf(tenure.ECONFLICT, "finding %s has been remediated already", f.ID)
	}
	wf, err := s.Engine.RemediateFinding(ctx, f, who.Actor())
	if err != nil {
		return wf, tenure.Unavailable("the workflow engine", err)
	}
	return wf, nil
}
