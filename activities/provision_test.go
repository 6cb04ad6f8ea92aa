package activities_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/activities"
	"github.com/tenure-io/tenure/integrations"
	"github.com/tenure-io/tenure/internal/sandbox"
	"github.com/tenure-io/tenure/workflows"
)

// A joiner's one step per app makes the account and gives its entitlements,
// each under the business key it has as a step of its own, recorded under the
// run it belongs to; a mover's RevokeAccount disables it and takes them away.
func TestProvisionThenRevokeAccount(t *testing.T) {
	r := newRig(t)
	p := ada()
	req := accountReq(p, "github", workflows.OpProvisionAccount)
	req.Active, req.Entitlements, req.Managed = true, []string{"engineering"}, []string{"engineering"}
	req.Run = "employee/" + p.ID + "/joiner/evt-1"

	// As the worker registers it: a step of its request's run.
	const provision = "scim." + workflows.OpProvisionAccount
	r.env.RegisterActivityWithOptions(activities.Operations(r.acts)[workflows.OpProvisionAccount], activity.RegisterOptions{Name: provision})
	res := r.must(t, provision, req)
	if !res.Active || res.AccountID == "" || len(res.Groups) != 1 || res.Groups[0] != "engineering" {
		t.Fatalf("provisioned = %+v, want active in engineering", res)
	}
	r.tick()
	if again := r.must(t, provision, req); again.AccountID != res.AccountID || len(r.users(t, "github")) != 1 {
		t.Fatalf("a second run made another account: %+v, users %+v", again, r.users(t, "github"))
	}
	audit := r.audit(t, p.ID)
	for _, op := range []string{workflows.OpCreateAccount, workflows.OpSyncEntitlements + "/engineering"} {
		key := p.ID + "/evt-1/github/" + op
		rec, ok := audit[key]
		if !ok {
			t.Fatalf("no audit record under %s: %+v", key, audit)
		}
		if rec.WorkflowID != req.Run {
			t.Errorf("audit %s names workflow %q, want the run %q", key, rec.WorkflowID, req.Run)
		}
	}

	rev := accountReq(p, "github", workflows.OpRevokeAccount)
	rev.AccountID, rev.Managed = res.AccountID, []string{"engineering"}
	out := r.must(t, r.acts.RevokeAccount, rev)
	if out.Active || !out.WasActive || len(out.Groups) != 0 {
		t.Fatalf("revoked = %+v, want disabled, was active, in no managed group", out)
	}
	if acct := r.account(t, p.ID, "github"); acct.Status != tenure.AccessDisabled {
		t.Fatalf("read model = %+v, want disabled", acct)
	}
}

// A first try in place returns the app's failure inside its result: its words,
// whether another try can help, and the delay the app asked for.
func TestInPlaceReturnsTheFailureInItsResult(t *testing.T) {
	r := newRig(t)
	p := ada()
	r.faults(t, "github", sandbox.Faults{RateLimit: 1, RetryAfter: 3 * time.Second})
	const name = "inplace.scim." + workflows.OpCreateAccount
	r.env.RegisterActivityWithOptions(activities.InPlace(activities.Operations(r.acts)[workflows.OpCreateAccount]), activity.RegisterOptions{Name: name})
	req := accountReq(p, "github", workflows.OpCreateAccount)
	req.Active = true
	got := r.inPlace(t, name, req)
	if got.Failure == nil || got.Failure.NonRetryable || got.Failure.RetryAfter != 3*time.Second {
		t.Fatalf("rate limited = %+v, want a retryable failure after 3s", got.Failure)
	}
	if got = r.inPlace(t, name, req); got.Failure != nil || !got.Result.Active {
		t.Fatalf("second try = %+v, want an active account", got)
	}
	r.faults(t, "github", sandbox.Faults{FailNext: 5, FailStatus: 400, FailDetail: "userName is malformed"})
	other := accountReq(tenure.Person{ID: "E2", Email: "e2@example.com", GivenName: "E", FamilyName: "Two"}, "github", workflows.OpCreateAccount)
	if got = r.inPlace(t, name, other); got.Failure == nil || !got.Failure.NonRetryable || got.Failure.Message == "" {
		t.Fatalf("bad request = %+v, want a failure for good, in the app's words", got.Failure)
	}
}

func (r *rig) inPlace(t *testing.T, name string, req workflows.AccountRequest) workflows.InPlaceResult {
	t.Helper()
	val, err := r.env.ExecuteActivity(name, req)
	if err != nil {
		t.Fatalf("an in-place call failed as an activity: %v", err)
	}
	var res workflows.InPlaceResult
	if err := val.Get(&res); err != nil {
		t.Fatal(err)
	}
	return res
}

// A step that succeeds records no progress; one whose entitlements fail after
// the account was made records the account, and its retry goes straight to the
// entitlements.
func TestProvisionRecordsProgressOnlyWhenItFails(t *testing.T) {
	r := newRig(t)
	var beats []workflows.AccountResult
	r.env.SetOnActivityHeartbeatListener(func(_ *activity.Info, d converter.EncodedValues) {
		var made workflows.AccountResult
		if err := d.Get(&made); err != nil {
			t.Errorf("heartbeat details: %v", err)
		}
		beats = append(beats, made)
	})
	const provision = "scim." + workflows.OpProvisionAccount
	r.env.RegisterActivityWithOptions(activities.Operations(r.acts)[workflows.OpProvisionAccount], activity.RegisterOptions{Name: provision})

	p := ada()
	req := accountReq(p, "github", workflows.OpProvisionAccount)
	req.Active, req.Entitlements, req.Managed = true, []string{"engineering"}, []string{"engineering"}
	r.must(t, provision, req)
	if len(beats) != 0 {
		t.Fatalf("a step that succeeded recorded progress: %+v", beats)
	}

	// The app makes no groups over SCIM, so a new entitlement fails after the
	// account is made.
	if err := r.sb.SetDialect("github", sandbox.Dialect{NoGroupCreate: true}); err != nil {
		t.Fatal(err)
	}
	other := tenure.Person{ID: "E2", Email: "e2@example.com", GivenName: "E", FamilyName: "Two"}
	req = accountReq(other, "github", workflows.OpProvisionAccount)
	req.Active, req.Entitlements, req.Managed = true, []string{"design"}, []string{"design"}
	if _, err := r.env.ExecuteActivity(provision, req); err == nil {
		t.Fatal("a step whose group cannot be made succeeded")
	}
	made, ok, err := r.sb.User("github", other.ID)
	if err != nil || !ok {
		t.Fatalf("the account was not made before the entitlements failed: %v", err)
	}
	if len(beats) != 1 || beats[0].AccountID != made.ID {
		t.Fatalf("progress recorded = %+v, want the account %s", beats, made.ID)
	}
	// What the failed step verified is recorded all the same: the account it
	// made and read back, its audit record, and the entitlement it asked for,
	// still pending.
	if acct := r.account(t, other.ID, "github"); acct.AccountID != made.ID || acct.Status != tenure.AccessActive {
		t.Fatalf("read model after the failed step = %+v, want %s active", acct, made.ID)
	}
	if _, ok := r.audit(t, other.ID)[other.ID+"/evt-1/github/"+workflows.OpCreateAccount]; !ok {
		t.Fatalf("no audit record of the account the failed step made: %+v", r.audit(t, other.ID))
	}
	if grants, err := r.db.ListGrants(t.Context(), other.ID); err != nil || len(grants) != 1 || grants[0].Entitlement != "design" || grants[0].Status != tenure.AccessPending {
		t.Fatalf("grants after the failed step = %+v, %v; want design pending", grants, err)
	}

	// The retry, with the group now made in the app, starts from there.
	if err := r.sb.SetDialect("github", sandbox.Dialect{}); err != nil {
		t.Fatal(err)
	}
	r.env.SetHeartbeatDetails(beats[0])
	res := r.must(t, provision, req)
	if res.AccountID != made.ID || len(res.Groups) != 1 || res.Groups[0] != "design" || len(r.users(t, "github")) != 2 {
		t.Fatalf("retried = %+v with users %+v, want %s in design and no other account", res, r.users(t, "github"), made.ID)
	}
}

// An account the step creates is read back once, after its entitlements: that
// read verifies both, and nothing is read before the adds. An account the step
// adopts is read before its entitlements are changed, as it may hold some.
func TestANewAccountIsReadBackOnce(t *testing.T) {
	r := newRig(t)
	const provision = "scim." + workflows.OpProvisionAccount
	r.env.RegisterActivityWithOptions(activities.Operations(r.acts)[workflows.OpProvisionAccount], activity.RegisterOptions{Name: provision})
	p := ada()
	req := accountReq(p, "github", workflows.OpProvisionAccount)
	req.Active, req.Entitlements, req.Managed = true, []string{"engineering", "design"}, []string{"engineering", "design"}

	res := r.must(t, provision, req)
	if !res.Active || !slices.Equal(res.Groups, []string{"design", "engineering"}) {
		t.Fatalf("provisioned = %+v, want active in design and engineering", res)
	}
	want := []string{"github/Lookup/not_found", "github/Create/ok", "github/AddToGroup/ok", "github/AddToGroup/ok", "github/Get/ok"}
	if got := r.calls.list(); !slices.Equal(got, want) {
		t.Fatalf("a new account's step called %v, want %v", got, want)
	}
	if acct := r.account(t, p.ID, "github"); acct.Status != tenure.AccessActive || acct.AccountID != res.AccountID {
		t.Fatalf("read model = %+v, want %s active", acct, res.AccountID)
	}
	if _, ok := r.audit(t, p.ID)[p.ID+"/evt-1/github/"+workflows.OpCreateAccount]; !ok {
		t.Fatalf("no audit record of the account made: %+v", r.audit(t, p.ID))
	}

	// The same step again finds the account: it reads it, and reads it before
	// and after the entitlements.
	r.calls.reset()
	r.tick()
	r.must(t, provision, req)
	want = []string{"github/Lookup/ok", "github/Get/ok", "github/Get/ok", "github/Get/ok"}
	if got := r.calls.list(); !slices.Equal(got, want) {
		t.Fatalf("an adopted account's step called %v, want %v", got, want)
	}
}

// groupOnCreate is an app that puts every account it creates in a group of its
// own accord, as a directory's rule for new users would.
type groupOnCreate struct {
	integrations.Connector
	group string
}

func (g groupOnCreate) Create(ctx context.Context, u integrations.User) (integrations.Account, error) {
	acct, err := g.Connector.Create(ctx, u)
	if err != nil {
		return acct, err
	}
	return acct, g.Connector.AddToGroup(ctx, acct.ID, g.group)
}

// A new account is assumed to hold no group until it is read back; a managed
// group the app gave it on its own, and the person is not to have, is taken
// away then, and the account read again.
func TestAManagedGroupTheAppGaveANewAccountIsTakenAway(t *testing.T) {
	r := newRig(t)
	conns := map[string]integrations.Connector{}
	for name, c := range r.conns {
		conns[name] = c
	}
	conns["github"] = groupOnCreate{Connector: r.conns["github"], group: "design"}
	r.acts.Policies = activities.Static{Policy: r.pol, Connectors: conns}
	const provision = "scim." + workflows.OpProvisionAccount
	r.env.RegisterActivityWithOptions(activities.Operations(r.acts)[workflows.OpProvisionAccount], activity.RegisterOptions{Name: provision})

	p := ada()
	req := accountReq(p, "github", workflows.OpProvisionAccount)
	req.Active, req.Entitlements, req.Managed = true, []string{"engineering"}, []string{"engineering", "design"}
	res := r.must(t, provision, req)
	if !slices.Equal(res.Groups, []string{"engineering"}) {
		t.Fatalf("provisioned = %+v, want in engineering alone", res)
	}
	if members, err := r.sb.Members("github", "design"); err != nil || len(members) != 0 {
		t.Fatalf("design's members in the app = %v, %v; want none", members, err)
	}
	want := []string{"github/Lookup/not_found", "github/Create/ok", "github/AddToGroup/ok", "github/Get/ok", "github/RemoveFromGroup/ok", "github/Get/ok"}
	if got := r.calls.list(); !slices.Equal(got, want) {
		t.Fatalf("the step called %v, want %v", got, want)
	}
	if _, ok := r.audit(t, p.ID)[p.ID+"/evt-1/github/"+workflows.OpSyncEntitlements+"/design"]; !ok {
		t.Fatalf("no audit record of design taken away: %+v", r.audit(t, p.ID))
	}
}
