// Package postgres is Tenure's connector for database access given as PostgreSQL
// roles: a person's account is a LOGIN role named after their work email, their
// entitlements are memberships of existing group roles, disabling is NOLOGIN,
// revoking sessions terminates their backends, and deleting reassigns what they
// own before the role is dropped. The person's HR ID lives in the role's comment,
// so a renamed email still finds the same role. Every statement is built from
// quoted identifiers (pgx.Identifier) or server-side format(), never by splicing
// untrusted text, and the DSN (which carries the password) never reaches an
// error or a log.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/integrations"
)

// Kind is the connector kind name used in policy files.
const Kind = "postgres"

// The policy keys of the postgres kind.
const (
	// KeyDSN is the secret connection string (dsn_env or dsn_file in the policy).
	KeyDSN = "dsn"
	// KeyRolePrefix starts every role name Tenure creates, such as "app_".
	KeyRolePrefix = "role_prefix"
	// KeyReassignTo names the role that receives a deleted role's objects.
	KeyReassignTo = "reassign_to"
)

// CommentPrefix starts the comment that records a role's HR ID:
// COMMENT ON ROLE ... IS 'tenure:<hr-id>'.
const CommentPrefix = "tenure:"

// MaxRoleName is PostgreSQL's identifier limit (NAMEDATALEN - 1 bytes). The
// server would silently truncate a longer name, and a later lookup by the full
// name would then miss the role it created.
const MaxRoleName = 63

// Spec declares the postgres kind.
var Spec = integrations.Spec{
	Kind: Kind,
	New:  Factory,
	Can: integrations.Capabilities{
		Groups: true, Disable: true, Delete: true, RevokeSessions: true, Filter: true,
	},
	Keys: []integrations.Key{
		{Name: KeyDSN, Required: true, Secret: true},
		{Name: KeyRolePrefix},
		{Name: KeyReassignTo},
	},
}

// How long RevokeSessions waits for terminated backends to leave
// pg_stat_activity, and how often it looks.
const (
	revokeWait = 10 * time.Second
	revokePoll = 25 * time.Millisecond
)

// listPage is how many roles List reads per query.
const listPage = 200

// Conn is the connector for one PostgreSQL cluster. It is safe for concurrent use.
type Conn struct {
	app        string
	prefix     string
	reassignTo string // empty: the connecting user
	password   string // redacted from every message
	display    string
	pool       *pgxpool.Pool
}

var _ integrations.Connector = (*Conn)(nil)

var validPrefix = regexp.MustCompile(`^[a-z0-9_]*$`)

// New returns a connector for app from its dsn secret and its role_prefix and
// reassign_to keys. It opens no connection: the pool dials on first use.
func New(app integrations.AppConfig) (*Conn, error) {
	name := app.Name
	if name == "" {
		name = "(unnamed)"
	}
	dsn := strings.TrimSpace(app.Secrets[KeyDSN])
	if dsn == "" {
		return nil, invalid(name, KeyDSN, "is required: give dsn_env or dsn_file naming the connection string")
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// The parser's message may quote the string, password and all.
		return nil, invalid(name, KeyDSN, "is not a PostgreSQL connection string (a postgres:// URL or key=value pairs)")
	}
	prefix := app.Params[KeyRolePrefix]
	switch {
	case !validPrefix.MatchString(prefix):
		return nil, invalid(name, KeyRolePrefix, "may hold only a-z, 0-9 and _")
	case strings.HasPrefix(prefix, "pg_"):
		return nil, invalid(name, KeyRolePrefix, "must not start with pg_, which PostgreSQL reserves")
	case len(prefix) > 32:
		return nil, invalid(name, KeyRolePrefix, "is longer than 32 characters, leaving too little of the 63 a role name may have")
	}
	reassign := strings.TrimSpace(app.Params[KeyReassignTo])
	if len(reassign) > MaxRoleName {
		return nil, invalid(name, KeyReassignTo, "is longer than PostgreSQL's 63-byte role names")
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = 10 * time.Second
	}
	if cfg.ConnConfig.RuntimeParams["application_name"] == "" {
		// So a DBA sees in pg_stat_activity who is changing roles.
		cfg.ConnConfig.RuntimeParams["application_name"] = "tenure"
	}
	if cfg.MaxConns > 4 {
		// Role changes are few and cheap; a handful of connections is plenty and
		// leaves the cluster's connection slots to the applications.
		cfg.MaxConns = 4
	}
	cfg.MaxConnIdleTime = 5 * time.Minute
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		return nil, invalid(name, KeyDSN, "cannot be used: "+redact(err.Error(), cfg.ConnConfig.Password))
	}
	return &Conn{
		app:        name,
		prefix:     prefix,
		reassignTo: reassign,
		password:   cfg.ConnConfig.Password,
		display:    displayURL(cfg.ConnConfig.Config),
		pool:       pool,
	}, nil
}

// Factory adapts New to integrations.Factory.
func Factory(app integrations.AppConfig) (integrations.Connector, error) {
	return New(app)
}

// DisplayURL is the DSN for people to read (AppConfig.BaseURL): host, port and
// database only, without the user, the password or any parameter. It is empty
// when dsn cannot be parsed.
func DisplayURL(dsn string) string {
	cfg, err := pgconn.ParseConfig(dsn)
	if err != nil {
		return ""
	}
	return displayURL(*cfg)
}

func displayURL(cfg pgconn.Config) string {
	port := strconv.Itoa(int(cfg.Port))
	if strings.HasPrefix(cfg.Host, "/") {
		// A Unix socket directory: a URL host cannot hold it.
		return "postgres://" + cfg.Host + ":" + port + "/" + cfg.Database
	}
	u := url.URL{Scheme: "postgres", Host: net.JoinHostPort(cfg.Host, port), Path: "/" + cfg.Database}
	return u.String()
}

// DisplayURL returns where the connector points, without credentials.
func (c *Conn) DisplayURL() string { return c.display }

// Close closes the connection pool.
func (c *Conn) Close() { c.pool.Close() }

func invalid(app, field, problem string) error {
	return tenure.Invalid(tenure.FieldError{Field: "apps." + app + "." + field, Problem: problem})
}

// RoleName is the role Tenure gives the person with the work email email: prefix
// followed by the email's local part, lower-cased, with every character outside
// a-z, 0-9 and _ turned into _, cut to MaxRoleName bytes. Two emails can map to
// one name (ada.l@ and ada-l@); the HR ID in the role's comment keeps Create from
// adopting a role that belongs to someone else.
func RoleName(prefix, email string) string {
	local := email
	if i := strings.LastIndex(local, "@"); i >= 0 {
		local = local[:i]
	}
	var b strings.Builder
	b.WriteString(prefix)
	for _, r := range strings.ToLower(local) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') || r == '_' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	s := b.String()
	if len(s) > MaxRoleName {
		s = s[:MaxRoleName] // only ASCII remains, so no rune is split
	}
	return s
}

func ident(name string) string { return pgx.Identifier{name}.Sanitize() }

// Capabilities checks that the DSN logs in and that its role may manage roles:
// CREATEROLE (or superuser) for everything, and pg_signal_backend (or superuser)
// to end other roles' sessions.
func (c *Conn) Capabilities(ctx context.Context) (integrations.Capabilities, error) {
	var (
		user                  string
		super, createRole     bool
		signal, reassignFound bool
	)
	err := c.pool.QueryRow(ctx, `
		SELECT r.rolname, r.rolsuper, r.rolcreaterole,
		       r.rolsuper OR pg_has_role(r.oid, 'pg_signal_backend', 'USAGE'),
		       $1 = '' OR EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)
		FROM pg_roles r WHERE r.rolname = current_user`, c.reassignTo).
		Scan(&user, &super, &createRole, &signal, &reassignFound)
	if err != nil {
		return integrations.Capabilities{}, c.fail("capabilities", err)
	}
	if !super && !createRole {
		return integrations.Capabilities{}, c.permanent("capabilities",
			"role "+strconv.Quote(user)+" has neither CREATEROLE nor SUPERUSER, so it cannot manage roles")
	}
	if !reassignFound {
		return integrations.Capabilities{}, c.permanent("capabilities",
			"reassign_to role "+strconv.Quote(c.reassignTo)+" does not exist")
	}
	caps := Spec.Can
	// Without pg_signal_backend, pg_terminate_backend refuses other roles'
	// backends: say so here rather than fail a leaver half-way.
	caps.RevokeSessions = signal
	return caps, nil
}

// account is one role as the catalogs describe it.
type account struct {
	name    string
	login   bool
	super   bool
	comment string
	groups  []string
}

func (a account) integrations() integrations.Account {
	out := integrations.Account{ID: a.name, UserName: a.name, Active: a.login, Groups: a.groups}
	if ext, ok := strings.CutPrefix(a.comment, CommentPrefix); ok {
		out.ExternalID = ext
	}
	sort.Strings(out.Groups)
	return out
}

// selectRoles reads roles with their comment and the group roles they belong
// to. The caller appends the WHERE clause.
const selectRoles = `
	SELECT r.rolname, r.rolcanlogin, r.rolsuper, coalesce(d.description, ''),
	       ARRAY(SELECT g.rolname::text FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid
	             WHERE m.member = r.oid)
	FROM pg_roles r
	LEFT JOIN pg_shdescription d ON d.objoid = r.oid AND d.classoid = 'pg_catalog.pg_authid'::regclass
	`

func scanAccount(row pgx.Row) (account, error) {
	var a account
	err := row.Scan(&a.name, &a.login, &a.super, &a.comment, &a.groups)
	return a, err
}

func (c *Conn) read(ctx context.Context, op, where string, args ...any) (account, bool, error) {
	a, err := scanAccount(c.pool.QueryRow(ctx, selectRoles+where, args...))
	if errors.Is(err, pgx.ErrNoRows) {
		return account{}, false, nil
	}
	if err != nil {
		return account{}, false, c.fail(op, err)
	}
	return a, true, nil
}

// Lookup finds the role whose comment records externalID, or else the role
// that RoleName gives userName. With a role_prefix only roles under it count:
// several postgres apps (one per database, each with its own prefix) may share
// a cluster, whose roles are cluster-wide.
func (c *Conn) Lookup(ctx context.Context, externalID, userName string) (integrations.Account, error) {
	if externalID != "" {
		a, found, err := c.read(ctx, "lookup", "WHERE d.description = $1 AND starts_with(r.rolname, $2) ORDER BY r.rolname LIMIT 1",
			CommentPrefix+externalID, c.prefix)
		if err != nil || found {
			return a.integrations(), err
		}
	}
	if userName != "" {
		a, found, err := c.read(ctx, "lookup", "WHERE r.rolname = $1", RoleName(c.prefix, userName))
		if err != nil || found {
			return a.integrations(), err
		}
	}
	return integrations.Account{}, &integrations.Error{Kind: integrations.NotFound, App: c.app, Op: "lookup",
		Detail: "no role carries that HR ID in its comment or has the name the email maps to"}
}

// Get reads the role named id.
func (c *Conn) Get(ctx context.Context, id string) (integrations.Account, error) {
	a, found, err := c.read(ctx, "get", "WHERE r.rolname = $1", id)
	if err != nil {
		return integrations.Account{}, err
	}
	if !found {
		return integrations.Account{}, c.notFound("get", id)
	}
	return a.integrations(), nil
}

// Create creates the role, LOGIN or NOLOGIN as u.Active says, with the HR ID in
// its comment. A role of that name that exists already is adopted, unless it
// records another person's HR ID, is a superuser, or is the role Tenure itself
// connects as.
func (c *Conn) Create(ctx context.Context, u integrations.User) (integrations.Account, error) {
	email := u.UserName
	if email == "" {
		email = u.Email
	}
	name := RoleName(c.prefix, email)
	if name == c.prefix || strings.Trim(name[len(c.prefix):], "_") == "" {
		return integrations.Account{}, c.permanent("create", "email "+strconv.Quote(email)+" gives no usable role name")
	}
	login := "NOLOGIN"
	if u.Active {
		login = "LOGIN"
	}
	err := pgx.BeginFunc(ctx, c.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "CREATE ROLE "+ident(name)+" "+login); err != nil {
			return err
		}
		if u.ExternalID == "" {
			return nil
		}
		return comment(ctx, tx, name, CommentPrefix+u.ExternalID)
	})
	if err == nil {
		return c.Get(ctx, name)
	}
	if code(err) != "42710" { // duplicate_object
		return integrations.Account{}, c.fail("create", err)
	}
	return c.adopt(ctx, name, u.ExternalID)
}

// comment sets the role's comment. COMMENT takes no parameters, so the server's
// own format() quotes the name and the text.
func comment(ctx context.Context, tx pgx.Tx, role, text string) error {
	var stmt string
	if err := tx.QueryRow(ctx, "SELECT format('COMMENT ON ROLE %I IS %L', $1::text, $2::text)", role, text).Scan(&stmt); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, stmt)
	return err
}

func (c *Conn) adopt(ctx context.Context, name, externalID string) (integrations.Account, error) {
	var self string
	if err := c.pool.QueryRow(ctx, "SELECT current_user").Scan(&self); err != nil {
		return integrations.Account{}, c.fail("create", err)
	}
	a, found, err := c.read(ctx, "create", "WHERE r.rolname = $1", name)
	if err != nil {
		return integrations.Account{}, err
	}
	if !found {
		// Dropped between our CREATE and this read: the next attempt creates it.
		return integrations.Account{}, &integrations.Error{Kind: integrations.Transient, App: c.app, Op: "create",
			Detail: "role " + strconv.Quote(name) + " existed and then vanished; try again"}
	}
	switch {
	case a.super:
		return integrations.Account{}, c.conflict(name, "is a superuser, which Tenure never adopts")
	case name == self || name == c.reassignTo:
		return integrations.Account{}, c.conflict(name, "is the role Tenure connects as or reassigns to")
	}
	acct := a.integrations()
	if acct.ExternalID != "" && externalID != "" && acct.ExternalID != externalID {
		return integrations.Account{}, c.conflict(name, "belongs to HR ID "+strconv.Quote(acct.ExternalID)+", not "+strconv.Quote(externalID))
	}
	if acct.ExternalID == "" && externalID != "" {
		// Record the owner now, so the next lookup by HR ID finds the role.
		err := pgx.BeginFunc(ctx, c.pool, func(tx pgx.Tx) error {
			return comment(ctx, tx, name, CommentPrefix+externalID)
		})
		if err != nil {
			return integrations.Account{}, c.fail("create", err)
		}
		return c.Get(ctx, name)
	}
	return acct, nil
}

// SetActive switches the role's LOGIN attribute. Sessions already open stay
// open: RevokeSessions ends them.
func (c *Conn) SetActive(ctx context.Context, id string, active bool) error {
	login := "NOLOGIN"
	if active {
		login = "LOGIN"
	}
	_, err := c.pool.Exec(ctx, "ALTER ROLE "+ident(id)+" "+login)
	if code(err) == "42704" { // undefined_object
		return c.notFound("set_active", id)
	}
	if err != nil {
		return c.fail("set_active", err)
	}
	return nil
}

// AddToGroup grants membership of the existing group role group. A group role
// that does not exist is a Permanent error: Tenure never creates group roles,
// because their privileges are the DBA's to define.
func (c *Conn) AddToGroup(ctx context.Context, id, group string) error {
	_, err := c.pool.Exec(ctx, "GRANT "+ident(group)+" TO "+ident(id))
	if code(err) == "42704" {
		return c.missingRole(ctx, "add_to_group", id, group, err)
	}
	if err != nil {
		return c.fail("add_to_group", err)
	}
	return nil
}

// RemoveFromGroup revokes membership of group. A group role that does not exist
// holds no members, so there is nothing to revoke.
func (c *Conn) RemoveFromGroup(ctx context.Context, id, group string) error {
	_, err := c.pool.Exec(ctx, "REVOKE "+ident(group)+" FROM "+ident(id))
	if code(err) == "42704" {
		err := c.missingRole(ctx, "remove_from_group", id, group, err)
		if integrations.KindOf(err) == integrations.Permanent {
			return nil
		}
		return err
	}
	if err != nil {
		return c.fail("remove_from_group", err)
	}
	return nil
}

// missingRole tells which of the member and the group is missing, since the
// server's "role does not exist" names only one of them.
func (c *Conn) missingRole(ctx context.Context, op, id, group string, cause error) error {
	var groupExists, memberExists bool
	err := c.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1),
	                                     EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $2)`, group, id).
		Scan(&groupExists, &memberExists)
	switch {
	case err != nil:
		return c.fail(op, err)
	case !groupExists:
		return c.permanent(op, "group role "+strconv.Quote(group)+" does not exist; Tenure does not create group roles, so create it or fix the policy")
	case !memberExists:
		return c.notFound(op, id)
	}
	return c.fail(op, cause)
}

// RevokeSessions terminates every backend logged in as the role, anywhere in
// the cluster, and returns once pg_stat_activity shows none left. A session that
// logs in meanwhile is terminated too; the role should be NOLOGIN first.
func (c *Conn) RevokeSessions(ctx context.Context, id string) error {
	if _, err := c.Get(ctx, id); err != nil {
		return err
	}
	deadline := time.Now().Add(revokeWait)
	for {
		var left int
		err := c.pool.QueryRow(ctx, `
			SELECT count(*) FILTER (WHERE NOT pg_terminate_backend(pid))
			FROM pg_stat_activity WHERE usename = $1 AND pid <> pg_backend_pid()`, id).Scan(&left)
		if err != nil {
			return c.fail("revoke_sessions", err)
		}
		var open int
		if err := c.pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE usename = $1`, id).Scan(&open); err != nil {
			return c.fail("revoke_sessions", err)
		}
		if open == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return &integrations.Error{Kind: integrations.Transient, App: c.app, Op: "revoke_sessions",
				Detail: fmt.Sprintf("%d sessions of role %q are still open %s after they were terminated", open, id, revokeWait)}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: revoke_sessions: %w", c.app, ctx.Err())
		case <-time.After(revokePoll):
		}
	}
}

// Delete ends the role's sessions, hands what it owns in the DSN's database to
// reassign_to, drops its remaining privileges there, and drops the role. REASSIGN
// OWNED and DROP OWNED act on the current database only: a role that owns
// objects or holds privileges in another database cannot be dropped, and the
// server's message names those databases. A role already gone is not an error.
func (c *Conn) Delete(ctx context.Context, id string) error {
	a, found, err := c.read(ctx, "delete", "WHERE r.rolname = $1", id)
	if err != nil {
		return err
	}
	if !found {
		return nil
	}
	var self string
	var super bool
	if err := c.pool.QueryRow(ctx, "SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user").Scan(&self, &super); err != nil {
		return c.fail("delete", err)
	}
	if a.super || id == self || id == c.reassignTo {
		return c.permanent("delete", "role "+strconv.Quote(id)+" is a superuser, the role Tenure connects as, or reassign_to; Tenure does not drop it")
	}
	// No new logins, then no sessions: a dropped role's open sessions would keep
	// their privileges until they disconnect.
	if a.login {
		if err := c.SetActive(ctx, id, false); err != nil {
			return err
		}
	}
	if err := c.RevokeSessions(ctx, id); err != nil && !integrations.IsNotFound(err) {
		return err
	}
	target := "CURRENT_USER"
	if c.reassignTo != "" {
		target = ident(c.reassignTo)
	}
	err = pgx.BeginFunc(ctx, c.pool, func(tx pgx.Tx) error {
		if !super {
			// REASSIGN OWNED and DROP OWNED need the privileges of the role
			// being emptied; CREATEROLE lets us take them for this transaction
			// (the membership goes with the role).
			if _, err := tx.Exec(ctx, "GRANT "+ident(id)+" TO CURRENT_USER"); err != nil {
				return err
			}
		}
		for _, stmt := range []string{
			"REASSIGN OWNED BY " + ident(id) + " TO " + target,
			"DROP OWNED BY " + ident(id),
			"DROP ROLE " + ident(id),
		} {
			if _, err := tx.Exec(ctx, stmt); err != nil {
				return err
			}
		}
		return nil
	})
	switch code(err) {
	case "":
		return nil
	case "42704":
		if _, gerr := c.Get(ctx, id); integrations.IsNotFound(gerr) {
			return nil
		}
	case "2BP01": // dependent_objects_still_exist
		e := c.fail("delete", err).(*integrations.Error)
		e.Detail += " (REASSIGN OWNED and DROP OWNED only reach the database the DSN names; clear the role's objects and privileges in the other databases, or point another postgres app at each)"
		return e
	}
	return c.fail("delete", err)
}

// TransferData is not offered: REASSIGN OWNED moves table ownership, not a
// person's documents, and handing a leaver's tables to a colleague's personal
// role would widen that colleague's privileges. Delete reassigns to the
// reassign_to service role instead.
func (c *Conn) TransferData(ctx context.Context, id, toUserName string) error {
	return c.permanent("transfer_data", "PostgreSQL roles hold no personal data to transfer; Delete reassigns owned objects to reassign_to")
}

// List streams the roles Tenure manages: with a role_prefix, every role whose
// name starts with it (so a prefixed role nobody in HR owns shows up as an
// orphan); without one, the roles whose comment records an HR ID. Never a
// superuser or the role Tenure connects as. It pages by name (compared as the
// name type, byte-wise like ORDER BY rolname, whatever the database's
// collation), so no page holds more than listPage roles.
func (c *Conn) List(ctx context.Context, fn func(integrations.Account) bool) error {
	after := ""
	for {
		rows, err := c.pool.Query(ctx, selectRoles+`
			WHERE r.rolname > $1::name AND r.rolname <> current_user AND NOT r.rolsuper
			  AND CASE WHEN $2 = '' THEN d.description LIKE 'tenure:%' ELSE starts_with(r.rolname, $2) END
			ORDER BY r.rolname LIMIT $3`, after, c.prefix, listPage)
		if err != nil {
			return c.fail("list", err)
		}
		var page []account
		for rows.Next() {
			a, err := scanAccount(rows)
			if err != nil {
				rows.Close()
				return c.fail("list", err)
			}
			page = append(page, a)
		}
		if err := rows.Err(); err != nil {
			return c.fail("list", err)
		}
		for _, a := range page {
			if !fn(a.integrations()) {
				return nil
			}
		}
		if len(page) < listPage {
			return nil
		}
		after = page[len(page)-1].name
	}
}

func (c *Conn) notFound(op, role string) error {
	return &integrations.Error{Kind: integrations.NotFound, App: c.app, Op: op,
		Detail: "role " + strconv.Quote(role) + " does not exist"}
}

func (c *Conn) permanent(op, detail string) error {
	return &integrations.Error{Kind: integrations.Permanent, App: c.app, Op: op, Detail: detail}
}

func (c *Conn) conflict(role, why string) error {
	return &integrations.Error{Kind: integrations.Conflict, App: c.app, Op: "create",
		Detail: "role " + strconv.Quote(role) + " already exists and " + why}
}
