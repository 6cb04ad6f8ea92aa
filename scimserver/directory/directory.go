// Package directory holds what the inbound SCIM server keeps of the users and
// groups an identity provider pushes, and the Store interface that keeps them.
// It is a leaf package, so that the store can implement the interface without
// importing the HTTP server.
package directory

import (
	"context"
	"time"
)

// User is a SCIM user as the identity provider last wrote it, and how it maps
// onto a person in Tenure.
type User struct {
	// ID is the SCIM id Tenure assigned; it never changes.
	ID string
	// ExternalID is the identity provider's own id for the user, if it sent one.
	ExternalID string
	// UserName is unique, ignoring case.
	UserName string
	// HRID is the person's HR ID in Tenure, fixed when the user is created: the
	// enterprise employeeNumber, or "scim-" plus ID when there was none.
	HRID string
	// Email is the primary email, which filters on emails.value find.
	Email string
	// Active is the SCIM active flag.
	Active bool
	// Hired is true once Tenure has been sent a hire for the person, so that a
	// later activation is a rehire.
	Hired bool
	// Version counts the user's changes; it is the ETag and part of event IDs.
	Version int
	// Attributes are the SCIM attributes as written, without id, externalId,
	// meta, schemas, groups and password.
	Attributes map[string]any
	// Groups are the groups the user is a member of, sorted by name.
	Groups    []GroupRef
	CreatedAt time.Time
	UpdatedAt time.Time
}

// GroupRef names one group a user is a member of.
type GroupRef struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// Group is a SCIM group and its members.
type Group struct {
	ID          string
	ExternalID  string
	DisplayName string
	// Members are the SCIM ids of the member users, sorted.
	Members   []string
	Version   int
	CreatedAt time.Time
	UpdatedAt time.Time
}

// UserQuery selects users; the empty fields do not narrow. Limit 0 returns all.
type UserQuery struct {
	UserName   string // ignoring case
	ExternalID string
	Email      string // ignoring case
	HRID       string
	Limit      int
	Offset     int
}

// GroupQuery selects groups; the empty fields do not narrow. Limit 0 returns all.
type GroupQuery struct {
	DisplayName string // ignoring case
	ExternalID  string
	Limit       int
	Offset      int
}

// UserWrite is one user to insert (Prev 0), update from version Prev, or delete.
type UserWrite struct {
	User   User
	Prev   int
	Delete bool
}

// GroupWrite is one group to insert (Prev 0), update from version Prev, or delete.
type GroupWrite struct {
	Group  Group
	Prev   int
	Delete bool
}

// Write is a set of changes that happen together or not at all.
type Write struct {
	Users  []UserWrite
	Groups []GroupWrite
}

// Store keeps the SCIM directory. Lookups of missing rows return ENOTFOUND.
type Store interface {
	GetSCIMUser(ctx context.Context, id string) (User, error)
	// ListSCIMUsers returns one page of users, oldest first, and how many match.
	ListSCIMUsers(ctx context.Context, q UserQuery) ([]User, int, error)
	GetSCIMGroup(ctx context.Context, id string) (Group, error)
	// ListSCIMGroups returns one page of groups, oldest first, and how many match.
	ListSCIMGroups(ctx context.Context, q GroupQuery) ([]Group, int, error)
	// WriteSCIM applies w in one transaction. It returns ECONFLICT, and writes
	// nothing, when a row is not at its Prev version (someone changed it first)
	// or a userName, HR ID or group displayName is taken.
	WriteSCIM(ctx context.Context, w Write) error
}
