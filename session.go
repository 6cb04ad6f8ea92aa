package tenure

import (
	"context"
	"fmt"
	"net/mail"
	"strings"
	"time"
)

// ConsoleSession is a signed-in console session as Tenure keeps it: never the
// session ID the browser holds, only its hash. It records who signed in and what
// the identity provider said of them then; what they may do is worked out again
// at every request (their HR record can change, and so can their reports).
type ConsoleSession struct {
	// IDHash is the hex SHA-256 of the session ID; whoever reads the table
	// cannot present a session with what they read.
	IDHash     string
	Email      string
	Name       string
	EmployeeID string
	// Role is the role the provider's groups gave at sign-in, or "" when they
	// gave none: such a user is a manager for as long as they have reports.
	Role      string
	CreatedAt time.Time
	ExpiresAt time.Time
	RevokedAt *time.Time
}

// Active reports whether the session may be used at now: neither revoked nor
// expired.
func (s ConsoleSession) Active(now time.Time) bool {
	return s.RevokedAt == nil && now.Before(s.ExpiresAt)
}

// SessionStore keeps console sessions. Lookups of missing sessions return an
// *Error with code ENOTFOUND.
type SessionStore interface {
	// CreateSession inserts s; an existing hash is ECONFLICT.
	CreateSession(ctx context.Context, s ConsoleSession) error
	// FindSession finds the session whose hash is idHash, revoked or not.
	FindSession(ctx context.Context, idHash string) (ConsoleSession, error)
	// RevokeSession revokes one session at at (a sign-out); revoking a revoked or
	// missing one changes nothing.
	RevokeSession(ctx context.Context, idHash string, at time.Time) error
	// RevokeSessions revokes every session of email (ignoring case) still active
	// at at, and returns how many it revoked.
	RevokeSessions(ctx context.Context, email string, at time.Time) (int, error)
	// ListSessions returns the sessions active at at, newest first, at most limit.
	ListSessions(ctx context.Context, at time.Time, limit int) ([]ConsoleSession, error)
	// DeleteExpiredSessions deletes the sessions that expired before before.
	DeleteExpiredSessions(ctx context.Context, before time.Time) (int, error)
}

// SessionRevoker is what ending a user's sessions needs: the sessions, the audit
// trail, and the HR records that name the user's employee ID there.
type SessionRevoker interface {
	RevokeSessions(ctx context.Context, email string, at time.Time) (int, error)
	FindEmployeeByEmail(ctx context.Context, email string) (Employee, error)
	AppendAudit(ctx context.Context, r AuditRecord) error
}

// RevokeUserSessions signs email out of the console everywhere at once, the
// Temporal UI's codec endpoint included, and records in the audit trail that
// actor did so and how many sessions it ended. The API and the console both
// revoke through it. A revocation that finds no session is recorded too: it
// says the admin asked.
func RevokeUserSessions(ctx context.Context, db SessionRevoker, email, actor string, at time.Time) (int, error) {
	email = strings.TrimSpace(email)
	switch addr, err := mail.ParseAddress(email); {
	case email == "":
		return 0, Invalid(FieldError{Field: "email", Problem: "is required"})
	case err != nil || len(email) > 254:
		return 0, Invalid(FieldError{Field: "email", Problem: "is not a valid email address"})
	case addr.Address != email:
		return 0, Invalid(FieldError{Field: "email", Problem: "must be a bare address such as ada@example.com"})
	}
	at = at.UTC()
	rec := AuditRecord{
		// One record per revocation: the time tells two apart.
		Key:    "session/" + strings.ToLower(email) + "/revoked/" + at.Format(time.RFC3339Nano),
		At:     at,
		Actor:  actor,
		Action: "session.revoked",
	}
	// Look the person up first, so that a store failing here revokes nothing
	// unrecorded.
	switch emp, err := db.FindEmployeeByEmail(ctx, email); {
	case err == nil:
		rec.EmployeeID = emp.ID
	case ErrorCode(err) != ENOTFOUND:
		return 0, err
	}
	n, err := db.RevokeSessions(ctx, email, at)
	if err != nil {
		return 0, err
	}
	rec.Detail = fmt.Sprintf("console sessions of %s revoked: %d", email, n)
	if err := db.AppendAudit(ctx, rec); err != nil {
		return 0, err
	}
	return n, nil
}
