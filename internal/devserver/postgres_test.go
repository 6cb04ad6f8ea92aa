package devserver_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/internal/devserver"
)

// defaultPostgresURL is the server the PostgreSQL tests create their databases
// on when TENURE_TEST_DATABASE_URL is unset.
const defaultPostgresURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// postgresDB returns the URL of a database name on the test server that does
// not exist yet, for Start to create, and drops it and its visibility database
// when the test ends. It skips the test when PostgreSQL is unreachable, unless
// TENURE_REQUIRE_POSTGRES is set.
func postgresDB(t *testing.T) (dbURL string, admin *pgx.Conn) {
	t.Helper()
	raw := os.Getenv("TENURE_TEST_DATABASE_URL")
	if raw == "" {
		raw = defaultPostgresURL
	}
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal("TENURE_TEST_DATABASE_URL is not a URL")
	}
	q := u.Query()
	q.Set("connect_timeout", "5")
	u.RawQuery = q.Encode()
	ctx := context.Background()
	admin, err = pgx.Connect(ctx, u.String())
	if err != nil {
		if os.Getenv("TENURE_REQUIRE_POSTGRES") != "" {
			t.Fatalf("PostgreSQL is required (TENURE_REQUIRE_POSTGRES) but unreachable: %v", err)
		}
		t.Skipf("PostgreSQL unreachable, skipping (set TENURE_REQUIRE_POSTGRES=1 to fail): %v", err)
	}
	b := make([]byte, 4)
	rand.Read(b)
	name := "temporal_topology_" + hex.EncodeToString(b)
	t.Cleanup(func() {
		defer admin.Close(ctx)
		for _, db := range []string{name, name + "_visibility"} {
			if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+db+" WITH (FORCE)"); err != nil {
				t.Logf("drop database %s: %v", db, err)
			}
		}
	})
	q.Del("connect_timeout")
	u.RawQuery = q.Encode()
	u.Path = "/" + name
	return u.String(), admin
}

func TestPostgresCreatesItsDatabasesAndSurvivesARestart(t *testing.T) {
	dbURL, _ := postgresDB(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	first, err := devserver.Start(ctx, devserver.Options{PostgresURL: dbURL, UIPort: -1, Logger: warnLogger()})
	if err != nil {
		t.Fatalf("first Start on an empty PostgreSQL: %v", err)
	}
	stopFirst := true
	defer func() {
		if stopFirst {
			_ = first.Stop()
		}
	}()
	u, _ := url.Parse(dbURL)
	name := strings.TrimPrefix(u.Path, "/")
	if got := first.Store(); !strings.Contains(got, "/"+name) || !strings.Contains(got, name+"_visibility") {
		t.Errorf("Store() = %q, want the database %s and %s_visibility", got, name, name)
	}
	// Both databases carry the newest schema the server's own tool records.
	for _, db := range []string{name, name + "_visibility"} {
		if v := schemaVersion(t, u, db); v == "" || v == "0.0" {
			t.Errorf("database %s: schema version %q, want the embedded schema's newest", db, v)
		}
	}

	c1 := dial(t, first)
	d, err := c1.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: "default"})
	if err != nil {
		t.Fatalf("describe namespace: %v", err)
	}
	if d.GetConfig().GetWorkflowExecutionRetentionTtl().AsDuration() != 7*24*time.Hour {
		t.Errorf("retention %v, want 7 days", d.GetConfig().GetWorkflowExecutionRetentionTtl().AsDuration())
	}
	w1 := startWorker(t, c1)
	run, err := c1.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "employee/E-300", TaskQueue: taskQueue}, Greet, "Grace")
	if err != nil {
		t.Fatalf("start workflow: %v", err)
	}
	var got string
	if err := run.Get(ctx, &got); err != nil || got != "hello, Grace" {
		t.Fatalf("workflow returned %q, %v; want %q", got, err, "hello, Grace")
	}
	const waiting = "employee/E-301"
	wait, err := c1.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: waiting, TaskQueue: taskQueue}, AwaitSignal)
	if err != nil {
		t.Fatalf("start workflow: %v", err)
	}
	waitFor(t, ctx, "the workflow waits for its signal", func() bool {
		d, err := c1.DescribeWorkflowExecution(ctx, waiting, "")
		return err == nil && d.GetWorkflowExecutionInfo().GetHistoryLength() >= 4 && d.GetPendingWorkflowTask() == nil
	})
	w1.Stop()
	c1.Close()
	stopFirst = false
	if err := first.Stop(); err != nil {
		t.Fatalf("first Stop: %v", err)
	}

	// The same databases again: set-up finds everything in place and changes nothing.
	second := startServer(t, devserver.Options{PostgresURL: dbURL, UIPort: -1, Logger: warnLogger()})
	c2 := dial(t, second)
	desc, err := c2.DescribeWorkflowExecution(ctx, waiting, "")
	if err != nil {
		t.Fatalf("the workflow is gone after the restart: %v", err)
	}
	if st := desc.GetWorkflowExecutionInfo().GetStatus(); st != enums.WORKFLOW_EXECUTION_STATUS_RUNNING {
		t.Fatalf("after the restart the workflow is %v, want running", st)
	}
	startWorker(t, c2)
	if err := c2.SignalWorkflow(ctx, waiting, wait.GetRunID(), "go", "on"); err != nil {
		t.Fatalf("signal after restart: %v", err)
	}
	if err := c2.GetWorkflow(ctx, waiting, wait.GetRunID()).Get(ctx, &got); err != nil || got != "got on" {
		t.Fatalf("workflow returned %q, %v after the restart; want %q", got, err, "got on")
	}
	// Visibility lives in its own database and lists both runs as completed.
	waitFor(t, ctx, "visibility lists both completed runs", func() bool {
		list, err := c2.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Query: `ExecutionStatus = "Completed" AND WorkflowId STARTS_WITH "employee/E-30"`,
		})
		return err == nil && len(list.GetExecutions()) == 2
	})
	var shards int
	if err := connectTo(t, u, name).QueryRow(ctx, "SELECT count(*) FROM shards").Scan(&shards); err != nil || shards != 4 {
		t.Errorf("the history has %d shards (%v), want 4", shards, err)
	}
	var rows int
	if err := connectTo(t, u, name+"_visibility").QueryRow(ctx,
		"SELECT count(*) FROM executions_visibility WHERE workflow_id LIKE 'employee/E-30%'").Scan(&rows); err != nil || rows != 2 {
		t.Errorf("executions_visibility in %s_visibility holds %d rows (%v), want 2", name, rows, err)
	}
}

// A role that may not create databases uses the ones made for it.
func TestPostgresUsesDatabasesMadeForIt(t *testing.T) {
	dbURL, admin := postgresDB(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	u, _ := url.Parse(dbURL)
	name := strings.TrimPrefix(u.Path, "/")
	role := name + "_role"
	for _, stmt := range []string{
		"CREATE ROLE " + role + " LOGIN NOCREATEDB",
		"CREATE DATABASE " + name + " OWNER " + role,
		"CREATE DATABASE " + name + "_visibility OWNER " + role,
	} {
		if _, err := admin.Exec(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	// Registered after postgresDB's clean-up, so it runs first: the server is
	// stopped by then, and the role is dropped with its databases gone.
	t.Cleanup(func() {
		for _, db := range []string{name, name + "_visibility"} {
			_, _ = admin.Exec(context.Background(), "DROP DATABASE IF EXISTS "+db+" WITH (FORCE)")
		}
		if _, err := admin.Exec(context.Background(), "DROP ROLE IF EXISTS "+role); err != nil {
			t.Logf("drop role %s: %v", role, err)
		}
	})
	u.User = url.User(role)
	srv := startServer(t, devserver.Options{PostgresURL: u.String(), UIPort: -1, Logger: warnLogger()})
	c := dial(t, srv)
	if _, err := c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: "default"}); err != nil {
		t.Fatalf("describe namespace: %v", err)
	}
}

func TestPostgresURLIsChecked(t *testing.T) {
	for _, bad := range []string{
		"mysql://root@127.0.0.1/temporal",
		"postgres://127.0.0.1:5432/temporal",
		"postgres://postgres@/temporal",
		"postgres://postgres@127.0.0.1:5432/",
		"postgres://postgres@127.0.0.1:5432/Temporal",
		"postgres://postgres@127.0.0.1:5432/temporal;drop",
		"postgres://postgres@127.0.0.1:5432/temporal?sslmode=disable&sslmode=require",
		"postgres://postgres@127.0.0.1:5432/" + strings.Repeat("t", 53), // no room for _visibility
	} {
		srv, err := devserver.Start(context.Background(), devserver.Options{PostgresURL: bad, UIPort: -1})
		if err == nil {
			_ = srv.Stop()
			t.Fatalf("Start with %q succeeded", bad)
		}
		var e *tenure.Error
		if !errors.As(err, &e) || e.Code != tenure.EINVALID || len(e.Fields) != 1 || e.Fields[0].Field != "postgres_url" {
			t.Errorf("Start with %q: %v, want EINVALID naming postgres_url", bad, err)
		}
	}
}

// schemaVersion is the version the server's schema tool recorded in db.
func schemaVersion(t *testing.T, server *url.URL, db string) string {
	t.Helper()
	var v string
	err := connectTo(t, server, db).QueryRow(context.Background(),
		"SELECT curr_version FROM schema_version WHERE db_name = $1", db).Scan(&v)
	if err != nil {
		t.Errorf("schema version of %s: %v", db, err)
	}
	return v
}

// connectTo connects to db on server, closed when the test ends.
func connectTo(t *testing.T, server *url.URL, db string) *pgx.Conn {
	t.Helper()
	u := *server
	u.Path = "/" + db
	c, err := pgx.Connect(context.Background(), u.String())
	if err != nil {
		t.Fatalf("connect to %s: %v", db, err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}
