// Package integrations defines how Tenure talks to an app: the Connector interface
// that every app kind implements, and the error kinds that decide how a failed call
// is retried. Each app kind lives in its own subpackage (scim, and later ldap,
// google, github and slack) that owns its HTTP, auth, paging and error mapping.
package integrations

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// User is what Tenure asks an app to create for a person.
type User struct {
	// ExternalID is the person's HR ID; apps that support it index by it.
	ExternalID  string
	UserName    string // the person's work email
	GivenName   string
	FamilyName  string
	DisplayName string
	Email       string
	Title       string
	Department  string
	Active      bool
}

// Account is a person's account as the app reports it.
type Account struct {
	ID         string   // the app's own ID for the account
	UserName   string   // as the app stores it
	ExternalID string   // the HR ID, where the app keeps it
	Active     bool     // false once disabled
	Groups     []string // entitlement names (group display names), sorted
}

// Capabilities says which optional operations an app supports.
type Capabilities struct {
	Groups         bool // group membership through the connector
	RevokeSessions bool // sessions and tokens can be revoked
	Filter         bool // lookups by filter
}

// Connector is one configured app. Implementations must be safe for concurrent
// use. Errors are *Error values so callers can tell a rate limit from a transient
// fault from a permanent one.
type Connector interface {
	// Capabilities discovers what the app supports (SCIM's ServiceProviderConfig).
	Capabilities(ctx context.Context) (Capabilities, error)
	// Lookup finds the account for externalID, or failing that userName.
	// It returns an *Error of kind NotFound when there is none.
	Lookup(ctx context.Context, externalID, userName string) (Account, error)
	// Get reads one account by the app's ID.
	Get(ctx context.Context, id string) (Account, error)
	// Create creates the account. If the app says it exists (a 409), Create
	// adopts and returns the existing account.
	Create(ctx context.Context, u User) (Account, error)
	// SetActive enables or disables the account.
	SetActive(ctx context.Context, id string, active bool) error
	// Delete deletes the account. An account that is already gone is not an error.
	Delete(ctx context.Context, id string) error
	// AddToGroup and RemoveFromGroup change one entitlement. Both are idempotent.
	AddToGroup(ctx context.Context, id, group string) error
	RemoveFromGroup(ctx context.Context, id, group string) error
	// RevokeSessions ends the account's sessions and tokens, where supported.
	RevokeSessions(ctx context.Context, id string) error
	// List calls fn for every account, page by page, until fn returns false.
	List(ctx context.Context, fn func(Account) bool) error
}

// Kind classifies a failed call by what should happen next.
type Kind int

// The error kinds.
const (
	// Transient faults (5xx, timeouts, refused connections) are retried with backoff.
	Transient Kind = iota
	// RateLimited faults are retried after RetryAfter.
	RateLimited
	// Permanent faults (400, 401, a forbidden 403, other 4xx) are not retried.
	Permanent
	// NotFound means the account or group does not exist.
	NotFound
	// Conflict means the account already exists.
	Conflict
)

func (k Kind) String() string {
	switch k {
	case Transient:
		return "transient"
	case RateLimited:
		return "rate_limited"
	case Permanent:
		return "permanent"
	case NotFound:
		return "not_found"
	case Conflict:
		return "conflict"
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Error is a failed call to an app.
type Error struct {
	Kind       Kind
	App        string
	Op         string        // the operation, such as "create" or "patch"
	Status     int           // the HTTP status, or 0
	Detail     string        // the app's own explanation, for people to act on
	RetryAfter time.Duration // for RateLimited
}

func (e *Error) Error() string {
	msg := e.App + ": " + e.Op
	if e.Status != 0 {
		msg += fmt.Sprintf(": HTTP %d", e.Status)
	}
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	return msg
}

// KindOf returns the kind of err: its *Error's kind, or Transient for anything
// else (a network error, a timeout).
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return Transient
}

// IsNotFound reports whether err says the thing does not exist.
func IsNotFound(err error) bool { return err != nil && KindOf(err) == NotFound }

// Factory builds a connector for one app from its settings. Each connector package
// registers one under its kind's name.
type Factory func(app AppConfig) (Connector, error)

// AppConfig is one app as the policy file configures it.
type AppConfig struct {
	Name      string            // the app's name in the policy, such as "github"
	Connector string            // the connector kind, such as "scim"
	BaseURL   string            // for SCIM, the URL ending in /scim/v2
	Token     string            // the bearer token; a secret, never logged
	Owner     string            // the app owner's HR ID, for app_owner approvals
	Settings  map[string]string // connector-specific settings
}

// String leaves the token out so a config can be logged.
func (a AppConfig) String() string {
	return fmt.Sprintf("%s (%s at %s)", a.Name, a.Connector, a.BaseURL)
}
