package activities_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/activities"
	"github.com/tenure-io/tenure/integrations"
	"github.com/tenure-io/tenure/store"
	"github.com/tenure-io/tenure/store/storetest"
	"github.com/tenure-io/tenure/worker"
	"github.com/tenure-io/tenure/workflows"
)

// flakyNotifier fails the notices it is told to, and counts every call.
type flakyNotifier struct {
	activities.LogNotifier
	mu                                         sync.Mutex
	requested, unreachable, decided, escalated int
	// requestErr, unreachableErr, decidedErr and escalatedErr are what each
	// call fails with.
	requestErr, unreachableErr, decidedErr, escalatedErr error
	why                                                  string
}

func (f *flakyNotifier) ApprovalEscalated(context.Context, tenure.ApprovalNotice) ([]tenure.MessageRef, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.escalated++
	return nil, f.escalatedErr
}

func (f *flakyNotifier) ApprovalRequested(context.Context, tenure.ApprovalNotice) ([]tenure.MessageRef, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requested++
	if f.requestErr != nil {
		return nil, f.requestErr
	}
	return []tenure.MessageRef{{Channel: "D1", TS: "1.1"}}, nil
}

func (f *flakyNotifier) ApprovalUnreachable(_ context.Context, _ tenure.ApprovalNotice, why string) ([]tenure.MessageRef, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.unreachable++
	f.why = why
	if f.unreachableErr != nil {
		return nil, f.unreachableErr
	}
	return []tenure.MessageRef{{Channel: "C0IT", TS: "2.2"}}, nil
}

func (f *flakyNotifier) ApprovalDecided(context.Context, tenure.ApprovalNotice) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.decided++
	return f.decidedErr
}

// retried runs one activity as a workflow does, with a retry policy that
// would try it more often than the notice's own bound.
func retried(ctx workflow.Context, name string, arg workflows.ApprovalRequest, decision *workflows.DecisionRecord) error {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: time.Minute,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 1, MaximumAttempts: 20},
	})
	if decision != nil {
		return workflow.ExecuteActivity(ctx, name, *decision).Get(ctx, nil)
	}
	return workflow.ExecuteActivity(ctx, name, arg).Get(ctx, nil)
}

type noticeRig struct {
	db     *store.DB
	notify *flakyNotifier
	env    *testsuite.TestWorkflowEnvironment
}

func newNoticeRig(t *testing.T) *noticeRig {
	r := &noticeRig{db: storetest.SQLite(t), notify: &flakyNotifier{}}
	var suite testsuite.WorkflowTestSuite
	r.env = suite.NewTestWorkflowEnvironment()
	worker.Register(r.env, &activities.Activities{Store: r.db, Notifier: r.notify})
	r.env.RegisterWorkflow(retried)
	return r
}

// itApproval is the dev policy's case: an approval for IT, whose approver,
// it-security, is nobody Tenure knows, so has no email.
func itApproval() workflows.ApprovalRequest {
	p := ada()
	return workflows.ApprovalRequest{Person: p, RequestedBy: "HR event hire-1", Approval: tenure.Approval{
		ID: "apr_1", EmployeeID: p.ID, WorkflowID: tenure.WorkflowID(p.ID), App: "github", Entitlement: "oncall",
		Rule: "sre", Approver: tenure.ApproverIT, ApproverID: "it-security", Status: tenure.ApprovalPending,
		RequestedAt: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}}
}

func (r *noticeRig) run(t *testing.T, name string, req workflows.ApprovalRequest, decision *workflows.DecisionRecord) {
	t.Helper()
	r.env.ExecuteWorkflow(retried, name, req, decision)
	if !r.env.IsWorkflowCompleted() {
		t.Fatal("the activity is still being retried")
	}
	if err := r.env.GetWorkflowError(); err != nil {
		t.Fatalf("%s failed: %v; a notice must never fail it", name, err)
	}
}

func (r *noticeRig) audit(t *testing.T, action string) []tenure.AuditRecord {
	t.Helper()
	recs, err := r.db.ListAudit(context.Background(), tenure.AuditFilter{Action: action, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func TestAnUnreachableApproverFallsBackToTheITChannelAtOnce(t *testing.T) {
	r := newNoticeRig(t)
	// What Slack says of a person without an email.
	r.notify.requestErr = &integrations.Error{Kind: integrations.Permanent, App: "slack", Op: "users.lookupByEmail",
		Detail: `person "it-security" has no email to find them in Slack by`}
	r.run(t, workflows.RequestApprovalActivity, itApproval(), nil)

	if r.notify.requested != 1 || r.notify.unreachable != 1 {
		t.Errorf("asked the approver %d times and IT %d times, want once each: asking again cannot help",
			r.notify.requested, r.notify.unreachable)
	}
	ap, err := r.db.GetApproval(context.Background(), "apr_1")
	if err != nil {
		t.Fatal(err)
	}
	if ap.Status != tenure.ApprovalPending || ap.Notice != tenure.NoticeSentToIT || !strings.Contains(ap.NoticeError, "has no email") ||
		len(ap.Messages) != 1 || ap.Messages[0].Channel != "C0IT" {
		t.Fatalf("approval = %+v, want pending, sent to IT with the reason, and the IT message kept for the decision", ap)
	}
	if recs := r.audit(t, "approval.notice_sent_to_it"); len(recs) != 1 || !strings.Contains(recs[0].Detail, "it-security") {
		t.Errorf("audit = %+v, want the fallback recorded", recs)
	}
	if recs := r.audit(t, "approval.requested"); len(recs) != 1 {
		t.Errorf("approval.requested audit = %+v", recs)
	}
}

func TestANoticeThatKeepsFailingIsRecordedAsNoticeFailedAfterFiveAttempts(t *testing.T) {
	r := newNoticeRig(t)
	down := &integrations.Error{Kind: integrations.Transient, App: "slack", Op: "chat.postMessage", Status: 503}
	r.notify.requestErr, r.notify.unreachableErr = down, down
	r.run(t, workflows.RequestApprovalActivity, itApproval(), nil)

	if r.notify.requested != 5 || r.notify.unreachable != 1 {
		t.Errorf("asked the approver %d times and IT %d times, want 5 and then IT once, on the last attempt",
			r.notify.requested, r.notify.unreachable)
	}
	ap, err := r.db.GetApproval(context.Background(), "apr_1")
	if err != nil {
		t.Fatal(err)
	}
	if ap.Status != tenure.ApprovalPending || ap.Notice != tenure.NoticeFailed || !strings.Contains(ap.NoticeError, "HTTP 503") {
		t.Fatalf("approval = %+v, want pending and notice failed with Slack's error", ap)
	}
	if recs := r.audit(t, "approval.notice_failed"); len(recs) != 1 || recs[0].EmployeeID != "E100" {
		t.Errorf("audit = %+v, want the failed notice recorded", recs)
	}
	// Retried again, it asks nobody twice.
	r.env = (&testsuite.WorkflowTestSuite{}).NewTestWorkflowEnvironment()
	worker.Register(r.env, &activities.Activities{Store: r.db, Notifier: r.notify})
	r.env.RegisterWorkflow(retried)
	r.run(t, workflows.RequestApprovalActivity, itApproval(), nil)
	if r.notify.requested != 5 {
		t.Errorf("a repeated request asked again: %d calls", r.notify.requested)
	}
}

func TestAFailingDecisionNoticeDoesNotFailTheDecision(t *testing.T) {
	r := newNoticeRig(t)
	r.run(t, workflows.RequestApprovalActivity, itApproval(), nil)
	r.notify.decidedErr = &integrations.Error{Kind: integrations.Transient, App: "slack", Op: "chat.update", Status: 502}
	at := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	ap := itApproval().Approval
	ap.Status, ap.DecidedBy, ap.DecidedAt = tenure.ApprovalApproved, "admin-1", &at
	r.env = (&testsuite.WorkflowTestSuite{}).NewTestWorkflowEnvironment()
	worker.Register(r.env, &activities.Activities{Store: r.db, Notifier: r.notify})
	r.env.RegisterWorkflow(retried)
	r.run(t, workflows.RecordDecisionActivity, workflows.ApprovalRequest{}, &workflows.DecisionRecord{Approval: ap})

	if r.notify.decided != 5 {
		t.Errorf("updated the messages %d times, want 5", r.notify.decided)
	}
	got, err := r.db.GetApproval(context.Background(), "apr_1")
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != tenure.ApprovalApproved || got.Notice != tenure.NoticeFailed || !strings.Contains(got.NoticeError, "HTTP 502") {
		t.Fatalf("approval = %+v, want approved, with the failed notice recorded", got)
	}
}

func TestRecordNoticeFailedKeepsTheApprovalDecidable(t *testing.T) {
	db := storetest.SQLite(t)
	acts := &activities.Activities{Store: db}
	ctx := context.Background()
	err := acts.RecordNoticeFailed(ctx, workflows.NoticeFailure{Request: itApproval(), Error: "slack: chat.postMessage: HTTP 503"})
	if err != nil {
		t.Fatal(err)
	}
	ap, err := db.GetApproval(ctx, "apr_1")
	if err != nil {
		t.Fatal(err)
	}
	if ap.Status != tenure.ApprovalPending || ap.Notice != tenure.NoticeFailed || !strings.Contains(ap.NoticeError, "HTTP 503") {
		t.Fatalf("approval = %+v, want pending, notice failed", ap)
	}
	grants, err := db.ListGrants(ctx, "E100")
	if err != nil || len(grants) != 1 || grants[0].Status != tenure.AccessPendingApproval {
		t.Fatalf("grants = %+v, %v, want github/oncall pending approval", grants, err)
	}
}

func TestAnEscalationToAnUnreachableITApproverGoesToTheITChannel(t *testing.T) {
	db := storetest.SQLite(t)
	notify := &flakyNotifier{escalatedErr: &integrations.Error{Kind: integrations.Permanent, App: "slack", Op: "users.lookupByEmail",
		Detail: `person "it-security" has no email to find them in Slack by`}}
	acts := &activities.Activities{Store: db, Notifier: notify}
	ctx := context.Background()
	req := itApproval()
	req.Approval.Approver, req.Approval.ApproverID = tenure.ApproverManager, "M1"
	if err := acts.RequestApproval(ctx, req); err != nil {
		t.Fatal(err)
	}
	to, err := acts.EscalateApproval(ctx, workflows.ApprovalStep{ApprovalID: "apr_1", ITApprover: "it-security"})
	if err != nil || to != "it-security" {
		t.Fatalf("escalated to %q, %v; want it-security, and no error", to, err)
	}
	ap, err := db.GetApproval(ctx, "apr_1")
	if err != nil {
		t.Fatal(err)
	}
	if notify.escalated != 1 || notify.unreachable != 1 || ap.Notice != tenure.NoticeSentToIT || ap.EscalatedTo != "it-security" ||
		!strings.Contains(ap.NoticeError, "the escalation to it-security") {
		t.Fatalf("escalations %d, IT told %d, approval %+v: want the IT channel told once", notify.escalated, notify.unreachable, ap)
	}
}

// TestWithoutSlackANoticeIsLoggedNotSent: the log notifier tells nobody, and
// the approval says so rather than "sent".
func TestWithoutSlackANoticeIsLoggedNotSent(t *testing.T) {
	db := storetest.SQLite(t)
	ctx := context.Background()
	if err := (&activities.Activities{Store: db}).RequestApproval(ctx, itApproval()); err != nil {
		t.Fatal(err)
	}
	ap, err := db.GetApproval(ctx, "apr_1")
	if err != nil || ap.Notice != tenure.NoticeLogged || ap.Status != tenure.ApprovalPending {
		t.Fatalf("approval = %+v, %v; want pending, notice logged", ap, err)
	}
}
