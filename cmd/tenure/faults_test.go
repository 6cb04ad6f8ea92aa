package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tenure-io/tenure/policy"
)

// TestEveryoneConvergesThroughFaults is an app outage as companies live it:
// every sandbox app answers 30% of requests with 503 and throttles at 20
// requests a second while 200 people are hired and 50 of them terminated. The
// policy limits each app's rate below that, as a company would, so a bulk run
// does not get Tenure throttled into a standstill. Tenure must wait
// the faults out: every joiner and leaver converges, no app is left failed, no
// account is duplicated and nothing is lost, checked in the apps' own state.
func TestEveryoneConvergesThroughFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("starts tenure dev and hires 200 people")
	}
	const hires, leavers = 200, 50
	// The dev policy, with each app's limit set below what the app allows, as
	// docs/connectors.md asks: a step makes a few requests.
	dir := t.TempDir()
	pol := string(policy.Dev)
	for _, app := range []string{"google", "slack", "github"} {
		entry := "  - name: " + app + "\n    connector: scim\n    sandbox: true\n"
		if !strings.Contains(pol, entry) {
			t.Fatalf("the dev policy no longer has %q", entry)
		}
		pol = strings.Replace(pol, entry, entry+"    rate: 4/s\n    max_concurrent: 4\n", 1)
	}
	// The 50 leavers are one planned batch: a company that sends them at once
	// raises the blast-radius guard's threshold to let them through.
	pol += "\nguard:\n  people: 100\n"
	policyFile := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(policyFile, []byte(pol), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startDevWith(t, filepath.Join(dir, "data"), []string{"--policy", policyFile}, nil)
	p.waitHealthChecked()

	// Every app answers 30% of requests 503, lets 20 requests a second through
	// and throttles the rest with 429 and a Retry-After, with 20 ms of latency.
	apps := []string{"google", "slack", "github"}
	for _, app := range apps {
		p.faults(app, map[string]any{"errorRate": 0.3, "latency": "20ms", "ratePerSecond": 20})
	}

	id := func(i int) string { return fmt.Sprintf("F%04d", i) }
	send := func(typ string, from, to int) {
		t.Helper()
		events := make([]map[string]any, 0, to-from)
		for i := from; i < to; i++ {
			events = append(events, map[string]any{"id": typ + "-" + id(i), "type": typ,
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
				t.Fatalf("%s event %d refused: %+v", typ, i, r)
			}
		}
	}
	// Everyone is hired; once the first 50 have their accounts, they leave
	// while the rest are still being hired.
	start := time.Now()
	send("hire", 0, hires)
	for i := 0; i < leavers; {
		var v employeeView
		p.call("GET", "/api/v1/employees/"+id(i), nil, &v)
		if v.Status == "active" && len(v.Access) == 3 && v.Access[0].Status == "active" &&
			v.Access[1].Status == "active" && v.Access[2].Status == "active" {
			i++
			continue
		}
		if time.Since(start) > 15*time.Minute {
			t.Fatalf("%s was not hired within 15 minutes: %+v", id(i), v)
		}
		time.Sleep(200 * time.Millisecond)
	}
	send("terminate", 0, leavers)

	// Wait until every person's runs have closed, in the read model.
	deadline := time.Now().Add(15 * time.Minute)
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
