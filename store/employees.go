package store

import (
	"context"
	"errors"
	"strings"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/tenure-io/tenure"
)

func validPersonStatus(s tenure.PersonStatus) bool {
	switch s {
	case tenure.PersonPending, tenure.PersonActive, tenure.PersonLocked, tenure.PersonTerminated:
		return true
	}
	return false
}

// UpsertEmployee writes the HR record and status of a person in one statement.
// An empty Status keeps the stored one (pending for a new person), so a writer that
// only knows the HR record cannot reset a lock. CreatedAt is set once.
func (db *DB) UpsertEmployee(ctx context.Context, e tenure.Employee) error {
	if err := validEmployee(e); err != nil {
		return err
	}
	return wrap("upsert employee", upsertEmployee(db.w.WithContext(ctx), e))
}

func validEmployee(e tenure.Employee) error {
	if err := required([2]string{"id", e.ID}); err != nil {
		return err
	}
	if e.Status != "" && !validPersonStatus(e.Status) {
		return tenure.Invalid(tenure.FieldError{Field: "status", Problem: "must be pending, active, locked or terminated"})
	}
	return nil
}

func upsertEmployee(q *gorm.DB, e tenure.Employee) error {
	t := now()
	e.UpdatedAt = t
	if e.CreatedAt.IsZero() {
		e.CreatedAt = t
	} else {
		e.CreatedAt = utc(e.CreatedAt)
	}
	cols := []string{
		"email", "given_name", "family_name", "manager_id", "department", "title",
		"location", "employment_type", "start_date", "end_date", "attributes", "search",
		"updated_at",
	}
	if e.Status == "" {
		e.Status = tenure.PersonPending
	} else {
		cols = append(cols, "status")
	}
	row := toEmployeeRow(e)
	return q.Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "id"}},
		DoUpdates: clause.AssignmentColumns(cols),
	}).Create(&row).Error
}

// SetEmployeeStatus changes a person's status; ENOTFOUND when there is no such person.
func (db *DB) SetEmployeeStatus(ctx context.Context, id string, status tenure.PersonStatus) error {
	if !validPersonStatus(status) {
		return tenure.Invalid(tenure.FieldError{Field: "status", Problem: "must be pending, active, locked or terminated"})
	}
	res := db.w.WithContext(ctx).Model(&employeeRow{}).Where("id = ?", id).
		Updates(map[string]any{"status": string(status), "updated_at": now()})
	if res.Error != nil {
		return wrap("set employee status", res.Error)
	}
	if res.RowsAffected == 0 {
		return notFound("employee", id)
	}
	return nil
}

// GetEmployee returns one person; ENOTFOUND when there is none.
func (db *DB) GetEmployee(ctx context.Context, id string) (tenure.Employee, error) {
	var row employeeRow
	err := db.r.WithContext(ctx).Where("id = ?", id).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return tenure.Employee{}, notFound("employee", id)
	}
	if err != nil {
		return tenure.Employee{}, wrap("get employee", err)
	}
	return row.domain(), nil
}

// FindEmployeeByEmail finds a person by work email, ignoring case; ENOTFOUND when
// there is none.
func (db *DB) FindEmployeeByEmail(ctx context.Context, email string) (tenure.Employee, error) {
	var row employeeRow
	err := db.r.WithContext(ctx).Where("LOWER(email) = ?", strings.ToLower(strings.TrimSpace(email))).
		Order("id").Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return tenure.Employee{}, notFound("employee with email", email)
	}
	if err != nil {
		return tenure.Employee{}, wrap("find employee by email", err)
	}
	return row.domain(), nil
}

// ListEmployees returns one page of people ordered by family name, given name and
// ID, and how many match in all. Q matches a substring of the ID, email, given or
// family or full name, department or title, ignoring case.
func (db *DB) ListEmployees(ctx context.Context, f tenure.EmployeeFilter) ([]tenure.Employee, int, error) {
	return db.SearchEmployees(ctx, f, "", "", "")
}

// escapeLike makes s match itself in a LIKE pattern with ESCAPE '\'.
func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}
