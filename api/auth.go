package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/tenure-io/tenure"
)

// The roles a caller can have. Each route lists the roles it allows.
const (
	// RoleAdmin is IT: it may do everything the API offers.
	RoleAdmin = "admin"
	// RoleHR sends HR events and reads people.
	RoleHR = "hr"
	// RoleManager reads and decides for their own reports only.
	RoleManager = "manager"
	// RoleAuditor reads everything and changes nothing.
	RoleAuditor = "auditor"
)

// Principal is an authenticated caller.
type Principal struct {
	Name string `json:"name"`
	Role string `json:"role"`
	// EmployeeID is the caller's own HR ID, which scopes what a manager sees.
	EmployeeID string `json:"employee_id,omitempty"`
}

// Authenticator turns a bearer token into a principal; it must compare in constant time.
type Authenticator interface {
	Authenticate(ctx context.Context, token string) (Principal, error)
}

// staticTokens holds digests, not tokens, so every comparison is of equal length
// and takes the same time whatever the token's length.
type staticTokens []staticToken

type staticToken struct {
	digest    [sha256.Size]byte
	principal Principal
}

// StaticTokens authenticates a fixed set of admin tokens (crypto/subtle compares; never log tokens).
func StaticTokens(tokens map[string]Principal) Authenticator {
	st := make(staticTokens, 0, len(tokens))
	for tok, p := range tokens {
		if tok == "" {
			continue
		}
		if p.Role == "" {
			p.Role = RoleAdmin
		}
		st = append(st, staticToken{digest: sha256.Sum256([]byte(tok)), principal: p})
	}
	return st
}

// Authenticate compares the token with every known one without stopping early, so
// the time taken says nothing about which token nearly matched.
func (st staticTokens) Authenticate(_ context.Context, token string) (Principal, error) {
	d := sha256.Sum256([]byte(token))
	var (
		found Principal
		ok    int
	)
	for _, t := range st {
		if subtle.ConstantTimeCompare(d[:], t.digest[:]) == 1 {
			found, ok = t.principal, 1
		}
	}
	if ok == 0 || token == "" {
		return Principal{}, tenure.Errorf(tenure.EUNAUTHORIZED, "the bearer token is not valid")
	}
	return found, nil
}

const principalKey = "tenure.principal"

// requireAuth lets a request through only with a valid bearer token.
func (s *server) requireAuth(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		scheme, token, found := strings.Cut(c.Request().Header.Get(echo.HeaderAuthorization), " ")
		token = strings.TrimSpace(token)
		if !found || !strings.EqualFold(scheme, "Bearer") || token == "" {
			return tenure.Errorf(tenure.EUNAUTHORIZED, "send Authorization: Bearer <token>")
		}
		p, err := s.auth.Authenticate(c.Request().Context(), token)
		if err != nil {
			if tenure.ErrorCode(err) == tenure.EINTERNAL {
				return err
			}
			return tenure.Errorf(tenure.EUNAUTHORIZED, "the bearer token is not valid")
		}
		c.Set(principalKey, p)
		return next(c)
	}
}

// allow lets a request through only when the caller has one of roles.
func allow(roles ...string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			p := principal(c)
			for _, r := range roles {
				if p.Role == r {
					return next(c)
				}
			}
			return tenure.Errorf(tenure.EFORBIDDEN, "the %s role may not %s %s", p.Role, c.Request().Method, c.Path())
		}
	}
}

// principal is the caller that requireAuth let in.
func principal(c echo.Context) Principal {
	p, _ := c.Get(principalKey).(Principal)
	return p
}
