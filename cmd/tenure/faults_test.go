package main

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestEveryoneConvergesThroughFaults is an app outage as companies live it:
// every sandbox app answers 30% of requests with 503 and keeps throttling with
// 429s while 200 people are hired and 50 of them terminated. Tenure must wait
// the faults out: every joiner and leaver converges, no app is left failed, no
// account is duplicated and nothing is lost, checked in the apps' own state.
func TestEveryoneConvergesThroughFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("starts tenure dev and hires 200 people")
	}
	const hires, leavers = 200, 50
	p := startDev(t, t.TempDir())
	p.waitHealthChecked()

	apps := []string{"google", "slack", "github"}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		// Each app throttles in bursts: 10 requests answered 429 with a
		// Retry-After of 1 s, every 2 s, on top of 30% 503s.
		defer wg.Done()
		tick := time.NewTicker(2 * time.Second)
		defer tick.Stop()
		for {
			for _, app := range apps {
				p.faults(app, map[string]any{"errorRate": 0.3, "latency": "2ms", "rateLimit": 10, "retryAfter": "1s"})
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	t.Cleanup(func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		wg.Wait()
	})

	id := func(i int) string { return fmt.Sprintf("F%04d", i) }
	events := make([]map[string]any, 0, hires+leavers)
	for i := range hires {
		events = append(events, map[string]any{"id": "hire-" + id(i), "type": "hire",
			"employee": person(id(i), "Engineering", "Engineer")})
	}
	for i := range leavers {
		events = append(events, map[string]any{"id": "term-" + id(i), "type": "terminate",
			"employee": person(id(i), "Engineering", "Engineer")})
	}
	var batch struct {
		Results []struct {
			Status string `json:"status"`
			Error  any    `json:"error"`
		} `json:"results"`
	}
	if code := p.call("POST", "/api/v1/events:batch", map[string]any{"events": events}, &batch); code != http.StatusOK {
		t.Fatalf("events:batch: %d %+v", code, batch)
	}
	for i, r := range batch.Results {
		if r.Error != nil {
			t.Fatalf("event %d refused: %+v", i, r)
		}
	}

	// Wait until every person's runs have closed, in the read model.
	deadline := time.Now().Add(15 * time.Minute)
	start := time.Now()
	for i := 0; i < hires; {
		v := p.employee(id(i))
		done := len(v.Workflows) > 0
		for _, w := range v.Workflows {
			if w.Status == "running" {
				done = false
			}
		}
		want := "active"
		if i < leavers {
			want = "terminated"
		}
		if done && v.Status == want {
			i++
			continue
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s has not converged after %s: %+v", id(i), time.Since(start), v)
		}
		time.Sleep(200 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	for _, app := range apps {
		p.faults(app, map[string]any{})
	}
	t.Logf("converged in %s", time.Since(start).Round(time.Second))

	// The apps' own state: exactly one account per person per app, each
	// membership once, active for joiners and disabled for leavers.
	for _, app := range apps {
		for i := range hires {
			accts := p.accounts(app, id(i))
			if len(accts) != 1 {
				t.Errorf("%s holds %d accounts for %s, want 1", app, len(accts), id(i))
				continue
			}
			a := accts[0]
			wantActive := i >= leavers
			if a.Active != wantActive {
				t.Errorf("%s: %s active=%t, want %t", app, id(i), a.Active, wantActive)
			}
			if wantActive && len(a.Groups) != 1 {
				t.Errorf("%s: %s is in groups %v, want exactly one", app, id(i), a.Groups)
			}
		}
	}
	// And Tenure's view of it: nothing failed, nothing left unverified.
	for i := range hires {
		for _, a := range p.employee(id(i)).Access {
			if a.Status == "failed" || a.VerifiedAt == nil {
				t.Errorf("%s in %s: status %s, verified %v, error %q", id(i), a.App, a.Status, a.VerifiedAt, a.Error)
			}
		}
	}
	if out := p.out.String(); strings.Contains(out, "panic") {
		t.Errorf("tenure dev logged a panic:\n%s", out)
	}
}
