// Package github is Tenure's connector for a GitHub organisation: it brings
// people into the organisation, puts them in teams (the entitlements), and
// takes them out again, through GitHub's REST API with the go-github client.
//
// GitHub is unlike the apps Tenure otherwise talks to, and the connector says
// so rather than papering over it:
//   - An organisation does not own its members' accounts. People own their
//     GitHub users; the organisation only invites them, and nothing is active
//     until the person accepts. An invitation that is not accepted reads back
//     as Account{Pending: true, Active: false}, never as active.
//   - There is no "disabled member". Disabling removes the person from the
//     organisation (or cancels their invitation) and enabling invites them
//     again; their GitHub user, and anything they own, is untouched.
//   - GitHub keeps no HR ID. Members are known by their GitHub username, which
//     HR must hold (the username_attribute); without one, the person is invited
//     by work email and known as "invitation:<id>" until they accept.
//
// Everything GitHub-specific (the API calls, paging, and the mapping of GitHub's
// answers and rate limits to integrations.Error kinds) lives here.
package github

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	gh "github.com/google/go-github/v88/github"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/integrations"
)

// Kind is the connector kind name used in policy files.
const Kind = "github"

// InvitationPrefix starts the account ID of a person invited by email, whose
// GitHub username is not known: "invitation:<invitation id>".
const InvitationPrefix = "invitation:"

// pageSize is GitHub's largest page.
const pageSize = 100

// teamReaders bounds the team membership reads in flight for one Get: enough
// to read a few dozen teams quickly, far below GitHub's concurrency limit.
const teamReaders = 4

// Spec declares the github kind: one organisation, reached with a token that
// may administer its members.
var Spec = integrations.Spec{
	Kind: Kind,
	New:  Factory,
	// Removing a member frees their paid seat, hence ReclaimLicence.
	Can: integrations.Capabilities{Groups: true, Delete: true, ReclaimLicence: true},
	Keys: []integrations.Key{
		{Name: "org", Required: true},
		{Name: "token", Required: true, Secret: true},
		{Name: "username_attribute"},
		{Name: "base_url"},
	},
}

// Client is the connector for one GitHub organisation. It is safe for
// concurrent use.
type Client struct {
	app          string
	org          string
	token        string
	usernameAttr string
	gh           *gh.Client

	capsMu sync.Mutex
	caps   *integrations.Capabilities
}

var _ integrations.Connector = (*Client)(nil)

// Option configures a Client.
type Option func(*options)

type options struct{ http *http.Client }

// WithHTTPClient makes the connector send its requests through hc.
func WithHTTPClient(hc *http.Client) Option {
	return func(o *options) {
		if hc != nil {
			o.http = hc
		}
	}
}

// Factory adapts New to integrations.Factory.
func Factory(app integrations.AppConfig) (integrations.Connector, error) {
	return New(app)
}

// New returns a connector for the organisation app.Params["org"], reached with
// the token secret, at base_url (GitHub Enterprise Server's API root, or the
// fake's URL) or else GitHub's public API. It makes no call.
func New(app integrations.AppConfig, opts ...Option) (*Client, error) {
	name := app.Name
	if name == "" {
		name = "(unnamed)"
	}
	org := strings.TrimSpace(app.Params["org"])
	switch {
	case org == "":
		return nil, invalidConfig(name, "org", "is required (the organisation's login, as in github.com/<org>)")
	case !validName(org):
		return nil, invalidConfig(name, "org", "is not a GitHub organisation login")
	}
	token := app.Secrets["token"]
	if token == "" {
		token = app.Token
	}
	if token == "" {
		return nil, invalidConfig(name, "token", "is required (a token that may administer the organisation's members, given as token_env or token_file)")
	}
	o := options{http: defaultHTTPClient()}
	for _, opt := range opts {
		opt(&o)
	}
	ghOpts := []gh.ClientOptionsFunc{gh.WithHTTPClient(o.http), gh.WithAuthToken(token), gh.WithUserAgent("tenure")}
	base := strings.TrimSpace(app.Params["base_url"])
	if base == "" {
		base = strings.TrimSpace(app.BaseURL)
	}
	if base != "" {
		u, err := url.Parse(base)
		switch {
		case err != nil:
			return nil, invalidConfig(name, "base_url", "is not a URL")
		case u.Scheme != "http" && u.Scheme != "https":
			return nil, invalidConfig(name, "base_url", "must be an http or https URL")
		case u.Host == "":
			return nil, invalidConfig(name, "base_url", "has no host")
		case u.User != nil:
			return nil, invalidConfig(name, "base_url", "must not carry credentials; use the token")
		case u.RawQuery != "" || u.Fragment != "":
			return nil, invalidConfig(name, "base_url", "must not carry a query or fragment")
		}
		if !strings.HasSuffix(base, "/") {
			base += "/"
		}
		// WithEnterpriseURLs adds /api/v3/ unless the URL has it already, so
		// both https://ghe.example.com and .../api/v3 work.
		ghOpts = append(ghOpts, gh.WithEnterpriseURLs(base, base))
	}
	client, err := gh.NewClient(ghOpts...)
	if err != nil {
		return nil, invalidConfig(name, "base_url", err.Error())
	}
	return &Client{
		app:          name,
		org:          org,
		token:        token,
		usernameAttr: strings.TrimSpace(app.Params["username_attribute"]),
		gh:           client,
	}, nil
}

func invalidConfig(app, field, problem string) error {
	return tenure.Invalid(tenure.FieldError{Field: "apps." + app + "." + field, Problem: problem})
}

// defaultHTTPClient keeps connections to GitHub alive between calls and bounds
// each call, so a hung connection cannot hold an activity forever.
func defaultHTTPClient() *http.Client {
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          64,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   5 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	return &http.Client{Timeout: 20 * time.Second, Transport: tr}
}

// validName accepts GitHub logins (Enterprise Managed Users add "_shortcode")
// and team slugs. go-github puts names into paths unescaped, so anything else
// is refused before it can become a different path.
var validName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$`).MatchString

// Capabilities reads the organisation and its pending invitations: the first
// proves the token and the org, the second that the token may administer
// members (reading invitations needs the same permission as changing them).
// A success is cached; a failure is not.
func (c *Client) Capabilities(ctx context.Context) (integrations.Capabilities, error) {
	c.capsMu.Lock()
	defer c.capsMu.Unlock()
	if c.caps != nil {
		return *c.caps, nil
	}
	if _, _, err := c.gh.Organizations.Get(ctx, c.org); err != nil {
		return integrations.Capabilities{}, c.fail(ctx, "capabilities", err)
	}
	if _, _, err := c.gh.Organizations.ListPendingOrgInvitations(ctx, c.org, &gh.ListOptions{PerPage: 1}); err != nil {
		return integrations.Capabilities{}, c.fail(ctx, "capabilities", err)
	}
	caps := Spec.Can
	c.caps = &caps
	return caps, nil
}

var (
	_ integrations.AccountNamer    = (*Client)(nil)
	_ integrations.GrouplessLister = (*Client)(nil)
)

// ListsNoGroups is true: List's members carry no teams (see List).
func (c *Client) ListsNoGroups() bool { return true }

// Username is the person's GitHub username from the HR attribute the policy
// names, without a leading "@"; "" when there is none.
func (c *Client) Username(u integrations.User) string {
	if c.usernameAttr == "" {
		return ""
	}
	return strings.TrimPrefix(strings.TrimSpace(u.Attributes[c.usernameAttr]), "@")
}

// Lookup finds the person's account. GitHub keeps no HR ID, so externalID is
// not used. userName is a GitHub username, or (the usual case, the work email)
// the address of a pending invitation by email: GitHub never shows members'
// private emails, so a member is found by username only.
func (c *Client) Lookup(ctx context.Context, externalID, userName string) (integrations.Account, error) {
	name := strings.TrimSpace(userName)
	if name != "" && !strings.Contains(name, "@") {
		return c.Get(ctx, name)
	}
	if name != "" {
		inv, err := c.findInvitation(ctx, false, func(inv *gh.Invitation) bool {
			return strings.EqualFold(inv.GetEmail(), name)
		})
		if err != nil {
			return integrations.Account{}, err
		}
		if inv != nil {
			return c.invitationAccount(ctx, inv)
		}
	}
	return integrations.Account{}, &integrations.Error{Kind: integrations.NotFound, App: c.app, Op: "lookup",
		Detail: "GitHub keeps no HR ID, and no pending invitation is for " + strconv.Quote(name) +
			"; members are found by their GitHub username"}
}

// LookupUser finds the person's account from their whole HR record: by the
// GitHub username the username_attribute names, else as Lookup does. It is
// what Lookup cannot be for GitHub, whose members are known by a username that
// only the HR record carries.
func (c *Client) LookupUser(ctx context.Context, u integrations.User) (integrations.Account, error) {
	if login := c.Username(u); login != "" {
		return c.Get(ctx, login)
	}
	email := u.UserName
	if email == "" {
		email = u.Email
	}
	return c.Lookup(ctx, u.ExternalID, email)
}

// Get reads one account: a GitHub username, or "invitation:<id>".
//
// For a username it reports the organisation membership: active, pending (not
// yet accepted, so not active), or, for a GitHub user who is not in the
// organisation (removed, or never added), Active false with no teams. Only a
// username GitHub does not know at all is NotFound.
func (c *Client) Get(ctx context.Context, id string) (integrations.Account, error) {
	if inv, ok := invitationID(id); ok {
		return c.getInvitation(ctx, inv)
	}
	if !validName(id) {
		return integrations.Account{}, c.badName("get", "username", id)
	}
	m, _, err := c.gh.Organizations.GetOrgMembership(ctx, id, c.org)
	if err != nil {
		if !isNotFound(err) {
			return integrations.Account{}, c.fail(ctx, "get", err)
		}
		u, _, uerr := c.gh.Users.Get(ctx, id)
		if uerr != nil {
			if isNotFound(uerr) {
				return integrations.Account{}, &integrations.Error{Kind: integrations.NotFound, App: c.app, Op: "get",
					Status: http.StatusNotFound, Detail: "GitHub has no user " + strconv.Quote(id)}
			}
			return integrations.Account{}, c.fail(ctx, "get", uerr)
		}
		return integrations.Account{ID: u.GetLogin(), UserName: u.GetLogin()}, nil
	}
	login := m.GetUser().GetLogin()
	if login == "" {
		login = id
	}
	acct := integrations.Account{
		ID: login, UserName: login,
		Active:  m.GetState() == "active",
		Pending: m.GetState() == "pending",
	}
	if acct.Groups, err = c.teamsOf(ctx, login); err != nil {
		return integrations.Account{}, err
	}
	return acct, nil
}

// teamsOf lists the slugs of the teams login is in, active or pending (GitHub
// holds a pending team membership until the person accepts the organisation's
// invitation; the account itself then reads as Pending). GitHub has no call
// that lists one member's teams, so each team is asked.
func (c *Client) teamsOf(ctx context.Context, login string) ([]string, error) {
	var (
		mu     sync.Mutex
		held   []string
		first  error
		opts   = &gh.ListOptions{PerPage: pageSize}
		worker = make(chan struct{}, teamReaders)
	)
	for {
		teams, resp, err := c.gh.Teams.ListTeams(ctx, c.org, opts)
		if err != nil {
			return nil, c.fail(ctx, "get", err)
		}
		var wg sync.WaitGroup
		for _, t := range teams {
			slug := t.GetSlug()
			wg.Add(1)
			worker <- struct{}{}
			go func() {
				defer func() { <-worker; wg.Done() }()
				m, _, err := c.gh.Teams.GetTeamMembershipBySlug(ctx, c.org, slug, login)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil && (m.GetState() == "active" || m.GetState() == "pending"):
					held = append(held, slug)
				case err != nil && !isNotFound(err) && first == nil:
					first = c.fail(ctx, "get", err)
				}
			}()
		}
		wg.Wait()
		if first != nil {
			return nil, first
		}
		if resp.NextPage == 0 {
			break
		}
		opts.Page = resp.NextPage
	}
	sort.Strings(held)
	return held, nil
}

// getInvitation reads an invitation by email. A pending one is a pending
// account holding the invitation's teams. One that failed (expired) is an
// inactive account, unless the address has been invited again, in which case
// the new invitation is reported (with its own ID). One that is in neither
// list was accepted or cancelled, and GitHub keeps no record of which: it is
// NotFound.
func (c *Client) getInvitation(ctx context.Context, id int64) (integrations.Account, error) {
	inv, err := c.findInvitation(ctx, false, func(inv *gh.Invitation) bool { return inv.GetID() == id })
	if err != nil {
		return integrations.Account{}, err
	}
	if inv != nil {
		return c.invitationAccount(ctx, inv)
	}
	failed, err := c.findInvitation(ctx, true, func(inv *gh.Invitation) bool { return inv.GetID() == id })
	if err != nil {
		return integrations.Account{}, err
	}
	if failed == nil {
		return integrations.Account{}, &integrations.Error{Kind: integrations.NotFound, App: c.app, Op: "get",
			Status: http.StatusNotFound, Detail: "invitation " + strconv.FormatInt(id, 10) +
				" is no longer pending: it was accepted or cancelled, and GitHub does not say which or by whom"}
	}
	if again, err := c.pendingFor(ctx, failed.GetEmail()); err != nil || again != nil {
		if err != nil {
			return integrations.Account{}, err
		}
		return c.invitationAccount(ctx, again)
	}
	return integrations.Account{ID: invitationRef(id), UserName: strings.ToLower(failed.GetEmail())}, nil
}

func (c *Client) pendingFor(ctx context.Context, email string) (*gh.Invitation, error) {
	if email == "" {
		return nil, nil
	}
	return c.findInvitation(ctx, false, func(inv *gh.Invitation) bool { return strings.EqualFold(inv.GetEmail(), email) })
}

// findInvitation pages through the pending (or failed) invitations until one
// matches.
func (c *Client) findInvitation(ctx context.Context, failed bool, match func(*gh.Invitation) bool) (*gh.Invitation, error) {
	var found *gh.Invitation
	err := c.eachInvitation(ctx, failed, func(inv *gh.Invitation) bool {
		if match(inv) {
			found = inv
			return false
		}
		return true
	})
	return found, err
}

func (c *Client) eachInvitation(ctx context.Context, failed bool, fn func(*gh.Invitation) bool) error {
	opts := &gh.ListOptions{PerPage: pageSize}
	for {
		var (
			invs []*gh.Invitation
			resp *gh.Response
			err  error
		)
		if failed {
			invs, resp, err = c.gh.Organizations.ListFailedOrgInvitations(ctx, c.org, opts)
		} else {
			invs, resp, err = c.gh.Organizations.ListPendingOrgInvitations(ctx, c.org, opts)
		}
		if err != nil {
			return c.fail(ctx, "invitations", err)
		}
		for _, inv := range invs {
			if !fn(inv) {
				return nil
			}
		}
		if resp.NextPage == 0 {
			return nil
		}
		opts.Page = resp.NextPage
	}
}

// invitationAccount is a pending invitation as an account, with the teams the
// person will join on accepting it.
func (c *Client) invitationAccount(ctx context.Context, inv *gh.Invitation) (integrations.Account, error) {
	acct := integrations.Account{ID: invitationRef(inv.GetID()), UserName: strings.ToLower(inv.GetEmail()), Pending: true}
	if inv.GetEmail() == "" {
		// An invitation to a user (GitHub shows their login): the account is the
		// user's membership, which reads as pending.
		return c.Get(ctx, inv.GetLogin())
	}
	if inv.GetTeamCount() == 0 {
		return acct, nil
	}
	opts := &gh.ListOptions{PerPage: pageSize}
	for {
		teams, resp, err := c.gh.Organizations.ListOrgInvitationTeams(ctx, c.org, strconv.FormatInt(inv.GetID(), 10), opts)
		if err != nil {
			return integrations.Account{}, c.fail(ctx, "get", err)
		}
		for _, t := range teams {
			acct.Groups = append(acct.Groups, t.GetSlug())
		}
		if resp.NextPage == 0 {
			break
		}
		opts.Page = resp.NextPage
	}
	sort.Strings(acct.Groups)
	return acct, nil
}

// Create brings the person into the organisation. With a GitHub username it
// sets their membership (GitHub invites them; the account reads as pending
// until they accept); an existing membership is adopted as it is, so an owner
// is never demoted. A person created inactive (a future start date) is not
// invited yet: their account reads as inactive until SetActive(true).
//
// Without a username the work email is invited, and a pending invitation to
// it is adopted. GitHub cannot hold an invitation back, so such a person is
// invited at once whatever u.Active says; the account reads as pending, never
// active. If GitHub says the address belongs to a member already, Create
// returns a Conflict: GitHub does not say which user it is, so there is
// nothing to adopt until HR records the username.
func (c *Client) Create(ctx context.Context, u integrations.User) (integrations.Account, error) {
	if login := c.Username(u); login != "" {
		return c.createMember(ctx, login, u.Active)
	}
	email := strings.ToLower(strings.TrimSpace(u.Email))
	if email == "" {
		email = strings.ToLower(strings.TrimSpace(u.UserName))
	}
	if !strings.Contains(email, "@") {
		return integrations.Account{}, &integrations.Error{Kind: integrations.Permanent, App: c.app, Op: "create",
			Detail: "the person has no GitHub username" + c.attrHint() + " and no email address to invite"}
	}
	inv, err := c.pendingFor(ctx, email)
	if err != nil {
		return integrations.Account{}, err
	}
	if inv != nil {
		return c.invitationAccount(ctx, inv)
	}
	inv, _, err = c.gh.Organizations.CreateOrgInvitation(ctx, c.org, &gh.CreateOrgInvitationOptions{
		Email: gh.Ptr(email), Role: gh.Ptr("direct_member"),
	})
	if err != nil {
		if alreadyMember(err) {
			return integrations.Account{}, &integrations.Error{Kind: integrations.Conflict, App: c.app, Op: "create",
				Status: http.StatusUnprocessableEntity,
				Detail: "GitHub says " + email + " belongs to a member of " + c.org +
					" already, but not which user; record their GitHub username" + c.attrHint() + " so Tenure can manage them"}
		}
		return integrations.Account{}, c.fail(ctx, "create", err)
	}
	return c.invitationAccount(ctx, inv)
}

func (c *Client) createMember(ctx context.Context, login string, active bool) (integrations.Account, error) {
	acct, err := c.Get(ctx, login)
	if err != nil {
		if integrations.IsNotFound(err) {
			return integrations.Account{}, &integrations.Error{Kind: integrations.Permanent, App: c.app, Op: "create",
				Status: http.StatusNotFound, Detail: "GitHub has no user " + strconv.Quote(login) + c.attrSource()}
		}
		return integrations.Account{}, err
	}
	if acct.Active || acct.Pending || !active {
		return acct, nil
	}
	if err := c.invite(ctx, "create", acct.ID); err != nil {
		return integrations.Account{}, err
	}
	return c.Get(ctx, acct.ID)
}

// invite sets login's organisation membership to member: GitHub invites a
// user who is not in the organisation.
func (c *Client) invite(ctx context.Context, op, login string) error {
	_, _, err := c.gh.Organizations.EditOrgMembership(ctx, login, c.org, &gh.Membership{Role: gh.Ptr("member")})
	return c.fail(ctx, op, err)
}

// SetActive(false) removes the person from the organisation (and every team in
// it), or cancels their pending invitation; SetActive(true) invites them again
// (GitHub has no disabled member to switch back on). Either is a no-op when the
// account is already so.
func (c *Client) SetActive(ctx context.Context, id string, active bool) error {
	if inv, ok := invitationID(id); ok {
		if !active {
			return c.cancel(ctx, "set_active", inv)
		}
		return c.reinvite(ctx, inv)
	}
	if !validName(id) {
		return c.badName("set_active", "username", id)
	}
	if !active {
		return c.remove(ctx, "set_active", id)
	}
	_, _, err := c.gh.Organizations.GetOrgMembership(ctx, id, c.org)
	if err == nil {
		return nil // a member, or invited already
	}
	if !isNotFound(err) {
		return c.fail(ctx, "set_active", err)
	}
	return c.invite(ctx, "set_active", id)
}

// remove takes login out of the organisation, or cancels their invitation;
// GitHub's DELETE /orgs/{org}/memberships/{username} does either.
func (c *Client) remove(ctx context.Context, op, login string) error {
	_, err := c.gh.Organizations.RemoveOrgMembership(ctx, login, c.org)
	if err != nil && isNotFound(err) {
		return nil
	}
	return c.fail(ctx, op, err)
}

func (c *Client) cancel(ctx context.Context, op string, id int64) error {
	_, err := c.gh.Organizations.CancelInvite(ctx, c.org, id)
	if err != nil && isNotFound(err) {
		return nil
	}
	return c.fail(ctx, op, err)
}

// reinvite invites again the address of an invitation that failed (expired).
// A pending one needs nothing; one that is gone left no address to invite.
func (c *Client) reinvite(ctx context.Context, id int64) error {
	acct, err := c.getInvitation(ctx, id)
	if err != nil {
		return err
	}
	if acct.Pending {
		return nil
	}
	_, _, err = c.gh.Organizations.CreateOrgInvitation(ctx, c.org, &gh.CreateOrgInvitationOptions{
		Email: gh.Ptr(acct.UserName), Role: gh.Ptr("direct_member"),
	})
	if err != nil && alreadyMember(err) {
		return nil // they joined by another way: enabled is what was asked
	}
	return c.fail(ctx, "set_active", err)
}

// Delete removes the person from the organisation, exactly as disabling does:
// an organisation cannot delete a GitHub user. Someone already gone is not an
// error.
func (c *Client) Delete(ctx context.Context, id string) error {
	if inv, ok := invitationID(id); ok {
		return c.cancel(ctx, "delete", inv)
	}
	if !validName(id) {
		return c.badName("delete", "username", id)
	}
	return c.remove(ctx, "delete", id)
}

// AddToGroup puts the member in the team whose slug is group. A membership the
// person holds already (active, pending, or as maintainer) is left as it is.
// Someone not in the organisation is refused rather than added, because GitHub
// would invite them to the organisation along with the team.
func (c *Client) AddToGroup(ctx context.Context, id, group string) error {
	const op = "add_to_group"
	if !validName(group) {
		return c.badName(op, "team slug", group)
	}
	if inv, ok := invitationID(id); ok {
		acct, err := c.getInvitation(ctx, inv)
		if err != nil {
			return err
		}
		if slices.Contains(acct.Groups, group) {
			return nil
		}
		return &integrations.Error{Kind: integrations.Permanent, App: c.app, Op: op,
			Detail: "GitHub cannot add a team to a pending invitation by email; record the person's GitHub username" +
				c.attrHint() + " to manage their teams"}
	}
	if !validName(id) {
		return c.badName(op, "username", id)
	}
	if err := c.teamExists(ctx, op, group); err != nil {
		return err
	}
	if _, _, err := c.gh.Organizations.GetOrgMembership(ctx, id, c.org); err != nil {
		if isNotFound(err) {
			return &integrations.Error{Kind: integrations.Permanent, App: c.app, Op: op, Status: http.StatusNotFound,
				Detail: strconv.Quote(id) + " is neither a member of " + c.org + " nor invited; enable the account before adding teams"}
		}
		return c.fail(ctx, op, err)
	}
	_, _, err := c.gh.Teams.GetTeamMembershipBySlug(ctx, c.org, group, id)
	if err == nil {
		return nil
	}
	if !isNotFound(err) {
		return c.fail(ctx, op, err)
	}
	_, _, err = c.gh.Teams.AddTeamMembershipBySlug(ctx, c.org, group, id, &gh.TeamAddTeamMembershipOptions{Role: "member"})
	return c.fail(ctx, op, err)
}

// RemoveFromGroup takes the member out of the team whose slug is group; one
// who is not in it is left alone.
func (c *Client) RemoveFromGroup(ctx context.Context, id, group string) error {
	const op = "remove_from_group"
	if !validName(group) {
		return c.badName(op, "team slug", group)
	}
	if inv, ok := invitationID(id); ok {
		acct, err := c.getInvitation(ctx, inv)
		if err != nil {
			return err
		}
		if !slices.Contains(acct.Groups, group) {
			return nil
		}
		return &integrations.Error{Kind: integrations.Permanent, App: c.app, Op: op,
			Detail: "GitHub cannot take a team off a pending invitation by email; disable the account to cancel the invitation"}
	}
	if !validName(id) {
		return c.badName(op, "username", id)
	}
	_, err := c.gh.Teams.RemoveTeamMembershipBySlug(ctx, c.org, group, id)
	if err == nil {
		return nil
	}
	if !isNotFound(err) {
		return c.fail(ctx, op, err)
	}
	// 404 is GitHub's answer both for "not in the team" and "no such team".
	return c.teamExists(ctx, op, group)
}

func (c *Client) teamExists(ctx context.Context, op, slug string) error {
	_, _, err := c.gh.Teams.GetTeamBySlug(ctx, c.org, slug)
	if err == nil {
		return nil
	}
	if isNotFound(err) {
		return &integrations.Error{Kind: integrations.Permanent, App: c.app, Op: op, Status: http.StatusNotFound,
			Detail: "the organisation " + c.org + " has no team with the slug " + strconv.Quote(slug)}
	}
	return c.fail(ctx, op, err)
}

// RevokeSessions is refused: GitHub has no API for an organisation to end a
// member's sessions or revoke their tokens. Removing them from the
// organisation (disabling) ends their access to its repositories and teams.
func (c *Client) RevokeSessions(ctx context.Context, id string) error {
	return &integrations.Error{Kind: integrations.Permanent, App: c.app, Op: "revoke_sessions",
		Detail: "GitHub has no API to end a member's sessions or tokens; removing them from the organisation ends their access to it"}
}

// TransferData is refused: an organisation's repositories belong to it and
// stay when a member leaves, and a member's own repositories are theirs.
func (c *Client) TransferData(ctx context.Context, id, toUserName string) error {
	return &integrations.Error{Kind: integrations.Permanent, App: c.app, Op: "transfer_data",
		Detail: "GitHub has no transfer of a member's data; the organisation's repositories stay with the organisation"}
}

// List calls fn for every active member and then every pending invitation,
// page by page, until fn returns false. Accounts from List carry no teams:
// GitHub has no call that lists a member's teams, and asking every team about
// every member would spend the rate limit; Get reads them.
func (c *Client) List(ctx context.Context, fn func(integrations.Account) bool) error {
	opts := &gh.ListMembersOptions{ListOptions: gh.ListOptions{PerPage: pageSize}}
	for {
		users, resp, err := c.gh.Organizations.ListMembers(ctx, c.org, opts)
		if err != nil {
			return c.fail(ctx, "list", err)
		}
		for _, u := range users {
			if !fn(integrations.Account{ID: u.GetLogin(), UserName: u.GetLogin(), Active: true}) {
				return nil
			}
		}
		if resp.NextPage == 0 {
			break
		}
		opts.Page = resp.NextPage
	}
	stopped := false
	err := c.eachInvitation(ctx, false, func(inv *gh.Invitation) bool {
		acct := integrations.Account{ID: inv.GetLogin(), UserName: inv.GetLogin(), Pending: true}
		if inv.GetLogin() == "" {
			acct = integrations.Account{ID: invitationRef(inv.GetID()), UserName: strings.ToLower(inv.GetEmail()), Pending: true}
		}
		stopped = !fn(acct)
		return !stopped
	})
	return err
}

func invitationID(id string) (int64, bool) {
	rest, ok := strings.CutPrefix(id, InvitationPrefix)
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(rest, 10, 64)
	return n, err == nil && n > 0
}

func invitationRef(id int64) string { return InvitationPrefix + strconv.FormatInt(id, 10) }

func (c *Client) badName(op, what, name string) error {
	return &integrations.Error{Kind: integrations.Permanent, App: c.app, Op: op,
		Detail: strconv.Quote(name) + " is not a GitHub " + what}
}

func (c *Client) attrHint() string {
	if c.usernameAttr == "" {
		return " (set username_attribute to the HR attribute that holds it)"
	}
	return " in the HR attribute " + strconv.Quote(c.usernameAttr)
}

func (c *Client) attrSource() string {
	if c.usernameAttr == "" {
		return ""
	}
	return " (from the HR attribute " + strconv.Quote(c.usernameAttr) + ")"
}
