package store_test

import (
	"context"
	"testing"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/scimserver/directory"
	"github.com/tenure-io/tenure/store"
	"github.com/tenure-io/tenure/store/storetest"
)

func TestSCIMDirectory(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		ada := directory.User{ID: "u1", UserName: "Ada@Example.com", ExternalID: "okta-1", HRID: "E1", Email: "Ada@Example.com",
			Active: true, Hired: true, Version: 1, Attributes: map[string]any{"userName": "Ada@Example.com", "title": "Engineer"},
			Groups: []directory.GroupRef{{ID: "g1", Name: "Engineering"}}}
		eng := directory.Group{ID: "g1", DisplayName: "Engineering", Members: []string{"u1"}, Version: 1}
		if err := db.WriteSCIM(ctx, directory.Write{Users: []directory.UserWrite{{User: ada}}, Groups: []directory.GroupWrite{{Group: eng}}}); err != nil {
			t.Fatal(err)
		}
		got, err := db.GetSCIMUser(ctx, "u1")
		if err != nil || got.HRID != "E1" || got.Attributes["title"] != "Engineer" || len(got.Groups) != 1 || !got.Hired {
			t.Fatalf("GetSCIMUser = %+v, %v", got, err)
		}
		for _, q := range []directory.UserQuery{{UserName: "ada@example.COM"}, {ExternalID: "okta-1"}, {Email: "ADA@example.com"}, {HRID: "E1"}} {
			if list, n, err := db.ListSCIMUsers(ctx, q); err != nil || n != 1 || len(list) != 1 {
				t.Errorf("ListSCIMUsers(%+v) = %d, %v", q, n, err)
			}
		}
		if _, n, _ := db.ListSCIMUsers(ctx, directory.UserQuery{ExternalID: "OKTA-1"}); n != 0 {
			t.Errorf("externalId matched ignoring case")
		}

		// A second user may not take the userName or the HR ID, whatever the case.
		for _, u := range []directory.User{
			{ID: "u2", UserName: "ADA@example.com", HRID: "E2", Version: 1},
			{ID: "u2", UserName: "grace", HRID: "E1", Version: 1},
		} {
			if err := db.WriteSCIM(ctx, directory.Write{Users: []directory.UserWrite{{User: u}}}); tenure.ErrorCode(err) != tenure.ECONFLICT {
				t.Errorf("a taken name or HR ID: %v", err)
			}
		}
		// An update from a stale version is refused, and writes nothing with it.
		ada.Version, ada.Active = 2, false
		eng2 := eng
		eng2.Version, eng2.DisplayName = 2, "Platform"
		err = db.WriteSCIM(ctx, directory.Write{
			Users:  []directory.UserWrite{{User: ada, Prev: 1}},
			Groups: []directory.GroupWrite{{Group: eng2, Prev: 7}},
		})
		if tenure.ErrorCode(err) != tenure.ECONFLICT {
			t.Errorf("a stale group version: %v", err)
		}
		if got, _ := db.GetSCIMUser(ctx, "u1"); got.Version != 1 || !got.Active {
			t.Errorf("after a refused write, the user is %+v", got)
		}
		if err := db.WriteSCIM(ctx, directory.Write{Users: []directory.UserWrite{{User: ada, Prev: 1}}, Groups: []directory.GroupWrite{{Group: eng2, Prev: 1}}}); err != nil {
			t.Fatal(err)
		}
		if got, _ := db.GetSCIMUser(ctx, "u1"); got.Version != 2 || got.Active {
			t.Errorf("after the update, the user is %+v", got)
		}
		if list, n, err := db.ListSCIMGroups(ctx, directory.GroupQuery{DisplayName: "PLATFORM"}); err != nil || n != 1 || list[0].Members[0] != "u1" {
			t.Errorf("ListSCIMGroups = %+v, %d, %v", list, n, err)
		}
		if err := db.WriteSCIM(ctx, directory.Write{Users: []directory.UserWrite{{User: ada, Prev: 2, Delete: true}}}); err != nil {
			t.Fatal(err)
		}
		if _, err := db.GetSCIMUser(ctx, "u1"); tenure.ErrorCode(err) != tenure.ENOTFOUND {
			t.Errorf("after the delete: %v", err)
		}
	})
}
