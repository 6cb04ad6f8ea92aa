package sandbox

import (
	"strconv"
	"strings"
	"time"

	"github.com/tenure-io/tenure"
)

// Seed adds users to an app in one go and puts each in the groups its Groups
// name, creating any group the app lacks, as a bench or a test sets up an app
// of 100,000 accounts: no SCIM round trip per user, and each group's member
// list written once rather than once per member. Each user's ID is set by the
// app; Seed returns them in order. A userName or externalId the app already
// has, or a user without a userName, is an error, and then nothing is added.
func (s *Sandbox) Seed(app string, users []User) ([]string, error) {
	a, err := s.app(app)
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	names, exts := map[string]bool{}, map[string]bool{}
	for i, u := range users {
		key := strings.ToLower(u.UserName)
		switch {
		case key == "":
			return nil, tenure.Invalid(tenure.FieldError{Field: "users", Problem: "user " + strconv.Itoa(i) + " has no userName"})
		case names[key] || a.users.byKey[key] != "":
			return nil, tenure.Errorf(tenure.ECONFLICT, "sandbox %s: userName %s is taken", app, quote(u.UserName))
		case u.ExternalID != "" && (exts[u.ExternalID] || a.users.byExt[u.ExternalID] != ""):
			return nil, tenure.Errorf(tenure.ECONFLICT, "sandbox %s: externalId %s is taken", app, quote(u.ExternalID))
		}
		names[key], exts[u.ExternalID] = true, u.ExternalID != ""
	}
	now := time.Now().UTC()
	ids := make([]string, len(users))
	members := map[string][]any{}
	var order []string // group names, first seen first
	for i, u := range users {
		attrs := map[string]any{
			userKey: u.UserName,
			"name":  map[string]any{"givenName": u.GivenName, "familyName": u.FamilyName},
		}
		if u.Email != "" {
			attrs["emails"] = []any{map[string]any{"value": u.Email, "primary": true}}
		}
		if !a.getDialect().NoActive {
			attrs["active"] = u.Active
		}
		// A nanosecond apart, so that a restart, which orders by creation,
		// keeps the order they were given in.
		at := now.Add(time.Duration(i))
		rec := &record{ID: newID(), ExternalID: u.ExternalID, Attrs: attrs, Created: at, Modified: at, Version: 1}
		a.users.put(rec, userKey)
		ids[i] = rec.ID
		for _, g := range u.Groups {
			if _, ok := members[g]; !ok {
				order = append(order, g)
			}
			members[g] = append(members[g], map[string]any{"value": rec.ID})
		}
	}
	for i, name := range order {
		at := now.Add(time.Duration(i))
		rec := &record{ID: newID(), Attrs: map[string]any{groupKey: name}, Created: at, Modified: at, Version: 1}
		var list []any
		if id, ok := a.groups.byKey[strings.ToLower(name)]; ok {
			old := a.groups.byID[id]
			rec.ID, rec.Created, rec.Version = old.ID, old.Created, old.Version+1
			for k, v := range old.Attrs {
				rec.Attrs[k] = v
			}
			list = append(list, asList(old.Attrs["members"])...)
		}
		list = append(list, members[name]...)
		rec.Attrs["members"] = list
		a.groups.put(rec, groupKey)
		for _, m := range members[name] {
			a.link(str(asMap(m), "value"), rec.ID)
		}
	}
	a.changed()
	return ids, nil
}
