// Package store is Tenure's read model: people, apps, accounts, grants, HR events,
// approvals, workflow runs and the audit trail, kept in PostgreSQL (production) or
// SQLite (tenure dev) through GORM. Activities write it idempotently on every step;
// the API and the console read it. It implements tenure.Store.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"runtime"
	"strings"
	"time"

	"gorm.io/driver/postgres"
	"gorm.io/driver/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	// The pure-Go SQLite driver, registered as "sqlite": it builds with
	// CGO_ENABLED=0 and is the one the embedded Temporal server links too.
	_ "modernc.org/sqlite"

	"github.com/tenure-io/tenure"
)

// Backend names the database engine behind a DB.
type Backend string

// The supported backends.
const (
	Postgres Backend = "postgres"
	SQLite   Backend = "sqlite"
)

// Page sizes of the list queries.
const (
	DefaultLimit = 50
	MaxLimit     = 500
)

// DB is the read model on one database. It is safe for concurrent use.
type DB struct {
	backend Backend
	// w takes every write. On SQLite it is a single connection, so writers queue in
	// Go instead of failing with SQLITE_BUSY; on PostgreSQL w and r are the same pool.
	w *gorm.DB
	// r serves reads. On SQLite it is a separate pool of read-only connections, which
	// WAL lets run alongside the writer.
	r *gorm.DB
}

var _ tenure.Store = (*DB)(nil)

// Option configures Open.
type Option func(*options)

type options struct {
	logger *slog.Logger
	slow   time.Duration
	// maxConns caps the PostgreSQL pool, or the SQLite read pool (SQLite always
	// has exactly one writer).
	maxConns int
}

// WithLogger logs errors and queries slower than slow to l. Queries are logged
// without their parameters, so personal data and secrets stay out of the log.
func WithLogger(l *slog.Logger, slow time.Duration) Option {
	return func(o *options) { o.logger, o.slow = l, slow }
}

// Open connects to dsn: "postgres://..." / "postgresql://..." for PostgreSQL, or
// "sqlite:<path>" / a file path ending in .db for SQLite ("sqlite::memory:" for a
// private in-memory database). It does not migrate: call Migrate.
func Open(ctx context.Context, dsn string, opts ...Option) (*DB, error) {
	o := options{maxConns: max(4, runtime.GOMAXPROCS(0))}
	for _, opt := range opts {
		opt(&o)
	}
	cfg := func() *gorm.Config {
		c := &gorm.Config{
			// Every write here is one statement; wrapping each in a transaction
			// would only add round trips.
			SkipDefaultTransaction: true,
			NowFunc:                now,
			Logger:                 logger.Discard,
		}
		if o.logger != nil {
			c.Logger = logger.NewSlogLogger(o.logger, logger.Config{
				SlowThreshold:             o.slow,
				ParameterizedQueries:      true,
				IgnoreRecordNotFoundError: true,
				LogLevel:                  logger.Warn,
			})
		}
		return c
	}

	var db *DB
	switch {
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		g, err := gorm.Open(postgres.New(postgres.Config{DSN: dsn}), cfg())
		if err != nil {
			return nil, tenure.Unavailable("the store", fmt.Errorf("open postgres: %w", err))
		}
		sqlDB, err := g.DB()
		if err != nil {
			return nil, err
		}
		sqlDB.SetMaxOpenConns(o.maxConns)
		sqlDB.SetMaxIdleConns(o.maxConns)
		db = &DB{backend: Postgres, w: g, r: g}
	default:
		path, ok := sqlitePath(dsn)
		if !ok {
			// The DSN may hold a password: name only what was expected.
			return nil, tenure.Errorf(tenure.EINVALID, "store: a database URL must start with postgres://, postgresql:// or sqlite:, or be a path ending in .db")
		}
		var err error
		if db, err = openSQLite(path, o, cfg); err != nil {
			return nil, err
		}
	}
	if err := db.Ping(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

func sqlitePath(dsn string) (string, bool) {
	if p, ok := strings.CutPrefix(dsn, "sqlite:"); ok {
		p = strings.TrimPrefix(p, "//")
		return p, p != ""
	}
	name, _, _ := strings.Cut(dsn, "?")
	if strings.HasSuffix(name, ".db") && !strings.Contains(name, "://") {
		return dsn, true
	}
	return "", false
}

func openSQLite(path string, o options, cfg func() *gorm.Config) (*DB, error) {
	name, query, _ := strings.Cut(path, "?")
	q, err := url.ParseQuery(query)
	if err != nil {
		return nil, tenure.Errorf(tenure.EINVALID, "store: the SQLite path has a malformed query: %v", err)
	}
	q.Add("_pragma", "busy_timeout(5000)")
	q.Add("_pragma", "foreign_keys(1)")
	// Times are written as "2006-01-02 15:04:05.999999999+00:00" in UTC, so that
	// comparing the text orders them in time.
	q.Set("_time_format", "sqlite")
	q.Set("_timezone", "UTC")
	memory := name == ":memory:"
	if !memory {
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "synchronous(NORMAL)")
	}

	wq := cloneQuery(q)
	// Take the write lock at BEGIN, so a transaction never fails halfway when
	// another process (a second tenure) holds it.
	wq.Set("_txlock", "immediate")
	drv, err := sqliteDriver()
	if err != nil {
		return nil, tenure.Unavailable("the store", fmt.Errorf("open sqlite: %w", err))
	}
	wdb := sql.OpenDB(keptConnector{dsn: name + "?" + wq.Encode(), driver: drv})
	w, err := gorm.Open(sqlite.New(sqlite.Config{Conn: &gatedPool{db: wdb}}), cfg())
	if err != nil {
		wdb.Close()
		return nil, tenure.Unavailable("the store", fmt.Errorf("open sqlite: %w", err))
	}
	wdb.SetMaxOpenConns(1)
	wdb.SetMaxIdleConns(1)
	wdb.SetConnMaxLifetime(0)
	wdb.SetConnMaxIdleTime(0)
	if memory {
		// Each connection to :memory: is its own database: use only the one.
		return &DB{backend: SQLite, w: w, r: w}, nil
	}

	rq := cloneQuery(q)
	rq.Add("_pragma", "query_only(1)")
	rdb := sql.OpenDB(keptConnector{dsn: name + "?" + rq.Encode(), driver: drv})
	r, err := gorm.Open(sqlite.New(sqlite.Config{Conn: rdb}), cfg())
	if err != nil {
		wdb.Close()
		rdb.Close()
		return nil, tenure.Unavailable("the store", fmt.Errorf("open sqlite: %w", err))
	}
	rdb.SetMaxOpenConns(o.maxConns)
	rdb.SetMaxIdleConns(o.maxConns)
	return &DB{backend: SQLite, w: w, r: r}, nil
}

func cloneQuery(q url.Values) url.Values {
	c := make(url.Values, len(q))
	for k, v := range q {
		c[k] = append([]string(nil), v...)
	}
	return c
}

// Backend reports which database engine db runs on.
func (db *DB) Backend() Backend { return db.backend }

// Close closes the database's connections.
func (db *DB) Close() error {
	var errs []error
	for _, g := range db.pools() {
		sqlDB, err := g.DB()
		if err == nil {
			err = sqlDB.Close()
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (db *DB) pools() []*gorm.DB {
	if db.r == db.w {
		return []*gorm.DB{db.w}
	}
	return []*gorm.DB{db.w, db.r}
}

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error {
	for _, g := range db.pools() {
		sqlDB, err := g.DB()
		if err != nil {
			return err
		}
		if err := sqlDB.PingContext(ctx); err != nil {
			return tenure.Unavailable("the store", fmt.Errorf("ping: %w", err))
		}
	}
	return nil
}

// Migrate creates or updates the tables and indexes, and chains any audit record
// that has no place in the audit chain (those written before it existed). It is
// idempotent, and safe to run from several processes at once.
func (db *DB) Migrate(ctx context.Context) error {
	err := db.w.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if db.backend == Postgres {
			// Concurrent AutoMigrates race on CREATE TABLE; PostgreSQL's DDL is
			// transactional, so holding a lock for the transaction serialises them.
			if err := tx.Exec("SELECT pg_advisory_xact_lock(?)", migrateLockID).Error; err != nil {
				return err
			}
			// Take the audit chain's lock before the DDL locks its table: an
			// append holds the chain's lock and then waits for the table.
			if err := db.lockChain(tx); err != nil {
				return err
			}
		}
		if err := tx.AutoMigrate(models...); err != nil {
			return err
		}
		if err := migrateReconcile(tx); err != nil {
			return err
		}
		return db.chainUnchained(tx)
	})
	return wrap("migrate", err)
}

// migrateLockID is an arbitrary constant ("tenure" in ASCII) naming Tenure's
// migration lock among the advisory locks of the database.
const migrateLockID = 0x74656e757265

// now is the clock of the store: UTC, at the microsecond precision that both
// PostgreSQL and SQLite keep, so that what is written reads back equal.
func now() time.Time { return utc(time.Now()) }

func utc(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

func utcPtr(t *time.Time) *time.Time {
	if t == nil || t.IsZero() {
		return nil
	}
	u := utc(*t)
	return &u
}

func orNow(t time.Time) time.Time {
	if t.IsZero() {
		return now()
	}
	return utc(t)
}

// wrap gives a database error context. It carries no tenure code, so callers see
// EINTERNAL (and activities retry); context errors stay recognisable.
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	var te *tenure.Error
	if errors.As(err, &te) {
		return err
	}
	return fmt.Errorf("store: %s: %w", op, err)
}

func notFound(what, id string) error {
	return tenure.Errorf(tenure.ENOTFOUND, "%s %q not found", what, id)
}

func required(fields ...[2]string) error {
	var fe []tenure.FieldError
	for _, f := range fields {
		if strings.TrimSpace(f[1]) == "" {
			fe = append(fe, tenure.FieldError{Field: f[0], Problem: "is required"})
		}
	}
	if fe != nil {
		return tenure.Invalid(fe...)
	}
	return nil
}

// page checks a list's limit and offset and applies the defaults.
func page(limit, offset int) (int, int, error) {
	var fe []tenure.FieldError
	if limit < 0 {
		fe = append(fe, tenure.FieldError{Field: "limit", Problem: "must not be negative"})
	}
	if offset < 0 {
		fe = append(fe, tenure.FieldError{Field: "offset", Problem: "must not be negative"})
	}
	if fe != nil {
		return 0, 0, tenure.Invalid(fe...)
	}
	switch {
	case limit == 0:
		limit = DefaultLimit
	case limit > MaxLimit:
		limit = MaxLimit
	}
	return limit, offset, nil
}
