package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tenure-io/tenure/integrations"
)

func TestBenchBulkFlags(t *testing.T) {
	for _, args := range [][]string{
		{"bench", "--bulk", "0"},
		{"bench", "--bulk", "-5"},
		{"bench", "--bulk", strconv.Itoa(benchBulkMax + 1)},
		{"bench", "--bulk", "10", "--policy", "dev"},
		{"bench", "--bulk", "10", "--timeline"},
		{"bench", "--bulk", "10", "--gap", "1s"},
		{"bench", "--bulk", "10", "--apps", "0"},
		{"bench", "--bulk", "10", "--people", "0"},
	} {
		var out, errOut bytes.Buffer
		err := run(context.Background(), args, func(string) string { return "" }, &out, &errOut)
		if err == nil || exitCode(err) != 2 {
			t.Errorf("%v: err = %v, want a usage error", args, err)
		}
	}
}

// TestBenchBulk runs `tenure bench --bulk` small: 40 hires into 2 apps with 2
// locks timed among them. The report must carry every figure, and sane ones.
// Before the final check, the test checks the apps itself (a clean bulk must
// pass), then makes, through the sandbox's SCIM API, a second account for one
// hire (no externalId, their HR ID as userName) and an account for someone the
// bench never hired: the run must then fail, naming both.
func TestBenchBulk(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the whole stack")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var dupOf string
	cfg := benchConfig{apps: 2, people: 2, bulk: 40, bulkPriority: "low", dataDir: t.TempDir(),
		beforeCheck: func(ctx context.Context, b *benchRun, people bulkPeople) error {
			if c := b.checkBulk(ctx, people); c.err != nil {
				t.Errorf("the check fails a clean bulk: %v", c.err)
			}
			p := people.hires[len(people.hires)/2]
			dupOf = p.ID
			for _, u := range []integrations.User{
				{UserName: p.ID, Email: p.Email, GivenName: p.GivenName, FamilyName: p.FamilyName, Active: true},
				{ExternalID: "stranger-1", UserName: "stranger@elsewhere.example", GivenName: "Not", FamilyName: "Hired", Active: true},
			} {
				if _, err := b.conns["app02"].Create(ctx, u); err != nil {
					return err
				}
			}
			return nil
		}}
	var out, errOut bytes.Buffer
	err := bench(ctx, cfg, func(string) string { return "" }, &out, &errOut)
	report := out.String()
	t.Logf("\n%s", report)
	if !errors.Is(err, errBulkCheck) {
		t.Fatalf("bench = %v, want the check to fail on the duplicate and the stranger\nstderr:\n%s", err, errOut.String())
	}
	for _, want := range []string{"app02: 1 duplicated, e.g. " + dupOf + " (2 accounts)", "app02: 1 for someone not hired, e.g. stranger-1"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not say %q: %v", want, err)
		}
	}
	if strings.Contains(err.Error(), "app01") || strings.Contains(err.Error(), "missing") || strings.Contains(err.Error(), "read model") {
		t.Errorf("the error blames more than app02's two accounts: %v", err)
	}

	ceiling := number(t, report, `engine ceiling \(no-op workflow per person\)\s+40\s+[\d.]+ s\s+[\d.]+ s\s+([\d.]+)\s`)
	bulk := number(t, report, `bulk hires \(active and entitled in every app\)\s+40\s+[\d.]+ s\s+[\d.]+ s\s+([\d.]+)\s+>= 30/s (PASS|MISS)`)
	share := number(t, report, `bulk / engine ceiling = ([\d.]+)x \(target >= 0.50x\) (PASS|MISS)`)
	if ceiling <= 0 || bulk <= 0 {
		t.Errorf("people/s: ceiling %v, bulk %v; want both above 0", ceiling, bulk)
	}
	if want := bulk / ceiling; share < want-0.01 || share > want+0.01 {
		t.Errorf("bulk / ceiling = %v, want %.2f", share, want)
	}
	// The CPU each person cost, and the ratio it gives, consistent.
	cpuRe := regexp.MustCompile(`CPU per person \(the whole stack, one process\): engine ceiling ([\d.]+) ms, bulk hire ([\d.]+) ms; by CPU the bulk is ([\d.]+)x the ceiling`)
	if m := cpuRe.FindStringSubmatch(report); m == nil {
		t.Errorf("report lacks %q", cpuRe)
	} else {
		perCeil, _ := strconv.ParseFloat(m[1], 64)
		perBulk, _ := strconv.ParseFloat(m[2], 64)
		byCPU, _ := strconv.ParseFloat(m[3], 64)
		if perCeil <= 0 || perBulk <= 0 || byCPU < perCeil/perBulk-0.02 || byCPU > perCeil/perBulk+0.02 {
			t.Errorf("CPU per person: ceiling %v ms, bulk %v ms, ratio %v; want both above 0 and the ratio theirs", perCeil, perBulk, byCPU)
		}
	}
	// With 40 hires a lock may come after the bulk is done; the two rows
	// together hold both locks.
	loaded := number(t, report, `lock while the bulk ran\s+(\d)\s+(-|[\d.]+ ms)\s+(-|[\d.]+ ms)\s+(-|[\d.]+ ms)\s+(-|[\d.]+ ms)\s+p99 < 500.0 ms (PASS|MISS); idle: p50 < 60.0 ms (PASS|MISS), p99 < 150.0 ms (PASS|MISS)`)
	after := number(t, report, `lock after the bulk was done\s+(\d)\s`)
	if loaded+after != 2 || !strings.Contains(report, fmt.Sprintf("%.0f of the 2 locks were seen done in every app before the bulk was", loaded)) {
		t.Errorf("%v locks while the bulk ran and %v after; want 2 in all, and the count said", loaded, after)
	}
	if loaded > 0 {
		// The slowest lock's own offsets follow the medians.
		slowest := number(t, report, `lock while the bulk ran\s+\d\s+[\d.]+ ms\s+[\d.]+ ms\s+[\d.]+ ms\s+([\d.]+) ms`)
		if said := number(t, report, `the slowest \(([\d.]+) ms\): signal in the person's history `); said != slowest {
			t.Errorf("the slowest lock is said to have taken %v ms, the row's max is %v ms", said, slowest)
		}
	}
	for _, row := range []string{`lock while the bulk ran\s+[12]\s+`, `lock after the bulk was done\s+[12]\s+`} {
		m := regexp.MustCompile(row + `([\d.]+) ms\s+[\d.]+ ms\s+([\d.]+) ms`).FindStringSubmatch(report)
		if m == nil {
			continue
		}
		p50, _ := strconv.ParseFloat(m[1], 64)
		p99, _ := strconv.ParseFloat(m[2], 64)
		if p50 <= 0 || p99 < p50 {
			t.Errorf("%s: p50 %v ms, p99 %v ms; want 0 < p50 <= p99", row, p50, p99)
		}
	}
	for _, row := range []string{
		`Machine: \d+ CPUs`, `Load:    \S+ \S+ \S+ at the start`,
		`app01\s+40 of 40\s+0\s+0\s+0\s+0`, `app02\s+39 of 40\s+0\s+1\s+1\s+0`,
		`read model: 40 of 40 hires active`, `FAIL: accounts lost, duplicated or not done`,
	} {
		if !regexp.MustCompile(row).MatchString(report) {
			t.Errorf("report lacks %q", row)
		}
	}
}

// number is the first group of re in s, as a number; the test fails without it.
func number(t *testing.T, s, re string) float64 {
	t.Helper()
	m := regexp.MustCompile(re).FindStringSubmatch(s)
	if m == nil {
		t.Errorf("report lacks %q", re)
		return 0
	}
	f, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Errorf("%q: %v", m[1], err)
	}
	return f
}
