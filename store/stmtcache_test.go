package store

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
)

// keptDB opens a SQLite file through keptConnector on one connection, as the
// read model's writer is.
func keptDB(t *testing.T) *sql.DB {
	t.Helper()
	drv, err := sqliteDriver()
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(keptConnector{dsn: filepath.Join(t.TempDir(), "kept.db"), driver: drv})
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	return db
}

// kept returns the statements the one connection keeps.
func kept(t *testing.T, db *sql.DB) []string {
	t.Helper()
	conn, err := db.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var out []string
	err = conn.Raw(func(dc any) error {
		for q := range dc.(*keptConn).stmts {
			out = append(out, q)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// A connection prepares each query once and runs it again from there; a
// script of several statements runs whole.
func TestAConnectionKeepsItsStatements(t *testing.T) {
	db := keptDB(t)
	ctx := t.Context()
	if _, err := db.ExecContext(ctx, "CREATE TABLE t (n INTEGER); CREATE TABLE u (n INTEGER)"); err != nil {
		t.Fatal(err)
	}
	const insert = "INSERT INTO t (n) VALUES (?)"
	for n := range 3 {
		if _, err := db.ExecContext(ctx, insert, n); err != nil {
			t.Fatal(err)
		}
	}
	var sum int
	if err := db.QueryRowContext(ctx, "SELECT SUM(n) FROM t").Scan(&sum); err != nil || sum != 3 {
		t.Fatalf("sum = %d, %v; want 3", sum, err)
	}
	if err := db.QueryRowContext(ctx, "SELECT SUM(n) FROM t WHERE n > ?", 0).Scan(&sum); err != nil || sum != 3 {
		t.Fatalf("sum = %d, %v; want 3", sum, err)
	}
	got := kept(t, db)
	for _, q := range []string{insert, "SELECT SUM(n) FROM t"} {
		if !slices.Contains(got, q) {
			t.Errorf("%q is not kept: %q", q, got)
		}
	}
	// A failing statement reports its own error and leaves the rest working.
	if _, err := db.ExecContext(ctx, "INSERT INTO missing (n) VALUES (1)"); err == nil {
		t.Fatal("an insert into a missing table succeeded")
	}
	if _, err := db.ExecContext(ctx, insert, 9); err != nil {
		t.Fatal(err)
	}
}

// The same query run again while its rows are still open runs apart, and
// both read their own rows.
func TestAQueryWhoseRowsAreOpenRunsAgainApart(t *testing.T) {
	db := keptDB(t)
	ctx := t.Context()
	if _, err := db.ExecContext(ctx, "CREATE TABLE t (n INTEGER); INSERT INTO t VALUES (1), (2), (3)"); err != nil {
		t.Fatal(err)
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	const q = "SELECT n FROM t WHERE n >= ? ORDER BY n"
	outer, err := tx.QueryContext(ctx, q, 1)
	if err != nil {
		t.Fatal(err)
	}
	var pairs []string
	for outer.Next() {
		var a int
		if err := outer.Scan(&a); err != nil {
			t.Fatal(err)
		}
		inner, err := tx.QueryContext(ctx, q, a)
		if err != nil {
			t.Fatal(err)
		}
		for inner.Next() {
			var b int
			if err := inner.Scan(&b); err != nil {
				t.Fatal(err)
			}
			pairs = append(pairs, fmt.Sprint(a, b))
		}
		if err := inner.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if err := outer.Close(); err != nil {
		t.Fatal(err)
	}
	want := []string{"1 1", "1 2", "1 3", "2 2", "2 3", "3 3"}
	if !slices.Equal(pairs, want) {
		t.Fatalf("pairs = %v, want %v", pairs, want)
	}
}

// A connection keeps at most keptStatements statements; queries past that
// still run.
func TestAConnectionKeepsABoundedNumberOfStatements(t *testing.T) {
	db := keptDB(t)
	ctx := context.Background()
	for i := range keptStatements + 20 {
		var n int
		if err := db.QueryRowContext(ctx, fmt.Sprintf("SELECT %d", i)).Scan(&n); err != nil || n != i {
			t.Fatalf("SELECT %d = %d, %v", i, n, err)
		}
	}
	if n := len(kept(t, db)); n > keptStatements {
		t.Fatalf("%d statements kept, want at most %d", n, keptStatements)
	}
}
