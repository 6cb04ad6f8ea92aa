package workflows_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/guard"
	"github.com/tenure-io/tenure/workflows"
)

// fakeReconcile stands in for the reconcile activities and keeps what they
// were asked.
type fakeReconcile struct {
	mu       sync.Mutex
	scanned  []string
	guards   []workflows.ReconcileGuardInput
	fixes    []workflows.ReconcileRemediate
	finished *workflows.ReconcileFinish
	verdict  tenure.GuardOutcome
	failApp  string
	fixFails bool
}

func (f *fakeReconcile) begin(_ context.Context, in workflows.ReconcileBegin) ([]string, error) {
	if len(in.Input.Apps) > 0 {
		return in.Input.Apps, nil
	}
	return []string{"slack", "github"}, nil
}

func (f *fakeReconcile) scan(_ context.Context, in workflows.ReconcileScan) (workflows.ReconcileAppResult, error) {
	f.mu.Lock()
	f.scanned = append(f.scanned, in.App)
	f.mu.Unlock()
	if in.App == f.failApp {
		return workflows.ReconcileAppResult{}, temporal.NewNonRetryableApplicationError(in.App+": list: HTTP 401", "Permanent", nil)
	}
	return workflows.ReconcileAppResult{App: in.App, Counts: tenure.ReconcileCounts{Accounts: 10, Matched: 9, Orphan: 1}}, nil
}

func (f *fakeReconcile) guard(_ context.Context, in workflows.ReconcileGuardInput) (*tenure.GuardOutcome, error) {
	f.guards = append(f.guards, in)
	v := f.verdict
	if in.Preview {
		v.HoldID = ""
	}
	return &v, nil
}

func (f *fakeReconcile) remediate(_ context.Context, in workflows.ReconcileRemediate) (workflows.ReconcileRemediated, error) {
	f.fixes = append(f.fixes, in)
	if f.fixFails {
		return workflows.ReconcileRemediated{Failed: 1, Error: "not verified"}, nil
	}
	return workflows.ReconcileRemediated{Remediated: 2}, nil
}

func (f *fakeReconcile) finish(_ context.Context, in workflows.ReconcileFinish) (workflows.ReconcileResult, error) {
	f.finished = &in
	var total tenure.ReconcileCounts
	for _, a := range in.Apps {
		total = total.Add(a.Counts)
	}
	return workflows.ReconcileResult{ID: in.ID, Status: in.Status, Counts: total, Remediation: in.Remediation}, nil
}

func reconcileEnv(f *fakeReconcile) *testsuite.TestWorkflowEnvironment {
	var s testsuite.WorkflowTestSuite
	s.SetLogger(log.NewStructuredLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError + 1}))))
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(workflows.Reconcile, workflow.RegisterOptions{Name: workflows.ReconcileWorkflowName})
	for name, fn := range map[string]any{
		workflows.ReconcileBeginActivity: f.begin, workflows.ReconcileScanActivity: f.scan,
		workflows.ReconcileGuardActivity: f.guard, workflows.ReconcileRemediateActivity: f.remediate,
		workflows.ReconcileFinishActivity: f.finish,
	} {
		env.RegisterActivityWithOptions(fn, activity.RegisterOptions{Name: name})
	}
	return env
}

func TestReconcileReport(t *testing.T) {
	f := &fakeReconcile{verdict: tenure.GuardOutcome{Held: true, Reason: "would hold"}}
	env := reconcileEnv(f)
	env.ExecuteWorkflow(workflows.ReconcileWorkflowName, workflows.ReconcileInput{Mode: tenure.ReconcileReport, Actor: "auditor", Trigger: "api"})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	var res workflows.ReconcileResult
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	if res.Status != tenure.ReconcileCompleted || res.Counts.Accounts != 20 || res.Counts.Orphan != 2 {
		t.Errorf("result %+v", res)
	}
	if len(f.scanned) != 2 || len(f.guards) != 1 || !f.guards[0].Preview || len(f.fixes) != 0 {
		t.Errorf("scanned %v, guard %+v, remediations %v: a report previews the guard and remediates nothing", f.scanned, f.guards, f.fixes)
	}
	// What the guard would say is kept, for people to see before they enforce.
	if f.finished.Guard == nil || !f.finished.Guard.Held || f.finished.Apps[0].App != "github" {
		t.Errorf("finish %+v", f.finished)
	}
}

func TestReconcileEnforceFailedApp(t *testing.T) {
	f := &fakeReconcile{failApp: "slack"}
	env := reconcileEnv(f)
	env.ExecuteWorkflow(workflows.ReconcileWorkflowName, workflows.ReconcileInput{Mode: tenure.ReconcileEnforce, Actor: "admin"})
	var res workflows.ReconcileResult
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	// The app that could be read is still remediated; the run says which failed.
	if res.Status != tenure.ReconcileFailed || !strings.Contains(f.finished.Error, "could not read slack") ||
		!strings.Contains(f.finished.Apps[1].Error, "HTTP 401") || len(f.fixes) != 1 || res.Remediation.Remediated != 2 {
		t.Errorf("result %+v, finish %+v, remediations %v", res, f.finished, f.fixes)
	}
	if f.guards[0].Preview {
		t.Error("an enforce run only previewed the guard")
	}
}

func TestReconcileHeldThenReleased(t *testing.T) {
	f := &fakeReconcile{verdict: tenure.GuardOutcome{Held: true, HoldID: "hold-7", Reason: "60 people in an hour"}}
	env := reconcileEnv(f)
	// A decision on another hold is no decision on this one.
	env.RegisterDelayedCallback(func() {
		if len(f.fixes) != 0 {
			t.Error("remediated while held")
		}
		env.SignalWorkflow(guard.DecisionSignal, guard.Decision{HoldID: "hold-other", Release: true, Actor: "x"})
	}, time.Hour)
	env.RegisterDelayedCallback(func() {
		if len(f.fixes) != 0 {
			t.Error("a decision on another hold released this one")
		}
		env.SignalWorkflow(guard.DecisionSignal, guard.Decision{HoldID: "hold-7", Release: true, Actor: "it-admin"})
	}, 2*time.Hour)
	env.ExecuteWorkflow(workflows.ReconcileWorkflowName, workflows.ReconcileInput{Mode: tenure.ReconcileEnforce, Actor: "admin"})
	var res workflows.ReconcileResult
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	if res.Status != tenure.ReconcileCompleted || len(f.fixes) != 1 || f.finished.Guard.HoldID != "hold-7" {
		t.Errorf("after the release: %+v, remediations %v", res, f.fixes)
	}
}

func TestReconcileHeldThenDiscarded(t *testing.T) {
	f := &fakeReconcile{verdict: tenure.GuardOutcome{Held: true, HoldID: "hold-8"}}
	env := reconcileEnv(f)
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(guard.DecisionSignal, guard.Decision{HoldID: "hold-8", Actor: "it-admin"})
	}, time.Minute)
	env.ExecuteWorkflow(workflows.ReconcileWorkflowName, workflows.ReconcileInput{Mode: tenure.ReconcileEnforce, Actor: "admin"})
	var res workflows.ReconcileResult
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	if res.Status != tenure.ReconcileCanceled || len(f.fixes) != 0 || !strings.Contains(f.finished.Error, "discarded by it-admin") {
		t.Errorf("after the discard: %+v, finish %+v, remediations %v", res, f.finished, f.fixes)
	}

	// Undecided for ReconcileGuardWait: canceled too.
	f = &fakeReconcile{verdict: tenure.GuardOutcome{Held: true, HoldID: "hold-9"}}
	env = reconcileEnv(f)
	env.ExecuteWorkflow(workflows.ReconcileWorkflowName, workflows.ReconcileInput{Mode: tenure.ReconcileEnforce, Actor: "admin"})
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	if res.Status != tenure.ReconcileCanceled || len(f.fixes) != 0 || !strings.Contains(f.finished.Error, "not decided within") {
		t.Errorf("undecided: %+v, finish %+v", res, f.finished)
	}
}

func TestRemediateOneFinding(t *testing.T) {
	f := &fakeReconcile{}
	env := reconcileEnv(f)
	env.ExecuteWorkflow(workflows.ReconcileWorkflowName, workflows.ReconcileInput{Finding: "fnd_1", Actor: "admin"})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if len(f.scanned) != 0 || len(f.guards) != 1 || f.guards[0].Finding != "fnd_1" || len(f.fixes) != 1 || f.fixes[0].Finding != "fnd_1" || f.finished != nil {
		t.Errorf("one finding: scanned %v, guards %+v, remediations %+v, finish %+v", f.scanned, f.guards, f.fixes, f.finished)
	}

	// A failed remediation fails the workflow, so that it may be asked again.
	f = &fakeReconcile{fixFails: true}
	env = reconcileEnv(f)
	env.ExecuteWorkflow(workflows.ReconcileWorkflowName, workflows.ReconcileInput{Finding: "fnd_1", Actor: "admin"})
	var appErr *temporal.ApplicationError
	if err := env.GetWorkflowError(); !errors.As(err, &appErr) || !strings.Contains(appErr.Message(), "not verified") {
		t.Errorf("a failed remediation: %v", err)
	}

	// Held, then discarded: nothing is done.
	f = &fakeReconcile{verdict: tenure.GuardOutcome{Held: true, HoldID: "hold-1"}}
	env = reconcileEnv(f)
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(guard.DecisionSignal, guard.Decision{HoldID: "hold-1", Actor: "it-admin"})
	}, time.Minute)
	env.ExecuteWorkflow(workflows.ReconcileWorkflowName, workflows.ReconcileInput{Finding: "fnd_1", Actor: "admin"})
	if err := env.GetWorkflowError(); err == nil || len(f.fixes) != 0 {
		t.Errorf("a discarded remediation: %v, remediations %v", err, f.fixes)
	}
}

func TestReconcileRefusesABadMode(t *testing.T) {
	env := reconcileEnv(&fakeReconcile{})
	env.ExecuteWorkflow(workflows.ReconcileWorkflowName, workflows.ReconcileInput{Mode: "fix"})
	var appErr *temporal.ApplicationError
	if err := env.GetWorkflowError(); !errors.As(err, &appErr) || appErr.Type() != workflows.ReconcileInvalidError {
		t.Errorf("a bad mode: %v", err)
	}
}

func TestReconcileScheduleID(t *testing.T) {
	a := workflows.ReconcileSchedule{Apps: []string{"slack", "github"}, Every: 24 * time.Hour, Mode: tenure.ReconcileReport}
	b := workflows.ReconcileSchedule{Apps: []string{"github", "slack"}, Every: 24 * time.Hour, Mode: tenure.ReconcileReport}
	if a.ID() != b.ID() || !strings.HasPrefix(a.ID(), "reconcile-apps-") {
		t.Errorf("IDs %s, %s: the order of the apps must not matter", a.ID(), b.ID())
	}
	c := b
	c.Mode = tenure.ReconcileEnforce
	one := workflows.ReconcileSchedule{Apps: []string{"github"}, Every: time.Hour, Mode: tenure.ReconcileReport}
	if c.ID() == b.ID() || !strings.HasPrefix(one.ID(), "reconcile-github-") {
		t.Errorf("IDs %s, %s, %s: a changed setting is another schedule, named after its app", b.ID(), c.ID(), one.ID())
	}
}
