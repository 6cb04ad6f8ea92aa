package store

import (
	"context"

	"github.com/tenure-io/tenure"
)

// SetApprovalNotice records how the approval's latest notice went, whatever
// the approval's status: a decision's notice can fail too. An unknown ID is
// ENOTFOUND.
func (db *DB) SetApprovalNotice(ctx context.Context, id string, status tenure.NoticeStatus, detail string) error {
	switch status {
	case tenure.NoticeSent, tenure.NoticeLogged, tenure.NoticeSentToIT, tenure.NoticeFailed:
	default:
		return tenure.Invalid(tenure.FieldError{Field: "notice", Problem: "must be sent, logged, sent_to_it or failed"})
	}
	res := db.w.WithContext(ctx).Model(&approvalRow{}).Where("id = ?", id).
		Updates(map[string]any{"notice": string(status), "notice_error": detail})
	if res.Error != nil {
		return wrap("set approval notice", res.Error)
	}
	if res.RowsAffected == 0 {
		return notFound("approval", id)
	}
	return nil
}
