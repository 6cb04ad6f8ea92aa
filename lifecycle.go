package tenure

import "context"

// NoticeStatus says whether the latest notice about an approval reached
// anyone. A notice that cannot be sent never holds up the person's workflow:
// the approval waits, decidable in the console and the API, whatever it says.
type NoticeStatus string

// The notice statuses.
const (
	// NoticeSent: the approver (or whom it escalated to) was told.
	NoticeSent NoticeStatus = "sent"
	// NoticeLogged: Slack is not configured, so the notice was only written
	// to the log; the approval waits in the console and the API.
	NoticeLogged NoticeStatus = "logged"
	// NoticeSentToIT: the approver cannot be reached (no email, no Slack user),
	// so the IT channel was told instead, to decide in the console.
	NoticeSentToIT NoticeStatus = "sent_to_it"
	// NoticeFailed: nobody could be told, after a bounded number of attempts.
	NoticeFailed NoticeStatus = "failed"
)

// NoticeStore records how an approval's notices went.
type NoticeStore interface {
	// SetApprovalNotice records the outcome of the approval's latest notice,
	// and why it did not reach the approver ("" when it did).
	SetApprovalNotice(ctx context.Context, id string, status NoticeStatus, detail string) error
}
