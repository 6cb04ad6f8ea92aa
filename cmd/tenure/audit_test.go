package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/activities"
	"github.com/tenure-io/tenure/guard"
	"github.com/tenure-io/tenure/internal/attest"
	"github.com/tenure-io/tenure/internal/devserver"
	"github.com/tenure-io/tenure/internal/signing"
	"github.com/tenure-io/tenure/rollout"
	"github.com/tenure-io/tenure/store"
	"github.com/tenure-io/tenure/store/storetest"
	"github.com/tenure-io/tenure/worker"
	"github.com/tenure-io/tenure/workflows"
)

// TestAuditVerifyCLI runs `tenure audit verify` on a dev store with a signed
// checkpoint, then tampers with the store as someone with its file could, and
// checks the exit code and what the command names.
func TestAuditVerifyCLI(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "tenure.db")
	db, err := store.Open(ctx, "sqlite:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 5; i++ {
		err := db.AppendAudit(ctx, tenure.AuditRecord{Key: fmt.Sprintf("E1/ev%d/github/disable", i), Actor: "tenure", Action: "account.disabled", EmployeeID: "E1"})
		if err != nil {
			t.Fatal(err)
		}
	}
	env := map[string]string{}
	tenureCLI := func(args ...string) (string, int) {
		t.Helper()
		var out, errOut bytes.Buffer
		err := run(ctx, append([]string{"audit"}, args...), func(k string) string { return env[k] }, &out, &errOut)
		if err != nil {
			return out.String() + errOut.String() + err.Error(), exitCode(err)
		}
		return out.String() + errOut.String(), 0
	}

	if out, code := tenureCLI("verify"); code != 1 || !strings.Contains(out, "DATABASE_URL") {
		t.Fatalf("no database named: exit %d\n%s", code, out)
	}
	if _, code := tenureCLI("check"); code != 1 {
		t.Fatalf("an unknown subcommand: exit %d", code)
	}
	if _, code := tenureCLI(); code != 2 {
		t.Fatalf("no subcommand: exit %d, want 2", code)
	}
	head, err := db.AuditHead(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out, code := tenureCLI("verify", "--data-dir", dir)
	if code != 0 || !strings.Contains(out, "audit trail intact: 5 records, head seq 5, hash "+head.Hash) || !strings.Contains(out, "no signed checkpoint") {
		t.Fatalf("an intact trail: exit %d\n%s", code, out)
	}
	if out, code := tenureCLI("public-key", "--data-dir", dir); code != 1 || !strings.Contains(out, "no audit signing key") {
		t.Fatalf("public-key without a key: exit %d\n%s", code, out)
	}

	// A checkpoint signed with the dev store's key, as the worker signs it.
	keyHex, err := keyFile(filepath.Join(dir, "audit.key"), attest.NewKey)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := attest.ParseKey(keyHex)
	pubHex := attest.PublicKeyHex(key)
	cps := &activities.AuditCheckpoints{Chain: db, Key: key}
	if _, err := cps.Checkpoint(ctx, workflows.AuditCheckpointInput{}); err != nil {
		t.Fatal(err)
	}
	if out, code := tenureCLI("public-key", "--data-dir", dir); code != 0 || !strings.HasPrefix(out, pubHex+"\n") {
		t.Fatalf("public-key: exit %d\n%s", code, out)
	}
	keyID := attest.KeyID(key.Public().(ed25519.PublicKey))
	out, code = tenureCLI("verify", "--data-dir", dir)
	if code != 0 || !strings.Contains(out, "matches the latest checkpoint: seq 5") || !strings.Contains(out, keyID) {
		t.Fatalf("with a checkpoint: exit %d\n%s", code, out)
	}

	// A checkpoint kept outside, as a subscriber receives it.
	cp, err := db.LatestAuditCheckpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	kept := filepath.Join(t.TempDir(), "checkpoint.json")
	event := fmt.Sprintf(`{"id":%q,"type":"audit.checkpoint","at":"2026-03-02T09:00:00Z","data":%s}`, activities.CheckpointEventID(5, cp.KeyID), cp.Envelope)
	if err := os.WriteFile(kept, []byte(event), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, code := tenureCLI("verify", "--data-dir", dir, "--checkpoint", kept); code != 0 || !strings.Contains(out, "matches "+kept+": seq 5") {
		t.Fatalf("with a checkpoint file: exit %d\n%s", code, out)
	}

	// Another machine's key is not the signer: refused, unless the signer's
	// public key is trusted explicitly (as after a rotation).
	env[auditKeyEnv] = attest.NewKey()
	if out, code := tenureCLI("verify", "--data-dir", dir); code != 1 || !strings.Contains(out, "not a trusted key") {
		t.Fatalf("a checkpoint by an untrusted key: exit %d\n%s", code, out)
	}
	if out, code := tenureCLI("verify", "--data-dir", dir, "--trusted-key", pubHex); code != 0 {
		t.Fatalf("with the signer trusted: exit %d\n%s", code, out)
	}
	if out, code := tenureCLI("verify", "--data-dir", dir, "--trusted-key", "xyz"); code == 0 || !strings.Contains(out, "64 hex") {
		t.Fatalf("a malformed --trusted-key: exit %d\n%s", code, out)
	}
	delete(env, auditKeyEnv)

	// Tampering, with the database file.
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Exec(`DELETE FROM audit_records WHERE seq = 5`); err != nil {
		t.Fatal(err)
	}
	out, code = tenureCLI("verify", "--data-dir", dir)
	if code != 1 || !strings.Contains(out, "seq 5") || !strings.Contains(out, "the chain ends at seq 4, but a signed checkpoint vouches for seq 5") {
		t.Fatalf("the last record deleted: exit %d\n%s", code, out)
	}
	if _, err := raw.Exec(`UPDATE audit_records SET detail = 'nothing to see' WHERE seq = 3`); err != nil {
		t.Fatal(err)
	}
	out, code = tenureCLI("verify", "--data-dir", dir)
	if code != 1 || !strings.Contains(out, `seq 3 (key "E1/ev3/github/disable")`) || !strings.Contains(out, "altered") {
		t.Fatalf("a record altered: exit %d\n%s", code, out)
	}
	// The checkpoint itself, edited to match the shortened chain.
	if _, err := raw.Exec(`UPDATE audit_checkpoints SET seq = 4`); err != nil {
		t.Fatal(err)
	}
	if out, code := tenureCLI("verify", "--data-dir", dir); code != 1 || !strings.Contains(out, "was changed") {
		t.Fatalf("an edited checkpoint: exit %d\n%s", code, out)
	}
}

// TestAuditCheckpointEndToEnd runs `tenure dev`, which signs with DIR/audit.key:
// the hourly schedule exists, a triggered run signs the head of the trail a
// hire wrote, and a subscriber receives the checkpoint, which proves the trail
// intact from outside Tenure's database.
func TestAuditCheckpointEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the embedded Temporal server")
	}
	var (
		mu       sync.Mutex
		secret   string
		received = map[string][]byte{} // checkpoint event ID -> body
	)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		if err := signing.Verify(r.Header.Get(signing.Header), body, []string{secret}, time.Now(), signing.DefaultTolerance); err != nil {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		received[r.Header.Get("Tenure-Event-Id")] = body
	}))
	defer receiver.Close()

	out := historiesOut(t)
	dir := t.TempDir()
	p := startDev(t, dir)
	var sub struct {
		Secret string `json:"secret"`
	}
	mu.Lock()
	code := p.call("POST", "/api/v1/subscriptions", map[string]any{"url": receiver.URL, "events": []string{tenure.EventAuditCheckpoint}}, &sub)
	secret = sub.Secret
	mu.Unlock()
	if code != http.StatusCreated {
		t.Fatalf("subscribing to audit.checkpoint: %d", code)
	}
	p.event("hire-1", "hire", person("E1", "Engineering", "Engineer"))
	p.waitApps("E1", map[string]string{"google": "active all-staff", "slack": "active general", "github": "active engineering"})

	c, err := client.Dial(client.Options{HostPort: p.temporal})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	h := c.ScheduleClient().GetHandle(ctx, workflows.AuditCheckpointScheduleID)
	desc, err := h.Describe(ctx)
	if err != nil || len(desc.Schedule.Spec.Intervals) != 1 || desc.Schedule.Spec.Intervals[0].Every != time.Hour {
		t.Fatalf("schedule = %+v, %v; want every hour", desc, err)
	}
	// The trail as the hire left it, read as another process would.
	db, err := store.Open(ctx, "sqlite:"+filepath.Join(dir, "tenure.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	before, err := db.AuditHead(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Trigger(ctx, client.ScheduleTriggerOptions{}); err != nil {
		t.Fatal(err)
	}
	var last client.ScheduleWorkflowExecution
	waitFor(t, "the triggered checkpoint run", func() bool {
		desc, err := h.Describe(ctx)
		if err != nil {
			t.Fatal(err)
		}
		// The first run started when the schedule was created, before the hire.
		if n := len(desc.Info.RecentActions); n >= 2 {
			last = *desc.Info.RecentActions[n-1].StartWorkflowResult
			return true
		}
		return false
	})
	if err := c.GetWorkflow(ctx, last.WorkflowID, last.FirstExecutionRunID).Get(ctx, nil); err != nil {
		t.Fatalf("the checkpoint run %s: %v", last.WorkflowID, err)
	}
	cp, err := db.LatestAuditCheckpoint(ctx)
	if err != nil || cp.Seq < before.Seq {
		t.Fatalf("the latest checkpoint is of seq %d (%v), want at least the hire's head, %d", cp.Seq, err, before.Seq)
	}
	var body []byte
	waitFor(t, "the checkpoint's audit.checkpoint event", func() bool {
		mu.Lock()
		defer mu.Unlock()
		body = received[activities.CheckpointEventID(cp.Seq, cp.KeyID)]
		return body != nil
	})

	// The event proves itself with the deployment's public key.
	keyHex := readToken(t, filepath.Join(dir, "audit.key"))
	key, err := attest.ParseKey(keyHex)
	if err != nil {
		t.Fatal(err)
	}
	var ev tenure.OutboundEvent
	if err := json.Unmarshal(body, &ev); err != nil {
		t.Fatal(err)
	}
	var claim tenure.AuditCheckpoint
	if _, err := attest.Open(ev.Data, &claim, key.Public().(ed25519.PublicKey)); err != nil || claim.Seq == 0 || ev.ID != activities.CheckpointEventID(claim.Seq, attest.KeyID(key.Public().(ed25519.PublicKey))) {
		t.Fatalf("the checkpoint event %s: %+v, %v", ev.ID, claim, err)
	}
	t.Logf("the checkpoint signs seq %d, after a hire into 3 apps", claim.Seq)
	kept := filepath.Join(t.TempDir(), "checkpoint.json")
	if err := os.WriteFile(kept, body, 0o600); err != nil {
		t.Fatal(err)
	}
	var cli bytes.Buffer
	if err := run(ctx, []string{"audit", "verify", "--data-dir", dir, "--checkpoint", kept}, func(string) string { return "" }, &cli, &cli); err != nil {
		t.Fatalf("tenure audit verify: %v\n%s", err, cli.String())
	}
	if !strings.Contains(cli.String(), fmt.Sprintf("matches %s: seq %d", kept, claim.Seq)) {
		t.Fatalf("tenure audit verify said:\n%s", cli.String())
	}

	if out != "" {
		writeRunHistory(t, c, last.WorkflowID, last.FirstExecutionRunID, filepath.Join(out, "auditcheckpoint.json"))
	}

	// A restart finds the schedule and keeps it.
	p.stop()
	p.start()
	if again, err := h.Describe(ctx); err != nil || again.Info.CreatedAt != desc.Info.CreatedAt {
		t.Fatalf("after a restart the schedule is %+v, %v", again, err)
	}
}

// TestWorkerWithoutAnAuditKeySchedulesNoCheckpoints starts a worker as
// `tenure worker` does when TENURE_AUDIT_SIGNING_KEY is unset: it says that
// checkpoints are off, and creates no schedule.
func TestWorkerWithoutAnAuditKeySchedulesNoCheckpoints(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an embedded Temporal server")
	}
	ctx := context.Background()
	srv, err := devserver.Start(ctx, devserver.Options{DataDir: t.TempDir(), UIPort: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Stop() })
	logs := &syncBuffer{}
	log := newLogger(logs, slog.LevelInfo, logText)
	c, err := dialTemporal(ctx, srv.HostPort(), srv.Namespace(), temporalConn{}, nil, observability{}, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	db := storetest.SQLite(t)
	parse := policyRun(func(string) string { return "" }, "http://127.0.0.1:9", "unused")
	engine := &workflows.Engine{Client: c}
	g, err := guard.New(guard.Config{Store: db, Engine: engine, Policy: rollout.NewVersions(db, parse), Signaler: engine})
	if err != nil {
		t.Fatal(err)
	}
	policies, err := rollout.New(rollout.Config{Store: db, Engine: engine, Guard: g, Parse: parse})
	if err != nil {
		t.Fatal(err)
	}
	if err := deployPolicyFile(ctx, policies, "", "test", log); err != nil {
		t.Fatal(err)
	}
	stop, err := startWorker(ctx, c, db, worker.NewLive(db, parse), workerExtras{chain: db, guard: g}, log)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if !strings.Contains(logs.String(), "audit checkpoints are off") {
		t.Errorf("the worker did not say checkpoints are off:\n%s", logs)
	}
	_, err = c.ScheduleClient().GetHandle(ctx, workflows.AuditCheckpointScheduleID).Describe(ctx)
	var nf *serviceerror.NotFound
	if !errors.As(err, &nf) {
		t.Fatalf("describing the checkpoint schedule: %v, want not found", err)
	}
}
