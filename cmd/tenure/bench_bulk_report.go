package main

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tenure-io/tenure/api"
	"github.com/tenure-io/tenure/importer"
)

// bulkReport prints a bulk run as report prints the one-at-a-time bench: the
// set-up, the machine and its load, then each phase against its target.
func (b *benchRun) bulkReport(w io.Writer, ceil ceilingResult, res bulkRun, check bulkCheck) {
	apps := b.s.sandbox.Apps()
	fmt.Fprintf(w, "Tenure bench --bulk, %s\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(w, "Policy:  %d sandbox apps (app01..app%02d), every one granted to everyone\n", len(apps), len(apps))
	fmt.Fprintf(w, "People:  %d hired through POST /api/v1/events:batch (batches of up to %d, one at a time, each handed to Temporal %d at a time); %d locked one at a time during the bulk; bulk priority %s; latency added per SCIM request: %s\n",
		res.n, api.MaxBatch, importer.DefaultWorkers, len(res.locks), b.cfg.bulkPriority, b.cfg.latency)
	b.printMachine(w)
	bulkLabels.report(w, ceil, res, check)
}

// printMachine prints the machine and its load at the start and now.
func (b *benchRun) printMachine(w io.Writer) {
	fmt.Fprintf(w, "Machine: %s\n", machine())
	fmt.Fprintf(w, "Load:    %s at the start, %s at the end (1, 5 and 15 minute load averages)\n\n", b.load, loadAverage())
}

// loadLabels name the work a bench under load measured, in its report.
type loadLabels struct {
	noun       string // "bulk", "rollout"
	ceilingRow string // the ceiling's row of the rates
	row        string // the work's row of the rates
	perPerson  string // what one person's share of the work is called
}

var bulkLabels = loadLabels{
	noun:       "bulk",
	ceilingRow: "engine ceiling (no-op workflow per person)",
	row:        "bulk hires (active and entitled in every app)",
	perPerson:  "bulk hire",
}

// report prints the rates against the ceiling, the locks timed under the load
// and the check of the apps' own state.
func (l loadLabels) report(w io.Writer, ceil ceilingResult, res bulkRun, check bulkCheck) {
	l.rates(w, ceil, res)
	l.locks(w, res)
	printCheck(w, check)
}

// rates prints the ceiling's and the work's rates, their ratio and the CPU
// each person cost, against the targets.
func (l loadLabels) rates(w io.Writer, ceil ceilingResult, res bulkRun) {
	ceilRate, workRate := rate(ceil.n, ceil.total), rate(res.n, res.total)
	share := workRate / max(ceilRate, 1e-9)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "phase\tn\tsubmitted\tall done\tpeople/s\ttarget\t")
	fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%.1f\t-\t\n", l.ceilingRow, ceil.n, secs(ceil.submitted), secs(ceil.total), ceilRate)
	fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%.1f\t>= %.0f/s %s\t\n", l.row, res.n, secs(res.submitted), secs(res.total), workRate, targetBulkRate, verdict(workRate >= targetBulkRate))
	tw.Flush()
	fmt.Fprintf(w, "\n%s / engine ceiling = %.2fx (target >= %.2fx) %s\n", l.noun, share, targetBulkShare, verdict(share >= targetBulkShare))
	fmt.Fprintf(w, "(submitted: until the last start returned, or the last batch was answered; all done: until the last no-op workflow closed, or the apps showed every hire active with their entitlements)\n")
	if ceil.cpu > 0 && res.cpu > 0 {
		// The rates move with the machine's speed from one phase to the next
		// (a shared host); the CPU each person cost does not.
		perCeil, perWork := ceil.cpu/time.Duration(ceil.n), res.cpu/time.Duration(res.n)
		fmt.Fprintf(w, "CPU per person (the whole stack, one process): engine ceiling %s, %s %s; by CPU the %s is %.2fx the ceiling\n",
			ms(perCeil), l.perPerson, ms(perWork), l.noun, float64(perCeil)/float64(perWork))
	}
	fmt.Fprintln(w)
}

// locks prints the locks timed under the load: those seen done while it ran
// are held to the targets, those done after it are printed for reference.
func (l loadLabels) locks(w io.Writer, res bulkRun) {
	var loaded, after []time.Duration
	var loadedTr []trace
	for i, d := range res.locks {
		if res.loaded[i] {
			loaded, loadedTr = append(loaded, d), append(loadedTr, res.traces[i])
		} else {
			after = append(after, d)
		}
	}
	lk, la := summarize(loaded), summarize(after)
	// A lock that failed counts against the targets: the p99 is not met.
	ok := lk.n > 0 && len(res.lockErrs) == 0
	show := func(s stats, d time.Duration) string {
		if s.n == 0 {
			return "-"
		}
		return ms(d)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "phase\tn\tp50\tp90\tp99\tmax\ttarget\t")
	fmt.Fprintf(tw, "lock while the %s ran\t%d\t%s\t%s\t%s\t%s\tp99 < %s %s; idle: p50 < %s %s, p99 < %s %s\t\n",
		l.noun, lk.n, show(lk, lk.p50), show(lk, lk.p90), show(lk, lk.p99), show(lk, lk.max),
		ms(targetLoadedLockP99), verdict(ok && lk.p99 < targetLoadedLockP99),
		ms(targetP50), verdict(ok && lk.p50 < targetP50), ms(targetP99), verdict(ok && lk.p99 < targetP99))
	fmt.Fprintf(tw, "lock after the %s was done\t%d\t%s\t%s\t%s\t%s\t-\t\n", l.noun, la.n, show(la, la.p50), show(la, la.p90), show(la, la.p99), show(la, la.max))
	tw.Flush()
	fmt.Fprintf(w, "%d of the %d locks were seen done in every app before the %s was; they go one at a time, so a slow one pushes the next later\n", lk.n, len(res.locks), l.noun)
	for _, err := range res.lockErrs {
		fmt.Fprintf(w, "a lock failed: %v\n", err)
	}
	if lk.n > 0 {
		offsets := func(of func(func(trace) time.Duration) time.Duration) string {
			var parts []string
			for _, m := range lockMilestones {
				parts = append(parts, m.name+" "+ms(of(m.f)))
			}
			return strings.Join(parts, ", ")
		}
		fmt.Fprintf(w, "lock while the %s ran, median offsets from the request (Temporal's histories): %s\n", l.noun,
			offsets(func(f func(trace) time.Duration) time.Duration { return medianOf(loadedTr, f) }))
		// The p99 is the slowest lock's: where its time went says what held it.
		slowest := slices.Index(loaded, slices.Max(loaded))
		fmt.Fprintf(w, "the slowest (%s): %s\n", ms(loaded[slowest]),
			offsets(func(f func(trace) time.Duration) time.Duration { return f(loadedTr[slowest]) }))
	}
}

// lockMilestones are the points of a lock's histories the report gives offsets
// for, in order.
var lockMilestones = []milestone{
	{"signal in the person's history", func(t trace) time.Duration { return t.signaled }},
	{"child started", func(t trace) time.Duration { return t.childStarted }},
	{"first app call scheduled", func(t trace) time.Duration { return t.firstAppCall }},
	{"last app call completed", func(t trace) time.Duration { return t.lastAppCall }},
}

// printCheck prints what the apps' own state and the read model showed.
func printCheck(w io.Writer, check bulkCheck) {
	fmt.Fprintf(w, "\nNothing lost, nothing duplicated (each app's users, listed page by page through its connector):\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "app\thires done\tmissing or not done\tduplicated\tnot hired\tearlier runs\t")
	for _, a := range check.apps {
		fmt.Fprintf(tw, "%s\t%d of %d\t%d\t%d\t%d\t%d\t\n", a.app, a.done, check.hires, len(a.missing), len(a.dups), len(a.strangers), a.earlier)
	}
	tw.Flush()
	fmt.Fprintf(w, "read model: %d of %d hires active\n", check.readModel, check.hires)
	if check.err != nil {
		fmt.Fprintf(w, "FAIL: %v\n", check.err)
	} else {
		fmt.Fprintf(w, "PASS: every hire has exactly one account per app, active with their entitlements; no account for anyone not hired\n")
	}
}

// secs is a duration in seconds to one decimal place.
func secs(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + " s"
}
