package sandbox_test

import (
	"net/http"
	"reflect"
	"testing"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/internal/sandbox"
)

// TestSeed adds users in bulk and reads them back as the app serves them: over
// SCIM, with their groups on the User and on the Group, and after a restart.
func TestSeed(t *testing.T) {
	dir := t.TempDir()
	s, c := start(t, dir)
	// A group that exists keeps its members.
	first := c.must(http.StatusCreated, "POST", "Users", userBody("old@example.com", "E0", "Old", "Timer"))
	oldID, _ := first["id"].(string)
	c.must(http.StatusCreated, "POST", "Groups", map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"},
		"displayName": "engineering", "members": []any{map[string]any{"value": oldID}}})

	ids, err := s.Seed("github", []sandbox.User{
		{UserName: "ada@example.com", ExternalID: "E1", GivenName: "Ada", FamilyName: "L", Email: "ada@example.com", Active: true, Groups: []string{"engineering", "oncall"}},
		{UserName: "svc-ci", Active: false, Groups: []string{"engineering"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	users, err := s.Users("github")
	if err != nil {
		t.Fatal(err)
	}
	want := []sandbox.User{
		{ID: oldID, UserName: "old@example.com", ExternalID: "E0", GivenName: "Old", FamilyName: "Timer", Email: "old@example.com", Active: true, Groups: []string{"engineering"}},
		{ID: ids[0], UserName: "ada@example.com", ExternalID: "E1", GivenName: "Ada", FamilyName: "L", Email: "ada@example.com", Active: true, Groups: []string{"engineering", "oncall"}},
		{ID: ids[1], UserName: "svc-ci", Groups: []string{"engineering"}},
	}
	if !reflect.DeepEqual(users, want) {
		t.Errorf("users\n got %+v\nwant %+v", users, want)
	}
	// Over SCIM, as a connector lists them: the groups on the User too.
	got := c.do("GET", "Users/"+ids[0], nil)
	if groups, _ := got.body["groups"].([]any); len(groups) != 2 || got.body["externalId"] != "E1" || got.body["active"] != true {
		t.Errorf("GET the seeded user: %v", got.body)
	}
	list := c.do("GET", "Groups?filter=displayName%20eq%20%22engineering%22", nil)
	if res, _ := list.body["Resources"].([]any); len(res) != 1 || len(res[0].(map[string]any)["members"].([]any)) != 3 {
		t.Errorf("engineering has not the three members: %v", list.body)
	}

	// A taken name or externalId adds nothing.
	for _, u := range []sandbox.User{{UserName: "ADA@example.com"}, {UserName: "new@example.com", ExternalID: "E0"}} {
		if _, err := s.Seed("github", []sandbox.User{{UserName: "fine@example.com"}, u}); tenure.ErrorCode(err) != tenure.ECONFLICT {
			t.Errorf("seeding %+v: %v, want a conflict", u, err)
		}
	}
	if _, err := s.Seed("github", []sandbox.User{{}}); tenure.ErrorCode(err) != tenure.EINVALID {
		t.Errorf("seeding a user without a userName: %v", err)
	}
	if after, _ := s.Users("github"); len(after) != 3 {
		t.Errorf("%d users after the refused seeds, want 3", len(after))
	}

	// What was seeded is saved like anything else.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	again, _ := start(t, dir)
	if users, _ := again.Users("github"); !reflect.DeepEqual(users, want) {
		t.Errorf("after a restart\n got %+v\nwant %+v", users, want)
	}
}
