package main

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/api"
	"github.com/tenure-io/tenure/guard"
	"github.com/tenure-io/tenure/internal/authlimit"
	"github.com/tenure-io/tenure/internal/devserver"
	"github.com/tenure-io/tenure/internal/giveway"
	"github.com/tenure-io/tenure/internal/metrics"
	"github.com/tenure-io/tenure/internal/payloadcodec"
	"github.com/tenure-io/tenure/internal/sandbox"
	"github.com/tenure-io/tenure/policy"
	"github.com/tenure-io/tenure/rollout"
	"github.com/tenure-io/tenure/store"
	"github.com/tenure-io/tenure/worker"
	"github.com/tenure-io/tenure/workflows"
)

// devConfig is what `tenure dev` is told.
type devConfig struct {
	dataDir      string
	httpAddr     string
	temporalPort int
	uiPort       int
	policyPath   string
	logLevel     slog.Level
	logFormat    logFormat
	// metricsToken lets scrapers read /metrics (TENURE_METRICS_TOKEN).
	metricsToken string
	// shutdown bounds the stop on SIGTERM or Ctrl+C; the zero value is the default.
	shutdown shutdownConfig

	// hrWebhookSecret signs HR webhooks; "" means DIR/hr-webhook.secret.
	hrWebhookSecret string
	// bulkAtDefault starts a bulk's people at the default priority, as the
	// bench does to measure what the bulk priority is worth.
	bulkAtDefault bool
}

func runDev(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("dev", "Runs everything in one process: an embedded Temporal server (SQLite in the data dir)\n"+
		"and its UI, the worker, the API and console, and the sandbox SCIM apps. State survives a restart.", stderr)
	var cfg devConfig
	fs.StringVar(&cfg.dataDir, "data-dir", envOr(getenv, "TENURE_DATA_DIR", ".tenure"), "directory for all state (`DIR`); env TENURE_DATA_DIR")
	fs.StringVar(&cfg.httpAddr, "http-addr", envOr(getenv, "TENURE_HTTP_ADDR", "127.0.0.1:8080"), "address of the API, console and sandbox apps; env TENURE_HTTP_ADDR")
	fs.IntVar(&cfg.temporalPort, "temporal-port", 7233, "port of the embedded Temporal server (0 picks one)")
	fs.IntVar(&cfg.uiPort, "ui-port", 8233, "port of the Temporal UI (0 picks one)")
	fs.StringVar(&cfg.policyPath, "policy", getenv("TENURE_POLICY"), "access policy `FILE` (default: the built-in dev policy); env TENURE_POLICY")
	fs.TextVar(&cfg.logLevel, "log-level", logLevel(getenv), "log level: debug, info, warn or error; env TENURE_LOG_LEVEL")
	if err := logFormatFlag(fs, getenv, &cfg.logFormat); err != nil {
		return err
	}
	fs.StringVar(&cfg.hrWebhookSecret, "hr-webhook-secret", getenv("TENURE_HR_WEBHOOK_SECRET"), "secret that signs HR webhooks (default: generated into DIR/hr-webhook.secret); env TENURE_HR_WEBHOOK_SECRET")
	// Nothing balances load across `tenure dev`: it closes its listener at once.
	shutdownFlags(fs, getenv, &cfg.shutdown, true, 0)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("dev takes no arguments, got %q", fs.Args())
	}
	if err := cfg.shutdown.check(); err != nil {
		return err
	}
	var err error
	if cfg.metricsToken, err = scrapeToken(getenv); err != nil {
		return err
	}
	return cfg.shutdown.run(ctx, func() error { return dev(ctx, cfg, getenv, stdout, stderr) })
}

// stack is everything `tenure dev` runs in one process. Tests and `tenure bench`
// start one too.
type stack struct {
	cfg          devConfig
	log          *slog.Logger
	baseURL      string
	adminToken   string
	sandboxToken string
	// policy is the policy file the stack started with; live the version in
	// force, as the worker runs it, and rollouts how versions are deployed.
	policy   *policy.Policy
	live     *worker.Live
	rollouts *rollout.Service
	store    *store.DB
	sandbox  *sandbox.Sandbox
	temporal *devserver.Server
	client   client.Client
	engine   *workflows.Engine
	guard    *guard.Guard
	handler  http.Handler
	ln       net.Listener
	closers  []func()
	codec    *payloadcodec.Codec
	// background counts work the API does after answering.
	background sync.WaitGroup
	// auditKey signs leavers' evidence, for the API and the console alike.
	auditKey ed25519.PrivateKey
	// obs is the stack's metrics (served on the API's /metrics) and tracing.
	obs observability
}

// startStack starts every part on the embedded default and binds the HTTP port;
// serve then serves it. Close stops everything, in reverse order.
func startStack(ctx context.Context, cfg devConfig, getenv func(string) string, stderr io.Writer) (_ *stack, err error) {
	s := &stack{cfg: cfg, log: newLogger(stderr, cfg.logLevel, cfg.logFormat)}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	if err := os.MkdirAll(cfg.dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	if s.adminToken, err = secretFile(filepath.Join(cfg.dataDir, "admin.token")); err != nil {
		return nil, fmt.Errorf("admin token: %w", err)
	}
	if s.sandboxToken, err = secretFile(filepath.Join(cfg.dataDir, "sandbox.token")); err != nil {
		return nil, fmt.Errorf("sandbox token: %w", err)
	}
	if s.policy, err = loadPolicy(cfg.policyPath, getenv); err != nil {
		return nil, err
	}
	// Bind the HTTP port first: the sandbox apps' URLs, which the policy and the
	// worker need, are on it.
	if s.ln, err = listen(cfg.httpAddr, "HTTP"); err != nil {
		return nil, err
	}
	s.closers = append(s.closers, func() { s.ln.Close() })
	s.baseURL = "http://" + dialable(s.ln.Addr())
	s.policy = s.policy.WithSandbox(s.baseURL, s.sandboxToken)

	if s.store, err = openStore(ctx, "sqlite:"+filepath.Join(cfg.dataDir, "tenure.db"), s.log); err != nil {
		return nil, err
	}
	s.closers = append(s.closers, func() { s.store.Close() })
	s.obs.metrics = metrics.New()
	s.obs.metrics.WatchApprovals(func(ctx context.Context) (int, error) {
		return s.store.CountApprovals(ctx, tenure.ApprovalPending)
	})
	s.obs.metrics.WatchHolds(s.store.CountOpenHolds)
	s.obs.metrics.WatchReconcile(s.store.LatestReconcileApps)
	if s.obs.tracing, err = otlpTracing(ctx, getenv, "tenure-dev", s.log); err != nil {
		return nil, err
	}
	s.closers = append(s.closers, s.obs.tracing.close)
	parse := policyRun(getenv, s.baseURL, s.sandboxToken)
	// The sandbox serves the file's apps and those of the version in force
	// (none, for a policy of real apps only), and each version that comes
	// into force adds its own.
	s.live = worker.NewLive(s.store, parse)
	sandboxApps := s.policy.SandboxApps()
	if _, active, err := rollout.NewVersions(s.store, parse).Active(ctx); err == nil {
		sandboxApps = union(sandboxApps, active.SandboxApps())
	}
	s.sandbox, err = sandbox.New(sandbox.Options{Apps: sandboxApps, Token: s.sandboxToken, DataDir: cfg.dataDir, Logger: s.log})
	if err != nil {
		return nil, fmt.Errorf("sandbox apps: %w", err)
	}
	s.closers = append(s.closers, func() { s.sandbox.Close() })
	s.live.OnLoad(func(p *policy.Policy) { serveSandboxApps(s.sandbox, p, s.log) })
	if s.codec, err = payloadCodec(getenv, cfg.dataDir, s.log); err != nil {
		return nil, err
	}
	if s.auditKey, err = auditSigningKey(getenv, cfg.dataDir, s.log); err != nil {
		return nil, err
	}
	s.temporal, err = devserver.Start(ctx, devserver.Options{
		DataDir: cfg.dataDir, Port: cfg.temporalPort, UIPort: cfg.uiPort, Logger: s.log,
		// The UI decodes the encrypted payloads through Tenure, for signed-in IT.
		CodecEndpoint: s.baseURL + codecPrefix,
	})
	if err != nil {
		return nil, err
	}
	s.closers = append(s.closers, func() { s.temporal.Stop() })
	if s.client, err = dialTemporal(ctx, s.temporal.HostPort(), s.temporal.Namespace(), temporalConn{}, s.codec, s.obs, s.log); err != nil {
		return nil, err
	}
	s.closers = append(s.closers, s.client.Close)
	s.engine = &workflows.Engine{Client: s.client, UIURL: s.temporal.UIURL(), Namespace: s.temporal.Namespace()}
	key, err := outboundKey(getenv, cfg.dataDir)
	if err != nil {
		return nil, err
	}
	// In dev, subscribers may live on this machine.
	out, err := newOutbound(s.store, s.client, key, true, s.log)
	if err != nil {
		return nil, err
	}
	notes, err := newNotifications(getenv, s.log)
	if err != nil {
		return nil, err
	}
	auditKey, err := auditSigningKey(getenv, cfg.dataDir, s.log)
	if err != nil {
		return nil, err
	}
	if s.guard, err = newGuard(s.store, s.engine, parse, notes, out, s.baseURL, s.log); err != nil {
		return nil, err
	}
	if s.rollouts, err = rollout.New(rollout.Config{Store: s.store, Engine: s.engine, Guard: s.guard, Parse: parse}); err != nil {
		return nil, err
	}
	// --policy FILE (or the built-in policy) is deployed when it differs from
	// the version in force, like any other deploy.
	if err := deployPolicyFile(ctx, s.rollouts, cfg.policyPath, "tenure dev", s.log); err != nil {
		return nil, err
	}
	// One process: the API's locks and the worker's disables hold back both
	// the API's batches and the worker's rollouts.
	way := giveway.New(time.Now)
	stopWorker, err := startWorker(ctx, s.client, s.store, s.live,
		workerExtras{notifier: notes.notifier, publisher: out, runURL: s.engine.RunURL, auditKey: auditKey, chain: s.store,
			metrics: s.obs.metrics, stopTimeout: cfg.shutdown.budget(), guard: s.guard, rollouts: s.store, engine: s.engine, giveWay: way}, s.log)
	if err != nil {
		return nil, err
	}
	s.closers = append(s.closers, stopWorker)
	hrSecrets, err := devHRSecrets(cfg.dataDir, cfg.hrWebhookSecret)
	if err != nil {
		return nil, err
	}
	stopWorkday, err := startWorkday(ctx, s.client, s.store, s.guard, getenv, s.log, true, cfg.shutdown.budget())
	if err != nil {
		return nil, err
	}
	s.closers = append(s.closers, stopWorkday)
	// Work the API finishes after answering (Slack's interactions) ends with the stack.
	bgCtx, cancelBackground := context.WithCancel(context.WithoutCancel(ctx))
	s.closers = append(s.closers, func() { cancelBackground(); s.background.Wait() })
	// One limiter of failed authentication for every way in (tokens, signatures,
	// SCIM, dev sign-in), so that guessing on one counts on all.
	limiter := authlimit.New(authlimit.DefaultBurst, authlimit.DefaultEvery, nil)
	console, sessionRole, err := devConsole(s, limiter)
	if err != nil {
		return nil, err
	}
	scim, err := scimHandler(s.store, s.engine, s.guard, apiAuth(s.store, s.adminToken), limiter, s.baseURL, s.log)
	if err != nil {
		return nil, err
	}
	codec := s.codec.Handler(codecAccess(apiAuth(s.store, s.adminToken), sessionRole, limiter), s.temporal.UIURL())
	mounts := map[string]http.Handler{codecPrefix + "/": http.StripPrefix(codecPrefix, codec), scimPrefix: scim, "/": console,
		"/sandbox/": sandboxFollowing(s.sandbox, s.rollouts, s.log)}
	s.handler, err = api.NewServer(api.Config{
		Store: s.store, Tokens: s.store, Managers: s.store, Sessions: s.store, Engine: s.engine, BulkEngine: s.bulkEngine(cfg), GiveWay: way, Guard: s.guard, Auth: apiAuth(s.store, s.adminToken), Logger: s.log,
		Mounts:   mounts,
		Policies: s.rollouts,
		// HR systems sign their webhooks with this secret.
		HRWebhookSecrets: hrSecrets,
		Outbound:         out,
		Slack:            notes.app,
		SlackAdmins:      notes.admins,
		Context:          bgCtx,
		Background:       &s.background,
		AuthLimiter:      limiter,
		AuditSigningKey:  s.auditKey,
		Metrics:          s.obs.metrics.Handler(),
		MetricsToken:     cfg.metricsToken,
		// /readyz turns 503 as soon as the signal to stop arrives.
		Draining:   ctx.Done(),
		Reconciler: s.engine,
	})
	if err != nil {
		return nil, err
	}
	s.handler = s.obs.httpHandler(s.handler)
	return s, nil
}

// serve serves the API, console and sandbox apps until ctx ends, and stops
// serving as `tenure api` does. Close then stops the worker, as `tenure
// worker` stops: its calls to the sandbox apps that are still in flight fail,
// and Temporal retries them after the next start.
func (s *stack) serve(ctx context.Context) error {
	return serveHTTP(ctx, newHTTPServer(s.handler), s.ln, s.cfg.shutdown)
}

// Close stops every part, the last started first.
func (s *stack) Close() {
	for i := len(s.closers) - 1; i >= 0; i-- {
		s.closers[i]()
	}
	s.closers = nil
}

func dev(ctx context.Context, cfg devConfig, getenv func(string) string, stdout, stderr io.Writer) error {
	s, err := startStack(ctx, cfg, getenv, stderr)
	if err != nil {
		return err
	}
	defer s.Close()
	fmt.Fprintf(stdout, `Tenure is running (state in %s)
  API and console: %s
  Admin token:     %s   (also in %s)
  Temporal UI:     %s
  Temporal:        %s (namespace %s)
  Sandbox apps:    %s/sandbox/<app>/scim/v2 for %v (token in %s)
  HR webhooks:     %s/webhooks/hr/{generic,bamboohr}, signed with the secret in %s
  Inbound SCIM:    %s/scim/v2 (bearer: the admin token, or an hr token)
Press Ctrl+C to stop.
`, cfg.dataDir, s.baseURL, s.adminToken, filepath.Join(cfg.dataDir, "admin.token"),
		s.temporal.UIURL(), s.temporal.HostPort(), s.temporal.Namespace(),
		s.baseURL, s.sandbox.Apps(), filepath.Join(cfg.dataDir, "sandbox.token"),
		s.baseURL, webhookSecretNote(cfg), s.baseURL)
	err = s.serve(ctx)
	s.log.Info("stopping")
	return err
}

// dialable turns a listener's address into one a client can dial.
func dialable(a net.Addr) string {
	tcp, ok := a.(*net.TCPAddr)
	if !ok || tcp.IP.IsUnspecified() {
		if ok {
			return net.JoinHostPort("127.0.0.1", strconv.Itoa(tcp.Port))
		}
		return a.String()
	}
	return a.String()
}

// codecPrefix is where the Temporal UI's codec endpoint is served.
const codecPrefix = "/codec"

// webhookSecretNote says where the HR webhook secret comes from.
func webhookSecretNote(cfg devConfig) string {
	if cfg.hrWebhookSecret != "" {
		return "--hr-webhook-secret"
	}
	return filepath.Join(cfg.dataDir, "hr-webhook.secret")
}

// serveSandboxApps starts serving the policy's sandbox apps that the sandbox
// does not serve yet.
func serveSandboxApps(sb *sandbox.Sandbox, p *policy.Policy, log *slog.Logger) {
	for _, app := range p.SandboxApps() {
		if err := sb.AddApp(app); err != nil {
			log.Error("serving a sandbox app", "app", app, "error", err)
		}
	}
}

// sandboxFollowing serves the sandbox apps, adding those of the policy version
// in force as they are first asked for: a deployed policy's new sandbox apps
// are served at once, in whichever process serves the sandbox.
func sandboxFollowing(sb *sandbox.Sandbox, svc *rollout.Service, log *slog.Logger) http.Handler {
	h := sb.Handler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/sandbox/"), "/")
		if !slices.Contains(sb.Apps(), name) {
			if pol, err := svc.ActivePolicy(r.Context()); err == nil {
				serveSandboxApps(sb, pol, log)
			}
		}
		h.ServeHTTP(w, r)
	})
}

// union is a's names, then those of b that a lacks.
func union(a, b []string) []string {
	out := slices.Clone(a)
	for _, n := range b {
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

// bulkEngine is the engine of a batch's or an import's events: at the bulk
// priority unless cfg says otherwise.
func (s *stack) bulkEngine(cfg devConfig) *workflows.Engine {
	if cfg.bulkAtDefault {
		return s.engine
	}
	return s.engine.Bulk()
}
