// Package pgtest gives tests a real PostgreSQL to manage roles in: a throwaway
// database on the local server, a unique role prefix per test (roles are
// cluster-wide, so tests running at once must never touch each other's), a
// login role with only the privileges the postgres connector documents, and
// direct views of pg_roles, pg_auth_members and pg_stat_activity to check what
// the connector did. Everything it made is dropped when the test ends.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/url"
	"os"
	"sort"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tenure-io/tenure/integrations"
)

// DefaultURL is the server used when TENURE_TEST_DATABASE_URL is unset. Its
// own database is never written to.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// Server is one test's corner of a PostgreSQL cluster.
type Server struct {
	// Prefix starts every role this test may create; give it to the connector
	// as role_prefix and use it for group roles (see Group).
	Prefix string
	// Database is the throwaway database's name.
	Database string
	// Admin is a superuser connection to Database, for the test's own checks
	// and setup.
	Admin *pgx.Conn
	// ConnectorRole is the role the connector's DSN logs in as: CREATEROLE and
	// pg_signal_backend, nothing more.
	ConnectorRole string

	t        testing.TB
	base     *url.URL // the server URL, as the superuser
	password string   // ConnectorRole's password
}

// New starts a Server, or skips the test when PostgreSQL cannot be reached
// (fails instead when TENURE_REQUIRE_POSTGRES=1).
func New(t testing.TB) *Server {
	t.Helper()
	raw := os.Getenv("TENURE_TEST_DATABASE_URL")
	if raw == "" {
		raw = DefaultURL
	}
	base, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("pgtest: TENURE_TEST_DATABASE_URL is not a URL")
	}
	q := base.Query()
	if q.Get("connect_timeout") == "" {
		q.Set("connect_timeout", "5")
	}
	base.RawQuery = q.Encode()

	ctx := context.Background()
	server, err := pgx.Connect(ctx, base.String())
	if err != nil {
		if os.Getenv("TENURE_REQUIRE_POSTGRES") == "1" {
			t.Fatalf("pgtest: PostgreSQL is required but unreachable: %v", err)
		}
		t.Skipf("pgtest: PostgreSQL unreachable, skipping (set TENURE_REQUIRE_POSTGRES=1 to fail): %v", err)
	}
	defer server.Close(ctx)

	s := &Server{t: t, base: base, Prefix: "tt" + randomHex(4) + "_"}
	s.Database = s.Prefix + "db"
	s.ConnectorRole = s.Prefix + "tenure"
	s.password = randomHex(16)

	// Names here are ours and only [a-z0-9_]; Sanitize quotes them anyway.
	mustExec(t, server, "CREATE DATABASE "+ident(s.Database))
	t.Cleanup(s.cleanup)
	mustExec(t, server, "CREATE ROLE "+ident(s.ConnectorRole)+" LOGIN CREATEROLE PASSWORD '"+s.password+"'")
	mustExec(t, server, "GRANT pg_signal_backend TO "+ident(s.ConnectorRole))

	s.Admin, err = pgx.Connect(ctx, s.url(s.Database, "", "").String())
	if err != nil {
		t.Fatalf("pgtest: connect to %s: %v", s.Database, err)
	}
	// Since PostgreSQL 15, PUBLIC may not create in schema public; the people's
	// roles need to, so tests can give them objects to own.
	mustExec(t, s.Admin, "GRANT CREATE ON SCHEMA public TO PUBLIC")
	return s
}

// url is the server URL with database, user and password replaced where given.
func (s *Server) url(database, user, password string) *url.URL {
	u := *s.base
	u.Path = "/" + database
	switch {
	case user != "" && password != "":
		u.User = url.UserPassword(user, password)
	case user != "":
		u.User = url.User(user)
	}
	return &u
}

// DSN is the connection string the connector uses: ConnectorRole on Database.
// It carries a password, as a real DSN would.
func (s *Server) DSN() string {
	return s.url(s.Database, s.ConnectorRole, s.password).String()
}

// App is the policy's view of a postgres app on this server, with the test's
// role prefix.
func (s *Server) App(name string) integrations.AppConfig {
	return integrations.AppConfig{
		Name:      name,
		Connector: "postgres",
		Params:    map[string]string{"role_prefix": s.Prefix},
		Secrets:   map[string]string{"dsn": s.DSN()},
	}
}

// Group creates the NOLOGIN group role Prefix+name and returns its name.
func (s *Server) Group(name string) string {
	s.t.Helper()
	role := s.Prefix + name
	mustExec(s.t, s.Admin, "CREATE ROLE "+ident(role)+" NOLOGIN")
	var version int
	if err := s.Admin.QueryRow(context.Background(), "SELECT current_setting('server_version_num')::int").Scan(&version); err != nil {
		s.t.Fatalf("pgtest: server version: %v", err)
	}
	if version >= 160000 {
		// Since PostgreSQL 16, CREATEROLE manages only roles it holds ADMIN
		// OPTION on, which is what the connector's documentation asks a DBA
		// to grant for each group role.
		mustExec(s.t, s.Admin, "GRANT "+ident(role)+" TO "+ident(s.ConnectorRole)+" WITH ADMIN OPTION, INHERIT FALSE, SET FALSE")
	}
	return role
}

// OtherDatabase creates a second throwaway database, Prefix+suffix, dropped when
// the test ends, and returns a superuser connection string to it; for checking
// what the connector cannot reach from the DSN's database.
func (s *Server) OtherDatabase(suffix string) (name, dsn string) {
	s.t.Helper()
	name = s.Prefix + suffix
	mustExec(s.t, s.Admin, "CREATE DATABASE "+ident(name))
	s.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := s.Admin.Exec(ctx, "DROP DATABASE IF EXISTS "+ident(name)+" WITH (FORCE)"); err != nil {
			s.t.Logf("pgtest: drop database %s: %v", name, err)
		}
	})
	return name, s.url(name, "", "").String()
}

// Role is one role as pg_roles and pg_shdescription show it.
type Role struct {
	Name     string
	CanLogin bool
	Comment  string
}

// Role reads the role named name; ok is false when it does not exist.
func (s *Server) Role(name string) (r Role, ok bool) {
	s.t.Helper()
	err := s.Admin.QueryRow(context.Background(), `
		SELECT rolname, rolcanlogin, coalesce(shobj_description(oid, 'pg_authid'), '')
		FROM pg_roles WHERE rolname = $1`, name).Scan(&r.Name, &r.CanLogin, &r.Comment)
	if errors.Is(err, pgx.ErrNoRows) {
		return Role{}, false
	}
	if err != nil {
		s.t.Fatalf("pgtest: read role %s: %v", name, err)
	}
	return r, true
}

// MemberOf lists, sorted, the roles that name is a member of, from
// pg_auth_members.
func (s *Server) MemberOf(name string) []string {
	s.t.Helper()
	rows, err := s.Admin.Query(context.Background(), `
		SELECT g.rolname::text FROM pg_auth_members m
		JOIN pg_roles g ON g.oid = m.roleid JOIN pg_roles r ON r.oid = m.member
		WHERE r.rolname = $1`, name)
	if err != nil {
		s.t.Fatalf("pgtest: read memberships of %s: %v", name, err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		s.t.Fatalf("pgtest: read memberships of %s: %v", name, err)
	}
	sort.Strings(out)
	return out
}

// Sessions counts the backends logged in as name, from pg_stat_activity.
func (s *Server) Sessions(name string) int {
	s.t.Helper()
	var n int
	if err := s.Admin.QueryRow(context.Background(),
		"SELECT count(*) FROM pg_stat_activity WHERE usename = $1", name).Scan(&n); err != nil {
		s.t.Fatalf("pgtest: count sessions of %s: %v", name, err)
	}
	return n
}

// ConnectAs opens a real session to Database as role, after giving the role a
// password so this works whatever pg_hba.conf asks for. The error is the
// server's answer, such as the refusal of a NOLOGIN role.
func (s *Server) ConnectAs(role string) (*pgx.Conn, error) {
	s.t.Helper()
	pw := randomHex(12)
	mustExec(s.t, s.Admin, "ALTER ROLE "+ident(role)+" PASSWORD '"+pw+"'")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.url(s.Database, role, pw).String())
	if err == nil {
		s.t.Cleanup(func() { conn.Close(context.Background()) })
	}
	return conn, err
}

// cleanup ends every session of the test's roles, drops the database and then
// the roles, whatever state the test left them in.
func (s *Server) cleanup() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if s.Admin != nil {
		s.Admin.Close(ctx)
	}
	server, err := pgx.Connect(ctx, s.base.String())
	if err != nil {
		s.t.Logf("pgtest: cleanup: %v", err)
		return
	}
	defer server.Close(ctx)
	if _, err := server.Exec(ctx, "DROP DATABASE IF EXISTS "+ident(s.Database)+" WITH (FORCE)"); err != nil {
		s.t.Logf("pgtest: drop database %s: %v", s.Database, err)
	}
	rows, err := server.Query(ctx, "SELECT rolname::text FROM pg_roles WHERE starts_with(rolname, $1)", s.Prefix)
	if err != nil {
		s.t.Logf("pgtest: list roles: %v", err)
		return
	}
	roles, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		s.t.Logf("pgtest: list roles: %v", err)
		return
	}
	for _, r := range roles {
		if _, err := server.Exec(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1", r); err != nil {
			s.t.Logf("pgtest: end sessions of %s: %v", r, err)
		}
	}
	for _, r := range roles {
		if _, err := server.Exec(ctx, "DROP ROLE IF EXISTS "+ident(r)); err != nil {
			s.t.Logf("pgtest: drop role %s: %v", r, err)
		}
	}
}

// Code returns err's SQLSTATE, or "".
func Code(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}

func mustExec(t testing.TB, conn *pgx.Conn, sql string) {
	t.Helper()
	if _, err := conn.Exec(context.Background(), sql); err != nil {
		t.Fatalf("pgtest: %s: %v", sql, err)
	}
}

func ident(name string) string { return pgx.Identifier{name}.Sanitize() }

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails, per crypto/rand
	return hex.EncodeToString(b)
}
