// Package api is Tenure's HTTP API: the JSON contract that HR systems, the console,
// scripts and tests use to send HR events, read people, their access and runs, pull
// the kill switch and decide approvals. It reads the read model through tenure.Store
// and hands work to Temporal through tenure.Engine, so it imports neither GORM nor
// Temporal.
package api

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/evidence"
	"github.com/tenure-io/tenure/guard"
	"github.com/tenure-io/tenure/intake"
	"github.com/tenure-io/tenure/internal/authlimit"
	"github.com/tenure-io/tenure/internal/giveway"
	"github.com/tenure-io/tenure/rollout"
)

// Config holds the API server's dependencies. Store, Tokens, Managers, Engine,
// Auth and Guard are required: NewServer refuses to start without one, rather
// than a route failing when the first request needs it.
type Config struct {
	Store tenure.Store
	// Tokens issues, lists and revokes API tokens; *store.DB is one.
	Tokens TokenDB
	// Managers narrows lists to a manager's reports and approvals; *store.DB is one.
	Managers tenure.ManagerScope
	Engine   tenure.Engine
	Auth     tenure.Authenticator
	// Guard is the blast-radius guard in front of events:batch, imports and HR
	// webhooks, and what GET and POST /api/v1/holds read and decide.
	Guard  *guard.Guard
	Logger *slog.Logger
	// Mounts are extra path prefixes, such as "/sandbox/", served as they are; their
	// handlers do their own authentication.
	Mounts map[string]http.Handler
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Outbound registers subscribers and redelivers events; nil turns those
	// routes into 503s.
	Outbound tenure.Outbound
	// Slack answers Slack's interactions (POST /slack/interactions); nil turns the
	// route off (404). Set it only when Slack is configured.
	Slack SlackApp
	// SlackAdmins are the emails of the people who may press Retry in Slack.
	SlackAdmins []string
	// Context is the server's lifetime: work still running after an answer (a
	// Slack interaction's) is cancelled when it is done. Nil means it never is.
	Context context.Context
	// Background, when set, counts that work, so that shutting down can cancel
	// Context and then wait for it.
	Background *sync.WaitGroup
	// HRWebhookSecrets verify signed HR webhooks (POST /webhooks/hr/{source});
	// two at once while a secret is rotated. None turns the webhooks off (401).
	HRWebhookSecrets []string
	// BulkEngine takes the events of a batch (POST /api/v1/events:batch) and
	// an import: workflows.Engine.Bulk, which starts new people's workflows at
	// a lower Temporal priority, so that a bulk's queued tasks never hold up a
	// single event or the kill switch. Nil means Engine.
	BulkEngine tenure.Engine
	// GiveWay is where the kill switch's calls hold the bulk's back; a
	// worker in the same process shares it, so that its rollouts give way
	// too. Nil means the API's own.
	GiveWay *giveway.Way
	// Policies reads, plans and deploys the access policy, and follows its
	// rollouts; the policy in force plans an import's dry run and names the
	// rule behind each line of the access review. Nil turns the policy and
	// rollout routes into 503s and refuses dry runs.
	Policies *rollout.Service
	// AuthLimiter counts failed authentications (bearer tokens, HR webhook and
	// Slack signatures) and refuses a client or a credential prefix that fails
	// too often. Give the SCIM server the same one, so that guessing anywhere
	// counts everywhere. Nil means one of the server's own, with authlimit's
	// default allowance.
	AuthLimiter *authlimit.Limiter
	// Sessions revokes console sessions (DELETE /api/v1/sessions) and audits it;
	// *store.DB is one. Nil turns that route into a 503.
	Sessions tenure.SessionRevoker
	// AuditSigningKey signs leavers' evidence; nil turns the evidence route
	// into a 503 that says TENURE_AUDIT_SIGNING_KEY is not set.
	AuditSigningKey ed25519.PrivateKey
	// Metrics serves Prometheus's scrape (GET /metrics) to admins and auditors,
	// and to whoever presents MetricsToken; nil turns the route off (404).
	Metrics http.Handler
	// MetricsToken is a bearer token for scrapers, good for /metrics only; ""
	// means scrapers use an admin or auditor token.
	MetricsToken string
	// Draining is closed when the process begins to shut down: from then on
	// GET /readyz answers 503, so that load balancers stop sending requests
	// while those in flight finish. Nil means never.
	Draining <-chan struct{}
	// Reconciler starts reconciliations and remediations; nil turns those
	// routes into 503s (reading them still works).
	Reconciler tenure.Reconciler
}

// server carries the dependencies every handler needs.
type server struct {
	store    tenure.Store
	tokens   TokenDB
	managers tenure.ManagerScope
	engine   tenure.Engine
	auth     tenure.Authenticator
	guard    *guard.Guard
	log      *slog.Logger
	now      func() time.Time
	intake   *intake.Intake
	// bulk takes the events of a batch or an import (Config.BulkEngine).
	bulk   *intake.Intake
	policy *rollout.Service
	slack  *slackHandler // nil when Slack is off
	// hrSecrets verify HR webhooks' signatures.
	hrSecrets []string
	out       tenure.Outbound
	limiter   *authlimit.Limiter
	sessions  tenure.SessionRevoker
	evidence  *evidence.Builder
	// metrics serves GET /metrics; nil when it is off.
	metrics      http.Handler
	metricsToken string
	draining     <-chan struct{}
	recon        tenure.Reconciler // nil when reconciliations cannot be started
}

// NewServer returns the whole HTTP handler: routes are all listed in routes.go.
// A missing dependency is an error here, at start-up.
func NewServer(cfg Config) (http.Handler, error) {
	e, err := newEcho(cfg)
	if err != nil {
		return nil, err
	}
	return e, nil
}

// newEcho builds the Echo instance behind NewServer; tests use it to walk the routes.
func newEcho(cfg Config) (*echo.Echo, error) {
	var missing []string
	for _, d := range []struct {
		name  string
		unset bool
	}{
		{"Store", cfg.Store == nil}, {"Tokens", cfg.Tokens == nil}, {"Managers", cfg.Managers == nil},
		{"Engine", cfg.Engine == nil}, {"Auth", cfg.Auth == nil}, {"Guard", cfg.Guard == nil},
	} {
		if d.unset {
			missing = append(missing, d.name)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("api: Config needs %s", strings.Join(missing, ", "))
	}
	s := &server{
		store:     cfg.Store,
		tokens:    cfg.Tokens,
		managers:  cfg.Managers,
		engine:    cfg.Engine,
		auth:      cfg.Auth,
		guard:     cfg.Guard,
		log:       cfg.Logger,
		now:       cfg.Now,
		policy:    cfg.Policies,
		hrSecrets: cfg.HRWebhookSecrets,
		out:       cfg.Outbound,
		limiter:   cfg.AuthLimiter,
		sessions:  cfg.Sessions,

		metrics:      cfg.Metrics,
		metricsToken: cfg.MetricsToken,
		draining:     cfg.Draining,
		recon:        cfg.Reconciler,
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.limiter == nil {
		s.limiter = authlimit.New(authlimit.DefaultBurst, authlimit.DefaultEvery, nil)
	}
	var bulk tenure.Engine
	if cfg.BulkEngine != nil {
		// The kill switch's calls hold the bulk's back (giveway).
		way := cfg.GiveWay
		if way == nil {
			way = giveway.New(time.Now)
		}
		s.engine = urgentEngine{Engine: s.engine, way: way}
		bulk = bulkEngine{Engine: cfg.BulkEngine, way: way}
	}
	s.intake = &intake.Intake{Store: s.store, Engine: s.engine, Now: s.now}
	s.bulk = s.intake
	if bulk != nil {
		s.bulk = &intake.Intake{Store: s.store, Engine: bulk, Now: s.now}
	}
	s.evidence = &evidence.Builder{Store: s.store, RunURL: s.engine.RunURL, Key: cfg.AuditSigningKey, Now: s.now}
	s.slack = newSlackHandler(cfg)
	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	e.HTTPErrorHandler = s.handleError
	addRoutes(e, s, cfg.Mounts)
	return e, nil
}
