// Package scimserver is Tenure's inbound SCIM 2.0 server, mounted at /scim/v2, so
// that an identity provider (Okta, Entra ID, Rippling, JumpCloud) can push people
// into Tenure. Users and Groups are served through github.com/elimity-com/scim;
// every change to a user becomes an HR event (create: hire, active=false or
// DELETE: terminate, active=true again: rehire, anything else: update) that enters
// through intake.Intake with an ID derived from the resource and its version, so
// a retried request runs once. What the identity provider wrote is kept in a
// directory.Store; the person's status comes from Tenure's read model.
package scimserver

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/elimity-com/scim"
	scimerr "github.com/elimity-com/scim/errors"
	"github.com/elimity-com/scim/optional"
	"github.com/elimity-com/scim/schema"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/guard"
	"github.com/tenure-io/tenure/intake"
	"github.com/tenure-io/tenure/internal/authlimit"
	"github.com/tenure-io/tenure/scimserver/directory"
)

// Prefix is where the server is mounted on the API's port.
const Prefix = "/scim/v2"

// maxBody bounds a request body; the ServiceProviderConfig advertises it.
const maxBody = 1 << 20

// maxResults is the largest page the server returns, and the default one.
const maxResults = 200

// Store is what the server needs of Tenure's read model: the people the users
// map onto, and the events that intake records.
type Store interface {
	tenure.EmployeeStore
	tenure.EventStore
}

// Config holds the server's dependencies.
type Config struct {
	// Directory keeps the users and groups as the identity provider wrote them.
	Directory directory.Store
	// Store is Tenure's read model, for the people the users map onto.
	Store Store
	// Engine receives the HR events, through intake.
	Engine tenure.Engine
	// Auth checks bearer tokens; only the admin and hr roles may use the server.
	Auth tenure.Authenticator
	// Guard is the blast-radius guard the users' events pass first: a stream
	// of deactivations and deletions over its threshold is held.
	Guard  *guard.Guard
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// PublicURL is where clients reach Tenure, such as https://tenure.example.com
	// (TENURE_PUBLIC_URL): meta.location and the Location header are built from
	// it, never from the request's Host header, which the client writes. Empty
	// gives host-relative locations, /scim/v2/Users/{id}.
	PublicURL string
	// AuthLimiter counts failed bearer tokens and refuses a client or a token
	// prefix that fails too often; share the API's. Nil means one of the
	// server's own, with authlimit's default allowance.
	AuthLimiter *authlimit.Limiter
}

// Server serves /scim/v2.
type Server struct {
	dir     directory.Store
	store   Store
	intake  *intake.Intake
	guard   *guard.Guard
	auth    tenure.Authenticator
	limiter *authlimit.Limiter
	log     *slog.Logger
	now     func() time.Time
	users   *users
	groups  *groups
	types   []scim.ResourceType
	// lib is the library's server, which writes locations under baseURL.
	lib scim.Server
}

// New returns the SCIM server; mount its Handler at Prefix. A missing
// dependency is an error here, at start-up, rather than at the first request.
func New(cfg Config) (*Server, error) {
	var missing []string
	for _, d := range []struct {
		name  string
		unset bool
	}{
		{"Directory", cfg.Directory == nil}, {"Store", cfg.Store == nil}, {"Engine", cfg.Engine == nil}, {"Auth", cfg.Auth == nil},
		{"Guard", cfg.Guard == nil},
	} {
		if d.unset {
			missing = append(missing, d.name)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("scimserver: Config needs %s", strings.Join(missing, ", "))
	}
	base, err := baseURL(cfg.PublicURL)
	if err != nil {
		return nil, fmt.Errorf("scimserver: PublicURL %w", err)
	}
	s := &Server{dir: cfg.Directory, store: cfg.Store, guard: cfg.Guard, auth: cfg.Auth, limiter: cfg.AuthLimiter, log: cfg.Logger, now: cfg.Now}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.limiter == nil {
		s.limiter = authlimit.New(authlimit.DefaultBurst, authlimit.DefaultEvery, nil)
	}
	s.intake = &intake.Intake{Store: cfg.Store, Engine: cfg.Engine, Now: s.now}
	s.users = &users{s: s}
	s.groups = &groups{s: s}
	s.types = []scim.ResourceType{
		{
			ID:               optional.NewString("User"),
			Name:             "User",
			Description:      optional.NewString("A person in Tenure"),
			Endpoint:         "/Users",
			Schema:           userSchema,
			SchemaExtensions: []scim.SchemaExtension{{Schema: enterpriseSchema}, {Schema: tenureSchema}},
			Handler:          s.users,
		},
		{
			ID:          optional.NewString("Group"),
			Name:        "Group",
			Description: optional.NewString("A group of people; members carry its name in their groups attribute"),
			Endpoint:    "/Groups",
			Schema:      groupSchema,
			Handler:     s.groups,
		},
	}
	s.lib, err = scim.NewServer(&scim.ServerArgs{
		ServiceProviderConfig: &serviceProviderConfig,
		ResourceTypes:         s.types,
	}, scim.WithBaseURL(base), scim.WithLogger(libLogger{s.log}))
	if err != nil {
		return nil, fmt.Errorf("scimserver: %w", err)
	}
	return s, nil
}

// CheckPublicURL reports what is wrong with public as Config.PublicURL, so that
// a command can refuse it before it starts anything.
func CheckPublicURL(public string) error {
	_, err := baseURL(public)
	return err
}

// baseURL is where the server's resources live, for meta.location: under the
// public URL, or host-relative without one. It never comes from a request.
func baseURL(public string) (string, error) {
	if public == "" {
		return Prefix, nil
	}
	u, err := url.Parse(public)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return "", fmt.Errorf("%q must be an http or https URL such as https://tenure.example.com, without user, query or fragment", public)
	}
	return strings.TrimRight(u.String(), "/") + Prefix, nil
}

// The schemas the server speaks. tenureSchema is read-only: it reports what
// Tenure made of the user.
var (
	userSchema       = schema.CoreUserSchema()
	groupSchema      = schema.CoreGroupSchema()
	enterpriseSchema = schema.ExtensionEnterpriseUser()
	tenureSchema     = schema.Schema{
		ID:          TenureSchemaID,
		Name:        optional.NewString("Tenure User"),
		Description: optional.NewString("How Tenure sees the user: their HR ID and lifecycle status. Read-only."),
		Attributes: []schema.CoreAttribute{
			schema.SimpleCoreAttribute(schema.SimpleStringParams(schema.StringParams{
				Name:        "hrId",
				Description: optional.NewString("The person's HR ID in Tenure: the employeeNumber given at creation, or one Tenure assigned."),
				Mutability:  schema.AttributeMutabilityReadOnly(),
				CaseExact:   true,
			})),
			schema.SimpleCoreAttribute(schema.SimpleStringParams(schema.StringParams{
				Name:            "status",
				Description:     optional.NewString("The person's status in Tenure's read model: pending, active, locked or terminated; absent until Tenure has processed the user."),
				Mutability:      schema.AttributeMutabilityReadOnly(),
				CanonicalValues: []string{"pending", "active", "locked", "terminated"},
			})),
		},
	}
)

// TenureSchemaID is the URI of the read-only extension that reports a user's HR
// ID and Tenure status.
const TenureSchemaID = "urn:tenure:params:scim:schemas:extension:tenure:2.0:User"

var serviceProviderConfig = scim.ServiceProviderConfig{
	DocumentationURI: optional.NewString("https://github.com/tenure-io/tenure/blob/main/docs/scim.md"),
	AuthenticationSchemes: []scim.AuthenticationScheme{{
		Type:        scim.AuthenticationTypeOauthBearerToken,
		Name:        "Bearer token",
		Description: "A Tenure API token with the admin or hr role, sent as Authorization: Bearer <token>",
		Primary:     true,
	}},
	MaxResults:       maxResults,
	SupportFiltering: true,
	SupportPatch:     true,
}

// Handler serves every path under Prefix: it authenticates the caller, makes the
// body one that the library accepts from Entra ID, and hands the request on.
func (s *Server) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		who, err := s.authorize(r)
		if err != nil {
			status := tenure.HTTPStatus(err.Code)
			switch {
			case status == http.StatusUnauthorized:
				w.Header().Set("WWW-Authenticate", `Bearer realm="tenure-scim"`)
			case err.RetryAfter > 0:
				w.Header().Set("Retry-After", authlimit.RetryAfterHeader(err))
			}
			writeError(w, status, "", err.Message)
			return
		}
		path, ok := strings.CutPrefix(r.URL.Path, Prefix)
		if !ok {
			writeError(w, http.StatusNotFound, "", "not a SCIM path")
			return
		}
		if r.ContentLength > maxBody {
			writeError(w, http.StatusRequestEntityTooLarge, "", fmt.Sprintf("the request body is larger than %d bytes", maxBody))
			return
		}
		r2 := r.Clone(context.WithValue(r.Context(), callerKey{}, who))
		r2.URL.Path, r2.URL.RawPath = path, ""
		if r.Body != nil && r.Method != http.MethodGet && r.Method != http.MethodDelete {
			body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
			if err != nil {
				writeError(w, http.StatusRequestEntityTooLarge, "", fmt.Sprintf("the request body is larger than %d bytes", maxBody))
				return
			}
			r2.Body = io.NopCloser(bytes.NewReader(normalizeBody(body)))
		}
		s.lib.ServeHTTP(w, r2)
	})
}

// authorize returns the caller when they have the admin or hr role, else the
// error to send. The limiter is asked before the token is checked, so that a
// client over its allowance learns nothing, not even that a token is right.
func (s *Server) authorize(r *http.Request) (tenure.Principal, *tenure.Error) {
	scheme, token, found := strings.Cut(r.Header.Get("Authorization"), " ")
	token = strings.TrimSpace(token)
	if !found || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return tenure.Principal{}, tenure.Errorf(tenure.EUNAUTHORIZED, "send Authorization: Bearer <token>")
	}
	keys := []string{authlimit.ClientKey(r), authlimit.CredentialKey("bearer", token)}
	if wait := s.limiter.Wait(keys...); wait > 0 {
		return tenure.Principal{}, authlimit.Refuse(wait)
	}
	p, err := s.auth.Authenticate(r.Context(), token)
	switch tenure.ErrorCode(err) {
	case "":
	case tenure.EINTERNAL, tenure.EUNAVAILABLE:
		// A token store that is down is not the caller's fault.
		s.log.Error("scim: authenticating", "error", err)
		return tenure.Principal{}, tenure.Errorf(tenure.EUNAVAILABLE, "authentication is unavailable; retry the request")
	default:
		s.limiter.Fail(keys...)
		return tenure.Principal{}, tenure.Errorf(tenure.EUNAUTHORIZED, "the bearer token is not valid")
	}
	if p.Role != tenure.RoleAdmin && p.Role != tenure.RoleHR {
		return tenure.Principal{}, tenure.Errorf(tenure.EFORBIDDEN, "the %s role may not use the SCIM server; use an admin or hr token", p.Role)
	}
	return p, nil
}

// callerKey keys the authenticated caller in a request's context.
type callerKey struct{}

// caller is who sent the request, as authorize found them, for the audit trail.
func caller(ctx context.Context) string {
	if p, ok := ctx.Value(callerKey{}).(tenure.Principal); ok {
		return p.Actor()
	}
	return "scim"
}

// libLogger passes the library's errors to the server's logger.
type libLogger struct{ log *slog.Logger }

func (l libLogger) Error(args ...any) {
	if len(args) == 0 {
		return
	}
	l.log.Error("scim: "+fmt.Sprint(args[0]), args[1:]...)
}

// writeError writes a SCIM error body (RFC 7644 3.12).
func writeError(w http.ResponseWriter, status int, scimType scimerr.ScimType, detail string) {
	body, _ := json.Marshal(scimerr.ScimError{ScimType: scimType, Detail: detail, Status: status})
	w.Header().Set("Content-Type", "application/scim+json")
	w.WriteHeader(status)
	w.Write(body)
}
