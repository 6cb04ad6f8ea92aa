package ldaptest_test

import (
	"testing"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/tenure-io/tenure/integrations/ldap/ldaptest"
)

func lockEntry(t *testing.T, s *ldaptest.Server, dn string) {
	t.Helper()
	mod := goldap.NewModifyRequest(dn, nil)
	mod.Replace("pwdAccountLockedTime", []string{"000001010000Z"})
	if err := s.Modify(mod); err != nil {
		t.Fatal(err)
	}
}
