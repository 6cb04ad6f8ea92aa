package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/integrations"
	"github.com/tenure-io/tenure/integrations/postgres"
	"github.com/tenure-io/tenure/integrations/postgres/pgtest"
)

func TestRoleName(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		prefix, email, want string
	}{
		{"", "ada@example.com", "ada"},
		{"app_", "Ada.Lovelace@Example.com", "app_ada_lovelace"},
		{"", "o'brien+db@example.com", "o_brien_db"},
		{"", `robert"); drop table x;--@example.com`, "robert____drop_table_x___"},
		{"", "zoë@example.com", "zo_"},
		{"p_", "no-at-sign", "p_no_at_sign"},
		{"", "a@b@example.com", "a_b"},
		{"", "under_score9@example.com", "under_score9"},
		{"x_", strings.Repeat("a", 80) + "@example.com", "x_" + strings.Repeat("a", 61)},
	} {
		if got := postgres.RoleName(tc.prefix, tc.email); got != tc.want {
			t.Errorf("RoleName(%q, %q) = %q, want %q", tc.prefix, tc.email, got, tc.want)
		}
	}
}

func TestClassify(t *testing.T) {
	t.Parallel()
	for code, want := range map[string]integrations.Kind{
		"08006": integrations.Transient, // connection_failure
		"53300": integrations.Transient, // too_many_connections
		"57P01": integrations.Transient, // admin_shutdown
		"57P03": integrations.Transient, // cannot_connect_now
		"40001": integrations.Transient, // serialization_failure
		"28P01": integrations.Permanent, // invalid_password
		"28000": integrations.Permanent, // invalid_authorization_specification
		"42501": integrations.Permanent, // insufficient_privilege
		"2BP01": integrations.Permanent, // dependent_objects_still_exist
		"42704": integrations.NotFound,
		"42710": integrations.Conflict,
	} {
		if got := postgres.Classify(code); got != want {
			t.Errorf("Classify(%s) = %v, want %v", code, got, want)
		}
	}
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		app   integrations.AppConfig
		field string
	}{
		{"no dsn", integrations.AppConfig{Name: "db"}, "apps.db.dsn"},
		{"bad dsn", integrations.AppConfig{Name: "db", Secrets: map[string]string{"dsn": "postgres://u:s3cret@host:notaport/db"}}, "apps.db.dsn"},
		{"bad prefix", integrations.AppConfig{Name: "db", Secrets: map[string]string{"dsn": "postgres://h/db"}, Params: map[string]string{"role_prefix": "App-"}}, "apps.db.role_prefix"},
		{"reserved prefix", integrations.AppConfig{Name: "db", Secrets: map[string]string{"dsn": "postgres://h/db"}, Params: map[string]string{"role_prefix": "pg_x"}}, "apps.db.role_prefix"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := postgres.New(tc.app)
			var inv *tenure.Error
			if !errors.As(err, &inv) || !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("New = %v, want an invalid-config error naming %s", err, tc.field)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Fatalf("error leaks the password: %v", err)
			}
		})
	}
}

func TestDisplayURL(t *testing.T) {
	t.Parallel()
	got := postgres.DisplayURL("postgres://tenure:s3cret@db.internal:6432/app?sslmode=require&application_name=x")
	if got != "postgres://db.internal:6432/app" {
		t.Fatalf("DisplayURL = %q", got)
	}
	if got := postgres.DisplayURL("postgres://u:s3cret@[::1]:5432/app"); got != "postgres://[::1]:5432/app" {
		t.Fatalf("DisplayURL of an IPv6 host = %q", got)
	}
	c, err := postgres.New(integrations.AppConfig{Name: "db", Secrets: map[string]string{"dsn": "host=db.internal port=5433 dbname=app user=tenure password=s3cret"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := c.DisplayURL(); got != "postgres://db.internal:5433/app" {
		t.Fatalf("DisplayURL = %q", got)
	}
}

// setup returns a connector on a fresh throwaway database, logged in as a role
// with only the documented privileges.
func setup(t *testing.T) (*pgtest.Server, *postgres.Conn) {
	t.Helper()
	srv := pgtest.New(t)
	c, err := postgres.New(srv.App("db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return srv, c
}

func kindOf(t *testing.T, err error, want integrations.Kind) *integrations.Error {
	t.Helper()
	var e *integrations.Error
	if !errors.As(err, &e) || e.Kind != want {
		t.Fatalf("err = %v, want an *integrations.Error of kind %v", err, want)
	}
	return e
}

func TestCapabilities(t *testing.T) {
	t.Parallel()
	_, c := setup(t)
	caps, err := c.Capabilities(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := integrations.Capabilities{Groups: true, Disable: true, Delete: true, RevokeSessions: true, Filter: true}
	if caps != want {
		t.Fatalf("Capabilities = %+v, want %+v", caps, want)
	}
}

func TestCapabilitiesWithoutCreateRole(t *testing.T) {
	t.Parallel()
	srv, _ := setup(t)
	ctx := context.Background()
	if _, err := srv.Admin.Exec(ctx, "ALTER ROLE "+srv.ConnectorRole+" NOCREATEROLE"); err != nil {
		t.Fatal(err)
	}
	c, err := postgres.New(srv.App("db"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.Capabilities(ctx)
	e := kindOf(t, err, integrations.Permanent)
	if !strings.Contains(e.Detail, "CREATEROLE") {
		t.Fatalf("detail = %q, want it to name CREATEROLE", e.Detail)
	}
}

func TestUnreachableIsTransientAndRedacted(t *testing.T) {
	t.Parallel()
	// Port 1 on loopback refuses at once.
	c, err := postgres.New(integrations.AppConfig{Name: "db",
		Secrets: map[string]string{"dsn": "postgres://tenure:s3cret-pw@127.0.0.1:1/app?connect_timeout=2"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.Get(context.Background(), "anyone")
	kindOf(t, err, integrations.Transient)
	if strings.Contains(err.Error(), "s3cret-pw") {
		t.Fatalf("error leaks the password: %v", err)
	}
}

func TestRejectedLoginIsPermanentAndRedacted(t *testing.T) {
	t.Parallel()
	srv, _ := setup(t)
	// A user that does not exist is refused (SQLSTATE 28000) whatever
	// pg_hba.conf says, even where it trusts loopback.
	dsn := strings.Replace(srv.DSN(), srv.ConnectorRole+":", srv.Prefix+"nobody:wrong-pw-", 1)
	c, err := postgres.New(integrations.AppConfig{Name: "db", Secrets: map[string]string{"dsn": dsn}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.Capabilities(context.Background())
	e := kindOf(t, err, integrations.Permanent)
	if !strings.Contains(e.Detail, "28") || strings.Contains(err.Error(), "wrong-pw-") {
		t.Fatalf("error = %v: want the server's SQLSTATE 28xxx message without the password", err)
	}
}

func TestWithoutSignalBackendRevokeSessionsIsNotOffered(t *testing.T) {
	t.Parallel()
	srv, c := setup(t)
	ctx := context.Background()
	if _, err := srv.Admin.Exec(ctx, "REVOKE pg_signal_backend FROM "+srv.ConnectorRole); err != nil {
		t.Fatal(err)
	}
	caps, err := c.Capabilities(ctx)
	if err != nil || caps.RevokeSessions {
		t.Fatalf("Capabilities = %+v, %v; want RevokeSessions false", caps, err)
	}
}

func TestCreateLookupAndAdopt(t *testing.T) {
	t.Parallel()
	srv, c := setup(t)
	ctx := context.Background()
	u := integrations.User{ExternalID: "E1001", UserName: "ada.lovelace@example.com", Active: true}
	acct, err := c.Create(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	name := srv.Prefix + "ada_lovelace"
	if acct.ID != name || acct.ExternalID != "E1001" || !acct.Active {
		t.Fatalf("Create = %+v", acct)
	}
	r, ok := srv.Role(name)
	if !ok || !r.CanLogin || r.Comment != "tenure:E1001" {
		t.Fatalf("pg_roles has %+v (found %t), want a LOGIN role commented tenure:E1001", r, ok)
	}

	// Found by HR ID even when the email changed, and by email alone.
	got, err := c.Lookup(ctx, "E1001", "ada.byron@example.com")
	if err != nil || got.ID != name {
		t.Fatalf("Lookup by HR ID = %+v, %v", got, err)
	}
	got, err = c.Lookup(ctx, "", "Ada.Lovelace@example.com")
	if err != nil || got.ID != name {
		t.Fatalf("Lookup by email = %+v, %v", got, err)
	}
	_, err = c.Lookup(ctx, "E9999", "nobody@example.com")
	kindOf(t, err, integrations.NotFound)

	// Creating again adopts the role rather than failing or making another.
	again, err := c.Create(ctx, u)
	if err != nil || again.ID != name {
		t.Fatalf("second Create = %+v, %v", again, err)
	}

	// Someone else with a colliding email is refused, not handed Ada's role.
	_, err = c.Create(ctx, integrations.User{ExternalID: "E2002", UserName: "ada-lovelace@example.com", Active: true})
	e := kindOf(t, err, integrations.Conflict)
	if !strings.Contains(e.Detail, "E1001") {
		t.Fatalf("detail = %q", e.Detail)
	}
}

func TestCreateInactiveAndAdoptUncommented(t *testing.T) {
	t.Parallel()
	srv, c := setup(t)
	ctx := context.Background()
	acct, err := c.Create(ctx, integrations.User{ExternalID: "E1", UserName: "grace@example.com", Active: false})
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := srv.Role(acct.ID); r.CanLogin || acct.Active {
		t.Fatalf("role created inactive can log in: %+v", r)
	}

	// A role the DBA made by hand is adopted, and gets the HR ID recorded.
	name := srv.Prefix + "linus"
	if _, err := srv.Admin.Exec(ctx, "CREATE ROLE "+name+" LOGIN"); err != nil {
		t.Fatal(err)
	}
	acct, err = c.Create(ctx, integrations.User{ExternalID: "E2", UserName: "linus@example.com", Active: true})
	if err != nil || acct.ID != name || acct.ExternalID != "E2" {
		t.Fatalf("adopt = %+v, %v", acct, err)
	}
	if r, _ := srv.Role(name); r.Comment != "tenure:E2" {
		t.Fatalf("comment = %q", r.Comment)
	}
}

func TestGroups(t *testing.T) {
	t.Parallel()
	srv, c := setup(t)
	ctx := context.Background()
	ro, rw := srv.Group("readonly"), srv.Group("readwrite")
	acct, err := c.Create(ctx, integrations.User{ExternalID: "E1", UserName: "ada@example.com", Active: true})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // twice: idempotent
		for _, g := range []string{rw, ro} {
			if err := c.AddToGroup(ctx, acct.ID, g); err != nil {
				t.Fatal(err)
			}
		}
	}
	if got := srv.MemberOf(acct.ID); !slices.Equal(got, []string{ro, rw}) {
		t.Fatalf("pg_auth_members: %v", got)
	}
	got, err := c.Get(ctx, acct.ID)
	if err != nil || !slices.Equal(got.Groups, []string{ro, rw}) {
		t.Fatalf("Get = %+v, %v", got, err)
	}
	for range 2 {
		if err := c.RemoveFromGroup(ctx, acct.ID, rw); err != nil {
			t.Fatal(err)
		}
	}
	if got := srv.MemberOf(acct.ID); !slices.Equal(got, []string{ro}) {
		t.Fatalf("pg_auth_members after revoke: %v", got)
	}

	missing := srv.Prefix + "no_such_group"
	err = c.AddToGroup(ctx, acct.ID, missing)
	e := kindOf(t, err, integrations.Permanent)
	if !strings.Contains(e.Detail, missing) {
		t.Fatalf("detail %q does not name the group", e.Detail)
	}
	if _, ok := srv.Role(missing); ok {
		t.Fatal("the connector created the missing group role")
	}
	if err := c.RemoveFromGroup(ctx, acct.ID, missing); err != nil {
		t.Fatalf("RemoveFromGroup of a missing group = %v, want nil", err)
	}
	kindOf(t, c.AddToGroup(ctx, srv.Prefix+"ghost", ro), integrations.NotFound)
}

func TestDisableRefusesNewLogins(t *testing.T) {
	t.Parallel()
	srv, c := setup(t)
	ctx := context.Background()
	acct, err := c.Create(ctx, integrations.User{ExternalID: "E1", UserName: "ada@example.com", Active: true})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := srv.ConnectAs(acct.ID)
	if err != nil {
		t.Fatalf("an active role cannot log in: %v", err)
	}
	conn.Close(ctx)

	if err := c.SetActive(ctx, acct.ID, false); err != nil {
		t.Fatal(err)
	}
	if r, _ := srv.Role(acct.ID); r.CanLogin {
		t.Fatal("pg_roles still says rolcanlogin")
	}
	_, err = srv.ConnectAs(acct.ID)
	if code := pgtest.Code(err); code != "28000" {
		t.Fatalf("login as a disabled role: %v (SQLSTATE %q), want 28000", err, code)
	}
	if got, _ := c.Get(ctx, acct.ID); got.Active {
		t.Fatal("Get reports the disabled role active")
	}

	if err := c.SetActive(ctx, acct.ID, true); err != nil {
		t.Fatal(err)
	}
	conn, err = srv.ConnectAs(acct.ID)
	if err != nil {
		t.Fatalf("login after enabling: %v", err)
	}
	conn.Close(ctx)
	kindOf(t, c.SetActive(ctx, srv.Prefix+"ghost", false), integrations.NotFound)
}

func TestRevokeSessionsEndsOpenSessions(t *testing.T) {
	t.Parallel()
	srv, c := setup(t)
	ctx := context.Background()
	acct, err := c.Create(ctx, integrations.User{ExternalID: "E1", UserName: "ada@example.com", Active: true})
	if err != nil {
		t.Fatal(err)
	}
	var conns []interface {
		Ping(context.Context) error
	}
	for range 2 {
		conn, err := srv.ConnectAs(acct.ID)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, conn)
	}
	if n := srv.Sessions(acct.ID); n != 2 {
		t.Fatalf("pg_stat_activity shows %d sessions, want 2", n)
	}

	start := time.Now()
	if err := c.RevokeSessions(ctx, acct.ID); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > time.Second {
		t.Fatalf("RevokeSessions took %s", took)
	}
	if n := srv.Sessions(acct.ID); n != 0 {
		t.Fatalf("pg_stat_activity still shows %d sessions", n)
	}
	for _, conn := range conns {
		if err := conn.Ping(ctx); err == nil {
			t.Fatal("a revoked session still answers")
		}
	}
	if err := c.RevokeSessions(ctx, acct.ID); err != nil {
		t.Fatalf("RevokeSessions with none open = %v", err)
	}
}

func TestDeleteReassignsOwnedObjects(t *testing.T) {
	t.Parallel()
	srv, c := setup(t)
	ctx := context.Background()
	grp := srv.Group("analysts")
	acct, err := c.Create(ctx, integrations.User{ExternalID: "E1", UserName: "ada@example.com", Active: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.AddToGroup(ctx, acct.ID, grp); err != nil {
		t.Fatal(err)
	}
	conn, err := srv.ConnectAs(acct.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "CREATE TABLE ada_notes (id int); INSERT INTO ada_notes VALUES (1)"); err != nil {
		t.Fatal(err)
	}

	if err := c.Delete(ctx, acct.ID); err != nil {
		t.Fatal(err)
	}
	if _, ok := srv.Role(acct.ID); ok {
		t.Fatal("the role still exists")
	}
	if n := srv.Sessions(acct.ID); n != 0 {
		t.Fatalf("%d sessions of the dropped role remain", n)
	}
	var owner string
	var rows int
	if err := srv.Admin.QueryRow(ctx, "SELECT tableowner FROM pg_tables WHERE tablename = 'ada_notes'").Scan(&owner); err != nil {
		t.Fatalf("the table went with the role: %v", err)
	}
	if owner != srv.ConnectorRole {
		t.Fatalf("ada_notes is owned by %s, want %s (the connecting user)", owner, srv.ConnectorRole)
	}
	if err := srv.Admin.QueryRow(ctx, "SELECT count(*) FROM ada_notes").Scan(&rows); err != nil || rows != 1 {
		t.Fatalf("ada_notes rows = %d, %v", rows, err)
	}
	kindOf(t, func() error { _, err := c.Get(ctx, acct.ID); return err }(), integrations.NotFound)
	if err := c.Delete(ctx, acct.ID); err != nil {
		t.Fatalf("deleting a gone role = %v, want nil", err)
	}
}

func TestDeleteReassignsToConfiguredRole(t *testing.T) {
	t.Parallel()
	srv := pgtest.New(t)
	ctx := context.Background()
	keeper := srv.Group("keeper")
	// The connecting role must be able to act as the receiving role.
	if _, err := srv.Admin.Exec(ctx, "GRANT "+keeper+" TO "+srv.ConnectorRole); err != nil {
		t.Fatal(err)
	}
	app := srv.App("db")
	app.Params["reassign_to"] = keeper
	c, err := postgres.New(app)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Capabilities(ctx); err != nil {
		t.Fatal(err)
	}
	acct, err := c.Create(ctx, integrations.User{ExternalID: "E1", UserName: "ada@example.com", Active: true})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := srv.ConnectAs(acct.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "CREATE TABLE ada_report (id int)"); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, acct.ID); err != nil {
		t.Fatal(err)
	}
	var owner string
	if err := srv.Admin.QueryRow(ctx, "SELECT tableowner FROM pg_tables WHERE tablename = 'ada_report'").Scan(&owner); err != nil || owner != keeper {
		t.Fatalf("ada_report owner = %q, %v; want %s", owner, err, keeper)
	}
}

func TestDeleteWithObjectsInAnotherDatabase(t *testing.T) {
	t.Parallel()
	srv, c := setup(t)
	ctx := context.Background()
	acct, err := c.Create(ctx, integrations.User{ExternalID: "E1", UserName: "ada@example.com", Active: true})
	if err != nil {
		t.Fatal(err)
	}
	other, dsn := srv.OtherDatabase("other")
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE TABLE elsewhere (id int); ALTER TABLE elsewhere OWNER TO "+acct.ID); err != nil {
		t.Fatal(err)
	}
	err = c.Delete(ctx, acct.ID)
	e := kindOf(t, err, integrations.Permanent)
	if !strings.Contains(e.Detail, other) || !strings.Contains(e.Detail, "2BP01") {
		t.Fatalf("detail = %q, want the server naming database %s", e.Detail, other)
	}
	r, ok := srv.Role(acct.ID)
	if !ok || r.CanLogin {
		t.Fatalf("after a refused delete the role is %+v (exists %t); want it kept, NOLOGIN", r, ok)
	}
}

func TestDeleteRefusesWhatItMustNotDrop(t *testing.T) {
	t.Parallel()
	srv, c := setup(t)
	ctx := context.Background()
	kindOf(t, c.Delete(ctx, srv.ConnectorRole), integrations.Permanent)
	if _, ok := srv.Role(srv.ConnectorRole); !ok {
		t.Fatal("the connector dropped its own role")
	}
}

func TestListStreamsManagedRoles(t *testing.T) {
	t.Parallel()
	srv, c := setup(t)
	ctx := context.Background()
	var want []string
	for _, email := range []string{"c@example.com", "a@example.com", "b@example.com"} {
		acct, err := c.Create(ctx, integrations.User{ExternalID: "H-" + email, UserName: email, Active: true})
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, acct.ID)
	}
	// A prefixed role without a comment is listed too (an orphan to report);
	// a group role is as well, being under the prefix.
	want = append(want, srv.Group("team"))
	slices.Sort(want)

	var got []string
	if err := c.List(ctx, func(a integrations.Account) bool {
		got = append(got, a.ID)
		return true
	}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("List = %v, want %v", got, want)
	}
	n := 0
	if err := c.List(ctx, func(integrations.Account) bool { n++; return n < 2 }); err != nil || n != 2 {
		t.Fatalf("List did not stop when asked: n=%d, %v", n, err)
	}
}

func TestListPagesThroughManyRoles(t *testing.T) {
	t.Parallel()
	srv, c := setup(t)
	ctx := context.Background()
	// Names that sort differently byte-wise and in a natural-language
	// collation ("_" against letters and digits), across several pages.
	want := map[string]bool{}
	var ddl strings.Builder
	for i := range 450 {
		name := fmt.Sprintf("%su%03d", srv.Prefix, i)
		if i%3 == 0 {
			name = fmt.Sprintf("%s_%03d_x", srv.Prefix, i)
		}
		want[name] = true
		ddl.WriteString("CREATE ROLE " + name + " NOLOGIN;")
	}
	if _, err := srv.Admin.Exec(ctx, ddl.String()); err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	if err := c.List(ctx, func(a integrations.Account) bool { seen[a.ID]++; return true }); err != nil {
		t.Fatal(err)
	}
	for name := range want {
		if seen[name] != 1 {
			t.Fatalf("List gave %s %d times, want once", name, seen[name])
		}
	}
	if len(seen) != len(want) {
		t.Fatalf("List gave %d roles, want %d", len(seen), len(want))
	}
}

func TestTransferDataIsRefused(t *testing.T) {
	t.Parallel()
	_, c := setup(t)
	kindOf(t, c.TransferData(context.Background(), "x", "y@example.com"), integrations.Permanent)
}
