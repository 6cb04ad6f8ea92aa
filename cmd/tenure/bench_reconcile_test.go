package main

import (
	"bytes"
	"context"
	"regexp"
	"testing"
	"time"

	"github.com/tenure-io/tenure"
)

func TestBenchReconcileFlags(t *testing.T) {
	for _, args := range [][]string{
		{"bench", "--reconcile", "0"},
		{"bench", "--reconcile", "300000"},
		{"bench", "--reconcile", "10", "--bulk", "10"},
		{"bench", "--reconcile", "10", "--policy", "dev"},
	} {
		var out, errOut bytes.Buffer
		err := run(context.Background(), args, func(string) string { return "" }, &out, &errOut)
		if err == nil || exitCode(err) != 2 {
			t.Errorf("%v: err = %v, want a usage error", args, err)
		}
	}
}

// TestBenchReconcileRuns drives `tenure bench --reconcile` on a small
// organisation: the run must find exactly the mix the bench seeded, and the
// report must give the time and memory against the targets.
func TestBenchReconcileRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the whole stack")
	}
	// The bench starts tenure dev from its own binary: this test's, as tenure.
	t.Setenv(asTenureEnv, "1")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var out, errOut bytes.Buffer
	err := run(ctx, []string{"bench", "--reconcile", "2000", "--apps", "2", "--data-dir", t.TempDir()}, func(string) string { return "" }, &out, &errOut)
	if err != nil {
		t.Fatalf("bench: %v\nstdout:\n%s\nstderr:\n%s", err, out.String(), errOut.String())
	}
	for _, row := range []string{`app01\s+2000\s+1980\s+40\s+40\s+20\s+10\s+PASS`, `app02\s+2000\s+1980\s+40\s+40\s+20\s+10\s+PASS`, `time:\s+[\d.]+ s from the POST`,
		`memory: tenure dev's resident set peaked at \d+ MB during the run`, `Load: `} {
		if !regexp.MustCompile(row).MatchString(out.String()) {
			t.Errorf("report lacks %q:\n%s", row, out.String())
		}
	}
}

// A run that finds other than what was seeded fails the bench.
func TestCheckReconcile(t *testing.T) {
	seed := reconcileSeed{want: map[string]tenure.ReconcileCounts{"app01": {Accounts: 3, Orphan: 1}}}
	run := tenure.Reconciliation{Status: tenure.ReconcileCompleted, ByApp: []tenure.ReconcileApp{{App: "app01", Counts: tenure.ReconcileCounts{Accounts: 3, Orphan: 1}}}}
	if err := checkReconcile(seed, run); err != nil {
		t.Errorf("as seeded: %v", err)
	}
	run.ByApp[0].Counts.Drift = 1
	if err := checkReconcile(seed, run); err == nil {
		t.Error("a drift that was not seeded passed the check")
	}
	run.ByApp, run.Status = nil, tenure.ReconcileFailed
	if err := checkReconcile(seed, run); err == nil {
		t.Error("a failed run passed the check")
	}
}
