package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/tenure-io/tenure"
)

// The audit trail is one hash chain (see tenure.AuditRecord.ChainHash). An
// append reads the head and writes the next record in one transaction, and
// appends are serialised: on SQLite by its single writer (BEGIN IMMEDIATE, which
// other processes on the file wait for too), on PostgreSQL by an advisory lock
// that every process takes for the transaction.

var _ tenure.AuditChain = (*DB)(nil)

// AppendAudit inserts r unless a record with its Key exists, so a retried step
// leaves one entry. At defaults to now. The record becomes the chain's next:
// the store assigns its Seq, PrevHash and Hash, and ignores any r carries.
func (db *DB) AppendAudit(ctx context.Context, r tenure.AuditRecord) error {
	if err := validAudit(r); err != nil {
		return err
	}
	err := db.w.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		return db.appendAudit(tx, []tenure.AuditRecord{r})
	})
	return wrap("append audit", err)
}

func validAudit(r tenure.AuditRecord) error {
	return required([2]string{"key", r.Key}, [2]string{"action", r.Action})
}

// appendAudit makes records the chain's next, in order, inside tx; a record
// whose Key is recorded already is left out, and the next one links to the
// head as it was.
func (db *DB) appendAudit(tx *gorm.DB, records []tenure.AuditRecord) error {
	if len(records) == 0 {
		return nil
	}
	if err := db.lockChain(tx); err != nil {
		return err
	}
	head, err := chainHead(tx)
	if err != nil {
		return err
	}
	for _, r := range records {
		row := toAuditRow(r)
		link(&row, head)
		// A record with the key leaves the chain as it was: the insert does
		// nothing.
		res := tx.Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "key"}}, DoNothing: true}).Create(&row)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 1 {
			head = headOf(row.domain())
		}
	}
	return nil
}

// ListAudit returns one page of the audit trail, newest first (ties by key),
// filtered by person, action and a lower bound on time (inclusive).
func (db *DB) ListAudit(ctx context.Context, f tenure.AuditFilter) ([]tenure.AuditRecord, error) {
	return db.ListAuditBetween(ctx, f, time.Time{})
}

// auditLockClass is an arbitrary constant ("audt" in ASCII) naming the audit
// chain's advisory lock; the lock's second key is the schema, so deployments
// that share a database in different schemas do not wait for each other.
const auditLockClass = 0x61756474

// lockChain serialises appends to the chain until tx ends. On SQLite the write
// transaction already holds the database's one write lock.
func (db *DB) lockChain(tx *gorm.DB) error {
	if db.backend != Postgres {
		return nil
	}
	return tx.Exec("SELECT pg_advisory_xact_lock(?, hashtext(current_schema()))", auditLockClass).Error
}

// chainHead reads the chain's last record: the zero AuditHead when it is empty.
func chainHead(q *gorm.DB) (tenure.AuditHead, error) {
	var rows []auditRow
	// PostgreSQL sorts NULLs first when descending: leave unchained records out.
	// Only what a head is: the whole row would read its detail too.
	err := q.Select([]string{"seq", "hash", "at"}).Where("seq IS NOT NULL").Order("seq DESC").Limit(1).Find(&rows).Error
	if err != nil {
		return tenure.AuditHead{}, err
	}
	if len(rows) == 0 {
		return tenure.AuditHead{}, nil
	}
	return headOf(rows[0].domain()), nil
}

func headOf(r tenure.AuditRecord) tenure.AuditHead {
	return tenure.AuditHead{Seq: r.Seq, Hash: r.Hash, At: r.At}
}

// link makes row the record after head.
func link(row *auditRow, head tenure.AuditHead) {
	seq := head.Seq + 1
	row.Seq, row.PrevHash = &seq, head.Hash
	row.Hash = row.domain().ChainHash()
}

// chainUnchained gives every record without a place in the chain one after the
// head, in their order (at, key): at the upgrade that adds the chain, every
// record written before it. It runs inside Migrate's transaction.
func (db *DB) chainUnchained(tx *gorm.DB) error {
	if err := db.lockChain(tx); err != nil {
		return err
	}
	head, err := chainHead(tx)
	if err != nil {
		return err
	}
	for {
		var rows []auditRow
		if err := tx.Where("seq IS NULL").Order(`"at", "key"`).Limit(MaxLimit).Find(&rows).Error; err != nil {
			return err
		}
		for i := range rows {
			link(&rows[i], head)
			err := tx.Model(&auditRow{}).Where(`"key" = ?`, rows[i].Key).
				Updates(map[string]any{"seq": *rows[i].Seq, "prev_hash": rows[i].PrevHash, "hash": rows[i].Hash}).Error
			if err != nil {
				return err
			}
			head = headOf(rows[i].domain())
		}
		if len(rows) < MaxLimit {
			return nil
		}
	}
}

// AuditHead returns the chain's last record, or the zero AuditHead when the
// trail is empty.
func (db *DB) AuditHead(ctx context.Context) (tenure.AuditHead, error) {
	head, err := chainHead(db.r.WithContext(ctx))
	return head, wrap("read the audit head", err)
}

// verifyPage is how many records VerifyAudit reads at a time.
const verifyPage = 1000

// VerifyAudit walks the chain after from, a page at a time, recomputing every
// hash; see tenure.AuditChain. It reports the first record that was altered (its
// hash does not match it), deleted (a gap in seq), or inserted or moved (its
// prev_hash is not the hash of the record before it), and any record outside
// the chain. Deleting records from the end leaves no trace in the chain itself:
// only a mark (a signed checkpoint) past the end shows it.
func (db *DB) VerifyAudit(ctx context.Context, from tenure.AuditHead, marks ...tenure.AuditHead) (tenure.AuditVerification, error) {
	var v tenure.AuditVerification
	want := map[int64]string{}
	for _, m := range marks {
		want[m.Seq] = m.Hash
	}
	q := db.r.WithContext(ctx)
	if from.Seq > 0 {
		var rows []auditRow
		if err := q.Where("seq = ?", from.Seq).Limit(1).Find(&rows).Error; err != nil {
			return v, wrap("verify audit", err)
		}
		if len(rows) == 0 {
			return v, &tenure.AuditBreak{Seq: from.Seq, Problem: "the record is missing: it was deleted"}
		}
		rec := rows[0].domain()
		want[rec.Seq] = from.Hash
		if err := checkRecord(rec, tenure.AuditHead{Seq: rec.Seq - 1, Hash: rec.PrevHash}, "", want); err != nil {
			return v, err
		}
		v.Records, v.Head = 1, headOf(rec)
	}
	prevKey := ""
	for {
		var rows []auditRow
		if err := q.Where("seq > ?", v.Head.Seq).Order("seq").Limit(verifyPage).Find(&rows).Error; err != nil {
			return v, wrap("verify audit", err)
		}
		for _, row := range rows {
			rec := row.domain()
			if err := checkRecord(rec, v.Head, prevKey, want); err != nil {
				return v, err
			}
			v.Records++
			v.Head, prevKey = headOf(rec), rec.Key
		}
		if len(rows) < verifyPage {
			break
		}
	}
	past := int64(0)
	for seq := range want {
		if seq > v.Head.Seq && (past == 0 || seq < past) {
			past = seq
		}
	}
	if past > 0 {
		return v, &tenure.AuditBreak{Seq: past, Problem: fmt.Sprintf(
			"the chain ends at seq %d, but a signed checkpoint vouches for seq %d: records were deleted from its end", v.Head.Seq, past)}
	}
	var stray []auditRow
	if err := q.Where("seq IS NULL").Order(`"at", "key"`).Limit(1).Find(&stray).Error; err != nil {
		return v, wrap("verify audit", err)
	}
	if len(stray) > 0 {
		return v, &tenure.AuditBreak{Key: stray[0].Key, Problem: "the record is outside the chain (it has no seq): " +
			"it was inserted directly, or written by a Tenure older than the chain after the upgrade (tenure migrate chains those)"}
	}
	return v, nil
}

// checkRecord checks rec against the record before it (prev, whose key is
// prevKey when known) and against the hash a mark holds for its seq.
func checkRecord(rec tenure.AuditRecord, prev tenure.AuditHead, prevKey string, want map[int64]string) error {
	if rec.Seq != prev.Seq+1 {
		return &tenure.AuditBreak{Seq: prev.Seq + 1, Problem: fmt.Sprintf(
			"the record is missing: the chain goes from seq %d to seq %d (key %q), so it was deleted", prev.Seq, rec.Seq, rec.Key)}
	}
	if rec.PrevHash != prev.Hash {
		before := fmt.Sprintf("seq %d", prev.Seq)
		if prevKey != "" {
			before += fmt.Sprintf(" (key %q)", prevKey)
		}
		return &tenure.AuditBreak{Seq: rec.Seq, Key: rec.Key, Problem: "its prev_hash is not the hash of " + before +
			": a record was inserted or replaced before it, or it was moved"}
	}
	if rec.ChainHash() != rec.Hash {
		return &tenure.AuditBreak{Seq: rec.Seq, Key: rec.Key, Problem: "its hash does not match its contents: it was altered"}
	}
	if h, ok := want[rec.Seq]; ok && h != rec.Hash {
		return &tenure.AuditBreak{Seq: rec.Seq, Key: rec.Key, Problem: fmt.Sprintf(
			"its hash is %s, but a signed checkpoint holds %s for seq %d: the chain was rewritten", short(rec.Hash), short(h), rec.Seq)}
	}
	return nil
}

func short(hash string) string {
	if len(hash) > 16 {
		return hash[:16] + "…"
	}
	return hash
}

// SaveAuditCheckpoint stores c unless a checkpoint of its Seq by its key
// exists, and returns the one stored.
func (db *DB) SaveAuditCheckpoint(ctx context.Context, c tenure.SignedAuditCheckpoint) (tenure.SignedAuditCheckpoint, error) {
	var fe []tenure.FieldError
	if c.Seq <= 0 {
		fe = append(fe, tenure.FieldError{Field: "seq", Problem: "must be positive"})
	}
	if strings.TrimSpace(c.Hash) == "" {
		fe = append(fe, tenure.FieldError{Field: "hash", Problem: "is required"})
	}
	if strings.TrimSpace(c.KeyID) == "" {
		fe = append(fe, tenure.FieldError{Field: "key_id", Problem: "is required"})
	}
	if !json.Valid(c.Envelope) {
		fe = append(fe, tenure.FieldError{Field: "envelope", Problem: "must be JSON"})
	}
	if fe != nil {
		return tenure.SignedAuditCheckpoint{}, tenure.Invalid(fe...)
	}
	row := auditCheckpointRow{
		Seq: c.Seq, Hash: c.Hash, At: utc(c.At), SignedAt: orNow(c.SignedAt), KeyID: c.KeyID, Envelope: string(c.Envelope),
	}
	err := db.w.WithContext(ctx).Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "seq"}, {Name: "key_id"}}, DoNothing: true}).Create(&row).Error
	if err != nil {
		return tenure.SignedAuditCheckpoint{}, wrap("save audit checkpoint", err)
	}
	var rows []auditCheckpointRow
	if err := db.w.WithContext(ctx).Where("seq = ? AND key_id = ?", c.Seq, c.KeyID).Limit(1).Find(&rows).Error; err != nil {
		return tenure.SignedAuditCheckpoint{}, wrap("save audit checkpoint", err)
	}
	if len(rows) == 0 {
		return tenure.SignedAuditCheckpoint{}, notFound("audit checkpoint", fmt.Sprint(c.Seq))
	}
	return rows[0].domain(), nil
}

// LatestAuditCheckpoint returns the checkpoint of the highest Seq (the last
// signed, when two keys signed it), or ENOTFOUND when there is none.
func (db *DB) LatestAuditCheckpoint(ctx context.Context) (tenure.SignedAuditCheckpoint, error) {
	var rows []auditCheckpointRow
	if err := db.r.WithContext(ctx).Order("seq DESC, signed_at DESC").Limit(1).Find(&rows).Error; err != nil {
		return tenure.SignedAuditCheckpoint{}, wrap("read the latest audit checkpoint", err)
	}
	if len(rows) == 0 {
		return tenure.SignedAuditCheckpoint{}, tenure.Errorf(tenure.ENOTFOUND, "there is no audit checkpoint yet")
	}
	return rows[0].domain(), nil
}
