package api

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/guard"
	"github.com/tenure-io/tenure/integrations/slack"
	"github.com/tenure-io/tenure/integrations/slack/slacktest"
)

const (
	slackToken  = "xoxb-api-test-token"
	slackSecret = "api-test-signing-secret-0123456789"
)

var (
	slackBoss     = slacktest.User{ID: "U0BOSS", Email: "boss@example.com", Name: "Barbara Boss"}
	slackSkip     = slacktest.User{ID: "U0SKIP", Email: "skip@example.com", Name: "Sam Skip"}
	slackEve      = slacktest.User{ID: "U0EVE", Email: "eve@example.com", Name: "Eve Other"}
	slackStranger = slacktest.User{ID: "U0ANON", Email: "anon@example.com", Name: "Anon"}
	slackIT       = slacktest.User{ID: "U0IT", Email: "IT-Lead@example.com", Name: "Ivy IT"}
)

// countingStore counts the reads and writes the Slack route makes, to show that
// a rejected request touches nothing.
type countingStore struct {
	tenure.Store
	touched atomic.Int64
}

func (c *countingStore) GetApproval(ctx context.Context, id string) (tenure.Approval, error) {
	c.touched.Add(1)
	return c.Store.GetApproval(ctx, id)
}

func (c *countingStore) FindEmployeeByEmail(ctx context.Context, email string) (tenure.Employee, error) {
	c.touched.Add(1)
	return c.Store.FindEmployeeByEmail(ctx, email)
}

func (c *countingStore) GetEmployee(ctx context.Context, id string) (tenure.Employee, error) {
	c.touched.Add(1)
	return c.Store.GetEmployee(ctx, id)
}

func (c *countingStore) AppendAudit(ctx context.Context, r tenure.AuditRecord) error {
	c.touched.Add(1)
	return c.Store.AppendAudit(ctx, r)
}

// slowEngine is the recording engine whose Decide can be made to take a while,
// as Temporal can.
type slowEngine struct {
	*fakeEngine
	decideDelay time.Duration
	started     atomic.Int64
}

func (e *slowEngine) Decide(ctx context.Context, a tenure.Approval, d tenure.Decision) (tenure.ApprovalStatus, error) {
	e.started.Add(1)
	if e.decideDelay > 0 {
		select {
		case <-time.After(e.decideDelay):
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
	return e.fakeEngine.Decide(ctx, a, d)
}

type slackHarness struct {
	*harness
	slackURL string // the Slack-enabled server
	fake     *slacktest.Server
	notifier *slack.Slack
	guard    *guard.Guard // the server's, alerting IT through notifier
	counts   *countingStore
	engine   *slowEngine
	stop     context.CancelFunc // ends the server's lifetime
	work     *sync.WaitGroup    // its background work
}

func newSlackHarness(t *testing.T, decideDelay time.Duration) *slackHarness {
	t.Helper()
	h := newHarness(t)
	ctx := context.Background()
	fake := slacktest.New(slacktest.Config{Token: slackToken, SigningSecret: slackSecret,
		Users: []slacktest.User{slackBoss, slackSkip, slackEve, slackStranger, slackIT}, Channels: []string{"C0IT"}})
	t.Cleanup(fake.Close)
	notifier, err := slack.New(slack.Config{BotToken: slackToken, SigningSecret: slackSecret, APIURL: fake.APIURL(),
		ResponseURLBase: fake.ResponseURLBase(), ITChannel: "C0IT", ConsoleURL: "http://console.test"})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []tenure.Person{
		{ID: "E1001", Email: "ada@example.com", GivenName: "Ada", FamilyName: "Lovelace", ManagerID: "E0001", Department: "Engineering", Title: "Senior Engineer"},
		{ID: "E0001", Email: slackBoss.Email, GivenName: "Barbara", FamilyName: "Boss", ManagerID: "E0000"},
		{ID: "E0000", Email: slackSkip.Email, GivenName: "Sam", FamilyName: "Skip"},
		{ID: "E0666", Email: slackEve.Email, GivenName: "Eve", FamilyName: "Other"},
	} {
		if err := h.store.UpsertEmployee(ctx, tenure.Employee{Person: p, Status: tenure.PersonActive}); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{"ap-1", "ap-2"} {
		err := h.store.CreateApproval(ctx, tenure.Approval{ID: id, EmployeeID: "E1001", WorkflowID: "employee/E1001", App: "aws",
			Entitlement: "production-admin", Rule: "senior-engineers", Approver: tenure.ApproverManager, ApproverID: "E0001",
			EscalatedTo: "E0000", Status: tenure.ApprovalPending, RequestedAt: time.Now().UTC()})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := h.store.DecideApproval(ctx, "ap-2", tenure.ApprovalApproved, "E0001", "", time.Now()); err != nil {
		t.Fatal(err)
	}
	sh := &slackHarness{harness: h, fake: fake, notifier: notifier,
		counts: &countingStore{Store: h.store}, engine: &slowEngine{fakeEngine: h.engine, decideDelay: decideDelay},
		work: &sync.WaitGroup{}}
	lifetime, stop := context.WithCancel(context.Background())
	sh.stop = stop
	sh.guard, err = guard.New(guard.Config{Store: h.store.(guard.Store), Engine: sh.engine, Notifier: notifier,
		HoldsURL: "http://console.test/holds", Now: h.cfg.Now})
	if err != nil {
		t.Fatal(err)
	}
	cfg := h.cfg
	cfg.Store, cfg.Engine, cfg.Guard = sh.counts, sh.engine, sh.guard
	cfg.Slack, cfg.SlackAdmins, cfg.Context, cfg.Background = notifier, []string{"it-lead@example.com"}, lifetime, sh.work
	srv := httptest.NewServer(mustServer(t, cfg))
	t.Cleanup(srv.Close)
	t.Cleanup(stop) // runs first: background work ends before the store closes
	sh.slackURL = srv.URL + "/slack/interactions"
	return sh
}

// request posts the approval request to the boss through the real notifier.
func (sh *slackHarness) request(id string) tenure.MessageRef {
	sh.t.Helper()
	a, err := sh.store.GetApproval(context.Background(), id)
	if err != nil {
		sh.t.Fatal(err)
	}
	refs, err := sh.notifier.ApprovalRequested(context.Background(), tenure.ApprovalNotice{Approval: a,
		Person: tenure.Person{ID: "E1001", GivenName: "Ada", FamilyName: "Lovelace"}, Approver: tenure.Person{ID: "E0001", Email: slackBoss.Email},
		RequestedBy: "HR event hire-1"})
	if err != nil || len(refs) != 1 {
		sh.t.Fatalf("posting the request: %v %v", refs, err)
	}
	return refs[0]
}

func (sh *slackHarness) click(user slacktest.User, ref tenure.MessageRef, action string) slacktest.Delivery {
	sh.t.Helper()
	d, err := sh.fake.Click(context.Background(), sh.slackURL, user.ID, ref.Channel, ref.TS, action)
	if err != nil {
		sh.t.Fatal(err)
	}
	if d.Status != http.StatusOK {
		sh.t.Fatalf("Slack got %d: %s", d.Status, d.Body)
	}
	return d
}

// eventually waits for cond, which background work makes true.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (sh *slackHarness) responsesTo(user slacktest.User) []string {
	var out []string
	for _, r := range sh.fake.Responses() {
		if r.UserID == user.ID && r.Ephemeral() {
			out = append(out, r.Text())
		}
	}
	return out
}

func (sh *slackHarness) audit(action string) []tenure.AuditRecord {
	sh.t.Helper()
	recs, err := sh.store.ListAudit(context.Background(), tenure.AuditFilter{Action: action})
	if err != nil {
		sh.t.Fatal(err)
	}
	return recs
}

// slackSign is Slack's v0 signature, computed here without the code under test.
func slackSign(secret string, ts int64, body string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte("v0:" + strconv.FormatInt(ts, 10) + ":" + body))
	return "v0=" + hex.EncodeToString(mac.Sum(nil))
}

func postSigned(t *testing.T, target, body string, ts int64, sig string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, target, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if ts != 0 {
		req.Header.Set("X-Slack-Request-Timestamp", strconv.FormatInt(ts, 10))
	}
	if sig != "" {
		req.Header.Set("X-Slack-Signature", sig)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return response{status: resp.StatusCode, header: resp.Header, body: []byte(b.String())}
}

func TestSlackRejectsUnsignedRequestsAndTouchesNothing(t *testing.T) {
	sh := newSlackHarness(t, 0)
	payload, _ := json.Marshal(map[string]any{
		"type": "block_actions", "user": map[string]any{"id": slackBoss.ID}, "trigger_id": "1.2.3",
		"response_url": "http://127.0.0.1:1/nowhere",
		"container":    map[string]any{"channel_id": "D1", "message_ts": "1.1"},
		"actions":      []any{map[string]any{"action_id": "approve", "block_id": "approval:ap-1", "value": "ap-1", "action_ts": "1.5"}},
	})
	body := url.Values{"payload": {string(payload)}}.Encode()
	now := time.Now().Unix()
	tampered := strings.Replace(body, "ap-1", "ap-9", 1)
	for name, req := range map[string]struct {
		body string
		ts   int64
		sig  string
	}{
		"forged with another secret":  {body, now, slackSign("not-the-secret", now, body)},
		"stale by six minutes":        {body, now - 360, slackSign(slackSecret, now-360, body)},
		"six minutes in the future":   {body, now + 360, slackSign(slackSecret, now+360, body)},
		"tampered after signing":      {tampered, now, slackSign(slackSecret, now, body)},
		"signed with a reused header": {body, now, slackSign(slackSecret, now-1, body)},
		"no signature":                {body, now, ""},
		"no timestamp":                {body, 0, slackSign(slackSecret, now, body)},
		"not hex":                     {body, now, "v0=zz"},
	} {
		res := postSigned(t, sh.slackURL, req.body, req.ts, req.sig)
		if res.status != http.StatusUnauthorized {
			t.Errorf("%s: status %d, want 401: %s", name, res.status, res.body)
			continue
		}
		wantError(t, res, http.StatusUnauthorized, tenure.EUNAUTHORIZED)
	}
	time.Sleep(200 * time.Millisecond) // room for any background work to show
	if n := sh.counts.touched.Load(); n != 0 {
		t.Errorf("rejected requests touched the store %d times", n)
	}
	if n := sh.engine.started.Load(); n != 0 {
		t.Errorf("rejected requests reached the engine %d times", n)
	}
	if calls := sh.fake.Calls(); len(calls) != 0 {
		t.Errorf("rejected requests called Slack: %+v", calls)
	}

	// The same request, signed properly, goes through: the rejections above were
	// about the signature alone.
	res := postSigned(t, sh.slackURL, body, now, slackSign(slackSecret, now, body))
	if res.status != http.StatusOK {
		t.Fatalf("a signed request: %d %s", res.status, res.body)
	}
	eventually(t, "the decision", func() bool { return len(sh.engine.calls().decisions) == 1 })
}

func TestSlackApprovalByTheApprover(t *testing.T) {
	sh := newSlackHarness(t, 0)
	ref := sh.request("ap-1")
	sh.click(slackBoss, ref, slack.ActionApprove)
	eventually(t, "the decision", func() bool { return len(sh.engine.calls().decisions) == 1 })
	want := tenure.Decision{ApprovalID: "ap-1", Approve: true, By: "E0001"}
	if got := sh.engine.calls().decisions[0]; got != want {
		t.Fatalf("decision %+v, want %+v", got, want)
	}
	eventually(t, "the reply", func() bool { return len(sh.responsesTo(slackBoss)) == 1 })
	if r := sh.responsesTo(slackBoss)[0]; !strings.Contains(r, "Approved") {
		t.Fatalf("reply %q", r)
	}

	// A second click while the first decision is on its way (even by the person
	// it escalated to) sends nothing more.
	sh.engine.set(func(f *fakeEngine) { f.decisions = nil })
	sh.click(slackSkip, ref, slack.ActionApprove)
	time.Sleep(200 * time.Millisecond)
	if d := sh.engine.calls().decisions; len(d) != 0 {
		t.Fatalf("a second approval of the same request was sent: %+v", d)
	}
}

func TestSlackEscalatedApproverMayDecide(t *testing.T) {
	sh := newSlackHarness(t, 0)
	ref := sh.request("ap-1")
	sh.click(slackSkip, ref, slack.ActionApprove)
	eventually(t, "the decision", func() bool { return len(sh.engine.calls().decisions) == 1 })
	if got := sh.engine.calls().decisions[0]; got.By != "E0000" || !got.Approve {
		t.Fatalf("decision %+v, want an approval by E0000", got)
	}
}

func TestSlackWrongPersonChangesNothing(t *testing.T) {
	sh := newSlackHarness(t, 0)
	ref := sh.request("ap-1")
	for _, u := range []slacktest.User{slackEve, slackStranger} {
		for _, action := range []string{slack.ActionApprove, slack.ActionDeny} {
			sh.click(u, ref, action)
		}
		eventually(t, "the replies to "+u.ID, func() bool { return len(sh.responsesTo(u)) == 2 })
		for _, r := range sh.responsesTo(u) {
			if !strings.Contains(r, "isn't yours") {
				t.Errorf("reply to %s: %q", u.ID, r)
			}
		}
	}
	eventually(t, "the audit", func() bool { return len(sh.audit("approval.refused")) == 4 })
	for _, r := range sh.audit("approval.refused") {
		if !strings.HasPrefix(r.Actor, "slack:U0") || r.EmployeeID != "E1001" || r.App != "aws" || !strings.Contains(r.Detail, "ap-1") {
			t.Errorf("audit record %+v", r)
		}
	}
	if d := sh.engine.calls().decisions; len(d) != 0 {
		t.Fatalf("the wrong person decided: %+v", d)
	}
	if v := sh.fake.Calls("views.open"); len(v) != 0 {
		t.Fatalf("the wrong person got the deny form: %+v", v)
	}
}

func TestSlackDoubleClickDecidesOnce(t *testing.T) {
	sh := newSlackHarness(t, 0)
	ref := sh.request("ap-1")
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sh.click(slackBoss, ref, slack.ActionApprove)
		}()
	}
	wg.Wait()
	eventually(t, "both replies", func() bool { return len(sh.responsesTo(slackBoss)) == 2 })
	if n := sh.engine.started.Load(); n != 1 {
		t.Fatalf("%d Decide calls for a double click, want 1", n)
	}
	if !strings.Contains(strings.Join(sh.responsesTo(slackBoss), "\n"), "already on its way") {
		t.Fatalf("replies %q", sh.responsesTo(slackBoss))
	}
}

func TestSlackDecidedApprovalSaysSo(t *testing.T) {
	sh := newSlackHarness(t, 0)
	ref := sh.request("ap-2")
	sh.click(slackBoss, ref, slack.ActionApprove)
	eventually(t, "the reply", func() bool { return len(sh.responsesTo(slackBoss)) == 1 })
	if r := sh.responsesTo(slackBoss)[0]; !strings.Contains(r, "already approved") {
		t.Fatalf("reply %q", r)
	}
	if n := sh.engine.started.Load(); n != 0 {
		t.Fatalf("%d Decide calls for a decided approval", n)
	}
}

func TestSlackDenyAsksForAReason(t *testing.T) {
	sh := newSlackHarness(t, 0)
	ref := sh.request("ap-1")
	sh.click(slackBoss, ref, slack.ActionDeny)
	eventually(t, "the modal", func() bool { return len(sh.fake.Calls("views.open")) == 1 })
	v := sh.fake.Calls("views.open")[0]
	if v.Error != "" || v.View["callback_id"] != slack.DenyCallback || v.View["private_metadata"] != "ap-1" {
		t.Fatalf("views.open %+v", v)
	}
	if n := sh.engine.started.Load(); n != 0 {
		t.Fatal("Deny decided before a reason was given")
	}

	// Slack will not send an empty required field, but a blank one is refused in the modal.
	d, err := sh.fake.Submit(context.Background(), sh.slackURL, slackBoss.ID, map[string]map[string]string{"reason": {"reason": "   "}})
	if err != nil || d.Status != http.StatusOK || !strings.Contains(string(d.Body), `"response_action":"errors"`) {
		t.Fatalf("a blank reason: %v %d %s", err, d.Status, d.Body)
	}

	sh.click(slackBoss, ref, slack.ActionDeny)
	eventually(t, "the second modal", func() bool { return len(sh.fake.Calls("views.open")) == 2 })
	d, err = sh.fake.Submit(context.Background(), sh.slackURL, slackBoss.ID,
		map[string]map[string]string{slack.DenyReasonBlock: {slack.DenyReasonAction: "not on the on-call rota"}})
	if err != nil || d.Status != http.StatusOK || len(d.Body) != 0 {
		t.Fatalf("submitting: %v %d %s", err, d.Status, d.Body)
	}
	eventually(t, "the denial", func() bool { return len(sh.engine.calls().decisions) == 1 })
	want := tenure.Decision{ApprovalID: "ap-1", Approve: false, By: "E0001", Reason: "not on the on-call rota"}
	if got := sh.engine.calls().decisions[0]; got != want {
		t.Fatalf("decision %+v, want %+v", got, want)
	}
}

func TestSlackDenySubmissionIsCheckedAgain(t *testing.T) {
	sh := newSlackHarness(t, 0)
	// A modal submitted by someone else (the boss opened it, Eve's payload names
	// the approval) is refused and audited like a click.
	payload := map[string]any{"type": "view_submission", "user": map[string]any{"id": slackEve.ID},
		"view": map[string]any{"id": "V1", "callback_id": slack.DenyCallback, "private_metadata": "ap-1",
			"state": map[string]any{"values": map[string]any{"reason": map[string]any{"reason": map[string]any{"type": "plain_text_input", "value": "no"}}}}}}
	d, err := sh.fake.Deliver(context.Background(), sh.slackURL, payload)
	if err != nil || d.Status != http.StatusOK {
		t.Fatalf("%v %d %s", err, d.Status, d.Body)
	}
	eventually(t, "the audit", func() bool { return len(sh.audit("approval.refused")) == 1 })
	if n := sh.engine.started.Load(); n != 0 {
		t.Fatal("a refused submission decided")
	}
}

func TestSlackRetry(t *testing.T) {
	sh := newSlackHarness(t, 0)
	err := sh.notifier.StepFailed(context.Background(), tenure.FailureNotice{EmployeeID: "E1001", WorkflowID: "employee/E1001/joiner/h-1",
		App: "github", Error: "github: create: HTTP 400: bad userName"})
	if err != nil {
		t.Fatal(err)
	}
	post := sh.fake.Calls("chat.postMessage")[0]
	alert := tenure.MessageRef{Channel: post.Channel, TS: post.TS}
	ts := post.TS

	sh.click(slackEve, alert, slack.ActionRetry)
	eventually(t, "the refusal", func() bool { return len(sh.responsesTo(slackEve)) == 1 })
	if len(sh.engine.calls().retries) != 0 || len(sh.audit("retry.refused")) != 1 {
		t.Fatalf("a non-admin retried: %+v", sh.engine.calls().retries)
	}

	sh.click(slackIT, alert, slack.ActionRetry)
	sh.click(slackIT, alert, slack.ActionRetry)
	eventually(t, "the replies", func() bool { return len(sh.responsesTo(slackIT)) == 2 })
	retries := sh.engine.calls().retries
	want := killCall{"E1001", "github/slack:C0IT:" + ts, "slack:" + slackIT.ID}
	if len(retries) != 1 || retries[0] != want {
		t.Fatalf("retries %+v, want one %+v", retries, want)
	}
	if r := strings.Join(sh.responsesTo(slackIT), "\n"); !strings.Contains(r, "Retrying github") || !strings.Contains(r, "http://temporal.test/") {
		t.Fatalf("replies %q", r)
	}
}

func TestSlackAcksWithinThreeSecondsWhileTemporalIsSlow(t *testing.T) {
	sh := newSlackHarness(t, 10*time.Second)
	ref := sh.request("ap-1")
	d := sh.click(slackBoss, ref, slack.ActionApprove)
	if d.Elapsed >= 3*time.Second {
		t.Fatalf("Slack waited %s for the ack, over its 3 s limit", d.Elapsed)
	}
	eventually(t, "the decision to start", func() bool { return sh.engine.started.Load() == 1 })
	t.Logf("acked in %s while Decide takes 10 s", d.Elapsed)

	// Shutting down cancels the work in flight, and the server can wait for it.
	sh.stop()
	done := make(chan struct{})
	go func() { sh.work.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("background work did not end after the server's context did")
	}
	if d := sh.engine.calls().decisions; len(d) != 0 {
		t.Fatalf("a cancelled decision was recorded: %+v", d)
	}
	// A click after that is refused, so Slack tells the person it did not work.
	d, err := sh.fake.Click(context.Background(), sh.slackURL, slackBoss.ID, ref.Channel, ref.TS, slack.ActionApprove)
	if err != nil || d.Status != http.StatusServiceUnavailable {
		t.Fatalf("a click while shutting down: %v %d %s", err, d.Status, d.Body)
	}
}

func TestSlackRouteIsOffWithoutSlack(t *testing.T) {
	h := newHarness(t)
	wantError(t, h.do("POST", "/slack/interactions", "payload=x", "Authorization", "", "Content-Type", "application/x-www-form-urlencoded"),
		http.StatusNotFound, tenure.ENOTFOUND)
}

// A signed interaction whose response_url points away from Slack's hook host
// (a compromised signing secret, or a payload Slack never sent) is handled, but
// the reply goes nowhere: Tenure never posts to that URL, and says so in its log.
func TestSlackReplyNeverGoesToAnotherHost(t *testing.T) {
	sh := newSlackHarness(t, 0)
	var hits atomic.Int64
	attacker := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) }))
	defer attacker.Close()
	ref := sh.request("ap-1")
	payload := map[string]any{
		"type": "block_actions", "user": map[string]any{"id": slackEve.ID}, "trigger_id": "1.2.3",
		"response_url": attacker.URL + "/response/steal",
		"container":    map[string]any{"type": "message", "channel_id": ref.Channel, "message_ts": ref.TS},
		"actions": []any{map[string]any{"action_id": slack.ActionApprove, "block_id": slack.ApprovalBlockPrefix + "ap-1",
			"value": "ap-1", "type": "button", "action_ts": "1.5"}},
	}
	d, err := sh.fake.Deliver(context.Background(), sh.slackURL, payload)
	if err != nil || d.Status != http.StatusOK {
		t.Fatalf("the interaction: %v %+v", err, d)
	}
	eventually(t, "the refusal in the audit", func() bool { return len(sh.audit("approval.refused")) == 1 })
	eventually(t, "the warning", func() bool { return strings.Contains(sh.logs.String(), "response_url") })
	if n := hits.Load(); n != 0 {
		t.Fatalf("Tenure posted %d replies to another host", n)
	}
	if !strings.Contains(sh.logs.String(), strings.TrimPrefix(attacker.URL, "http://")) || strings.Contains(sh.logs.String(), "/response/steal") {
		t.Fatalf("the log should name the host refused, and not the URL:\n%s", sh.logs.String())
	}
}

// holdAlert has the guard hold 5 of 15 terminations of source's, and returns
// the hold and the alert the guard posted for it to the IT channel, through
// the real notifier.
func (sh *slackHarness) holdAlert(source, operation string) (tenure.Hold, tenure.MessageRef) {
	sh.t.Helper()
	ctx := context.Background()
	if _, n, _ := sh.store.ListEmployees(ctx, tenure.EmployeeFilter{Status: tenure.PersonActive, Limit: 1}); n < 100 {
		staff(sh.t, sh.store, 100)
	}
	var events []tenure.Event
	for i := range 15 {
		id := fmt.Sprintf("S%03d", i)
		events = append(events, tenure.Event{ID: operation + "-" + id, Type: tenure.EventTerminate,
			Employee: tenure.Person{ID: id, Email: strings.ToLower(id) + "@example.com", GivenName: "Grace", FamilyName: "Hopper"}})
	}
	v, err := sh.guard.Events(ctx, guard.Bulk{Source: source, Operation: operation, Actor: "hr-feed"}, events)
	if err != nil || !v.Held || len(v.HeldPeople) != 5 {
		sh.t.Fatalf("the guard held %+v, %v; want 5 people", v.Verdict, err)
	}
	for _, c := range sh.fake.Calls("chat.postMessage") {
		if c.Channel == "C0IT" && strings.Contains(c.Text(), v.HoldID) {
			h, err := sh.guard.Hold(ctx, v.HoldID)
			if err != nil {
				sh.t.Fatal(err)
			}
			return h.Hold, tenure.MessageRef{Channel: c.Channel, TS: c.TS}
		}
	}
	sh.t.Fatalf("no alert for hold %s in the IT channel", v.HoldID)
	return tenure.Hold{}, tenure.MessageRef{}
}

func (sh *slackHarness) hold(id string) tenure.Hold {
	sh.t.Helper()
	h, err := sh.guard.Hold(context.Background(), id)
	if err != nil {
		sh.t.Fatal(err)
	}
	return h.Hold
}

// alert is the alert as Slack shows it now, with its buttons' action IDs.
func (sh *slackHarness) alert(ref tenure.MessageRef) (string, []string) {
	sh.t.Helper()
	blocks, ok := sh.fake.Message(ref.Channel, ref.TS)
	if !ok {
		sh.t.Fatalf("no message %s/%s", ref.Channel, ref.TS)
	}
	c := slacktest.Call{Blocks: blocks}
	var actions []string
	for _, b := range c.Buttons() {
		actions = append(actions, b.ActionID)
	}
	return c.Text(), actions
}

func TestSlackAdminReleasesAHoldFromItsAlert(t *testing.T) {
	sh := newSlackHarness(t, 0)
	h, ref := sh.holdAlert("batch", "batch-7")
	if _, actions := sh.alert(ref); strings.Join(actions, " ") != "hold_release hold_discard open_holds" {
		t.Fatalf("the alert's buttons: %v", actions)
	}

	// Someone not named in TENURE_SLACK_ADMINS is refused, privately, and
	// the attempt is audited; the hold stays held.
	sh.click(slackEve, ref, slack.ActionRelease)
	sh.click(slackEve, ref, slack.ActionDiscard)
	eventually(t, "the refusals", func() bool { return len(sh.responsesTo(slackEve)) == 2 })
	for _, r := range sh.responsesTo(slackEve) {
		if !strings.Contains(r, "Only the IT admins named in TENURE_SLACK_ADMINS can release or discard a hold") {
			t.Errorf("reply to Eve: %q", r)
		}
	}
	eventually(t, "the audit", func() bool { return len(sh.audit("guard.refused")) == 2 })
	for _, r := range sh.audit("guard.refused") {
		if r.Actor != "slack:"+slackEve.ID || !strings.Contains(r.Detail, h.ID) || !strings.Contains(r.Detail, "batch batch-7") {
			t.Errorf("audit record %+v", r)
		}
	}
	if got := sh.hold(h.ID); got.Status != tenure.HoldOpen || sh.engine.submitCount() != 0 {
		t.Fatalf("after the refusals: %+v, %d events handed on", got, sh.engine.submitCount())
	}

	// An admin's double click releases once: the held events go to the
	// people's workflows, the decision is audited under their name, and the
	// alert shows who released it, with no buttons left to press.
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() { sh.click(slackIT, ref, slack.ActionRelease) })
	}
	wg.Wait()
	eventually(t, "both replies", func() bool { return len(sh.responsesTo(slackIT)) == 2 })
	replies := strings.Join(sh.responsesTo(slackIT), "\n")
	if !strings.Contains(replies, "Released hold "+h.ID+": the held work goes on.") ||
		!(strings.Contains(replies, "already on its way") || strings.Contains(replies, "already released by slack:"+slackIT.ID)) {
		t.Fatalf("replies %q", replies)
	}
	got := sh.hold(h.ID)
	if got.Status != tenure.HoldReleased || got.DecidedBy != "slack:"+slackIT.ID || got.Pending != 0 {
		t.Fatalf("hold after the release: %+v", got)
	}
	var submitted []string
	for _, ev := range sh.engine.calls().submits {
		submitted = append(submitted, ev.ID)
	}
	slices.Sort(submitted) // different people's are handed on in parallel
	if strings.Join(submitted, " ") != "batch-7-S010 batch-7-S011 batch-7-S012 batch-7-S013 batch-7-S014" {
		t.Fatalf("handed on %v, want the 5 held terminations once each", submitted)
	}
	if a := sh.audit("guard.released"); len(a) != 1 || a[0].Actor != "slack:"+slackIT.ID {
		t.Fatalf("guard.released audit = %+v", a)
	}
	eventually(t, "the rewritten alert", func() bool {
		text, actions := sh.alert(ref)
		return strings.Contains(text, "*Released* by <@"+slackIT.ID+"> on 2026-03-01 09:00 UTC") && strings.Join(actions, " ") == "open_holds"
	})
	if _, err := sh.fake.Click(context.Background(), sh.slackURL, slackIT.ID, ref.Channel, ref.TS, slack.ActionDiscard); err == nil {
		t.Fatal("the decided alert still has a Discard button")
	}
}

func TestSlackAdminDiscardsAHoldAndADecidedOneChangesNothing(t *testing.T) {
	sh := newSlackHarness(t, 0)
	// This time the admin is someone Tenure knows: they decide under their HR ID.
	must(t, sh.store.UpsertEmployee(context.Background(), tenure.Employee{Status: tenure.PersonActive,
		Person: tenure.Person{ID: "E0100", Email: "it-lead@example.com", GivenName: "Ivy", FamilyName: "IT"}}))
	h, ref := sh.holdAlert("batch", "batch-8")
	sh.click(slackIT, ref, slack.ActionDiscard)
	eventually(t, "the reply", func() bool { return len(sh.responsesTo(slackIT)) == 1 })
	if r := sh.responsesTo(slackIT)[0]; r != "Discarded hold "+h.ID+": the held work never runs." {
		t.Fatalf("reply %q", r)
	}
	if got := sh.hold(h.ID); got.Status != tenure.HoldDiscarded || got.DecidedBy != "E0100" || got.Pending != 0 || sh.engine.submitCount() != 0 {
		t.Fatalf("after the discard: %+v, %d events handed on", got, sh.engine.submitCount())
	}
	if a := sh.audit("guard.discarded"); len(a) != 1 || a[0].Actor != "E0100" {
		t.Fatalf("guard.discarded audit = %+v", a)
	}
	eventually(t, "the rewritten alert", func() bool {
		text, actions := sh.alert(ref)
		return strings.Contains(text, "*Discarded* by <@"+slackIT.ID+"> (`E0100`)") && strings.Join(actions, " ") == "open_holds"
	})

	// A hold an admin released in the console: its alert still shows the
	// buttons. Pressing one says how the hold stands, changes nothing, and
	// rewrites the alert to show it.
	other, otherRef := sh.holdAlert("import", "people.csv")
	if _, err := sh.guard.Release(context.Background(), other.ID, "ada", "checked with HR"); err != nil {
		t.Fatal(err)
	}
	sh.click(slackIT, otherRef, slack.ActionDiscard)
	eventually(t, "the second reply", func() bool { return len(sh.responsesTo(slackIT)) == 2 })
	if r := sh.responsesTo(slackIT)[1]; r != "This hold is already released by ada; nothing changed." {
		t.Fatalf("reply %q", r)
	}
	if got := sh.hold(other.ID); got.Status != tenure.HoldReleased || got.DecidedBy != "ada" || len(sh.audit("guard.discarded")) != 1 {
		t.Fatalf("a decided hold changed: %+v", got)
	}
	eventually(t, "the second alert rewritten", func() bool {
		text, actions := sh.alert(otherRef)
		return strings.Contains(text, "*Released* by `ada`") && strings.Contains(text, "checked with HR") && strings.Join(actions, " ") == "open_holds"
	})
}

// A release that cannot hand every held event on (Temporal down) is decided
// all the same; the reply says what is left and where to finish it, and the
// alert shows it.
func TestSlackReleaseThatCannotHandEverythingOnSaysSo(t *testing.T) {
	sh := newSlackHarness(t, 0)
	h, ref := sh.holdAlert("batch", "batch-9")
	sh.engine.set(func(f *fakeEngine) { f.failSubmit = tenure.Errorf(tenure.EUNAVAILABLE, "Temporal is unavailable") })
	sh.click(slackIT, ref, slack.ActionRelease)
	eventually(t, "the reply", func() bool { return len(sh.responsesTo(slackIT)) == 1 })
	if r := sh.responsesTo(slackIT)[0]; !strings.Contains(r, "is released, but 5 of its events are still pending") ||
		!strings.Contains(r, "POST /api/v1/holds/"+h.ID+"/release") {
		t.Fatalf("reply %q", r)
	}
	if got := sh.hold(h.ID); got.Status != tenure.HoldReleased || got.Pending != 5 {
		t.Fatalf("hold = %+v", got)
	}
	eventually(t, "the rewritten alert", func() bool {
		text, _ := sh.alert(ref)
		return strings.Contains(text, "*Released* by <@"+slackIT.ID+">") && strings.Contains(text, "5 of its HR events are still to be handed on")
	})
}
