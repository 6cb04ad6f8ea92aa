package store_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/store"
	"github.com/tenure-io/tenure/store/storetest"
)

// auditRecord is the i-th record a test appends.
func auditRecord(i int) tenure.AuditRecord {
	return tenure.AuditRecord{
		Key: fmt.Sprintf("E%d/ev%d/github/disable", i%3, i), At: ts(i % 50), Actor: "tenure",
		Action: "account.disabled", EmployeeID: fmt.Sprint("E", i%3), App: "github",
		WorkflowID: fmt.Sprintf("employee/E%d/leaver/ev%d", i%3, i), Detail: fmt.Sprintf("disabled account %d", i),
	}
}

// appendAudit appends records 1..n.
func appendAudit(t *testing.T, db *store.DB, n int) {
	t.Helper()
	for i := 1; i <= n; i++ {
		must(t, db.AppendAudit(ctx, auditRecord(i)))
	}
}

// chained returns the whole trail in chain order.
func chained(t *testing.T, db *store.DB) []tenure.AuditRecord {
	t.Helper()
	all, err := db.ListAudit(ctx, tenure.AuditFilter{Limit: store.MaxLimit})
	must(t, err)
	slices.SortFunc(all, func(a, b tenure.AuditRecord) int { return int(a.Seq - b.Seq) })
	return all
}

// wantChain checks that recs are the chain 1..len(recs), each linked to the one
// before and carrying its own hash.
func wantChain(t *testing.T, recs []tenure.AuditRecord) {
	t.Helper()
	prev := ""
	for i, r := range recs {
		if r.Seq != int64(i+1) || r.PrevHash != prev || r.Hash != r.ChainHash() || len(r.Hash) != 64 {
			t.Fatalf("record %d = %+v, want seq %d after hash %q, with its own hash", i, r, i+1, prev)
		}
		prev = r.Hash
	}
}

func TestAuditChain(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		head, err := db.AuditHead(ctx)
		must(t, err)
		if head != (tenure.AuditHead{}) {
			t.Fatalf("empty trail's head = %+v", head)
		}
		v, err := db.VerifyAudit(ctx, tenure.AuditHead{})
		must(t, err)
		if v.Records != 0 {
			t.Fatalf("empty trail verified %d records", v.Records)
		}

		// A caller's own seq and hashes are ignored: the store assigns them.
		forged := auditRecord(1)
		forged.Seq, forged.PrevHash, forged.Hash = 99, "x", "y"
		must(t, db.AppendAudit(ctx, forged))
		for i := 2; i <= 7; i++ {
			must(t, db.AppendAudit(ctx, auditRecord(i)))
		}
		// A retried step appends nothing: no seq is used up.
		retried := auditRecord(3)
		retried.Detail = "retried"
		must(t, db.AppendAudit(ctx, retried))
		must(t, db.AppendAudit(ctx, auditRecord(8)))

		recs := chained(t, db)
		wantChain(t, recs)
		if len(recs) != 8 || recs[2].Detail != "disabled account 3" || recs[7].Key != auditRecord(8).Key {
			t.Fatalf("chain = %+v", recs)
		}
		head, err = db.AuditHead(ctx)
		must(t, err)
		if head.Seq != 8 || head.Hash != recs[7].Hash || !head.At.Equal(recs[7].At) {
			t.Fatalf("head = %+v, want the 8th record", head)
		}
		v, err = db.VerifyAudit(ctx, tenure.AuditHead{})
		must(t, err)
		if v.Records != 8 || v.Head.Seq != 8 || v.Head.Hash != head.Hash {
			t.Fatalf("verification = %+v", v)
		}
		// From a trusted point, only what follows is walked; marks are checked.
		v, err = db.VerifyAudit(ctx, tenure.AuditHead{Seq: 5, Hash: recs[4].Hash}, tenure.AuditHead{Seq: 7, Hash: recs[6].Hash})
		must(t, err)
		if v.Records != 4 || v.Head.Hash != head.Hash {
			t.Fatalf("verification from seq 5 = %+v", v)
		}
	})
}

// TestWriteStep checks a step's records written together: the account and
// grants as UpsertAccount and UpsertGrant write them, the audit records chained
// in order, a record already in the trail (a retried step) left out with the
// next linked to the head as it was, and an invalid record writing nothing.
func TestWriteStep(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		must(t, db.AppendAudit(ctx, auditRecord(1)))
		verified := ts(5)
		step := tenure.StepWrites{
			Accounts: []tenure.Account{{EmployeeID: "E1", App: "github", AccountID: "u1", Status: tenure.AccessActive,
				Entitlements: []string{"eng"}, VerifiedAt: &verified, UpdatedAt: verified}},
			Grants: []tenure.GrantRecord{
				{EmployeeID: "E1", App: "github", Entitlement: "eng", Status: tenure.AccessActive, UpdatedAt: verified},
				{EmployeeID: "E1", App: "github", Entitlement: "ops", Status: tenure.AccessPending, UpdatedAt: verified},
			},
			Audit: []tenure.AuditRecord{auditRecord(2), auditRecord(1), auditRecord(3)},
		}
		must(t, db.WriteStep(ctx, step))

		recs := chained(t, db)
		wantChain(t, recs)
		if len(recs) != 3 || recs[1].Key != auditRecord(2).Key || recs[2].Key != auditRecord(3).Key {
			t.Fatalf("chain = %+v, want records 1, 2 and 3, each once", recs)
		}
		accts, err := db.ListAccounts(ctx, "E1")
		must(t, err)
		if len(accts) != 1 || accts[0].AccountID != "u1" || accts[0].Status != tenure.AccessActive || !slices.Equal(accts[0].Entitlements, []string{"eng"}) {
			t.Fatalf("accounts = %+v", accts)
		}
		grants, err := db.ListGrants(ctx, "E1")
		must(t, err)
		if len(grants) != 2 || grants[0].Status != tenure.AccessActive || grants[1].Status != tenure.AccessPending {
			t.Fatalf("grants = %+v", grants)
		}

		// One invalid record: nothing of the step is written.
		bad := tenure.StepWrites{
			Accounts: []tenure.Account{{EmployeeID: "E2", App: "github", Status: tenure.AccessActive}},
			Audit:    []tenure.AuditRecord{auditRecord(4), {Key: "E2/x"}},
		}
		wantCode(t, db.WriteStep(ctx, bad), tenure.EINVALID)
		if accts, err := db.ListAccounts(ctx, "E2"); err != nil || len(accts) != 0 {
			t.Fatalf("E2's accounts after a rejected step = %+v, %v", accts, err)
		}
		if recs := chained(t, db); len(recs) != 3 {
			t.Fatalf("the trail after a rejected step has %d records, want 3", len(recs))
		}
		must(t, db.WriteStep(ctx, tenure.StepWrites{}))
	})
}

func TestChainHashIsUnambiguous(t *testing.T) {
	a := tenure.AuditRecord{Seq: 1, Key: "k", At: ts(1), Action: "a", Actor: "bc"}
	b := a
	b.Action, b.Actor = "ab", "c"
	if a.ChainHash() == b.ChainHash() {
		t.Fatal("moving a byte from one field to the next kept the hash")
	}
	// The hash sees the instant, to the microsecond the store keeps, not the zone.
	c := a
	c.At = a.At.In(time.UTC)
	if c.ChainHash() != a.ChainHash() {
		t.Fatal("the same instant in another zone changed the hash")
	}
	c.At = a.At.Add(time.Microsecond)
	if c.ChainHash() == a.ChainHash() {
		t.Fatal("a microsecond later kept the hash")
	}
}

// TestVerifyAuditCatchesTampering edits the trail with raw SQL, as someone with
// the database's password could, and checks that verification names the first
// record touched.
func TestVerifyAuditCatchesTampering(t *testing.T) {
	cases := []struct {
		name string
		// tamper edits a chain of 10 records; recs is the chain before.
		tamper func(t *testing.T, db *store.DB, recs []tenure.AuditRecord)
		// marks are signed checkpoints to hold the chain to.
		marks   func(recs []tenure.AuditRecord) []tenure.AuditHead
		seq     int64
		key     string // the key the break names, "" for none
		problem string
	}{
		{
			name: "a detail altered",
			tamper: func(t *testing.T, db *store.DB, _ []tenure.AuditRecord) {
				must(t, db.Exec(ctx, `UPDATE audit_records SET detail = 'nothing happened' WHERE seq = 4`))
			},
			seq: 4, key: auditRecord(4).Key, problem: "it was altered",
		},
		{
			name: "a record deleted",
			tamper: func(t *testing.T, db *store.DB, _ []tenure.AuditRecord) {
				must(t, db.Exec(ctx, `DELETE FROM audit_records WHERE seq = 6`))
			},
			seq: 6, problem: "the chain goes from seq 5 to seq 7",
		},
		{
			name: "the first record deleted",
			tamper: func(t *testing.T, db *store.DB, _ []tenure.AuditRecord) {
				must(t, db.Exec(ctx, `DELETE FROM audit_records WHERE seq = 1`))
			},
			seq: 1, problem: "was deleted",
		},
		{
			name: "a record inserted at the end with a forged hash",
			tamper: func(t *testing.T, db *store.DB, recs []tenure.AuditRecord) {
				insertAudit(t, db, tenure.AuditRecord{Seq: 11, PrevHash: recs[9].Hash, Hash: strings.Repeat("ab", 32),
					Key: "E9/backdated", At: ts(1), Actor: "tenure", Action: "access.granted", EmployeeID: "E9"})
			},
			seq: 11, key: "E9/backdated", problem: "it was altered",
		},
		{
			name: "a record inserted in the middle, hashed correctly",
			tamper: func(t *testing.T, db *store.DB, recs []tenure.AuditRecord) {
				// Make room at seq 5, from the end down so the unique index holds.
				for seq := 10; seq >= 5; seq-- {
					must(t, db.Exec(ctx, `UPDATE audit_records SET seq = seq + 1 WHERE seq = ?`, seq))
				}
				r := tenure.AuditRecord{Seq: 5, PrevHash: recs[3].Hash, Key: "E9/backdated", At: ts(1),
					Actor: "tenure", Action: "access.granted", EmployeeID: "E9"}
				r.Hash = r.ChainHash()
				insertAudit(t, db, r)
			},
			seq: 6, key: auditRecord(5).Key, problem: "its prev_hash is not the hash of seq 5 (key \"E9/backdated\")",
		},
		{
			name: "a record without a place in the chain",
			tamper: func(t *testing.T, db *store.DB, _ []tenure.AuditRecord) {
				must(t, db.Exec(ctx, `INSERT INTO audit_records ("key", "at", actor, action, employee_id, app, workflow_id, detail, prev_hash, hash)
					VALUES ('E9/sneaked', ?, 'tenure', 'access.granted', 'E9', '', '', '', '', '')`, ts(2).UTC()))
			},
			seq: 0, key: "E9/sneaked", problem: "outside the chain",
		},
		{
			name: "the last records deleted, against a checkpoint",
			tamper: func(t *testing.T, db *store.DB, _ []tenure.AuditRecord) {
				must(t, db.Exec(ctx, `DELETE FROM audit_records WHERE seq > 8`))
			},
			marks: func(recs []tenure.AuditRecord) []tenure.AuditHead {
				return []tenure.AuditHead{{Seq: 10, Hash: recs[9].Hash}}
			},
			seq: 10, problem: "the chain ends at seq 8, but a signed checkpoint vouches for seq 10",
		},
		{
			name: "the chain rewritten whole, against a checkpoint",
			tamper: func(t *testing.T, db *store.DB, recs []tenure.AuditRecord) {
				// Alter record 3 and recompute every hash from there: the chain
				// alone is consistent again.
				prev := recs[1].Hash
				for _, r := range recs[2:] {
					if r.Seq == 3 {
						r.Detail = "nothing happened"
					}
					r.PrevHash = prev
					r.Hash = r.ChainHash()
					must(t, db.Exec(ctx, `UPDATE audit_records SET detail = ?, prev_hash = ?, hash = ? WHERE seq = ?`, r.Detail, r.PrevHash, r.Hash, r.Seq))
					prev = r.Hash
				}
				if _, err := db.VerifyAudit(ctx, tenure.AuditHead{}); err != nil {
					t.Fatalf("the rewritten chain should pass on its own: %v", err)
				}
			},
			marks: func(recs []tenure.AuditRecord) []tenure.AuditHead {
				return []tenure.AuditHead{{Seq: 8, Hash: recs[7].Hash}}
			},
			seq: 8, key: auditRecord(8).Key, problem: "the chain was rewritten",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, db *store.DB) {
				appendAudit(t, db, 10)
				recs := chained(t, db)
				var marks []tenure.AuditHead
				if c.marks != nil {
					marks = c.marks(recs)
				}
				if _, err := db.VerifyAudit(ctx, tenure.AuditHead{}, marks...); err != nil {
					t.Fatalf("before tampering: %v", err)
				}
				c.tamper(t, db, recs)
				_, err := db.VerifyAudit(ctx, tenure.AuditHead{}, marks...)
				var br *tenure.AuditBreak
				if !errors.As(err, &br) {
					t.Fatalf("after tampering, verify = %v, want an *AuditBreak", err)
				}
				if br.Seq != c.seq || br.Key != c.key || !strings.Contains(br.Error(), c.problem) {
					t.Fatalf("break = seq %d key %q: %v\nwant seq %d key %q, saying %q", br.Seq, br.Key, br, c.seq, c.key, c.problem)
				}
			})
		})
	}
}

// insertAudit writes a record directly, bypassing the chain.
func insertAudit(t *testing.T, db *store.DB, r tenure.AuditRecord) {
	t.Helper()
	must(t, db.Exec(ctx, `INSERT INTO audit_records ("key", "at", actor, action, employee_id, app, workflow_id, detail, seq, prev_hash, hash)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.Key, r.At.UTC().Truncate(time.Microsecond), r.Actor, r.Action, r.EmployeeID, r.App, r.WorkflowID, r.Detail, r.Seq, r.PrevHash, r.Hash))
}

func TestVerifyAuditFromACheckpoint(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		appendAudit(t, db, 6)
		recs := chained(t, db)
		from := tenure.AuditHead{Seq: 4, Hash: recs[3].Hash}
		must(t, db.Exec(ctx, `UPDATE audit_records SET actor = 'someone' WHERE seq = 4`))
		_, err := db.VerifyAudit(ctx, from)
		var br *tenure.AuditBreak
		if !errors.As(err, &br) || br.Seq != 4 || !strings.Contains(br.Problem, "altered") {
			t.Fatalf("the checkpointed record altered: %v", err)
		}
		must(t, db.Exec(ctx, `DELETE FROM audit_records WHERE seq = 4`))
		if _, err := db.VerifyAudit(ctx, from); !errors.As(err, &br) || br.Seq != 4 || !strings.Contains(br.Problem, "deleted") {
			t.Fatalf("the checkpointed record deleted: %v", err)
		}
	})
}

// TestMigrateChainsExistingRecords upgrades a trail written before the chain
// existed: Migrate chains its records once, in their order (at, key).
func TestMigrateChainsExistingRecords(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		appendAudit(t, db, 12)
		// The schema before the chain.
		must(t, db.Exec(ctx, `DROP INDEX idx_audit_seq`))
		for _, col := range []string{"seq", "prev_hash", "hash"} {
			must(t, db.Exec(ctx, `ALTER TABLE audit_records DROP COLUMN `+col))
		}
		must(t, db.Migrate(ctx))
		recs := chained(t, db)
		wantChain(t, recs)
		if len(recs) != 12 {
			t.Fatalf("%d records chained, want 12", len(recs))
		}
		ordered := slices.IsSortedFunc(recs, func(a, b tenure.AuditRecord) int {
			if c := a.At.Compare(b.At); c != 0 {
				return c
			}
			return strings.Compare(a.Key, b.Key)
		})
		if !ordered {
			t.Fatal("the records were not chained in the order (at, key)")
		}
		// Once: migrating again changes nothing, and appends carry on.
		head, err := db.AuditHead(ctx)
		must(t, err)
		must(t, db.Migrate(ctx))
		if again, err := db.AuditHead(ctx); err != nil || again != head {
			t.Fatalf("after migrating again the head is %+v (%v), was %+v", again, err, head)
		}
		must(t, db.AppendAudit(ctx, auditRecord(13)))
		v, err := db.VerifyAudit(ctx, tenure.AuditHead{})
		must(t, err)
		if v.Records != 13 {
			t.Fatalf("verified %d records, want 13", v.Records)
		}
	})
}

// TestAuditAppendsFromManyProcesses appends from many goroutines through four
// stores on one database, as four Tenure processes would, with every key
// written twice: the chain has each key once, and no gap.
func TestAuditAppendsFromManyProcesses(t *testing.T) {
	for _, backend := range []store.Backend{store.SQLite, store.Postgres} {
		t.Run(string(backend), func(t *testing.T) {
			dbs := storetest.Processes(t, backend, 4)
			const writers, each = 16, 25
			var wg sync.WaitGroup
			errs := make(chan error, 2*writers*each)
			for w := range writers {
				wg.Go(func() {
					for i := range each {
						// Writers w and w^1 append the same keys, through different stores.
						r := auditRecord(i)
						r.Key = fmt.Sprintf("pair%d/%d", w/2, i)
						errs <- dbs[w%4].AppendAudit(ctx, r)
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				must(t, err)
			}
			v, err := dbs[0].VerifyAudit(ctx, tenure.AuditHead{})
			must(t, err)
			if v.Records != writers/2*each {
				t.Fatalf("%d records in the chain, want %d", v.Records, writers/2*each)
			}
		})
	}
}

func TestAuditCheckpoints(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		_, err := db.LatestAuditCheckpoint(ctx)
		wantCode(t, err, tenure.ENOTFOUND)
		_, err = db.SaveAuditCheckpoint(ctx, tenure.SignedAuditCheckpoint{Envelope: json.RawMessage(`{`)})
		wantCode(t, err, tenure.EINVALID)
		var te *tenure.Error
		if !errors.As(err, &te) || fmt.Sprint(te.Fields) != "[{seq must be positive} {hash is required} {key_id is required} {envelope must be JSON}]" {
			t.Errorf("the error names %+v", te)
		}
		if _, err := db.LatestAuditCheckpoint(ctx); tenure.ErrorCode(err) != tenure.ENOTFOUND {
			t.Fatalf("a refused checkpoint was stored: %v", err)
		}

		cp := func(seq int64, hash string, signed int) tenure.SignedAuditCheckpoint {
			return tenure.SignedAuditCheckpoint{
				AuditCheckpoint: tenure.AuditCheckpoint{Kind: tenure.AuditCheckpointKind, Seq: seq, Hash: hash, At: ts(1), SignedAt: ts(signed)},
				KeyID:           "k1", Envelope: json.RawMessage(fmt.Sprintf(`{"payload":{"seq":%d}}`, seq)),
			}
		}
		byKey := func(c tenure.SignedAuditCheckpoint, keyID string) tenure.SignedAuditCheckpoint {
			c.KeyID = keyID
			return c
		}
		first, err := db.SaveAuditCheckpoint(ctx, cp(5, "h5", 10))
		must(t, err)
		if first.Seq != 5 || first.Hash != "h5" || !first.SignedAt.Equal(ts(10).Truncate(time.Microsecond)) || string(first.Envelope) != `{"payload":{"seq":5}}` {
			t.Fatalf("stored = %+v", first)
		}
		// The same seq again keeps the first.
		again, err := db.SaveAuditCheckpoint(ctx, cp(5, "h5", 20))
		must(t, err)
		if !again.SignedAt.Equal(first.SignedAt) {
			t.Fatalf("a second checkpoint of seq 5 replaced the first: %+v", again)
		}
		_, err = db.SaveAuditCheckpoint(ctx, cp(9, "h9", 30))
		must(t, err)
		_, err = db.SaveAuditCheckpoint(ctx, cp(7, "h7", 40))
		must(t, err)
		latest, err := db.LatestAuditCheckpoint(ctx)
		must(t, err)
		if latest.Seq != 9 || latest.Hash != "h9" || latest.KeyID != "k1" || latest.Kind != tenure.AuditCheckpointKind {
			t.Fatalf("latest = %+v, want seq 9", latest)
		}
		// A new key signs the same head: both are kept, and the later is latest.
		_, err = db.SaveAuditCheckpoint(ctx, byKey(cp(9, "h9", 50), "k2"))
		must(t, err)
		latest, err = db.LatestAuditCheckpoint(ctx)
		must(t, err)
		if latest.Seq != 9 || latest.KeyID != "k2" {
			t.Fatalf("latest after a new key signed = %+v, want seq 9 by k2", latest)
		}
	})
}

// TestAuditChainLockIsPerSchema: on PostgreSQL an append waits while another
// process holds the chain's lock, and a deployment in another schema of the
// same database does not.
func TestAuditChainLockIsPerSchema(t *testing.T) {
	dbs := storetest.Processes(t, store.Postgres, 2)
	other := storetest.Postgres(t)
	release, err := dbs[0].HoldChainLock(ctx)
	must(t, err)
	defer func() {
		if release != nil {
			release()
		}
	}()
	elsewhere := make(chan error, 1)
	go func() { elsewhere <- other.AppendAudit(ctx, auditRecord(1)) }()
	select {
	case err := <-elsewhere:
		must(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("an append in another schema waits for this schema's lock")
	}

	done := make(chan error, 1)
	go func() { done <- dbs[1].AppendAudit(ctx, auditRecord(1)) }()
	select {
	case err := <-done:
		t.Fatalf("an append finished while another process held the lock: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	release()
	release = nil
	select {
	case err := <-done:
		must(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("the append still waits after the lock was released")
	}
}

// TestAuditSeqIsUnique: the database itself refuses a second record at a seq.
func TestAuditSeqIsUnique(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		appendAudit(t, db, 2)
		err := db.Exec(ctx, `INSERT INTO audit_records ("key", "at", actor, action, employee_id, app, workflow_id, detail, seq, prev_hash, hash)
			VALUES ('E9/twin', ?, 'tenure', 'access.granted', 'E9', '', '', '', 2, '', '')`, ts(1).UTC())
		if err == nil || !strings.Contains(strings.ToLower(err.Error()), "unique") {
			t.Fatalf("a second record at seq 2: %v, want a unique violation", err)
		}
	})
}
