package tenure

import "context"

// The roles a caller can have, whether they come with an API token or a console
// sign-in. The API's routes and the console's pages each list the roles they allow.
const (
	// RoleAdmin is IT: it may do everything Tenure offers.
	RoleAdmin = "admin"
	// RoleHR sends HR events and reads people.
	RoleHR = "hr"
	// RoleManager reads and decides for their own reports only.
	RoleManager = "manager"
	// RoleAuditor reads everything and changes nothing.
	RoleAuditor = "auditor"
)

// Roles lists every role, for validation and for messages that name them.
var Roles = []string{RoleAdmin, RoleHR, RoleManager, RoleAuditor}

// ValidRole reports whether r is one of Roles.
func ValidRole(r string) bool {
	for _, v := range Roles {
		if r == v {
			return true
		}
	}
	return false
}

// Principal is an authenticated caller: a token holder of the API or a user
// signed in to the console.
type Principal struct {
	Name string `json:"name"`
	Role string `json:"role"`
	// EmployeeID is the caller's own HR ID, which scopes what a manager sees.
	EmployeeID string `json:"employee_id,omitempty"`
	// TokenID is the issued token the caller presented; empty for a bootstrap
	// token and for a console sign-in.
	TokenID string `json:"token_id,omitempty"`
}

// Actor names the caller in the audit trail and in decisions: their HR ID when
// they have one (decisions are checked against HR IDs), else their name.
func (p Principal) Actor() string {
	if p.EmployeeID != "" {
		return p.EmployeeID
	}
	return p.Name
}

// ReportsOf returns the HR ID whose reports are all that p may see, and false
// when p sees everyone. A manager without an HR ID may see nobody: that is an
// EFORBIDDEN error, never a fall back to everyone.
func (p Principal) ReportsOf() (managerID string, scoped bool, err error) {
	if p.Role != RoleManager {
		return "", false, nil
	}
	if p.EmployeeID == "" {
		return "", true, Errorf(EFORBIDDEN, "your manager access names no employee record; ask IT to link it to your HR ID")
	}
	return p.EmployeeID, true, nil
}

// MayRead returns nil when p may see e. A manager sees only their own reports;
// anyone else is ENOTFOUND, the same answer as for someone who does not exist,
// so that a manager cannot tell who does.
func MayRead(p Principal, e Employee) error {
	id, scoped, err := p.ReportsOf()
	switch {
	case err != nil:
		return err
	case scoped && e.ManagerID != id:
		return Errorf(ENOTFOUND, "employee %q not found", e.ID)
	}
	return nil
}

// MayDecide returns nil when p may decide a. Nobody decides their own access.
// An admin decides anything else; a manager only what names them as the
// approver or escalated to them, and anything else is ENOTFOUND, before they
// learn anything about it. Other roles decide nothing.
func MayDecide(p Principal, a Approval) error {
	if p.EmployeeID != "" && p.EmployeeID == a.EmployeeID {
		return Errorf(EFORBIDDEN, "nobody may decide an approval for their own access")
	}
	switch p.Role {
	case RoleAdmin:
		return nil
	case RoleManager:
		id, _, err := p.ReportsOf()
		if err != nil {
			return err
		}
		if !a.MayDecide(id) {
			return Errorf(ENOTFOUND, "approval %q not found", a.ID)
		}
		return nil
	}
	return Errorf(EFORBIDDEN, "the %s role may not decide approvals", p.Role)
}

// Authenticator turns a bearer token into a principal. Implementations compare
// in constant time and never log the token. A token that is not valid is
// EUNAUTHORIZED; a store that cannot be read is any other error.
type Authenticator interface {
	Authenticate(ctx context.Context, token string) (Principal, error)
}
