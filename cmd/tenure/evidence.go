package main

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/evidence"
	"github.com/tenure-io/tenure/internal/attest"
)

const evidenceUsage = `Usage:
  tenure evidence verify FILE [--public-key HEX]

verify checks a leaver's evidence (GET /api/v1/employees/{id}/evidence, or the
console's Download evidence) offline: that the signature matches the document,
and with --public-key that the deployment's key made it. It prints what the
document proves and exits non-zero when any check fails. The deployment's
public key, for auditors to pin, is what tenure audit public-key prints.`

// runEvidence is `tenure evidence verify`.
func runEvidence(_ context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintln(stderr, evidenceUsage)
		if len(args) == 0 {
			return errUsage
		}
		return nil
	}
	sub, args := args[0], args[1:]
	fs := newSubFlags("evidence "+sub, evidenceUsage, stderr)
	if sub != "verify" {
		fmt.Fprintln(stderr, evidenceUsage)
		return fmt.Errorf("unknown evidence command %q: use verify", sub)
	}
	var publicKey string
	fs.StringVar(&publicKey, "public-key", "", "the deployment's Ed25519 public key in `HEX` (tenure audit public-key); without it, who signed is not checked")
	if err := fs.Parse(args); err != nil {
		return err
	}
	// Let flags follow the file too: tenure evidence verify FILE --public-key HEX.
	var positional []string
	for fs.NArg() > 0 {
		positional = append(positional, fs.Arg(0))
		if err := fs.Parse(fs.Args()[1:]); err != nil {
			return err
		}
	}
	if len(positional) != 1 {
		fs.Usage()
		return fmt.Errorf("tenure evidence verify takes one FILE, got %d", len(positional))
	}
	return verifyEvidence(positional[0], publicKey, stdout)
}

// verifyEvidence checks the file's signature, and its signer when trustedHex
// is given, then says what the document proves.
func verifyEvidence(path, trustedHex string, stdout io.Writer) error {
	var trusted ed25519.PublicKey
	if trustedHex != "" {
		var err error
		if trusted, err = attest.ParsePublicKey(trustedHex); err != nil {
			return fmt.Errorf("--public-key: %w", err)
		}
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var env attest.Envelope
	if err := json.Unmarshal(raw, &env); err != nil {
		return fmt.Errorf("%s is not a signed Tenure document: %w", path, err)
	}
	if len(env.Payload) == 0 || env.Signature.Value == "" {
		return fmt.Errorf("%s is not a signed Tenure document: it has no payload or no signature", path)
	}
	if err := attest.Verify(env, trusted); err != nil {
		return fmt.Errorf("%s: FAILED: %w", path, err)
	}
	fmt.Fprintln(stdout, "OK: the signature matches the document: it was not changed after it was signed.")
	if trusted != nil {
		fmt.Fprintf(stdout, "OK: signed by the trusted key %s.\n", attest.KeyID(trusted))
	} else {
		fmt.Fprintf(stdout, "NOT CHECKED: who signed. It names key %s; pass --public-key with the deployment's key (tenure audit public-key) to prove it was Tenure's.\n",
			env.Signature.KeyID)
	}
	var doc evidence.Document
	if err := json.Unmarshal(env.Payload, &doc); err != nil || doc.Type != evidence.DocumentType {
		fmt.Fprintf(stdout, "The document is not a leaver's evidence (type %q); nothing more to say about it.\n", doc.Type)
		return nil
	}
	describeEvidence(stdout, doc)
	return nil
}

// describeEvidence says what a leaver's evidence proves, app by app.
func describeEvidence(w io.Writer, doc evidence.Document) {
	e := doc.Employee
	fmt.Fprintf(w, "\nLeaver evidence (version %d) about %s %s <%s>, %s; generated %s by %s.\n",
		doc.Version, e.ID, e.Name, e.Email, e.Status, stamp(&doc.GeneratedAt), doc.GeneratedBy)
	if doc.Complete {
		fmt.Fprintln(w, "Complete: every app's account reads back disabled or deleted.")
	} else {
		fmt.Fprintln(w, "NOT complete: some app's account does not (yet) read back disabled or deleted; see below.")
	}
	fmt.Fprintln(w, "\nWorkflows:")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, wf := range doc.Workflows {
		t := wf.Trigger
		by := ""
		if t.Actor != "" {
			by = " by " + t.Actor
		}
		fmt.Fprintf(tw, "  %s\t%s %s\t%s %s%s\t%s\n", wf.WorkflowID, wf.Type, wf.Status, t.Kind, t.ID, by, wf.TemporalURL)
	}
	tw.Flush()
	fmt.Fprintln(w, "\nApps:")
	for _, a := range doc.Apps {
		before := "no account found"
		if b := a.Before; b != nil {
			before = fmt.Sprintf("%s %s (read %s)", b.Status, list(b.Entitlements), stamp(&b.ReadAt))
		}
		account := a.AccountID
		if a.UserName != "" {
			account += " (" + a.UserName + ")"
		}
		fmt.Fprintf(tw, "  %s\taccount %s:\t%s -> %s %s, verified %s\n", a.App, account, before, a.After.Status, list(a.After.Entitlements), stamp(a.VerifiedAt))
		if a.After.Error != "" {
			fmt.Fprintf(tw, "  \t\t%s\n", a.After.Error)
		}
	}
	tw.Flush()
	n, first, last := 0, int64(0), int64(0)
	chained := true
	count := func(recs []tenure.AuditRecord) {
		for _, r := range recs {
			n++
			if r.Seq == 0 || r.Hash == "" {
				chained = false
				continue
			}
			if first == 0 || r.Seq < first {
				first = r.Seq
			}
			last = max(last, r.Seq)
		}
	}
	count(doc.Audit)
	for _, a := range doc.Apps {
		count(a.Audit)
	}
	switch {
	case n == 0:
		fmt.Fprintln(w, "\nAudit records: none.")
	case chained:
		fmt.Fprintf(w, "\nAudit records: %d, each with its place in the audit chain (seq %d to %d) and its hash.\n", n, first, last)
	default:
		fmt.Fprintf(w, "\nAudit records: %d; not all of them carry a place in the audit chain (seq and hash).\n", n)
	}
}

func list(s []string) string { return "[" + strings.Join(s, ", ") + "]" }

func stamp(t *time.Time) string {
	if t == nil {
		return "never"
	}
	return t.UTC().Format(time.RFC3339)
}
