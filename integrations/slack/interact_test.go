package slack_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/integrations/slack"
)

// counter is an endpoint that counts what reaches it.
type counter struct{ hits atomic.Int64 }

func (c *counter) ServeHTTP(w http.ResponseWriter, _ *http.Request) { c.hits.Add(1) }

func wantRefused(t *testing.T, what string, err error) *tenure.Error {
	t.Helper()
	var e *tenure.Error
	if !errors.As(err, &e) || e.Code != tenure.EINVALID || len(e.Fields) != 1 || e.Fields[0].Field != "response_url" {
		t.Errorf("%s: %v, want the response_url refused", what, err)
		return nil
	}
	return e
}

// A response_url comes in the interaction's body. Only one under the configured
// base is posted to; anything else is refused before a request is made.
func TestRespondPostsOnlyUnderTheResponseURLBase(t *testing.T) {
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
	good := c.payloads[0]["response_url"].(string)
	if !strings.HasPrefix(good, f.ResponseURLBase()) {
		t.Fatalf("the fake's response URL %q is not under %q", good, f.ResponseURLBase())
	}
	id := strings.TrimPrefix(good, f.ResponseURLBase())
	host := strings.TrimPrefix(f.ResponseURLBase(), "http://")
	host = host[:strings.Index(host, "/")]

	evil := &counter{}
	attacker := httptest.NewServer(evil)
	defer attacker.Close()
	for _, bad := range []string{
		attacker.URL + "/response/" + id, // another host (here, another port)
		"https://" + host + "/response/" + id,
		"http://" + host + "/api/chat.postMessage",
		"http://" + host + "/response/../api/chat.postMessage",
		"http://" + host + "/response/%2e%2e/api/chat.postMessage",
		"http://user:pass@" + host + "/response/" + id,
		"/response/" + id,
		"javascript:alert(1)",
		"",
	} {
		e := wantRefused(t, bad, s.Respond(ctx, bad, "hello"))
		if bad == attacker.URL+"/response/"+id && e != nil && !strings.Contains(e.Fields[0].Problem, strings.TrimPrefix(attacker.URL, "http://")) {
			t.Errorf("the refusal does not name the host: %q", e.Fields[0].Problem)
		}
	}
	if n := evil.hits.Load(); n != 0 {
		t.Fatalf("the attacker's server got %d requests", n)
	}
	if rs := f.Responses(); len(rs) != 0 {
		t.Fatalf("refused replies reached Slack: %+v", rs)
	}
	if calls := f.Calls("chat.postMessage"); len(calls) != 1 {
		t.Fatalf("%d chat.postMessage calls, want only the request's", len(calls))
	}
	if err := s.Respond(ctx, good, "this isn't yours to decide"); err != nil {
		t.Fatal(err)
	}
	if rs := f.Responses(); len(rs) != 1 || rs[0].Text() != "this isn't yours to decide" {
		t.Fatalf("responses %+v", rs)
	}
}

// recorder is the network as the client sees it: it keeps every request and
// answers 200, so a test can see what would have gone to Slack.
type recorder struct {
	mu   sync.Mutex
	urls []string
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	r.urls = append(r.urls, req.Method+" "+req.URL.String())
	r.mu.Unlock()
	return &http.Response{StatusCode: http.StatusOK, Status: "200 OK", Header: http.Header{},
		Body: io.NopCloser(strings.NewReader("ok")), Request: req}, nil
}

// Without a configured base, the only place Respond posts is Slack's own
// https://hooks.slack.com/.
func TestRespondDefaultsToSlacksHookHost(t *testing.T) {
	rec := &recorder{}
	s, err := slack.New(slack.Config{BotToken: botToken, SigningSecret: secret, ITChannel: "C0IT"},
		slack.WithHTTPClient(&http.Client{Transport: rec}))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, bad := range []string{
		"http://hooks.slack.com/actions/T0/1/abc",
		"https://hooks.slack.com.evil.example/actions/T0/1/abc",
		"https://evil.example/hooks.slack.com/actions/T0/1/abc",
		"https://evil.example/?u=https://hooks.slack.com/",
		"https://hooks.slack.com:8443/actions/T0/1/abc",
		"https://slack.com/api/chat.postMessage",
		"https://169.254.169.254/latest/meta-data",
	} {
		wantRefused(t, bad, s.Respond(ctx, bad, "hello"))
	}
	if err := s.Respond(ctx, "https://hooks.slack.com/actions/T0/1/abc", "hello"); err != nil {
		t.Fatal(err)
	}
	if len(rec.urls) != 1 || rec.urls[0] != "POST https://hooks.slack.com/actions/T0/1/abc" {
		t.Fatalf("requests %q, want the one to hooks.slack.com", rec.urls)
	}
	if _, err := slack.New(slack.Config{BotToken: botToken, SigningSecret: secret, ITChannel: "C0IT", ResponseURLBase: "ftp://hooks"}); err == nil ||
		!strings.Contains(err.Error(), "TENURE_SLACK_RESPONSE_URL_BASE") {
		t.Fatalf("a bad base: %v", err)
	}
}

// A response URL that redirects is not followed: the body never reaches the
// host it points to.
func TestRespondFollowsNoRedirect(t *testing.T) {
	target := &counter{}
	elsewhere := httptest.NewServer(target)
	defer elsewhere.Close()
	hooks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, elsewhere.URL+"/collect", http.StatusTemporaryRedirect)
	}))
	defer hooks.Close()
	f := newFake(t)
	s := newSlack(t, f, func(c *slack.Config) { c.ResponseURLBase = hooks.URL + "/" })
	if err := s.Respond(context.Background(), hooks.URL+"/actions/T0/1/abc", "hello"); err == nil {
		t.Fatal("a redirected reply succeeded")
	}
	if n := target.hits.Load(); n != 0 {
		t.Fatalf("the redirect was followed: %d requests elsewhere", n)
	}
}
