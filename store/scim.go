package store

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"gorm.io/gorm"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/scimserver/directory"
)

// The inbound SCIM server's directory: the users and groups an identity provider
// pushed, as it wrote them. The people they map onto live in employees, written by
// the workflows like any other person.

var _ directory.Store = (*DB)(nil)

type scimUserRow struct {
	ID         string `gorm:"primaryKey"`
	ExternalID string `gorm:"not null;index:idx_scim_users_external"`
	UserName   string `gorm:"not null"`
	// UserNameKey is the lower-cased userName, folded in Go for the reason
	// employeeRow.Search gives; userName is unique ignoring case (RFC 7643 4.1.1).
	UserNameKey string    `gorm:"not null;uniqueIndex:idx_scim_users_user_name"`
	HRID        string    `gorm:"column:hr_id;not null;uniqueIndex:idx_scim_users_hr_id"`
	EmailKey    string    `gorm:"not null;index:idx_scim_users_email"`
	Active      bool      `gorm:"not null"`
	Hired       bool      `gorm:"not null"`
	Version     int       `gorm:"not null"`
	Attributes  string    `gorm:"not null"` // JSON object
	Groups      string    `gorm:"not null"` // JSON array of {id, name}
	CreatedAt   time.Time `gorm:"not null;index:idx_scim_users_created"`
	UpdatedAt   time.Time `gorm:"not null"`
}

func (scimUserRow) TableName() string { return "scim_users" }

type scimGroupRow struct {
	ID             string    `gorm:"primaryKey"`
	ExternalID     string    `gorm:"not null;index:idx_scim_groups_external"`
	DisplayName    string    `gorm:"not null"`
	DisplayNameKey string    `gorm:"not null;uniqueIndex:idx_scim_groups_display_name"`
	Members        string    `gorm:"not null"` // JSON array of user ids
	Version        int       `gorm:"not null"`
	CreatedAt      time.Time `gorm:"not null;index:idx_scim_groups_created"`
	UpdatedAt      time.Time `gorm:"not null"`
}

func (scimGroupRow) TableName() string { return "scim_groups" }

func toSCIMUserRow(u directory.User) (scimUserRow, error) {
	attrs, err := json.Marshal(orEmptyMap(u.Attributes))
	if err != nil {
		return scimUserRow{}, tenure.Invalid(tenure.FieldError{Field: "attributes", Problem: "cannot be encoded as JSON"})
	}
	groups := u.Groups
	if groups == nil {
		groups = []directory.GroupRef{}
	}
	gs, _ := json.Marshal(groups) // strings only: cannot fail
	return scimUserRow{
		ID: u.ID, ExternalID: u.ExternalID, UserName: u.UserName, UserNameKey: strings.ToLower(u.UserName),
		HRID: u.HRID, EmailKey: strings.ToLower(u.Email), Active: u.Active, Hired: u.Hired,
		Version: u.Version, Attributes: string(attrs), Groups: string(gs),
		CreatedAt: orNow(u.CreatedAt), UpdatedAt: orNow(u.UpdatedAt),
	}, nil
}

func (r scimUserRow) domain() directory.User {
	u := directory.User{
		ID: r.ID, ExternalID: r.ExternalID, UserName: r.UserName, HRID: r.HRID, Email: r.EmailKey,
		Active: r.Active, Hired: r.Hired, Version: r.Version,
		CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(),
	}
	// Both columns hold only what toSCIMUserRow encoded.
	d := json.NewDecoder(strings.NewReader(r.Attributes))
	d.UseNumber()
	_ = d.Decode(&u.Attributes)
	_ = json.Unmarshal([]byte(r.Groups), &u.Groups)
	return u
}

func toSCIMGroupRow(g directory.Group) scimGroupRow {
	members := g.Members
	if members == nil {
		members = []string{}
	}
	ms, _ := json.Marshal(members) // strings only: cannot fail
	return scimGroupRow{
		ID: g.ID, ExternalID: g.ExternalID, DisplayName: g.DisplayName,
		DisplayNameKey: strings.ToLower(g.DisplayName), Members: string(ms), Version: g.Version,
		CreatedAt: orNow(g.CreatedAt), UpdatedAt: orNow(g.UpdatedAt),
	}
}

func (r scimGroupRow) domain() directory.Group {
	g := directory.Group{
		ID: r.ID, ExternalID: r.ExternalID, DisplayName: r.DisplayName, Version: r.Version,
		CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(),
	}
	_ = json.Unmarshal([]byte(r.Members), &g.Members)
	return g
}

func orEmptyMap(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return m
}

// GetSCIMUser returns one SCIM user; ENOTFOUND when there is none.
func (db *DB) GetSCIMUser(ctx context.Context, id string) (directory.User, error) {
	var row scimUserRow
	err := db.r.WithContext(ctx).Where("id = ?", id).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return directory.User{}, notFound("user", id)
	}
	if err != nil {
		return directory.User{}, wrap("get scim user", err)
	}
	return row.domain(), nil
}

// ListSCIMUsers returns one page of SCIM users, oldest first, and the number that match.
func (db *DB) ListSCIMUsers(ctx context.Context, q directory.UserQuery) ([]directory.User, int, error) {
	if q.Limit < 0 || q.Offset < 0 {
		return nil, 0, tenure.Invalid(tenure.FieldError{Field: "limit", Problem: "limit and offset must not be negative"})
	}
	tx := db.r.WithContext(ctx).Model(&scimUserRow{})
	if q.UserName != "" {
		tx = tx.Where("user_name_key = ?", strings.ToLower(q.UserName))
	}
	if q.ExternalID != "" {
		tx = tx.Where("external_id = ?", q.ExternalID)
	}
	if q.Email != "" {
		tx = tx.Where("email_key = ?", strings.ToLower(q.Email))
	}
	if q.HRID != "" {
		tx = tx.Where("hr_id = ?", q.HRID)
	}
	var total int64
	if err := tx.Count(&total).Error; err != nil {
		return nil, 0, wrap("count scim users", err)
	}
	tx = tx.Order("created_at, id").Offset(q.Offset)
	if q.Limit > 0 {
		tx = tx.Limit(q.Limit)
	}
	var rows []scimUserRow
	if err := tx.Find(&rows).Error; err != nil {
		return nil, 0, wrap("list scim users", err)
	}
	out := make([]directory.User, 0, len(rows))
	for _, r := range rows {
		out = append(out, r.domain())
	}
	return out, int(total), nil
}

// GetSCIMGroup returns one SCIM group; ENOTFOUND when there is none.
func (db *DB) GetSCIMGroup(ctx context.Context, id string) (directory.Group, error) {
	var row scimGroupRow
	err := db.r.WithContext(ctx).Where("id = ?", id).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return directory.Group{}, notFound("group", id)
	}
	if err != nil {
		return directory.Group{}, wrap("get scim group", err)
	}
	return row.domain(), nil
}

// ListSCIMGroups returns one page of SCIM groups, oldest first, and the number that match.
func (db *DB) ListSCIMGroups(ctx context.Context, q directory.GroupQuery) ([]directory.Group, int, error) {
	if q.Limit < 0 || q.Offset < 0 {
		return nil, 0, tenure.Invalid(tenure.FieldError{Field: "limit", Problem: "limit and offset must not be negative"})
	}
	tx := db.r.WithContext(ctx).Model(&scimGroupRow{})
	if q.DisplayName != "" {
		tx = tx.Where("display_name_key = ?", strings.ToLower(q.DisplayName))
	}
	if q.ExternalID != "" {
		tx = tx.Where("external_id = ?", q.ExternalID)
	}
	var total int64
	if err := tx.Count(&total).Error; err != nil {
		return nil, 0, wrap("count scim groups", err)
	}
	tx = tx.Order("created_at, id").Offset(q.Offset)
	if q.Limit > 0 {
		tx = tx.Limit(q.Limit)
	}
	var rows []scimGroupRow
	if err := tx.Find(&rows).Error; err != nil {
		return nil, 0, wrap("list scim groups", err)
	}
	out := make([]directory.Group, 0, len(rows))
	for _, r := range rows {
		out = append(out, r.domain())
	}
	return out, int(total), nil
}

// WriteSCIM applies every user and group change in one transaction, each update
// conditional on the version the caller read, so two requests that change one
// resource at once cannot both win.
func (db *DB) WriteSCIM(ctx context.Context, w directory.Write) error {
	err := db.w.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		for _, uw := range w.Users {
			if err := writeSCIMUser(tx, uw); err != nil {
				return err
			}
		}
		for _, gw := range w.Groups {
			if err := writeSCIMGroup(tx, gw); err != nil {
				return err
			}
		}
		return nil
	})
	if isUniqueViolation(err) {
		// Another writer took the name between our check and our write.
		return tenure.Errorf(tenure.ECONFLICT, "a userName, HR ID or group displayName is already taken")
	}
	return wrap("write scim", err)
}

func writeSCIMUser(tx *gorm.DB, uw directory.UserWrite) error {
	u := uw.User
	if err := required([2]string{"id", u.ID}, [2]string{"userName", u.UserName}, [2]string{"hr_id", u.HRID}); err != nil && !uw.Delete {
		return err
	}
	if uw.Delete {
		return conditional(tx.Where("id = ? AND version = ?", u.ID, uw.Prev).Delete(&scimUserRow{}), "user", u.ID)
	}
	row, err := toSCIMUserRow(u)
	if err != nil {
		return err
	}
	var taken []scimUserRow
	err = tx.Where("id <> ? AND (user_name_key = ? OR hr_id = ?)", u.ID, row.UserNameKey, row.HRID).Limit(1).Find(&taken).Error
	if err != nil {
		return err
	}
	if len(taken) > 0 {
		if taken[0].UserNameKey == row.UserNameKey {
			return tenure.Errorf(tenure.ECONFLICT, "userName %q is already taken", u.UserName)
		}
		return tenure.Errorf(tenure.ECONFLICT, "employeeNumber %q is already another user's", u.HRID)
	}
	if uw.Prev == 0 {
		return tx.Create(&row).Error
	}
	row.UpdatedAt = now()
	res := tx.Model(&scimUserRow{}).Where("id = ? AND version = ?", u.ID, uw.Prev).
		Select("*").Omit("id", "created_at").Updates(&row)
	return conditional(res, "user", u.ID)
}

func writeSCIMGroup(tx *gorm.DB, gw directory.GroupWrite) error {
	g := gw.Group
	if gw.Delete {
		return conditional(tx.Where("id = ? AND version = ?", g.ID, gw.Prev).Delete(&scimGroupRow{}), "group", g.ID)
	}
	if err := required([2]string{"id", g.ID}, [2]string{"displayName", g.DisplayName}); err != nil {
		return err
	}
	row := toSCIMGroupRow(g)
	var taken []scimGroupRow
	if err := tx.Where("id <> ? AND display_name_key = ?", g.ID, row.DisplayNameKey).Limit(1).Find(&taken).Error; err != nil {
		return err
	}
	if len(taken) > 0 {
		return tenure.Errorf(tenure.ECONFLICT, "displayName %q is already taken", g.DisplayName)
	}
	if gw.Prev == 0 {
		return tx.Create(&row).Error
	}
	row.UpdatedAt = now()
	res := tx.Model(&scimGroupRow{}).Where("id = ? AND version = ?", g.ID, gw.Prev).
		Select("*").Omit("id", "created_at").Updates(&row)
	return conditional(res, "group", g.ID)
}

// conditional turns an update or delete that matched no row into ECONFLICT: the
// row is gone or at another version than the caller read.
func conditional(res *gorm.DB, what, id string) error {
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		return tenure.Errorf(tenure.ECONFLICT, "%s %s changed while the request ran; retry it", what, id)
	}
	return nil
}

// isUniqueViolation recognises a unique index refusing a write, on either backend.
func isUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "23505"
	}
	return err != nil && strings.Contains(err.Error(), "UNIQUE constraint failed")
}
