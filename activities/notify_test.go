package activities_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/activities"
)

// TestLogNotifierLogsWithoutSecrets: without Slack, every notice is one log line
// that names the approval, app and people by HR ID, and never an email.
func TestLogNotifierLogsWithoutSecrets(t *testing.T) {
	var buf bytes.Buffer
	l := activities.LogNotifier{Logger: slog.New(slog.NewTextHandler(&buf, nil))}
	ctx := context.Background()
	ada := tenure.Person{ID: "E1001", Email: "ada@example.com", GivenName: "Ada", ManagerID: "E0001"}
	boss := tenure.Person{ID: "E0001", Email: "boss@example.com"}
	n := tenure.ApprovalNotice{
		Approval: tenure.Approval{ID: "ap-42", EmployeeID: ada.ID, App: "aws", Entitlement: "production-admin",
			Status: tenure.ApprovalApproved, DecidedBy: boss.ID},
		Person: ada, Approver: boss, RequestedBy: "HR event hire-42",
	}
	if refs, err := l.ApprovalRequested(ctx, n); err != nil || refs != nil {
		t.Fatalf("ApprovalRequested = %v, %v", refs, err)
	}
	for _, err := range []error{
		l.ApprovalDecided(ctx, n),
		l.AccessReady(ctx, tenure.AccessReadyNotice{Person: ada, Manager: boss, Accounts: []tenure.Account{{App: "github"}, {App: "google"}}}),
		l.StepFailed(ctx, tenure.FailureNotice{EmployeeID: ada.ID, Person: ada, App: "github", Error: "HTTP 400"}),
		l.LeaverSummary(ctx, tenure.LeaverNotice{Person: ada, At: time.Now(), Accounts: []tenure.Account{{App: "github", Status: tenure.AccessDisabled}}}),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	out := buf.String()
	for _, want := range []string{"approval_id=ap-42", "app=aws", "entitlement=production-admin", "approver_id=E0001",
		"decided_by=E0001", `apps="github, google"`, "HTTP 400", "revoked.github=disabled"} {
		if !strings.Contains(out, want) {
			t.Errorf("the log lacks %s:\n%s", want, out)
		}
	}
	if strings.Contains(out, "@example.com") {
		t.Fatalf("the log shows an email:\n%s", out)
	}
}
