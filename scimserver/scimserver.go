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
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/elimity-com/scim"
	scimerr "github.com/elimity-com/scim/errors"
	"github.com/elimity-com/scim/optional"
	"github.com/elimity-com/scim/schema"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/intake"
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
	Auth   tenure.Authenticator
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Server serves /scim/v2.
type Server struct {
	dir    directory.Store
	store  Store
	intake *intake.Intake
	auth   tenure.Authenticator
	log    *slog.Logger
	now    func() time.Time
	users  *users
	groups *groups
	types  []scim.ResourceType
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
	} {
		if d.unset {
			missing = append(missing, d.name)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("scimserver: Config needs %s", strings.Join(missing, ", "))
	}
	s := &Server{dir: cfg.Directory, store: cfg.Store, auth: cfg.Auth, log: cfg.Logger, now: cfg.Now}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
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
	return s, nil
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
		if status, detail := s.authorize(r); status != 0 {
			if status == http.StatusUnauthorized {
				w.Header().Set("WWW-Authenticate", `Bearer realm="tenure-scim"`)
			}
			writeError(w, status, "", detail)
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
		r2 := r.Clone(r.Context())
		r2.URL.Path, r2.URL.RawPath = path, ""
		if r.Body != nil && r.Method != http.MethodGet && r.Method != http.MethodDelete {
			body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
			if err != nil {
				writeError(w, http.StatusRequestEntityTooLarge, "", fmt.Sprintf("the request body is larger than %d bytes", maxBody))
				return
			}
			r2.Body = io.NopCloser(bytes.NewReader(normalizeBody(body)))
		}
		srv, err := scim.NewServer(&scim.ServerArgs{
			ServiceProviderConfig: &serviceProviderConfig,
			ResourceTypes:         s.types,
		}, scim.WithBaseURL(baseURL(r)), scim.WithLogger(libLogger{s.log}))
		if err != nil {
			s.log.Error("scim: building the server", "error", err)
			writeError(w, http.StatusInternalServerError, "", "internal error")
			return
		}
		srv.ServeHTTP(w, r2)
	})
}

// authorize returns 0 for a caller with the admin or hr role, else the status
// and detail of the error to send.
func (s *Server) authorize(r *http.Request) (int, string) {
	scheme, token, found := strings.Cut(r.Header.Get("Authorization"), " ")
	token = strings.TrimSpace(token)
	if !found || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return http.StatusUnauthorized, "send Authorization: Bearer <token>"
	}
	p, err := s.auth.Authenticate(r.Context(), token)
	if err != nil {
		if tenure.ErrorCode(err) == tenure.EINTERNAL {
			s.log.Error("scim: authenticating", "error", err)
			return http.StatusServiceUnavailable, "authentication is unavailable; retry the request"
		}
		return http.StatusUnauthorized, "the bearer token is not valid"
	}
	if p.Role != tenure.RoleAdmin && p.Role != tenure.RoleHR {
		return http.StatusForbidden, fmt.Sprintf("the %s role may not use the SCIM server; use an admin or hr token", p.Role)
	}
	return 0, ""
}

// baseURL is the server's URL as the client reached it, for meta.location.
func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + Prefix
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
