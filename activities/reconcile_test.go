package activities_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/activities"
	"github.com/tenure-io/tenure/guard"
	"github.com/tenure-io/tenure/integrations"
	"github.com/tenure-io/tenure/integrations/scim"
	"github.com/tenure-io/tenure/internal/sandbox"
	"github.com/tenure-io/tenure/policy"
	"github.com/tenure-io/tenure/store"
	"github.com/tenure-io/tenure/store/storetest"
	"github.com/tenure-io/tenure/workflows"
)

const reconcilePolicy = `
version: 1
apps:
  - name: github
    connector: scim
    sandbox: true
    ignore: ["svc-*"]
  - name: slack
    connector: scim
    sandbox: true
    orphans: disable
rules:
  - name: everyone
    match: {}
    grant:
      - app: slack
        entitlements: [general]
  - name: engineering
    match: {department: Engineering}
    grant:
      - app: github
        entitlements: [engineering]
`

// retries is a tenure.Engine whose Retry stands in for the person's
// workflow: it records the request and, as the workflow would once its child
// has read the app back, a completed run.
type retries struct {
	tenure.Engine
	db *store.DB
	mu sync.Mutex
	// asked are employee/app of each retry.
	asked []string
}

func (e *retries) Retry(ctx context.Context, employeeID, app, requestID, actor string) (string, error) {
	e.mu.Lock()
	e.asked = append(e.asked, employeeID+"/"+app)
	e.mu.Unlock()
	now := time.Now().UTC()
	err := e.db.UpsertRun(ctx, tenure.Run{WorkflowID: workflows.ChildWorkflowID(employeeID, "mover", "retry-"+requestID),
		EmployeeID: employeeID, Type: workflows.MoverWorkflowName, Status: tenure.RunCompleted, StartedAt: now, ClosedAt: &now})
	return tenure.WorkflowID(employeeID), err
}

// guardLog is a Guard that holds when told to, and keeps what it was asked.
type guardLog struct {
	hold     bool
	checks   []guard.Request
	previews []guard.Request
}

func (g *guardLog) Preview(_ context.Context, r guard.Request) (guard.Verdict, error) {
	g.previews = append(g.previews, r)
	return guard.Verdict{Held: g.hold, Reason: "would hold"}, nil
}

func (g *guardLog) Check(_ context.Context, r guard.Request) (guard.Verdict, error) {
	g.checks = append(g.checks, r)
	if g.hold {
		return guard.Verdict{Held: true, HoldID: "hold-1", Reason: "5 people in an hour"}, nil
	}
	return guard.Verdict{}, nil
}

// notices is a Notifier that keeps the reconciliation notices.
type notices struct {
	activities.LogNotifier
	got []tenure.ReconcileNotice
}

func (n *notices) ReconcileFindings(_ context.Context, r tenure.ReconcileNotice) error {
	n.got = append(n.got, r)
	return nil
}

// published is a Publisher that keeps the events.
type published struct{ events []tenure.OutboundEvent }

func (p *published) Publish(_ context.Context, evs ...tenure.OutboundEvent) error {
	p.events = append(p.events, evs...)
	return nil
}

type reconcileRig struct {
	sb     *sandbox.Sandbox
	db     *store.DB
	rec    *activities.Reconcile
	env    *testsuite.TestActivityEnvironment
	engine *retries
	guard  *guardLog
	notes  *notices
	events *published
}

func newReconcileRig(t *testing.T) *reconcileRig {
	t.Helper()
	pol, err := policy.Parse("test.yaml", []byte(reconcilePolicy), []integrations.Spec{scim.Spec}, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	sb, err := sandbox.New(sandbox.Options{Apps: pol.SandboxApps(), Token: sandboxToken})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sb.Handler())
	t.Cleanup(func() { srv.Close(); _ = sb.Close() })
	pol = pol.WithSandbox(srv.URL, sandboxToken)
	conns := map[string]integrations.Connector{}
	for _, app := range pol.Apps() {
		c, err := scim.New(app)
		if err != nil {
			t.Fatal(err)
		}
		conns[app.Name] = c
	}
	r := &reconcileRig{sb: sb, db: storetest.SQLite(t), guard: &guardLog{}, notes: &notices{}, events: &published{}}
	r.engine = &retries{db: r.db}
	r.rec = &activities.Reconcile{
		Activities: &activities.Activities{Store: r.db, Policies: activities.Static{Policy: pol, Connectors: conns}, Notifier: r.notes, Publisher: r.events},
		People:     r.db, Engine: r.engine, Guard: r.guard, ResyncWait: 10 * time.Second,
		Batch: 2, // several pages of matches, and of findings written
	}
	var suite testsuite.WorkflowTestSuite
	r.env = suite.NewTestActivityEnvironment()
	r.env.RegisterActivity(r.rec)
	return r
}

func (r *reconcileRig) hire(t *testing.T, id, dept string, st tenure.PersonStatus) {
	t.Helper()
	p := tenure.Person{ID: id, Email: strings.ToLower(id) + "@example.com", GivenName: id, FamilyName: "Test", Department: dept}
	if err := r.db.UpsertEmployee(context.Background(), tenure.Employee{Person: p, Status: st}); err != nil {
		t.Fatal(err)
	}
}

func (r *reconcileRig) seed(t *testing.T, app string, users ...sandbox.User) map[string]string {
	t.Helper()
	ids, err := r.sb.Seed(app, users)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for i, u := range users {
		out[u.UserName] = ids[i]
	}
	return out
}

func account(id string, active bool, groups ...string) sandbox.User {
	return sandbox.User{UserName: strings.ToLower(id) + "@example.com", ExternalID: id, Active: active, Groups: groups}
}

func (r *reconcileRig) exec(t *testing.T, fn, in, out any) {
	t.Helper()
	val, err := r.env.ExecuteActivity(fn, in)
	if err != nil {
		t.Fatalf("activity failed: %v", err)
	}
	if out != nil {
		if err := val.Get(out); err != nil {
			t.Fatal(err)
		}
	}
}

// findings are a run's findings by app and user name (or HR ID, for one
// missing), as kind/remediation/status.
func (r *reconcileRig) findings(t *testing.T, run string) map[string]string {
	t.Helper()
	list, total, err := r.db.ListFindings(context.Background(), tenure.FindingFilter{ReconciliationID: run, Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	if total != len(list) {
		t.Fatalf("%d findings, %d listed", total, len(list))
	}
	out := map[string]string{}
	for _, f := range list {
		who := f.UserName
		if who == "" {
			who = f.EmployeeID
		}
		out[f.App+" "+who] = string(f.Kind) + "/" + string(f.Remediation) + "/" + string(f.Status)
	}
	return out
}

func active(t *testing.T, sb *sandbox.Sandbox, app, userName string) bool {
	t.Helper()
	users, err := sb.Users(app)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range users {
		if u.UserName == userName {
			return u.Active
		}
	}
	t.Fatalf("%s has no user %s", app, userName)
	return false
}

// TestReconcileEnforce reads two sandbox apps with every kind of finding,
// asks the guard, remediates and closes the run, checking the apps' own state.
func TestReconcileEnforce(t *testing.T) {
	r := newReconcileRig(t)
	ctx := context.Background()
	for _, p := range []struct {
		id, dept string
		st       tenure.PersonStatus
	}{
		{"E1", "Engineering", tenure.PersonActive}, {"E2", "Engineering", tenure.PersonActive},
		{"T1", "Engineering", tenure.PersonTerminated}, {"S1", "Sales", tenure.PersonActive},
		{"P1", "Engineering", tenure.PersonPending}, {"L1", "Engineering", tenure.PersonLocked},
	} {
		r.hire(t, p.id, p.dept, p.st)
	}
	gh := r.seed(t, "github",
		account("E1", true, "engineering", "book-club"),
		account("E2", true),
		account("T1", true, "engineering"),
		account("S1", true),
		account("L1", true, "engineering"),
		sandbox.User{UserName: "svc-ci", Active: true},
		sandbox.User{UserName: "eve@example.com", Active: true},
		// Matched by userName: no externalId.
		sandbox.User{UserName: "p1@example.com", Active: false, Groups: []string{"engineering"}},
	)
	slack := r.seed(t, "slack",
		account("E1", true, "general"),
		account("T1", false, "general"),
		account("S1", false, "general"),
		sandbox.User{UserName: "mallory@example.com", Active: true},
		// A reused address: p1's email, another HR ID.
		sandbox.User{UserName: "e2@example.com", ExternalID: "X9", Active: true},
	)

	var apps []string
	r.exec(t, r.rec.Begin, workflows.ReconcileBegin{ID: "rec-1", StartedAt: time.Now(),
		Input: workflows.ReconcileInput{Mode: tenure.ReconcileEnforce, Actor: "admin", Trigger: workflows.TriggerAPI}}, &apps)
	if strings.Join(apps, ",") != "github,slack" {
		t.Fatalf("Begin: apps %v", apps)
	}
	if _, err := r.env.ExecuteActivity(r.rec.Begin, workflows.ReconcileBegin{ID: "rec-x", Input: workflows.ReconcileInput{Apps: []string{"gitlab"}}}); err == nil ||
		!strings.Contains(err.Error(), `no app "gitlab"`) {
		t.Errorf("Begin with an unknown app: %v", err)
	}
	var res workflows.ReconcileAppResult
	r.exec(t, r.rec.Scan, workflows.ReconcileScan{ID: "rec-1", App: "github", Mode: tenure.ReconcileEnforce}, &res)
	want := tenure.ReconcileCounts{Accounts: 8, Matched: 6, Drift: 3, Orphan: 2, Unmanaged: 1}
	if res.Counts != want {
		t.Errorf("github counts %+v, want %+v", res.Counts, want)
	}
	// A retried scan finds the same, once.
	r.exec(t, r.rec.Scan, workflows.ReconcileScan{ID: "rec-1", App: "github", Mode: tenure.ReconcileEnforce}, &res)
	r.exec(t, r.rec.Scan, workflows.ReconcileScan{ID: "rec-1", App: "slack", Mode: tenure.ReconcileEnforce}, &res)
	want = tenure.ReconcileCounts{Accounts: 5, Matched: 3, Missing: 3, Orphan: 2}
	if res.Counts != want {
		t.Errorf("slack counts %+v, want %+v", res.Counts, want)
	}
	wantFindings := map[string]string{
		"github e2@example.com":     "drift/resync/open",
		"github t1@example.com":     "orphan/disable/open",
		"github s1@example.com":     "drift/disable/open",
		"github l1@example.com":     "drift/disable/open",
		"github svc-ci":             "unmanaged/none/open",
		"github eve@example.com":    "orphan/report/open",
		"slack E2":                  "missing/resync/open",
		"slack P1":                  "missing/resync/open",
		"slack s1@example.com":      "missing/resync/open",
		"slack mallory@example.com": "orphan/disable/open",
		"slack e2@example.com":      "orphan/disable/open",
	}
	if got := r.findings(t, "rec-1"); !maps.Equal(got, wantFindings) {
		t.Errorf("findings\n got %v\nwant %v", got, wantFindings)
	}

	// L1 is unlocked before the remediation: its finding no longer holds.
	if err := r.db.SetEmployeeStatus(ctx, "L1", tenure.PersonActive); err != nil {
		t.Fatal(err)
	}
	var verdict *tenure.GuardOutcome
	r.exec(t, r.rec.AskGuard, workflows.ReconcileGuardInput{ID: "rec-1", Actor: "admin", WorkflowID: "rec-1"}, &verdict)
	if verdict == nil || verdict.Held || len(r.guard.checks) != 1 {
		t.Fatalf("guard verdict %+v after %d checks", verdict, len(r.guard.checks))
	}
	people := slices.Sorted(slices.Values(r.guard.checks[0].People))
	wantPeople := []string{"E2", "L1", "S1", "T1", "slack:" + slack["e2@example.com"], "slack:" + slack["mallory@example.com"]}
	slices.Sort(wantPeople)
	if !slices.Equal(people, wantPeople) || r.guard.checks[0].Source != "reconcile" || r.guard.checks[0].Operation != "rec-1" {
		t.Errorf("the guard was asked about %+v, want people %v", r.guard.checks[0], wantPeople)
	}

	var done workflows.ReconcileRemediated
	r.exec(t, r.rec.Remediate, workflows.ReconcileRemediate{ID: "rec-1", Actor: "admin"}, &done)
	if done.Remediated != 8 || done.Failed != 1 || done.Resyncing != 0 {
		t.Errorf("remediated %+v, want 8 remediated and L1's failed", done)
	}
	for app, users := range map[string][]string{"github": {"t1@example.com", "s1@example.com"}, "slack": {"mallory@example.com", "e2@example.com"}} {
		for _, u := range users {
			if active(t, r.sb, app, u) {
				t.Errorf("%s %s is still active", app, u)
			}
		}
	}
	if !active(t, r.sb, "github", "eve@example.com") || !active(t, r.sb, "github", "l1@example.com") || !active(t, r.sb, "github", "svc-ci") {
		t.Error("an account that is only reported, or no longer called for, was disabled")
	}
	asked := slices.Sorted(slices.Values(r.engine.asked))
	if strings.Join(asked, ",") != "E2/github,E2/slack,P1/slack,S1/slack" {
		t.Errorf("resyncs asked of the persons' workflows: %v", asked)
	}
	got := r.findings(t, "rec-1")
	for k, v := range map[string]string{
		"github t1@example.com": "orphan/disable/remediated", "github l1@example.com": "drift/disable/failed",
		"slack P1": "missing/resync/remediated", "github eve@example.com": "orphan/report/open",
		"slack mallory@example.com": "orphan/disable/remediated",
	} {
		if got[k] != v {
			t.Errorf("%s: %s, want %s", k, got[k], v)
		}
	}
	// The terminated person's account is in their read model, verified.
	accts, _ := r.db.ListAccounts(ctx, "T1")
	if len(accts) != 1 || accts[0].Status != tenure.AccessDisabled || accts[0].VerifiedAt == nil || accts[0].AccountID != gh["t1@example.com"] {
		t.Errorf("T1's accounts in the read model: %+v", accts)
	}
	audit, _ := r.db.ListAudit(ctx, tenure.AuditFilter{Limit: 500})
	actions := map[string]int{}
	for _, a := range audit {
		actions[a.Action]++
	}
	if actions["reconcile.remediated"] != 8 || actions["reconcile.failed"] != 1 || actions["account.disabled"] != 4 || actions["reconcile.started"] != 1 {
		t.Errorf("audit actions %v", actions)
	}

	var closed workflows.ReconcileResult
	r.exec(t, r.rec.Finish, workflows.ReconcileFinish{ID: "rec-1", Status: tenure.ReconcileCompleted,
		Apps: []workflows.ReconcileAppResult{{App: "github"}, {App: "slack"}}, Remediation: done, ClosedAt: time.Now()}, &closed)
	run, err := r.db.GetReconciliation(ctx, "rec-1")
	if err != nil {
		t.Fatal(err)
	}
	total := tenure.ReconcileCounts{Accounts: 13, Matched: 9, Missing: 3, Drift: 3, Orphan: 4, Unmanaged: 1}
	if run.Status != tenure.ReconcileCompleted || run.Counts != total || closed.Counts != total || run.Remediated != 8 || run.Failed != 1 || run.ClosedAt == nil {
		t.Errorf("closed run %+v", run)
	}
	if len(r.notes.got) != 1 || r.notes.got[0].Reconciliation.ID != "rec-1" {
		t.Errorf("IT was told %+v", r.notes.got)
	}
	var event *tenure.OutboundEvent
	for i, ev := range r.events.events {
		if ev.Type == tenure.EventReconcileFindings {
			event = &r.events.events[i]
		}
	}
	if event == nil || !strings.Contains(string(event.Data), `"orphan":4`) || strings.Contains(string(event.Data), "@example.com") {
		t.Errorf("reconcile.findings event: %+v", event)
	}
}

// TestReconcileHeldAndOneFinding holds an enforce run's remediations, then
// remediates one finding on its own, as the console's button does.
func TestReconcileHeldAndOneFinding(t *testing.T) {
	r := newReconcileRig(t)
	ctx := context.Background()
	r.hire(t, "T1", "Engineering", tenure.PersonTerminated)
	r.seed(t, "github", account("T1", true, "engineering"))
	r.exec(t, r.rec.Begin, workflows.ReconcileBegin{ID: "rec-2", StartedAt: time.Now(),
		Input: workflows.ReconcileInput{Apps: []string{"github"}, Mode: tenure.ReconcileEnforce, Actor: "admin"}}, nil)
	r.exec(t, r.rec.Scan, workflows.ReconcileScan{ID: "rec-2", App: "github", Mode: tenure.ReconcileEnforce}, nil)

	// A report's guard is a preview, and holds nothing.
	r.guard.hold = true
	var verdict *tenure.GuardOutcome
	r.exec(t, r.rec.AskGuard, workflows.ReconcileGuardInput{ID: "rec-2", Actor: "admin", WorkflowID: "rec-2", Preview: true}, &verdict)
	if run, _ := r.db.GetReconciliation(ctx, "rec-2"); run.Status != tenure.ReconcileRunning || run.Guard == nil || !run.Guard.Held ||
		len(r.guard.previews) != 1 || len(r.guard.checks) != 0 {
		t.Errorf("after a preview: run %+v, %d previews, %d checks", run, len(r.guard.previews), len(r.guard.checks))
	}
	r.exec(t, r.rec.AskGuard, workflows.ReconcileGuardInput{ID: "rec-2", Actor: "admin", WorkflowID: "rec-2"}, &verdict)
	run, _ := r.db.GetReconciliation(ctx, "rec-2")
	if !verdict.Held || verdict.HoldID != "hold-1" || run.Status != tenure.ReconcileHeld || run.Guard.HoldID != "hold-1" {
		t.Errorf("held: verdict %+v, run %+v", verdict, run)
	}
	if !active(t, r.sb, "github", "t1@example.com") {
		t.Error("a held remediation changed the app")
	}

	// One finding, on its own, through the guard too.
	list, _, _ := r.db.ListFindings(ctx, tenure.FindingFilter{ReconciliationID: "rec-2"})
	if len(list) != 1 {
		t.Fatalf("findings %+v", list)
	}
	f := list[0]
	r.exec(t, r.rec.AskGuard, workflows.ReconcileGuardInput{ID: "remediate-" + f.ID, Finding: f.ID, Actor: "admin", WorkflowID: "remediate-" + f.ID}, &verdict)
	if got, _ := r.db.GetFinding(ctx, f.ID); !verdict.Held || !strings.Contains(got.Error, "held by the guard") {
		t.Errorf("one finding held: %+v, finding %+v", verdict, got)
	}
	r.guard.hold = false
	var done workflows.ReconcileRemediated
	r.exec(t, r.rec.Remediate, workflows.ReconcileRemediate{ID: "remediate-" + f.ID, Finding: f.ID, Actor: "admin"}, &done)
	if done.Remediated != 1 || active(t, r.sb, "github", "t1@example.com") {
		t.Errorf("one finding remediated: %+v", done)
	}
	if got, _ := r.db.GetFinding(ctx, f.ID); got.Status != tenure.FindingRemediated || got.RemediatedBy != "admin" || got.RemediatedAt == nil {
		t.Errorf("the finding after its remediation: %+v", got)
	}
	// Again: nothing left to do.
	r.exec(t, r.rec.Remediate, workflows.ReconcileRemediate{ID: "remediate-" + f.ID, Finding: f.ID, Actor: "admin"}, &done)
	if done.Remediated != 0 || done.Failed != 0 {
		t.Errorf("remediating a remediated finding: %+v", done)
	}
	// A finding that only reports cannot be remediated.
	r.seed(t, "github", sandbox.User{UserName: "eve@example.com", Active: true})
	r.exec(t, r.rec.Scan, workflows.ReconcileScan{ID: "rec-3", App: "github", Mode: tenure.ReconcileReport}, nil)
	list, _, _ = r.db.ListFindings(ctx, tenure.FindingFilter{ReconciliationID: "rec-3", Kind: tenure.FindingOrphan})
	if len(list) != 1 || list[0].Remediation != tenure.RemediateReport {
		t.Fatalf("rec-3 orphans: %+v", list)
	}
	if _, err := r.env.ExecuteActivity(r.rec.Remediate, workflows.ReconcileRemediate{ID: "x", Finding: list[0].ID}); err == nil ||
		!strings.Contains(err.Error(), "is to be report") {
		t.Errorf("remediating a report-only finding: %v", err)
	}
}

// logins is a connector whose accounts are known by a login that only the HR
// record gives, in attribute "login", and whose listing shows no groups: as
// GitHub's is.
type logins struct{ *scim.Client }

func (logins) Username(u integrations.User) string { return u.Attributes["login"] }
func (logins) ListsNoGroups() bool                 { return true }

func (l logins) ListPages(ctx context.Context, cursor string, page func([]integrations.Account, string) bool) error {
	return l.Client.ListPages(ctx, cursor, func(accounts []integrations.Account, next string) bool {
		for i := range accounts {
			accounts[i].Groups = nil
		}
		return page(accounts, next)
	})
}

// TestReconcileByLogin matches accounts known by a login to the people whose
// record gives it, and compares no entitlements where the listing shows none.
func TestReconcileByLogin(t *testing.T) {
	r := newReconcileRig(t)
	ctx := context.Background()
	conns := r.rec.Policies.(activities.Static).Connectors
	gh := conns["github"].(*scim.Client)
	conns["github"] = logins{gh}
	for id, login := range map[string]string{"E1": "octocat", "T1": "leaver", "E3": ""} {
		st := tenure.PersonActive
		if id == "T1" {
			st = tenure.PersonTerminated
		}
		p := tenure.Person{ID: id, Email: strings.ToLower(id) + "@example.com", Department: "Engineering", Attributes: map[string]string{"login": login}}
		if err := r.db.UpsertEmployee(ctx, tenure.Employee{Person: p, Status: st}); err != nil {
			t.Fatal(err)
		}
	}
	r.seed(t, "github",
		sandbox.User{UserName: "octocat", Active: true},
		sandbox.User{UserName: "leaver", Active: true},
		sandbox.User{UserName: "stranger", Active: true},
	)
	var res workflows.ReconcileAppResult
	r.exec(t, r.rec.Scan, workflows.ReconcileScan{ID: "rec-9", App: "github", Mode: tenure.ReconcileReport}, &res)
	want := tenure.ReconcileCounts{Accounts: 3, Matched: 2, Missing: 1, Orphan: 2}
	if res.Counts != want {
		t.Errorf("counts %+v, want %+v", res.Counts, want)
	}
	got := r.findings(t, "rec-9")
	wantFindings := map[string]string{
		"github leaver":   "orphan/disable/open",
		"github stranger": "orphan/report/open",
		"github E3":       "missing/resync/open",
	}
	if !maps.Equal(got, wantFindings) {
		t.Errorf("findings %v, want %v", got, wantFindings)
	}
}

// converging is a tenure.Engine whose Retry does what the person's workflow
// does with a retry of an app where the person has an account: it syncs the
// account's entitlements with what the policy in force gives them, the
// policy's managed entitlements in the request (workflows.AppTarget), through
// the real SyncEntitlements, and then records the run closed.
type converging struct {
	retries
	acts *activities.Activities
}

func (e *converging) Retry(ctx context.Context, employeeID, app, requestID, actor string) (string, error) {
	pol := e.acts.Policies.(activities.Static).Policy
	p, err := e.db.GetEmployee(ctx, employeeID)
	if err != nil {
		return "", err
	}
	accts, err := e.db.ListAccounts(ctx, employeeID)
	if err != nil || len(accts) != 1 {
		return "", fmt.Errorf("%s's accounts: %v, %v", employeeID, accts, err)
	}
	req := workflows.AccountRequest{Key: employeeID + "/retry-" + requestID + "/" + app + "/" + workflows.OpSyncEntitlements,
		EmployeeID: employeeID, App: app, Person: p.Person, AccountID: accts[0].AccountID, Active: true, Managed: pol.Managed(app)}
	for _, g := range pol.Evaluate(p.Person) {
		if g.App == app && g.Entitlement != "" {
			req.Entitlements = append(req.Entitlements, g.Entitlement)
		}
	}
	if _, err := e.acts.SyncEntitlements(ctx, req); err != nil {
		return "", err
	}
	return e.retries.Retry(ctx, employeeID, app, requestID, actor)
}

// TestReconcileEnforceRevokesWhatTenureGrantedAfterARename: the policy
// renamed github's eng-old to engineering. E1 still holds eng-old, which
// Tenure granted and has not revoked: a report finds it as drift, and enforce
// resyncs E1's github through the person's workflow, which revokes it. A
// group nobody granted is neither reported nor touched.
func TestReconcileEnforceRevokesWhatTenureGrantedAfterARename(t *testing.T) {
	r := newReconcileRig(t)
	ctx := context.Background()
	engine := &converging{retries: retries{db: r.db}, acts: r.rec.Activities}
	r.rec.Engine = engine
	r.hire(t, "E1", "Engineering", tenure.PersonActive)
	r.hire(t, "E2", "Engineering", tenure.PersonActive)
	gh := r.seed(t, "github", account("E1", true, "book-club", "eng-old", "engineering"), account("E2", true, "engineering", "lunch"))
	for id, ents := range map[string][]string{"E1": {"", "eng-old", "engineering"}, "E2": {"", "engineering"}} {
		must(t, r.db.UpsertAccount(ctx, tenure.Account{EmployeeID: id, App: "github", AccountID: gh[strings.ToLower(id)+"@example.com"],
			Status: tenure.AccessActive, Entitlements: ents[1:], UpdatedAt: time.Now()}))
		for _, e := range ents {
			must(t, r.db.UpsertGrant(ctx, tenure.GrantRecord{EmployeeID: id, App: "github", Entitlement: e, Status: tenure.AccessActive, UpdatedAt: time.Now()}))
		}
	}

	r.exec(t, r.rec.Begin, workflows.ReconcileBegin{ID: "rec-r", StartedAt: time.Now(),
		Input: workflows.ReconcileInput{Apps: []string{"github"}, Mode: tenure.ReconcileEnforce, Actor: "admin"}}, nil)
	var res workflows.ReconcileAppResult
	r.exec(t, r.rec.Scan, workflows.ReconcileScan{ID: "rec-r", App: "github", Mode: tenure.ReconcileEnforce}, &res)
	if want := (tenure.ReconcileCounts{Accounts: 2, Matched: 2, Drift: 1}); res.Counts != want {
		t.Errorf("counts %+v, want %+v", res.Counts, want)
	}
	list, _, err := r.db.ListFindings(ctx, tenure.FindingFilter{ReconciliationID: "rec-r"})
	must(t, err)
	if len(list) != 1 || list[0].EmployeeID != "E1" || list[0].Kind != tenure.FindingDrift || list[0].Remediation != tenure.RemediateResync ||
		list[0].Detail != "entitlements differ: has eng-old, which Tenure granted E1 and the policy no longer gives" {
		t.Fatalf("findings %+v, want E1's eng-old as drift to resync", list)
	}

	var verdict *tenure.GuardOutcome
	r.exec(t, r.rec.AskGuard, workflows.ReconcileGuardInput{ID: "rec-r", Actor: "admin", WorkflowID: "rec-r"}, &verdict)
	if len(r.guard.checks) != 1 || strings.Join(r.guard.checks[0].People, ",") != "E1" {
		t.Errorf("the guard was asked %+v, want about E1, whose access a resync would revoke", r.guard.checks)
	}
	var done workflows.ReconcileRemediated
	r.exec(t, r.rec.Remediate, workflows.ReconcileRemediate{ID: "rec-r", Actor: "admin"}, &done)
	if done.Remediated != 1 || done.Failed != 0 {
		t.Errorf("remediated %+v", done)
	}
	users, err := r.sb.Users("github")
	must(t, err)
	groups := map[string]string{}
	for _, u := range users {
		groups[u.UserName] = strings.Join(u.Groups, ",")
	}
	if groups["e1@example.com"] != "book-club,engineering" || groups["e2@example.com"] != "engineering,lunch" {
		t.Errorf("github's groups after enforce: %v; want eng-old revoked from E1 and nothing else changed", groups)
	}
	grants, err := r.db.GrantsOf(ctx, "github", []string{"E1"})
	must(t, err)
	for _, g := range grants {
		if g.Entitlement == "eng-old" && g.Status != tenure.AccessDeleted {
			t.Errorf("E1's eng-old grant after the revoke: %+v", g)
		}
	}
	if f, _ := r.db.GetFinding(ctx, list[0].ID); f.Status != tenure.FindingRemediated {
		t.Errorf("the finding after enforce: %+v", f)
	}

	// Revoked, eng-old is no longer Tenure's: nothing more to find.
	r.exec(t, r.rec.Scan, workflows.ReconcileScan{ID: "rec-r2", App: "github", Mode: tenure.ReconcileReport}, &res)
	if want := (tenure.ReconcileCounts{Accounts: 2, Matched: 2}); res.Counts != want {
		t.Errorf("counts after enforce %+v, want %+v", res.Counts, want)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// pageGate fronts the sandbox: it counts the pages of Users each app is
// asked for, by startIndex, and answers one page with 429 once, as an app's
// rate limit does part way through a listing.
type pageGate struct {
	next http.Handler
	// limit is the path and startIndex of the page to refuse once.
	limit string
	mu    sync.Mutex
	asked map[string]int
}

func (g *pageGate) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method == http.MethodGet && strings.HasSuffix(req.URL.Path, "/Users") {
		page := req.URL.Path + "?" + req.URL.Query().Get("startIndex")
		g.mu.Lock()
		g.asked[page]++
		refuse := page == g.limit && g.asked[page] == 1
		g.mu.Unlock()
		if refuse {
			w.Header().Set("Retry-After", "7")
			w.Header().Set("Content-Type", "application/scim+json")
			w.WriteHeader(http.StatusTooManyRequests)
			w.Write([]byte(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"429","detail":"slow down"}`))
			return
		}
	}
	g.next.ServeHTTP(w, req)
}

// limitedScan is a scan of slack, which answers its listing two accounts a
// page through a pageGate, with what an uninterrupted scan of it finds.
type limitedScan struct {
	r       *reconcileRig
	gate    *pageGate
	conns   map[string]integrations.Connector
	want    tenure.ReconcileCounts
	found   map[string]string
	env     *testsuite.TestActivityEnvironment
	in      workflows.ReconcileScan
	beat    heartbeatDetails
	pageKey func(start string) string
}

// heartbeatDetails is a scan's heartbeat as Temporal keeps it: the number of
// its last checkpoint and its counts, nothing of any account or person.
type heartbeatDetails struct {
	Checkpoint int                    `json:"checkpoint"`
	Counts     tenure.ReconcileCounts `json:"counts"`
}

// newLimitedScan seeds slack with eleven accounts (six pages of two), scans
// them once as they are, and sets the gate to refuse the fourth page once.
// The scan matches batch accounts at a time, and saves a checkpoint every
// checkpointEvery.
func newLimitedScan(t *testing.T, batch, checkpointEvery int) *limitedScan {
	t.Helper()
	r := newReconcileRig(t)
	r.rec.Batch, r.rec.CheckpointEvery = batch, checkpointEvery
	var users []sandbox.User
	for i := range 9 {
		id := fmt.Sprintf("E%d", i)
		r.hire(t, id, "Sales", tenure.PersonActive)
		users = append(users, account(id, i != 8, "general")) // E8's is disabled: missing
	}
	r.hire(t, "N1", "Sales", tenure.PersonActive) // no account: missing
	r.hire(t, "T1", "Sales", tenure.PersonTerminated)
	users = append(users, account("T1", true, "general"), sandbox.User{UserName: "mallory@example.com", Active: true})
	users[2].Groups = nil // E2 lacks general: drift
	r.seed(t, "slack", users...)
	must(t, r.sb.SetDialect("slack", sandbox.Dialect{PageSize: 2}))

	l := &limitedScan{r: r, gate: &pageGate{next: r.sb.Handler(), asked: map[string]int{}},
		want:    tenure.ReconcileCounts{Accounts: 11, Matched: 10, Missing: 2, Drift: 1, Orphan: 2},
		in:      workflows.ReconcileScan{ID: "rec-429", App: "slack", Mode: tenure.ReconcileReport},
		pageKey: func(start string) string { return "/sandbox/slack/scim/v2/Users?" + start }}
	srv := httptest.NewServer(l.gate)
	t.Cleanup(srv.Close)
	static := r.rec.Policies.(activities.Static)
	cfg, _ := static.Policy.WithSandbox(srv.URL, sandboxToken).App("slack")
	slack, err := scim.New(cfg)
	must(t, err)
	l.conns = static.Connectors
	l.conns["slack"] = slack

	// The same accounts through the gate, without the 429: what the
	// interrupted scan must find.
	var clean workflows.ReconcileAppResult
	r.exec(t, r.rec.Scan, workflows.ReconcileScan{ID: "rec-clean", App: "slack", Mode: tenure.ReconcileReport}, &clean)
	if clean.Counts != l.want {
		t.Fatalf("the uninterrupted scan counted %+v, want %+v", clean.Counts, l.want)
	}
	l.found = r.findings(t, "rec-clean")

	clear(l.gate.asked)
	l.gate.limit = l.pageKey("7")
	r.exec(t, r.rec.Begin, workflows.ReconcileBegin{ID: l.in.ID, StartedAt: time.Now(),
		Input: workflows.ReconcileInput{Apps: []string{"slack"}, Mode: tenure.ReconcileReport, Actor: "admin"}}, nil)
	var suite testsuite.WorkflowTestSuite
	l.env = suite.NewTestActivityEnvironment()
	l.env.RegisterActivity(r.rec)
	l.env.SetOnActivityHeartbeatListener(func(_ *activity.Info, details converter.EncodedValues) {
		if err := details.Get(&l.beat); err != nil {
			t.Error(err)
		}
	})
	return l
}

// refused runs the scan's first attempt, which the 429 fails.
func (l *limitedScan) refused(t *testing.T) {
	t.Helper()
	_, err := l.env.ExecuteActivity(l.r.rec.Scan, l.in)
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || appErr.Type() != "RateLimited" || appErr.NonRetryable() || appErr.NextRetryDelay() != 7*time.Second {
		t.Fatalf("the scan refused a page: %v, want a RateLimited failure to retry after the app's Retry-After, 7s", err)
	}
}

// retried runs the scan again as Temporal retries it, handing it the last
// heartbeat of the attempt that failed, and checks that it found what the
// uninterrupted scan did, once.
func (l *limitedScan) retried(t *testing.T) {
	t.Helper()
	l.env.SetHeartbeatDetails(l.beat)
	val, err := l.env.ExecuteActivity(l.r.rec.Scan, l.in)
	must(t, err)
	var res workflows.ReconcileAppResult
	must(t, val.Get(&res))
	if res.Counts != l.want {
		t.Errorf("the retried scan counted %+v, want %+v", res.Counts, l.want)
	}
	if got := l.r.findings(t, l.in.ID); !maps.Equal(got, l.found) {
		t.Errorf("the retried scan found\n %v\nwant %v", got, l.found)
	}
	if got, _ := l.r.db.Checkpoints(context.Background(), l.in.ID, "slack"); len(got) != 0 {
		t.Errorf("%d checkpoints left after the scan finished", len(got))
	}
	run, err := l.r.db.GetReconciliation(context.Background(), l.in.ID)
	must(t, err)
	if len(run.ByApp) != 1 || run.ByApp[0].Counts != l.want || run.ByApp[0].Status != tenure.ReconcileCompleted {
		t.Errorf("slack's part of the run: %+v", run.ByApp)
	}
}

// asked checks how often each page was asked for, by startIndex.
func (l *limitedScan) asked(t *testing.T, want map[string]int) {
	t.Helper()
	l.gate.mu.Lock()
	defer l.gate.mu.Unlock()
	for start, n := range want {
		if got := l.gate.asked[l.pageKey(start)]; got != n {
			t.Errorf("the page at startIndex %s was asked for %d times, want %d", start, got, n)
		}
	}
}

// TestReconcileScanResumesAfterARateLimit: the scan fails on the fourth page's
// 429, to be retried after the app's Retry-After, having saved a checkpoint
// (after each batch, and at the page refused); the retry, given the heartbeat
// Temporal gives a retried activity, carries on at the fourth page. No page
// before it is listed again, nothing is found twice, and the counts and
// findings are those of a scan that was never interrupted.
func TestReconcileScanResumesAfterARateLimit(t *testing.T) {
	for _, tc := range []struct {
		name                   string
		batch, every, expected int
	}{
		{"a batch a page, a checkpoint after each", 2, 2, 3},
		{"a batch a page, a checkpoint at the page refused", 2, 500, 1},
		{"the 429 within the first batch, a checkpoint at the page refused", 500, 500, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newLimitedScan(t, tc.batch, tc.every)
			l.refused(t)
			// The three pages of two before the 429: those six accounts'
			// finding (E2's) is saved, and nothing after them.
			if l.beat.Checkpoint != tc.expected || l.beat.Counts.Accounts != 6 {
				t.Errorf("the last heartbeat before the 429: %+v, want checkpoint %d after 6 accounts", l.beat, tc.expected)
			}
			if got, _ := l.r.db.Checkpoints(context.Background(), l.in.ID, "slack"); len(got) != tc.expected || got[len(got)-1].Cursor != "7" {
				t.Errorf("checkpoints before the 429: %+v", got)
			}
			_, saved, err := l.r.db.ListFindings(context.Background(), tenure.FindingFilter{ReconciliationID: l.in.ID})
			must(t, err)
			if saved != 1 {
				t.Errorf("%d findings saved before the 429, want E2's", saved)
			}
			l.retried(t)
			l.asked(t, map[string]int{"1": 1, "3": 1, "5": 1, "7": 2, "9": 1, "11": 1})
		})
	}
}

// listOnly hides a connector's ListPages: its listing starts from the first
// account, as GitHub's, Google's, LDAP's and PostgreSQL's do.
type listOnly struct{ integrations.Connector }

// TestReconcileScanStartsOverWhereTheAppCannotResume: a connector that can
// only list from the start saves no checkpoint while it lists, so the retry
// starts over, and finds what it finds once all the same; and so does a
// retry that finds the app's connector no longer able to start part way.
func TestReconcileScanStartsOverWhereTheAppCannotResume(t *testing.T) {
	l := newLimitedScan(t, 2, 2)
	slack := l.conns["slack"]
	l.conns["slack"] = listOnly{slack}
	l.refused(t)
	if l.beat.Checkpoint != 0 {
		t.Errorf("a listing that cannot resume saved checkpoint %d", l.beat.Checkpoint)
	}
	l.retried(t)
	l.asked(t, map[string]int{"1": 2, "3": 2, "5": 2, "7": 2, "9": 1, "11": 1})

	// Checkpoints saved by a connector that could resume, retried by one
	// that cannot.
	l.conns["slack"] = slack
	l.in.ID = "rec-429b"
	clear(l.gate.asked)
	l.gate.limit = l.pageKey("7")
	l.r.exec(t, l.r.rec.Begin, workflows.ReconcileBegin{ID: l.in.ID, StartedAt: time.Now(),
		Input: workflows.ReconcileInput{Apps: []string{"slack"}, Mode: tenure.ReconcileReport, Actor: "admin"}}, nil)
	l.refused(t)
	if l.beat.Checkpoint != 3 {
		t.Fatalf("checkpoint %d before the 429, want 3", l.beat.Checkpoint)
	}
	l.conns["slack"] = listOnly{slack}
	l.retried(t)
	l.asked(t, map[string]int{"1": 2, "3": 2, "5": 2, "7": 2, "9": 1, "11": 1})
}
