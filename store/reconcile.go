package store

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/tenure-io/tenure"
)

// Reconciliations, each app's part of one, and their findings. A
// reconciliation of 100,000 people finds few things wrong, so findings are
// kept one row each; the accounts that are as they should be are only counted.

type reconciliationRow struct {
	ID         string       `gorm:"primaryKey"`
	Mode       string       `gorm:"not null"`
	Apps       string       `gorm:"not null"` // JSON array, sorted
	Status     string       `gorm:"not null"`
	Actor      string       `gorm:"not null"`
	Trigger    string       `gorm:"not null"`
	Counts     countColumns `gorm:"embedded"`
	Remediated int          `gorm:"not null"`
	Failed     int          `gorm:"not null"`
	Guard      string       `gorm:"not null"` // JSON GuardOutcome, or "" for none
	Error      string       `gorm:"not null"`
	StartedAt  time.Time    `gorm:"not null;index:idx_reconciliations_started"`
	ClosedAt   *time.Time
}

func (reconciliationRow) TableName() string { return "reconciliations" }

type reconcileAppRow struct {
	ReconciliationID string       `gorm:"primaryKey"`
	App              string       `gorm:"primaryKey;index:idx_reconcile_apps_app,priority:1"`
	Mode             string       `gorm:"not null"`
	Status           string       `gorm:"not null"`
	Counts           countColumns `gorm:"embedded"`
	Error            string       `gorm:"not null"`
	StartedAt        time.Time    `gorm:"not null"`
	FinishedAt       *time.Time   `gorm:"index:idx_reconcile_apps_app,priority:2"`
}

func (reconcileAppRow) TableName() string { return "reconcile_apps" }

type findingRow struct {
	ID               string `gorm:"primaryKey"`
	ReconciliationID string `gorm:"not null;index:idx_findings_run,priority:1"`
	App              string `gorm:"not null;index:idx_findings_run,priority:2"`
	AccountID        string `gorm:"not null"`
	UserName         string `gorm:"not null"`
	ExternalID       string `gorm:"not null"`
	EmployeeID       string `gorm:"not null"`
	Kind             string `gorm:"not null"`
	Detail           string `gorm:"not null"`
	Remediation      string `gorm:"not null"`
	Status           string `gorm:"not null"`
	Error            string `gorm:"not null"`
	RemediatedBy     string `gorm:"not null"`
	RemediatedAt     *time.Time
	RetryKey         string `gorm:"not null"`
}

func (findingRow) TableName() string { return "reconcile_findings" }

// checkpointRow is one checkpoint of one app's scan. A scan of 100,000
// accounts saves a few hundred, each with the people it saw since the one
// before (a few kB); they are deleted once the scan has finished.
type checkpointRow struct {
	ReconciliationID string       `gorm:"primaryKey"`
	App              string       `gorm:"primaryKey"`
	Seq              int          `gorm:"primaryKey;autoIncrement:false"`
	Phase            string       `gorm:"not null"`
	Cursor           string       `gorm:"not null"`
	Counts           countColumns `gorm:"embedded"`
	Seen             []byte
}

func (checkpointRow) TableName() string { return "reconcile_checkpoints" }

// migrateReconcile adds what a model cannot declare: the index by which
// reconciliation finds people by work email, without case.
func migrateReconcile(tx *gorm.DB) error {
	return tx.Exec("CREATE INDEX IF NOT EXISTS idx_employees_email_lower ON employees (LOWER(email))").Error
}

// countColumns are a reconciliation's counts (tenure.ReconcileCounts) as the
// columns of each table that keeps them: the reconciliation, each app's part
// and each checkpoint of a scan.
type countColumns struct {
	Accounts  int `gorm:"not null"`
	Matched   int `gorm:"not null"`
	Missing   int `gorm:"not null"`
	Drift     int `gorm:"not null"`
	Orphan    int `gorm:"not null"`
	Unmanaged int `gorm:"not null"`
}

func toReconciliationRow(r tenure.Reconciliation) reconciliationRow {
	row := reconciliationRow{
		ID: r.ID, Mode: string(r.Mode), Apps: encodeList(r.Apps), Status: string(r.Status), Actor: r.Actor,
		Trigger: r.Trigger, Remediated: r.Remediated, Failed: r.Failed, Error: r.Error,
		StartedAt: orNow(r.StartedAt), ClosedAt: utcPtr(r.ClosedAt),
	}
	row.Counts = countColumns(r.Counts)
	if r.Guard != nil {
		b, _ := json.Marshal(r.Guard)
		row.Guard = string(b)
	}
	return row
}

func (r reconciliationRow) domain() tenure.Reconciliation {
	out := tenure.Reconciliation{
		ID: r.ID, Mode: tenure.ReconcileMode(r.Mode), Apps: decodeList(r.Apps), Status: tenure.ReconcileStatus(r.Status),
		Actor: r.Actor, Trigger: r.Trigger, Remediated: r.Remediated, Failed: r.Failed, Error: r.Error,
		Counts:    tenure.ReconcileCounts(r.Counts),
		ByApp:     []tenure.ReconcileApp{},
		StartedAt: r.StartedAt.UTC(), ClosedAt: utcPtr(r.ClosedAt),
	}
	if r.Guard != "" {
		var g tenure.GuardOutcome
		if json.Unmarshal([]byte(r.Guard), &g) == nil {
			out.Guard = &g
		}
	}
	return out
}

func toReconcileAppRow(a tenure.ReconcileApp) reconcileAppRow {
	row := reconcileAppRow{
		ReconciliationID: a.ReconciliationID, App: a.App, Mode: string(a.Mode), Status: string(a.Status),
		Error: a.Error, StartedAt: orNow(a.StartedAt), FinishedAt: utcPtr(a.FinishedAt),
	}
	row.Counts = countColumns(a.Counts)
	return row
}

func (r reconcileAppRow) domain() tenure.ReconcileApp {
	return tenure.ReconcileApp{
		ReconciliationID: r.ReconciliationID, App: r.App, Mode: tenure.ReconcileMode(r.Mode),
		Status: tenure.ReconcileStatus(r.Status), Error: r.Error,
		Counts:    tenure.ReconcileCounts(r.Counts),
		StartedAt: r.StartedAt.UTC(), FinishedAt: utcPtr(r.FinishedAt),
	}
}

func toFindingRow(f tenure.Finding) findingRow {
	return findingRow{
		ID: f.ID, ReconciliationID: f.ReconciliationID, App: f.App, AccountID: f.AccountID, UserName: f.UserName,
		ExternalID: f.ExternalID, EmployeeID: f.EmployeeID, Kind: string(f.Kind), Detail: f.Detail,
		Remediation: string(f.Remediation), Status: string(f.Status), Error: f.Error, RemediatedBy: f.RemediatedBy,
		RemediatedAt: utcPtr(f.RemediatedAt), RetryKey: f.RetryKey,
	}
}

func (r findingRow) domain() tenure.Finding {
	return tenure.Finding{
		ID: r.ID, ReconciliationID: r.ReconciliationID, App: r.App, AccountID: r.AccountID, UserName: r.UserName,
		ExternalID: r.ExternalID, EmployeeID: r.EmployeeID, Kind: tenure.FindingKind(r.Kind), Detail: r.Detail,
		Remediation: tenure.Remediation(r.Remediation), Status: tenure.FindingStatus(r.Status), Error: r.Error,
		RemediatedBy: r.RemediatedBy, RemediatedAt: utcPtr(r.RemediatedAt), RetryKey: r.RetryKey,
	}
}

// closedStatuses are the statuses a reconciliation never leaves.
var closedStatuses = []string{string(tenure.ReconcileCompleted), string(tenure.ReconcileFailed), string(tenure.ReconcileCanceled)}

// CreateReconciliation inserts r unless a reconciliation with its ID exists.
func (db *DB) CreateReconciliation(ctx context.Context, r tenure.Reconciliation) (bool, error) {
	if err := required([2]string{"id", r.ID}, [2]string{"mode", string(r.Mode)}, [2]string{"status", string(r.Status)}); err != nil {
		return false, err
	}
	row := toReconciliationRow(r)
	res := db.w.WithContext(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(&row)
	return res.RowsAffected == 1, wrap("create reconciliation", res.Error)
}

// UpdateReconciliation writes r's status, counts, remediations, guard verdict,
// error and close time, unless the reconciliation has closed already.
func (db *DB) UpdateReconciliation(ctx context.Context, r tenure.Reconciliation) error {
	row := toReconciliationRow(r)
	res := db.w.WithContext(ctx).Model(&reconciliationRow{}).
		Where("id = ? AND status NOT IN ?", r.ID, closedStatuses).
		Select("status", "accounts", "matched", "missing", "drift", "orphan", "unmanaged", "remediated", "failed",
			"guard", "error", "closed_at").
		Updates(&row)
	if res.Error != nil {
		return wrap("update reconciliation", res.Error)
	}
	if res.RowsAffected == 0 {
		if _, err := db.GetReconciliation(ctx, r.ID); err != nil {
			return err
		}
	}
	return nil
}

// DeleteReconciliation deletes a run that no app part or finding refers to:
// one whose workflow never started.
func (db *DB) DeleteReconciliation(ctx context.Context, id string) error {
	err := db.w.WithContext(ctx).Where("id = ? AND NOT EXISTS (SELECT 1 FROM reconcile_apps WHERE reconciliation_id = ?)", id, id).
		Delete(&reconciliationRow{}).Error
	return wrap("delete reconciliation", err)
}

// GetReconciliation returns one reconciliation with its apps' parts, by app.
func (db *DB) GetReconciliation(ctx context.Context, id string) (tenure.Reconciliation, error) {
	var row reconciliationRow
	err := db.r.WithContext(ctx).Where("id = ?", id).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return tenure.Reconciliation{}, notFound("reconciliation", id)
	}
	if err != nil {
		return tenure.Reconciliation{}, wrap("get reconciliation", err)
	}
	r := row.domain()
	var apps []reconcileAppRow
	if err := db.r.WithContext(ctx).Where("reconciliation_id = ?", id).Order("app").Find(&apps).Error; err != nil {
		return tenure.Reconciliation{}, wrap("get reconciliation", err)
	}
	for _, a := range apps {
		r.ByApp = append(r.ByApp, a.domain())
	}
	return r, nil
}

// ListReconciliations returns one page of reconciliations, newest first,
// without their apps' parts.
func (db *DB) ListReconciliations(ctx context.Context, f tenure.ReconcileFilter) ([]tenure.Reconciliation, error) {
	limit, offset, err := page(f.Limit, f.Offset)
	if err != nil {
		return nil, err
	}
	q := db.r.WithContext(ctx).Model(&reconciliationRow{})
	if f.App != "" {
		// Apps is a JSON array of names, each in quotes.
		q = q.Where(`apps LIKE ? ESCAPE '\'`, `%"`+escapeLike(f.App)+`"%`)
	}
	var rows []reconciliationRow
	if err := q.Order("started_at DESC, id DESC").Limit(limit).Offset(offset).Find(&rows).Error; err != nil {
		return nil, wrap("list reconciliations", err)
	}
	out := make([]tenure.Reconciliation, 0, len(rows))
	for _, r := range rows {
		out = append(out, r.domain())
	}
	return out, nil
}

// RecordReconcileApp writes one app's part of a reconciliation, in one statement.
func (db *DB) RecordReconcileApp(ctx context.Context, a tenure.ReconcileApp) error {
	if err := required([2]string{"reconciliation_id", a.ReconciliationID}, [2]string{"app", a.App}); err != nil {
		return err
	}
	row := toReconcileAppRow(a)
	err := db.w.WithContext(ctx).Clauses(clause.OnConflict{
		Columns: []clause.Column{{Name: "reconciliation_id"}, {Name: "app"}},
		DoUpdates: clause.AssignmentColumns([]string{"mode", "status", "accounts", "matched", "missing", "drift",
			"orphan", "unmanaged", "error", "finished_at"}),
	}).Create(&row).Error
	return wrap("record reconcile app", err)
}

// LatestReconcileApps returns, for each app, its part of the reconciliation
// that last finished reading it, ordered by app.
func (db *DB) LatestReconcileApps(ctx context.Context) ([]tenure.ReconcileApp, error) {
	var rows []reconcileAppRow
	err := db.r.WithContext(ctx).Raw(`SELECT r.* FROM reconcile_apps r WHERE r.finished_at IS NOT NULL AND r.finished_at =
		(SELECT MAX(l.finished_at) FROM reconcile_apps l WHERE l.app = r.app AND l.finished_at IS NOT NULL)
		ORDER BY r.app, r.reconciliation_id DESC`).Scan(&rows).Error
	if err != nil {
		return nil, wrap("latest reconcile apps", err)
	}
	out := make([]tenure.ReconcileApp, 0, len(rows))
	for _, r := range rows {
		if len(out) > 0 && out[len(out)-1].App == r.App {
			continue // two that finished in the same microsecond
		}
		out = append(out, r.domain())
	}
	return out, nil
}

// ReplaceFindings deletes the findings and the checkpoints of one app of one
// reconciliation, in one transaction: a scan that starts over starts from
// nothing.
func (db *DB) ReplaceFindings(ctx context.Context, reconciliationID, app string) error {
	err := db.w.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Where("reconciliation_id = ? AND app = ?", reconciliationID, app).Delete(&findingRow{}).Error; err != nil {
			return err
		}
		return tx.Where("reconciliation_id = ? AND app = ?", reconciliationID, app).Delete(&checkpointRow{}).Error
	})
	return wrap("replace findings", err)
}

// SaveCheckpoint writes a scan's checkpoint and the findings since the one
// before in one transaction, so that the findings in the store are always
// those up to a checkpoint. A checkpoint that exists is an error.
func (db *DB) SaveCheckpoint(ctx context.Context, cp tenure.ScanCheckpoint, fs []tenure.Finding) error {
	if err := required([2]string{"reconciliation_id", cp.ReconciliationID}, [2]string{"app", cp.App}, [2]string{"phase", string(cp.Phase)}); err != nil {
		return err
	}
	if cp.Seq < 1 {
		return tenure.Invalid(tenure.FieldError{Field: "seq", Problem: "must be 1 or more"})
	}
	rows, err := findingRows(fs)
	if err != nil {
		return err
	}
	row := checkpointRow{ReconciliationID: cp.ReconciliationID, App: cp.App, Seq: cp.Seq, Phase: string(cp.Phase),
		Cursor: cp.Cursor, Seen: cp.Seen}
	row.Counts = countColumns(cp.Counts)
	err = db.w.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := upsertFindings(tx, rows); err != nil {
			return err
		}
		return tx.Create(&row).Error
	})
	return wrap("save checkpoint", err)
}

// Checkpoints returns one app's checkpoints of a reconciliation, by Seq.
func (db *DB) Checkpoints(ctx context.Context, reconciliationID, app string) ([]tenure.ScanCheckpoint, error) {
	var rows []checkpointRow
	err := db.w.WithContext(ctx).Where("reconciliation_id = ? AND app = ?", reconciliationID, app).Order("seq").Find(&rows).Error
	if err != nil {
		return nil, wrap("checkpoints", err)
	}
	out := make([]tenure.ScanCheckpoint, 0, len(rows))
	for _, r := range rows {
		out = append(out, tenure.ScanCheckpoint{ReconciliationID: r.ReconciliationID, App: r.App, Seq: r.Seq,
			Phase: tenure.ScanPhase(r.Phase), Cursor: r.Cursor, Seen: r.Seen,
			Counts: tenure.ReconcileCounts(r.Counts)})
	}
	return out, nil
}

// DropCheckpoints deletes one app's checkpoints of a reconciliation.
func (db *DB) DropCheckpoints(ctx context.Context, reconciliationID, app string) error {
	err := db.w.WithContext(ctx).Where("reconciliation_id = ? AND app = ?", reconciliationID, app).Delete(&checkpointRow{}).Error
	return wrap("drop checkpoints", err)
}

// findingBatch is how many findings one INSERT writes: 16 columns each, well
// under both engines' limits on parameters.
const findingBatch = 500

// AddFindings writes findings in batches; a finding that exists is overwritten.
func (db *DB) AddFindings(ctx context.Context, fs []tenure.Finding) error {
	rows, err := findingRows(fs)
	if err != nil {
		return err
	}
	return wrap("add findings", upsertFindings(db.w.WithContext(ctx), rows))
}

// findingRows checks findings and turns them into rows.
func findingRows(fs []tenure.Finding) ([]findingRow, error) {
	rows := make([]findingRow, 0, len(fs))
	for _, f := range fs {
		if err := required([2]string{"id", f.ID}, [2]string{"reconciliation_id", f.ReconciliationID}, [2]string{"app", f.App}); err != nil {
			return nil, err
		}
		rows = append(rows, toFindingRow(f))
	}
	return rows, nil
}

// upsertFindings writes rows through tx in batches, overwriting any that exist.
func upsertFindings(tx *gorm.DB, rows []findingRow) error {
	if len(rows) == 0 {
		return nil
	}
	return tx.Clauses(clause.OnConflict{
		Columns: []clause.Column{{Name: "id"}},
		DoUpdates: clause.AssignmentColumns([]string{"account_id", "user_name", "external_id", "employee_id", "kind",
			"detail", "remediation", "status", "error", "remediated_by", "remediated_at", "retry_key"}),
	}).CreateInBatches(&rows, findingBatch).Error
}

// GetFinding returns one finding; ENOTFOUND when there is none.
func (db *DB) GetFinding(ctx context.Context, id string) (tenure.Finding, error) {
	var row findingRow
	err := db.r.WithContext(ctx).Where("id = ?", id).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return tenure.Finding{}, notFound("finding", id)
	}
	if err != nil {
		return tenure.Finding{}, wrap("get finding", err)
	}
	return row.domain(), nil
}

// remediationsThatAct are the remediations that change an app.
var remediationsThatAct = []string{string(tenure.RemediateResync), string(tenure.RemediateDisable)}

// ListFindings returns one page of a reconciliation's findings, ordered by ID,
// and how many match in all.
func (db *DB) ListFindings(ctx context.Context, f tenure.FindingFilter) ([]tenure.Finding, int, error) {
	limit, offset, err := page(f.Limit, f.Offset)
	if err != nil {
		return nil, 0, err
	}
	q := db.r.WithContext(ctx).Model(&findingRow{}).Where("reconciliation_id = ?", f.ReconciliationID)
	if f.App != "" {
		q = q.Where("app = ?", f.App)
	}
	if f.Kind != "" {
		q = q.Where("kind = ?", string(f.Kind))
	}
	if f.Status != "" {
		q = q.Where("status = ?", string(f.Status))
	}
	if f.ActsOnly {
		q = q.Where("remediation IN ?", remediationsThatAct)
	}
	var total int64
	if err := q.Count(&total).Error; err != nil {
		return nil, 0, wrap("list findings", err)
	}
	if f.AfterID != "" {
		q = q.Where("id > ?", f.AfterID)
	}
	var rows []findingRow
	if err := q.Order("id").Limit(limit).Offset(offset).Find(&rows).Error; err != nil {
		return nil, 0, wrap("list findings", err)
	}
	out := make([]tenure.Finding, 0, len(rows))
	for _, r := range rows {
		out = append(out, r.domain())
	}
	return out, int(total), nil
}

// SetFindingStatus records how far a finding's remediation has got: its
// status, error, who remediated it and when, and the resync's request ID.
func (db *DB) SetFindingStatus(ctx context.Context, f tenure.Finding) error {
	row := toFindingRow(f)
	res := db.w.WithContext(ctx).Model(&findingRow{}).Where("id = ?", f.ID).
		Select("status", "error", "remediated_by", "remediated_at", "retry_key").Updates(&row)
	if res.Error != nil {
		return wrap("set finding status", res.Error)
	}
	if res.RowsAffected == 0 {
		return notFound("finding", f.ID)
	}
	return nil
}

// peopleChunk bounds the IDs or emails one query asks about.
const peopleChunk = 500

// PeopleByID returns the people with these HR IDs.
func (db *DB) PeopleByID(ctx context.Context, ids []string) ([]tenure.Employee, error) {
	return db.employeesWhere(ctx, "id IN ?", ids, func(s string) string { return s })
}

// EmployeesByEmail returns the people with these work emails, ignoring case.
func (db *DB) EmployeesByEmail(ctx context.Context, emails []string) ([]tenure.Employee, error) {
	return db.employeesWhere(ctx, "LOWER(email) IN ?", emails, strings.ToLower)
}

func (db *DB) employeesWhere(ctx context.Context, cond string, keys []string, norm func(string) string) ([]tenure.Employee, error) {
	var out []tenure.Employee
	for len(keys) > 0 {
		n := min(len(keys), peopleChunk)
		chunk := make([]string, 0, n)
		for _, k := range keys[:n] {
			if k != "" {
				chunk = append(chunk, norm(k))
			}
		}
		keys = keys[n:]
		if len(chunk) == 0 {
			continue
		}
		var rows []employeeRow
		if err := db.r.WithContext(ctx).Where(cond, chunk).Find(&rows).Error; err != nil {
			return nil, wrap("find employees", err)
		}
		for _, r := range rows {
			out = append(out, r.domain())
		}
	}
	return out, nil
}

// maxPeoplePage bounds a page of EmployeesAfter: large, as reconciliation
// reads everyone, and bounded, as it holds a page at a time.
const maxPeoplePage = 5000

// EmployeesAfter returns up to limit people whose HR ID sorts after after, by
// HR ID, with any of statuses (every status when none is given).
func (db *DB) EmployeesAfter(ctx context.Context, after string, limit int, statuses ...tenure.PersonStatus) ([]tenure.Employee, error) {
	if limit <= 0 || limit > maxPeoplePage {
		limit = maxPeoplePage
	}
	q := db.r.WithContext(ctx).Where("id > ?", after)
	if len(statuses) > 0 {
		st := make([]string, len(statuses))
		for i, s := range statuses {
			st[i] = string(s)
		}
		q = q.Where("status IN ?", st)
	}
	var rows []employeeRow
	if err := q.Order("id").Limit(limit).Find(&rows).Error; err != nil {
		return nil, wrap("list employees", err)
	}
	out := make([]tenure.Employee, 0, len(rows))
	for _, r := range rows {
		out = append(out, r.domain())
	}
	return out, nil
}

// GrantsOf returns the grants of these people in app, a query for each 500
// of them (by the grants' primary key). A record carries who, the app, the
// entitlement and its status: what a reconciliation compares, and no more,
// as it reads the grants of everyone an app lists.
func (db *DB) GrantsOf(ctx context.Context, app string, ids []string) ([]tenure.GrantRecord, error) {
	var out []tenure.GrantRecord
	for len(ids) > 0 {
		n := min(len(ids), peopleChunk)
		var rows []struct{ EmployeeID, Entitlement, Status string }
		if err := db.r.WithContext(ctx).Model(&grantRow{}).Select("employee_id", "entitlement", "status").
			Where("employee_id IN ? AND app = ?", ids[:n], app).Find(&rows).Error; err != nil {
			return nil, wrap("list grants", err)
		}
		ids = ids[n:]
		for _, r := range rows {
			out = append(out, tenure.GrantRecord{EmployeeID: r.EmployeeID, App: app, Entitlement: r.Entitlement, Status: tenure.AccessStatus(r.Status)})
		}
	}
	return out, nil
}
