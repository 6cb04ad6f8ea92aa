package scim_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/integrations"
	"github.com/tenure-io/tenure/integrations/scim"
)

const secretToken = "s3cr3t-token-do-not-leak"

// fakeApp starts an HTTP server that answers every request with h, and a
// connector pointed at it.
func fakeApp(t *testing.T, h http.HandlerFunc, opts ...scim.Option) *scim.Client {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	c, err := scim.New(integrations.AppConfig{Name: "acme", Connector: scim.Kind,
		BaseURL: srv.URL + "/scim/v2", Token: secretToken}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func scimErrorBody(w http.ResponseWriter, status int, scimType, detail string, header ...string) {
	for i := 0; i+1 < len(header); i += 2 {
		w.Header().Set(header[i], header[i+1])
	}
	w.Header().Set("Content-Type", scim.MediaType)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"schemas":  []string{scim.SchemaError},
		"status":   http.StatusText(status),
		"scimType": scimType,
		"detail":   detail,
	})
}

func asError(t *testing.T, err error) *integrations.Error {
	t.Helper()
	var e *integrations.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not an *integrations.Error", err, err)
	}
	if strings.Contains(err.Error(), secretToken) {
		t.Fatalf("error leaks the token: %v", err)
	}
	return e
}

func TestErrorMapping(t *testing.T) {
	future := time.Now().Add(30 * time.Second).UTC().Format(http.TimeFormat)
	cases := []struct {
		name       string
		reply      func(w http.ResponseWriter)
		kind       integrations.Kind
		status     int
		detail     string // must appear in Detail
		retryAfter func(time.Duration) bool
	}{
		{
			name:   "400 carries the app's detail and scimType",
			reply:  func(w http.ResponseWriter) { scimErrorBody(w, 400, "invalidValue", "title is too long") },
			kind:   integrations.Permanent,
			status: 400,
			detail: "title is too long (scimType invalidValue)",
		},
		{
			name:   "401 is permanent",
			reply:  func(w http.ResponseWriter) { scimErrorBody(w, 401, "", "bad token") },
			kind:   integrations.Permanent,
			status: 401,
			detail: "bad token",
		},
		{
			name:   "403 is permanent",
			reply:  func(w http.ResponseWriter) { scimErrorBody(w, 403, "", "scope users:write missing") },
			kind:   integrations.Permanent,
			status: 403,
			detail: "scope users:write missing",
		},
		{
			name:   "422 is permanent",
			reply:  func(w http.ResponseWriter) { w.WriteHeader(422) },
			kind:   integrations.Permanent,
			status: 422,
		},
		{
			name:   "404 is not found",
			reply:  func(w http.ResponseWriter) { scimErrorBody(w, 404, "", "User 42 not found") },
			kind:   integrations.NotFound,
			status: 404,
			detail: "User 42 not found",
		},
		{
			name:   "409 is a conflict",
			reply:  func(w http.ResponseWriter) { scimErrorBody(w, 409, "uniqueness", "userName taken") },
			kind:   integrations.Conflict,
			status: 409,
			detail: "userName taken",
		},
		{
			name: "503 with an HTML page is transient and keeps a snippet",
			reply: func(w http.ResponseWriter) {
				w.WriteHeader(503)
				_, _ = io.WriteString(w, "<html>\n  <body>Service   Unavailable</body>\n</html>")
			},
			kind:   integrations.Transient,
			status: 503,
			detail: "<html> <body>Service Unavailable</body> </html>",
		},
		{
			name:   "500 is transient",
			reply:  func(w http.ResponseWriter) { scimErrorBody(w, 500, "", "database is down") },
			kind:   integrations.Transient,
			status: 500,
			detail: "database is down",
		},
		{
			name: "429 with delay-seconds",
			reply: func(w http.ResponseWriter) {
				scimErrorBody(w, 429, "", "slow down", "Retry-After", "7")
			},
			kind:       integrations.RateLimited,
			status:     429,
			detail:     "slow down",
			retryAfter: func(d time.Duration) bool { return d == 7*time.Second },
		},
		{
			name: "429 with an HTTP-date",
			reply: func(w http.ResponseWriter) {
				scimErrorBody(w, 429, "", "slow down", "Retry-After", future)
			},
			kind:       integrations.RateLimited,
			status:     429,
			retryAfter: func(d time.Duration) bool { return d > 25*time.Second && d <= 30*time.Second },
		},
		{
			name:       "429 without Retry-After waits a second",
			reply:      func(w http.ResponseWriter) { w.WriteHeader(429) },
			kind:       integrations.RateLimited,
			status:     429,
			retryAfter: func(d time.Duration) bool { return d == time.Second },
		},
		{
			name: "an app echoing the token does not leak it",
			reply: func(w http.ResponseWriter) {
				scimErrorBody(w, 401, "", "token "+secretToken+" is expired")
			},
			kind:   integrations.Permanent,
			status: 401,
			detail: "token [redacted] is expired",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := fakeApp(t, func(w http.ResponseWriter, r *http.Request) { tc.reply(w) })
			err := c.SetActive(context.Background(), "42", false)
			e := asError(t, err)
			if e.Kind != tc.kind || e.Status != tc.status || e.App != "acme" {
				t.Fatalf("got kind %v status %d app %q (%v), want kind %v status %d app acme",
					e.Kind, e.Status, e.App, err, tc.kind, tc.status)
			}
			if !strings.Contains(e.Detail, tc.detail) {
				t.Fatalf("detail %q does not contain %q", e.Detail, tc.detail)
			}
			if tc.retryAfter != nil && !tc.retryAfter(e.RetryAfter) {
				t.Fatalf("RetryAfter %v is not what the app asked for", e.RetryAfter)
			}
		})
	}
}

func TestLongErrorBodyIsTrimmed(t *testing.T) {
	c := fakeApp(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(502)
		_, _ = io.WriteString(w, strings.Repeat("bad gateway ", 10000))
	})
	e := asError(t, c.Delete(context.Background(), "1"))
	if e.Kind != integrations.Transient || len(e.Detail) > 400 || !strings.HasPrefix(e.Detail, "bad gateway") {
		t.Fatalf("got kind %v and a %d-byte detail %q", e.Kind, len(e.Detail), e.Detail)
	}
}

func TestTransportFailuresAreTransient(t *testing.T) {
	t.Run("connection refused", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		c, err := scim.New(integrations.AppConfig{Name: "gone", BaseURL: "http://" + addr + "/scim/v2", Token: secretToken})
		if err != nil {
			t.Fatal(err)
		}
		e := asError(t, c.SetActive(context.Background(), "1", false))
		if e.Kind != integrations.Transient || e.Status != 0 {
			t.Fatalf("got %v, want a transient error without status", e)
		}
	})
	t.Run("client timeout", func(t *testing.T) {
		release := make(chan struct{})
		defer close(release)
		c := fakeApp(t, func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}, scim.WithHTTPClient(&http.Client{Timeout: 50 * time.Millisecond}))
		e := asError(t, c.SetActive(context.Background(), "1", false))
		if e.Kind != integrations.Transient || !strings.Contains(e.Detail, "timed out") {
			t.Fatalf("got %v, want a transient timeout", e)
		}
	})
	t.Run("caller cancels", func(t *testing.T) {
		release := make(chan struct{})
		defer close(release)
		c := fakeApp(t, func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		})
		ctx, cancel := context.WithCancel(context.Background())
		go func() { time.Sleep(20 * time.Millisecond); cancel() }()
		err := c.SetActive(ctx, "1", false)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v, want context.Canceled", err)
		}
	})
}

func TestRequestsCarryAuthAndMediaType(t *testing.T) {
	var bad atomic.Value
	c := fakeApp(t, func(w http.ResponseWriter, r *http.Request) {
		if got := r.Header.Get("Authorization"); got != "Bearer "+secretToken {
			bad.Store("Authorization: " + got)
		}
		if got := r.Header.Get("Accept"); got != scim.MediaType {
			bad.Store("Accept: " + got)
		}
		if r.Body != nil && r.ContentLength > 0 && r.Header.Get("Content-Type") != scim.MediaType {
			bad.Store("Content-Type: " + r.Header.Get("Content-Type"))
		}
		w.WriteHeader(http.StatusNoContent)
	})
	if err := c.SetActive(context.Background(), "1", false); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(context.Background(), "1"); err != nil {
		t.Fatal(err)
	}
	if v := bad.Load(); v != nil {
		t.Fatalf("bad header %s", v)
	}
}

// TestFilterEscaping checks that awkward values reach the app as the exact JSON
// string a SCIM filter parser expects.
func TestFilterEscaping(t *testing.T) {
	values := []string{`o"brien@example.com`, `back\slash`, "tab\there", `<&>`, "ünïcødé"}
	for _, v := range values {
		var got string
		c := fakeApp(t, func(w http.ResponseWriter, r *http.Request) {
			f := r.URL.Query().Get("filter")
			lit, ok := strings.CutPrefix(f, "externalId eq ")
			if !ok || json.Unmarshal([]byte(lit), &got) != nil {
				scimErrorBody(w, 400, "invalidFilter", "cannot parse "+f)
				return
			}
			w.Header().Set("Content-Type", scim.MediaType)
			_, _ = io.WriteString(w, `{"totalResults":1,"Resources":[{"id":"7","externalId":`+lit+`,"active":true}]}`)
		})
		acct, err := c.Lookup(context.Background(), v, "")
		if err != nil {
			t.Fatalf("%q: %v", v, err)
		}
		if got != v || acct.ExternalID != v || acct.ID != "7" {
			t.Fatalf("sent %q, app read %q, account %+v", v, got, acct)
		}
	}
}

func TestCapabilitiesAreCached(t *testing.T) {
	var calls atomic.Int32
	c := fakeApp(t, func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Content-Type", scim.MediaType)
		switch {
		case strings.HasSuffix(r.URL.Path, "/ServiceProviderConfig"):
			_, _ = io.WriteString(w, `{"patch":{"supported":true},"filter":{"supported":false,"maxResults":50}}`)
		case strings.HasSuffix(r.URL.Path, "/ResourceTypes"):
			_, _ = io.WriteString(w, `[{"name":"User","endpoint":"/Users"}]`)
		default:
			w.WriteHeader(404)
		}
	})
	for range 3 {
		caps, err := c.Capabilities(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		want := integrations.Capabilities{Groups: false, Filter: false, RevokeSessions: false, Disable: true, Delete: true, ReclaimLicence: true}
		if caps != want {
			t.Fatalf("got %+v, want %+v", caps, want)
		}
	}
	// ServiceProviderConfig, ResourceTypes and the User schema, once.
	if n := calls.Load(); n != 3 {
		t.Fatalf("discovery made %d requests, want 3 (then cached)", n)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	for _, tc := range []struct {
		app   integrations.AppConfig
		field string
	}{
		{integrations.AppConfig{Name: "hr", Token: "t"}, "apps.hr.base_url"},
		{integrations.AppConfig{Name: "hr", BaseURL: "ftp://x/scim/v2", Token: "t"}, "apps.hr.base_url"},
		{integrations.AppConfig{Name: "hr", BaseURL: "/scim/v2", Token: "t"}, "apps.hr.base_url"},
		{integrations.AppConfig{Name: "hr", BaseURL: "https://u:p@x/scim/v2", Token: "t"}, "apps.hr.base_url"},
		{integrations.AppConfig{Name: "hr", BaseURL: "https://x/scim/v2"}, "apps.hr.token"},
	} {
		_, err := scim.New(tc.app)
		var te *tenure.Error
		if !errors.As(err, &te) || te.Code != tenure.EINVALID || len(te.Fields) != 1 || te.Fields[0].Field != tc.field {
			t.Fatalf("New(%v) = %v, want EINVALID on %s", tc.app, err, tc.field)
		}
	}
	if _, err := scim.Factory(integrations.AppConfig{Name: "hr", BaseURL: "https://x.example/scim/v2/", Token: "t"}); err != nil {
		t.Fatalf("a good config was refused: %v", err)
	}
}

// TestSetActiveWithoutPatch covers apps that answer PATCH with 501: the user is
// read, changed and written back whole, keeping attributes Tenure does not model.
func TestSetActiveWithoutPatch(t *testing.T) {
	var put map[string]any
	c := fakeApp(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", scim.MediaType)
		switch r.Method {
		case http.MethodPatch:
			scimErrorBody(w, 501, "", "PATCH is not implemented")
		case http.MethodGet:
			_, _ = io.WriteString(w, `{"schemas":["`+scim.SchemaUser+`"],"id":"9","userName":"a@example.com",`+
				`"active":true,"nickName":"ace","meta":{"resourceType":"User"}}`)
		case http.MethodPut:
			if err := json.NewDecoder(r.Body).Decode(&put); err != nil {
				scimErrorBody(w, 400, "invalidSyntax", err.Error())
				return
			}
			_ = json.NewEncoder(w).Encode(put)
		}
	})
	if err := c.SetActive(context.Background(), "9", false); err != nil {
		t.Fatal(err)
	}
	if put["active"] != false || put["nickName"] != "ace" || put["userName"] != "a@example.com" || put["meta"] != nil {
		t.Fatalf("the app was sent %v", put)
	}
}

// TestRemoveMissingMemberIsDone covers apps that follow RFC 7644 to the letter
// and answer a remove that matches no member with 400 noTarget.
func TestRemoveMissingMemberIsDone(t *testing.T) {
	c := fakeApp(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", scim.MediaType)
		switch r.Method {
		case http.MethodGet:
			_, _ = io.WriteString(w, `{"totalResults":1,"Resources":[{"id":"g1","displayName":"ops"}]}`)
		case http.MethodPatch:
			scimErrorBody(w, 400, "noTarget", "no member matched")
		}
	})
	if err := c.RemoveFromGroup(context.Background(), "9", "ops"); err != nil {
		t.Fatalf("got %v, want the removal counted as done", err)
	}
}

// TestGroupsWithoutDisplay covers apps that list a User's groups by id only
// (RFC 7643 makes display optional): the groups the connector has resolved
// are reported by name.
func TestGroupsWithoutDisplay(t *testing.T) {
	var patched atomic.Int32
	c := fakeApp(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", scim.MediaType)
		switch {
		case r.Method == http.MethodPatch:
			patched.Add(1)
			w.WriteHeader(http.StatusNoContent)
		case strings.HasSuffix(r.URL.Path, "/Groups"):
			_, _ = io.WriteString(w, `{"totalResults":1,"Resources":[{"id":"g1","displayName":"ops"}]}`)
		case strings.HasSuffix(r.URL.Path, "/Users/9"):
			_, _ = io.WriteString(w, `{"id":"9","userName":"a@example.com","groups":[{"value":"g1"},{"value":"g2"}]}`)
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	})
	ctx := context.Background()
	// Already a member: nothing is sent.
	if err := c.AddToGroup(ctx, "9", "ops"); err != nil {
		t.Fatal(err)
	}
	if n := patched.Load(); n != 0 {
		t.Fatalf("sent %d PATCHes to add a member the User already lists", n)
	}
	a, err := c.Get(ctx, "9")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"g2", "ops"}; !slices.Equal(a.Groups, want) {
		t.Fatalf("groups %v, want %v", a.Groups, want)
	}
}

// TestAWSIdentityCenterMemberships follows AWS IAM Identity Center's documented
// SCIM behaviour: Users carry no groups, GetGroup and ListGroups return an
// empty member list, the only member filter is members.value (a member nobody
// has is a 404), and the bracket form is a 400 ValidationException.
func TestAWSIdentityCenterMemberships(t *testing.T) {
	var mu sync.Mutex
	members := map[string]int{} // "<group>/<user>" -> times listed
	groups := map[string]string{"g-eng": "engineering"}
	c := fakeApp(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		w.Header().Set("Content-Type", scim.MediaType)
		filter := r.URL.Query().Get("filter")
		switch {
		case r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/Users/u1"):
			_, _ = io.WriteString(w, `{"id":"u1","userName":"a@example.com","active":true}`)
		case r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/Groups/"):
			id := r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:]
			_ = json.NewEncoder(w).Encode(map[string]any{"id": id, "displayName": groups[id], "members": []any{}})
		case r.Method == http.MethodGet && strings.HasPrefix(filter, "displayName eq "):
			var list []any
			for id, name := range groups {
				if filter == `displayName eq "`+name+`"` {
					list = append(list, map[string]any{"id": id, "displayName": name, "members": []any{}})
				}
			}
			_ = json.NewEncoder(w).Encode(map[string]any{"totalResults": len(list), "Resources": list})
		case r.Method == http.MethodGet && strings.HasPrefix(filter, "members.value eq "):
			user := strings.Trim(strings.TrimPrefix(filter, "members.value eq "), `"`)
			var list []any
			for id, name := range groups {
				if members[id+"/"+user] > 0 {
					list = append(list, map[string]any{"id": id, "displayName": name, "members": []any{}})
				}
			}
			if user != "u1" {
				scimErrorBody(w, 404, "", "ResourceNotFoundException: no such member")
				return
			}
			_ = json.NewEncoder(w).Encode(map[string]any{"totalResults": len(list), "Resources": list})
		case r.Method == http.MethodGet && filter != "":
			scimErrorBody(w, 400, "", "ValidationException: unsupported filter")
		case r.Method == http.MethodPatch:
			var msg struct {
				Operations []struct {
					Op    string `json:"op"`
					Path  string `json:"path"`
					Value []struct {
						Value string `json:"value"`
					} `json:"value"`
				} `json:"Operations"`
			}
			_ = json.NewDecoder(r.Body).Decode(&msg)
			gid := r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:]
			for _, op := range msg.Operations {
				switch {
				case op.Op == "add" && op.Path == "members":
					for _, v := range op.Value {
						members[gid+"/"+v.Value]++ // listed again, as a careless app would
					}
				case op.Op == "remove" && strings.HasPrefix(op.Path, "members[value eq "):
					user := strings.TrimSuffix(strings.TrimPrefix(op.Path, `members[value eq "`), `"]`)
					delete(members, gid+"/"+user)
				}
			}
			w.WriteHeader(http.StatusNoContent)
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	})
	ctx := context.Background()
	for range 3 {
		if err := c.AddToGroup(ctx, "u1", "engineering"); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	n := members["g-eng/u1"]
	mu.Unlock()
	if n != 1 {
		t.Fatalf("the app lists the user %d times, want once", n)
	}
	a, err := c.Get(ctx, "u1")
	if err != nil || !slices.Equal(a.Groups, []string{"engineering"}) {
		t.Fatalf("Get: %+v, %v; want [engineering]", a, err)
	}
	if err := c.RemoveFromGroup(ctx, "u1", "engineering"); err != nil {
		t.Fatal(err)
	}
	if a, err := c.Get(ctx, "u1"); err != nil || len(a.Groups) != 0 || len(a.Unverifiable) != 0 {
		t.Fatalf("Get after removal: %+v, %v; want no groups", a, err)
	}
}

// A listing that shows a User's groups teaches the connector that the app
// fills them in: reading a member of no group afterwards asks the User alone,
// not every Group (which, in an app of 100,000 members, is costly).
func TestListTeachesThatUsersCarryGroups(t *testing.T) {
	var paths []string
	c := fakeApp(t, func(w http.ResponseWriter, r *http.Request) {
		path := strings.TrimPrefix(r.URL.Path, "/scim/v2")
		paths = append(paths, path)
		w.Header().Set("Content-Type", scim.MediaType)
		switch path {
		case "/Users":
			if r.URL.Query().Get("startIndex") != "1" {
				w.Write([]byte(`{"totalResults":2,"startIndex":3,"Resources":[]}`))
				return
			}
			w.Write([]byte(`{"totalResults":2,"startIndex":1,"Resources":[
				{"id":"u1","userName":"a","active":true,"groups":[{"value":"g1","display":"staff"}]},
				{"id":"u2","userName":"b","active":true}]}`))
		case "/Users/u2":
			w.Write([]byte(`{"id":"u2","userName":"b","active":true}`))
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	})
	n := 0
	if err := c.List(context.Background(), func(integrations.Account) bool { n++; return true }); err != nil || n != 2 {
		t.Fatalf("List: %d accounts, %v", n, err)
	}
	paths = nil
	a, err := c.GetWithGroups(context.Background(), "u2", []string{"staff"})
	if err != nil || len(a.Groups) != 0 || len(a.Unverifiable) != 0 {
		t.Fatalf("GetWithGroups: %+v, %v", a, err)
	}
	if strings.Join(paths, " ") != "/Users/u2" {
		t.Errorf("reading a member of no group asked %v, want the User alone", paths)
	}
}
