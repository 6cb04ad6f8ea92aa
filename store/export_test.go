package store

import "context"

// Exec runs raw SQL on the writer, as anyone holding the database's password
// could: the tests tamper with the audit chain this way.
func (db *DB) Exec(ctx context.Context, sql string, args ...any) error {
	return db.w.WithContext(ctx).Exec(sql, args...).Error
}
