package ldap_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tenure-io/tenure/integrations"
	"github.com/tenure-io/tenure/integrations/ldap"
	"github.com/tenure-io/tenure/integrations/ldap/ldaptest"
)

// connect returns a connector for s that binds as its service account.
func connect(t *testing.T, s *ldaptest.Server, params map[string]string, opts ...ldap.Option) *ldap.Client {
	t.Helper()
	app := s.AppConfig("directory")
	for k, v := range params {
		app.Params[k] = v
	}
	c, err := ldap.New(app, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func jane() integrations.User {
	return integrations.User{
		ExternalID: "E1001", UserName: "jane.doe@example.com", Email: "Jane.Doe@example.com",
		GivenName: "Jane", FamilyName: "Doe", DisplayName: "Jane Doe",
		Title: "Engineer", Department: "R&D", Active: true,
	}
}

func kindIs(t *testing.T, err error, want integrations.Kind) *integrations.Error {
	t.Helper()
	var e *integrations.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not an *integrations.Error", err, err)
	}
	if e.Kind != want {
		t.Fatalf("error %q is %s, want %s", err, e.Kind, want)
	}
	return e
}

func TestCreateWritesThePersonEntryAndLookupFindsIt(t *testing.T) {
	s := ldaptest.Start(t)
	c := connect(t, s, nil)
	ctx := ctxT(t)

	acct, err := c.Create(ctx, jane())
	if err != nil {
		t.Fatal(err)
	}
	wantDN := "uid=jane.doe," + s.UsersDN
	if acct.ID != wantDN || acct.ExternalID != "E1001" || !acct.Active || len(acct.Groups) != 0 {
		t.Fatalf("created %+v", acct)
	}
	e := s.Entry(wantDN)
	for attr, want := range map[string]string{
		"uid": "jane.doe", "cn": "Jane Doe", "sn": "Doe", "givenName": "Jane", "displayName": "Jane Doe",
		"mail": "Jane.Doe@example.com", "title": "Engineer", "departmentNumber": "R&D", "employeeNumber": "E1001",
	} {
		if got := e[attr]; !slices.Equal(got, []string{want}) {
			t.Errorf("%s = %q, want %q", attr, got, want)
		}
	}
	if !slices.Contains(e["objectClass"], "inetOrgPerson") {
		t.Errorf("objectClass = %q", e["objectClass"])
	}
	if _, locked := e["pwdAccountLockedTime"]; locked {
		t.Error("a new active account is locked")
	}

	for _, q := range []struct{ id, name string }{
		{"E1001", ""},                         // by HR ID
		{"", "jane.doe@example.com"},          // by email, which the directory matches case-insensitively
		{"E404", "jane.doe@example.com"},      // HR ID unknown, email known
		{"E1001", "someone.else@example.com"}, // HR ID wins
	} {
		got, err := c.Lookup(ctx, q.id, q.name)
		if err != nil {
			t.Fatalf("Lookup(%q, %q): %v", q.id, q.name, err)
		}
		if got.ID != wantDN || got.UserName != "Jane.Doe@example.com" {
			t.Errorf("Lookup(%q, %q) = %+v", q.id, q.name, got)
		}
	}
	_, err = c.Lookup(ctx, "E404", "nobody@example.com")
	kindIs(t, err, integrations.NotFound)

	// A rename changes the DN, the account's ID: Get then says NotFound, and
	// the HR ID, which the rename keeps, finds the entry under its new DN.
	s.Rename(wantDN, "uid=jane.smith")
	_, err = c.Get(ctx, wantDN)
	kindIs(t, err, integrations.NotFound)
	got, err := c.Lookup(ctx, "E1001", "")
	if err != nil || got.ID != "uid=jane.smith,"+s.UsersDN {
		t.Fatalf("Lookup after rename = %+v, %v", got, err)
	}
}

func TestCreateAdoptsTheExistingEntry(t *testing.T) {
	s := ldaptest.Start(t)
	c := connect(t, s, nil)
	ctx := ctxT(t)

	first, err := c.Create(ctx, jane())
	if err != nil {
		t.Fatal(err)
	}
	again, err := c.Create(ctx, jane())
	if err != nil {
		t.Fatalf("second create: %v", err)
	}
	if again.ID != first.ID {
		t.Fatalf("adopted %s, want %s", again.ID, first.ID)
	}
	if n := len(s.Search(s.UsersDN, "(employeeNumber=E1001)")); n != 1 {
		t.Fatalf("%d entries carry E1001 after two creates", n)
	}
}

func TestCreateAdoptsAnEntryWithoutHRID(t *testing.T) {
	s := ldaptest.Start(t)
	c := connect(t, s, nil)
	// An entry made by hand before Tenure, with the person's email but no HR ID.
	dn := "uid=jane.doe," + s.UsersDN
	if err := s.Add(dn, map[string][]string{
		"objectClass": {"inetOrgPerson"}, "uid": {"jane.doe"}, "cn": {"Jane"}, "sn": {"Doe"},
		"mail": {"jane.doe@example.com"},
	}); err != nil {
		t.Fatal(err)
	}
	acct, err := c.Create(ctxT(t), jane())
	if err != nil {
		t.Fatal(err)
	}
	if acct.ID != dn || acct.ExternalID != "E1001" {
		t.Fatalf("adopted %+v", acct)
	}
	if got := s.Attr(dn, "employeeNumber"); !slices.Equal(got, []string{"E1001"}) {
		t.Fatalf("employeeNumber = %q, want the HR ID recorded", got)
	}
}

func TestCreateRefusesSomeoneElsesEntry(t *testing.T) {
	s := ldaptest.Start(t)
	c := connect(t, s, nil)
	ctx := ctxT(t)

	// A former employee's entry still has the address a new hire is given.
	if err := s.Add("uid=sam,"+s.UsersDN, map[string][]string{
		"objectClass": {"inetOrgPerson"}, "uid": {"sam"}, "cn": {"Sam Old"}, "sn": {"Old"},
		"mail": {"sam@example.com"}, "employeeNumber": {"E0001"},
	}); err != nil {
		t.Fatal(err)
	}
	u := integrations.User{ExternalID: "E2002", UserName: "sam@example.com", GivenName: "Sam", FamilyName: "New", Active: true}
	_, err := c.Create(ctx, u)
	e := kindIs(t, err, integrations.Conflict)
	if !strings.Contains(e.Detail, "E0001") {
		t.Errorf("detail %q does not name the other HR ID", e.Detail)
	}

	// Same uid, but the entry carries another email and another HR ID.
	u = integrations.User{ExternalID: "E3003", UserName: "sam@other.example", Active: true}
	_, err = c.Create(ctx, u)
	e = kindIs(t, err, integrations.Conflict)
	if !strings.Contains(e.Detail, "uid=sam,"+s.UsersDN) {
		t.Errorf("detail %q does not name the entry", e.Detail)
	}
	if got := s.Attr("uid=sam,"+s.UsersDN, "employeeNumber"); !slices.Equal(got, []string{"E0001"}) {
		t.Errorf("the other person's entry changed: employeeNumber %q", got)
	}
}

func TestCreateInactiveIsLocked(t *testing.T) {
	s := ldaptest.Start(t)
	c := connect(t, s, nil)
	u := jane()
	u.Active = false
	acct, err := c.Create(ctxT(t), u)
	if err != nil {
		t.Fatal(err)
	}
	if acct.Active || !s.IsLocked(acct.ID) {
		t.Fatalf("account active=%t, locked in the tree=%t; want a locked account", acct.Active, s.IsLocked(acct.ID))
	}
}

func TestSetActiveLocksWithPpolicy(t *testing.T) {
	s := ldaptest.Start(t)
	c := connect(t, s, nil)
	ctx := ctxT(t)
	acct, err := c.Create(ctx, jane())
	if err != nil {
		t.Fatal(err)
	}
	s.SetPassword(acct.ID, "jane-pw")
	if err := s.Bind(acct.ID, "jane-pw"); err != nil {
		t.Fatalf("a new account cannot bind: %v", err)
	}

	for range 2 { // twice: disabling is idempotent
		if err := c.SetActive(ctx, acct.ID, false); err != nil {
			t.Fatal(err)
		}
	}
	if got := s.Attr(acct.ID, "pwdAccountLockedTime"); !slices.Equal(got, []string{"000001010000Z"}) {
		t.Fatalf("pwdAccountLockedTime = %q, want the permanent lock", got)
	}
	if err := s.Bind(acct.ID, "jane-pw"); err == nil {
		t.Fatal("the disabled account can still bind")
	}
	if got, err := c.Get(ctx, acct.ID); err != nil || got.Active {
		t.Fatalf("Get after disable = %+v, %v", got, err)
	}

	for range 2 {
		if err := c.SetActive(ctx, acct.ID, true); err != nil {
			t.Fatal(err)
		}
	}
	if s.IsLocked(acct.ID) {
		t.Fatal("pwdAccountLockedTime still set after enabling")
	}
	if err := s.Bind(acct.ID, "jane-pw"); err != nil {
		t.Fatalf("the enabled account cannot bind: %v", err)
	}
	if got, err := c.Get(ctx, acct.ID); err != nil || !got.Active {
		t.Fatalf("Get after enable = %+v, %v", got, err)
	}

	err = c.SetActive(ctx, "uid=gone,"+s.UsersDN, false)
	kindIs(t, err, integrations.NotFound)
}

func TestGroupsAreIdempotentAndReadBack(t *testing.T) {
	s := ldaptest.Start(t)
	c := connect(t, s, nil)
	ctx := ctxT(t)
	acct, err := c.Create(ctx, jane())
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := c.AddToGroup(ctx, acct.ID, "engineering"); err != nil {
			t.Fatal(err)
		}
	}
	// Exactly one member value, and the placeholder gone.
	if got := s.Members("engineering"); !slices.Equal(got, []string{acct.ID}) {
		t.Fatalf("engineering members = %q, want only %s", got, acct.ID)
	}
	if err := c.AddToGroup(ctx, acct.ID, "vpn-users"); err != nil {
		t.Fatal(err)
	}
	got, err := c.Get(ctx, acct.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Groups, []string{"engineering", "vpn-users"}) {
		t.Fatalf("Groups = %q", got.Groups)
	}

	// Removing the last member leaves the placeholder, as the schema needs one.
	for range 2 {
		if err := c.RemoveFromGroup(ctx, acct.ID, "engineering"); err != nil {
			t.Fatal(err)
		}
	}
	if got := s.Members("engineering"); !slices.Equal(got, []string{ldaptest.Placeholder}) {
		t.Fatalf("engineering members after removing the last = %q, want the placeholder", got)
	}
	if got, _ := c.Get(ctx, acct.ID); !slices.Equal(got.Groups, []string{"vpn-users"}) {
		t.Fatalf("Groups after removal = %q", got.Groups)
	}

	// Removing one of several members leaves the others alone.
	bob := "uid=bob," + s.UsersDN
	s.CreateGroup("payroll", bob, acct.ID)
	if err := c.RemoveFromGroup(ctx, acct.ID, "payroll"); err != nil {
		t.Fatal(err)
	}
	if got := s.Members("payroll"); !slices.Equal(got, []string{bob}) {
		t.Fatalf("payroll members = %q, want only %s", got, bob)
	}
	// Adding to a group that already has members keeps them.
	if err := c.AddToGroup(ctx, acct.ID, "payroll"); err != nil {
		t.Fatal(err)
	}
	if got := s.Members("payroll"); len(got) != 2 || !slices.Contains(got, bob) || !slices.Contains(got, acct.ID) {
		t.Fatalf("payroll members = %q", got)
	}

	// A group the directory lacks is a grant a person must fix.
	err = c.AddToGroup(ctx, acct.ID, "no-such-group")
	e := kindIs(t, err, integrations.Permanent)
	if !strings.Contains(e.Detail, `"no-such-group"`) {
		t.Errorf("detail %q does not name the group", e.Detail)
	}
	if len(s.Search(s.GroupsDN, "(cn=no-such-group)")) != 0 {
		t.Error("the connector created the missing group")
	}
	// The directory matches names without regard to case, but a grant must
	// spell the group as the directory does to be read back as held.
	err = c.AddToGroup(ctx, acct.ID, "Engineering")
	e = kindIs(t, err, integrations.Permanent)
	if !strings.Contains(e.Detail, `"engineering"`) {
		t.Errorf("detail %q does not give the directory's spelling", e.Detail)
	}
	// Nothing to remove from a group that does not exist.
	if err := c.RemoveFromGroup(ctx, acct.ID, "no-such-group"); err != nil {
		t.Fatal(err)
	}
}

func TestGroupsNeedGroupsDN(t *testing.T) {
	s := ldaptest.Start(t)
	c := connect(t, s, map[string]string{"groups_dn": ""})
	ctx := ctxT(t)
	acct, err := c.Create(ctx, jane())
	if err != nil {
		t.Fatal(err)
	}
	kindIs(t, c.AddToGroup(ctx, acct.ID, "engineering"), integrations.Permanent)
	caps, err := c.Capabilities(ctx)
	if err != nil || caps.Groups {
		t.Fatalf("Capabilities without groups_dn = %+v, %v", caps, err)
	}
}

func TestDeleteRemovesEntryAndMemberships(t *testing.T) {
	s := ldaptest.Start(t)
	c := connect(t, s, nil)
	ctx := ctxT(t)
	acct, err := c.Create(ctx, jane())
	if err != nil {
		t.Fatal(err)
	}
	s.SetPassword(acct.ID, "jane-pw") // which the service account may not even read
	bob := "uid=bob," + s.UsersDN
	s.CreateGroup("payroll", bob)
	for _, g := range []string{"engineering", "payroll"} {
		if err := c.AddToGroup(ctx, acct.ID, g); err != nil {
			t.Fatal(err)
		}
	}
	// A namesake group deeper under groups_dn, which a grant could not name
	// unambiguously but which Delete must still clean.
	eu := "ou=eu," + s.GroupsDN
	if err := s.Add(eu, map[string][]string{"objectClass": {"organizationalUnit"}, "ou": {"eu"}}); err != nil {
		t.Fatal(err)
	}
	euEng := "cn=engineering," + eu
	if err := s.Add(euEng, map[string][]string{"objectClass": {"groupOfNames"}, "cn": {"engineering"}, "member": {acct.ID, bob}}); err != nil {
		t.Fatal(err)
	}
	for range 2 { // the second time it is already gone
		if err := c.Delete(ctx, acct.ID); err != nil {
			t.Fatal(err)
		}
	}
	if s.Entry(acct.ID) != nil {
		t.Fatal("the entry is still there")
	}
	// No group keeps the DN, which the next person created as jane.doe would
	// otherwise inherit.
	if dns := s.Search(s.GroupsDN, "(member="+acct.ID+")"); len(dns) != 0 {
		t.Fatalf("groups still list the deleted DN: %q", dns)
	}
	if got := s.Members("payroll"); !slices.Equal(got, []string{bob}) {
		t.Fatalf("payroll members = %q", got)
	}
	if got := s.Attr(euEng, "member"); !slices.Equal(got, []string{bob}) {
		t.Fatalf("%s members = %q", euEng, got)
	}
	_, err = c.Get(ctx, acct.ID)
	kindIs(t, err, integrations.NotFound)

}

func TestIDsOutsideUsersDNAreLeftAlone(t *testing.T) {
	s := ldaptest.Start(t)
	ctx := ctxT(t)
	other, err := connect(t, s, nil).Create(ctx, jane())
	if err != nil {
		t.Fatal(err)
	}
	// An app whose users_dn is a sub-OU: jane's entry is outside it, though the
	// service account could change it.
	staff := "ou=staff," + s.UsersDN
	if err := s.Add(staff, map[string][]string{"objectClass": {"organizationalUnit"}, "ou": {"staff"}}); err != nil {
		t.Fatal(err)
	}
	c := connect(t, s, map[string]string{"users_dn": staff})
	kindIs(t, c.Delete(ctx, other.ID), integrations.Permanent)
	kindIs(t, c.SetActive(ctx, other.ID, false), integrations.NotFound)
	kindIs(t, c.AddToGroup(ctx, other.ID, "engineering"), integrations.NotFound)
	_, err = c.Get(ctx, other.ID)
	kindIs(t, err, integrations.NotFound)
	if s.Entry(other.ID) == nil || s.IsLocked(other.ID) || slices.Contains(s.Members("engineering"), other.ID) {
		t.Fatal("an entry outside users_dn was changed")
	}
}

func TestListPagesPastTheSizeLimit(t *testing.T) {
	s := ldaptest.Start(t)
	c := connect(t, s, nil, ldap.WithPageSize(4))
	ctx := ctxT(t)
	n := 3*ldaptest.ServiceSizeLimit + 1
	want := map[string]bool{}
	for i := range n {
		id := fmt.Sprintf("E%04d", i)
		u := integrations.User{ExternalID: id, UserName: fmt.Sprintf("user%d@example.com", i), Active: i%2 == 0}
		if _, err := c.Create(ctx, u); err != nil {
			t.Fatal(err)
		}
		want[id] = u.Active
	}
	// An unpaged search by the service account stops at the size limit, so
	// getting every entry shows List pages.
	got := map[string]bool{}
	err := c.List(ctx, func(a integrations.Account) bool {
		if _, dup := got[a.ExternalID]; dup {
			t.Errorf("%s listed twice", a.ExternalID)
		}
		got[a.ExternalID] = a.Active
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != n {
		t.Fatalf("listed %d accounts, want %d", len(got), n)
	}
	for id, active := range want {
		if got[id] != active {
			t.Errorf("%s active = %t, want %t", id, got[id], active)
		}
	}

	seen := 0
	if err := c.List(ctx, func(integrations.Account) bool { seen++; return seen < 6 }); err != nil {
		t.Fatal(err)
	}
	if seen != 6 {
		t.Fatalf("List went on after fn returned false: %d calls", seen)
	}
	// The connection that abandoned the paged search still works.
	if _, err := c.Lookup(ctx, "E0000", ""); err != nil {
		t.Fatal(err)
	}
}

func TestErrors(t *testing.T) {
	s := ldaptest.Start(t)
	ctx := ctxT(t)

	t.Run("wrong password", func(t *testing.T) {
		const wrong = "not-the-password-42"
		c, err := ldap.New(integrations.AppConfig{Name: "directory", Params: map[string]string{
			"url": s.URL, "bind_dn": ldaptest.ServiceDN, "users_dn": s.UsersDN,
		}, Secrets: map[string]string{"password": wrong}})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Capabilities(ctx)
		e := kindIs(t, err, integrations.Permanent)
		if !strings.Contains(e.Detail, "Invalid Credentials") || !strings.Contains(e.Detail, ldaptest.ServiceDN) {
			t.Errorf("detail %q lacks the server's words or the bind DN", e.Detail)
		}
		if strings.Contains(err.Error(), wrong) {
			t.Errorf("the password leaks: %q", err)
		}
	})

	t.Run("read-only account", func(t *testing.T) {
		c, err := ldap.New(integrations.AppConfig{Name: "directory", Params: map[string]string{
			"url": s.URL, "bind_dn": ldaptest.ReaderDN, "users_dn": s.UsersDN,
		}, Secrets: map[string]string{"password": ldaptest.ReaderPassword}})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Create(ctx, jane())
		e := kindIs(t, err, integrations.Permanent)
		if !strings.Contains(e.Detail, "Insufficient Access Rights") {
			t.Errorf("detail %q lacks the server's words", e.Detail)
		}
	})

	t.Run("server down", func(t *testing.T) {
		c, err := ldap.New(integrations.AppConfig{Name: "directory", Params: map[string]string{
			"url": "ldap://127.0.0.1:1", "bind_dn": ldaptest.ServiceDN, "users_dn": s.UsersDN,
		}, Secrets: map[string]string{"password": ldaptest.ServicePassword}})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Get(ctx, "uid=x,"+s.UsersDN)
		kindIs(t, err, integrations.Transient)
	})

	t.Run("missing users_dn", func(t *testing.T) {
		c := connect(t, s, map[string]string{"users_dn": "ou=nobody," + s.BaseDN})
		_, err := c.Capabilities(ctx)
		e := kindIs(t, err, integrations.Permanent)
		if !strings.Contains(e.Detail, "ou=nobody") {
			t.Errorf("detail %q does not name the DN", e.Detail)
		}
	})

	t.Run("unsupported operations", func(t *testing.T) {
		c := connect(t, s, nil)
		kindIs(t, c.RevokeSessions(ctx, "uid=x,"+s.UsersDN), integrations.Permanent)
		kindIs(t, c.TransferData(ctx, "uid=x,"+s.UsersDN, "y@example.com"), integrations.Permanent)
	})
}

func TestCapabilities(t *testing.T) {
	s := ldaptest.Start(t)
	caps, err := connect(t, s, nil).Capabilities(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	want := integrations.Capabilities{Groups: true, Disable: true, Delete: true, Filter: true}
	if caps != want {
		t.Fatalf("Capabilities = %+v, want %+v", caps, want)
	}
}

func TestCapabilitiesWithoutPpolicy(t *testing.T) {
	s := ldaptest.StartWith(t, ldaptest.Options{NoPpolicy: true})
	c := connect(t, s, nil)
	ctx := ctxT(t)
	caps, err := c.Capabilities(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if caps.Disable {
		t.Fatal("Capabilities reports disable on a directory without the ppolicy overlay")
	}
	acct, err := c.Create(ctx, jane())
	if err != nil {
		t.Fatal(err)
	}
	e := kindIs(t, c.SetActive(ctx, acct.ID, false), integrations.Permanent)
	if !strings.Contains(e.Detail, "pwdAccountLockedTime") {
		t.Errorf("detail %q does not name the attribute", e.Detail)
	}
}

func TestTLS(t *testing.T) {
	s := ldaptest.Start(t)
	ctx := ctxT(t)
	for _, tc := range []struct {
		name   string
		params map[string]string
	}{
		{"ldaps", map[string]string{"url": s.LDAPSURL, "ca_file": s.CAFile}},
		{"starttls", map[string]string{"url": s.URL, "start_tls": "true", "ca_file": s.CAFile}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := connect(t, s, tc.params)
			if _, err := c.Capabilities(ctx); err != nil {
				t.Fatal(err)
			}
			u := jane()
			u.ExternalID, u.UserName = "T-"+tc.name, tc.name+"@example.com"
			if _, err := c.Create(ctx, u); err != nil {
				t.Fatal(err)
			}
		})
	}
	t.Run("untrusted certificate", func(t *testing.T) {
		// Without ca_file the system roots do not know the test CA.
		c := connect(t, s, map[string]string{"url": s.LDAPSURL})
		_, err := c.Capabilities(ctx)
		e := kindIs(t, err, integrations.Permanent)
		if !strings.Contains(e.Detail, "ca_file") {
			t.Errorf("detail %q does not say what to do", e.Detail)
		}
	})
}

func TestConcurrentUse(t *testing.T) {
	s := ldaptest.Start(t)
	c := connect(t, s, nil)
	ctx := ctxT(t)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			u := integrations.User{ExternalID: fmt.Sprintf("C%d", i), UserName: fmt.Sprintf("c%d@example.com", i), Active: true}
			acct, err := c.Create(ctx, u)
			if err == nil {
				err = c.AddToGroup(ctx, acct.ID, "engineering")
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := s.Members("engineering"); len(got) != 16 {
		t.Fatalf("engineering has %d members, want 16: %q", len(got), got)
	}
}

func TestIdleConnectionsClosedByTheServer(t *testing.T) {
	s := ldaptest.StartWith(t, ldaptest.Options{IdleTimeout: time.Second})
	c := connect(t, s, nil)
	ctx := ctxT(t)
	acct, err := c.Create(ctx, jane())
	if err != nil {
		t.Fatal(err)
	}
	// slapd drops the pooled connection while it is idle; the next calls must
	// notice and bind afresh rather than fail.
	time.Sleep(3 * time.Second)
	for range 3 {
		if _, err := c.Get(ctx, acct.ID); err != nil {
			t.Fatal(err)
		}
	}
}

func TestCancelledContext(t *testing.T) {
	s := ldaptest.Start(t)
	c := connect(t, s, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := c.Lookup(ctx, "E1001", "")
	kindIs(t, err, integrations.Transient)
	// The connector still works for the next caller.
	if _, err := c.Capabilities(ctxT(t)); err != nil {
		t.Fatal(err)
	}
}

func TestNewValidatesKeys(t *testing.T) {
	base := map[string]string{"url": "ldap://dir.example.com", "bind_dn": "cn=svc,dc=example,dc=com", "users_dn": "ou=people,dc=example,dc=com"}
	for _, tc := range []struct {
		name, key, value, field string
	}{
		{"no url", "url", "", "url"},
		{"http url", "url", "https://dir.example.com", "url"},
		{"url with DN", "url", "ldap://dir.example.com/dc=example,dc=com", "url"},
		{"url with credentials", "url", "ldap://svc:pw@dir.example.com", "url"},
		{"no bind_dn", "bind_dn", "", "bind_dn"},
		{"bad users_dn", "users_dn", "not a dn", "users_dn"},
		{"no users_dn", "users_dn", "", "users_dn"},
		{"bad flavor", "flavor", "novell", "flavor"},
		{"start_tls on ldaps", "url", "ldaps://dir.example.com", "start_tls"},
		{"bad start_tls", "start_tls", "yes", "start_tls"},
		{"missing ca_file", "ca_file", "/nonexistent/ca.pem", "ca_file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := map[string]string{}
			for k, v := range base {
				p[k] = v
			}
			p[tc.key] = tc.value
			if tc.name == "start_tls on ldaps" {
				p["start_tls"] = "true"
			}
			_, err := ldap.New(integrations.AppConfig{Name: "dir", Params: p, Secrets: map[string]string{"password": "pw"}})
			if err == nil || !strings.Contains(err.Error(), "apps.dir."+tc.field) {
				t.Fatalf("New = %v, want an error about apps.dir.%s", err, tc.field)
			}
		})
	}
	_, err := ldap.New(integrations.AppConfig{Name: "dir", Params: base})
	if err == nil || !strings.Contains(err.Error(), "apps.dir.password") {
		t.Fatalf("New without password = %v", err)
	}
	if _, err := ldap.New(integrations.AppConfig{Name: "dir", Params: base, Secrets: map[string]string{"password": "pw"}}); err != nil {
		t.Fatalf("New with good keys: %v", err)
	}
}
