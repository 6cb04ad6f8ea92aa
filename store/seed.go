package store

import (
	"context"

	"gorm.io/gorm"

	"github.com/tenure-io/tenure"
)

// seedBatch is how many people one INSERT of SeedEmployees writes: 16
// columns each, well under both engines' limits on parameters.
const seedBatch = 1000

// SeedEmployees inserts people in one transaction, a batch per statement, as
// `tenure bench --reconcile` sets up an organisation of 100,000: no events,
// runs or audit records, which only the people's own workflows write. A
// person who exists already is an error, and then nothing is written.
func (db *DB) SeedEmployees(ctx context.Context, es []tenure.Employee) error {
	rows := make([]employeeRow, 0, len(es))
	t := now()
	for _, e := range es {
		if err := required([2]string{"id", e.ID}); err != nil {
			return err
		}
		if e.Status == "" {
			e.Status = tenure.PersonPending
		}
		if !validPersonStatus(e.Status) {
			return tenure.Invalid(tenure.FieldError{Field: "status", Problem: "must be pending, active, locked or terminated"})
		}
		e.CreatedAt, e.UpdatedAt = t, t
		rows = append(rows, toEmployeeRow(e))
	}
	err := db.w.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		return tx.CreateInBatches(&rows, seedBatch).Error
	})
	return wrap("seed employees", err)
}

// SeedGrants inserts grant records in one transaction, a batch per
// statement, as `tenure bench --reconcile` records what Tenure granted an
// organisation of 100,000. A grant that exists is an error, and then nothing
// is written.
func (db *DB) SeedGrants(ctx context.Context, gs []tenure.GrantRecord) error {
	rows := make([]grantRow, 0, len(gs))
	t := now()
	for _, g := range gs {
		if err := required([2]string{"employee_id", g.EmployeeID}, [2]string{"app", g.App}, [2]string{"status", string(g.Status)}); err != nil {
			return err
		}
		if g.UpdatedAt.IsZero() {
			g.UpdatedAt = t
		}
		rows = append(rows, toGrantRow(g))
	}
	err := db.w.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		return tx.CreateInBatches(&rows, seedBatch).Error
	})
	return wrap("seed grants", err)
}
