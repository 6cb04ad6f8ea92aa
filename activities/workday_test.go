package activities_test

import (
	"bytes"
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/activities"
	"github.com/tenure-io/tenure/guard"
	"github.com/tenure-io/tenure/intake"
	"github.com/tenure-io/tenure/integrations/hr"
	"github.com/tenure-io/tenure/store"
	"github.com/tenure-io/tenure/store/storetest"
	"github.com/tenure-io/tenure/workflows"
)

const (
	isuUser     = "ISU_Tenure@acme"
	isuPassword = "wd-isu-password-never-logged"
	reportPath  = "/ccx/service/customreport2/acme/ISU_Tenure/Tenure_Workers"
)

// recordingEngine stands in for Temporal: it records what intake hands over.
type recordingEngine struct {
	tenure.Engine
	mu     sync.Mutex
	events []tenure.Event
}

func (e *recordingEngine) SubmitEvent(_ context.Context, ev tenure.Event) (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.events = append(e.events, ev)
	return tenure.WorkflowID(ev.Employee.ID), nil
}

func (e *recordingEngine) submitted() []tenure.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]tenure.Event(nil), e.events...)
}

// workdayServer serves the report over TLS to the integration user only, and
// writes its certificate to a CA file, as an operator would for a private CA.
func workdayServer(t *testing.T, report []byte) (url, caFile string) {
	t.Helper()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, ok := r.BasicAuth()
		if !ok || user != isuUser || pass != isuPassword {
			w.Header().Set("WWW-Authenticate", `Basic realm="Workday"`)
			http.Error(w, "invalid username or password", http.StatusUnauthorized)
			return
		}
		if r.URL.Path != reportPath || r.URL.Query().Get("format") != "json" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(report)
	}))
	t.Cleanup(srv.Close)
	caFile = filepath.Join(t.TempDir(), "workday-ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(caFile, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	return srv.URL + reportPath, caFile
}

// newGuard is the blast-radius guard on db, with the default threshold.
func newGuard(t *testing.T, db *store.DB, engine tenure.Engine) *guard.Guard {
	t.Helper()
	g, err := guard.New(guard.Config{Store: db, Engine: engine})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func runSync(t *testing.T, w *activities.Workday) (workflows.WorkdaySyncResult, error) {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivityWithOptions(w.Sync, activity.RegisterOptions{Name: workflows.WorkdaySyncActivity})
	val, err := env.ExecuteActivity(workflows.WorkdaySyncActivity, workflows.WorkdaySyncInput{})
	var res workflows.WorkdaySyncResult
	if err == nil {
		err = val.Get(&res)
	}
	return res, err
}

func TestWorkdaySyncOverHTTPS(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		report, err := os.ReadFile("../integrations/hr/testdata/workday/report.json")
		if err != nil {
			t.Fatal(err)
		}
		url, caFile := workdayServer(t, report)
		client, err := hr.NewWorkdayClient(url, isuUser, isuPassword, caFile)
		if err != nil {
			t.Fatal(err)
		}
		var logs bytes.Buffer
		engine := &recordingEngine{}
		w := &activities.Workday{Report: client, Store: db, Intake: &intake.Intake{Store: db, Engine: engine}, Guard: newGuard(t, db, engine),
			Logger: slog.New(slog.NewTextHandler(&logs, nil))}

		// First pull: the two active workers are hired; the leaver was never here.
		res, err := runSync(t, w)
		if err != nil {
			t.Fatal(err)
		}
		if want := (workflows.WorkdaySyncResult{Rows: 3, Hires: 2}); res != want {
			t.Fatalf("first sync = %+v, want %+v", res, want)
		}
		evs := engine.submitted()
		if len(evs) != 2 || evs[0].Employee.ID != "21001" || evs[0].Type != tenure.EventHire ||
			evs[0].Employee.Email != "logan.mcneil@example.com" || evs[0].Employee.StartDate != "2026-01-05" ||
			evs[0].Employee.Department != "Engineering" || evs[0].Employee.ManagerID != "21000" {
			t.Fatalf("handed over %+v", evs)
		}

		// Pulled again before the workflows applied them: nothing new runs.
		res, err = runSync(t, w)
		if err != nil || res.Duplicates != 2 || res.Hires != 0 || len(engine.submitted()) != 2 {
			t.Fatalf("second sync = %+v, %v, %d handed over", res, err, len(engine.submitted()))
		}

		// Once the hires are applied, and with the leaver known to Tenure, the
		// next pull terminates the leaver at the end of their last day.
		ctx := context.Background()
		for _, ev := range evs {
			if err := db.UpsertEmployee(ctx, tenure.Employee{Person: ev.Employee, Status: tenure.PersonActive}); err != nil {
				t.Fatal(err)
			}
		}
		maria := tenure.Person{ID: "21003", Email: "maria.cardoza@example.com", GivenName: "Maria", FamilyName: "Cardoza"}
		if err := db.UpsertEmployee(ctx, tenure.Employee{Person: maria, Status: tenure.PersonActive}); err != nil {
			t.Fatal(err)
		}
		res, err = runSync(t, w)
		if err != nil || res != (workflows.WorkdaySyncResult{Rows: 3, Terminations: 1}) {
			t.Fatalf("third sync = %+v, %v", res, err)
		}
		term := engine.submitted()[2]
		if term.ID != "workday-21003-terminate-2026-03-31" || term.Type != tenure.EventTerminate ||
			!term.EffectiveAt.Equal(time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)) {
			t.Errorf("termination = %+v", term)
		}
		if rec, err := db.GetEvent(ctx, term.ID); err != nil || rec.Status != tenure.EventDispatched {
			t.Errorf("the termination's event record = %+v, %v", rec, err)
		}
		if strings.Contains(logs.String(), isuPassword) {
			t.Error("the password is in the logs")
		}
	})
}

func TestWorkdaySyncRefusals(t *testing.T) {
	db := storetest.SQLite(t)
	url, caFile := workdayServer(t, []byte(`{"Report_Entry":[]}`))
	engine := &recordingEngine{}
	in := &intake.Intake{Store: db, Engine: engine}

	// A wrong password is not retried: someone must fix it.
	client, err := hr.NewWorkdayClient(url, isuUser, "wrong-password", caFile)
	if err != nil {
		t.Fatal(err)
	}
	_, err = runSync(t, &activities.Workday{Report: client, Store: db, Intake: in, Guard: newGuard(t, db, engine)})
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || appErr.Type() != workflows.WorkdayAuthError || !appErr.NonRetryable() {
		t.Fatalf("wrong password: %v, want a non-retryable %s", err, workflows.WorkdayAuthError)
	}
	if strings.Contains(err.Error(), "wrong-password") {
		t.Error("the error carries the password")
	}

	// Without the CA file the test server's certificate is not trusted: TLS is
	// verified, never skipped.
	client, err = hr.NewWorkdayClient(url, isuUser, isuPassword, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.Fetch(context.Background()); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("an untrusted certificate was accepted: %v", err)
	}

	for _, c := range []struct{ url, user, pass string }{
		{strings.Replace(url, "https://", "http://", 1), isuUser, isuPassword},
		{url, "", isuPassword},
		{strings.Replace(url, "https://", "https://u:p@", 1), isuUser, isuPassword},
	} {
		if _, err := hr.NewWorkdayClient(c.url, c.user, c.pass, caFile); tenure.ErrorCode(err) != tenure.EINVALID {
			t.Errorf("NewWorkdayClient(%q, %q) = %v, want EINVALID", c.url, c.user, err)
		}
	}
	if len(engine.submitted()) != 0 {
		t.Error("a refused sync handed events over")
	}
}

// TestWorkdaySyncIsGuarded: a report that marks 12 of 12 active workers as
// leavers (a broken report filter, say) terminates 10 and holds 2; pulled
// again, the held changes stay held.
func TestWorkdaySyncIsGuarded(t *testing.T) {
	db := storetest.SQLite(t)
	ctx := context.Background()
	var entries []string
	for i := range 12 {
		id := fmt.Sprintf("3%04d", i)
		p := tenure.Person{ID: id, Email: "w" + id + "@example.com", GivenName: "W", FamilyName: id}
		if err := db.UpsertEmployee(ctx, tenure.Employee{Person: p, Status: tenure.PersonActive}); err != nil {
			t.Fatal(err)
		}
		entries = append(entries, fmt.Sprintf(`{"Employee_ID":%q,"Legal_First_Name":"W","Legal_Last_Name":%q,"Email_Address":"w%s@example.com",`+
			`"Hire_Date":"2020-01-06-08:00","Termination_Date":"2026-03-31-07:00","Active_Status":"0"}`, id, id, id))
	}
	url, caFile := workdayServer(t, []byte(`{"Report_Entry":[`+strings.Join(entries, ",")+`]}`))
	client, err := hr.NewWorkdayClient(url, isuUser, isuPassword, caFile)
	if err != nil {
		t.Fatal(err)
	}
	engine := &recordingEngine{}
	w := &activities.Workday{Report: client, Store: db, Intake: &intake.Intake{Store: db, Engine: engine}, Guard: newGuard(t, db, engine)}
	res, err := runSync(t, w)
	if err != nil || res.Terminations != 10 || res.Held != 2 || len(engine.submitted()) != 10 {
		t.Fatalf("sync = %+v, %v, %d handed over; want 10 terminations and 2 held", res, err, len(engine.submitted()))
	}
	res, err = runSync(t, w)
	if err != nil || res.Duplicates != 10 || res.Held != 2 || len(engine.submitted()) != 10 {
		t.Fatalf("second sync = %+v, %v", res, err)
	}
	holds, err := db.ListHolds(ctx, tenure.HoldFilter{})
	if err != nil || len(holds) != 1 || holds[0].Source != "workday" || holds[0].People != 2 || holds[0].Events != 2 {
		t.Fatalf("holds = %+v, %v", holds, err)
	}
}
