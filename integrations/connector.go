// Package integrations defines how Tenure talks to the systems around it: the
// Connector interface that every app kind implements, the Spec by which a kind
// declares its policy keys and what it can do, and the error kinds that decide how
// a failed call is retried. Each app kind lives in its own subpackage (scim, ldap,
// postgres, google, github, slack) that owns its protocol, auth, paging and error
// mapping. HR sources live under hr/. The slack package is also the Slack
// notifier for approvals and IT alerts.
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
	// Attributes are the HR record's extra attributes, for connectors that take
	// an app identity from one (GitHub's username_attribute).
	Attributes map[string]string
}

// Account is a person's account as the app reports it.
type Account struct {
	ID         string // the app's own ID for the account
	UserName   string // as the app stores it
	ExternalID string // the HR ID, where the app keeps it
	Active     bool   // false once disabled
	// Pending is true when the app has taken the request but the person must act
	// before the account is usable (GitHub's organisation invitation). A pending
	// account is not active, and Tenure never reports it as active.
	Pending bool
	Groups  []string // entitlement names (group display names), sorted
	// Unverifiable lists entitlements whose membership the app gives no way to
	// read back (a SCIM app that shows members neither on the User nor on the
	// Group). They are neither reported as held nor as missing.
	Unverifiable []string
}

// Capabilities says which optional operations an app supports. A Spec declares
// what every app of a kind can do; Connector.Capabilities reports what one app
// can do, which may be less (a SCIM app's ServiceProviderConfig).
type Capabilities struct {
	Groups         bool // entitlements as group, team or role membership
	RevokeSessions bool // sessions and tokens can be ended
	// Disable is true where an account can be switched off and on again and keep
	// its data. Where it is false (GitHub), disabling removes the person and
	// enabling invites them again.
	Disable        bool
	Delete         bool // accounts can be deleted
	ReclaimLicence bool // deleting (or suspending) an account frees its licence
	TransferData   bool // a leaver's data can go to another person before deletion
	Filter         bool // lookups by filter
}

// Missing lists, by their policy names, the capabilities of want that c lacks.
func (c Capabilities) Missing(want Capabilities) []string {
	var out []string
	for _, f := range []struct {
		name      string
		want, has bool
	}{
		{"groups", want.Groups, c.Groups},
		{"revoke_sessions", want.RevokeSessions, c.RevokeSessions},
		{"disable", want.Disable, c.Disable},
		{"delete", want.Delete, c.Delete},
		{"reclaim_licence", want.ReclaimLicence, c.ReclaimLicence},
		{"transfer_data", want.TransferData, c.TransferData},
		{"filter", want.Filter, c.Filter},
	} {
		if f.want && !f.has {
			out = append(out, f.name)
		}
	}
	return out
}

// Connector is one configured app. Implementations must be safe for concurrent
// use. Errors are *Error values so callers can tell a rate limit from a transient
// fault from a permanent one.
type Connector interface {
	// Capabilities discovers what the app supports (SCIM's ServiceProviderConfig).
	// It makes a real, authenticated call, so `tenure apps test` uses it to check
	// credentials and reachability.
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
	// Where not, it returns an *Error of kind Permanent.
	RevokeSessions(ctx context.Context, id string) error
	// TransferData hands the account's data (documents, files) to the account of
	// toUserName before the account is deleted, and returns once the app says the
	// transfer is complete. Where not supported, it returns an *Error of kind
	// Permanent.
	TransferData(ctx context.Context, id, toUserName string) error
	// List calls fn for every account, page by page, until fn returns false.
	List(ctx context.Context, fn func(Account) bool) error
}

// GroupReader is a Connector that reads memberships more surely when told which
// groups matter: a SCIM app that shows members only on its Groups can only be
// asked group by group.
type GroupReader interface {
	// GetWithGroups is Get, reporting in Account.Groups and Account.Unverifiable
	// at least the memberships of groups.
	GetWithGroups(ctx context.Context, id string, groups []string) (Account, error)
}

// GetWithGroups reads one account through c, asking about groups where c can
// be told which groups matter.
func GetWithGroups(ctx context.Context, c Connector, id string, groups []string) (Account, error) {
	if r, ok := c.(GroupReader); ok {
		return r.GetWithGroups(ctx, id, groups)
	}
	return c.Get(ctx, id)
}

// UserLookup is a Connector that finds an account from the whole HR record, for
// apps that know people by something only the record carries (a GitHub
// username in an HR attribute).
type UserLookup interface {
	// LookupUser is Lookup, given the whole record.
	LookupUser(ctx context.Context, u User) (Account, error)
}

// LookupUser finds u's account through c: from the whole record where c can
// use it, else by HR ID and user name.
func LookupUser(ctx context.Context, c Connector, u User) (Account, error) {
	if l, ok := c.(UserLookup); ok {
		return l.LookupUser(ctx, u)
	}
	return c.Lookup(ctx, u.ExternalID, u.UserName)
}

// PageLister is a Connector whose listing can start at a page other than the
// first, so that a listing that failed part way (a rate limit, a restart)
// carries on where it stopped instead of from the first page.
type PageLister interface {
	// ListPages calls page with each page of accounts, from the page cursor
	// names on ("" for the first), and the cursor of the page after it (""
	// after the last), until page returns false. A cursor is the app's own
	// position in its listing (a SCIM startIndex), for the caller to keep and
	// pass back as it is.
	ListPages(ctx context.Context, cursor string, page func(accounts []Account, next string) bool) error
}

// ErrNoResume is ListPages's error when asked to start part way through the
// listing of a connector that can only list from the start.
var ErrNoResume = errors.New("the app's listing cannot start part way: list it from the start")

// listPage is how many accounts ListPages hands over at once from a connector
// that is not a PageLister.
const listPage = 100

// ListPages lists c's accounts a page at a time from cursor, through
// PageLister where c is one. Any other connector is listed through List, from
// its first account, in pages of listPage accounts, each with next "": there
// is no cursor to carry on from. Asked to start from a cursor, it then
// returns ErrNoResume.
func ListPages(ctx context.Context, c Connector, cursor string, page func(accounts []Account, next string) bool) error {
	if p, ok := c.(PageLister); ok {
		return p.ListPages(ctx, cursor, page)
	}
	if cursor != "" {
		return ErrNoResume
	}
	buf := make([]Account, 0, listPage)
	stopped := false
	err := c.List(ctx, func(a Account) bool {
		buf = append(buf, a)
		if len(buf) < listPage {
			return true
		}
		stopped = !page(buf, "")
		buf = make([]Account, 0, listPage)
		return !stopped
	})
	if err != nil || stopped || len(buf) == 0 {
		return err
	}
	page(buf, "")
	return nil
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

// Factory builds a connector for one app from its settings. It checks the settings
// but makes no call to the app, so a worker starts while an app is down.
type Factory func(app AppConfig) (Connector, error)

// Spec declares a connector kind to the rest of Tenure: the worker registers its
// operations as "<Kind>.<Operation>" activities, the policy checks an app's keys
// against Keys and its grants against Can.
type Spec struct {
	Kind string
	New  Factory
	// Can is what every app of this kind can do.
	Can Capabilities
	// Keys are the kind's own policy keys, besides name, connector and the keys
	// every app has (sandbox, owner, settings, max_concurrent, rate,
	// give_up_after, ignore, orphans).
	Keys []Key
}

// Key is one policy key of a connector kind.
type Key struct {
	// Name is the key as written in the policy. For a secret it is the name
	// without its suffix: "token" is given as token_env or token_file.
	Name     string
	Required bool
	// Secret keys never appear in the policy text: the policy names an
	// environment variable (<name>_env) or a file (<name>_file) that holds them.
	Secret bool
}

// AppConfig is one app as the policy file configures it.
type AppConfig struct {
	Name      string // the app's name in the policy, such as "github"
	Connector string // the connector kind, such as "scim"
	// BaseURL is where the app lives, for people to read (GET /api/v1/apps): a
	// SCIM base URL ending in /scim/v2, an LDAP URL, an API base URL.
	BaseURL  string
	Token    string            // the bearer token (the "token" secret); never logged
	Owner    string            // the app owner's HR ID, for app_owner approvals
	Settings map[string]string // dialect switches, such as SCIM's
	// Params holds the kind's non-secret keys as written, by Key.Name.
	Params map[string]string
	// Secrets holds the kind's secret keys' values, by Key.Name; never logged.
	Secrets map[string]string
	Limits  Limits
	// Ignore lists account patterns (path.Match on the user name) that
	// reconciliation leaves alone, such as service accounts.
	Ignore []string
	// Orphans is what reconciliation does with an account nobody in HR owns:
	// "report" (the default) or "disable".
	Orphans string
}

// Limits protect an app from Tenure: no bulk run may get Tenure throttled or
// banned.
type Limits struct {
	// MaxConcurrent bounds the calls in flight to the app from each worker; 0
	// means the worker's default.
	MaxConcurrent int
	// Rate bounds the calls per second to the app across all workers; 0 means
	// no bound.
	Rate float64
	// GiveUpAfter is how long a step keeps retrying transient faults (5xx,
	// timeouts, refused connections) and rate limits before it fails.
	GiveUpAfter time.Duration
}

// DefaultGiveUpAfter is how long a step rides out an app's outage by default.
const DefaultGiveUpAfter = 24 * time.Hour

// String leaves the secrets out so a config can be logged.
func (a AppConfig) String() string {
	return fmt.Sprintf("%s (%s at %s)", a.Name, a.Connector, a.BaseURL)
}

// AccountNamer is a Connector whose accounts are known by a name that only
// the HR record gives (GitHub: a username in an HR attribute), rather than by
// HR ID or work email. Reconciliation matches a listed account to the person
// whose record gives its user name.
type AccountNamer interface {
	// Username is the name the app knows u by, or "" when u's record gives none.
	Username(u User) string
}

// GrouplessLister is a Connector whose List reports no memberships (GitHub
// has no call that lists a member's teams). Reconciliation does not compare
// entitlements in its apps, rather than read every account again.
type GrouplessLister interface {
	// ListsNoGroups is true when List's accounts carry no Groups.
	ListsNoGroups() bool
}
