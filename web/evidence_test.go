package web_test

import (
	"crypto/ed25519"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/evidence"
	"github.com/tenure-io/tenure/internal/attest"
	"github.com/tenure-io/tenure/web/oidctest"
)

// testSigningKey signs the console's evidence downloads.
var testSigningKey, _ = attest.ParseKey("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff")

// TestEvidenceDownload: a leaver's page offers the evidence to those who may
// have it, and the file is the signed document, indented, still verifying.
func TestEvidenceDownload(t *testing.T) {
	h := newHarness(t)
	h.seed(tenure.Employee{Person: tenure.Person{ID: "M1", Email: "manny@example.com", GivenName: "Manny"}})
	h.seed(tenure.Employee{Person: tenure.Person{ID: "E1", GivenName: "Rita", FamilyName: "Report", ManagerID: "M1"}})
	h.seed(tenure.Employee{Person: tenure.Person{ID: "E3", GivenName: "Lin", FamilyName: "Leaver", ManagerID: "M1"}, Status: tenure.PersonTerminated})
	at := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)
	must(t, h.db.UpsertRun(ctx, tenure.Run{WorkflowID: "employee/E3/leaver/term-3", EmployeeID: "E3", Type: "Leaver", EventID: "term-3",
		Status: tenure.RunCompleted, StartedAt: at}))
	must(t, h.db.RecordAccountBefore(ctx, tenure.AccountBefore{Key: "E3/term-3/github/DisableAccount", EmployeeID: "E3", App: "github",
		WorkflowID: "employee/E3/leaver/term-3", Operation: "DisableAccount", AccountID: "gh-3", Status: tenure.AccessActive, ReadAt: at}))
	must(t, h.db.UpsertAccount(ctx, tenure.Account{EmployeeID: "E3", App: "github", AccountID: "gh-3", Status: tenure.AccessDisabled, VerifiedAt: &at}))
	must(t, h.db.AppendAudit(ctx, tenure.AuditRecord{Key: "E3/terminated:term-3", At: at, Actor: "hr", Action: "employee.terminated",
		EmployeeID: "E3", WorkflowID: "employee/E3"}))

	manager := h.signIn(oidctest.User{Subject: "m1", Email: "manny@example.com", EmailVerified: true, Name: "Manny"})
	for role, c := range map[string]*client{"admin": h.as("admin"), "auditor": h.as("auditor"), "manager": manager} {
		if p := c.get("/people/E3"); !strings.Contains(p.body, `href="/people/E3/evidence"`) {
			t.Errorf("%s sees no evidence link on a leaver's page", role)
		}
		if p := c.get("/people/E1"); strings.Contains(p.body, "Download evidence") {
			t.Errorf("%s sees an evidence link for someone who has not left", role)
		}
		p := c.get("/people/E3/evidence")
		if p.status != http.StatusOK || !strings.Contains(p.header.Get("Content-Disposition"), `attachment; filename="tenure-evidence-E3-`) {
			t.Fatalf("%s: %d %v %s", role, p.status, p.header, p.body)
		}
		var env attest.Envelope
		must(t, json.Unmarshal([]byte(p.body), &env))
		must(t, attest.Verify(env, testSigningKey.Public().(ed25519.PublicKey)))
		var doc evidence.Document
		must(t, json.Unmarshal(env.Payload, &doc))
		if doc.Employee.ID != "E3" || len(doc.Apps) != 1 || doc.Apps[0].Before == nil || doc.Apps[0].Before.Status != tenure.AccessActive ||
			doc.Apps[0].After.Status != tenure.AccessDisabled || !doc.Complete || doc.Workflows[0].Trigger.ID != "term-3" {
			t.Fatalf("%s: document = %s", role, env.Payload)
		}
	}
	if p := h.as("hr").get("/people/E3"); strings.Contains(p.body, "Download evidence") {
		t.Errorf("hr sees the evidence link")
	}
}
