package store

import (
	"context"
	"errors"
	"slices"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/tenure-io/tenure"
)

// CreateApproval inserts a unless an approval with its ID exists; then it writes
// nothing, so a retried request cannot reopen a decided approval. Status defaults
// to pending and RequestedAt to now.
func (db *DB) CreateApproval(ctx context.Context, a tenure.Approval) error {
	if err := required([2]string{"id", a.ID}, [2]string{"employee_id", a.EmployeeID}); err != nil {
		return err
	}
	row := toApprovalRow(a)
	err := db.w.WithContext(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(&row).Error
	return wrap("create approval", err)
}

// GetApproval returns one approval; ENOTFOUND when there is none.
func (db *DB) GetApproval(ctx context.Context, id string) (tenure.Approval, error) {
	var row approvalRow
	err := db.r.WithContext(ctx).Where("id = ?", id).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return tenure.Approval{}, notFound("approval", id)
	}
	if err != nil {
		return tenure.Approval{}, wrap("get approval", err)
	}
	return row.domain(), nil
}

// ListApprovals returns one page of approvals, newest request first.
func (db *DB) ListApprovals(ctx context.Context, f tenure.ApprovalFilter) ([]tenure.Approval, error) {
	limit, offset, err := page(f.Limit, f.Offset)
	if err != nil {
		return nil, err
	}
	q := db.r.WithContext(ctx)
	if f.Status != "" {
		q = q.Where("status = ?", string(f.Status))
	}
	if f.EmployeeID != "" {
		q = q.Where("employee_id = ?", f.EmployeeID)
	}
	var rows []approvalRow
	err = q.Order("requested_at DESC, id").Limit(limit).Offset(offset).Find(&rows).Error
	if err != nil {
		return nil, wrap("list approvals", err)
	}
	out := make([]tenure.Approval, 0, len(rows))
	for _, r := range rows {
		out = append(out, r.domain())
	}
	return out, nil
}

// DecideApproval moves a pending approval to status (approved, denied or expired).
// The move is one UPDATE ... WHERE status = 'pending', so of two racing decisions
// exactly one wins. Deciding again the same way is a no-op; deciding another way
// is ECONFLICT; an unknown ID is ENOTFOUND.
func (db *DB) DecideApproval(ctx context.Context, id string, status tenure.ApprovalStatus, by, reason string, at time.Time) error {
	switch status {
	case tenure.ApprovalApproved, tenure.ApprovalDenied, tenure.ApprovalExpired:
	default:
		return tenure.Invalid(tenure.FieldError{Field: "status", Problem: "must be approved, denied or expired"})
	}
	decided := orNow(at)
	res := db.w.WithContext(ctx).Model(&approvalRow{}).
		Where("id = ? AND status = ?", id, string(tenure.ApprovalPending)).
		Updates(map[string]any{
			"status":     string(status),
			"decided_by": by,
			"reason":     reason,
			"decided_at": decided,
		})
	if res.Error != nil {
		return wrap("decide approval", res.Error)
	}
	if res.RowsAffected == 1 {
		return nil
	}
	cur, err := db.GetApproval(ctx, id)
	if err != nil {
		return err
	}
	if cur.Status == status {
		return nil
	}
	return tenure.Errorf(tenure.ECONFLICT, "approval %q is already %s", id, cur.Status)
}

// EscalateApproval records who a pending approval escalated to. Only a pending
// approval can escalate.
func (db *DB) EscalateApproval(ctx context.Context, id, to string) error {
	res := db.w.WithContext(ctx).Model(&approvalRow{}).
		Where("id = ? AND status = ?", id, string(tenure.ApprovalPending)).
		Update("escalated_to", to)
	if res.Error != nil {
		return wrap("escalate approval", res.Error)
	}
	if res.RowsAffected == 0 {
		if _, err := db.GetApproval(ctx, id); err != nil {
			return err
		}
	}
	return nil
}

// AddApprovalMessages adds where the approval's request was posted, once each.
func (db *DB) AddApprovalMessages(ctx context.Context, id string, msgs []tenure.MessageRef) error {
	return db.w.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var row approvalRow
		err := tx.Where("id = ?", id).Take(&row).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return notFound("approval", id)
		}
		if err != nil {
			return wrap("get approval", err)
		}
		have := decodeMessages(row.Messages)
		for _, m := range msgs {
			if !slices.Contains(have, m) {
				have = append(have, m)
			}
		}
		return wrap("add approval messages", tx.Model(&approvalRow{}).Where("id = ?", id).
			Update("messages", encodeMessages(have)).Error)
	})
}
