package store

import (
	"context"
	"time"

	"gorm.io/gorm/clause"

	"github.com/tenure-io/tenure"
)

// accountBeforeRow is an account as it stood before a step took it away.
type accountBeforeRow struct {
	Key                    string `gorm:"primaryKey"`
	EmployeeID             string `gorm:"not null;index:idx_accounts_before_employee,priority:1"`
	App                    string `gorm:"not null"`
	WorkflowID             string `gorm:"not null"`
	Operation              string `gorm:"not null"`
	AccountID              string `gorm:"not null"`
	UserName               string `gorm:"not null"`
	Status                 string `gorm:"not null"`
	Entitlements           string `gorm:"not null"` // JSON array
	EntitlementsVerifiedAt *time.Time
	ReadAt                 time.Time `gorm:"not null;index:idx_accounts_before_employee,priority:2"`
}

func (accountBeforeRow) TableName() string { return "accounts_before" }

// RecordAccountBefore inserts b unless a record with its Key exists: the first
// attempt of a step says what was there before, and a retry changes nothing.
// ReadAt defaults to now.
func (db *DB) RecordAccountBefore(ctx context.Context, b tenure.AccountBefore) error {
	if err := required([2]string{"key", b.Key}, [2]string{"employee_id", b.EmployeeID}, [2]string{"app", b.App}); err != nil {
		return err
	}
	row := accountBeforeRow{
		Key: b.Key, EmployeeID: b.EmployeeID, App: b.App, WorkflowID: b.WorkflowID, Operation: b.Operation,
		AccountID: b.AccountID, UserName: b.UserName, Status: string(b.Status),
		Entitlements: encodeList(b.Entitlements), EntitlementsVerifiedAt: utcPtr(b.EntitlementsVerifiedAt),
		ReadAt: orNow(b.ReadAt),
	}
	err := db.w.WithContext(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(&row).Error
	return wrap("record account before", err)
}

// ListAccountsBefore returns a person's records, oldest first (ties by key).
func (db *DB) ListAccountsBefore(ctx context.Context, employeeID string) ([]tenure.AccountBefore, error) {
	var rows []accountBeforeRow
	err := db.r.WithContext(ctx).Where("employee_id = ?", employeeID).Order(`read_at, "key"`).Find(&rows).Error
	if err != nil {
		return nil, wrap("list accounts before", err)
	}
	out := make([]tenure.AccountBefore, 0, len(rows))
	for _, r := range rows {
		out = append(out, tenure.AccountBefore{
			Key: r.Key, EmployeeID: r.EmployeeID, App: r.App, WorkflowID: r.WorkflowID, Operation: r.Operation,
			AccountID: r.AccountID, UserName: r.UserName, Status: tenure.AccessStatus(r.Status),
			Entitlements: decodeList(r.Entitlements), EntitlementsVerifiedAt: utcPtr(r.EntitlementsVerifiedAt),
			ReadAt: r.ReadAt.UTC(),
		})
	}
	return out, nil
}

// EachAccess calls fn with every account, then the entitlement grants in it,
// ordered by person, app and entitlement; app "" means every app. It reads a
// page of accounts at a time, keyed on (employee, app) so that a page costs the
// same however deep it is, and then the people, grants and approvals of that
// page in one query each.
func (db *DB) EachAccess(ctx context.Context, app string, fn func(tenure.AccessHeld) error) error {
	afterEmployee, afterApp := "", ""
	for {
		q := db.r.WithContext(ctx).Where("employee_id > ? OR (employee_id = ? AND app > ?)", afterEmployee, afterEmployee, afterApp)
		if app != "" {
			q = q.Where("app = ?", app)
		}
		var accounts []accountRow
		if err := q.Order("employee_id, app").Limit(MaxLimit).Find(&accounts).Error; err != nil {
			return wrap("list access", err)
		}
		if len(accounts) == 0 {
			return nil
		}
		if err := db.eachAccessPage(ctx, app, accounts, fn); err != nil {
			return err
		}
		if len(accounts) < MaxLimit {
			return nil
		}
		last := accounts[len(accounts)-1]
		afterEmployee, afterApp = last.EmployeeID, last.App
	}
}

// eachAccessPage joins one page of accounts with their people, grants and
// approvals, and hands each line to fn.
func (db *DB) eachAccessPage(ctx context.Context, app string, accounts []accountRow, fn func(tenure.AccessHeld) error) error {
	var ids []string
	for _, a := range accounts {
		if len(ids) == 0 || ids[len(ids)-1] != a.EmployeeID {
			ids = append(ids, a.EmployeeID)
		}
	}
	var people []employeeRow
	if err := db.r.WithContext(ctx).Where("id IN ?", ids).Find(&people).Error; err != nil {
		return wrap("list access: employees", err)
	}
	byID := make(map[string]tenure.Employee, len(people))
	for _, p := range people {
		byID[p.ID] = p.domain()
	}
	var grants []grantRow
	gq := db.r.WithContext(ctx).Where("employee_id IN ?", ids)
	if app != "" {
		gq = gq.Where("app = ?", app)
	}
	if err := gq.Order("employee_id, app, entitlement").Find(&grants).Error; err != nil {
		return wrap("list access: grants", err)
	}
	grantsOf := map[[2]string][]tenure.GrantRecord{}
	var approvalIDs []string
	for _, g := range grants {
		k := [2]string{g.EmployeeID, g.App}
		grantsOf[k] = append(grantsOf[k], g.domain())
		if g.ApprovalID != "" {
			approvalIDs = append(approvalIDs, g.ApprovalID)
		}
	}
	approvals := map[string]tenure.Approval{}
	if len(approvalIDs) > 0 {
		var rows []approvalRow
		if err := db.r.WithContext(ctx).Where("id IN ?", approvalIDs).Find(&rows).Error; err != nil {
			return wrap("list access: approvals", err)
		}
		for _, r := range rows {
			approvals[r.ID] = r.domain()
		}
	}
	approvalOf := func(g *tenure.GrantRecord) *tenure.Approval {
		if g == nil {
			return nil
		}
		if ap, ok := approvals[g.ApprovalID]; ok {
			return &ap
		}
		return nil
	}
	for _, a := range accounts {
		emp, ok := byID[a.EmployeeID]
		if !ok {
			// An account of someone the read model has no record of: show the HR ID.
			emp = tenure.Employee{Person: tenure.Person{ID: a.EmployeeID}}
		}
		acct := a.domain()
		gs := grantsOf[[2]string{a.EmployeeID, a.App}]
		// The account's own line carries the grant of the app itself, if any.
		line := tenure.AccessHeld{Employee: emp, Account: acct}
		if len(gs) > 0 && gs[0].Entitlement == "" {
			line.Grant = &gs[0]
			line.Approval = approvalOf(line.Grant)
			gs = gs[1:]
		}
		if err := fn(line); err != nil {
			return err
		}
		for i := range gs {
			g := &gs[i]
			if err := fn(tenure.AccessHeld{Employee: emp, Account: acct, Entitlement: g.Entitlement, Grant: g, Approval: approvalOf(g)}); err != nil {
				return err
			}
		}
	}
	return nil
}
