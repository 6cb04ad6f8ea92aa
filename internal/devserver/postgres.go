package devserver

import (
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strings"

	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/log"
	pgplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/postgresql"
	"go.temporal.io/server/schema/sqlite"
	"go.temporal.io/server/tools/common/schema"
	sqltool "go.temporal.io/server/tools/sql"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/tenure-io/tenure"
)

// On PostgreSQL the server keeps its state in the database the URL names and its
// visibility (the workflow lists the UI and ListWorkflowExecutions show) in a
// second database beside it, named with visibilitySuffix: each of the server's
// schemas records its version in a table of its own database, so the two cannot
// share one.
const visibilitySuffix = "_visibility"

// The embedded schemas of the pinned server, as its temporal-sql-tool names them
// (`--schema-name`). Their versioned/ directories hold every update since v1.0.
const (
	postgresSchema           = "postgresql/v12/temporal"
	postgresVisibilitySchema = "postgresql/v12/visibility"
)

// postgresShards is the number of history shards on PostgreSQL. It is written
// into the database on first start and can never change after; more than one
// lets the history service write to PostgreSQL in parallel, which SQLite's single
// writer could not use.
const postgresShards = 4

// Connection pools per service: see postgresConfig.
const (
	postgresMaxConns           = 10
	postgresVisibilityMaxConns = 4
)

// maintenanceDB is the database connected to when creating the server's own.
const maintenanceDB = "postgres"

// dbName is what a database name may be: it is spliced into CREATE DATABASE,
// which takes no parameters, so only plain identifiers pass. The limit leaves
// room for visibilitySuffix within PostgreSQL's 63 bytes.
var dbName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,51}$`)

// postgresConfig parses a postgres:// URL into the server's SQL config for its
// main database. The URL's query parameters (sslmode and the like) are passed to
// the driver as they are.
func postgresConfig(raw string) (*config.SQL, error) {
	bad := func(problem string) error {
		return tenure.Invalid(tenure.FieldError{Field: "postgres_url", Problem: problem})
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, bad("is not a URL")
	}
	if u.Scheme != "postgres" && u.Scheme != "postgresql" {
		return nil, bad("must start with postgres://")
	}
	if u.Hostname() == "" {
		return nil, bad("must name a host, as in postgres://user@host:5432/temporal")
	}
	if u.User == nil || u.User.Username() == "" {
		return nil, bad("must name a user, as in postgres://user@host:5432/temporal")
	}
	name := strings.TrimPrefix(u.Path, "/")
	if !dbName.MatchString(name) {
		return nil, bad("must name a database of lower-case letters, digits and underscores (at most 52), as in postgres://user@host:5432/temporal")
	}
	port := u.Port()
	if port == "" {
		port = "5432"
	}
	password, _ := u.User.Password()
	attrs := map[string]string{}
	for k, v := range u.Query() {
		if len(v) != 1 {
			return nil, bad(fmt.Sprintf("gives %s more than once", k))
		}
		attrs[k] = v[0]
	}
	return &config.SQL{
		PluginName:        pgplugin.PluginNamePGX,
		ConnectAddr:       net.JoinHostPort(u.Hostname(), port),
		User:              u.User.Username(),
		Password:          password,
		DatabaseName:      name,
		ConnectAttributes: attrs,
		ConnectProtocol:   "tcp",
		// Per service, and the four services each open their own: bounded so that
		// the server fits PostgreSQL's default of 100 connections with room for
		// Tenure's processes.
		MaxConns:     postgresMaxConns,
		MaxIdleConns: postgresMaxConns,
	}, nil
}

// visibilityConfig is cfg for the visibility database beside cfg's.
func visibilityConfig(cfg *config.SQL) *config.SQL {
	v := *cfg
	v.DatabaseName = cfg.DatabaseName + visibilitySuffix
	v.MaxConns, v.MaxIdleConns = postgresVisibilityMaxConns, postgresVisibilityMaxConns
	v.ConnectAttributes = make(map[string]string, len(cfg.ConnectAttributes))
	for k, val := range cfg.ConnectAttributes {
		v.ConnectAttributes[k] = val
	}
	return &v
}

// preparePostgres does what the server's temporal-sql-tool does before a first
// start (create-database, setup-schema -v 0.0, update-schema), with the schemas
// embedded in the server module, for the main and the visibility database; then
// it registers the namespace if it is missing. Every step is a no-op on a
// database that is already up to date, so it runs on every start, and a newer
// pinned server brings its schema updates with it.
func preparePostgres(store, visibility *config.SQL, namespace string, logger log.Logger) error {
	for _, db := range []struct {
		cfg    *config.SQL
		schema string
	}{{store, postgresSchema}, {visibility, postgresVisibilitySchema}} {
		if err := createDatabase(db.cfg, logger); err != nil {
			return err
		}
		if _, err := guard(func() (struct{}, error) { return struct{}{}, migrate(db.cfg, db.schema, logger) }); err != nil {
			return fmt.Errorf("devserver: schema of database %s: %w", db.cfg.DatabaseName, err)
		}
	}

	// The server's own pre-start registration, for any SQL store; it skips a
	// namespace that exists. The server reads its namespaces when it starts.
	ns, err := sqlite.NewNamespaceConfig(clusterName, namespace, false, nil)
	if err != nil {
		return fmt.Errorf("devserver: namespace %q: %w", namespace, err)
	}
	ns.Detail.Config.Retention = durationpb.New(retention)
	if err := sqlite.CreateNamespaces(store, ns); err != nil {
		return fmt.Errorf("devserver: register namespace %q: %w", namespace, err)
	}
	return nil
}

// createDatabase creates cfg's database unless it exists. A role that may not
// create databases can still use one made for it: the failed CREATE is then
// forgiven if the database answers.
func createDatabase(cfg *config.SQL, logger log.Logger) error {
	maint := *cfg
	err := sqltool.DoCreateDatabase(&maint, maintenanceDB, logger) // ignores "already exists"
	if err == nil {
		return nil
	}
	conn, cerr := sqltool.NewConnection(cfg, logger)
	if cerr == nil {
		_, cerr = conn.ListTables()
		conn.Close()
	}
	if cerr != nil {
		return tenure.Errorf(tenure.EUNAVAILABLE, "cannot create or open PostgreSQL database %s on %s: %v", cfg.DatabaseName, cfg.ConnectAddr, err)
	}
	return nil
}

// migrate brings cfg's database to the newest version of the embedded schema.
func migrate(cfg *config.SQL, schemaName string, logger log.Logger) error {
	conn, err := sqltool.NewConnection(cfg, logger)
	if err != nil {
		return err
	}
	defer conn.Close()
	// Version tables only, at 0.0 unless a version is recorded already; the
	// update then applies every versioned directory above the recorded version.
	setup := schema.NewSetupSchemaTask(conn, &schema.SetupConfig{InitialVersion: "0.0"}, logger)
	if err := setup.Run(); err != nil {
		return err
	}
	update := schema.NewUpdateSchemaTask(conn, &schema.UpdateConfig{DBName: cfg.DatabaseName, SchemaName: schemaName}, logger)
	return update.Run()
}

// redactedURL is a postgres:// URL without its password, for logs.
func redactedURL(cfg *config.SQL) string {
	return "postgres://" + url.User(cfg.User).String() + "@" + cfg.ConnectAddr + "/" + cfg.DatabaseName
}
