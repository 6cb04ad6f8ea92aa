package activities_test

import (
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/activities"
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
