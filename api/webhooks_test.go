package api

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tenure-io/tenure"
)

const (
	oldHRSecret = "hr-secret-being-rotated-out"
	newHRSecret = "hr-secret-rotated-in-0123456"
)

// webhookHarness is the API harness with HR webhook secrets configured.
func webhookHarness(t *testing.T, secrets ...string) *harness {
	t.Helper()
	h := newHarness(t)
	h.cfg.HRWebhookSecrets = secrets
	srv := httptest.NewServer(mustServer(t, h.cfg))
	t.Cleanup(srv.Close)
	h.url = srv.URL
	t.Cleanup(func() {
		for _, s := range secrets {
			if strings.Contains(h.logs.String(), s) {
				t.Errorf("the logs contain a webhook secret")
			}
		}
	})
	return h
}

// sign computes the Tenure-Signature header by hand, independently of the
// signing package: hex HMAC-SHA256 of "<t>.<body>".
func sign(secret string, at time.Time, body string) string {
	ts := strconv.FormatInt(at.Unix(), 10)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts + "." + body))
	return "t=" + ts + ",v1=" + hex.EncodeToString(m.Sum(nil))
}

func (h *harness) deliver(source, body, signature string) response {
	h.t.Helper()
	return h.do("POST", "/webhooks/hr/"+source, body, "Authorization", "", "Tenure-Signature", signature)
}

func (h *harness) now() time.Time { return h.cfg.Now() }

type deliveryBody struct {
	Source  string          `json:"source"`
	Results []webhookResult `json:"results"`
}

func results(t *testing.T, r response) []webhookResult {
	t.Helper()
	var d deliveryBody
	if err := json.Unmarshal(r.body, &d); err != nil || len(d.Results) == 0 {
		t.Fatalf("not a delivery answer (%v): %s", err, r.body)
	}
	return d.Results
}

func genericHire(id, employee string) string {
	return `{"id":"` + id + `","type":"hire","employee":{"id":"` + employee + `","email":"` + employee +
		`@example.com","given_name":"Grace","family_name":"Hopper"}}`
}

func (h *harness) storedEvents(employee string) int {
	h.t.Helper()
	evs, err := h.store.ListEvents(context.Background(), employee)
	if err != nil {
		h.t.Fatal(err)
	}
	return len(evs)
}

func TestHRWebhookSignatures(t *testing.T) {
	h := webhookHarness(t, oldHRSecret, newHRSecret)
	now := h.now()
	body := genericHire("wh-1", "E1")
	refused := []struct {
		name, body, sig string
	}{
		{"missing", body, ""},
		{"malformed", body, "v1=abc"},
		{"tampered body", strings.Replace(body, "E1@", "E9@", 1), sign(newHRSecret, now, body)},
		{"unknown secret", body, sign("someone-elses-secret", now, body)},
		{"expired", body, sign(newHRSecret, now.Add(-301*time.Second), body)},
		{"from the future", body, sign(newHRSecret, now.Add(301*time.Second), body)},
		{"timestamp changed", body, strings.Replace(sign(newHRSecret, now, body), "t="+strconv.FormatInt(now.Unix(), 10), "t="+strconv.FormatInt(now.Unix()+1, 10), 1)},
	}
	for _, c := range refused {
		res := h.deliver("generic", c.body, c.sig)
		wantError(t, res, http.StatusUnauthorized, tenure.EUNAUTHORIZED)
	}
	if n := h.engine.submitCount(); n != 0 || h.storedEvents("E1")+h.storedEvents("E9") != 0 {
		t.Fatalf("refused deliveries wrote or ran something: %d submits", n)
	}
	// Within the tolerance either way, and with either secret while rotating.
	for i, sig := range []string{
		sign(oldHRSecret, now.Add(-299*time.Second), body),
		sign(newHRSecret, now.Add(299*time.Second), body),
	} {
		res := h.deliver("generic", body, sig)
		want := http.StatusAccepted
		if i > 0 {
			want = http.StatusOK // the same event again: a duplicate
		}
		if res.status != want {
			t.Fatalf("delivery %d: status %d, want %d: %s", i, res.status, want, res.body)
		}
	}
	// Once the old secret is retired, it no longer verifies.
	h2 := webhookHarness(t, newHRSecret)
	wantError(t, h2.deliver("generic", body, sign(oldHRSecret, now, body)), http.StatusUnauthorized, tenure.EUNAUTHORIZED)
	// No secret configured: webhooks are off.
	h3 := webhookHarness(t)
	wantError(t, h3.deliver("generic", body, sign(newHRSecret, now, body)), http.StatusUnauthorized, tenure.EUNAUTHORIZED)
	wantError(t, h.deliver("workday", body, sign(newHRSecret, now, body)), http.StatusNotFound, tenure.ENOTFOUND)
}

func TestHRWebhookGenericDuplicatesAndConflicts(t *testing.T) {
	h := webhookHarness(t, newHRSecret)
	body := genericHire("wh-dup", "E2")
	first := h.deliver("generic", body, sign(newHRSecret, h.now(), body))
	if first.status != http.StatusAccepted {
		t.Fatalf("first: %d %s", first.status, first.body)
	}
	r := results(t, first)[0]
	if r.EventID != "wh-dup" || r.EmployeeID != "E2" || r.WorkflowID != "employee/E2" || r.Duplicate {
		t.Errorf("first result = %+v", r)
	}
	again := h.deliver("generic", body, sign(newHRSecret, h.now(), body))
	if again.status != http.StatusOK || !results(t, again)[0].Duplicate {
		t.Errorf("redelivery: %d %s", again.status, again.body)
	}
	changed := strings.Replace(body, "Grace", "Ada", 1)
	res := h.deliver("generic", changed, sign(newHRSecret, h.now(), changed))
	if res.status != http.StatusConflict || results(t, res)[0].Error.Code != tenure.ECONFLICT {
		t.Errorf("same id, another body: %d %s", res.status, res.body)
	}
	if n := h.engine.submitCount(); n != 1 {
		t.Errorf("engine ran %d times, want once", n)
	}

	// A batch answers per event: one good, one refused.
	batch := `{"events":[` + genericHire("wh-b1", "E3") + `,{"id":"wh-b2","type":"hire","employee":{"id":"E4","email":"not-an-email"}}]}`
	res = h.deliver("generic", batch, sign(newHRSecret, h.now(), batch))
	rs := results(t, res)
	if res.status != http.StatusMultiStatus || rs[0].Status != http.StatusAccepted || rs[1].Status != http.StatusBadRequest {
		t.Fatalf("batch: %d %s", res.status, res.body)
	}
	fields := map[string]bool{}
	for _, f := range rs[1].Error.Fields {
		fields[f.Field] = true
	}
	if !fields["employee.email"] || !fields["employee.given_name"] {
		t.Errorf("refused event's fields = %+v", rs[1].Error.Fields)
	}
	if h.storedEvents("E4") != 0 {
		t.Error("a refused event was written")
	}
	// A body that is no delivery at all is refused whole.
	bad := `{"events": "none"}`
	wantError(t, h.deliver("generic", bad, sign(newHRSecret, h.now(), bad)), http.StatusBadRequest, tenure.EINVALID)
}

func TestHRWebhookEngineDownAsksForARetry(t *testing.T) {
	h := webhookHarness(t, newHRSecret)
	h.engine.set(func(f *fakeEngine) { f.failSubmit = errors.New("temporal: connection refused") })
	body := genericHire("wh-down", "E5")
	res := h.deliver("generic", body, sign(newHRSecret, h.now(), body))
	if res.status != http.StatusServiceUnavailable || strings.Contains(string(res.body), "connection refused") {
		t.Fatalf("engine down: %d %s", res.status, res.body)
	}
	h.engine.set(func(f *fakeEngine) { f.failSubmit = nil })
	if res := h.deliver("generic", body, sign(newHRSecret, h.now(), body)); res.status != http.StatusAccepted {
		t.Fatalf("the sender's retry: %d %s", res.status, res.body)
	}
}

func bambooFixture(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile("../integrations/hr/testdata/bamboohr/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestHRWebhookBambooHR(t *testing.T) {
	h := webhookHarness(t, newHRSecret)
	created := bambooFixture(t, "created.json")
	res := h.deliver("bamboohr", created, sign(newHRSecret, h.now(), created))
	if res.status != http.StatusAccepted {
		t.Fatalf("created: %d %s", res.status, res.body)
	}
	subs := h.engine.calls().submits
	if len(subs) != 1 {
		t.Fatalf("%d submits", len(subs))
	}
	ev := subs[0]
	if ev.ID != "bamboohr-112-created-20260131T184200Z" || ev.Type != tenure.EventHire ||
		ev.Employee.Email != "bryony.hale@example.com" || ev.Employee.ManagerID != "40" || ev.Employee.Department != "Engineering" ||
		ev.EffectiveAt == nil || !ev.EffectiveAt.Equal(time.Date(2026, 1, 31, 18, 42, 0, 0, time.UTC)) {
		t.Errorf("hire = %+v", ev)
	}
	// BambooHR redelivers: the same event, run once.
	again := h.deliver("bamboohr", created, sign(newHRSecret, h.now(), created))
	if again.status != http.StatusOK || !results(t, again)[0].Duplicate || h.engine.submitCount() != 1 {
		t.Fatalf("redelivery: %d %s", again.status, again.body)
	}

	// The workflow would record the hire; an update then posts only what changed.
	if err := h.store.UpsertEmployee(context.Background(), tenure.Employee{Person: ev.Employee, Status: tenure.PersonActive}); err != nil {
		t.Fatal(err)
	}
	updated := bambooFixture(t, "updated_english_names.json")
	res = h.deliver("bamboohr", updated, sign(newHRSecret, h.now(), updated))
	if res.status != http.StatusAccepted {
		t.Fatalf("updated: %d %s", res.status, res.body)
	}
	up := h.engine.calls().submits[1]
	if up.Type != tenure.EventUpdate || up.Employee.Department != "Sales" || up.Employee.Title != "Account Executive" ||
		up.Employee.Email != "bryony.hale@example.com" || up.Employee.Attributes["division"] != "Platform" {
		t.Errorf("update = %+v", up)
	}
	// Redelivered after the record moved on, the update is still a duplicate.
	moved := ev.Employee
	moved.Department, moved.Title, moved.Location = "Sales", "Account Executive", "Leeds"
	if err := h.store.UpsertEmployee(context.Background(), tenure.Employee{Person: moved, Status: tenure.PersonActive}); err != nil {
		t.Fatal(err)
	}
	res = h.deliver("bamboohr", updated, sign(newHRSecret, h.now(), updated))
	if res.status != http.StatusOK || !results(t, res)[0].Duplicate {
		t.Errorf("late redelivery: %d %s", res.status, res.body)
	}

	terminated := bambooFixture(t, "terminated.json")
	res = h.deliver("bamboohr", terminated, sign(newHRSecret, h.now(), terminated))
	term := h.engine.calls().submits[len(h.engine.calls().submits)-1]
	if res.status != http.StatusAccepted || term.Type != tenure.EventTerminate ||
		!term.EffectiveAt.Equal(time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)) || term.Employee.Location != "Leeds" {
		t.Errorf("termination: %d %+v", res.status, term)
	}

	// Created without fields (as BambooHR sends it by default) says what to post.
	empty := bambooFixture(t, "created_no_fields.json")
	res = h.deliver("bamboohr", empty, sign(newHRSecret, h.now(), empty))
	if res.status != http.StatusBadRequest || !strings.Contains(string(res.body), "Work Email") {
		t.Errorf("created without fields: %d %s", res.status, res.body)
	}
	// Deleting someone Tenure never knew needs nothing.
	del := `{"employees":[{"action":"Deleted","changedFields":[],"fields":{},"id":"999","timestamp":"2026-05-02T08:00:00+0000"}]}`
	res = h.deliver("bamboohr", del, sign(newHRSecret, h.now(), del))
	if res.status != http.StatusOK || results(t, res)[0].Skipped == "" || h.storedEvents("999") != 0 {
		t.Errorf("deleting a stranger: %d %s", res.status, res.body)
	}
}

func TestHRWebhookBambooHROutOfOrder(t *testing.T) {
	h := webhookHarness(t, newHRSecret)
	seedEmployee(t, h.store, "200", tenure.PersonActive)
	newer := `{"employees":[{"action":"Updated","changedFields":["Department"],"fields":{"Department":"Sales"},"id":"200","timestamp":"2026-03-10T09:15:00+0000"}]}`
	older := `{"employees":[{"action":"Updated","changedFields":["Department"],"fields":{"Department":"Support"},"id":"200","timestamp":"2026-03-09T17:00:00+0000"}]}`
	for _, body := range []string{newer, older} {
		if res := h.deliver("bamboohr", body, sign(newHRSecret, h.now(), body)); res.status != http.StatusAccepted {
			t.Fatalf("%d %s", res.status, res.body)
		}
	}
	subs := h.engine.calls().submits
	if len(subs) != 2 {
		t.Fatalf("%d submits", len(subs))
	}
	// Both reach the workflow, each with BambooHR's own time of the change, which
	// is what the person's workflow orders them by.
	if subs[0].ID == subs[1].ID || !subs[1].EffectiveAt.Before(*subs[0].EffectiveAt) ||
		!subs[1].EffectiveAt.Equal(time.Date(2026, 3, 9, 17, 0, 0, 0, time.UTC)) {
		t.Errorf("newer %s at %v, older %s at %v", subs[0].ID, subs[0].EffectiveAt, subs[1].ID, subs[1].EffectiveAt)
	}
}
