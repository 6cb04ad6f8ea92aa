package tenure

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// The audit trail is one hash chain per deployment: record n carries the hash
// of record n-1, and its own hash covers that and every field of its own. So
// altering a record changes its hash, deleting one leaves a gap in Seq, and
// inserting one breaks the link of the record after it. Signed checkpoints of
// the chain's head, kept outside the database, catch a chain rewritten whole.

// AuditHashVersion names the encoding that ChainHash hashes; it is hashed first,
// so that a later encoding can never collide with this one.
const AuditHashVersion = "tenure.audit.v1"

// AuditTimeLayout is how a record's At enters its hash: UTC, to the
// microsecond, which both PostgreSQL and SQLite keep exactly.
const AuditTimeLayout = "2006-01-02T15:04:05.000000Z"

// ChainHash is the hash the record must carry: the SHA-256, in hex, of
// AuditHashVersion, PrevHash, Seq (in decimal), Key, At (AuditTimeLayout),
// Actor, Action, EmployeeID, App, WorkflowID and Detail, in that order, each
// written as its length in bytes (8 bytes, big-endian) and then its bytes. The
// lengths make the encoding unambiguous: no two records share one.
func (r AuditRecord) ChainHash() string {
	h := sha256.New()
	var n [8]byte
	for _, f := range []string{
		AuditHashVersion, r.PrevHash, strconv.FormatInt(r.Seq, 10), r.Key,
		r.At.UTC().Format(AuditTimeLayout), r.Actor, r.Action, r.EmployeeID, r.App, r.WorkflowID, r.Detail,
	} {
		binary.BigEndian.PutUint64(n[:], uint64(len(f)))
		h.Write(n[:])
		h.Write([]byte(f))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// AuditHead is a point on the audit chain, usually its last record: the
// record's Seq, Hash and time. The zero AuditHead is the empty chain.
type AuditHead struct {
	Seq  int64     `json:"seq"`
	Hash string    `json:"hash"`
	At   time.Time `json:"at"`
}

// AuditCheckpoint is what a checkpoint signs: the chain's head when it was
// signed. Anyone holding a copy can later prove that the record at Seq still has
// Hash, and so that nothing at or before it has changed.
type AuditCheckpoint struct {
	// Kind is AuditCheckpointKind, so that a signature over a checkpoint cannot
	// pass for a signature over another kind of document.
	Kind     string    `json:"kind"`
	Seq      int64     `json:"seq"`
	Hash     string    `json:"hash"`
	At       time.Time `json:"at"`
	SignedAt time.Time `json:"signed_at"`
}

// AuditCheckpointKind is the Kind of every AuditCheckpoint.
const AuditCheckpointKind = "tenure.audit.checkpoint"

// Head is the point on the chain that the checkpoint vouches for.
func (c AuditCheckpoint) Head() AuditHead { return AuditHead{Seq: c.Seq, Hash: c.Hash, At: c.At} }

// SignedAuditCheckpoint is a checkpoint as Tenure keeps and publishes it.
type SignedAuditCheckpoint struct {
	AuditCheckpoint
	// KeyID names the key that signed it.
	KeyID string `json:"key_id"`
	// Envelope is the signed document: a JSON object with the checkpoint as its
	// payload and an Ed25519 signature over it (internal/attest's Envelope).
	// It is the source of truth; the fields above are a copy for queries.
	Envelope json.RawMessage `json:"envelope"`
}

// AuditBreak is where the audit chain first fails verification: the record at
// Seq (with its Key, when the record exists) and what is wrong with it. Seq is 0
// for a record that has no place in the chain at all.
type AuditBreak struct {
	Seq     int64
	Key     string
	Problem string
}

func (b *AuditBreak) Error() string {
	if b.Seq == 0 {
		return fmt.Sprintf("the audit trail has a record outside the chain (key %q): %s", b.Key, b.Problem)
	}
	if b.Key == "" {
		return fmt.Sprintf("the audit chain is broken at seq %d: %s", b.Seq, b.Problem)
	}
	return fmt.Sprintf("the audit chain is broken at seq %d (key %q): %s", b.Seq, b.Key, b.Problem)
}

// AuditVerification is what a verification of the chain found intact.
type AuditVerification struct {
	// Records is how many records were checked.
	Records int64
	// Head is the last record checked.
	Head AuditHead
}

// AuditChain is the audit trail seen as a chain: its head, its verification
// and its signed checkpoints.
type AuditChain interface {
	// AuditHead returns the chain's last record, or the zero AuditHead when the
	// trail is empty.
	AuditHead(ctx context.Context) (AuditHead, error)
	// VerifyAudit walks the chain after from (a point already trusted; the zero
	// AuditHead walks it all), a page at a time, and recomputes every hash. The
	// record at from.Seq must still carry from.Hash, and the record at each of
	// marks' Seq must carry its Hash. The first record that fails is returned as
	// an *AuditBreak.
	VerifyAudit(ctx context.Context, from AuditHead, marks ...AuditHead) (AuditVerification, error)
	// SaveAuditCheckpoint stores c unless a checkpoint of its Seq by its KeyID
	// exists, and returns the one stored.
	SaveAuditCheckpoint(ctx context.Context, c SignedAuditCheckpoint) (SignedAuditCheckpoint, error)
	// LatestAuditCheckpoint returns the checkpoint of the highest Seq (the last
	// signed, when two keys signed it), or ENOTFOUND when there is none.
	LatestAuditCheckpoint(ctx context.Context) (SignedAuditCheckpoint, error)
}
