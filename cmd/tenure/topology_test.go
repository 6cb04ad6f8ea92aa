package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/tenure-io/tenure/api"
	"github.com/tenure-io/tenure/integrations"
	"github.com/tenure-io/tenure/integrations/scim"
)

// The production topology's tests run `tenure` as separate OS processes, each
// started from a binary built into the test's temporary directory, on the real
// PostgreSQL: Temporal's state and Tenure's read model both live there.

// topologyPolicy has three sandbox apps: everyone gets mail and chat, and only
// Engineering gets code, so "as the policy says" differs between people.
const topologyPolicy = `version: 1
apps:
  - {name: mail, connector: scim, sandbox: true}
  - {name: chat, connector: scim, sandbox: true}
  - {name: code, connector: scim, sandbox: true}
rules:
  - name: everyone
    match: {}
    grant:
      - {app: mail, entitlements: [all-staff]}
      - {app: chat, entitlements: [general]}
  - name: engineering
    match: {department: Engineering}
    grant:
      - {app: code, entitlements: [engineering]}
`

var topologyApps = []string{"mail", "chat", "code"}

// topologyGrants is what topologyPolicy gives a person of dept: app -> entitlements.
func topologyGrants(dept string) map[string][]string {
	g := map[string][]string{"mail": {"all-staff"}, "chat": {"general"}}
	if dept == "Engineering" {
		g["code"] = []string{"engineering"}
	}
	return g
}

func TestTemporalCommand(t *testing.T) {
	pg := newTopologyPostgres(t)
	db := pg.database(t, "temporal_topology")
	bin := buildTenure(t)
	tp := newTopology(t, bin)

	help, err := exec.Command(bin, "temporal", "--help").CombinedOutput()
	if !strings.Contains(string(help), notForProduction) {
		t.Errorf("tenure temporal --help (%v) does not say %q:\n%s", err, notForProduction, help)
	}

	port := freePorts(t, 1)[0]
	args := []string{"temporal", "--db", pg.url(db), "--port", strconv.Itoa(port), "--ui-port", "-1"}
	first := tp.start("temporal", nil, args...)
	first.waitLog("temporal is ready", 2*time.Minute)
	if log := first.log(); !strings.Contains(log, notForProduction) || strings.Contains(log, "level=ERROR") {
		t.Errorf("the start-up log does not say %q, or logs an error:\n%s", notForProduction, log)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	hostPort := fmt.Sprintf("127.0.0.1:%d", port)
	c, err := client.DialContext(ctx, client.Options{HostPort: hostPort, Namespace: "default"})
	if err != nil {
		t.Fatalf("dial tenure temporal: %v", err)
	}
	if _, err := c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: "default"}); err != nil {
		t.Fatalf("describe namespace default: %v", err)
	}
	// A workflow no worker serves stays running: it must still be there after a restart.
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "topology/kept", TaskQueue: "nobody"}, "Nothing")
	if err != nil {
		t.Fatalf("start workflow: %v", err)
	}
	c.Close()

	first.signal(syscall.SIGTERM)
	if err := first.wait(30 * time.Second); err != nil {
		t.Fatalf("tenure temporal after SIGTERM: %v", err)
	}
	if !strings.Contains(first.log(), "temporal stopped") {
		t.Errorf("no %q in the log after SIGTERM", "temporal stopped")
	}

	// The same database again: the schema set-up finds everything done.
	second := tp.start("temporal-restarted", nil, args...)
	second.waitLog("temporal is ready", 2*time.Minute)
	c, err = client.DialContext(ctx, client.Options{HostPort: hostPort, Namespace: "default"})
	if err != nil {
		t.Fatalf("dial the restarted tenure temporal: %v", err)
	}
	defer c.Close()
	d, err := c.DescribeWorkflowExecution(ctx, "topology/kept", run.GetRunID())
	if err != nil {
		t.Fatalf("the workflow is gone after the restart: %v", err)
	}
	if st := d.GetWorkflowExecutionInfo().GetStatus(); st != enums.WORKFLOW_EXECUTION_STATUS_RUNNING {
		t.Errorf("after the restart the workflow is %v, want running", st)
	}
	second.signal(syscall.SIGINT)
	if err := second.wait(30 * time.Second); err != nil {
		t.Fatalf("tenure temporal after SIGINT: %v", err)
	}
}

func TestProductionTopology(t *testing.T) {
	began := time.Now()
	pg := newTopologyPostgres(t)
	temporalDB := pg.database(t, "temporal_topology")
	tenureDB := pg.database(t, "tenure_topology")
	bin := buildTenure(t)
	t.Logf("built tenure in %v", time.Since(began).Round(time.Second))
	tp := newTopology(t, bin)

	policyFile := filepath.Join(tp.dir, "policy.yaml")
	if err := os.WriteFile(policyFile, []byte(topologyPolicy), 0o600); err != nil {
		t.Fatal(err)
	}
	ports := freePorts(t, 3)
	temporalAddr := fmt.Sprintf("127.0.0.1:%d", ports[0])
	appsAddr, frontAddr := fmt.Sprintf("127.0.0.1:%d", ports[1]), fmt.Sprintf("127.0.0.1:%d", ports[2])
	env := map[string]string{
		"DATABASE_URL":            pg.url(tenureDB),
		"TENURE_TEMPORAL_ADDRESS": temporalAddr,
		"TENURE_POLICY":           policyFile,
		"TENURE_ADMIN_TOKEN":      randomToken(),
		"TENURE_SANDBOX_TOKEN":    randomToken(),
		"TENURE_CODEC_KEY":        randomToken(), // 64 hex characters
		"TENURE_SANDBOX_URL":      "http://" + appsAddr,
	}

	temporal := tp.start("temporal", env, "temporal", "--db", pg.url(temporalDB), "--port", strconv.Itoa(ports[0]), "--ui-port", "-1")
	temporal.waitLog("temporal is ready", 2*time.Minute)
	migrate := tp.start("migrate", env, "migrate")
	if err := migrate.wait(2 * time.Minute); err != nil || !strings.Contains(migrate.log(), "database schema is up to date") {
		t.Fatalf("tenure migrate: %v", err)
	}
	// Two API processes, as behind a load balancer. The one started with --sandbox
	// also serves the sandbox apps, which stand in for the real apps; the other
	// takes the second wave and is killed during it. A killed --sandbox API would
	// take the apps' last writes with it (they are saved shortly after), which no
	// real app does.
	tp.start("api-sandbox", env, "api", "--sandbox", "--http-addr", appsAddr, "--data-dir", filepath.Join(tp.dir, "sandbox-state"))
	worker1 := tp.start("worker-1", env, "worker")
	tp.start("worker-2", env, "worker")
	front := tp.start("api", env, "api", "--http-addr", frontAddr)
	apps := newTopologyAPI(t, "http://"+appsAddr, env)
	frontAPI := newTopologyAPI(t, "http://"+frontAddr, env)
	apps.waitHealthy(2 * time.Minute)
	frontAPI.waitHealthy(2 * time.Minute)
	t.Logf("topology up in %v", time.Since(began).Round(time.Second))

	// Wave 1: 1,000 hires in batches, one worker SIGKILLed half-way.
	wave1 := topologyPeople("P", 1000)
	want := expectedAccounts(wave1)
	t0 := time.Now()
	for batch := range slices.Chunk(wave1, 250) {
		res, err := apps.postBatch(batch)
		if err != nil || res.Accepted != len(batch) {
			t.Fatalf("wave 1 batch: %v, %+v", err, res.topologyCounts)
		}
	}
	t.Logf("wave 1: %d hires accepted in %v", len(wave1), time.Since(t0).Round(time.Millisecond))
	made := apps.waitAccounts(want/3, 5*time.Minute)
	worker1.kill()
	t.Logf("wave 1: worker-1 SIGKILLed at %d of %d accounts, %v in", made, want, time.Since(t0).Round(time.Second))
	if made >= want {
		t.Fatalf("every account was made before the worker was killed: the kill proved nothing")
	}
	apps.waitProvisioned(wave1, 10*time.Minute)
	wave1Time := time.Since(t0)
	t.Logf("wave 1: %d hires, %d accounts, provisioned in %v (%.1f hires/s)", len(wave1), want, wave1Time.Round(time.Second), float64(len(wave1))/wave1Time.Seconds())

	// Wave 2: the API that takes it is SIGKILLed during a batch. Whatever it
	// answered 2xx for must end provisioned; the batches it never answered are
	// sent again after its restart, as an HR system retries.
	t1 := time.Now()
	wave2 := topologyPeople("Q", 200)
	batches := slices.Collect(slices.Chunk(wave2, 20))
	var (
		mu         sync.Mutex
		accepted   = map[string]bool{}
		unsent     [][]topologyPerson
		answered   int
		killAt     time.Time
		inFlight   int // batches sent before the kill that it left unanswered
		badAnswers []string
		next       = make(chan []topologyPerson)
		wg         sync.WaitGroup
	)
	for range 4 {
		wg.Go(func() {
			for batch := range next {
				sent := time.Now()
				res, err := frontAPI.postBatch(batch)
				mu.Lock()
				if err == nil && res.Accepted != len(batch) {
					err = fmt.Errorf("%w: %+v", errBadAnswer, res.topologyCounts)
				}
				if errors.Is(err, errBadAnswer) {
					badAnswers = append(badAnswers, err.Error())
					mu.Unlock()
					continue
				}
				if err != nil {
					unsent = append(unsent, batch)
					if !killAt.IsZero() && sent.Before(killAt) {
						inFlight++
					}
					t.Logf("wave 2: a batch got no answer: %v", err)
					mu.Unlock()
					continue
				}
				for _, r := range res.Results {
					if r.Status == "accepted" {
						accepted[r.EmployeeID] = true
					}
				}
				answered++
				kill := answered == 2
				if kill {
					killAt = time.Now()
				}
				mu.Unlock()
				if kill {
					front.kill()
				}
			}
		})
	}
	for _, b := range batches {
		next <- b
	}
	close(next)
	wg.Wait()
	if len(badAnswers) > 0 {
		t.Fatalf("wave 2: %d batches were answered with an error; first: %s", len(badAnswers), badAnswers[0])
	}
	t.Logf("wave 2: the API was SIGKILLed after %d answered batches; %d hires accepted before, %d batches unanswered (%d of them sent before the kill)",
		answered, len(accepted), len(unsent), inFlight)
	if len(accepted) == 0 || inFlight == 0 {
		t.Fatalf("the kill did not land during a batch: %d hires accepted, %d batches in flight", len(accepted), inFlight)
	}

	tp.start("api-restarted", env, "api", "--http-addr", frontAddr)
	frontAPI.waitHealthy(2 * time.Minute)
	var resent topologyCounts
	for _, batch := range unsent {
		res, err := frontAPI.postBatch(batch)
		if err != nil || res.Accepted+res.Duplicates != len(batch) {
			t.Fatalf("resending a batch after the restart: %v, %+v", err, res.topologyCounts)
		}
		resent.Accepted += res.Accepted
		resent.Duplicates += res.Duplicates
		for _, r := range res.Results {
			if accepted[r.EmployeeID] {
				t.Errorf("%s was accepted before the kill, but sent again", r.EmployeeID)
			}
		}
	}
	// A duplicate is an event the killed API had taken in but not answered for.
	t.Logf("wave 2: after the restart, the unanswered batches were sent again: %d accepted, %d duplicates", resent.Accepted, resent.Duplicates)
	var acceptedPeople []topologyPerson
	for _, p := range wave2 {
		if accepted[p.ID] {
			acceptedPeople = append(acceptedPeople, p)
		}
	}
	// First what the killed API had accepted, then everyone.
	apps.waitProvisioned(acceptedPeople, 5*time.Minute)
	everyone := append(slices.Clone(wave1), wave2...)
	apps.waitProvisioned(everyone, 5*time.Minute)
	t.Logf("wave 2: %d hires provisioned %v after the first batch", len(wave2), time.Since(t1).Round(time.Second))

	// The read model agrees with the apps: every person active, every account
	// verified, as the restarted API reports them.
	frontAPI.checkReadModel(everyone, time.Minute)
	t.Logf("topology test: %v in all", time.Since(began).Round(time.Second))
}

// topologyPerson is one hire of the test.
type topologyPerson struct {
	ID         string `json:"id"`
	Email      string `json:"email"`
	GivenName  string `json:"given_name"`
	FamilyName string `json:"family_name"`
	Department string `json:"department"`
}

// topologyPeople returns n people, half of them in Engineering.
func topologyPeople(prefix string, n int) []topologyPerson {
	out := make([]topologyPerson, n)
	for i := range out {
		id := fmt.Sprintf("%s%04d", prefix, i+1)
		dept := "Sales"
		if i%2 == 0 {
			dept = "Engineering"
		}
		out[i] = topologyPerson{ID: id, Email: strings.ToLower(id) + "@topology.example", GivenName: "Topo", FamilyName: id, Department: dept}
	}
	return out
}

// expectedAccounts is how many accounts the policy gives people, across apps.
func expectedAccounts(people []topologyPerson) int {
	n := 0
	for _, p := range people {
		n += len(topologyGrants(p.Department))
	}
	return n
}

// topologyAPI talks to one `tenure api` process over HTTP.
type topologyAPI struct {
	t            *testing.T
	base         string
	token        string
	sandboxToken string
	// batches sends each batch on a new connection, so that a batch that fails
	// other than with a refused connection was in the API when it failed, never
	// on a kept-alive connection to a process already gone.
	batches *http.Client
}

func newTopologyAPI(t *testing.T, base string, env map[string]string) *topologyAPI {
	return &topologyAPI{t: t, base: base, token: env["TENURE_ADMIN_TOKEN"], sandboxToken: env["TENURE_SANDBOX_TOKEN"],
		batches: &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{DisableKeepAlives: true}}}
}

type topologyBatchAnswer struct {
	topologyCounts
	Results []struct {
		EmployeeID string `json:"employee_id"`
		Status     string `json:"status"`
	} `json:"results"`
}

type topologyCounts struct {
	Accepted, Duplicates, Invalid, Conflicts, Errors int
}

// errBadAnswer is an answer to a batch other than 200 with its results.
var errBadAnswer = errors.New("the API answered the batch with an error")

// postBatch sends people's hires to POST /api/v1/events:batch. An error means
// no answer, or errBadAnswer.
func (a *topologyAPI) postBatch(people []topologyPerson) (topologyBatchAnswer, error) {
	if len(people) > api.MaxBatch {
		a.t.Fatalf("a batch of %d is over the API's limit of %d", len(people), api.MaxBatch)
	}
	events := make([]map[string]any, len(people))
	for i, p := range people {
		events[i] = map[string]any{"id": "hire-" + p.ID, "type": "hire", "employee": p}
	}
	body, _ := json.Marshal(map[string]any{"events": events})
	req, _ := http.NewRequest(http.MethodPost, a.base+"/api/v1/events:batch", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+a.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := a.batches.Do(req)
	if err != nil {
		return topologyBatchAnswer{}, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return topologyBatchAnswer{}, err
	}
	var out topologyBatchAnswer
	if resp.StatusCode != http.StatusOK || json.Unmarshal(data, &out) != nil {
		return out, fmt.Errorf("%w: %d %.500s", errBadAnswer, resp.StatusCode, data)
	}
	return out, nil
}

func (a *topologyAPI) waitHealthy(timeout time.Duration) {
	a.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		resp, err := http.Get(a.base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			a.t.Fatalf("%s/healthz did not answer 200 within %v (last: %v)", a.base, timeout, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// app is a SCIM client for a sandbox app, to read the app's own state.
func (a *topologyAPI) app(name string) *scim.Client {
	c, err := scim.New(integrations.AppConfig{Name: name, Connector: scim.Kind,
		BaseURL: a.base + "/sandbox/" + name + "/scim/v2", Token: a.sandboxToken})
	if err != nil {
		a.t.Fatal(err)
	}
	return c
}

// accountCount is how many accounts the sandbox apps hold in all, from each
// app's totalResults.
func (a *topologyAPI) accountCount() int {
	n := 0
	for _, app := range topologyApps {
		req, _ := http.NewRequest(http.MethodGet, a.base+"/sandbox/"+app+"/scim/v2/Users?count=1", nil)
		req.Header.Set("Authorization", "Bearer "+a.sandboxToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			a.t.Fatalf("counting %s's users: %v", app, err)
		}
		var page struct {
			TotalResults int `json:"totalResults"`
		}
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if err != nil {
			a.t.Fatalf("counting %s's users: %v", app, err)
		}
		n += page.TotalResults
	}
	return n
}

// waitAccounts waits until the apps hold at least n accounts and returns how many.
func (a *topologyAPI) waitAccounts(n int, timeout time.Duration) int {
	a.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got := a.accountCount()
		if got >= n {
			return got
		}
		if time.Now().After(deadline) {
			a.t.Fatalf("%d accounts after %v, want %d", got, timeout, n)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// waitProvisioned waits until, in every app's own state, each person has
// exactly one account where the policy gives them one, active and in exactly
// the policy's entitlements, and none elsewhere. A second account for anyone
// fails at once: it never goes away.
func (a *topologyAPI) waitProvisioned(people []topologyPerson, timeout time.Duration) {
	a.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		problems, dup := a.provisioning(people)
		if len(problems) == 0 {
			return
		}
		if dup != "" {
			a.t.Fatalf("duplicate account: %s", dup)
		}
		if time.Now().After(deadline) {
			a.t.Fatalf("after %v, %d of %d people are not provisioned as the policy says; first: %s",
				timeout, len(problems), len(people), strings.Join(problems[:min(5, len(problems))], "; "))
		}
		time.Sleep(2 * time.Second)
	}
}

// provisioning lists the people not (yet) provisioned as the policy says, and
// the first duplicate account found, if any.
func (a *topologyAPI) provisioning(people []topologyPerson) (problems []string, duplicate string) {
	held := map[string]map[string][]integrations.Account{} // app -> HR ID -> accounts
	for _, app := range topologyApps {
		byID := map[string][]integrations.Account{}
		err := a.app(app).List(context.Background(), func(acc integrations.Account) bool {
			byID[acc.ExternalID] = append(byID[acc.ExternalID], acc)
			return true
		})
		if err != nil {
			a.t.Fatalf("listing %s: %v", app, err)
		}
		held[app] = byID
	}
	for _, p := range people {
		grants := topologyGrants(p.Department)
		for _, app := range topologyApps {
			accts := held[app][p.ID]
			ents, granted := grants[app]
			switch {
			case len(accts) > 1:
				duplicate = fmt.Sprintf("%s holds %d accounts for %s", app, len(accts), p.ID)
				problems = append(problems, duplicate)
			case !granted && len(accts) > 0:
				problems = append(problems, fmt.Sprintf("%s has an account in %s, which the policy does not give", p.ID, app))
			case granted && len(accts) == 0:
				problems = append(problems, fmt.Sprintf("%s has no account in %s", p.ID, app))
			case granted && (!accts[0].Active || !slices.Equal(accts[0].Groups, ents)):
				problems = append(problems, fmt.Sprintf("%s's account in %s: active %v, groups %v; want active in %v",
					p.ID, app, accts[0].Active, accts[0].Groups, ents))
			}
		}
	}
	return problems, duplicate
}

// checkReadModel waits until the API shows every person active, with an active,
// verified account in each app the policy gives them and no other.
func (a *topologyAPI) checkReadModel(people []topologyPerson, timeout time.Duration) {
	a.t.Helper()
	deadline := time.Now().Add(timeout)
	pending := people
	for {
		var (
			mu    sync.Mutex
			still []topologyPerson
			last  string
			next  = make(chan topologyPerson)
			wg    sync.WaitGroup
		)
		for range 4 {
			wg.Go(func() {
				for p := range next {
					if problem := a.readModelProblem(p); problem != "" {
						mu.Lock()
						still, last = append(still, p), problem
						mu.Unlock()
					}
				}
			})
		}
		for _, p := range pending {
			next <- p
		}
		close(next)
		wg.Wait()
		if len(still) == 0 {
			return
		}
		if time.Now().After(deadline) {
			a.t.Fatalf("the read model shows %d people not provisioned after %v; e.g. %s", len(still), timeout, last)
		}
		pending = still
		time.Sleep(time.Second)
	}
}

func (a *topologyAPI) readModelProblem(p topologyPerson) string {
	req, _ := http.NewRequest(http.MethodGet, a.base+"/api/v1/employees/"+p.ID, nil)
	req.Header.Set("Authorization", "Bearer "+a.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	var v struct {
		Status string `json:"status"`
		Access []struct {
			App          string     `json:"app"`
			Status       string     `json:"status"`
			Entitlements []string   `json:"entitlements"`
			VerifiedAt   *time.Time `json:"verified_at"`
		} `json:"access"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&v) != nil {
		return fmt.Sprintf("GET employee %s: %d", p.ID, resp.StatusCode)
	}
	if v.Status != "active" {
		return fmt.Sprintf("%s is %q", p.ID, v.Status)
	}
	grants := topologyGrants(p.Department)
	if len(v.Access) != len(grants) {
		return fmt.Sprintf("%s has access in %d apps, want %d", p.ID, len(v.Access), len(grants))
	}
	for _, acc := range v.Access {
		ents, ok := grants[acc.App]
		if !ok || acc.Status != "active" || acc.VerifiedAt == nil || !slices.Equal(acc.Entitlements, ents) {
			return fmt.Sprintf("%s in %s: %s, entitlements %v, verified %v; want active in %v, verified",
				p.ID, acc.App, acc.Status, acc.Entitlements, acc.VerifiedAt != nil, ents)
		}
	}
	return ""
}

// topologyPostgres is the local PostgreSQL server the processes keep state in.
type topologyPostgres struct {
	base  *url.URL
	admin *pgx.Conn
}

// newTopologyPostgres connects to the test server, or skips the test when it is
// unreachable, unless TENURE_REQUIRE_POSTGRES is set.
func newTopologyPostgres(t *testing.T) *topologyPostgres {
	t.Helper()
	raw := os.Getenv("TENURE_TEST_DATABASE_URL")
	if raw == "" {
		raw = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	}
	base, err := url.Parse(raw)
	if err != nil {
		t.Fatal("TENURE_TEST_DATABASE_URL is not a URL")
	}
	q := base.Query()
	q.Set("connect_timeout", "5")
	probe := *base
	probe.RawQuery = q.Encode()
	admin, err := pgx.Connect(context.Background(), probe.String())
	if err != nil {
		if os.Getenv("TENURE_REQUIRE_POSTGRES") != "" {
			t.Fatalf("PostgreSQL is required (TENURE_REQUIRE_POSTGRES) but unreachable: %v", err)
		}
		t.Skipf("PostgreSQL unreachable, skipping (set TENURE_REQUIRE_POSTGRES=1 to fail): %v", err)
	}
	t.Cleanup(func() { admin.Close(context.Background()) })
	return &topologyPostgres{base: base, admin: admin}
}

// database returns a new database name with prefix, for a process to create
// or for tenure migrate to fill, and drops it (and Temporal's visibility
// database beside it) when the test ends, after the processes have stopped.
func (pg *topologyPostgres) database(t *testing.T, prefix string) string {
	t.Helper()
	name := prefix + "_" + strings.ToLower(randomToken()[:8])
	if strings.HasPrefix(prefix, "tenure") {
		if _, err := pg.admin.Exec(context.Background(), "CREATE DATABASE "+name); err != nil {
			t.Fatalf("create database %s: %v", name, err)
		}
	}
	t.Cleanup(func() {
		for _, db := range []string{name, name + "_visibility"} {
			if _, err := pg.admin.Exec(context.Background(), "DROP DATABASE IF EXISTS "+db+" WITH (FORCE)"); err != nil {
				t.Logf("drop database %s: %v", db, err)
			}
		}
	})
	return name
}

// url is the server's URL with db as its database.
func (pg *topologyPostgres) url(db string) string {
	u := *pg.base
	u.Path = "/" + db
	return u.String()
}

// topology runs tenure processes, each logging to a file of its own, and stops
// what is still running when the test ends, printing every log's tail if the
// test failed.
type topology struct {
	t     *testing.T
	bin   string
	dir   string
	mu    sync.Mutex
	procs []*topologyProc
}

func newTopology(t *testing.T, bin string) *topology {
	tp := &topology{t: t, bin: bin, dir: t.TempDir()}
	t.Cleanup(tp.stopAll)
	return tp
}

// topologyProc is one tenure process.
type topologyProc struct {
	t       *testing.T
	name    string
	logPath string
	cmd     *exec.Cmd
	done    chan struct{}
	err     error // the exit, once done is closed
}

// start starts `tenure args...` with the environment variables in env (the
// test's own, without DATABASE_URL and TENURE_*, underneath).
func (tp *topology) start(name string, env map[string]string, args ...string) *topologyProc {
	tp.t.Helper()
	p := &topologyProc{t: tp.t, name: name, logPath: filepath.Join(tp.dir, name+".log"), done: make(chan struct{})}
	logFile, err := os.Create(p.logPath)
	if err != nil {
		tp.t.Fatal(err)
	}
	p.cmd = exec.Command(tp.bin, args...)
	p.cmd.Stdout, p.cmd.Stderr = logFile, logFile
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TENURE_") && !strings.HasPrefix(kv, "DATABASE_URL=") {
			p.cmd.Env = append(p.cmd.Env, kv)
		}
	}
	for k, v := range env {
		p.cmd.Env = append(p.cmd.Env, k+"="+v)
	}
	if err := p.cmd.Start(); err != nil {
		logFile.Close()
		tp.t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	tp.mu.Lock()
	tp.procs = append(tp.procs, p)
	tp.mu.Unlock()
	return p
}

func (p *topologyProc) signal(sig syscall.Signal) { _ = p.cmd.Process.Signal(sig) }

// kill SIGKILLs the process and waits for it to be gone.
func (p *topologyProc) kill() {
	p.signal(syscall.SIGKILL)
	<-p.done
}

// wait waits for the process to exit and returns how it exited.
func (p *topologyProc) wait(timeout time.Duration) error {
	select {
	case <-p.done:
		return p.err
	case <-time.After(timeout):
		return fmt.Errorf("%s did not exit within %v", p.name, timeout)
	}
}

func (p *topologyProc) log() string {
	b, _ := os.ReadFile(p.logPath)
	return string(b)
}

// waitLog waits until the process's log holds s; an exit first fails the test.
func (p *topologyProc) waitLog(s string, timeout time.Duration) {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	for !strings.Contains(p.log(), s) {
		select {
		case <-p.done:
			p.t.Fatalf("%s exited (%v) before logging %q", p.name, p.err, s)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("%s did not log %q within %v", p.name, s, timeout)
		}
	}
}

// stopAll stops every process still running, the last started first (the
// workers and APIs before Temporal), with SIGTERM and then SIGKILL.
func (tp *topology) stopAll() {
	tp.mu.Lock()
	procs := slices.Clone(tp.procs)
	tp.mu.Unlock()
	for i := len(procs) - 1; i >= 0; i-- {
		p := procs[i]
		p.signal(syscall.SIGTERM)
		if p.wait(30*time.Second) != nil {
			p.kill()
		}
	}
	if !tp.t.Failed() {
		return
	}
	for _, p := range procs {
		tp.t.Logf("--- last lines of %s (%s) ---\n%s", p.name, p.logPath, tail(p.log(), 40))
	}
}

// tail is the last n lines of s.
func tail(s string, n int) string {
	var lines []string
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// randomToken is 32 random bytes in hex: a token, or a 256-bit key.
func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b)
	return hex.EncodeToString(b)
}
