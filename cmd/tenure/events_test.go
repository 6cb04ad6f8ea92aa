package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/tenure-io/tenure/internal/signing"
)

// TestDevPublishesSignedEventsToSubscribers checks the wiring of outbound events
// in tenure dev: a subscriber registered through the API receives the hire and
// the access it granted, signed with its secret, once per event ID.
func TestDevPublishesSignedEventsToSubscribers(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the embedded Temporal server")
	}
	var (
		mu       sync.Mutex
		received = map[string]int{} // event ID -> deliveries
		types    = map[string]bool{}
		secret   string
		badSig   int
	)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		if err := signing.Verify(r.Header.Get(signing.Header), body, []string{secret}, time.Now(), signing.DefaultTolerance); err != nil {
			badSig++
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var ev struct{ ID, Type string }
		json.Unmarshal(body, &ev)
		received[ev.ID]++
		types[ev.Type] = true
	}))
	defer receiver.Close()

	p := startDev(t, t.TempDir())
	var sub struct {
		ID     string `json:"id"`
		Secret string `json:"secret"`
	}
	mu.Lock()
	code := p.call("POST", "/api/v1/subscriptions", map[string]any{"url": receiver.URL, "events": []string{"*"}}, &sub)
	secret = sub.Secret
	mu.Unlock()
	if code != http.StatusCreated || sub.Secret == "" {
		t.Fatalf("subscribing: %d %+v", code, sub)
	}
	p.event("hire-1", "hire", person("E1", "Engineering", "Engineer"))
	p.waitApps("E1", map[string]string{"google": "active all-staff", "slack": "active general", "github": "active engineering"})
	waitFor(t, "employee.hired and access.granted", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return types["employee.hired"] && types["access.granted"]
	})
	mu.Lock()
	defer mu.Unlock()
	if badSig != 0 {
		t.Errorf("%d deliveries had a bad signature", badSig)
	}
	for id, n := range received {
		if n != 1 {
			t.Errorf("event %s delivered %d times", id, n)
		}
	}
}

// TestALateOlderEventIsDiscarded sends two changes out of order through the API:
// the one HR made first arrives last and must not undo the newer one.
func TestALateOlderEventIsDiscarded(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the embedded Temporal server")
	}
	p := startDev(t, t.TempDir())
	p.event("hire-1", "hire", person("E1", "Engineering", "Engineer"))
	p.waitApps("E1", map[string]string{"google": "active all-staff", "slack": "active general", "github": "active engineering"})
	newer := map[string]any{"id": "upd-newer", "type": "update", "effective_at": "2026-11-20T10:00:00Z", "employee": person("E1", "Sales", "Account Executive")}
	older := map[string]any{"id": "upd-older", "type": "update", "effective_at": "2026-11-20T09:00:00Z", "employee": person("E1", "Engineering", "Engineer")}
	for _, ev := range []map[string]any{newer, older} {
		if code := p.call("POST", "/api/v1/events", ev, nil); code != http.StatusAccepted {
			t.Fatalf("event %s: %d", ev["id"], code)
		}
	}
	var detail struct {
		Department string `json:"department"`
		Events     []struct {
			ID     string `json:"id"`
			Status string `json:"status"`
			Note   string `json:"note"`
		} `json:"events"`
	}
	waitFor(t, "the older event to be discarded", func() bool {
		p.call("GET", "/api/v1/employees/E1", nil, &detail)
		for _, e := range detail.Events {
			if e.ID == "upd-older" && e.Status == "discarded" && e.Note != "" {
				return true
			}
		}
		return false
	})
	p.waitApps("E1", map[string]string{"google": "active all-staff", "slack": "active general", "github": "disabled", "salesforce": "active sales-users"})
	if p.call("GET", "/api/v1/employees/E1", nil, &detail); detail.Department != "Sales" {
		t.Errorf("department = %q, want Sales: the late event overwrote the newer one", detail.Department)
	}
	// The step marks the event discarded, then appends its audit record: wait
	// for the record rather than race the append.
	var audit struct {
		Records []struct{ Action string } `json:"records"`
	}
	waitFor(t, "the discard's audit record", func() bool {
		p.call("GET", "/api/v1/audit?employee_id=E1&action=event.discarded", nil, &audit)
		return len(audit.Records) > 0
	})
	if len(audit.Records) != 1 {
		t.Errorf("event.discarded audit = %+v, want one", audit.Records)
	}
}
