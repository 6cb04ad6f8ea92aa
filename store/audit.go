package store

import (
	"context"
	"time"

	"gorm.io/gorm/clause"

	"github.com/tenure-io/tenure"
)

// AppendAudit inserts r unless a record with its Key exists, so a retried step
// leaves one entry. At defaults to now.
func (db *DB) AppendAudit(ctx context.Context, r tenure.AuditRecord) error {
	if err := required([2]string{"key", r.Key}, [2]string{"action", r.Action}); err != nil {
		return err
	}
	row := toAuditRow(r)
	err := db.w.WithContext(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(&row).Error
	return wrap("append audit", err)
}

// ListAudit returns one page of the audit trail, newest first (ties by key),
// filtered by person, action and a lower bound on time (inclusive).
func (db *DB) ListAudit(ctx context.Context, f tenure.AuditFilter) ([]tenure.AuditRecord, error) {
	return db.ListAuditBetween(ctx, f, time.Time{})
}
