package github_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tenure-io/tenure/integrations"
	"github.com/tenure-io/tenure/integrations/github"
	"github.com/tenure-io/tenure/integrations/github/githubtest"
)

const attr = "github_username"

func newFake(t *testing.T, opts ...githubtest.Option) *githubtest.Server {
	t.Helper()
	s := githubtest.NewServer(opts...)
	t.Cleanup(s.Close)
	s.AddTeam("engineering", "Engineering")
	s.AddTeam("design", "Design")
	return s
}

func connect(t *testing.T, s *githubtest.Server, baseURL string) *github.Client {
	t.Helper()
	if baseURL == "" {
		baseURL = s.URL
	}
	c, err := github.New(integrations.AppConfig{
		Name: "gh", Connector: github.Kind,
		Params:  map[string]string{"org": s.Org, "username_attribute": attr, "base_url": baseURL},
		Secrets: map[string]string{"token": s.Token},
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func person(email, username string, active bool) integrations.User {
	u := integrations.User{ExternalID: "E1", UserName: email, Email: email, Active: active}
	if username != "" {
		u.Attributes = map[string]string{attr: username}
	}
	return u
}

func kindOf(t *testing.T, err error, want integrations.Kind) *integrations.Error {
	t.Helper()
	var e *integrations.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not an *integrations.Error", err, err)
	}
	if e.Kind != want {
		t.Fatalf("error %v is %s, want %s", err, e.Kind, want)
	}
	return e
}

func count(reqs []string, prefix string) int {
	n := 0
	for _, r := range reqs {
		if strings.HasPrefix(r, prefix) {
			n++
		}
	}
	return n
}

func TestNewChecksTheConfig(t *testing.T) {
	for _, tc := range []struct {
		name    string
		params  map[string]string
		secrets map[string]string
		field   string
	}{
		{"no org", map[string]string{}, map[string]string{"token": "t"}, "apps.gh.org"},
		{"org with a slash", map[string]string{"org": "acme/../x"}, map[string]string{"token": "t"}, "apps.gh.org"},
		{"no token", map[string]string{"org": "acme"}, nil, "apps.gh.token"},
		{"base_url not http", map[string]string{"org": "acme", "base_url": "ftp://ghe.example.com"}, map[string]string{"token": "t"}, "apps.gh.base_url"},
		{"base_url with credentials", map[string]string{"org": "acme", "base_url": "https://u:p@ghe.example.com"}, map[string]string{"token": "t"}, "apps.gh.base_url"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := github.New(integrations.AppConfig{Name: "gh", Params: tc.params, Secrets: tc.secrets})
			if err == nil || !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("New = %v, want an error naming %s", err, tc.field)
			}
		})
	}
	if _, err := github.Spec.New(integrations.AppConfig{Name: "gh", Params: map[string]string{"org": "acme"},
		Secrets: map[string]string{"token": "t"}}); err != nil {
		t.Fatalf("a minimal config (public GitHub) is refused: %v", err)
	}
}

func TestCapabilitiesSayWhatGitHubCanDo(t *testing.T) {
	s := newFake(t)
	c := connect(t, s, "")
	caps, err := c.Capabilities(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := integrations.Capabilities{Groups: true, Delete: true, ReclaimLicence: true}
	if caps != want || caps != github.Spec.Can {
		t.Fatalf("capabilities %+v, want %+v (no disable, no session revocation, no data transfer)", caps, want)
	}
	if count(s.Requests(), "GET /orgs/acme/invitations") != 1 {
		t.Fatalf("capabilities did not check the token may administer members: %v", s.Requests())
	}

	wrongOrg, _ := github.New(integrations.AppConfig{Name: "gh", Params: map[string]string{"org": "other", "base_url": s.URL},
		Secrets: map[string]string{"token": s.Token}})
	_, err = wrongOrg.Capabilities(context.Background())
	kindOf(t, err, integrations.NotFound)
}

func TestBadTokenIsPermanentAndNeverShown(t *testing.T) {
	s := newFake(t)
	const secret = "ghp_not-the-right-token-123"
	c, err := github.New(integrations.AppConfig{Name: "gh", Params: map[string]string{"org": s.Org, "base_url": s.URL},
		Secrets: map[string]string{"token": secret}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Capabilities(context.Background())
	e := kindOf(t, err, integrations.Permanent)
	if e.Status != http.StatusUnauthorized || !strings.Contains(e.Detail, "Bad credentials") {
		t.Fatalf("error %+v, want 401 with GitHub's message", e)
	}
	if strings.Contains(err.Error(), secret) {
		t.Fatalf("the token leaked into the error: %v", err)
	}
}

// A person with a GitHub username is invited through their membership, reads
// as pending (never active) until they accept, and their team membership is
// pending with them.
func TestInviteByUsernameIsPendingUntilAccepted(t *testing.T) {
	ctx := context.Background()
	s := newFake(t)
	s.AddUser("ada-l", "ada@home.example")
	c := connect(t, s, "")

	acct, err := c.Create(ctx, person("ada@example.com", "@Ada-L", true))
	if err != nil {
		t.Fatal(err)
	}
	if acct.ID != "ada-l" || acct.Active || !acct.Pending {
		t.Fatalf("created %+v, want ada-l pending and not active", acct)
	}
	if got := s.MembershipState("ada-l"); got != "pending" {
		t.Fatalf("GitHub holds ada-l as %q, want pending", got)
	}
	if err := c.AddToGroup(ctx, acct.ID, "engineering"); err != nil {
		t.Fatal(err)
	}
	if err := c.AddToGroup(ctx, acct.ID, "engineering"); err != nil {
		t.Fatal(err)
	}
	if n := count(s.Requests(), "PUT /orgs/acme/teams/engineering/memberships/ada-l"); n != 1 {
		t.Fatalf("the team membership was set %d times, want once", n)
	}
	if got := s.TeamMembers("engineering")["ada-l"]; got != "pending" {
		t.Fatalf("ada-l is %q in engineering, want pending until she accepts", got)
	}
	got, err := c.Get(ctx, acct.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Active || !got.Pending || !slices.Equal(got.Groups, []string{"engineering"}) {
		t.Fatalf("before accepting: %+v, want pending, not active, in engineering", got)
	}
	// Creating again adopts the pending membership rather than inviting twice.
	again, err := c.Create(ctx, person("ada@example.com", "ada-l", true))
	if err != nil || again.ID != "ada-l" || !again.Pending {
		t.Fatalf("second create = %+v, %v", again, err)
	}
	if n := count(s.Requests(), "PUT /orgs/acme/memberships/"); n != 1 {
		t.Fatalf("the membership was set %d times, want once", n)
	}

	if !s.Accept("ada-l") {
		t.Fatal("no invitation for ada-l to accept")
	}
	got, err = c.Get(ctx, "ada-l")
	if err != nil {
		t.Fatal(err)
	}
	if !got.Active || got.Pending || !slices.Equal(got.Groups, []string{"engineering"}) {
		t.Fatalf("after accepting: %+v, want active in engineering", got)
	}
	if s.TeamMembers("engineering")["ada-l"] != "active" {
		t.Fatalf("GitHub's team: %v", s.TeamMembers("engineering"))
	}

	if err := c.RemoveFromGroup(ctx, "ada-l", "engineering"); err != nil {
		t.Fatal(err)
	}
	if err := c.RemoveFromGroup(ctx, "ada-l", "engineering"); err != nil {
		t.Fatalf("removing again: %v", err)
	}
	if _, in := s.TeamMembers("engineering")["ada-l"]; in {
		t.Fatal("ada-l is still in engineering")
	}
}

// A future starter with a username is not invited before their start: GitHub
// cannot hold an invitation back, and accepting it early would give access.
func TestCreateInactiveDoesNotInvite(t *testing.T) {
	ctx := context.Background()
	s := newFake(t)
	s.AddUser("lin", "")
	c := connect(t, s, "")
	acct, err := c.Create(ctx, person("lin@example.com", "lin", false))
	if err != nil {
		t.Fatal(err)
	}
	if acct.ID != "lin" || acct.Active || acct.Pending || s.MembershipState("lin") != "" {
		t.Fatalf("created %+v, GitHub %q: want lin known but not invited", acct, s.MembershipState("lin"))
	}
	if err := c.SetActive(ctx, "lin", true); err != nil {
		t.Fatal(err)
	}
	if s.MembershipState("lin") != "pending" {
		t.Fatalf("enabling did not invite lin: %q", s.MembershipState("lin"))
	}
}

func TestCreateWithUnknownUsernameIsPermanent(t *testing.T) {
	s := newFake(t)
	c := connect(t, s, "")
	_, err := c.Create(context.Background(), person("x@example.com", "no-such-user", true))
	e := kindOf(t, err, integrations.Permanent)
	if !strings.Contains(e.Detail, "no-such-user") || !strings.Contains(e.Detail, attr) {
		t.Fatalf("detail %q should name the user and the HR attribute", e.Detail)
	}
}

// Disabling removes the person from the organisation and its teams; they can
// still be read (inactive). Enabling invites them again.
func TestDisableRemovesAndEnableInvitesAgain(t *testing.T) {
	ctx := context.Background()
	s := newFake(t)
	s.AddMember("grace", "member")
	s.AddTeamMember("design", "grace")
	c := connect(t, s, "")

	if err := c.SetActive(ctx, "grace", false); err != nil {
		t.Fatal(err)
	}
	if s.MembershipState("grace") != "" || len(s.TeamMembers("design")) != 0 {
		t.Fatalf("grace still in GitHub: %q, design %v", s.MembershipState("grace"), s.TeamMembers("design"))
	}
	got, err := c.Get(ctx, "grace")
	if err != nil {
		t.Fatalf("a removed member must still be readable: %v", err)
	}
	if got.ID != "grace" || got.Active || got.Pending || len(got.Groups) != 0 {
		t.Fatalf("after disabling: %+v, want inactive with no teams", got)
	}
	if err := c.SetActive(ctx, "grace", false); err != nil {
		t.Fatalf("disabling twice: %v", err)
	}

	if err := c.SetActive(ctx, "grace", true); err != nil {
		t.Fatal(err)
	}
	got, _ = c.Get(ctx, "grace")
	if got.Active || !got.Pending || s.MembershipState("grace") != "pending" {
		t.Fatalf("after enabling: %+v (GitHub %q), want pending: she must accept again", got, s.MembershipState("grace"))
	}
	if err := c.SetActive(ctx, "grace", true); err != nil {
		t.Fatal(err)
	}
	if n := count(s.Requests(), "PUT /orgs/acme/memberships/grace"); n != 1 {
		t.Fatalf("invited %d times, want once", n)
	}
	// Disabling a pending member cancels the invitation.
	if err := c.SetActive(ctx, "grace", false); err != nil {
		t.Fatal(err)
	}
	if len(s.Invitations()) != 0 || s.MembershipState("grace") != "" {
		t.Fatalf("invitation not cancelled: %+v", s.Invitations())
	}

	s.AddMember("hal", "member")
	if err := c.Delete(ctx, "hal"); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, "hal"); err != nil {
		t.Fatalf("deleting twice: %v", err)
	}
	if s.MembershipState("hal") != "" {
		t.Fatal("hal is still a member after delete")
	}
	_, err = c.Get(ctx, "nobody-at-all")
	kindOf(t, err, integrations.NotFound)
}

func TestOwnersAreAdoptedNotDemoted(t *testing.T) {
	ctx := context.Background()
	s := newFake(t)
	s.AddMember("root", "admin")
	c := connect(t, s, "")
	acct, err := c.Create(ctx, person("root@example.com", "root", true))
	if err != nil || !acct.Active {
		t.Fatalf("create = %+v, %v", acct, err)
	}
	if err := c.SetActive(ctx, "root", true); err != nil {
		t.Fatal(err)
	}
	if s.Role("root") != "admin" {
		t.Fatalf("root's role is %q, want admin kept", s.Role("root"))
	}
}

func TestTeamsAreReadAcrossPages(t *testing.T) {
	ctx := context.Background()
	s := newFake(t, githubtest.WithMaxPerPage(2))
	for _, slug := range []string{"a-team", "b-team", "c-team", "d-team"} {
		s.AddTeam(slug, slug)
	}
	s.AddMember("ada", "member")
	for _, slug := range []string{"d-team", "a-team", "engineering"} {
		s.AddTeamMember(slug, "ada")
	}
	c := connect(t, s, "")
	got, err := c.Get(ctx, "ada")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"a-team", "d-team", "engineering"}; !slices.Equal(got.Groups, want) {
		t.Fatalf("groups %v, want %v", got.Groups, want)
	}
}

func TestMissingTeamIsPermanentAndNamed(t *testing.T) {
	ctx := context.Background()
	s := newFake(t)
	s.AddMember("ada", "member")
	c := connect(t, s, "")
	for _, err := range []error{c.AddToGroup(ctx, "ada", "no-such-team"), c.RemoveFromGroup(ctx, "ada", "no-such-team")} {
		e := kindOf(t, err, integrations.Permanent)
		if !strings.Contains(e.Detail, "no-such-team") {
			t.Fatalf("detail %q does not name the team", e.Detail)
		}
	}
	kindOf(t, c.AddToGroup(ctx, "ada", "../../evil"), integrations.Permanent)
}

// GitHub would invite someone who is not in the organisation when they are
// added to a team; the connector refuses instead.
func TestAddingANonMemberToATeamDoesNotInvite(t *testing.T) {
	s := newFake(t)
	s.AddUser("eve", "")
	c := connect(t, s, "")
	kindOf(t, c.AddToGroup(context.Background(), "eve", "engineering"), integrations.Permanent)
	if len(s.Invitations()) != 0 {
		t.Fatalf("eve was invited: %+v", s.Invitations())
	}
}

// Without a username the work email is invited; the account is the invitation
// until the person accepts.
func TestInviteByEmail(t *testing.T) {
	ctx := context.Background()
	s := newFake(t)
	c := connect(t, s, "")

	acct, err := c.Create(ctx, person("Grace@Example.com", "", true))
	if err != nil {
		t.Fatal(err)
	}
	invs := s.Invitations()
	if len(invs) != 1 || invs[0].Email != "grace@example.com" || acct.ID != github.InvitationPrefix+itoa(invs[0].ID) {
		t.Fatalf("account %+v, GitHub's invitations %+v", acct, invs)
	}
	if acct.Active || !acct.Pending || acct.UserName != "grace@example.com" {
		t.Fatalf("account %+v, want pending, not active", acct)
	}
	found, err := c.Lookup(ctx, "E1", "grace@example.com")
	if err != nil || found.ID != acct.ID || found.Active {
		t.Fatalf("lookup = %+v, %v", found, err)
	}
	again, err := c.Create(ctx, person("grace@example.com", "", true))
	if err != nil || again.ID != acct.ID || len(s.Invitations()) != 1 {
		t.Fatalf("second create = %+v, %v; invitations %+v", again, err, s.Invitations())
	}
	kindOf(t, c.AddToGroup(ctx, acct.ID, "engineering"), integrations.Permanent)

	// The person accepts as a new GitHub user: the invitation is gone, and
	// GitHub does not say who took it up.
	s.AcceptEmailInvitation("grace@example.com", "grace-h")
	_, err = c.Get(ctx, acct.ID)
	kindOf(t, err, integrations.NotFound)
	member, err := c.Get(ctx, "grace-h")
	if err != nil || !member.Active {
		t.Fatalf("grace-h = %+v, %v", member, err)
	}
	// Inviting the address of a member is a conflict nothing can adopt.
	_, err = c.Create(ctx, person("grace@example.com", "", true))
	e := kindOf(t, err, integrations.Conflict)
	if !strings.Contains(e.Detail, "already") {
		t.Fatalf("detail %q", e.Detail)
	}
	if _, err := c.Lookup(ctx, "E1", "nobody@example.com"); !integrations.IsNotFound(err) {
		t.Fatalf("lookup of an unknown address = %v, want NotFound", err)
	}
}

func TestDisablingAnEmailInvitationCancelsIt(t *testing.T) {
	ctx := context.Background()
	s := newFake(t)
	c := connect(t, s, "")
	acct, err := c.Create(ctx, person("ken@example.com", "", true))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SetActive(ctx, acct.ID, false); err != nil {
		t.Fatal(err)
	}
	if len(s.Invitations()) != 0 {
		t.Fatalf("invitation not cancelled: %+v", s.Invitations())
	}
	if err := c.Delete(ctx, acct.ID); err != nil {
		t.Fatalf("deleting a cancelled invitation: %v", err)
	}
	_, err = c.Get(ctx, acct.ID)
	kindOf(t, err, integrations.NotFound)
}

func TestExpiredInvitationReadsInactiveAndEnablingInvitesAgain(t *testing.T) {
	ctx := context.Background()
	s := newFake(t)
	c := connect(t, s, "")
	acct, err := c.Create(ctx, person("mo@example.com", "", true))
	if err != nil {
		t.Fatal(err)
	}
	s.ExpireInvitation("mo@example.com")
	if f := s.FailedInvitations(); len(f) != 1 || f[0].Failed != "expired" || len(s.Invitations()) != 0 {
		t.Fatalf("GitHub's failed invitations %+v", f)
	}
	got, err := c.Get(ctx, acct.ID)
	if err != nil || got.Active || got.Pending {
		t.Fatalf("expired invitation = %+v, %v; want inactive, not pending", got, err)
	}
	if err := c.SetActive(ctx, acct.ID, true); err != nil {
		t.Fatal(err)
	}
	invs := s.Invitations()
	if len(invs) != 1 || invs[0].Email != "mo@example.com" {
		t.Fatalf("not invited again: %+v", invs)
	}
	got, err = c.Get(ctx, acct.ID)
	if err != nil || !got.Pending || got.ID != github.InvitationPrefix+itoa(invs[0].ID) {
		t.Fatalf("after re-inviting, Get(old id) = %+v, %v; want the new pending invitation", got, err)
	}
}

func TestLookupUserUsesTheHRUsername(t *testing.T) {
	s := newFake(t)
	s.AddMember("ada", "member")
	c := connect(t, s, "")
	got, err := c.LookupUser(context.Background(), person("ada@example.com", "ada", true))
	if err != nil || got.ID != "ada" || !got.Active {
		t.Fatalf("LookupUser = %+v, %v", got, err)
	}
	_, err = c.Lookup(context.Background(), "E1", "ada@example.com")
	kindOf(t, err, integrations.NotFound)
}

// A secondary rate limit is RateLimited with GitHub's Retry-After, and the
// connector does not knock again before that time.
func TestSecondaryRateLimit(t *testing.T) {
	ctx := context.Background()
	s := newFake(t)
	s.AddMember("ada", "member")
	c := connect(t, s, "")
	s.SecondaryRateLimit(1, 42*time.Second)

	_, err := c.Get(ctx, "ada")
	e := kindOf(t, err, integrations.RateLimited)
	if e.RetryAfter != 42*time.Second || e.Status != http.StatusForbidden || !strings.Contains(e.Detail, "secondary rate limit") {
		t.Fatalf("error %+v, want 403 RateLimited after 42s with GitHub's message", e)
	}
	before := len(s.Requests())
	_, err = c.Get(ctx, "ada")
	e = kindOf(t, err, integrations.RateLimited)
	if e.RetryAfter <= 0 || e.RetryAfter > 42*time.Second {
		t.Fatalf("second call waits %v", e.RetryAfter)
	}
	if after := len(s.Requests()); after != before {
		t.Fatalf("the connector called GitHub %d times during the secondary rate limit", after-before)
	}
}

func TestPrimaryRateLimit(t *testing.T) {
	s := newFake(t)
	c := connect(t, s, "")
	s.ExhaustRateLimit(time.Now().Add(90 * time.Second))
	_, err := c.Get(context.Background(), "ada")
	e := kindOf(t, err, integrations.RateLimited)
	if e.RetryAfter < 80*time.Second || e.RetryAfter > 91*time.Second {
		t.Fatalf("waits %v, want until x-ratelimit-reset (about 90s)", e.RetryAfter)
	}
}

func TestErrorKinds(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		status int
		want   integrations.Kind
	}{
		{http.StatusBadGateway, integrations.Transient},
		{http.StatusServiceUnavailable, integrations.Transient},
		{http.StatusForbidden, integrations.Permanent},
		{http.StatusUnprocessableEntity, integrations.Permanent},
		{http.StatusTooManyRequests, integrations.RateLimited},
	} {
		s := newFake(t)
		s.AddMember("ada", "member")
		c := connect(t, s, "")
		s.FailNext(1, tc.status)
		_, err := c.Get(ctx, "ada")
		if e := kindOf(t, err, tc.want); e.Status != tc.status {
			t.Fatalf("status %d reported as %d", tc.status, e.Status)
		}
	}
	s := newFake(t)
	c := connect(t, s, "")
	s.FailNextRetryAfter(1, http.StatusTooManyRequests, 7*time.Second)
	_, err := c.Get(ctx, "ada")
	if e := kindOf(t, err, integrations.RateLimited); e.RetryAfter != 7*time.Second {
		t.Fatalf("a 429 with Retry-After: 7 waits %v", e.RetryAfter)
	}

	// Nothing listens on port 1: a refused connection is worth retrying.
	c, _ = github.New(integrations.AppConfig{Name: "gh", Params: map[string]string{"org": "acme", "base_url": "http://127.0.0.1:1"},
		Secrets: map[string]string{"token": "t"}})
	_, err = c.Get(ctx, "ada")
	kindOf(t, err, integrations.Transient)
}

// recorder is a transport that notes what the connector sends.
type recorder struct {
	mu    sync.Mutex
	seen  []string
	inner http.RoundTripper
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	r.seen = append(r.seen, req.Header.Get("Authorization")+" "+req.URL.Path)
	r.mu.Unlock()
	return r.inner.RoundTrip(req)
}

func TestAnotherOrgThroughTheCallersHTTPClient(t *testing.T) {
	ctx := context.Background()
	s := githubtest.NewServer(githubtest.WithOrg("widgets"), githubtest.WithToken("ghs_other"))
	t.Cleanup(s.Close)
	s.AddUser("ada", "")
	rec := &recorder{inner: http.DefaultTransport}
	c, err := github.New(integrations.AppConfig{Name: "gh",
		Params:  map[string]string{"org": "widgets", "username_attribute": attr, "base_url": s.URL},
		Secrets: map[string]string{"token": "ghs_other"}}, github.WithHTTPClient(&http.Client{Transport: rec}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Create(ctx, person("ada@example.com", "ada", true)); err != nil {
		t.Fatal(err)
	}
	s.Accept("ada")
	if !slices.Contains(s.Members(), "ada") {
		t.Fatalf("members %v", s.Members())
	}
	if !slices.Contains(rec.seen, "Bearer ghs_other /api/v3/orgs/widgets/memberships/ada") {
		t.Fatalf("requests %v", rec.seen)
	}
}

func TestRevokeSessionsAndTransferDataAreRefused(t *testing.T) {
	s := newFake(t)
	c := connect(t, s, "")
	kindOf(t, c.RevokeSessions(context.Background(), "ada"), integrations.Permanent)
	kindOf(t, c.TransferData(context.Background(), "ada", "bob@example.com"), integrations.Permanent)
}

// List streams members then pending invitations page by page, following
// GitHub's Link headers, and stops when asked.
func TestListFollowsLinkHeaders(t *testing.T) {
	ctx := context.Background()
	s := newFake(t, githubtest.WithMaxPerPage(2))
	for _, m := range []string{"m1", "m2", "m3", "m4"} {
		s.AddMember(m, "member")
	}
	c := connect(t, s, s.URL+"/api/v3")
	if _, err := c.Create(ctx, person("new1@example.com", "", true)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Create(ctx, person("new2@example.com", "", true)); err != nil {
		t.Fatal(err)
	}
	s.AddUser("inv", "")
	if err := c.SetActive(ctx, "inv", true); err != nil {
		t.Fatal(err)
	}

	var got []integrations.Account
	if err := c.List(ctx, func(a integrations.Account) bool { got = append(got, a); return true }); err != nil {
		t.Fatal(err)
	}
	var active, pending []string
	for _, a := range got {
		if a.Active && a.Pending {
			t.Fatalf("%+v is both active and pending", a)
		}
		if a.Active {
			active = append(active, a.ID)
		} else if a.Pending {
			pending = append(pending, a.UserName)
		}
	}
	if want := []string{"tenure-bot", "m1", "m2", "m3", "m4"}; !slices.Equal(active, want) {
		t.Fatalf("active %v, want %v", active, want)
	}
	if want := []string{"new1@example.com", "new2@example.com", "inv"}; !slices.Equal(pending, want) {
		t.Fatalf("pending %v, want %v", pending, want)
	}
	if count(s.Requests(), "GET /orgs/acme/members?page=3") != 1 || count(s.Requests(), "GET /orgs/acme/invitations?page=2") != 1 {
		t.Fatalf("pages not followed: %v", s.Requests())
	}

	before := count(s.Requests(), "GET /orgs/acme/members")
	n := 0
	if err := c.List(ctx, func(integrations.Account) bool { n++; return n < 3 }); err != nil {
		t.Fatal(err)
	}
	if n != 3 || count(s.Requests(), "GET /orgs/acme/members")-before != 2 {
		t.Fatalf("stopping after 3 accounts read %d accounts and %d pages", n, count(s.Requests(), "GET /orgs/acme/members")-before)
	}
}

func TestConcurrentUse(t *testing.T) {
	ctx := context.Background()
	s := newFake(t)
	c := connect(t, s, "")
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 10 {
		login := "p" + itoa(int64(i))
		s.AddUser(login, "")
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.Create(ctx, person(login+"@example.com", login, true)); err != nil {
				errs <- err
				return
			}
			if err := c.AddToGroup(ctx, login, "engineering"); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n := len(s.TeamMembers("engineering")); n != 10 {
		t.Fatalf("%d people in engineering, want 10", n)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
