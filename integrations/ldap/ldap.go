// Package ldap is Tenure's connector for LDAPv3 directories: OpenLDAP (with the
// ppolicy overlay), 389 Directory Server and Active Directory. It creates person
// entries under a users DN, keeps the HR ID on the entry so a person is found
// again after a rename or an email change, locks and unlocks accounts the way each
// directory does, manages membership of groups under a groups DN and deletes
// entries. Everything LDAP-specific (binding, StartTLS and LDAPS, paged searches,
// the dialects and the mapping of LDAP result codes to integrations.Error kinds)
// lives here, so activities only see the integrations.Connector view.
//
// An account's ID is its entry's DN. Every LDAP operation and every member value
// names an entry by DN, so a DN costs nothing to use, where entryUUID or
// objectGUID would cost a search before each change. A DN changes when an entry
// is renamed; Get then says NotFound and Tenure finds the entry again by its HR ID
// (employeeNumber or employeeID), which a rename keeps.
package ldap

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/url"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/integrations"
)

// Kind is the connector kind name used in policy files.
const Kind = "ldap"

// The policy keys of an ldap app.
const (
	KeyURL      = "url"       // ldap://host[:port] or ldaps://host[:port]
	KeyBindDN   = "bind_dn"   // the service account Tenure binds as
	KeyPassword = "password"  // its password (a secret)
	KeyUsersDN  = "users_dn"  // where person entries live and are created
	KeyGroupsDN = "groups_dn" // where the groups that grants name live
	KeyFlavor   = "flavor"    // openldap (the default), 389ds or ad
	KeyStartTLS = "start_tls" // "true" to upgrade an ldap:// connection
	KeyCAFile   = "ca_file"   // PEM CA certificates for LDAPS or StartTLS
)

// Spec declares the ldap kind.
var Spec = integrations.Spec{
	Kind: Kind,
	New:  Factory,
	Can:  integrations.Capabilities{Groups: true, Disable: true, Delete: true, Filter: true},
	Keys: []integrations.Key{
		{Name: KeyURL, Required: true},
		{Name: KeyBindDN, Required: true},
		{Name: KeyPassword, Required: true, Secret: true},
		{Name: KeyUsersDN, Required: true},
		{Name: KeyGroupsDN},
		{Name: KeyFlavor},
		{Name: KeyStartTLS},
		{Name: KeyCAFile},
	},
}

// Defaults for the connection; Options change them.
const (
	defaultPageSize = 200
	defaultTimeout  = 15 * time.Second
	dialTimeout     = 10 * time.Second
	maxIdle         = 4
)

// Client is the connector for one directory. It is safe for concurrent use: each
// call borrows a bound connection from a small pool and returns it when done.
type Client struct {
	app      string
	url      string
	bindDN   string
	password string
	usersDN  string
	groupsDN string
	flavor   flavor
	startTLS bool
	tls      *tls.Config
	pageSize uint32
	timeout  time.Duration
	idle     chan *goldap.Conn
}

var _ integrations.Connector = (*Client)(nil)

// Option configures a Client.
type Option func(*Client)

// WithPageSize sets how many entries List asks for per page.
func WithPageSize(n int) Option {
	return func(c *Client) {
		if n > 0 {
			c.pageSize = uint32(n)
		}
	}
}

// New returns a connector for app. It checks the keys and reads ca_file, but
// makes no call to the directory.
func New(app integrations.AppConfig, opts ...Option) (*Client, error) {
	name := app.Name
	if name == "" {
		name = "(unnamed)"
	}
	p := app.Params
	c := &Client{
		app:      name,
		bindDN:   strings.TrimSpace(p[KeyBindDN]),
		password: app.Secrets[KeyPassword],
		usersDN:  strings.TrimSpace(p[KeyUsersDN]),
		groupsDN: strings.TrimSpace(p[KeyGroupsDN]),
		pageSize: defaultPageSize,
		timeout:  defaultTimeout,
		idle:     make(chan *goldap.Conn, maxIdle),
	}
	raw := strings.TrimSpace(p[KeyURL])
	u, err := url.Parse(raw)
	switch {
	case raw == "":
		return nil, invalidConfig(name, KeyURL, "is required (ldap://host or ldaps://host)")
	case err != nil:
		return nil, invalidConfig(name, KeyURL, "is not a URL")
	case u.Scheme != "ldap" && u.Scheme != "ldaps":
		return nil, invalidConfig(name, KeyURL, "must be an ldap:// or ldaps:// URL")
	case u.Hostname() == "":
		return nil, invalidConfig(name, KeyURL, "has no host")
	case u.User != nil:
		return nil, invalidConfig(name, KeyURL, "must not carry credentials; use bind_dn and password")
	case (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "":
		// An LDAP URL may name a base DN and a filter; this connector takes its
		// DNs from users_dn and groups_dn, and ignoring a DN here would mislead.
		return nil, invalidConfig(name, KeyURL, "must be only scheme, host and port; give DNs as users_dn and groups_dn")
	}
	c.url = u.Scheme + "://" + u.Host
	for _, k := range []struct{ key, value string }{
		{KeyBindDN, c.bindDN}, {KeyUsersDN, c.usersDN}, {KeyGroupsDN, c.groupsDN},
	} {
		if k.value == "" {
			continue
		}
		if _, err := goldap.ParseDN(k.value); err != nil {
			return nil, invalidConfig(name, k.key, "is not a DN: "+err.Error())
		}
	}
	if c.bindDN == "" {
		return nil, invalidConfig(name, KeyBindDN, "is required (the DN Tenure binds as)")
	}
	if c.password == "" {
		return nil, invalidConfig(name, KeyPassword, "is required (give password_env or password_file)")
	}
	if c.usersDN == "" {
		return nil, invalidConfig(name, KeyUsersDN, "is required (the DN under which person entries live)")
	}
	if c.flavor, err = flavorNamed(p[KeyFlavor]); err != nil {
		return nil, invalidConfig(name, KeyFlavor, err.Error())
	}
	switch strings.ToLower(strings.TrimSpace(p[KeyStartTLS])) {
	case "", "false":
	case "true":
		if u.Scheme == "ldaps" {
			return nil, invalidConfig(name, KeyStartTLS, "cannot be used with ldaps://, which is TLS from the start")
		}
		c.startTLS = true
	default:
		return nil, invalidConfig(name, KeyStartTLS, `must be "true" or "false"`)
	}
	c.tls = &tls.Config{ServerName: u.Hostname(), MinVersion: tls.VersionTLS12}
	if f := strings.TrimSpace(p[KeyCAFile]); f != "" {
		pem, err := os.ReadFile(f)
		if err != nil {
			return nil, invalidConfig(name, KeyCAFile, "cannot be read: "+err.Error())
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, invalidConfig(name, KeyCAFile, "holds no PEM certificate")
		}
		c.tls.RootCAs = pool
	}
	for _, opt := range opts {
		opt(c)
	}
	return c, nil
}

// Factory adapts New to integrations.Factory.
func Factory(app integrations.AppConfig) (integrations.Connector, error) {
	return New(app)
}

func invalidConfig(app, field, problem string) error {
	return tenure.Invalid(tenure.FieldError{Field: "apps." + app + "." + field, Problem: problem})
}

// Capabilities binds, reads the root DSE and checks that users_dn (and groups_dn,
// when set) exist, so `tenure apps test` proves the credentials and the DNs.
func (c *Client) Capabilities(ctx context.Context) (integrations.Capabilities, error) {
	lockable := true
	err := c.with(ctx, "capabilities", func(conn *goldap.Conn) error {
		dse, err := searchAll(conn, goldap.NewSearchRequest("", goldap.ScopeBaseObject, goldap.NeverDerefAliases,
			0, 0, false, "(objectClass=*)", []string{"supportedLDAPVersion", "subschemaSubentry"}, nil))
		if err != nil {
			return err
		}
		// Some directories hide the root DSE from ordinary accounts; then the base
		// searches below still prove the bind and the DNs.
		if len(dse) == 1 && len(dse[0].GetAttributeValues("supportedLDAPVersion")) > 0 &&
			!slices.Contains(dse[0].GetAttributeValues("supportedLDAPVersion"), "3") {
			return &integrations.Error{Kind: integrations.Permanent, App: c.app, Op: "capabilities",
				Detail: "the server does not offer LDAPv3 (supportedLDAPVersion " +
					strings.Join(dse[0].GetAttributeValues("supportedLDAPVersion"), ", ") + ")"}
		}
		if len(dse) == 1 && !c.flavor.uac {
			lockable = c.schemaHas(conn, dse[0].GetAttributeValue("subschemaSubentry"), c.flavor.lockAttr)
		}
		for _, d := range []struct{ key, dn string }{{KeyUsersDN, c.usersDN}, {KeyGroupsDN, c.groupsDN}} {
			if d.dn == "" {
				continue
			}
			_, err := searchAll(conn, goldap.NewSearchRequest(d.dn, goldap.ScopeBaseObject, goldap.NeverDerefAliases,
				1, 0, false, "(objectClass=*)", []string{"1.1"}, nil))
			if goldap.IsErrorWithCode(err, goldap.LDAPResultNoSuchObject) {
				return &integrations.Error{Kind: integrations.Permanent, App: c.app, Op: "capabilities",
					Detail: d.key + " " + strconv.Quote(d.dn) + " does not exist (or the bind DN may not see it)"}
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return integrations.Capabilities{}, err
	}
	return integrations.Capabilities{
		Groups: c.groupsDN != "",
		// OpenLDAP without the ppolicy overlay has no pwdAccountLockedTime, so
		// accounts there cannot be locked.
		Disable: lockable,
		Delete:  true,
		Filter:  true,
		// An LDAP directory keeps no sessions: it answers binds. Locking the
		// account stops new binds; sessions that apps opened after a bind are
		// theirs to end.
		RevokeSessions: false,
	}, nil
}

// schemaHas reports whether the directory's schema (the subschema entry at dn)
// defines the attribute type attr. When the schema cannot be read it assumes so:
// the lock itself will then say plainly if the attribute is unknown.
func (c *Client) schemaHas(conn *goldap.Conn, dn, attr string) bool {
	if dn == "" {
		return true
	}
	found, err := searchAll(conn, goldap.NewSearchRequest(dn, goldap.ScopeBaseObject, goldap.NeverDerefAliases,
		0, 0, false, "(objectClass=subschema)", []string{"attributeTypes"}, nil))
	if err != nil || len(found) == 0 {
		return true
	}
	types := found[0].GetEqualFoldAttributeValues("attributeTypes")
	if len(types) == 0 {
		return true
	}
	// A definition names its type as NAME 'x' or NAME ( 'x' 'y' ).
	want := "'" + strings.ToLower(attr) + "'"
	for _, t := range types {
		if strings.Contains(strings.ToLower(t), want) {
			return true
		}
	}
	return false
}

// Lookup finds the entry under users_dn whose HR ID attribute is externalID, or
// failing that whose mail (or, in Active Directory, userPrincipalName) is userName.
func (c *Client) Lookup(ctx context.Context, externalID, userName string) (integrations.Account, error) {
	for _, q := range []struct{ what, value, filter string }{
		{c.flavor.hrIDAttr, externalID, c.flavor.hrIDFilter(externalID)},
		{"user name", userName, c.flavor.userNameFilter(userName)},
	} {
		if q.value == "" {
			continue
		}
		var found []*goldap.Entry
		err := c.with(ctx, "lookup", func(conn *goldap.Conn) error {
			var err error
			found, err = searchAll(conn, goldap.NewSearchRequest(c.usersDN, goldap.ScopeWholeSubtree,
				goldap.NeverDerefAliases, 2, 0, false, q.filter, c.flavor.userAttrs(), nil))
			if goldap.IsErrorWithCode(err, goldap.LDAPResultSizeLimitExceeded) {
				err = nil // more than one: reported below
			}
			return err
		})
		if err != nil {
			return integrations.Account{}, err
		}
		switch len(found) {
		case 0:
			continue
		case 1:
			return c.account(ctx, found[0])
		default:
			// Acting on one of several would be a guess about whose access this is.
			return integrations.Account{}, &integrations.Error{Kind: integrations.Permanent, App: c.app, Op: "lookup",
				Detail: fmt.Sprintf("more than one entry under %s has %s %q: %s and %s",
					c.usersDN, q.what, q.value, found[0].DN, found[1].DN)}
		}
	}
	return integrations.Account{}, &integrations.Error{Kind: integrations.NotFound, App: c.app, Op: "lookup",
		Detail: "no entry under " + c.usersDN + " has that " + c.flavor.hrIDAttr + " or user name"}
}

// Get reads the person entry whose DN is id.
func (c *Client) Get(ctx context.Context, id string) (integrations.Account, error) {
	e, err := c.entry(ctx, "get", id)
	if err != nil {
		return integrations.Account{}, err
	}
	return c.account(ctx, e)
}

// entry reads the person entry at dn; a DN that names no person is NotFound.
func (c *Client) entry(ctx context.Context, op, dn string) (*goldap.Entry, error) {
	if err := c.managed(op, dn); err != nil {
		return nil, err
	}
	var found []*goldap.Entry
	err := c.with(ctx, op, func(conn *goldap.Conn) error {
		var err error
		found, err = searchAll(conn, goldap.NewSearchRequest(dn, goldap.ScopeBaseObject, goldap.NeverDerefAliases,
			1, 0, false, c.flavor.userFilter, c.flavor.userAttrs(), nil))
		return err
	})
	if err != nil {
		return nil, err
	}
	if len(found) == 0 {
		return nil, &integrations.Error{Kind: integrations.NotFound, App: c.app, Op: op,
			Detail: dn + " exists but is not a person entry"}
	}
	return found[0], nil
}

// managed checks that dn is an entry under users_dn. Nothing else is Tenure's to
// change: a stale or mistaken ID must never lock, regroup or delete the service
// account or an entry elsewhere in the tree. Outside users_dn there is no
// account, so the answer is NotFound, which also sends callers to Lookup.
func (c *Client) managed(op, dn string) error {
	d, err := goldap.ParseDN(dn)
	if err != nil || dn == "" {
		return &integrations.Error{Kind: integrations.NotFound, App: c.app, Op: op,
			Detail: strconv.Quote(dn) + " is not a DN"}
	}
	if users, err := goldap.ParseDN(c.usersDN); err != nil || !users.AncestorOfFold(d) {
		return &integrations.Error{Kind: integrations.NotFound, App: c.app, Op: op,
			Detail: dn + " is not under users_dn " + c.usersDN}
	}
	return nil
}

// account turns a person entry into an Account, reading its groups.
func (c *Client) account(ctx context.Context, e *goldap.Entry) (integrations.Account, error) {
	groups, err := c.groupsOf(ctx, e.DN)
	if err != nil {
		return integrations.Account{}, err
	}
	a := c.flavor.account(e)
	a.Groups = groups
	return a, nil
}

// groupsOf lists the names of the groups under groups_dn that have dn as a member.
func (c *Client) groupsOf(ctx context.Context, dn string) ([]string, error) {
	dns, err := c.groupDNsOf(ctx, dn)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, g := range dns {
		if n := groupName(g); n != "" {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names, nil
}

// groupDNsOf lists the DNs of the groups under groups_dn that have dn as a member.
func (c *Client) groupDNsOf(ctx context.Context, dn string) ([]string, error) {
	if c.groupsDN == "" {
		return nil, nil
	}
	var found []*goldap.Entry
	err := c.with(ctx, "read_groups", func(conn *goldap.Conn) error {
		var err error
		found, err = searchAll(conn, goldap.NewSearchRequest(c.groupsDN, goldap.ScopeWholeSubtree,
			goldap.NeverDerefAliases, 0, 0, false,
			"(&"+c.flavor.groupFilter+"(member="+goldap.EscapeFilter(dn)+"))", []string{"1.1"}, nil))
		return err
	})
	if err != nil {
		return nil, err
	}
	dns := make([]string, 0, len(found))
	for _, g := range found {
		dns = append(dns, g.DN)
	}
	return dns, nil
}

// groupName is the value of a group DN's leading cn RDN: the name grants use.
func groupName(dn string) string {
	d, err := goldap.ParseDN(dn)
	if err != nil || len(d.RDNs) == 0 {
		return ""
	}
	for _, a := range d.RDNs[0].Attributes {
		if strings.EqualFold(a.Type, "cn") {
			return a.Value
		}
	}
	return ""
}

// Create adds the person's entry. When the directory says the entry already
// exists, Create adopts the existing account if it is this person's (same HR ID,
// or same email and no other HR ID) and reports a Conflict otherwise.
func (c *Client) Create(ctx context.Context, u integrations.User) (integrations.Account, error) {
	dn, attrs, err := c.flavor.newUser(c.usersDN, u)
	if err != nil {
		return integrations.Account{}, &integrations.Error{Kind: integrations.Permanent, App: c.app, Op: "create", Detail: err.Error()}
	}
	add := goldap.NewAddRequest(dn, nil)
	for _, a := range attrs {
		add.Attribute(a.name, a.values)
	}
	err = c.with(ctx, "create", func(conn *goldap.Conn) error { return conn.Add(add) })
	if err == nil {
		if u.Active != c.flavor.createdActive {
			if err := c.SetActive(ctx, dn, u.Active); err != nil {
				return integrations.Account{}, err
			}
		}
		return c.Get(ctx, dn)
	}
	if integrations.KindOf(err) != integrations.Conflict {
		return integrations.Account{}, err
	}
	acct, lerr := c.Lookup(ctx, u.ExternalID, u.UserName)
	switch {
	case lerr == nil && acct.ExternalID != "" && u.ExternalID != "" && acct.ExternalID != u.ExternalID:
		// The email belongs to the entry of someone else (a reused address).
		// Adopting it would hand this person that person's access.
		return integrations.Account{}, &integrations.Error{Kind: integrations.Conflict, App: c.app, Op: "create",
			Detail: fmt.Sprintf("%s has mail %q but %s %q, not %q", acct.ID, u.UserName,
				c.flavor.hrIDAttr, acct.ExternalID, u.ExternalID)}
	case lerr == nil && acct.ExternalID == "" && u.ExternalID != "":
		// Found by email on an entry without an HR ID: record this person's, so
		// a later email change still finds it.
		mod := goldap.NewModifyRequest(acct.ID, nil)
		mod.Replace(c.flavor.hrIDAttr, []string{u.ExternalID})
		if err := c.with(ctx, "create", func(conn *goldap.Conn) error { return conn.Modify(mod) }); err != nil {
			return integrations.Account{}, err
		}
		return c.Get(ctx, acct.ID)
	case lerr == nil:
		return acct, nil
	case !integrations.IsNotFound(lerr):
		return integrations.Account{}, lerr
	}
	// The DN is taken by an entry that carries neither this HR ID nor this email:
	// someone else's, whose name clashes with this person's.
	return integrations.Account{}, &integrations.Error{Kind: integrations.Conflict, App: c.app, Op: "create",
		Detail: dn + " already exists and belongs to someone else (its " + c.flavor.hrIDAttr +
			" and mail differ); rename one of them"}
}

// SetActive locks or unlocks the account the directory's way: OpenLDAP's
// ppolicy pwdAccountLockedTime, 389 DS's nsAccountLock, or the ACCOUNTDISABLE
// bit of Active Directory's userAccountControl.
func (c *Client) SetActive(ctx context.Context, id string, active bool) error {
	var mod *goldap.ModifyRequest
	if c.flavor.uac {
		e, err := c.entry(ctx, "set_active", id)
		if err != nil {
			return err
		}
		old, err := strconv.Atoi(e.GetAttributeValue("userAccountControl"))
		if err != nil {
			return &integrations.Error{Kind: integrations.Permanent, App: c.app, Op: "set_active",
				Detail: id + " has no numeric userAccountControl"}
		}
		next := uacWith(old, active)
		if next == old {
			return nil
		}
		mod = goldap.NewModifyRequest(id, nil)
		mod.Replace("userAccountControl", []string{strconv.Itoa(next)})
	} else {
		if err := c.managed("set_active", id); err != nil {
			return err
		}
		mod = goldap.NewModifyRequest(id, nil)
		if active {
			// Replacing with no values removes the attribute and is no error when
			// it is already absent, so enabling twice is harmless.
			mod.Replace(c.flavor.lockAttr, nil)
		} else {
			mod.Replace(c.flavor.lockAttr, []string{c.flavor.lockValue})
		}
	}
	return c.with(ctx, "set_active", func(conn *goldap.Conn) error { return conn.Modify(mod) })
}

// Delete removes the account from every group under groups_dn (OpenLDAP and
// 389 DS keep a deleted entry's DN in member values, and whoever is next created
// under that DN would inherit them), then deletes the entry. An entry that is
// already gone is not an error.
func (c *Client) Delete(ctx context.Context, id string) error {
	if err := c.managed("delete", id); err != nil {
		// Nothing under users_dn has this ID, but "already gone" would be a
		// claim about an entry Tenure never managed: say so instead.
		return &integrations.Error{Kind: integrations.Permanent, App: c.app, Op: "delete",
			Detail: "refusing to delete " + strconv.Quote(id) + ": it is not under users_dn " + c.usersDN}
	}
	if !c.flavor.uac {
		groups, err := c.groupDNsOf(ctx, id)
		if err != nil {
			return err
		}
		for _, gdn := range groups {
			if err := c.removeMember(ctx, gdn, id); err != nil {
				return err
			}
		}
	}
	var controls []goldap.Control
	if c.flavor.uac {
		// AD hangs objects under a user (Exchange ActiveSync devices, for one),
		// and refuses to delete a user that has any without the tree delete
		// control ([MS-ADTS] LDAP_SERVER_TREE_DELETE_OID).
		controls = []goldap.Control{goldap.NewControlSubtreeDelete()}
	}
	err := c.with(ctx, "delete", func(conn *goldap.Conn) error { return conn.Del(goldap.NewDelRequest(id, controls)) })
	if integrations.IsNotFound(err) {
		return nil
	}
	return err
}

// placeholderMember is the member value that keeps a groupOfNames valid when its
// last real member leaves: the schema requires at least one member, and the empty
// DN (the root DSE) names no entry, so it can never grant anyone anything.
const placeholderMember = ""

// AddToGroup makes id a member of the group named group (its cn) under
// groups_dn. The group must exist: Tenure does not create groups in a directory.
func (c *Client) AddToGroup(ctx context.Context, id, group string) error {
	if err := c.managed("add_to_group", id); err != nil {
		return err
	}
	gdn, err := c.findGroup(ctx, "add_to_group", group)
	if err != nil {
		if integrations.IsNotFound(err) {
			return &integrations.Error{Kind: integrations.Permanent, App: c.app, Op: "add_to_group",
				Detail: "group " + strconv.Quote(group) + " does not exist under " + c.groupsDN +
					"; Tenure does not create directory groups, so create it or fix the grant"}
		}
		return err
	}
	return c.with(ctx, "add_to_group", func(conn *goldap.Conn) error {
		// Compare first, so a granted membership costs no write and the group's
		// modification history shows only real changes.
		if member, err := isMember(conn, gdn, id); err != nil || member {
			return err
		}
		mod := goldap.NewModifyRequest(gdn, nil)
		mod.Add("member", []string{id})
		if err := conn.Modify(mod); err != nil && !goldap.IsErrorWithCode(err, goldap.LDAPResultAttributeOrValueExists) {
			return err
		}
		if c.flavor.uac {
			return nil // AD groups may be empty, so they never hold the placeholder
		}
		drop := goldap.NewModifyRequest(gdn, nil)
		drop.Delete("member", []string{placeholderMember})
		if err := conn.Modify(drop); err != nil && !goldap.IsErrorWithCode(err, goldap.LDAPResultNoSuchAttribute) {
			return err
		}
		return nil
	})
}

// RemoveFromGroup ends id's membership of the group named group. A group that
// does not exist, or does not have id as a member, counts as done. When id is the
// last member of a groupOfNames, whose schema requires a member, the empty DN
// takes its place in the same modification.
func (c *Client) RemoveFromGroup(ctx context.Context, id, group string) error {
	if err := c.managed("remove_from_group", id); err != nil {
		return err
	}
	gdn, err := c.findGroup(ctx, "remove_from_group", group)
	if integrations.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	return c.removeMember(ctx, gdn, id)
}

// removeMember takes id out of the group at gdn, putting the placeholder in its
// place when the schema insists on a member.
func (c *Client) removeMember(ctx context.Context, gdn, id string) error {
	return c.with(ctx, "remove_from_group", func(conn *goldap.Conn) error {
		if member, err := isMember(conn, gdn, id); err != nil || !member {
			return err
		}
		mod := goldap.NewModifyRequest(gdn, nil)
		mod.Delete("member", []string{id})
		err := conn.Modify(mod)
		if goldap.IsErrorWithCode(err, goldap.LDAPResultObjectClassViolation) && !c.flavor.uac {
			last := goldap.NewModifyRequest(gdn, nil)
			last.Delete("member", []string{id})
			last.Add("member", []string{placeholderMember})
			err = conn.Modify(last)
		}
		if goldap.IsErrorWithCode(err, goldap.LDAPResultNoSuchAttribute) {
			return nil
		}
		return err
	})
}

// isMember asks the directory whether the group at gdn has dn as a member.
func isMember(conn *goldap.Conn, gdn, dn string) (bool, error) {
	ok, err := conn.Compare(gdn, "member", dn)
	if goldap.IsErrorWithCode(err, goldap.LDAPResultNoSuchAttribute) {
		return false, nil // a group with no member attribute at all
	}
	return ok, err
}

// findGroup returns the DN of the group under groups_dn whose RDN is cn=name.
func (c *Client) findGroup(ctx context.Context, op, name string) (string, error) {
	if c.groupsDN == "" {
		return "", &integrations.Error{Kind: integrations.Permanent, App: c.app, Op: op,
			Detail: "groups_dn is not set, so this app has no groups to grant"}
	}
	var found []*goldap.Entry
	err := c.with(ctx, op, func(conn *goldap.Conn) error {
		var err error
		found, err = searchAll(conn, goldap.NewSearchRequest(c.groupsDN, goldap.ScopeWholeSubtree,
			goldap.NeverDerefAliases, 0, 0, false,
			"(&"+c.flavor.groupFilter+"(cn="+goldap.EscapeFilter(name)+"))", []string{"1.1"}, nil))
		return err
	})
	if err != nil {
		return "", err
	}
	var dns []string
	other := ""
	for _, g := range found {
		switch n := groupName(g.DN); {
		case n == name:
			dns = append(dns, g.DN)
		case strings.EqualFold(n, name):
			other = n
		}
	}
	switch {
	case len(dns) == 0 && other != "":
		// The directory matches cn without regard to case, but Account.Groups
		// reports the name as the directory spells it, so a grant spelt otherwise
		// could never be read back as held.
		return "", &integrations.Error{Kind: integrations.Permanent, App: c.app, Op: op,
			Detail: "the group " + strconv.Quote(name) + " is spelt " + strconv.Quote(other) +
				" in the directory; name it so in the policy"}
	case len(dns) == 0:
		return "", &integrations.Error{Kind: integrations.NotFound, App: c.app, Op: op,
			Detail: "group " + strconv.Quote(name) + " does not exist under " + c.groupsDN}
	case len(dns) == 1:
		return dns[0], nil
	}
	return "", &integrations.Error{Kind: integrations.Permanent, App: c.app, Op: op,
		Detail: fmt.Sprintf("%d groups under %s are named %q: %s", len(dns), c.groupsDN, name, strings.Join(dns, "; "))}
}

// RevokeSessions is refused: a directory answers binds and keeps no sessions.
func (c *Client) RevokeSessions(ctx context.Context, id string) error {
	return &integrations.Error{Kind: integrations.Permanent, App: c.app, Op: "revoke_sessions",
		Detail: "an LDAP directory keeps no sessions to end; disabling the account stops new binds, " +
			"and sessions that apps opened after a bind must be ended in those apps"}
}

// TransferData is refused: a directory entry owns no documents or files.
func (c *Client) TransferData(ctx context.Context, id, toUserName string) error {
	return &integrations.Error{Kind: integrations.Permanent, App: c.app, Op: "transfer_data",
		Detail: "an LDAP directory holds no user data to transfer"}
}

// List calls fn for every person entry under users_dn, one page (RFC 2696 paged
// results) at a time, until fn returns false.
func (c *Client) List(ctx context.Context, fn func(integrations.Account) bool) error {
	paging := goldap.NewControlPaging(c.pageSize)
	req := goldap.NewSearchRequest(c.usersDN, goldap.ScopeWholeSubtree, goldap.NeverDerefAliases,
		0, 0, false, c.flavor.userFilter, c.flavor.userAttrs(), []goldap.Control{paging})
	// The paging cookie belongs to the connection that started the search, so
	// List holds one connection throughout; group reads borrow others.
	return c.hold(ctx, "list", func(conn *goldap.Conn) error {
		for {
			res, err := conn.Search(req)
			if err != nil {
				return err
			}
			for _, e := range res.Entries {
				acct, err := c.account(ctx, e)
				if err != nil {
					return err
				}
				if !fn(acct) {
					abandonPaging(conn, req, paging)
					return nil
				}
			}
			next, _ := goldap.FindControl(res.Controls, goldap.ControlTypePaging).(*goldap.ControlPaging)
			if next == nil || len(next.Cookie) == 0 {
				return nil
			}
			paging.SetCookie(next.Cookie)
		}
	})
}

// abandonPaging tells the server to drop a paged search's state (RFC 2696: a
// page size of zero with the cookie). It is best effort: the state also goes
// when the connection closes.
func abandonPaging(conn *goldap.Conn, req *goldap.SearchRequest, paging *goldap.ControlPaging) {
	paging.PagingSize = 0
	_, _ = conn.Search(req)
}

// searchAll runs one search and returns its entries, also when the server stopped
// early with sizeLimitExceeded (the error is returned alongside).
func searchAll(conn *goldap.Conn, req *goldap.SearchRequest) ([]*goldap.Entry, error) {
	res, err := conn.Search(req)
	if res == nil {
		return nil, err
	}
	return res.Entries, err
}
