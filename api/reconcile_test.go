package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/tenure-io/tenure"
)

// reconcileHarness is the API on a real store with two apps, an auditor's
// token as well as the admin's, and the fake engine as its Reconciler.
func reconcileHarness(t *testing.T) *harness {
	t.Helper()
	h := newHarness(t)
	h.cfg.Reconciler = h.engine
	h.cfg.Auth = StaticTokens(map[string]tenure.Principal{
		adminToken:      {Name: "ada", Role: tenure.RoleAdmin},
		recAuditorToken: {Name: "audrey", Role: tenure.RoleAuditor},
		hrTokenForRec:   {Name: "harriet", Role: tenure.RoleHR},
	})
	srv := httptest.NewServer(mustServer(t, h.cfg))
	t.Cleanup(srv.Close)
	h.url = srv.URL
	for _, app := range []string{"github", "slack"} {
		if err := h.store.UpsertApp(context.Background(), tenure.App{Name: app, Connector: "scim"}); err != nil {
			t.Fatal(err)
		}
	}
	return h
}

const (
	recAuditorToken = "auditor-token-for-reconciliation"
	hrTokenForRec   = "hr-token-for-reconciliation"
)

func (h *harness) runs() []tenure.Reconciliation {
	h.t.Helper()
	runs, err := h.store.ListReconciliations(context.Background(), tenure.ReconcileFilter{})
	if err != nil {
		h.t.Fatal(err)
	}
	return runs
}

func (h *harness) started() []tenure.ReconcileRequest {
	started, _ := h.engine.reconcileCalls()
	return started
}

func TestReconciliationRequestValidation(t *testing.T) {
	h := reconcileHarness(t)
	for _, tc := range []struct {
		name, body string
		fields     []string
	}{
		{"no mode", `{}`, []string{"mode"}},
		{"bad mode", `{"mode": "fix"}`, []string{"mode"}},
		{"unknown app", `{"app": "gitlab", "mode": "report"}`, []string{"app"}},
		{"both", `{"app": "gitlab", "mode": ""}`, []string{"mode", "app"}},
		{"unknown field", `{"apps": ["github"], "mode": "report"}`, []string{"apps"}},
		{"wrong type", `{"app": 7, "mode": "report"}`, []string{"app"}},
		{"not JSON", `{"mode": report}`, []string{"body"}},
		{"no body", ``, []string{"body"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := wantError(t, h.do("POST", "/api/v1/reconciliations", tc.body), http.StatusBadRequest, tenure.EINVALID)
			var got []string
			for _, f := range e.Fields {
				got = append(got, f.Field)
			}
			if !slices.Equal(got, tc.fields) {
				t.Errorf("fields %+v, want %v", e.Fields, tc.fields)
			}
		})
	}
	wantError(t, h.do("POST", "/api/v1/reconciliations", `{"mode": "report"}`, HeaderIdempotencyKey, "bad key!"), http.StatusBadRequest, tenure.EINVALID)
	// An auditor may ask for a report, not enforce one; HR may do neither.
	wantError(t, h.do("POST", "/api/v1/reconciliations", `{"mode": "enforce"}`, "Authorization", "Bearer "+recAuditorToken), http.StatusForbidden, tenure.EFORBIDDEN)
	wantError(t, h.do("POST", "/api/v1/reconciliations", `{"mode": "report"}`, "Authorization", "Bearer "+hrTokenForRec), http.StatusForbidden, tenure.EFORBIDDEN)
	if runs, started := h.runs(), h.started(); len(runs) != 0 || len(started) != 0 {
		t.Errorf("refused requests wrote %+v and started %+v", runs, started)
	}
}

func TestReconciliationStartAndRead(t *testing.T) {
	h := reconcileHarness(t)
	ctx := context.Background()
	res := h.do("POST", "/api/v1/reconciliations", `{"mode": "report"}`, "Authorization", "Bearer "+recAuditorToken)
	if res.status != http.StatusAccepted {
		t.Fatalf("report as auditor: %d %s", res.status, res.body)
	}
	var run tenure.Reconciliation
	if err := json.Unmarshal(res.body, &run); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(run.ID, "rec-") || run.Status != tenure.ReconcileRunning || !slices.Equal(run.Apps, []string{"github", "slack"}) ||
		run.Actor != "audrey" || run.Trigger != "api" || res.header.Get("Location") != "/api/v1/reconciliations/"+run.ID {
		t.Errorf("202 %s, Location %q", res.body, res.header.Get("Location"))
	}
	if started := h.started(); len(started) != 1 || started[0].ID != run.ID || started[0].Mode != tenure.ReconcileReport {
		t.Errorf("the engine was asked %+v", started)
	}

	// One app, enforced, under a key: the same key answers the same run.
	res = h.do("POST", "/api/v1/reconciliations", `{"app": "github", "mode": "enforce"}`, HeaderIdempotencyKey, "nightly-7")
	again := h.do("POST", "/api/v1/reconciliations", `{"app": "github", "mode": "enforce"}`, HeaderIdempotencyKey, "nightly-7")
	if res.status != http.StatusAccepted || again.status != http.StatusAccepted || len(h.runs()) != 2 ||
		!strings.Contains(string(again.body), `"id":"rec-nightly-7"`) || !strings.Contains(string(again.body), `"apps":["github"]`) {
		t.Errorf("enforce under a key: %d %s, again %d %s", res.status, res.body, again.status, again.body)
	}
	wantError(t, h.do("POST", "/api/v1/reconciliations", `{"mode": "report"}`, HeaderIdempotencyKey, "nightly-7"), http.StatusConflict, tenure.ECONFLICT)

	// The engine failing is a 503 that says so; the run stays readable.
	h.engine.set(func(f *fakeEngine) { f.failReconcile = errors.New("temporal down") })
	wantError(t, h.do("POST", "/api/v1/reconciliations", `{"mode": "report"}`), http.StatusServiceUnavailable, tenure.EUNAVAILABLE)
	h.engine.set(func(f *fakeEngine) { f.failReconcile = nil })

	// Findings to read, filter and remediate.
	fs := []tenure.Finding{
		{ID: "fnd_a", App: "github", AccountID: "1", UserName: "t1@example.com", ExternalID: "T1", EmployeeID: "T1", Kind: tenure.FindingOrphan, Remediation: tenure.RemediateDisable},
		{ID: "fnd_b", App: "github", AccountID: "2", UserName: "eve@example.com", Kind: tenure.FindingOrphan, Remediation: tenure.RemediateReport},
		{ID: "fnd_c", App: "slack", EmployeeID: "E2", Kind: tenure.FindingMissing, Remediation: tenure.RemediateResync},
	}
	for i := range fs {
		fs[i].ReconciliationID, fs[i].Status, fs[i].Detail = run.ID, tenure.FindingOpen, "d"
	}
	if err := h.store.AddFindings(ctx, fs); err != nil {
		t.Fatal(err)
	}
	var detail reconciliationDetail
	res = h.do("GET", "/api/v1/reconciliations/"+run.ID+"?kind=orphan&app=github", "", "Authorization", "Bearer "+recAuditorToken)
	if err := json.Unmarshal(res.body, &detail); err != nil || res.status != http.StatusOK {
		t.Fatalf("GET: %d %s", res.status, res.body)
	}
	if detail.ID != run.ID || detail.Total != 2 || len(detail.Findings) != 2 || detail.Findings[1].UserName != "eve@example.com" || detail.Findings[1].EmployeeID != "" {
		t.Errorf("GET with filters: %s", res.body)
	}
	if strings.Contains(string(res.body), "retry_key") || strings.Contains(string(res.body), `"employee_id":""`) {
		t.Errorf("GET shows what it should not: %s", res.body)
	}
	e := wantError(t, h.do("GET", "/api/v1/reconciliations/"+run.ID+"?kind=bogus&status=done&limit=0", ""), http.StatusBadRequest, tenure.EINVALID)
	if len(e.Fields) != 3 {
		t.Errorf("fields %+v, want limit, kind and status", e.Fields)
	}
	wantError(t, h.do("GET", "/api/v1/reconciliations/rec-nope", ""), http.StatusNotFound, tenure.ENOTFOUND)

	var list reconciliationList
	res = h.do("GET", "/api/v1/reconciliations?app=github", "")
	if err := json.Unmarshal(res.body, &list); err != nil || len(list.Reconciliations) != 2 || list.Latest == nil {
		t.Errorf("list: %d %s", res.status, res.body)
	}

	// Remediating: only what changes an app, only once, only by an admin.
	path := "/api/v1/reconciliations/" + run.ID + "/findings/"
	wantError(t, h.do("POST", path+"fnd_a/remediate", "", "Authorization", "Bearer "+recAuditorToken), http.StatusForbidden, tenure.EFORBIDDEN)
	wantError(t, h.do("POST", path+"fnd_b/remediate", ""), http.StatusConflict, tenure.ECONFLICT)
	wantError(t, h.do("POST", path+"fnd_x/remediate", ""), http.StatusNotFound, tenure.ENOTFOUND)
	wantError(t, h.do("POST", "/api/v1/reconciliations/rec-nightly-7/findings/fnd_a/remediate", ""), http.StatusNotFound, tenure.ENOTFOUND)
	res = h.do("POST", path+"fnd_a/remediate", "")
	if res.status != http.StatusAccepted || !strings.Contains(string(res.body), `"workflow_id":"remediate-fnd_a"`) {
		t.Errorf("remediate: %d %s", res.status, res.body)
	}
	if _, asked := h.engine.reconcileCalls(); len(asked) != 1 || asked[0].RequestID != "fnd_a" || asked[0].Actor != "ada" {
		t.Errorf("remediations asked %+v", asked)
	}
	done := fs[0]
	done.Status = tenure.FindingRemediated
	if err := h.store.SetFindingStatus(ctx, done); err != nil {
		t.Fatal(err)
	}
	wantError(t, h.do("POST", path+"fnd_a/remediate", ""), http.StatusConflict, tenure.ECONFLICT)
}

// Without a Reconciler the server reads reconciliations but starts none.
func TestReconciliationNotConfigured(t *testing.T) {
	h := newHarness(t)
	wantError(t, h.do("POST", "/api/v1/reconciliations", `{"mode": "report"}`), http.StatusServiceUnavailable, tenure.EUNAVAILABLE)
	if res := h.do("GET", "/api/v1/reconciliations", ""); res.status != http.StatusOK {
		t.Errorf("list: %d %s", res.status, res.body)
	}
}
