package sandbox_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/internal/sandbox"
)

const token = "sandbox-test-token"

// client speaks to one sandbox app over real HTTP.
type client struct {
	t     testing.TB
	base  string // the server's URL
	app   string
	token string
}

type response struct {
	status int
	header http.Header
	body   map[string]any
}

func start(t testing.TB, dir string) (*sandbox.Sandbox, client) {
	t.Helper()
	s, err := sandbox.New(sandbox.Options{Apps: []string{"github", "slack"}, Token: token, DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(func() {
		srv.Close()
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s, client{t: t, base: srv.URL, app: "github", token: token}
}

// do sends a request to /sandbox/<app>/<path> (path is relative to scim/v2
// unless it starts with "/").
func (c client) do(method, path string, body any) response {
	c.t.Helper()
	u := c.base + "/sandbox/" + c.app + "/scim/v2/" + path
	if strings.HasPrefix(path, "/") {
		u = c.base + path
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	req.Header.Set("Content-Type", "application/scim+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	r := response{status: resp.StatusCode, header: resp.Header}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &r.body); err != nil {
			c.t.Fatalf("%s %s: %d with a body that is not a JSON object: %s", method, path, resp.StatusCode, raw)
		}
	}
	return r
}

func (c client) must(want int, method, path string, body any) map[string]any {
	c.t.Helper()
	r := c.do(method, path, body)
	if r.status != want {
		c.t.Fatalf("%s %s: got %d, want %d: %v", method, path, r.status, want, r.body)
	}
	return r.body
}

func userBody(userName, externalID, given, family string) map[string]any {
	return map[string]any{
		"schemas":    []string{"urn:ietf:params:scim:schemas:core:2.0:User"},
		"userName":   userName,
		"externalId": externalID,
		"name":       map[string]any{"givenName": given, "familyName": family},
		"emails":     []any{map[string]any{"value": userName, "type": "work", "primary": true}},
		"active":     true,
	}
}

func patchBody(ops ...map[string]any) map[string]any {
	return map[string]any{
		"schemas":    []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
		"Operations": ops,
	}
}

func filterPath(resource, filter string) string {
	return resource + "?filter=" + url.QueryEscape(filter)
}

// find returns the one stored user with the given ID.
func find(t *testing.T, s *sandbox.Sandbox, app, id string) sandbox.User {
	t.Helper()
	users, err := s.Users(app)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range users {
		if u.ID == id {
			return u
		}
	}
	t.Fatalf("%s has no user %s; it has %+v", app, id, users)
	return sandbox.User{}
}

func resources(t *testing.T, list map[string]any) []map[string]any {
	t.Helper()
	raw, _ := list["Resources"].([]any)
	out := make([]map[string]any, len(raw))
	for i, r := range raw {
		out[i] = r.(map[string]any)
	}
	return out
}

func TestUserLifecycle(t *testing.T) {
	s, c := start(t, "")

	created := c.do(http.MethodPost, "Users", userBody("ann@example.com", "hr-1", "Ann", "Lee"))
	if created.status != http.StatusCreated {
		t.Fatalf("create: %d %v", created.status, created.body)
	}
	id, _ := created.body["id"].(string)
	meta, _ := created.body["meta"].(map[string]any)
	wantLocation := c.base + "/sandbox/github/scim/v2/Users/" + id
	if id == "" || meta["resourceType"] != "User" || meta["location"] != wantLocation || meta["version"] == nil || meta["created"] == nil {
		t.Fatalf("create returned id %q and meta %v; want location %s", id, meta, wantLocation)
	}
	if got := created.header.Get("Location"); got != wantLocation {
		t.Errorf("Location header %q, want %q", got, wantLocation)
	}
	want := sandbox.User{ID: id, UserName: "ann@example.com", ExternalID: "hr-1", GivenName: "Ann", FamilyName: "Lee", Email: "ann@example.com", Active: true, Groups: []string{}}
	if u := find(t, s, "github", id); !reflect.DeepEqual(u, want) {
		t.Fatalf("stored user %+v, want %+v", u, want)
	}

	// Lookups by filter, as a connector adopts an existing account.
	for _, f := range []string{`userName eq "ANN@example.com"`, `externalId eq "hr-1"`, `id eq "` + id + `"`, `userName sw "ann" and active eq true`} {
		list := c.must(http.StatusOK, http.MethodGet, filterPath("Users", f), nil)
		if rs := resources(t, list); list["totalResults"] != float64(1) || len(rs) != 1 || rs[0]["id"] != id {
			t.Errorf("filter %s: %v", f, list)
		}
	}
	for _, f := range []string{`userName eq "bob@example.com"`, `externalId eq "HR-1"`} {
		list := c.must(http.StatusOK, http.MethodGet, filterPath("Users", f), nil)
		if list["totalResults"] != float64(0) {
			t.Errorf("filter %s matched: %v", f, list)
		}
	}
	if r := c.do(http.MethodGet, filterPath("Users", `userName eq`), nil); r.status != http.StatusBadRequest || r.body["scimType"] != "invalidFilter" {
		t.Errorf("bad filter: %d %v", r.status, r.body)
	}

	// Okta disables without a path, Entra with one.
	c.must(http.StatusOK, http.MethodPatch, "Users/"+id, patchBody(map[string]any{"op": "replace", "value": map[string]any{"active": false}}))
	if u := find(t, s, "github", id); u.Active {
		t.Fatal("PATCH replace without path left the user active")
	}
	c.must(http.StatusOK, http.MethodPatch, "Users/"+id, patchBody(map[string]any{"op": "Replace", "path": "active", "value": true}))
	if u := find(t, s, "github", id); !u.Active {
		t.Fatal("PATCH replace of path active did not enable the user")
	}
	got := c.must(http.StatusOK, http.MethodPatch, "Users/"+id, patchBody(
		map[string]any{"op": "replace", "path": "active", "value": false},
		map[string]any{"op": "replace", "path": "name.givenName", "value": "Anne"},
		map[string]any{"op": "replace", "value": map[string]any{"name.familyName": "Li"}},
		map[string]any{"op": "replace", "path": `emails[type eq "work"].value`, "value": "anne@example.com"},
		map[string]any{"op": "add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "value": "Sales"},
	))
	if got["active"] != false || got["name"].(map[string]any)["givenName"] != "Anne" {
		t.Errorf("PATCH answered %v", got)
	}
	u := find(t, s, "github", id)
	if u.Active || u.GivenName != "Anne" || u.FamilyName != "Li" || u.Email != "anne@example.com" {
		t.Errorf("after PATCH the app stores %+v", u)
	}
	ext, _ := c.must(http.StatusOK, http.MethodGet, "Users/"+id, nil)["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"].(map[string]any)
	if ext["department"] != "Sales" {
		t.Errorf("enterprise extension after PATCH: %v", ext)
	}
	if r := c.do(http.MethodPatch, "Users/"+id, patchBody(map[string]any{"op": "replace", "path": "groups", "value": []any{map[string]any{"value": "x"}}})); r.status != http.StatusBadRequest {
		t.Errorf("PATCH of read-only groups: %d %v", r.status, r.body)
	}

	// PUT replaces everything.
	c.must(http.StatusOK, http.MethodPut, "Users/"+id, userBody("ann.lee@example.com", "hr-1", "Ann", "Lee"))
	if u := find(t, s, "github", id); u.UserName != "ann.lee@example.com" || !u.Active || u.GivenName != "Ann" {
		t.Errorf("after PUT the app stores %+v", u)
	}
	if r := c.do(http.MethodPut, "Users/nope", userBody("x@example.com", "", "X", "Y")); r.status != http.StatusNotFound {
		t.Errorf("PUT of a missing user: %d", r.status)
	}

	c.must(http.StatusNoContent, http.MethodDelete, "Users/"+id, nil)
	r := c.do(http.MethodDelete, "Users/"+id, nil)
	if r.status != http.StatusNotFound || r.body["status"] != "404" {
		t.Errorf("second delete: %d %v", r.status, r.body)
	}
	c.must(http.StatusNotFound, http.MethodGet, "Users/"+id, nil)
	if users, _ := s.Users("github"); len(users) != 0 {
		t.Errorf("users left after delete: %+v", users)
	}
}

func TestDuplicatesAreConflicts(t *testing.T) {
	_, c := start(t, "")
	first := c.must(http.StatusCreated, http.MethodPost, "Users", userBody("ann@example.com", "hr-1", "Ann", "Lee"))

	for name, body := range map[string]map[string]any{
		"userName in other case": userBody("ANN@EXAMPLE.COM", "hr-2", "Ann", "Lee"),
		"externalId":             userBody("other@example.com", "hr-1", "Ann", "Lee"),
	} {
		r := c.do(http.MethodPost, "Users", body)
		if r.status != http.StatusConflict || r.body["scimType"] != "uniqueness" || r.body["detail"] == "" {
			t.Errorf("%s: %d %v", name, r.status, r.body)
		}
	}
	// Renaming another user onto a taken name is a conflict too.
	second := c.must(http.StatusCreated, http.MethodPost, "Users", userBody("bob@example.com", "hr-2", "Bob", "Ng"))
	r := c.do(http.MethodPatch, "Users/"+second["id"].(string), patchBody(map[string]any{"op": "replace", "path": "userName", "value": "Ann@example.com"}))
	if r.status != http.StatusConflict {
		t.Errorf("PATCH onto a taken userName: %d %v", r.status, r.body)
	}
	// A user may keep its own name.
	c.must(http.StatusOK, http.MethodPut, "Users/"+first["id"].(string), userBody("ann@example.com", "hr-1", "Ann", "Lee"))
}

func TestGroupMembership(t *testing.T) {
	s, c := start(t, "")
	ann := c.must(http.StatusCreated, http.MethodPost, "Users", userBody("ann@example.com", "hr-1", "Ann", "Lee"))["id"].(string)
	bob := c.must(http.StatusCreated, http.MethodPost, "Users", userBody("bob@example.com", "hr-2", "Bob", "Ng"))["id"].(string)
	group := func(name string) string {
		return c.must(http.StatusCreated, http.MethodPost, "Groups", map[string]any{
			"schemas":     []string{"urn:ietf:params:scim:schemas:core:2.0:Group"},
			"displayName": name,
		})["id"].(string)
	}
	eng, admins := group("engineering"), group("admins")
	if r := c.do(http.MethodPost, "Groups", map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"}, "displayName": "Engineering"}); r.status != http.StatusConflict {
		t.Errorf("duplicate group name: %d", r.status)
	}
	list := c.must(http.StatusOK, http.MethodGet, filterPath("Groups", `displayName eq "ENGINEERING"`), nil)
	if rs := resources(t, list); len(rs) != 1 || rs[0]["id"] != eng {
		t.Errorf("group by displayName: %v", list)
	}

	add := func(groupID string, members ...string) {
		var values []any
		for _, m := range members {
			values = append(values, map[string]any{"value": m})
		}
		c.must(http.StatusOK, http.MethodPatch, "Groups/"+groupID, patchBody(map[string]any{"op": "add", "path": "members", "value": values}))
	}
	add(eng, ann, bob)
	add(eng, ann) // twice is once
	add(admins, ann)

	groupsOf := func(id string) []string {
		u := c.must(http.StatusOK, http.MethodGet, "Users/"+id, nil)
		var names []string
		gs, _ := u["groups"].([]any)
		for _, g := range gs {
			names = append(names, g.(map[string]any)["display"].(string))
		}
		return names
	}
	if got := groupsOf(ann); fmt.Sprint(got) != "[admins engineering]" {
		t.Errorf("ann's groups: %v", got)
	}
	if got := find(t, s, "github", bob).Groups; fmt.Sprint(got) != "[engineering]" {
		t.Errorf("bob's stored groups: %v", got)
	}
	members := c.must(http.StatusOK, http.MethodGet, "Groups/"+eng, nil)["members"].([]any)
	if len(members) != 2 {
		t.Errorf("engineering members: %v", members)
	}

	// RFC 7644's remove by value filter, and Entra's remove by value list.
	c.must(http.StatusOK, http.MethodPatch, "Groups/"+eng, patchBody(map[string]any{"op": "remove", "path": `members[value eq "` + ann + `"]`}))
	c.must(http.StatusOK, http.MethodPatch, "Groups/"+admins, patchBody(map[string]any{"op": "Remove", "path": "members", "value": []any{map[string]any{"value": ann}}}))
	if got := find(t, s, "github", ann).Groups; len(got) != 0 {
		t.Errorf("ann's groups after removal: %v", got)
	}
	if _, ok := c.must(http.StatusOK, http.MethodGet, "Users/"+ann, nil)["groups"]; ok {
		t.Error("ann's groups attribute is still there")
	}
	// Removing again is harmless.
	c.must(http.StatusOK, http.MethodPatch, "Groups/"+eng, patchBody(map[string]any{"op": "remove", "path": `members[value eq "` + ann + `"]`}))

	r := c.do(http.MethodPatch, "Groups/"+eng, patchBody(map[string]any{"op": "add", "path": "members", "value": []any{map[string]any{"value": "no-such-user"}}}))
	if r.status != http.StatusBadRequest || !strings.Contains(fmt.Sprint(r.body["detail"]), "no-such-user") {
		t.Errorf("adding an unknown member: %d %v", r.status, r.body)
	}

	// A deleted user leaves its groups; a deleted group leaves its users.
	c.must(http.StatusNoContent, http.MethodDelete, "Users/"+bob, nil)
	if m := c.must(http.StatusOK, http.MethodGet, "Groups/"+eng, nil)["members"]; m != nil {
		t.Errorf("members after the user was deleted: %v", m)
	}
	add(admins, ann)
	c.must(http.StatusNoContent, http.MethodDelete, "Groups/"+admins, nil)
	if got := find(t, s, "github", ann).Groups; len(got) != 0 {
		t.Errorf("ann's groups after the group was deleted: %v", got)
	}
}

func TestPagination(t *testing.T) {
	s, c := start(t, "")
	for i := range 250 {
		c.must(http.StatusCreated, http.MethodPost, "Users", userBody(fmt.Sprintf("u%03d@example.com", i), fmt.Sprintf("hr-%d", i), "U", fmt.Sprint(i)))
	}
	seen := map[string]bool{}
	for start := 1; ; {
		list := c.must(http.StatusOK, http.MethodGet, fmt.Sprintf("Users?startIndex=%d&count=100", start), nil)
		rs := resources(t, list)
		if list["totalResults"] != float64(250) || list["startIndex"] != float64(start) {
			t.Fatalf("page at %d: totalResults %v startIndex %v", start, list["totalResults"], list["startIndex"])
		}
		if len(rs) == 0 {
			break
		}
		for _, r := range rs {
			id := r["id"].(string)
			if seen[id] {
				t.Fatalf("user %s on two pages", id)
			}
			seen[id] = true
		}
		start += len(rs)
	}
	if len(seen) != 250 {
		t.Fatalf("paged through %d users, want 250", len(seen))
	}
	// Without count the page is 100, and a larger count is capped there.
	if rs := resources(t, c.must(http.StatusOK, http.MethodGet, "Users", nil)); len(rs) != 100 {
		t.Errorf("default page has %d users", len(rs))
	}
	if rs := resources(t, c.must(http.StatusOK, http.MethodGet, "Users?count=1000&startIndex=201", nil)); len(rs) != 50 || rs[0]["userName"] != "u200@example.com" {
		t.Errorf("last page has %d users starting at %v", len(rs), rs[0]["userName"])
	}
	if list := c.must(http.StatusOK, http.MethodGet, "Users?count=0", nil); list["totalResults"] != float64(250) || len(resources(t, list)) != 0 {
		t.Errorf("count=0: %v", list)
	}
	// The other app is untouched.
	if users, _ := s.Users("slack"); len(users) != 0 {
		t.Errorf("slack has %d users", len(users))
	}
}

func TestAuthAndRouting(t *testing.T) {
	_, c := start(t, "")
	for name, tok := range map[string]string{"missing": "", "wrong": "not-the-token", "prefix": token[:5]} {
		cc := c
		cc.token = tok
		r := cc.do(http.MethodGet, "Users", nil)
		if r.status != http.StatusUnauthorized || r.body["status"] != "401" || r.header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s token: %d %v", name, r.status, r.body)
		}
		if r := cc.do(http.MethodPut, "/sandbox/github/_faults", sandbox.Faults{ErrorRate: 1}); r.status != http.StatusUnauthorized {
			t.Errorf("%s token on _faults: %d", name, r.status)
		}
	}
	unknown := c
	unknown.app = "jira"
	if r := unknown.do(http.MethodGet, "Users", nil); r.status != http.StatusNotFound {
		t.Errorf("unknown app: %d", r.status)
	}
	if r := c.do(http.MethodGet, "/sandbox/github/other", nil); r.status != http.StatusNotFound {
		t.Errorf("unknown sandbox path: %d", r.status)
	}

	spc := c.must(http.StatusOK, http.MethodGet, "ServiceProviderConfig", nil)
	if spc["patch"].(map[string]any)["supported"] != true || spc["filter"].(map[string]any)["supported"] != true {
		t.Errorf("ServiceProviderConfig: %v", spc)
	}
	types := c.must(http.StatusOK, http.MethodGet, "ResourceTypes", nil)
	if types["totalResults"] != float64(2) {
		t.Errorf("ResourceTypes: %v", types)
	}
	c.must(http.StatusOK, http.MethodGet, "Schemas", nil)
}

func TestFaults(t *testing.T) {
	s, c := start(t, "")
	slack := c
	slack.app = "slack"

	if err := s.SetFaults("github", sandbox.Faults{RateLimit: 2, RetryAfter: 1500 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		r := c.do(http.MethodGet, "Users", nil)
		if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") != "2" || r.body["status"] != "429" {
			t.Fatalf("rate-limited request %d: %d Retry-After %q %v", i, r.status, r.header.Get("Retry-After"), r.body)
		}
	}
	c.must(http.StatusOK, http.MethodGet, "Users", nil)
	slack.must(http.StatusOK, http.MethodGet, "Users", nil) // faults are per app

	// A rate limit without a delay still asks for at least a second.
	s.SetFaults("github", sandbox.Faults{RateLimit: 1})
	if r := c.do(http.MethodGet, "Users", nil); r.header.Get("Retry-After") != "1" {
		t.Errorf("Retry-After %q, want 1", r.header.Get("Retry-After"))
	}

	s.SetFaults("github", sandbox.Faults{ErrorRate: 1})
	for range 3 {
		r := c.do(http.MethodPost, "Users", userBody("ann@example.com", "hr-1", "Ann", "Lee"))
		if r.status != http.StatusServiceUnavailable || r.body["status"] != "503" || r.body["schemas"] == nil {
			t.Fatalf("at error rate 1: %d %v", r.status, r.body)
		}
	}
	if users, _ := s.Users("github"); len(users) != 0 {
		t.Fatalf("a failed request wrote %+v", users)
	}

	s.SetFaults("github", sandbox.Faults{FailNext: 1, FailStatus: 400, FailDetail: "userName violates the naming policy"})
	r := c.do(http.MethodPost, "Users", userBody("ann@example.com", "hr-1", "Ann", "Lee"))
	if r.status != http.StatusBadRequest || r.body["detail"] != "userName violates the naming policy" {
		t.Fatalf("FailNext: %d %v", r.status, r.body)
	}
	c.must(http.StatusCreated, http.MethodPost, "Users", userBody("ann@example.com", "hr-1", "Ann", "Lee"))

	// Over HTTP, with durations as strings.
	got := c.must(http.StatusOK, http.MethodPut, "/sandbox/github/_faults", map[string]any{"latency": "60ms", "failNext": 1, "failDetail": "nope"})
	if got["latency"] != "60ms" || got["failStatus"] != float64(400) {
		t.Errorf("PUT _faults answered %v", got)
	}
	if got := c.must(http.StatusOK, http.MethodGet, "/sandbox/github/_faults", nil); got["failNext"] != float64(1) {
		t.Errorf("GET _faults: %v", got)
	}
	began := time.Now()
	if r := c.do(http.MethodGet, "Users", nil); r.status != http.StatusBadRequest || r.body["detail"] != "nope" {
		t.Errorf("FailNext over HTTP: %d %v", r.status, r.body)
	}
	if waited := time.Since(began); waited < 60*time.Millisecond {
		t.Errorf("a request with 60ms latency took %v", waited)
	}
	if got := c.must(http.StatusOK, http.MethodGet, "/sandbox/github/_faults", nil); got["failNext"] != nil {
		t.Errorf("failNext not used up: %v", got)
	}
	for _, bad := range []map[string]any{{"latency": "soon"}, {"errorRate": 2}, {"failStatus": 200, "failNext": 1}, {"latency": 5}} {
		if r := c.do(http.MethodPut, "/sandbox/github/_faults", bad); r.status != http.StatusBadRequest || r.body["detail"] == "" {
			t.Errorf("PUT _faults %v: %d %v", bad, r.status, r.body)
		}
	}
	c.must(http.StatusOK, http.MethodPut, "/sandbox/github/_faults", map[string]any{})
	c.must(http.StatusOK, http.MethodGet, "Users", nil)

	if err := s.SetFaults("jira", sandbox.Faults{}); tenure.ErrorCode(err) != tenure.ENOTFOUND {
		t.Errorf("SetFaults on an unknown app: %v", err)
	}
	if err := s.SetFaults("github", sandbox.Faults{ErrorRate: -1}); tenure.ErrorCode(err) != tenure.EINVALID {
		t.Errorf("SetFaults with a negative rate: %v", err)
	}
}

func TestReset(t *testing.T) {
	s, c := start(t, "")
	c.must(http.StatusCreated, http.MethodPost, "Users", userBody("ann@example.com", "hr-1", "Ann", "Lee"))
	c.must(http.StatusNoContent, http.MethodPost, "/sandbox/github/_reset", nil)
	if users, _ := s.Users("github"); len(users) != 0 {
		t.Fatalf("users after reset: %+v", users)
	}
	c.must(http.StatusCreated, http.MethodPost, "Users", userBody("ann@example.com", "hr-1", "Ann", "Lee"))
}

func TestStateSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	s, err := sandbox.New(sandbox.Options{Apps: []string{"github"}, Token: token, DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	c := client{t: t, base: srv.URL, app: "github", token: token}
	ann := c.must(http.StatusCreated, http.MethodPost, "Users", userBody("ann@example.com", "hr-1", "Ann", "Lee"))["id"].(string)
	bob := c.must(http.StatusCreated, http.MethodPost, "Users", userBody("bob@example.com", "hr-2", "Bob", "Ng"))["id"].(string)
	eng := c.must(http.StatusCreated, http.MethodPost, "Groups", map[string]any{
		"schemas":     []string{"urn:ietf:params:scim:schemas:core:2.0:Group"},
		"displayName": "engineering",
		"members":     []any{map[string]any{"value": ann}},
	})["id"].(string)
	c.must(http.StatusOK, http.MethodPatch, "Users/"+bob, patchBody(map[string]any{"op": "replace", "path": "active", "value": false}))
	srv.Close()
	before, _ := s.Users("github")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s2, c2 := start(t, dir)
	after, err := s2.Users("github")
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprintf("%+v", after) != fmt.Sprintf("%+v", before) {
		t.Fatalf("after restart\n%+v\nwant\n%+v", after, before)
	}
	if got := find(t, s2, "github", ann).Groups; fmt.Sprint(got) != "[engineering]" {
		t.Errorf("ann's groups after restart: %v", got)
	}
	// Indexes are rebuilt too: lookups work and uniqueness holds.
	if rs := resources(t, c2.must(http.StatusOK, http.MethodGet, filterPath("Users", `externalId eq "hr-2"`), nil)); len(rs) != 1 || rs[0]["id"] != bob || rs[0]["active"] != false {
		t.Errorf("lookup after restart: %v", rs)
	}
	c2.must(http.StatusConflict, http.MethodPost, "Users", userBody("ann@example.com", "hr-9", "Ann", "Lee"))
	c2.must(http.StatusOK, http.MethodPatch, "Groups/"+eng, patchBody(map[string]any{"op": "remove", "path": `members[value eq "` + ann + `"]`}))
	if got := find(t, s2, "github", ann).Groups; len(got) != 0 {
		t.Errorf("ann's groups after removal: %v", got)
	}
}

func TestConcurrentWrites(t *testing.T) {
	s, c := start(t, t.TempDir())
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 25 {
				name := fmt.Sprintf("w%d-%d@example.com", w, i)
				body := c.must(http.StatusCreated, http.MethodPost, "Users", userBody(name, name, "W", "I"))
				c.must(http.StatusOK, http.MethodPatch, "Users/"+body["id"].(string), patchBody(map[string]any{"op": "replace", "path": "active", "value": false}))
			}
			// Everyone races to create the same user: exactly one wins.
			c.do(http.MethodPost, "Users", userBody("same@example.com", "same", "S", "S"))
		})
	}
	wg.Wait()
	users, _ := s.Users("github")
	if len(users) != 8*25+1 {
		t.Fatalf("%d users, want %d", len(users), 8*25+1)
	}
	for _, u := range users {
		if u.Active != (u.UserName == "same@example.com") {
			t.Fatalf("user %+v", u)
		}
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	for name, opts := range map[string]sandbox.Options{
		"no token":  {Apps: []string{"github"}},
		"bad name":  {Apps: []string{"../etc"}, Token: token},
		"duplicate": {Apps: []string{"a", "a"}, Token: token},
	} {
		if _, err := sandbox.New(opts); tenure.ErrorCode(err) != tenure.EINVALID {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// BenchmarkDisable measures the sandbox's share of a leaver: one PATCH that
// disables a user, over HTTP.
func BenchmarkDisable(b *testing.B) {
	_, c := start(b, b.TempDir())
	id := c.must(http.StatusCreated, http.MethodPost, "Users", userBody("ann@example.com", "hr-1", "Ann", "Lee"))["id"].(string)
	for i := 0; b.Loop(); i++ {
		c.must(http.StatusOK, http.MethodPatch, "Users/"+id, patchBody(map[string]any{"op": "replace", "path": "active", "value": i%2 == 0}))
	}
}

// BenchmarkLookup measures a lookup by externalId among 10,000 users.
func BenchmarkLookup(b *testing.B) {
	_, c := start(b, "")
	for i := range 10000 {
		c.must(http.StatusCreated, http.MethodPost, "Users", userBody(fmt.Sprintf("u%d@example.com", i), fmt.Sprintf("hr-%d", i), "U", "I"))
	}
	path := filterPath("Users", `externalId eq "hr-5000"`)
	for b.Loop() {
		c.must(http.StatusOK, http.MethodGet, path, nil)
	}
}

// TestAddAppServesANewAppAtOnceWithItsSavedState: tenure dev adds the sandbox
// apps of a policy deployed while it runs; an app served before keeps its state.
func TestAddAppServesANewAppAtOnceWithItsSavedState(t *testing.T) {
	dir := t.TempDir()
	s, c := start(t, dir)
	teams := client{t: t, base: c.base, app: "teams", token: token}
	teams.must(http.StatusNotFound, http.MethodGet, "Users", nil)
	if err := s.AddApp("teams"); err != nil {
		t.Fatal(err)
	}
	teams.must(http.StatusCreated, http.MethodPost, "Users", userBody("ann@example.com", "hr-1", "Ann", "Lee"))
	c.must(http.StatusCreated, http.MethodPost, "Users", userBody("bob@example.com", "hr-2", "Bob", "Ng"))
	// Adding an app served already changes nothing.
	if err := s.AddApp("github"); err != nil {
		t.Fatal(err)
	}
	if users, _ := s.Users("github"); len(users) != 1 {
		t.Fatalf("github has %d users after adding it again", len(users))
	}
	if got := s.Apps(); fmt.Sprint(got) != "[github slack teams]" {
		t.Fatalf("apps = %v", got)
	}
	if err := s.AddApp("Bad Name"); err == nil {
		t.Fatal("a bad app name was added")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// A sandbox may start with no app at all (a policy of real apps), and be
	// given apps later.
	s2, err := sandbox.New(sandbox.Options{Token: token, DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if len(s2.Apps()) != 0 {
		t.Fatalf("apps = %v", s2.Apps())
	}
	if err := s2.AddApp("teams"); err != nil {
		t.Fatal(err)
	}
	if users, _ := s2.Users("teams"); len(users) != 1 || users[0].ExternalID != "hr-1" {
		t.Fatalf("teams after a restart = %+v", users)
	}
}

// A PATCH that only adds members takes a path of its own, which touches only
// the members it adds; whatever the adds, it leaves the group, its members'
// groups and the answers as the general path does (which a dialect takes).
func TestAddMembersAgreesWithTheGeneralPatch(t *testing.T) {
	type outcome struct {
		statuses []int
		members  []string
		version  []string
		groups   map[string][]string
	}
	run := func(general bool) outcome {
		s, c := start(t, "")
		if general {
			if err := s.SetDialect("github", sandbox.Dialect{PageSize: 1000}); err != nil {
				t.Fatal(err)
			}
		}
		var users []string
		for i := range 4 {
			users = append(users, c.must(http.StatusCreated, http.MethodPost, "Users",
				userBody(fmt.Sprintf("u%d@example.com", i), fmt.Sprintf("hr-%d", i), "U", strconv.Itoa(i)))["id"].(string))
		}
		group := func(name string) string {
			return c.must(http.StatusCreated, http.MethodPost, "Groups", map[string]any{
				"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"}, "displayName": name,
			})["id"].(string)
		}
		staff, team := group("staff"), group("team")
		var out outcome
		add := func(groupID string, ids ...string) {
			var values []any
			for _, id := range ids {
				values = append(values, map[string]any{"value": id})
			}
			r := c.do(http.MethodPatch, "Groups/"+groupID, patchBody(map[string]any{"op": "add", "path": "members", "value": values}))
			out.statuses = append(out.statuses, r.status)
			if r.status == http.StatusOK {
				out.version = append(out.version, r.header.Get("ETag"))
			}
		}
		add(staff, users[0])
		add(staff, users[1], users[2])
		add(staff, users[0])           // already there: unchanged
		add(staff, users[3], users[3]) // twice in one request: once
		add(staff, team)               // a group may be a member
		add(staff, staff)              // but not of itself
		add(staff, "no-such-user")
		add(team, users[1])
		for _, m := range c.must(http.StatusOK, http.MethodGet, "Groups/"+staff, nil)["members"].([]any) {
			out.members = append(out.members, m.(map[string]any)["value"].(string))
		}
		out.groups = map[string][]string{}
		for i, u := range users {
			for _, g := range c.must(http.StatusOK, http.MethodGet, "Users/"+u, nil)["groups"].([]any) {
				out.groups[strconv.Itoa(i)] = append(out.groups[strconv.Itoa(i)], g.(map[string]any)["display"].(string))
			}
			slices.Sort(out.groups[strconv.Itoa(i)])
		}
		for i, id := range out.members {
			for j, u := range users {
				if id == u {
					out.members[i] = "user " + strconv.Itoa(j)
				}
			}
			if id == team {
				out.members[i] = "team"
			}
		}
		return out
	}
	fast, general := run(false), run(true)
	if !reflect.DeepEqual(fast, general) {
		t.Fatalf("adds on their own path:\n%+v\nthe general path:\n%+v", fast, general)
	}
	if want := []string{"user 0", "user 1", "user 2", "user 3", "team"}; !slices.Equal(fast.members, want) {
		t.Errorf("members = %q, want %q", fast.members, want)
	}
}
