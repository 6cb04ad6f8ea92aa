package scimserver_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tenure-io/tenure/internal/authlimit"
	"github.com/tenure-io/tenure/scimserver"
	"github.com/tenure-io/tenure/store/storetest"
)

// answer is one response as it came over the wire.
type answer struct {
	status int
	header http.Header
	raw    []byte
	body   map[string]any
}

// client speaks to the harness from ip, a loopback address such as 127.0.0.7,
// so that one test can be several clients; host, when set, replaces the Host
// header.
type client struct {
	h    *harness
	http *http.Client
	host string
}

func (h *harness) from(ip string) *client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	tr := &http.Transport{DialContext: d.DialContext}
	h.t.Cleanup(tr.CloseIdleConnections)
	return &client{h: h, http: &http.Client{Transport: tr}}
}

func (c *client) do(token, method, path string, body []byte) answer {
	t := c.h.t
	t.Helper()
	req, err := http.NewRequest(method, c.h.url+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if c.host != "" {
		req.Host = c.host
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/scim+json")
	res, err := c.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	a := answer{status: res.StatusCode, header: res.Header}
	a.raw, _ = io.ReadAll(res.Body)
	if len(a.raw) > 0 {
		if err := json.Unmarshal(a.raw, &a.body); err != nil {
			t.Fatalf("%s %s: %d, not JSON: %s", method, path, res.StatusCode, a.raw)
		}
	}
	return a
}

// wantSCIMError checks a SCIM error body (RFC 7644 3.12) with status.
func wantSCIMError(t *testing.T, a answer, status int) {
	t.Helper()
	schemas, _ := a.body["schemas"].([]any)
	if a.status != status || len(schemas) != 1 || schemas[0] != "urn:ietf:params:scim:api:messages:2.0:Error" ||
		a.body["status"] != strconv.Itoa(status) || a.body["detail"] == "" {
		t.Fatalf("status %d, body %s; want a SCIM error with status %d", a.status, a.raw, status)
	}
}

// wantTooMany checks a 429 with a SCIM error body and Retry-After within max.
func wantTooMany(t *testing.T, a answer, max time.Duration) {
	t.Helper()
	wantSCIMError(t, a, http.StatusTooManyRequests)
	secs, err := strconv.Atoi(a.header.Get("Retry-After"))
	if err != nil || secs < 1 || time.Duration(secs)*time.Second > max {
		t.Fatalf("Retry-After = %q, want 1 to %v in seconds", a.header.Get("Retry-After"), max)
	}
}

// TestTokenGuessingIsLimited: wrong bearer tokens are limited per client and
// per token prefix, with a SCIM error and Retry-After; right tokens never are.
func TestTokenGuessingIsLimited(t *testing.T) {
	h := newHarness(t, func(c *scimserver.Config) { c.AuthLimiter = authlimit.New(3, time.Minute, nil) })
	guesser := h.from("127.0.0.2")
	for i := range 3 {
		wantSCIMError(t, guesser.do(fmt.Sprintf("guess%03d-token", i), "GET", "/Users", nil), http.StatusUnauthorized)
	}
	wantTooMany(t, guesser.do("guess999-token", "GET", "/Users", nil), time.Minute)
	// The right token from the guesser waits too: it learns nothing.
	wantTooMany(t, guesser.do(adminToken, "GET", "/Users", nil), time.Minute)
	if n := len(h.eng.submitted()); n != 0 {
		t.Fatalf("%d events were sent", n)
	}

	// The identity provider, from its own address, is not slowed, however often.
	idp := h.from("127.0.0.3")
	for i := range 10 {
		if a := idp.do(adminToken, "GET", "/Users", nil); a.status != http.StatusOK {
			t.Fatalf("request %d with the right token: %d %s", i, a.status, a.raw)
		}
	}

	// One prefix guessed from many clients is limited as a whole.
	for i := range 4 {
		a := h.from(fmt.Sprintf("127.0.1.%d", 1+i)).do(fmt.Sprintf("SAMEPREF-%d", i), "GET", "/Users", nil)
		if i < 3 {
			wantSCIMError(t, a, http.StatusUnauthorized)
		} else {
			wantTooMany(t, a, time.Minute)
		}
	}
}

// TestTokenGuessingDefaultAllowance: without a limiter in Config, the server
// has its own with authlimit's defaults.
func TestTokenGuessingDefaultAllowance(t *testing.T) {
	h := newHarness(t)
	c := h.from("127.0.0.2")
	for i := range authlimit.DefaultBurst {
		wantSCIMError(t, c.do(fmt.Sprintf("guess%03d-token", i), "GET", "/Users", nil), http.StatusUnauthorized)
	}
	wantTooMany(t, c.do("one-more-guess", "GET", "/Users", nil), authlimit.DefaultEvery)
}

// TestLocationIsThePublicURL: meta.location and the Location header are built
// from the configured public URL, never from the request's Host header, which
// a client writes.
func TestLocationIsThePublicURL(t *testing.T) {
	const forged = "evil.attacker.example"
	for _, tc := range []struct {
		name, publicURL, want string
	}{
		{"public URL", "https://tenure.example.com", "https://tenure.example.com" + scimserver.Prefix + "/Users/"},
		{"public URL under a path", "https://example.com/tenure/", "https://example.com/tenure" + scimserver.Prefix + "/Users/"},
		{"none: host-relative", "", scimserver.Prefix + "/Users/"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, func(c *scimserver.Config) { c.PublicURL = tc.publicURL })
			c := h.from("127.0.0.2")
			c.host = forged
			var seen []answer
			created := c.do(adminToken, "POST", "/Users", fixture(t, "okta/create_user.json"))
			seen = append(seen, created)
			if created.status != http.StatusCreated {
				t.Fatalf("create: %d %s", created.status, created.raw)
			}
			id, _ := created.body["id"].(string)
			meta, _ := created.body["meta"].(map[string]any)
			if meta["location"] != tc.want+id || created.header.Get("Location") != tc.want+id {
				t.Fatalf("location %v, Location header %q; want %s", meta["location"], created.header.Get("Location"), tc.want+id)
			}
			got := c.do(adminToken, "GET", "/Users/"+id, nil)
			list := c.do(adminToken, "GET", "/Users", nil)
			seen = append(seen, got, list,
				c.do(adminToken, "PATCH", "/Users/"+id, fixture(t, "okta/deactivate_user.json")),
				c.do(adminToken, "GET", "/Groups", nil),
				c.do(adminToken, "GET", "/ServiceProviderConfig", nil),
				c.do(adminToken, "GET", "/ResourceTypes", nil),
				c.do(adminToken, "GET", "/Users/nobody", nil),
				c.do("wrong-token", "GET", "/Users", nil))
			if meta, _ := got.body["meta"].(map[string]any); meta["location"] != tc.want+id {
				t.Errorf("read: location %v", meta["location"])
			}
			if res, _ := list.body["Resources"].([]any); len(res) != 1 || res[0].(map[string]any)["meta"].(map[string]any)["location"] != tc.want+id {
				t.Errorf("list: %s", list.raw)
			}
			for _, a := range seen {
				if strings.Contains(string(a.raw), forged) || strings.Contains(fmt.Sprint(a.header), forged) {
					t.Errorf("a response carries the forged Host: %v %s", a.header, a.raw)
				}
			}
		})
	}
}

// TestNewRefusesABadPublicURL: the public URL is checked at start-up, and the
// error names the field.
func TestNewRefusesABadPublicURL(t *testing.T) {
	db := storetest.SQLite(t)
	for _, bad := range []string{"tenure.example.com", "/tenure", "ftp://tenure.example.com", "https://", "https://tenure.example.com/?x=1",
		"https://tenure.example.com/#top", "https://user:pw@tenure.example.com"} {
		cfg := scimserver.Config{Directory: db, Store: db, Engine: &engine{}, Auth: tokens{}, Guard: newGuard(t, db, &engine{}), PublicURL: bad}
		if _, err := scimserver.New(cfg); err == nil || !strings.Contains(err.Error(), "PublicURL") {
			t.Errorf("PublicURL %q: %v, want an error naming PublicURL", bad, err)
		}
	}
}
