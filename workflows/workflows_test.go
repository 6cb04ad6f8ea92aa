package workflows_test

import (
	"errors"
	"log/slog"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/workflows"
)

// t0 is when every test's clock starts.
var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// harness runs one person's Employee workflow in the test environment, with
// commands sent at fixed points of mock time; timers fire instantly.
type harness struct {
	t    *testing.T
	env  *testsuite.TestWorkflowEnvironment
	apps *fakeApps
	last time.Duration
}

func newHarness(t *testing.T) *harness {
	var s testsuite.WorkflowTestSuite
	s.SetLogger(log.NewStructuredLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError + 1}))))
	env := s.NewTestWorkflowEnvironment()
	env.SetStartTime(t0)
	apps := newFakeApps()
	apps.register(env)
	return &harness{t: t, env: env, apps: apps}
}

// at runs fn at offset d from t0.
func (h *harness) at(d time.Duration, fn func()) {
	if d > h.last {
		h.last = d
	}
	h.env.RegisterDelayedCallback(fn, d)
}

func (h *harness) send(d time.Duration, c workflows.Command) {
	h.at(d, func() { h.env.SignalWorkflow(workflows.CommandSignal, c) })
}

func (h *harness) event(d time.Duration, id string, typ tenure.EventType, p tenure.Person) {
	h.send(d, workflows.Command{Kind: workflows.CommandEvent, RequestID: "event:" + id,
		Event: &tenure.Event{ID: id, Type: typ, Employee: p}})
}

// check runs fn at offset d with the workflow's state at that moment.
func (h *harness) check(d time.Duration, fn func(s workflows.EmployeeState)) {
	h.at(d, func() {
		v, err := h.env.QueryWorkflow(workflows.StateQuery)
		if err != nil {
			h.t.Errorf("query at %s: %v", d, err)
			return
		}
		var s workflows.EmployeeState
		if err := v.Get(&s); err != nil {
			h.t.Fatal(err)
		}
		fn(s)
	})
}

// run runs the workflow until a minute after the last step, then cancels it unless
// it completed by itself; it returns the workflow's error.
func (h *harness) run(id string) error {
	h.at(h.last+time.Minute, func() { h.env.CancelWorkflow() })
	h.env.ExecuteWorkflow(workflows.EmployeeWorkflowName, workflows.EmployeeInput{EmployeeID: id, Baseline: workflows.Baseline})
	if !h.env.IsWorkflowCompleted() {
		h.t.Fatal("the workflow did not complete")
	}
	err := h.env.GetWorkflowError()
	var canceled *temporal.CanceledError
	if errors.As(err, &canceled) {
		return nil
	}
	return err
}

func (h *harness) wantApps(d time.Duration, id string, want map[string]string) {
	h.at(d, func() {
		got := h.apps.state(id)
		if len(got) != len(want) {
			h.t.Errorf("at %s: apps = %v, want %v", d, got, want)
			return
		}
		for app, w := range want {
			if got[app] != w {
				h.t.Errorf("at %s: %s = %q, want %q (all: %v)", d, app, got[app], w, got)
			}
		}
	})
}

func (h *harness) wantStatus(d time.Duration, want tenure.PersonStatus) {
	h.check(d, func(s workflows.EmployeeState) {
		if s.Status != want {
			h.t.Errorf("at %s: status = %q, want %q", d, s.Status, want)
		}
	})
}

// countVersionUpdates counts the search-attribute updates of the run, which
// is how GetVersion records a version marker.
func (h *harness) countVersionUpdates() *int {
	n := new(int)
	// GetVersion's own update is an untyped one: only this mock sees it.
	//lint:ignore SA1019 the typed mock would not count GetVersion's update
	h.env.OnUpsertSearchAttributes(mock.Anything).Run(func(mock.Arguments) { *n++ }).Return(nil)
	return n
}

func engineer(id string) tenure.Person {
	return tenure.Person{ID: id, Email: id + "@example.com", GivenName: "Ada", FamilyName: "Lovelace",
		ManagerID: "M1", Department: "Engineering", Title: "Engineer", EmploymentType: "employee"}
}

func TestJoinerGivesThePolicysAccess(t *testing.T) {
	h := newHarness(t)
	h.event(time.Minute, "e1", tenure.EventHire, engineer("E1"))
	h.wantApps(2*time.Minute, "E1", map[string]string{
		"google": "active", "slack": "active general", "github": "active engineering",
	})
	h.wantStatus(2*time.Minute, tenure.PersonActive)
	if err := h.run("E1"); err != nil {
		t.Fatal(err)
	}
	if r := h.apps.runs["employee/E1/joiner/e1"]; r.Status != tenure.RunCompleted {
		t.Errorf("joiner run = %+v, want completed", r)
	}
}

func TestRepeatedEventRunsOnce(t *testing.T) {
	h := newHarness(t)
	h.event(time.Minute, "e1", tenure.EventHire, engineer("E1"))
	h.event(2*time.Minute, "e1", tenure.EventHire, engineer("E1"))
	if err := h.run("E1"); err != nil {
		t.Fatal(err)
	}
	creates := 0
	for _, c := range h.apps.calls {
		if c == "fake.CreateAccount github" {
			creates++
		}
	}
	if creates != 1 {
		t.Errorf("github CreateAccount ran %d times, want 1: %v", creates, h.apps.calls)
	}
}

func TestMoverGrantsTheNewRoleAndRevokesTheOld(t *testing.T) {
	h := newHarness(t)
	h.event(time.Minute, "e1", tenure.EventHire, engineer("E1"))
	sales := engineer("E1")
	sales.Department = "Sales"
	h.event(time.Hour, "e2", tenure.EventUpdate, sales)
	h.wantApps(2*time.Hour, "E1", map[string]string{
		"google": "active", "slack": "active general,sales", "github": "disabled",
	})
	if err := h.run("E1"); err != nil {
		t.Fatal(err)
	}
}

func TestLeaverDisablesThenDeletesAfterRetention(t *testing.T) {
	h := newHarness(t)
	h.event(time.Minute, "e1", tenure.EventHire, engineer("E1"))
	h.event(time.Hour, "e2", tenure.EventTerminate, engineer("E1"))
	h.wantApps(2*time.Hour, "E1", map[string]string{
		"google": "disabled", "slack": "disabled general", "github": "disabled engineering",
	})
	h.wantStatus(2*time.Hour, tenure.PersonTerminated)
	h.wantApps(29*24*time.Hour, "E1", map[string]string{
		"google": "disabled", "slack": "disabled general", "github": "disabled engineering",
	})
	h.wantApps(31*24*time.Hour, "E1", map[string]string{})
	h.env.ExecuteWorkflow(workflows.EmployeeWorkflowName, workflows.EmployeeInput{EmployeeID: "E1", Baseline: workflows.Baseline})
	// After phase 2 the person's workflow completes on its own.
	if !h.env.IsWorkflowCompleted() || h.env.GetWorkflowError() != nil {
		t.Fatalf("completed=%t err=%v", h.env.IsWorkflowCompleted(), h.env.GetWorkflowError())
	}
	for _, id := range []string{"employee/E1/leaver/e2", "employee/E1/leaver/e2-delete"} {
		if r := h.apps.runs[id]; r.Status != tenure.RunCompleted {
			t.Errorf("%s = %+v, want completed", id, r)
		}
	}
}

func TestTerminationPreemptsARunningJoiner(t *testing.T) {
	h := newHarness(t)
	// github keeps failing with a transient fault, so the joiner is still retrying
	// when the termination arrives.
	h.apps.fail["github"] = errors.New("github: HTTP 503")
	h.event(time.Minute, "e1", tenure.EventHire, engineer("E1"))
	h.event(time.Minute+5*time.Second, "e2", tenure.EventTerminate, engineer("E1"))
	h.wantStatus(time.Hour, tenure.PersonTerminated)
	h.wantApps(time.Hour, "E1", map[string]string{"google": "disabled", "slack": "disabled general"})
	if err := h.run("E1"); err != nil {
		t.Fatal(err)
	}
	if r := h.apps.runs["employee/E1/joiner/e1"]; r.Status != tenure.RunCanceled {
		t.Errorf("joiner = %+v, want canceled", r)
	}
	if r := h.apps.runs["employee/E1/leaver/e2"]; r.Status == tenure.RunRunning || r.StartedAt.IsZero() {
		t.Errorf("leaver = %+v, want it run", r)
	}
}

func TestLockPreemptsARunningMover(t *testing.T) {
	h := newHarness(t)
	h.event(time.Minute, "e1", tenure.EventHire, engineer("E1"))
	// Creating google's account keeps failing, so the mover is still running when
	// the lock arrives.
	h.at(30*time.Minute, func() { h.apps.fail["fake.CreateAccount google"] = errors.New("google: HTTP 503") })
	sales := engineer("E1")
	sales.Department = "Sales"
	h.event(time.Hour, "e2", tenure.EventUpdate, sales)
	h.send(time.Hour+5*time.Second, workflows.Command{Kind: workflows.CommandLock, RequestID: "lock:r1", Actor: "it"})
	h.wantStatus(2*time.Hour, tenure.PersonLocked)
	h.at(2*time.Hour, func() {
		for app, s := range h.apps.state("E1") {
			if strings.HasPrefix(s, "active") {
				t.Errorf("after the lock %s is %q", app, s)
			}
		}
	})
	if err := h.run("E1"); err != nil {
		t.Fatal(err)
	}
	if r := h.apps.runs["employee/E1/mover/e2"]; r.Status != tenure.RunCanceled {
		t.Errorf("mover = %+v, want canceled", r)
	}
	if r := h.apps.runs["employee/E1/lock/r1"]; r.Status != tenure.RunCompleted {
		t.Errorf("lock = %+v, want completed", r)
	}
}

func TestUnlockRestoresExactlyWhatTheLockDisabled(t *testing.T) {
	h := newHarness(t)
	h.event(time.Minute, "e1", tenure.EventHire, engineer("E1"))
	// IT disabled slack by hand before the lock: unlock must not re-enable it.
	h.at(10*time.Minute, func() { h.apps.accounts["slack"]["E1"].Active = false })
	h.send(time.Hour, workflows.Command{Kind: workflows.CommandLock, RequestID: "lock:r1", Actor: "it"})
	h.wantApps(2*time.Hour, "E1", map[string]string{"google": "disabled", "slack": "disabled general", "github": "disabled engineering"})
	h.wantStatus(2*time.Hour, tenure.PersonLocked)
	// A change that arrives while locked waits for the unlock.
	sales := engineer("E1")
	sales.Department = "Sales"
	h.event(150*time.Minute, "e2", tenure.EventUpdate, sales)
	h.wantApps(170*time.Minute, "E1", map[string]string{"google": "disabled", "slack": "disabled general", "github": "disabled engineering"})
	h.send(3*time.Hour, workflows.Command{Kind: workflows.CommandUnlock, RequestID: "unlock:r1", Actor: "it"})
	h.wantStatus(4*time.Hour, tenure.PersonActive)
	// The lock's set came back, then the deferred mover applied the new role.
	h.at(4*time.Hour, func() {
		if !slices.Contains(h.apps.calls, "fake.EnableAccount google") || slices.Contains(h.apps.calls, "fake.EnableAccount slack") {
			t.Errorf("unlock enabled the wrong accounts: %v", h.apps.calls)
		}
	})
	h.wantApps(4*time.Hour, "E1", map[string]string{"google": "active", "slack": "active general,sales", "github": "disabled"})
	if err := h.run("E1"); err != nil {
		t.Fatal(err)
	}
}

// A lock runs in the person's own workflow, with no child: each app's first try
// is a local activity. An app whose first try fails for a passing reason goes on
// as an activity on the urgent lane and ends disabled; one that fails for good
// is not tried again, and the run fails naming it.
func TestLockTriesEachAppInPlaceThenOnTheUrgentLane(t *testing.T) {
	h := newHarness(t)
	h.event(time.Minute, "e1", tenure.EventHire, engineer("E1"))
	h.at(30*time.Minute, func() {
		h.apps.failOnce["fake.DisableAccount slack"] = temporal.NewApplicationError("slack: HTTP 503", "Transient")
		h.apps.failOnce["fake.DisableAccount github"] = permanent
		h.apps.lanes = nil
	})
	h.send(time.Hour, workflows.Command{Kind: workflows.CommandLock, RequestID: "lock:r1", Actor: "it"})
	h.wantApps(2*time.Hour, "E1", map[string]string{"google": "disabled", "slack": "disabled general", "github": "active engineering"})
	h.wantStatus(2*time.Hour, tenure.PersonLocked)
	h.at(2*time.Hour, func() {
		slices.Sort(h.apps.lanes)
		want := []string{
			"fake.DisableAccount aws local",
			"fake.DisableAccount github local",
			"fake.DisableAccount google local",
			"fake.DisableAccount slack local",
			"fake.DisableAccount slack " + workflows.UrgentTaskQueue,
		}
		if !slices.Equal(h.apps.lanes, want) {
			t.Errorf("calls = %q, want %q", h.apps.lanes, want)
		}
	})
	if err := h.run("E1"); err != nil {
		t.Fatal(err)
	}
	r := h.apps.runs["employee/E1/lock/r1"]
	if r.Status != tenure.RunFailed || !strings.Contains(r.Error, "github: HTTP 401: bad token") || r.InWorkflow == "" {
		t.Errorf("lock run = %+v, want failed naming github, in the person's workflow", r)
	}
}

// A joiner's app steps are first tried in place, in the workflow task that
// planned them. A step whose first try fails for a passing reason goes on as an
// activity and ends done; an app the policy limits is never called in place,
// only through its own task queue, so that its limit holds on every worker.
func TestAJoinerTriesEachAppInPlaceThenAsAnActivity(t *testing.T) {
	h := newHarness(t)
	h.apps.policy = func(p tenure.Person) workflows.Plan {
		pl := plan(p)
		for i := range pl.Apps {
			if pl.Apps[i].Name == "github" {
				pl.Apps[i].TaskQueue = "tenure-app-github"
			}
		}
		return pl
	}
	h.apps.failOnce["fake.SyncEntitlements slack"] = temporal.NewApplicationError("slack: HTTP 503", "Transient")
	h.event(time.Minute, "e1", tenure.EventHire, engineer("E1"))
	h.wantApps(time.Hour, "E1", map[string]string{"google": "active", "slack": "active general", "github": "active engineering"})
	h.at(time.Hour, func() {
		var steps []string
		for _, l := range h.apps.lanes {
			if !strings.HasPrefix(l, "notice ") {
				steps = append(steps, l)
			}
		}
		slices.Sort(steps)
		want := []string{
			"fake.CreateAccount github tenure-app-github",
			"fake.CreateAccount google local",
			// The activity starts the step again; the account made in place is
			// found by its business key, not made twice.
			"fake.CreateAccount slack default-test-taskqueue",
			"fake.CreateAccount slack local",
			"fake.SyncEntitlements github tenure-app-github",
			"fake.SyncEntitlements google local",
			"fake.SyncEntitlements slack default-test-taskqueue",
			"fake.SyncEntitlements slack local",
		}
		if !slices.Equal(steps, want) {
			t.Errorf("steps = %q, want %q", steps, want)
		}
	})
	if err := h.run("E1"); err != nil {
		t.Fatal(err)
	}
}

// TestANewRunRecordsNoVersion checks that a person's run started as Tenure
// starts one, with EmployeeInput.Baseline, takes its version without GetVersion,
// whose marker comes with a search-attribute update that visibility writes for
// every hire; a run started without it (by an older API) still asks.
func TestANewRunRecordsNoVersion(t *testing.T) {
	for _, c := range []struct {
		name     string
		baseline workflow.Version
		upserts  int
	}{
		{"given", workflows.Baseline, 0},
		{"not given", 0, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t)
			upserts := h.countVersionUpdates()
			h.event(time.Minute, "e1", tenure.EventHire, engineer("E1"))
			h.wantApps(time.Hour, "E1", map[string]string{"google": "active", "slack": "active general", "github": "active engineering"})
			h.at(time.Hour+time.Minute, func() { h.env.CancelWorkflow() })
			h.env.ExecuteWorkflow(workflows.EmployeeWorkflowName, workflows.EmployeeInput{EmployeeID: "E1", Baseline: c.baseline})
			if *upserts != c.upserts {
				t.Errorf("search-attribute updates = %d, want %d", *upserts, c.upserts)
			}
		})
	}
}

func TestFutureStartAndContractorEndDates(t *testing.T) {
	h := newHarness(t)
	p := engineer("C1")
	p.EmploymentType = "contractor"
	p.StartDate = t0.AddDate(0, 0, 10).Format(tenure.DateLayout)
	p.EndDate = t0.AddDate(0, 0, 40).Format(tenure.DateLayout)
	h.event(time.Minute, "e1", tenure.EventHire, p)
	// Provisioned ahead, inactive until the start date.
	h.wantApps(time.Hour, "C1", map[string]string{"google": "disabled", "slack": "disabled general", "github": "disabled engineering"})
	h.wantStatus(time.Hour, tenure.PersonPending)
	// HR moves the start date back by ten days.
	moved := p
	moved.StartDate = t0.AddDate(0, 0, 20).Format(tenure.DateLayout)
	h.event(24*time.Hour, "e2", tenure.EventUpdate, moved)
	h.wantStatus(15*24*time.Hour, tenure.PersonPending)
	h.wantStatus(21*24*time.Hour, tenure.PersonActive)
	h.wantApps(21*24*time.Hour, "C1", map[string]string{"google": "active", "slack": "active general", "github": "active engineering"})
	// The end date is a leaver: access ends the day after the last day.
	h.wantStatus(41*24*time.Hour+time.Hour, tenure.PersonTerminated)
	h.wantApps(41*24*time.Hour+time.Hour, "C1", map[string]string{"google": "disabled", "slack": "disabled general", "github": "disabled engineering"})
	if err := h.run("C1"); err != nil {
		t.Fatal(err)
	}
}

func TestScheduledTerminationCanBeRescindedByARehire(t *testing.T) {
	h := newHarness(t)
	h.event(time.Minute, "e1", tenure.EventHire, engineer("E1"))
	at := t0.Add(48 * time.Hour)
	h.send(time.Hour, workflows.Command{Kind: workflows.CommandEvent, RequestID: "event:e2",
		Event: &tenure.Event{ID: "e2", Type: tenure.EventTerminate, EffectiveAt: &at, Employee: engineer("E1")}})
	h.event(24*time.Hour, "e3", tenure.EventRehire, engineer("E1"))
	h.wantStatus(72*time.Hour, tenure.PersonActive)
	h.wantApps(72*time.Hour, "E1", map[string]string{"google": "active", "slack": "active general", "github": "active engineering"})
	if err := h.run("E1"); err != nil {
		t.Fatal(err)
	}
}

func TestRehireAfterALeaver(t *testing.T) {
	h := newHarness(t)
	h.event(time.Minute, "e1", tenure.EventHire, engineer("E1"))
	h.event(time.Hour, "e2", tenure.EventTerminate, engineer("E1"))
	h.event(5*24*time.Hour, "e3", tenure.EventRehire, engineer("E1"))
	h.wantStatus(6*24*time.Hour, tenure.PersonActive)
	h.wantApps(6*24*time.Hour, "E1", map[string]string{"google": "active", "slack": "active general", "github": "active engineering"})
	// The rehire cancelled phase 2: nothing is deleted after the retention period.
	h.wantApps(40*24*time.Hour, "E1", map[string]string{"google": "active", "slack": "active general", "github": "active engineering"})
	if err := h.run("E1"); err != nil {
		t.Fatal(err)
	}
}

func senior(id string) tenure.Person {
	p := engineer(id)
	p.Title = "Senior Engineer"
	return p
}

func TestApprovalGranted(t *testing.T) {
	h := newHarness(t)
	h.event(time.Minute, "e1", tenure.EventHire, senior("E1"))
	h.wantApps(time.Hour, "E1", map[string]string{"google": "active", "slack": "active general", "github": "active engineering"})
	var approvalID string
	h.at(time.Hour, func() {
		if len(h.apps.approvals) != 1 {
			t.Fatalf("approvals = %+v, want one for aws/admin", h.apps.approvals)
		}
		a := h.apps.approvals[0]
		if a.App != "aws" || a.Entitlement != "admin" || a.ApproverID != "M1" || a.Status != tenure.ApprovalPending {
			t.Errorf("approval = %+v", a)
		}
		approvalID = a.ID
		h.env.SignalWorkflow(workflows.CommandSignal, workflows.Command{Kind: workflows.CommandDecision,
			RequestID: "decision:" + a.ID, Decision: &tenure.Decision{ApprovalID: a.ID, Approve: true, By: "M1"}})
	})
	h.wantApps(2*time.Hour, "E1", map[string]string{"google": "active", "slack": "active general", "github": "active engineering", "aws": "active admin"})
	if err := h.run("E1"); err != nil {
		t.Fatal(err)
	}
	if len(h.apps.decisions) != 1 || h.apps.decisions[0].ID != approvalID || h.apps.decisions[0].Status != tenure.ApprovalApproved {
		t.Errorf("decisions = %+v", h.apps.decisions)
	}
}

func TestApprovalDenied(t *testing.T) {
	h := newHarness(t)
	h.event(time.Minute, "e1", tenure.EventHire, senior("E1"))
	h.at(time.Hour, func() {
		a := h.apps.approvals[0]
		h.env.SignalWorkflow(workflows.CommandSignal, workflows.Command{Kind: workflows.CommandDecision,
			RequestID: "decision:" + a.ID, Decision: &tenure.Decision{ApprovalID: a.ID, Approve: false, By: "M1", Reason: "not needed"}})
	})
	h.wantApps(2*time.Hour, "E1", map[string]string{"google": "active", "slack": "active general", "github": "active engineering"})
	h.check(2*time.Hour, func(s workflows.EmployeeState) {
		if len(s.Approvals) != 1 || s.Approvals[0].Status != tenure.ApprovalDenied {
			t.Errorf("approvals = %+v, want one denied", s.Approvals)
		}
	})
	if err := h.run("E1"); err != nil {
		t.Fatal(err)
	}
	if len(h.apps.decisions) != 1 || h.apps.decisions[0].Reason != "not needed" || h.apps.decisions[0].Status != tenure.ApprovalDenied {
		t.Errorf("decisions = %+v", h.apps.decisions)
	}
}

func TestOneAppFailingDoesNotBlockTheOthers(t *testing.T) {
	h := newHarness(t)
	h.apps.fail["github"] = permanent
	h.event(time.Minute, "e1", tenure.EventHire, engineer("E1"))
	h.wantApps(time.Hour, "E1", map[string]string{"google": "active", "slack": "active general"})
	if err := h.run("E1"); err != nil {
		t.Fatal(err)
	}
	r := h.apps.runs["employee/E1/joiner/e1"]
	if r.Status != tenure.RunFailed || r.Error == "" {
		t.Fatalf("joiner run = %+v, want failed with the app's error", r)
	}
	if want := "1 of 3 apps failed: github: github: HTTP 401: bad token"; r.Error != want {
		t.Errorf("error = %q, want %q", r.Error, want)
	}
}

func TestRetryRunsOneAppAgain(t *testing.T) {
	h := newHarness(t)
	h.apps.fail["github"] = permanent
	h.event(time.Minute, "e1", tenure.EventHire, engineer("E1"))
	h.wantApps(time.Hour, "E1", map[string]string{"google": "active", "slack": "active general"})
	h.at(time.Hour, func() { delete(h.apps.fail, "github") })
	h.send(2*time.Hour, workflows.Command{Kind: workflows.CommandRetry, RequestID: "retry:r1", App: "github", Actor: "it"})
	h.wantApps(3*time.Hour, "E1", map[string]string{"google": "active", "slack": "active general", "github": "active engineering"})
	if err := h.run("E1"); err != nil {
		t.Fatal(err)
	}
	// The retry touched github alone.
	for _, c := range h.apps.calls[len(h.apps.calls)-2:] {
		if !strings.HasSuffix(c, " github") {
			t.Errorf("retry called %q", c)
		}
	}
	if r := h.apps.runs["employee/E1/mover/retry-r1"]; r.Status != tenure.RunCompleted {
		t.Errorf("retry run = %+v", r)
	}
}

func TestUnansweredApprovalIsRemindedEscalatedThenExpires(t *testing.T) {
	h := newHarness(t)
	h.event(time.Minute, "e1", tenure.EventHire, senior("E1"))
	var id string
	h.at(time.Hour, func() { id = h.apps.approvals[0].ID })
	h.at(23*time.Hour, func() {
		if n := h.apps.noted(); slices.Contains(n, "remind "+id) {
			t.Errorf("reminded before 24h: %v", n)
		}
	})
	h.at(25*time.Hour, func() {
		if n := h.apps.noted(); !slices.Contains(n, "remind "+id) || slices.Contains(n, "escalate "+id) {
			t.Errorf("at 25h notices = %v, want a reminder and no escalation yet", n)
		}
	})
	h.at(49*time.Hour, func() {
		if n := h.apps.noted(); !slices.Contains(n, "escalate "+id) {
			t.Errorf("at 49h notices = %v, want the escalation", n)
		}
	})
	h.check(6*24*time.Hour, func(s workflows.EmployeeState) {
		if s.Approvals[0].Status != tenure.ApprovalPending {
			t.Errorf("approval at 6 days = %s, want pending", s.Approvals[0].Status)
		}
	})
	h.check(7*24*time.Hour+time.Hour, func(s workflows.EmployeeState) {
		if s.Approvals[0].Status != tenure.ApprovalExpired {
			t.Errorf("approval after 7 days = %s, want expired", s.Approvals[0].Status)
		}
	})
	// A decision after expiry changes nothing.
	h.at(8*24*time.Hour, func() {
		h.env.SignalWorkflow(workflows.CommandSignal, workflows.Command{Kind: workflows.CommandDecision,
			RequestID: "decision:" + id, Decision: &tenure.Decision{ApprovalID: id, Approve: true, By: "M1"}})
	})
	h.wantApps(9*24*time.Hour, "E1", map[string]string{"google": "active", "slack": "active general", "github": "active engineering"})
	if err := h.run("E1"); err != nil {
		t.Fatal(err)
	}
	if len(h.apps.decisions) != 1 || h.apps.decisions[0].Status != tenure.ApprovalExpired || h.apps.decisions[0].DecidedBy != "tenure" {
		t.Errorf("decisions = %+v, want one expiry by tenure", h.apps.decisions)
	}
	if n := h.apps.noted(); strings.Count(strings.Join(n, ";"), "remind ") != 1 || strings.Count(strings.Join(n, ";"), "escalate ") != 1 {
		t.Errorf("notices = %v, want one reminder and one escalation", n)
	}
}

func TestManagerHearsWhenAccessIsReadyAndITGetsTheLeaverSummary(t *testing.T) {
	h := newHarness(t)
	p := engineer("E1")
	p.StartDate = t0.AddDate(0, 0, 3).Format(tenure.DateLayout)
	h.event(time.Minute, "e1", tenure.EventHire, p)
	h.at(24*time.Hour, func() {
		if n := h.apps.noted(); slices.Contains(n, "ready E1") {
			t.Errorf("the manager was told before the start date: %v", n)
		}
	})
	h.at(4*24*time.Hour, func() {
		if n := h.apps.noted(); !slices.Contains(n, "ready E1") {
			t.Errorf("notices on the start date = %v, want access ready", n)
		}
	})
	h.event(5*24*time.Hour, "e2", tenure.EventTerminate, p)
	h.at(6*24*time.Hour, func() {
		if n := h.apps.noted(); !slices.Contains(n, "leaver E1 4") {
			t.Errorf("notices after the leaver = %v, want a summary over the 4 apps", n)
		}
	})
	if err := h.run("E1"); err != nil {
		t.Fatal(err)
	}
}

func TestANoticeIsTriedInPlaceThenAsAnActivity(t *testing.T) {
	h := newHarness(t)
	h.apps.failOnce["notice"] = temporal.NewApplicationError("slack: HTTP 503", "Transient")
	h.event(time.Minute, "e1", tenure.EventHire, engineer("E1"))
	if err := h.run("E1"); err != nil {
		t.Fatal(err)
	}
	var notices []string
	for _, l := range h.apps.lanes {
		if strings.HasPrefix(l, "notice ") {
			notices = append(notices, l)
		}
	}
	if want := []string{"notice ready E1 local", "notice ready E1 default-test-taskqueue"}; !slices.Equal(notices, want) {
		t.Errorf("notice tries = %q, want %q: in place, then, as that failed, as an activity", notices, want)
	}
	if n := h.apps.noted(); !slices.Contains(n, "ready E1") {
		t.Errorf("notices = %v, want access ready", n)
	}

	// Someone with no manager has nobody to tell.
	h = newHarness(t)
	p := engineer("E2")
	p.ManagerID = ""
	h.event(time.Minute, "e1", tenure.EventHire, p)
	if err := h.run("E2"); err != nil {
		t.Fatal(err)
	}
	for _, l := range h.apps.lanes {
		if strings.HasPrefix(l, "notice ") {
			t.Errorf("a notice was tried for a hire with no manager: %q", l)
		}
	}
}

func TestAnOlderEventArrivingLateIsDiscarded(t *testing.T) {
	h := newHarness(t)
	h.event(time.Minute, "e1", tenure.EventHire, engineer("E1"))
	at := func(d time.Duration) *time.Time { x := t0.Add(d); return &x }
	sales := engineer("E1")
	sales.Department = "Sales"
	// HR moved them to Sales at 10:00; a change made at 09:30 (back to
	// Engineering) is delivered afterwards.
	h.send(time.Hour, workflows.Command{Kind: workflows.CommandEvent, RequestID: "event:e2",
		Event: &tenure.Event{ID: "e2", Type: tenure.EventUpdate, EffectiveAt: at(time.Hour), Employee: sales}})
	h.send(2*time.Hour, workflows.Command{Kind: workflows.CommandEvent, RequestID: "event:e3",
		Event: &tenure.Event{ID: "e3", Type: tenure.EventUpdate, EffectiveAt: at(30 * time.Minute), Employee: engineer("E1")}})
	h.wantApps(3*time.Hour, "E1", map[string]string{"google": "active", "slack": "active general,sales", "github": "disabled"})
	h.check(3*time.Hour, func(s workflows.EmployeeState) {
		if s.Person.Department != "Sales" {
			t.Errorf("department = %q, want the newer Sales", s.Person.Department)
		}
	})
	if err := h.run("E1"); err != nil {
		t.Fatal(err)
	}
	if n := h.apps.noted(); !slices.Contains(n, "discard e3") {
		t.Errorf("notices = %v, want e3 recorded as discarded", n)
	}
}
