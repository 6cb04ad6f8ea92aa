package activities_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/testsuite"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/activities"
	"github.com/tenure-io/tenure/integrations"
	"github.com/tenure-io/tenure/policy"
	"github.com/tenure-io/tenure/store/storetest"
	"github.com/tenure-io/tenure/worker"
	"github.com/tenure-io/tenure/workflows"
)

// appModel is an app whose abilities a test chooses: what it can do, and what it
// shows when read back. It keeps the state a real app would.
type appModel struct {
	can integrations.Capabilities
	// hideGroups makes memberships unreadable: Get lists them as unverifiable.
	hideGroups bool
	// invite makes enabling an account an invitation the person must accept.
	invite bool

	mu        sync.Mutex
	accounts  map[string]*integrations.Account
	adds      map[string]int // group -> AddToGroup calls
	sessions  int            // RevokeSessions calls
	transfers []string       // "<id> -> <user name>"
}

func newAppModel(can integrations.Capabilities) *appModel {
	return &appModel{can: can, accounts: map[string]*integrations.Account{}, adds: map[string]int{}}
}

func (m *appModel) Capabilities(context.Context) (integrations.Capabilities, error) {
	return m.can, nil
}

func (m *appModel) Lookup(_ context.Context, externalID, userName string) (integrations.Account, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, a := range m.accounts {
		if a.ExternalID == externalID || a.UserName == userName {
			return m.view(a), nil
		}
	}
	return integrations.Account{}, &integrations.Error{Kind: integrations.NotFound, App: "model"}
}

func (m *appModel) Get(_ context.Context, id string) (integrations.Account, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	a, ok := m.accounts[id]
	if !ok {
		return integrations.Account{}, &integrations.Error{Kind: integrations.NotFound, App: "model"}
	}
	return m.view(a), nil
}

// view is the account as the app shows it.
func (m *appModel) view(a *integrations.Account) integrations.Account {
	out := *a
	out.Groups = slices.Clone(a.Groups)
	if m.hideGroups {
		out.Unverifiable, out.Groups = out.Groups, nil
	}
	return out
}

func (m *appModel) Create(_ context.Context, u integrations.User) (integrations.Account, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	a := &integrations.Account{ID: "id-" + u.ExternalID, UserName: u.UserName, ExternalID: u.ExternalID}
	m.setActive(a, u.Active)
	m.accounts[a.ID] = a
	return m.view(a), nil
}

func (m *appModel) setActive(a *integrations.Account, active bool) {
	a.Active, a.Pending = active && !m.invite, active && m.invite
}

func (m *appModel) SetActive(_ context.Context, id string, active bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.setActive(m.accounts[id], active)
	return nil
}

func (m *appModel) Delete(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.accounts, id)
	return nil
}

func (m *appModel) AddToGroup(_ context.Context, id, group string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.adds[group]++
	a := m.accounts[id]
	if !slices.Contains(a.Groups, group) {
		a.Groups = append(a.Groups, group)
	}
	return nil
}

func (m *appModel) RemoveFromGroup(_ context.Context, id, group string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	a := m.accounts[id]
	a.Groups = slices.DeleteFunc(a.Groups, func(g string) bool { return g == group })
	return nil
}

func (m *appModel) RevokeSessions(context.Context, string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sessions++
	return nil
}

func (m *appModel) TransferData(_ context.Context, id, to string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.transfers = append(m.transfers, id+" -> "+to)
	return nil
}

func (m *appModel) List(context.Context, func(integrations.Account) bool) error { return nil }

// modelRig runs the activities against one appModel called "app".
type modelRig struct {
	app  *appModel
	db   tenure.Store
	acts *activities.Activities
	env  *testsuite.TestActivityEnvironment
}

func newModelRig(t *testing.T, app *appModel) *modelRig {
	t.Helper()
	r := &modelRig{app: app, db: storetest.SQLite(t)}
	r.acts = &activities.Activities{Store: r.db, Policies: activities.Static{Connectors: map[string]integrations.Connector{"app": app}},
		Now: func() time.Time { return time.Date(2030, 3, 4, 9, 0, 0, 0, time.UTC) }}
	var suite testsuite.WorkflowTestSuite
	r.env = suite.NewTestActivityEnvironment()
	r.env.RegisterActivity(r.acts)
	return r
}

func (r *modelRig) must(t *testing.T, fn any, req workflows.AccountRequest) workflows.AccountResult {
	t.Helper()
	val, err := r.env.ExecuteActivity(fn, req)
	if err != nil {
		t.Fatalf("activity failed: %v", err)
	}
	var res workflows.AccountResult
	if err := val.Get(&res); err != nil {
		t.Fatal(err)
	}
	return res
}

func (r *modelRig) status(t *testing.T, employeeID string) tenure.AccessStatus {
	t.Helper()
	accounts, err := r.db.ListAccounts(context.Background(), employeeID)
	if err != nil || len(accounts) != 1 {
		t.Fatalf("accounts of %s: %+v, %v", employeeID, accounts, err)
	}
	return accounts[0].Status
}

func modelReq(op string) workflows.AccountRequest {
	p := ada()
	return workflows.AccountRequest{Key: p.ID + "/evt-1/app/" + op, EmployeeID: p.ID, App: "app", Person: p, Active: true}
}

func TestMembershipTheAppCannotShowIsUnverifiableAndAddedOnce(t *testing.T) {
	app := newAppModel(integrations.Capabilities{Groups: true, Disable: true, Delete: true})
	app.hideGroups = true
	r := newModelRig(t, app)
	acct := r.must(t, r.acts.CreateAccount, modelReq(workflows.OpCreateAccount))

	sync := modelReq(workflows.OpSyncEntitlements)
	sync.AccountID, sync.Entitlements, sync.Managed = acct.AccountID, []string{"eng"}, []string{"eng"}
	r.must(t, r.acts.SyncEntitlements, sync)
	r.must(t, r.acts.SyncEntitlements, sync)

	if app.adds["eng"] != 1 {
		t.Errorf("the app was asked %d times to add the member, want once", app.adds["eng"])
	}
	grants, err := r.db.ListGrants(context.Background(), sync.EmployeeID)
	if err != nil || len(grants) != 1 {
		t.Fatalf("grants: %+v, %v", grants, err)
	}
	if grants[0].Status != tenure.AccessUnverifiable {
		t.Errorf("grant is %s, want %s: the app never showed it", grants[0].Status, tenure.AccessUnverifiable)
	}
}

func TestDisableEndsSessionsWhereTheAppCanAndSaysSoWhereItCannot(t *testing.T) {
	for _, tc := range []struct {
		name     string
		can      integrations.Capabilities
		sessions int
		note     string
	}{
		{"can", integrations.Capabilities{Disable: true, RevokeSessions: true}, 1, "sessions ended"},
		{"cannot", integrations.Capabilities{Disable: true}, 0, "this app cannot end sessions"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			app := newAppModel(tc.can)
			r := newModelRig(t, app)
			r.must(t, r.acts.CreateAccount, modelReq(workflows.OpCreateAccount))
			res := r.must(t, r.acts.DisableAccount, modelReq(workflows.OpDisableAccount))
			if app.sessions != tc.sessions {
				t.Errorf("RevokeSessions called %d times, want %d", app.sessions, tc.sessions)
			}
			if res.Note != tc.note {
				t.Errorf("note %q, want %q", res.Note, tc.note)
			}
			if got := r.status(t, "E100"); got != tenure.AccessDisabled {
				t.Errorf("status %s, want disabled", got)
			}
		})
	}
}

func TestAnInvitationIsPendingUntilAcceptedAndNeverActive(t *testing.T) {
	app := newAppModel(integrations.Capabilities{Groups: true, Delete: true})
	app.invite = true
	r := newModelRig(t, app)
	res := r.must(t, r.acts.CreateAccount, modelReq(workflows.OpCreateAccount))
	if res.Active {
		t.Error("an unaccepted invitation reads as active")
	}
	if got := r.status(t, "E100"); got != tenure.AccessPending {
		t.Errorf("status %s, want pending", got)
	}
	res = r.must(t, r.acts.DisableAccount, modelReq(workflows.OpDisableAccount))
	if got := r.status(t, "E100"); got != tenure.AccessDisabled || res.Note == "" {
		t.Errorf("after disable: status %s, note %q; want disabled, with a note that the app removed the person", got, res.Note)
	}
}

func TestDeleteTransfersDataToTheManagerFirst(t *testing.T) {
	app := newAppModel(integrations.Capabilities{Disable: true, Delete: true, TransferData: true})
	r := newModelRig(t, app)
	ctx := context.Background()
	if err := r.db.UpsertEmployee(ctx, tenure.Employee{Person: tenure.Person{ID: "E001", Email: "Grace@Example.com",
		GivenName: "Grace", FamilyName: "Hopper"}, Status: tenure.PersonActive}); err != nil {
		t.Fatal(err)
	}
	acct := r.must(t, r.acts.CreateAccount, modelReq(workflows.OpCreateAccount))
	res := r.must(t, r.acts.DeleteAccount, modelReq(workflows.OpDeleteAccount))
	if want := []string{acct.AccountID + " -> grace@example.com"}; !slices.Equal(app.transfers, want) {
		t.Errorf("transfers %v, want %v", app.transfers, want)
	}
	if len(app.accounts) != 0 {
		t.Error("the account is still in the app")
	}
	if res.Note != "data transferred to manager E001" {
		t.Errorf("note %q", res.Note)
	}
}

func TestAnAppThatCannotDeleteKeepsTheAccountDisabled(t *testing.T) {
	app := newAppModel(integrations.Capabilities{Disable: true})
	r := newModelRig(t, app)
	acct := r.must(t, r.acts.CreateAccount, modelReq(workflows.OpCreateAccount))
	r.must(t, r.acts.DeleteAccount, modelReq(workflows.OpDeleteAccount))
	got, ok := app.accounts[acct.AccountID]
	if !ok || got.Active {
		t.Fatalf("account %+v (present %t), want kept and disabled", got, ok)
	}
	if s := r.status(t, "E100"); s != tenure.AccessDisabled {
		t.Errorf("status %s, want disabled", s)
	}
}

func TestOutagesAreAnnouncedOncePerOutage(t *testing.T) {
	o := activities.NewOutages()
	t0 := time.Date(2030, 1, 1, 9, 0, 0, 0, time.UTC)
	o.Failing("github", "E1", "HTTP 503", t0)
	o.Failing("github", "E2", "HTTP 503: down", t0.Add(time.Minute))
	if due := o.Due(t0.Add(2*time.Minute), 3*time.Minute); len(due) != 0 {
		t.Fatalf("announced after 2 minutes: %+v", due)
	}
	due := o.Due(t0.Add(4*time.Minute), 3*time.Minute)
	if len(due) != 1 || due[0].App != "github" || due[0].People != 2 || due[0].LastError != "HTTP 503: down" {
		t.Fatalf("due %+v, want github failing for 2 people", due)
	}
	if again := o.Due(t0.Add(10*time.Minute), 3*time.Minute); len(again) != 0 {
		t.Fatalf("announced twice: %+v", again)
	}
	o.Recovered("github", "E1")
	o.Recovered("github", "E2")
	o.Failing("github", "E3", "HTTP 502", t0.Add(20*time.Minute))
	if due := o.Due(t0.Add(24*time.Minute), 3*time.Minute); len(due) != 1 || due[0].People != 1 {
		t.Fatalf("a new outage after recovery: due %+v, want it announced", due)
	}
}

// forgetful is an app that takes every membership and never shows it, though it
// shows memberships on the User: the bug report's endless retry.
type forgetful struct{ *appModel }

func (f forgetful) Get(ctx context.Context, id string) (integrations.Account, error) {
	a, err := f.appModel.Get(ctx, id)
	a.Groups = nil
	return a, err
}

func TestAMembershipTheAppNeverShowsFailsAfterFiveAttempts(t *testing.T) {
	app := forgetful{newAppModel(integrations.Capabilities{Groups: true, Disable: true, Delete: true})}
	db := storetest.SQLite(t)
	acts := &activities.Activities{Store: db, Policies: activities.Static{Connectors: map[string]integrations.Connector{"app": app}}}
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	worker.Register(env, acts)

	p := ada()
	env.ExecuteWorkflow(workflows.JoinerWorkflowName, workflows.AccessInput{
		EmployeeID: p.ID, Key: "evt-1", Person: p, Active: true,
		Grant: []workflows.AppTarget{{App: "app", Connector: "scim", Entitlements: []string{"eng"}, Managed: []string{"eng"}}},
	})
	if !env.IsWorkflowCompleted() {
		t.Fatal("the joiner is still running: it must end")
	}
	var res workflows.Result
	if err := env.GetWorkflowResult(&res); err == nil {
		t.Fatal("the joiner succeeded though the app never showed the membership")
	}
	if app.adds["eng"] != 5 {
		t.Errorf("the step was tried %d times, want 5", app.adds["eng"])
	}
	accounts, err := db.ListAccounts(context.Background(), p.ID)
	if err != nil || len(accounts) != 1 {
		t.Fatalf("accounts: %+v, %v", accounts, err)
	}
	if a := accounts[0]; a.Status != tenure.AccessFailed || !strings.Contains(a.Error, `not in "eng"`) {
		t.Errorf("access %s %q, want failed with what the app showed", a.Status, a.Error)
	}
}

// down is an app in an outage: every call fails with a 503.
type down struct{ *appModel }

func (d down) Lookup(context.Context, string, string) (integrations.Account, error) {
	return integrations.Account{}, &integrations.Error{Kind: integrations.Transient, App: "app", Op: "lookup", Status: 503, Detail: "down for maintenance"}
}

func TestAnOutageIsRiddenOutUntilTheAppsGiveUpAfter(t *testing.T) {
	pol, err := policy.Parse("p.yaml", []byte(`version: 1
apps:
  - name: app
    connector: scim
    sandbox: true
    give_up_after: 1m
rules: []
`), worker.Specs, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	app := down{newAppModel(integrations.Capabilities{Disable: true, Delete: true})}
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	// Each look at the clock finds the outage 20 seconds older.
	var outage time.Duration
	later := func() time.Time { outage += 20 * time.Second; return env.Now().Add(outage) }
	acts := &activities.Activities{Store: storetest.SQLite(t), Policies: activities.Static{Policy: pol,
		Connectors: map[string]integrations.Connector{"app": app}}, Now: later, Outages: activities.NewOutages()}
	worker.Register(env, acts)
	p := ada()
	env.ExecuteWorkflow(workflows.JoinerWorkflowName, workflows.AccessInput{
		EmployeeID: p.ID, Key: "evt-1", Person: p, Active: true,
		Grant: []workflows.AppTarget{{App: "app", Connector: "scim"}},
	})
	if !env.IsWorkflowCompleted() {
		t.Fatal("the joiner is still running")
	}
	err = env.GetWorkflowError()
	if err == nil || !strings.Contains(err.Error(), "gave up after 1m0s") || !strings.Contains(err.Error(), "down for maintenance") {
		t.Fatalf("joiner error %v, want it to give up after the app's give_up_after, in the app's words", err)
	}
	// Meanwhile the outage was tracked, for IT to hear of it once.
	if due := acts.Outages.Due(env.Now().Add(time.Hour), time.Minute); len(due) != 1 || due[0].App != "app" {
		t.Errorf("outages due %+v, want the app", due)
	}
}
