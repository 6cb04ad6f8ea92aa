// Package web is Tenure's console: the pages HR, IT, managers and auditors use to
// see everyone's access and act on it. It is server-rendered html/template with
// htmx for the parts that change in place, and every asset is embedded, so the
// binary serves the whole console with no CDN and no Node at run time. It reads
// through tenure.Store (and the console's own queries, Store), hands work to
// Temporal through tenure.Engine, and sends HR events through intake, the same path
// and validation as the API.
package web

import (
	"context"
	"crypto/ed25519"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/evidence"
	"github.com/tenure-io/tenure/guard"
	"github.com/tenure-io/tenure/intake"
	"github.com/tenure-io/tenure/internal/authlimit"
	"github.com/tenure-io/tenure/rollout"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Store is the read model as the console reads it: tenure.Store and the
// console's own list and dashboard queries, by entity. *store.DB implements it.
type Store interface {
	tenure.Store
	tenure.SessionStore
	EmployeeQueries
	AccountQueries
	RunQueries
	ApprovalQueries
	AuditQueries
}

// EmployeeQueries are the people list's and the sign-in's queries.
type EmployeeQueries interface {
	// SearchEmployees is ListEmployees with filters by exact department, by an
	// account in app and by manager; empty strings filter nothing.
	SearchEmployees(ctx context.Context, f tenure.EmployeeFilter, department, app, managerID string) ([]tenure.Employee, int, error)
	// Departments lists every department someone is in.
	Departments(ctx context.Context) ([]string, error)
	// EachEmployee calls fn with everyone who is not terminated.
	EachEmployee(ctx context.Context, fn func(tenure.Employee) error) error
}

// AccountQueries are the dashboard's and apps page's account figures.
type AccountQueries interface {
	// AccountCounts counts accounts per app and status.
	AccountCounts(ctx context.Context) (map[string]map[tenure.AccessStatus]int, error)
	// ListFailedAccounts lists the latest accounts whose last change failed.
	ListFailedAccounts(ctx context.Context, limit int) ([]tenure.Account, error)
}

// RunQueries are the dashboard's run figures.
type RunQueries interface {
	// CountRuns counts runs per status.
	CountRuns(ctx context.Context) (map[tenure.RunStatus]int, error)
	// ListRecentRuns lists the latest runs of a type and status ("" for any).
	ListRecentRuns(ctx context.Context, typ string, status tenure.RunStatus, limit int) ([]tenure.Run, error)
	// RunsPerDay counts runs started since a time, per UTC day and type.
	RunsPerDay(ctx context.Context, since time.Time) (map[string]map[string]int, error)
}

// ApprovalQueries are the dashboard's approval figures.
type ApprovalQueries interface {
	// CountApprovals counts the approvals in a status.
	CountApprovals(ctx context.Context, status tenure.ApprovalStatus) (int, error)
}

// AuditQueries are the audit page's and its CSV export's queries.
type AuditQueries interface {
	// ListAuditBetween is ListAudit with an exclusive upper bound on time.
	ListAuditBetween(ctx context.Context, f tenure.AuditFilter, until time.Time) ([]tenure.AuditRecord, error)
	// AuditActions lists the actions the audit trail holds.
	AuditActions(ctx context.Context) ([]string, error)
}

// Config holds the console's dependencies and settings.
type Config struct {
	Store  Store
	Engine tenure.Engine
	// Guard is the blast-radius guard: the holds page reads and decides
	// through it, and the dashboard shows a banner while anything is held.
	Guard *guard.Guard
	// Policies is the policy in force, which the pages evaluate, and how an
	// edited policy is checked, planned and deployed, and its rollout followed.
	Policies *rollout.Service
	// OIDC configures single sign-on; nil leaves it off.
	OIDC *OIDCConfig
	// DevSignIn offers a one-click local admin sign-in: for `tenure dev` only.
	DevSignIn bool
	// AuthLimit slows down failed sign-ins (a dev sign-in without a valid CSRF
	// token), per client address; one limiter shared with the API's other
	// authentication paths. Required with DevSignIn.
	AuthLimit *authlimit.Limiter
	// SessionKey signs and encrypts the session cookie: at least 32 random bytes.
	// Signed-in sessions themselves are kept in Store.
	SessionKey []byte
	// SecureCookies marks cookies Secure even when a request arrives over plain
	// HTTP, as it does behind a TLS-terminating load balancer.
	SecureCookies bool
	Logger        *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// AuditSigningKey signs leavers' evidence; nil makes the download a 503
	// that says TENURE_AUDIT_SIGNING_KEY is not set.
	AuditSigningKey ed25519.PrivateKey
	// Reconciler starts reconciliations and remediations from the
	// Reconciliation page; nil shows the page without its buttons.
	Reconciler tenure.Reconciler
}

// console carries what every handler needs.
type console struct {
	store    Store
	engine   tenure.Engine
	guard    *guard.Guard
	policies *rollout.Service
	intake   *intake.Intake
	oidc     *oidcClient
	dev      bool
	limit    *authlimit.Limiter
	cookies  *cookieCodec
	sessions *sessions
	secure   bool
	log      *slog.Logger
	now      func() time.Time
	pages    map[string]*template.Template
	static   http.Handler
	evidence *evidence.Builder
	recon    tenure.Reconciler // nil when the console cannot start reconciliations
}

// New returns the console's handler, to be served at "/".
func New(cfg Config) (http.Handler, error) {
	if cfg.Store == nil || cfg.Engine == nil || cfg.Policies == nil || cfg.Guard == nil {
		return nil, errors.New("web: Store, Engine, Policies and Guard are required")
	}
	codec, err := newCookieCodec(cfg.SessionKey)
	if err != nil {
		return nil, err
	}
	c := &console{
		store: cfg.Store, engine: cfg.Engine, guard: cfg.Guard, policies: cfg.Policies,
		dev: cfg.DevSignIn, limit: cfg.AuthLimit, cookies: codec, secure: cfg.SecureCookies,
		log: cfg.Logger, now: cfg.Now, recon: cfg.Reconciler,
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.now == nil {
		c.now = time.Now
	}
	c.sessions = &sessions{cookies: codec, store: c.store, now: c.now}
	c.intake = &intake.Intake{Store: c.store, Engine: c.engine, Now: c.now}
	c.evidence = &evidence.Builder{Store: c.store, RunURL: c.engine.RunURL, Key: cfg.AuditSigningKey, Now: c.now}
	if cfg.OIDC != nil {
		if c.oidc, err = newOIDCClient(*cfg.OIDC); err != nil {
			return nil, err
		}
	}
	if !c.dev && c.oidc == nil {
		return nil, errors.New("web: configure OIDC sign-in (or dev sign-in for tenure dev): nobody could sign in")
	}
	if c.dev && c.limit == nil {
		return nil, errors.New("web: dev sign-in needs AuthLimit, the limiter of failed sign-ins")
	}
	if c.pages, err = parsePages(); err != nil {
		return nil, err
	}
	sub, err := fs.Sub(staticFS, "static")
	if err != nil {
		return nil, err
	}
	c.static = http.StripPrefix("/static/", http.FileServerFS(sub))
	return c.routes(), nil
}

// everyone is every role: the pages anyone signed in may see.
var everyone = tenure.Roles

// routes lists every page and action of the console, and who may use each: it
// is the console's map. Actions that change anything are POSTs with a CSRF token.
func (c *console) routes() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /static/", c.staticFiles())
	mux.HandleFunc("GET /signin", c.signInPage)
	mux.HandleFunc("POST /auth/dev", c.devSignIn)
	mux.HandleFunc("GET /auth/login", c.oidcLogin)
	mux.HandleFunc("GET /auth/callback", c.oidcCallback)
	mux.HandleFunc("POST /signout", c.signOut)

	mux.Handle("GET /{$}", c.auth(c.dashboard, everyone...))
	mux.Handle("GET /people", c.auth(c.people, everyone...))
	mux.Handle("GET /people/{id}", c.auth(c.person, everyone...))
	mux.Handle("GET /people/{id}/live", c.auth(c.personLive, everyone...))
	mux.Handle("GET /people/{id}/lock", c.auth(c.confirmKill, tenure.RoleAdmin))
	mux.Handle("POST /people/{id}/lock", c.auth(c.kill, tenure.RoleAdmin))
	mux.Handle("GET /people/{id}/unlock", c.auth(c.confirmKill, tenure.RoleAdmin))
	mux.Handle("POST /people/{id}/unlock", c.auth(c.kill, tenure.RoleAdmin))
	mux.Handle("POST /people/{id}/apps/{app}/retry", c.auth(c.retry, tenure.RoleAdmin))
	// A manager has the evidence of their own reports only, as they see them.
	mux.Handle("GET /people/{id}/evidence", c.auth(c.evidenceFile, tenure.RoleAdmin, tenure.RoleManager, tenure.RoleAuditor))

	mux.Handle("GET /hire", c.auth(c.eventForm, tenure.RoleAdmin, tenure.RoleHR))
	mux.Handle("POST /hire", c.auth(c.submitEvent, tenure.RoleAdmin, tenure.RoleHR))
	mux.Handle("POST /hire/preview", c.auth(c.previewEvent, tenure.RoleAdmin, tenure.RoleHR))
	mux.Handle("GET /people/{id}/{form}", c.auth(c.eventForm, tenure.RoleAdmin, tenure.RoleHR))
	mux.Handle("POST /people/{id}/{form}", c.auth(c.submitEvent, tenure.RoleAdmin, tenure.RoleHR))
	mux.Handle("POST /people/{id}/{form}/preview", c.auth(c.previewEvent, tenure.RoleAdmin, tenure.RoleHR))

	mux.Handle("GET /approvals", c.auth(c.approvals, tenure.RoleAdmin, tenure.RoleManager, tenure.RoleAuditor))
	mux.Handle("POST /approvals/{id}/decide", c.auth(c.decide, tenure.RoleAdmin, tenure.RoleManager))
	mux.Handle("GET /holds", c.auth(c.holds, tenure.RoleAdmin, tenure.RoleAuditor))
	mux.Handle("POST /holds/{id}/decide", c.auth(c.decideHold, tenure.RoleAdmin))
	mux.Handle("GET /apps", c.auth(c.apps, tenure.RoleAdmin, tenure.RoleAuditor))
	mux.Handle("GET /policy", c.auth(c.policyPage, tenure.RoleAdmin, tenure.RoleAuditor))
	mux.Handle("POST /policy/validate", c.auth(c.policyValidate, tenure.RoleAdmin))
	mux.Handle("POST /policy/preview", c.auth(c.policyPreview, tenure.RoleAdmin))
	mux.Handle("POST /policy/deploy", c.auth(c.policyDeploy, tenure.RoleAdmin))
	mux.Handle("GET /policy/rollouts/{id}", c.auth(c.rolloutPage, tenure.RoleAdmin, tenure.RoleAuditor))
	mux.Handle("GET /policy/rollouts/{id}/live", c.auth(c.rolloutLive, tenure.RoleAdmin, tenure.RoleAuditor))
	mux.Handle("POST /policy/rollouts/{id}/{decision}", c.auth(c.rolloutDecide, tenure.RoleAdmin))
	mux.Handle("GET /audit", c.auth(c.audit, tenure.RoleAdmin, tenure.RoleAuditor))
	mux.Handle("GET /audit.csv", c.auth(c.auditCSV, tenure.RoleAdmin, tenure.RoleAuditor))
	mux.Handle("GET /reconciliation", c.auth(c.reconciliation, tenure.RoleAdmin, tenure.RoleAuditor))
	mux.Handle("POST /reconciliation", c.auth(c.startReconciliation, tenure.RoleAdmin, tenure.RoleAuditor))
	mux.Handle("POST /reconciliation/{id}/findings/{finding}/remediate", c.auth(c.remediateFinding, tenure.RoleAdmin))
	mux.Handle("GET /sessions", c.auth(c.sessionsPage, tenure.RoleAdmin))
	mux.Handle("POST /sessions/revoke", c.auth(c.revokeSessions, tenure.RoleAdmin))

	mux.HandleFunc("/api/", apiNotFound)
	mux.HandleFunc("/", c.notFound)
	return c.secureHeaders(mux)
}

// secureHeaders stops framing, sniffing and caching, and allows scripts and
// styles from the console itself only: htmx needs no inline script or eval here.
func (c *console) secureHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
			"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		if !strings.HasPrefix(r.URL.Path, "/static/") {
			h.Set("Cache-Control", "no-store")
		}
		next.ServeHTTP(w, r)
	})
}

func (c *console) staticFiles() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The files change only with the binary; an hour of caching is plenty.
		w.Header().Set("Cache-Control", "public, max-age=3600")
		c.static.ServeHTTP(w, r)
	})
}

// apiNotFound keeps the API's error shape for API paths no API route took.
func apiNotFound(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusNotFound)
	fmt.Fprint(w, `{"error":{"code":"not_found","message":"no such route"}}`)
}

func (c *console) notFound(w http.ResponseWriter, r *http.Request) {
	sess, err := c.session(w, r)
	if err == nil {
		err = tenure.Errorf(tenure.ENOTFOUND, "there is no page at %s", r.URL.Path)
	}
	c.fail(w, r, sess, err)
}

// handler is a console page or action; it returns errors for fail to show.
type handler func(w http.ResponseWriter, r *http.Request, s *session) error

// auth lets a request through only for a signed-in user with one of roles, and
// only with the session's CSRF token when it changes anything. The session and
// the user's role are read from the store at each request, so a sign-out, a
// revocation or a change of role holds from the next request on.
func (c *console) auth(h handler, roles ...string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := c.session(w, r)
		if err != nil {
			c.fail(w, r, s, err)
			return
		}
		if s.User == nil {
			if r.Method == http.MethodGet && r.Header.Get("HX-Request") == "" {
				http.Redirect(w, r, "/signin?next="+urlQueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			c.fail(w, r, s, tenure.Errorf(tenure.EUNAUTHORIZED, "your session has ended; sign in again"))
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			r.Body = http.MaxBytesReader(w, r.Body, maxForm)
			if err := c.checkCSRF(r, s); err != nil {
				c.fail(w, r, s, err)
				return
			}
		}
		allowed := false
		for _, role := range roles {
			allowed = allowed || s.User.Role == role
		}
		if !allowed {
			c.fail(w, r, s, tenure.Errorf(tenure.EFORBIDDEN, "the %s role may not use %s", s.User.Role, r.URL.Path))
			return
		}
		if err := h(w, r, s); err != nil {
			c.fail(w, r, s, err)
		}
	})
}

// maxForm bounds a form body: the largest is an edited policy.
const maxForm = 1 << 20

// fail shows an error page (or, to htmx, an error fragment): the user sees the
// message of a coded error; anything else is logged and shown as internal.
func (c *console) fail(w http.ResponseWriter, r *http.Request, s *session, err error) {
	code := tenure.ErrorCode(err)
	status := tenure.HTTPStatus(code)
	if te, ok := asTenure(err); ok && code == tenure.ETOOMANY {
		w.Header().Set("Retry-After", authlimit.RetryAfterHeader(te))
	}
	if status == http.StatusInternalServerError || status == http.StatusServiceUnavailable {
		c.log.Error("console", "path", r.URL.Path, "error", err)
	}
	data := map[string]any{"Status": status, "StatusText": http.StatusText(status), "Message": tenure.ErrorMessage(err)}
	if r.Header.Get("HX-Request") != "" {
		// htmx swaps only 2xx answers by default; say it in the page's alert region.
		w.Header().Set("HX-Retarget", "#alerts")
		w.Header().Set("HX-Reswap", "innerHTML")
		c.renderFragment(w, s, http.StatusOK, "error", "alert", data)
		return
	}
	c.render(w, r, s, status, "error", "Error", data)
}

// asTenure finds the application error in err's chain.
func asTenure(err error) (*tenure.Error, bool) {
	var te *tenure.Error
	ok := errors.As(err, &te)
	return te, ok
}
