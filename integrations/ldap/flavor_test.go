package ldap

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/tenure-io/tenure/integrations"
)

// No Active Directory runs in CI, so these tests pin down the AD dialect's
// entry, filters and userAccountControl arithmetic; the same code paths
// (Create, SetActive, groups) run against a real slapd in ldap_test.go.

func TestUACWithTogglesOnlyAccountDisable(t *testing.T) {
	for _, tc := range []struct {
		uac    int
		active bool
		want   int
	}{
		{512, false, 514},     // NORMAL_ACCOUNT
		{514, true, 512},      // disabled normal account
		{514, false, 514},     // already disabled
		{512, true, 512},      // already enabled
		{66048, false, 66050}, // NORMAL_ACCOUNT | DONT_EXPIRE_PASSWORD keeps its flag
		{66050, true, 66048},
		{544, false, 546}, // PASSWD_NOTREQD survives too
	} {
		if got := uacWith(tc.uac, tc.active); got != tc.want {
			t.Errorf("uacWith(%d, %t) = %d, want %d", tc.uac, tc.active, got, tc.want)
		}
	}
}

func attrsOf(attrs []attr) map[string][]string {
	m := map[string][]string{}
	for _, a := range attrs {
		m[a.name] = a.values
	}
	return m
}

func TestActiveDirectoryNewUser(t *testing.T) {
	u := integrations.User{
		ExternalID: "E77", UserName: "jane.doe@corp.example", Email: "Jane.Doe@corp.example",
		GivenName: "Jane", FamilyName: "Doe", DisplayName: "Doe, Jane", Title: "CFO", Department: "Finance", Active: true,
	}
	dn, attrs, err := activeDirectory.newUser("OU=People,DC=corp,DC=example", u)
	if err != nil {
		t.Fatal(err)
	}
	if dn != `CN=Doe\, Jane,OU=People,DC=corp,DC=example` {
		t.Errorf("dn = %s", dn)
	}
	if _, err := goldap.ParseDN(dn); err != nil {
		t.Errorf("dn does not parse: %v", err)
	}
	got := attrsOf(attrs)
	for name, want := range map[string][]string{
		"objectClass":        {"top", "person", "organizationalPerson", "user"},
		"cn":                 {"Doe, Jane"},
		"sAMAccountName":     {"jane.doe"},
		"userPrincipalName":  {"jane.doe@corp.example"},
		"mail":               {"Jane.Doe@corp.example"},
		"employeeID":         {"E77"},
		"department":         {"Finance"},
		"title":              {"CFO"},
		"userAccountControl": {"514"}, // added disabled; Create enables it afterwards
	} {
		if !slices.Equal(got[name], want) {
			t.Errorf("%s = %q, want %q", name, got[name], want)
		}
	}
	for _, name := range []string{"uid", "employeeNumber", "departmentNumber", "pwdAccountLockedTime"} {
		if _, ok := got[name]; ok {
			t.Errorf("an AD entry carries the OpenLDAP attribute %s", name)
		}
	}
	if activeDirectory.createdActive {
		t.Error("AD accounts must be added disabled, then enabled")
	}
}

func TestSAMAccountName(t *testing.T) {
	for in, want := range map[string]string{
		"jane.doe":                      "jane.doe",
		"a.very.long.local.part.indeed": "a.very.long.local.pa",
		"o'brien+tag":                   "o'brientag",
		"x[1]=y":                        "x1y",
		"trailing.":                     "trailing",
		"@@@":                           "",
	} {
		if got := samAccountName(in); got != want {
			t.Errorf("samAccountName(%q) = %q, want %q", in, got, want)
		}
		if n := len([]rune(samAccountName(in))); n > 20 {
			t.Errorf("samAccountName(%q) has %d characters", in, n)
		}
	}
	_, _, err := activeDirectory.newUser("OU=People,DC=corp,DC=example", integrations.User{UserName: "@@@@corp.example"})
	if err == nil {
		t.Error("a local part with no usable character was accepted")
	}
}

func TestActiveDirectoryAccount(t *testing.T) {
	for _, tc := range []struct {
		uac    string
		active bool
	}{{"512", true}, {"514", false}, {"66048", true}, {"66050", false}, {"", false}} {
		attrs := map[string][]string{"userPrincipalName": {"jane@corp.example"}, "employeeID": {"E77"}}
		if tc.uac != "" {
			attrs["userAccountControl"] = []string{tc.uac}
		}
		a := activeDirectory.account(goldap.NewEntry("CN=Jane,OU=People,DC=corp,DC=example", attrs))
		if a.Active != tc.active || a.ExternalID != "E77" || a.UserName != "jane@corp.example" {
			t.Errorf("userAccountControl %q: %+v", tc.uac, a)
		}
	}
	if got := activeDirectory.userAttrs(); !slices.Contains(got, "userAccountControl") || !slices.Contains(got, "employeeID") {
		t.Errorf("AD reads %q", got)
	}
}

func TestFilters(t *testing.T) {
	if got, want := activeDirectory.userNameFilter("jane@corp.example"),
		"(&(&(objectCategory=person)(objectClass=user))(|(mail=jane@corp.example)(userPrincipalName=jane@corp.example)))"; got != want {
		t.Errorf("AD user name filter = %s", got)
	}
	if got, want := openLDAP.hrIDFilter("E1*)(uid=*"), `(&(objectClass=inetOrgPerson)(employeeNumber=E1\2a\29\28uid=\2a))`; got != want {
		t.Errorf("HR ID filter = %s, want the value escaped: %s", got, want)
	}
	for _, f := range []flavor{openLDAP, ds389, activeDirectory} {
		if _, err := goldap.CompileFilter(f.hrIDFilter("x")); err != nil {
			t.Errorf("%s: %v", f.name, err)
		}
		if _, err := goldap.CompileFilter(f.userNameFilter("x@y")); err != nil {
			t.Errorf("%s: %v", f.name, err)
		}
	}
}

func Test389DSLock(t *testing.T) {
	for _, tc := range []struct {
		lock   []string
		active bool
	}{{nil, true}, {[]string{"TRUE"}, false}, {[]string{"true"}, false}, {[]string{"false"}, true}} {
		attrs := map[string][]string{"mail": {"a@example.com"}}
		if tc.lock != nil {
			attrs["nsAccountLock"] = tc.lock
		}
		if a := ds389.account(goldap.NewEntry("uid=a,ou=people,dc=example,dc=com", attrs)); a.Active != tc.active {
			t.Errorf("nsAccountLock %q: active %t", tc.lock, a.Active)
		}
	}
}

func TestFlavorNamed(t *testing.T) {
	for name, want := range map[string]string{"": "openldap", "OpenLDAP": "openldap", "389ds": "389ds", "ad": "ad", "active_directory": "ad"} {
		f, err := flavorNamed(name)
		if err != nil || f.name != want {
			t.Errorf("flavorNamed(%q) = %s, %v", name, f.name, err)
		}
	}
	if _, err := flavorNamed("edirectory"); err == nil {
		t.Error("an unknown flavor was accepted")
	}
}

func TestKindOfCode(t *testing.T) {
	for code, want := range map[uint16]integrations.Kind{
		goldap.LDAPResultInvalidCredentials:       integrations.Permanent,
		goldap.LDAPResultInsufficientAccessRights: integrations.Permanent,
		goldap.LDAPResultConstraintViolation:      integrations.Permanent,
		goldap.LDAPResultObjectClassViolation:     integrations.Permanent,
		goldap.LDAPResultUnwillingToPerform:       integrations.Permanent,
		goldap.LDAPResultNoSuchObject:             integrations.NotFound,
		goldap.LDAPResultEntryAlreadyExists:       integrations.Conflict,
		goldap.LDAPResultBusy:                     integrations.Transient,
		goldap.LDAPResultUnavailable:              integrations.Transient,
		goldap.LDAPResultServerDown:               integrations.Transient,
		goldap.LDAPResultTimeLimitExceeded:        integrations.Transient,
		goldap.ErrorNetwork:                       integrations.Transient,
	} {
		if got := kindOfCode(code); got != want {
			t.Errorf("result %d (%s) is %s, want %s", code, goldap.LDAPResultCodeMap[code], got, want)
		}
	}
}

func TestFailKeepsTheServersWordsAndDropsThePassword(t *testing.T) {
	c := &Client{app: "ad", url: "ldaps://dc.corp.example", bindDN: "CN=svc,DC=corp,DC=example", password: "Sup3r-Secret"}
	// A constraint violation as Active Directory words it.
	ad := goldap.NewError(goldap.LDAPResultConstraintViolation,
		errors.New("0000052D: Constraint violation - check_password_restrictions: the password does not meet the complexity requirements"))
	err := c.fail(context.Background(), "set_active", ad)
	var e *integrations.Error
	if !errors.As(err, &e) || e.Kind != integrations.Permanent || !strings.Contains(e.Detail, "0000052D") ||
		!strings.Contains(e.Detail, "Constraint Violation (LDAP result 19)") {
		t.Fatalf("fail = %#v", err)
	}
	echo := goldap.NewError(goldap.LDAPResultInvalidCredentials, errors.New("bad password Sup3r-Secret"))
	err = c.fail(context.Background(), "bind", &bindError{echo})
	if strings.Contains(err.Error(), "Sup3r-Secret") || !strings.Contains(err.Error(), "bind as CN=svc") {
		t.Fatalf("fail = %q", err)
	}
}
