package rollout_test

import (
	"context"
	"errors"
	"fmt"
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

// engine records the rollouts it is asked to start and to cancel.
type engine struct {
	mu       sync.Mutex
	started  []tenure.Rollout
	canceled []string
}

func (e *engine) StartRollout(_ context.Context, r tenure.Rollout) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.started = append(e.started, r)
	return nil
}

func (e *engine) CancelRollout(_ context.Context, id, _ string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.canceled = append(e.canceled, id)
	return nil
}

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

// holdingGuard is a guard double that holds every deploy while hold is set,
// each in a hold of its own, and records the holds it is asked to discard;
// discardErr is what Discard answers.
type holdingGuard struct {
	mu         sync.Mutex
	hold       bool
	holds      int
	discarded  []string
	discardErr error
}

func (g *holdingGuard) Preview(context.Context, guard.Request) (guard.Verdict, error) {
	return guard.Verdict{}, nil
}

func (g *holdingGuard) Check(_ context.Context, r guard.Request) (guard.Verdict, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.hold {
		return guard.Verdict{}, nil
	}
	g.holds++
	return guard.Verdict{Held: true, HoldID: fmt.Sprintf("hold_%d", g.holds), Reason: "too many", HeldPeople: r.People}, nil
}

func (g *holdingGuard) Release(context.Context, string, string, string) (tenure.Hold, error) {
	return tenure.Hold{}, errors.New("the test releases nothing")
}

func (g *holdingGuard) Discard(_ context.Context, id, actor, note string) (tenure.Hold, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.discardErr != nil {
		return tenure.Hold{}, g.discardErr
	}
	g.discarded = append(g.discarded, id+" by "+actor+": "+note)
	return tenure.Hold{ID: id, Status: tenure.HoldDiscarded}, nil
}

// renamed gives everyone Slack's random channel instead of general.
var renamed = strings.Replace(base, "{app: slack, entitlements: [general]}", "{app: slack, entitlements: [random]}", 1)

// threeInSales records E1, E2 and E3 in Sales, each with Slack's general
// channel, with base in force.
func threeInSales(t *testing.T, db *store.DB, svc *rollout.Service) {
	t.Helper()
	_, _, err := svc.Bootstrap(ctx, "base.yaml", []byte(base), "test", "file")
	must(t, err)
	for _, id := range []string{"E1", "E2", "E3"} {
		person(t, db, id, "Sales", tenure.PersonActive)
		holds(t, db, id, tenure.AccessActive, "slack/general")
	}
}

func items(t *testing.T, db *store.DB, rolloutID string) string {
	t.Helper()
	its, err := db.ListRolloutItems(ctx, rolloutID, []string{"E1", "E2", "E3"})
	must(t, err)
	var out []string
	for _, it := range its {
		out = append(out, it.EmployeeID+"["+strings.Join(it.Apps, ",")+"] "+string(it.Status))
	}
	return strings.Join(out, "; ")
}

func audited(t *testing.T, db *store.DB, action string) []tenure.AuditRecord {
	t.Helper()
	recs, err := db.ListAudit(ctx, tenure.AuditFilter{Action: action})
	must(t, err)
	return recs
}

// A deploy while another rollout runs stops that one, and takes over the
// people it has not brought in line: its own plan, against the access
// recorded, covers those the old rollout never reached, but not someone whose
// Mover is under way, whose old-version access is recorded only once it ends.
func TestADeploySupersedesARunningRolloutAndTakesOverItsPeople(t *testing.T) {
	db := storetest.SQLite(t)
	svc, e := newService(t, db)
	threeInSales(t, db, svc)
	a, err := svc.Deploy(ctx, []byte(renamed), "ada", "api")
	must(t, err)
	if a.Status != tenure.RolloutRunning || a.Summary.Gain != 3 || len(a.Superseded) != 0 {
		t.Fatalf("first deploy = %+v", a)
	}
	must(t, db.ActivatePolicyVersion(ctx, "rollout/"+a.RolloutID, a.Version, "ada", time.Time{}))
	// A brought E1 in line; E2's Mover is under way, and has recorded nothing
	// yet; A has not reached E3.
	must(t, db.UpsertGrant(ctx, tenure.GrantRecord{EmployeeID: "E1", App: "slack", Entitlement: "general", Status: tenure.AccessDisabled}))
	must(t, db.UpsertGrant(ctx, tenure.GrantRecord{EmployeeID: "E1", App: "slack", Entitlement: "random", Status: tenure.AccessActive}))
	must(t, db.RecordRolloutOutcome(ctx, tenure.RolloutItem{RolloutID: a.RolloutID, EmployeeID: "E1", Status: tenure.RolloutItemDone}))

	// Back to general: against what is recorded, only E1 changes.
	plan, err := svc.Plan(ctx, []byte(base), "grace")
	must(t, err)
	if got := changes(plan); got != "E1 grant slack/general; E1 revoke slack/random" {
		t.Fatalf("the plan of going back = %q", got)
	}
	b, err := svc.Deploy(ctx, []byte(base), "grace", "api")
	must(t, err)
	if b.Status != tenure.RolloutRunning || len(b.Superseded) != 1 || b.Superseded[0] != a.RolloutID || b.Carried != 2 {
		t.Fatalf("second deploy = %+v, want it to supersede %s and carry E2 and E3", b, a.RolloutID)
	}
	// B re-evaluates E1 for its plan, and E2 and E3, whom A left: whatever
	// E2's Mover records, B's Mover, under B's version, comes after it.
	if got, want := items(t, db, b.RolloutID), "E1[slack] pending; E2[] pending; E3[] pending"; got != want {
		t.Fatalf("B's people = %s, want %s", got, want)
	}
	rb, err := svc.Rollout(ctx, b.RolloutID)
	must(t, err)
	if rb.Total != 3 || rb.ByApp["slack"] != (tenure.AppProgress{Gain: 1, Lose: 1}) {
		t.Fatalf("B = %+v", rb)
	}
	ra, err := svc.Rollout(ctx, a.RolloutID)
	must(t, err)
	note := "superseded by rollout " + b.RolloutID + " (version " + b.Version[:12] + ")"
	if ra.Status != tenure.RolloutCanceled || ra.Note != note || ra.ClosedAt == nil || ra.Done != 1 {
		t.Fatalf("A after B = %+v, want canceled: %s", ra, note)
	}
	if len(e.canceled) != 1 || e.canceled[0] != a.RolloutID || len(e.started) != 2 || e.started[1].ID != b.RolloutID {
		t.Fatalf("engine: canceled %v, started %v", e.canceled, e.started)
	}
	recs := audited(t, db, "policy.superseded")
	if len(recs) != 1 || recs[0].Actor != "grace" || recs[0].WorkflowID != tenure.RolloutWorkflowID(a.RolloutID) ||
		!strings.Contains(recs[0].Detail, note) || !strings.Contains(recs[0].Detail, "the 2 people it had not brought in line") {
		t.Fatalf("policy.superseded audit = %+v", recs)
	}
	// A closed rollout can be neither confirmed nor canceled.
	if _, err := svc.Confirm(ctx, a.RolloutID, "ada"); tenure.ErrorCode(err) != tenure.ECONFLICT || !strings.Contains(tenure.ErrorMessage(err), note) {
		t.Fatalf("confirming A: %v", err)
	}
	if _, err := svc.Cancel(ctx, a.RolloutID, "ada"); tenure.ErrorCode(err) != tenure.ECONFLICT {
		t.Fatalf("canceling A: %v", err)
	}

	// A third deploy supersedes B in turn, and takes over B's people still
	// pending, carried ones included (E1 has what C gives, as recorded); A,
	// closed, is left alone.
	c, err := svc.Deploy(ctx, []byte(renamed), "ada", "api")
	must(t, err)
	if len(c.Superseded) != 1 || c.Superseded[0] != b.RolloutID {
		t.Fatalf("third deploy = %+v", c)
	}
	if got, want := items(t, db, c.RolloutID), "E1[] pending; E2[slack] pending; E3[slack] pending"; got != want {
		t.Fatalf("C's people = %s, want %s", got, want)
	}
	if len(audited(t, db, "policy.superseded")) != 2 || len(e.canceled) != 2 {
		t.Fatalf("after C: %d superseded audits, canceled %v", len(audited(t, db, "policy.superseded")), e.canceled)
	}
}

// A held rollout that a later deploy supersedes never runs: its hold is
// discarded, and confirming it is a conflict that says why.
func TestADeploySupersedesAHeldRolloutAndDiscardsItsHold(t *testing.T) {
	db := storetest.SQLite(t)
	g := &holdingGuard{hold: true}
	e := &engine{}
	svc, err := rollout.New(rollout.Config{Store: db, Engine: e, Guard: g, Parse: parse})
	must(t, err)
	threeInSales(t, db, svc)
	a, err := svc.Deploy(ctx, []byte(renamed), "ada", "api")
	must(t, err)
	if a.Status != tenure.RolloutHeld {
		t.Fatalf("first deploy = %+v", a)
	}
	// Held as well: both wait for an admin, and only the later one may run.
	next := strings.Replace(base, "{app: slack, entitlements: [general]}", "{app: slack, entitlements: [general, random]}", 1)
	b, err := svc.Deploy(ctx, []byte(next), "grace", "console")
	must(t, err)
	if b.Status != tenure.RolloutHeld || len(b.Superseded) != 1 || b.Superseded[0] != a.RolloutID || b.Carried != 0 {
		t.Fatalf("second deploy = %+v", b)
	}
	note := "superseded by rollout " + b.RolloutID + " (version " + b.Version[:12] + ")"
	if len(g.discarded) != 1 || g.discarded[0] != "hold_1 by grace: rollout "+a.RolloutID+" "+note {
		t.Fatalf("discarded %v", g.discarded)
	}
	if len(e.canceled) != 0 {
		t.Fatalf("a held rollout's workflow was canceled rather than told of the discard: %v", e.canceled)
	}
	ra, err := svc.Rollout(ctx, a.RolloutID)
	must(t, err)
	if ra.Status != tenure.RolloutCanceled || ra.Note != note {
		t.Fatalf("A = %+v", ra)
	}
	if got := items(t, db, b.RolloutID); got != "E1[slack] pending; E2[slack] pending; E3[slack] pending" {
		t.Fatalf("B's people = %s", got)
	}
	recs := audited(t, db, "policy.superseded")
	if len(recs) != 1 || !strings.Contains(recs[0].Detail, "its guard hold hold_1 is discarded") {
		t.Fatalf("audit = %+v", recs)
	}
	_, err = svc.Confirm(ctx, a.RolloutID, "ada")
	if tenure.ErrorCode(err) != tenure.ECONFLICT || tenure.ErrorMessage(err) != "rollout "+a.RolloutID+" is canceled ("+note+"): only a held rollout can be confirmed" {
		t.Fatalf("confirming the superseded rollout: %v", err)
	}

	// A held rollout confirmed a moment before the deploy that supersedes it
	// (its hold released: Discard is a conflict) runs, and is stopped as such.
	g.discardErr = tenure.Errorf(tenure.ECONFLICT, "hold hold_2 is already released by ada")
	g.hold = false
	c, err := svc.Deploy(ctx, []byte(base), "ada", "api")
	must(t, err)
	if c.Status != tenure.RolloutRunning || len(c.Superseded) != 1 || c.Superseded[0] != b.RolloutID || c.Carried != 3 {
		t.Fatalf("third deploy = %+v", c)
	}
	if len(e.canceled) != 1 || e.canceled[0] != b.RolloutID {
		t.Fatalf("canceled %v, want B's workflow", e.canceled)
	}
	if got := items(t, db, c.RolloutID); got != "E1[] pending; E2[] pending; E3[] pending" {
		t.Fatalf("C's people = %s", got)
	}
}

// A deploy the guard holds supersedes a running rollout too, and its people
// wait in it for the confirmation. The process's clock stands still, as a
// clock behind another process's would: a deploy after another still comes
// after it.
func TestAHeldDeploySupersedesARunningRollout(t *testing.T) {
	db := storetest.SQLite(t)
	g := &holdingGuard{}
	e := &engine{}
	stopped := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	svc, err := rollout.New(rollout.Config{Store: db, Engine: e, Guard: g, Parse: parse, Now: func() time.Time { return stopped }})
	must(t, err)
	threeInSales(t, db, svc)
	a, err := svc.Deploy(ctx, []byte(strings.Replace(base, "[general]", "[general, random]", 1)), "ada", "api")
	must(t, err)
	g.hold = true
	b, err := svc.Deploy(ctx, []byte(renamed), "ada", "api")
	must(t, err)
	if b.Status != tenure.RolloutHeld || len(b.Superseded) != 1 || b.Superseded[0] != a.RolloutID || b.Carried != 0 ||
		len(e.canceled) != 1 || len(g.discarded) != 0 {
		t.Fatalf("held deploy = %+v, canceled %v, discarded %v", b, e.canceled, g.discarded)
	}
	ra, err := svc.Rollout(ctx, a.RolloutID)
	must(t, err)
	rb, err := svc.Rollout(ctx, b.RolloutID)
	must(t, err)
	if ra.Status != tenure.RolloutCanceled || !rb.CreatedAt.After(ra.CreatedAt) {
		t.Fatalf("A = %+v, B created at %s", ra, rb.CreatedAt)
	}
}
