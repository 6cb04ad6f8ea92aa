package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/policy"
	"github.com/tenure-io/tenure/worker"
)

func TestBenchPolicyGrantsEveryAppToEveryone(t *testing.T) {
	p, err := policy.Parse("bench.yaml", benchPolicy(3), worker.Specs, func(string) string { return "" })
	if err != nil {
		t.Fatalf("the bench policy does not load: %v", err)
	}
	if got := p.SandboxApps(); !slices.Equal(got, []string{"app01", "app02", "app03"}) {
		t.Fatalf("sandbox apps = %v, want app01..app03", got)
	}
	var keys []string
	for _, g := range p.Evaluate(tenure.Person{ID: "E1", Email: "e1@example.com", Department: "Sales"}) {
		if g.Approval != "" {
			t.Errorf("grant %s needs approval %s; a bench grant must not wait for anyone", g.Key(), g.Approval)
		}
		keys = append(keys, g.Key())
	}
	want := []string{"app01", "app01/staff", "app02", "app02/staff", "app03", "app03/staff"}
	if !slices.Equal(keys, want) {
		t.Fatalf("grants = %v, want %v", keys, want)
	}
}

func TestPercentileIsNearestRank(t *testing.T) {
	var ds []time.Duration
	for i := 1; i <= 10; i++ {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	for _, c := range []struct {
		p    float64
		want time.Duration
	}{{50, 5 * time.Millisecond}, {90, 9 * time.Millisecond}, {99, 10 * time.Millisecond}, {100, 10 * time.Millisecond}, {1, time.Millisecond}} {
		if got := percentile(ds, c.p); got != c.want {
			t.Errorf("p%v of 1..10 ms = %v, want %v", c.p, got, c.want)
		}
	}
}

func TestBenchFlags(t *testing.T) {
	for _, args := range [][]string{
		{"bench", "--apps", "3", "--policy", "dev"},
		{"bench", "--policy", "prod"},
		{"bench", "--apps", "0"},
		{"bench", "--people", "0"},
		{"bench", "extra"},
	} {
		var out, errOut bytes.Buffer
		err := run(context.Background(), args, func(string) string { return "" }, &out, &errOut)
		if err == nil || exitCode(err) != 2 {
			t.Errorf("%v: err = %v, want a usage error", args, err)
		}
	}
}

// TestBenchRuns drives the whole command on a small policy: it must hire, lock,
// terminate and time the baseline for everyone, and report each phase. The
// figures themselves are not asserted: targets are for the bench to report.
func TestBenchRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the whole stack")
	}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var out, errOut bytes.Buffer
	err := run(ctx, []string{"bench", "--apps", "2", "--people", "2", "--data-dir", dir, "--timeline"}, func(string) string { return "" }, &out, &errOut)
	if err != nil {
		t.Fatalf("bench: %v\nstdout:\n%s\nstderr:\n%s", err, out.String(), errOut.String())
	}
	for _, row := range []string{`lock\s+2\s`, `leaver phase 1\s+2\s`, `direct baseline\s+2\s`, `leaver p50 / baseline p50 = `, `Machine: \d+ CPUs`,
		`engine floor\s+2\s`, `lock p50 / baseline p50 = [\d.]+x .*; / engine floor p50 = [\d.]+x`,
		`first app call scheduled \(inline: its workflow task started\)\s+\d`, `ran in the person's own workflow, with no child`, `WorkflowExecutionSignaled`} {
		if !regexp.MustCompile(row).MatchString(out.String()) {
			t.Errorf("report lacks %q:\n%s", row, out.String())
		}
	}
	// --data-dir keeps the state, and the policy the bench ran on.
	if _, err := os.Stat(filepath.Join(dir, "bench-policy.yaml")); err != nil {
		t.Errorf("the bench policy was not kept in --data-dir: %v", err)
	}
}
