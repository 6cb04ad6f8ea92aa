// Package storetest gives tests a real, migrated read model: SQLite in a temporary
// directory, or a throwaway database on the local PostgreSQL, or each in turn.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/tenure-io/tenure/store"
)

// DefaultPostgresURL is the server that Postgres creates its databases on when
// TENURE_TEST_DATABASE_URL is unset. Its own database is never written to.
const DefaultPostgresURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// SQLite returns a migrated store on a new SQLite file in t.TempDir(), closed when
// the test ends.
func SQLite(t testing.TB) *store.DB {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "tenure.db"))
	if err != nil {
		t.Fatalf("storetest: open sqlite: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx); err != nil {
		t.Fatalf("storetest: migrate sqlite: %v", err)
	}
	return db
}

// Postgres returns a migrated store on a new schema, tenure_test_<random>, in the
// database tenure_storetest on the server of TENURE_TEST_DATABASE_URL
// (DefaultPostgresURL when unset), which it creates on first use. The schema is
// dropped when the test ends. A schema costs a fraction of a new database, and
// nothing is ever written to the database the URL names. When the server is
// unreachable the test is skipped, unless TENURE_REQUIRE_POSTGRES=1, when it fails.
func Postgres(t testing.TB) *store.DB {
	t.Helper()
	return open(t, postgresURL(t))
}

// PostgresURL returns the URL of a new, empty schema, as Postgres makes one, for
// a test that hands the database to another process, such as a built tenure
// binary. It skips, or fails, as Postgres does.
func PostgresURL(t testing.TB) string {
	t.Helper()
	return postgresURL(t)
}

// Processes returns n stores on one fresh, migrated database of the backend,
// each with its own connections, as n Tenure processes sharing a database have.
// On PostgreSQL it skips as Postgres does.
func Processes(t testing.TB, backend store.Backend, n int) []*store.DB {
	t.Helper()
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "tenure.db")
	if backend == store.Postgres {
		dsn = postgresURL(t)
	}
	var out []*store.DB
	for range n {
		out = append(out, open(t, dsn))
	}
	return out
}

// open opens and migrates a store on dsn, closed when the test ends.
func open(t testing.TB, dsn string) *store.DB {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatalf("storetest: open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx); err != nil {
		t.Fatalf("storetest: migrate: %v", err)
	}
	return db
}

// postgresURL creates the schema Postgres describes and returns a URL whose
// connections use it.
func postgresURL(t testing.TB) string {
	t.Helper()
	rawURL := os.Getenv("TENURE_TEST_DATABASE_URL")
	if rawURL == "" {
		rawURL = DefaultPostgresURL
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatalf("storetest: TENURE_TEST_DATABASE_URL is not a URL")
	}
	q := u.Query()
	if q.Get("connect_timeout") == "" {
		q.Set("connect_timeout", "5")
	}
	u.RawQuery = q.Encode()

	server, err := adminConn(u.String())
	if err != nil {
		if os.Getenv("TENURE_REQUIRE_POSTGRES") == "1" {
			t.Fatalf("storetest: PostgreSQL is required but unreachable: %v", err)
		}
		t.Skipf("storetest: PostgreSQL unreachable, skipping (set TENURE_REQUIRE_POSTGRES=1 to fail): %v", err)
	}
	err = ensureDatabase(server, sharedDatabase)
	closeConn(server)
	if err != nil {
		t.Fatalf("storetest: create database %s: %v", sharedDatabase, err)
	}

	u.Path = "/" + sharedDatabase
	admin, err := adminConn(u.String())
	if err != nil {
		t.Fatalf("storetest: connect to %s: %v", sharedDatabase, err)
	}
	schema := "tenure_test_" + randomHex(6)
	// The name is ours and only [a-z0-9_]: safe to splice into DDL, which takes no
	// parameters.
	if err := admin.Exec("CREATE SCHEMA " + schema).Error; err != nil {
		closeConn(admin)
		t.Fatalf("storetest: create schema: %v", err)
	}
	t.Cleanup(func() {
		defer closeConn(admin)
		if err := admin.Exec("DROP SCHEMA IF EXISTS " + schema + " CASCADE").Error; err != nil {
			t.Logf("storetest: drop schema %s: %v", schema, err)
		}
	})

	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// sharedDatabase holds the tests' schemas.
const sharedDatabase = "tenure_storetest"

// ensureDatabase creates the database name unless it exists. Test binaries of
// several packages race to do so; the loser's duplicate error is success.
func ensureDatabase(server *gorm.DB, name string) error {
	var n int64
	if err := server.Raw("SELECT count(*) FROM pg_database WHERE datname = ?", name).Scan(&n).Error; err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	err := server.Exec("CREATE DATABASE " + name).Error
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && (pgErr.Code == "42P04" || pgErr.Code == "23505") {
		// 42P04 duplicate_database, or 23505 when the race is lost inside the catalog.
		return nil
	}
	return err
}

// Each runs fn once per backend, as the subtests "sqlite" and "postgres", each on a
// fresh store.
func Each(t *testing.T, fn func(t *testing.T, db *store.DB)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) { fn(t, SQLite(t)) })
	t.Run("postgres", func(t *testing.T) { fn(t, Postgres(t)) })
}

func adminConn(dsn string) (*gorm.DB, error) {
	g, err := gorm.Open(postgres.Open(dsn), &gorm.Config{Logger: logger.Discard})
	if err != nil {
		return nil, err
	}
	sqlDB, err := g.DB()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := sqlDB.PingContext(ctx); err != nil {
		sqlDB.Close()
		return nil, err
	}
	return g, nil
}

func closeConn(g *gorm.DB) {
	if sqlDB, err := g.DB(); err == nil {
		sqlDB.Close()
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails, per crypto/rand
	return hex.EncodeToString(b)
}
