package main

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/activities"
	"github.com/tenure-io/tenure/internal/attest"
	"github.com/tenure-io/tenure/store"
)

const auditUsage = `Usage:
  tenure audit verify [--trusted-key HEX]... [--checkpoint FILE]...
  tenure audit public-key

verify walks the audit trail's hash chain from its first record, a page at a
time, recomputes every hash, and holds the chain to the latest signed checkpoint
(and to any checkpoint FILE kept outside Tenure: an audit.checkpoint event, or
its data). It exits 0 when the trail is intact, printing the number of records
and the head's hash, and 1 naming the first record that was altered, deleted or
inserted. It only reads.

A checkpoint must be signed by a trusted key: each --trusted-key (a public key,
as public-key prints it; give the old one too after rotating), and the key of
TENURE_AUDIT_SIGNING_KEY or DIR/audit.key when there is one.

public-key prints the public half of that signing key, to keep outside Tenure.

The database is DIR/tenure.db with --data-dir DIR (the dev store), or else
DATABASE_URL (postgres://... or sqlite:FILE).`

// runAudit is `tenure audit verify|public-key`.
func runAudit(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintln(stderr, auditUsage)
		if len(args) == 0 {
			return errUsage
		}
		return nil
	}
	sub, args := args[0], args[1:]
	if sub != "verify" && sub != "public-key" {
		fmt.Fprintln(stderr, auditUsage)
		return fmt.Errorf("unknown audit command %q: use verify or public-key", sub)
	}
	fs := newSubFlags("audit "+sub, auditUsage, stderr)
	dataDir := fs.String("data-dir", getenv("TENURE_DATA_DIR"), "the dev store's directory (`DIR`), holding tenure.db and audit.key; env TENURE_DATA_DIR; else DATABASE_URL")
	var format logFormat
	if err := logFormatFlag(fs, getenv, &format); err != nil {
		return err
	}
	var (
		trusted []ed25519.PublicKey
		files   []string
	)
	if sub == "verify" {
		fs.Func("trusted-key", "a public key (64 hex characters) that may have signed checkpoints; repeat for several", func(v string) error {
			k, err := attest.ParsePublicKey(v)
			if err != nil {
				return err
			}
			trusted = append(trusted, k)
			return nil
		})
		fs.Func("checkpoint", "a signed checkpoint `FILE` kept outside Tenure (an audit.checkpoint event or its data); repeat for several", func(v string) error {
			files = append(files, v)
			return nil
		})
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return fmt.Errorf("tenure audit %s takes no arguments, got %q", sub, fs.Args())
	}
	key, err := configuredAuditKey(getenv, *dataDir)
	if err != nil {
		return err
	}
	if sub == "public-key" {
		if key == nil {
			return errors.New("no audit signing key: set " + auditKeyEnv + ", or name the dev store with --data-dir DIR")
		}
		pub := key.Public().(ed25519.PublicKey)
		fmt.Fprintf(stdout, "%s\nkey id %s\n", attest.PublicKeyHex(key), attest.KeyID(pub))
		return nil
	}
	if key != nil {
		trusted = append(trusted, key.Public().(ed25519.PublicKey))
	}
	dsn, err := storeDSN(*dataDir, getenv)
	if err != nil {
		return err
	}
	// Open without migrating: verifying writes nothing, and Migrate would chain
	// records that have no place in the chain, which verify must report.
	db, err := store.Open(ctx, dsn, store.WithLogger(newLogger(stderr, slog.LevelWarn, format), 5*time.Second))
	if err != nil {
		return fmt.Errorf("opening the database: %w", err)
	}
	defer db.Close()
	return verifyAudit(ctx, db, trusted, files, stdout)
}

// configuredAuditKey is the signing key this machine has, if any:
// TENURE_AUDIT_SIGNING_KEY, or DIR/audit.key, which it never creates.
func configuredAuditKey(getenv func(string) string, dataDir string) (ed25519.PrivateKey, error) {
	v := getenv(auditKeyEnv)
	if v == "" && dataDir != "" {
		b, err := os.ReadFile(filepath.Join(dataDir, "audit.key"))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		v = string(b)
	}
	if v == "" {
		return nil, nil
	}
	key, err := attest.ParseKey(v)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", auditKeyEnv, err)
	}
	return key, nil
}

// verifyAudit holds the chain to its signed checkpoints and walks it.
func verifyAudit(ctx context.Context, db tenure.AuditChain, trusted []ed25519.PublicKey, files []string, stdout io.Writer) error {
	var (
		marks []tenure.AuditHead
		notes []string
	)
	latest, err := db.LatestAuditCheckpoint(ctx)
	switch {
	case err == nil:
		claim, sig, err := activities.OpenCheckpoint(latest, trusted...)
		if err != nil {
			return fmt.Errorf("the latest signed checkpoint cannot be trusted: %w", err)
		}
		marks = append(marks, claim.Head())
		notes = append(notes, fmt.Sprintf("matches the latest checkpoint: seq %d, signed %s by key %s",
			claim.Seq, claim.SignedAt.Format(time.RFC3339), sig.KeyID))
	case tenure.ErrorCode(err) == tenure.ENOTFOUND:
		notes = append(notes, "no signed checkpoint in the database yet: records deleted from the end of the chain would not show")
	default:
		return err
	}
	for _, f := range files {
		claim, sig, err := readCheckpointFile(f, trusted)
		if err != nil {
			return err
		}
		marks = append(marks, claim.Head())
		notes = append(notes, fmt.Sprintf("matches %s: seq %d, signed %s by key %s", f, claim.Seq, claim.SignedAt.Format(time.RFC3339), sig.KeyID))
	}
	if len(trusted) == 0 && len(marks) > 0 {
		notes = append(notes, "no trusted key: the checkpoints are intact, but who signed them was not checked (pass --trusted-key)")
	}
	v, err := db.VerifyAudit(ctx, tenure.AuditHead{}, marks...)
	if err != nil {
		var br *tenure.AuditBreak
		if errors.As(err, &br) {
			return fmt.Errorf("the audit trail was tampered with: %w", err)
		}
		return err
	}
	fmt.Fprintf(stdout, "audit trail intact: %d records, head seq %d, hash %s\n", v.Records, v.Head.Seq, orDash(v.Head.Hash))
	for _, n := range notes {
		fmt.Fprintln(stdout, "  "+n)
	}
	return nil
}

// readCheckpointFile reads a checkpoint kept outside Tenure: the body of an
// audit.checkpoint event, or its data (the signed document itself).
func readCheckpointFile(path string, trusted []ed25519.PublicKey) (tenure.AuditCheckpoint, attest.Signature, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return tenure.AuditCheckpoint{}, attest.Signature{}, err
	}
	var ev tenure.OutboundEvent
	if json.Unmarshal(raw, &ev) == nil && ev.Type == tenure.EventAuditCheckpoint && len(ev.Data) > 0 {
		raw = ev.Data
	}
	var claim tenure.AuditCheckpoint
	sig, err := attest.Open(raw, &claim, trusted...)
	if err == nil && claim.Kind != tenure.AuditCheckpointKind {
		err = fmt.Errorf("it signs a %q, not an audit checkpoint", claim.Kind)
	}
	if err != nil {
		return claim, sig, fmt.Errorf("the checkpoint in %s: %w", path, err)
	}
	return claim, sig, nil
}
