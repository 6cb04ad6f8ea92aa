package main

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tenure-io/tenure/integrations/slack/slacktest"
)

// TestSlackApproval runs the approval flow of issue 4 end to end: tenure dev with
// its Slack settings pointing at a local fake of Slack's Web API.
func TestSlackApproval(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the embedded Temporal server")
	}
	const secret = "slack-signing-secret-for-tests"
	fake := slacktest.New(slacktest.Config{
		Token: "xoxb-test", SigningSecret: secret, Channels: []string{"C0IT"},
		Users: []slacktest.User{
			{ID: "U0BOSS", Email: "m1@example.com", Name: "Mary Manager"},
			{ID: "U0OTHER", Email: "other@example.com", Name: "Oscar Other"},
		},
	})
	defer fake.Close()
	t.Setenv("TENURE_SLACK_BOT_TOKEN", "xoxb-test")
	t.Setenv("TENURE_SLACK_SIGNING_SECRET", secret)
	t.Setenv("TENURE_SLACK_API_URL", fake.APIURL())
	t.Setenv("TENURE_SLACK_RESPONSE_URL_BASE", fake.ResponseURLBase())
	t.Setenv("TENURE_SLACK_IT_CHANNEL", "C0IT")
	p := startDev(t, t.TempDir())
	target := p.base + "/slack/interactions"
	ctx := context.Background()

	// The manager and a colleague are people Tenure knows, by their work email.
	p.event("hire-m1", "hire", map[string]any{"id": "M1", "email": "m1@example.com", "given_name": "Mary",
		"family_name": "Manager", "department": "Engineering", "title": "Engineering Manager"})
	p.event("hire-other", "hire", map[string]any{"id": "O1", "email": "other@example.com", "given_name": "Oscar",
		"family_name": "Other", "department": "Engineering", "title": "Engineer"})
	p.waitApps("O1", map[string]string{"google": "active all-staff", "slack": "active general", "github": "active engineering"})
	p.event("hire-e1", "hire", person("E1", "Engineering", "Senior Engineer"))

	// The request is a DM to the manager, with the person, the grant and the rule.
	var request slacktest.Call
	defer func() {
		if t.Failed() {
			t.Logf("tenure dev said:\n%s", p.out)
			for _, c := range fake.Calls() {
				t.Logf("slack call %s %v error=%q", c.Method, c.Args, c.Error)
			}
		}
	}()
	waitFor(t, "the approval DM", func() bool {
		for _, c := range fake.Calls("chat.postMessage") {
			if c.Channel != "" && c.Channel == fake.DMChannel("U0BOSS") && len(c.Buttons()) == 2 {
				request = c
				return true
			}
		}
		return false
	})
	for _, want := range []string{"Grace Hopper", "Senior Engineer", "aws", "production-admin", "senior-engineers"} {
		if !strings.Contains(request.Text(), want) {
			t.Errorf("the approval request does not show %q:\n%s", want, request.Text())
		}
	}

	// Someone else's click changes nothing and is told so.
	if d, err := fake.Click(ctx, target, "U0OTHER", request.Channel, request.TS, "approve"); err != nil || d.Status != http.StatusOK {
		t.Fatalf("click by another person: %v %+v", err, d)
	}
	waitFor(t, "the ephemeral refusal", func() bool {
		for _, r := range fake.Responses() {
			if r.UserID == "U0OTHER" && r.Ephemeral() {
				return true
			}
		}
		return false
	})

	// The manager approves, twice in quick succession; it decides once.
	for range 2 {
		if d, err := fake.Click(ctx, target, "U0BOSS", request.Channel, request.TS, "approve"); err != nil || d.Status != http.StatusOK {
			t.Fatalf("the manager's click: %v %+v", err, d)
		}
	}
	p.waitApps("E1", map[string]string{"google": "active all-staff", "slack": "active general",
		"github": "active engineering", "aws": "active production-admin"})

	// The original message now shows the decision, who made it and when, without buttons.
	waitFor(t, "the message update", func() bool {
		for _, c := range fake.Calls("chat.update") {
			if c.Args["ts"] == request.TS && strings.Contains(strings.ToLower(c.Text()), "approved") &&
				strings.Contains(c.Text(), "Mary") && len(c.Buttons()) == 0 {
				return true
			}
		}
		return false
	})
	var audit struct {
		Records []struct{ Action, Actor, App string } `json:"records"`
	}
	p.call("GET", "/api/v1/audit?employee_id=E1&action=approval.approved", nil, &audit)
	if len(audit.Records) != 1 || audit.Records[0].Actor != "M1" {
		t.Errorf("approval.approved audit = %+v, want one decision by M1", audit.Records)
	}
	p.call("GET", "/api/v1/audit?action=approval.refused", nil, &audit)
	if len(audit.Records) != 1 {
		t.Errorf("approval.refused audit = %+v, want the other person's click", audit.Records)
	}

	// The manager heard that the new hire's accounts are ready.
	dm := fake.DMChannel("U0BOSS")
	waitFor(t, "the access-ready DM", func() bool {
		for _, c := range fake.Calls("chat.postMessage") {
			if c.Channel == dm && len(c.Buttons()) == 0 && strings.Contains(c.Text(), "github") {
				return true
			}
		}
		return false
	})

	// A leaver's summary goes to IT.
	p.event("term-e1", "terminate", person("E1", "Engineering", "Senior Engineer"))
	waitFor(t, "the leaver summary", func() bool {
		for _, c := range fake.Calls("chat.postMessage") {
			if c.Channel == "C0IT" && strings.Contains(c.Text(), "aws") && strings.Contains(c.Text(), "Grace") {
				return true
			}
		}
		return false
	})
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if ok() {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}
