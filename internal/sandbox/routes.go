package sandbox

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/elimity-com/scim"
	scimerr "github.com/elimity-com/scim/errors"
	"github.com/elimity-com/scim/optional"
	"github.com/elimity-com/scim/schema"
	"github.com/tenure-io/tenure"
)

// maxResults is the largest page the apps return, and the default one.
const maxResults = 100

// serveHTTP routes /sandbox/<app>/...: the SCIM API under scim/v2, and the
// _faults, _dialect and _reset admin endpoints. Every route needs the bearer token.
func (s *Sandbox) serveHTTP(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, "/sandbox/")
	if !ok {
		writeError(w, http.StatusNotFound, "", "not a sandbox path")
		return
	}
	name, tail, _ := strings.Cut(rest, "/")
	tail = "/" + tail
	a, err := s.app(name)
	if err != nil {
		writeError(w, http.StatusNotFound, "", fmt.Sprintf("no sandbox app named %q", name))
		return
	}
	if !s.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="sandbox"`)
		writeError(w, http.StatusUnauthorized, "", "a valid bearer token is required")
		return
	}

	switch {
	case tail == "/_faults":
		s.serveFaults(w, r, a)
	case tail == "/_dialect":
		s.serveDialect(w, r, a)
	case tail == "/_reset":
		if r.Method != http.MethodPost {
			methodNotAllowed(w, http.MethodPost)
			return
		}
		a.reset()
		s.log.Info("sandbox app reset", "app", a.name)
		w.WriteHeader(http.StatusNoContent)
	case tail == "/scim/v2" || strings.HasPrefix(tail, "/scim/v2/"):
		if a.inject(w, r) {
			return
		}
		path := strings.TrimPrefix(tail, "/scim/v2")
		if a.refuse(w, r, path) {
			return
		}
		a.serveSCIM(w, r, path)
	default:
		writeError(w, http.StatusNotFound, "", "the sandbox serves scim/v2, _faults, _dialect and _reset only")
	}
}

func (s *Sandbox) authorized(r *http.Request) bool {
	h := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(strings.TrimSpace(token)), s.token) == 1
}

func (s *Sandbox) serveFaults(w http.ResponseWriter, r *http.Request, a *app) {
	serveSetting(w, r, func(body []byte) (Faults, error) {
		var f Faults
		return f, json.Unmarshal(body, &f)
	}, func(f Faults) error { return s.SetFaults(a.name, f) }, a.getFaults)
}

// serveSetting serves one of an app's test settings (its faults, its
// dialect): GET answers it, and PUT replaces it with the decoded body first.
func serveSetting[T any](w http.ResponseWriter, r *http.Request, decode func([]byte) (T, error), set func(T) error, get func() T) {
	switch r.Method {
	case http.MethodGet:
	case http.MethodPut:
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<16))
		var v T
		if err == nil {
			v, err = decode(body)
		}
		if err == nil {
			err = set(v)
		}
		if err != nil {
			writeError(w, http.StatusBadRequest, scimerr.ScimTypeInvalidValue, tenure.ErrorMessage(err))
			return
		}
	default:
		methodNotAllowed(w, http.MethodGet+", "+http.MethodPut)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(get())
}

// inject plays the app's faults on a SCIM request, and reports whether it
// answered the request itself.
func (a *app) inject(w http.ResponseWriter, r *http.Request) bool {
	a.faultMu.Lock()
	f := a.faults
	var status int
	wait, over := a.overRate(time.Now())
	switch {
	case over:
		status, f.RetryAfter = http.StatusTooManyRequests, wait
	case a.faults.RateLimit > 0:
		a.faults.RateLimit--
		status = http.StatusTooManyRequests
	case a.faults.FailNext > 0:
		a.faults.FailNext--
		status = f.FailStatus
	case f.ErrorRate > 0 && rand.Float64() < f.ErrorRate:
		status = http.StatusServiceUnavailable
	}
	a.faultMu.Unlock()

	if f.Latency > 0 && !sleep(r.Context(), f.Latency) {
		return true // the client has gone
	}
	switch status {
	case 0:
		return false
	case http.StatusTooManyRequests:
		secs := f.retryAfterSeconds()
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		writeError(w, status, "", fmt.Sprintf("rate limit exceeded: retry after %d s", secs))
	case http.StatusServiceUnavailable:
		writeError(w, status, "", "the service is temporarily unavailable (injected fault)")
	default:
		detail := f.FailDetail
		if detail == "" {
			detail = "injected fault"
		}
		writeError(w, status, "", detail)
	}
	a.log.Debug("sandbox fault injected", "method", r.Method, "path", r.URL.Path, "status", status)
	return true
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// serveSCIM hands the request to the SCIM library with the path it expects.
func (a *app) serveSCIM(w http.ResponseWriter, r *http.Request, path string) {
	if a.serveLookup(w, r, path) {
		return
	}
	a.serveLibrary(w, r, path)
}

// serveLibrary has the SCIM library answer the request.
func (a *app) serveLibrary(w http.ResponseWriter, r *http.Request, path string) {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	base := scheme + "://" + r.Host + "/sandbox/" + a.name + "/scim/v2"
	// A server is a small value over the shared resource types; making one per
	// request is how meta.location gets the host the client used.
	srv, err := scim.NewServer(&scim.ServerArgs{
		ServiceProviderConfig: &serviceProviderConfig,
		ResourceTypes:         a.resourceTypes(),
	}, scim.WithBaseURL(base), scim.WithLogger(scimLogger{a}))
	if err != nil {
		writeError(w, http.StatusInternalServerError, "", "the SCIM server could not start")
		a.log.Error("sandbox SCIM server", "error", err)
		return
	}
	r2 := new(http.Request)
	*r2 = *r
	u := *r.URL
	u.Path, u.RawPath = path, ""
	r2.URL = &u
	// The library reads bodies whole; 1 MiB is the maxPayloadSize it advertises.
	r2.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	srv.ServeHTTP(w, r2)
}

var serviceProviderConfig = scim.ServiceProviderConfig{
	DocumentationURI: optional.NewString("https://github.com/tenure-io/tenure"),
	AuthenticationSchemes: []scim.AuthenticationScheme{{
		Type:        scim.AuthenticationTypeOauthBearerToken,
		Name:        "Bearer token",
		Description: "The sandbox token, sent as Authorization: Bearer <token>",
		Primary:     true,
	}},
	MaxResults:       maxResults,
	SupportFiltering: true,
	SupportPatch:     true,
}

// resourceTypes are the app's Users (with the enterprise extension) and
// Groups, built once for each shape of User the dialects give: with active, and
// without it (Dialect.NoActive).
func (a *app) resourceTypes() []scim.ResourceType {
	noActive := a.getDialect().NoActive
	a.typesMu.Lock()
	defer a.typesMu.Unlock()
	if types, ok := a.types[noActive]; ok {
		return types
	}
	user, group, enterprise := schema.CoreUserSchema(), schema.CoreGroupSchema(), schema.ExtensionEnterpriseUser()
	if noActive {
		var attrs schema.Attributes
		for _, attr := range user.Attributes {
			if attr.Name() != "active" {
				attrs = append(attrs, attr)
			}
		}
		user.Attributes = attrs
	}
	{
		a.types[noActive] = []scim.ResourceType{
			{
				ID:               optional.NewString("User"),
				Name:             "User",
				Description:      optional.NewString("User Account"),
				Endpoint:         "/Users",
				Schema:           user,
				SchemaExtensions: []scim.SchemaExtension{{Schema: enterprise}},
				Handler:          newResources(a, false, user, enterprise),
			},
			{
				ID:          optional.NewString("Group"),
				Name:        "Group",
				Description: optional.NewString("Group"),
				Endpoint:    "/Groups",
				Schema:      group,
				Handler:     newResources(a, true, group),
			},
		}
	}
	return a.types[noActive]
}

// scimLogger passes the SCIM library's errors to the app's logger.
type scimLogger struct{ a *app }

func (l scimLogger) Error(args ...any) {
	if len(args) == 0 {
		return
	}
	l.a.log.Error(fmt.Sprint(args[0]), args[1:]...)
}

// writeError writes a SCIM error (RFC 7644 3.12). Every error the sandbox
// itself makes goes through here; the library writes its own the same way.
func writeError(w http.ResponseWriter, status int, scimType scimerr.ScimType, detail string) {
	body, _ := json.Marshal(scimerr.ScimError{ScimType: scimType, Detail: detail, Status: status})
	w.Header().Set("Content-Type", "application/scim+json")
	w.WriteHeader(status)
	w.Write(body)
}

func methodNotAllowed(w http.ResponseWriter, allow string) {
	w.Header().Set("Allow", allow)
	writeError(w, http.StatusMethodNotAllowed, "", "method not allowed; use "+allow)
}
