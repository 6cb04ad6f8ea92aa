package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/internal/sandbox"
)

// `tenure bench --reconcile N` measures one reconciliation of N people across
// --apps apps. It seeds the people straight into a fresh read model, and an
// account for nearly each of them into sandbox apps that the bench serves
// itself, with a known mix of what reconciliation must find. Then it starts
// `tenure dev` as a process of its own, on that read model, with a policy whose
// apps are the bench's (SCIM apps at the bench's address): what is measured,
// the time and Tenure's memory, is Tenure's alone, not the apps' (which hold
// every account in memory). It runs one report of every app through the API,
// and fails when what was found is not exactly what was seeded.

const (
	// benchReconcileMax bounds --reconcile: the sandbox keeps every app in memory.
	benchReconcileMax = 200_000
	// benchReconcileApps is --apps under --reconcile.
	benchReconcileApps = 5
	// benchReconcileTimeout bounds the run the bench waits for.
	benchReconcileTimeout = 15 * time.Minute
	// benchStartTimeout bounds tenure dev's start, migration included.
	benchStartTimeout = 2 * time.Minute
	// The targets of docs/performance.md, on the project's 2 cores.
	targetReconcileTime   = 60 * time.Second
	targetReconcileMemory = 500 << 20
	// benchServiceAccounts are the svc-* accounts seeded in each app, which the
	// bench policy's ignore pattern makes unmanaged.
	benchServiceAccounts = 10
	// benchSandboxTokenEnv holds the token of the bench's apps, for tenure dev.
	benchSandboxTokenEnv = "TENURE_BENCH_SANDBOX_TOKEN"
	// sampleEvery is how often tenure dev's resident set is read.
	sampleEvery = 20 * time.Millisecond
)

// benchReconcilePolicy gives everyone every app, with entitlement staff, each
// app a SCIM app at base and ignoring svc-* accounts.
func benchReconcilePolicy(n int, base string) []byte {
	var b bytes.Buffer
	b.WriteString("# Written by `tenure bench --reconcile`: every person gets every app.\nversion: 1\napps:\n")
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "  - name: %s\n    connector: scim\n    base_url: %s/sandbox/%s/scim/v2\n    token_env: %s\n    ignore: [\"svc-*\"]\n",
			benchAppName(i), base, benchAppName(i), benchSandboxTokenEnv)
	}
	b.WriteString("rules:\n  - name: everyone\n    match: {}\n    grant:\n")
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "      - app: %s\n        entitlements: [staff]\n", benchAppName(i))
	}
	return b.Bytes()
}

// reconcileSeed is what the bench seeded, and so what the run must find.
type reconcileSeed struct {
	people, terminated int
	want               map[string]tenure.ReconcileCounts // by app
	took               time.Duration
}

// seedReconcile writes the people into the read model at dsn and the apps'
// accounts into sb. Person i is terminated when i%200 is 199 (and keeps an
// active account everywhere: an orphan); otherwise, in app k, with
// r = (i+37k)%100, r 0 has no account and r 1 a disabled one (missing both), r
// 2 an active one without its entitlement (drift), r 3 one that still holds
// staff-old, which Tenure granted before a rename and has not revoked (drift),
// r 4 one that also holds lunch, which nobody granted (left alone), and the
// rest are as the policy wants. The read model records, as Tenure's grants,
// the account and staff in each app where the person has an account, and
// staff-old where r is 3. Each app also holds n/200 active accounts of nobody
// HR knows (orphans) and benchServiceAccounts svc-* accounts (unmanaged).
func seedReconcile(ctx context.Context, dsn string, sb *sandbox.Sandbox, n int) (reconcileSeed, error) {
	start := time.Now()
	seed := reconcileSeed{people: n, want: map[string]tenure.ReconcileCounts{}}
	people := make([]tenure.Employee, n)
	for i := range people {
		st := tenure.PersonActive
		if i%200 == 199 {
			st = tenure.PersonTerminated
			seed.terminated++
		}
		id := fmt.Sprintf("R%06d", i)
		people[i] = tenure.Employee{Status: st, Person: tenure.Person{ID: id, Email: id + "@bench.example",
			GivenName: "Bench", FamilyName: strconv.Itoa(i), Department: "Engineering", Title: "Engineer", EmploymentType: "employee"}}
	}
	db, err := openStore(ctx, dsn, nil)
	if err != nil {
		return seed, err
	}
	defer db.Close()
	if err := db.SeedEmployees(ctx, people); err != nil {
		return seed, fmt.Errorf("seeding the read model: %w", err)
	}
	for k, app := range sb.Apps() {
		var c tenure.ReconcileCounts
		users := make([]sandbox.User, 0, n+n/200+benchServiceAccounts)
		grants := make([]tenure.GrantRecord, 0, 2*n+n/100)
		for i, p := range people {
			u := sandbox.User{UserName: strings.ToLower(p.Email), ExternalID: p.ID, GivenName: p.GivenName, FamilyName: p.FamilyName,
				Email: p.Email, Active: true, Groups: []string{"staff"}}
			granted := []string{"", "staff"}
			switch r := (i + 37*k) % 100; {
			case p.Status == tenure.PersonTerminated:
				c.Orphan++
			case r == 0:
				c.Missing++
				continue
			case r == 1:
				u.Active = false
				c.Missing++
			case r == 2:
				u.Groups = nil
				c.Drift++
			case r == 3:
				u.Groups = append(u.Groups, "staff-old")
				granted = append(granted, "staff-old")
				c.Drift++
			case r == 4:
				u.Groups = append(u.Groups, "lunch")
			}
			c.Matched++
			users = append(users, u)
			for _, e := range granted {
				grants = append(grants, tenure.GrantRecord{EmployeeID: p.ID, App: app, Entitlement: e, Status: tenure.AccessActive})
			}
		}
		if err := db.SeedGrants(ctx, grants); err != nil {
			return seed, fmt.Errorf("seeding %s's grants into the read model: %w", app, err)
		}
		for i := range n / 200 {
			name := fmt.Sprintf("ghost-%06d@elsewhere.example", i)
			users = append(users, sandbox.User{UserName: name, Email: name, Active: true})
			c.Orphan++
		}
		for i := range benchServiceAccounts {
			users = append(users, sandbox.User{UserName: fmt.Sprintf("svc-%s-%02d", app, i), Active: true})
			c.Unmanaged++
		}
		c.Accounts = len(users)
		if _, err := sb.Seed(app, users); err != nil {
			return seed, fmt.Errorf("seeding %s: %w", app, err)
		}
		seed.want[app] = c
	}
	seed.took = time.Since(start)
	return seed, nil
}

// lockedBuffer collects a process's output, read while it is written.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// devChild is `tenure dev` running as a process of its own.
type devChild struct {
	cmd  *exec.Cmd
	log  *os.File
	done chan error
	base string // its API's URL
}

var apiLine = regexp.MustCompile(`API and console: (http://\S+)`)

// startDevChild starts `tenure dev` on dir with the policy at policyPath, and
// waits until its API answers /healthz.
func startDevChild(ctx context.Context, dir, policyPath, sandboxToken string) (*devChild, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	log, err := os.Create(filepath.Join(dir, "tenure-dev.log"))
	if err != nil {
		return nil, err
	}
	var out lockedBuffer
	cmd := exec.Command(exe, "dev", "--data-dir", dir, "--http-addr", "127.0.0.1:0", "--temporal-port", "0", "--ui-port", "-1",
		"--policy", policyPath, "--log-level", "warn")
	cmd.Env = append(os.Environ(), benchSandboxTokenEnv+"="+sandboxToken)
	cmd.Stdout, cmd.Stderr = io.MultiWriter(&out, log), log
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, fmt.Errorf("starting tenure dev: %w", err)
	}
	c := &devChild{cmd: cmd, log: log, done: make(chan error, 1)}
	go func() { c.done <- cmd.Wait() }()
	deadline := time.Now().Add(benchStartTimeout)
	for {
		if m := apiLine.FindStringSubmatch(out.String()); m != nil && c.base == "" {
			c.base = m[1]
		}
		if c.base != "" {
			if res, err := http.Get(c.base + "/healthz"); err == nil {
				res.Body.Close()
				if res.StatusCode == http.StatusOK {
					return c, nil
				}
			}
		}
		select {
		case err := <-c.done:
			log.Close()
			return nil, fmt.Errorf("tenure dev exited (%v); its log is %s", err, log.Name())
		case <-ctx.Done():
			c.stop()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			c.stop()
			return nil, fmt.Errorf("tenure dev did not answer /healthz within %s; its log is %s", benchStartTimeout, log.Name())
		}
	}
}

// stop stops tenure dev as Ctrl+C does, and waits for it.
func (c *devChild) stop() {
	c.cmd.Process.Signal(os.Interrupt)
	select {
	case <-c.done:
	case <-time.After(time.Minute):
		c.cmd.Process.Kill()
		<-c.done
	}
	c.log.Close()
}

// procStatus reads one kB figure (VmRSS, VmHWM) of process pid, in bytes, or 0.
func procStatus(pid int, field string) uint64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			kb, err := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err == nil {
				return kb << 10
			}
		}
	}
	return 0
}

// rssSampler keeps the peak resident set of a process, read every sampleEvery.
type rssSampler struct {
	stop chan struct{}
	done chan struct{}
	mu   sync.Mutex
	peak uint64
}

func sampleRSS(pid int) *rssSampler {
	s := &rssSampler{stop: make(chan struct{}), done: make(chan struct{}), peak: procStatus(pid, "VmRSS")}
	go func() {
		defer close(s.done)
		t := time.NewTicker(sampleEvery)
		defer t.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-t.C:
				v := procStatus(pid, "VmRSS")
				s.mu.Lock()
				s.peak = max(s.peak, v)
				s.mu.Unlock()
			}
		}
	}()
	return s
}

func (s *rssSampler) finish() uint64 {
	close(s.stop)
	<-s.done
	return s.peak
}

// reconcileRun is what the bench measured.
type reconcileRun struct {
	took time.Duration
	run  tenure.Reconciliation
	// before and peak are tenure dev's resident set before the run and at
	// its height during it.
	before, peak uint64
	// kernelPeak says whether the kernel's own high-water mark (VmHWM),
	// reset before the run, is part of peak, rather than the samples alone.
	kernelPeak bool
}

// benchReconcile is `tenure bench --reconcile N`.
func benchReconcile(ctx context.Context, cfg benchConfig, stdout, stderr io.Writer) error {
	say := func(format string, args ...any) { fmt.Fprintf(stderr, "bench: "+format+"\n", args...) }
	load := loadAverage()
	dir := cfg.dataDir
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "tenure.db")); err == nil {
		return fmt.Errorf("--data-dir %s holds a read model already; --reconcile seeds a new one: give an empty directory: %w", dir, errUsage)
	}
	token, err := secretFile(filepath.Join(dir, "bench-sandbox.token"))
	if err != nil {
		return err
	}
	apps := make([]string, cfg.apps)
	for i := range apps {
		apps[i] = benchAppName(i + 1)
	}
	// The apps are the bench's: their accounts live in this process.
	sb, err := sandbox.New(sandbox.Options{Apps: apps, Token: token})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: sb.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()

	say("seeding %d people into the read model and their accounts into %d apps", cfg.reconcile, len(apps))
	seed, err := seedReconcile(ctx, "sqlite:"+filepath.Join(dir, "tenure.db"), sb, cfg.reconcile)
	if err != nil {
		return err
	}
	policyPath := filepath.Join(dir, "bench-policy.yaml")
	if err := os.WriteFile(policyPath, benchReconcilePolicy(cfg.apps, "http://"+ln.Addr().String()), 0o600); err != nil {
		return fmt.Errorf("writing the bench policy: %w", err)
	}
	say("seeded in %s; starting tenure dev as a process of its own", secs(seed.took))
	child, err := startDevChild(ctx, dir, policyPath, token)
	if err != nil {
		return err
	}
	defer child.stop()
	admin, err := os.ReadFile(filepath.Join(dir, "admin.token"))
	if err != nil {
		return err
	}
	// Let its start-up work (migrations, the first health checks) settle.
	if err := sleep(ctx, 3*time.Second); err != nil {
		return err
	}
	say("reconciling every app (report)")
	res, err := runReconcile(ctx, child, strings.TrimSpace(string(admin)))
	if err != nil {
		return err
	}
	reconcileReport(stdout, cfg, load, seed, res)
	return checkReconcile(seed, res.run)
}

// runReconcile starts one report of every app through child's API, waits for
// it, and measures it.
func runReconcile(ctx context.Context, child *devChild, admin string) (reconcileRun, error) {
	var res reconcileRun
	pid := child.cmd.Process.Pid
	res.before = procStatus(pid, "VmRSS")
	// clear_refs 5 starts the kernel's high-water mark afresh.
	res.kernelPeak = os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0) == nil
	sampler := sampleRSS(pid)
	defer func() {
		if sampler != nil {
			sampler.finish()
		}
	}()
	hc := &http.Client{Timeout: benchStepTimeout}
	call := func(method, path string, body []byte, out any) error {
		var r io.Reader
		if body != nil {
			r = bytes.NewReader(body)
		}
		req, err := http.NewRequestWithContext(ctx, method, child.base+path, r)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+admin)
		req.Header.Set("Content-Type", "application/json")
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if err != nil {
			return err
		}
		if resp.StatusCode >= 300 {
			return fmt.Errorf("%s %s: HTTP %d: %s", method, path, resp.StatusCode, data)
		}
		return json.Unmarshal(data, out)
	}
	start := time.Now()
	var started tenure.Reconciliation
	if err := call(http.MethodPost, "/api/v1/reconciliations", []byte(`{"mode":"report"}`), &started); err != nil {
		return res, err
	}
	deadline := time.Now().Add(benchReconcileTimeout)
	for {
		if err := call(http.MethodGet, "/api/v1/reconciliations/"+started.ID+"?limit=1", nil, &res.run); err != nil {
			return res, err
		}
		if res.run.Status.Closed() {
			break
		}
		if time.Now().After(deadline) {
			return res, fmt.Errorf("reconciliation %s did not finish within %s", started.ID, benchReconcileTimeout)
		}
		if err := sleep(ctx, 50*time.Millisecond); err != nil {
			return res, err
		}
	}
	res.took = time.Since(start)
	res.peak = sampler.finish()
	sampler = nil
	if res.kernelPeak {
		res.peak = max(res.peak, procStatus(pid, "VmHWM"))
	}
	return res, nil
}

// checkReconcile fails the bench when the run did not find exactly what was seeded.
func checkReconcile(seed reconcileSeed, run tenure.Reconciliation) error {
	if run.Status != tenure.ReconcileCompleted {
		return fmt.Errorf("the reconciliation ended %s: %s", run.Status, run.Error)
	}
	var errs []error
	for _, a := range run.ByApp {
		if want := seed.want[a.App]; a.Counts != want {
			errs = append(errs, fmt.Errorf("%s: found %+v, seeded %+v", a.App, a.Counts, want))
		}
	}
	if len(run.ByApp) != len(seed.want) {
		errs = append(errs, fmt.Errorf("the run read %d apps, the bench seeded %d", len(run.ByApp), len(seed.want)))
	}
	return errors.Join(errs...)
}

func mb(b uint64) string { return strconv.FormatFloat(float64(b)/(1<<20), 'f', 0, 64) + " MB" }

// reconcileReport prints the run as the other benches print theirs: the
// set-up, the machine and its load, what was found against what was seeded,
// then time and memory against the targets.
func reconcileReport(w io.Writer, cfg benchConfig, load string, seed reconcileSeed, res reconcileRun) {
	fmt.Fprintf(w, "Tenure bench --reconcile, %s\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(w, "Policy:  %d SCIM apps (app01..app%02d) served by the bench itself, every one granted to everyone with entitlement staff, svc-* ignored;\n", cfg.apps, cfg.apps)
	fmt.Fprintf(w, "         the read model records Tenure's grants of each account and its staff, and of staff-old (since renamed) to 1 in 100\n")
	fmt.Fprintf(w, "People:  %d in the read model (%d terminated), seeded straight into it and into the apps (%s); tenure dev as a process of its own; one report of every app through POST /api/v1/reconciliations\n",
		seed.people, seed.terminated, secs(seed.took))
	fmt.Fprintf(w, "Machine: %s\n", machine())
	fmt.Fprintf(w, "Load:    %s at the start, %s at the end (1, 5 and 15 minute load averages)\n\n", load, loadAverage())

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "app\taccounts\tmatched\tmissing\tdrift\torphan\tunmanaged\tas seeded\t")
	for _, a := range res.run.ByApp {
		c := a.Counts
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t\n", a.App, c.Accounts, c.Matched, c.Missing, c.Drift, c.Orphan, c.Unmanaged, verdict(c == seed.want[a.App]))
	}
	c := res.run.Counts
	fmt.Fprintf(tw, "all\t%d\t%d\t%d\t%d\t%d\t%d\t\t\n", c.Accounts, c.Matched, c.Missing, c.Drift, c.Orphan, c.Unmanaged)
	tw.Flush()
	if res.run.ClosedAt != nil {
		fmt.Fprintf(w, "(the run's own times: started %s, closed %s later)\n", res.run.StartedAt.Format("15:04:05"), secs(res.run.ClosedAt.Sub(res.run.StartedAt)))
	}
	fmt.Fprintf(w, "\ntime:   %s from the POST to the run closed, every app read (target < %s) %s\n",
		secs(res.took), secs(targetReconcileTime), verdict(res.took < targetReconcileTime))
	how := fmt.Sprintf("sampled every %s", sampleEvery)
	if res.kernelPeak {
		how += ", and the kernel's high-water mark"
	}
	fmt.Fprintf(w, "memory: tenure dev's resident set peaked at %s during the run (%s; it was %s before) (target < %s) %s\n",
		mb(res.peak), how, mb(res.before), mb(targetReconcileMemory), verdict(res.peak < targetReconcileMemory))
	fmt.Fprintf(w, "        that is the whole of Tenure in one process: the embedded Temporal server, the API, the worker and the store\n")
}
