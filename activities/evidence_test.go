package activities_test

import (
	"context"
	"slices"
	"testing"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/workflows"
)

// TestDisableAndDeleteRecordTheStateBefore: a leaver's disable records the
// account as it stood (active, with the entitlements last verified) before
// changing it; running the step again, which finds it disabled, keeps that
// record; the delete records the disabled account it found.
func TestDisableAndDeleteRecordTheStateBefore(t *testing.T) {
	r := newRig(t)
	p := ada()
	created := r.provision(t, p, "github")
	sync := accountReq(p, "github", workflows.OpSyncEntitlements)
	sync.AccountID, sync.Entitlements, sync.Managed = created.AccountID, []string{"engineering"}, r.pol.Managed("github")
	r.must(t, r.acts.SyncEntitlements, sync)
	verified := r.account(t, p.ID, "github").VerifiedAt
	r.tick()

	disable := accountReq(p, "github", workflows.OpDisableAccount)
	disable.Key, disable.AccountID = p.ID+"/term-1/github/"+workflows.OpDisableAccount, created.AccountID
	for range 2 {
		r.must(t, r.acts.DisableAccount, disable)
		r.tick()
	}
	del := accountReq(p, "github", workflows.OpDeleteAccount)
	del.Key, del.AccountID = p.ID+"/term-1-delete/github/"+workflows.OpDeleteAccount, created.AccountID
	r.must(t, r.acts.DeleteAccount, del)

	got, err := r.db.ListAccountsBefore(context.Background(), p.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("records = %+v, want the disable's and the delete's", got)
	}
	d := got[0]
	if d.Key != disable.Key || d.Operation != workflows.OpDisableAccount || d.Status != tenure.AccessActive ||
		!slices.Equal(d.Entitlements, []string{"engineering"}) || d.AccountID != created.AccountID ||
		d.UserName != "ada.lovelace@example.com" || d.WorkflowID == "" ||
		d.EntitlementsVerifiedAt == nil || !d.EntitlementsVerifiedAt.Equal(*verified) {
		t.Fatalf("before the disable = %+v, want active with engineering, verified at %v", d, verified)
	}
	if del := got[1]; del.Operation != workflows.OpDeleteAccount || del.Status != tenure.AccessDisabled {
		t.Fatalf("before the delete = %+v, want disabled", del)
	}
}

// TestNoAccountRecordsNoStateBefore: where the person has no account there is
// nothing to record; the audit trail says the account was absent.
func TestNoAccountRecordsNoStateBefore(t *testing.T) {
	r := newRig(t)
	p := ada()
	r.must(t, r.acts.DisableAccount, accountReq(p, "slack", workflows.OpDisableAccount))
	if got, err := r.db.ListAccountsBefore(context.Background(), p.ID); err != nil || len(got) != 0 {
		t.Fatalf("records = %+v, %v; want none", got, err)
	}
}
