package activities

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/internal/attest"
	"github.com/tenure-io/tenure/workflows"
)

// AuditCheckpoints signs the audit chain's head. It is registered only on
// workers that hold the signing key, which poll workflows.AuditTaskQueue.
type AuditCheckpoints struct {
	Chain tenure.AuditChain
	// Key signs the checkpoints.
	Key ed25519.PrivateKey
	// Publisher sends the audit.checkpoint events; nil sends none.
	Publisher tenure.Publisher
	Logger    *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Checkpoint verifies the chain from the last checkpoint this key signed (all
// of it when there is none), signs the head it reached, stores the checkpoint
// and publishes it. It never signs a chain that fails verification: that is
// tampering, reported as workflows.AuditChainBrokenError. A checkpoint is
// stored once per seq and key, and its event's ID is derived from both, so a
// retry, or an hour in which nothing was audited, publishes the same event
// again, which subscribers receive once.
func (a *AuditCheckpoints) Checkpoint(ctx context.Context, _ workflows.AuditCheckpointInput) (workflows.AuditCheckpointResult, error) {
	log := a.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var res workflows.AuditCheckpointResult
	last, err := a.Chain.LatestAuditCheckpoint(ctx)
	found := err == nil
	if err != nil && tenure.ErrorCode(err) != tenure.ENOTFOUND {
		return res, err
	}
	var from tenure.AuditHead
	ours := false
	if found {
		if _, _, err := OpenCheckpoint(last, a.Key.Public().(ed25519.PublicKey)); err != nil {
			// After the key changes, and whenever the last checkpoint is not
			// this key's, trust nothing and walk the whole chain.
			log.Warn("audit: the latest checkpoint is not one this key signed; verifying the whole chain", "seq", last.Seq, "error", err)
		} else {
			from, ours = last.Head(), true
		}
	}
	v, err := a.Chain.VerifyAudit(ctx, from)
	var broken *tenure.AuditBreak
	if errors.As(err, &broken) {
		log.Error("audit: the chain is broken; no checkpoint signed", "seq", broken.Seq, "error", broken)
		return res, temporal.NewApplicationError(broken.Error(), workflows.AuditChainBrokenError)
	}
	if err != nil {
		return res, err
	}
	res.Verified = v.Records
	if v.Head.Seq == 0 {
		return res, nil // nothing audited yet
	}

	// A quiet hour keeps this key's checkpoint; a new key signs at once, even
	// the head the old key signed, so that verifiers can stop trusting the old.
	cp := last
	if !ours || last.Seq != v.Head.Seq {
		if cp, err = a.sign(ctx, v.Head); err != nil {
			return res, err
		}
	}
	res.Seq, res.Hash, res.KeyID = cp.Seq, cp.Hash, cp.KeyID
	if a.Publisher != nil {
		err := a.Publisher.Publish(ctx, tenure.OutboundEvent{
			ID: CheckpointEventID(cp.Seq, cp.KeyID), Type: tenure.EventAuditCheckpoint, At: cp.SignedAt, Data: cp.Envelope,
		})
		if err != nil {
			return res, err
		}
		res.Published = true
	}
	log.Info("audit: checkpoint signed", "seq", cp.Seq, "hash", cp.Hash, "key_id", cp.KeyID, "verified", v.Records, "published", res.Published)
	return res, nil
}

// sign signs head and stores the checkpoint, returning the one stored: a
// retry finds the first attempt's.
func (a *AuditCheckpoints) sign(ctx context.Context, head tenure.AuditHead) (tenure.SignedAuditCheckpoint, error) {
	now := time.Now
	if a.Now != nil {
		now = a.Now
	}
	claim := tenure.AuditCheckpoint{
		Kind: tenure.AuditCheckpointKind, Seq: head.Seq, Hash: head.Hash, At: head.At.UTC(),
		SignedAt: now().UTC().Truncate(time.Microsecond),
	}
	env, err := attest.Sign(a.Key, claim)
	if err != nil {
		return tenure.SignedAuditCheckpoint{}, err
	}
	raw, err := json.Marshal(env)
	if err != nil {
		return tenure.SignedAuditCheckpoint{}, err
	}
	return a.Chain.SaveAuditCheckpoint(ctx, tenure.SignedAuditCheckpoint{AuditCheckpoint: claim, KeyID: env.Signature.KeyID, Envelope: raw})
}

// CheckpointEventID is the ID of the audit.checkpoint event for the checkpoint
// of seq signed by the key keyID.
func CheckpointEventID(seq int64, keyID string) string {
	return fmt.Sprintf("evt_audit_checkpoint_%d_%s", seq, keyID)
}

// OpenCheckpoint checks a stored checkpoint's signature (by one of trusted, or
// by the key it names when none is given) and that the signed document is the
// checkpoint the row says, and returns what was signed.
func OpenCheckpoint(cp tenure.SignedAuditCheckpoint, trusted ...ed25519.PublicKey) (tenure.AuditCheckpoint, attest.Signature, error) {
	var claim tenure.AuditCheckpoint
	sig, err := attest.Open(cp.Envelope, &claim, trusted...)
	if err != nil {
		return claim, sig, fmt.Errorf("the checkpoint of seq %d: %w", cp.Seq, err)
	}
	if claim.Kind != tenure.AuditCheckpointKind {
		return claim, sig, fmt.Errorf("the checkpoint of seq %d signs a %q, not an audit checkpoint", cp.Seq, claim.Kind)
	}
	if claim.Seq != cp.Seq || claim.Hash != cp.Hash {
		return claim, sig, fmt.Errorf("the checkpoint of seq %d was changed: its signed document is of seq %d, hash %s", cp.Seq, claim.Seq, claim.Hash)
	}
	return claim, sig, nil
}
