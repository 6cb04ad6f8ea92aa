package main

import (
	"bytes"
	"context"
	"errors"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestBenchRolloutFlags(t *testing.T) {
	for _, args := range [][]string{
		{"bench", "--rollout", "0"},
		{"bench", "--rollout", strconv.Itoa(benchBulkMax + 1)},
		{"bench", "--rollout", "10", "--bulk", "10"},
		{"bench", "--rollout", "10", "--bulk-priority", "default"},
		{"bench", "--rollout", "10", "--policy", "dev"},
		{"bench", "--rollout", "10", "--timeline"},
		{"bench", "--rollout", "10", "--apps", "99"},
		{"bench", "--rollout", "10", "--people", "0"},
		{"bench", "--reconcile", "10", "--rollout", "10"},
	} {
		var out, errOut bytes.Buffer
		err := run(context.Background(), args, func(string) string { return "" }, &out, &errOut)
		if err == nil || exitCode(err) != 2 {
			t.Errorf("%v: err = %v, want a usage error", args, err)
		}
	}
}

// TestBenchRollout runs `tenure bench --rollout` small: 40 hires into 2 apps,
// then a policy that grants a third to everyone, with 2 locks timed during
// it. The report must carry every figure, and sane ones; the people locked
// during the rollout get the new app when unlocked. Before the final check,
// the test checks the apps itself (a clean rollout must pass), then disables
// one hire's account in the new app behind Tenure's back: the run must then
// fail, naming it.
func TestBenchRollout(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the whole stack")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var disabled string
	cfg := benchConfig{apps: 2, people: 2, rollout: 40, dataDir: t.TempDir(),
		beforeCheck: func(ctx context.Context, b *benchRun, people bulkPeople) error {
			c := b.checkBulk(ctx, people)
			if c.err != nil {
				t.Errorf("the check fails a clean rollout: %v", c.err)
			}
			if len(c.apps) != 3 {
				t.Errorf("the check read %d apps, want the 3 of the version in force", len(c.apps))
			}
			p := people.hires[len(people.hires)/2]
			disabled = p.ID
			a, err := b.conns["app03"].Lookup(ctx, p.ID, p.Email)
			if err != nil {
				return err
			}
			return b.conns["app03"].SetActive(ctx, a.ID, false)
		}}
	var out, errOut bytes.Buffer
	err := bench(ctx, cfg, func(string) string { return "" }, &out, &errOut)
	report := out.String()
	t.Logf("\n%s", report)
	if !errors.Is(err, errBulkCheck) {
		t.Fatalf("bench = %v, want the check to fail on the disabled account\nstderr:\n%s", err, errOut.String())
	}
	if want := "app03: 1 missing or not done, e.g. " + disabled + " (not active with staff)"; !strings.Contains(err.Error(), want) {
		t.Errorf("the error does not say %q: %v", want, err)
	}

	ceiling := number(t, report, `engine ceiling \(a signal to a waiting no-op workflow per person\)\s+40\s+[\d.]+ s\s+[\d.]+ s\s+([\d.]+)\s`)
	rolled := number(t, report, `rollout \(active and entitled in the new app\)\s+40\s+[\d.]+ s\s+[\d.]+ s\s+([\d.]+)\s+>= 30/s (PASS|MISS)`)
	share := number(t, report, `rollout / engine ceiling = ([\d.]+)x \(target >= 0.50x\) (PASS|MISS)`)
	if ceiling <= 0 || rolled <= 0 {
		t.Errorf("people/s: ceiling %v, rollout %v; want both above 0", ceiling, rolled)
	}
	if want := rolled / ceiling; share < want-0.01 || share > want+0.01 {
		t.Errorf("rollout / ceiling = %v, want %.2f", share, want)
	}
	loaded := number(t, report, `lock while the rollout ran\s+(\d)\s`)
	after := number(t, report, `lock after the rollout was done\s+(\d)\s`)
	if loaded+after != 2 {
		t.Errorf("%v locks while the rollout ran and %v after; want 2 in all", loaded, after)
	}
	for _, row := range []string{
		`Policy:  2 sandbox apps \(app01..app02\), every one granted to everyone; then a version that grants app03 to everyone too`,
		`People:  40 hired through POST /api/v1/events:batch before the rollout, at [\d.]+/s`,
		// Everyone: the 40 hires and the 2 lockers, whom the lock defers
		// when it came first.
		`Rollout: \w+ completed in [\d.]+ s, batches of 100, 4 at a time, handed over at up to 80 people a second \(the policy's rollout rate\): 42 people, 42 done \([0-2] of them deferred by a lock until the unlock\), 0 failed, 0 skipped`,
		`CPU per person \(the whole stack, one process\): engine ceiling [\d.]+ ms, re-evaluation [\d.]+ ms; by CPU the rollout is [\d.]+x the ceiling`,
		`Machine: \d+ CPUs`,
		`app01\s+40 of 40\s+0\s+0\s+0\s+0`, `app02\s+40 of 40\s+0\s+0\s+0\s+0`, `app03\s+39 of 40\s+1\s+0\s+0\s+0`,
		`read model: 40 of 40 hires active`, `FAIL: accounts lost, duplicated or not done`,
	} {
		if !regexp.MustCompile(row).MatchString(report) {
			t.Errorf("report lacks %q", row)
		}
	}
}
