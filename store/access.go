package store

import (
	"context"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/tenure-io/tenure"
)

// UpsertAccount writes a person's account in one app, as last read back from it,
// in one statement. UpdatedAt defaults to now.
func (db *DB) UpsertAccount(ctx context.Context, a tenure.Account) error {
	if err := required([2]string{"employee_id", a.EmployeeID}, [2]string{"app", a.App}); err != nil {
		return err
	}
	row := toAccountRow(a)
	err := db.w.WithContext(ctx).Clauses(clause.OnConflict{
		Columns: []clause.Column{{Name: "employee_id"}, {Name: "app"}},
		DoUpdates: clause.AssignmentColumns([]string{
			"account_id", "status", "entitlements", "error", "verified_at", "updated_at",
		}),
	}).Create(&row).Error
	return wrap("upsert account", err)
}

// ListAccounts returns a person's accounts ordered by app; none is an empty list.
func (db *DB) ListAccounts(ctx context.Context, employeeID string) ([]tenure.Account, error) {
	var rows []accountRow
	err := db.r.WithContext(ctx).Where("employee_id = ?", employeeID).Order("app").Find(&rows).Error
	if err != nil {
		return nil, wrap("list accounts", err)
	}
	out := make([]tenure.Account, 0, len(rows))
	for _, r := range rows {
		out = append(out, r.domain())
	}
	return out, nil
}

// UpsertGrant writes the state of one grant in one statement. UpdatedAt defaults
// to now. A write that names no rule or approval keeps the ones recorded: the
// steps that move a granted entitlement to active do not know which approval
// let it through, and an access review must still show it.
func (db *DB) UpsertGrant(ctx context.Context, g tenure.GrantRecord) error {
	if err := required([2]string{"employee_id", g.EmployeeID}, [2]string{"app", g.App}); err != nil {
		return err
	}
	row := toGrantRow(g)
	keep := func(col string) clause.Assignment {
		return clause.Assignment{Column: clause.Column{Name: col},
			Value: gorm.Expr("CASE WHEN excluded." + col + " = '' THEN grants." + col + " ELSE excluded." + col + " END")}
	}
	err := db.w.WithContext(ctx).Clauses(clause.OnConflict{
		Columns: []clause.Column{{Name: "employee_id"}, {Name: "app"}, {Name: "entitlement"}},
		DoUpdates: append(clause.AssignmentColumns([]string{"status", "updated_at"}),
			keep("rule"), keep("approval_id")),
	}).Create(&row).Error
	return wrap("upsert grant", err)
}

// ListGrants returns a person's grants ordered by app and entitlement, the
// account's own grant (no entitlement) first.
func (db *DB) ListGrants(ctx context.Context, employeeID string) ([]tenure.GrantRecord, error) {
	var rows []grantRow
	err := db.r.WithContext(ctx).Where("employee_id = ?", employeeID).Order("app, entitlement").Find(&rows).Error
	if err != nil {
		return nil, wrap("list grants", err)
	}
	out := make([]tenure.GrantRecord, 0, len(rows))
	for _, r := range rows {
		out = append(out, r.domain())
	}
	return out, nil
}

// UpsertApp writes an integrated app and its health in one statement. Health
// defaults to unknown.
func (db *DB) UpsertApp(ctx context.Context, a tenure.App) error {
	if err := required([2]string{"name", a.Name}); err != nil {
		return err
	}
	if a.Health == "" {
		a.Health = tenure.HealthUnknown
	}
	row := toAppRow(a)
	err := db.w.WithContext(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "name"}},
		DoUpdates: clause.AssignmentColumns([]string{"connector", "base_url", "health", "last_error", "checked_at"}),
	}).Create(&row).Error
	return wrap("upsert app", err)
}

// ListApps returns every app ordered by name.
func (db *DB) ListApps(ctx context.Context) ([]tenure.App, error) {
	var rows []appRow
	if err := db.r.WithContext(ctx).Order("name").Find(&rows).Error; err != nil {
		return nil, wrap("list apps", err)
	}
	out := make([]tenure.App, 0, len(rows))
	for _, r := range rows {
		out = append(out, r.domain())
	}
	return out, nil
}
