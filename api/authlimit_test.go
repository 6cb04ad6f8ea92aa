package api

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/internal/authlimit"
)

// fromClient is an HTTP client whose connections come from ip, a loopback
// address such as 127.0.0.7, so that one test can speak as several clients.
func fromClient(t *testing.T, ip string) *http.Client {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	tr := &http.Transport{DialContext: d.DialContext}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// send makes one request with client; headers are name, value pairs.
func send(t *testing.T, client *http.Client, method, target, body string, headers ...string) response {
	t.Helper()
	req, err := http.NewRequest(method, target, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: res.StatusCode, header: res.Header, body: b}
}

// wantTooMany checks a refusal for guessing: 429, the API's error body with
// too_many_requests, and a Retry-After of whole seconds within max.
func wantTooMany(t *testing.T, r response, max time.Duration) {
	t.Helper()
	wantError(t, r, http.StatusTooManyRequests, tenure.ETOOMANY)
	secs, err := strconv.Atoi(r.header.Get("Retry-After"))
	if err != nil || secs < 1 || time.Duration(secs)*time.Second > max {
		t.Fatalf("Retry-After = %q, want 1 to %v in seconds", r.header.Get("Retry-After"), max)
	}
}

// TestBearerGuessingIsLimited: a client that sends wrong bearer tokens is
// refused with 429 and Retry-After once it has used the default allowance, even
// when it then sends the right token; so is a token prefix guessed from many
// clients. Other clients with the right token, and right tokens at any rate,
// are never refused.
func TestBearerGuessingIsLimited(t *testing.T) {
	h := newHarness(t) // no AuthLimiter: the default allowance
	target := h.url + "/api/v1/employees"
	bearer := func(tok string) []string { return []string{"Authorization", "Bearer " + tok} }

	guesser := fromClient(t, "127.0.0.2")
	for i := range authlimit.DefaultBurst {
		// Each guess has its own prefix: only the client is counted.
		r := send(t, guesser, "GET", target, "", bearer(fmt.Sprintf("%08d-wrong-token", i))...)
		wantError(t, r, http.StatusUnauthorized, tenure.EUNAUTHORIZED)
	}
	for i := range 10 {
		r := send(t, guesser, "GET", target, "", bearer(fmt.Sprintf("%08d-more-guesses", 100+i))...)
		wantTooMany(t, r, authlimit.DefaultEvery)
	}
	// The right token does not get the guesser in, nor tell it that it is right.
	wantTooMany(t, send(t, guesser, "GET", target, "", bearer(adminToken)...), authlimit.DefaultEvery)

	// Another client with the right token is not slowed.
	if r := send(t, fromClient(t, "127.0.0.3"), "GET", target, "", bearer(adminToken)...); r.status != http.StatusOK {
		t.Fatalf("the right token from another client: %d %s", r.status, r.body)
	}

	// One prefix guessed from many clients is limited as a whole.
	for i := range authlimit.DefaultBurst + 2 {
		c := fromClient(t, fmt.Sprintf("127.0.1.%d", 1+i))
		r := send(t, c, "GET", target, "", bearer(fmt.Sprintf("tnr_SAME%044d", i))...)
		if i < authlimit.DefaultBurst {
			wantError(t, r, http.StatusUnauthorized, tenure.EUNAUTHORIZED)
		} else {
			wantTooMany(t, r, authlimit.DefaultEvery)
		}
	}
	// A fresh client with another prefix is only told its token is wrong.
	wantError(t, send(t, fromClient(t, "127.0.2.1"), "GET", target, "", bearer("tnr_OTHER-prefix")...),
		http.StatusUnauthorized, tenure.EUNAUTHORIZED)

	// Right tokens cost nothing: many more than the allowance, from one client,
	// between wrong ones that stay within it.
	honest := fromClient(t, "127.0.3.1")
	for i := range 3 * authlimit.DefaultBurst {
		if i%4 == 0 && i/4 < authlimit.DefaultBurst-1 {
			wantError(t, send(t, honest, "GET", target, "", bearer(fmt.Sprintf("typo%04d-token", i))...),
				http.StatusUnauthorized, tenure.EUNAUTHORIZED)
		}
		start := time.Now()
		if r := send(t, honest, "GET", target, "", bearer(adminToken)...); r.status != http.StatusOK {
			t.Fatalf("right token %d from a client that made typos: %d %s", i, r.status, r.body)
		}
		if d := time.Since(start); d > time.Second {
			t.Fatalf("right token %d took %v", i, d)
		}
	}
}

// TestIssuedTokenGuessingIsLimited: the limit sits in front of the store's
// tokens too, and a limiter given in Config is the one used.
func TestIssuedTokenGuessingIsLimited(t *testing.T) {
	h := newRoleHarness(t)
	h.cfg.AuthLimiter = authlimit.New(2, time.Minute, nil)
	srv := httptest.NewServer(mustServer(t, h.cfg))
	t.Cleanup(srv.Close)
	good := h.tokens[tenure.RoleAuditor]
	wrong := good[:len(good)-4] + "AAAA"
	if wrong == good {
		wrong = good[:len(good)-4] + "BBBB"
	}
	c := fromClient(t, "127.0.0.4")
	for range 2 {
		wantError(t, send(t, c, "GET", srv.URL+"/api/v1/audit", "", "Authorization", "Bearer "+wrong),
			http.StatusUnauthorized, tenure.EUNAUTHORIZED)
	}
	wantTooMany(t, send(t, c, "GET", srv.URL+"/api/v1/audit", "", "Authorization", "Bearer "+wrong), time.Minute)
	// The wrong token shared its prefix with the right one, so the right one is
	// refused from other clients too until the wait is over: the price of
	// limiting a prefix across clients. Another token is unaffected.
	wantTooMany(t, send(t, fromClient(t, "127.0.0.6"), "GET", srv.URL+"/api/v1/audit", "", "Authorization", "Bearer "+good), time.Minute)
	other := h.tokens[tenure.RoleAdmin]
	if r := send(t, fromClient(t, "127.0.0.5"), "GET", srv.URL+"/api/v1/audit", "", "Authorization", "Bearer "+other); r.status != http.StatusOK {
		t.Fatalf("another issued token: %d %s", r.status, r.body)
	}
	// An expired token is a failure too.
	expired := h.issue(TokenSpec{Name: "old", Role: tenure.RoleAdmin}, time.Now().Add(-2*time.Hour))
	stale := fromClient(t, "127.0.0.7")
	for range 2 {
		wantError(t, send(t, stale, "GET", srv.URL+"/api/v1/audit", "", "Authorization", "Bearer "+expired),
			http.StatusUnauthorized, tenure.EUNAUTHORIZED)
	}
	wantTooMany(t, send(t, stale, "GET", srv.URL+"/api/v1/audit", "", "Authorization", "Bearer "+expired), time.Minute)
}

// TestHRWebhookSignatureGuessingIsLimited: wrong signatures are limited per
// client and per signature; signed deliveries never are, and a refused one
// writes nothing.
func TestHRWebhookSignatureGuessingIsLimited(t *testing.T) {
	h := newHarness(t)
	h.cfg.HRWebhookSecrets = []string{newHRSecret}
	h.cfg.AuthLimiter = authlimit.New(3, time.Minute, nil)
	srv := httptest.NewServer(mustServer(t, h.cfg))
	t.Cleanup(srv.Close)
	target := srv.URL + "/webhooks/hr/generic"
	now := h.now()
	deliver := func(c *http.Client, body, sig string) response {
		t.Helper()
		return send(t, c, "POST", target, body, "Content-Type", "application/json", "Tenure-Signature", sig)
	}

	guesser := fromClient(t, "127.0.0.2")
	body := genericHire("wh-guess", "E77")
	for i := range 3 {
		wantError(t, deliver(guesser, body, sign(fmt.Sprintf("guess-%d", i), now, body)), http.StatusUnauthorized, tenure.EUNAUTHORIZED)
	}
	wantTooMany(t, deliver(guesser, body, sign("guess-again", now, body)), time.Minute)
	// Even a rightly signed delivery from the guesser waits, and writes nothing.
	wantTooMany(t, deliver(guesser, body, sign(newHRSecret, now, body)), time.Minute)
	if h.engine.submitCount() != 0 || h.storedEvents("E77") != 0 {
		t.Fatal("a refused delivery wrote or ran something")
	}

	// The HR system, from its own address, is not slowed, however often it sends.
	hr := fromClient(t, "127.0.0.3")
	for i := range 10 {
		b := genericHire(fmt.Sprintf("wh-ok-%d", i), fmt.Sprintf("E8%d", i))
		if r := deliver(hr, b, sign(newHRSecret, now, b)); r.status != http.StatusAccepted {
			t.Fatalf("signed delivery %d: %d %s", i, r.status, r.body)
		}
	}

	// One signature replayed from many clients (each with a new timestamp) is
	// limited as a whole.
	forged := strings.SplitN(sign("forged-secret", now, body), ",", 2)[1] // v1=...
	for i := range 5 {
		c := fromClient(t, fmt.Sprintf("127.0.1.%d", 1+i))
		r := deliver(c, body, "t="+strconv.FormatInt(now.Unix()-int64(i), 10)+","+forged)
		if i < 3 {
			wantError(t, r, http.StatusUnauthorized, tenure.EUNAUTHORIZED)
		} else {
			wantTooMany(t, r, time.Minute)
		}
	}
}

// TestSlackSignatureGuessingIsLimited: requests with wrong Slack signatures are
// limited per client and per signature; Slack's own are not.
func TestSlackSignatureGuessingIsLimited(t *testing.T) {
	sh := newSlackHarness(t, 0) // no AuthLimiter: the default allowance
	ignored := url.Values{"payload": {`{"type":"block_actions","user":{"id":"U0BOSS"},"actions":[{"action_id":"open-link","value":"x"}]}`}}.Encode()
	post := func(c *http.Client, body string, ts int64, sig string) response {
		t.Helper()
		return send(t, c, "POST", sh.slackURL, body, "Content-Type", "application/x-www-form-urlencoded",
			"X-Slack-Request-Timestamp", strconv.FormatInt(ts, 10), "X-Slack-Signature", sig)
	}
	now := time.Now().Unix()

	guesser := fromClient(t, "127.0.0.2")
	for i := range authlimit.DefaultBurst {
		wantError(t, post(guesser, ignored, now, slackSign(fmt.Sprintf("guess-%d", i), now, ignored)), http.StatusUnauthorized, tenure.EUNAUTHORIZED)
	}
	wantTooMany(t, post(guesser, ignored, now, slackSign("guess-again", now, ignored)), authlimit.DefaultEvery)
	wantTooMany(t, post(guesser, ignored, now, slackSign(slackSecret, now, ignored)), authlimit.DefaultEvery)
	if n := sh.counts.touched.Load(); n != 0 {
		t.Fatalf("refused requests touched the store %d times", n)
	}

	// Slack, from elsewhere, is answered, and its real clicks work.
	slackSide := fromClient(t, "127.0.0.3")
	for i := range 2 * authlimit.DefaultBurst {
		if r := post(slackSide, ignored, now, slackSign(slackSecret, now, ignored)); r.status != http.StatusOK {
			t.Fatalf("signed request %d: %d %s", i, r.status, r.body)
		}
	}
	ref := sh.request("ap-1")
	sh.click(slackBoss, ref, "approve")
	eventually(t, "the decision", func() bool { return len(sh.engine.calls().decisions) == 1 })

	// One signature from many clients is limited as a whole.
	forged := slackSign("forged-secret", now, ignored)
	for i := range authlimit.DefaultBurst + 1 {
		r := post(fromClient(t, fmt.Sprintf("127.0.1.%d", 1+i)), ignored, now, forged)
		if i < authlimit.DefaultBurst {
			wantError(t, r, http.StatusUnauthorized, tenure.EUNAUTHORIZED)
		} else {
			wantTooMany(t, r, authlimit.DefaultEvery)
		}
	}
}

// TestRetryAfterOnlyWithADelay: handleError writes Retry-After from the error,
// and only when there is one.
func TestRetryAfterOnlyWithADelay(t *testing.T) {
	h := newHarness(t)
	srv := &server{log: h.cfg.Logger}
	for _, tc := range []struct {
		err  error
		want string
	}{
		{authlimit.Refuse(2500 * time.Millisecond), "3"},
		{tenure.Errorf(tenure.EUNAUTHORIZED, "no"), ""},
		{tenure.Errorf(tenure.EUNAVAILABLE, "later"), ""},
	} {
		e := echo.New()
		rec := httptest.NewRecorder()
		c := e.NewContext(httptest.NewRequest("GET", "/", nil).WithContext(context.Background()), rec)
		srv.handleError(tc.err, c)
		if got := rec.Header().Get("Retry-After"); got != tc.want {
			t.Errorf("%v: Retry-After %q, want %q", tc.err, got, tc.want)
		}
	}
}
