package scim_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tenure-io/tenure/integrations"
	"github.com/tenure-io/tenure/integrations/scim"
)

// The interop test runs the connector against a SCIM service Tenure did not
// write: testdata/scimmy/server.mjs, built on SCIMMY and scimmy-routers (the
// Node SCIM library), which keeps memberships on the Group and never fills in
// the User's groups. Its node_modules come from `npm ci` in that folder;
// without them the test is skipped, unless TENURE_REQUIRE_SCIM_PEER=1 (as in
// CI), which makes it fail instead.

const peerToken = "peer-token-for-tests"

// peer is the running SCIMMY service.
type peer struct {
	url string
}

func startPeer(t *testing.T) *peer {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("testdata", "scimmy"))
	if err != nil {
		t.Fatal(err)
	}
	node, err := exec.LookPath("node")
	if err == nil {
		_, err = os.Stat(filepath.Join(dir, "node_modules", "scimmy-routers", "package.json"))
	}
	if err != nil {
		msg := "the SCIMMY peer needs node and `npm ci --prefix integrations/scim/testdata/scimmy`: " + err.Error()
		if os.Getenv("TENURE_REQUIRE_SCIM_PEER") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	cmd := exec.Command(node, "server.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PEER_TOKEN="+peerToken)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if port, ok := strings.CutPrefix(sc.Text(), "listening "); ok {
				ready <- port
			}
		}
	}()
	select {
	case port := <-ready:
		return &peer{url: "http://127.0.0.1:" + port}
	case <-time.After(30 * time.Second):
		t.Fatal("the SCIMMY peer did not start within 30 s")
	}
	return nil
}

func (p *peer) connector(t *testing.T, settings map[string]string) *scim.Client {
	t.Helper()
	c, err := scim.New(integrations.AppConfig{Name: "scimmy", Connector: scim.Kind,
		BaseURL: p.url + "/scim/v2", Token: peerToken, Settings: settings})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// peerState is the peer's own store, as /_state returns it.
type peerState struct {
	Users []struct {
		ID         string          `json:"id"`
		UserName   string          `json:"userName"`
		ExternalID string          `json:"externalId"`
		Active     *bool           `json:"active"`
		Groups     json.RawMessage `json:"groups"`
	} `json:"users"`
	Groups []struct {
		ID          string `json:"id"`
		DisplayName string `json:"displayName"`
		Members     []struct {
			Value string `json:"value"`
		} `json:"members"`
	} `json:"groups"`
}

func (p *peer) state(t *testing.T) peerState {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, p.url+"/_state", nil)
	req.Header.Set("Authorization", "Bearer "+peerToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st peerState
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return st
}

// memberships counts, by the peer's state, how often each group lists id.
func (st peerState) memberships(id string) map[string]int {
	out := map[string]int{}
	for _, g := range st.Groups {
		for _, m := range g.Members {
			if m.Value == id {
				out[g.DisplayName]++
			}
		}
	}
	return out
}

func (st peerState) active(t *testing.T, id string) bool {
	t.Helper()
	for _, u := range st.Users {
		if u.ID == id {
			return u.Active == nil || *u.Active
		}
	}
	t.Fatalf("the peer has no user %s", id)
	return false
}

func TestInteropWithSCIMMY(t *testing.T) {
	ctx := context.Background()
	p := startPeer(t)
	c := p.connector(t, nil)

	caps, err := c.Capabilities(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !caps.Groups || !caps.Disable || !caps.Filter {
		t.Fatalf("capabilities %+v, want groups, disable and filter", caps)
	}

	a, err := c.Create(ctx, person(1))
	if err != nil {
		t.Fatal(err)
	}
	if again, err := c.Create(ctx, person(1)); err != nil || again.ID != a.ID {
		t.Fatalf("second create: %+v, %v; want the account %s adopted", again, err, a.ID)
	}
	b, err := c.Create(ctx, person(2))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.AddToGroup(ctx, b.ID, "engineering"); err != nil {
		t.Fatal(err)
	}

	// Two groups, each asked for three times, as retried syncs would.
	for range 3 {
		for _, g := range []string{"engineering", "admins"} {
			if err := c.AddToGroup(ctx, a.ID, g); err != nil {
				t.Fatalf("add to %s: %v", g, err)
			}
		}
	}
	st := p.state(t)
	if got := st.memberships(a.ID); len(got) != 2 || got["engineering"] != 1 || got["admins"] != 1 {
		t.Fatalf("the peer lists the user in %v, want engineering and admins once each", got)
	}
	for _, u := range st.Users {
		if len(u.Groups) != 0 {
			t.Fatalf("the peer fills in the User's groups (%s): this test no longer covers the Group-only case", u.Groups)
		}
	}

	want := []string{"admins", "engineering"}
	if got, err := c.Get(ctx, a.ID); err != nil || !slices.Equal(got.Groups, want) || len(got.Unverifiable) != 0 {
		t.Fatalf("Get: %+v, %v; want groups %v", got, err, want)
	}
	fresh := p.connector(t, nil)
	got, err := fresh.GetWithGroups(ctx, a.ID, []string{"admins", "engineering", "finance"})
	if err != nil || !slices.Equal(got.Groups, want) || len(got.Unverifiable) != 0 {
		t.Fatalf("a fresh connector's GetWithGroups: %+v, %v; want groups %v", got, err, want)
	}
	if got, err := fresh.Lookup(ctx, "", a.UserName); err != nil || got.ID != a.ID || !slices.Equal(got.Groups, want) {
		t.Fatalf("Lookup by userName: %+v, %v", got, err)
	}

	if err := c.SetActive(ctx, a.ID, false); err != nil {
		t.Fatal(err)
	}
	if p.state(t).active(t, a.ID) {
		t.Fatal("the peer still has the user active after disable")
	}
	if got, err := c.Get(ctx, a.ID); err != nil || got.Active {
		t.Fatalf("Get after disable: %+v, %v", got, err)
	}
	if err := c.SetActive(ctx, a.ID, true); err != nil {
		t.Fatal(err)
	}
	if !p.state(t).active(t, a.ID) {
		t.Fatal("the peer has the user inactive after enable")
	}

	for range 2 {
		if err := c.RemoveFromGroup(ctx, a.ID, "engineering"); err != nil {
			t.Fatal(err)
		}
	}
	st = p.state(t)
	if got := st.memberships(a.ID); len(got) != 1 || got["admins"] != 1 {
		t.Fatalf("after removal from engineering the peer lists the user in %v, want admins once", got)
	}
	if got := st.memberships(b.ID); got["engineering"] != 1 {
		t.Fatalf("removing one member touched another: %v", got)
	}
	if got, err := c.Get(ctx, a.ID); err != nil || !slices.Equal(got.Groups, []string{"admins"}) {
		t.Fatalf("Get after removal: %+v, %v; want [admins]", got, err)
	}

	if err := c.Delete(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, a.ID); err != nil {
		t.Fatalf("deleting again: %v", err)
	}
	st = p.state(t)
	for _, u := range st.Users {
		if u.ID == a.ID {
			t.Fatal("the peer still has the user after delete")
		}
	}
	if got := st.memberships(a.ID); len(got) != 0 {
		t.Fatalf("the deleted user is still in %v", got)
	}
	if _, err := c.Get(ctx, a.ID); !integrations.IsNotFound(err) {
		t.Fatalf("Get after delete: %v, want NotFound", err)
	}
}
