package sandbox_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/tenure-io/tenure/internal/sandbox"
)

// dialect sets the app's dialect over its admin endpoint, as a demo would.
func (c client) dialect(body map[string]any) {
	c.t.Helper()
	c.must(http.StatusOK, http.MethodPut, "/sandbox/"+c.app+"/_dialect", body)
}

func newGroup(c client, name string) string {
	return c.must(http.StatusCreated, http.MethodPost, "Groups", map[string]any{
		"schemas":     []string{"urn:ietf:params:scim:schemas:core:2.0:Group"},
		"displayName": name,
	})["id"].(string)
}

func addMember(c client, gid, uid string) response {
	return c.do(http.MethodPatch, "Groups/"+gid, patchBody(map[string]any{
		"op": "add", "path": "members", "value": []any{map[string]any{"value": uid}}}))
}

func TestDialectEndpoint(t *testing.T) {
	_, c := start(t, "")
	if got := c.must(http.StatusOK, http.MethodGet, "/sandbox/github/_dialect", nil); len(got) != 0 {
		t.Fatalf("default dialect: %v, want {}", got)
	}
	got := c.must(http.StatusOK, http.MethodPut, "/sandbox/github/_dialect", map[string]any{"noUserGroups": true, "patch": "value"})
	if got["noUserGroups"] != true || got["patch"] != "value" {
		t.Fatalf("set dialect answered %v", got)
	}
	for _, bad := range []map[string]any{{"patch": "sideways"}, {"pageSize": -1}, {"noSuchSwitch": true}} {
		if r := c.do(http.MethodPut, "/sandbox/github/_dialect", bad); r.status != http.StatusBadRequest {
			t.Errorf("dialect %v: %d, want 400", bad, r.status)
		}
	}
	c.dialect(map[string]any{})
	if got := c.must(http.StatusOK, http.MethodGet, "/sandbox/github/_dialect", nil); len(got) != 0 {
		t.Fatalf("reset dialect: %v", got)
	}
	// The other app keeps the default.
	c.dialect(map[string]any{"noActive": true})
	other := c
	other.app = "slack"
	if got := other.must(http.StatusOK, http.MethodGet, "/sandbox/slack/_dialect", nil); len(got) != 0 {
		t.Fatalf("slack's dialect: %v", got)
	}
}

func TestDialectMembershipSides(t *testing.T) {
	s, c := start(t, "")
	ann := c.must(http.StatusCreated, http.MethodPost, "Users", userBody("ann@example.com", "hr-1", "Ann", "Lee"))["id"].(string)
	eng := newGroup(c, "engineering")
	if r := addMember(c, eng, ann); r.status != http.StatusOK {
		t.Fatal(r)
	}

	c.dialect(map[string]any{"noUserGroups": true})
	if _, ok := c.must(http.StatusOK, http.MethodGet, "Users/"+ann, nil)["groups"]; ok {
		t.Error("noUserGroups: the User still has groups")
	}
	list := c.must(http.StatusOK, http.MethodGet, filterPath("Groups", `members[value eq "`+ann+`"]`), nil)
	if rs := resources(t, list); len(rs) != 1 || rs[0]["id"] != eng {
		t.Errorf("members filter: %v", list)
	}

	c.dialect(map[string]any{"noGroupMembers": true, "noMemberFilter": true})
	if _, ok := c.must(http.StatusOK, http.MethodGet, "Groups/"+eng+"?attributes=members", nil)["members"]; ok {
		t.Error("noGroupMembers: the Group still has members")
	}
	r := c.do(http.MethodGet, filterPath("Groups", `members[value eq "`+ann+`"]`), nil)
	if r.status != http.StatusBadRequest || r.body["scimType"] != "invalidFilter" {
		t.Errorf("noMemberFilter: %d %v", r.status, r.body)
	}
	if got := find(t, s, "github", ann).Groups; fmt.Sprint(got) != "[engineering]" {
		t.Errorf("the stored membership changed: %v", got)
	}

	// By default a member added twice is listed once; duplicateMembers keeps both.
	c.dialect(map[string]any{})
	addMember(c, eng, ann)
	if m, _ := s.Members("github", "engineering"); len(m) != 1 {
		t.Errorf("default: members %v", m)
	}
	c.dialect(map[string]any{"duplicateMembers": true})
	addMember(c, eng, ann)
	if m, _ := s.Members("github", "engineering"); len(m) != 2 {
		t.Errorf("duplicateMembers: members %v, want the user twice", m)
	}
	if got := find(t, s, "github", ann).Groups; fmt.Sprint(got) != "[engineering]" {
		t.Errorf("a user listed twice is in the group once: %v", got)
	}
}

func TestDialectGroupsEndpoint(t *testing.T) {
	_, c := start(t, "")
	newGroup(c, "engineering")
	c.dialect(map[string]any{"noGroupFilter": true, "noGroupCreate": true})
	r := c.do(http.MethodGet, filterPath("Groups", `displayName eq "engineering"`), nil)
	if r.status != http.StatusBadRequest || r.body["scimType"] != "invalidFilter" {
		t.Errorf("noGroupFilter: %d %v", r.status, r.body)
	}
	if rs := resources(t, c.must(http.StatusOK, http.MethodGet, "Groups", nil)); len(rs) != 1 {
		t.Errorf("listing without a filter: %v", rs)
	}
	r = c.do(http.MethodPost, "Groups", map[string]any{
		"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"}, "displayName": "admins"})
	if r.status != http.StatusForbidden {
		t.Errorf("noGroupCreate: %d %v", r.status, r.body)
	}
}

func TestDialectNoActive(t *testing.T) {
	s, c := start(t, "")
	c.dialect(map[string]any{"noActive": true})
	sch := c.must(http.StatusOK, http.MethodGet, "Schemas/urn:ietf:params:scim:schemas:core:2.0:User", nil)
	if strings.Contains(fmt.Sprint(sch["attributes"]), "name:active") {
		t.Error("the User schema still has active")
	}
	u := c.must(http.StatusCreated, http.MethodPost, "Users", userBody("ann@example.com", "hr-1", "Ann", "Lee"))
	if _, ok := u["active"]; ok {
		t.Errorf("the created user has active: %v", u)
	}
	id := u["id"].(string)
	r := c.do(http.MethodPatch, "Users/"+id, patchBody(map[string]any{"op": "replace", "path": "active", "value": false}))
	if r.status != http.StatusBadRequest {
		t.Errorf("PATCH of active: %d %v", r.status, r.body)
	}
	if !find(t, s, "github", id).Active {
		t.Error("a user that exists is reported inactive")
	}
}

func TestDialectPatchForms(t *testing.T) {
	s, c := start(t, "")
	id := c.must(http.StatusCreated, http.MethodPost, "Users", userBody("ann@example.com", "hr-1", "Ann", "Lee"))["id"].(string)
	withPath := patchBody(map[string]any{"op": "replace", "path": "active", "value": false})
	valueMap := patchBody(map[string]any{"op": "replace", "value": map[string]any{"active": false}})

	c.dialect(map[string]any{"patch": "value"})
	if r := c.do(http.MethodPatch, "Users/"+id, withPath); r.status != http.StatusBadRequest || r.body["scimType"] != "invalidPath" {
		t.Errorf("value-only app took a path: %d %v", r.status, r.body)
	}
	c.must(http.StatusOK, http.MethodPatch, "Users/"+id, valueMap)
	if find(t, s, "github", id).Active {
		t.Error("the value map did not disable the user")
	}

	c.dialect(map[string]any{"patch": "path"})
	if r := c.do(http.MethodPatch, "Users/"+id, valueMap); r.status != http.StatusBadRequest {
		t.Errorf("path-only app took a value map: %d %v", r.status, r.body)
	}
	c.must(http.StatusOK, http.MethodPatch, "Users/"+id, patchBody(map[string]any{"op": "replace", "path": "active", "value": true}))
	if !find(t, s, "github", id).Active {
		t.Error("the path form did not enable the user")
	}
}

func TestDialectETags(t *testing.T) {
	_, c := start(t, "")
	id := c.must(http.StatusCreated, http.MethodPost, "Users", userBody("ann@example.com", "hr-1", "Ann", "Lee"))["id"].(string)
	c.dialect(map[string]any{"requireETags": true})
	op := patchBody(map[string]any{"op": "replace", "path": "active", "value": false})
	if r := c.do(http.MethodPatch, "Users/"+id, op); r.status != http.StatusPreconditionRequired {
		t.Fatalf("no If-Match: %d, want 428", r.status)
	}
	version := c.do(http.MethodGet, "Users/"+id, nil).header.Get("Etag")
	patch := func(ifMatch string, body any) int {
		req, _ := http.NewRequest(http.MethodPatch, c.base+"/sandbox/github/scim/v2/Users/"+id, strings.NewReader(jsonString(t, body)))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/scim+json")
		req.Header.Set("If-Match", ifMatch)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := patch(version, op); got != http.StatusOK {
		t.Fatalf("current If-Match: %d", got)
	}
	if got := patch(version, patchBody(map[string]any{"op": "replace", "path": "active", "value": true})); got != http.StatusPreconditionFailed {
		t.Fatalf("stale If-Match: %d, want 412", got)
	}
}

func TestDialectPageSize(t *testing.T) {
	s, c := start(t, "")
	for i := range 10 {
		c.must(http.StatusCreated, http.MethodPost, "Users", userBody(fmt.Sprintf("u%d@example.com", i), "", "U", "V"))
	}
	if err := s.SetDialect("github", sandbox.Dialect{PageSize: 4}); err != nil {
		t.Fatal(err)
	}
	list := c.must(http.StatusOK, http.MethodGet, "Users?startIndex=9&count=1", nil)
	if rs := resources(t, list); len(rs) != 2 || list["totalResults"] != float64(10) {
		t.Errorf("page from 9 of 10 with page size 4: %d resources, %v", len(rs), list["totalResults"])
	}
	if rs := resources(t, c.must(http.StatusOK, http.MethodGet, "Users?count=1", nil)); len(rs) != 4 {
		t.Errorf("count 1 with page size 4: %d resources", len(rs))
	}
}

func jsonString(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Under patchNoContent a PATCH that succeeds answers 204 with no body, and
// the change is made; a failing one still answers with its error.
func TestDialectPatchNoContent(t *testing.T) {
	_, c := start(t, "")
	c.dialect(map[string]any{"patchNoContent": true})
	ann := c.must(http.StatusCreated, http.MethodPost, "Users", userBody("ann@example.com", "hr-1", "Ann", "Lee"))["id"].(string)
	staff := newGroup(c, "staff")
	if r := addMember(c, staff, ann); r.status != http.StatusNoContent || r.body != nil {
		t.Fatalf("add a member: %d %v, want 204 and no body", r.status, r.body)
	}
	if r := c.do(http.MethodPatch, "Users/"+ann, patchBody(map[string]any{"op": "replace", "path": "active", "value": false})); r.status != http.StatusNoContent {
		t.Fatalf("disable: %d %v, want 204", r.status, r.body)
	}
	if got := c.must(http.StatusOK, http.MethodGet, "Groups/"+staff, nil)["members"].([]any); len(got) != 1 {
		t.Errorf("members after the add = %v, want ann", got)
	}
	if got := c.must(http.StatusOK, http.MethodGet, "Users/"+ann, nil); got["active"] != false {
		t.Errorf("ann after the disable = %v, want inactive", got)
	}
	if r := addMember(c, staff, "no-such-user"); r.status != http.StatusBadRequest {
		t.Errorf("adding nobody: %d, want 400", r.status)
	}
}
