package web_test

import (
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/internal/authlimit"
	"github.com/tenure-io/tenure/web"
	"github.com/tenure-io/tenure/web/oidctest"
)

// sessionCookie is the browser's session cookie, as someone who copied it holds it.
func (c *client) sessionCookie() *http.Cookie {
	c.h.t.Helper()
	for _, ck := range c.http.Jar.Cookies(must1(url.Parse(c.h.url))) {
		if ck.Name == "tenure_session" {
			return ck
		}
	}
	c.h.t.Fatal("no session cookie")
	return nil
}

// browserWith is another browser that holds a copy of ck.
func (h *harness) browserWith(ck *http.Cookie) *client {
	c := h.browser()
	jar, _ := cookiejar.New(nil)
	jar.SetCookies(must1(url.Parse(h.url)), []*http.Cookie{{Name: ck.Name, Value: ck.Value, Path: "/"}})
	c.http.Jar = jar
	return c
}

// codecRole asks web.SessionRole, as the codec endpoint does, about a request
// that carries ck.
func (h *harness) codecRole(ck *http.Cookie) (string, bool) {
	h.t.Helper()
	role, err := web.SessionRole(h.key, h.db)
	must(h.t, err)
	r, _ := http.NewRequest("POST", h.url+"/codec/decode", nil)
	r.AddCookie(&http.Cookie{Name: ck.Name, Value: ck.Value})
	return role(r)
}

// signedOut reports whether c is sent to sign in when it opens /people.
func (c *client) signedOut() bool {
	c.h.t.Helper()
	p := c.get("/people")
	return p.status == http.StatusSeeOther && strings.HasPrefix(p.location, "/signin")
}

// Browsers drop tabs and newlines from URLs and read a backslash as a slash, so
// each of these would leave the console after sign-in. Every one goes to "/".
func TestSignInNextStaysOnTheConsole(t *testing.T) {
	h := newHarness(t)
	attacks := []string{
		"/\t/evil.example", "/\n/evil.example", "/\r/evil.example", "/\r\n/evil.example", "\t//evil.example",
		"/ /evil.example", "/\u00a0/evil.example", "/\u3000/evil.example", "/\x00/evil.example", "/\x7f/evil.example",
		"//evil.example", "///evil.example", "/\\evil.example", "/\\/evil.example", "\\/evil.example", "/people\\..\\..\\evil",
		"https://evil.example/", "http:evil.example", "javascript:alert(1)", "JaVaScRiPt:alert(1)", "evil.example", "",
		"/%09/evil.example", "/%0a/evil.example", "/%0D%0A/evil.example", "/%5cevil.example", "/%5C/evil.example",
		"/%2F/evil.example", "/%2f%2fevil.example", "%2F%2Fevil.example", "/%252F%252Fevil.example",
		"/%25252F/evil.example", "/%zz", "/%00", "/people/\xff",
	}
	for _, next := range attacks {
		c := h.browser()
		p := c.post("/signin", "/auth/dev", url.Values{"next": {next}})
		if p.status != http.StatusSeeOther || p.location != "/" {
			t.Errorf("dev sign-in with next %q = %d %q, want a redirect to /", next, p.status, p.location)
		}
		// Signed in already, the sign-in page sends the browser on at once.
		p = c.get("/signin?next=" + url.QueryEscape(next))
		if p.status != http.StatusSeeOther || p.location != "/" {
			t.Errorf("/signin?next=%q = %d %q, want a redirect to /", next, p.status, p.location)
		}
	}
	for _, next := range []string{"/people", "/people/E1?live=1", "/audit?action=employee.locked&from=2026-01-01", "/people?q=Ada+Lovelace", "/people/a%2Fb"} {
		c := h.browser()
		if p := c.post("/signin", "/auth/dev", url.Values{"next": {next}}); p.location != next {
			t.Errorf("dev sign-in with next %q went to %q", next, p.location)
		}
	}
}

// A cookie copied before sign-out is dead after it, on the console and on the
// codec endpoint alike: the session lives in the store, and sign-out revokes it.
func TestSignOutEndsACopiedCookieEverywhere(t *testing.T) {
	h := newHarness(t)
	if n := len(must1(h.db.ListSessions(ctx, time.Now(), 0))); n != 0 {
		t.Fatalf("%d sessions before anyone signed in", n)
	}
	if p := h.browser().get("/signin"); p.status != http.StatusOK {
		t.Fatalf("sign-in page = %d", p.status)
	}
	if n := len(must1(h.db.ListSessions(ctx, time.Now(), 0))); n != 0 {
		t.Fatalf("an anonymous visit stored %d sessions", n)
	}
	// A session that expired long ago is cleared by the next sign-in.
	must(t, h.db.CreateSession(ctx, tenure.ConsoleSession{IDHash: "0ld", Email: "old@example.com", ExpiresAt: time.Now().Add(-time.Hour)}))
	admin := h.as("admin")
	if _, err := h.db.FindSession(ctx, "0ld"); tenure.ErrorCode(err) != tenure.ENOTFOUND {
		t.Errorf("an expired session outlived a sign-in: %v", err)
	}
	stolen := admin.sessionCookie()
	thief := h.browserWith(stolen)
	if thief.signedOut() {
		t.Fatal("the copied cookie does not work before sign-out: the test proves nothing")
	}
	if role, ok := h.codecRole(stolen); !ok || role != tenure.RoleAdmin {
		t.Fatalf("codec before sign-out = %q %v", role, ok)
	}
	list := must1(h.db.ListSessions(ctx, time.Now(), 0))
	if len(list) != 1 || len(list[0].IDHash) != 64 || list[0].Email != "admin@example.com" || list[0].Role != tenure.RoleAdmin ||
		!list[0].ExpiresAt.Equal(list[0].CreatedAt.Add(12*time.Hour)) {
		t.Fatalf("stored sessions = %+v", list)
	}
	if strings.Contains(stolen.Value, list[0].IDHash) {
		t.Fatal("the cookie carries the stored hash")
	}

	if p := admin.post("/people", "/signout", nil); p.status != http.StatusSeeOther || p.location != "/signin" {
		t.Fatalf("sign-out = %d %s", p.status, p.location)
	}
	if !admin.signedOut() {
		t.Error("still signed in after signing out")
	}
	if !thief.signedOut() {
		t.Error("a cookie copied before sign-out still opens the console")
	}
	if role, ok := h.codecRole(stolen); ok {
		t.Errorf("a cookie copied before sign-out still opens the codec endpoint as %q", role)
	}
	// A forged cookie (the right name, another value) is nobody.
	if _, ok := h.codecRole(&http.Cookie{Name: "tenure_session", Value: "forged"}); ok {
		t.Error("a forged cookie opened the codec endpoint")
	}
}

// An admin signs a user out everywhere: the user's next request is refused.
func TestAdminRevokesAUsersSessions(t *testing.T) {
	h := newHarness(t)
	h.seed(tenure.Employee{Person: tenure.Person{ID: "H1", Email: "hr@example.com", GivenName: "Hanna", FamilyName: "HR"}})
	hr := h.as("hr")
	laptop := h.browserWith(hr.sessionCookie())
	hr2 := h.as("hr") // a second browser of the same user
	auditor := h.as("auditor")
	admin := h.as("admin")

	p := admin.get("/sessions")
	wantIn(t, p.body, "hr@example.com", "auditor@example.com", `action="/sessions/revoke"`, "Sign out everywhere")
	if p := hr.get("/sessions"); p.status != http.StatusForbidden {
		t.Errorf("hr opened /sessions: %d", p.status)
	}
	if p := hr.post("/people", "/sessions/revoke", url.Values{"email": {"auditor@example.com"}}); p.status != http.StatusForbidden {
		t.Errorf("hr revoked sessions: %d", p.status)
	}

	// A bad address is named and writes nothing.
	before := len(must1(h.db.ListAudit(ctx, tenure.AuditFilter{Limit: 500})))
	p = admin.post("/sessions", "/sessions/revoke", url.Values{"email": {"Hanna <hr@example.com>"}})
	if p.status != http.StatusBadRequest || !strings.Contains(p.body, `id="e-email"`) {
		t.Fatalf("bad email = %d %s", p.status, p.body)
	}
	if after := len(must1(h.db.ListAudit(ctx, tenure.AuditFilter{Limit: 500}))); after != before || hr.signedOut() {
		t.Fatal("a refused revocation changed something")
	}

	p = admin.post("/sessions", "/sessions/revoke", url.Values{"email": {"HR@example.com"}})
	if p.status != http.StatusSeeOther || p.location != "/sessions?revoked=2" {
		t.Fatalf("revoke = %d %s %s", p.status, p.location, p.body)
	}
	for name, c := range map[string]*client{"hr": hr, "hr's copied cookie": laptop, "hr's second browser": hr2} {
		if !c.signedOut() {
			t.Errorf("%s is still signed in after the revocation", name)
		}
	}
	if auditor.signedOut() || admin.signedOut() {
		t.Error("revoking hr's sessions signed someone else out")
	}
	if _, ok := h.codecRole(hr.sessionCookie()); ok {
		t.Error("a revoked session still opens the codec endpoint")
	}
	recs := must1(h.db.ListAudit(ctx, tenure.AuditFilter{Action: "session.revoked"}))
	if len(recs) != 1 || recs[0].Actor != "admin@example.com" || recs[0].EmployeeID != "H1" || !strings.Contains(recs[0].Detail, ": 2") {
		t.Fatalf("audit = %+v", recs)
	}
	// Signing in again works: revocation ends sessions, not the user.
	if again := h.as("hr"); again.signedOut() {
		t.Fatal("hr cannot sign in again")
	}
}

// The role is worked out at every request from the stored sign-in and today's
// HR records: a manager who loses their reports, or anyone locked or terminated
// in HR, loses the console at their next request, and the codec endpoint with it.
func TestRoleIsResolvedAtEachRequest(t *testing.T) {
	h := newHarness(t)
	h.seed(tenure.Employee{Person: tenure.Person{ID: "M1", Email: "manny@example.com", GivenName: "Manny", FamilyName: "Manager"}})
	report := tenure.Employee{Person: tenure.Person{ID: "E1", GivenName: "Rita", FamilyName: "Report", ManagerID: "M1"}}
	h.seed(report)
	manager := h.signIn(oidctest.User{Subject: "m1", Email: "manny@example.com", EmailVerified: true, Name: "Manny"})
	if p := manager.get("/people/E1"); p.status != http.StatusOK {
		t.Fatalf("manager before = %d", p.status)
	}
	report.ManagerID = "M2"
	h.seed(report)
	if !manager.signedOut() {
		t.Fatal("a manager whose last report moved away still has the console")
	}
	report.ManagerID = "M1"
	h.seed(report)
	if p := manager.get("/people/E1"); p.status != http.StatusOK {
		t.Fatalf("the same session, reports back = %d", p.status)
	}

	h.seed(tenure.Employee{Person: tenure.Person{ID: "A1", Email: "admin@example.com", GivenName: "Ada", FamilyName: "Admin"}})
	admin := h.as("admin")
	ck := admin.sessionCookie()
	if role, ok := h.codecRole(ck); !ok || role != tenure.RoleAdmin {
		t.Fatalf("codec = %q %v", role, ok)
	}
	for _, status := range []tenure.PersonStatus{tenure.PersonLocked, tenure.PersonTerminated} {
		must(t, h.db.SetEmployeeStatus(ctx, "A1", status))
		if !admin.signedOut() {
			t.Errorf("an admin %s in HR still has the console", status)
		}
		if _, ok := h.codecRole(ck); ok {
			t.Errorf("an admin %s in HR still has the codec endpoint", status)
		}
		c := h.browser()
		h.idp.SignInAs(oidctest.User{Subject: "admin", Email: "admin@example.com", EmailVerified: true, Name: "Ada", Groups: []string{"tenure-admins"}})
		if p := c.follow(c.get("/auth/login")); p.status != http.StatusForbidden || !strings.Contains(p.body, string(status)) {
			t.Errorf("sign-in while %s = %d %s", status, p.status, p.body)
		}
	}
	must(t, h.db.SetEmployeeStatus(ctx, "A1", tenure.PersonActive))
	if admin.signedOut() {
		t.Error("unlocked, the admin's session does not work again")
	}
}

// The ID token must say the email is verified: missing, false or anything but
// the boolean true is refused, and so is a token without an email.
func TestOIDCNeedsAVerifiedEmail(t *testing.T) {
	h := newHarness(t)
	for name, tamper := range map[string]func(map[string]any){
		"no email_verified claim":     func(c map[string]any) { delete(c, "email_verified") },
		"email_verified false":        func(c map[string]any) { c["email_verified"] = false },
		`email_verified "true"`:       func(c map[string]any) { c["email_verified"] = "true" },
		"email_verified null":         func(c map[string]any) { c["email_verified"] = nil },
		"no email, though verified":   func(c map[string]any) { delete(c, "email") },
		"empty email, though verfied": func(c map[string]any) { c["email"] = "" },
	} {
		t.Run(name, func(t *testing.T) {
			h.idp.SignInAs(oidctest.User{Subject: "u1", Email: "ada@example.com", EmailVerified: true, Name: "Ada", Groups: []string{"tenure-admins"}})
			h.idp.Tamper(tamper)
			defer h.idp.Tamper(nil)
			c := h.browser()
			p := c.follow(c.get("/auth/login?next=/people"))
			if p.status != http.StatusForbidden || !strings.Contains(p.body, "email") {
				t.Fatalf("sign-in = %d %s", p.status, p.body)
			}
			if !c.signedOut() {
				t.Fatal("signed in")
			}
		})
	}
	h.idp.SignInAs(oidctest.User{Subject: "u1", Email: "ada@example.com", EmailVerified: true, Name: "Ada", Groups: []string{"tenure-admins"}})
	if c := h.browser(); c.follow(c.get("/auth/login")).status != http.StatusOK || c.signedOut() {
		t.Fatal("a verified email cannot sign in")
	}
}

// A manager asking for someone who is not their report hears 404, exactly as
// for someone who does not exist: never 403, which would tell them the person is there.
func TestManagerHears404ForPeopleOutsideTheirReports(t *testing.T) {
	h := newHarness(t)
	h.seed(tenure.Employee{Person: tenure.Person{ID: "M1", Email: "manny@example.com", GivenName: "Manny", FamilyName: "Manager"}})
	h.seed(tenure.Employee{Person: tenure.Person{ID: "E1", GivenName: "Rita", FamilyName: "Report", ManagerID: "M1"}})
	h.seed(tenure.Employee{Person: tenure.Person{ID: "E2", GivenName: "Otto", FamilyName: "Other", ManagerID: "M9"}})
	manager := h.signIn(oidctest.User{Subject: "m1", Email: "manny@example.com", EmailVerified: true, Name: "Manny"})
	if p := manager.get("/people/E1"); p.status != http.StatusOK {
		t.Fatalf("own report = %d", p.status)
	}
	for _, path := range []string{"/people/E2", "/people/E2/live", "/people/M1", "/people/NOBODY", "/people/NOBODY/live"} {
		p := manager.get(path)
		if p.status != http.StatusNotFound || strings.Contains(p.body, "Otto") {
			t.Errorf("%s as a manager = %d, want 404 and nothing of the person", path, p.status)
		}
	}
}

// Dev sign-in has no password: its one failure is a post without the visit's
// CSRF token. Past the limiter's allowance the client is refused with 429 and
// Retry-After, even with a good token, before anything is checked.
func TestDevSignInFailuresAreLimited(t *testing.T) {
	limiter := authlimit.New(3, time.Minute, nil)
	h := newHarness(t, func(cfg *web.Config) { cfg.AuthLimit = limiter })
	c := h.browser()
	for i := range 3 {
		if p := c.do("POST", "/auth/dev", url.Values{"csrf": {"guess"}}); p.status != http.StatusForbidden {
			t.Fatalf("failure %d = %d", i+1, p.status)
		}
	}
	p := c.post("/signin", "/auth/dev", nil)
	if p.status != http.StatusTooManyRequests || p.header.Get("Retry-After") == "" || p.header.Get("Retry-After") == "0" {
		t.Fatalf("after 3 failures = %d, Retry-After %q", p.status, p.header.Get("Retry-After"))
	}
	if !c.signedOut() {
		t.Fatal("a refused sign-in signed in")
	}
	if limiter.Wait(authlimit.ClientKey(&http.Request{RemoteAddr: "127.0.0.1:1"})) == 0 {
		t.Fatal("the failures were not counted against the client's address")
	}
	// Without a limiter, dev sign-in is refused at start-up.
	_, err := web.New(web.Config{Store: h.db, Engine: h.engine, Guard: h.guard, Policies: h.policies, SessionKey: h.key, DevSignIn: true})
	if err == nil || !strings.Contains(err.Error(), "AuthLimit") {
		t.Fatalf("dev sign-in without a limiter: %v", err)
	}
}
