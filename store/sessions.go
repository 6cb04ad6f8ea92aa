package store

import (
	"context"
	"errors"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/tenure-io/tenure"
)

var _ tenure.SessionStore = (*DB)(nil)

// sessionRow is a signed-in console session. Only the hash of the session ID is
// kept: whoever reads the table cannot present a session with what they read.
type sessionRow struct {
	IDHash string `gorm:"primaryKey"`
	Email  string `gorm:"not null"`
	// EmailKey is Email lower-cased in Go, which revocation by email matches:
	// SQLite's LOWER() folds ASCII only.
	EmailKey   string    `gorm:"not null;index:idx_console_sessions_email"`
	Name       string    `gorm:"not null"`
	EmployeeID string    `gorm:"not null"`
	Role       string    `gorm:"not null"`
	CreatedAt  time.Time `gorm:"not null;index:idx_console_sessions_created"`
	ExpiresAt  time.Time `gorm:"not null;index:idx_console_sessions_expires"`
	RevokedAt  *time.Time
}

func (sessionRow) TableName() string { return "console_sessions" }

func (r sessionRow) domain() tenure.ConsoleSession {
	return tenure.ConsoleSession{
		IDHash:     r.IDHash,
		Email:      r.Email,
		Name:       r.Name,
		EmployeeID: r.EmployeeID,
		Role:       r.Role,
		CreatedAt:  r.CreatedAt.UTC(),
		ExpiresAt:  r.ExpiresAt.UTC(),
		RevokedAt:  utcPtr(r.RevokedAt),
	}
}

// CreateSession inserts s. A session whose hash exists already is ECONFLICT and
// writes nothing.
func (db *DB) CreateSession(ctx context.Context, s tenure.ConsoleSession) error {
	if err := required([2]string{"id_hash", s.IDHash}, [2]string{"email", s.Email}); err != nil {
		return err
	}
	if s.ExpiresAt.IsZero() {
		return tenure.Invalid(tenure.FieldError{Field: "expires_at", Problem: "is required"})
	}
	row := sessionRow{
		IDHash:     s.IDHash,
		Email:      s.Email,
		EmailKey:   emailKey(s.Email),
		Name:       s.Name,
		EmployeeID: s.EmployeeID,
		Role:       s.Role,
		CreatedAt:  orNow(s.CreatedAt),
		ExpiresAt:  utc(s.ExpiresAt),
		RevokedAt:  utcPtr(s.RevokedAt),
	}
	res := db.w.WithContext(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(&row)
	if res.Error != nil {
		return wrap("create session", res.Error)
	}
	if res.RowsAffected == 0 {
		return tenure.Errorf(tenure.ECONFLICT, "a session with the same hash exists")
	}
	return nil
}

// FindSession returns the session with idHash, revoked or expired ones
// included; ENOTFOUND when there is none.
func (db *DB) FindSession(ctx context.Context, idHash string) (tenure.ConsoleSession, error) {
	var row sessionRow
	err := db.r.WithContext(ctx).Where("id_hash = ?", idHash).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		// The error names no hash, as for tokens.
		return tenure.ConsoleSession{}, notFound("session", "with that hash")
	}
	if err != nil {
		return tenure.ConsoleSession{}, wrap("find session", err)
	}
	return row.domain(), nil
}

// RevokeSession revokes one session at at (now when zero). The UPDATE only
// touches a session not yet revoked, so a second sign-out keeps the first time.
func (db *DB) RevokeSession(ctx context.Context, idHash string, at time.Time) error {
	err := db.w.WithContext(ctx).Model(&sessionRow{}).
		Where("id_hash = ? AND revoked_at IS NULL", idHash).
		Update("revoked_at", orNow(at)).Error
	return wrap("revoke session", err)
}

// RevokeSessions revokes every session of email, ignoring case, that is active
// at at (now when zero), and returns how many.
func (db *DB) RevokeSessions(ctx context.Context, email string, at time.Time) (int, error) {
	if err := required([2]string{"email", email}); err != nil {
		return 0, err
	}
	at = orNow(at)
	res := db.w.WithContext(ctx).Model(&sessionRow{}).
		Where("email_key = ? AND revoked_at IS NULL AND expires_at > ?", emailKey(email), at).
		Update("revoked_at", at)
	if res.Error != nil {
		return 0, wrap("revoke sessions", res.Error)
	}
	return int(res.RowsAffected), nil
}

// ListSessions returns the sessions active at at, newest first, at most limit
// (DefaultLimit when zero, MaxLimit at most).
func (db *DB) ListSessions(ctx context.Context, at time.Time, limit int) ([]tenure.ConsoleSession, error) {
	limit, _, err := page(limit, 0)
	if err != nil {
		return nil, err
	}
	var rows []sessionRow
	err = db.r.WithContext(ctx).Where("revoked_at IS NULL AND expires_at > ?", orNow(at)).
		Order("created_at DESC, id_hash").Limit(limit).Find(&rows).Error
	if err != nil {
		return nil, wrap("list sessions", err)
	}
	out := make([]tenure.ConsoleSession, 0, len(rows))
	for _, r := range rows {
		out = append(out, r.domain())
	}
	return out, nil
}

// DeleteExpiredSessions deletes the sessions that expired before before: they
// can never be used again, revoked or not.
func (db *DB) DeleteExpiredSessions(ctx context.Context, before time.Time) (int, error) {
	res := db.w.WithContext(ctx).Where("expires_at < ?", utc(before)).Delete(&sessionRow{})
	if res.Error != nil {
		return 0, wrap("delete expired sessions", res.Error)
	}
	return int(res.RowsAffected), nil
}

// emailKey is the form of an email that sessions are matched by.
func emailKey(email string) string { return strings.ToLower(strings.TrimSpace(email)) }
