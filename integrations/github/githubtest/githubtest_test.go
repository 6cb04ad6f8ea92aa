package githubtest_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tenure-io/tenure/integrations/github/githubtest"
)

// call sends one raw request, so these tests see the wire format that the
// connector's tests see only through go-github.
func call(t *testing.T, s *githubtest.Server, method, path, auth, body string) (*http.Response, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, s.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var obj map[string]any
	_ = json.Unmarshal(data, &obj)
	return resp, obj
}

func TestAuthAcceptsBearerAndTokenSchemes(t *testing.T) {
	s := githubtest.NewServer()
	defer s.Close()
	for _, auth := range []string{"Bearer " + s.Token, "token " + s.Token} {
		if resp, _ := call(t, s, "GET", "/api/v3/orgs/acme", auth, ""); resp.StatusCode != 200 {
			t.Fatalf("%q: status %d", auth, resp.StatusCode)
		}
	}
	resp, body := call(t, s, "GET", "/orgs/acme", "Bearer wrong", "")
	if resp.StatusCode != 401 || body["message"] != "Bad credentials" || body["documentation_url"] == nil {
		t.Fatalf("bad token: %d %v", resp.StatusCode, body)
	}
}

func TestLinkHeadersPage(t *testing.T) {
	s := githubtest.NewServer()
	defer s.Close()
	for _, m := range []string{"a", "b", "c", "d"} {
		s.AddMember(m, "member")
	}
	resp, _ := call(t, s, "GET", "/api/v3/orgs/acme/members?per_page=2&page=2", "Bearer "+s.Token, "")
	link := resp.Header.Get("Link")
	for _, want := range []string{
		`/api/v3/orgs/acme/members?page=3&per_page=2>; rel="next"`,
		`page=3&per_page=2>; rel="last"`,
		`page=1&per_page=2>; rel="first"`,
		`page=1&per_page=2>; rel="prev"`,
	} {
		if !strings.Contains(link, want) {
			t.Fatalf("Link %q lacks %q", link, want)
		}
	}
	if !strings.HasPrefix(link, "<"+s.URL+"/api/v3/") {
		t.Fatalf("Link %q is not absolute", link)
	}
}

func TestSecondaryRateLimitAsDocumented(t *testing.T) {
	s := githubtest.NewServer()
	defer s.Close()
	s.SecondaryRateLimit(1, 30*time.Second)
	resp, body := call(t, s, "GET", "/orgs/acme", "Bearer "+s.Token, "")
	if resp.StatusCode != 403 || resp.Header.Get("Retry-After") != "30" {
		t.Fatalf("status %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if msg, _ := body["message"].(string); !strings.Contains(msg, "secondary rate limit") {
		t.Fatalf("message %q", msg)
	}
	if doc, _ := body["documentation_url"].(string); !strings.HasSuffix(doc, "secondary-rate-limits") {
		t.Fatalf("documentation_url %q", doc)
	}
	if resp, _ := call(t, s, "GET", "/orgs/acme", "Bearer "+s.Token, ""); resp.StatusCode != 200 {
		t.Fatalf("the limit outlived its one request: %d", resp.StatusCode)
	}
}

func TestMembershipPendingUntilAccepted(t *testing.T) {
	s := githubtest.NewServer()
	defer s.Close()
	s.AddUser("ada", "ada@example.com")
	auth := "Bearer " + s.Token
	resp, body := call(t, s, "PUT", "/orgs/acme/memberships/ada", auth, `{"role":"member"}`)
	if resp.StatusCode != 200 || body["state"] != "pending" {
		t.Fatalf("PUT membership: %d %v", resp.StatusCode, body)
	}
	if resp, _ := call(t, s, "GET", "/orgs/acme/members/ada", auth, ""); resp.StatusCode != 404 {
		t.Fatalf("a pending member is listed as a member: %d", resp.StatusCode)
	}
	s.Accept("ada")
	if _, body := call(t, s, "GET", "/orgs/acme/memberships/ada", auth, ""); body["state"] != "active" {
		t.Fatalf("after accepting: %v", body)
	}
	// An email invitation to a member's verified address is refused with
	// GitHub's words.
	resp, body = call(t, s, "POST", "/orgs/acme/invitations", auth, `{"email":"ADA@example.com"}`)
	errs, _ := body["errors"].([]any)
	if resp.StatusCode != 422 || body["message"] != "Validation Failed" || len(errs) != 1 ||
		!strings.Contains(errs[0].(map[string]any)["message"].(string), "already a part of this organization") {
		t.Fatalf("inviting a member's address: %d %v", resp.StatusCode, body)
	}
}
