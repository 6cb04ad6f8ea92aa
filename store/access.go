package store

import (
	"context"
	"errors"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/tenure-io/tenure"
)

// UpsertAccount writes a person's account in one app, as last read back from it,
// in one statement. UpdatedAt defaults to now.
func (db *DB) UpsertAccount(ctx context.Context, a tenure.Account) error {
	if err := validAccount(a); err != nil {
		return err
	}
	return wrap("upsert account", upsertAccount(db.w.WithContext(ctx), a))
}

func validAccount(a tenure.Account) error {
	return required([2]string{"employee_id", a.EmployeeID}, [2]string{"app", a.App})
}

func upsertAccount(q *gorm.DB, a tenure.Account) error {
	row := toAccountRow(a)
	return q.Clauses(clause.OnConflict{
		Columns: []clause.Column{{Name: "employee_id"}, {Name: "app"}},
		DoUpdates: clause.AssignmentColumns([]string{
			"account_id", "status", "entitlements", "error", "verified_at", "updated_at",
		}),
	}).Create(&row).Error
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
	if err := validGrant(g); err != nil {
		return err
	}
	return wrap("upsert grant", upsertGrant(db.w.WithContext(ctx), g))
}

func validGrant(g tenure.GrantRecord) error {
	return required([2]string{"employee_id", g.EmployeeID}, [2]string{"app", g.App})
}

func upsertGrant(q *gorm.DB, g tenure.GrantRecord) error {
	row := toGrantRow(g)
	keep := func(col string) clause.Assignment {
		return clause.Assignment{Column: clause.Column{Name: col},
			Value: gorm.Expr("CASE WHEN excluded." + col + " = '' THEN grants." + col + " ELSE excluded." + col + " END")}
	}
	return q.Clauses(clause.OnConflict{
		Columns: []clause.Column{{Name: "employee_id"}, {Name: "app"}, {Name: "entitlement"}},
		DoUpdates: append(clause.AssignmentColumns([]string{"status", "updated_at"}),
			keep("rule"), keep("approval_id")),
	}).Create(&row).Error
}

// WriteStep applies w in one transaction: its people, accounts and grants,
// then its audit records, in order, each as UpsertEmployee, UpsertAccount,
// UpsertGrant and AppendAudit would. A step's records that went one statement
// at a time cost a transaction each; together they cost one, and take the
// audit chain's head once. An invalid record writes nothing.
func (db *DB) WriteStep(ctx context.Context, w tenure.StepWrites) error {
	var errs []error
	for _, e := range w.Employees {
		errs = append(errs, validEmployee(e))
	}
	for _, a := range w.Accounts {
		errs = append(errs, validAccount(a))
	}
	for _, g := range w.Grants {
		errs = append(errs, validGrant(g))
	}
	for _, r := range w.Audit {
		errs = append(errs, validAudit(r))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if w.Empty() {
		return nil
	}
	err := db.w.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		for _, e := range w.Employees {
			if err := upsertEmployee(tx, e); err != nil {
				return err
			}
		}
		for _, a := range w.Accounts {
			if err := upsertAccount(tx, a); err != nil {
				return err
			}
		}
		for _, g := range w.Grants {
			if err := upsertGrant(tx, g); err != nil {
				return err
			}
		}
		return db.appendAudit(tx, w.Audit)
	})
	return wrap("write step", err)
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
