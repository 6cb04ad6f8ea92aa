package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// browserFlags are Chromium's flags for a quiet, headless, repeatable run.
func browserFlags(t *testing.T, path string) []chromedp.ExecAllocatorOption {
	return []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	}
}

// chromium finds Debian's Chromium. Without it the browser tests skip, unless
// TENURE_REQUIRE_BROWSER=1 (as in CI), when they fail.
func chromium(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("TENURE_CHROMIUM"), "/usr/bin/chromium", "chromium"} {
		if p == "" {
			continue
		}
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	if os.Getenv("TENURE_REQUIRE_BROWSER") == "1" {
		t.Fatal("Chromium is required (TENURE_REQUIRE_BROWSER=1) but not installed: apt-get install chromium")
	}
	t.Skip("Chromium is not installed; skipping the browser tests (set TENURE_REQUIRE_BROWSER=1 to fail instead)")
	return ""
}

// browser drives one Chromium tab against a running console.
type browser struct {
	t    *testing.T
	ctx  context.Context
	base string
	// shots, when set, is where each page's screenshot goes (TENURE_SCREENSHOTS=1).
	shots string
}

func newBrowser(t *testing.T, base string) *browser {
	t.Helper()
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), browserFlags(t, chromium(t))...)
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)
	// The first action starts the browser, with no timeout on its context.
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("starting Chromium: %v", err)
	}
	b := &browser{t: t, ctx: ctx, base: base}
	if os.Getenv("TENURE_SCREENSHOTS") == "1" {
		b.shots = filepath.Join("..", "..", "docs", "screenshots")
		if err := os.MkdirAll(b.shots, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

// do runs steps, failing the test with what it was doing.
func (b *browser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 45*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		loc, _ := chromedp.Run(b.ctx, chromedp.Location())
		body, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText.slice(0, 2000) : ""`))
		b.t.Fatalf("%s: %v\nat %s:\n%s", what, err, loc, body)
	}
}

// wait waits until a JavaScript expression is true in the page. It asks again
// and again rather than waiting inside the page, so it survives the navigations
// (a form's redirect) that would end a wait in the page.
func (b *browser) wait(what, expr string) {
	b.t.Helper()
	deadline := time.Now().Add(40 * time.Second)
	var lastErr error
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("Boolean("+expr+")"))
		cancel()
		if err == nil && ok {
			return
		}
		lastErr = err
		time.Sleep(100 * time.Millisecond)
	}
	loc, _ := chromedp.Run(b.ctx, chromedp.Location())
	body, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText.slice(0, 3000) : ""`))
	b.t.Fatalf("waiting for %s: not true after 40s (last error %v)\nat %s:\n%s", what, lastErr, loc, body)
}

func (b *browser) eval(expr string) string {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](expr))
	if err != nil {
		b.t.Fatalf("evaluating %s: %v", expr, err)
	}
	return v
}

// open navigates and waits for the page's main heading.
func (b *browser) open(path string) {
	b.t.Helper()
	b.do("opening "+path, chromedp.Navigate(b.base+path), chromedp.WaitVisible(chromedp.CSS("main h1")))
}

// shot saves a screenshot of the whole page as docs/screenshots/<name>.png.
func (b *browser) shot(name string) {
	b.t.Helper()
	if b.shots == "" {
		return
	}
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(b.shots, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// markPage tags the loaded document, so a later check can tell that what changed
// on screen arrived without a reload.
func (b *browser) markPage() { b.eval(`window.__tenureMark = "unchanged"; "ok"`) }

func (b *browser) notReloaded(what string) {
	b.t.Helper()
	if got := b.eval(`String(window.__tenureMark)`); got != "unchanged" {
		b.t.Fatalf("%s: the page was reloaded; the update should have arrived live", what)
	}
}

// accessIs is a JavaScript test that each app's row on the person page has a status.
func accessIs(want map[string]string) string {
	var parts []string
	for app, st := range want {
		parts = append(parts, fmt.Sprintf(`!!document.querySelector('#access tr[data-app="%s"][data-status="%s"]')`, app, st))
	}
	return strings.Join(parts, " && ")
}

// TestConsoleInBrowser drives the console of a real `tenure dev` in headless
// Chromium: sign in, hire through the form and watch the access arrive live,
// approve the privileged grant, lock and watch every app go disabled, and find
// the lock in the audit log.
func TestConsoleInBrowser(t *testing.T) {
	chromium(t)
	dev := startDev(t, t.TempDir())
	b := newBrowser(t, dev.base)

	// Sign in: the console sends a signed-out visitor to the sign-in page.
	b.do("signed out", chromedp.Navigate(dev.base+"/people"), chromedp.WaitVisible(chromedp.CSS(`form[action="/auth/dev"] button`)))
	b.shot("signin")
	b.do("signing in", chromedp.Click(chromedp.CSS(`form[action="/auth/dev"] button`)), chromedp.WaitVisible(chromedp.CSS("main h1")))
	b.wait("signed in lands on people", `location.pathname === "/people" && document.body.innerText.includes("Local admin")`)

	// Hire through the form; the preview shows the access before submitting.
	b.open("/hire")
	for _, f := range [][2]string{
		{"#f-id", "E2001"}, {"#f-email", "grace@example.com"}, {"#f-given_name", "Grace"}, {"#f-family_name", "Hopper"},
		{"#f-department", "Engineering"}, {"#f-title", "Senior Engineer"}, {"#f-manager_id", "E0001"},
	} {
		b.do("typing "+f[0], chromedp.SendKeys(chromedp.CSS(f[0]), f[1]))
	}
	b.wait("the preview shows the grants", `(document.querySelector("#preview-grant") || {innerText: ""}).innerText.includes("production-admin")`)
	if got := b.eval(`document.querySelector("#preview").innerText`); !strings.Contains(got, "needs manager approval") || !strings.Contains(got, "engineering") {
		t.Fatalf("preview = %q", got)
	}
	b.shot("hire")
	b.do("submitting the hire", chromedp.Click(chromedp.CSS("#submit")))
	b.wait("the person page", `location.pathname === "/people/E2001" && !!document.querySelector("#live")`)
	b.markPage()
	b.wait("access appears live", accessIs(map[string]string{
		"google": "active", "slack": "active", "github": "active", "aws": "pending_approval",
	}))
	b.notReloaded("hire")
	b.wait("the joiner finishes", `document.querySelector("#live").dataset.polling === "no" || document.querySelector(".timeline").innerText.includes("Joiner completed")`)
	b.shot("person")
	href := b.eval(`document.querySelector('.timeline a').href`)
	if !strings.Contains(href, "/namespaces/default/workflows/employee") {
		t.Errorf("timeline links to %q, want the Temporal UI", href)
	}
	// The run's payloads are encrypted in Temporal; signed in to the console, IT
	// reads them decoded in the Temporal UI (through Tenure's codec endpoint).
	b.do("opening the run in the Temporal UI", chromedp.Navigate(href))
	b.wait("the run's input decoded in the Temporal UI", `document.body.innerText.includes("employee_id")`)

	// Approve the pending grant, with a reason.
	b.open("/approvals")
	b.wait("the pending approval", `document.querySelector(".card") !== null && document.querySelector(".card").innerText.includes("aws / production-admin")`)
	b.shot("approvals")
	b.do("approving",
		chromedp.SendKeys(chromedp.CSS(".card textarea"), "on call rota"),
		chromedp.Click(chromedp.CSS(`.card button[value="approve"]`)),
	)
	b.wait("approved", `document.body.innerText.includes("Approved.")`)
	b.open("/people/E2001?live=1")
	b.markPage()
	b.wait("aws active after approval", accessIs(map[string]string{"aws": "active"}))
	b.notReloaded("approval")

	// Lock, with a confirmation, and watch every app go disabled.
	b.do("opening the lock", chromedp.Click(chromedp.CSS(`a[href="/people/E2001/lock"]`)), chromedp.WaitVisible(chromedp.CSS("#confirm")))
	b.shot("lock")
	b.do("confirming the lock", chromedp.Click(chromedp.CSS("#confirm")))
	b.wait("back on the person page", `location.pathname === "/people/E2001" && !!document.querySelector("#live")`)
	b.markPage()
	b.wait("every app disabled", accessIs(map[string]string{
		"google": "disabled", "slack": "disabled", "github": "disabled", "aws": "disabled",
	})+` && document.querySelector("#person-status").innerText === "locked"`)
	b.notReloaded("lock")
	for app, state := range dev.appState("E2001") {
		if !strings.HasPrefix(state, "disabled") {
			t.Errorf("after the lock, %s's own state is %q", app, state)
		}
	}

	// Find the lock in the audit log through its filters.
	b.open("/audit")
	b.do("filtering the audit log",
		chromedp.SendKeys(chromedp.CSS("#employee"), "E2001"),
		chromedp.SetValue(chromedp.CSS("#action"), "employee.locked"),
		chromedp.Click(chromedp.CSS(`.filters button[type="submit"]`)),
	)
	b.wait("the lock in the audit log", `location.search.includes("action=employee.locked") && !!document.querySelector("#audit") && document.querySelector("#audit tbody").innerText.includes("E2001") && document.querySelector("#audit tbody").innerText.includes("admin@tenure.local")`)
	if rows := b.eval(`String(document.querySelectorAll("#audit tbody tr").length)`); rows != "1" {
		t.Errorf("audit rows for the lock = %s, want 1", rows)
	}
	b.shot("audit")

	// The other pages render, for the screenshots and as a smoke test.
	for _, p := range []struct{ path, name, text string }{
		{"/", "dashboard", "Runs in flight"},
		{"/people", "people", "Grace Hopper"},
		{"/apps", "apps", "github"},
		{"/policy", "policy", "senior-engineers"},
	} {
		b.open(p.path)
		b.wait(p.name, fmt.Sprintf(`document.body.innerText.includes(%q)`, p.text))
		b.shot(p.name)
	}

	// Keyboard: the first Tab reaches the skip link, which moves focus to the content.
	b.open("/people")
	b.do("tabbing", chromedp.KeyEvent("\t"))
	if got := b.eval(`document.activeElement ? document.activeElement.className : ""`); got != "skip" {
		t.Errorf("the first Tab focuses %q, want the skip link", got)
	}
	b.do("following the skip link", chromedp.KeyEvent("\r"))
	if got := b.eval(`document.activeElement ? document.activeElement.id : ""`); got != "main" {
		t.Errorf("the skip link moves focus to %q, want main", got)
	}
	// On a phone-sized screen the people page still reads without sideways scrolling.
	b.do("phone size", chromedp.EmulateViewport(390, 844))
	b.open("/people/E2001")
	if got := b.eval(`String(document.documentElement.scrollWidth <= window.innerWidth + 1)`); got != "true" {
		t.Errorf("the person page scrolls sideways on a phone")
	}
	b.shot("person-phone")
}

// TestPolicyDeployInBrowser edits the policy in the console, plans it against
// what Tenure recorded for everyone, deploys it, and watches its rollout's
// progress bar fill live until it completes; the apps show the change.
func TestPolicyDeployInBrowser(t *testing.T) {
	chromium(t)
	dev := startDev(t, t.TempDir())
	for _, id := range []string{"E3001", "E3002", "E3003"} {
		dev.event("hire-"+id, "hire", person(id, "Sales", "Account Executive"))
	}
	for _, id := range []string{"E3001", "E3002", "E3003"} {
		dev.waitApps(id, map[string]string{"google": "active all-staff", "slack": "active general", "salesforce": "active sales-users"})
	}
	// Slow Slack down, so that the rollout is seen under way.
	dev.faults("slack", map[string]any{"latency": "400ms"})
	b := newBrowser(t, dev.base)
	b.do("signing in", chromedp.Navigate(dev.base+"/policy"), chromedp.WaitVisible(chromedp.CSS(`form[action="/auth/dev"] button`)),
		chromedp.Click(chromedp.CSS(`form[action="/auth/dev"] button`)), chromedp.WaitVisible(chromedp.CSS("main h1")))
	b.wait("the policy page", `location.pathname === "/policy" && !!document.querySelector("#policy-version")`)
	b.eval(`const t = document.querySelector("#policy"); t.value = t.value.replace("entitlements: [general]", "entitlements: [general, random]"); "ok"`)
	b.do("planning", chromedp.Click(chromedp.CSS("#policy-plan")))
	b.wait("the plan", `!!document.querySelector("#policy-effect") && document.querySelector("#policy-effect").innerText.includes("3 would gain access, 0 would lose access")`)
	b.do("deploying", chromedp.Click(chromedp.CSS("#policy-deploy")))
	b.wait("the rollout page", `location.pathname.startsWith("/policy/rollouts/") && !!document.querySelector("#rollout")`)
	b.markPage()
	b.shot("rollout")
	b.wait("the rollout completes, live", `document.querySelector("#rollout").dataset.status === "completed" && document.querySelector("#rollout-progress").innerText.includes("3 of 3 people re-evaluated (100%)")`)
	b.notReloaded("rollout")
	if got := b.eval(`document.querySelector("#rollout-bar").value + "/" + document.querySelector("#rollout-bar").max`); got != "3/3" {
		t.Errorf("the progress bar reads %s, want 3/3", got)
	}
	for _, id := range []string{"E3001", "E3002", "E3003"} {
		if got := dev.appState(id)["slack"]; got != "active general,random" {
			t.Errorf("%s's slack = %q after the rollout", id, got)
		}
	}
}
