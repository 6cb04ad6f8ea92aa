package tenure

import (
	"context"
	"time"
)

// APIToken is a bearer token for the API, as Tenure keeps it: never the token
// itself, only a hash of it and a short prefix that lets a person recognise it.
type APIToken struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// Role is one of the API's roles: admin, hr, manager or auditor.
	Role string `json:"role"`
	// EmployeeID is the HR ID of the person the token acts for. A manager's token
	// must have one: it decides whose reports and approvals the manager sees.
	EmployeeID string `json:"employee_id,omitempty"`
	// Prefix is the start of the token ("tnr_AbCd1234"), to tell tokens apart.
	Prefix string `json:"prefix"`
	// Hash is the hex SHA-256 of the token; it never leaves the server.
	Hash       string     `json:"-"`
	CreatedBy  string     `json:"created_by,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  *time.Time `json:"expires_at,omitempty"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
}

// Active reports whether the token may be used at now: it is neither revoked nor
// expired.
func (t APIToken) Active(now time.Time) bool {
	return t.RevokedAt == nil && (t.ExpiresAt == nil || now.Before(*t.ExpiresAt))
}

// TokenStore keeps API tokens. Lookups of missing tokens return an *Error with
// code ENOTFOUND.
type TokenStore interface {
	// CreateToken inserts t; an existing ID or hash is ECONFLICT.
	CreateToken(ctx context.Context, t APIToken) error
	GetToken(ctx context.Context, id string) (APIToken, error)
	// FindTokenByHash finds the token whose hash is hash, revoked or not.
	FindTokenByHash(ctx context.Context, hash string) (APIToken, error)
	// ListTokens returns every token, revoked and expired ones too, newest first.
	ListTokens(ctx context.Context) ([]APIToken, error)
	// RevokeToken revokes the token at at and returns it. Revoking a revoked
	// token keeps the first revocation time.
	RevokeToken(ctx context.Context, id string, at time.Time) (APIToken, error)
	// TouchToken records that the token was used at at, unless a use within the
	// last minute is recorded already (so a busy token is not a write per request).
	TouchToken(ctx context.Context, id string, at time.Time) error
}

// ManagerScope reads what a manager's token may see: their reports, and the
// approvals they may decide.
type ManagerScope interface {
	// ListReports returns one page of the people whose manager is managerID, and
	// the total number that match f.
	ListReports(ctx context.Context, managerID string, f EmployeeFilter) ([]Employee, int, error)
	// ListApprovalsFor returns one page of the approvals that approverID may
	// decide (Approval.MayDecide), matching f.
	ListApprovalsFor(ctx context.Context, approverID string, f ApprovalFilter) ([]Approval, error)
}
