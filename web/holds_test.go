package web_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/guard"
)

// TestHoldsPageAndBanner: while the guard holds something the dashboard says so
// to everyone who sees it; admins and auditors see the holds, only an admin
// decides, with a reason, and the decision is audited.
func TestHoldsPageAndBanner(t *testing.T) {
	h := newHarness(t)
	var events []tenure.Event
	for i := range 12 {
		id := fmt.Sprintf("E%03d", i)
		h.seed(tenure.Employee{Person: tenure.Person{ID: id, GivenName: "G", FamilyName: id}})
		events = append(events, tenure.Event{ID: "term-" + id, Type: tenure.EventTerminate,
			Employee: tenure.Person{ID: id, Email: strings.ToLower(id) + "@example.com", GivenName: "G", FamilyName: id}})
	}
	v, err := h.guard.Events(ctx, guard.Bulk{Source: "batch", Operation: "batch-7", Actor: "hr-feed"}, events)
	if err != nil || !v.Held {
		t.Fatalf("%+v, %v", v, err)
	}
	admin, hr, auditor := h.as("admin"), h.as("hr"), h.as("auditor")

	p := admin.get("/")
	wantIn(t, p.body, `id="guard-banner"`, "holds 2 people in 1 hold", `<a href="/holds">Review the holds</a>`)
	p = hr.get("/")
	wantIn(t, p.body, `id="guard-banner"`, "IT has been alerted")
	if strings.Contains(p.body, `href="/holds"`) {
		t.Error("HR is sent to a page it may not open")
	}
	if p := hr.get("/holds"); p.status != http.StatusForbidden {
		t.Fatalf("HR opens the holds: %d", p.status)
	}
	p = auditor.get("/holds")
	wantIn(t, p.body, "2 people held", "batch-7", "hr-feed", "E010", "E011", "Only an admin can release")
	if strings.Contains(p.body, `value="release"`) {
		t.Error("an auditor is offered Release")
	}
	form := url.Values{"decision": {"release"}, "reason": {"ok"}, "csrf": {auditor.csrf("/holds")}}
	if p := auditor.do("POST", "/holds/"+v.HoldID+"/decide", form); p.status != http.StatusForbidden {
		t.Fatalf("an auditor decides: %d", p.status)
	}

	before, _, _ := h.engine.counts()
	p = admin.post("/holds", "/holds/"+v.HoldID+"/decide", url.Values{"decision": {"release"}})
	if p.status != http.StatusBadRequest || !strings.Contains(p.body, "Reason is required") {
		t.Fatalf("release without a reason = %d", p.status)
	}
	p = admin.post("/holds", "/holds/"+v.HoldID+"/decide", url.Values{"decision": {"release"}, "reason": {"HR confirmed the list"}})
	if p.status != http.StatusSeeOther || p.location != "/holds?done=released" {
		t.Fatalf("release = %d %s", p.status, p.location)
	}
	if after, _, _ := h.engine.counts(); after != before+2 {
		t.Fatalf("%d events handed on by the release, want 2", after-before)
	}
	recs, err := h.db.ListAudit(ctx, tenure.AuditFilter{Action: "guard.released"})
	if err != nil || len(recs) != 1 || recs[0].Actor != "admin@example.com" || !strings.Contains(recs[0].Detail, "HR confirmed the list") {
		t.Fatalf("audit = %+v, %v", recs, err)
	}
	if p := admin.get("/"); strings.Contains(p.body, `id="guard-banner"`) {
		t.Error("the banner stays after the release")
	}
	wantIn(t, admin.get("/holds").body, "Nothing is held", "released", "HR confirmed the list")
}
