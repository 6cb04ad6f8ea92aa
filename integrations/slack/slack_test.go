package slack_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/integrations"
	"github.com/tenure-io/tenure/integrations/slack"
	"github.com/tenure-io/tenure/integrations/slack/slacktest"
)

const (
	botToken = "xoxb-test-1234-secret"
	secret   = "8f742231b10e8888abcd99yyyzzz85a5"
)

var (
	boss  = slacktest.User{ID: "U0BOSS", Email: "boss@example.com", Name: "Barbara Boss"}
	skip  = slacktest.User{ID: "U0SKIP", Email: "skip@example.com", Name: "Sam Skip"}
	ada   = tenure.Person{ID: "E1001", Email: "ada@example.com", GivenName: "Ada", FamilyName: "Lovelace", ManagerID: "E0001", Department: "Engineering", Title: "Senior Engineer", StartDate: "2026-04-01"}
	bossP = tenure.Person{ID: "E0001", Email: "BOSS@example.com", GivenName: "Barbara", FamilyName: "Boss", ManagerID: "E0000"}
	skipP = tenure.Person{ID: "E0000", Email: "skip@example.com", GivenName: "Sam", FamilyName: "Skip"}
)

func newFake(t *testing.T) *slacktest.Server {
	t.Helper()
	f := slacktest.New(slacktest.Config{Token: botToken, SigningSecret: secret, Users: []slacktest.User{boss, skip},
		Channels: []string{"C0IT", "C0SEC"}})
	t.Cleanup(f.Close)
	return f
}

func newSlack(t *testing.T, f *slacktest.Server, change ...func(*slack.Config)) *slack.Slack {
	t.Helper()
	cfg := slack.Config{BotToken: botToken, SigningSecret: secret, APIURL: f.APIURL(), ResponseURLBase: f.ResponseURLBase(),
		ITChannel: "C0IT", SecurityChannel: "C0SEC"}
	for _, c := range change {
		c(&cfg)
	}
	s, err := slack.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func notice() tenure.ApprovalNotice {
	return tenure.ApprovalNotice{
		Approval: tenure.Approval{ID: "ap-42", EmployeeID: ada.ID, WorkflowID: "employee/E1001", App: "aws",
			Entitlement: "production-admin", Rule: "senior-engineers", Approver: tenure.ApproverManager, ApproverID: bossP.ID,
			Status: tenure.ApprovalPending, RequestedAt: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)},
		Person: ada, Approver: bossP, RequestedBy: "HR event hire-ada-1",
	}
}

func wantContains(t *testing.T, what, text string, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(text, p) {
			t.Errorf("%s does not show %q:\n%s", what, p, text)
		}
	}
}

func only(t *testing.T, calls []slacktest.Call, method string) slacktest.Call {
	t.Helper()
	if len(calls) != 1 {
		t.Fatalf("%d calls of %s, want 1: %+v", len(calls), method, calls)
	}
	if calls[0].Error != "" {
		t.Fatalf("%s failed: %s", method, calls[0].Error)
	}
	return calls[0]
}

func TestApprovalRequestIsADirectMessageWithTheRequestAndButtons(t *testing.T) {
	f := newFake(t)
	s := newSlack(t, f)
	refs, err := s.ApprovalRequested(context.Background(), notice())
	if err != nil {
		t.Fatal(err)
	}
	if got := only(t, f.Calls("users.lookupByEmail"), "users.lookupByEmail").Args["email"]; got != bossP.Email {
		t.Errorf("looked up %q, want the approver's email", got)
	}
	if got := only(t, f.Calls("conversations.open"), "conversations.open").Args["users"]; got != boss.ID {
		t.Errorf("opened a DM with %q, want %s", got, boss.ID)
	}
	post := only(t, f.Calls("chat.postMessage"), "chat.postMessage")
	dm := f.DMChannel(boss.ID)
	if post.Args["channel"] != dm || len(refs) != 1 || refs[0].Channel != dm || refs[0].TS == "" {
		t.Fatalf("posted to %q and returned %+v, want the DM %s", post.Args["channel"], refs, dm)
	}
	wantContains(t, "the request", post.Text(), "Ada Lovelace", "ada@example.com", "Senior Engineer", "Engineering",
		"2026-04-01", "aws", "production-admin", "senior-engineers", "HR event hire-ada-1", "ap-42")
	btns := post.Buttons()
	if len(btns) != 2 || btns[0].ActionID != slack.ActionApprove || btns[1].ActionID != slack.ActionDeny {
		t.Fatalf("buttons %+v, want approve and deny", btns)
	}
	for _, b := range btns {
		if b.Value != "ap-42" || !strings.Contains(b.BlockID, "ap-42") {
			t.Errorf("button %+v does not carry the approval ID", b)
		}
	}
	if _, ok := f.Message(refs[0].Channel, refs[0].TS); !ok {
		t.Fatal("the returned reference does not name the posted message")
	}
}

func TestHRTextCannotMentionAChannel(t *testing.T) {
	f := newFake(t)
	s := newSlack(t, f)
	n := notice()
	n.Person.GivenName = "<!channel>"
	n.RequestedBy = "<https://evil.example|click>"
	if _, err := s.ApprovalRequested(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	text := only(t, f.Calls("chat.postMessage"), "chat.postMessage").Text()
	if strings.Contains(text, "<!channel>") || strings.Contains(text, "<https://evil") {
		t.Fatalf("HR text reached Slack unescaped:\n%s", text)
	}
	wantContains(t, "the request", text, "&lt;!channel&gt;")
}

func TestDecisionUpdatesEveryMessageAndRemovesTheButtons(t *testing.T) {
	f := newFake(t)
	s := newSlack(t, f)
	ctx := context.Background()
	n := notice()
	first, err := s.ApprovalRequested(ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	n.Approver = skipP
	second, err := s.ApprovalEscalated(ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	decided := time.Date(2026, 3, 2, 14, 30, 0, 0, time.UTC)
	n.Approval.Messages = append(first, second...)
	n.Approval.Status, n.Approval.DecidedBy, n.Approval.DecidedAt = tenure.ApprovalApproved, bossP.ID, &decided
	n.Approval.Reason = "on call rota"
	n.Approver = bossP
	if err := s.ApprovalDecided(ctx, n); err != nil {
		t.Fatal(err)
	}
	updates := f.Calls("chat.update")
	if len(updates) != 2 {
		t.Fatalf("%d updates, want one per message", len(updates))
	}
	for i, u := range updates {
		ref := n.Approval.Messages[i]
		if u.Error != "" || u.Args["channel"] != ref.Channel || u.Args["ts"] != ref.TS {
			t.Fatalf("update %d: %+v, want %+v", i, u.Args, ref)
		}
		wantContains(t, "the decided message", u.Text(), "Approved", "Barbara Boss", "E0001", "2026-03-02 14:30 UTC", "on call rota", "aws", "production-admin")
		if len(u.Buttons()) != 0 {
			t.Errorf("the decided message still has buttons: %+v", u.Buttons())
		}
		blocks, _ := f.Message(ref.Channel, ref.TS)
		if strings.Contains(mustJSON(t, blocks), `"approve"`) {
			t.Errorf("message %+v still shows Approve", ref)
		}
	}

	// Expiry reads as a denial with no decider; a message deleted in Slack is no error.
	n.Approval.Status, n.Approval.DecidedBy, n.Approval.Reason = tenure.ApprovalExpired, "tenure", ""
	n.Approval.Messages = append(n.Approval.Messages, tenure.MessageRef{Channel: first[0].Channel, TS: "1.000001"})
	if err := s.ApprovalDecided(ctx, n); err != nil {
		t.Fatal(err)
	}
	wantContains(t, "the expired message", f.Calls("chat.update")[2].Text(), "Expired", "denial")
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestReminderGoesToTheRequestsThread(t *testing.T) {
	f := newFake(t)
	s := newSlack(t, f)
	ctx := context.Background()
	n := notice()
	refs, err := s.ApprovalRequested(ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	n.Approval.Messages = refs
	if err := s.ApprovalReminder(ctx, n); err != nil {
		t.Fatal(err)
	}
	posts := f.Calls("chat.postMessage")
	if len(posts) != 2 {
		t.Fatalf("%d posts, want the request and a reminder", len(posts))
	}
	r := posts[1]
	if r.Args["channel"] != refs[0].Channel || r.Args["thread_ts"] != refs[0].TS || r.Args["reply_broadcast"] != "true" {
		t.Fatalf("reminder args %+v, want a broadcast reply in the request's thread", r.Args)
	}
	wantContains(t, "the reminder", r.Text(), "Reminder", "Ada Lovelace", "aws / production-admin")
}

func TestEscalationAsksTheNewApprover(t *testing.T) {
	f := newFake(t)
	s := newSlack(t, f)
	n := notice()
	n.Approver = skipP
	n.Approval.EscalatedTo = skipP.ID
	refs, err := s.ApprovalEscalated(context.Background(), n)
	if err != nil {
		t.Fatal(err)
	}
	post := only(t, f.Calls("chat.postMessage"), "chat.postMessage")
	if post.Args["channel"] != f.DMChannel(skip.ID) || len(refs) != 1 || refs[0].Channel != f.DMChannel(skip.ID) {
		t.Fatalf("escalation went to %q, want the DM with %s", post.Args["channel"], skip.ID)
	}
	wantContains(t, "the escalation", post.Text(), "Escalated", "E0001", "Ada Lovelace", "production-admin")
	if b := post.Buttons(); len(b) != 2 || b[0].Value != "ap-42" {
		t.Fatalf("buttons %+v", b)
	}
}

func TestAccessReadyTellsTheManager(t *testing.T) {
	f := newFake(t)
	s := newSlack(t, f)
	err := s.AccessReady(context.Background(), tenure.AccessReadyNotice{Person: ada, Manager: bossP, Accounts: []tenure.Account{
		{App: "google", AccountID: "g-1", Status: tenure.AccessActive, Entitlements: []string{"all-staff"}},
		{App: "github", AccountID: "gh-7", Status: tenure.AccessActive, Entitlements: []string{"engineering"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	post := only(t, f.Calls("chat.postMessage"), "chat.postMessage")
	if post.Args["channel"] != f.DMChannel(boss.ID) {
		t.Fatalf("posted to %q, want the manager's DM", post.Args["channel"])
	}
	wantContains(t, "accounts ready", post.Text(), "Ada Lovelace", "google", "all-staff", "github", "gh-7", "engineering")
}

func TestStepFailedAlertsITWithRetry(t *testing.T) {
	f := newFake(t)
	s := newSlack(t, f)
	err := s.StepFailed(context.Background(), tenure.FailureNotice{EmployeeID: ada.ID, Person: ada, WorkflowID: "employee/E1001/joiner/hire-1",
		RunURL: "http://127.0.0.1:8233/namespaces/default/workflows/x", App: "github", Error: "github: create: HTTP 400: userName is invalid"})
	if err != nil {
		t.Fatal(err)
	}
	post := only(t, f.Calls("chat.postMessage"), "chat.postMessage")
	if post.Args["channel"] != "C0IT" {
		t.Fatalf("posted to %q, want the IT channel", post.Args["channel"])
	}
	wantContains(t, "the alert", post.Text(), "github", "Ada Lovelace", "E1001", "HTTP 400: userName is invalid", "employee/E1001/joiner/hire-1")
	var retry, link bool
	for _, b := range post.Buttons() {
		switch {
		case b.ActionID == slack.ActionRetry && b.Value == "E1001|github":
			retry = true
		case b.URL == "http://127.0.0.1:8233/namespaces/default/workflows/x":
			link = true
		}
	}
	if !retry || !link {
		t.Fatalf("buttons %+v, want Retry (E1001|github) and a link to the run", post.Buttons())
	}
}

func TestLeaverSummaryGoesToITAndSecurityOnce(t *testing.T) {
	f := newFake(t)
	at := time.Date(2026, 5, 1, 17, 0, 0, 0, time.UTC)
	n := tenure.LeaverNotice{Person: ada, WorkflowID: "employee/E1001/leaver/t-1", At: at, Accounts: []tenure.Account{
		{App: "github", AccountID: "gh-7", Status: tenure.AccessDisabled, VerifiedAt: &at},
		{App: "aws", AccountID: "aws-3", Status: tenure.AccessDisabled, VerifiedAt: &at},
	}}
	if err := newSlack(t, f).LeaverSummary(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	posts := f.Calls("chat.postMessage")
	if len(posts) != 2 || posts[0].Args["channel"] != "C0IT" || posts[1].Args["channel"] != "C0SEC" {
		t.Fatalf("posts %+v, want IT then security", posts)
	}
	wantContains(t, "the summary", posts[1].Text(), "Ada Lovelace", "github", "gh-7", "aws", "disabled", "2026-05-01 17:00 UTC")

	same := newSlack(t, f, func(c *slack.Config) { c.SecurityChannel = "C0IT" })
	if err := same.LeaverSummary(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	if n := len(f.Calls("chat.postMessage")); n != 3 {
		t.Fatalf("%d posts, want one more when IT and security share a channel", n)
	}
}

func TestSlackRefusalsAreClassified(t *testing.T) {
	f := newFake(t)
	n := notice()
	n.Approver.Email = "nobody@example.com"
	_, err := newSlack(t, f).ApprovalRequested(context.Background(), n)
	var e *integrations.Error
	if !errors.As(err, &e) || e.Kind != integrations.Permanent || !strings.Contains(err.Error(), "E0001") || strings.Contains(err.Error(), "nobody@") {
		t.Fatalf("unknown approver: %v, want a permanent error naming the HR ID and not the email", err)
	}
	bad := newSlack(t, f, func(c *slack.Config) { c.BotToken = "xoxb-wrong" })
	err = bad.StepFailed(context.Background(), tenure.FailureNotice{EmployeeID: "E1", App: "github", Error: "x"})
	if !errors.As(err, &e) || e.Kind != integrations.Permanent || e.Detail != "invalid_auth" {
		t.Fatalf("wrong token: %v, want a permanent invalid_auth", err)
	}
	if strings.Contains(err.Error(), "xoxb") {
		t.Fatal("the error shows the token")
	}
	if len(f.Calls("chat.postMessage")) != 1 || f.Calls("chat.postMessage")[0].Error != "invalid_auth" {
		t.Fatalf("calls %+v", f.Calls("chat.postMessage"))
	}
	for _, c := range f.Calls() {
		if c.Error == "not_authed" {
			t.Fatalf("%s was sent without a token", c.Method)
		}
	}
}

func TestEverySlackCallCarriesTheBearerToken(t *testing.T) {
	var (
		mu    sync.Mutex
		auths []string
	)
	f := newFake(t)
	// A proxy in front of the fake, as TENURE_SLACK_API_URL allows, sees the header.
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		auths = append(auths, r.Header.Get("Authorization"))
		mu.Unlock()
		req, _ := http.NewRequestWithContext(r.Context(), r.Method, strings.TrimSuffix(f.APIURL(), "/api/")+r.URL.Path, r.Body)
		req.Header = r.Header.Clone()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		w.Header().Set("Content-Type", resp.Header.Get("Content-Type"))
		var buf bytes.Buffer
		buf.ReadFrom(resp.Body)
		w.Write(buf.Bytes())
	}))
	defer proxy.Close()
	s := newSlack(t, f, func(c *slack.Config) { c.APIURL = proxy.URL + "/api/" })
	if _, err := s.ApprovalRequested(context.Background(), notice()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(auths) != 3 {
		t.Fatalf("%d calls through the proxy, want 3", len(auths))
	}
	for _, a := range auths {
		if a != "Bearer "+botToken {
			t.Fatalf("Authorization %q, want the bot token as a bearer token", a)
		}
	}
}

func sign(body []byte, ts time.Time, key string) http.Header {
	h := http.Header{}
	h.Set("X-Slack-Request-Timestamp", strconv.FormatInt(ts.Unix(), 10))
	h.Set("X-Slack-Signature", slacktest.Sign(key, ts, body))
	return h
}

func TestVerify(t *testing.T) {
	s := newSlack(t, newFake(t))
	body := []byte("payload=%7B%22type%22%3A%22block_actions%22%7D")
	now := time.Now()
	if err := s.Verify(sign(body, now, secret), body); err != nil {
		t.Fatalf("a good signature: %v", err)
	}
	for name, h := range map[string]http.Header{
		"wrong secret":    sign(body, now, "not-the-secret"),
		"stale":           sign(body, now.Add(-6*time.Minute), secret),
		"from the future": sign(body, now.Add(6*time.Minute), secret),
		"no headers":      {},
	} {
		if err := s.Verify(h, body); tenure.ErrorCode(err) != tenure.EUNAUTHORIZED {
			t.Errorf("%s: %v, want unauthorized", name, err)
		}
	}
	if err := s.Verify(sign(body, now, secret), append(body, 'x')); tenure.ErrorCode(err) != tenure.EUNAUTHORIZED {
		t.Errorf("tampered body: %v, want unauthorized", err)
	}
}

// catcher is an app's interactivity endpoint that keeps what Slack sent.
type catcher struct {
	mu       sync.Mutex
	payloads []map[string]any
}

func (c *catcher) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var p map[string]any
	json.Unmarshal([]byte(r.FormValue("payload")), &p)
	c.mu.Lock()
	c.payloads = append(c.payloads, p)
	c.mu.Unlock()
}

func TestInteractionHelpers(t *testing.T) {
	f := newFake(t)
	s := newSlack(t, f)
	ctx := context.Background()
	refs, err := s.ApprovalRequested(ctx, notice())
	if err != nil {
		t.Fatal(err)
	}
	c := &catcher{}
	app := httptest.NewServer(c)
	defer app.Close()
	if _, err := f.Click(ctx, app.URL, boss.ID, refs[0].Channel, refs[0].TS, slack.ActionDeny); err != nil {
		t.Fatal(err)
	}
	p := c.payloads[0]
	email, err := s.UserEmail(ctx, p["user"].(map[string]any)["id"].(string))
	if err != nil || email != boss.Email {
		t.Fatalf("UserEmail = %q, %v", email, err)
	}
	if err := s.OpenDenyModal(ctx, p["trigger_id"].(string), notice().Approval); err != nil {
		t.Fatal(err)
	}
	v := only(t, f.Calls("views.open"), "views.open").View
	if v["callback_id"] != slack.DenyCallback || v["private_metadata"] != "ap-42" {
		t.Fatalf("modal %v", v)
	}
	if !strings.Contains(mustJSON(t, v), `"multiline":true`) {
		t.Fatalf("the reason is not a multiline input: %v", v)
	}
	if err := s.OpenDenyModal(ctx, p["trigger_id"].(string), notice().Approval); err == nil {
		t.Fatal("a trigger ID opened two modals")
	}
	if err := s.Respond(ctx, p["response_url"].(string), "this isn't yours to decide"); err != nil {
		t.Fatal(err)
	}
	rs := f.Responses()
	if len(rs) != 1 || rs[0].Text() != "this isn't yours to decide" || !rs[0].Ephemeral() || rs[0].UserID != boss.ID {
		t.Fatalf("responses %+v", rs)
	}
	if _, err := s.UserEmail(ctx, "U0NOBODY"); err == nil {
		t.Fatal("an unknown user has an email")
	}
}

func TestConfig(t *testing.T) {
	env := map[string]string{
		"TENURE_SLACK_BOT_TOKEN":      botToken,
		"TENURE_SLACK_SIGNING_SECRET": secret,
		"TENURE_SLACK_IT_CHANNEL":     "C0IT",
		"TENURE_SLACK_ADMINS":         " it@example.com, ops@example.com ,",
	}
	cfg, ok := slack.FromEnv(func(k string) string { return env[k] })
	if !ok || cfg.APIURL != slack.DefaultAPIURL || cfg.SecurityChannel != "C0IT" || len(cfg.Admins) != 2 || cfg.Admins[1] != "ops@example.com" {
		t.Fatalf("FromEnv = %+v, %v", cfg, ok)
	}
	if strings.Contains(cfg.String(), botToken) || strings.Contains(cfg.String(), secret) {
		t.Fatal("the config prints a secret")
	}
	if _, ok := slack.FromEnv(func(string) string { return "" }); ok {
		t.Fatal("Slack is on without a token")
	}
	_, err := slack.New(slack.Config{APIURL: "ftp://x"})
	var e *tenure.Error
	if !errors.As(err, &e) || e.Code != tenure.EINVALID || len(e.Fields) != 4 {
		t.Fatalf("New with nothing: %v, want four fields at fault", err)
	}
}

func TestGuardHeldAlertsIT(t *testing.T) {
	f := newFake(t)
	n := tenure.HoldNotice{URL: "http://tenure.test/holds", Hold: tenure.Hold{ID: "hold_1f2e", Source: "batch", Operation: "batch-42",
		Actor: "hr-feed", People: 37, Events: 37, Reason: "batch would disable or revoke access for 47 people within 1h"}}
	if err := newSlack(t, f).GuardHeld(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	post := only(t, f.Calls("chat.postMessage"), "chat.postMessage")
	if post.Args["channel"] != "C0IT" {
		t.Fatalf("posted to %q, want the IT channel", post.Args["channel"])
	}
	wantContains(t, "the alert", post.Text(), "37 people", "batch-42", "hr-feed", "47 people within 1h", "hold_1f2e", "/api/v1/holds/hold_1f2e/release",
		"TENURE_SLACK_ADMINS", "Release this hold?", "Discard this hold?", "its 37 HR events are dropped for good")
	want := []slacktest.Button{
		{ActionID: slack.ActionRelease, BlockID: "hold:hold_1f2e", Value: "hold_1f2e", Text: "Release", Style: "primary"},
		{ActionID: slack.ActionDiscard, BlockID: "hold:hold_1f2e", Value: "hold_1f2e", Text: "Discard", Style: "danger"},
		{ActionID: "open_holds", BlockID: "hold:hold_1f2e", Text: "Review the hold", URL: "http://tenure.test/holds"},
	}
	if got := post.Buttons(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("buttons %+v, want %+v", got, want)
	}
}

func TestADecidedHoldsAlertShowsWhoDecidedWithoutButtons(t *testing.T) {
	f := newFake(t)
	s := newSlack(t, f, func(c *slack.Config) { c.ConsoleURL = "https://tenure.example.com/" })
	ctx := context.Background()
	h := tenure.Hold{ID: "hold_9", Source: "policy", Operation: "r-1", Actor: "ada", WorkflowID: "policy-rollout/r-1", People: 50,
		Reason: "policy r-1 would disable or revoke access for 50 people within 1h"}
	if err := s.GuardHeld(ctx, tenure.HoldNotice{Hold: h}); err != nil {
		t.Fatal(err)
	}
	post := only(t, f.Calls("chat.postMessage"), "chat.postMessage")
	wantContains(t, "a rollout's alert", post.Text(), "policy r-1, for 50 people, whole", "policy r-1 never runs: it ends as canceled")
	at := time.Date(2026, 3, 2, 14, 30, 0, 0, time.UTC)
	h.Status, h.DecidedBy, h.DecidedAt, h.Note = tenure.HoldReleased, "slack:U0IT", &at, ""
	ref := tenure.MessageRef{Channel: post.Channel, TS: post.TS}
	if err := s.HoldDecided(ctx, ref, h, "U0IT"); err != nil {
		t.Fatal(err)
	}
	u := only(t, f.Calls("chat.update"), "chat.update")
	wantContains(t, "the released alert", u.Text(), "*Released* by <@U0IT> on 2026-03-02 14:30 UTC", "policy r-1, for 50 people, whole", "hold_9")
	if b := u.Buttons(); len(b) != 1 || b[0].URL != "https://tenure.example.com/holds" {
		t.Fatalf("buttons after the decision: %+v, want only the link", b)
	}
	// Decided elsewhere, by someone whose name is no Slack ID: named as
	// recorded, escaped, and no mention is made of anyone.
	h.Status, h.DecidedBy, h.Note = tenure.HoldDiscarded, "<!channel>", "the CSV was cut short"
	if err := s.HoldDecided(ctx, ref, h, "not an id"); err != nil {
		t.Fatal(err)
	}
	u = f.Calls("chat.update")[1]
	wantContains(t, "the discarded alert", u.Text(), "*Discarded* by `&lt;!channel&gt;`", ">the CSV was cut short")
	if strings.Contains(u.Text(), "<@") || strings.Contains(u.Text(), "<!channel>") {
		t.Fatalf("the rewrite mentions someone:\n%s", u.Text())
	}
	// A message that is gone leaves nothing to update.
	if err := s.HoldDecided(ctx, tenure.MessageRef{Channel: "C0IT", TS: "1.000001"}, h, ""); err != nil {
		t.Fatalf("a message that is gone: %v", err)
	}
}

func TestAnUnreachableApproverIsTheITChannelsToSeeTo(t *testing.T) {
	f := newFake(t)
	s := newSlack(t, f, func(c *slack.Config) { c.ConsoleURL = "https://tenure.example.com/" })
	n := notice()
	n.Approval.Approver, n.Approval.ApproverID = tenure.ApproverIT, "it-security"
	n.Approver = tenure.Person{ID: "it-security"}
	refs, err := s.ApprovalUnreachable(context.Background(), n, `person "it-security" has no email to find them in Slack by`)
	if err != nil {
		t.Fatal(err)
	}
	post := only(t, f.Calls("chat.postMessage"), "chat.postMessage")
	if post.Args["channel"] != "C0IT" || len(refs) != 1 || refs[0].Channel != "C0IT" || refs[0].TS == "" {
		t.Fatalf("posted to %q and returned %+v, want the IT channel", post.Args["channel"], refs)
	}
	wantContains(t, "the fallback", post.Text(), "it-security", "has no email", "Ada Lovelace", "aws", "production-admin", "ap-42", "console")
	btns := post.Buttons()
	if len(btns) != 1 || btns[0].URL != "https://tenure.example.com/approvals#approval-ap-42" {
		t.Fatalf("buttons %+v, want only a link to the approval in the console", btns)
	}
}
