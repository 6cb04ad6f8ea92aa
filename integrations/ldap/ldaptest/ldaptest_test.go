package ldaptest_test

import (
	"slices"
	"testing"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/tenure-io/tenure/integrations/ldap/ldaptest"
)

// TestStart checks the harness itself: the seeded tree is there, and the
// ppolicy overlay enforces pwdAccountLockedTime on binds.
func TestStart(t *testing.T) {
	s := ldaptest.Start(t)
	for _, g := range ldaptest.SeededGroups {
		if m := s.Members(g); !slices.Equal(m, []string{ldaptest.Placeholder}) {
			t.Errorf("group %s members = %q, want only the placeholder", g, m)
		}
	}
	dn := "uid=probe," + s.UsersDN
	if err := s.Add(dn, map[string][]string{
		"objectClass": {"inetOrgPerson"}, "uid": {"probe"}, "cn": {"Probe"}, "sn": {"Probe"},
	}); err != nil {
		t.Fatal(err)
	}
	s.SetPassword(dn, "probe-pw")
	if err := s.Bind(dn, "probe-pw"); err != nil {
		t.Fatalf("bind before lock: %v", err)
	}
	lockEntry(t, s, dn)
	if !s.IsLocked(dn) {
		t.Fatal("pwdAccountLockedTime not set")
	}
	if err := s.Bind(dn, "probe-pw"); err == nil {
		t.Fatal("a locked account could still bind: ppolicy is not enforcing locks")
	}
}

func lockEntry(t *testing.T, s *ldaptest.Server, dn string) {
	t.Helper()
	mod := goldap.NewModifyRequest(dn, nil)
	mod.Replace("pwdAccountLockedTime", []string{"000001010000Z"})
	if err := s.Modify(mod); err != nil {
		t.Fatal(err)
	}
}
