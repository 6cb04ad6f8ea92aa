package main

import (
	"bytes"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/tenure-io/tenure/integrations/slack/slacktest"
	"github.com/tenure-io/tenure/policy"
)

// TestTerminateWhileAMoverIsQueuedCreatesNothing is issue 9's lifecycle gap:
// a terminate that takes effect now, sent while a move to Sales waits behind
// another change, let the mover create a Salesforce account a second before
// the leaver disabled it. Now the queued mover is superseded: the sandbox's
// own Salesforce never sees the person, and the run says so.
func TestTerminateWhileAMoverIsQueuedCreatesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the embedded Temporal server")
	}
	out := historiesOut(t)
	p := startDev(t, t.TempDir())
	p.event("hire-5", "hire", person("E5", "Engineering", "Engineer"))
	p.waitApps("E5", map[string]string{"google": "active all-staff", "slack": "active general", "github": "active engineering"})
	p.waitHealthChecked()

	// Google answers slowly, so a first change is still running when the
	// move to Sales and the termination arrive, and both wait in the queue.
	p.faults("google", map[string]any{"latency": "2s"})
	p.event("move-5a", "update", person("E5", "Engineering", "Engineer II"))
	waitFor(t, "the first change to run", func() bool {
		for _, w := range p.employee("E5").Workflows {
			if w.WorkflowID == "employee/E5/mover/move-5a" {
				return true
			}
		}
		return false
	})
	p.event("move-5b", "update", person("E5", "Sales", "Account Executive"))
	p.event("term-5", "terminate", person("E5", "Sales", "Account Executive"))
	if status, _, _ := p.waitRun("E5", "employee/E5/leaver/term-5"); status != "completed" {
		t.Fatalf("leaver = %s, want completed", status)
	}
	p.faults("google", map[string]any{})

	// The app's own state: Salesforce never had an account for E5.
	if accts := p.accounts("salesforce", "E5"); len(accts) != 0 {
		t.Errorf("salesforce holds %+v for the leaver, want nothing", accts)
	}
	p.waitApps("E5", map[string]string{"google": "disabled all-staff", "slack": "disabled general", "github": "disabled engineering"})
	runs := map[string]string{}
	for _, w := range p.employee("E5").Workflows {
		runs[w.WorkflowID] = w.Status
	}
	if runs["employee/E5/mover/move-5b"] != "superseded" || runs["employee/E5/mover/move-5a"] != "canceled" {
		t.Errorf("runs = %v, want the running change pre-empted and the queued move superseded", runs)
	}
	var audit struct {
		Records []struct{ Action, Detail string } `json:"records"`
	}
	p.call("GET", "/api/v1/audit?employee_id=E5&action=run.superseded", nil, &audit)
	if len(audit.Records) != 1 || !strings.Contains(audit.Records[0].Detail, "termination term-5") {
		t.Errorf("run.superseded audit = %+v, want the move recorded as superseded by term-5", audit.Records)
	}
	var e struct{ Department string }
	p.call("GET", "/api/v1/employees/E5", nil, &e)
	if e.Department != "Sales" {
		t.Errorf("department = %q, want the superseded change's record kept: Sales", e.Department)
	}

	if out != "" {
		c, err := client.Dial(client.Options{HostPort: p.temporal})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		writeRunHistory(t, c, "employee/E5", "", filepath.Join(out, "employee-superseded.json"))
	}
}

// TestAMoverKeepsTheOldRoleForTheGraceThenItIsDeleted runs mover_grace and the
// deletion of a mover's disabled accounts on tenure dev: the old role's GitHub
// stays for the grace period, is then disabled, and once the retention period
// has passed it is deleted, as a leaver's accounts are.
func TestAMoverKeepsTheOldRoleForTheGraceThenItIsDeleted(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the embedded Temporal server")
	}
	out := historiesOut(t)
	dir := t.TempDir()
	pol := bytes.Replace(policy.Dev, []byte("retention: 30d\n"), []byte("retention: 5s\nmover_grace: 10s\n"), 1)
	path := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(path, pol, 0o600); err != nil {
		t.Fatal(err)
	}
	p := startDevWith(t, filepath.Join(dir, "data"), []string{"--policy", path}, nil)
	p.event("hire-6", "hire", person("E6", "Engineering", "Engineer"))
	p.waitApps("E6", map[string]string{"google": "active all-staff", "slack": "active general", "github": "active engineering"})

	moved := time.Now()
	p.event("move-6", "update", person("E6", "Sales", "Account Executive"))
	if status, _, _ := p.waitRun("E6", "employee/E6/mover/move-6"); status != "completed" {
		t.Fatalf("mover = %s", status)
	}
	// The new role's access is there, and the old role's GitHub is kept.
	during := map[string]string{"google": "active all-staff", "slack": "active general", "github": "active engineering", "salesforce": "active sales-users"}
	if got := p.appState("E6"); time.Since(moved) < 8*time.Second && !maps.Equal(got, during) {
		t.Errorf("during the grace the apps are %v, want %v", got, during)
	}
	// After the grace, GitHub goes; after the retention period, its account too.
	p.waitApps("E6", map[string]string{"google": "active all-staff", "slack": "active general", "github": "disabled", "salesforce": "active sales-users"})
	if time.Since(moved) < 10*time.Second {
		t.Errorf("github was disabled %s after the move, before the 10s grace", time.Since(moved))
	}
	p.waitApps("E6", map[string]string{"google": "active all-staff", "slack": "active general", "salesforce": "active sales-users"})
	if status, _, _ := p.waitRun("E6", "employee/E6/mover/move-6-grace-delete"); status != "completed" {
		t.Errorf("the deletion = %s, want completed", status)
	}
	for _, a := range p.employee("E6").Access {
		if a.App == "github" && (a.Status != "deleted" || a.VerifiedAt == nil) {
			t.Errorf("github access = %s (verified %v), want deleted and verified", a.Status, a.VerifiedAt)
		}
	}

	if out != "" {
		c, err := client.Dial(client.Options{HostPort: p.temporal})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		writeRunHistory(t, c, "employee/E6", "", filepath.Join(out, "employee-mover-grace.json"))
		writeRunHistory(t, c, "employee/E6/mover/move-6-grace-delete", "", filepath.Join(out, "mover-delete.json"))
	}
}

// TestAnUnreachableApproverFallsBackToTheITChannel is the dev policy's
// it_approver case with Slack on: a senior engineer with no manager in HR
// needs it-security's approval, and it-security is nobody Slack (or Tenure)
// knows. The request goes to the IT channel at once, not retried for ever;
// the approval says so in the API, and an admin decides it there.
func TestAnUnreachableApproverFallsBackToTheITChannel(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the embedded Temporal server")
	}
	const secret = "slack-signing-secret-for-tests"
	fake := slacktest.New(slacktest.Config{Token: "xoxb-test", SigningSecret: secret, Channels: []string{"C0IT"},
		Users: []slacktest.User{{ID: "U0BOSS", Email: "m1@example.com", Name: "Mary Manager"}}})
	defer fake.Close()
	p := startDevWith(t, t.TempDir(), nil, map[string]string{
		"TENURE_SLACK_BOT_TOKEN":         "xoxb-test",
		"TENURE_SLACK_SIGNING_SECRET":    secret,
		"TENURE_SLACK_API_URL":           fake.APIURL(),
		"TENURE_SLACK_RESPONSE_URL_BASE": fake.ResponseURLBase(),
		"TENURE_SLACK_IT_CHANNEL":        "C0IT",
	})
	defer func() {
		if t.Failed() {
			for _, c := range fake.Calls() {
				t.Logf("slack call %s %v error=%q", c.Method, c.Args, c.Error)
			}
		}
	}()
	e8 := person("E8", "Engineering", "Senior Engineer")
	delete(e8, "manager_id")
	p.event("hire-8", "hire", e8)

	var posted slacktest.Call
	waitFor(t, "the request in the IT channel", func() bool {
		for _, c := range fake.Calls("chat.postMessage") {
			if c.Channel == "C0IT" && strings.Contains(c.Text(), "it-security") && strings.Contains(c.Text(), "production-admin") {
				posted = c
				return true
			}
		}
		return false
	})
	var list struct {
		Approvals []map[string]any `json:"approvals"`
	}
	waitFor(t, "the approval's notice to be recorded", func() bool {
		p.call("GET", "/api/v1/approvals?status=pending&employee_id=E8", nil, &list)
		return len(list.Approvals) == 1 && list.Approvals[0]["notice"] != nil
	})
	a := list.Approvals[0]
	if a["notice"] != "sent_to_it" || !strings.Contains(fmt.Sprint(a["notice_error"]), "has no email") {
		t.Fatalf("approval = %v, want notice sent_to_it, saying why", a)
	}
	// An admin decides it in the API, as in the console, once the person's
	// workflow holds it (the request is stored a moment before).
	var outcome struct{ Status string }
	waitFor(t, "the admin's approval", func() bool {
		code := p.call("POST", "/api/v1/approvals/"+fmt.Sprint(a["id"])+"/approve", map[string]string{"reason": "IT on call"}, &outcome)
		return code == 200 && outcome.Status == "approved"
	})
	p.waitApps("E8", map[string]string{"google": "active all-staff", "slack": "active general",
		"github": "active engineering", "aws": "active production-admin"})
	// The IT channel's message now shows the decision.
	waitFor(t, "the IT message updated with the decision", func() bool {
		for _, c := range fake.Calls("chat.update") {
			if c.Args["ts"] == posted.TS && strings.Contains(strings.ToLower(c.Text()), "approved") {
				return true
			}
		}
		return false
	})
	n := 0
	for _, c := range fake.Calls("chat.postMessage") {
		if c.Channel == "C0IT" && strings.Contains(c.Text(), "it-security") {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d fallback posts, want one: the unreachable approver is not asked again", n)
	}
}
