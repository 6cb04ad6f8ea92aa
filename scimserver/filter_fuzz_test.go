package scimserver

import (
	"strings"
	"testing"
	"time"

	"github.com/tenure-io/tenure/scimserver/directory"
)

// fuzzUsers are the users every filter is tried against: names that differ only
// in case, a shared externalId, secondary emails and an extension attribute.
var fuzzUsers = []directory.User{
	fuzzUser("1", "ada@example.com", "ext-1", true, "Engineering", "ada@example.com", "ada.l@home.example"),
	fuzzUser("2", "ADA@example.org", "ext-1", false, "Sales", "ADA@example.org"),
	fuzzUser("3", "grace", "", true, "", "grace@example.com"),
	fuzzUser("4", "ſam", "Ext-4", true, "engineering"),
}

func fuzzUser(id, userName, externalID string, active bool, dept string, emails ...string) directory.User {
	attrs := map[string]any{"userName": userName, "active": active, "name": map[string]any{"givenName": "G" + id, "familyName": "F" + id}}
	var list []any
	for i, e := range emails {
		list = append(list, map[string]any{"value": e, "type": "work", "primary": i == 0})
	}
	if list != nil {
		attrs["emails"] = list
	}
	if dept != "" {
		attrs[enterpriseSchema.ID] = map[string]any{"department": dept, "employeeNumber": "E" + id}
	}
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	return directory.User{ID: id, UserName: userName, ExternalID: externalID, HRID: "E" + id, Active: active,
		Attributes: attrs, Version: 1, CreatedAt: at, UpdatedAt: at,
		Groups: []directory.GroupRef{{ID: "g" + id, Name: "Group " + id}}}
}

// selectUsers is what the store returns for q over users, by the store's rules:
// userName ignoring case (folded with strings.ToLower), externalId exactly.
func selectUsers(users []directory.User, q directory.UserQuery) []directory.User {
	var out []directory.User
	for _, u := range users {
		//lint:ignore SA6005 the store folds with lower(), which strings.EqualFold does not match for every rune
		if q.UserName != "" && strings.ToLower(u.UserName) != strings.ToLower(q.UserName) {
			continue
		}
		if q.ExternalID != "" && u.ExternalID != q.ExternalID {
			continue
		}
		out = append(out, u)
	}
	return out
}

// FuzzFilter drives a Users filter through the path GET /Users takes: the
// library's parse and check, Tenure's narrowing of the rows to read, and the
// judgement of each row. It must never panic, and narrowing must never drop a
// user that the whole filter matches.
func FuzzFilter(f *testing.F) {
	for _, s := range []string{
		`userName eq "ada@example.com"`,
		`externalId eq "ext-1"`,
		`emails.value eq "ada.l@home.example"`,
		`emails[type eq "work" and value co "example"]`,
		`userName eq "SAM" and active eq true`,
		`not (userName eq "grace") or title pr`,
		`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "engineering"`,
		`meta.lastModified gt "2025-01-01T00:00:00Z"`,
		`groups.display eq "Group 1"`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := parseUserFilter(raw)
		if err != nil {
			return
		}
		want := map[string]bool{}
		for _, u := range fuzzUsers {
			if matches(v, userFilterSchema, userExts, userView(u, "active")) {
				want[u.ID] = true
			}
		}
		got := map[string]bool{}
		for _, u := range selectUsers(fuzzUsers, planUsers(v.GetFilter())) {
			if matches(v, userFilterSchema, userExts, userView(u, "active")) {
				got[u.ID] = true
			}
		}
		if len(got) != len(want) {
			t.Fatalf("filter %q: narrowed rows match %v, all rows match %v", raw, got, want)
		}
	})
}

func TestFilterMatches(t *testing.T) {
	for _, tc := range []struct {
		filter string
		want   string // ids, in order
	}{
		{`userName eq "ada@example.com"`, "1"},
		{`userName eq "ADA@EXAMPLE.ORG"`, "2"},
		{`externalId eq "ext-1"`, "12"},
		{`externalId eq "EXT-1"`, ""},
		{`emails.value eq "ada.l@home.example"`, "1"},
		{`emails[type eq "work" and value co "example.com"]`, "13"},
		{`userName eq "SAM" and active eq true`, ""},
		{`userName sw "ada" and active eq false`, "2"},
		{`not (userName eq "grace")`, "124"},
		{`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "engineering"`, "14"},
		{`groups.display eq "Group 3"`, "3"},
		{`urn:tenure:params:scim:schemas:extension:tenure:2.0:User:hrId eq "E4"`, "4"},
	} {
		v, err := parseUserFilter(tc.filter)
		if err != nil {
			t.Errorf("%s: %v", tc.filter, err)
			continue
		}
		got := ""
		for _, u := range selectUsers(fuzzUsers, planUsers(v.GetFilter())) {
			if matches(v, userFilterSchema, userExts, userView(u, "active")) {
				got += u.ID
			}
		}
		if got != tc.want {
			t.Errorf("%s matched %q, want %q", tc.filter, got, tc.want)
		}
	}
}
