package api

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/tenure-io/tenure"
)

// TestSupersededRunsAndFailedNoticesInTheAPI: a superseded change shows as
// such, linked to the person's workflow that superseded it; an approval whose
// notice failed says so, and is listed as pending, to decide.
func TestSupersededRunsAndFailedNoticesInTheAPI(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	seedEmployee(t, h.store, "grace", tenure.PersonTerminated)
	at := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	if err := h.store.UpsertRun(ctx, tenure.Run{WorkflowID: "employee/grace/mover/move-2", EmployeeID: "grace", Type: "Mover",
		EventID: "move-2", Status: tenure.RunSuperseded, StartedAt: at, ClosedAt: &at}); err != nil {
		t.Fatal(err)
	}
	res := h.do("GET", "/api/v1/employees/grace", "")
	var d struct {
		Workflows []struct {
			WorkflowID  string `json:"workflow_id"`
			Status      string `json:"status"`
			TemporalURL string `json:"temporal_url"`
		} `json:"workflows"`
	}
	if err := json.Unmarshal(res.body, &d); err != nil || res.status != http.StatusOK {
		t.Fatalf("%d %v: %s", res.status, err, res.body)
	}
	if len(d.Workflows) != 1 || d.Workflows[0].Status != "superseded" || d.Workflows[0].WorkflowID != "employee/grace/mover/move-2" {
		t.Fatalf("workflows: %s", res.body)
	}
	if u := d.Workflows[0].TemporalURL; u != "http://temporal.test/workflows/employee/grace" {
		t.Errorf("temporal_url = %v, want the person's workflow, which superseded the change", u)
	}

	if err := h.store.CreateApproval(ctx, tenure.Approval{ID: "apr_1", EmployeeID: "grace", App: "aws", Approver: tenure.ApproverIT, ApproverID: "it-security"}); err != nil {
		t.Fatal(err)
	}
	if err := h.store.SetApprovalNotice(ctx, "apr_1", tenure.NoticeFailed, "slack: chat.postMessage: HTTP 503"); err != nil {
		t.Fatal(err)
	}
	res = h.do("GET", "/api/v1/approvals?status=pending", "")
	var l struct {
		Approvals []tenure.Approval `json:"approvals"`
	}
	if err := json.Unmarshal(res.body, &l); err != nil || len(l.Approvals) != 1 {
		t.Fatalf("%v: %s", err, res.body)
	}
	if a := l.Approvals[0]; a.Notice != tenure.NoticeFailed || a.NoticeError != "slack: chat.postMessage: HTTP 503" || a.Status != tenure.ApprovalPending {
		t.Errorf("approval = %+v, want pending, with its failed notice", a)
	}
}
