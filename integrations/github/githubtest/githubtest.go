// Package githubtest is a local fake of the part of GitHub's REST API that
// Tenure's github connector uses: one organisation with its members,
// memberships (pending until the person accepts), invitations by email or by
// user, teams and team memberships, users, Link-header paging, token auth,
// GitHub's error format and its primary and secondary rate limits. It exists
// because GitHub cannot be reached from tests, and the connector must be driven
// through the real go-github client against something that answers the way
// GitHub documents (and, where the documents are silent, the way GitHub has
// been seen to answer).
//
// A test plays three parts through it: the server, the person (Accept,
// AcceptEmailInvitation: what clicking the link in GitHub's email does) and
// the auditor (MembershipState, Invitations, TeamMembers: the peer's own state).
package githubtest

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// DefaultToken is the token a new server accepts.
const DefaultToken = "ghs_githubtest_token"

// DefaultOrg is the organisation a new server holds.
const DefaultOrg = "acme"

// botLogin is the user the token belongs to; it is the org's owner and the
// inviter of every invitation.
const botLogin = "tenure-bot"

// apiPrefix is where GitHub Enterprise Server serves its API, and where
// go-github's WithEnterpriseURLs points. The fake also answers without it.
const apiPrefix = "/api/v3"

// Server is a fake GitHub with one organisation. It is safe for concurrent use.
type Server struct {
	// URL is the server's root; give it to the connector as base_url (go-github
	// adds /api/v3/ to it, as for GitHub Enterprise Server). Empty for a Server
	// made with New and mounted elsewhere.
	URL string
	// Token is the bearer token the server accepts.
	Token string
	// Org is the organisation's login.
	Org string

	srv *httptest.Server
	mux *http.ServeMux

	mu          sync.Mutex
	nextID      int64
	users       map[string]*user // by lower-cased login
	members     map[string]string
	teams       map[string]*team // by slug
	invitations []*invitation    // pending, oldest first
	failed      []*invitation
	maxPerPage  int
	requests    []string
	faults      []fault
	rate        rateWindow
}

type user struct {
	id    int64
	login string
	email string // the verified email GitHub resolves invitations against
	name  string
}

type team struct {
	id      int64
	slug    string
	name    string
	members map[string]string // lower-cased login -> role (member, maintainer), active
}

type invitation struct {
	id      int64
	login   string // the invited user, when known (lower-cased key into users)
	email   string // set for invitations by email
	role    string
	teams   []int64
	created time.Time
	failed  time.Time
	reason  string
}

// fault is a canned answer for the next requests: a secondary rate limit, or
// any status.
type fault struct {
	status     int
	retryAfter time.Duration
	secondary  bool
	left       int
}

// rateWindow is the primary rate limit as GitHub reports it in x-ratelimit-*
// headers on every answer.
type rateWindow struct {
	limit int
	used  int
	reset time.Time
	// exhaustedUntil, when in the future, makes every request fail with the
	// primary rate limit.
	exhaustedUntil time.Time
}

// Option configures a Server.
type Option func(*Server)

// WithToken makes the server accept token instead of DefaultToken.
func WithToken(token string) Option { return func(s *Server) { s.Token = token } }

// WithOrg names the organisation.
func WithOrg(org string) Option { return func(s *Server) { s.Org = org } }

// WithMaxPerPage caps per_page below GitHub's 100, so tests see several pages
// (and so Link headers) without creating hundreds of members.
func WithMaxPerPage(n int) Option {
	return func(s *Server) {
		if n > 0 {
			s.maxPerPage = n
		}
	}
}

// New returns a fake that is not listening; serve it with ServeHTTP. It answers
// under any path prefix that ends in /api/v3 as well as at the root.
func New(opts ...Option) *Server {
	s := &Server{
		Token:      DefaultToken,
		Org:        DefaultOrg,
		nextID:     1000,
		users:      map[string]*user{},
		members:    map[string]string{},
		teams:      map[string]*team{},
		maxPerPage: 100,
		rate:       rateWindow{limit: 5000, reset: time.Now().Add(time.Hour)},
	}
	for _, o := range opts {
		o(s)
	}
	bot := s.addUserLocked(botLogin, "")
	s.members[strings.ToLower(bot.login)] = "admin"
	s.routes()
	return s
}

// NewServer starts a fake on a local port. Close it when done.
func NewServer(opts ...Option) *Server {
	s := New(opts...)
	s.srv = httptest.NewServer(s)
	s.URL = s.srv.URL
	return s
}

// Close stops the server.
func (s *Server) Close() {
	if s.srv != nil {
		s.srv.Close()
	}
}

// AddUser creates a GitHub account: login, and the verified email that an
// invitation by email resolves to (may be empty).
func (s *Server) AddUser(login, email string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.addUserLocked(login, email)
}

func (s *Server) addUserLocked(login, email string) *user {
	if u := s.users[strings.ToLower(login)]; u != nil {
		if email != "" {
			u.email = email
		}
		return u
	}
	u := &user{id: s.id(), login: login, email: email}
	s.users[strings.ToLower(login)] = u
	return u
}

// AddMember makes login an active member with role ("member" or "admin"),
// creating the user if needed, as if they had joined long ago.
func (s *Server) AddMember(login, role string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.addUserLocked(login, "")
	s.members[strings.ToLower(login)] = role
}

// AddTeam creates a team.
func (s *Server) AddTeam(slug, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.teams[slug] == nil {
		s.teams[slug] = &team{id: s.id(), slug: slug, name: name, members: map[string]string{}}
	}
}

// AddTeamMember puts an active member straight into a team.
func (s *Server) AddTeamMember(slug, login string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t := s.teams[slug]; t != nil {
		t.members[strings.ToLower(login)] = "member"
	}
}

// Accept is the person behind login accepting their pending invitation, as
// clicking the link in GitHub's email does. It reports whether there was one.
func (s *Server) Accept(login string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := strings.ToLower(login)
	for i, inv := range s.invitations {
		if s.invitationUser(inv) == key {
			s.acceptLocked(i, key)
			return true
		}
	}
	return false
}

// AcceptEmailInvitation is the person who received the invitation sent to
// email accepting it while signed in as login (created if GitHub has no such
// user yet, with email as its verified address). It reports whether there was
// such an invitation.
func (s *Server) AcceptEmailInvitation(email, login string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, inv := range s.invitations {
		if inv.email != "" && strings.EqualFold(inv.email, email) {
			u := s.addUserLocked(login, email)
			s.acceptLocked(i, strings.ToLower(u.login))
			return true
		}
	}
	return false
}

func (s *Server) acceptLocked(i int, key string) {
	inv := s.invitations[i]
	s.invitations = slices.Delete(s.invitations, i, i+1)
	role := "member"
	if inv.role == "admin" {
		role = "admin"
	}
	s.members[key] = role
	for _, id := range inv.teams {
		if t := s.teamByID(id); t != nil {
			t.members[key] = "member"
		}
	}
}

// ExpireInvitation lets the pending invitation for who (a login or an email)
// lapse, as GitHub does after seven days: it moves to the failed invitations.
func (s *Server) ExpireInvitation(who string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, inv := range s.invitations {
		if strings.EqualFold(inv.email, who) || (inv.login != "" && inv.login == strings.ToLower(who)) {
			s.invitations = slices.Delete(s.invitations, i, i+1)
			inv.failed, inv.reason = time.Now(), "expired"
			s.failed = append(s.failed, inv)
			return true
		}
	}
	return false
}

// MembershipState is login's state in the organisation as GitHub holds it:
// "active", "pending" (invited, not yet accepted) or "" (neither).
func (s *Server) MembershipState(login string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	state, _ := s.membershipLocked(strings.ToLower(login))
	return state
}

// Role is an active member's role ("member" or "admin"), or "".
func (s *Server) Role(login string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.members[strings.ToLower(login)]
}

// Invitation is a pending or failed invitation as a test sees it.
type Invitation struct {
	ID     int64
	Login  string // the invited user, when invited by user
	Email  string // the invited address, when invited by email
	Teams  []string
	Failed string // the failure reason, for failed invitations
}

// Invitations lists the pending invitations, oldest first.
func (s *Server) Invitations() []Invitation {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.describe(s.invitations)
}

// FailedInvitations lists the failed (expired) invitations.
func (s *Server) FailedInvitations() []Invitation {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.describe(s.failed)
}

func (s *Server) describe(invs []*invitation) []Invitation {
	out := make([]Invitation, 0, len(invs))
	for _, inv := range invs {
		d := Invitation{ID: inv.id, Email: inv.email, Failed: inv.reason}
		if inv.login != "" {
			d.Login = s.users[inv.login].login
		}
		for _, id := range inv.teams {
			if t := s.teamByID(id); t != nil {
				d.Teams = append(d.Teams, t.slug)
			}
		}
		sort.Strings(d.Teams)
		out = append(out, d)
	}
	return out
}

// TeamMembers maps each login in the team to its state there: "active", or
// "pending" while the person's invitation to the organisation is not accepted.
func (s *Server) TeamMembers(slug string) map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]string{}
	t := s.teams[slug]
	if t == nil {
		return out
	}
	for key := range t.members {
		out[s.users[key].login] = "active"
	}
	for _, inv := range s.invitations {
		if key := s.invitationUser(inv); key != "" && slices.Contains(inv.teams, t.id) {
			out[s.users[key].login] = "pending"
		}
	}
	return out
}

// Members lists the active members' logins, sorted.
func (s *Server) Members() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for key := range s.members {
		out = append(out, s.users[key].login)
	}
	sort.Strings(out)
	return out
}

// SecondaryRateLimit makes the next n requests fail as GitHub's secondary rate
// limit does: 403 with Retry-After and the documented message.
func (s *Server) SecondaryRateLimit(n int, retryAfter time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, fault{status: http.StatusForbidden, retryAfter: retryAfter, secondary: true, left: n})
}

// ExhaustRateLimit spends the primary rate limit until reset: every request
// fails with 403 and x-ratelimit-remaining: 0 until then.
func (s *Server) ExhaustRateLimit(reset time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rate.exhaustedUntil = reset
}

// FailNext makes the next n requests fail with status and a GitHub error body.
func (s *Server) FailNext(n, status int) {
	s.FailNextRetryAfter(n, status, 0)
}

// FailNextRetryAfter is FailNext with a Retry-After header (when retryAfter is
// positive): a throttling answer from a proxy or an older GitHub Enterprise
// Server that does not use the documented secondary rate limit body.
func (s *Server) FailNextRetryAfter(n, status int, retryAfter time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, fault{status: status, retryAfter: retryAfter, left: n})
}

// Requests lists the requests served so far as "METHOD /path?query", with the
// /api/v3 prefix removed.
func (s *Server) Requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

func (s *Server) id() int64 {
	s.nextID++
	return s.nextID
}

func (s *Server) teamByID(id int64) *team {
	for _, t := range s.teams {
		if t.id == id {
			return t
		}
	}
	return nil
}

// invitationUser is the user an invitation is for: the invited user, or the
// user whose verified email an invitation by email names ("" when none).
func (s *Server) invitationUser(inv *invitation) string {
	if inv.login != "" {
		return inv.login
	}
	if inv.email == "" {
		return ""
	}
	for key, u := range s.users {
		if u.email != "" && strings.EqualFold(u.email, inv.email) {
			return key
		}
	}
	return ""
}

// membershipLocked is login's organisation membership: GitHub reports an
// invited user's membership as pending, whether the invitation named the user
// or an email that resolves to them.
func (s *Server) membershipLocked(key string) (state, role string) {
	if r, ok := s.members[key]; ok {
		return "active", r
	}
	for _, inv := range s.invitations {
		if s.invitationUser(inv) == key {
			role := "member"
			if inv.role == "admin" {
				role = "admin"
			}
			return "pending", role
		}
	}
	return "", ""
}
