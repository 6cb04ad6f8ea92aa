package activities_test

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/activities"
	"github.com/tenure-io/tenure/internal/attest"
	"github.com/tenure-io/tenure/outbound"
	"github.com/tenure-io/tenure/store"
	"github.com/tenure-io/tenure/workflows"
)

// checkpointRig is a real store on SQLite, with the outbound service that
// stores published events, and a raw connection to the same file to tamper with.
type checkpointRig struct {
	db  *store.DB
	svc *outbound.Service
	raw *sql.DB
	n   int
}

func newCheckpointRig(t *testing.T) *checkpointRig {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "tenure.db")
	db, err := store.Open(ctx, "sqlite:"+path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	key, _ := outbound.ParseKey(outbound.NewKey())
	svc, err := outbound.New(outbound.Config{Store: db, Temporal: noStarts{}, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	return &checkpointRig{db: db, svc: svc, raw: raw}
}

// audit appends n records.
func (r *checkpointRig) audit(t *testing.T, n int) {
	t.Helper()
	for range n {
		r.n++
		err := r.db.AppendAudit(context.Background(), tenure.AuditRecord{
			Key: fmt.Sprintf("E1/ev%d/github/disable", r.n), Actor: "tenure", Action: "account.disabled", EmployeeID: "E1", App: "github",
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

func (r *checkpointRig) checkpoints(key ed25519.PrivateKey, at time.Time) *activities.AuditCheckpoints {
	return &activities.AuditCheckpoints{Chain: r.db, Key: key, Publisher: r.svc, Now: func() time.Time { return at }}
}

func newSigningKey(t *testing.T) ed25519.PrivateKey {
	t.Helper()
	key, err := attest.ParseKey(attest.NewKey())
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func TestAuditCheckpointSignsStoresAndPublishesTheHead(t *testing.T) {
	ctx := context.Background()
	r := newCheckpointRig(t)
	key := newSigningKey(t)
	t0 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	run := func(at time.Time) workflows.AuditCheckpointResult {
		t.Helper()
		res, err := r.checkpoints(key, at).Checkpoint(ctx, workflows.AuditCheckpointInput{})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}

	// Nothing audited: nothing to sign.
	if res := run(t0); res != (workflows.AuditCheckpointResult{}) {
		t.Fatalf("an empty trail gave %+v", res)
	}
	if _, err := r.db.LatestAuditCheckpoint(ctx); tenure.ErrorCode(err) != tenure.ENOTFOUND {
		t.Fatalf("an empty trail was checkpointed: %v", err)
	}

	r.audit(t, 5)
	head, _ := r.db.AuditHead(ctx)
	res := run(t0)
	if res.Seq != 5 || res.Hash != head.Hash || res.Verified != 5 || !res.Published || res.KeyID != attest.KeyID(key.Public().(ed25519.PublicKey)) {
		t.Fatalf("first checkpoint = %+v, want seq 5 hash %s", res, head.Hash)
	}
	cp, err := r.db.LatestAuditCheckpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	claim, _, err := activities.OpenCheckpoint(cp, key.Public().(ed25519.PublicKey))
	if err != nil || claim.Seq != 5 || claim.Hash != head.Hash || !claim.At.Equal(head.At) || !claim.SignedAt.Equal(t0) {
		t.Fatalf("the stored checkpoint says %+v (%v)", claim, err)
	}
	ev, err := r.db.GetOutboundEvent(ctx, activities.CheckpointEventID(5, res.KeyID))
	if err != nil || ev.Type != tenure.EventAuditCheckpoint || string(ev.Data) != string(cp.Envelope) {
		t.Fatalf("published %+v (%v), want the envelope as the event's data", ev, err)
	}

	// A quiet hour: the same checkpoint, published again under the same ID,
	// verified from the last checkpoint only.
	res = run(t0.Add(time.Hour))
	if res.Seq != 5 || res.Verified != 1 {
		t.Fatalf("a quiet hour gave %+v", res)
	}
	again, _ := r.db.LatestAuditCheckpoint(ctx)
	if !again.SignedAt.Equal(t0) {
		t.Fatalf("a quiet hour re-signed the checkpoint at %v", again.SignedAt)
	}
	events, err := r.db.ListOutboundEvents(ctx, tenure.OutboundEventFilter{Type: tenure.EventAuditCheckpoint})
	if err != nil || len(events) != 1 {
		t.Fatalf("%d checkpoint events after a quiet hour (%v), want 1", len(events), err)
	}

	// New records: the walk starts at the last checkpoint.
	r.audit(t, 3)
	if res = run(t0.Add(2 * time.Hour)); res.Seq != 8 || res.Verified != 4 {
		t.Fatalf("after 3 more records: %+v, want seq 8 with 4 verified", res)
	}
}

func TestAuditCheckpointRefusesToSignATamperedChain(t *testing.T) {
	ctx := context.Background()
	r := newCheckpointRig(t)
	key := newSigningKey(t)
	r.audit(t, 6)
	if _, err := r.checkpoints(key, time.Now()).Checkpoint(ctx, workflows.AuditCheckpointInput{}); err != nil {
		t.Fatal(err)
	}
	r.audit(t, 2)

	// Record 4 altered and every hash after it recomputed, so the chain is
	// consistent on its own: the record at the checkpoint no longer matches it.
	list, err := r.db.ListAudit(ctx, tenure.AuditFilter{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	bySeq := map[int64]tenure.AuditRecord{}
	for _, rec := range list {
		bySeq[rec.Seq] = rec
	}
	prev := bySeq[3].Hash
	for seq := int64(4); seq <= 8; seq++ {
		rec := bySeq[seq]
		if seq == 4 {
			rec.Action = "account.enabled"
		}
		rec.PrevHash = prev
		rec.Hash = rec.ChainHash()
		if _, err := r.raw.Exec(`UPDATE audit_records SET action = ?, prev_hash = ?, hash = ? WHERE seq = ?`, rec.Action, rec.PrevHash, rec.Hash, seq); err != nil {
			t.Fatal(err)
		}
		prev = rec.Hash
	}
	if _, err := r.db.VerifyAudit(ctx, tenure.AuditHead{}); err != nil {
		t.Fatalf("the rewritten chain should pass on its own: %v", err)
	}

	_, err = r.checkpoints(key, time.Now()).Checkpoint(ctx, workflows.AuditCheckpointInput{})
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || appErr.Type() != workflows.AuditChainBrokenError || !strings.Contains(err.Error(), "seq 6") {
		t.Fatalf("checkpoint of a rewritten chain: %v, want %s at seq 6", err, workflows.AuditChainBrokenError)
	}
	if cp, _ := r.db.LatestAuditCheckpoint(ctx); cp.Seq != 6 {
		t.Fatalf("the latest checkpoint is of seq %d: the rewritten chain was signed", cp.Seq)
	}
}

// TestAuditCheckpointAfterTheKeyChanges: a new key trusts no checkpoint it did
// not sign, walks the whole chain once and signs the head at once, even in a
// quiet hour, and from then on walks from its own checkpoint.
func TestAuditCheckpointAfterTheKeyChanges(t *testing.T) {
	ctx := context.Background()
	r := newCheckpointRig(t)
	oldKey, newKey := newSigningKey(t), newSigningKey(t)
	oldID, newID := attest.KeyID(oldKey.Public().(ed25519.PublicKey)), attest.KeyID(newKey.Public().(ed25519.PublicKey))
	r.audit(t, 4)
	t0 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	if _, err := r.checkpoints(oldKey, t0).Checkpoint(ctx, workflows.AuditCheckpointInput{}); err != nil {
		t.Fatal(err)
	}
	res, err := r.checkpoints(newKey, t0.Add(time.Hour)).Checkpoint(ctx, workflows.AuditCheckpointInput{})
	if err != nil || res.Seq != 4 || res.Verified != 4 || res.KeyID != newID {
		t.Fatalf("first checkpoint with the new key: %+v (%v), want seq 4 signed by %s after verifying all 4", res, err, newID)
	}
	latest, err := r.db.LatestAuditCheckpoint(ctx)
	if err != nil || latest.KeyID != newID {
		t.Fatalf("the latest checkpoint is %+v (%v), want the new key's", latest, err)
	}
	for _, id := range []string{oldID, newID} {
		if _, err := r.db.GetOutboundEvent(ctx, activities.CheckpointEventID(4, id)); err != nil {
			t.Errorf("the checkpoint of seq 4 by %s was not published: %v", id, err)
		}
	}
	r.audit(t, 2)
	if res, err = r.checkpoints(newKey, t0.Add(2*time.Hour)).Checkpoint(ctx, workflows.AuditCheckpointInput{}); err != nil || res.Seq != 6 || res.Verified != 3 {
		t.Fatalf("the next checkpoint: %+v (%v), want seq 6 with 3 verified from the new key's checkpoint", res, err)
	}
	// The old checkpoint still proves what it signed, under the old key only.
	var cp tenure.SignedAuditCheckpoint
	var env string
	if err := r.raw.QueryRow(`SELECT seq, hash, envelope FROM audit_checkpoints WHERE key_id = ?`, oldID).Scan(&cp.Seq, &cp.Hash, &env); err != nil {
		t.Fatal(err)
	}
	cp.Envelope = json.RawMessage(env)
	if _, _, err := activities.OpenCheckpoint(cp, oldKey.Public().(ed25519.PublicKey)); err != nil {
		t.Fatalf("the old key's checkpoint: %v", err)
	}
	if _, _, err := activities.OpenCheckpoint(cp, newKey.Public().(ed25519.PublicKey)); err == nil {
		t.Fatal("the old key's checkpoint passed as the new key's")
	}
}
