package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tenure-io/tenure"
)

// TestReconciliationPage shows the latest run per app and a run's findings,
// filters them, starts a run and remediates one finding, each for the roles
// that may.
func TestReconciliationPage(t *testing.T) {
	h := newHarness(t)
	must(t, h.db.UpsertApp(ctx, tenure.App{Name: "github", Connector: "scim"}))
	must(t, h.db.UpsertApp(ctx, tenure.App{Name: "slack", Connector: "scim"}))
	_, err := h.db.CreateReconciliation(ctx, tenure.Reconciliation{ID: "rec-7", Mode: tenure.ReconcileReport, Apps: []string{"github", "slack"},
		Status: tenure.ReconcileCompleted, Actor: "ada", Trigger: "api", StartedAt: time.Now()})
	must(t, err)
	done := time.Now()
	must(t, h.db.RecordReconcileApp(ctx, tenure.ReconcileApp{ReconciliationID: "rec-7", App: "github", Mode: tenure.ReconcileReport,
		Status: tenure.ReconcileCompleted, Counts: tenure.ReconcileCounts{Accounts: 3, Matched: 2, Orphan: 2}, FinishedAt: &done}))
	must(t, h.db.AddFindings(ctx, []tenure.Finding{
		{ID: "fnd_t1", ReconciliationID: "rec-7", App: "github", AccountID: "a1", UserName: "t1@example.com", ExternalID: "T1", EmployeeID: "T1",
			Kind: tenure.FindingOrphan, Detail: "active, but T1 is terminated", Remediation: tenure.RemediateDisable, Status: tenure.FindingOpen},
		{ID: "fnd_eve", ReconciliationID: "rec-7", App: "github", AccountID: "a2", UserName: "eve@example.com",
			Kind: tenure.FindingOrphan, Detail: "active, and nobody in HR has it", Remediation: tenure.RemediateReport, Status: tenure.FindingOpen},
		{ID: "fnd_e2", ReconciliationID: "rec-7", App: "slack", EmployeeID: "E2",
			Kind: tenure.FindingMissing, Detail: "no account", Remediation: tenure.RemediateResync, Status: tenure.FindingOpen},
	}))
	auditor, admin := h.as("auditor"), h.as("admin")

	p := auditor.get("/reconciliation")
	wantIn(t, p.body, `href="/reconciliation"`, "Run rec-7", "t1@example.com", "eve@example.com", "unknown to HR", "active, but T1 is terminated", `id="latest"`)
	if strings.Contains(p.body, "/findings/fnd_t1/remediate") || strings.Contains(p.body, `value="enforce"`) {
		t.Error("an auditor is offered to remediate or to enforce")
	}
	p = auditor.get("/reconciliation?run=rec-7&kind=missing")
	if !strings.Contains(p.body, "no account") || strings.Contains(p.body, "t1@example.com") {
		t.Errorf("filtered by kind, the page shows the wrong findings")
	}
	if p := auditor.get("/reconciliation?kind=bogus"); p.status != http.StatusBadRequest {
		t.Errorf("a bad kind: %d", p.status)
	}
	p = admin.get("/reconciliation?run=rec-7")
	wantIn(t, p.body, "/reconciliation/rec-7/findings/fnd_t1/remediate", "/reconciliation/rec-7/findings/fnd_e2/remediate", `value="enforce"`)
	if strings.Contains(p.body, "/findings/fnd_eve/remediate") {
		t.Error("a report-only finding has a remediate button")
	}

	// Remediating one finding: only with the CSRF token, then through the engine.
	if p := admin.do("POST", "/reconciliation/rec-7/findings/fnd_t1/remediate", url.Values{}); p.status != http.StatusForbidden {
		t.Errorf("without the CSRF token: %d", p.status)
	}
	p = admin.post("/reconciliation", "/reconciliation/rec-7/findings/fnd_t1/remediate", nil)
	if p.status != http.StatusSeeOther || !strings.Contains(p.location, "done=remediating") {
		t.Errorf("remediate: %d %s", p.status, p.location)
	}
	if p := admin.post("/reconciliation", "/reconciliation/rec-7/findings/fnd_eve/remediate", nil); p.status != http.StatusConflict {
		t.Errorf("remediating a report-only finding: %d", p.status)
	}

	// Starting a run: an auditor may ask for a report, not enforce one.
	if p := auditor.post("/reconciliation", "/reconciliation", url.Values{"mode": {"enforce"}, "request_id": {"r-1"}}); p.status != http.StatusForbidden {
		t.Errorf("an auditor enforcing: %d", p.status)
	}
	p = auditor.post("/reconciliation", "/reconciliation", url.Values{"app": {"gitlab"}, "mode": {"report"}, "request_id": {"r-2"}})
	if p.status != http.StatusBadRequest || !strings.Contains(p.body, "App is not an app of the policy") {
		t.Errorf("an unknown app: %d", p.status)
	}
	p = auditor.post("/reconciliation", "/reconciliation", url.Values{"app": {"github"}, "mode": {"report"}, "request_id": {"r-3"}})
	if p.status != http.StatusSeeOther || !strings.Contains(p.location, "run=rec-r-3") {
		t.Errorf("a report: %d %s", p.status, p.location)
	}
	run, err := h.db.GetReconciliation(ctx, "rec-r-3")
	if err != nil || run.Trigger != "console" || run.Actor != "auditor@example.com" || strings.Join(run.Apps, ",") != "github" {
		t.Errorf("the run started: %+v, %v", run, err)
	}
	h.engine.mu.Lock()
	defer h.engine.mu.Unlock()
	if len(h.engine.reconciles) != 1 || h.engine.reconciles[0].ID != "rec-r-3" || len(h.engine.remediations) != 1 ||
		h.engine.remediations[0] != "fnd_t1 admin@example.com" {
		t.Errorf("the engine was asked %+v and %+v", h.engine.reconciles, h.engine.remediations)
	}
}
