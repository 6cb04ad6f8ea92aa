// Package scimtest starts SCIM 2.0 services for tests of the scim connector and
// of everything above it (activities, end-to-end runs through tenure dev).
//
// Tenure's own sandbox apps (internal/sandbox, with their dialects) cover most
// needs. A test that must prove the connector against a service Tenure did not
// write uses StartPeer: a SCIM service built on SCIMMY, the Node SCIM library,
// and its Express routers (testdata/scimmy/server.mjs), which keeps memberships
// on the Group only and lists a member twice when asked twice. It runs as a
// child process; Peer.State reads its own store, so a test can check what the
// service itself holds rather than what a client reports.
package scimtest

import (
	"bufio"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// RequireEnv is the environment variable that, set to "1" (as CI does), turns
// StartPeer's skip for a missing Node or node_modules into a failure.
const RequireEnv = "TENURE_REQUIRE_SCIM_PEER"

// Peer is a running SCIMMY-based SCIM service.
type Peer struct {
	// BaseURL is the service's SCIM base URL, ending in /scim/v2.
	BaseURL string
	// Token is the bearer token the service accepts.
	Token string

	root string // the server's URL without /scim/v2
}

// Dir is the folder of the peer's Node project, where `npm ci` installs its
// dependencies.
func Dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "testdata", "scimmy")
}

// StartPeer starts the SCIMMY service on a free local port and stops it when
// the test ends. Without Node or the installed dependencies the test is skipped
// (or fails, with TENURE_REQUIRE_SCIM_PEER=1).
func StartPeer(t testing.TB) *Peer {
	t.Helper()
	dir := Dir()
	node, err := exec.LookPath("node")
	if err == nil {
		_, err = os.Stat(filepath.Join(dir, "node_modules", "scimmy-routers", "package.json"))
	}
	if err != nil {
		msg := "the SCIMMY peer needs Node and `npm ci --prefix " + dir + "`: " + err.Error()
		if os.Getenv(RequireEnv) == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	const token = "scimtest-peer-token"
	cmd := exec.Command(node, "server.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PEER_TOKEN="+token)
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
		root := "http://127.0.0.1:" + port
		return &Peer{BaseURL: root + "/scim/v2", Token: token, root: root}
	case <-time.After(30 * time.Second):
		t.Fatal("the SCIMMY peer did not start within 30 s")
	}
	return nil
}

// State is the peer's own store.
type State struct {
	Users  []User
	Groups []Group
}

// User is a user as the peer stores it.
type User struct {
	ID         string          `json:"id"`
	UserName   string          `json:"userName"`
	ExternalID string          `json:"externalId"`
	Active     *bool           `json:"active"`
	Groups     json.RawMessage `json:"groups"` // never filled in by this peer
}

// Group is a group as the peer stores it, its members as listed, repeats
// included.
type Group struct {
	ID          string `json:"id"`
	DisplayName string `json:"displayName"`
	Members     []struct {
		Value string `json:"value"`
	} `json:"members"`
}

// State reads the peer's store.
func (p *Peer) State(t testing.TB) State {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, p.root+"/_state", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+p.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st struct {
		Users  []User  `json:"users"`
		Groups []Group `json:"groups"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return State{Users: st.Users, Groups: st.Groups}
}

// Memberships counts, by group display name, how often each group lists the
// user id.
func (s State) Memberships(id string) map[string]int {
	out := map[string]int{}
	for _, g := range s.Groups {
		for _, m := range g.Members {
			if m.Value == id {
				out[g.DisplayName]++
			}
		}
	}
	return out
}

// User returns the stored user with id, and whether there is one.
func (s State) User(id string) (User, bool) {
	for _, u := range s.Users {
		if u.ID == id {
			return u, true
		}
	}
	return User{}, false
}
