package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tenure-io/tenure/internal/devserver"
	"github.com/tenure-io/tenure/internal/sandbox"
	"github.com/tenure-io/tenure/store/storetest"
)

// TestShutdownFlags: the bound and the delay come from the flags, else the
// environment, else the defaults, and a bound that leaves no room to stop is
// refused with the setting named.
func TestShutdownFlags(t *testing.T) {
	parse := func(env map[string]string, serves bool, args ...string) (shutdownConfig, error) {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		var cfg shutdownConfig
		shutdownFlags(fs, func(k string) string { return env[k] }, &cfg, serves, defaultShutdownDelay)
		if err := fs.Parse(args); err != nil {
			return cfg, err
		}
		return cfg, cfg.check()
	}
	for _, tc := range []struct {
		name    string
		env     map[string]string
		serves  bool
		args    []string
		timeout time.Duration
		delay   time.Duration
		err     string
	}{
		{name: "defaults", serves: true, timeout: 25 * time.Second, delay: 5 * time.Second},
		{name: "the worker has no delay", timeout: 25 * time.Second},
		{name: "environment", serves: true, env: map[string]string{"TENURE_SHUTDOWN_TIMEOUT": "50s", "TENURE_SHUTDOWN_DELAY": "10s"},
			timeout: 50 * time.Second, delay: 10 * time.Second},
		{name: "a flag wins", serves: true, env: map[string]string{"TENURE_SHUTDOWN_TIMEOUT": "50s"},
			args: []string{"--shutdown-timeout", "10s", "--shutdown-delay", "0"}, timeout: 10 * time.Second},
		{name: "malformed variable", env: map[string]string{"TENURE_SHUTDOWN_TIMEOUT": "soon"}, err: "TENURE_SHUTDOWN_TIMEOUT"},
		{name: "too short", args: []string{"--shutdown-timeout", "10ms"}, err: "--shutdown-timeout"},
		{name: "a delay that leaves no time for requests", serves: true, args: []string{"--shutdown-timeout", "10s", "--shutdown-delay", "9s"}, err: "--shutdown-delay"},
		{name: "negative delay", serves: true, args: []string{"--shutdown-delay", "-1s"}, err: "--shutdown-delay"},
		{name: "no delay flag on the worker", args: []string{"--shutdown-delay", "1s"}, err: "shutdown-delay"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := parse(tc.env, tc.serves, tc.args...)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want one naming %s", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.timeout != tc.timeout || cfg.delay != tc.delay {
				t.Fatalf("timeout %s delay %s, want %s and %s", cfg.timeout, cfg.delay, tc.timeout, tc.delay)
			}
		})
	}
}

// TestGracefulShutdown runs the real binary as the orchestrator does and sends
// it SIGTERM with work in flight: `tenure api` turns /readyz to 503 while its
// listener is still open, finishes the request in flight and exits 0 within
// the bound; `tenure worker` stops polling, lets the activity in flight finish
// and exits 0, and when an activity or a call in place never finishes it still
// exits within the bound; `tenure dev` stops the same way.
func TestGracefulShutdown(t *testing.T) {
	if testing.Short() {
		t.Skip("builds tenure and runs it against an embedded Temporal server")
	}
	bin := buildTenure(t)
	t.Run("api", func(t *testing.T) { testAPIShutdown(t, bin) })
	t.Run("worker", func(t *testing.T) { testWorkerShutdown(t, bin, false) })
	t.Run("worker, calls in place", func(t *testing.T) { testWorkerShutdown(t, bin, true) })
	t.Run("dev", func(t *testing.T) { testDevShutdown(t, bin) })
}

// buildTenure builds this command into a temporary directory.
func buildTenure(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "tenure")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// osProcess is the tenure binary running as a process of its own.
type osProcess struct {
	t    *testing.T
	name string
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
	// exitedAt is when the process exited; read it after done is closed.
	exitedAt time.Time
}

// startTenure starts bin with args and exactly the environment env, and kills
// it if it is still running when the test ends.
func startTenure(t *testing.T, bin string, env map[string]string, args ...string) *osProcess {
	t.Helper()
	p := &osProcess{t: t, name: "tenure " + args[0], out: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	for k, v := range env {
		p.cmd.Env = append(p.cmd.Env, k+"="+v)
	}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.cmd.Wait()
		p.exitedAt = time.Now()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
	})
	return p
}

// exited reports whether the process has exited.
func (p *osProcess) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// terminate sends SIGTERM, as the kubelet does, and returns when it was sent.
func (p *osProcess) terminate() time.Time {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		p.t.Fatal(err)
	}
	return time.Now()
}

// wait waits up to limit for the process to exit and returns its exit code
// and when it exited.
func (p *osProcess) wait(limit time.Duration) (int, time.Time) {
	p.t.Helper()
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode(), p.exitedAt
	case <-time.After(limit):
		p.t.Fatalf("%s still runs %s after SIGTERM\n%s", p.name, limit, p.out)
		return 0, time.Time{}
	}
}

// waitUntil polls ok until it holds, failing if the process exits first.
func (p *osProcess) waitUntil(what string, limit time.Duration, ok func() bool) {
	p.t.Helper()
	deadline := time.Now().Add(limit)
	for !ok() {
		if p.exited() {
			p.t.Fatalf("%s exited while waiting for %s\n%s", p.name, what, p.out)
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("%s: timed out waiting for %s\n%s", p.name, what, p.out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// probe asks base+path on a fresh connection: its status, or 0 when nothing
// accepts the connection.
func probe(base, path string) int {
	c := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	res, err := c.Get(base + path)
	if err != nil {
		return 0
	}
	res.Body.Close()
	return res.StatusCode
}

// freeAddr is a loopback address with a port that was free a moment ago.
func freeAddr(t *testing.T) string {
	return fmt.Sprintf("127.0.0.1:%d", freePorts(t, 1)[0])
}

// prodEnv is what `tenure api` and `tenure worker` share: the database and
// an embedded Temporal server of their own.
func prodEnv(t *testing.T, bin string) map[string]string {
	t.Helper()
	srv, err := devserver.Start(context.Background(), devserver.Options{DataDir: t.TempDir(), UIPort: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Stop() })
	env := map[string]string{
		"DATABASE_URL":            storetest.PostgresURL(t),
		"TENURE_TEMPORAL_ADDRESS": srv.HostPort(),
		"TENURE_NAMESPACE":        srv.Namespace(),
		"TENURE_LOG_LEVEL":        "warn",
		"TENURE_ADMIN_TOKEN":      "shutdown-test-admin-token",
	}
	// As the migration Job does, before the api and the workers start.
	m := startTenure(t, bin, env, "migrate")
	if code, _ := m.wait(time.Minute); code != 0 {
		t.Fatalf("tenure migrate exited %d\n%s", code, m.out)
	}
	return env
}

// slowRequest is a request whose body the test sends in two halves, so that
// it is in flight, the handler reading it, for as long as the test wants.
type slowRequest struct {
	w      *io.PipeWriter
	rest   string
	result chan error
	status int
	// closed says the server asked to close the connection after the answer.
	closed bool
}

// sendSlowly starts POST base+path with the first half of body.
func sendSlowly(t *testing.T, base, path, token, body string) *slowRequest {
	t.Helper()
	pr, pw := io.Pipe()
	req, err := http.NewRequest(http.MethodPost, base+path, pr)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = int64(len(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	r := &slowRequest{w: pw, rest: body[len(body)/2:], result: make(chan error, 1)}
	go func() {
		// A client that keeps connections alive, as a load balancer does.
		tr := &http.Transport{}
		defer tr.CloseIdleConnections()
		res, err := (&http.Client{Transport: tr}).Do(req)
		if err == nil {
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			r.status, r.closed = res.StatusCode, res.Close
		}
		r.result <- err
	}()
	if _, err := io.WriteString(pw, body[:len(body)/2]); err != nil {
		t.Fatal(err)
	}
	return r
}

// finish sends the rest of the body and returns the answer's status.
func (r *slowRequest) finish(t *testing.T) int {
	t.Helper()
	if _, err := io.WriteString(r.w, r.rest); err != nil {
		t.Fatalf("the request in flight was cut off: %v", err)
	}
	r.w.Close()
	select {
	case err := <-r.result:
		if err != nil {
			t.Fatalf("the request in flight failed: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no answer to the request in flight")
	}
	return r.status
}

func hireJSON(id string) string {
	return `{"type":"hire","employee":{"id":"` + id + `","email":"` + strings.ToLower(id) +
		`@example.com","given_name":"Grace","family_name":"Hopper","department":"Engineering"}}`
}

// checkHTTPShutdown sends SIGTERM to p, which serves base with a shutdown
// delay of delay and a bound of bound, while a hire is in flight. /readyz
// must answer 503 while the listener is still open, the listener must close
// after the delay, the hire must still be answered 202 after that, and the
// process must exit 0 within the bound.
func checkHTTPShutdown(t *testing.T, p *osProcess, base, token string, delay, bound time.Duration) {
	t.Helper()
	if code := probe(base, "/readyz"); code != http.StatusOK {
		t.Fatalf("/readyz before SIGTERM: %d", code)
	}
	inFlight := sendSlowly(t, base, "/api/v1/events", token, hireJSON("S1"))
	time.Sleep(200 * time.Millisecond) // the server is reading the body
	sent := p.terminate()

	// Not ready at once, while the listener still answers: load balancers stop
	// sending requests before connections are refused.
	var notReadyAt time.Time
	p.waitUntil("/readyz to answer 503", 2*time.Second, func() bool {
		if probe(base, "/readyz") == http.StatusServiceUnavailable {
			notReadyAt = time.Now()
			return true
		}
		return false
	})
	if code := probe(base, "/livez"); code != http.StatusOK {
		t.Errorf("/livez while draining: %d, want 200", code)
	}
	// The listener closes after the delay; the request in flight goes on.
	var closedAt time.Time
	deadline := time.Now().Add(bound)
	for probe(base, "/readyz") != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the listener still accepts %s after SIGTERM\n%s", bound, p.out)
		}
		time.Sleep(20 * time.Millisecond)
	}
	closedAt = time.Now()
	if !notReadyAt.Before(closedAt) {
		t.Fatal("/readyz did not turn 503 before the listener closed")
	}
	if closedAt.Sub(sent) < delay {
		t.Errorf("the listener closed %s after SIGTERM, before the %s delay", closedAt.Sub(sent), delay)
	}
	if p.exited() {
		t.Fatalf("%s exited with a request in flight\n%s", p.name, p.out)
	}
	if code := inFlight.finish(t); code != http.StatusAccepted {
		t.Fatalf("the hire in flight at SIGTERM: %d, want 202", code)
	}
	if !inFlight.closed {
		t.Error("an answer while draining kept its connection alive; want Connection: close")
	}
	code, exitedAt := p.wait(bound + 5*time.Second)
	if code != 0 {
		t.Fatalf("%s exited %d, want 0\n%s", p.name, code, p.out)
	}
	if took := exitedAt.Sub(sent); took > bound {
		t.Fatalf("%s took %s to stop, over its bound of %s", p.name, took, bound)
	}
}

func testAPIShutdown(t *testing.T, bin string) {
	env := prodEnv(t, bin)
	addr := freeAddr(t)
	env["TENURE_HTTP_ADDR"] = addr
	const delay, bound = 2 * time.Second, 10 * time.Second
	p := startTenure(t, bin, env, "api", "--shutdown-delay", delay.String(), "--shutdown-timeout", bound.String())
	base := "http://" + addr
	p.waitUntil("/livez", time.Minute, func() bool { return probe(base, "/livez") == http.StatusOK })
	checkHTTPShutdown(t, p, base, env["TENURE_ADMIN_TOKEN"], delay, bound)

	// A request that outlasts the budget is cut off: the process says so and
	// exits 1, still within the bound.
	const short = 3 * time.Second
	p = startTenure(t, bin, env, "api", "--shutdown-delay", "0", "--shutdown-timeout", short.String())
	p.waitUntil("/livez", time.Minute, func() bool { return probe(base, "/livez") == http.StatusOK })
	stuck := sendSlowly(t, base, "/api/v1/events", env["TENURE_ADMIN_TOKEN"], hireJSON("S2"))
	defer stuck.w.Close()
	time.Sleep(200 * time.Millisecond)
	sent := p.terminate()
	code, exitedAt := p.wait(short + 5*time.Second)
	if took := exitedAt.Sub(sent); code != 1 || took > short || !strings.Contains(p.out.String(), "cut off") {
		t.Fatalf("with a request stuck past the budget: exit %d after %s, want 1 within %s and a word on it\n%s", code, took, short, p.out)
	}

	// A second signal ends the process at once.
	p = startTenure(t, bin, env, "api", "--shutdown-delay", "0", "--shutdown-timeout", "20s")
	p.waitUntil("/livez", time.Minute, func() bool { return probe(base, "/livez") == http.StatusOK })
	stuck = sendSlowly(t, base, "/api/v1/events", env["TENURE_ADMIN_TOKEN"], hireJSON("S3"))
	defer stuck.w.Close()
	time.Sleep(200 * time.Millisecond)
	sent = p.terminate()
	time.Sleep(300 * time.Millisecond)
	p.terminate()
	code, exitedAt = p.wait(10 * time.Second)
	if took := exitedAt.Sub(sent); code == 0 || took > 2*time.Second {
		t.Fatalf("after a second SIGTERM: exit %d after %s, want the process ended at once", code, took)
	}
}

func testDevShutdown(t *testing.T, bin string) {
	ports := freePorts(t, 3)
	const delay, bound = time.Second, 15 * time.Second
	addr := fmt.Sprintf("127.0.0.1:%d", ports[0])
	dir := t.TempDir()
	p := startTenure(t, bin, map[string]string{"HOME": dir}, "dev", "--data-dir", dir, "--http-addr", addr,
		"--temporal-port", fmt.Sprint(ports[1]), "--ui-port", fmt.Sprint(ports[2]), "--log-level", "warn",
		"--shutdown-delay", delay.String(), "--shutdown-timeout", bound.String())
	base := "http://" + addr
	p.waitUntil("/healthz", time.Minute, func() bool { return probe(base, "/healthz") == http.StatusOK })
	checkHTTPShutdown(t, p, base, readToken(t, filepath.Join(dir, "admin.token")), delay, bound)
}

// holdingApp is a sandbox SCIM app that holds every account creation until
// the test lets it go, or until the caller gives up.
type holdingApp struct {
	*httptest.Server
	token   string
	arrived chan string // the path of each held request
	mu      sync.Mutex
	release chan struct{}
}

func newHoldingApp(t *testing.T, name string) *holdingApp {
	t.Helper()
	a := &holdingApp{token: "shutdown-test-sandbox-token", arrived: make(chan string, 16), release: make(chan struct{})}
	sb, err := sandbox.New(sandbox.Options{Apps: []string{name}, Token: a.token})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/Users") {
			// Read the body first: only then does the server notice the caller
			// hang up, and cancel r.Context().
			body, err := io.ReadAll(r.Body)
			if err != nil {
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			a.mu.Lock()
			release := a.release
			a.mu.Unlock()
			a.arrived <- r.URL.Path
			select {
			case <-release:
			case <-r.Context().Done():
				return
			}
		}
		sb.Handler().ServeHTTP(w, r)
	}))
	t.Cleanup(a.Close)
	return a
}

// letGo lets the held requests through, and those after them.
func (a *holdingApp) letGo() {
	a.mu.Lock()
	defer a.mu.Unlock()
	close(a.release)
}

// hold makes the app hold account creations again.
func (a *holdingApp) hold() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.release = make(chan struct{})
}

// testWorkerShutdown stops a worker with a joiner's call to slowapp in flight.
// Without inPlace, max_concurrent makes slowapp's calls activities on its own
// queue, never tried in place, so the stuck call is an activity the worker
// gives its budget. With inPlace, the call is first tried in place, which
// gives up by itself after a few seconds; the worker must still exit within
// its bound, and the step is done by the next worker.
func testWorkerShutdown(t *testing.T, bin string, inPlace bool) {
	env := prodEnv(t, bin)
	app := newHoldingApp(t, "slowapp")
	policyFile := filepath.Join(t.TempDir(), "policy.yaml")
	limit := "    max_concurrent: 4\n"
	if inPlace {
		limit = ""
	}
	pol := "version: 1\napps:\n  - name: slowapp\n    connector: scim\n    sandbox: true\n" + limit +
		"rules:\n  - name: everyone\n    match: {}\n    grant:\n      - app: slowapp\n"
	if err := os.WriteFile(policyFile, []byte(pol), 0o600); err != nil {
		t.Fatal(err)
	}
	workerEnv := map[string]string{"TENURE_POLICY": policyFile, "TENURE_SANDBOX_URL": app.URL, "TENURE_SANDBOX_TOKEN": app.token}
	for k, v := range env {
		workerEnv[k] = v
	}
	// The API takes the hires; it does not stop in this test.
	addr := freeAddr(t)
	env["TENURE_HTTP_ADDR"] = addr
	base := "http://" + addr
	api := startTenure(t, bin, env, "api", "--shutdown-delay", "0")
	api.waitUntil("/livez", time.Minute, func() bool { return probe(base, "/livez") == http.StatusOK })
	hire := func(id string) {
		t.Helper()
		r := sendSlowly(t, base, "/api/v1/events", env["TENURE_ADMIN_TOKEN"], hireJSON(id))
		if code := r.finish(t); code != http.StatusAccepted {
			t.Fatalf("hire %s: %d\n%s", id, code, api.out)
		}
	}
	const bound = 8 * time.Second
	startWorker := func() *osProcess {
		t.Helper()
		w := startTenure(t, bin, workerEnv, "worker", "--shutdown-timeout", bound.String())
		w.waitUntil("the worker to poll", time.Minute, func() bool { return strings.Contains(w.out.String(), "Tenure worker polling") })
		return w
	}
	waitArrival := func(w *osProcess) {
		t.Helper()
		select {
		case <-app.arrived:
		case <-time.After(time.Minute):
			t.Fatalf("no account creation reached the app\n%s", w.out)
		}
	}

	// An activity in flight at SIGTERM finishes, and the worker exits 0 once it has.
	w := startWorker()
	hire("W1")
	waitArrival(w)
	sent := w.terminate()
	time.Sleep(time.Second)
	if w.exited() {
		t.Fatalf("the worker exited with an activity in flight\n%s", w.out)
	}
	app.letGo()
	code, exitedAt := w.wait(bound + 5*time.Second)
	if code != 0 {
		t.Fatalf("worker exited %d, want 0\n%s", code, w.out)
	}
	if took := exitedAt.Sub(sent); took > bound {
		t.Fatalf("the worker took %s to stop, over its bound of %s", took, bound)
	}
	// The activity finished and recorded the account it made, read back from the app.
	var v employeeView
	getJSON(t, base+"/api/v1/employees/W1", env["TENURE_ADMIN_TOKEN"], &v)
	if len(v.Access) != 1 || v.Access[0].App != "slowapp" || v.Access[0].VerifiedAt == nil {
		t.Fatalf("W1's access after the worker stopped: %+v, want slowapp verified", v.Access)
	}

	// An activity that never finishes: the worker gives it the budget, then
	// cancels it (Temporal retries it elsewhere) and still exits 0 in time.
	app.hold()
	w = startWorker()
	hire("W2")
	waitArrival(w)
	sent = w.terminate()
	code, exitedAt = w.wait(bound + 5*time.Second)
	if code != 0 {
		t.Fatalf("worker exited %d, want 0\n%s", code, w.out)
	}
	took := exitedAt.Sub(sent)
	if inPlace {
		if took > bound {
			t.Fatalf("the worker with a stuck call in place stopped after %s, over its bound of %s", took, bound)
		}
		// Nothing is lost: the next worker makes the step once the app answers.
		app.letGo()
		w = startWorker()
		w.waitUntil("W2's account", time.Minute, func() bool {
			var v employeeView
			getJSON(t, base+"/api/v1/employees/W2", env["TENURE_ADMIN_TOKEN"], &v)
			return len(v.Access) == 1 && v.Access[0].VerifiedAt != nil
		})
		return
	}
	if budget := (shutdownConfig{timeout: bound}).budget(); took < budget-time.Second || took > bound {
		t.Fatalf("the worker with a stuck activity stopped after %s, want about its %s budget and under %s", took, budget, bound)
	}
}

// getJSON GETs url with a bearer token into out.
func getJSON(t *testing.T, url, token string, out any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(res.Body)
		t.Fatalf("GET %s: %d %s", url, res.StatusCode, b)
	}
	if err := json.NewDecoder(res.Body).Decode(out); err != nil {
		t.Fatal(err)
	}
}
