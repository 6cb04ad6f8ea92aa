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
	// TokenID is the issued token the caller presented; empty for a bootstrap token.
	TokenID string `json:"token_id,omitempty"`
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
		switch tenure.ErrorCode(err) {
		case "":
		case tenure.EUNAUTHORIZED:
			// The message may say a token expired or was revoked: only to whoever
			// holds it.
			return err
		case tenure.EINTERNAL, tenure.EUNAVAILABLE:
			// A store that is down is not the caller's fault: 503 or 500, not 401.
			return s.unavailable(c, "the token store", err)
		default:
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

// actor names the caller in the audit trail and in decisions: their HR ID when the
// token has one (decisions are checked against HR IDs), else the token's name.
func actor(p Principal) string {
	if p.EmployeeID != "" {
		return p.EmployeeID
	}
	return p.Name
}

// managerOf returns the HR ID that limits what the caller sees, and false for a
// caller who sees everything. A manager's token without an HR ID sees nothing.
func managerOf(c echo.Context) (string, bool, error) {
	p := principal(c)
	if p.Role != RoleManager {
		return "", false, nil
	}
	if p.EmployeeID == "" {
		return "", true, tenure.Errorf(tenure.EFORBIDDEN, "this manager token names no employee; issue one with an employee_id")
	}
	return p.EmployeeID, true, nil
}

// managerScope is the store's manager-scoped side.
func (s *server) managerScope() (tenure.ManagerScope, error) {
	ms, ok := s.store.(tenure.ManagerScope)
	if !ok {
		// Refuse rather than fall back to the unscoped list.
		return nil, tenure.Errorf(tenure.EUNAVAILABLE, "this server's store cannot scope lists to a manager")
	}
	return ms, nil
}

// listEmployeesFor lists the people the caller may see: everyone, or a manager's
// reports.
func (s *server) listEmployeesFor(c echo.Context, f tenure.EmployeeFilter) ([]tenure.Employee, int, error) {
	ctx := c.Request().Context()
	id, scoped, err := managerOf(c)
	switch {
	case err != nil:
		return nil, 0, err
	case !scoped:
		return s.store.ListEmployees(ctx, f)
	}
	ms, err := s.managerScope()
	if err != nil {
		return nil, 0, err
	}
	return ms.ListReports(ctx, id, f)
}

// listApprovalsFor lists the approvals the caller may see: all, or those a manager
// may decide.
func (s *server) listApprovalsFor(c echo.Context, f tenure.ApprovalFilter) ([]tenure.Approval, error) {
	ctx := c.Request().Context()
	id, scoped, err := managerOf(c)
	switch {
	case err != nil:
		return nil, err
	case !scoped:
		return s.store.ListApprovals(ctx, f)
	}
	ms, err := s.managerScope()
	if err != nil {
		return nil, err
	}
	return ms.ListApprovalsFor(ctx, id, f)
}

// mayRead refuses a manager someone who is not their report. The answer is the
// store's own not-found, so that a manager cannot tell who exists.
func mayRead(c echo.Context, e tenure.Employee) error {
	id, scoped, err := managerOf(c)
	switch {
	case err != nil:
		return err
	case scoped && e.ManagerID != id:
		return tenure.Errorf(tenure.ENOTFOUND, "employee %q not found", e.ID)
	}
	return nil
}

// mayDecide refuses a manager an approval that is not theirs to decide, as not
// found, before they learn anything about it.
func mayDecide(c echo.Context, a tenure.Approval) error {
	id, scoped, err := managerOf(c)
	switch {
	case err != nil:
		return err
	case scoped && !a.MayDecide(id):
		return tenure.Errorf(tenure.ENOTFOUND, "approval %q not found", a.ID)
	}
	return nil
}
