package workflows_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/workflows"
)

func salesperson(id string) tenure.Person {
	p := engineer(id)
	p.Department, p.Title = "Sales", "Account Executive"
	return p
}

// signalTogether sends commands in one go at d, so that all of them are queued
// before the person's workflow handles the first.
func (h *harness) signalTogether(d time.Duration, cs ...workflows.Command) {
	h.at(d, func() {
		for _, c := range cs {
			h.env.SignalWorkflow(workflows.CommandSignal, c)
		}
	})
}

func eventCommand(id string, typ tenure.EventType, p tenure.Person) workflows.Command {
	return workflows.Command{Kind: workflows.CommandEvent, RequestID: "event:" + id,
		Event: &tenure.Event{ID: id, Type: typ, Employee: p}}
}

func (h *harness) wantRun(id string, want tenure.RunStatus) {
	h.t.Helper()
	if r := h.apps.runs[id]; r.Status != want {
		h.t.Errorf("run %s = %+v, want %s", id, r, want)
	}
}

func TestATerminationSupersedesAQueuedMover(t *testing.T) {
	h := newHarness(t)
	h.event(time.Minute, "e1", tenure.EventHire, salesperson("E1"))
	// A move to Engineering, which would create a github account, and the
	// termination right behind it.
	h.signalTogether(time.Hour, eventCommand("e2", tenure.EventUpdate, engineer("E1")),
		eventCommand("e3", tenure.EventTerminate, engineer("E1")))
	h.wantApps(2*time.Hour, "E1", map[string]string{"google": "disabled", "slack": "disabled general,sales"})
	h.check(2*time.Hour, func(s workflows.EmployeeState) {
		if s.Status != tenure.PersonTerminated || s.Person.Department != "Engineering" {
			t.Errorf("status %s, department %q: want terminated, with the record kept current", s.Status, s.Person.Department)
		}
	})
	if err := h.run("E1"); err != nil {
		t.Fatal(err)
	}
	for _, c := range h.apps.calls {
		if strings.HasPrefix(c, "fake.CreateAccount") && c != "fake.CreateAccount google" && c != "fake.CreateAccount slack" {
			t.Errorf("the superseded mover ran: %v", h.apps.calls)
		}
	}
	h.wantRun("employee/E1/mover/e2", tenure.RunSuperseded)
	h.wantRun("employee/E1/leaver/e3", tenure.RunCompleted)
	if n := h.apps.noted(); !slices.Contains(n, "superseded employee/E1/mover/e2 by termination e3") {
		t.Errorf("notices = %v, want the mover recorded as superseded by the termination", n)
	}
}

func TestALockSupersedesAQueuedMoverUntilTheUnlock(t *testing.T) {
	h := newHarness(t)
	h.event(time.Minute, "e1", tenure.EventHire, salesperson("E1"))
	h.signalTogether(time.Hour, eventCommand("e2", tenure.EventUpdate, engineer("E1")),
		workflows.Command{Kind: workflows.CommandLock, RequestID: "lock:r1", Actor: "it"})
	// Nothing was granted a moment before the lock took it away.
	h.wantApps(2*time.Hour, "E1", map[string]string{"google": "disabled", "slack": "disabled general,sales"})
	h.wantStatus(2*time.Hour, tenure.PersonLocked)
	// The unlock brings back what the lock disabled, then applies the change.
	h.send(3*time.Hour, workflows.Command{Kind: workflows.CommandUnlock, RequestID: "unlock:u1", Actor: "it"})
	h.wantApps(4*time.Hour, "E1", map[string]string{"google": "active", "slack": "active general", "github": "active engineering"})
	if err := h.run("E1"); err != nil {
		t.Fatal(err)
	}
	h.wantRun("employee/E1/mover/e2", tenure.RunSuperseded)
	h.wantRun("employee/E1/lock/r1", tenure.RunCompleted)
	h.wantRun("employee/E1/mover/unlock-u1", tenure.RunCompleted)
}

func TestAnUnlockQueuedAheadOfATerminationBringsNothingBack(t *testing.T) {
	h := newHarness(t)
	h.event(time.Minute, "e1", tenure.EventHire, engineer("E1"))
	// The unlock and the termination are queued while the lock runs.
	h.signalTogether(time.Hour, workflows.Command{Kind: workflows.CommandLock, RequestID: "lock:r1", Actor: "it"},
		workflows.Command{Kind: workflows.CommandUnlock, RequestID: "unlock:u1", Actor: "it"},
		eventCommand("e2", tenure.EventTerminate, engineer("E1")))
	h.wantStatus(3*time.Hour, tenure.PersonTerminated)
	if err := h.run("E1"); err != nil {
		t.Fatal(err)
	}
	for _, c := range h.apps.calls {
		if strings.HasPrefix(c, "fake.EnableAccount") {
			t.Errorf("an account came back before the leaver: %v", h.apps.calls)
		}
	}
	h.wantRun("employee/E1/unlock/u1", tenure.RunSuperseded)
	h.wantRun("employee/E1/leaver/e2", tenure.RunCompleted)
}

func TestAFailedApprovalNoticeNeverFailsThePersonsWorkflow(t *testing.T) {
	h := newHarness(t)
	// Asking the approver keeps failing, as when Slack is down.
	h.apps.fail[workflows.RequestApprovalActivity] = errors.New("slack: chat.postMessage: HTTP 503")
	h.event(time.Minute, "e1", tenure.EventHire, senior("E1"))
	h.wantApps(time.Hour, "E1", map[string]string{"google": "active", "slack": "active general", "github": "active engineering"})
	// The approval is still decided, in the console or the API.
	var out decideOutcome
	h.decide(time.Hour, "u1", tenure.Decision{Approve: true, By: "M1", Role: tenure.RoleManager}, &out)
	h.wantApps(2*time.Hour, "E1", map[string]string{"google": "active", "slack": "active general", "github": "active engineering", "aws": "active admin"})
	if err := h.run("E1"); err != nil {
		t.Fatalf("the person's workflow failed: %v", err)
	}
	if out.rejected != nil || out.err != nil || out.status != tenure.ApprovalApproved {
		t.Errorf("decision = %+v, want approved", out)
	}
	if id := h.apps.approvals[0].ID; !slices.Contains(h.apps.noted(), "notice failed "+id) {
		t.Errorf("notices = %v, want %s recorded as notice failed", h.apps.noted(), id)
	}
}

func TestAMoverKeepsTheOldRolesAccessForTheGracePeriod(t *testing.T) {
	h := newHarness(t)
	h.apps.grace = 72 * time.Hour
	h.event(time.Minute, "e1", tenure.EventHire, salesperson("E1"))
	h.event(time.Hour, "e2", tenure.EventUpdate, engineer("E1"))
	// The new role's access comes at once; the old role's sales channel stays.
	h.wantApps(2*time.Hour, "E1", map[string]string{"google": "active", "slack": "active general,sales", "github": "active engineering"})
	h.check(2*time.Hour, func(s workflows.EmployeeState) {
		if s.GraceAt == nil || !s.GraceAt.Equal(t0.Add(73*time.Hour)) {
			t.Errorf("grace ends at %v, want %v", s.GraceAt, t0.Add(73*time.Hour))
		}
	})
	h.wantApps(72*time.Hour, "E1", map[string]string{"google": "active", "slack": "active general,sales", "github": "active engineering"})
	h.wantApps(74*time.Hour, "E1", map[string]string{"google": "active", "slack": "active general", "github": "active engineering"})
	if err := h.run("E1"); err != nil {
		t.Fatal(err)
	}
	h.wantRun("employee/E1/mover/e2", tenure.RunCompleted)
	h.wantRun("employee/E1/mover/e2-grace", tenure.RunCompleted)
}

func TestALaterMoverStartsTheGraceAgain(t *testing.T) {
	h := newHarness(t)
	h.apps.grace = 72 * time.Hour
	h.event(time.Minute, "e1", tenure.EventHire, engineer("E1"))
	h.event(time.Hour, "e2", tenure.EventUpdate, salesperson("E1"))
	retitled := salesperson("E1")
	retitled.Title = "Senior Account Executive"
	h.event(48*time.Hour, "e3", tenure.EventUpdate, retitled)
	// The first change's grace would have ended at 73h; the second's ends at 120h.
	h.wantApps(100*time.Hour, "E1", map[string]string{"google": "active", "slack": "active general,sales", "github": "active engineering"})
	h.wantApps(121*time.Hour, "E1", map[string]string{"google": "active", "slack": "active general,sales", "github": "disabled"})
	if err := h.run("E1"); err != nil {
		t.Fatal(err)
	}
	h.wantRun("employee/E1/mover/e3-grace", tenure.RunCompleted)
	if _, ok := h.apps.runs["employee/E1/mover/e2-grace"]; ok {
		t.Error("the first change's grace ended too, though the second started it again")
	}
}

func TestALockSupersedesTheGracePeriod(t *testing.T) {
	h := newHarness(t)
	h.apps.grace = 72 * time.Hour
	h.event(time.Minute, "e1", tenure.EventHire, engineer("E1"))
	h.event(time.Hour, "e2", tenure.EventUpdate, salesperson("E1"))
	h.send(2*time.Hour, workflows.Command{Kind: workflows.CommandLock, RequestID: "lock:r1", Actor: "it"})
	h.check(3*time.Hour, func(s workflows.EmployeeState) {
		if s.GraceAt != nil {
			t.Errorf("grace ends at %v after the lock, want it gone", s.GraceAt)
		}
	})
	h.send(4*time.Hour, workflows.Command{Kind: workflows.CommandUnlock, RequestID: "unlock:u1", Actor: "it"})
	// The unlock converges on the new role alone: the old role's github is not back.
	h.wantApps(5*time.Hour, "E1", map[string]string{"google": "active", "slack": "active general,sales", "github": "disabled"})
	if err := h.run("E1"); err != nil {
		t.Fatal(err)
	}
}

func TestAMoversDisabledAccountsAreDeletedAfterTheRetentionPeriod(t *testing.T) {
	h := newHarness(t)
	h.event(time.Minute, "e1", tenure.EventHire, engineer("E1"))
	h.event(time.Hour, "e2", tenure.EventUpdate, salesperson("E1"))
	h.wantApps(2*time.Hour, "E1", map[string]string{"google": "active", "slack": "active general,sales", "github": "disabled"})
	h.wantApps(30*24*time.Hour, "E1", map[string]string{"google": "active", "slack": "active general,sales", "github": "disabled"})
	h.wantApps(31*24*time.Hour, "E1", map[string]string{"google": "active", "slack": "active general,sales"})
	h.check(31*24*time.Hour, func(s workflows.EmployeeState) {
		if len(s.Retired) != 0 {
			t.Errorf("retired = %+v after the deletion", s.Retired)
		}
	})
	if err := h.run("E1"); err != nil {
		t.Fatal(err)
	}
	h.wantRun("employee/E1/mover/e2-delete", tenure.RunCompleted)
	if !slices.Contains(h.apps.calls, "fake.DeleteAccount github") || slices.Contains(h.apps.calls, "fake.DeleteAccount google") {
		t.Errorf("calls = %v, want github's account deleted and no other", h.apps.calls)
	}
}

func TestAnAccountAMoverDisabledIsKeptWhenTheRoleComesBack(t *testing.T) {
	h := newHarness(t)
	h.event(time.Minute, "e1", tenure.EventHire, engineer("E1"))
	h.event(time.Hour, "e2", tenure.EventUpdate, salesperson("E1"))
	h.event(10*24*time.Hour, "e3", tenure.EventUpdate, engineer("E1"))
	h.wantApps(40*24*time.Hour, "E1", map[string]string{"google": "active", "slack": "active general", "github": "active engineering"})
	if err := h.run("E1"); err != nil {
		t.Fatal(err)
	}
	if slices.Contains(h.apps.calls, "fake.DeleteAccount github") {
		t.Errorf("the account the role gives again was deleted: %v", h.apps.calls)
	}
}
