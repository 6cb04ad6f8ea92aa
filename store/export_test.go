package store

import "context"

// Exec runs raw SQL on the writer, as anyone holding the database's password
// could: the tests tamper with the audit chain this way.
func (db *DB) Exec(ctx context.Context, sql string, args ...any) error {
	return db.w.WithContext(ctx).Exec(sql, args...).Error
}

// HoldChainLock takes the audit chain's lock, as an append in flight holds it,
// until release is called.
func (db *DB) HoldChainLock(ctx context.Context) (release func(), err error) {
	tx := db.w.WithContext(ctx).Begin()
	if tx.Error != nil {
		return nil, tx.Error
	}
	if err := db.lockChain(tx); err != nil {
		tx.Rollback()
		return nil, err
	}
	return func() { tx.Rollback() }, nil
}
