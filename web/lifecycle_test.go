package web_test

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tenure-io/tenure"
)

// TestAnApprovalWhoseNoticeFailedIsShownAndDecidable: the console says an
// approval's approver was never told, or IT was told instead, and an admin
// still decides it.
func TestAnApprovalWhoseNoticeFailedIsShownAndDecidable(t *testing.T) {
	h := newHarness(t)
	h.seed(tenure.Employee{Person: tenure.Person{ID: "E1", GivenName: "Ada", FamilyName: "Lovelace"}})
	must(t, h.db.CreateApproval(ctx, tenure.Approval{ID: "apr_1", EmployeeID: "E1", App: "aws", Entitlement: "production-admin",
		Approver: tenure.ApproverIT, ApproverID: "it-security"}))
	must(t, h.db.SetApprovalNotice(ctx, "apr_1", tenure.NoticeSentToIT, `person "it-security" has no email to find them in Slack by`))
	must(t, h.db.CreateApproval(ctx, tenure.Approval{ID: "apr_2", EmployeeID: "E1", App: "github", Entitlement: "admins",
		Approver: tenure.ApproverManager, ApproverID: "M1"}))
	must(t, h.db.SetApprovalNotice(ctx, "apr_2", tenure.NoticeFailed, "slack: chat.postMessage: HTTP 503"))
	admin := h.as("admin")
	p := admin.get("/approvals")
	wantIn(t, p.body, `data-notice="sent_to_it"`, "the IT channel was told instead", "has no email to find them in Slack by",
		`data-notice="failed"`, "Notice failed", "HTTP 503")
	if p := admin.post("/approvals", "/approvals/apr_2/decide", url.Values{"decision": {"approve"}, "reason": {"on call"}}); p.status != 303 {
		t.Fatalf("deciding an approval whose notice failed = %d", p.status)
	}
	if _, _, d := h.engine.counts(); d != 1 {
		t.Fatalf("%d decisions reached the engine, want 1", d)
	}
}

// TestASupersededRunShowsAsSuperseded: the person's page says a change was
// superseded, and links to the person's workflow, which decided it, not to a
// run that never existed.
func TestASupersededRunShowsAsSuperseded(t *testing.T) {
	h := newHarness(t)
	h.seed(tenure.Employee{Person: tenure.Person{ID: "E1", GivenName: "Ada", FamilyName: "Lovelace"}, Status: tenure.PersonTerminated})
	at := time.Now()
	must(t, h.db.UpsertRun(ctx, tenure.Run{WorkflowID: "employee/E1/mover/m2", EmployeeID: "E1", Type: "Mover",
		EventID: "m2", Status: tenure.RunSuperseded, StartedAt: at, ClosedAt: &at}))
	p := h.as("admin").get("/people/E1")
	wantIn(t, p.body, `class="st st-superseded">superseded`, `href="http://temporal.test/namespaces/default/workflows/employee%2FE1"`)
	if strings.Contains(p.body, "employee%2FE1%2Fmover%2Fm2") {
		t.Error("the page links to a run that never existed")
	}
}
