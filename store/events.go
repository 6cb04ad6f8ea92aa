package store

import (
	"context"
	"errors"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/tenure-io/tenure"
)

// CreateEvent inserts rec unless an event with its ID exists, in which case it
// returns the stored event and created=false. The insert is one INSERT ... ON
// CONFLICT DO NOTHING on the primary key, so concurrent callers with one ID create
// exactly one row and all see the same record. Status defaults to received and
// ReceivedAt to now.
func (db *DB) CreateEvent(ctx context.Context, rec tenure.EventRecord) (tenure.EventRecord, bool, error) {
	if err := required([2]string{"id", rec.ID}, [2]string{"employee_id", rec.EmployeeID}); err != nil {
		return tenure.EventRecord{}, false, err
	}
	row := toEventRow(rec)
	res := db.w.WithContext(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(&row)
	if res.Error != nil {
		return tenure.EventRecord{}, false, wrap("create event", res.Error)
	}
	if res.RowsAffected == 1 {
		return row.domain(), true, nil
	}
	// The conflicting insert has committed (PostgreSQL waits for it before it
	// reports the conflict; SQLite has one writer), so the read finds it.
	existing, err := db.GetEvent(ctx, rec.ID)
	if err != nil {
		return tenure.EventRecord{}, false, err
	}
	return existing, false, nil
}

// MarkEventDispatched records that the person's workflow has the event;
// ENOTFOUND when there is no such event.
func (db *DB) MarkEventDispatched(ctx context.Context, id string) error {
	res := db.w.WithContext(ctx).Model(&eventRow{}).Where("id = ?", id).
		Update("status", string(tenure.EventDispatched))
	if res.Error != nil {
		return wrap("mark event dispatched", res.Error)
	}
	if res.RowsAffected == 0 {
		return notFound("event", id)
	}
	return nil
}

// MarkEventDiscarded records that an event was not applied, and why; ENOTFOUND
// when there is no such event.
func (db *DB) MarkEventDiscarded(ctx context.Context, id, reason string) error {
	res := db.w.WithContext(ctx).Model(&eventRow{}).Where("id = ?", id).
		Updates(map[string]any{"status": string(tenure.EventDiscarded), "note": reason})
	if res.Error != nil {
		return wrap("mark event discarded", res.Error)
	}
	if res.RowsAffected == 0 {
		return notFound("event", id)
	}
	return nil
}

// GetEvent returns one event; ENOTFOUND when there is none.
func (db *DB) GetEvent(ctx context.Context, id string) (tenure.EventRecord, error) {
	var row eventRow
	err := db.r.WithContext(ctx).Where("id = ?", id).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return tenure.EventRecord{}, notFound("event", id)
	}
	if err != nil {
		return tenure.EventRecord{}, wrap("get event", err)
	}
	return row.domain(), nil
}

// ListEvents returns a person's events, oldest first.
func (db *DB) ListEvents(ctx context.Context, employeeID string) ([]tenure.EventRecord, error) {
	var rows []eventRow
	err := db.r.WithContext(ctx).Where("employee_id = ?", employeeID).
		Order("received_at, id").Find(&rows).Error
	if err != nil {
		return nil, wrap("list events", err)
	}
	out := make([]tenure.EventRecord, 0, len(rows))
	for _, r := range rows {
		out = append(out, r.domain())
	}
	return out, nil
}
