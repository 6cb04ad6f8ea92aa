package googletest_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"golang.org/x/oauth2"
	googleoauth "golang.org/x/oauth2/google"

	"github.com/tenure-io/tenure/integrations/google/googletest"
)

type googleError struct {
	Error struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Errors  []struct {
			Reason, Domain, Message string
		} `json:"errors"`
	} `json:"error"`
}

func get(t *testing.T, hc *http.Client, url string) (int, googleError) {
	t.Helper()
	resp, err := hc.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e googleError
	if resp.StatusCode >= 300 {
		if err := json.NewDecoder(resp.Body).Decode(&e); err != nil {
			t.Fatalf("HTTP %d with a body that is not Google's error format: %v", resp.StatusCode, err)
		}
	}
	return resp.StatusCode, e
}

// client signs in as the service account acting as subject with the given scopes.
func client(t *testing.T, s *googletest.Server, subject string, scopes ...string) *http.Client {
	t.Helper()
	cfg, err := googleoauth.JWTConfigFromJSON(s.Credentials, scopes...)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.TokenURL != s.TokenURL() {
		t.Fatalf("the key's token_uri is %s", cfg.TokenURL)
	}
	cfg.Subject = subject
	return oauth2.NewClient(context.Background(), cfg.TokenSource(context.Background()))
}

func TestAPIRequiresATokenAndTheScope(t *testing.T) {
	s := googletest.NewServer()
	defer s.Close()
	users := s.URL + "/admin/directory/v1/users?customer=my_customer"

	status, e := get(t, http.DefaultClient, users)
	if status != http.StatusUnauthorized || e.Error.Code != 401 || len(e.Error.Errors) != 1 || e.Error.Errors[0].Reason != "authError" {
		t.Fatalf("without a token: %d %+v", status, e)
	}

	hc := client(t, s, googletest.Admin, googletest.ScopeGroupMember)
	status, e = get(t, hc, users)
	if status != http.StatusForbidden || e.Error.Errors[0].Reason != "insufficientPermissions" {
		t.Fatalf("without the user scope: %d %+v", status, e)
	}

	hc = client(t, s, googletest.Admin, googletest.ScopeUser)
	if status, e = get(t, hc, users); status != http.StatusOK {
		t.Fatalf("with the user scope: %d %+v", status, e)
	}
	if status, e = get(t, hc, s.URL+"/admin/directory/v1/users"); status != http.StatusBadRequest {
		t.Fatalf("without customer or domain: %d %+v", status, e)
	}
	if status, e = get(t, hc, s.URL+"/admin/directory/v1/users/nobody@example.com"); status != http.StatusNotFound ||
		e.Error.Message != "Resource Not Found: userKey" || e.Error.Errors[0].Reason != "notFound" {
		t.Fatalf("unknown user: %d %+v", status, e)
	}

	s.RateLimit(1)
	if status, e = get(t, hc, users); status != http.StatusForbidden || e.Error.Errors[0].Reason != "rateLimitExceeded" ||
		e.Error.Errors[0].Domain != "usageLimits" {
		t.Fatalf("rate limited: %d %+v", status, e)
	}
	if status, _ = get(t, hc, users); status != http.StatusOK {
		t.Fatalf("after the fault: %d", status)
	}
}

func TestTokenEndpointChecksTheAssertion(t *testing.T) {
	s := googletest.NewServer()
	defer s.Close()
	users := s.URL + "/admin/directory/v1/users?customer=my_customer"
	for _, tc := range []struct {
		name, subject, want string
		creds               []byte
		scopes              []string
	}{
		{"another key", googletest.Admin, "Invalid JWT Signature", s.ForeignCredentials(), []string{googletest.ScopeUser}},
		{"unknown subject", "ghost@example.com", "Invalid email or User ID", s.Credentials, []string{googletest.ScopeUser}},
		{"scope not delegated", googletest.Admin, "unauthorized_client", s.Credentials, []string{"https://www.googleapis.com/auth/admin.directory.device.mobile"}},
	} {
		cfg, err := googleoauth.JWTConfigFromJSON(tc.creds, tc.scopes...)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Subject = tc.subject
		_, err = cfg.Client(context.Background()).Get(users)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("%s: got %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestListPagesWithNextPageToken(t *testing.T) {
	s := googletest.NewServer()
	defer s.Close()
	for range 4 {
		s.AddUser(googletest.User{PrimaryEmail: "u" + strings.Repeat("x", len(s.Users())) + "@example.com", GivenName: "U", FamilyName: "N"})
	}
	hc := client(t, s, googletest.Admin, googletest.ScopeUser)
	seen, token, pages := 0, "", 0
	for {
		url := s.URL + "/admin/directory/v1/users?customer=my_customer&maxResults=2"
		if token != "" {
			url += "&pageToken=" + token
		}
		resp, err := hc.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		var page struct {
			Users         []struct{ ID string } `json:"users"`
			NextPageToken string                `json:"nextPageToken"`
		}
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("page %d: HTTP %d, %v", pages, resp.StatusCode, err)
		}
		pages++
		seen += len(page.Users)
		if page.NextPageToken == "" {
			break
		}
		token = page.NextPageToken
	}
	if seen != 5 || pages != 3 {
		t.Fatalf("saw %d users in %d pages, want 5 in 3", seen, pages)
	}
	if status, _ := get(t, hc, s.URL+"/admin/directory/v1/users?customer=my_customer&maxResults=501"); status != http.StatusBadRequest {
		t.Fatalf("maxResults above 500: %d", status)
	}
}
