package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"reflect"

	"modernc.org/sqlite"
)

// keptStatements is how many prepared statements each SQLite connection
// keeps: more than the read model's queries, so that none is parsed twice,
// yet bounded where a query's text varies with its arguments (a batch of n
// rows, an IN list of n).
const keptStatements = 256

// keptConnector opens SQLite connections that keep the statements they have
// prepared. The SQLite driver parses a query's SQL each time it runs one that
// is not prepared, and gorm prepares none: during a bulk onboarding, parsing
// the read model's SQL took a twentieth of the machine.
type keptConnector struct {
	dsn    string
	driver *sqlite.Driver
}

func (k keptConnector) Connect(context.Context) (driver.Conn, error) {
	c, err := k.driver.Open(k.dsn)
	if err != nil {
		return nil, err
	}
	sc, ok := c.(sqliteConn)
	if !ok {
		_ = c.Close()
		return nil, errors.New("store: the SQLite driver's connection lacks a method the store needs")
	}
	return &keptConn{sqliteConn: sc, stmts: map[string]*keptStmt{}}, nil
}

func (k keptConnector) Driver() driver.Driver { return k.driver }

// sqliteConn is what the SQLite driver's connection does that database/sql
// uses.
type sqliteConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.ExecerContext
	driver.QueryerContext
	driver.Pinger
	driver.SessionResetter
	driver.Validator
}

// keptConn is a connection that runs each query through a statement it
// prepared once. database/sql uses a connection from one goroutine at a
// time; a statement whose rows are still open is busy, and the same query
// meanwhile runs as it would without the cache.
type keptConn struct {
	sqliteConn
	stmts map[string]*keptStmt
}

type keptStmt struct {
	stmt preparedStmt
	busy bool
}

// preparedStmt is what the SQLite driver's prepared statement does that a
// kept one is run through.
type preparedStmt interface {
	driver.Stmt
	driver.StmtExecContext
	driver.StmtQueryContext
}

func (c *keptConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	s := c.take(ctx, query)
	if s == nil {
		return c.sqliteConn.ExecContext(ctx, query, args)
	}
	defer func() { s.busy = false }()
	return s.stmt.ExecContext(ctx, args)
}

func (c *keptConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	s := c.take(ctx, query)
	if s == nil {
		return c.sqliteConn.QueryContext(ctx, query, args)
	}
	rows, err := s.stmt.QueryContext(ctx, args)
	if err != nil {
		s.busy = false
		return nil, err
	}
	return &keptRows{Rows: rows, stmt: s}, nil
}

// take returns the query's kept statement, marked busy, preparing it if
// needed; nil when it is busy or cannot be prepared (the query then runs
// unprepared, and reports its own error).
func (c *keptConn) take(ctx context.Context, query string) *keptStmt {
	s, ok := c.stmts[query]
	if !ok {
		prepared, err := c.PrepareContext(ctx, query)
		if err != nil {
			return nil
		}
		ps, ok := prepared.(preparedStmt)
		if !ok {
			_ = prepared.Close()
			return nil
		}
		c.evict()
		s = &keptStmt{stmt: ps}
		c.stmts[query] = s
	}
	if s.busy {
		return nil
	}
	s.busy = true
	return s
}

// evict makes room for one more statement, closing one that is not busy.
func (c *keptConn) evict() {
	if len(c.stmts) < keptStatements {
		return
	}
	for q, s := range c.stmts {
		if !s.busy {
			_ = s.stmt.Close()
			delete(c.stmts, q)
			return
		}
	}
}

func (c *keptConn) Close() error {
	for q, s := range c.stmts {
		_ = s.stmt.Close()
		delete(c.stmts, q)
	}
	return c.sqliteConn.Close()
}

// keptRows are the rows of a kept statement, which is free again once they
// are closed.
type keptRows struct {
	driver.Rows
	stmt *keptStmt
}

func (r *keptRows) Close() error {
	err := r.Rows.Close()
	r.stmt.busy = false
	return err
}

// The column types the SQLite driver reports, for database/sql's
// Rows.ColumnTypes.

func (r *keptRows) ColumnTypeDatabaseTypeName(i int) string {
	if t, ok := r.Rows.(driver.RowsColumnTypeDatabaseTypeName); ok {
		return t.ColumnTypeDatabaseTypeName(i)
	}
	return ""
}

func (r *keptRows) ColumnTypeLength(i int) (int64, bool) {
	if t, ok := r.Rows.(driver.RowsColumnTypeLength); ok {
		return t.ColumnTypeLength(i)
	}
	return 0, false
}

func (r *keptRows) ColumnTypeNullable(i int) (nullable, ok bool) {
	if t, ok := r.Rows.(driver.RowsColumnTypeNullable); ok {
		return t.ColumnTypeNullable(i)
	}
	return false, false
}

func (r *keptRows) ColumnTypePrecisionScale(i int) (precision, scale int64, ok bool) {
	if t, ok := r.Rows.(driver.RowsColumnTypePrecisionScale); ok {
		return t.ColumnTypePrecisionScale(i)
	}
	return 0, 0, false
}

func (r *keptRows) ColumnTypeScanType(i int) reflect.Type {
	if t, ok := r.Rows.(driver.RowsColumnTypeScanType); ok {
		return t.ColumnTypeScanType(i)
	}
	return reflect.TypeFor[any]()
}

// sqliteDriver is the driver modernc.org/sqlite registers as "sqlite", with
// whatever was registered with it.
func sqliteDriver() (*sqlite.Driver, error) {
	db, err := sql.Open("sqlite", "")
	if err != nil {
		return nil, err
	}
	defer db.Close()
	drv, ok := db.Driver().(*sqlite.Driver)
	if !ok {
		return nil, fmt.Errorf("the driver registered as sqlite is a %T", db.Driver())
	}
	return drv, nil
}
