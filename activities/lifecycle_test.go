package activities_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/activities"
	"github.com/tenure-io/tenure/integrations"
	"github.com/tenure-io/tenure/integrations/scim"
	"github.com/tenure-io/tenure/policy"
	"github.com/tenure-io/tenure/store/storetest"
	"github.com/tenure-io/tenure/workflows"
)

func TestRecordSupersededRecordsTheRunAndWhy(t *testing.T) {
	db := storetest.SQLite(t)
	acts := &activities.Activities{Store: db}
	ctx := context.Background()
	at := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	run := tenure.Run{WorkflowID: "employee/E1/mover/move-2", EmployeeID: "E1", Type: workflows.MoverWorkflowName,
		EventID: "move-2", Status: tenure.RunSuperseded, StartedAt: at, ClosedAt: &at}
	for range 2 {
		if err := acts.RecordSuperseded(ctx, workflows.SupersededRecord{Run: run, By: "termination term-1"}); err != nil {
			t.Fatal(err)
		}
	}
	runs, err := db.ListRuns(ctx, "E1")
	if err != nil || len(runs) != 1 || runs[0].Status != tenure.RunSuperseded || runs[0].ClosedAt == nil {
		t.Fatalf("runs = %+v, %v, want the mover closed as superseded", runs, err)
	}
	recs, err := db.ListAudit(ctx, tenure.AuditFilter{EmployeeID: "E1", Action: "run.superseded", Limit: 10})
	if err != nil || len(recs) != 1 || !strings.Contains(recs[0].Detail, "termination term-1") || !strings.Contains(recs[0].Detail, "move-2") {
		t.Fatalf("audit = %+v, %v, want one record naming the change and the termination", recs, err)
	}
}

// TestADeletedAccountTakesItsEntitlementsWithIt: after a leaver's phase 2 (or
// a mover's deletion) the read model showed the account deleted but its
// entitlements still active. Whether the account was deleted by Tenure or was
// already gone, its memberships go to deleted, audited and published.
func TestADeletedAccountTakesItsEntitlementsWithIt(t *testing.T) {
	r := newRig(t)
	p := ada()
	for _, app := range []string{"github", "slack"} {
		created := r.provision(t, p, app)
		sync := accountReq(p, app, workflows.OpSyncEntitlements)
		sync.AccountID, sync.Managed = created.AccountID, r.pol.Managed(app)
		sync.Entitlements = map[string][]string{"github": {"engineering"}, "slack": {"general"}}[app]
		r.must(t, r.acts.SyncEntitlements, sync)
		if g := r.grants(t, p.ID)[app+"/"+sync.Entitlements[0]]; g.Status != tenure.AccessActive {
			t.Fatalf("grant %s = %+v, want active before the delete", app, g)
		}
	}
	// slack's account is removed by hand before phase 2 gets there.
	slackID := r.account(t, p.ID, "slack").AccountID
	if err := r.conns["slack"].Delete(context.Background(), slackID); err != nil {
		t.Fatal(err)
	}
	for _, app := range []string{"github", "slack"} {
		req := accountReq(p, app, workflows.OpDeleteAccount)
		req.Key = p.ID + "/evt-9-delete/" + app + "/" + workflows.OpDeleteAccount
		req.AccountID = r.account(t, p.ID, app).AccountID
		r.must(t, r.acts.DeleteAccount, req)
	}
	grants := r.grants(t, p.ID)
	for _, k := range []string{"github/engineering", "slack/general"} {
		if g := grants[k]; g.Status != tenure.AccessDeleted {
			t.Errorf("grant %s = %s after its account was deleted, want deleted", k, g.Status)
		}
	}
	audit := r.audit(t, p.ID)
	if rec := audit[p.ID+"/evt-9-delete/github/"+workflows.OpDeleteAccount+"/engineering"]; rec.Action != "access.revoked" {
		t.Errorf("audit = %+v, want access.revoked for github/engineering", rec)
	}
}

func TestThePlanCarriesTheMoverGrace(t *testing.T) {
	pol, err := policy.Parse("p.yaml", []byte("version: 1\nmover_grace: 72h\napps:\n  - {name: github, connector: scim, sandbox: true}\nrules: []\n"),
		[]integrations.Spec{scim.Spec}, os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := (&activities.Activities{Policies: activities.Static{Policy: pol}}).EvaluatePolicy(context.Background(), ada())
	if err != nil || plan.MoverGrace != 72*time.Hour {
		t.Fatalf("plan mover grace = %v, %v; want 72h", plan.MoverGrace, err)
	}
}
