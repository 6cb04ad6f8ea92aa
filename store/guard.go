package store

import (
	"context"
	"errors"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/tenure-io/tenure"
)

// The blast-radius guard's tables: each source's sliding window of people, the
// holds, and the people and HR events each hold keeps. A Guard call reads the
// window and writes it in one transaction, serialised with every other Guard
// call and every decision on a hold: on SQLite by its single writer (BEGIN
// IMMEDIATE, which other processes on the file wait for too), on PostgreSQL by
// an advisory lock every process takes for the transaction. So two API
// processes cannot both count the same free places in a window, and no event
// joins a hold that is being decided.

var _ tenure.GuardStore = (*DB)(nil)

// guardWindowRow is one person in one source's window: counted at At, the last
// time the source disabled or revoked their access.
type guardWindowRow struct {
	Source     string    `gorm:"primaryKey;index:idx_guard_window_at,priority:1"`
	EmployeeID string    `gorm:"primaryKey"`
	At         time.Time `gorm:"not null;index:idx_guard_window_at,priority:2"`
	Operation  string    `gorm:"not null"`
}

func (guardWindowRow) TableName() string { return "guard_window" }

type holdRow struct {
	ID         string    `gorm:"primaryKey"`
	Source     string    `gorm:"not null;index:idx_guard_holds_open,priority:2"`
	Operation  string    `gorm:"not null"`
	Actor      string    `gorm:"not null"`
	WorkflowID string    `gorm:"not null"`
	Status     string    `gorm:"not null;index:idx_guard_holds_open,priority:1"`
	Reason     string    `gorm:"not null"`
	People     int       `gorm:"not null"`
	Events     int       `gorm:"not null"`
	CreatedAt  time.Time `gorm:"not null;index:idx_guard_holds_created"`
	UpdatedAt  time.Time `gorm:"not null"`
	DecidedBy  string    `gorm:"not null"`
	DecidedAt  *time.Time
	Note       string `gorm:"not null"`
}

func (holdRow) TableName() string { return "guard_holds" }

func (r holdRow) domain() tenure.Hold {
	return tenure.Hold{
		ID: r.ID, Source: r.Source, Operation: r.Operation, Actor: r.Actor, WorkflowID: r.WorkflowID,
		Status: tenure.HoldStatus(r.Status), Reason: r.Reason, People: r.People, Events: r.Events,
		CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(), DecidedBy: r.DecidedBy,
		DecidedAt: utcPtr(r.DecidedAt), Note: r.Note,
	}
}

// holdPersonRow is one person a hold holds; Seq keeps the order they came in.
type holdPersonRow struct {
	HoldID     string `gorm:"primaryKey"`
	EmployeeID string `gorm:"primaryKey"`
	Seq        int    `gorm:"not null"`
}

func (holdPersonRow) TableName() string { return "guard_hold_people" }

// holdEventRow is one HR event a hold keeps. The event itself, its body
// included, is the events table's row, with status held until the decision.
type holdEventRow struct {
	EventID    string `gorm:"primaryKey"`
	HoldID     string `gorm:"not null;index:idx_guard_hold_events_hold,priority:1"`
	Seq        int    `gorm:"not null;index:idx_guard_hold_events_hold,priority:2"`
	EmployeeID string `gorm:"not null;index:idx_guard_hold_events_employee"`
}

func (holdEventRow) TableName() string { return "guard_hold_events" }

// guardLockClass is an arbitrary constant ("gard" in ASCII) naming the guard's
// advisory lock; its second key is the schema, as for the audit chain's.
const guardLockClass = 0x67617264

// lockGuard serialises Guard calls and hold decisions until tx ends. On SQLite
// the write transaction already holds the database's one write lock.
func (db *DB) lockGuard(tx *gorm.DB) error {
	if db.backend != Postgres {
		return nil
	}
	return tx.Exec("SELECT pg_advisory_xact_lock(?, hashtext(current_schema()))", guardLockClass).Error
}

// inChunk bounds the IN lists of the guard's queries, well under both
// databases' limits on parameters.
const inChunk = 500

// chunks calls fn with ids a slice at a time.
func chunks(ids []string, fn func([]string) error) error {
	for len(ids) > 0 {
		n := min(len(ids), inChunk)
		if err := fn(ids[:n]); err != nil {
			return err
		}
		ids = ids[n:]
	}
	return nil
}

// Guard reads the window and holds for q, lets decide choose, and records it,
// all in one serialised transaction. Window entries older than q.Since are
// pruned as it goes.
func (db *DB) Guard(ctx context.Context, q tenure.GuardQuery, decide func(tenure.GuardState) (tenure.GuardWrite, error)) (tenure.GuardResult, error) {
	if err := required([2]string{"source", q.Source}); err != nil {
		return tenure.GuardResult{}, err
	}
	res := tenure.GuardResult{HeldEvents: map[string]string{}}
	err := db.w.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := db.lockGuard(tx); err != nil {
			return err
		}
		st, err := guardState(tx, q)
		if err != nil {
			return err
		}
		w, err := decide(st)
		if err != nil {
			return err
		}
		at := orNow(q.At)
		if err := tx.Where("source = ? AND at < ?", q.Source, utc(q.Since)).Delete(&guardWindowRow{}).Error; err != nil {
			return err
		}
		if len(w.Window) > 0 {
			rows := make([]guardWindowRow, 0, len(w.Window))
			for _, id := range w.Window {
				rows = append(rows, guardWindowRow{Source: q.Source, EmployeeID: id, At: at})
			}
			err := tx.Clauses(clause.OnConflict{
				Columns:   []clause.Column{{Name: "source"}, {Name: "employee_id"}},
				DoUpdates: clause.AssignmentColumns([]string{"at"}),
			}).CreateInBatches(rows, inChunk).Error
			if err != nil {
				return err
			}
		}
		touched := map[string]bool{}
		if h := w.NewHold; h != nil {
			row := holdRow{ID: h.ID, Source: h.Source, Operation: h.Operation, Actor: h.Actor, WorkflowID: h.WorkflowID,
				Status: string(tenure.HoldOpen), Reason: h.Reason, CreatedAt: at, UpdatedAt: at}
			if err := tx.Create(&row).Error; err != nil {
				return err
			}
			touched[h.ID] = true
		}
		for id, people := range w.HoldPeople {
			if err := addHoldPeople(tx, id, people); err != nil {
				return err
			}
			touched[id] = true
		}
		for id, events := range w.HoldEvents {
			if err := addHoldEvents(tx, id, events, res.HeldEvents); err != nil {
				return err
			}
			touched[id] = true
		}
		for id := range touched {
			if err := recountHold(tx, id, at); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return tenure.GuardResult{}, wrap("guard", err)
	}
	return res, nil
}

// PeekGuard reads what Guard would decide on, writing nothing.
func (db *DB) PeekGuard(ctx context.Context, q tenure.GuardQuery) (tenure.GuardState, error) {
	st, err := guardState(db.r.WithContext(ctx), q)
	return st, wrap("peek guard", err)
}

// guardState reads the window of q.Source and the open holds of q.People.
func guardState(tx *gorm.DB, q tenure.GuardQuery) (tenure.GuardState, error) {
	st := tenure.GuardState{InWindow: map[string]bool{}, Blocked: map[string]string{}}
	since := utc(q.Since)
	var n int64
	if err := tx.Model(&guardWindowRow{}).Where("source = ? AND at >= ?", q.Source, since).Count(&n).Error; err != nil {
		return st, err
	}
	st.Window = int(n)
	err := chunks(unique(q.People), func(ids []string) error {
		var in []string
		err := tx.Model(&guardWindowRow{}).Where("source = ? AND at >= ? AND employee_id IN ?", q.Source, since, ids).
			Pluck("employee_id", &in).Error
		if err != nil {
			return err
		}
		for _, id := range in {
			st.InWindow[id] = true
		}
		var blocked []struct{ EmployeeID, HoldID string }
		err = tx.Table("guard_hold_events e").Select("e.employee_id, e.hold_id").
			Joins("JOIN guard_holds h ON h.id = e.hold_id").
			Where("h.status = ? AND e.employee_id IN ?", string(tenure.HoldOpen), ids).
			Order("h.created_at, h.id, e.seq").Scan(&blocked).Error
		if err != nil {
			return err
		}
		for _, b := range blocked {
			if _, ok := st.Blocked[b.EmployeeID]; !ok {
				st.Blocked[b.EmployeeID] = b.HoldID
			}
		}
		return nil
	})
	if err != nil {
		return st, err
	}
	var open []string
	err = tx.Model(&holdRow{}).Where("source = ? AND status = ? AND workflow_id = ''", q.Source, string(tenure.HoldOpen)).
		Order("created_at, id").Limit(1).Pluck("id", &open).Error
	if err != nil {
		return st, err
	}
	if len(open) > 0 {
		st.OpenHold = open[0]
	}
	return st, nil
}

// unique keeps the first of each ID, in order.
func unique(ids []string) []string {
	seen := make(map[string]bool, len(ids))
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

// nextSeq is one more than the largest seq of table's rows of a hold.
func nextSeq(tx *gorm.DB, table, holdID string) (int, error) {
	var last *int
	if err := tx.Table(table).Where("hold_id = ?", holdID).Select("MAX(seq)").Scan(&last).Error; err != nil {
		return 0, err
	}
	if last == nil {
		return 1, nil
	}
	return *last + 1, nil
}

func addHoldPeople(tx *gorm.DB, holdID string, people []string) error {
	seq, err := nextSeq(tx, "guard_hold_people", holdID)
	if err != nil {
		return err
	}
	rows := make([]holdPersonRow, 0, len(people))
	for i, id := range unique(people) {
		rows = append(rows, holdPersonRow{HoldID: holdID, EmployeeID: id, Seq: seq + i})
	}
	if len(rows) == 0 {
		return nil
	}
	return tx.Clauses(clause.OnConflict{DoNothing: true}).CreateInBatches(rows, inChunk).Error
}

// addHoldEvents records events as held in the event log and keeps them in the
// hold. An event already received under its ID stays as it was: only one that
// is held, with the same body, is (still) held, in the hold that first kept it.
func addHoldEvents(tx *gorm.DB, holdID string, events []tenure.EventRecord, held map[string]string) error {
	if len(events) == 0 {
		return nil
	}
	rows := make([]eventRow, 0, len(events))
	ids := make([]string, 0, len(events))
	hash := make(map[string]string, len(events))
	for _, ev := range events {
		ev.Status = tenure.EventHeld
		rows = append(rows, toEventRow(ev))
		ids = append(ids, ev.ID)
		hash[ev.ID] = ev.BodyHash
	}
	if err := tx.Clauses(clause.OnConflict{DoNothing: true}).CreateInBatches(rows, inChunk).Error; err != nil {
		return err
	}
	seq, err := nextSeq(tx, "guard_hold_events", holdID)
	if err != nil {
		return err
	}
	var keep []holdEventRow
	err = chunks(ids, func(chunk []string) error {
		var stored []eventRow
		if err := tx.Select("id", "employee_id", "status", "body_hash").Where("id IN ?", chunk).Find(&stored).Error; err != nil {
			return err
		}
		ok := map[string]string{}
		for _, s := range stored {
			if s.Status == string(tenure.EventHeld) && s.BodyHash == hash[s.ID] {
				ok[s.ID] = s.EmployeeID
			}
		}
		for _, id := range chunk {
			if emp, held := ok[id]; held {
				keep = append(keep, holdEventRow{EventID: id, HoldID: holdID, Seq: seq, EmployeeID: emp})
				seq++
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if len(keep) == 0 {
		return nil
	}
	if err := tx.Clauses(clause.OnConflict{DoNothing: true}).CreateInBatches(keep, inChunk).Error; err != nil {
		return err
	}
	// Report the hold that keeps each: an event held before stays in its own.
	return chunks(ids, func(chunk []string) error {
		var kept []holdEventRow
		if err := tx.Where("event_id IN ?", chunk).Find(&kept).Error; err != nil {
			return err
		}
		for _, k := range kept {
			held[k.EventID] = k.HoldID
		}
		return nil
	})
}

// recountHold brings a hold's counts of people and events up to date.
func recountHold(tx *gorm.DB, id string, at time.Time) error {
	var people, events int64
	if err := tx.Model(&holdPersonRow{}).Where("hold_id = ?", id).Count(&people).Error; err != nil {
		return err
	}
	if err := tx.Model(&holdEventRow{}).Where("hold_id = ?", id).Count(&events).Error; err != nil {
		return err
	}
	return tx.Model(&holdRow{}).Where("id = ?", id).
		Updates(map[string]any{"people": int(people), "events": int(events), "updated_at": at}).Error
}

// GetHold returns one hold; ENOTFOUND when there is none.
func (db *DB) GetHold(ctx context.Context, id string) (tenure.Hold, error) {
	var row holdRow
	err := db.r.WithContext(ctx).Where("id = ?", id).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return tenure.Hold{}, notFound("hold", id)
	}
	if err != nil {
		return tenure.Hold{}, wrap("get hold", err)
	}
	out := []tenure.Hold{row.domain()}
	if err := db.pending(ctx, out); err != nil {
		return tenure.Hold{}, err
	}
	return out[0], nil
}

// ListHolds returns one page of holds, newest first.
func (db *DB) ListHolds(ctx context.Context, f tenure.HoldFilter) ([]tenure.Hold, error) {
	limit, offset, err := page(f.Limit, f.Offset)
	if err != nil {
		return nil, err
	}
	if f.Status != "" && !f.Status.Valid() {
		return nil, tenure.Invalid(tenure.FieldError{Field: "status", Problem: "must be held, released or discarded"})
	}
	q := db.r.WithContext(ctx).Model(&holdRow{})
	if f.Status != "" {
		q = q.Where("status = ?", string(f.Status))
	}
	var rows []holdRow
	if err := q.Order("created_at DESC, id").Limit(limit).Offset(offset).Find(&rows).Error; err != nil {
		return nil, wrap("list holds", err)
	}
	out := make([]tenure.Hold, 0, len(rows))
	for _, r := range rows {
		out = append(out, r.domain())
	}
	return out, db.pending(ctx, out)
}

// pending fills in how many of each hold's events are still held.
func (db *DB) pending(ctx context.Context, holds []tenure.Hold) error {
	if len(holds) == 0 {
		return nil
	}
	ids := make([]string, len(holds))
	for i, h := range holds {
		ids[i] = h.ID
	}
	var counts []struct {
		HoldID string
		N      int
	}
	err := db.r.WithContext(ctx).Table("guard_hold_events he").Select("he.hold_id, COUNT(*) AS n").
		Joins("JOIN events e ON e.id = he.event_id").
		Where("he.hold_id IN ? AND e.status = ?", ids, string(tenure.EventHeld)).
		Group("he.hold_id").Scan(&counts).Error
	if err != nil {
		return wrap("count held events", err)
	}
	by := map[string]int{}
	for _, c := range counts {
		by[c.HoldID] = c.N
	}
	for i := range holds {
		holds[i].Pending = by[holds[i].ID]
	}
	return nil
}

// ListHoldPeople returns up to limit (MaxLimit at most) of the people a hold
// holds, in the order they were held.
func (db *DB) ListHoldPeople(ctx context.Context, id string, limit int) ([]string, error) {
	limit, _, err := page(limit, 0)
	if err != nil {
		return nil, err
	}
	out := []string{}
	err = db.r.WithContext(ctx).Model(&holdPersonRow{}).Where("hold_id = ?", id).
		Order("seq").Limit(limit).Pluck("employee_id", &out).Error
	return out, wrap("list hold people", err)
}

// ListHoldEvents returns every HR event a hold keeps, in the order held, as the
// event log holds it now.
func (db *DB) ListHoldEvents(ctx context.Context, id string) ([]tenure.EventRecord, error) {
	var rows []eventRow
	err := db.r.WithContext(ctx).Table("events").Select("events.*").
		Joins("JOIN guard_hold_events he ON he.event_id = events.id").
		Where("he.hold_id = ?", id).Order("he.seq").Find(&rows).Error
	if err != nil {
		return nil, wrap("list hold events", err)
	}
	out := make([]tenure.EventRecord, 0, len(rows))
	for _, r := range rows {
		out = append(out, r.domain())
	}
	return out, nil
}

// DecideHold moves an open hold to status, in a transaction serialised with
// Guard calls, so that no event joins the hold once it is decided.
func (db *DB) DecideHold(ctx context.Context, id string, status tenure.HoldStatus, by, note string, at time.Time) (tenure.Hold, bool, error) {
	if status != tenure.HoldReleased && status != tenure.HoldDiscarded {
		return tenure.Hold{}, false, tenure.Invalid(tenure.FieldError{Field: "status", Problem: "must be released or discarded"})
	}
	if err := required([2]string{"by", by}); err != nil {
		return tenure.Hold{}, false, err
	}
	changed := false
	err := db.w.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := db.lockGuard(tx); err != nil {
			return err
		}
		var row holdRow
		err := tx.Where("id = ?", id).Take(&row).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return notFound("hold", id)
		}
		if err != nil {
			return err
		}
		switch tenure.HoldStatus(row.Status) {
		case status:
			return nil
		case tenure.HoldOpen:
		default:
			return tenure.Errorf(tenure.ECONFLICT, "hold %s is already %s by %s", id, row.Status, row.DecidedBy)
		}
		at := orNow(at)
		changed = true
		return tx.Model(&holdRow{}).Where("id = ? AND status = ?", id, string(tenure.HoldOpen)).Updates(map[string]any{
			"status": string(status), "decided_by": by, "decided_at": at, "note": note, "updated_at": at,
		}).Error
	})
	if err != nil {
		return tenure.Hold{}, false, wrap("decide hold", err)
	}
	h, err := db.GetHold(ctx, id)
	return h, changed, err
}

// CountOpenHolds counts the holds waiting for a decision, per source.
func (db *DB) CountOpenHolds(ctx context.Context) (map[string]int, error) {
	var counts []struct {
		Source string
		N      int
	}
	err := db.r.WithContext(ctx).Model(&holdRow{}).Select("source, COUNT(*) AS n").
		Where("status = ?", string(tenure.HoldOpen)).Group("source").Scan(&counts).Error
	if err != nil {
		return nil, wrap("count holds", err)
	}
	out := make(map[string]int, len(counts))
	for _, c := range counts {
		out[c.Source] = c.N
	}
	return out, nil
}

// EmployeesByID returns the HR records of those of ids that the read model has.
func (db *DB) EmployeesByID(ctx context.Context, ids []string) (map[string]tenure.Employee, error) {
	out := make(map[string]tenure.Employee, len(ids))
	err := chunks(unique(ids), func(chunk []string) error {
		var rows []employeeRow
		if err := db.r.WithContext(ctx).Where("id IN ?", chunk).Find(&rows).Error; err != nil {
			return err
		}
		for _, r := range rows {
			out[r.ID] = r.domain()
		}
		return nil
	})
	return out, wrap("get employees", err)
}

// EventsByID returns the events of those of ids that the read model has.
func (db *DB) EventsByID(ctx context.Context, ids []string) (map[string]tenure.EventRecord, error) {
	out := make(map[string]tenure.EventRecord, len(ids))
	err := chunks(unique(ids), func(chunk []string) error {
		var rows []eventRow
		if err := db.r.WithContext(ctx).Where("id IN ?", chunk).Find(&rows).Error; err != nil {
			return err
		}
		for _, r := range rows {
			out[r.ID] = r.domain()
		}
		return nil
	})
	return out, wrap("get events", err)
}
