package sandbox_test

import (
	"net/http"
	"reflect"
	"testing"
)

// TestUserByExternalID reads one user through the externalId index: the same
// User that Users lists, groups and a disable included, and nothing for an
// externalId no user has or an app that does not exist.
func TestUserByExternalID(t *testing.T) {
	s, c := start(t, t.TempDir())
	c.must(http.StatusCreated, http.MethodPost, "Users", userBody("bob@example.com", "hr-2", "Bob", "Ray"))
	id := c.must(http.StatusCreated, http.MethodPost, "Users", userBody("ann@example.com", "hr-1", "Ann", "Lee"))["id"].(string)
	c.must(http.StatusCreated, http.MethodPost, "Groups", map[string]any{
		"schemas":     []string{"urn:ietf:params:scim:schemas:core:2.0:Group"},
		"displayName": "staff",
		"members":     []any{map[string]any{"value": id}},
	})
	c.must(http.StatusOK, http.MethodPatch, "Users/"+id, patchBody(map[string]any{"op": "replace", "path": "active", "value": false}))

	got, ok, err := s.User("github", "hr-1")
	if err != nil || !ok {
		t.Fatalf("User(github, hr-1) = %+v, %v, %v; want the user", got, ok, err)
	}
	users, err := s.Users("github")
	if err != nil {
		t.Fatal(err)
	}
	if len(users) != 2 || !reflect.DeepEqual(got, users[1]) {
		t.Errorf("User(github, hr-1) = %+v, want what Users lists: %+v", got, users)
	}
	if got.Active || !reflect.DeepEqual(got.Groups, []string{"staff"}) {
		t.Errorf("User(github, hr-1) = %+v, want disabled and in staff", got)
	}
	if u, ok, err := s.User("github", "hr-9"); ok || err != nil {
		t.Errorf("User(github, hr-9) = %+v, %v, %v; want none", u, ok, err)
	}
	if u, ok, err := s.User("slack", "hr-1"); ok || err != nil {
		t.Errorf("User(slack, hr-1) = %+v, %v, %v; want none: the user is in github only", u, ok, err)
	}
	if _, _, err := s.User("nowhere", "hr-1"); err == nil {
		t.Error("User(nowhere, hr-1): no error for an app that does not exist")
	}
}
