package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/api"
	"github.com/tenure-io/tenure/internal/authlimit"
	"github.com/tenure-io/tenure/internal/metrics"
	"github.com/tenure-io/tenure/internal/payloadcodec"
	"github.com/tenure-io/tenure/internal/sandbox"
	"github.com/tenure-io/tenure/outbound"
	"github.com/tenure-io/tenure/rollout"
	"github.com/tenure-io/tenure/scimserver"
	"github.com/tenure-io/tenure/store"
	"github.com/tenure-io/tenure/web"
	"github.com/tenure-io/tenure/worker"
	"github.com/tenure-io/tenure/workflows"
)

// serverConfig is what `tenure worker` and `tenure api` share.
type serverConfig struct {
	temporalAddress string
	namespace       string
	databaseURL     string
	policyPath      string
	sandboxURL      string
	sandboxToken    string
	logLevel        slog.Level
	temporalAuth    temporalAuth
	temporalConn    temporalConn // loaded from temporalAuth by check
	logFormat       logFormat
}

func serverFlags(fs *flag.FlagSet, getenv func(string) string, cfg *serverConfig) error {
	fs.StringVar(&cfg.temporalAddress, "temporal-address", envOr(getenv, "TENURE_TEMPORAL_ADDRESS", "127.0.0.1:7233"), "Temporal frontend `HOST:PORT`; env TENURE_TEMPORAL_ADDRESS")
	fs.StringVar(&cfg.namespace, "namespace", envOr(getenv, "TENURE_NAMESPACE", "default"), "Temporal namespace; env TENURE_NAMESPACE")
	temporalAuthFlags(fs, getenv, &cfg.temporalAuth)
	fs.StringVar(&cfg.policyPath, "policy", getenv("TENURE_POLICY"), "access policy `FILE` (default: the built-in dev policy); env TENURE_POLICY")
	fs.TextVar(&cfg.logLevel, "log-level", logLevel(getenv), "log level: debug, info, warn or error; env TENURE_LOG_LEVEL")
	cfg.databaseURL = getenv("DATABASE_URL")
	cfg.sandboxToken = getenv("TENURE_SANDBOX_TOKEN")
	return logFormatFlag(fs, getenv, &cfg.logFormat)
}

func (cfg *serverConfig) check() error {
	if cfg.databaseURL == "" {
		return errors.New("DATABASE_URL is not set: it names the PostgreSQL database, e.g. postgres://tenure@db:5432/tenure")
	}
	var err error
	cfg.temporalConn, err = cfg.temporalAuth.load()
	return err
}

func runWorker(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("worker", "Runs Tenure's Temporal worker: the workflows and the calls into every app.\n"+
		"Reads DATABASE_URL for PostgreSQL. Scale it out by running more.\n\n"+temporalAuthHelp, stderr)
	var cfg serverConfig
	if err := serverFlags(fs, getenv, &cfg); err != nil {
		return err
	}
	fs.StringVar(&cfg.sandboxURL, "sandbox-url", getenv("TENURE_SANDBOX_URL"), "base `URL` of the server that serves the policy's sandbox apps (an api started with --sandbox);\nenv TENURE_SANDBOX_URL, with the sandbox apps' token in TENURE_SANDBOX_TOKEN")
	uiURL := fs.String("temporal-ui-url", getenv("TENURE_TEMPORAL_UI_URL"), "Temporal UI base `URL`, for links to runs in notices; env TENURE_TEMPORAL_UI_URL")
	metricsAddr := fs.String("metrics-addr", getenv("TENURE_METRICS_ADDR"), "serve Prometheus metrics at http://`HOST:PORT`/metrics (default: off); bind a pod-internal address,\nand set "+metrics.TokenEnv+" to require a bearer token; env TENURE_METRICS_ADDR")
	var sd shutdownConfig
	shutdownFlags(fs, getenv, &sd, false, 0)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := errors.Join(cfg.check(), sd.check()); err != nil {
		return err
	}
	return sd.run(ctx, func() error { return serveWorker(ctx, cfg, sd, *uiURL, *metricsAddr, getenv, stdout, stderr) })
}

// serveWorker runs `tenure worker` until ctx ends. Then the workers stop polling at
// once, and the activities in flight get the shutdown budget to finish.
func serveWorker(ctx context.Context, cfg serverConfig, sd shutdownConfig, uiURL, metricsAddr string, getenv func(string) string, stdout, stderr io.Writer) error {
	token, err := scrapeToken(getenv)
	if err != nil {
		return err
	}
	log := newLogger(stderr, cfg.logLevel, cfg.logFormat)
	var obs observability
	if metricsAddr != "" {
		obs.metrics = metrics.New()
		stopMetrics, err := serveMetrics(ctx, metricsAddr, obs.metrics, token, log)
		if err != nil {
			return err
		}
		defer stopMetrics()
	}
	if obs.tracing, err = otlpTracing(ctx, getenv, "tenure-worker", log); err != nil {
		return err
	}
	defer obs.tracing.close()
	// The worker runs the policy version in force, with its sandbox apps at
	// TENURE_SANDBOX_URL; the policy file is deployed first when it differs.
	parse := policyRun(getenv, cfg.sandboxURL, cfg.sandboxToken)
	db, err := openStore(ctx, cfg.databaseURL, log)
	if err != nil {
		return err
	}
	defer db.Close()
	svc, err := connect(ctx, cfg, uiURL, db, getenv, obs, log)
	if err != nil {
		return err
	}
	defer svc.close()
	c, notes, out, engine := svc.client, svc.notes, svc.out, svc.engine
	// The worker's guard stands in front of the Workday pull, reconciliation's
	// remediations and the policy file deployed at start.
	g, err := newGuard(db, engine, parse, notes, out, getenv("TENURE_PUBLIC_URL"), log)
	if err != nil {
		return err
	}
	rollouts, err := rollout.New(rollout.Config{Store: db, Engine: engine, Guard: g, Parse: parse})
	if err != nil {
		return err
	}
	if err := deployPolicyFile(ctx, rollouts, cfg.policyPath, "tenure worker", log); err != nil {
		return err
	}
	x := workerExtras{notifier: notes.notifier, runURL: engine.RunURL, chain: db, metrics: obs.metrics, stopTimeout: sd.budget(),
		rollouts: db, engine: engine}
	if x.auditKey, err = auditSigningKey(getenv, "", log); err != nil {
		return err
	}
	if out != nil {
		x.publisher = out
	}
	x.guard = g
	stop, err := startWorker(ctx, c, db, worker.NewLive(db, parse), x, log)
	if err != nil {
		return err
	}
	stopWorkday, err := startWorkday(ctx, c, db, g, getenv, log, false, sd.budget())
	if err != nil {
		stop()
		return err
	}
	fmt.Fprintf(stdout, "Tenure worker polling task queue %q on %s (namespace %s)\n", workflows.TaskQueue, cfg.temporalAddress, cfg.namespace)
	<-ctx.Done()
	log.Info("stopping: no new work is taken; activities in flight get time to finish", "within", sd.budget())
	stopTogether(stop, stopWorkday)
	log.Info("stopped")
	return nil
}

// apiConfig is what `tenure api` is told.
type apiConfig struct {
	serverConfig
	addr, uiURL, dataDir, publicURL string
	sandbox                         bool
	adminToken                      string
	hrSecrets                       []string
	shutdown                        shutdownConfig
	// scraperToken lets scrapers read /metrics (TENURE_METRICS_TOKEN).
	scraperToken string
}

func runAPI(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("api", "Serves Tenure's API and console. Reads DATABASE_URL for PostgreSQL and\n"+
		"TENURE_ADMIN_TOKEN for the bootstrap admin bearer token, needed until an admin token\n"+
		"is issued (tenure token create --role admin). Scale it out behind a load balancer.\n\n"+temporalAuthHelp, stderr)
	var cfg apiConfig
	if err := serverFlags(fs, getenv, &cfg.serverConfig); err != nil {
		return err
	}
	fs.StringVar(&cfg.addr, "http-addr", envOr(getenv, "TENURE_HTTP_ADDR", ":8080"), "address to listen on; env TENURE_HTTP_ADDR")
	fs.StringVar(&cfg.uiURL, "temporal-ui-url", getenv("TENURE_TEMPORAL_UI_URL"), "Temporal UI base `URL`, for links to runs; env TENURE_TEMPORAL_UI_URL")
	fs.BoolVar(&cfg.sandbox, "sandbox", getenv("TENURE_SANDBOX") == "true", "also serve the policy's sandbox apps, for demos, with the token in TENURE_SANDBOX_TOKEN; env TENURE_SANDBOX=true")
	fs.StringVar(&cfg.dataDir, "data-dir", envOr(getenv, "TENURE_DATA_DIR", ""), "where the sandbox apps keep state (\"\" keeps it in memory); env TENURE_DATA_DIR")
	fs.StringVar(&cfg.publicURL, "public-url", getenv("TENURE_PUBLIC_URL"), "the `URL` clients reach this API at, such as https://tenure.example.com, for SCIM's\nresource locations (default: host-relative ones); env TENURE_PUBLIC_URL")
	shutdownFlags(fs, getenv, &cfg.shutdown, true, defaultShutdownDelay)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := errors.Join(cfg.check(), cfg.shutdown.check()); err != nil {
		return err
	}
	if err := scimserver.CheckPublicURL(cfg.publicURL); err != nil {
		return fmt.Errorf("TENURE_PUBLIC_URL %w", err)
	}
	cfg.adminToken = getenv("TENURE_ADMIN_TOKEN")
	if cfg.adminToken != "" && len(cfg.adminToken) < 16 {
		return errors.New("TENURE_ADMIN_TOKEN must be a secret of at least 16 characters (or unset, once an admin token is issued)")
	}
	var err error
	if cfg.hrSecrets, err = prodHRSecrets(getenv); err != nil {
		return err
	}
	if cfg.scraperToken, err = scrapeToken(getenv); err != nil {
		return err
	}
	return cfg.shutdown.run(ctx, func() error { return serveAPI(ctx, cfg, getenv, stdout, stderr) })
}

// serveAPI serves `tenure api` until ctx ends, then stops as serveHTTP says.
func serveAPI(ctx context.Context, cfg apiConfig, getenv func(string) string, stdout, stderr io.Writer) error {
	adminToken := cfg.adminToken
	log := newLogger(stderr, cfg.logLevel, cfg.logFormat)
	ln, err := listen(cfg.addr, "HTTP")
	if err != nil {
		return err
	}
	defer ln.Close()
	db, err := openStore(ctx, cfg.databaseURL, log)
	if err != nil {
		return err
	}
	defer db.Close()
	if adminToken == "" {
		if err := needAdminToken(ctx, db, time.Now()); err != nil {
			return err
		}
		log.Info("TENURE_ADMIN_TOKEN is not set: only tokens issued into the database authenticate")
	}
	if cfg.publicURL == "" {
		log.Info("TENURE_PUBLIC_URL is not set: SCIM resource locations are host-relative (/scim/v2/Users/<id>)")
	}
	mounts := map[string]http.Handler{}
	// The API's own metrics (its Temporal client's, the approvals waiting) on
	// /metrics; runs and app calls are the worker's, on its --metrics-addr.
	obs := observability{metrics: metrics.New()}
	obs.metrics.WatchApprovals(func(ctx context.Context) (int, error) {
		return db.CountApprovals(ctx, tenure.ApprovalPending)
	})
	obs.metrics.WatchHolds(db.CountOpenHolds)
	obs.metrics.WatchReconcile(db.LatestReconcileApps)
	if obs.tracing, err = otlpTracing(ctx, getenv, "tenure-api", log); err != nil {
		return err
	}
	defer obs.tracing.close()
	svc, err := connect(ctx, cfg.serverConfig, cfg.uiURL, db, getenv, obs, log)
	if err != nil {
		return err
	}
	defer svc.close()
	codec, notes, out, engine := svc.codec, svc.notes, svc.out, svc.engine
	// The API checks, plans and deploys policies as the workers load them,
	// and deploys TENURE_POLICY, when set, as the workers do. The policy in
	// force sets the blast-radius guard's threshold; the guard stands in front
	// of every bulk path this API serves, policy deploys included.
	parse := policyCheck(getenv)
	g, err := newGuard(db, engine, parse, notes, out, cfg.publicURL, log)
	if err != nil {
		return err
	}
	rollouts, err := rollout.New(rollout.Config{Store: db, Engine: engine, Guard: g, Parse: parse})
	if err != nil {
		return err
	}
	if cfg.policyPath != "" {
		if err := deployPolicyFile(ctx, rollouts, cfg.policyPath, "tenure api", log); err != nil {
			return err
		}
	}
	if cfg.sandbox {
		if cfg.sandboxToken == "" {
			return errors.New("--sandbox needs TENURE_SANDBOX_TOKEN")
		}
		sb, err := sandbox.New(sandbox.Options{Apps: sandboxApps(ctx, rollouts, cfg.policyPath, getenv), Token: cfg.sandboxToken, DataDir: cfg.dataDir, Logger: log})
		if err != nil {
			return err
		}
		defer sb.Close()
		mounts["/sandbox/"] = sandboxFollowing(sb, rollouts, log)
	}
	// One limiter for every way in, so that guessing on one counts on all.
	limiter := authlimit.New(authlimit.DefaultBurst, authlimit.DefaultEvery, nil)
	if mounts[scimPrefix], err = scimHandler(db, engine, g, apiAuth(db, adminToken), limiter, cfg.publicURL, log); err != nil {
		return err
	}
	// One key signs leavers' evidence for the API and the console.
	auditKey, err := auditSigningKey(getenv, "", log)
	if err != nil {
		return err
	}
	console, err := apiConsole(getenv, rollouts, db, engine, g, auditKey, log)
	if err != nil {
		return err
	}
	if console != nil {
		mounts["/"] = console
	}
	if codec != nil {
		// The Temporal UI decodes payloads here: point its codec endpoint at
		// <this API>/codec, with "include credentials" on for console sign-ins.
		var sessionRole func(*http.Request) (string, bool)
		if console != nil {
			if sessionRole, err = web.SessionRole([]byte(getenv("TENURE_SESSION_KEY")), db); err != nil {
				return err
			}
		}
		access := codecAccess(apiAuth(db, adminToken), sessionRole, limiter)
		mounts[codecPrefix+"/"] = http.StripPrefix(codecPrefix, codec.Handler(access, origin(cfg.uiURL)))
	}
	acfg := api.Config{Store: db, Tokens: db, Managers: db, Sessions: db, Engine: engine, BulkEngine: engine.Bulk(), Guard: g, Auth: apiAuth(db, adminToken), Logger: log, Mounts: mounts,
		HRWebhookSecrets: cfg.hrSecrets, Policies: rollouts,
		Slack: notes.app, SlackAdmins: notes.admins, AuthLimiter: limiter, AuditSigningKey: auditKey,
		Metrics: obs.metrics.Handler(), MetricsToken: cfg.scraperToken,
		// /readyz turns 503 as soon as the signal to stop arrives.
		Draining: ctx.Done(), Reconciler: engine}
	if out != nil {
		acfg.Outbound = out
	}
	// Work the API finishes after answering (Slack's interactions) ends with it.
	bgCtx, cancelBackground := context.WithCancel(context.WithoutCancel(ctx))
	var background sync.WaitGroup
	acfg.Context, acfg.Background = bgCtx, &background
	defer func() { cancelBackground(); background.Wait() }()
	handler, err := api.NewServer(acfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Tenure API listening on %s\n", ln.Addr())
	err = serveHTTP(ctx, newHTTPServer(obs.httpHandler(handler)), ln, cfg.shutdown)
	log.Info("stopped serving")
	return err
}

// needAdminToken lets `tenure api` start without the bootstrap token only when
// the database holds an active admin token: without either, nobody could
// administer the server, and an operator who forgot the variable learns it now.
func needAdminToken(ctx context.Context, db tenure.TokenStore, now time.Time) error {
	tokens, err := db.ListTokens(ctx)
	if err != nil {
		return fmt.Errorf("looking for an admin token: %w", err)
	}
	for _, t := range tokens {
		if t.Role == tenure.RoleAdmin && t.Active(now) {
			return nil
		}
	}
	return errors.New("TENURE_ADMIN_TOKEN is not set and the database has no active admin token: " +
		"issue one with `tenure token create --role admin --name NAME` (with DATABASE_URL set), " +
		"or set TENURE_ADMIN_TOKEN to a secret of at least 16 characters")
}

func runMigrate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("migrate", "Creates or updates the database schema named by DATABASE_URL\n"+
		"(postgres://... or sqlite:FILE). Safe to run more than once.", stderr)
	var format logFormat
	if err := logFormatFlag(fs, getenv, &format); err != nil {
		return err
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	dsn := getenv("DATABASE_URL")
	if dsn == "" {
		return errors.New("DATABASE_URL is not set")
	}
	db, err := openStore(ctx, dsn, newLogger(stderr, slog.LevelWarn, format))
	if err != nil {
		return err
	}
	defer db.Close()
	fmt.Fprintln(stdout, "database schema is up to date")
	return nil
}

// logLevel reads TENURE_LOG_LEVEL, defaulting to info.
func logLevel(getenv func(string) string) slog.Level {
	var l slog.Level
	if err := l.UnmarshalText([]byte(getenv("TENURE_LOG_LEVEL"))); err != nil {
		return slog.LevelInfo
	}
	return l
}

func runHealthcheck(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("healthcheck", "Asks a running Tenure API whether it is ready (GET /healthz), for container\n"+
		"health probes. Exits 0 when it answers 200.", stderr)
	url := fs.String("url", envOr(getenv, "TENURE_HEALTHCHECK_URL", "http://127.0.0.1:8080/healthz"), "the `URL` to ask; env TENURE_HEALTHCHECK_URL")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, *url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("not healthy: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("not healthy: %s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	fmt.Fprintln(stdout, "healthy")
	return nil
}

// origin is the scheme and host of a URL, as browsers send it in Origin.
func origin(u string) string {
	p, err := url.Parse(u)
	if err != nil || p.Host == "" {
		return ""
	}
	return p.Scheme + "://" + p.Host
}

// services are what `tenure worker` and `tenure api` both connect to: Temporal
// (with payloads sealed), the notifier and the outbound-events service.
type services struct {
	codec  *payloadcodec.Codec
	client client.Client
	engine *workflows.Engine
	notes  notifications
	out    *outbound.Service // nil when outbound events are off
}

func connect(ctx context.Context, cfg serverConfig, uiURL string, db *store.DB, getenv func(string) string, obs observability, log *slog.Logger) (*services, error) {
	s := &services{}
	var err error
	if s.codec, err = payloadCodec(getenv, "", log); err != nil {
		return nil, err
	}
	if s.client, err = dialTemporal(ctx, cfg.temporalAddress, cfg.namespace, cfg.temporalConn, s.codec, obs, log); err != nil {
		return nil, err
	}
	s.engine = &workflows.Engine{Client: s.client, UIURL: strings.TrimRight(uiURL, "/"), Namespace: cfg.namespace}
	if s.notes, err = newNotifications(getenv, log); err != nil {
		s.client.Close()
		return nil, err
	}
	if s.out, err = prodOutbound(getenv, db, s.client, log); err != nil {
		s.client.Close()
		return nil, err
	}
	return s, nil
}

func (s *services) close() { s.client.Close() }

// sandboxApps are the sandbox apps `tenure api --sandbox` serves from the
// start: those of the policy in force and of the policy file. Those of
// versions deployed later are added as they are asked for.
func sandboxApps(ctx context.Context, svc *rollout.Service, path string, getenv func(string) string) []string {
	var apps []string
	if pol, err := svc.ActivePolicy(ctx); err == nil {
		apps = pol.SandboxApps()
	}
	if pol, err := loadPolicy(path, getenv); err == nil {
		apps = union(apps, pol.SandboxApps())
	}
	return apps
}
