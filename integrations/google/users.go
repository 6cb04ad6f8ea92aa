package google

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"

	directory "google.golang.org/api/admin/directory/v1"

	"github.com/tenure-io/tenure/integrations"
)

// Capabilities fetches a token (which proves the key, the delegation and every
// scope at once, since Google refuses a token when any scope is not authorised)
// and lists one user of the customer, which proves the admin may read the
// directory.
func (c *Client) Capabilities(ctx context.Context) (integrations.Capabilities, error) {
	_, err := c.dir.Users.List().Customer(c.customer).MaxResults(1).Fields("users(id)").Context(ctx).Do()
	if err != nil {
		return integrations.Capabilities{}, c.failure(ctx, "capabilities", err)
	}
	return Spec.Can, nil
}

// Lookup finds the user whose externalIds hold externalID, or else the user whose
// primary email or alias is userName.
func (c *Client) Lookup(ctx context.Context, externalID, userName string) (integrations.Account, error) {
	if externalID != "" {
		page, err := c.dir.Users.List().Customer(c.customer).Query("externalId=" + searchValue(externalID)).
			MaxResults(10).Context(ctx).Do()
		if err != nil {
			return integrations.Account{}, c.failure(ctx, "lookup", err)
		}
		// Google's search matches by value whatever the type; only an exact value
		// counts, so a search quirk never hands over someone else's account.
		for _, u := range page.Users {
			if externalIDOf(u) == externalID {
				return c.account(ctx, "lookup", u)
			}
		}
	}
	if userName != "" {
		u, err := c.findByEmail(ctx, "lookup", userName)
		if err != nil {
			return integrations.Account{}, err
		}
		if u != nil {
			return c.account(ctx, "lookup", u)
		}
	}
	return integrations.Account{}, &integrations.Error{Kind: integrations.NotFound, App: c.app, Op: "lookup",
		Detail: "no user has that externalId or email"}
}

// findByEmail finds the user whose primary address or alias is email, or nil. It
// searches rather than calling users.get, which Google answers with 403 for an
// address outside the customer's domains: a personal address in HR would look
// like a broken delegation.
func (c *Client) findByEmail(ctx context.Context, op, email string) (*directory.User, error) {
	page, err := c.dir.Users.List().Customer(c.customer).Query("email=" + searchValue(email)).
		MaxResults(10).Context(ctx).Do()
	if err != nil {
		return nil, c.failure(ctx, op, err)
	}
	for _, u := range page.Users {
		if strings.EqualFold(u.PrimaryEmail, email) || slices.ContainsFunc(u.Aliases, func(a string) bool {
			return strings.EqualFold(a, email)
		}) {
			return u, nil
		}
	}
	return nil, nil
}

// searchValue writes a value for the Directory API's user search: as it is when
// it is one plain word, else in single quotes, as the syntax takes multi-word
// values.
func searchValue(v string) string {
	plain := v != ""
	for _, r := range v {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("@._+-", r)) {
			plain = false
		}
	}
	if plain {
		return v
	}
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v) + "'"
}

// Get reads one user by Google's user ID, with the groups it is a direct member of.
func (c *Client) Get(ctx context.Context, id string) (integrations.Account, error) {
	u, err := c.dir.Users.Get(id).Context(ctx).Do()
	if err != nil {
		return integrations.Account{}, c.failure(ctx, "get", err)
	}
	return c.account(ctx, "get", u)
}

// Create inserts the user with a random initial password, which Google requires
// and nobody is told: people sign in through SSO or a password reset. A user
// that already exists (409 duplicate) is adopted.
func (c *Client) Create(ctx context.Context, u integrations.User) (integrations.Account, error) {
	if strings.TrimSpace(u.GivenName) == "" || strings.TrimSpace(u.FamilyName) == "" {
		return integrations.Account{}, &integrations.Error{Kind: integrations.Permanent, App: c.app, Op: "create",
			Detail: "Google Workspace requires a given name and a family name, and the HR record lacks one"}
	}
	password, err := randomPassword()
	if err != nil {
		return integrations.Account{}, &integrations.Error{Kind: integrations.Transient, App: c.app, Op: "create",
			Detail: "cannot generate an initial password"}
	}
	nu := &directory.User{
		PrimaryEmail:              strings.ToLower(u.UserName),
		Name:                      &directory.UserName{GivenName: u.GivenName, FamilyName: u.FamilyName},
		Password:                  password,
		ChangePasswordAtNextLogin: true,
		Suspended:                 !u.Active,
	}
	if u.ExternalID != "" {
		nu.ExternalIds = []externalID{{Type: externalIDType, Value: u.ExternalID}}
	}
	if u.Title != "" || u.Department != "" {
		nu.Organizations = []organization{{Title: u.Title, Department: u.Department, Primary: true}}
	}
	created, err := c.dir.Users.Insert(nu).Context(ctx).Do()
	if err == nil {
		c.emails.Store(created.Id, created.PrimaryEmail)
		// A user created a moment ago is in no group, and asking Google so soon
		// risks its documented "User creation is not complete".
		return c.accountOf(created, nil), nil
	}
	ferr := c.failure(ctx, "create", err)
	if integrations.KindOf(ferr) != integrations.Conflict {
		return integrations.Account{}, ferr
	}
	acct, lerr := c.Lookup(ctx, u.ExternalID, u.UserName)
	if lerr != nil {
		if integrations.IsNotFound(lerr) {
			// The email is taken by something we cannot read as a user (a group or
			// an alias elsewhere): adopting is impossible, and retrying will not help.
			return integrations.Account{}, &integrations.Error{Kind: integrations.Permanent, App: c.app, Op: "create",
				Status: http.StatusConflict, Detail: "Google says " + strconv.Quote(u.UserName) +
					" is taken, but no user has it: it may be a group's address or another user's alias"}
		}
		return integrations.Account{}, lerr
	}
	if acct.ExternalID != "" && u.ExternalID != "" && acct.ExternalID != u.ExternalID {
		// The email belongs to someone else's account (a reused address): adopting
		// it would hand this person their mail and files.
		return integrations.Account{}, &integrations.Error{Kind: integrations.Conflict, App: c.app, Op: "create",
			Status: http.StatusConflict, Detail: "email " + strconv.Quote(u.UserName) +
				" belongs to the user with externalId " + strconv.Quote(acct.ExternalID) + ", not " + strconv.Quote(u.ExternalID)}
	}
	return acct, nil
}

func randomPassword() (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// SetActive suspends or restores the user. Suspended is sent even when false,
// since the library leaves false booleans out of a request.
func (c *Client) SetActive(ctx context.Context, id string, active bool) error {
	_, err := c.dir.Users.Patch(id, &directory.User{Suspended: !active, ForceSendFields: []string{"Suspended"}}).
		Fields("id", "suspended").Context(ctx).Do()
	return c.failure(ctx, "set_active", err)
}

// Delete deletes the user, which frees its licence. Google keeps a deleted user
// restorable for 20 days. A user already gone counts as deleted.
func (c *Client) Delete(ctx context.Context, id string) error {
	err := c.failure(ctx, "delete", c.dir.Users.Delete(id).Context(ctx).Do())
	if err == nil || integrations.IsNotFound(err) {
		c.emails.Delete(id)
	}
	if integrations.IsNotFound(err) {
		return nil
	}
	return err
}

// RevokeSessions signs the user out of every web and device session and resets
// their sign-in cookies (users.signOut).
func (c *Client) RevokeSessions(ctx context.Context, id string) error {
	return c.failure(ctx, "revoke_sessions", c.dir.Users.SignOut(id).Context(ctx).Do())
}

// AddToGroup makes the user a member of the group the entitlement names: a local
// part in the app's domain ("engineering") or a full address. Google's 409
// "Member already exists" is the membership we wanted.
func (c *Client) AddToGroup(ctx context.Context, id, group string) error {
	email, err := c.email(ctx, id)
	if err != nil {
		return err
	}
	key := c.groupKey(group)
	_, err = c.dir.Members.Insert(key, &directory.Member{Email: email, Role: "MEMBER"}).Context(ctx).Do()
	ferr := c.failure(ctx, "add_to_group", err)
	switch integrations.KindOf(ferr) {
	case integrations.Conflict:
		return nil
	case integrations.NotFound:
		if strings.Contains(ferr.Error(), "groupKey") {
			// A grant names a group Google does not have: a person must create it
			// or fix the policy, so retrying is pointless.
			return &integrations.Error{Kind: integrations.Permanent, App: c.app, Op: "add_to_group",
				Status: http.StatusNotFound, Detail: "group " + strconv.Quote(key) + " does not exist in Google Workspace"}
		}
		c.emails.Delete(id)
	}
	return ferr
}

// RemoveFromGroup ends the user's direct membership of the group. A missing
// group or membership counts as removed.
func (c *Client) RemoveFromGroup(ctx context.Context, id, group string) error {
	err := c.failure(ctx, "remove_from_group", c.dir.Members.Delete(c.groupKey(group), id).Context(ctx).Do())
	if integrations.IsNotFound(err) {
		return nil
	}
	return err
}

// List calls fn for every user of the customer, a page at a time, with its groups.
func (c *Client) List(ctx context.Context, fn func(integrations.Account) bool) error {
	token := ""
	for {
		call := c.dir.Users.List().Customer(c.customer).MaxResults(pageSize).OrderBy("email").Context(ctx)
		if token != "" {
			call = call.PageToken(token)
		}
		page, err := call.Do()
		if err != nil {
			return c.failure(ctx, "list", err)
		}
		for _, u := range page.Users {
			acct, err := c.account(ctx, "list", u)
			if integrations.IsNotFound(err) {
				continue // deleted between the page and its groups
			}
			if err != nil {
				return err
			}
			if !fn(acct) {
				return nil
			}
		}
		if page.NextPageToken == "" {
			return nil
		}
		token = page.NextPageToken
	}
}

// email returns the user's primary email, which members.insert requires.
func (c *Client) email(ctx context.Context, id string) (string, error) {
	if v, ok := c.emails.Load(id); ok {
		return v.(string), nil
	}
	u, err := c.dir.Users.Get(id).Fields("id", "primaryEmail").Context(ctx).Do()
	if err != nil {
		return "", c.failure(ctx, "get", err)
	}
	c.emails.Store(id, u.PrimaryEmail)
	return u.PrimaryEmail, nil
}

// groupKey turns an entitlement into the group's address: a bare name is a
// group in the app's domain.
func (c *Client) groupKey(entitlement string) string {
	if strings.Contains(entitlement, "@") {
		return strings.ToLower(entitlement)
	}
	return strings.ToLower(entitlement) + "@" + c.domain
}

// entitlement is the name Tenure uses for a group: its local part when it is in
// the app's domain, its full address otherwise.
func (c *Client) entitlement(groupEmail string) string {
	e := strings.ToLower(groupEmail)
	if local, dom, ok := strings.Cut(e, "@"); ok && dom == c.domain {
		return local
	}
	return e
}

// account reads the user's groups and makes the Account.
func (c *Client) account(ctx context.Context, op string, u *directory.User) (integrations.Account, error) {
	c.emails.Store(u.Id, u.PrimaryEmail)
	var groups []string
	call := c.dir.Groups.List().UserKey(u.Id).MaxResults(200).Fields("groups(email)", "nextPageToken")
	err := call.Pages(ctx, func(page *directory.Groups) error {
		for _, g := range page.Groups {
			groups = append(groups, c.entitlement(g.Email))
		}
		return nil
	})
	if err != nil {
		return integrations.Account{}, c.failure(ctx, op, err)
	}
	return c.accountOf(u, groups), nil
}

func (c *Client) accountOf(u *directory.User, groups []string) integrations.Account {
	sort.Strings(groups)
	return integrations.Account{
		ID:         u.Id,
		UserName:   strings.ToLower(u.PrimaryEmail),
		ExternalID: externalIDOf(u),
		// An archived user cannot sign in either, and unsuspending does not
		// unarchive, so only a user that is neither counts as active.
		Active: !u.Suspended && !u.Archived,
		Groups: groups,
	}
}

// externalID is one entry of a user's externalIds.
type externalID struct {
	Type       string `json:"type"`
	CustomType string `json:"customType,omitempty"`
	Value      string `json:"value"`
}

// organization is one entry of a user's organizations.
type organization struct {
	Title      string `json:"title,omitempty"`
	Department string `json:"department,omitempty"`
	Primary    bool   `json:"primary,omitempty"`
}

// externalIDOf returns the HR ID Tenure stored: the organization-typed
// externalId, or failing that the only one. The library leaves externalIds as
// raw JSON values, so they are decoded here.
func externalIDOf(u *directory.User) string {
	if u.ExternalIds == nil {
		return ""
	}
	raw, err := json.Marshal(u.ExternalIds)
	if err != nil {
		return ""
	}
	var ids []externalID
	if json.Unmarshal(raw, &ids) != nil {
		return ""
	}
	for _, id := range ids {
		if id.Type == externalIDType {
			return id.Value
		}
	}
	if len(ids) == 1 {
		return ids[0].Value
	}
	return ""
}
