package api

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/tenure-io/tenure"
)

// A name that hides a right-to-left override is refused by every way an HR
// record enters over HTTP (an event, a batch, a CSV import, a signed HR
// webhook), each naming the field, and nothing is written or run.
func TestEveryIntakePathRefusesInvisibleCharactersInNames(t *testing.T) {
	h := webhookHarness(t, newHRSecret)
	const rlo = "\u202e" // shows "Ada" followed by the rest reversed
	hire := func(id, employee, field, value string) string {
		person := map[string]string{"id": employee, "email": employee + "@example.com", "given_name": "Ada", "family_name": "Lovelace"}
		person[field] = value
		b, _ := json.Marshal(map[string]any{"id": id, "type": "hire", "employee": person})
		return string(b)
	}
	wantField := func(path, got, field string) {
		t.Helper()
		if !strings.Contains(got, field) || !strings.Contains(got, "U+202E") {
			t.Errorf("%s: %s, want a problem with %s naming U+202E", path, got, field)
		}
	}

	e := wantError(t, h.do("POST", "/api/v1/events", hire("ev-1", "E1", "given_name", "Ada"+rlo+"nimda")), http.StatusBadRequest, tenure.EINVALID)
	if len(e.Fields) != 1 {
		t.Errorf("events: %+v, want one problem", e.Fields)
	}
	b, _ := json.Marshal(e.Fields)
	wantField("events", string(b), "employee.given_name")

	res := h.do("POST", "/api/v1/events:batch", `{"events":[`+hire("ev-2", "E2", "title", "CEO"+rlo)+`]}`)
	if res.status != http.StatusOK || !strings.Contains(string(res.body), `"invalid"`) {
		t.Errorf("batch: %d %s", res.status, res.body)
	}
	wantField("batch", string(res.body), "employee.title")

	csv := "type,employee_id,email,given_name,family_name\nhire,E3,e3@example.com,Ada,Love" + rlo + "lace\n"
	res = h.do("POST", "/api/v1/imports?filename=people.csv", csv, "Content-Type", "text/csv")
	e = wantError(t, res, http.StatusBadRequest, tenure.EINVALID)
	b, _ = json.Marshal(e.Fields)
	wantField("import", string(b), "family_name")

	body := hire("wh-1", "E4", "family_name", "Hop\u200bper")
	res = h.deliver("generic", body, sign(newHRSecret, h.now(), body))
	if !strings.Contains(string(res.body), "employee.family_name") || !strings.Contains(string(res.body), "U+200B") {
		t.Errorf("webhook: %d %s, want a problem with employee.family_name naming U+200B", res.status, res.body)
	}

	for _, id := range []string{"E1", "E2", "E3", "E4"} {
		if n := h.storedEvents(id); n != 0 {
			t.Errorf("%s: %d events stored", id, n)
		}
	}
	if n := h.engine.submitCount(); n != 0 {
		t.Errorf("%d events reached the engine", n)
	}
}
