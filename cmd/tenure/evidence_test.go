package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/evidence"
	"github.com/tenure-io/tenure/internal/attest"
)

// runCLI runs tenure with args and the environment env, and returns what it
// printed and its error.
func runCLI(t *testing.T, env map[string]string, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := run(context.Background(), args, func(k string) string { return env[k] }, &out, &out)
	return out.String(), err
}

// signedEvidence writes a leaver's evidence signed with key to a file, as the
// API answers it, and returns the file's path.
func signedEvidence(t *testing.T, key string) string {
	t.Helper()
	k, err := attest.ParseKey(key)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 4, 1, 9, 0, 0, 0, time.UTC)
	doc := evidence.Document{Type: evidence.DocumentType, Version: evidence.Version, GeneratedAt: at, GeneratedBy: "auditor",
		Employee: evidence.Person{ID: "E9", Name: "Lin Leaver", Email: "lin@example.com", Status: tenure.PersonTerminated},
		Complete: true,
		Apps: []evidence.App{{App: "github", AccountID: "gh-9", UserName: "lin@example.com",
			Before:     &evidence.Before{Status: tenure.AccessActive, Entitlements: []string{"engineering"}, ReadAt: at},
			After:      evidence.After{Status: tenure.AccessDisabled, Entitlements: []string{}},
			VerifiedAt: &at}}}
	env, err := attest.Sign(k, doc)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(env)
	path := filepath.Join(t.TempDir(), "evidence.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestEvidenceVerifyCLI(t *testing.T) {
	key := attest.NewKey()
	env := map[string]string{"TENURE_AUDIT_SIGNING_KEY": key}
	pub, err := runCLI(t, env, "audit", "public-key")
	if err != nil {
		t.Fatalf("public-key: %v: %s", err, pub)
	}
	pubHex := strings.Fields(pub)[0]
	k, _ := attest.ParseKey(key)
	if pubHex != attest.PublicKeyHex(k) {
		t.Fatalf("public-key printed %q, want %s", pubHex, attest.PublicKeyHex(k))
	}
	file := signedEvidence(t, key)

	t.Run("verify OK", func(t *testing.T) {
		out, err := runCLI(t, nil, "evidence", "verify", file, "--public-key", pubHex)
		if err != nil {
			t.Fatalf("verify: %v: %s", err, out)
		}
		for _, want := range []string{"OK: the signature matches", "OK: signed by the trusted key", "about E9 Lin Leaver",
			"Complete: every app's account reads back disabled or deleted", "github", "active [engineering]", "-> disabled []"} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
		// Without the key it proves the document intact, and says who signed is not checked.
		out, err = runCLI(t, nil, "evidence", "verify", file)
		if err != nil || !strings.Contains(out, "NOT CHECKED: who signed") {
			t.Fatalf("verify without a key: %v: %s", err, out)
		}
	})

	t.Run("one byte of the payload edited", func(t *testing.T) {
		raw, _ := os.ReadFile(file)
		i := bytes.Index(raw, []byte(`"disabled"`))
		edited := slices.Clone(raw)
		edited[i+1] = 'D' // "Disabled": still JSON, no longer what was signed
		path := filepath.Join(t.TempDir(), "edited.json")
		os.WriteFile(path, edited, 0o600)
		out, err := runCLI(t, nil, "evidence", "verify", path, "--public-key", pubHex)
		if err == nil || exitCode(err) == 0 || !strings.Contains(err.Error(), "changed after it was signed") || strings.Contains(out, "OK") {
			t.Fatalf("verify of an edited file = %v, exit %d: %s", err, exitCode(err), out)
		}
	})

	t.Run("wrong key", func(t *testing.T) {
		other, _ := attest.ParseKey(attest.NewKey())
		out, err := runCLI(t, nil, "evidence", "verify", file, "--public-key", attest.PublicKeyHex(other))
		if err == nil || exitCode(err) == 0 || !strings.Contains(err.Error(), "not the trusted key") {
			t.Fatalf("verify with another key = %v: %s", err, out)
		}
		if _, err := runCLI(t, nil, "evidence", "verify", file, "--public-key", "xyz"); err == nil || !strings.Contains(err.Error(), "--public-key") {
			t.Fatalf("a malformed key = %v", err)
		}
	})

	t.Run("a leaving in progress", func(t *testing.T) {
		k, _ := attest.ParseKey(key)
		env, _ := attest.Sign(k, evidence.Document{Type: evidence.DocumentType, Version: 1,
			Apps: []evidence.App{{App: "aws", After: evidence.After{Status: tenure.AccessFailed, Error: "aws: 403"}}}})
		b, _ := json.MarshalIndent(env, "", "  ")
		path := filepath.Join(t.TempDir(), "progress.json")
		os.WriteFile(path, b, 0o600)
		out, err := runCLI(t, nil, "evidence", "verify", path, "--public-key", pubHex)
		if err != nil || !strings.Contains(out, "NOT complete") || !strings.Contains(out, "aws: 403") || !strings.Contains(out, "no account found -> failed") {
			t.Fatalf("verify of a leaving in progress = %v:\n%s", err, out)
		}
	})

	t.Run("not evidence", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "x.json")
		os.WriteFile(path, []byte(`{"hello":"world"}`), 0o600)
		if _, err := runCLI(t, nil, "evidence", "verify", path); err == nil || !strings.Contains(err.Error(), "not a signed Tenure document") {
			t.Fatalf("verify of another file = %v", err)
		}
	})

	t.Run("public-key without a key", func(t *testing.T) {
		if _, err := runCLI(t, nil, "audit", "public-key"); err == nil || !strings.Contains(err.Error(), "TENURE_AUDIT_SIGNING_KEY") {
			t.Fatalf("public-key without a key = %v", err)
		}
		// tenure dev's key, in its data directory.
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "audit.key"), []byte(key+"\n"), 0o600)
		if out, err := runCLI(t, nil, "audit", "public-key", "--data-dir", dir); err != nil || strings.Fields(out)[0] != pubHex {
			t.Fatalf("public-key --data-dir = %v: %s", err, out)
		}
	})
}

// get sends a GET with the admin token and returns the status and the raw body.
func (p *devProcess) get(path string) (int, []byte) {
	p.t.Helper()
	req, _ := http.NewRequest("GET", p.base+path, nil)
	req.Header.Set("Authorization", "Bearer "+p.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// TestEvidenceEndToEnd runs a hire with an approved privileged grant, a
// termination and a lock through tenure dev, and checks what auditors get:
// the access review, and each leaver's evidence, verified with the CLI
// against the key the deployment prints.
func TestEvidenceEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the embedded Temporal server")
	}
	dir := t.TempDir()
	p := startDev(t, dir)
	p.event("hire-7", "hire", person("E7", "Engineering", "Senior Engineer"))
	p.waitApps("E7", map[string]string{"google": "active all-staff", "slack": "active general", "github": "active engineering"})
	var pending struct {
		Approvals []struct{ ID string } `json:"approvals"`
	}
	p.call("GET", "/api/v1/approvals?status=pending&employee_id=E7", nil, &pending)
	if len(pending.Approvals) != 1 {
		t.Fatalf("pending approvals = %+v", pending)
	}
	approval := pending.Approvals[0].ID
	if code := p.call("POST", "/api/v1/approvals/"+approval+"/approve", map[string]string{"reason": "on call"}, nil); code != http.StatusOK {
		t.Fatalf("approve: %d", code)
	}
	before := map[string]string{"google": "active all-staff", "slack": "active general", "github": "active engineering", "aws": "active production-admin"}
	p.waitApps("E7", before)

	t.Run("access review", func(t *testing.T) {
		p.t = t
		var review struct {
			Lines    []evidence.ReviewLine `json:"lines"`
			Complete bool                  `json:"complete"`
		}
		var l evidence.ReviewLine
		// The grant reaches active a moment after the app shows it.
		deadline := time.Now().Add(30 * time.Second)
		for l.EntitlementStatus != tenure.AccessActive && time.Now().Before(deadline) {
			review.Lines = nil // decoding into old lines would keep their fields
			p.call("GET", "/api/v1/access-review?app=aws", nil, &review)
			for _, line := range review.Lines {
				if line.EmployeeID == "E7" && line.Entitlement == "production-admin" {
					l = line
				}
			}
			time.Sleep(100 * time.Millisecond)
		}
		if !review.Complete || l.AccountStatus != tenure.AccessActive || l.EntitlementStatus != tenure.AccessActive || l.VerifiedAt == nil ||
			l.Rule != "senior-engineers" || l.ApprovalID != approval || l.ApprovalStatus != tenure.ApprovalApproved ||
			l.DecidedBy != "admin" || l.DecidedAt == nil || l.Approver != tenure.ApproverManager || l.ApproverID != "M1" {
			t.Fatalf("aws/production-admin line = %+v", l)
		}
		// A grant without an approval is named by the rule of the policy that gives it.
		review.Lines = nil
		p.call("GET", "/api/v1/access-review?app=github", nil, &review)
		if !slices.ContainsFunc(review.Lines, func(l evidence.ReviewLine) bool {
			return l.EmployeeID == "E7" && l.Entitlement == "engineering" && l.Rule == "engineering" && l.ApprovalID == ""
		}) {
			t.Fatalf("github review = %+v", review.Lines)
		}
		code, body := p.get("/api/v1/access-review?format=csv&app=github")
		if code != http.StatusOK || !strings.Contains(string(body), "E7,Grace Hopper,e7@example.com,Engineering,Senior Engineer,active,github,") ||
			!strings.Contains(string(body), ",engineering,active,active,") {
			t.Fatalf("github review = %d %s", code, body)
		}
	})

	t.Run("no evidence before leaving", func(t *testing.T) {
		p.t = t
		if code, body := p.get("/api/v1/employees/E7/evidence"); code != http.StatusConflict {
			t.Fatalf("evidence of someone active = %d %s", code, body)
		}
	})

	pubOut, err := runCLI(t, nil, "audit", "public-key", "--data-dir", dir)
	if err != nil {
		t.Fatalf("public-key: %v: %s", err, pubOut)
	}
	pub := strings.Fields(pubOut)[0]
	// fetch saves a person's evidence to a file, verifies it with the CLI
	// against the deployment's key, and returns the document.
	fetch := func(t *testing.T, id string) evidence.Document {
		t.Helper()
		code, body := p.get("/api/v1/employees/" + id + "/evidence")
		if code != http.StatusOK {
			t.Fatalf("evidence of %s = %d %s", id, code, body)
		}
		file := filepath.Join(t.TempDir(), id+".json")
		os.WriteFile(file, body, 0o600)
		out, err := runCLI(t, nil, "evidence", "verify", file, "--public-key", pub)
		if err != nil || !strings.Contains(out, "OK: signed by the trusted key") || !strings.Contains(out, "Complete:") {
			t.Fatalf("tenure evidence verify: %v\n%s", err, out)
		}
		var env attest.Envelope
		json.Unmarshal(body, &env)
		var doc evidence.Document
		if err := json.Unmarshal(env.Payload, &doc); err != nil {
			t.Fatal(err)
		}
		return doc
	}

	t.Run("leaver", func(t *testing.T) {
		p.t = t
		p.event("term-7", "terminate", person("E7", "Engineering", "Senior Engineer"))
		p.waitApps("E7", map[string]string{"google": "disabled all-staff", "slack": "disabled general", "github": "disabled engineering", "aws": "disabled production-admin"})
		leaver := "employee/E7/leaver/term-7"
		if status, _, _ := p.waitRun("E7", leaver); status != "completed" {
			t.Fatalf("leaver = %s", status)
		}
		doc := fetch(t, "E7")
		if doc.Employee.ID != "E7" || doc.Employee.Status != tenure.PersonTerminated || !doc.Complete || doc.GeneratedBy != "admin" {
			t.Fatalf("document = %+v", doc)
		}
		if len(doc.Workflows) != 1 || doc.Workflows[0].WorkflowID != leaver ||
			!strings.HasSuffix(doc.Workflows[0].TemporalURL, "/workflows/"+url.PathEscape("employee/E7")) {
			t.Fatalf("workflows = %+v", doc.Workflows)
		}
		if tr := doc.Workflows[0].Trigger; tr.Kind != evidence.TriggerHREvent || tr.ID != "term-7" || tr.Actor != "hr" || tr.At == nil {
			t.Fatalf("trigger = %+v", tr)
		}
		if len(doc.Audit) != 1 || doc.Audit[0].Action != "employee.terminated" {
			t.Fatalf("audit = %+v", doc.Audit)
		}
		var apps []string
		for _, a := range doc.Apps {
			apps = append(apps, a.App)
			want := strings.Fields(before[a.App])[1]
			users := p.accounts(a.App, "E7")
			if a.Before == nil || a.Before.Status != tenure.AccessActive || !slices.Equal(a.Before.Entitlements, []string{want}) ||
				a.Before.WorkflowID != leaver || a.UserName != "e7@example.com" || len(users) != 1 || a.AccountID != users[0].ID {
				t.Errorf("%s: before %+v, account %s %s", a.App, a.Before, a.AccountID, a.UserName)
			}
			if a.After.Status != tenure.AccessDisabled || a.VerifiedAt == nil || a.VerifiedAt.Before(a.Before.ReadAt) {
				t.Errorf("%s: after %+v verified %v", a.App, a.After, a.VerifiedAt)
			}
			if len(a.Workflows) != 1 || a.Workflows[0].WorkflowID != leaver || len(a.Audit) == 0 ||
				!slices.ContainsFunc(a.Audit, func(r tenure.AuditRecord) bool { return r.Action == "account.disabled" }) {
				t.Errorf("%s: workflows %+v audit %+v", a.App, a.Workflows, a.Audit)
			}
		}
		if !slices.Equal(apps, []string{"aws", "github", "google", "slack"}) {
			t.Errorf("apps = %v", apps)
		}
	})

	t.Run("lock", func(t *testing.T) {
		p.t = t
		p.event("hire-8", "hire", person("E8", "Sales", "Account Executive"))
		p.waitApps("E8", map[string]string{"google": "active all-staff", "slack": "active general", "salesforce": "active sales-users"})
		req, _ := http.NewRequest("POST", p.base+"/api/v1/employees/E8/lock", nil)
		req.Header.Set("Authorization", "Bearer "+p.token)
		req.Header.Set("Idempotency-Key", "lock-e8")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		p.waitApps("E8", map[string]string{"google": "disabled all-staff", "slack": "disabled general", "salesforce": "disabled sales-users"})
		if status, _, _ := p.waitRun("E8", "employee/E8/lock/lock-e8"); status != "completed" {
			t.Fatalf("lock = %s", status)
		}
		doc := fetch(t, "E8")
		if doc.Employee.Status != tenure.PersonLocked || len(doc.Workflows) != 1 || len(doc.Apps) != 3 {
			t.Fatalf("document = %+v", doc)
		}
		if tr := doc.Workflows[0].Trigger; tr.Kind != evidence.TriggerLock || tr.ID != "lock-e8" || tr.Actor != "admin" {
			t.Fatalf("trigger = %+v", tr)
		}
	})
}
