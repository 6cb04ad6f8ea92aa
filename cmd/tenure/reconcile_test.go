package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/integrations"
	"github.com/tenure-io/tenure/policy"
)

// reconciliationView is GET /api/v1/reconciliations/{id} as the test reads it.
type reconciliationView struct {
	ID         string                 `json:"id"`
	Status     string                 `json:"status"`
	Counts     tenure.ReconcileCounts `json:"counts"`
	Remediated int                    `json:"remediated"`
	Error      string                 `json:"error"`
	Findings   []struct {
		ID          string `json:"id"`
		App         string `json:"app"`
		AccountID   string `json:"account_id"`
		UserName    string `json:"user_name"`
		ExternalID  string `json:"external_id"`
		EmployeeID  string `json:"employee_id"`
		Kind        string `json:"kind"`
		Detail      string `json:"detail"`
		Remediation string `json:"remediation"`
		Status      string `json:"status"`
		Error       string `json:"error"`
	} `json:"findings"`
}

// reconcile starts a reconciliation of every app and waits for it to close.
func (p *devProcess) reconcile(mode string) reconciliationView {
	p.t.Helper()
	var started reconciliationView
	if code := p.call("POST", "/api/v1/reconciliations", map[string]any{"mode": mode}, &started); code != http.StatusAccepted {
		p.t.Fatalf("POST reconciliation %s: %d %+v", mode, code, started)
	}
	return p.waitReconciliation(started.ID)
}

func (p *devProcess) waitReconciliation(id string) reconciliationView {
	p.t.Helper()
	var v reconciliationView
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if code := p.call("GET", "/api/v1/reconciliations/"+id+"?limit=500", nil, &v); code != http.StatusOK {
			p.t.Fatalf("GET reconciliation %s: %d", id, code)
		}
		if v.Status != "running" && v.Status != "held" {
			return v
		}
		time.Sleep(100 * time.Millisecond)
	}
	p.t.Fatalf("reconciliation %s did not close within 60s: %+v", id, v)
	return v
}

// active reports whether the sandbox app shows the account active.
func (p *devProcess) active(app, id string) bool {
	p.t.Helper()
	a, err := p.app(app).Get(context.Background(), id)
	if err != nil {
		p.t.Fatalf("reading %s account %s: %v", app, id, err)
	}
	return a.Active
}

// TestReconciliation is the Done-when, on `tenure dev` and its sandbox
// apps: an active account left for a terminated person, and one for nobody HR
// knows, are both found by a report, which changes nothing; one finding is
// remediated with one click; enforce disables the terminated person's other
// account and leaves the unknown one (the dev policy's apps report orphans).
func TestReconciliation(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the embedded Temporal server")
	}
	out := historiesOut(t)
	p := startDev(t, t.TempDir())
	ctx := context.Background()

	// E1 joins and leaves; E2 joins, and every one of E2's accounts is as the
	// policy wants it, so nothing is found about E2.
	p.event("hire-r1", "hire", person("E1", "Engineering", "Engineer"))
	p.event("hire-r2", "hire", person("E2", "Sales", "Account Executive"))
	p.waitApps("E2", map[string]string{"google": "active all-staff", "slack": "active general", "salesforce": "active sales-users"})
	p.waitApps("E1", map[string]string{"google": "active all-staff", "slack": "active general", "github": "active engineering"})
	p.event("term-r1", "terminate", person("E1", "Engineering", "Engineer"))
	p.waitApps("E1", map[string]string{"google": "disabled all-staff", "slack": "disabled general", "github": "disabled engineering"})

	// An admin switches two of the leaver's accounts back on, by hand, in the
	// apps; and someone makes an account in github that HR knows nothing of.
	left := map[string]string{}
	for _, app := range []string{"slack", "google"} {
		accts := p.accounts(app, "E1")
		if len(accts) != 1 {
			t.Fatalf("%s holds %d accounts for E1", app, len(accts))
		}
		left[app] = accts[0].ID
		if err := p.app(app).SetActive(ctx, accts[0].ID, true); err != nil {
			t.Fatal(err)
		}
	}
	stranger, err := p.app("github").Create(ctx, integrations.User{UserName: "stranger@example.com", GivenName: "Stranger",
		FamilyName: "Danger", Email: "stranger@example.com", Active: true})
	if err != nil {
		t.Fatal(err)
	}

	// Report: both found, nothing changed.
	report := p.reconcile("report")
	if report.Status != "completed" {
		t.Fatalf("report: %+v", report)
	}
	wantCounts := tenure.ReconcileCounts{Accounts: 7, Matched: 6, Orphan: 3}
	if report.Counts != wantCounts {
		t.Errorf("report counts %+v, want %+v", report.Counts, wantCounts)
	}
	found := map[string]string{}
	var googleFinding string
	for _, f := range report.Findings {
		found[f.App+" "+f.AccountID] = f.Kind + "/" + f.Remediation + "/" + f.EmployeeID + "/" + f.Status
		if f.App == "google" {
			googleFinding = f.ID
		}
	}
	want := map[string]string{
		"slack " + left["slack"]:   "orphan/disable/E1/open",
		"google " + left["google"]: "orphan/disable/E1/open",
		"github " + stranger.ID:    "orphan/report//open",
	}
	if !maps.Equal(found, want) {
		t.Errorf("report findings %v, want %v", found, want)
	}
	for app, id := range left {
		if !p.active(app, id) {
			t.Errorf("the report changed %s", app)
		}
	}

	// One click, as the console's button: the google account only.
	var accepted struct {
		WorkflowID string `json:"workflow_id"`
	}
	if code := p.call("POST", "/api/v1/reconciliations/"+report.ID+"/findings/"+googleFinding+"/remediate", nil, &accepted); code != http.StatusAccepted {
		t.Fatalf("remediate one finding: %d", code)
	}
	deadline := time.Now().Add(30 * time.Second)
	for p.active("google", left["google"]) {
		if time.Now().After(deadline) {
			t.Fatal("the one-click remediation did not disable the google account within 30s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !p.active("slack", left["slack"]) {
		t.Error("remediating one finding changed another")
	}

	// Enforce: the terminated person's slack account is disabled, read back;
	// the unknown account is only reported.
	enforce := p.reconcile("enforce")
	if enforce.Status != "completed" || enforce.Remediated != 1 || enforce.Counts.Orphan != 2 {
		t.Errorf("enforce: %+v", enforce)
	}
	if p.active("slack", left["slack"]) {
		t.Error("enforce left the terminated person's slack account active")
	}
	if !p.active("github", stranger.ID) {
		t.Error("enforce disabled the unknown account, which the dev policy only reports")
	}
	for _, f := range enforce.Findings {
		if f.App == "slack" && f.Status != "remediated" {
			t.Errorf("the slack finding after enforce: %+v", f)
		}
	}
	slack := p.employee("E1")
	for _, a := range slack.Access {
		if a.App == "slack" && (a.Status != "disabled" || a.VerifiedAt == nil) {
			t.Errorf("E1's slack access in the read model: %+v", a)
		}
	}
	var audit struct {
		Records []tenure.AuditRecord `json:"records"`
	}
	p.call("GET", "/api/v1/audit?employee_id=E1&action=reconcile.remediated", nil, &audit)
	if len(audit.Records) != 2 {
		t.Errorf("%d reconcile.remediated audit records for E1, want the click's and enforce's", len(audit.Records))
	}

	// The latest findings are on /metrics.
	req, _ := http.NewRequest("GET", p.base+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+p.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `tenure_reconcile_findings{app="github",kind="orphan"} 1`) {
		t.Errorf("/metrics lacks github's orphan")
	}

	if out != "" {
		c, err := client.Dial(client.Options{HostPort: p.temporal})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		writeRunHistory(t, c, report.ID, "", filepath.Join(out, "reconcile.json"))
		writeRunHistory(t, c, enforce.ID, "", filepath.Join(out, "reconcile-enforce.json"))
		writeRunHistory(t, c, accepted.WorkflowID, "", filepath.Join(out, "reconcile-remediate.json"))
	}
}

// TestReconcileCarriesOnAfterRateLimits: slack lets three requests a second
// through and answers its listing two accounts a page. Each attempt of the
// scan lists three pages and meets a 429; Temporal retries it after the
// app's Retry-After, and it carries on at the page it was refused. A scan that
// started over would meet the same 429 on the same page every time and fail
// after its 5 attempts; this one reads every account, once.
func TestReconcileCarriesOnAfterRateLimits(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the embedded Temporal server")
	}
	p := startDev(t, t.TempDir())
	ctx := context.Background()
	const n = 14 // seven pages
	for i := range n {
		name := fmt.Sprintf("stranger%02d@example.com", i)
		if _, err := p.app("slack").Create(ctx, integrations.User{UserName: name, Email: name, GivenName: "Stranger", FamilyName: strconv.Itoa(i), Active: true}); err != nil {
			t.Fatal(err)
		}
	}
	p.dialect("slack", map[string]any{"pageSize": 2})
	p.faults("slack", map[string]any{"ratePerSecond": 3})

	var started reconciliationView
	if code := p.call("POST", "/api/v1/reconciliations", map[string]any{"mode": "report", "app": "slack"}, &started); code != http.StatusAccepted {
		t.Fatalf("POST reconciliation: %d", code)
	}
	run := p.waitReconciliation(started.ID)
	if want := (tenure.ReconcileCounts{Accounts: n, Orphan: n}); run.Status != "completed" || run.Counts != want {
		var raw map[string]any
		p.call("GET", "/api/v1/reconciliations/"+started.ID, nil, &raw)
		t.Fatalf("the reconciliation: %s %+v (%s), want completed with %+v\n%v", run.Status, run.Counts, run.Error, want, raw["by_app"])
	}
	seen := map[string]bool{}
	for _, f := range run.Findings {
		if seen[f.AccountID] || f.Kind != "orphan" {
			t.Errorf("finding %+v: a second one for the account, or not an orphan", f)
		}
		seen[f.AccountID] = true
	}
	if len(seen) != n {
		t.Errorf("%d accounts found, want %d", len(seen), n)
	}

	// The scan took more than one attempt: the 429s were met, and ridden out.
	c, err := client.Dial(client.Options{HostPort: p.temporal})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	iter := c.GetWorkflowHistory(ctx, started.ID, "", false, 0)
	scans := map[int64]bool{}
	attempt := int32(0)
	for iter.HasNext() {
		ev, err := iter.Next()
		if err != nil {
			t.Fatal(err)
		}
		if a := ev.GetActivityTaskScheduledEventAttributes(); a != nil && a.GetActivityType().GetName() == "reconcile.Scan" {
			scans[ev.GetEventId()] = true
		}
		if a := ev.GetActivityTaskStartedEventAttributes(); a != nil && scans[a.GetScheduledEventId()] {
			attempt = a.GetAttempt()
		}
	}
	if attempt < 2 || attempt > 5 {
		t.Errorf("the scan finished on attempt %d, want a retry or more after the 429s", attempt)
	}
}

// TestReconcileSchedules: the worker keeps a Temporal Schedule per reconcile
// setting of the policy, and deletes those the policy no longer asks for.
func TestReconcileSchedules(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the embedded Temporal server")
	}
	dir := t.TempDir()
	policyPath := filepath.Join(dir, "policy.yaml")
	withReconcile := strings.Replace(string(policy.Dev), "apps:\n  - name: google\n    connector: scim\n    sandbox: true\n",
		"reconcile: {every: 24h}\napps:\n  - name: google\n    connector: scim\n    sandbox: true\n    reconcile: {every: 1h, mode: enforce}\n", 1)
	if withReconcile == string(policy.Dev) {
		t.Fatal("the dev policy's apps are not where the test expects them")
	}
	ids := func(p *devProcess) []string {
		c, err := client.Dial(client.Options{HostPort: p.temporal})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		iter, err := c.ScheduleClient().List(context.Background(), client.ScheduleListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for iter.HasNext() {
			e, err := iter.Next()
			if err != nil {
				t.Fatal(err)
			}
			if strings.HasPrefix(e.ID, "reconcile-") {
				out = append(out, e.ID)
			}
		}
		slices.Sort(out)
		return out
	}
	// Visibility lists schedules a moment after they change.
	waitIDs := func(p *devProcess, want func([]string) bool) []string {
		var got []string
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
			if got = ids(p); want(got) {
				break
			}
		}
		return got
	}

	if err := os.WriteFile(policyPath, []byte(withReconcile), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startDevWithPolicy(t, dir, policyPath)
	got := waitIDs(p, func(ids []string) bool { return len(ids) == 2 })
	if len(got) != 2 || !strings.HasPrefix(got[0], "reconcile-apps-") || !strings.HasPrefix(got[1], "reconcile-google-") {
		t.Fatalf("schedules %v, want one for the apps without a setting and one for google", got)
	}
	// A scheduled run is a reconciliation like any other: trigger google's now.
	c, err := client.Dial(client.Options{HostPort: p.temporal})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.ScheduleClient().GetHandle(context.Background(), got[1]).Trigger(context.Background(), client.ScheduleTriggerOptions{}); err != nil {
		t.Fatal(err)
	}
	c.Close()
	var list struct {
		Reconciliations []tenure.Reconciliation `json:"reconciliations"`
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		p.call("GET", "/api/v1/reconciliations", nil, &list)
		if len(list.Reconciliations) == 1 && list.Reconciliations[0].Status.Closed() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the scheduled run did not close within 30s: %+v", list)
		}
	}
	if r := list.Reconciliations[0]; r.Status != tenure.ReconcileCompleted || r.Trigger != "schedule" || r.Mode != tenure.ReconcileEnforce ||
		!slices.Equal(r.Apps, []string{"google"}) || !strings.HasPrefix(r.ID, got[1]) {
		t.Errorf("the scheduled run: %+v", r)
	}
	p.stop()

	// Without reconcile settings, the next start removes them.
	if err := os.WriteFile(policyPath, policy.Dev, 0o600); err != nil {
		t.Fatal(err)
	}
	p = startDevWithPolicy(t, dir, policyPath)
	if got := waitIDs(p, func(ids []string) bool { return len(ids) == 0 }); len(got) != 0 {
		t.Errorf("schedules %v left after the policy dropped its reconcile settings", got)
	}
}

// startDevWithPolicy is startDev with --policy.
func startDevWithPolicy(t *testing.T, dir, policyPath string) *devProcess {
	t.Helper()
	ports := freePorts(t, 3)
	p := &devProcess{t: t, dir: dir, base: fmt.Sprintf("http://127.0.0.1:%d", ports[0]),
		temporal: fmt.Sprintf("127.0.0.1:%d", ports[1]), out: &syncBuffer{}}
	p.args = []string{"dev", "--data-dir", dir, "--http-addr", fmt.Sprintf("127.0.0.1:%d", ports[0]),
		"--temporal-port", strconv.Itoa(ports[1]), "--ui-port", strconv.Itoa(ports[2]), "--log-level", "warn", "--policy", policyPath}
	p.start()
	t.Cleanup(p.stop)
	return p
}
