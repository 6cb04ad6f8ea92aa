package activities_test

import (
	"testing"
	"time"

	"go.temporal.io/sdk/activity"

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
	req := accountReq(p, "github", workflows.OpProvisionAccount)
	req.Active = true
	got := r.inPlace(t, workflows.InPlaceCall{Op: workflows.OpProvisionAccount, Account: &req})
	if got.Failure == nil || got.Failure.NonRetryable || got.Failure.RetryAfter != 3*time.Second {
		t.Fatalf("rate limited = %+v, want a retryable failure after 3s", got.Failure)
	}
	got = r.inPlace(t, workflows.InPlaceCall{Op: workflows.OpProvisionAccount, Account: &req})
	if got.Failure != nil || !got.Result.Active {
		t.Fatalf("second try = %+v, want an active account", got)
	}
	got = r.inPlace(t, workflows.InPlaceCall{Op: "Nothing", Account: &req})
	if got.Failure == nil || !got.Failure.NonRetryable {
		t.Fatalf("unknown operation = %+v, want a failure for good", got)
	}
}

func (r *rig) inPlace(t *testing.T, call workflows.InPlaceCall) workflows.InPlaceResult {
	t.Helper()
	val, err := r.env.ExecuteActivity(r.acts.InPlace, call)
	var res workflows.InPlaceResult
	if err == nil {
		err = val.Get(&res)
	}
	if err != nil {
		res.Failure = &workflows.CallFailure{Message: err.Error(), NonRetryable: true}
	}
	return res
}
