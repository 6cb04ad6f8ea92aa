package store

import (
	"context"
	"errors"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/tenure-io/tenure"
)

var (
	_ tenure.TokenStore   = (*DB)(nil)
	_ tenure.ManagerScope = (*DB)(nil)
)

// touchEvery is how stale a token's last use may get before a use is written:
// last_used_at answers "is this token still in use?", which a minute does not change,
// and a write per request would queue every API call behind SQLite's one writer.
const touchEvery = time.Minute

// tokenRow is an API token. Only the hash of the token is kept: whoever reads the
// table cannot authenticate with what they read.
type tokenRow struct {
	ID         string    `gorm:"primaryKey"`
	Name       string    `gorm:"not null"`
	Role       string    `gorm:"not null"`
	EmployeeID string    `gorm:"not null"`
	Prefix     string    `gorm:"not null"`
	Hash       string    `gorm:"not null;uniqueIndex:idx_api_tokens_hash"`
	CreatedBy  string    `gorm:"not null"`
	CreatedAt  time.Time `gorm:"not null;index:idx_api_tokens_created"`
	ExpiresAt  *time.Time
	LastUsedAt *time.Time
	RevokedAt  *time.Time
}

func (tokenRow) TableName() string { return "api_tokens" }

func toTokenRow(t tenure.APIToken) tokenRow {
	return tokenRow{
		ID:         t.ID,
		Name:       t.Name,
		Role:       t.Role,
		EmployeeID: t.EmployeeID,
		Prefix:     t.Prefix,
		Hash:       t.Hash,
		CreatedBy:  t.CreatedBy,
		CreatedAt:  orNow(t.CreatedAt),
		ExpiresAt:  utcPtr(t.ExpiresAt),
		LastUsedAt: utcPtr(t.LastUsedAt),
		RevokedAt:  utcPtr(t.RevokedAt),
	}
}

func (r tokenRow) domain() tenure.APIToken {
	return tenure.APIToken{
		ID:         r.ID,
		Name:       r.Name,
		Role:       r.Role,
		EmployeeID: r.EmployeeID,
		Prefix:     r.Prefix,
		Hash:       r.Hash,
		CreatedBy:  r.CreatedBy,
		CreatedAt:  r.CreatedAt.UTC(),
		ExpiresAt:  utcPtr(r.ExpiresAt),
		LastUsedAt: utcPtr(r.LastUsedAt),
		RevokedAt:  utcPtr(r.RevokedAt),
	}
}

// CreateToken inserts t. A token whose ID or hash exists already is ECONFLICT
// and writes nothing.
func (db *DB) CreateToken(ctx context.Context, t tenure.APIToken) error {
	if err := required(
		[2]string{"id", t.ID}, [2]string{"name", t.Name}, [2]string{"role", t.Role},
		[2]string{"prefix", t.Prefix}, [2]string{"hash", t.Hash},
	); err != nil {
		return err
	}
	row := toTokenRow(t)
	res := db.w.WithContext(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(&row)
	if res.Error != nil {
		return wrap("create token", res.Error)
	}
	if res.RowsAffected == 0 {
		return tenure.Errorf(tenure.ECONFLICT, "a token with ID %q or the same hash exists", t.ID)
	}
	return nil
}

// GetToken returns one token; ENOTFOUND when there is none.
func (db *DB) GetToken(ctx context.Context, id string) (tenure.APIToken, error) {
	return db.takeToken(ctx, db.r, "id = ?", id, "token", id)
}

// FindTokenByHash returns the token with hash, revoked or expired ones included, so
// that the caller can say why it is refused; ENOTFOUND when there is none.
func (db *DB) FindTokenByHash(ctx context.Context, hash string) (tenure.APIToken, error) {
	// The error names no hash: it is as good as a token to someone who can
	// present it to a server that compares hashes.
	return db.takeToken(ctx, db.r, "hash = ?", hash, "token", "with that hash")
}

func (db *DB) takeToken(ctx context.Context, g *gorm.DB, where, arg, what, name string) (tenure.APIToken, error) {
	var row tokenRow
	err := g.WithContext(ctx).Where(where, arg).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return tenure.APIToken{}, notFound(what, name)
	}
	if err != nil {
		return tenure.APIToken{}, wrap("get token", err)
	}
	return row.domain(), nil
}

// ListTokens returns every token, newest first. There are few (one per person or
// integration), so the list is not paged.
func (db *DB) ListTokens(ctx context.Context) ([]tenure.APIToken, error) {
	var rows []tokenRow
	if err := db.r.WithContext(ctx).Order("created_at DESC, id").Find(&rows).Error; err != nil {
		return nil, wrap("list tokens", err)
	}
	out := make([]tenure.APIToken, 0, len(rows))
	for _, r := range rows {
		out = append(out, r.domain())
	}
	return out, nil
}

// RevokeToken revokes the token at at (now when zero). The UPDATE only touches a
// token that is not yet revoked, so a second revocation keeps the first time.
func (db *DB) RevokeToken(ctx context.Context, id string, at time.Time) (tenure.APIToken, error) {
	err := db.w.WithContext(ctx).Model(&tokenRow{}).
		Where("id = ? AND revoked_at IS NULL", id).
		Update("revoked_at", orNow(at)).Error
	if err != nil {
		return tenure.APIToken{}, wrap("revoke token", err)
	}
	// Read through the writer, which has just committed: on SQLite the read pool
	// is another connection.
	return db.takeToken(ctx, db.w, "id = ?", id, "token", id)
}

// TouchToken records a use of the token at at, unless one within touchEvery
// before it is recorded already.
func (db *DB) TouchToken(ctx context.Context, id string, at time.Time) error {
	at = orNow(at)
	err := db.w.WithContext(ctx).Model(&tokenRow{}).
		Where("id = ? AND (last_used_at IS NULL OR last_used_at < ?)", id, at.Add(-touchEvery)).
		Update("last_used_at", at).Error
	return wrap("touch token", err)
}

// ListReports is ListEmployees narrowed to the people whose manager is managerID:
// what a manager's token may read.
func (db *DB) ListReports(ctx context.Context, managerID string, f tenure.EmployeeFilter) ([]tenure.Employee, int, error) {
	if err := required([2]string{"manager_id", managerID}); err != nil {
		return nil, 0, err
	}
	return db.SearchEmployees(ctx, f, "", "", managerID)
}

// ListApprovalsFor is ListApprovals narrowed to the approvals approverID may
// decide (tenure.Approval.MayDecide): those it was asked for, and those
// escalated to it, but never one for its own access.
func (db *DB) ListApprovalsFor(ctx context.Context, approverID string, f tenure.ApprovalFilter) ([]tenure.Approval, error) {
	if err := required([2]string{"approver_id", approverID}); err != nil {
		return nil, err
	}
	limit, offset, err := page(f.Limit, f.Offset)
	if err != nil {
		return nil, err
	}
	q := db.r.WithContext(ctx).Where("(approver_id = ? OR escalated_to = ?) AND employee_id <> ?", approverID, approverID, approverID)
	if f.Status != "" {
		q = q.Where("status = ?", string(f.Status))
	}
	if f.EmployeeID != "" {
		q = q.Where("employee_id = ?", f.EmployeeID)
	}
	var rows []approvalRow
	if err := q.Order("requested_at DESC, id").Limit(limit).Offset(offset).Find(&rows).Error; err != nil {
		return nil, wrap("list approvals", err)
	}
	out := make([]tenure.Approval, 0, len(rows))
	for _, r := range rows {
		out = append(out, r.domain())
	}
	return out, nil
}
