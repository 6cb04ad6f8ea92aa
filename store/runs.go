package store

import (
	"context"

	"gorm.io/gorm/clause"

	"github.com/tenure-io/tenure"
)

// UpsertRun writes a workflow run in one statement. StartedAt is kept from the
// first write. A closed run (completed, failed, canceled, superseded) is never
// reopened by a late or retried "running" write, so the read model cannot
// regress.
func (db *DB) UpsertRun(ctx context.Context, r tenure.Run) error {
	if err := required([2]string{"workflow_id", r.WorkflowID}, [2]string{"employee_id", r.EmployeeID}); err != nil {
		return err
	}
	row := toRunRow(r)
	err := db.w.WithContext(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "workflow_id"}},
		DoUpdates: clause.AssignmentColumns([]string{"in_workflow", "employee_id", "type", "event_id", "status", "error", "closed_at"}),
		Where: clause.Where{Exprs: []clause.Expression{clause.Or(
			clause.Eq{Column: clause.Column{Table: "runs", Name: "status"}, Value: string(tenure.RunRunning)},
			clause.Neq{Column: clause.Column{Table: "excluded", Name: "status"}, Value: string(tenure.RunRunning)},
		)}},
	}).Create(&row).Error
	return wrap("upsert run", err)
}

// ListRuns returns a person's runs, oldest first.
func (db *DB) ListRuns(ctx context.Context, employeeID string) ([]tenure.Run, error) {
	var rows []runRow
	err := db.r.WithContext(ctx).Where("employee_id = ?", employeeID).Order("started_at, workflow_id").Find(&rows).Error
	if err != nil {
		return nil, wrap("list runs", err)
	}
	out := make([]tenure.Run, 0, len(rows))
	for _, r := range rows {
		out = append(out, r.domain())
	}
	return out, nil
}
