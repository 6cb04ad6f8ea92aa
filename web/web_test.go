package web_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/guard"
	"github.com/tenure-io/tenure/integrations"
	"github.com/tenure-io/tenure/integrations/scim"
	"github.com/tenure-io/tenure/internal/authlimit"
	"github.com/tenure-io/tenure/policy"
	"github.com/tenure-io/tenure/rollout"
	"github.com/tenure-io/tenure/store"
	"github.com/tenure-io/tenure/store/storetest"
	"github.com/tenure-io/tenure/web"
	"github.com/tenure-io/tenure/web/oidctest"
)

var ctx = context.Background()

// fakeEngine records what the console hands to Temporal.
type fakeEngine struct {
	mu        sync.Mutex
	submits   []tenure.Event
	locks     []string
	unlocks   []string
	retries   []string
	decisions []tenure.Decision
	rollouts  []string // "start <id>", "release=<bool> <workflow id>", "cancel <id>"
	// reconciles and remediations are the runs and findings' remediations
	// the Reconciliation page asked for.
	reconciles   []tenure.ReconcileRequest
	remediations []string
}

func (f *fakeEngine) StartRollout(_ context.Context, r tenure.Rollout) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rollouts = append(f.rollouts, "start "+r.ID)
	return nil
}

func (f *fakeEngine) SignalGuardDecision(_ context.Context, workflowID string, d guard.Decision) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rollouts = append(f.rollouts, fmt.Sprintf("release=%t %s", d.Release, workflowID))
	return nil
}

func (f *fakeEngine) CancelRollout(_ context.Context, id, _ string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rollouts = append(f.rollouts, "cancel "+id)
	return nil
}

func (f *fakeEngine) StartReconciliation(_ context.Context, r tenure.ReconcileRequest) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reconciles = append(f.reconciles, r)
	return nil
}

func (f *fakeEngine) RemediateFinding(_ context.Context, fd tenure.Finding, actor string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.remediations = append(f.remediations, fd.ID+" "+actor)
	return "remediate-" + fd.ID, nil
}

func (f *fakeEngine) SubmitEvent(_ context.Context, ev tenure.Event) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.submits = append(f.submits, ev)
	return tenure.WorkflowID(ev.Employee.ID), nil
}

func (f *fakeEngine) Lock(_ context.Context, id, req, actor string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.locks = append(f.locks, id+" "+req+" "+actor)
	return tenure.WorkflowID(id), nil
}

func (f *fakeEngine) Unlock(_ context.Context, id, req, actor string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.unlocks = append(f.unlocks, id+" "+req+" "+actor)
	return tenure.WorkflowID(id), nil
}

func (f *fakeEngine) Retry(_ context.Context, id, app, req, actor string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.retries = append(f.retries, id+" "+app+" "+req)
	return tenure.WorkflowID(id), nil
}

func (f *fakeEngine) Reconverge(_ context.Context, id, _, _ string) (string, error) {
	return tenure.WorkflowID(id), nil
}

func (f *fakeEngine) Decide(_ context.Context, _ tenure.Approval, d tenure.Decision) (tenure.ApprovalStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.decisions = append(f.decisions, d)
	if d.Approve {
		return tenure.ApprovalApproved, nil
	}
	return tenure.ApprovalDenied, nil
}

func (f *fakeEngine) Ready(context.Context) error { return nil }
func (f *fakeEngine) RunURL(id string) string {
	return "http://temporal.test/namespaces/default/workflows/" + url.PathEscape(id)
}

func (f *fakeEngine) counts() (submits, locks, decisions int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.submits), len(f.locks), len(f.decisions)
}

// harness is the console over real HTTP on a real SQLite store, with a test OIDC
// provider whose groups map to the roles.
type harness struct {
	t      *testing.T
	url    string
	db     *store.DB
	engine *fakeEngine
	guard  *guard.Guard
	idp    *oidctest.Provider
	// key is the console's session key, for SessionRole.
	key []byte
	// policies has the dev policy in force.
	policies *rollout.Service
}

func parsePolicy(file string, data []byte) (*policy.Policy, error) {
	return policy.Parse(file, data, []integrations.Spec{scim.Spec}, func(string) string { return "" })
}

// newHarness starts the console; opts change its configuration first.
func newHarness(t *testing.T, opts ...func(*web.Config)) *harness {
	t.Helper()
	h := &harness{t: t, db: storetest.SQLite(t), engine: &fakeEngine{}}
	g, err := guard.New(guard.Config{Store: h.db, Engine: h.engine, Policy: rollout.NewVersions(h.db, parsePolicy), Signaler: h.engine})
	if err != nil {
		t.Fatal(err)
	}
	h.guard = g
	h.policies, err = rollout.New(rollout.Config{Store: h.db, Engine: h.engine, Guard: g, Parse: parsePolicy})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := h.policies.Bootstrap(context.Background(), "dev.yaml", policy.Dev, "test", "file"); err != nil {
		t.Fatal(err)
	}
	// The provider must know the console's callback before the console exists:
	// reserve the console's address first.
	srv := httptest.NewUnstartedServer(nil)
	h.url = "http://" + srv.Listener.Addr().String()
	h.idp = oidctest.New(t, "tenure-console", "client-secret", h.url+"/auth/callback")
	key := make([]byte, 32)
	rand.Read(key)
	h.key = key
	cfg := web.Config{
		Store: h.db, Engine: h.engine, Reconciler: h.engine, Guard: g, Policies: h.policies, SessionKey: key, DevSignIn: true, AuditSigningKey: testSigningKey,
		AuthLimit: authlimit.New(authlimit.DefaultBurst, authlimit.DefaultEvery, nil),
		OIDC: &web.OIDCConfig{
			Issuer: h.idp.URL, ClientID: "tenure-console", ClientSecret: "client-secret",
			RedirectURL: h.url + "/auth/callback",
			Roles:       map[string]string{"tenure-admins": "admin", "tenure-hr": "hr", "tenure-auditors": "auditor"},
		},
	}
	for _, opt := range opts {
		opt(&cfg)
	}
	handler, err := web.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = handler
	srv.Start()
	t.Cleanup(srv.Close)
	return h
}

// client is one browser: a cookie jar, not following redirects, so tests see them.
type client struct {
	h    *harness
	http *http.Client
}

func (h *harness) browser() *client {
	jar, _ := cookiejar.New(nil)
	return &client{h: h, http: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

type page struct {
	status   int
	body     string
	location string
	header   http.Header
}

func (c *client) do(method, path string, form url.Values, headers ...string) page {
	c.h.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	u := path
	if !strings.HasPrefix(u, "http") {
		u = c.h.url + path
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		c.h.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return page{status: resp.StatusCode, body: string(b), location: resp.Header.Get("Location"), header: resp.Header}
}

func (c *client) get(path string) page { return c.do("GET", path, nil) }

// post submits a form with the CSRF token of the page at from.
func (c *client) post(from, path string, form url.Values) page {
	c.h.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	form.Set("csrf", c.csrf(from))
	return c.do("POST", path, form)
}

var csrfInput = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (c *client) csrf(from string) string {
	c.h.t.Helper()
	p := c.get(from)
	m := csrfInput.FindStringSubmatch(p.body)
	if m == nil {
		c.h.t.Fatalf("no CSRF token on %s (%d)", from, p.status)
	}
	return m[1]
}

// follow follows redirects, as a browser does, and returns the last page.
func (c *client) follow(p page) page {
	c.h.t.Helper()
	for i := 0; p.location != "" && i < 10; i++ {
		p = c.get(p.location)
	}
	return p
}

// signIn signs in through the OIDC provider as u.
func (h *harness) signIn(u oidctest.User) *client {
	h.t.Helper()
	c := h.browser()
	h.idp.SignInAs(u)
	c.follow(c.get("/auth/login?next=/people"))
	return c
}

func (h *harness) as(role string) *client {
	h.t.Helper()
	groups := map[string]string{"admin": "tenure-admins", "hr": "tenure-hr", "auditor": "tenure-auditors"}
	c := h.signIn(oidctest.User{Subject: role, Email: role + "@example.com", EmailVerified: true, Name: "A " + role, Groups: []string{groups[role]}})
	if p := c.get("/people"); p.status != http.StatusOK {
		h.t.Fatalf("%s could not sign in: %d %s", role, p.status, p.body)
	}
	return c
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func (h *harness) seed(e tenure.Employee) {
	h.t.Helper()
	if e.Email == "" {
		e.Email = strings.ToLower(e.ID) + "@example.com"
	}
	if e.Status == "" {
		e.Status = tenure.PersonActive
	}
	must(h.t, h.db.UpsertEmployee(ctx, e))
}

func wantIn(t *testing.T, body string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(body, w) {
			t.Errorf("page lacks %q", w)
		}
	}
}

func TestOIDCSignInWithPKCEAndNonce(t *testing.T) {
	h := newHarness(t)
	c := h.browser()
	p := c.get("/")
	if p.status != http.StatusSeeOther || !strings.HasPrefix(p.location, "/signin") {
		t.Fatalf("signed out, / = %d %s; want a redirect to /signin", p.status, p.location)
	}
	h.idp.SignInAs(oidctest.User{Subject: "u1", Email: "ada@example.com", EmailVerified: true, Name: "Ada Admin", Groups: []string{"other", "tenure-admins"}})
	p = c.get("/auth/login?next=/apps")
	auth, err := url.Parse(p.location)
	must(t, err)
	q := auth.Query()
	if !strings.HasPrefix(p.location, h.idp.URL+"/authorize") || q.Get("code_challenge_method") != "S256" ||
		q.Get("code_challenge") == "" || q.Get("state") == "" || q.Get("nonce") == "" || !strings.Contains(q.Get("scope"), "openid") {
		t.Fatalf("login redirect = %s", p.location)
	}
	cb := c.get(p.location) // the provider signs in and sends the browser back with a code
	code := must1(url.Parse(cb.location)).Query().Get("code")
	p = c.get(cb.location)
	if p.status != http.StatusSeeOther || p.location != "/apps" {
		t.Fatalf("callback = %d %s %s", p.status, p.location, p.body)
	}
	p = c.get("/apps")
	if p.status != http.StatusOK {
		t.Fatalf("after sign-in, /apps = %d", p.status)
	}
	wantIn(t, p.body, "Ada Admin", ">admin<")
	if h.idp.Exchanges() != 1 {
		t.Errorf("exchanges = %d", h.idp.Exchanges())
	}
	// The code is single-use, and the flow cookie is gone: replaying the callback fails.
	if p := c.get(cb.location); p.status != http.StatusUnauthorized {
		t.Errorf("replayed callback = %d", p.status)
	}
	_ = code

	t.Run("a wrong state is refused", func(t *testing.T) {
		c := h.browser()
		p := c.get("/auth/login")
		back := c.get(p.location)
		u := must1(url.Parse(back.location))
		q := u.Query()
		q.Set("state", "forged")
		u.RawQuery = q.Encode()
		if p := c.get(u.String()); p.status != http.StatusUnauthorized {
			t.Fatalf("forged state = %d", p.status)
		}
		if p := c.get("/people"); p.status != http.StatusSeeOther {
			t.Fatalf("after a refused sign-in, /people = %d", p.status)
		}
	})
	t.Run("a nonce that does not match is refused", func(t *testing.T) {
		h.idp.Tamper(func(c map[string]any) { c["nonce"] = "another-sign-in" })
		defer h.idp.Tamper(nil)
		c := h.browser()
		p := c.follow(c.get("/auth/login"))
		if p.status != http.StatusUnauthorized || !strings.Contains(p.body, "nonce") {
			t.Fatalf("bad nonce = %d %s", p.status, p.body)
		}
	})
	t.Run("a token for another client is refused", func(t *testing.T) {
		h.idp.Tamper(func(c map[string]any) { c["aud"] = "someone-else" })
		defer h.idp.Tamper(nil)
		c := h.browser()
		if p := c.follow(c.get("/auth/login")); p.status != http.StatusUnauthorized {
			t.Fatalf("wrong audience = %d", p.status)
		}
	})
	t.Run("someone in no group and with no reports gets no role", func(t *testing.T) {
		h.idp.SignInAs(oidctest.User{Subject: "u2", Email: "nobody@example.com", EmailVerified: true, Name: "Nobody"})
		c := h.browser()
		p := c.follow(c.get("/auth/login"))
		if p.status != http.StatusForbidden || !strings.Contains(p.body, "no role") {
			t.Fatalf("no group = %d %s", p.status, p.body)
		}
	})
	t.Run("an unverified email is refused", func(t *testing.T) {
		h.idp.SignInAs(oidctest.User{Subject: "u3", Email: "ada@example.com", Name: "Ada", Groups: []string{"tenure-admins"}})
		c := h.browser()
		if p := c.follow(c.get("/auth/login")); p.status != http.StatusForbidden {
			t.Fatalf("unverified = %d", p.status)
		}
	})
}

func must1[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestDevSignInNeedsCSRF(t *testing.T) {
	h := newHarness(t)
	c := h.browser()
	if p := c.do("POST", "/auth/dev", url.Values{}); p.status != http.StatusForbidden {
		t.Fatalf("dev sign-in without a token = %d", p.status)
	}
	p := c.post("/signin", "/auth/dev", url.Values{"next": {"//evil.example/"}})
	if p.status != http.StatusSeeOther || p.location != "/" {
		t.Fatalf("dev sign-in = %d %q; want a redirect to / (not off-site)", p.status, p.location)
	}
	p = c.get("/")
	if p.status != http.StatusOK {
		t.Fatalf("dashboard = %d", p.status)
	}
	wantIn(t, p.body, "Local admin", "Dashboard")
	for _, ck := range c.http.Jar.Cookies(must1(url.Parse(h.url))) {
		if ck.Name == "tenure_session" && strings.Contains(ck.Value, "admin") {
			t.Errorf("the session cookie is readable: %s", ck.Value)
		}
	}
}

func TestCSRFRefusedWithoutToken(t *testing.T) {
	h := newHarness(t)
	h.seed(tenure.Employee{Person: tenure.Person{ID: "E1", GivenName: "Ada", FamilyName: "Lovelace"}})
	admin := h.as("admin")
	for _, tc := range []struct {
		name    string
		form    url.Values
		headers []string
	}{
		{"no token", url.Values{"request_id": {"r1"}}, nil},
		{"a wrong token", url.Values{"request_id": {"r1"}, "csrf": {"not-the-token"}}, nil},
		{"another session's token", url.Values{"request_id": {"r1"}, "csrf": {h.as("admin").csrf("/people")}}, nil},
		{"a wrong htmx header", url.Values{"request_id": {"r1"}}, []string{"X-CSRF-Token", "nope", "HX-Request", "true"}},
	} {
		p := admin.do("POST", "/people/E1/lock", tc.form, tc.headers...)
		if p.status != http.StatusForbidden && !(len(tc.headers) > 0 && p.status == http.StatusOK && strings.Contains(p.body, "expired")) {
			t.Errorf("%s: lock = %d %s", tc.name, p.status, p.body)
		}
	}
	if _, locks, _ := h.engine.counts(); locks != 0 {
		t.Fatalf("a lock without a valid CSRF token reached the engine")
	}
	// With the token from the confirmation page, the lock goes through once.
	p := admin.get("/people/E1/lock")
	reqID := regexp.MustCompile(`name="request_id" value="([^"]+)"`).FindStringSubmatch(p.body)[1]
	form := url.Values{"request_id": {reqID}, "csrf": {csrfInput.FindStringSubmatch(p.body)[1]}}
	if p := admin.do("POST", "/people/E1/lock", form); p.status != http.StatusSeeOther || p.location != "/people/E1?live=1" {
		t.Fatalf("lock = %d %s", p.status, p.location)
	}
	// htmx sends the token in a header instead.
	p = admin.do("POST", "/people/E1/unlock", url.Values{"request_id": {"u1"}}, "X-CSRF-Token", admin.csrf("/people"))
	if p.status != http.StatusSeeOther {
		t.Fatalf("unlock with the header = %d", p.status)
	}
	h.engine.mu.Lock()
	defer h.engine.mu.Unlock()
	if len(h.engine.locks) != 1 || h.engine.locks[0] != "E1 "+reqID+" admin@example.com" || len(h.engine.unlocks) != 1 {
		t.Fatalf("locks = %v, unlocks = %v", h.engine.locks, h.engine.unlocks)
	}
}

func TestRolesPerPageAndAction(t *testing.T) {
	h := newHarness(t)
	h.seed(tenure.Employee{Person: tenure.Person{ID: "M1", Email: "manny@example.com", GivenName: "Manny", FamilyName: "Manager"}})
	h.seed(tenure.Employee{Person: tenure.Person{ID: "E1", GivenName: "Rita", FamilyName: "Report", ManagerID: "M1"}})
	h.seed(tenure.Employee{Person: tenure.Person{ID: "E2", GivenName: "Otto", FamilyName: "Other", ManagerID: "M9"}})
	must(t, h.db.CreateApproval(ctx, tenure.Approval{ID: "apr_mine", EmployeeID: "E1", App: "aws", Approver: tenure.ApproverManager, ApproverID: "M1"}))
	must(t, h.db.CreateApproval(ctx, tenure.Approval{ID: "apr_other", EmployeeID: "E2", App: "aws", Approver: tenure.ApproverManager, ApproverID: "M9"}))
	// Manny is in no group, but has a report: he signs in as a manager.
	manager := h.signIn(oidctest.User{Subject: "m1", Email: "Manny@Example.com", EmailVerified: true, Name: "Manny"})
	clients := map[string]*client{"admin": h.as("admin"), "hr": h.as("hr"), "auditor": h.as("auditor"), "manager": manager}
	type want map[string]int
	for _, tc := range []struct {
		method, path string
		want         want
	}{
		{"GET", "/", want{"admin": 200, "hr": 200, "auditor": 200, "manager": 303}},
		{"GET", "/people", want{"admin": 200, "hr": 200, "auditor": 200, "manager": 200}},
		{"GET", "/people/E1", want{"admin": 200, "hr": 200, "auditor": 200, "manager": 200}},
		{"GET", "/people/E2", want{"admin": 200, "hr": 200, "auditor": 200, "manager": 404}},
		{"GET", "/hire", want{"admin": 200, "hr": 200, "auditor": 403, "manager": 403}},
		{"GET", "/people/E1/change", want{"admin": 200, "hr": 200, "auditor": 403, "manager": 403}},
		{"GET", "/people/E1/lock", want{"admin": 200, "hr": 403, "auditor": 403, "manager": 403}},
		// E1 has not left: evidence is a conflict for those who may have it.
		{"GET", "/people/E1/evidence", want{"admin": 409, "hr": 403, "auditor": 409, "manager": 409}},
		{"GET", "/people/E2/evidence", want{"admin": 409, "hr": 403, "auditor": 409, "manager": 404}},
		{"POST", "/people/E1/lock", want{"admin": 303, "hr": 403, "auditor": 403, "manager": 403}},
		{"POST", "/people/E1/apps/github/retry", want{"admin": 303, "hr": 403, "auditor": 403, "manager": 403}},
		{"GET", "/approvals", want{"admin": 200, "hr": 403, "auditor": 200, "manager": 200}},
		{"POST", "/approvals/apr_other/decide", want{"admin": 303, "hr": 403, "auditor": 403, "manager": 404}},
		{"POST", "/approvals/apr_mine/decide", want{"admin": 303, "hr": 403, "auditor": 403, "manager": 303}},
		{"GET", "/holds", want{"admin": 200, "hr": 403, "auditor": 200, "manager": 403}},
		// The form's decision (approve) is not one a hold takes: the admin is told.
		{"POST", "/holds/hold_x/decide", want{"admin": 400, "hr": 403, "auditor": 403, "manager": 403}},
		{"GET", "/apps", want{"admin": 200, "hr": 403, "auditor": 200, "manager": 403}},
		{"GET", "/policy", want{"admin": 200, "hr": 403, "auditor": 200, "manager": 403}},
		{"POST", "/policy/validate", want{"admin": 200, "hr": 403, "auditor": 403, "manager": 403}},
		{"GET", "/audit", want{"admin": 200, "hr": 403, "auditor": 200, "manager": 403}},
		{"GET", "/audit.csv", want{"admin": 200, "hr": 403, "auditor": 200, "manager": 403}},
		{"GET", "/sessions", want{"admin": 200, "hr": 403, "auditor": 403, "manager": 403}},
		{"GET", "/reconciliation", want{"admin": 200, "hr": 403, "auditor": 200, "manager": 403}},
		// The form names no mode: the admin and the auditor are told so.
		{"POST", "/reconciliation", want{"admin": 400, "hr": 403, "auditor": 400, "manager": 403}},
		{"POST", "/reconciliation/rec-1/findings/fnd_x/remediate", want{"admin": 404, "hr": 403, "auditor": 403, "manager": 403}},
		// The form names no email: the admin is told so, the others refused.
		{"POST", "/sessions/revoke", want{"admin": 400, "hr": 403, "auditor": 403, "manager": 403}},
	} {
		for role, code := range tc.want {
			c := clients[role]
			var p page
			if tc.method == "GET" {
				p = c.get(tc.path)
			} else {
				form := url.Values{"request_id": {"req-" + role}, "decision": {"approve"}, "reason": {"ok"},
					"policy": {string(policy.Dev)}, "csrf": {c.csrf("/people")}}
				p = c.do("POST", tc.path, form)
			}
			if p.status != code {
				t.Errorf("%s %s as %s = %d, want %d", tc.method, tc.path, role, p.status, code)
			}
		}
	}
	// The manager's people list holds their reports only.
	p := manager.get("/people")
	wantIn(t, p.body, "Rita Report")
	if strings.Contains(p.body, "Otto Other") {
		t.Errorf("a manager sees someone else's report")
	}
	h.engine.mu.Lock()
	defer h.engine.mu.Unlock()
	for _, d := range h.engine.decisions {
		if d.ApprovalID == "apr_mine" && d.By != "M1" && d.By != "admin@example.com" {
			t.Errorf("decision by %q", d.By)
		}
	}
}

func TestHireFormValidatesAndWritesNothingWhenInvalid(t *testing.T) {
	h := newHarness(t)
	hr := h.as("hr")
	bad := url.Values{"event_id": {"console-hire-1"}, "id": {"E 1"}, "email": {"Ada <ada@example.com>"}, "given_name": {""},
		"family_name": {"Lovelace"}, "start_date": {"2026-13-01"}}
	p := hr.post("/hire", "/hire", bad)
	if p.status != http.StatusBadRequest {
		t.Fatalf("invalid hire = %d", p.status)
	}
	wantIn(t, p.body, `id="e-id"`, `id="e-email"`, "must be a bare address", `id="e-given_name"`, "is required for a hire",
		`id="e-start_date"`, `aria-invalid="true"`, `value="Lovelace"`)
	if n, _, _ := h.engine.counts(); n != 0 {
		t.Fatalf("an invalid form reached the engine")
	}
	if evs, _ := h.db.ListEvents(ctx, "E 1"); len(evs) != 0 {
		t.Fatalf("an invalid form wrote %d events", len(evs))
	}

	good := url.Values{"event_id": {"console-hire-2"}, "id": {"E1001"}, "email": {"ada@example.com"}, "given_name": {"Ada"},
		"family_name": {"Lovelace"}, "department": {"Engineering"}, "title": {"Senior Engineer"}, "manager_id": {"E0001"}}
	// The live preview shows what the policy grants, before anything is sent.
	prev := hr.do("POST", "/hire/preview", good, "X-CSRF-Token", hr.csrf("/hire"), "HX-Request", "true")
	if prev.status != http.StatusOK {
		t.Fatalf("preview = %d", prev.status)
	}
	wantIn(t, prev.body, "<strong>github</strong> / engineering", "<strong>aws</strong> / production-admin", "needs manager approval",
		"<strong>google</strong> / all-staff", "<strong>slack</strong> / general")
	if strings.Contains(prev.body, "salesforce") {
		t.Errorf("preview grants salesforce to an engineer")
	}
	if n, _, _ := h.engine.counts(); n != 0 {
		t.Fatalf("a preview reached the engine")
	}
	p = hr.post("/hire", "/hire", good)
	if p.status != http.StatusSeeOther || p.location != "/people/E1001?live=1" {
		t.Fatalf("hire = %d %s %s", p.status, p.location, p.body)
	}
	// Submitting the same form again (same event ID) runs nothing new.
	hr.post("/hire", "/hire", good)
	evs, err := h.db.ListEvents(ctx, "E1001")
	must(t, err)
	if len(evs) != 1 || evs[0].ID != "console-hire-2" || evs[0].Type != tenure.EventHire || evs[0].Status != tenure.EventDispatched {
		t.Fatalf("events = %+v", evs)
	}
	if n, _, _ := h.engine.counts(); n != 1 {
		t.Fatalf("submits = %d, want 1", n)
	}
	// Before the run records the person, the page shows the hire and polls.
	p = hr.get("/people/E1001?live=1")
	wantIn(t, p.body, "Ada Lovelace", "starting the run", `hx-trigger="every 1s"`)
}

func TestChangeAndTerminatePreviewTheDiff(t *testing.T) {
	h := newHarness(t)
	h.seed(tenure.Employee{Person: tenure.Person{ID: "E1", GivenName: "Ada", FamilyName: "Lovelace", Department: "Engineering", Title: "Engineer"}})
	for _, g := range []tenure.GrantRecord{
		{EmployeeID: "E1", App: "github", Status: tenure.AccessActive},
		{EmployeeID: "E1", App: "github", Entitlement: "engineering", Status: tenure.AccessActive},
		{EmployeeID: "E1", App: "google", Status: tenure.AccessActive},
		{EmployeeID: "E1", App: "google", Entitlement: "all-staff", Status: tenure.AccessActive},
	} {
		must(t, h.db.UpsertGrant(ctx, g))
	}
	must(t, h.db.UpsertAccount(ctx, tenure.Account{EmployeeID: "E1", App: "github", AccountID: "gh-1", Status: tenure.AccessActive}))
	admin := h.as("admin")
	form := url.Values{"event_id": {"move-1"}, "email": {"e1@example.com"}, "given_name": {"Ada"}, "family_name": {"Lovelace"},
		"department": {"Sales"}, "title": {"Account Executive"}}
	p := admin.do("POST", "/people/E1/change/preview", form, "X-CSRF-Token", admin.csrf("/people"), "HX-Request", "true")
	grant := between(p.body, `id="preview-grant"`, "</ul>")
	revoke := between(p.body, `id="preview-revoke"`, "</ul>")
	if !strings.Contains(grant, "salesforce") || strings.Contains(grant, "google") {
		t.Errorf("change grants: %s", grant)
	}
	if !strings.Contains(revoke, "<strong>github</strong> account") || !strings.Contains(revoke, "engineering") || strings.Contains(revoke, "google") {
		t.Errorf("change revokes: %s", revoke)
	}
	p = admin.do("POST", "/people/E1/terminate/preview", url.Values{"event_id": {"term-1"}}, "X-CSRF-Token", admin.csrf("/people"), "HX-Request", "true")
	wantIn(t, p.body, "<strong>github</strong> account gh-1", "all-staff")
	p = admin.post("/people/E1/terminate", "/people/E1/terminate", url.Values{"event_id": {"term-1"}, "effective_date": {"2999-01-01"}})
	if p.status != http.StatusSeeOther {
		t.Fatalf("terminate = %d %s", p.status, p.body)
	}
	h.engine.mu.Lock()
	ev := h.engine.submits[0]
	h.engine.mu.Unlock()
	if ev.Type != tenure.EventTerminate || ev.EffectiveAt == nil || ev.EffectiveAt.Year() != 2999 || ev.Employee.Email != "e1@example.com" {
		t.Fatalf("terminate event = %+v", ev)
	}
}

func between(s, from, to string) string {
	i := strings.Index(s, from)
	if i < 0 {
		return ""
	}
	s = s[i:]
	if j := strings.Index(s, to); j >= 0 {
		return s[:j]
	}
	return s
}

func TestAuditCSVIsNeutralised(t *testing.T) {
	h := newHarness(t)
	at := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)
	must(t, h.db.AppendAudit(ctx, tenure.AuditRecord{Key: "k1", At: at, Actor: "@evil", Action: "employee.locked",
		EmployeeID: "E1", Detail: `=HYPERLINK("http://evil.example","click")`}))
	must(t, h.db.AppendAudit(ctx, tenure.AuditRecord{Key: "k2", At: at.AddDate(0, 0, 1), Actor: "admin", Action: "account.disabled",
		EmployeeID: "E1", App: "github", Detail: "-1+2"}))
	auditor := h.as("auditor")
	p := auditor.get("/audit.csv?action=employee.locked")
	if p.status != http.StatusOK || !strings.HasPrefix(p.header.Get("Content-Type"), "text/csv") {
		t.Fatalf("csv = %d %s", p.status, p.header.Get("Content-Type"))
	}
	rows, err := csv.NewReader(strings.NewReader(p.body)).ReadAll()
	must(t, err)
	if len(rows) != 2 {
		t.Fatalf("rows = %v", rows)
	}
	if rows[1][1] != "'@evil" || rows[1][6] != `'=HYPERLINK("http://evil.example","click")` {
		t.Fatalf("row = %q, want every formula cell prefixed with '", rows[1])
	}
	all, err := csv.NewReader(strings.NewReader(auditor.get("/audit.csv?from=2026-05-02&to=2026-05-02").body)).ReadAll()
	must(t, err)
	if len(all) != 2 || all[1][6] != "'-1+2" {
		t.Fatalf("dated export = %q", all)
	}
	p = auditor.get("/audit?employee=E1&action=employee.locked")
	wantIn(t, p.body, "employee.locked", "@evil")
	if strings.Contains(p.body, "account.disabled</td>") {
		t.Errorf("the filter let another action through")
	}
	if p := auditor.get("/audit?from=yesterday"); p.status != http.StatusBadRequest {
		t.Errorf("a bad date = %d", p.status)
	}
}

func TestPagingThroughTenThousandPeople(t *testing.T) {
	h := newHarness(t)
	const n = 10_000
	for i := range n {
		dept := "Engineering"
		if i%4 == 0 {
			dept = "Sales"
		}
		h.seed(tenure.Employee{Person: tenure.Person{ID: fmt.Sprintf("E%05d", i), GivenName: "Person", FamilyName: fmt.Sprintf("N%05d", i), Department: dept}})
	}
	admin := h.as("admin")
	p := admin.get("/people")
	wantIn(t, p.body, "Showing 1–50 of 10000", "page 1 of 200")
	rowID := regexp.MustCompile(`<td>(E\d{5})</td>`)
	seen := map[string]bool{}
	next := "/people"
	for pages := 0; next != ""; pages++ {
		if pages > 200 {
			t.Fatal("more than 200 pages")
		}
		p := admin.get(next)
		for _, m := range rowID.FindAllStringSubmatch(p.body, -1) {
			if seen[m[1]] {
				t.Fatalf("%s on two pages", m[1])
			}
			seen[m[1]] = true
		}
		next = ""
		if m := regexp.MustCompile(`href="([^"]+)" rel="next"`).FindStringSubmatch(p.body); m != nil {
			next = strings.ReplaceAll(m[1], "&amp;", "&")
		}
	}
	if len(seen) != n {
		t.Fatalf("paged through %d people, want %d", len(seen), n)
	}
	p = admin.get("/people?department=Sales&page=50")
	wantIn(t, p.body, "of 2500", "page 50 of 50", "E09996")
	p = admin.get("/people?q=N00042")
	wantIn(t, p.body, "Showing 1–1 of 1", "E00042")
	if p := admin.get("/people?page=201"); !strings.Contains(p.body, "There is no page 201") {
		t.Errorf("past the last page: %d", p.status)
	}
	if p := admin.get("/people?status=asleep"); p.status != http.StatusBadRequest || !strings.Contains(p.body, "status") {
		t.Errorf("a bad status filter = %d", p.status)
	}
}

func TestPersonPageLiveWhileRunning(t *testing.T) {
	h := newHarness(t)
	h.seed(tenure.Employee{Person: tenure.Person{ID: "E1", GivenName: "Ada", FamilyName: "Lovelace"}})
	must(t, h.db.UpsertRun(ctx, tenure.Run{WorkflowID: "employee/E1/joiner/h1", EmployeeID: "E1", Type: "Joiner", Status: tenure.RunRunning}))
	must(t, h.db.UpsertAccount(ctx, tenure.Account{EmployeeID: "E1", App: "github", AccountID: "gh-1", Status: tenure.AccessFailed, Error: "400: userName taken"}))
	admin := h.as("admin")
	p := admin.get("/people/E1/live")
	wantIn(t, p.body, `hx-get="/people/E1/live"`, `hx-trigger="every 1s"`, "400: userName taken", "Retry github",
		`href="http://temporal.test/namespaces/default/workflows/employee%2FE1%2Fjoiner%2Fh1"`)
	closed := time.Now()
	must(t, h.db.UpsertRun(ctx, tenure.Run{WorkflowID: "employee/E1/joiner/h1", EmployeeID: "E1", Type: "Joiner", Status: tenure.RunCompleted, ClosedAt: &closed}))
	p = admin.get("/people/E1/live")
	if strings.Contains(p.body, "hx-trigger") {
		t.Errorf("still polling once nothing is in flight")
	}
	// Retry carries the failure's own request ID, so a double click runs once.
	retry := regexp.MustCompile(`name="request_id" value="([^"]+)"`).FindStringSubmatch(p.body)[1]
	if p := admin.post("/people/E1", "/people/E1/apps/github/retry", url.Values{"request_id": {retry}}); p.status != http.StatusSeeOther {
		t.Fatalf("retry = %d", p.status)
	}
	h.engine.mu.Lock()
	defer h.engine.mu.Unlock()
	if len(h.engine.retries) != 1 || h.engine.retries[0] != "E1 github "+retry {
		t.Fatalf("retries = %v", h.engine.retries)
	}
}

func TestApprovalNeedsAReason(t *testing.T) {
	h := newHarness(t)
	h.seed(tenure.Employee{Person: tenure.Person{ID: "E1", GivenName: "Ada", FamilyName: "Lovelace", ManagerID: "M1"}})
	must(t, h.db.CreateApproval(ctx, tenure.Approval{ID: "apr_1", EmployeeID: "E1", App: "aws", Entitlement: "production-admin", Approver: tenure.ApproverManager, ApproverID: "M1"}))
	admin := h.as("admin")
	p := admin.get("/approvals")
	wantIn(t, p.body, "aws / production-admin", "Ada Lovelace", "Approve", "Deny")
	p = admin.post("/approvals", "/approvals/apr_1/decide", url.Values{"decision": {"deny"}})
	if p.status != http.StatusBadRequest || !strings.Contains(p.body, "Reason is required") {
		t.Fatalf("deny without a reason = %d", p.status)
	}
	if _, _, d := h.engine.counts(); d != 0 {
		t.Fatalf("a decision without a reason reached the engine")
	}
	p = admin.post("/approvals", "/approvals/apr_1/decide", url.Values{"decision": {"approve"}, "reason": {"on call rota"}})
	if p.status != http.StatusSeeOther || p.location != "/approvals?done=approved" {
		t.Fatalf("approve = %d %s", p.status, p.location)
	}
	h.engine.mu.Lock()
	d := h.engine.decisions[0]
	h.engine.mu.Unlock()
	if !d.Approve || d.Reason != "on call rota" || d.ApprovalID != "apr_1" || d.By != "admin@example.com" {
		t.Fatalf("decision = %+v", d)
	}
}

// seedAccess records, as Tenure would have, that the person holds these
// entitlements ("app/entitlement"), each with its account.
func (h *harness) seedAccess(id string, grants ...string) {
	h.t.Helper()
	for _, g := range grants {
		app, ent, _ := strings.Cut(g, "/")
		must(h.t, h.db.UpsertAccount(ctx, tenure.Account{EmployeeID: id, App: app, AccountID: app + "-" + id, Status: tenure.AccessActive}))
		must(h.t, h.db.UpsertGrant(ctx, tenure.GrantRecord{EmployeeID: id, App: app, Entitlement: ent, Status: tenure.AccessActive}))
	}
}

func TestPolicyValidatePlanAndDeploy(t *testing.T) {
	h := newHarness(t)
	for _, e := range []struct{ id, dept string }{{"E1", "Engineering"}, {"E2", "Engineering"}, {"E3", "Sales"}} {
		h.seed(tenure.Employee{Person: tenure.Person{ID: e.id, GivenName: e.id, FamilyName: "N", Department: e.dept}})
		h.seedAccess(e.id, "google/all-staff", "slack/general")
		if e.dept == "Engineering" {
			h.seedAccess(e.id, "github/engineering")
		} else {
			h.seedAccess(e.id, "salesforce/sales-users")
		}
	}
	admin := h.as("admin")
	p := admin.get("/policy")
	wantIn(t, p.body, "senior-engineers", `id="policy-version"`, "Latest deploys", "initial-")
	broken := strings.Replace(string(policy.Dev), "app: github\n", "app: gitlab\n", 1)
	p = admin.do("POST", "/policy/validate", url.Values{"policy": {broken}}, "X-CSRF-Token", admin.csrf("/policy"), "HX-Request", "true")
	line := 0
	for i, l := range strings.Split(broken, "\n") {
		if strings.Contains(l, "gitlab") {
			line = i + 1
			break
		}
	}
	wantIn(t, p.body, fmt.Sprintf("policy.yaml:%d:", line), "gitlab")
	// Engineering's github/engineering becomes github/eng; everyone gains slack/random.
	edited := strings.Replace(string(policy.Dev), "        entitlements: [engineering]\n", "        entitlements: [eng]\n", 1)
	edited = strings.Replace(edited, "        entitlements: [general]\n", "        entitlements: [general, random]\n", 1)
	p = admin.do("POST", "/policy/preview", url.Values{"policy": {edited}}, "X-CSRF-Token", admin.csrf("/policy"), "HX-Request", "true")
	wantIn(t, p.body, "Of 3 people who are not terminated, <strong>3</strong> would gain access, <strong>2</strong> would lose access, and 0 would stay",
		"<code>github</code></td><td>+2</td><td>−2</td>", "<code>slack</code></td><td>+3</td><td></td>", "7 changes.",
		"<td>github</td><td>engineering</td><td>revoke</td>", `id="policy-deploy"`)
	if strings.Contains(p.body, "policy-guard") {
		t.Fatal("the guard would hold a deploy that takes access from 2 people, well under its threshold")
	}
	// An auditor reads the policy but neither plans nor deploys in the console.
	auditor := h.as("auditor")
	if p := auditor.do("POST", "/policy/deploy", url.Values{"policy": {edited}}, "X-CSRF-Token", auditor.csrf("/policy")); p.status != http.StatusForbidden {
		t.Fatalf("auditor deploy: %d", p.status)
	}
	// Deploy shows the rollout, which polls while it runs.
	p = admin.do("POST", "/policy/deploy", url.Values{"policy": {edited}}, "X-CSRF-Token", admin.csrf("/policy"), "HX-Request", "true")
	to := p.header.Get("HX-Redirect")
	if p.status != http.StatusOK || !strings.HasPrefix(to, "/policy/rollouts/") {
		t.Fatalf("deploy: %d, HX-Redirect %q: %s", p.status, to, p.body)
	}
	id := strings.TrimPrefix(to, "/policy/rollouts/")
	h.engine.mu.Lock()
	started := slices.Clone(h.engine.rollouts)
	h.engine.mu.Unlock()
	if len(started) != 1 || started[0] != "start "+id {
		t.Fatalf("engine saw %v", started)
	}
	p = auditor.get(to)
	wantIn(t, p.body, `data-status="running"`, `data-polling="yes"`, "<strong>0</strong> of 3 people re-evaluated (0%)", `<progress id="rollout-bar"`)
	if strings.Contains(p.body, "rollout-cancel") {
		t.Fatal("an auditor is offered Cancel")
	}
	must(t, h.db.RecordRolloutOutcome(ctx, tenure.RolloutItem{RolloutID: id, EmployeeID: "E1", Status: tenure.RolloutItemDone}))
	must(t, h.db.RecordRolloutOutcome(ctx, tenure.RolloutItem{RolloutID: id, EmployeeID: "E2", Status: tenure.RolloutItemFailed, FailedApps: []string{"github"}}))
	p = admin.get(to + "/live")
	wantIn(t, p.body, "<strong>2</strong> of 3 people re-evaluated (66%)", "1 failed", `id="rollout-cancel"`, "about ")
	p = admin.do("POST", to+"/cancel", nil, "X-CSRF-Token", admin.csrf(to))
	if p.status != http.StatusSeeOther || p.header.Get("Location") != to {
		t.Fatalf("cancel: %d %s", p.status, p.body)
	}
	p = admin.get(to)
	wantIn(t, p.body, `data-status="canceled"`, `data-polling="no"`, "canceled by admin@example.com")
}

func TestDashboardAndApps(t *testing.T) {
	h := newHarness(t)
	h.seed(tenure.Employee{Person: tenure.Person{ID: "E1", GivenName: "Ada", FamilyName: "Lovelace"}, Status: tenure.PersonTerminated})
	recv := time.Now().Add(-time.Minute).UTC()
	closed := recv.Add(1500 * time.Millisecond)
	_, _, err := h.db.CreateEvent(ctx, tenure.EventRecord{ID: "term-1", EmployeeID: "E1", Type: tenure.EventTerminate, WorkflowID: "employee/E1", ReceivedAt: recv})
	must(t, err)
	must(t, h.db.UpsertRun(ctx, tenure.Run{WorkflowID: "employee/E1/leaver/term-1", EmployeeID: "E1", Type: "Leaver", EventID: "term-1",
		Status: tenure.RunCompleted, StartedAt: recv.Add(100 * time.Millisecond), ClosedAt: &closed}))
	must(t, h.db.UpsertRun(ctx, tenure.Run{WorkflowID: "employee/E1/joiner/h", EmployeeID: "E1", Type: "Joiner", Status: tenure.RunFailed, Error: "github: 400", StartedAt: recv.Add(-time.Hour)}))
	must(t, h.db.UpsertApp(ctx, tenure.App{Name: "github", Connector: "scim", Health: tenure.HealthFailing, LastError: "401 bad token"}))
	must(t, h.db.UpsertAccount(ctx, tenure.Account{EmployeeID: "E1", App: "github", Status: tenure.AccessDisabled}))
	admin := h.as("admin")
	p := admin.get("/")
	wantIn(t, p.body, "<strong>1</strong> failed runs", "Ada Lovelace", "1.5s", "github: 400", `<svg class="chart"`, `class="bar bar-leaver"`, `class="bar bar-joiner"`)
	p = admin.get("/apps")
	wantIn(t, p.body, "401 bad token", "failing")
}

// The console serves every asset itself: nothing refers to another origin, and
// the vendored htmx is the file VENDOR.md records.
func TestAssetsAreSelfContained(t *testing.T) {
	h := newHarness(t)
	admin := h.as("admin")
	for _, path := range []string{"/", "/people", "/hire", "/policy", "/signin"} {
		p := admin.get(path)
		if m := regexp.MustCompile(`(?:src|href)="(?:https?:)?//`).FindString(p.body); m != "" {
			t.Errorf("%s refers to another origin: %s", path, m)
		}
		if csp := p.header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
			t.Errorf("%s CSP = %q", path, csp)
		}
	}
	p := admin.get("/static/htmx.min.js")
	sum := sha256.Sum256([]byte(p.body))
	vendor, err := os.ReadFile("static/VENDOR.md")
	must(t, err)
	if p.status != http.StatusOK || !strings.Contains(string(vendor), hex.EncodeToString(sum[:])) {
		t.Fatalf("htmx.min.js (%d) does not match the checksum in VENDOR.md", p.status)
	}
	if err := fs.WalkDir(os.DirFS("templates"), ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, _ := os.ReadFile("templates/" + path)
		if strings.Contains(string(b), "<script>") || strings.Contains(string(b), " style=") {
			t.Errorf("%s has inline script or style, which the CSP refuses", path)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if p := admin.get("/api/v1/nope"); p.status != 404 || !strings.Contains(p.body, `"not_found"`) {
		t.Errorf("an unknown API path = %d %s", p.status, p.body)
	}
}
