package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/internal/payloadcodec"
	"github.com/tenure-io/tenure/workflows"
)

// forgedDecisions tries what a security review did to a running stack: decide
// the one pending approval by talking to Temporal directly, around the API.
//   - Without the codec key, a signal naming the right approver is dropped and
//     an Update is rejected: the worker refuses payloads it cannot open.
//   - With the key (an insider), a signal naming someone who is not the
//     approver is recorded as refused, and an Update is rejected as not theirs.
//
// The approval must still be pending afterwards.
func forgedDecisions(t *testing.T, p *devProcess) {
	var list struct {
		Approvals []tenure.Approval `json:"approvals"`
	}
	p.call("GET", "/api/v1/approvals?status=pending", nil, &list)
	if len(list.Approvals) != 1 {
		t.Fatalf("pending approvals = %+v, want one", list.Approvals)
	}
	a := list.Approvals[0]
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	plain, err := client.Dial(client.Options{HostPort: p.temporal})
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	approve := tenure.Decision{ApprovalID: a.ID, Approve: true, By: a.ApproverID}
	forged := workflows.Command{Kind: workflows.CommandDecision, RequestID: "decision:forged", Decision: &approve}
	if err := plain.SignalWorkflow(ctx, a.WorkflowID, "", workflows.CommandSignal, forged); err != nil {
		t.Fatal(err)
	}
	if err := update(ctx, plain, a, approve, "forged-plain"); err == nil {
		t.Error("an Update without the codec key was accepted")
	}

	// The stack's key: TENURE_CODEC_KEY when the test sets it, else the dev one.
	key := os.Getenv(codecKeyEnv)
	if key == "" {
		b, err := os.ReadFile(filepath.Join(p.dir, "codec.key"))
		if err != nil {
			t.Fatal(err)
		}
		key = string(b)
	}
	k, err := payloadcodec.ParseKey(key)
	if err != nil {
		t.Fatal(err)
	}
	codec, err := payloadcodec.New(k)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := client.Dial(client.Options{HostPort: p.temporal, DataConverter: codec.DataConverter()})
	if err != nil {
		t.Fatal(err)
	}
	defer sealed.Close()
	mallory := tenure.Decision{ApprovalID: a.ID, Approve: true, By: "mallory"}
	insider := workflows.Command{Kind: workflows.CommandDecision, RequestID: "decision:insider", Decision: &mallory}
	if err := sealed.SignalWorkflow(ctx, a.WorkflowID, "", workflows.CommandSignal, insider); err != nil {
		t.Fatal(err)
	}
	if err := update(ctx, sealed, a, mallory, "forged-sealed"); err == nil {
		t.Error("an Update by someone who is not the approver was accepted")
	}

	// The refusal is audited once the workflow has taken the signals in turn.
	deadline := time.Now().Add(30 * time.Second)
	for {
		var audit struct {
			Records []tenure.AuditRecord `json:"records"`
		}
		p.call("GET", "/api/v1/audit?action=approval.refused&employee_id="+a.EmployeeID, nil, &audit)
		if len(audit.Records) == 1 && audit.Records[0].Actor == "mallory" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no refusal audited: %+v", audit.Records)
		}
		time.Sleep(200 * time.Millisecond)
	}
	var after tenure.Approval
	p.call("GET", "/api/v1/approvals?status=pending", nil, &list)
	if len(list.Approvals) == 1 {
		after = list.Approvals[0]
	}
	if after.ID != a.ID || after.Status != tenure.ApprovalPending || after.DecidedBy != "" {
		t.Fatalf("after forged decisions the approval is %+v, want it still pending", after)
	}
}

func update(ctx context.Context, c client.Client, a tenure.Approval, d tenure.Decision, id string) error {
	h, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID: a.WorkflowID, UpdateID: id, UpdateName: workflows.DecideUpdate,
		Args: []any{d}, WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err != nil {
		return err
	}
	var status tenure.ApprovalStatus
	return h.Get(ctx, &status)
}
