package main

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestLockCLI pulls the kill switch and lifts it from a terminal, against a
// real `tenure dev`: each app's verified result is printed as it lands; a
// failing app, a timeout, an unknown person and a wrong token each exit
// non-zero, saying why.
func TestLockCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the embedded Temporal server")
	}
	p := startDev(t, t.TempDir())
	p.event("hire-cli-1", "hire", person("E1", "Engineering", "Senior Engineer"))
	active := map[string]string{"google": "active all-staff", "slack": "active general", "github": "active engineering"}
	p.waitApps("E1", active)
	p.waitHealthChecked()
	tenure := func(args ...string) (string, error) {
		t.Helper()
		var out, errOut bytes.Buffer
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		err := run(ctx, append(args, "--url", p.base, "--data-dir", p.dir), func(string) string { return "" }, &out, &errOut)
		t.Logf("tenure %s: %v\n%s%s", strings.Join(args, " "), err, out.String(), errOut.String())
		return out.String(), err
	}
	wantLines := func(t *testing.T, out string, want ...string) {
		t.Helper()
		for _, w := range want {
			if !strings.Contains(out, w) {
				t.Errorf("output does not say %q:\n%s", w, out)
			}
		}
	}

	t.Run("lock prints each app as it is verified", func(t *testing.T) {
		p.t = t
		out, err := tenure("lock", "E1")
		if err != nil {
			t.Fatalf("tenure lock E1: %v", err)
		}
		wantLines(t, out, "Locking E1: run employee/E1/lock/cli-",
			"  github       disabled, verified ", "  google       disabled, verified ", "  slack        disabled, verified ",
			"Locked E1: 3 apps verified in ")
		// The apps say so themselves.
		if got := p.appState("E1"); got["github"] != "disabled engineering" || got["google"] != "disabled all-staff" || got["slack"] != "disabled general" {
			t.Errorf("apps after tenure lock: %v", got)
		}
		if _, err := tenure("lock", "E1", "--timeout", "0s"); err == nil || !strings.Contains(err.Error(), "--timeout must be positive") {
			t.Errorf("--timeout 0s: %v", err)
		}
	})

	t.Run("status shows the apps and the runs", func(t *testing.T) {
		p.t = t
		out, err := tenure("status", "E1")
		if err != nil {
			t.Fatalf("tenure status E1: %v", err)
		}
		wantLines(t, out, "E1  Grace Hopper <e1@example.com>  locked", "/namespaces/default/workflows/employee%2FE1")
		for _, re := range []string{
			`(?m)^APP +STATE +VERIFIED +ERROR$`,
			`(?m)^aws +pending_approval +never *$`,
			`(?m)^github +disabled +20\d\d-\d\d-\d\dT[\d:]+Z *$`,
			`(?m)^google +disabled +20\d\d-\d\d-\d\dT[\d:]+Z *$`,
			`(?m)^slack +disabled +20\d\d-\d\d-\d\dT[\d:]+Z *$`,
			`(?m)^RUN +STATUS +STARTED +CLOSED +TEMPORAL$`,
			// The latest run first.
			`(?s)\nLock +completed +20[^\n]+ http://[^\n]+\nJoiner +completed `,
		} {
			if !regexp.MustCompile(re).MatchString(out) {
				t.Errorf("output does not match %s:\n%s", re, out)
			}
		}
	})

	t.Run("unlock restores every app", func(t *testing.T) {
		p.t = t
		out, err := tenure("unlock", "E1")
		if err != nil {
			t.Fatalf("tenure unlock E1: %v", err)
		}
		wantLines(t, out, "Unlocking E1: run employee/E1/unlock/cli-",
			"  github       active, verified ", "  google       active, verified ", "  slack        active, verified ",
			"Unlocked E1: 3 apps verified in ")
		p.waitApps("E1", active)
		if _, err := tenure("unlock", "E1"); err == nil || err.Error() != "E1 is not locked (status active): there is nothing to unlock" {
			t.Errorf("unlocking someone not locked: %v", err)
		}
	})

	t.Run("a timeout exits non-zero and names the apps still waiting", func(t *testing.T) {
		p.t = t
		p.faults("slack", map[string]any{"errorRate": 1})
		out, err := tenure("lock", "E1", "--timeout", "3s")
		if err == nil || !strings.Contains(err.Error(), "lock of E1: not done after 3s (still waiting on slack); it goes on, follow it with `tenure status E1`") {
			t.Fatalf("tenure lock with slack down: %v, want a timeout naming slack", err)
		}
		wantLines(t, out, "  github       disabled, verified ", "  google       disabled, verified ")
		// The lock goes on, and finishes once slack answers again.
		p.faults("slack", map[string]any{})
		p.waitApps("E1", map[string]string{"google": "disabled all-staff", "slack": "disabled general", "github": "disabled engineering"})
	})

	t.Run("a failed app exits non-zero with its error", func(t *testing.T) {
		p.t = t
		p.faults("github", map[string]any{"failNext": 1, "failStatus": 400, "failDetail": "the organisation refuses"})
		out, err := tenure("unlock", "E1", "--timeout", "30s")
		if err == nil || !strings.Contains(err.Error(), "unlock of E1 failed in 1 of 3 apps (github)") {
			tenure("status", "E1")
			t.Fatalf("tenure unlock with github failing: %v, want a failure naming github", err)
		}
		wantLines(t, out, "  github       failed: ", "the organisation refuses", "  google       active, verified ")
		if exitCode(err) == 0 {
			t.Errorf("exit code 0 for %v", err)
		}
	})

	t.Run("an unknown person is named", func(t *testing.T) {
		p.t = t
		_, err := tenure("lock", "NOBODY")
		if err == nil || !strings.HasSuffix(err.Error(), `employee "NOBODY" not found`) {
			t.Errorf("tenure lock NOBODY: %v, want it named as not found", err)
		}
		if _, err := tenure("status", "NOBODY"); err == nil || !strings.Contains(err.Error(), `"NOBODY"`) {
			t.Errorf("tenure status NOBODY: %v", err)
		}
	})

	t.Run("a wrong token exits non-zero with the API's message", func(t *testing.T) {
		p.t = t
		for _, cmd := range []string{"lock", "unlock", "status"} {
			_, err := tenure(cmd, "E1", "--token", "tnr_not-a-real-token")
			if err == nil || !strings.HasSuffix(err.Error(), "the bearer token is not valid") || exitCode(err) == 0 {
				t.Errorf("tenure %s with a wrong token: %v, want the API's message", cmd, err)
			}
		}
	})

	t.Run("someone terminated is not locked", func(t *testing.T) {
		p.t = t
		p.event("term-cli-1", "terminate", person("E1", "Engineering", "Senior Engineer"))
		deadline := time.Now().Add(30 * time.Second)
		for p.employee("E1").Status != "terminated" && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
		_, err := tenure("lock", "E1")
		if err == nil || err.Error() != "E1 is terminated: there is nothing to lock" {
			t.Errorf("tenure lock on someone terminated: %v", err)
		}
	})
}
