package rollout_test

import (
	"context"
	"errors"
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

var ctx = context.Background()

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func parse(file string, data []byte) (*policy.Policy, error) {
	return policy.Parse(file, data, []integrations.Spec{scim.Spec}, func(string) string { return "" })
}

const base = `version: 1
apps:
  - {name: slack, connector: scim, sandbox: true}
  - {name: github, connector: scim, sandbox: true}
  - {name: aws, connector: scim, sandbox: true, owner: E9}
rules:
  - name: everyone
    match: {}
    grant:
      - {app: slack, entitlements: [general]}
  - name: engineering
    match: {department: Engineering}
    grant:
      - {app: github, entitlements: [engineering]}
      - {app: aws, entitlements: [admin], approval: app_owner}
`

// engine records the rollouts it is asked to start.
type engine struct {
	mu      sync.Mutex
	started []tenure.Rollout
}

func (e *engine) StartRollout(_ context.Context, r tenure.Rollout) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.started = append(e.started, r)
	return nil
}

func (e *engine) CancelRollout(context.Context, string, string) error { return nil }

// openGuard is a guard double that holds nothing; the API's and the
// end-to-end tests run the real guard.
type openGuard struct{}

func (openGuard) Preview(context.Context, guard.Request) (guard.Verdict, error) {
	return guard.Verdict{}, nil
}
func (openGuard) Check(context.Context, guard.Request) (guard.Verdict, error) {
	return guard.Verdict{}, nil
}
func (openGuard) Release(context.Context, string, string, string) (tenure.Hold, error) {
	return tenure.Hold{}, errors.New("nothing is held")
}
func (openGuard) Discard(context.Context, string, string, string) (tenure.Hold, error) {
	return tenure.Hold{}, errors.New("nothing is held")
}

func newService(t *testing.T, db *store.DB) (*rollout.Service, *engine) {
	t.Helper()
	e := &engine{}
	svc, err := rollout.New(rollout.Config{Store: db, Engine: e, Guard: openGuard{}, Parse: parse})
	must(t, err)
	return svc, e
}

func person(t *testing.T, db *store.DB, id, dept string, status tenure.PersonStatus) {
	t.Helper()
	must(t, db.UpsertEmployee(ctx, tenure.Employee{Person: tenure.Person{ID: id, Email: id + "@example.com", Department: dept}, Status: status}))
}

func holds(t *testing.T, db *store.DB, id string, status tenure.AccessStatus, grants ...string) {
	t.Helper()
	for _, g := range grants {
		app, ent, _ := strings.Cut(g, "/")
		must(t, db.UpsertAccount(ctx, tenure.Account{EmployeeID: id, App: app, AccountID: app + "-" + id, Status: status}))
		gs := tenure.AccessActive
		if ent == "" {
			continue
		}
		must(t, db.UpsertGrant(ctx, tenure.GrantRecord{EmployeeID: id, App: app, Entitlement: ent, Status: gs}))
	}
}

func changes(p rollout.Plan) string {
	var out []string
	for _, c := range p.Changes {
		k := c.App
		if c.Entitlement != "" {
			k += "/" + c.Entitlement
		}
		out = append(out, c.EmployeeID+" "+string(c.Action)+" "+k)
	}
	return strings.Join(out, "; ")
}

func TestPlanReadsEachPersonsRecordedAccessAsTheirWorkflowWould(t *testing.T) {
	db := storetest.SQLite(t)
	svc, _ := newService(t, db)
	_, _, err := svc.Bootstrap(ctx, "base.yaml", []byte(base), "test", "file")
	must(t, err)
	// E1 has all an engineer gets but aws, which waits for its owner.
	person(t, db, "E1", "Engineering", tenure.PersonActive)
	holds(t, db, "E1", tenure.AccessActive, "slack/general", "github/engineering")
	must(t, db.UpsertGrant(ctx, tenure.GrantRecord{EmployeeID: "E1", App: "aws", Entitlement: "admin", Status: tenure.AccessPendingApproval}))
	must(t, db.UpsertGrant(ctx, tenure.GrantRecord{EmployeeID: "E1", App: "aws", Status: tenure.AccessPendingApproval}))
	// E2 is locked: the lock disabled the accounts it will give back.
	person(t, db, "E2", "Sales", tenure.PersonLocked)
	holds(t, db, "E2", tenure.AccessDisabled, "slack/general")
	// E3's slack failed, and a github account from an old role is disabled.
	person(t, db, "E3", "Sales", tenure.PersonActive)
	holds(t, db, "E3", tenure.AccessFailed, "slack/general")
	holds(t, db, "E3", tenure.AccessDisabled, "github/engineering")
	// E4 left: no plan touches a leaver.
	person(t, db, "E4", "Engineering", tenure.PersonTerminated)

	plan, err := svc.Plan(ctx, []byte(base), "ada")
	must(t, err)
	if got := changes(plan); got != "E3 create slack" {
		t.Fatalf("the version in force changes %q, want only E3's failed slack tried again", got)
	}
	if s := plan.Summary; s.People != 3 || s.Gain != 1 || s.Lose != 0 || s.Unchanged != 2 {
		t.Fatalf("summary = %+v", s)
	}

	// Slack for engineering only, and github's team renamed.
	next := strings.Replace(base, "      - {app: slack, entitlements: [general]}\n", "      - {app: github}\n", 1)
	next = strings.Replace(next, "[engineering]", "[eng]", 1)
	plan, err = svc.Plan(ctx, []byte(next), "ada")
	must(t, err)
	want := "E1 grant github/eng; E1 revoke github/engineering; E1 disable slack; E1 revoke slack/general; " +
		"E2 create github; E2 disable slack; E2 revoke slack/general; " +
		"E3 create github; E3 revoke github/engineering; E3 disable slack; E3 revoke slack/general"
	if got := changes(plan); got != want {
		t.Fatalf("changes =\n%s\nwant\n%s", got, want)
	}
	if s := plan.Summary; s.People != 3 || s.Gain != 3 || s.Lose != 3 || s.ByApp["github"] != (rollout.AppCounts{Gain: 3, Lose: 2}) {
		t.Fatalf("summary = %+v", s)
	}
}

func TestAPolicyThatDropsAnAppPeopleHaveIsRefused(t *testing.T) {
	db := storetest.SQLite(t)
	svc, e := newService(t, db)
	_, _, err := svc.Bootstrap(ctx, "base.yaml", []byte(base), "test", "file")
	must(t, err)
	person(t, db, "E1", "Sales", tenure.PersonActive)
	holds(t, db, "E1", tenure.AccessActive, "slack/general")
	dropped := strings.Replace(base, "  - {name: slack, connector: scim, sandbox: true}\n", "", 1)
	dropped = strings.Replace(dropped, "      - {app: slack, entitlements: [general]}\n", "      - {app: github}\n", 1)
	_, err = svc.Deploy(ctx, []byte(dropped), "ada", "api")
	if tenure.ErrorCode(err) != tenure.EINVALID || !strings.Contains(tenure.ErrorMessage(err), "slack (1 people)") {
		t.Fatalf("deploy = %v", err)
	}
	if len(e.started) != 0 {
		t.Fatal("a refused deploy started a rollout")
	}
	if _, err := db.GetPolicyVersion(ctx, hash(t, dropped)); tenure.ErrorCode(err) != tenure.ENOTFOUND {
		t.Fatalf("a refused deploy stored its version: %v", err)
	}
}

func hash(t *testing.T, src string) string {
	t.Helper()
	p, err := parse("x", []byte(src))
	must(t, err)
	return p.Digest()
}

func TestBootstrapDeploysTheFileOnlyWhenItChanged(t *testing.T) {
	db := storetest.SQLite(t)
	svc, e := newService(t, db)
	outcome, d, err := svc.Bootstrap(ctx, "base.yaml", []byte(base), "tenure dev", "file")
	must(t, err)
	if outcome != rollout.Activated || d.Version != hash(t, base) {
		t.Fatalf("first start = %s %+v", outcome, d)
	}
	if v, err := db.ActivePolicyVersion(ctx); err != nil || v.Version != d.Version || v.Author != "tenure dev" {
		t.Fatalf("in force: %+v, %v", v, err)
	}
	if outcome, _, _ = svc.Bootstrap(ctx, "base.yaml", []byte(base), "tenure dev", "file"); outcome != rollout.Unchanged {
		t.Fatalf("restart with the same file = %s", outcome)
	}
	edited := base + "# edited\n"
	outcome, d, err = svc.Bootstrap(ctx, "base.yaml", []byte(edited), "tenure dev", "file")
	must(t, err)
	if outcome != rollout.Deployed || d.Status != tenure.RolloutRunning || len(e.started) != 1 || e.started[0].ID != d.RolloutID {
		t.Fatalf("an edited file = %s %+v, started %v", outcome, d, e.started)
	}
	// Two processes starting with it deploy it once.
	outcome, again, err := svc.Bootstrap(ctx, "base.yaml", []byte(edited), "tenure worker", "file")
	must(t, err)
	if outcome != rollout.Deployed || again.RolloutID != d.RolloutID || len(e.started) != 1 {
		t.Fatalf("a second process = %s %+v, started %d", outcome, again, len(e.started))
	}
	// Once the rollout put it in force, and another deploy through the API
	// came after it, a restart with the unchanged file keeps the API's.
	must(t, db.ActivatePolicyVersion(ctx, "rollout/"+d.RolloutID, d.Version, "tenure dev", time.Time{}))
	_, err = db.SetRolloutStatus(ctx, d.RolloutID, tenure.RolloutCompleted, "", time.Time{})
	must(t, err)
	api := base + "# from the API\n"
	dep, err := svc.Deploy(ctx, []byte(api), "ada", "api")
	must(t, err)
	must(t, db.ActivatePolicyVersion(ctx, "rollout/"+dep.RolloutID, dep.Version, "ada", time.Time{}))
	if outcome, _, _ = svc.Bootstrap(ctx, "base.yaml", []byte(edited), "tenure dev", "file"); outcome != rollout.Kept {
		t.Fatalf("restart with the unchanged file after an API deploy = %s", outcome)
	}
	// A file that changes again is deployed again, even back to an old text.
	outcome, _, err = svc.Bootstrap(ctx, "base.yaml", []byte(base), "tenure dev", "file")
	must(t, err)
	if outcome != rollout.Deployed {
		t.Fatalf("the file changed back = %s", outcome)
	}
	// A file that does not parse stops the start, naming the file and line.
	_, _, err = svc.Bootstrap(ctx, "base.yaml", []byte(strings.Replace(base, "{app: github, ", "{app: gitlab, ", 1)), "tenure dev", "file")
	if err == nil || !strings.Contains(err.Error(), "base.yaml:") {
		t.Fatalf("a broken file: %v", err)
	}
}

func TestVersionsParseEachVersionOnceAndFollowTheOneInForce(t *testing.T) {
	db := storetest.SQLite(t)
	parsed := 0
	counting := func(file string, data []byte) (*policy.Policy, error) {
		parsed++
		return parse(file, data)
	}
	svc, _ := newService(t, db)
	_, _, err := svc.Bootstrap(ctx, "base.yaml", []byte(base), "test", "file")
	must(t, err)
	v := rollout.NewVersions(db, counting)
	for range 3 {
		h, pol, err := v.Active(ctx)
		must(t, err)
		if h != hash(t, base) || pol.Digest() != h {
			t.Fatalf("active = %s, %s", h, pol.Digest())
		}
	}
	next := base + "# next\n"
	dep, err := svc.Deploy(ctx, []byte(next), "ada", "api")
	must(t, err)
	must(t, db.ActivatePolicyVersion(ctx, "rollout/"+dep.RolloutID, dep.Version, "ada", time.Time{}))
	h, _, err := v.Active(ctx)
	must(t, err)
	if h != hash(t, next) || parsed != 2 {
		t.Fatalf("after the deploy: active %s, parsed %d times, want 2", h, parsed)
	}
	if _, err := v.Get(ctx, "nope"); tenure.ErrorCode(err) != tenure.ENOTFOUND {
		t.Fatalf("unknown version: %v", err)
	}
}
