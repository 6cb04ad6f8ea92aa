package store_test

import (
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/store"
	"github.com/tenure-io/tenure/store/storetest"
)

func TestConsoleSessions(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		signedIn := time.Date(2026, 3, 1, 9, 0, 0, 123456000, time.UTC)
		s := tenure.ConsoleSession{
			IDHash: "aa11", Email: "Ada@Example.com", Name: "Ada Lovelace", EmployeeID: "E1", Role: "admin",
			CreatedAt: signedIn, ExpiresAt: signedIn.Add(12 * time.Hour),
		}
		must(t, db.CreateSession(ctx, s))
		got, err := db.FindSession(ctx, "aa11")
		must(t, err)
		if !reflect.DeepEqual(got, s) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", got, s)
		}
		_, err = db.FindSession(ctx, "aa1")
		wantCode(t, err, tenure.ENOTFOUND)
		wantCode(t, db.CreateSession(ctx, s), tenure.ECONFLICT)
		wantCode(t, db.CreateSession(ctx, tenure.ConsoleSession{IDHash: "bb", ExpiresAt: signedIn}), tenure.EINVALID)
		wantCode(t, db.CreateSession(ctx, tenure.ConsoleSession{IDHash: "bb", Email: "x@example.com"}), tenure.EINVALID)

		// Ada signs in on a second browser; Grace on hers; an old one of Ada's has expired.
		second := s
		second.IDHash, second.CreatedAt = "aa22", signedIn.Add(time.Hour)
		must(t, db.CreateSession(ctx, second))
		grace := tenure.ConsoleSession{IDHash: "cc33", Email: "grace@example.com", Name: "Grace", Role: "hr",
			CreatedAt: signedIn.Add(2 * time.Hour), ExpiresAt: signedIn.Add(14 * time.Hour)}
		must(t, db.CreateSession(ctx, grace))
		old := s
		old.IDHash, old.CreatedAt, old.ExpiresAt = "aa00", signedIn.Add(-13*time.Hour), signedIn.Add(-time.Hour)
		must(t, db.CreateSession(ctx, old))

		now := signedIn.Add(3 * time.Hour)
		hashes := func(list []tenure.ConsoleSession) []string {
			var out []string
			for _, s := range list {
				out = append(out, s.IDHash)
			}
			return out
		}
		list, err := db.ListSessions(ctx, now, 0)
		must(t, err)
		if !slices.Equal(hashes(list), []string{"cc33", "aa22", "aa11"}) {
			t.Fatalf("active sessions = %v, want newest first without the expired one", hashes(list))
		}

		// A sign-out revokes one session, and a second keeps the first time.
		must(t, db.RevokeSession(ctx, "aa22", now))
		must(t, db.RevokeSession(ctx, "aa22", now.Add(time.Minute)))
		must(t, db.RevokeSession(ctx, "nothere", now))
		got, _ = db.FindSession(ctx, "aa22")
		if got.RevokedAt == nil || !got.RevokedAt.Equal(now) || got.Active(now) {
			t.Fatalf("signed out = %+v", got)
		}

		// Revoking by email ignores case and counts only what was still active.
		n, err := db.RevokeSessions(ctx, "ADA@example.COM", now.Add(time.Hour))
		must(t, err)
		if n != 1 {
			t.Fatalf("revoked %d sessions, want 1 (aa11; aa22 was signed out, aa00 expired)", n)
		}
		if got, _ := db.FindSession(ctx, "aa11"); got.Active(now.Add(time.Hour)) {
			t.Fatalf("aa11 still active: %+v", got)
		}
		if got, _ := db.FindSession(ctx, "aa22"); !got.RevokedAt.Equal(now) {
			t.Fatalf("a revocation moved aa22's sign-out to %v", got.RevokedAt)
		}
		if got, _ := db.FindSession(ctx, "cc33"); !got.Active(now.Add(time.Hour)) {
			t.Fatal("revoking Ada's sessions revoked Grace's")
		}
		if n, _ := db.RevokeSessions(ctx, "ada@example.com", now.Add(2*time.Hour)); n != 0 {
			t.Fatalf("a second revocation revoked %d", n)
		}
		_, err = db.RevokeSessions(ctx, "", now)
		wantCode(t, err, tenure.EINVALID)

		// Expired sessions are deleted; the others stay.
		n, err = db.DeleteExpiredSessions(ctx, now)
		must(t, err)
		if n != 1 {
			t.Fatalf("deleted %d, want the one expired session", n)
		}
		_, err = db.FindSession(ctx, "aa00")
		wantCode(t, err, tenure.ENOTFOUND)
		if _, err := db.FindSession(ctx, "aa11"); err != nil {
			t.Fatalf("a revoked session that has not expired was deleted: %v", err)
		}
	})
}
