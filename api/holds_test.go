package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/tenure-io/tenure"
)

// staff gives the store n active people, S000 to S<n-1>.
func staff(t *testing.T, db tenure.Store, n int) {
	t.Helper()
	for i := range n {
		id := fmt.Sprintf("S%03d", i)
		p := tenure.Person{ID: id, Email: strings.ToLower(id) + "@example.com", GivenName: "Grace", FamilyName: "Hopper"}
		if err := db.UpsertEmployee(context.Background(), tenure.Employee{Person: p, Status: tenure.PersonActive}); err != nil {
			t.Fatal(err)
		}
	}
}

type heldBatch struct {
	batchAnswer
	Held  int `json:"held"`
	Guard struct {
		Held   bool   `json:"held"`
		HoldID string `json:"hold_id"`
		Reason string `json:"reason"`
	} `json:"guard"`
	Holds []struct {
		HoldID string `json:"hold_id"`
	} `json:"results"`
}

func (b *bulkServer) holds(token, path string) (response, map[string]any) {
	b.t.Helper()
	res := b.get(path, token)
	var m map[string]any
	if res.status == http.StatusOK {
		if err := json.Unmarshal(res.body, &m); err != nil {
			b.t.Fatalf("%s: %s", path, res.body)
		}
	}
	return res, m
}

func (b *bulkServer) get(path, token string) response {
	b.t.Helper()
	req, _ := http.NewRequest("GET", b.url+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, header: resp.Header, body: body}
}

// TestBatchOverTheThresholdIsHeldUntilAnAdminReleasesIt: 15 terminations of
// 100 active people: 10 go ahead, 5 are held and reach nobody's workflow; HR
// and auditors may not decide; the admin's release hands them on and is audited.
func TestBatchOverTheThresholdIsHeldUntilAnAdminReleasesIt(t *testing.T) {
	b := newBulkServer(t, nil)
	staff(t, b.store, 100)
	var events []string
	for i := range 15 {
		events = append(events, eventJSON(fmt.Sprintf("term-%d", i), "terminate", fmt.Sprintf("S%03d", i)))
	}
	var got heldBatch
	res := b.post("/api/v1/events:batch", bulkHRToken, "application/json", batchBody(events...), &got)
	if res.status != http.StatusOK || got.Accepted != 10 || got.Held != 5 || !got.Guard.Held || got.Guard.HoldID == "" {
		t.Fatalf("batch: %d %s", res.status, res.body)
	}
	id := got.Guard.HoldID
	for i, r := range got.Results {
		want := "accepted"
		if i >= 10 {
			want = "held"
			if got.Holds[i].HoldID != id {
				t.Errorf("result %d in hold %q, want %s", i, got.Holds[i].HoldID, id)
			}
		}
		if r.Status != want {
			t.Errorf("result %d is %s, want %s", i, r.Status, want)
		}
	}
	if n := len(b.eng.submitted()); n != 10 {
		t.Fatalf("%d events reached the engine, want 10", n)
	}

	// Auditors and admins read; HR may not.
	if res, _ := b.holds(bulkHRToken, "/api/v1/holds"); res.status != http.StatusForbidden {
		t.Fatalf("HR lists holds: %d", res.status)
	}
	res, list := b.holds(bulkAuditorToken, "/api/v1/holds?status=held")
	if res.status != http.StatusOK || len(list["holds"].([]any)) != 1 {
		t.Fatalf("auditor lists: %d %s", res.status, res.body)
	}
	res, one := b.holds(bulkAuditorToken, "/api/v1/holds/"+id)
	if res.status != http.StatusOK || one["people"] != float64(5) || one["pending"] != float64(5) ||
		fmt.Sprint(one["employee_ids"]) != "[S010 S011 S012 S013 S014]" || one["source"] != "batch" || one["actor"] != "hr-feed" {
		t.Fatalf("hold: %d %s", res.status, res.body)
	}
	if res, _ := b.holds(adminToken, "/api/v1/holds?status=maybe"); res.status != http.StatusBadRequest {
		t.Fatalf("bad status filter: %d", res.status)
	}

	// Only an admin decides: HR and auditors are refused, and nothing moves.
	for _, tok := range []string{bulkHRToken, bulkAuditorToken} {
		wantError(t, b.post("/api/v1/holds/"+id+"/release", tok, "application/json", []byte(`{}`), nil), http.StatusForbidden, tenure.EFORBIDDEN)
		wantError(t, b.post("/api/v1/holds/"+id+"/discard", tok, "application/json", []byte(`{}`), nil), http.StatusForbidden, tenure.EFORBIDDEN)
	}
	if _, one := b.holds(adminToken, "/api/v1/holds/"+id); one["status"] != "held" || len(b.eng.submitted()) != 10 {
		t.Fatalf("a refused decision changed the hold: %v", one)
	}
	wantError(t, b.post("/api/v1/holds/hold_nope/release", adminToken, "application/json", []byte(`{}`), nil), http.StatusNotFound, tenure.ENOTFOUND)
	wantError(t, b.post("/api/v1/holds/"+id+"/release", adminToken, "application/json", []byte(`{"reason":7}`), nil), http.StatusBadRequest, tenure.EINVALID)

	var released tenure.Hold
	res = b.post("/api/v1/holds/"+id+"/release", adminToken, "application/json", []byte(`{"reason":"HR confirmed the layoff list"}`), &released)
	if res.status != http.StatusOK || released.Status != tenure.HoldReleased || released.Pending != 0 || released.DecidedBy != "ada" ||
		released.Note != "HR confirmed the layoff list" {
		t.Fatalf("release: %d %s", res.status, res.body)
	}
	var ids []string
	for _, ev := range b.eng.submitted() {
		ids = append(ids, ev.ID)
	}
	if len(ids) != 15 || !slices.Contains(ids, "term-14") {
		t.Fatalf("after the release the engine has %v", ids)
	}
	recs, err := b.store.ListAudit(context.Background(), tenure.AuditFilter{Action: "guard.released"})
	if err != nil || len(recs) != 1 || recs[0].Actor != "ada" || !strings.Contains(recs[0].Detail, "HR confirmed the layoff list") {
		t.Fatalf("audit = %+v, %v", recs, err)
	}
	wantError(t, b.post("/api/v1/holds/"+id+"/discard", adminToken, "application/json", nil, nil), http.StatusConflict, tenure.ECONFLICT)
	if recs, _ := b.store.ListAudit(context.Background(), tenure.AuditFilter{Action: "guard.discarded"}); len(recs) != 0 {
		t.Fatalf("a refused discard was audited: %+v", recs)
	}
}

// TestImportAndWebhookAreGuarded: the dry run of an import says it would be
// held; the import holds the excess, and holds it again when sent again; a
// single event sent on its own is never held.
func TestImportIsGuarded(t *testing.T) {
	b := newBulkServer(t, []byte("version: 1\n"))
	staff(t, b.store, 100)
	csv := "type,employee_id,email,given_name,family_name\n"
	for i := range 12 {
		csv += fmt.Sprintf("terminate,S%03d,s%03d@example.com,Grace,Hopper\n", i, i)
	}
	var plan struct {
		Guard struct {
			Held   bool   `json:"held"`
			Reason string `json:"reason"`
		} `json:"guard"`
	}
	if res := b.post("/api/v1/imports?filename=leavers.csv&dry_run=true", bulkHRToken, "text/csv", []byte(csv), &plan); res.status != 200 || !plan.Guard.Held {
		t.Fatalf("dry run: %d %s", res.status, res.body)
	}
	if holds, _ := b.holds(adminToken, "/api/v1/holds"); !strings.Contains(string(holds.body), `"holds":[]`) {
		t.Fatalf("the dry run held something: %s", holds.body)
	}
	var imp struct {
		importAnswer
		Held int `json:"held"`
	}
	if res := b.post("/api/v1/imports?filename=leavers.csv", bulkHRToken, "text/csv", []byte(csv), &imp); res.status != 200 || imp.Accepted != 10 || imp.Held != 2 {
		t.Fatalf("import: %d %s", res.status, res.body)
	}
	if imp.Results[11].Status != "held" {
		t.Fatalf("line 13 = %+v", imp.Results[11])
	}
	// Sent again, the held rows stay held and the others are duplicates.
	if res := b.post("/api/v1/imports?filename=leavers.csv", bulkHRToken, "text/csv", []byte(csv), &imp); res.status != 200 || imp.Duplicates != 10 || imp.Held != 2 {
		t.Fatalf("import again: %d %s", res.status, res.body)
	}
	if n := len(b.eng.submitted()); n != 10 {
		t.Fatalf("%d events reached the engine, want 10", n)
	}
	// One terminate on its own is never held, though the import source is full.
	res := b.post("/api/v1/events", bulkHRToken, "application/json", []byte(eventJSON("term-alone", "terminate", "S050")), nil)
	if res.status != http.StatusAccepted || len(b.eng.submitted()) != 11 {
		t.Fatalf("single terminate: %d %s", res.status, res.body)
	}
}

// TestHRWebhookDeliveryIsGuarded: a delivery over the threshold has its
// excess held, each held event answered as accepted and held.
func TestHRWebhookDeliveryIsGuarded(t *testing.T) {
	h := webhookHarness(t, newHRSecret)
	staff(t, h.store, 100)
	var events []string
	for i := range 12 {
		events = append(events, fmt.Sprintf(`{"id":"wh-%d","type":"terminate","employee":{"id":"S%03d","email":"s%03d@example.com","given_name":"G","family_name":"H"}}`, i, i, i))
	}
	body := `{"events":[` + strings.Join(events, ",") + `]}`
	res := h.deliver("generic", body, sign(newHRSecret, h.now(), body))
	if res.status != http.StatusAccepted {
		t.Fatalf("delivery: %d %s", res.status, res.body)
	}
	rs := results(t, res)
	held := 0
	for _, r := range rs {
		if r.Held {
			held++
			if r.HoldID == "" || r.Status != http.StatusAccepted {
				t.Errorf("held result %+v", r)
			}
		}
	}
	if held != 2 || h.engine.submitCount() != 10 {
		t.Fatalf("%d held, %d submitted; want 2 and 10: %s", held, h.engine.submitCount(), res.body)
	}
	if rec, err := h.store.GetEvent(context.Background(), "wh-11"); err != nil || rec.Status != tenure.EventHeld {
		t.Fatalf("wh-11 = %+v, %v", rec, err)
	}
}
