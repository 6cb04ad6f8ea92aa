package store_test

import (
	"testing"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/store"
	"github.com/tenure-io/tenure/store/storetest"
)

func TestApprovalNotice(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		must(t, db.CreateApproval(ctx, tenure.Approval{ID: "ap1", EmployeeID: "e1", App: "aws", Approver: tenure.ApproverIT, ApproverID: "it-security"}))
		got, err := db.GetApproval(ctx, "ap1")
		must(t, err)
		if got.Notice != "" || got.NoticeError != "" {
			t.Fatalf("a new approval's notice = %q %q, want none yet", got.Notice, got.NoticeError)
		}
		must(t, db.SetApprovalNotice(ctx, "ap1", tenure.NoticeSentToIT, `person "it-security" has no email`))
		got, err = db.GetApproval(ctx, "ap1")
		must(t, err)
		if got.Notice != tenure.NoticeSentToIT || got.NoticeError != `person "it-security" has no email` || got.Status != tenure.ApprovalPending {
			t.Fatalf("approval = %+v, want pending and sent to IT with the reason", got)
		}
		// The same again changes nothing; a later notice replaces it, on a decided approval too.
		must(t, db.SetApprovalNotice(ctx, "ap1", tenure.NoticeSentToIT, `person "it-security" has no email`))
		must(t, db.DecideApproval(ctx, "ap1", tenure.ApprovalApproved, "admin", "", ts(5)))
		must(t, db.SetApprovalNotice(ctx, "ap1", tenure.NoticeFailed, "chat.update: HTTP 503"))
		list, err := db.ListApprovals(ctx, tenure.ApprovalFilter{EmployeeID: "e1"})
		must(t, err)
		if len(list) != 1 || list[0].Notice != tenure.NoticeFailed || list[0].NoticeError != "chat.update: HTTP 503" {
			t.Fatalf("approvals = %+v", list)
		}
		wantCode(t, db.SetApprovalNotice(ctx, "nope", tenure.NoticeSent, ""), tenure.ENOTFOUND)
		wantCode(t, db.SetApprovalNotice(ctx, "ap1", "lost", ""), tenure.EINVALID)
	})
}
