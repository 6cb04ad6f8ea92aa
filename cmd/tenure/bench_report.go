package main

import (
	"bufio"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
)

// The performance targets in docs/architecture.md, on the embedded default. The
// ratio is meant with latency added to the apps (--latency 100ms), where the
// direct baseline is what a SaaS call costs.
const (
	targetP50   = 60 * time.Millisecond
	targetP99   = 150 * time.Millisecond
	targetRatio = 1.15
	// Bulk onboarding (`tenure bench --bulk`): people per second over the whole
	// bulk, its share of the no-op workflow's rate at the same concurrency, and
	// the lock's p99 while the bulk runs.
	targetBulkRate      = 30.0
	targetBulkShare     = 0.5
	targetLoadedLockP99 = 500 * time.Millisecond
)

// stats are the figures of one phase.
type stats struct {
	n                  int
	p50, p90, p99, max time.Duration
}

func summarize(ds []time.Duration) stats {
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s) == 0 {
		return stats{}
	}
	return stats{n: len(s), p50: percentile(s, 50), p90: percentile(s, 90), p99: percentile(s, 99), max: s[len(s)-1]}
}

// percentile is the nearest-rank percentile of sorted: the smallest value that
// at least p percent of the samples do not exceed.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func ms(d time.Duration) string {
	if d < 0 {
		return "-"
	}
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 1, 64) + " ms"
}

func verdict(ok bool) string {
	if ok {
		return "PASS"
	}
	return "MISS"
}

func (b *benchRun) report(w io.Writer, lock, leave, base, floor []time.Duration, lockTr, leaveTr []trace) {
	apps := b.s.sandbox.Apps()
	policyName := fmt.Sprintf("%d sandbox apps (app01..app%02d), every one granted to everyone", len(apps), len(apps))
	switch {
	case b.cfg.devPol:
		policyName = fmt.Sprintf("built-in dev policy: %d apps, each person has accounts in %s", len(apps), strings.Join(b.appsOf(b.newPeople("X", 1)[0]), ", "))
	case b.cfg.policyFile != "":
		var kinds []string
		for _, app := range b.appsOf(b.newPeople("X", 1)[0]) {
			cfg, _ := b.s.policy.App(app)
			kinds = append(kinds, app+" ("+cfg.Connector+")")
		}
		policyName = fmt.Sprintf("%s: each person has accounts in %s", b.cfg.policyFile, strings.Join(kinds, ", "))
	}
	fmt.Fprintf(w, "Tenure bench, %s\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(w, "Policy:  %s\n", policyName)
	fmt.Fprintf(w, "People:  %d locked and %d terminated, one at a time, %s apart; latency added per SCIM request: %s\n", len(lock), len(leave), b.cfg.gap, b.cfg.latency)
	fmt.Fprintf(w, "Machine: %s\n", machine())
	fmt.Fprintf(w, "Load:    %s at the start, %s at the end (1, 5 and 15 minute load averages)\n\n", b.load, loadAverage())

	lk, lv, bs, fl := summarize(lock), summarize(leave), summarize(base), summarize(floor)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "phase\tn\tp50\tp90\tp99\tmax\ttarget\t")
	for _, r := range []struct {
		name   string
		s      stats
		target string
	}{
		{"lock", lk, fmt.Sprintf("p50 < %s %s, p99 < %s %s", ms(targetP50), verdict(lk.p50 < targetP50), ms(targetP99), verdict(lk.p99 < targetP99))},
		{"leaver phase 1", lv, fmt.Sprintf("p50 < %s %s, p99 < %s %s", ms(targetP50), verdict(lv.p50 < targetP50), ms(targetP99), verdict(lv.p99 < targetP99))},
		{"direct baseline", bs, "-"},
		{"engine floor", fl, "-"},
	} {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t\n", r.name, r.s.n, ms(r.s.p50), ms(r.s.p90), ms(r.s.p99), ms(r.s.max), r.target)
	}
	tw.Flush()
	fmt.Fprintln(w)
	for _, r := range []struct {
		name string
		s    stats
	}{{"lock", lk}, {"leaver", lv}} {
		ratio := float64(r.s.p50) / float64(max(bs.p50, 1))
		fmt.Fprintf(w, "%s p50 / baseline p50 = %.2fx (target <= %.2fx) %s; / engine floor p50 = %.2fx\n",
			r.name, ratio, targetRatio, verdict(ratio <= targetRatio), float64(r.s.p50)/float64(max(fl.p50, 1)))
	}
	// The apps show the account disabled before the activity has read it back; the
	// baseline's figure includes that read, so compare like with like as well.
	if v := medianOf(leaveTr, func(t trace) time.Duration { return t.lastAppCall }); v >= 0 {
		vr := float64(v) / float64(max(bs.p50, 1))
		fmt.Fprintf(w, "leaver to verified (last app call completed, median from the histories) %s / baseline p50 = %.1fx %s\n", ms(v), vr, verdict(vr <= targetRatio))
	}

	fmt.Fprintf(w, "\nWhere the time goes (median offset from the request, from Temporal's histories):\n")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "milestone\tlock\tleaver\t")
	for _, m := range []milestone{
		{"signal in the person's history", func(t trace) time.Duration { return t.signaled }},
		{"child workflow initiated", func(t trace) time.Duration { return t.childInitiated }},
		{"child workflow started", func(t trace) time.Duration { return t.childStarted }},
		{"first app call scheduled (inline: its workflow task started)", func(t trace) time.Duration { return t.firstAppCall }},
		{"last app call completed (verified)", func(t trace) time.Duration { return t.lastAppCall }},
		{"all disabled seen in the apps", func(t trace) time.Duration { return t.seen }},
		{"child workflow completed", func(t trace) time.Duration { return t.childClosed }},
		{"person's workflow saw it complete", func(t trace) time.Duration { return t.parentSawChild }},
	} {
		fmt.Fprintf(tw, "%s\t%s\t%s\t\n", m.name, ms(medianOf(lockTr, m.f)), ms(medianOf(leaveTr, m.f)))
	}
	tw.Flush()
	for _, p := range []struct {
		name string
		trs  []trace
	}{{"lock", lockTr}, {"leaver", leaveTr}} {
		if t, ok := firstGood(p.trs); ok && t.inline {
			fmt.Fprintf(w, "%s: ran in the person's own workflow, with no child: %d workflow tasks, %d local activities and %d activities from the signal to the calls recorded\n",
				p.name, t.parentTasks, t.parentLocal, t.parentActivities)
		} else if ok {
			fmt.Fprintf(w, "%s: the person's workflow ran %d workflow tasks, %d activities and %d local activities between the signal and the child; the child ran %d workflow tasks and %s\n",
				p.name, t.parentTasks, t.parentActivities, t.parentLocal, t.childTasks, activityCounts(t.childActivities))
		}
		var queued, ran []time.Duration
		for _, t := range p.trs {
			queued, ran = append(queued, t.queued...), append(ran, t.ran...)
		}
		if q, r := summarize(queued), summarize(ran); q.n > 0 {
			fmt.Fprintf(w, "%s: each app call waited for a worker p50 %s, p90 %s, max %s, then ran p50 %s, p90 %s, max %s (%d calls)\n",
				p.name, ms(q.p50), ms(q.p90), ms(q.max), ms(r.p50), ms(r.p90), ms(r.max), q.n)
		}
		for _, t := range p.trs {
			if t.err != nil {
				fmt.Fprintf(w, "%s: a history could not be read: %v\n", p.name, t.err)
				break
			}
		}
	}
}

// medianOf is the median of one milestone over the traces that have it.
func medianOf(trs []trace, f func(trace) time.Duration) time.Duration {
	var ds []time.Duration
	for _, t := range trs {
		if d := f(t); t.err == nil && d >= 0 {
			ds = append(ds, d)
		}
	}
	if len(ds) == 0 {
		return -1
	}
	slices.Sort(ds)
	return percentile(ds, 50)
}

func firstGood(trs []trace) (trace, bool) {
	for _, t := range trs {
		if t.err == nil {
			return t, true
		}
	}
	return trace{}, false
}

func activityCounts(m map[string]int) string {
	if len(m) == 0 {
		return "no activities"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%d x %s", m[k], k))
	}
	return "activities " + strings.Join(parts, ", ")
}

// printTimeline prints, event by event, the histories of the lock whose time was
// the median, so the gaps between workflow tasks can be read directly.
func printTimeline(w io.Writer, trs []trace, ds []time.Duration) {
	if len(trs) == 0 {
		return
	}
	idx := make([]int, len(ds))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int { return int(ds[a] - ds[b]) })
	t := trs[idx[(len(idx)-1)/2]]
	if t.err != nil {
		fmt.Fprintf(w, "\nNo timeline: %v\n", t.err)
		return
	}
	fmt.Fprintf(w, "\nTimeline of the median lock (%s), offsets from the request:\n", ms(t.seen))
	prev := time.Duration(0)
	for _, e := range t.events {
		fmt.Fprintf(w, "  %9s  (+%7s)  %-6s %s\n", ms(e.at), ms(e.at-prev), e.where, e.what)
		prev = e.at
	}
}

// machine describes where the figures were taken.
func machine() string {
	cpu := "unknown CPU"
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	return fmt.Sprintf("%d CPUs (runtime.NumCPU), %s/%s, %s, %s", runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, cpu, runtime.Version())
}

// processCPU is the CPU time this process has used, user and system: the
// whole embedded stack's, since it runs in one process. Zero where the
// system cannot say.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// loadAverage is /proc/loadavg's three load averages, or "unknown".
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "unknown"
}
