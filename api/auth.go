package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/internal/authlimit"
	"github.com/tenure-io/tenure/internal/metrics"
)

// staticTokens holds digests, not tokens, so every comparison is of equal length
// and takes the same time whatever the token's length.
type staticTokens []staticToken

type staticToken struct {
	digest    [sha256.Size]byte
	principal tenure.Principal
}

// StaticTokens authenticates a fixed set of admin tokens (crypto/subtle compares; never log tokens).
func StaticTokens(tokens map[string]tenure.Principal) tenure.Authenticator {
	st := make(staticTokens, 0, len(tokens))
	for tok, p := range tokens {
		if tok == "" {
			continue
		}
		if p.Role == "" {
			p.Role = tenure.RoleAdmin
		}
		st = append(st, staticToken{digest: sha256.Sum256([]byte(tok)), principal: p})
	}
	return st
}

// Authenticate compares the token with every known one without stopping early, so
// the time taken says nothing about which token nearly matched.
func (st staticTokens) Authenticate(_ context.Context, token string) (tenure.Principal, error) {
	d := sha256.Sum256([]byte(token))
	var (
		found tenure.Principal
		ok    int
	)
	for _, t := range st {
		if subtle.ConstantTimeCompare(d[:], t.digest[:]) == 1 {
			found, ok = t.principal, 1
		}
	}
	if ok == 0 || token == "" {
		return tenure.Principal{}, tenure.Errorf(tenure.EUNAUTHORIZED, "the bearer token is not valid")
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
		keys := []string{authlimit.ClientKey(c.Request()), authlimit.CredentialKey("bearer", token)}
		if err := s.mayTry(keys...); err != nil {
			return err
		}
		p, err := s.auth.Authenticate(c.Request().Context(), token)
		switch tenure.ErrorCode(err) {
		case "":
		case tenure.EUNAUTHORIZED:
			s.limiter.Fail(keys...)
			// The message may say a token expired or was revoked: only to whoever
			// holds it.
			return err
		case tenure.EINTERNAL, tenure.EUNAVAILABLE:
			// A store that is down is not the caller's fault: 503 or 500, not 401.
			return tenure.Unavailable("the token store", err)
		default:
			s.limiter.Fail(keys...)
			return tenure.Errorf(tenure.EUNAUTHORIZED, "the bearer token is not valid")
		}
		c.Set(principalKey, p)
		return next(c)
	}
}

// mayTry asks the limiter, before a credential is checked, whether keys (the
// client, the credential's prefix) may try one now. It is asked first, so that a
// client over its allowance learns nothing, not even that a credential is right;
// a request that authenticates costs nothing, as only failures are counted.
func (s *server) mayTry(keys ...string) error {
	if wait := s.limiter.Wait(keys...); wait > 0 {
		return authlimit.Refuse(wait)
	}
	return nil
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
func principal(c echo.Context) tenure.Principal {
	p, _ := c.Get(principalKey).(tenure.Principal)
	return p
}

// listEmployeesFor lists the people the caller may see: everyone, or a manager's
// reports.
func (s *server) listEmployeesFor(c echo.Context, f tenure.EmployeeFilter) ([]tenure.Employee, int, error) {
	ctx := c.Request().Context()
	id, scoped, err := principal(c).ReportsOf()
	switch {
	case err != nil:
		return nil, 0, err
	case !scoped:
		return s.store.ListEmployees(ctx, f)
	}
	return s.managers.ListReports(ctx, id, f)
}

// listApprovalsFor lists the approvals the caller may see: all, or those a manager
// may decide.
func (s *server) listApprovalsFor(c echo.Context, f tenure.ApprovalFilter) ([]tenure.Approval, error) {
	ctx := c.Request().Context()
	id, scoped, err := principal(c).ReportsOf()
	switch {
	case err != nil:
		return nil, err
	case !scoped:
		return s.store.ListApprovals(ctx, f)
	}
	return s.managers.ListApprovalsFor(ctx, id, f)
}

// metricsAuth lets a scraper in with the metrics token (metrics.HasToken,
// compared in constant time), and anyone else as requireAuth would, if they are
// an admin or an auditor. The metrics token opens /metrics and nothing else.
func (s *server) metricsAuth(next echo.HandlerFunc) echo.HandlerFunc {
	asUser := s.requireAuth(allow(tenure.RoleAdmin, tenure.RoleAuditor)(next))
	return func(c echo.Context) error {
		if metrics.HasToken(c.Request(), s.metricsToken) {
			return next(c)
		}
		return asUser(c)
	}
}
