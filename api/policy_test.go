package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/guard"
	"github.com/tenure-io/tenure/integrations"
	"github.com/tenure-io/tenure/integrations/scim"
	"github.com/tenure-io/tenure/policy"
	"github.com/tenure-io/tenure/rollout"
	"github.com/tenure-io/tenure/store"
	"github.com/tenure-io/tenure/store/storetest"
)

// testPolicy gives everyone Slack's general channel; swapPolicy gives them
// Teams' instead, and leaves Slack configured so that its accounts can be
// disabled. Their guard holds what takes access from more than 2 people.
const (
	testPolicy = `version: 1
guard: {people: 2}
apps:
  - {name: slack, connector: scim, sandbox: true}
  - {name: teams, connector: scim, sandbox: true}
rules:
  - {name: everyone, match: {}, grant: [{app: slack, entitlements: [general]}]}
`
	swapPolicy = `version: 1
guard: {people: 2}
apps:
  - {name: slack, connector: scim, sandbox: true}
  - {name: teams, connector: scim, sandbox: true}
rules:
  - {name: everyone, match: {}, grant: [{app: teams, entitlements: [general]}]}
`
)

func parseTestPolicy(file string, data []byte) (*policy.Policy, error) {
	return policy.Parse(file, data, []integrations.Spec{scim.Spec}, func(string) string { return "" })
}

// policyInForce returns a policy service over db, guarded by the real guard
// (with the threshold of the policy in force), with pol in force.
func policyInForce(t testing.TB, db *store.DB, engine *rolloutEngine, pol []byte) *rollout.Service {
	t.Helper()
	if engine == nil {
		engine = &rolloutEngine{}
	}
	g, err := guard.New(guard.Config{Store: db, Engine: &fakeEngine{}, Policy: rollout.NewVersions(db, parseTestPolicy), Signaler: engine})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := rollout.New(rollout.Config{Store: db, Engine: engine, Guard: g, Parse: parseTestPolicy})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := svc.Bootstrap(context.Background(), "test.yaml", pol, "test", "file"); err != nil {
		t.Fatal(err)
	}
	return svc
}

// rolloutEngine records what the policy routes hand to Temporal: rollouts
// started and canceled, and the guard's decisions signalled to them.
type rolloutEngine struct {
	mu        sync.Mutex
	started   []tenure.Rollout
	decisions []string
	canceled  []string
}

func (e *rolloutEngine) StartRollout(_ context.Context, r tenure.Rollout) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.started = append(e.started, r)
	return nil
}

func (e *rolloutEngine) SignalGuardDecision(_ context.Context, workflowID string, d guard.Decision) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.decisions = append(e.decisions, fmt.Sprintf("%s %s %t %s", workflowID, d.HoldID, d.Release, d.Actor))
	return nil
}

func (e *rolloutEngine) CancelRollout(_ context.Context, id, _ string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.canceled = append(e.canceled, id)
	return nil
}

// policyHarness is the API with the policy routes, over a store where three
// people have Slack's general channel, as Tenure recorded it.
type policyHarness struct {
	*harness
	rollouts *rolloutEngine
	svc      *rollout.Service
}

func newPolicyHarness(t *testing.T) *policyHarness {
	t.Helper()
	db := storetest.SQLite(t)
	ctx := context.Background()
	for i := 1; i <= 3; i++ {
		id := fmt.Sprintf("E%d", i)
		must(t, db.UpsertEmployee(ctx, tenure.Employee{Person: tenure.Person{ID: id, Email: id + "@example.com"}, Status: tenure.PersonActive}))
		must(t, db.UpsertAccount(ctx, tenure.Account{EmployeeID: id, App: "slack", AccountID: "s" + id, Status: tenure.AccessActive}))
		must(t, db.UpsertGrant(ctx, tenure.GrantRecord{EmployeeID: id, App: "slack", Entitlement: "general", Status: tenure.AccessActive}))
	}
	// A leaver is no part of any plan.
	must(t, db.UpsertEmployee(ctx, tenure.Employee{Person: tenure.Person{ID: "E9", Email: "e9@example.com"}, Status: tenure.PersonTerminated}))
	h := &policyHarness{harness: &harness{t: t, store: db, engine: &fakeEngine{}, logs: &syncBuffer{}}, rollouts: &rolloutEngine{}}
	h.svc = policyInForce(t, db, h.rollouts, []byte(testPolicy))
	h.cfg = Config{Store: db, Tokens: db, Managers: db, Engine: h.engine, Guard: testGuard(t, db, h.engine, nil), Policies: h.svc,
		Auth: StaticTokens(map[string]tenure.Principal{
			adminToken:    {Name: "ada", Role: tenure.RoleAdmin},
			"auditor-tok": {Name: "audrey", Role: tenure.RoleAuditor},
			"hr-tok":      {Name: "harry", Role: tenure.RoleHR},
		}),
		Logger: newTestLogger(h.logs)}
	srv := httptest.NewServer(mustServer(t, h.cfg))
	t.Cleanup(srv.Close)
	h.url = srv.URL
	return h
}

func (h *policyHarness) yaml(method, path, body string, headers ...string) response {
	h.t.Helper()
	return h.do(method, path, body, append([]string{"Content-Type", "application/yaml"}, headers...)...)
}

func TestPolicyPlanComparesWithWhatTenureRecorded(t *testing.T) {
	h := newPolicyHarness(t)
	res := h.yaml("POST", "/api/v1/policy/plan", swapPolicy)
	if res.status != http.StatusOK {
		t.Fatalf("plan: %d %s", res.status, res.body)
	}
	var plan rollout.Plan
	must(t, json.Unmarshal(res.body, &plan))
	s := plan.Summary
	if s.People != 3 || s.Gain != 3 || s.Lose != 3 || s.Unchanged != 0 {
		t.Fatalf("summary = %+v, want 3 people, each gaining and losing", s)
	}
	if s.ByApp["teams"] != (rollout.AppCounts{Gain: 3}) || s.ByApp["slack"] != (rollout.AppCounts{Lose: 3}) {
		t.Fatalf("by app = %+v", s.ByApp)
	}
	// Three people would lose access: more than the guard: block's 2.
	if !plan.Guard.Held || !strings.Contains(plan.Guard.Reason, "would disable or revoke access for 3 people within 1h") ||
		plan.ChangesTotal != 12 || len(plan.Changes) != 12 {
		t.Fatalf("guard %+v, %d of %d changes", plan.Guard, len(plan.Changes), plan.ChangesTotal)
	}
	want := []rollout.Change{
		{EmployeeID: "E1", App: "slack", Action: rollout.ActionDisable},
		{EmployeeID: "E1", App: "slack", Entitlement: "general", Action: rollout.ActionRevoke},
		{EmployeeID: "E1", App: "teams", Action: rollout.ActionCreate},
		{EmployeeID: "E1", App: "teams", Entitlement: "general", Action: rollout.ActionGrant},
	}
	if got := fmt.Sprint(plan.Changes[:4]); got != fmt.Sprint(want) {
		t.Fatalf("E1's changes = %s, want %s", got, fmt.Sprint(want))
	}
	// The version in force compares with what was recorded, not with itself:
	// nobody's access changes.
	res = h.yaml("POST", "/api/v1/policy/plan", testPolicy, "Authorization", "Bearer auditor-tok")
	must(t, json.Unmarshal(res.body, &plan))
	if res.status != http.StatusOK || plan.Summary.Unchanged != 3 || len(plan.Changes) != 0 {
		t.Fatalf("plan of the version in force: %d %s", res.status, res.body)
	}
	// A rename is a revoke of the old entitlement and a grant of the new.
	renamed := strings.Replace(testPolicy, "[general]", "[all-hands]", 1)
	res = h.yaml("POST", "/api/v1/policy/plan", renamed)
	must(t, json.Unmarshal(res.body, &plan))
	if plan.Summary.Gain != 3 || plan.Summary.Lose != 3 || plan.ChangesTotal != 6 ||
		plan.Changes[0] != (rollout.Change{EmployeeID: "E1", App: "slack", Entitlement: "all-hands", Action: rollout.ActionGrant}) ||
		plan.Changes[1] != (rollout.Change{EmployeeID: "E1", App: "slack", Entitlement: "general", Action: rollout.ActionRevoke}) {
		t.Fatalf("rename plan: %s", res.body)
	}
	wantError(t, h.yaml("POST", "/api/v1/policy/plan", swapPolicy, "Authorization", "Bearer hr-tok"), http.StatusForbidden, tenure.EFORBIDDEN)
}

func TestAnInvalidPolicyIsRefusedWithItsLineAndDeploysNothing(t *testing.T) {
	h := newPolicyHarness(t)
	broken := strings.Replace(swapPolicy, "app: teams", "app: temas", 1)
	e := wantError(t, h.yaml("PUT", "/api/v1/policy", broken), http.StatusBadRequest, tenure.EINVALID)
	if len(e.Fields) != 1 || e.Fields[0].Field != "line 7" || !strings.Contains(e.Fields[0].Problem, `unknown app "temas"`) ||
		!strings.HasPrefix(e.Message, "policy.yaml:7: ") {
		t.Fatalf("error = %+v", e)
	}
	// Not YAML at all, and not sent as YAML.
	wantError(t, h.yaml("PUT", "/api/v1/policy", "version: [1"), http.StatusBadRequest, tenure.EINVALID)
	e = wantError(t, h.do("PUT", "/api/v1/policy", `{"version":1}`), http.StatusBadRequest, tenure.EINVALID)
	if e.Fields[0].Field != "Content-Type" {
		t.Fatalf("JSON body: %+v", e)
	}
	// Dropping an app that people still have accounts in is refused.
	dropped := strings.Replace(swapPolicy, "  - {name: slack, connector: scim, sandbox: true}\n", "", 1)
	e = wantError(t, h.yaml("PUT", "/api/v1/policy", dropped), http.StatusBadRequest, tenure.EINVALID)
	if !strings.Contains(e.Message, "slack (3 people)") {
		t.Fatalf("dropped app: %+v", e)
	}
	if len(h.rollouts.started) != 0 {
		t.Fatalf("started %d rollouts", len(h.rollouts.started))
	}
	rs, err := h.svc.Rollouts(context.Background(), 10)
	must(t, err)
	if len(rs) != 1 {
		t.Fatalf("%d rollouts stored, want only the first version's", len(rs))
	}
}

func TestDeployStartsARolloutAndTheGuardCanHoldIt(t *testing.T) {
	h := newPolicyHarness(t)
	// Plan and deploy both ask the guard: three people would lose Slack.
	var plan rollout.Plan
	must(t, json.Unmarshal(h.yaml("POST", "/api/v1/policy/plan", swapPolicy).body, &plan))
	if !plan.Guard.Held {
		t.Fatalf("plan's guard = %+v", plan.Guard)
	}
	wantError(t, h.yaml("PUT", "/api/v1/policy", swapPolicy, "Authorization", "Bearer auditor-tok"), http.StatusForbidden, tenure.EFORBIDDEN)
	res := h.yaml("PUT", "/api/v1/policy", swapPolicy)
	if res.status != http.StatusAccepted {
		t.Fatalf("deploy: %d %s", res.status, res.body)
	}
	var d rollout.Deployment
	must(t, json.Unmarshal(res.body, &d))
	if d.Status != tenure.RolloutHeld || d.Version != plan.Version || d.Summary.Lose != 3 || res.header.Get("Location") != "/api/v1/rollouts/"+d.RolloutID ||
		!strings.Contains(d.Reason, "policy "+d.RolloutID+" would disable or revoke access for 3 people") {
		t.Fatalf("deployment = %+v, location %q", d, res.header.Get("Location"))
	}
	var r tenure.Rollout
	must(t, json.Unmarshal(h.do("GET", "/api/v1/rollouts/"+d.RolloutID, "").body, &r))
	if r.Status != tenure.RolloutHeld || r.Total != 3 || r.ByApp["teams"].Gain != 3 || r.HoldID == "" || r.Reason != d.Reason {
		t.Fatalf("rollout = %+v", r)
	}
	if len(h.rollouts.started) != 1 || h.rollouts.started[0].HoldID != r.HoldID {
		t.Fatalf("started = %+v", h.rollouts.started)
	}
	// The hold is the guard's own, on the rollout's workflow.
	hold, err := h.store.(*store.DB).GetHold(context.Background(), r.HoldID)
	must(t, err)
	if hold.Status != tenure.HoldOpen || hold.WorkflowID != tenure.RolloutWorkflowID(d.RolloutID) || hold.People != 3 {
		t.Fatalf("hold = %+v", hold)
	}
	// Held: the version is stored but not in force.
	var active activePolicy
	must(t, json.Unmarshal(h.do("GET", "/api/v1/policy", "", "Authorization", "Bearer auditor-tok").body, &active))
	if active.Version == d.Version || active.YAML != testPolicy || active.ActivatedAt == nil {
		t.Fatalf("policy in force = %+v", active)
	}
	// Confirming releases the hold, which tells the rollout's workflow.
	res = h.do("POST", "/api/v1/rollouts/"+d.RolloutID+"/confirm", "")
	if res.status != http.StatusAccepted || len(h.rollouts.decisions) != 1 ||
		h.rollouts.decisions[0] != tenure.RolloutWorkflowID(d.RolloutID)+" "+r.HoldID+" true ada" {
		t.Fatalf("confirm: %d %s, decisions %v", res.status, res.body, h.rollouts.decisions)
	}
	if hold, _ = h.store.(*store.DB).GetHold(context.Background(), r.HoldID); hold.Status != tenure.HoldReleased || hold.DecidedBy != "ada" {
		t.Fatalf("hold after the confirm = %+v", hold)
	}
	for _, action := range []string{"policy.confirmed", "guard.released", "policy.deployed"} {
		audit, err := h.store.ListAudit(context.Background(), tenure.AuditFilter{Action: action})
		must(t, err)
		if len(audit) != 1 || audit[0].Actor != "ada" {
			t.Fatalf("%s audit = %+v", action, audit)
		}
	}

	// Its workflow puts the version in force and runs it, as
	// ActivateRollout records.
	first := d
	must(t, h.store.(*store.DB).ActivatePolicyVersion(context.Background(), "rollout/"+first.RolloutID, first.Version, "ada", time.Time{}))
	if _, err := h.store.(*store.DB).SetRolloutStatus(context.Background(), first.RolloutID, tenure.RolloutRunning, "", time.Time{}); err != nil {
		t.Fatal(err)
	}

	// Another deploy that takes Slack from everyone is held too. It
	// supersedes the first, which still runs: that one stops, and confirming
	// it is a conflict that says why.
	one := strings.Replace(testPolicy, "match: {}", "match: {department: Nobody}", 1)
	must(t, json.Unmarshal(h.yaml("PUT", "/api/v1/policy", one).body, &d))
	if d.Status != tenure.RolloutHeld || len(d.Superseded) != 1 || d.Superseded[0] != first.RolloutID ||
		len(h.rollouts.canceled) != 1 || h.rollouts.canceled[0] != first.RolloutID {
		t.Fatalf("second deploy = %+v, canceled %v", d, h.rollouts.canceled)
	}
	var old tenure.Rollout
	must(t, json.Unmarshal(h.do("GET", "/api/v1/rollouts/"+first.RolloutID, "").body, &old))
	superseded := "superseded by rollout " + d.RolloutID + " (version " + d.Version[:12] + ")"
	if old.Status != tenure.RolloutCanceled || old.Note != superseded {
		t.Fatalf("the superseded rollout = %+v", old)
	}
	e := wantError(t, h.do("POST", "/api/v1/rollouts/"+first.RolloutID+"/confirm", ""), http.StatusConflict, tenure.ECONFLICT)
	if !strings.Contains(e.Message, superseded) {
		t.Fatalf("confirming the superseded rollout: %+v", e)
	}
	if audit, _ := h.store.ListAudit(context.Background(), tenure.AuditFilter{Action: "policy.superseded"}); len(audit) != 1 || audit[0].Actor != "ada" {
		t.Fatalf("policy.superseded audit = %+v", audit)
	}
	// Canceling the held one discards its hold, and its workflow is told so.
	must(t, json.Unmarshal(h.do("GET", "/api/v1/rollouts/"+d.RolloutID, "").body, &r))
	res = h.do("POST", "/api/v1/rollouts/"+d.RolloutID+"/cancel", "")
	if res.status != http.StatusAccepted || len(h.rollouts.decisions) != 2 ||
		h.rollouts.decisions[1] != tenure.RolloutWorkflowID(d.RolloutID)+" "+r.HoldID+" false ada" || len(h.rollouts.canceled) != 1 {
		t.Fatalf("cancel of a held rollout: %d %s, decisions %v", res.status, res.body, h.rollouts.decisions)
	}
	// One that only gives runs at once, and canceling it stops its workflow;
	// a canceled rollout can be neither confirmed nor canceled.
	small := strings.Replace(testPolicy, "[general]", "[general, random]", 1)
	must(t, json.Unmarshal(h.yaml("PUT", "/api/v1/policy", small).body, &d))
	if d.Status != tenure.RolloutRunning || d.Summary.Gain != 3 || d.Summary.Lose != 0 {
		t.Fatalf("gain-only deploy = %+v", d)
	}
	res = h.do("POST", "/api/v1/rollouts/"+d.RolloutID+"/cancel", "")
	must(t, json.Unmarshal(res.body, &r))
	if res.status != http.StatusAccepted || r.Status != tenure.RolloutCanceled || r.Note != "canceled by ada" || len(h.rollouts.canceled) != 2 {
		t.Fatalf("cancel: %d %s", res.status, res.body)
	}
	wantError(t, h.do("POST", "/api/v1/rollouts/"+d.RolloutID+"/cancel", ""), http.StatusConflict, tenure.ECONFLICT)
	wantError(t, h.do("POST", "/api/v1/rollouts/"+d.RolloutID+"/confirm", ""), http.StatusConflict, tenure.ECONFLICT)
	wantError(t, h.do("GET", "/api/v1/rollouts/nope", ""), http.StatusNotFound, tenure.ENOTFOUND)
}
