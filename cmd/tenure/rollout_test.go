package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/integrations"
	"github.com/tenure-io/tenure/rollout"
)

// The policies of the swap: v1 gives everyone the old chat app; v2 gives them
// a new one instead (which v1 does not have: tenure dev serves it once v2 is
// in force), keeping the old one configured so that its accounts can be
// disabled; v3 renames the new app's entitlement. The new app is rate limited,
// so the rollout goes through its own task queue.
const (
	swapV1 = `version: 1
apps:
  - name: chat-old
    connector: scim
    sandbox: true
  - name: wiki
    connector: scim
    sandbox: true
rules:
  - name: everyone
    match: {}
    grant:
      - app: chat-old
        entitlements: [general]
      - app: wiki
        entitlements: [staff]
`
	swapV2 = `version: 1
apps:
  - name: chat-old
    connector: scim
    sandbox: true
  - name: chat-new
    connector: scim
    sandbox: true
    rate: 25/s
  - name: wiki
    connector: scim
    sandbox: true
rules:
  - name: everyone
    match: {}
    grant:
      - app: chat-new
        entitlements: [team-a]
      - app: wiki
        entitlements: [staff]
`
)

var swapV3 = strings.Replace(swapV2, "[team-a]", "[team-b]", 1)

// guardedDev runs the stack of `tenure dev`, as the dev command does, with
// the blast-radius guard at its default threshold, and restarts it on the same
// data.
type guardedDev struct {
	t      *testing.T
	cfg    devConfig
	s      *stack
	cancel context.CancelFunc
	served chan error
	logs   *syncBuffer
	*devProcess
}

func startGuardedDev(t *testing.T, dir, policyPath string) *guardedDev {
	g := &guardedDev{t: t, logs: &syncBuffer{}, cfg: devConfig{dataDir: dir, httpAddr: "127.0.0.1:0", temporalPort: 0, uiPort: -1,
		logLevel: slog.LevelWarn, policyPath: policyPath}}
	g.start()
	t.Cleanup(g.stop)
	return g
}

func (g *guardedDev) start() {
	g.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s, err := startStack(ctx, g.cfg, os.Getenv, g.logs)
	if err != nil {
		cancel()
		g.t.Fatalf("starting the stack: %v\n%s", err, g.logs)
	}
	g.s, g.cancel, g.served = s, cancel, make(chan error, 1)
	go func() { g.served <- s.serve(ctx) }()
	g.devProcess = &devProcess{t: g.t, dir: g.cfg.dataDir, base: s.baseURL, temporal: s.temporal.HostPort(),
		token: s.adminToken, sbToken: s.sandboxToken, out: g.logs}
	g.waitFor("the stack to be ready", func() bool {
		res, err := http.Get(s.baseURL + "/healthz")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == http.StatusOK
	})
}

// stop stops the stack as Ctrl+C does.
func (g *guardedDev) stop() {
	if g.s == nil {
		return
	}
	g.cancel()
	<-g.served
	g.s.Close()
	g.s = nil
}

// cli runs `tenure policy ...` against the stack.
func (g *guardedDev) cli(args ...string) (string, error) {
	var out bytes.Buffer
	args = append([]string{"policy", args[0], "--url", g.base, "--token", g.token}, args[1:]...)
	err := run(context.Background(), args, func(string) string { return "" }, &out, &out)
	return out.String(), err
}

// users returns a sandbox app's users by HR ID, as the app itself holds them.
func (g *guardedDev) users(app string) map[string]integrations.Account {
	out := map[string]integrations.Account{}
	if !slices.Contains(g.s.sandbox.Apps(), app) {
		return out
	}
	err := g.app(app).List(context.Background(), func(a integrations.Account) bool {
		out[a.ExternalID] = a
		return true
	})
	if err != nil {
		g.t.Fatalf("listing %s: %v", app, err)
	}
	return out
}

// rollout reads a rollout through the API.
func (g *guardedDev) rollout(id string) tenure.Rollout {
	var r tenure.Rollout
	if code := g.call("GET", "/api/v1/rollouts/"+id, nil, &r); code != http.StatusOK {
		g.t.Fatalf("GET rollout %s: %d", id, code)
	}
	return r
}

func (g *guardedDev) waitRollout(id string, done func(tenure.Rollout) bool) tenure.Rollout {
	g.t.Helper()
	var r tenure.Rollout
	g.waitFor("rollout "+id, func() bool {
		r = g.rollout(id)
		if r.Status == tenure.RolloutFailed || r.Status == tenure.RolloutCanceled {
			g.t.Fatalf("rollout %s %s: %+v", id, r.Status, r)
		}
		return done(r)
	})
	return r
}

func hashOf(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// heldID reads the rollout ID out of what `tenure policy apply` says when the
// guard holds the deploy.
var heldID = regexp.MustCompile("tenure policy confirm ([a-z0-9-]+)")

// TestPolicyRolloutSwapsAnAppForEveryoneAndRevokesARename is the seed case of
// the policy rollout, through the stack of tenure dev: 50 people have an old
// chat app; a deploy swaps it for a new one. The plan shows exactly 50 who
// lose and 50 who gain; the blast-radius guard, at its default threshold,
// holds the deploy, and nothing changes until it is confirmed; the rollout goes on across a restart of the whole stack,
// completes, and every sandbox shows the swap. Then a rename of the new app's
// entitlement, deployed and confirmed with the CLI, revokes the old group.
func TestPolicyRolloutSwapsAnAppForEveryoneAndRevokesARename(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the embedded Temporal server")
	}
	histories := historiesOut(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "policy.yaml")
	writeFile(t, file, swapV1)
	began := time.Now()
	stage := func(what string) { t.Logf("%s at %s", what, time.Since(began).Round(100*time.Millisecond)) }
	g := startGuardedDev(t, filepath.Join(dir, "data"), file)
	stage("started")

	const people = 50
	var events []map[string]any
	for i := range people {
		id := fmt.Sprintf("P%03d", i)
		events = append(events, map[string]any{"id": "hire-" + id, "type": "hire", "employee": person(id, "Engineering", "Engineer")})
	}
	var batch map[string]any
	if code := g.call("POST", "/api/v1/events:batch", map[string]any{"events": events}, &batch); code != http.StatusOK {
		t.Fatalf("events:batch: %d %v", code, batch)
	}
	g.waitFor("everyone's chat-old and wiki accounts, recorded", func() bool {
		n := 0
		err := g.s.store.EachPersonAccess(context.Background(), func(p tenure.PersonAccess) error {
			for _, gr := range p.Grants {
				if (gr.App == "chat-old" && gr.Entitlement == "general" || gr.App == "wiki" && gr.Entitlement == "staff") && gr.Status == tenure.AccessActive {
					n++
				}
			}
			return nil
		})
		return err == nil && n == 2*people
	})

	hired := time.Now()
	stage("hired")
	// The plan: exactly 50 lose the old app and 50 gain the new one, and the
	// guard would hold it.
	v2 := filepath.Join(dir, "v2.yaml")
	writeFile(t, v2, swapV2)
	out, err := g.cli("plan", v2)
	if err != nil {
		t.Fatalf("tenure policy plan: %v\n%s", err, out)
	}
	for _, want := range []string{"of 50 people, 50 gain access, 50 lose access, 0 stay as they are",
		"The guard would hold this deploy", "chat-new  50    0", "chat-old  0     50", "Changes (20 of 200):"} {
		if !strings.Contains(out, want) {
			t.Errorf("tenure policy plan printed no %q:\n%s", want, out)
		}
	}
	var plan rollout.Plan
	if code := g.callYAML("POST", "/api/v1/policy/plan", swapV2, &plan); code != http.StatusOK {
		t.Fatalf("plan: %d", code)
	}
	s := plan.Summary
	if s.People != people || s.Gain != people || s.Lose != people || s.ByApp["chat-old"] != (rollout.AppCounts{Lose: people}) ||
		s.ByApp["chat-new"] != (rollout.AppCounts{Gain: people}) || !plan.Guard.Held || plan.Version != hashOf(swapV2) {
		t.Fatalf("plan = %+v, guard %+v", s, plan.Guard)
	}

	// Deploying it: held, and nothing changes before it is confirmed.
	out, err = g.cli("apply", v2)
	m := heldID.FindStringSubmatch(fmt.Sprint(err))
	if err == nil || m == nil || !strings.Contains(err.Error(), "would disable or revoke access for 50 people within 1h") {
		t.Fatalf("tenure policy apply of a held deploy: %v\n%s", err, out)
	}
	id := m[1]
	time.Sleep(time.Second)
	var active tenure.PolicyVersion
	g.call("GET", "/api/v1/policy", nil, &active)
	if active.Version != hashOf(swapV1) {
		t.Fatalf("the version in force while held is %s, want v1's", active.Version)
	}
	if r := g.rollout(id); r.Status != tenure.RolloutHeld || r.Total != people || r.Done != 0 {
		t.Fatalf("held rollout = %+v", r)
	}
	if old, now := g.users("chat-old"), g.users("chat-new"); len(old) != people || len(now) != 0 || !old["P007"].Active {
		t.Fatalf("while held: chat-old has %d users (P007 active %t), chat-new %d", len(old), old["P007"].Active, len(now))
	}

	// Confirmed, it runs; the whole stack restarts in the middle, and it
	// carries on where it was.
	if code := g.call("POST", "/api/v1/rollouts/"+id+"/confirm", nil, nil); code != http.StatusAccepted {
		t.Fatalf("confirm: %d", code)
	}
	mid := g.waitRollout(id, func(r tenure.Rollout) bool { return r.Done >= 5 || r.Status == tenure.RolloutCompleted })
	if mid.Status == tenure.RolloutCompleted {
		t.Log("the rollout completed before the restart: the restart proves nothing this time")
	}
	stage("restarting")
	g.stop()
	g.start()
	stage("restarted")
	r := g.waitRollout(id, func(r tenure.Rollout) bool { return r.Status == tenure.RolloutCompleted })
	if r.Total != people || r.Done != people || r.Failed != 0 || r.ByApp["chat-new"].Done != people || r.ByApp["chat-old"].Done != people {
		t.Fatalf("completed rollout = %+v", r)
	}
	old, now := g.users("chat-old"), g.users("chat-new")
	for i := range people {
		id := fmt.Sprintf("P%03d", i)
		if o := old[id]; o.ID == "" || o.Active {
			t.Errorf("%s in chat-old = %+v, want disabled", id, o)
		}
		if n := now[id]; n.ID == "" || !n.Active {
			t.Errorf("%s in chat-new = %+v, want active", id, n)
		}
	}
	if len(now) != people {
		t.Errorf("chat-new has %d users, want %d: none twice", len(now), people)
	}
	if members := g.sandboxMembers("chat-old", "general"); len(members) != 0 {
		t.Errorf("chat-old's general still has %d members", len(members))
	}
	if members := g.sandboxMembers("chat-new", "team-a"); len(members) != people {
		t.Errorf("chat-new's team-a has %d members, want %d", len(members), people)
	}
	g.call("GET", "/api/v1/policy", nil, &active)
	if active.Version != hashOf(swapV2) || active.ActivatedBy != "admin" {
		t.Fatalf("the version in force is %s by %q, want v2's", active.Version, active.ActivatedBy)
	}

	stage("swapped")
	// A rename revokes the old group: deployed and confirmed with the CLI,
	// which follows the rollout until it completes. A first rename, held,
	// is superseded by the second before anyone confirms it: its hold is
	// discarded, and it can no longer be confirmed.
	wrong := filepath.Join(dir, "v3-wrong.yaml")
	writeFile(t, wrong, strings.Replace(swapV2, "[team-a]", "[team-c]", 1))
	out, err = g.cli("apply", wrong)
	first := heldID.FindStringSubmatch(fmt.Sprint(err))
	if first == nil {
		t.Fatalf("tenure policy apply of the first rename: %v\n%s", err, out)
	}
	v3 := filepath.Join(dir, "v3.yaml")
	writeFile(t, v3, swapV3)
	out, err = g.cli("apply", v3)
	if m = heldID.FindStringSubmatch(fmt.Sprint(err)); m == nil || !strings.Contains(out, "It supersedes rollout "+first[1]+", now canceled") {
		t.Fatalf("tenure policy apply of the rename: %v\n%s", err, out)
	}
	superseded := g.rollout(first[1])
	var hold tenure.Hold
	g.call("GET", "/api/v1/holds/"+superseded.HoldID, nil, &hold)
	if superseded.Status != tenure.RolloutCanceled || !strings.HasPrefix(superseded.Note, "superseded by rollout "+m[1]) ||
		hold.Status != tenure.HoldDiscarded {
		t.Fatalf("the superseded rollout = %+v, its hold %+v", superseded, hold)
	}
	if out, err := g.cli("confirm", first[1]); err == nil || !strings.Contains(err.Error(), "superseded by rollout "+m[1]) {
		t.Fatalf("tenure policy confirm of the superseded rollout: %v\n%s", err, out)
	}
	out, err = g.cli("confirm", m[1])
	if err != nil || !strings.Contains(out, "50/50 people, completed in") {
		t.Fatalf("tenure policy confirm: %v\n%s", err, out)
	}
	stage("renamed")
	if members := g.sandboxMembers("chat-new", "team-a"); len(members) != 0 {
		t.Errorf("after the rename, team-a still has %d members", len(members))
	}
	if members := g.sandboxMembers("chat-new", "team-b"); len(members) != people {
		t.Errorf("after the rename, team-b has %d members, want %d", len(members), people)
	}
	var p struct {
		Access []struct {
			App          string   `json:"app"`
			Entitlements []string `json:"entitlements"`
		} `json:"access"`
	}
	g.call("GET", "/api/v1/employees/P007", nil, &p)
	for _, a := range p.Access {
		if a.App == "chat-new" && !slices.Equal(a.Entitlements, []string{"team-b"}) {
			t.Errorf("P007's chat-new entitlements = %v, want [team-b]", a.Entitlements)
		}
	}

	// Neither rollout called wiki, which every version grants alike: the
	// account the hire read back is the one on record.
	accounts, err := g.s.store.ListAccounts(context.Background(), "P007")
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range accounts {
		if a.App == "wiki" && (a.Status != tenure.AccessActive || a.VerifiedAt == nil || !a.VerifiedAt.Before(hired)) {
			t.Errorf("P007's wiki account = %+v, read back after the hires were done (%s): a rollout called wiki", a, hired)
		}
	}

	if histories != "" {
		c := g.s.client
		writeRunHistory(t, c, tenure.RolloutWorkflowID(id), "", filepath.Join(histories, "policyrollout.json"))
		writeRunHistory(t, c, tenure.WorkflowID("P007"), "", filepath.Join(histories, "employee-reconverge.json"))
	}
}

// callYAML sends a policy to the API with the admin token.
func (p *devProcess) callYAML(method, path, body string, out any) int {
	p.t.Helper()
	req, _ := http.NewRequest(method, p.base+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+p.token)
	req.Header.Set("Content-Type", "application/yaml")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		p.t.Fatalf("%s %s: %d: %v", method, path, resp.StatusCode, err)
	}
	return resp.StatusCode
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
