package store

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/tenure-io/tenure"
)

// policyVersionRow is one deployed policy, named by the SHA-256 of its text.
type policyVersionRow struct {
	Version   string    `gorm:"primaryKey"`
	YAML      string    `gorm:"column:yaml;not null"`
	Author    string    `gorm:"not null"`
	CreatedAt time.Time `gorm:"not null"`
}

func (policyVersionRow) TableName() string { return "policy_versions" }

// policyActivationRow is one time a version came into force: the latest row is
// the active version. Key makes an activation idempotent.
type policyActivationRow struct {
	ID      uint64    `gorm:"primaryKey;autoIncrement"`
	Key     string    `gorm:"not null;uniqueIndex:idx_policy_activations_key"`
	Version string    `gorm:"not null"`
	By      string    `gorm:"not null"`
	At      time.Time `gorm:"not null"`
}

func (policyActivationRow) TableName() string { return "policy_activations" }

// rolloutRow is one deploy of a version. Plan holds what the plan counted per
// app (gain and lose); the progress is counted from the items when read.
type rolloutRow struct {
	ID        string    `gorm:"primaryKey"`
	Version   string    `gorm:"not null"`
	Status    string    `gorm:"not null"`
	Actor     string    `gorm:"not null"`
	Source    string    `gorm:"not null;index:idx_rollouts_source,priority:1"`
	Total     int       `gorm:"not null"`
	Plan      string    `gorm:"not null"` // JSON object: app -> {gain, lose}
	HoldID    string    `gorm:"not null"`
	Reason    string    `gorm:"not null"`
	Note      string    `gorm:"not null"`
	CreatedAt time.Time `gorm:"not null;index:idx_rollouts_created;index:idx_rollouts_source,priority:2"`
	UpdatedAt time.Time `gorm:"not null"`
	ClosedAt  *time.Time
}

func (rolloutRow) TableName() string { return "rollouts" }

// rolloutItemRow is one person in a rollout.
type rolloutItemRow struct {
	RolloutID  string `gorm:"primaryKey"`
	EmployeeID string `gorm:"primaryKey"`
	Status     string `gorm:"not null"`
	Apps       string `gorm:"not null"` // JSON array
	FailedApps string `gorm:"not null"` // JSON array
	Error      string `gorm:"not null"`
}

func (rolloutItemRow) TableName() string { return "rollout_items" }

// SavePolicyVersion stores v unless its version exists, and returns the stored
// version. CreatedAt defaults to now.
func (db *DB) SavePolicyVersion(ctx context.Context, v tenure.PolicyVersion) (tenure.PolicyVersion, error) {
	if err := required([2]string{"version", v.Version}, [2]string{"yaml", v.YAML}, [2]string{"author", v.Author}); err != nil {
		return tenure.PolicyVersion{}, err
	}
	row := policyVersionRow{Version: v.Version, YAML: v.YAML, Author: v.Author, CreatedAt: orNow(v.CreatedAt)}
	if err := db.w.WithContext(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(&row).Error; err != nil {
		return tenure.PolicyVersion{}, wrap("save policy version", err)
	}
	return db.GetPolicyVersion(ctx, v.Version)
}

// GetPolicyVersion returns one version, with when it last came into force if
// it is the active one; ENOTFOUND when there is none.
func (db *DB) GetPolicyVersion(ctx context.Context, version string) (tenure.PolicyVersion, error) {
	var row policyVersionRow
	err := db.r.WithContext(ctx).Where("version = ?", version).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return tenure.PolicyVersion{}, notFound("policy version", version)
	}
	if err != nil {
		return tenure.PolicyVersion{}, wrap("get policy version", err)
	}
	v := row.domain()
	act, err := db.latestActivation(ctx)
	switch {
	case err == nil && act.Version == version:
		at := act.At.UTC()
		v.ActivatedAt, v.ActivatedBy = &at, act.By
	case err != nil && tenure.ErrorCode(err) != tenure.ENOTFOUND:
		return tenure.PolicyVersion{}, err
	}
	return v, nil
}

// ActivePolicyVersion returns the version in force; ENOTFOUND before the first.
func (db *DB) ActivePolicyVersion(ctx context.Context) (tenure.PolicyVersion, error) {
	act, err := db.latestActivation(ctx)
	if err != nil {
		return tenure.PolicyVersion{}, err
	}
	return db.GetPolicyVersion(ctx, act.Version)
}

// ActiveVersion returns the hash of the version in force, in one indexed read.
func (db *DB) ActiveVersion(ctx context.Context) (string, error) {
	act, err := db.latestActivation(ctx)
	return act.Version, err
}

func (db *DB) latestActivation(ctx context.Context) (policyActivationRow, error) {
	var row policyActivationRow
	err := db.r.WithContext(ctx).Order("id DESC").Limit(1).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return row, tenure.Errorf(tenure.ENOTFOUND, "no policy has been deployed yet")
	}
	return row, wrap("active policy version", err)
}

// ActivatePolicyVersion puts version in force, once per key.
func (db *DB) ActivatePolicyVersion(ctx context.Context, key, version, by string, at time.Time) error {
	if err := required([2]string{"key", key}, [2]string{"version", version}, [2]string{"by", by}); err != nil {
		return err
	}
	if _, err := db.GetPolicyVersion(ctx, version); err != nil {
		return err
	}
	row := policyActivationRow{Key: key, Version: version, By: by, At: orNow(at)}
	err := db.w.WithContext(ctx).Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "key"}}, DoNothing: true}).Create(&row).Error
	return wrap("activate policy version", err)
}

func (r policyVersionRow) domain() tenure.PolicyVersion {
	return tenure.PolicyVersion{Version: r.Version, YAML: r.YAML, Author: r.Author, CreatedAt: r.CreatedAt.UTC()}
}

// CreateRollout stores the rollout and its people, pending, in one transaction;
// ECONFLICT when its ID is taken. CreatedAt defaults to now.
func (db *DB) CreateRollout(ctx context.Context, r tenure.Rollout, items []tenure.RolloutItem) error {
	if err := required([2]string{"id", r.ID}, [2]string{"version", r.Version}, [2]string{"status", string(r.Status)}); err != nil {
		return err
	}
	plan := map[string]tenure.AppProgress{}
	for app, p := range r.ByApp {
		plan[app] = tenure.AppProgress{Gain: p.Gain, Lose: p.Lose}
	}
	planJSON, _ := json.Marshal(plan) // a map of ints always marshals
	created := orNow(r.CreatedAt)
	row := rolloutRow{ID: r.ID, Version: r.Version, Status: string(r.Status), Actor: r.Actor, Source: r.Source,
		Total: len(items), Plan: string(planJSON), HoldID: r.HoldID, Reason: r.Reason, Note: r.Note,
		CreatedAt: created, UpdatedAt: created, ClosedAt: utcPtr(r.ClosedAt)}
	rows := make([]rolloutItemRow, 0, len(items))
	for _, it := range items {
		rows = append(rows, rolloutItemRow{RolloutID: r.ID, EmployeeID: it.EmployeeID, Status: string(tenure.RolloutItemPending),
			Apps: encodeList(it.Apps), FailedApps: "[]"})
	}
	err := db.w.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		res := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&row)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return tenure.Errorf(tenure.ECONFLICT, "rollout %q exists", r.ID)
		}
		if len(rows) == 0 {
			return nil
		}
		return tx.CreateInBatches(rows, 500).Error
	})
	return wrap("create rollout", err)
}

// AddRolloutItems adds people, pending, to an open rollout, in one
// transaction, leaving those it has already as they are, and counts the new
// ones into its total. It reports how many it added; ECONFLICT when the
// rollout has closed.
func (db *DB) AddRolloutItems(ctx context.Context, id string, items []tenure.RolloutItem) (int, error) {
	rows := make([]rolloutItemRow, 0, len(items))
	for _, it := range items {
		rows = append(rows, rolloutItemRow{RolloutID: id, EmployeeID: it.EmployeeID, Status: string(tenure.RolloutItemPending),
			Apps: encodeList(it.Apps), FailedApps: "[]"})
	}
	added := 0
	err := db.w.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		// Touching the row first keeps it open until this commits: a
		// concurrent close waits for it.
		open := []string{string(tenure.RolloutHeld), string(tenure.RolloutRunning)}
		res := tx.Model(&rolloutRow{}).Where("id = ? AND status IN ?", id, open).Update("total", gorm.Expr("total"))
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			r, err := db.GetRollout(ctx, id)
			if err != nil {
				return err
			}
			return tenure.Errorf(tenure.ECONFLICT, "rollout %s is %s: nobody can be added to it", id, r.Status)
		}
		if len(rows) == 0 {
			return nil
		}
		res = tx.Clauses(clause.OnConflict{DoNothing: true}).CreateInBatches(rows, 500)
		if res.Error != nil {
			return res.Error
		}
		added = int(res.RowsAffected)
		return tx.Model(&rolloutRow{}).Where("id = ?", id).Update("total", gorm.Expr("total + ?", added)).Error
	})
	if err != nil {
		return 0, wrap("add rollout items", err)
	}
	return added, nil
}

// GetRollout returns a rollout with its counts as they stand.
func (db *DB) GetRollout(ctx context.Context, id string) (tenure.Rollout, error) {
	var row rolloutRow
	err := db.r.WithContext(ctx).Where("id = ?", id).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return tenure.Rollout{}, notFound("rollout", id)
	}
	if err != nil {
		return tenure.Rollout{}, wrap("get rollout", err)
	}
	return db.countRollout(ctx, row)
}

// ListRollouts returns the latest rollouts of source ("" for all), newest first.
func (db *DB) ListRollouts(ctx context.Context, source string, limit int) ([]tenure.Rollout, error) {
	limit, _, err := page(limit, 0)
	if err != nil {
		return nil, err
	}
	q := db.r.WithContext(ctx)
	if source != "" {
		q = q.Where("source = ?", source)
	}
	var rows []rolloutRow
	if err := q.Order("created_at DESC, id DESC").Limit(limit).Find(&rows).Error; err != nil {
		return nil, wrap("list rollouts", err)
	}
	return db.countRollouts(ctx, rows)
}

// countRollouts returns rows as rollouts, each with its progress.
func (db *DB) countRollouts(ctx context.Context, rows []rolloutRow) ([]tenure.Rollout, error) {
	out := make([]tenure.Rollout, 0, len(rows))
	for _, row := range rows {
		r, err := db.countRollout(ctx, row)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// OpenRollouts returns the rollouts still open (held or running), oldest
// first: the order in which deploys supersede them.
func (db *DB) OpenRollouts(ctx context.Context) ([]tenure.Rollout, error) {
	var rows []rolloutRow
	err := db.r.WithContext(ctx).Where("status IN ?", []string{string(tenure.RolloutHeld), string(tenure.RolloutRunning)}).
		Order("created_at, id").Find(&rows).Error
	if err != nil {
		return nil, wrap("open rollouts", err)
	}
	return db.countRollouts(ctx, rows)
}

// countRollout adds the rollout's counts, from its items, to its row.
func (db *DB) countRollout(ctx context.Context, row rolloutRow) (tenure.Rollout, error) {
	r := tenure.Rollout{ID: row.ID, Version: row.Version, Status: tenure.RolloutStatus(row.Status), Actor: row.Actor,
		Source: row.Source, Total: row.Total, HoldID: row.HoldID, Reason: row.Reason, Note: row.Note,
		CreatedAt: row.CreatedAt.UTC(), UpdatedAt: row.UpdatedAt.UTC(), ClosedAt: utcPtr(row.ClosedAt),
		ByApp: map[string]tenure.AppProgress{}}
	_ = json.Unmarshal([]byte(row.Plan), &r.ByApp) // written by CreateRollout
	var items []rolloutItemRow
	err := db.r.WithContext(ctx).Select("status", "apps", "failed_apps").
		Where("rollout_id = ? AND status <> ?", row.ID, string(tenure.RolloutItemPending)).Find(&items).Error
	if err != nil {
		return tenure.Rollout{}, wrap("count rollout", err)
	}
	for _, it := range items {
		failed := decodeList(it.FailedApps)
		switch tenure.RolloutItemStatus(it.Status) {
		case tenure.RolloutItemFailed:
			r.Failed++
		case tenure.RolloutItemDeferred:
			r.Done++
			r.Deferred++
		case tenure.RolloutItemSkipped:
			r.Done++
			r.Skipped++
		default:
			r.Done++
		}
		for _, app := range decodeList(it.Apps) {
			p := r.ByApp[app]
			if slices.Contains(failed, app) {
				p.Failed++
			} else {
				p.Done++
			}
			r.ByApp[app] = p
		}
	}
	return r, nil
}

// SetRolloutStatus moves an open rollout (held or running) to status.
func (db *DB) SetRolloutStatus(ctx context.Context, id string, status tenure.RolloutStatus, note string, at time.Time) (bool, error) {
	at = orNow(at)
	updates := map[string]any{"status": string(status), "updated_at": at}
	if note != "" {
		updates["note"] = note
	}
	if !status.Open() {
		updates["closed_at"] = at
	}
	res := db.w.WithContext(ctx).Model(&rolloutRow{}).
		Where("id = ? AND status IN ?", id, []string{string(tenure.RolloutHeld), string(tenure.RolloutRunning)}).
		Updates(updates)
	if res.Error != nil {
		return false, wrap("set rollout status", res.Error)
	}
	if res.RowsAffected == 0 {
		if _, err := db.GetRollout(ctx, id); err != nil {
			return false, err
		}
	}
	return res.RowsAffected == 1, nil
}

// PendingRolloutItems returns up to limit pending people after after, in ID order.
func (db *DB) PendingRolloutItems(ctx context.Context, id, after string, limit int) ([]tenure.RolloutItem, error) {
	var rows []rolloutItemRow
	err := db.r.WithContext(ctx).Where("rollout_id = ? AND status = ? AND employee_id > ?", id, string(tenure.RolloutItemPending), after).
		Order("employee_id").Limit(max(limit, 1)).Find(&rows).Error
	if err != nil {
		return nil, wrap("pending rollout items", err)
	}
	return itemsOf(rows), nil
}

// ListRolloutItems returns the rollout's items for the people named, in ID order.
func (db *DB) ListRolloutItems(ctx context.Context, id string, employeeIDs []string) ([]tenure.RolloutItem, error) {
	if len(employeeIDs) == 0 {
		return nil, nil
	}
	var rows []rolloutItemRow
	err := db.r.WithContext(ctx).Where("rollout_id = ? AND employee_id IN ?", id, employeeIDs).Order("employee_id").Find(&rows).Error
	if err != nil {
		return nil, wrap("list rollout items", err)
	}
	return itemsOf(rows), nil
}

func itemsOf(rows []rolloutItemRow) []tenure.RolloutItem {
	out := make([]tenure.RolloutItem, 0, len(rows))
	for _, r := range rows {
		out = append(out, tenure.RolloutItem{RolloutID: r.RolloutID, EmployeeID: r.EmployeeID, Status: tenure.RolloutItemStatus(r.Status),
			Apps: decodeList(r.Apps), FailedApps: decodeList(r.FailedApps), Error: r.Error})
	}
	return out
}

// RecordRolloutOutcome moves a pending item to its outcome, once.
func (db *DB) RecordRolloutOutcome(ctx context.Context, it tenure.RolloutItem) error {
	if err := required([2]string{"rollout_id", it.RolloutID}, [2]string{"employee_id", it.EmployeeID}, [2]string{"status", string(it.Status)}); err != nil {
		return err
	}
	if it.Status == tenure.RolloutItemPending {
		return tenure.Invalid(tenure.FieldError{Field: "status", Problem: "must be an outcome, not pending"})
	}
	err := db.w.WithContext(ctx).Model(&rolloutItemRow{}).
		Where("rollout_id = ? AND employee_id = ? AND status = ?", it.RolloutID, it.EmployeeID, string(tenure.RolloutItemPending)).
		Updates(map[string]any{"status": string(it.Status), "failed_apps": encodeList(it.FailedApps), "error": it.Error}).Error
	return wrap("record rollout outcome", err)
}

// EachPersonAccess calls fn with everyone who is not terminated, with their
// accounts and grants, a page of people at a time: three queries per page,
// keyed on the ID, so that a page costs the same however deep it is.
func (db *DB) EachPersonAccess(ctx context.Context, fn func(tenure.PersonAccess) error) error {
	after := ""
	for {
		var people []employeeRow
		err := db.r.WithContext(ctx).Where("id > ? AND status <> ?", after, string(tenure.PersonTerminated)).
			Order("id").Limit(MaxLimit).Find(&people).Error
		if err != nil {
			return wrap("each person's access: employees", err)
		}
		if len(people) == 0 {
			return nil
		}
		ids := make([]string, len(people))
		for i, p := range people {
			ids[i] = p.ID
		}
		var accounts []accountRow
		if err := db.r.WithContext(ctx).Where("employee_id IN ?", ids).Order("employee_id, app").Find(&accounts).Error; err != nil {
			return wrap("each person's access: accounts", err)
		}
		var grants []grantRow
		if err := db.r.WithContext(ctx).Where("employee_id IN ?", ids).Order("employee_id, app, entitlement").Find(&grants).Error; err != nil {
			return wrap("each person's access: grants", err)
		}
		byAccount := map[string][]tenure.Account{}
		for _, a := range accounts {
			byAccount[a.EmployeeID] = append(byAccount[a.EmployeeID], a.domain())
		}
		byGrant := map[string][]tenure.GrantRecord{}
		for _, g := range grants {
			byGrant[g.EmployeeID] = append(byGrant[g.EmployeeID], g.domain())
		}
		for _, p := range people {
			if err := fn(tenure.PersonAccess{Employee: p.domain(), Accounts: byAccount[p.ID], Grants: byGrant[p.ID]}); err != nil {
				return err
			}
		}
		if len(people) < MaxLimit {
			return nil
		}
		after = people[len(people)-1].ID
	}
}

var (
	_ tenure.PolicyStore  = (*DB)(nil)
	_ tenure.RolloutStore = (*DB)(nil)
	_ tenure.AccessReader = (*DB)(nil)
)
