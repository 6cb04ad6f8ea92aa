package activities_test

import (
	"context"
	"errors"
	"maps"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/activities"
	"github.com/tenure-io/tenure/integrations"
	"github.com/tenure-io/tenure/integrations/scim"
	"github.com/tenure-io/tenure/internal/sandbox"
	"github.com/tenure-io/tenure/policy"
	"github.com/tenure-io/tenure/store"
	"github.com/tenure-io/tenure/store/storetest"
	"github.com/tenure-io/tenure/workflows"
)

const sandboxToken = "activities-test-token"

// testPolicy has two sandbox apps. In github, engineering and oncall are managed
// (some rule grants them); any other group there is the app's own business.
const testPolicy = `
version: 1
retention: 48h
approvals:
  it_approver: it-security
apps:
  - name: github
    connector: scim
    sandbox: true
    owner: E9000
  - name: slack
    connector: scim
    sandbox: true
rules:
  - name: everyone
    match: {}
    grant:
      - app: slack
        entitlements: [general]
  - name: engineering
    match:
      department: Engineering
    grant:
      - app: github
        entitlements: [engineering]
  - name: sre
    match:
      department: Engineering
      title: {pattern: "*SRE*"}
    grant:
      - app: github
        entitlements: [oncall]
        approval: manager
`

// rig is one test's world: the sandbox apps over real HTTP, a real store on
// SQLite, the activities wired to both, and a clock the test moves.
type rig struct {
	sb    *sandbox.Sandbox
	db    *store.DB
	pol   *policy.Policy
	acts  *activities.Activities
	env   *testsuite.TestActivityEnvironment
	conns map[string]*scim.Client
	clock time.Time
	// calls are the app calls the activities counted: every test runs its
	// connectors through the counting wrapper.
	calls *callLog
}

// callLog is an activities.Metrics that keeps what it is told.
type callLog struct {
	mu    sync.Mutex
	calls []string // app/operation/outcome
	runs  []tenure.Run
}

func (l *callLog) AppCall(app, operation string, took time.Duration, err error) {
	outcome := "ok"
	if err != nil {
		outcome = integrations.KindOf(err).String()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls = append(l.calls, app+"/"+operation+"/"+outcome)
}

func (l *callLog) RunFinished(r tenure.Run) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.runs = append(l.runs, r)
}

func (l *callLog) reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls = nil
}

func (l *callLog) list() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.calls)
}

func newRig(t *testing.T) *rig {
	t.Helper()
	pol, err := policy.Parse("test.yaml", []byte(testPolicy), []integrations.Spec{scim.Spec}, os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	sb, err := sandbox.New(sandbox.Options{Apps: pol.SandboxApps(), Token: sandboxToken})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sb.Handler())
	t.Cleanup(func() {
		srv.Close()
		_ = sb.Close()
	})
	pol = pol.WithSandbox(srv.URL, sandboxToken)

	r := &rig{
		sb:    sb,
		db:    storetest.SQLite(t),
		pol:   pol,
		conns: map[string]*scim.Client{},
		// The clock starts now, as the server's does: a step's time since it
		// was scheduled decides when it gives up.
		clock: time.Now().UTC().Truncate(time.Second),
	}
	conns := map[string]integrations.Connector{}
	for _, app := range pol.Apps() {
		c, err := scim.New(app)
		if err != nil {
			t.Fatal(err)
		}
		conns[app.Name] = c
		r.conns[app.Name] = c
	}
	r.calls = &callLog{}
	r.acts = &activities.Activities{
		Store: r.db, Policies: activities.Static{Policy: pol, Connectors: conns},
		Now:     func() time.Time { return r.clock },
		Metrics: r.calls,
	}
	var suite testsuite.WorkflowTestSuite
	r.env = suite.NewTestActivityEnvironment()
	r.env.RegisterActivity(r.acts)
	return r
}

// tick moves the clock on, so a second run's writes are told from the first's.
func (r *rig) tick() time.Time {
	r.clock = r.clock.Add(time.Minute)
	return r.clock
}

func (r *rig) run(t *testing.T, fn, req any) (workflows.AccountResult, error) {
	t.Helper()
	val, err := r.env.ExecuteActivity(fn, req)
	if err != nil {
		return workflows.AccountResult{}, err
	}
	var res workflows.AccountResult
	if err := val.Get(&res); err != nil {
		t.Fatalf("decode result: %v", err)
	}
	return res, nil
}

func (r *rig) must(t *testing.T, fn, req any) workflows.AccountResult {
	t.Helper()
	res, err := r.run(t, fn, req)
	if err != nil {
		t.Fatalf("activity failed: %v", err)
	}
	return res
}

func (r *rig) exec(t *testing.T, fn, arg any) {
	t.Helper()
	if _, err := r.env.ExecuteActivity(fn, arg); err != nil {
		t.Fatalf("activity failed: %v", err)
	}
}

func (r *rig) users(t *testing.T, app string) []sandbox.User {
	t.Helper()
	users, err := r.sb.Users(app)
	if err != nil {
		t.Fatal(err)
	}
	return users
}

func (r *rig) user(t *testing.T, app, id string) sandbox.User {
	t.Helper()
	for _, u := range r.users(t, app) {
		if u.ID == id {
			return u
		}
	}
	t.Fatalf("app %s has no user %s", app, id)
	return sandbox.User{}
}

// account returns the read model's row for the person in app.
func (r *rig) account(t *testing.T, employeeID, app string) tenure.Account {
	t.Helper()
	accounts, err := r.db.ListAccounts(context.Background(), employeeID)
	if err != nil {
		t.Fatal(err)
	}
	var found []tenure.Account
	for _, a := range accounts {
		if a.App == app {
			found = append(found, a)
		}
	}
	if len(found) != 1 {
		t.Fatalf("read model has %d accounts for %s in %s, want 1: %+v", len(found), employeeID, app, accounts)
	}
	return found[0]
}

func (r *rig) grants(t *testing.T, employeeID string) map[string]tenure.GrantRecord {
	t.Helper()
	list, err := r.db.ListGrants(context.Background(), employeeID)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]tenure.GrantRecord{}
	for _, g := range list {
		k := tenure.Grant{App: g.App, Entitlement: g.Entitlement}.Key()
		if _, dup := out[k]; dup {
			t.Fatalf("grant %s is in the read model twice", k)
		}
		out[k] = g
	}
	return out
}

// audit returns the person's audit trail keyed by business key, failing on a
// key written twice.
func (r *rig) audit(t *testing.T, employeeID string) map[string]tenure.AuditRecord {
	t.Helper()
	list, err := r.db.ListAudit(context.Background(), tenure.AuditFilter{EmployeeID: employeeID, Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]tenure.AuditRecord{}
	for _, a := range list {
		if _, dup := out[a.Key]; dup {
			t.Fatalf("audit key %s was written twice", a.Key)
		}
		out[a.Key] = a
	}
	return out
}

func (r *rig) faults(t *testing.T, app string, f sandbox.Faults) {
	t.Helper()
	if err := r.sb.SetFaults(app, f); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.sb.SetFaults(app, sandbox.Faults{}) })
}

func ada() tenure.Person {
	return tenure.Person{
		ID: "E100", Email: "Ada.Lovelace@example.com", GivenName: "Ada", FamilyName: "Lovelace",
		ManagerID: "E001", Department: "Engineering", Title: "Senior SRE",
	}
}

func accountReq(p tenure.Person, app, op string) workflows.AccountRequest {
	return workflows.AccountRequest{
		Key:        p.ID + "/evt-1/" + app + "/" + op,
		EmployeeID: p.ID, App: app, Person: p,
	}
}

// provision gives the person an active account in app through CreateAccount.
func (r *rig) provision(t *testing.T, p tenure.Person, app string) workflows.AccountResult {
	t.Helper()
	req := accountReq(p, app, workflows.OpCreateAccount)
	req.Active = true
	return r.must(t, r.acts.CreateAccount, req)
}

func TestCreateAccountTwiceLeavesOneAccount(t *testing.T) {
	r := newRig(t)
	p := ada()
	req := accountReq(p, "github", workflows.OpCreateAccount)
	req.Active = true

	first := r.must(t, r.acts.CreateAccount, req)
	firstAt := r.clock
	r.tick()
	second := r.must(t, r.acts.CreateAccount, req)

	if !first.Found || !first.Active || first.AccountID == "" {
		t.Fatalf("first run = %+v, want an active account", first)
	}
	if second.AccountID != first.AccountID {
		t.Fatalf("second run found account %s, the first made %s", second.AccountID, first.AccountID)
	}
	users := r.users(t, "github")
	if len(users) != 1 {
		t.Fatalf("github has %d users after two runs, want 1: %+v", len(users), users)
	}
	u := users[0]
	if u.ID != first.AccountID || u.ExternalID != p.ID || u.UserName != "ada.lovelace@example.com" || !u.Active {
		t.Fatalf("github user = %+v, want active ada.lovelace@example.com with externalId %s", u, p.ID)
	}
	if u.GivenName != "Ada" || u.FamilyName != "Lovelace" || u.Email != p.Email {
		t.Fatalf("github user's name and email = %q %q %q", u.GivenName, u.FamilyName, u.Email)
	}

	acct := r.account(t, p.ID, "github")
	if acct.AccountID != first.AccountID || acct.Status != tenure.AccessActive {
		t.Fatalf("read model account = %+v, want active %s", acct, first.AccountID)
	}
	if acct.VerifiedAt == nil || !acct.VerifiedAt.Equal(r.clock) {
		t.Fatalf("read model verified_at = %v, want the second run's %v", acct.VerifiedAt, r.clock)
	}

	audit := r.audit(t, p.ID)
	if len(audit) != 1 {
		t.Fatalf("audit has %d records after two runs, want 1: %+v", len(audit), audit)
	}
	rec, ok := audit[req.Key]
	if !ok || rec.Action != "account.created" || rec.App != "github" || rec.Actor != activities.Actor {
		t.Fatalf("audit = %+v, want account.created under %s", audit, req.Key)
	}
	if !rec.At.Equal(firstAt) {
		t.Fatalf("audit record is dated %v, want the first run's %v", rec.At, firstAt)
	}
}

func TestCreateAccountInactiveIsPending(t *testing.T) {
	r := newRig(t)
	p := ada()
	// A hire before the start date gets an account that is not yet usable.
	res := r.must(t, r.acts.CreateAccount, accountReq(p, "github", workflows.OpCreateAccount))
	if res.Active {
		t.Fatalf("result = %+v, want an inactive account", res)
	}
	if u := r.user(t, "github", res.AccountID); u.Active {
		t.Fatalf("github user %s is active, want inactive until the start date", u.ID)
	}
	if acct := r.account(t, p.ID, "github"); acct.Status != tenure.AccessPending {
		t.Fatalf("read model status = %s, want pending", acct.Status)
	}
}

func TestCreateAccountAdoptsAnExistingAccount(t *testing.T) {
	for _, tc := range []struct {
		name       string
		externalID string // the existing account's externalId
		userName   string
		active     bool
	}{
		// IT made the account by hand with the HR ID, but left it disabled.
		{name: "by HR ID", externalID: "E100", userName: "a.lovelace@example.com", active: false},
		// Someone made it without the HR ID: the work email is the only link.
		{name: "by email", userName: "ada.lovelace@example.com", active: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t)
			p := ada()
			existing, err := r.conns["github"].Create(context.Background(), integrations.User{
				ExternalID: tc.externalID, UserName: tc.userName, Email: tc.userName,
				GivenName: "Ada", FamilyName: "Lovelace", Active: tc.active,
			})
			if err != nil {
				t.Fatal(err)
			}
			req := accountReq(p, "github", workflows.OpCreateAccount)
			req.Active = true
			res := r.must(t, r.acts.CreateAccount, req)

			if res.AccountID != existing.ID {
				t.Fatalf("CreateAccount used account %s, want the existing %s", res.AccountID, existing.ID)
			}
			if res.WasActive != tc.active {
				t.Fatalf("WasActive = %t, want %t", res.WasActive, tc.active)
			}
			users := r.users(t, "github")
			if len(users) != 1 {
				t.Fatalf("github has %d users, want the one that existed: %+v", len(users), users)
			}
			if !users[0].Active || users[0].UserName != tc.userName {
				t.Fatalf("github user = %+v, want the existing %s, now active", users[0], tc.userName)
			}
			if acct := r.account(t, p.ID, "github"); acct.AccountID != existing.ID || acct.Status != tenure.AccessActive {
				t.Fatalf("read model account = %+v, want active %s", acct, existing.ID)
			}
			if rec := r.audit(t, p.ID)[req.Key]; rec.Action != "account.adopted" {
				t.Fatalf("audit action = %q, want account.adopted", rec.Action)
			}
		})
	}
}

func TestSyncEntitlementsTwice(t *testing.T) {
	r := newRig(t)
	p := ada()
	created := r.provision(t, p, "github")
	ctx := context.Background()
	// oncall is managed but no longer wanted; book-club is the app's own group,
	// which Tenure must leave alone.
	for _, g := range []string{"oncall", "book-club"} {
		if err := r.conns["github"].AddToGroup(ctx, created.AccountID, g); err != nil {
			t.Fatal(err)
		}
	}

	req := accountReq(p, "github", workflows.OpSyncEntitlements)
	req.AccountID = created.AccountID
	req.Entitlements = []string{"engineering"}
	req.Managed = r.pol.Managed("github")
	if !slices.Equal(req.Managed, []string{"engineering", "oncall"}) {
		t.Fatalf("policy manages %v in github, want [engineering oncall]", req.Managed)
	}

	want := []string{"book-club", "engineering"}
	for run := 1; run <= 2; run++ {
		res := r.must(t, r.acts.SyncEntitlements, req)
		if !slices.Equal(res.Groups, want) {
			t.Fatalf("run %d: result groups = %v, want %v", run, res.Groups, want)
		}
		if got := r.user(t, "github", created.AccountID).Groups; !slices.Equal(got, want) {
			t.Fatalf("run %d: github says the user is in %v, want %v", run, got, want)
		}
		r.tick()
	}

	acct := r.account(t, p.ID, "github")
	if !slices.Equal(acct.Entitlements, want) || acct.Status != tenure.AccessActive {
		t.Fatalf("read model account = %+v, want active with %v", acct, want)
	}
	grants := r.grants(t, p.ID)
	if g := grants["github/engineering"]; g.Status != tenure.AccessActive {
		t.Fatalf("grant github/engineering = %+v, want active", g)
	}
	if g := grants["github/oncall"]; g.Status != tenure.AccessDeleted {
		t.Fatalf("grant github/oncall = %+v, want deleted", g)
	}
	if _, ok := grants["github/book-club"]; ok {
		t.Fatalf("an unmanaged group reached the grants: %+v", grants)
	}

	audit := r.audit(t, p.ID)
	if rec := audit[req.Key+"/engineering"]; rec.Action != "access.granted" {
		t.Fatalf("audit for engineering = %+v, want access.granted", rec)
	}
	if rec := audit[req.Key+"/oncall"]; rec.Action != "access.revoked" {
		t.Fatalf("audit for oncall = %+v, want access.revoked", rec)
	}
	// The account's creation, and one record per changed group: the second run
	// changed nothing and wrote nothing.
	if len(audit) != 3 {
		t.Fatalf("audit has %d records, want 3: %+v", len(audit), audit)
	}
}

func TestDisableAccountTwice(t *testing.T) {
	r := newRig(t)
	p := ada()
	created := r.provision(t, p, "github")
	req := accountReq(p, "github", workflows.OpDisableAccount)
	req.Key = p.ID + "/evt-2/github/" + workflows.OpDisableAccount
	req.AccountID = created.AccountID

	first := r.must(t, r.acts.DisableAccount, req)
	if !first.Found || first.Active || !first.WasActive {
		t.Fatalf("first run = %+v, want found, was active, now inactive", first)
	}
	r.tick()
	second := r.must(t, r.acts.DisableAccount, req)
	if !second.Found || second.Active || second.WasActive {
		t.Fatalf("second run = %+v, want found, already inactive", second)
	}
	if !second.VerifiedAt.Equal(r.clock) {
		t.Fatalf("second run verified at %v, want %v", second.VerifiedAt, r.clock)
	}

	users := r.users(t, "github")
	if len(users) != 1 || users[0].Active {
		t.Fatalf("github users = %+v, want one inactive user", users)
	}
	acct := r.account(t, p.ID, "github")
	if acct.Status != tenure.AccessDisabled || acct.AccountID != created.AccountID {
		t.Fatalf("read model account = %+v, want disabled %s", acct, created.AccountID)
	}
	if acct.VerifiedAt == nil || !acct.VerifiedAt.Equal(r.clock) {
		t.Fatalf("read model verified_at = %v, want %v", acct.VerifiedAt, r.clock)
	}
	audit := r.audit(t, p.ID)
	if rec := audit[req.Key]; rec.Action != "account.disabled" || !strings.Contains(rec.Detail, created.AccountID) {
		t.Fatalf("audit = %+v, want account.disabled naming %s", rec, created.AccountID)
	}
	if len(audit) != 2 {
		t.Fatalf("audit has %d records, want created and disabled once each: %+v", len(audit), audit)
	}
}

func TestDisableWithoutAccountIDFindsTheAccount(t *testing.T) {
	r := newRig(t)
	p := ada()
	created := r.provision(t, p, "github")
	// A lock before the read model knows the account ID still finds it by HR ID.
	res := r.must(t, r.acts.DisableAccount, accountReq(p, "github", workflows.OpDisableAccount))
	if !res.Found || res.AccountID != created.AccountID || res.Active {
		t.Fatalf("result = %+v, want %s found and disabled", res, created.AccountID)
	}
	if r.user(t, "github", created.AccountID).Active {
		t.Fatal("github user is still active")
	}
}

func TestEnableAccount(t *testing.T) {
	r := newRig(t)
	p := ada()
	created := r.provision(t, p, "github")
	lock := accountReq(p, "github", workflows.OpDisableAccount)
	lock.Key, lock.AccountID = p.ID+"/lock-1/github/"+workflows.OpDisableAccount, created.AccountID
	r.must(t, r.acts.DisableAccount, lock)
	r.tick()

	unlock := accountReq(p, "github", workflows.OpEnableAccount)
	unlock.Key, unlock.AccountID = p.ID+"/unlock-1/github/"+workflows.OpEnableAccount, created.AccountID
	for run := 1; run <= 2; run++ {
		res := r.must(t, r.acts.EnableAccount, unlock)
		if !res.Found || !res.Active || res.WasActive != (run == 2) {
			t.Fatalf("run %d = %+v, want active, was active only on the second run", run, res)
		}
	}
	if !r.user(t, "github", created.AccountID).Active {
		t.Fatal("github user is still inactive after EnableAccount")
	}
	if acct := r.account(t, p.ID, "github"); acct.Status != tenure.AccessActive {
		t.Fatalf("read model status = %s, want active", acct.Status)
	}
	audit := r.audit(t, p.ID)
	if rec := audit[unlock.Key]; rec.Action != "account.enabled" {
		t.Fatalf("audit = %+v, want account.enabled", rec)
	}
	if len(audit) != 3 {
		t.Fatalf("audit has %d records, want created, disabled and enabled: %+v", len(audit), audit)
	}
}

func TestDeleteAccountTwice(t *testing.T) {
	r := newRig(t)
	p := ada()
	created := r.provision(t, p, "github")
	// The other person in the app must survive the leaver's deletion.
	other, err := r.conns["github"].Create(context.Background(), integrations.User{
		ExternalID: "E200", UserName: "grace@example.com", Active: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	req := accountReq(p, "github", workflows.OpDeleteAccount)
	req.Key = p.ID + "/evt-2/github/" + workflows.OpDeleteAccount
	req.AccountID = created.AccountID

	first := r.must(t, r.acts.DeleteAccount, req)
	if !first.Found || first.AccountID != created.AccountID {
		t.Fatalf("first run = %+v, want %s found and deleted", first, created.AccountID)
	}
	r.tick()
	second := r.must(t, r.acts.DeleteAccount, req)
	if second.Found {
		t.Fatalf("second run = %+v, want nothing left to delete", second)
	}

	users := r.users(t, "github")
	if len(users) != 1 || users[0].ID != other.ID {
		t.Fatalf("github users = %+v, want only %s left", users, other.ID)
	}
	acct := r.account(t, p.ID, "github")
	if acct.Status != tenure.AccessDeleted || acct.VerifiedAt == nil {
		t.Fatalf("read model account = %+v, want deleted and verified", acct)
	}
	audit := r.audit(t, p.ID)
	if rec := audit[req.Key]; rec.Action != "account.deleted" {
		t.Fatalf("audit = %+v, want account.deleted", rec)
	}
	if len(audit) != 2 {
		t.Fatalf("audit has %d records, want created and deleted once each: %+v", len(audit), audit)
	}
}

func TestDisableAccountForSomeoneWithNoAccount(t *testing.T) {
	r := newRig(t)
	p := ada()
	req := accountReq(p, "slack", workflows.OpDisableAccount)
	res, err := r.run(t, r.acts.DisableAccount, req)
	if err != nil {
		t.Fatalf("DisableAccount with no account failed: %v", err)
	}
	if res.Found || res.AccountID != "" || res.App != "slack" {
		t.Fatalf("result = %+v, want slack reported as no account found", res)
	}
	if users := r.users(t, "slack"); len(users) != 0 {
		t.Fatalf("slack has users %+v, want none", users)
	}
	// Never provisioned there: no row and no audit record to invent.
	if accounts, _ := r.db.ListAccounts(context.Background(), p.ID); len(accounts) != 0 {
		t.Fatalf("read model has accounts %+v, want none", accounts)
	}
}

func TestUnknownAppIsNotRetried(t *testing.T) {
	r := newRig(t)
	_, err := r.run(t, r.acts.CreateAccount, accountReq(ada(), "jira", workflows.OpCreateAccount))
	appErr := applicationError(t, err)
	if !appErr.NonRetryable() || !strings.Contains(appErr.Error(), `"jira"`) {
		t.Fatalf("error = %v (non-retryable %t), want a non-retryable error naming jira", appErr, appErr.NonRetryable())
	}
}

func applicationError(t *testing.T, err error) *temporal.ApplicationError {
	t.Helper()
	if err == nil {
		t.Fatal("the activity succeeded, want an error")
	}
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) {
		t.Fatalf("error %v (%T) is not a *temporal.ApplicationError", err, err)
	}
	return appErr
}

func TestRateLimitIsRetriedAfterTheAppsDelay(t *testing.T) {
	r := newRig(t)
	p := ada()
	r.faults(t, "github", sandbox.Faults{RateLimit: 1, RetryAfter: 3 * time.Second})
	req := accountReq(p, "github", workflows.OpCreateAccount)
	req.Active = true

	_, err := r.run(t, r.acts.CreateAccount, req)
	appErr := applicationError(t, err)
	if appErr.NonRetryable() {
		t.Fatalf("rate limit is non-retryable: %v", appErr)
	}
	if d := appErr.NextRetryDelay(); d != 3*time.Second {
		t.Fatalf("NextRetryDelay = %v, want the 3s the app asked for", d)
	}
	if len(r.users(t, "github")) != 0 {
		t.Fatal("a rate-limited call created an account")
	}
	// The retry, once the app lets us in again, does the job.
	if res := r.must(t, r.acts.CreateAccount, req); !res.Active {
		t.Fatalf("retry = %+v, want an active account", res)
	}
	if n := len(r.users(t, "github")); n != 1 {
		t.Fatalf("github has %d users after the retry, want 1", n)
	}
}

// Every call an activity makes into an app is counted, with its connector
// operation and how it ended; a finished run is counted once it is recorded.
func TestAppCallsAreCounted(t *testing.T) {
	r := newRig(t)
	p := ada()
	r.faults(t, "github", sandbox.Faults{RateLimit: 1, RetryAfter: time.Second})
	req := accountReq(p, "github", workflows.OpCreateAccount)
	req.Active = true
	if _, err := r.run(t, r.acts.CreateAccount, req); err == nil {
		t.Fatal("the rate-limited create succeeded")
	}
	r.must(t, r.acts.CreateAccount, req)
	got := r.calls.list()
	for _, want := range []string{"github/Lookup/rate_limited", "github/Lookup/not_found", "github/Create/ok", "github/Get/ok"} {
		if !slices.Contains(got, want) {
			t.Errorf("no %s among the counted calls %v", want, got)
		}
	}
	for _, c := range got {
		if !strings.HasPrefix(c, "github/") {
			t.Errorf("counted %s, a call to an app the activity never called", c)
		}
	}
	start := r.clock
	r.exec(t, r.acts.RecordRun, tenure.Run{WorkflowID: "employee/E1/lock/k", EmployeeID: p.ID, Type: "Lock", Status: tenure.RunCompleted, StartedAt: start, ClosedAt: &start})
	if len(r.calls.runs) != 1 || r.calls.runs[0].Type != "Lock" {
		t.Errorf("runs counted = %+v, want the lock", r.calls.runs)
	}
}

func TestUnavailableAppIsRetried(t *testing.T) {
	r := newRig(t)
	p := ada()
	created := r.provision(t, p, "github")
	r.faults(t, "github", sandbox.Faults{ErrorRate: 1})
	req := accountReq(p, "github", workflows.OpDisableAccount)
	req.AccountID = created.AccountID

	_, err := r.run(t, r.acts.DisableAccount, req)
	appErr := applicationError(t, err)
	if appErr.NonRetryable() {
		t.Fatalf("a 503 is non-retryable: %v", appErr)
	}
	// A step that has just begun to fail tries again soon; the wait grows with
	// how long it has been failing, not with rate limits met meanwhile.
	if d := appErr.NextRetryDelay(); d < 200*time.Millisecond || d > 30*time.Second {
		t.Fatalf("a 503 carries NextRetryDelay %v, want between 200 ms and 30 s", d)
	}
	// Nothing may be reported as done that is not.
	if acct := r.account(t, p.ID, "github"); acct.Status != tenure.AccessActive {
		t.Fatalf("read model status = %s after a failed disable, want still active", acct.Status)
	}
	if _, ok := r.audit(t, p.ID)[req.Key]; ok {
		t.Fatal("a failed disable was audited as done")
	}
}

func TestBadRequestIsNotRetriedAndSaysWhy(t *testing.T) {
	r := newRig(t)
	r.faults(t, "github", sandbox.Faults{FailNext: 1, FailStatus: 400, FailDetail: "userName is malformed"})
	_, err := r.run(t, r.acts.CreateAccount, accountReq(ada(), "github", workflows.OpCreateAccount))
	appErr := applicationError(t, err)
	if !appErr.NonRetryable() {
		t.Fatalf("a 400 is retryable: %v", appErr)
	}
	if !strings.Contains(appErr.Error(), "userName is malformed") {
		t.Fatalf("error %q does not carry the app's detail", appErr.Error())
	}
	if strings.Contains(err.Error(), sandboxToken) {
		t.Fatal("the error leaks the app's token")
	}
}

func TestApprovalRequestedAndDecided(t *testing.T) {
	for _, tc := range []struct {
		status tenure.ApprovalStatus
		grant  tenure.AccessStatus
	}{
		{tenure.ApprovalApproved, tenure.AccessPending},
		{tenure.ApprovalDenied, tenure.AccessDenied},
	} {
		t.Run(string(tc.status), func(t *testing.T) {
			r := newRig(t)
			p := ada()
			ap := tenure.Approval{
				ID: "apr-1", EmployeeID: p.ID, WorkflowID: tenure.WorkflowID(p.ID),
				App: "github", Entitlement: "oncall", Rule: "sre",
				Approver: tenure.ApproverManager, ApproverID: p.ManagerID,
				Status: tenure.ApprovalPending, RequestedAt: r.clock,
			}
			req := workflows.ApprovalRequest{Approval: ap, Person: p}
			r.exec(t, r.acts.RequestApproval, req)
			r.exec(t, r.acts.RequestApproval, req)

			got, err := r.db.GetApproval(context.Background(), ap.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != tenure.ApprovalPending || got.ApproverID != p.ManagerID || got.App != "github" {
				t.Fatalf("approval = %+v, want pending with approver %s", got, p.ManagerID)
			}
			if g := r.grants(t, p.ID)["github/oncall"]; g.Status != tenure.AccessPendingApproval || g.ApprovalID != ap.ID || g.Rule != "sre" {
				t.Fatalf("grant = %+v, want pending_approval on %s", g, ap.ID)
			}
			requested := r.audit(t, p.ID)["approval/apr-1/requested"]
			if requested.Action != "approval.requested" || !strings.Contains(requested.Detail, "github/oncall") {
				t.Fatalf("audit = %+v, want approval.requested for github/oncall", requested)
			}

			decidedAt := r.tick()
			ap.Status, ap.DecidedBy, ap.Reason, ap.DecidedAt = tc.status, p.ManagerID, "on the rota from May", &decidedAt
			rec := workflows.DecisionRecord{Approval: ap}
			r.exec(t, r.acts.RecordDecision, rec)
			r.tick()
			r.exec(t, r.acts.RecordDecision, rec)

			got, err = r.db.GetApproval(context.Background(), ap.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != tc.status || got.DecidedBy != p.ManagerID || got.DecidedAt == nil || !got.DecidedAt.Equal(decidedAt) {
				t.Fatalf("approval = %+v, want %s by %s at %v", got, tc.status, p.ManagerID, decidedAt)
			}
			if g := r.grants(t, p.ID)["github/oncall"]; g.Status != tc.grant || g.ApprovalID != ap.ID {
				t.Fatalf("grant = %+v, want %s", g, tc.grant)
			}
			audit := r.audit(t, p.ID)
			decided := audit["approval/apr-1/decided"]
			if decided.Action != "approval."+string(tc.status) || decided.Actor != p.ManagerID ||
				!strings.Contains(decided.Detail, "on the rota from May") {
				t.Fatalf("audit = %+v, want approval.%s by %s with the reason", decided, tc.status, p.ManagerID)
			}
			if len(audit) != 2 {
				t.Fatalf("audit has %d records, want requested and decided once each: %+v", len(audit), audit)
			}
			if list, _ := r.db.ListApprovals(context.Background(), tenure.ApprovalFilter{EmployeeID: p.ID}); len(list) != 1 {
				t.Fatalf("read model has %d approvals, want 1", len(list))
			}
		})
	}
}

func TestEvaluatePolicy(t *testing.T) {
	r := newRig(t)
	val, err := r.env.ExecuteActivity(r.acts.EvaluatePolicy, ada())
	if err != nil {
		t.Fatal(err)
	}
	var plan workflows.Plan
	if err := val.Get(&plan); err != nil {
		t.Fatal(err)
	}

	var keys []string
	for _, g := range plan.Grants {
		keys = append(keys, g.Key())
	}
	wantKeys := []string{"github", "github/engineering", "github/oncall", "slack", "slack/general"}
	if !slices.Equal(keys, wantKeys) {
		t.Fatalf("grants = %v, want %v", keys, wantKeys)
	}
	for _, g := range plan.Grants {
		switch g.Key() {
		case "github/oncall":
			if g.Approval != tenure.ApproverManager || g.Rule != "sre" {
				t.Fatalf("github/oncall = %+v, want manager approval from rule sre", g)
			}
		default:
			if g.Approval != "" {
				t.Fatalf("%s needs %s approval, want none", g.Key(), g.Approval)
			}
		}
	}

	github, ok := plan.App("github")
	if !ok || github.Connector != scim.Kind || github.Owner != "E9000" ||
		!slices.Equal(github.Managed, []string{"engineering", "oncall"}) {
		t.Fatalf("github = %+v, want scim, owner E9000, managing engineering and oncall", github)
	}
	slack, ok := plan.App("slack")
	if !ok || slack.Connector != scim.Kind || !slices.Equal(slack.Managed, []string{"general"}) {
		t.Fatalf("slack = %+v, want scim managing general", slack)
	}
	if len(plan.Apps) != 2 {
		t.Fatalf("plan has %d apps, want 2", len(plan.Apps))
	}
	if plan.Retention != 48*time.Hour || plan.ITApprover != "it-security" || plan.PolicyDigest != r.pol.Digest() || plan.PolicyDigest == "" {
		t.Fatalf("plan = retention %v, IT approver %q, digest %q", plan.Retention, plan.ITApprover, plan.PolicyDigest)
	}

	// Someone outside engineering gets the birthright access only.
	sales := ada()
	sales.Department, sales.Title = "Sales", "Account Executive"
	val, err = r.env.ExecuteActivity(r.acts.EvaluatePolicy, sales)
	if err != nil {
		t.Fatal(err)
	}
	if err := val.Get(&plan); err != nil {
		t.Fatal(err)
	}
	keys = keys[:0]
	for _, g := range plan.Grants {
		keys = append(keys, g.Key())
	}
	if !slices.Equal(keys, []string{"slack", "slack/general"}) {
		t.Fatalf("a salesperson's grants = %v, want slack and slack/general", keys)
	}
}

func TestRecordFailure(t *testing.T) {
	r := newRig(t)
	p := ada()
	created := r.provision(t, p, "github")
	msg := "github: set_active: HTTP 403: the token lacks the users:write scope"
	f := workflows.FailureRecord{Key: p.ID + "/evt-2/github/failed", EmployeeID: p.ID, App: "github", Error: msg}
	r.exec(t, r.acts.RecordFailure, f)
	r.exec(t, r.acts.RecordFailure, f)

	acct := r.account(t, p.ID, "github")
	if acct.Status != tenure.AccessFailed || acct.Error != msg {
		t.Fatalf("read model account = %+v, want failed with %q", acct, msg)
	}
	if acct.AccountID != created.AccountID {
		t.Fatalf("the failure lost the account ID: %+v", acct)
	}
	rec := r.audit(t, p.ID)[f.Key]
	if rec.Action != "access.failed" || rec.Detail != msg || rec.App != "github" {
		t.Fatalf("audit = %+v, want access.failed with the error", rec)
	}

	// A failure in an app where nothing was provisioned yet still shows up.
	f2 := workflows.FailureRecord{Key: p.ID + "/evt-2/slack/failed", EmployeeID: p.ID, App: "slack", Error: "slack: create: HTTP 400: bad"}
	r.exec(t, r.acts.RecordFailure, f2)
	if acct := r.account(t, p.ID, "slack"); acct.Status != tenure.AccessFailed || acct.Error != f2.Error {
		t.Fatalf("slack row = %+v, want failed", acct)
	}
}

func TestAnotherPersonsAccountIsNeverTaken(t *testing.T) {
	r := newRig(t)
	p := ada()
	// A former employee, E099, had the same work email, and their disabled
	// account in github still carries it.
	theirs, err := r.conns["github"].Create(context.Background(), integrations.User{
		ExternalID: "E099", UserName: "ada.lovelace@example.com", Email: "ada.lovelace@example.com", Active: false,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.conns["github"].AddToGroup(context.Background(), theirs.ID, "oncall"); err != nil {
		t.Fatal(err)
	}
	unchanged := func(step string) {
		t.Helper()
		users := r.users(t, "github")
		if len(users) != 1 || users[0].ID != theirs.ID || users[0].Active || !slices.Equal(users[0].Groups, []string{"oncall"}) {
			t.Fatalf("after %s, github users = %+v, want E099's account alone and untouched", step, users)
		}
	}

	// Creating must neither adopt E099's account (and its access) nor retry in
	// vain: a person has to free the address.
	create := accountReq(p, "github", workflows.OpCreateAccount)
	create.Active = true
	_, err = r.run(t, r.acts.CreateAccount, create)
	appErr := applicationError(t, err)
	if !appErr.NonRetryable() || !strings.Contains(appErr.Error(), "E099") {
		t.Fatalf("CreateAccount error = %v (non-retryable %t), want a non-retryable conflict naming E099", appErr, appErr.NonRetryable())
	}
	unchanged("CreateAccount")
	if accounts, _ := r.db.ListAccounts(context.Background(), p.ID); len(accounts) != 0 {
		t.Fatalf("read model gives Ada accounts %+v, want none", accounts)
	}

	// A leaver with no account of their own must not take E099's with them.
	for _, op := range []struct {
		name string
		fn   any
	}{
		{workflows.OpDisableAccount, r.acts.DisableAccount},
		{workflows.OpDeleteAccount, r.acts.DeleteAccount},
	} {
		res := r.must(t, op.fn, accountReq(p, "github", op.name))
		if res.Found {
			t.Fatalf("%s = %+v, want no account found for Ada", op.name, res)
		}
		unchanged(op.name)
	}
}

// TestAnEntitlementTenureGrantedStaysManagedAfterThePolicyDropsIt: a later
// policy renames engineering (which Tenure granted) to eng, and no longer
// names it at all. Tenure still revokes it, because its grant record says
// Tenure gave it; a group Tenure never granted is still left alone.
func TestAnEntitlementTenureGrantedStaysManagedAfterThePolicyDropsIt(t *testing.T) {
	r := newRig(t)
	p := ada()
	created := r.provision(t, p, "github")
	req := accountReq(p, "github", workflows.OpSyncEntitlements)
	req.AccountID = created.AccountID
	req.Entitlements = []string{"engineering"}
	req.Managed = r.pol.Managed("github")
	r.must(t, r.acts.SyncEntitlements, req)
	if err := r.conns["github"].AddToGroup(context.Background(), created.AccountID, "book-club"); err != nil {
		t.Fatal(err)
	}
	r.tick()

	// The new version manages eng alone.
	req.Key = p.ID + "/rollout-r2/github/" + workflows.OpSyncEntitlements
	req.Entitlements, req.Managed = []string{"eng"}, []string{"eng"}
	res := r.must(t, r.acts.SyncEntitlements, req)
	want := []string{"book-club", "eng"}
	if got := r.user(t, "github", created.AccountID).Groups; !slices.Equal(got, want) || !slices.Equal(res.Groups, want) {
		t.Fatalf("github says %v (result %v), want %v", got, res.Groups, want)
	}
	grants := r.grants(t, p.ID)
	if grants["github/engineering"].Status != tenure.AccessDeleted || grants["github/eng"].Status != tenure.AccessActive {
		t.Fatalf("grants = %+v", grants)
	}
	if rec := r.audit(t, p.ID)[req.Key+"/engineering"]; rec.Action != "access.revoked" {
		t.Fatalf("audit of the revoke = %+v", rec)
	}
	// Revoked, it is no longer Tenure's: a group of that name added by hand
	// afterwards stays.
	if err := r.conns["github"].AddToGroup(context.Background(), created.AccountID, "engineering"); err != nil {
		t.Fatal(err)
	}
	r.tick()
	req.Key = p.ID + "/rollout-r3/github/" + workflows.OpSyncEntitlements
	r.must(t, r.acts.SyncEntitlements, req)
	if got := r.user(t, "github", created.AccountID).Groups; !slices.Equal(got, []string{"book-club", "eng", "engineering"}) {
		t.Fatalf("after the revoke, github says %v", got)
	}
}

// urgentWrites is a read model that notes which people's status and runs were
// written as the kill switch's own (tenure.Urgent).
type urgentWrites struct {
	tenure.Store
	urgent map[string]bool
}

func (u urgentWrites) WriteStep(ctx context.Context, w tenure.StepWrites) error {
	for _, e := range w.Employees {
		u.urgent["employee "+string(e.Status)] = tenure.IsUrgent(ctx)
	}
	return u.Store.WriteStep(ctx, w)
}

func (u urgentWrites) UpsertRun(ctx context.Context, r tenure.Run) error {
	u.urgent["run "+r.Type] = tenure.IsUrgent(ctx)
	return u.Store.UpsertRun(ctx, r)
}

// A lock's and a leaver's status and runs, which the workflow records before
// it disables anything, go ahead of bulk work in the read model; a joiner's
// do not.
func TestTheKillSwitchsRecordsGoFirst(t *testing.T) {
	r := newRig(t)
	w := urgentWrites{Store: r.db, urgent: map[string]bool{}}
	pub := &published{}
	acts := &activities.Activities{Store: w, Policies: r.acts.Policies, Publisher: pub}
	p := ada()
	for _, c := range []struct {
		action string
		status tenure.PersonStatus
		run    string
	}{
		{"employee.hire", tenure.PersonActive, workflows.JoinerWorkflowName},
		{"employee.locked", tenure.PersonLocked, workflows.LockWorkflowName},
		{"employee.terminated", tenure.PersonTerminated, workflows.LeaverWorkflowName},
	} {
		if err := acts.RecordEmployee(t.Context(), workflows.EmployeeRecord{Key: c.action + ":k", Action: c.action,
			Employee: tenure.Employee{Person: p, Status: c.status}}); err != nil {
			t.Fatal(err)
		}
		if err := acts.RecordRun(t.Context(), tenure.Run{WorkflowID: "employee/" + p.ID + "/" + c.run, EmployeeID: p.ID,
			Type: c.run, Status: tenure.RunRunning, StartedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]bool{
		"employee active": false, "run " + workflows.JoinerWorkflowName: false,
		"employee locked": true, "run " + workflows.LockWorkflowName: true,
		"employee terminated": true, "run " + workflows.LeaverWorkflowName: true,
	}
	if !maps.Equal(w.urgent, want) {
		t.Fatalf("urgent writes = %v, want %v", w.urgent, want)
	}
	// Each record is written whole: the person, the audit record and the event.
	if e, err := r.db.GetEmployee(t.Context(), p.ID); err != nil || e.Status != tenure.PersonTerminated {
		t.Fatalf("employee = %+v, %v; want terminated", e, err)
	}
	audit := r.audit(t, p.ID)
	var types []string
	for _, ev := range pub.events {
		types = append(types, ev.Type)
	}
	for i, action := range []string{"employee.hire", "employee.locked", "employee.terminated"} {
		if rec, ok := audit[action+":k"]; !ok || rec.Action != action {
			t.Errorf("no audit record of %s: %+v", action, audit)
		}
		if want := []string{tenure.EventEmployeeHired, tenure.EventEmployeeLocked, tenure.EventEmployeeTerminated}[i]; !slices.Contains(types, want) {
			t.Errorf("events %q lack %s", types, want)
		}
	}
}
