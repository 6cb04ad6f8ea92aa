package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/api"
	"github.com/tenure-io/tenure/guard"
	"github.com/tenure-io/tenure/rollout"
	"github.com/tenure-io/tenure/store/storetest"
)

const importToken = "import-test-token-0123456789"

// countingEngine stands in for Temporal in the CLI tests: it counts what it is
// handed, so a test can tell that nothing ran twice.
type countingEngine struct {
	mu  sync.Mutex
	ids map[string]int
}

func (e *countingEngine) SubmitEvent(_ context.Context, ev tenure.Event) (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.ids[ev.ID]++
	return tenure.WorkflowID(ev.Employee.ID), nil
}
func (e *countingEngine) Lock(context.Context, string, string, string) (string, error) {
	return "", nil
}
func (e *countingEngine) Unlock(context.Context, string, string, string) (string, error) {
	return "", nil
}
func (e *countingEngine) Decide(context.Context, tenure.Approval, tenure.Decision) (tenure.ApprovalStatus, error) {
	return "", nil
}
func (e *countingEngine) Retry(context.Context, string, string, string, string) (string, error) {
	return "", nil
}
func (e *countingEngine) Reconverge(context.Context, string, string, string) (string, error) {
	return "", nil
}
func (e *countingEngine) Ready(context.Context) error { return nil }
func (e *countingEngine) RunURL(string) string        { return "" }

func (e *countingEngine) counts() map[string]int {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := map[string]int{}
	for k, v := range e.ids {
		out[k] = v
	}
	return out
}

// importAPI is the real API on the real SQLite store, with a counting engine.
func importAPI(t *testing.T) (string, *countingEngine, tenure.Store) {
	t.Helper()
	db := storetest.SQLite(t)
	parse := policyCheck(func(string) string { return "" })
	eng := &countingEngine{ids: map[string]int{}}
	g, err := guard.New(guard.Config{Store: db, Engine: eng, Policy: rollout.NewVersions(db, parse)})
	if err != nil {
		t.Fatal(err)
	}
	policies, err := rollout.New(rollout.Config{Store: db, Guard: g, Parse: parse})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := policies.Bootstrap(context.Background(), "bench.yaml", benchPolicy(3), "test", "file"); err != nil {
		t.Fatal(err)
	}
	h, err := api.NewServer(api.Config{
		Store: db, Tokens: db, Managers: db, Engine: eng, Guard: g, Policies: policies,
		Auth: api.StaticTokens(map[string]tenure.Principal{importToken: {Name: "hr", Role: tenure.RoleHR}}),
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL, eng, db
}

func writeCSV(t testing.TB, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// hiresCSV is a file of n birthright hires with IDs prefix0001...
func hiresCSV(prefix string, n int) string {
	var b strings.Builder
	b.WriteString("type,employee_id,email,given_name,family_name,department,title\n")
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "hire,%s%05d,%s%05d@example.com,Bulk,Hire %d,Operations,Analyst\n", prefix, i, strings.ToLower(prefix), i, i)
	}
	return b.String()
}

func runImportCmd(t testing.TB, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err = run(context.Background(), append([]string{"import"}, args...), func(string) string { return "" }, &out, &errOut)
	return out.String(), errOut.String(), err
}

func TestImportCommandTenThousandRowsThenAllDuplicates(t *testing.T) {
	url, eng, _ := importAPI(t)
	file := writeCSV(t, t.TempDir(), "bulk.csv", hiresCSV("B", 10_000))
	out, errOut, err := runImportCmd(t, file, "--url", url, "--token", importToken)
	if err != nil {
		t.Fatalf("import: %v\n%s", err, errOut)
	}
	for _, want := range []string{"Imported bulk.csv: 10000 rows", "accepted    10000", "duplicates  0", "failed      0", "events per second"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	// Not a terminal: plain progress lines, the last at 100%.
	if !strings.Contains(errOut, "import: 10000/10000 rows sent (100%)") || strings.Contains(errOut, "\r") {
		t.Errorf("progress on a pipe:\n%s", errOut)
	}
	counts := eng.counts()
	if len(counts) != 10_000 {
		t.Fatalf("%d events reached the engine, want 10000", len(counts))
	}
	// Again, with the flags first: every row is a duplicate and nothing runs.
	out, _, err = runImportCmd(t, "--url", url, "--token", importToken, file)
	if err != nil || !strings.Contains(out, "accepted    0") || !strings.Contains(out, "duplicates  10000") {
		t.Fatalf("re-import: %v\n%s", err, out)
	}
	for id, n := range eng.counts() {
		if n != 1 {
			t.Fatalf("%s ran %d times", id, n)
		}
	}
}

const badCSV = "type,employee_id,email,given_name,family_name,department\n" +
	"hire,E1,e1@example.com,Ada,Lovelace,Engineering\n" + // 2
	"hire,E2,e2-at-example.com,Grace,Hopper,\n" + // 3
	"hire,E3,e3@example.com,Alan,Turing,\n" + // 4
	"hire,E4,e4@example.com,,Byron,\n" + // 5
	"sack,E5,e5@example.com,Ed,Five,\n" // 6

func TestImportCommandReportsEveryBadLineAndSendsNothing(t *testing.T) {
	url, eng, _ := importAPI(t)
	file := writeCSV(t, t.TempDir(), "people.csv", badCSV)
	_, errOut, err := runImportCmd(t, file, "--url", url, "--token", importToken)
	if err == nil || !strings.Contains(err.Error(), "3 of 5 rows are invalid; nothing was imported") {
		t.Fatalf("err = %v", err)
	}
	want := "people.csv: line 3: email: is not a valid email address\n" +
		"people.csv: line 5: given_name: is required for a hire\n" +
		"people.csv: line 6: type: must be one of hire, update, terminate, rehire\n"
	if errOut != want {
		t.Fatalf("stderr:\n%s\nwant:\n%s", errOut, want)
	}
	if n := len(eng.counts()); n != 0 {
		t.Fatalf("%d events were sent", n)
	}

	// --skip-invalid sends the two good rows.
	out, _, err := runImportCmd(t, file, "--skip-invalid", "--url", url, "--token", importToken)
	if err != nil || !strings.Contains(out, "accepted    2") || !strings.Contains(out, "invalid     3 (skipped)") {
		t.Fatalf("skip-invalid: %v\n%s", err, out)
	}
	if c := eng.counts(); len(c) != 2 || c["csv:people.csv:2"] != 1 || c["csv:people.csv:4"] != 1 {
		t.Fatalf("sent %v", c)
	}
}

func TestImportCommandDryRun(t *testing.T) {
	url, eng, db := importAPI(t)
	ctx := context.Background()
	if err := db.UpsertEmployee(ctx, tenure.Employee{Person: tenure.Person{ID: "E9", Email: "e9@example.com", GivenName: "Old", FamilyName: "Timer"}, Status: tenure.PersonActive}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	// The token comes from --data-dir, as after `tenure dev`.
	writeCSV(t, dir, "admin.token", importToken+"\n")
	file := writeCSV(t, dir, "people.csv", badCSV+"terminate,E9,e9@example.com,,,\n")
	out, _, err := runImportCmd(t, file, "--dry-run", "--url", url, "--data-dir", dir)
	if err == nil || !strings.Contains(err.Error(), "3 of 6 rows are invalid") {
		t.Fatalf("dry run with invalid rows: %v", err)
	}
	for _, want := range []string{
		"Plan for people.csv: 6 rows, 3 valid, 3 invalid. Nothing has been applied.",
		"Hires (2)\n  line 2  E1 Ada Lovelace: hire\n      + app01, app01/staff, app02, app02/staff, app03, app03/staff\n",
		"Changes (0)\n",
		"Terminations (1)\n  line 7  E9: termination\n      - app01, app01/staff, app02, app02/staff, app03, app03/staff\n",
		"Problems (3)\n  line 3: email: is not a valid email address\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("plan lacks %q:\n%s", want, out)
		}
	}
	if len(eng.counts()) != 0 {
		t.Fatal("a dry run sent events")
	}
	if _, err := db.GetEvent(ctx, "csv:people.csv:2"); tenure.ErrorCode(err) != tenure.ENOTFOUND {
		t.Fatalf("a dry run stored an event: %v", err)
	}
	if _, _, err := runImportCmd(t, file, "--dry-run", "--skip-invalid", "--url", url, "--data-dir", dir); err != nil {
		t.Fatalf("dry run with --skip-invalid: %v", err)
	}
}

// TestImportCommandHeldRows: rows the blast-radius guard holds are taken, not
// failed; the summary says how many, in which hold, and that nothing runs for
// them until an admin decides. The dry run warns beforehand.
func TestImportCommandHeldRows(t *testing.T) {
	url, eng, db := importAPI(t)
	ctx := context.Background()
	csv := "type,employee_id,email,given_name,family_name\n"
	for i := range 12 {
		p := tenure.Person{ID: fmt.Sprintf("L%02d", i), Email: fmt.Sprintf("l%02d@example.com", i), GivenName: "Lea", FamilyName: "Ver"}
		if err := db.UpsertEmployee(ctx, tenure.Employee{Person: p, Status: tenure.PersonActive}); err != nil {
			t.Fatal(err)
		}
		csv += fmt.Sprintf("terminate,%s,%s,,\n", p.ID, p.Email)
	}
	file := writeCSV(t, t.TempDir(), "leavers.csv", csv)
	out, _, err := runImportCmd(t, file, "--dry-run", "--url", url, "--token", importToken)
	if err != nil || !strings.Contains(out, "The blast-radius guard would hold part of this file now: import would disable or revoke access for 12 people") {
		t.Fatalf("dry run: %v\n%s", err, out)
	}
	out, _, err = runImportCmd(t, file, "--url", url, "--token", importToken)
	if err != nil || !strings.Contains(out, "accepted    10") || !strings.Contains(out, "failed      0") ||
		!strings.Contains(out, "held        2, by the blast-radius guard in hold_") {
		t.Fatalf("import: %v\n%s", err, out)
	}
	if n := len(eng.counts()); n != 10 {
		t.Fatalf("%d events ran, want 10", n)
	}
}

func TestImportCommandErrors(t *testing.T) {
	url, _, _ := importAPI(t)
	dir := t.TempDir()
	good := writeCSV(t, dir, "good.csv", hiresCSV("G", 2))
	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"no file":       {[]string{"--token", "x"}, "one CSV file"},
		"two files":     {[]string{good, good, "--token", "x"}, "one CSV file"},
		"no token":      {[]string{good, "--data-dir", filepath.Join(dir, "nowhere")}, "no token"},
		"bad url":       {[]string{good, "--token", "x", "--url", "localhost:8080"}, "--url must be"},
		"wrong token":   {[]string{good, "--token", "wrong", "--url", url}, "the bearer token is not valid"},
		"bad header":    {[]string{writeCSV(t, dir, "h.csv", "type,id,emial\n"), "--token", importToken, "--url", url}, `"emial" is not a known column`},
		"spreadsheet":   {[]string{writeCSV(t, dir, "x.csv", "PK\x03\x04\x00\x00"), "--token", importToken, "--url", url}, "not a CSV file"},
		"batch too big": {[]string{good, "--token", "x", "--batch", "1001"}, "--batch"},
	} {
		t.Run(name, func(t *testing.T) {
			_, _, err := runImportCmd(t, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

// TestImportEndToEnd imports hires into the real stack (`tenure dev`'s: the
// embedded Temporal server, the worker, the API and the sandbox apps) with a
// policy of 3 apps for everyone, and checks the apps' own state: every person
// has exactly one active account in each app. Importing the file again runs
// nothing.
func TestImportEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the embedded Temporal server")
	}
	if res := bulkImport(t, 20); res.err != nil {
		t.Fatal(res.err)
	}
}

// BenchmarkBulkImport is the bulk onboarding target of docs/architecture.md: a CSV of
// birthright-only hires, 3 apps each, through `tenure import` into the embedded
// stack, until every person has an active account in each app. It reports
// joiners per second and fails on any duplicate or missing account. Set
// TENURE_BULK_ROWS (default 10000); run it once:
//
//	TENURE_BULK_ROWS=10000 go test -run '^$' -bench BulkImport -benchtime 1x -timeout 60m ./cmd/tenure
func BenchmarkBulkImport(b *testing.B) {
	n := 10_000
	if v := os.Getenv("TENURE_BULK_ROWS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			b.Fatalf("TENURE_BULK_ROWS=%q: want a positive number", v)
		}
	}
	for b.Loop() {
		res := bulkImport(b, n)
		if res.err != nil {
			b.Fatal(res.err)
		}
		b.ReportMetric(float64(n)/res.total.Seconds(), "joiners/s")
		b.ReportMetric(float64(n)/res.sent.Seconds(), "events-in/s")
		b.ReportMetric(res.total.Seconds(), "s-total")
		b.Logf("%d hires, 3 apps each: import took %s (%.0f events/s); all %d accounts active after %s: %.1f joiners/s; load %s",
			n, res.sent.Round(time.Millisecond), float64(n)/res.sent.Seconds(), 3*n, res.total.Round(time.Millisecond), float64(n)/res.total.Seconds(), loadAverage())
	}
}

type bulkResult struct {
	file        string
	sent, total time.Duration // until the import returned; until every account was active
	err         error
}

// bulkImport starts the stack with 3 sandbox apps granted to everyone, imports n
// hires with `tenure import`, and waits until each person has exactly one active
// account in every app, checking for duplicates and for anyone lost.
func bulkImport(tb testing.TB, n int) bulkResult {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := tb.TempDir()
	policyPath := writeCSV(tb, dir, "bulk-policy.yaml", string(benchPolicy(3)))
	s, err := startStack(ctx, devConfig{
		dataDir: dir, httpAddr: "127.0.0.1:0", temporalPort: 0, uiPort: -1,
		policyPath: policyPath, logLevel: slog.LevelError,
	}, func(string) string { return "" }, os.Stderr)
	if err != nil {
		tb.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.serve(ctx) }()
	defer func() {
		cancel()
		<-served
		s.Close()
	}()
	b := &benchRun{s: s, http: &http.Client{Timeout: benchStepTimeout}}
	if err := b.waitHealthy(ctx); err != nil {
		tb.Fatal(err)
	}
	res := bulkResult{file: writeCSV(tb, dir, "hires.csv", hiresCSV("H", n))}
	start := time.Now()
	out, errOut, err := runImportCmd(tb, res.file, "--url", s.baseURL, "--token", s.adminToken)
	res.sent = time.Since(start)
	if err != nil || !strings.Contains(out, fmt.Sprintf("accepted    %d", n)) {
		res.err = fmt.Errorf("import: %v\n%s\n%s", err, out, errOut)
		return res
	}
	apps := s.sandbox.Apps()
	// Allow 5 joiners per second, a tenth of the target, before calling it stuck.
	deadline := time.Now().Add(time.Duration(n)*200*time.Millisecond + 2*time.Minute)
	lastReport := time.Now()
	for {
		active, dups, err := sandboxAccounts(s, apps)
		if err != nil {
			res.err = err
			return res
		}
		if len(dups) > 0 {
			res.err = fmt.Errorf("duplicate accounts: %v", dups[:min(5, len(dups))])
			return res
		}
		if time.Since(lastReport) >= 30*time.Second {
			// Progress on stderr, so a long run shows how the rate develops.
			fmt.Fprintf(os.Stderr, "bulk: %s: %d of %d accounts active and entitled\n", time.Since(start).Round(time.Second), active, n*len(apps))
			lastReport = time.Now()
		}
		if active == n*len(apps) {
			res.total = time.Since(start)
			break
		}
		if time.Now().After(deadline) {
			res.err = fmt.Errorf("after %s only %d of %d accounts are active", time.Since(start).Round(time.Second), active, n*len(apps))
			return res
		}
		// Listing the apps holds their locks: poll gently, or the count slows what it measures.
		if err := sleep(ctx, time.Second); err != nil {
			res.err = err
			return res
		}
	}
	// Nothing lost in the read model either: everyone is there, and active.
	for _, id := range []string{"H00001", fmt.Sprintf("H%05d", (n+1)/2), fmt.Sprintf("H%05d", n)} {
		if e, err := s.store.GetEmployee(ctx, id); err != nil || e.Status != tenure.PersonActive {
			res.err = fmt.Errorf("%s in the read model: %+v %v", id, e, err)
			return res
		}
	}
	if _, total, err := s.store.ListEmployees(ctx, tenure.EmployeeFilter{Status: tenure.PersonActive, Limit: 1}); err != nil || total != n {
		res.err = fmt.Errorf("the read model has %d active people, want %d (%v)", total, n, err)
		return res
	}
	// The same file again runs nothing.
	out, errOut, err = runImportCmd(tb, res.file, "--url", s.baseURL, "--token", s.adminToken)
	if err != nil || !strings.Contains(out, "accepted    0") || !strings.Contains(out, fmt.Sprintf("duplicates  %d", n)) {
		res.err = fmt.Errorf("re-import: %v\n%s\n%s", err, out, errOut)
		return res
	}
	if active, dups, err := sandboxAccounts(s, apps); err != nil || len(dups) > 0 || active != n*len(apps) {
		res.err = fmt.Errorf("after the re-import: %d active, duplicates %v, %v", active, dups, err)
	}
	return res
}

// sandboxAccounts counts, across apps, the bulk hires' accounts that are active
// and in the policy's group, and lists any person with more than one account in
// an app.
func sandboxAccounts(s *stack, apps []string) (active int, dups []string, err error) {
	for _, app := range apps {
		users, err := s.sandbox.Users(app)
		if err != nil {
			return 0, nil, err
		}
		seen := map[string]bool{}
		for _, u := range users {
			if !strings.HasPrefix(u.ExternalID, "H") {
				continue
			}
			if seen[u.ExternalID] {
				dups = append(dups, app+"/"+u.ExternalID)
			}
			seen[u.ExternalID] = true
			// Done means the account is active and has its entitlement.
			if u.Active && slices.Contains(u.Groups, "staff") {
				active++
			}
		}
	}
	slices.Sort(dups)
	return active, dups, nil
}
