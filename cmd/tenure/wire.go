package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/activities"
	"github.com/tenure-io/tenure/api"
	"github.com/tenure-io/tenure/integrations"
	"github.com/tenure-io/tenure/internal/attest"
	"github.com/tenure-io/tenure/internal/authlimit"
	"github.com/tenure-io/tenure/internal/giveway"
	"github.com/tenure-io/tenure/internal/metrics"
	"github.com/tenure-io/tenure/internal/payloadcodec"
	"github.com/tenure-io/tenure/internal/redact"
	"github.com/tenure-io/tenure/policy"
	"github.com/tenure-io/tenure/rollout"
	"github.com/tenure-io/tenure/store"
	"github.com/tenure-io/tenure/worker"
	"github.com/tenure-io/tenure/workflows"
)

// healthInterval is how often the worker checks that each app answers.
const healthInterval = time.Minute

// outageNotice is how long an app's steps fail and retry before IT is told.
const outageNotice = 3 * time.Minute

// newLogger is the process's logger, for every command. Every record goes
// through redact, so an email or a bearer token that an error quotes never
// reaches the log, whichever package logs it; the Temporal SDK's logger and the
// embedded server's are built on it too (sdkLogger, devserver.Options.Logger).
// The format (text, or json for log collectors) is only how records are
// written: redaction wraps either.
func newLogger(w io.Writer, level slog.Level, format logFormat) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewTextHandler(w, opts)
	if format == logJSON {
		h = slog.NewJSONHandler(w, opts)
	}
	return slog.New(redact.New(h))
}

// sdkLogger is the Temporal SDK's logger: log, WARN and above.
func sdkLogger(log *slog.Logger) sdklog.Logger {
	return sdklog.NewStructuredLogger(slog.New(levelFilter{log.Handler(), slog.LevelWarn}))
}

// loadPolicy reads the policy file, or the built-in dev policy when path is empty.
func loadPolicy(path string, getenv func(string) string) (*policy.Policy, error) {
	if path == "" {
		return policy.Parse("dev.yaml (built in)", policy.Dev, worker.Specs, getenv)
	}
	return policy.Load(path, worker.Specs, getenv)
}

// policyCheck checks a policy's text as the API does, to plan and deploy it:
// with the connector kinds this build ships and the process's environment.
// Its sandbox apps have no address here: the API never calls them.
func policyCheck(getenv func(string) string) rollout.Parser {
	return func(file string, data []byte) (*policy.Policy, error) {
		return policy.Parse(file, data, worker.Specs, getenv)
	}
}

// policyRun loads a policy's text as a worker runs it: checked as policyCheck
// does, with its sandbox apps at sandboxURL, authenticated with sandboxToken.
// A policy with sandbox apps is refused where none are served (sandboxURL "").
func policyRun(getenv func(string) string, sandboxURL, sandboxToken string) rollout.Parser {
	check := policyCheck(getenv)
	return func(file string, data []byte) (*policy.Policy, error) {
		p, err := check(file, data)
		if err != nil || len(p.SandboxApps()) == 0 {
			return p, err
		}
		if sandboxURL == "" || sandboxToken == "" {
			return nil, tenure.Errorf(tenure.EINVALID, "%s: the policy has sandbox apps %v, which only tenure dev, or a worker with TENURE_SANDBOX_URL and TENURE_SANDBOX_TOKEN, can reach",
				file, p.SandboxApps())
		}
		return p.WithSandbox(strings.TrimRight(sandboxURL, "/"), sandboxToken), nil
	}
}

// deployPolicyFile deploys the policy file a process starts with when it
// differs from the version in force (rollout.Service.Bootstrap), and says
// what it did.
func deployPolicyFile(ctx context.Context, svc *rollout.Service, path, actor string, log *slog.Logger) error {
	file, data, err := policySource(path)
	if err != nil {
		return err
	}
	outcome, d, err := svc.Bootstrap(ctx, file, data, actor, startupSource)
	if err != nil {
		return fmt.Errorf("deploying the policy file %s: %w", file, err)
	}
	attrs := []any{"file", file, "version", shortVersion(d.Version)}
	switch outcome {
	case rollout.Deployed:
		log.Info("the policy file differs from the version in force: deployed", append(attrs, "rollout_id", d.RolloutID, "status", d.Status)...)
		if d.Status == tenure.RolloutHeld {
			log.Warn("the guard holds the policy file's rollout: confirm it (POST /api/v1/rollouts/{id}/confirm, or tenure policy confirm)",
				"rollout_id", d.RolloutID, "reason", d.Reason)
		}
	case rollout.Kept:
		log.Warn("the policy file is unchanged since it was deployed, and a later deploy is in force: it is not deployed again", attrs...)
	default:
		log.Info("policy "+string(outcome), attrs...)
	}
	return nil
}

// startupSource is how rollouts name a policy file deployed at start.
const startupSource = "file"

// shortVersion is the first 12 characters of a version, as people read it.
func shortVersion(v string) string {
	if len(v) > 12 {
		return v[:12]
	}
	return v
}

// openStore opens and migrates the read model.
func openStore(ctx context.Context, dsn string, log *slog.Logger) (*store.DB, error) {
	db, err := store.Open(ctx, dsn, store.WithLogger(log, 500*time.Millisecond))
	if err != nil {
		return nil, fmt.Errorf("opening the database: %w", err)
	}
	if err := db.Migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("migrating the database: %w", err)
	}
	return db, nil
}

// dialTemporal connects to Temporal, over TLS and with the credentials conn
// holds, with the SDK's logs at WARN and above, and every payload sealed by codec
// when there is one. Failures are sealed too: their message and stack trace go
// into the failure's encoded attributes, because an app's error text can quote a
// person's email. The SDK's metrics and traces go where obs says, for the client
// and the workers built on it.
func dialTemporal(ctx context.Context, hostPort, namespace string, conn temporalConn, codec *payloadcodec.Codec, obs observability, log *slog.Logger) (client.Client, error) {
	opts := client.Options{
		HostPort:          hostPort,
		Namespace:         namespace,
		Logger:            sdkLogger(log),
		ConnectionOptions: client.ConnectionOptions{TLS: conn.tls},
		Credentials:       conn.credentials,
	}
	if onLoopback(hostPort) {
		// The SDK gzips every request and response by default, for the
		// network; to a frontend on this host it only costs CPU: 2% of all of
		// it in `tenure bench --bulk 10000` (docs/performance.md).
		opts.ConnectionOptions.GrpcCompression = &client.GrpcCompressionNone{}
	}
	var err error
	if opts.MetricsHandler, opts.Interceptors, err = obs.temporalOptions(); err != nil {
		return nil, err
	}
	if codec != nil {
		opts.DataConverter = codec.DataConverter()
		opts.FailureConverter = temporal.NewDefaultFailureConverter(temporal.DefaultFailureConverterOptions{
			DataConverter: opts.DataConverter, EncodeCommonAttributes: true,
		})
	}
	c, err := client.DialContext(ctx, opts)
	if err != nil && !conn.secured() {
		// A plain-text dial to a TLS frontend fails with gRPC's words only.
		return nil, fmt.Errorf("connecting to Temporal at %s in plain text (for a TLS frontend set TENURE_TEMPORAL_TLS_CA or TENURE_TEMPORAL_API_KEY): %w", hostPort, err)
	}
	if err != nil && conn.credentials == nil && len(conn.tls.Certificates) == 0 {
		// A frontend that wants a client certificate may just close the
		// connection, so say that none was offered.
		return nil, fmt.Errorf("connecting to Temporal at %s over TLS, with no client certificate (for mutual TLS set TENURE_TEMPORAL_TLS_CERT and TENURE_TEMPORAL_TLS_KEY): %w", hostPort, err)
	}
	if err != nil {
		return nil, fmt.Errorf("connecting to Temporal at %s over TLS: %w", hostPort, err)
	}
	return c, nil
}

// onLoopback reports whether hostPort names this host: localhost or a
// loopback address.
func onLoopback(hostPort string) bool {
	host, _, err := net.SplitHostPort(hostPort)
	if err != nil {
		host = hostPort
	}
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// levelFilter passes records at or above a level to the handler.
type levelFilter struct {
	slog.Handler
	min slog.Level
}

func (f levelFilter) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= f.min && f.Handler.Enabled(ctx, l)
}

// WithAttrs and WithGroup keep the filter on the loggers the SDK derives.
func (f levelFilter) WithAttrs(attrs []slog.Attr) slog.Handler {
	return levelFilter{f.Handler.WithAttrs(attrs), f.min}
}

func (f levelFilter) WithGroup(name string) slog.Handler {
	return levelFilter{f.Handler.WithGroup(name), f.min}
}

// workerExtras are what the worker tells people and subscribers with, and how
// long it lets its calls in flight finish when it stops.
type workerExtras struct {
	notifier  tenure.Notifier
	publisher tenure.Publisher // nil publishes nothing
	runURL    func(workflowID string) string
	// auditKey signs the audit chain's checkpoints; nil leaves them off.
	auditKey ed25519.PrivateKey
	// chain is the audit chain the checkpoints sign: the read model.
	chain tenure.AuditChain
	// metrics counts runs and app calls; nil counts nothing.
	metrics *metrics.Registry
	// stopTimeout is how long activities in flight get to finish (or to
	// heartbeat) once the worker stops polling; 0 means defaultStopTimeout.
	stopTimeout time.Duration
	// rollouts keeps policy versions and rollouts, and engine re-evaluates
	// people for a rollout.
	rollouts activities.RolloutStore
	engine   activities.Reconverger
	// guard is the blast-radius guard that reconcile remediations pass through.
	guard activities.Guard
	// giveWay holds the rollouts the worker hands over back while the kill
	// switch makes its calls; nil gives the worker its own.
	giveWay *giveway.Way
}

// workerDB is the read model as the worker uses it: everything, and the bulk
// lookups by which reconciliation matches a page of accounts at a time.
type workerDB interface {
	tenure.Store
	tenure.PeopleIndex
}

// defaultStopTimeout is the time a stopping worker gives its activities in
// flight when the command sets none: the budget of the default shutdown bound.
const defaultStopTimeout = defaultShutdownTimeout - defaultShutdownTimeout/5

// workerPollers is how many polls each worker keeps open for each kind of
// task. Measured with `tenure bench --bulk 1000` on 2 cores: 8 took the bulk
// from about 34 to 40-49 hires a second, but the locks during it from a p99
// of 350 ms to about 1 s, and 16 to several seconds; the kill switch wins.
const workerPollers = 4

// workerTaskSlots is how many workflow tasks a worker runs at once. A
// joiner's app calls are made in place, inside its workflow task (see
// workflows' callFirstInPlace), so this bounds how much bulk work shares the
// CPU and the read model's writer with a lock's calls. Measured with `tenure
// bench --bulk 1000` on 2 cores: unbounded (the SDK's 1,000), 35 to 48 hires a
// second with the locks' p99 at 3 to 4 s; 16, 44/s; 24 to 48, 52 to 67/s
// with the locks' p99 at 330 to 620 ms.
const workerTaskSlots = 48

// startWorker starts a worker with every workflow and activity (and one per
// app whose calls the policy in force limits, kept in step as versions come
// into force), and the loop that keeps each app's health current and tells IT
// of outages. With an audit signing key it also runs the checkpoint activity,
// on its own queue, and makes sure the hourly schedule exists; the policy's
// reconcile schedules follow the version in force. The policy in force must be
// loadable (a process deploys its policy file first). It returns a function
// that stops them all.
func startWorker(ctx context.Context, c client.Client, db workerDB, live *worker.Live, x workerExtras, log *slog.Logger) (func(), error) {
	outages := activities.NewOutages()
	notify := x.notifier
	if notify == nil {
		notify = activities.LogNotifier{Logger: log}
	}
	acts := &activities.Activities{Store: db, Policies: live, Rollouts: x.rollouts, Engine: x.engine, Logger: log,
		Notifier: notify, Publisher: x.publisher, RunURL: x.runURL, Outages: outages}
	if acts.GiveWay = x.giveWay; acts.GiveWay == nil {
		acts.GiveWay = giveway.New(time.Now)
	}
	if x.metrics != nil {
		acts.Metrics = x.metrics
	}
	stopTimeout := x.stopTimeout
	if stopTimeout <= 0 {
		stopTimeout = defaultStopTimeout
	}
	opts := sdkworker.Options{
		// On shutdown the worker stops polling at once, and calls already in
		// flight to apps get this long to finish, so a restart picks up at once
		// instead of waiting for their timeouts. Past it their context is
		// cancelled, and Temporal retries them on another worker.
		WorkerStopTimeout: stopTimeout,
		// A lock or leaver fans out to every app at once: take all of those calls
		// eagerly with the workflow task rather than through the poller queue.
		MaxEagerActivityReservationsPerWorkflowTask: ptr(64),
		MaxConcurrentActivityTaskPollers:            workerPollers,
		MaxConcurrentWorkflowTaskPollers:            workerPollers,
		MaxConcurrentWorkflowTaskExecutionSize:      workerTaskSlots,
	}
	// The urgent lane (locks, leavers' phase 1) has a worker of its own, so that
	// the kill switch never waits for pollers and slots that bulk work holds.
	main := worker.New(c, acts, opts)
	if x.guard == nil {
		return nil, errors.New("the worker needs the blast-radius guard, which reconciliation's remediations pass through")
	}
	worker.RegisterReconcile(main, &activities.Reconcile{Activities: acts, People: db, Engine: &workflows.Engine{Client: c}, Guard: x.guard})
	workers := []sdkworker.Worker{main, worker.NewUrgent(c, acts, opts)}
	apps := worker.NewAppWorkers(c, acts, opts, func(app string, err error) {
		log.Error("starting the worker of a limited app", "app", app, "error", err)
	})
	// Each version that comes into force: its apps in the read model, a
	// worker on the task queue of each app it limits, and its reconcile
	// schedules.
	hookCtx := context.WithoutCancel(ctx)
	live.OnLoad(func(p *policy.Policy) {
		rctx, cancel := context.WithTimeout(hookCtx, 10*time.Second)
		defer cancel()
		if err := recordApps(rctx, db, p); err != nil {
			log.Error("recording the policy's apps", "error", err)
		}
		apps.Sync(p)
		if err := workflows.EnsureReconcileSchedules(rctx, c, reconcileSchedules(p)); err != nil {
			log.Error("keeping the policy's reconcile schedules", "error", err)
		}
	})
	if _, err := live.Current(ctx); err != nil {
		apps.Stop()
		return nil, fmt.Errorf("loading the policy in force: %w", err)
	}
	if x.auditKey != nil {
		w := sdkworker.New(c, workflows.AuditTaskQueue, sdkworker.Options{MaxConcurrentActivityExecutionSize: 1, WorkerStopTimeout: opts.WorkerStopTimeout})
		cp := &activities.AuditCheckpoints{Chain: x.chain, Key: x.auditKey, Publisher: x.publisher, Logger: log}
		w.RegisterActivityWithOptions(cp.Checkpoint, activity.RegisterOptions{Name: workflows.AuditCheckpointActivity})
		workers = append(workers, w)
	}
	// Each worker waits up to its stop timeout for its calls in flight: stop
	// them together, so that an app queue's calls do not wait behind another's.
	stopAll := func() {
		stops := make([]func(), 0, len(workers)+1)
		for _, w := range workers {
			stops = append(stops, w.Stop)
		}
		stopTogether(append(stops, apps.Stop)...)
	}
	for i, w := range workers {
		if err := w.Start(); err != nil {
			for _, started := range workers[:i] {
				started.Stop()
			}
			apps.Stop()
			return nil, fmt.Errorf("starting the worker: %w", err)
		}
	}
	if x.auditKey == nil {
		log.Info("audit checkpoints are off: no signing key (" + auditKeyEnv + ")")
	} else {
		if err := workflows.EnsureAuditCheckpointSchedule(ctx, c, workflows.AuditCheckpointInterval); err != nil {
			stopAll()
			return nil, err
		}
		log.Info("audit checkpoints scheduled", "schedule_id", workflows.AuditCheckpointScheduleID,
			"every", workflows.AuditCheckpointInterval, "key_id", attest.KeyID(x.auditKey.Public().(ed25519.PublicKey)))
	}
	// The schedules of the version in force: a start that cannot keep them fails.
	if p, _ := live.Snapshot(); p != nil {
		if err := workflows.EnsureReconcileSchedules(ctx, c, reconcileSchedules(p)); err != nil {
			stopAll()
			return nil, err
		}
	}
	hctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		checkHealth(hctx, db, live, outages, notify, log)
	}()
	return func() {
		cancel()
		<-done
		stopAll()
	}, nil
}

// reconcileSchedules are the scheduled reconciliations the policy asks for.
func reconcileSchedules(p *policy.Policy) []workflows.ReconcileSchedule {
	var out []workflows.ReconcileSchedule
	for _, s := range p.ReconcileScopes() {
		out = append(out, workflows.ReconcileSchedule{Apps: s.Apps, Every: s.Every, Mode: s.Mode})
	}
	return out
}

// recordApps writes the policy's apps to the read model.
func recordApps(ctx context.Context, db tenure.Store, p *policy.Policy) error {
	for _, app := range p.Apps() {
		a := tenure.App{Name: app.Name, Connector: app.Connector, BaseURL: app.BaseURL, Health: tenure.HealthUnknown}
		if err := db.UpsertApp(ctx, a); err != nil {
			return fmt.Errorf("recording app %s: %w", app.Name, err)
		}
	}
	return nil
}

// checkHealth asks every app of the policy in force for an account that does
// not exist, now and then: the answer proves the app is reachable and Tenure's
// credentials work. Each round also puts a version that came into force to use,
// so that its apps are checked, and served, even while nobody's access changes.
//
// It also tells IT, once per outage, about each app whose steps have been
// failing and retrying for outageNotice.
func checkHealth(ctx context.Context, db tenure.Store, live *worker.Live, outages *activities.Outages, notify tenure.Notifier, log *slog.Logger) {
	t := time.NewTimer(2 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, err := live.Current(ctx); err != nil && ctx.Err() == nil {
			log.Error("loading the policy in force", "error", err)
		}
		p, conns := live.Snapshot()
		for _, app := range p.Apps() {
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			_, err := conns[app.Name].Lookup(cctx, "tenure-health-check", "tenure-health-check@invalid")
			cancel()
			now := time.Now().UTC()
			a := tenure.App{Name: app.Name, Connector: app.Connector, BaseURL: app.BaseURL, Health: tenure.HealthOK, CheckedAt: &now}
			if err != nil && !integrations.IsNotFound(err) {
				if ctx.Err() != nil {
					return
				}
				a.Health, a.LastError = tenure.HealthFailing, err.Error()
				log.Warn("app health check failed", "app", app.Name, "error", err)
			}
			if err := db.UpsertApp(ctx, a); err != nil && ctx.Err() == nil {
				log.Error("recording app health", "app", app.Name, "error", err)
			}
		}
		for _, o := range outages.Due(time.Now(), outageNotice) {
			log.Error(fmt.Sprintf("%s is failing for %d people; still retrying", o.App, o.People),
				"app", o.App, "people", o.People, "since", o.Since, "error", o.LastError)
			n := tenure.OutageNotice{App: o.App, People: o.People, LastError: o.LastError, Since: o.Since}
			if err := notify.AppFailing(ctx, n); err != nil && ctx.Err() == nil {
				log.Error("telling IT about an outage", "app", o.App, "error", err)
			}
		}
		t.Reset(healthInterval)
	}
}

// listen binds addr, with a clear error when the port is taken.
func listen(addr, what string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("%s address %s is already in use: stop what uses it or pick another", what, addr)
		}
		return nil, fmt.Errorf("%s address %s: %w", what, addr, err)
	}
	return ln, nil
}

// newHTTPServer wraps the API handler with sane timeouts.
func newHTTPServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
	}
}

// apiAuth authenticates the bootstrap admin token and the tokens issued into db
// (tenure token create, or POST /api/v1/tokens).
func apiAuth(db tenure.TokenStore, adminToken string) tenure.Authenticator {
	return api.StoreTokens(db, map[string]tenure.Principal{adminToken: {Name: "admin", Role: tenure.RoleAdmin}})
}

// secretFile returns the secret kept in path, creating a random one the first time,
// readable by its owner only.
func secretFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		if s := strings.TrimSpace(string(b)); s != "" {
			return s, nil
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	buf := make([]byte, 24)
	if _, err := rand.Read(buf); err != nil {
		return "", err
	}
	s := hex.EncodeToString(buf)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", err
	}
	if err := os.WriteFile(path, []byte(s+"\n"), 0o600); err != nil {
		return "", err
	}
	return s, nil
}

func ptr[T any](v T) *T { return &v }

// codecKeyEnv names the variable that holds the key sealing Temporal payloads;
// codecPlaintextEnv, set to true, lets unsealed payloads through while runs
// that began before encryption finish.
const (
	codecKeyEnv       = "TENURE_CODEC_KEY"
	codecPlaintextEnv = "TENURE_CODEC_ALLOW_PLAINTEXT"
)

// payloadCodec seals what Tenure puts in Temporal (people's names and emails)
// with TENURE_CODEC_KEY, or in dev with DIR/codec.key, created on first use.
// Every process of one deployment must share the key. In production without
// it, payloads are not sealed, and the process says so.
func payloadCodec(getenv func(string) string, dataDir string, log *slog.Logger) (*payloadcodec.Codec, error) {
	v := getenv(codecKeyEnv)
	if v == "" && dataDir == "" {
		log.Warn("Temporal payloads are NOT encrypted: set " + codecKeyEnv + " (openssl rand -hex 32, the same on every api and worker)")
		return nil, nil
	}
	if v == "" {
		var err error
		if v, err = keyFile(filepath.Join(dataDir, "codec.key"), payloadcodec.NewKey); err != nil {
			return nil, err
		}
	}
	key, err := payloadcodec.ParseKey(v)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", codecKeyEnv, err)
	}
	var opts []payloadcodec.Option
	switch p := getenv(codecPlaintextEnv); p {
	case "", "false":
	case "true":
		log.Warn(codecPlaintextEnv + " is set: Temporal payloads that are not sealed are accepted; unset it once runs from before encryption have finished")
		opts = append(opts, payloadcodec.AllowPlaintext())
	default:
		return nil, fmt.Errorf("%s must be true or false, not %q", codecPlaintextEnv, p)
	}
	return payloadcodec.New(key, opts...)
}

// codecAccess says who calls the codec endpoint: the role of a bearer token, or
// of a console session. The endpoint lets admins and auditors decode, and only
// admins encode.
// Failed bearer tokens count against limiter, as on the API: a client over its
// allowance is refused without its token being checked.
func codecAccess(auth tenure.Authenticator, sessionRole func(*http.Request) (string, bool), limiter *authlimit.Limiter) payloadcodec.Access {
	return func(r *http.Request) (string, bool) {
		if scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " "); ok && strings.EqualFold(scheme, "Bearer") {
			token = strings.TrimSpace(token)
			keys := []string{authlimit.ClientKey(r), authlimit.CredentialKey("bearer", token)}
			if limiter.Wait(keys...) > 0 {
				return "", false
			}
			p, err := auth.Authenticate(r.Context(), token)
			if tenure.ErrorCode(err) == tenure.EUNAUTHORIZED {
				limiter.Fail(keys...)
			}
			return p.Role, err == nil
		}
		if sessionRole != nil {
			return sessionRole(r)
		}
		return "", false
	}
}

// keyFile returns the key kept in path, writing newKey() there, readable by its
// owner only, the first time.
func keyFile(path string, newKey func() string) (string, error) {
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		v := newKey()
		if err := os.WriteFile(path, []byte(v+"\n"), 0o600); err != nil {
			return "", fmt.Errorf("writing %s: %w", path, err)
		}
		return v, nil
	case err != nil:
		return "", fmt.Errorf("reading %s: %w", path, err)
	}
	return string(b), nil
}

// auditKeyEnv names the variable that holds the Ed25519 key signing the audit
// trail's checkpoints and leavers' evidence.
const auditKeyEnv = "TENURE_AUDIT_SIGNING_KEY"

// auditSigningKey is the key that signs audit checkpoints and evidence:
// TENURE_AUDIT_SIGNING_KEY, or in dev DIR/audit.key, created on first use. In
// production without it, nothing is signed, and the process says so.
func auditSigningKey(getenv func(string) string, dataDir string, log *slog.Logger) (ed25519.PrivateKey, error) {
	v := getenv(auditKeyEnv)
	if v == "" && dataDir == "" {
		log.Warn("audit checkpoints and evidence are NOT signed: set " + auditKeyEnv + " (openssl rand -hex 32)")
		return nil, nil
	}
	if v == "" {
		var err error
		if v, err = keyFile(filepath.Join(dataDir, "audit.key"), attest.NewKey); err != nil {
			return nil, err
		}
	}
	key, err := attest.ParseKey(v)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", auditKeyEnv, err)
	}
	return key, nil
}
