package devserver_test

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/internal/devserver"
	"github.com/tenure-io/tenure/internal/tlstest"
)

const taskQueue = "devserver-test"

// warnLogger shows what the server and the SDK warn about, so a failing test
// says why.
func warnLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

func startServer(t *testing.T, opts devserver.Options) *devserver.Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	began := time.Now()
	srv, err := devserver.Start(ctx, opts)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Logf("server started in %v at %s, UI %q", time.Since(began).Round(time.Millisecond), srv.HostPort(), srv.UIURL())
	t.Cleanup(func() {
		began := time.Now()
		if err := srv.Stop(); err != nil {
			t.Errorf("Stop: %v", err)
		}
		t.Logf("server stopped in %v", time.Since(began).Round(time.Millisecond))
	})
	return srv
}

func dial(t *testing.T, srv *devserver.Server) client.Client {
	t.Helper()
	c, err := client.Dial(client.Options{
		HostPort:  srv.HostPort(),
		Namespace: srv.Namespace(),
		Logger:    sdklog.NewStructuredLogger(warnLogger()),
	})
	if err != nil {
		t.Fatalf("dial %s: %v", srv.HostPort(), err)
	}
	t.Cleanup(c.Close)
	return c
}

func startWorker(t *testing.T, c client.Client) worker.Worker {
	t.Helper()
	w := worker.New(c, taskQueue, worker.Options{})
	w.RegisterWorkflow(Greet)
	w.RegisterActivityWithOptions(Hello, activity.RegisterOptions{Name: "Hello"})
	w.RegisterWorkflow(AwaitSignal)
	if err := w.Start(); err != nil {
		t.Fatalf("worker: %v", err)
	}
	t.Cleanup(w.Stop)
	return w
}

// Greet is a trivial workflow with one activity, so a run exercises history,
// matching and the worker.
func Greet(ctx workflow.Context, name string) (string, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 10 * time.Second})
	var greeting string
	err := workflow.ExecuteActivity(ctx, "Hello", name).Get(ctx, &greeting)
	return greeting, err
}

// Hello is Greet's activity.
func Hello(_ context.Context, name string) (string, error) { return "hello, " + name, nil }

// AwaitSignal waits durably for one "go" signal and returns what it carried.
func AwaitSignal(ctx workflow.Context) (string, error) {
	var v string
	workflow.GetSignalChannel(ctx, "go").Receive(ctx, &v)
	return "got " + v, nil
}

func TestStartRunsWorkflowsAndServesUI(t *testing.T) {
	srv := startServer(t, devserver.Options{DataDir: t.TempDir(), Logger: warnLogger()})
	c := dial(t, srv)
	startWorker(t, c)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	const id = "employee/E-100"
	began := time.Now()
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: taskQueue}, Greet, "Ada")
	if err != nil {
		t.Fatalf("start workflow: %v", err)
	}
	var got, body string
	if err := run.Get(ctx, &got); err != nil {
		t.Fatalf("workflow result: %v", err)
	}
	t.Logf("first workflow ran in %v", time.Since(began).Round(time.Millisecond))
	if got != "hello, Ada" {
		t.Fatalf("workflow returned %q, want %q", got, "hello, Ada")
	}

	if srv.UIURL() == "" {
		t.Fatal("UIURL is empty with the UI enabled")
	}
	wantRunURL := srv.UIURL() + "/namespaces/default/workflows/employee%2FE-100"
	if srv.RunURL(id) != wantRunURL {
		t.Errorf("RunURL(%q) = %q, want %q", id, srv.RunURL(id), wantRunURL)
	}
	for _, u := range []string{srv.UIURL(), srv.RunURL(id)} {
		status, ctype, body := get(t, u)
		if status != http.StatusOK || !strings.HasPrefix(ctype, "text/html") || !strings.Contains(strings.ToLower(body), "<html") {
			t.Errorf("GET %s: status %d, content type %q, body starts %.80q; want 200 HTML", u, status, ctype, body)
		}
	}

	// The UI lists runs through its API, proxied to this server: that is what IT
	// sees on the UI's workflow list. Visibility is written asynchronously.
	list := srv.UIURL() + "/api/v1/namespaces/default/workflows?query=" + url.QueryEscape(`WorkflowId="`+id+`"`)
	var status int
	defer func() {
		if t.Failed() {
			t.Logf("last UI API answer: %d %.300s", status, body)
		}
	}()
	waitFor(t, ctx, "the UI API lists the completed run", func() bool {
		status, _, body = get(t, list)
		return status == http.StatusOK && strings.Contains(body, "WORKFLOW_EXECUTION_STATUS_COMPLETED")
	})
}

func TestRestartKeepsWorkflows(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()

	first, err := devserver.Start(ctx, devserver.Options{DataDir: dir, UIPort: -1, Logger: warnLogger()})
	if err != nil {
		t.Fatalf("first Start: %v", err)
	}
	if first.UIURL() != "" || first.RunURL("x") != "" {
		t.Errorf("UI disabled, but UIURL %q and RunURL %q", first.UIURL(), first.RunURL("x"))
	}
	_, port, _ := net.SplitHostPort(first.HostPort())

	c1, err := client.Dial(client.Options{HostPort: first.HostPort(), Logger: sdklog.NewStructuredLogger(warnLogger())})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	w1 := worker.New(c1, taskQueue, worker.Options{})
	w1.RegisterWorkflow(AwaitSignal)
	if err := w1.Start(); err != nil {
		t.Fatalf("worker: %v", err)
	}
	const id = "employee/E-200"
	run, err := c1.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: taskQueue}, AwaitSignal)
	if err != nil {
		t.Fatalf("start workflow: %v", err)
	}
	// Wait until the worker has run the first task, so the restart interrupts a
	// workflow that is really blocked on its signal.
	waitFor(t, ctx, "the workflow waits for its signal", func() bool {
		d, err := c1.DescribeWorkflowExecution(ctx, id, "")
		return err == nil && d.GetWorkflowExecutionInfo().GetHistoryLength() >= 4 && d.GetPendingWorkflowTask() == nil
	})
	w1.Stop()
	c1.Close()
	dbFile := filepath.Join(dir, devserver.DBFile)
	if n, ok := openCount(dbFile); ok && n == 0 {
		t.Fatalf("no descriptor on %s while the server runs: the release check below would prove nothing", dbFile)
	}
	if err := first.Stop(); err != nil {
		t.Fatalf("first Stop: %v", err)
	}
	if err := first.Stop(); err != nil {
		t.Fatalf("second Stop of the same server: %v", err)
	}
	if n, ok := openCount(dbFile); ok && n > 0 {
		t.Errorf("after Stop the process still holds %d descriptors on the SQLite file", n)
	}

	p, _ := strconv.Atoi(port)
	second := startServer(t, devserver.Options{DataDir: dir, Port: p, UIPort: -1, Logger: warnLogger()})
	if second.HostPort() != first.HostPort() {
		t.Errorf("restarted on %s, want %s", second.HostPort(), first.HostPort())
	}
	c2 := dial(t, second)
	d, err := c2.DescribeWorkflowExecution(ctx, id, "")
	if err != nil {
		t.Fatalf("the workflow is gone after the restart: %v", err)
	}
	if st := d.GetWorkflowExecutionInfo().GetStatus(); st != enums.WORKFLOW_EXECUTION_STATUS_RUNNING {
		t.Fatalf("after the restart the workflow is %v, want running", st)
	}
	startWorker(t, c2)
	if err := c2.SignalWorkflow(ctx, id, run.GetRunID(), "go", "ahead"); err != nil {
		t.Fatalf("signal after restart: %v", err)
	}
	var got string
	if err := c2.GetWorkflow(ctx, id, run.GetRunID()).Get(ctx, &got); err != nil {
		t.Fatalf("result after restart: %v", err)
	}
	if got != "got ahead" {
		t.Fatalf("workflow returned %q, want %q", got, "got ahead")
	}
}

func TestTakenPortIsAnError(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	taken := l.Addr().(*net.TCPAddr).Port

	for _, opts := range []devserver.Options{
		{DataDir: t.TempDir(), Port: taken, UIPort: -1},
		{DataDir: t.TempDir(), UIPort: taken},
	} {
		srv, err := devserver.Start(context.Background(), opts)
		if err == nil {
			_ = srv.Stop()
			t.Fatalf("Start with port %d taken (%+v) succeeded", taken, opts)
		}
		if !strings.Contains(err.Error(), strconv.Itoa(taken)) || !strings.Contains(err.Error(), "already in use") {
			t.Errorf("error %q does not say that port %d is in use", err, taken)
		}
		if code := tenure.ErrorCode(err); code != tenure.ECONFLICT {
			t.Errorf("error code %q, want %q", code, tenure.ECONFLICT)
		}
	}

	// The failed Start left the port to its owner.
	if _, err := net.Listen("tcp", l.Addr().String()); err == nil {
		t.Errorf("port %d was released by a failed Start", taken)
	}
}

func TestInvalidOptions(t *testing.T) {
	_, err := devserver.Start(context.Background(), devserver.Options{Port: 70000})
	var e *tenure.Error
	if !errors.As(err, &e) || e.Code != tenure.EINVALID || len(e.Fields) != 2 {
		t.Fatalf("Start with no data dir and port 70000: %v, want EINVALID naming data_dir and port", err)
	}
}

// openCount counts this process's open descriptors on path, from /proc; ok is
// false where there is no /proc to read.
func openCount(path string) (n int, ok bool) {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return 0, false
	}
	for _, e := range entries {
		if target, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil && target == path {
			n++
		}
	}
	return n, true
}

func get(t *testing.T, u string) (int, string, string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
}

func waitFor(t *testing.T, ctx context.Context, what string, ok func() bool) {
	t.Helper()
	for !ok() {
		select {
		case <-ctx.Done():
			t.Fatalf("%s: not before the deadline", what)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// BenchmarkStart measures Start, with the UI, on a new data dir (schema set-up
// included) and on an existing one (a `tenure dev` restart).
func BenchmarkStart(b *testing.B) {
	start := func(b *testing.B, dir string) {
		b.StartTimer()
		srv, err := devserver.Start(context.Background(), devserver.Options{DataDir: dir})
		b.StopTimer()
		if err != nil {
			b.Fatal(err)
		}
		if err := srv.Stop(); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("new", func(b *testing.B) {
		b.StopTimer()
		for range b.N {
			start(b, b.TempDir())
		}
	})
	b.Run("existing", func(b *testing.B) {
		b.StopTimer()
		dir := b.TempDir()
		start(b, dir)
		b.ResetTimer()
		b.StopTimer()
		for range b.N {
			start(b, dir)
		}
	})
}

func TestTLSFrontend(t *testing.T) {
	ca := tlstest.NewCA(t, "devserver test CA")
	serverCert := ca.Server(t, "127.0.0.1", "temporal.test")
	workerCert, ownCert := ca.Client(t, "tenure-worker"), ca.Client(t, "devserver")
	seen := &headers{byMethod: map[string][]string{}}
	srv := startServer(t, devserver.Options{
		DataDir: t.TempDir(), UIPort: -1, Logger: warnLogger(),
		TLS: &tls.Config{
			Certificates: []tls.Certificate{serverCert.TLS},
			ClientAuth:   tls.RequireAndVerifyClientCert,
			ClientCAs:    ca.Pool(),
			MinVersion:   tls.VersionTLS12,
		},
		ClientTLS:    &tls.Config{RootCAs: ca.Pool(), Certificates: []tls.Certificate{ownCert.TLS}},
		Interceptors: []grpc.UnaryServerInterceptor{seen.record},
	})

	dialWith := func(tlsCfg *tls.Config, creds client.Credentials) (client.Client, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return client.DialContext(ctx, client.Options{
			HostPort: srv.HostPort(), Namespace: srv.Namespace(),
			Logger:            sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler)),
			ConnectionOptions: client.ConnectionOptions{TLS: tlsCfg},
			Credentials:       creds,
		})
	}

	// With the CA and a client certificate, and an API key on top, workflows run.
	c, err := dialWith(&tls.Config{RootCAs: ca.Pool(), Certificates: []tls.Certificate{workerCert.TLS}, ServerName: "temporal.test"},
		client.NewAPIKeyStaticCredentials("key-for-the-test"))
	if err != nil {
		t.Fatalf("dial with the CA and a client certificate: %v", err)
	}
	defer c.Close()
	startWorker(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "employee/E-tls", TaskQueue: taskQueue}, Greet, "Ada")
	if err != nil {
		t.Fatalf("start workflow over TLS: %v", err)
	}
	var got string
	if err := run.Get(ctx, &got); err != nil || got != "hello, Ada" {
		t.Fatalf("workflow over TLS: %q, %v", got, err)
	}
	// The key reached the frontend as the SDK sends it.
	if auth := seen.get("/temporal.api.workflowservice.v1.WorkflowService/StartWorkflowExecution"); !slices.Equal(auth, []string{"Bearer key-for-the-test"}) {
		t.Errorf("authorization on StartWorkflowExecution = %q, want [\"Bearer key-for-the-test\"]", auth)
	}

	for _, tc := range []struct {
		name string
		tls  *tls.Config
		want string
	}{
		{"plain text", nil, ""},
		// Under TLS 1.3 the server refuses the missing certificate after the
		// client's handshake is done: the client sees the alert or a closed pipe.
		{"no client certificate", &tls.Config{RootCAs: ca.Pool()}, ""},
		{"an unknown CA", &tls.Config{RootCAs: tlstest.NewCA(t, "another CA").Pool(), Certificates: []tls.Certificate{workerCert.TLS}}, "certificate signed by unknown authority"},
		{"another server name", &tls.Config{RootCAs: ca.Pool(), Certificates: []tls.Certificate{workerCert.TLS}, ServerName: "other.test"}, "other.test"},
	} {
		c, err := dialWith(tc.tls, nil)
		if err == nil {
			c.Close()
			t.Errorf("dial with %s: connected, want an error", tc.name)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("dial with %s: %v, want it to mention %q", tc.name, err, tc.want)
		}
	}
}

func TestTLSOptionsAreChecked(t *testing.T) {
	cfg := &tls.Config{}
	for _, tc := range []struct {
		opts  devserver.Options
		field string
	}{
		{devserver.Options{DataDir: t.TempDir(), TLS: cfg, ClientTLS: cfg}, "ui_port"},
		{devserver.Options{DataDir: t.TempDir(), TLS: cfg, UIPort: -1}, "client_tls"},
		{devserver.Options{DataDir: t.TempDir(), ClientTLS: cfg, UIPort: -1}, "client_tls"},
	} {
		_, err := devserver.Start(context.Background(), tc.opts)
		var e *tenure.Error
		if !errors.As(err, &e) || e.Code != tenure.EINVALID || len(e.Fields) != 1 || e.Fields[0].Field != tc.field {
			t.Errorf("Start(%+v): %v, want EINVALID naming %s", tc.opts, err, tc.field)
		}
	}
}

// headers records the authorization metadata of each frontend call.
type headers struct {
	mu       sync.Mutex
	byMethod map[string][]string
}

func (h *headers) record(ctx context.Context, req any, info *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	h.mu.Lock()
	h.byMethod[info.FullMethod] = md.Get("authorization")
	h.mu.Unlock()
	return next(ctx, req)
}

func (h *headers) get(method string) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.byMethod[method]
}

// TestVisibilityFile checks where the SQLite state goes: a new data dir keeps
// visibility in a file of its own, in write-ahead-log mode like the main one,
// and a data dir made before that (one temporal.db holding both) keeps its
// layout; in both, closed runs are listed.
func TestVisibilityFile(t *testing.T) {
	listsClosedRun := func(t *testing.T, dir string) {
		t.Helper()
		srv := startServer(t, devserver.Options{DataDir: dir, UIPort: -1, Logger: warnLogger()})
		c := dial(t, srv)
		startWorker(t, c)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		id := "visibility-" + filepath.Base(dir)
		run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: taskQueue}, Greet, "Ada")
		if err != nil {
			t.Fatalf("start workflow: %v", err)
		}
		if err := run.Get(ctx, nil); err != nil {
			t.Fatalf("workflow result: %v", err)
		}
		waitFor(t, ctx, "the run is listed as closed", func() bool {
			n, err := c.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{
				Query: `WorkflowId="` + id + `" AND ExecutionStatus="Completed"`})
			return err == nil && n.GetCount() == 1
		})
		if _, err := os.Stat(filepath.Join(dir, devserver.DBFile+"-wal")); err != nil {
			t.Errorf("no write-ahead log beside %s while the server runs: %v", devserver.DBFile, err)
		}
	}

	fresh := t.TempDir()
	listsClosedRun(t, fresh)
	if _, err := os.Stat(filepath.Join(fresh, devserver.VisibilityFile)); err != nil {
		t.Errorf("a new data dir has no %s: %v", devserver.VisibilityFile, err)
	}

	old := t.TempDir()
	first, err := devserver.Start(context.Background(), devserver.Options{DataDir: old, UIPort: -1, Logger: warnLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := first.Stop(); err != nil {
		t.Fatal(err)
	}
	// As a data dir made before the visibility file existed.
	if err := os.Remove(filepath.Join(old, devserver.VisibilityFile)); err != nil {
		t.Fatal(err)
	}
	listsClosedRun(t, old)
	if _, err := os.Stat(filepath.Join(old, devserver.VisibilityFile)); !os.IsNotExist(err) {
		t.Errorf("an old data dir gained %s (err %v): its runs so far would vanish from the lists", devserver.VisibilityFile, err)
	}
}
