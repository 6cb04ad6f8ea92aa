package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/internal/sandbox"
)

// `tenure bench --reconcile N` seeds N people into the read model and an
// account for nearly each of them into every sandbox app, straight into both
// (not through workflows, which is not what is measured), with a known mix of
// what reconciliation must find; then it runs one report over every app
// through the API and measures how long it takes and how much memory it needs.
// It fails when what was found is not exactly what was seeded.

const (
	// benchReconcileMax bounds --reconcile: the sandbox keeps every app in memory.
	benchReconcileMax = 200_000
	// benchReconcileApps is --apps under --reconcile.
	benchReconcileApps = 5
	// benchReconcileTimeout bounds the run the bench waits for.
	benchReconcileTimeout = 15 * time.Minute
	// The targets of docs/performance.md, on the project's 2 cores.
	targetReconcileTime   = 60 * time.Second
	targetReconcileMemory = 500 << 20
	// benchServiceAccounts are the svc-* accounts seeded in each app, which the
	// bench policy's ignore pattern makes unmanaged.
	benchServiceAccounts = 10
)

// benchReconcilePolicy is benchPolicy with each app ignoring svc-* accounts.
func benchReconcilePolicy(n int) []byte {
	return bytes.ReplaceAll(benchPolicy(n), []byte("    sandbox: true\n"), []byte("    sandbox: true\n    ignore: [\"svc-*\"]\n"))
}

// reconcileSeed is what the bench seeded, and so what the run must find.
type reconcileSeed struct {
	people, terminated int
	want               map[string]tenure.ReconcileCounts // by app
	took               time.Duration
}

// seedReconcile writes the people and the apps' accounts. Person i is
// terminated when i%200 is 199 (and keeps an active account everywhere: an
// orphan); otherwise, in app k, with r = (i+37k)%100, r 0 has no account and r 1
// a disabled one (missing both), r 2 an active one without its entitlement
// (drift), and the rest are as the policy wants. Each app also holds n/200
// active accounts of nobody HR knows (orphans) and benchServiceAccounts svc-*
// accounts (unmanaged).
func (b *benchRun) seedReconcile(ctx context.Context, n int) (reconcileSeed, error) {
	start := time.Now()
	seed := reconcileSeed{people: n, want: map[string]tenure.ReconcileCounts{}}
	id := func(i int) string { return fmt.Sprintf("%s-R%06d", b.prefix, i) }
	people := make([]tenure.Employee, n)
	for i := range people {
		st := tenure.PersonActive
		if i%200 == 199 {
			st = tenure.PersonTerminated
			seed.terminated++
		}
		people[i] = tenure.Employee{Status: st, Person: tenure.Person{ID: id(i), Email: id(i) + "@bench.example",
			GivenName: "Bench", FamilyName: strconv.Itoa(i), Department: "Engineering", Title: "Engineer", EmploymentType: "employee"}}
	}
	if err := b.s.store.SeedEmployees(ctx, people); err != nil {
		return seed, fmt.Errorf("seeding the read model: %w", err)
	}
	for k, app := range b.s.sandbox.Apps() {
		var c tenure.ReconcileCounts
		users := make([]sandbox.User, 0, n+n/200+benchServiceAccounts)
		for i, p := range people {
			u := sandbox.User{UserName: strings.ToLower(p.Email), ExternalID: p.ID, GivenName: p.GivenName, FamilyName: p.FamilyName,
				Email: p.Email, Active: true, Groups: []string{"staff"}}
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
			}
			c.Matched++
			users = append(users, u)
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
		if _, err := b.s.sandbox.Seed(app, users); err != nil {
			return seed, fmt.Errorf("seeding %s: %w", app, err)
		}
		seed.want[app] = c
	}
	// The sandbox writes its apps to disk a moment after a change: have that
	// done now, not while the run is measured. Reads after Close still work.
	if err := b.s.sandbox.Close(); err != nil {
		return seed, err
	}
	seed.took = time.Since(start)
	return seed, nil
}

// heapSample is the Go heap at one moment: every object not yet swept,
// garbage included (what the heap occupies), and the live heap as the last
// garbage collection marked it (what is still referenced).
type heapSample struct{ objects, live uint64 }

func readHeap() heapSample {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	return heapSample{objects: s[0].Value.Uint64(), live: s[1].Value.Uint64()}
}

// memorySampler keeps the peaks of the Go heap, read every sampleEvery until
// stopped.
type memorySampler struct {
	stop chan struct{}
	done chan struct{}
	mu   sync.Mutex
	peak heapSample
}

const sampleEvery = 20 * time.Millisecond

func startSampler() *memorySampler {
	m := &memorySampler{stop: make(chan struct{}), done: make(chan struct{}), peak: readHeap()}
	go func() {
		defer close(m.done)
		t := time.NewTicker(sampleEvery)
		defer t.Stop()
		for {
			select {
			case <-m.stop:
				return
			case <-t.C:
				v := readHeap()
				m.mu.Lock()
				m.peak.objects, m.peak.live = max(m.peak.objects, v.objects), max(m.peak.live, v.live)
				m.mu.Unlock()
			}
		}
	}()
	return m
}

func (m *memorySampler) finish() heapSample {
	close(m.stop)
	<-m.done
	return m.peak
}

// resetPeakRSS starts the kernel's count of the process's peak resident set
// afresh (Linux: clear_refs 5), and reports whether it could.
func resetPeakRSS() bool {
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
}

// peakRSS is the process's peak resident set (VmHWM), in bytes, or 0.
func peakRSS() uint64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err == nil {
				return kb << 10
			}
		}
	}
	return 0
}

// reconcileRun is what the bench measured.
type reconcileRun struct {
	took               time.Duration
	run                tenure.Reconciliation
	baseline, peakHeap heapSample
	rss                uint64
	rssSinceStart      bool // the peak RSS could not be reset: it is the process's since it started
}

// reconcileBench is `tenure bench --reconcile N`.
func (b *benchRun) reconcileBench(ctx context.Context, stdout io.Writer, say func(string, ...any)) error {
	n := b.cfg.reconcile
	say("seeding %d people into the read model and their accounts into %d sandbox apps", n, len(b.s.sandbox.Apps()))
	seed, err := b.seedReconcile(ctx, n)
	if err != nil {
		return err
	}
	say("seeded in %s; reconciling every app (report)", secs(seed.took))
	runtime.GC()
	var res reconcileRun
	res.baseline = readHeap()
	res.rssSinceStart = !resetPeakRSS()
	sampler := startSampler()
	start := time.Now()
	body, _ := json.Marshal(map[string]string{"mode": string(tenure.ReconcileReport)})
	out, err := b.do(ctx, http.MethodPost, "/api/v1/reconciliations", body, nil)
	if err != nil || out.status != http.StatusAccepted {
		sampler.finish()
		return fmt.Errorf("POST /api/v1/reconciliations: %d %s %v", out.status, out.body, err)
	}
	var started tenure.Reconciliation
	if err := json.Unmarshal(out.body, &started); err != nil {
		sampler.finish()
		return err
	}
	deadline := time.Now().Add(benchReconcileTimeout)
	for {
		out, err := b.do(ctx, http.MethodGet, "/api/v1/reconciliations/"+started.ID+"?limit=1", nil, nil)
		if err == nil && out.status == http.StatusOK {
			err = json.Unmarshal(out.body, &res.run)
		}
		if err != nil {
			sampler.finish()
			return err
		}
		if res.run.Status.Closed() {
			break
		}
		if time.Now().After(deadline) {
			sampler.finish()
			return fmt.Errorf("reconciliation %s did not finish within %s: %s", started.ID, benchReconcileTimeout, out.body)
		}
		if err := sleep(ctx, 50*time.Millisecond); err != nil {
			sampler.finish()
			return err
		}
	}
	res.took = time.Since(start)
	res.peakHeap = sampler.finish()
	res.rss = peakRSS()
	b.reconcileReport(stdout, seed, res)
	return checkReconcile(seed, res.run)
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
func (b *benchRun) reconcileReport(w io.Writer, seed reconcileSeed, res reconcileRun) {
	apps := b.s.sandbox.Apps()
	fmt.Fprintf(w, "Tenure bench --reconcile, %s\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(w, "Policy:  %d sandbox apps (app01..app%02d), every one granted to everyone with entitlement staff, svc-* ignored\n", len(apps), len(apps))
	fmt.Fprintf(w, "People:  %d in the read model (%d terminated), their accounts seeded straight into the sandbox apps (%s); one report of every app through POST /api/v1/reconciliations\n",
		seed.people, seed.terminated, secs(seed.took))
	fmt.Fprintf(w, "Machine: %s\n", machine())
	fmt.Fprintf(w, "Load:    %s at the start, %s at the end (1, 5 and 15 minute load averages)\n\n", b.load, loadAverage())

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "app\taccounts\tmatched\tmissing\tdrift\torphan\tunmanaged\tas seeded\t")
	for _, a := range res.run.ByApp {
		c := a.Counts
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t\n", a.App, c.Accounts, c.Matched, c.Missing, c.Drift, c.Orphan, c.Unmanaged, verdict(c == seed.want[a.App]))
	}
	c := res.run.Counts
	fmt.Fprintf(tw, "all\t%d\t%d\t%d\t%d\t%d\t%d\t\t\n", c.Accounts, c.Matched, c.Missing, c.Drift, c.Orphan, c.Unmanaged)
	tw.Flush()
	if res.run.StartedAt.IsZero() || res.run.ClosedAt == nil {
		fmt.Fprintln(w)
	} else {
		fmt.Fprintf(w, "(the run's own times: started %s, closed %s later)\n\n", res.run.StartedAt.Format("15:04:05"), secs(res.run.ClosedAt.Sub(res.run.StartedAt)))
	}
	fmt.Fprintf(w, "time:   %s from the POST to the run closed, every app read (target < %s) %s\n",
		secs(res.took), secs(targetReconcileTime), verdict(res.took < targetReconcileTime))
	added := res.peakHeap.objects - min(res.baseline.objects, res.peakHeap.objects)
	live := res.peakHeap.live - min(res.baseline.live, res.peakHeap.live)
	fmt.Fprintf(w, "memory: the Go heap peaked %s above the %s it held before the run, garbage not yet collected included (target < %s) %s\n",
		mb(added), mb(res.baseline.objects), mb(targetReconcileMemory), verdict(added < targetReconcileMemory))
	fmt.Fprintf(w, "        of which still referenced at a garbage collection: at most %s above the %s before (both sampled every %s)\n",
		mb(live), mb(res.baseline.live), sampleEvery)
	since := "during the run"
	if res.rssSinceStart {
		since = "since the process started (it could not be reset)"
	}
	fmt.Fprintf(w, "        the process's peak resident set %s: %s; it holds the sandbox apps' %d accounts, the embedded Temporal server and the store too\n",
		since, mb(res.rss), c.Accounts)
}
