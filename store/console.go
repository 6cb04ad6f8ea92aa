package store

import (
	"context"
	"sort"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/tenure-io/tenure"
)

// The console's read queries. They answer the questions of its list pages and
// dashboard, which tenure.Store's per-person reads would answer only by loading
// everyone; each is one or two indexed statements.

// SearchEmployees is ListEmployees with the console's extra filters: an exact
// department, people who hold an account in app, and one manager's direct reports.
// An empty filter matches everyone.
func (db *DB) SearchEmployees(ctx context.Context, f tenure.EmployeeFilter, department, app, managerID string) ([]tenure.Employee, int, error) {
	limit, offset, err := page(f.Limit, f.Offset)
	if err != nil {
		return nil, 0, err
	}
	if f.Status != "" && !validPersonStatus(f.Status) {
		return nil, 0, tenure.Invalid(tenure.FieldError{Field: "status", Problem: "must be pending, active, locked or terminated"})
	}
	query := func() *gorm.DB {
		q := db.r.WithContext(ctx).Model(&employeeRow{})
		if f.Status != "" {
			q = q.Where("status = ?", string(f.Status))
		}
		if s := strings.TrimSpace(f.Q); s != "" {
			q = q.Where(`search LIKE ? ESCAPE '\'`, "%"+escapeLike(strings.ToLower(s))+"%")
		}
		if department != "" {
			q = q.Where("department = ?", department)
		}
		if managerID != "" {
			q = q.Where("manager_id = ?", managerID)
		}
		if app != "" {
			q = q.Where("EXISTS (SELECT 1 FROM accounts a WHERE a.employee_id = employees.id AND a.app = ? AND a.status <> ?)",
				app, string(tenure.AccessDeleted))
		}
		return q
	}
	var total int64
	if err := query().Count(&total).Error; err != nil {
		return nil, 0, wrap("count employees", err)
	}
	out := []tenure.Employee{}
	if total == 0 || offset >= int(total) {
		return out, int(total), nil
	}
	var rows []employeeRow
	if err := query().Order("family_name, given_name, id").Limit(limit).Offset(offset).Find(&rows).Error; err != nil {
		return nil, 0, wrap("search employees", err)
	}
	for _, r := range rows {
		out = append(out, r.domain())
	}
	return out, int(total), nil
}

// Departments returns every department someone is in, sorted, for a filter's choices.
func (db *DB) Departments(ctx context.Context) ([]string, error) {
	var out []string
	err := db.r.WithContext(ctx).Model(&employeeRow{}).Where("department <> ''").
		Distinct("department").Order("department").Pluck("department", &out).Error
	if err != nil {
		return nil, wrap("list departments", err)
	}
	return out, nil
}

// AccountCounts returns, per app, how many accounts are in each status.
func (db *DB) AccountCounts(ctx context.Context) (map[string]map[tenure.AccessStatus]int, error) {
	var rows []struct {
		App    string
		Status string
		N      int
	}
	err := db.r.WithContext(ctx).Model(&accountRow{}).Select("app, status, COUNT(*) AS n").
		Group("app, status").Scan(&rows).Error
	if err != nil {
		return nil, wrap("count accounts", err)
	}
	out := map[string]map[tenure.AccessStatus]int{}
	for _, r := range rows {
		if out[r.App] == nil {
			out[r.App] = map[tenure.AccessStatus]int{}
		}
		out[r.App][tenure.AccessStatus(r.Status)] = r.N
	}
	return out, nil
}

// CountRuns returns how many runs are in each status.
func (db *DB) CountRuns(ctx context.Context) (map[tenure.RunStatus]int, error) {
	var rows []struct {
		Status string
		N      int
	}
	if err := db.r.WithContext(ctx).Model(&runRow{}).Select("status, COUNT(*) AS n").Group("status").Scan(&rows).Error; err != nil {
		return nil, wrap("count runs", err)
	}
	out := map[tenure.RunStatus]int{}
	for _, r := range rows {
		out[tenure.RunStatus(r.Status)] = r.N
	}
	return out, nil
}

// ListRecentRuns returns up to limit runs, the latest started first, of one type
// ("" for any) in one status ("" for any).
func (db *DB) ListRecentRuns(ctx context.Context, typ string, status tenure.RunStatus, limit int) ([]tenure.Run, error) {
	limit, _, err := page(limit, 0)
	if err != nil {
		return nil, err
	}
	q := db.r.WithContext(ctx)
	if typ != "" {
		q = q.Where("type = ?", typ)
	}
	if status != "" {
		q = q.Where("status = ?", string(status))
	}
	var rows []runRow
	if err := q.Order("started_at DESC, workflow_id").Limit(limit).Find(&rows).Error; err != nil {
		return nil, wrap("list recent runs", err)
	}
	out := make([]tenure.Run, 0, len(rows))
	for _, r := range rows {
		out = append(out, r.domain())
	}
	return out, nil
}

// RunsPerDay counts the runs started at or after since, per UTC day (YYYY-MM-DD)
// and run type. Days are bucketed here rather than in SQL, whose date functions
// differ between PostgreSQL and SQLite; only two narrow columns are read.
func (db *DB) RunsPerDay(ctx context.Context, since time.Time) (map[string]map[string]int, error) {
	var rows []struct {
		Type      string
		StartedAt time.Time
	}
	err := db.r.WithContext(ctx).Model(&runRow{}).Select("type, started_at").
		Where("started_at >= ?", utc(since)).Scan(&rows).Error
	if err != nil {
		return nil, wrap("count runs per day", err)
	}
	out := map[string]map[string]int{}
	for _, r := range rows {
		day := r.StartedAt.UTC().Format(tenure.DateLayout)
		if out[day] == nil {
			out[day] = map[string]int{}
		}
		out[day][r.Type]++
	}
	return out, nil
}

// CountApprovals counts the approvals in status ("" for all).
func (db *DB) CountApprovals(ctx context.Context, status tenure.ApprovalStatus) (int, error) {
	q := db.r.WithContext(ctx).Model(&approvalRow{})
	if status != "" {
		q = q.Where("status = ?", string(status))
	}
	var n int64
	if err := q.Count(&n).Error; err != nil {
		return 0, wrap("count approvals", err)
	}
	return int(n), nil
}

// ListFailedAccounts returns up to limit accounts whose last change failed, the
// most recently updated first.
func (db *DB) ListFailedAccounts(ctx context.Context, limit int) ([]tenure.Account, error) {
	limit, _, err := page(limit, 0)
	if err != nil {
		return nil, err
	}
	var rows []accountRow
	err = db.r.WithContext(ctx).Where("status = ?", string(tenure.AccessFailed)).
		Order("updated_at DESC, employee_id, app").Limit(limit).Find(&rows).Error
	if err != nil {
		return nil, wrap("list failed accounts", err)
	}
	out := make([]tenure.Account, 0, len(rows))
	for _, r := range rows {
		out = append(out, r.domain())
	}
	return out, nil
}

// ListAuditBetween is ListAudit with an upper bound on time as well: records at
// or after f.Since and before until (no bound when zero), newest first.
func (db *DB) ListAuditBetween(ctx context.Context, f tenure.AuditFilter, until time.Time) ([]tenure.AuditRecord, error) {
	limit, offset, err := page(f.Limit, f.Offset)
	if err != nil {
		return nil, err
	}
	q := db.r.WithContext(ctx)
	if f.EmployeeID != "" {
		q = q.Where("employee_id = ?", f.EmployeeID)
	}
	if f.Action != "" {
		q = q.Where("action = ?", f.Action)
	}
	if !f.Since.IsZero() {
		q = q.Where(`"at" >= ?`, utc(f.Since))
	}
	if !until.IsZero() {
		q = q.Where(`"at" < ?`, utc(until))
	}
	var rows []auditRow
	if err := q.Order(`"at" DESC, "key"`).Limit(limit).Offset(offset).Find(&rows).Error; err != nil {
		return nil, wrap("list audit", err)
	}
	out := make([]tenure.AuditRecord, 0, len(rows))
	for _, r := range rows {
		out = append(out, r.domain())
	}
	return out, nil
}

// AuditActions returns every action the audit trail holds, sorted, for a filter's choices.
func (db *DB) AuditActions(ctx context.Context) ([]string, error) {
	var out []string
	if err := db.r.WithContext(ctx).Model(&auditRow{}).Distinct("action").Pluck("action", &out).Error; err != nil {
		return nil, wrap("list audit actions", err)
	}
	sort.Strings(out)
	return out, nil
}

// EachEmployee calls fn with every person who is not terminated, in ID order, a
// page at a time (keyed on the ID, so a page costs the same however deep it is).
// It stops at fn's first error and returns it.
func (db *DB) EachEmployee(ctx context.Context, fn func(tenure.Employee) error) error {
	after := ""
	for {
		var rows []employeeRow
		err := db.r.WithContext(ctx).Where("id > ? AND status <> ?", after, string(tenure.PersonTerminated)).
			Order("id").Limit(MaxLimit).Find(&rows).Error
		if err != nil {
			return wrap("list employees", err)
		}
		for _, r := range rows {
			if err := fn(r.domain()); err != nil {
				return err
			}
		}
		if len(rows) < MaxLimit {
			return nil
		}
		after = rows[len(rows)-1].ID
	}
}
