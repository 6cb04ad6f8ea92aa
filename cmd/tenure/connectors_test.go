package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/tenure-io/tenure/integrations/github/githubtest"
	"github.com/tenure-io/tenure/integrations/google/googletest"
	"github.com/tenure-io/tenure/integrations/ldap/ldaptest"
	"github.com/tenure-io/tenure/integrations/postgres/pgtest"
	"github.com/tenure-io/tenure/integrations/slack/slacktest"
)

// peers are the real and faithful apps one Tenure provisions into at once: a
// real slapd and PostgreSQL, and local fakes of Google's, GitHub's and Slack's
// documented APIs driven by their real client libraries.
type peers struct {
	ldap   *ldaptest.Server
	pg     *pgtest.Server
	google *googletest.Server
	github *githubtest.Server
	slack  *slacktest.Server
	// policy is the policy file naming them, and env the secrets it reads.
	policy string
	env    map[string]string
}

func startPeers(t *testing.T, dir string) *peers {
	t.Helper()
	p := &peers{ldap: ldaptest.Start(t), pg: pgtest.New(t), google: googletest.NewServer(),
		github: githubtest.NewServer(), slack: slacktest.New(slacktest.Config{Token: "xoxb-test", AdminToken: "xoxp-admin"})}
	t.Cleanup(p.google.Close)
	t.Cleanup(p.github.Close)
	t.Cleanup(p.slack.Close)

	p.pg.Group("engineers")
	p.pg.Group("analysts")
	p.google.AddGroup("all-staff@"+googletest.Domain, "All staff")
	p.google.AddGroup("engineering@"+googletest.Domain, "Engineering")
	p.github.AddTeam("platform", "Platform")
	p.slack.AddSCIMGroup("general")
	p.slack.AddSCIMGroup("engineering")

	creds := filepath.Join(dir, "google-key.json")
	if err := os.WriteFile(creds, p.google.Credentials, 0o600); err != nil {
		t.Fatal(err)
	}
	p.env = map[string]string{
		"E2E_LDAP_PASSWORD": ldaptest.ServicePassword,
		"E2E_PG_DSN":        p.pg.DSN(),
		"E2E_GITHUB_TOKEN":  githubtest.DefaultToken,
		"E2E_SLACK_TOKEN":   "xoxp-admin",
	}
	p.policy = filepath.Join(dir, "policy.yaml")
	yaml := fmt.Sprintf(`version: 1
retention: 30d
apps:
  - name: directory
    connector: ldap
    url: %s
    bind_dn: %s
    password_env: E2E_LDAP_PASSWORD
    users_dn: %s
    groups_dn: %s
  - name: warehouse
    connector: postgres
    dsn_env: E2E_PG_DSN
    role_prefix: %s
  - name: workspace
    connector: google
    domain: %s
    admin_email: %s
    credentials_file: %s
    base_url: %s
  - name: code
    connector: github
    org: %s
    token_env: E2E_GITHUB_TOKEN
    username_attribute: github
    base_url: %s
  - name: chat
    connector: slack
    token_env: E2E_SLACK_TOKEN
    base_url: %s
  - name: wiki
    connector: scim
    sandbox: true
rules:
  - name: everyone
    match: {}
    grant:
      - app: workspace
        entitlements: [all-staff]
      - app: chat
        entitlements: [general]
      - app: wiki
        entitlements: [readers]
      - app: warehouse
        entitlements: [%s]
      - app: code
  - name: engineering
    match:
      department: Engineering
    grant:
      - app: directory
        entitlements: [engineering]
      - app: warehouse
        entitlements: [%s]
      - app: workspace
        entitlements: [engineering]
      - app: code
        entitlements: [platform]
      - app: chat
        entitlements: [engineering]
  - name: analysts
    match:
      department: Finance
    grant:
      - app: directory
        entitlements: [vpn-users]
`, p.ldap.URL, ldaptest.ServiceDN, ldaptest.UsersDN, ldaptest.GroupsDN,
		p.pg.Prefix, googletest.Domain, googletest.Admin, creds, p.google.BaseURL(),
		githubtest.DefaultOrg, p.github.URL+"/api/v3/", p.slack.SCIMURL(),
		p.pg.Prefix+"analysts", p.pg.Prefix+"engineers")
	if err := os.WriteFile(p.policy, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestEveryConnectorEndToEnd hires, moves, locks, unlocks and terminates one
// person through tenure dev with a policy that uses every connector, and checks
// each step in the apps' own state: the LDAP tree, pg_roles, pg_auth_members and
// pg_stat_activity, and the fakes' records.
func TestEveryConnectorEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts tenure dev, slapd and PostgreSQL roles")
	}
	dir := t.TempDir()
	peers := startPeers(t, filepath.Join(dir))
	p := startDevWith(t, filepath.Join(dir, "data"), []string{"--policy", peers.policy}, peers.env)
	p.waitHealthChecked()

	// The wiki keeps memberships on its groups only, as AWS IAM Identity Center
	// does: the joiner must still finish, with each membership there once.
	p.dialect("wiki", map[string]any{"noUserGroups": true})

	peers.github.AddUser("linus-t", "linus@example.com")
	emp := map[string]any{"id": "C1", "email": "linus@example.com", "given_name": "Linus", "family_name": "T",
		"department": "Engineering", "title": "Engineer", "attributes": map[string]string{"github": "linus-t"}}
	role := peers.pg.Prefix + "linus"
	userDN := func() string {
		dns := peers.ldap.Search(ldaptest.UsersDN, "(employeeNumber=C1)")
		if len(dns) != 1 {
			t.Fatalf("the directory holds %d entries for C1, want 1", len(dns))
		}
		return dns[0]
	}

	// Hire.
	p.event("hire-c1", "hire", emp)
	p.waitAccess("C1", map[string]string{"directory": "active", "warehouse": "active", "workspace": "active",
		"code": "pending", "chat": "active", "wiki": "active"})
	if status, _, _ := p.waitRun("C1", "employee/C1/joiner/hire-c1"); status != "completed" {
		t.Fatalf("the joiner ended %s:\n%+v", status, p.employee("C1"))
	}
	dn := userDN()
	if got := peers.ldap.Members("engineering"); !slices.Contains(got, dn) {
		t.Errorf("ldap engineering members %v lack %s", got, dn)
	}
	if r, ok := peers.pg.Role(role); !ok || !r.CanLogin {
		t.Fatalf("pg role %s: %+v, exists %t; want a login role", role, r, ok)
	}
	if got := peers.pg.MemberOf(role); !slices.Equal(sortedCopy(got), []string{peers.pg.Prefix + "analysts", peers.pg.Prefix + "engineers"}) {
		t.Errorf("pg role %s is a member of %v", role, got)
	}
	gu, ok := peers.google.User("linus@example.com")
	if !ok || gu.Suspended || gu.ExternalID != "C1" {
		t.Errorf("google user %+v (found %t), want active with HR ID C1", gu, ok)
	}
	if got := peers.google.Members("engineering@" + googletest.Domain); !slices.Contains(got, "linus@example.com") {
		t.Errorf("google engineering members %v", got)
	}
	if s := peers.github.MembershipState("linus-t"); s != "pending" {
		t.Errorf("github membership %q, want pending until accepted", s)
	}
	su, ok := peers.slack.SCIMUserByEmail("linus@example.com")
	if !ok || !su.Active {
		t.Fatalf("slack user %+v (found %t), want active", su, ok)
	}
	if got, _ := peers.slack.GroupMembers("engineering"); !slices.Equal(got, []string{su.ID}) {
		t.Errorf("slack engineering members %v, want exactly [%s]", got, su.ID)
	}
	wikiMembers := p.sandboxMembers("wiki", "readers")
	if len(wikiMembers) != 1 {
		t.Errorf("wiki readers hold %v, want the new hire exactly once", wikiMembers)
	}
	peers.github.Accept("linus-t")

	// Change: engineering access goes, birthright stays.
	emp["department"] = "Finance"
	p.event("move-c1", "update", emp)
	p.waitFor("the mover", func() bool {
		return !slices.Contains(peers.ldap.Members("engineering"), dn) && slices.Contains(peers.ldap.Members("vpn-users"), dn) &&
			!slices.Contains(peers.pg.MemberOf(role), peers.pg.Prefix+"engineers") &&
			!slices.Contains(peers.google.Members("engineering@"+googletest.Domain), "linus@example.com") &&
			len(peers.github.TeamMembers("platform")) == 0 && peers.github.MembershipState("linus-t") == "active"
	})

	// Lock, with a session open as the person's database role: it must end
	// within a second of the lock being asked for.
	conn, err := peers.pg.ConnectAs(role)
	if err != nil {
		t.Fatalf("connecting as %s: %v", role, err)
	}
	defer conn.Close(context.Background())
	if peers.pg.Sessions(role) == 0 {
		t.Fatal("no session open as the role")
	}
	asked := time.Now()
	if code := p.call("POST", "/api/v1/employees/C1/lock", map[string]any{"reason": "stolen laptop"}, nil); code >= 300 {
		t.Fatalf("lock: %d", code)
	}
	for peers.pg.Sessions(role) > 0 {
		if time.Since(asked) > time.Second {
			t.Fatalf("the role's session was still open %s after the lock", time.Since(asked))
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("database session ended %s after the lock", time.Since(asked).Round(time.Millisecond))
	p.waitAccess("C1", map[string]string{"directory": "disabled", "warehouse": "disabled", "workspace": "disabled",
		"code": "disabled", "chat": "disabled", "wiki": "disabled"})
	if !peers.ldap.IsLocked(dn) {
		t.Error("the directory entry is not locked")
	}
	if s := peers.github.MembershipState("linus-t"); s != "" {
		t.Errorf("github membership %q after lock, want removed: GitHub has no disable", s)
	}
	if r, _ := peers.pg.Role(role); r.CanLogin {
		t.Error("the pg role can still log in")
	}
	if u, _ := peers.google.User("linus@example.com"); !u.Suspended || u.SignOuts == 0 {
		t.Errorf("google user after lock: suspended %t, sign-outs %d", u.Suspended, u.SignOuts)
	}
	if u, _ := peers.slack.SCIMUserByEmail("linus@example.com"); u.Active || peers.slack.SessionResets(u.ID) == 0 {
		t.Errorf("slack user after lock: active %t, session resets %d", u.Active, peers.slack.SessionResets(u.ID))
	}

	// Unlock: exactly what the lock disabled comes back.
	if code := p.call("POST", "/api/v1/employees/C1/unlock", map[string]any{}, nil); code >= 300 {
		t.Fatalf("unlock: %d", code)
	}
	p.waitAccess("C1", map[string]string{"directory": "active", "warehouse": "active", "workspace": "active",
		"code": "pending", "chat": "active", "wiki": "active"})
	if peers.ldap.IsLocked(dn) {
		t.Error("the directory entry is still locked")
	}
	if s := peers.github.MembershipState("linus-t"); s != "pending" {
		t.Errorf("github membership %q after unlock, want invited again (pending)", s)
	}
	if r, _ := peers.pg.Role(role); !r.CanLogin {
		t.Error("the pg role cannot log in after unlock")
	}

	// Terminate: everything disabled, verified, in every app.
	p.event("term-c1", "terminate", emp)
	p.waitAccess("C1", map[string]string{"directory": "disabled", "warehouse": "disabled", "workspace": "disabled",
		"code": "disabled", "chat": "disabled", "wiki": "disabled"})
	if !peers.ldap.IsLocked(dn) {
		t.Error("the directory entry is not locked after termination")
	}
	if s := peers.github.MembershipState("linus-t"); s != "" {
		t.Errorf("github membership %q after termination, want removed", s)
	}
	if r, _ := peers.pg.Role(role); r.CanLogin {
		t.Error("the pg role can log in after termination")
	}
	if u, _ := peers.google.User("linus@example.com"); !u.Suspended {
		t.Error("google user not suspended after termination")
	}
	if u, _ := peers.slack.SCIMUserByEmail("linus@example.com"); u.Active {
		t.Error("slack user active after termination")
	}
}

func sortedCopy(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}

// startDevWith runs `tenure dev` with extra flags and environment.
func startDevWith(t *testing.T, dir string, extra []string, env map[string]string) *devProcess {
	t.Helper()
	ports := freePorts(t, 3)
	httpPort, temporalPort, uiPort := ports[0], ports[1], ports[2]
	p := &devProcess{t: t, dir: dir, base: fmt.Sprintf("http://127.0.0.1:%d", httpPort),
		temporal: fmt.Sprintf("127.0.0.1:%d", temporalPort), out: &syncBuffer{}}
	p.args = append([]string{"dev", "--data-dir", dir, "--http-addr", fmt.Sprintf("127.0.0.1:%d", httpPort),
		"--temporal-port", fmt.Sprint(temporalPort), "--ui-port", fmt.Sprint(uiPort), "--log-level", "warn"}, extra...)
	p.getenv = func(k string) string {
		if v, ok := env[k]; ok {
			return v
		}
		return os.Getenv(k)
	}
	p.start()
	t.Cleanup(p.stop)
	return p
}

// waitAccess waits until Tenure's view of the person's access (read back from
// each app) is want: app -> status.
func (p *devProcess) waitAccess(id string, want map[string]string) {
	p.t.Helper()
	var got map[string]string
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		got = map[string]string{}
		var v employeeView
		// The person appears once their workflow has written the read model.
		p.call("GET", "/api/v1/employees/"+id, nil, &v)
		for _, a := range v.Access {
			if _, ok := want[a.App]; ok {
				got[a.App] = a.Status
			}
			if a.Status == "failed" {
				p.t.Fatalf("%s failed in %s: %s", id, a.App, a.Error)
			}
		}
		if fmt.Sprint(got) == fmt.Sprint(want) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	p.t.Fatalf("access of %s = %v, want %v", id, got, want)
}

// waitFor waits until cond holds.
func (p *devProcess) waitFor(what string, cond func() bool) {
	p.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			p.t.Fatalf("%s did not happen within 60s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// dialect makes a sandbox app behave like another SCIM service.
func (p *devProcess) dialect(app string, d map[string]any) {
	p.t.Helper()
	if code := p.sandboxCall("PUT", "/sandbox/"+app+"/_dialect", d, nil); code >= 300 {
		p.t.Fatalf("setting %s's dialect: %d", app, code)
	}
}

// sandboxMembers is a sandbox group's member list as the app serves it,
// repeats included.
func (p *devProcess) sandboxMembers(app, group string) []string {
	p.t.Helper()
	var out struct {
		Resources []struct {
			Members []struct {
				Value string `json:"value"`
			} `json:"members"`
		} `json:"Resources"`
	}
	path := "/sandbox/" + app + "/scim/v2/Groups?filter=" + url.QueryEscape(`displayName eq "`+group+`"`)
	if code := p.sandboxCall("GET", path, nil, &out); code != http.StatusOK || len(out.Resources) != 1 {
		p.t.Fatalf("reading %s's group %s: %d, %d groups", app, group, code, len(out.Resources))
	}
	var members []string
	for _, m := range out.Resources[0].Members {
		members = append(members, m.Value)
	}
	return members
}

func (p *devProcess) sandboxCall(method, path string, body, out any) int {
	saved := p.token
	p.token = p.sbToken
	defer func() { p.token = saved }()
	return p.call(method, path, body, out)
}
