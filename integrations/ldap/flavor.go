package ldap

import (
	"errors"
	"strconv"
	"strings"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/tenure-io/tenure/integrations"
)

// flavor is what differs between directories: the object classes of people and
// groups, where the HR ID and department go, and how an account is locked.
type flavor struct {
	name        string
	userFilter  string // matches person entries
	groupFilter string // matches the groups grants name
	hrIDAttr    string // holds the HR ID, so Lookup finds the person after a rename
	deptAttr    string
	// lockAttr, when set, locks the account by being present with lockValue.
	lockAttr  string
	lockValue string
	// uac is set for Active Directory, whose accounts are switched off by the
	// ACCOUNTDISABLE bit of userAccountControl.
	uac bool
	// createdActive says whether a new entry is usable as added; Active
	// Directory's are added disabled.
	createdActive bool
}

// openLDAP locks with the ppolicy overlay: pwdAccountLockedTime set to
// 000001010000Z is a lock that lasts until an administrator removes it
// (slapo-ppolicy(5)).
var openLDAP = flavor{
	name:          "openldap",
	userFilter:    "(objectClass=inetOrgPerson)",
	groupFilter:   "(objectClass=groupOfNames)",
	hrIDAttr:      "employeeNumber",
	deptAttr:      "departmentNumber",
	lockAttr:      "pwdAccountLockedTime",
	lockValue:     "000001010000Z",
	createdActive: true,
}

// ds389 is 389 Directory Server (and Red Hat Directory Server), whose account
// lock is the operational attribute nsAccountLock.
var ds389 = flavor{
	name:          "389ds",
	userFilter:    "(objectClass=inetOrgPerson)",
	groupFilter:   "(objectClass=groupOfNames)",
	hrIDAttr:      "employeeNumber",
	deptAttr:      "departmentNumber",
	lockAttr:      "nsAccountLock",
	lockValue:     "TRUE",
	createdActive: true,
}

// activeDirectory names people by cn, keeps the HR ID in employeeID and adds
// accounts disabled: an enabled account without a password breaks most domains'
// password policy, and Tenure sets no passwords.
var activeDirectory = flavor{
	name:        "ad",
	userFilter:  "(&(objectCategory=person)(objectClass=user))",
	groupFilter: "(objectClass=group)",
	hrIDAttr:    "employeeID",
	deptAttr:    "department",
	uac:         true,
}

func flavorNamed(name string) (flavor, error) {
	switch strings.ToLower(strings.TrimSpace(name)) {
	case "", "openldap":
		return openLDAP, nil
	case "389ds", "389":
		return ds389, nil
	case "ad", "active_directory", "activedirectory":
		return activeDirectory, nil
	}
	return flavor{}, errors.New(`must be "openldap", "389ds" or "ad"`)
}

// The userAccountControl bits this connector reads and writes ([MS-ADTS] 2.2.16).
const (
	uacAccountDisable = 0x0002
	uacNormalAccount  = 0x0200
)

// uacWith returns userAccountControl uac with the ACCOUNTDISABLE bit cleared
// (active) or set, leaving every other bit (password and delegation flags) as
// the domain has them.
func uacWith(uac int, active bool) int {
	if active {
		return uac &^ uacAccountDisable
	}
	return uac | uacAccountDisable
}

// hrIDFilter matches the entry that carries the HR ID id.
func (f flavor) hrIDFilter(id string) string {
	return "(&" + f.userFilter + "(" + f.hrIDAttr + "=" + goldap.EscapeFilter(id) + "))"
}

// userNameFilter matches the entry of the person whose work email is userName.
func (f flavor) userNameFilter(userName string) string {
	v := goldap.EscapeFilter(userName)
	if f.uac {
		return "(&" + f.userFilter + "(|(mail=" + v + ")(userPrincipalName=" + v + ")))"
	}
	return "(&" + f.userFilter + "(mail=" + v + "))"
}

// userAttrs are the attributes an Account is made from. Operational attributes
// such as pwdAccountLockedTime are only returned when asked for by name.
func (f flavor) userAttrs() []string {
	attrs := []string{"mail", f.hrIDAttr}
	if f.uac {
		return append(attrs, "userPrincipalName", "userAccountControl")
	}
	return append(attrs, f.lockAttr)
}

// account reads an Account (without its groups) from a person entry.
func (f flavor) account(e *goldap.Entry) integrations.Account {
	a := integrations.Account{
		ID:         e.DN,
		UserName:   e.GetEqualFoldAttributeValue("mail"),
		ExternalID: e.GetEqualFoldAttributeValue(f.hrIDAttr),
	}
	if f.uac {
		if a.UserName == "" {
			a.UserName = e.GetEqualFoldAttributeValue("userPrincipalName")
		}
		uac, err := strconv.Atoi(e.GetEqualFoldAttributeValue("userAccountControl"))
		a.Active = err == nil && uac&uacAccountDisable == 0
		return a
	}
	lock := e.GetEqualFoldAttributeValues(f.lockAttr)
	// Any pwdAccountLockedTime is a lock (also one that ppolicy set after failed
	// binds); nsAccountLock locks only when true.
	a.Active = len(lock) == 0 || (f.lockAttr == "nsAccountLock" && !strings.EqualFold(lock[0], "true"))
	return a
}

// attr is one attribute of an entry to add.
type attr struct {
	name   string
	values []string
}

// newUser returns the DN and attributes of the entry to add for u under usersDN.
// OpenLDAP and 389 DS entries are inetOrgPerson named uid=<email local part>;
// Active Directory entries are user objects named CN=<display name>, with the
// local part as sAMAccountName and the email as userPrincipalName.
func (f flavor) newUser(usersDN string, u integrations.User) (string, []attr, error) {
	userName := strings.TrimSpace(u.UserName)
	if userName == "" {
		return "", nil, errors.New("the person has no work email to name the entry by")
	}
	local := userName
	if i := strings.LastIndex(userName, "@"); i > 0 {
		local = userName[:i]
	}
	mail := strings.TrimSpace(u.Email)
	if mail == "" {
		mail = userName
	}
	cn := strings.TrimSpace(u.DisplayName)
	if cn == "" {
		cn = strings.TrimSpace(u.GivenName + " " + u.FamilyName)
	}
	if cn == "" {
		cn = local
	}
	var attrs []attr
	put := func(name, value string) {
		if value = strings.TrimSpace(value); value != "" {
			attrs = append(attrs, attr{name, []string{value}})
		}
	}
	var dn string
	if f.uac {
		sam := samAccountName(local)
		if sam == "" {
			return "", nil, errors.New("the email's local part " + strconv.Quote(local) + " leaves no valid sAMAccountName")
		}
		dn = "CN=" + goldap.EscapeDN(cn) + "," + usersDN
		attrs = append(attrs, attr{"objectClass", []string{"top", "person", "organizationalPerson", "user"}})
		put("cn", cn)
		put("sAMAccountName", sam)
		put("userPrincipalName", userName)
		put("sn", u.FamilyName)
		put("userAccountControl", strconv.Itoa(uacNormalAccount|uacAccountDisable))
	} else {
		sn := u.FamilyName
		if strings.TrimSpace(sn) == "" {
			sn = cn // sn is required by the person class
		}
		dn = "uid=" + goldap.EscapeDN(strings.ToLower(local)) + "," + usersDN
		attrs = append(attrs, attr{"objectClass", []string{"top", "person", "organizationalPerson", "inetOrgPerson"}})
		put("uid", strings.ToLower(local))
		put("cn", cn)
		put("sn", sn)
	}
	put("givenName", u.GivenName)
	put("displayName", u.DisplayName)
	put("mail", mail)
	put("title", u.Title)
	put(f.deptAttr, u.Department)
	put(f.hrIDAttr, u.ExternalID)
	return dn, attrs, nil
}

// samAccountName makes a pre-Windows 2000 logon name from an email's local part:
// at most 20 characters, none of "/\[]:;|=,+*?<>@ or control characters, and not
// ending in a full stop.
func samAccountName(local string) string {
	var b strings.Builder
	n := 0
	for _, r := range local {
		if r < 0x20 || strings.ContainsRune(`"/\[]:;|=,+*?<>@`, r) {
			continue
		}
		if n == 20 {
			break
		}
		b.WriteRune(r)
		n++
	}
	return strings.TrimRight(b.String(), ". ")
}
