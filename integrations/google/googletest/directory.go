package googletest

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// directory serves /admin/directory/v1/...: users, users/{key}, users/{key}/signOut,
// groups, groups/{key}/members and groups/{key}/members/{memberKey}. Callers hold s.mu.
func (s *Server) directory(w http.ResponseWriter, r *http.Request, g grant, seg []string) {
	users := func() bool { return allowed(w, g, ScopeUser) }
	usersRead := func() bool { return allowed(w, g, ScopeUser, ScopeUserRead) }
	switch {
	case len(seg) == 1 && seg[0] == "users" && r.Method == http.MethodGet:
		if usersRead() {
			s.listUsers(w, r.URL.Query())
		}
	case len(seg) == 1 && seg[0] == "users" && r.Method == http.MethodPost:
		if users() {
			s.insertUser(w, r)
		}
	case len(seg) == 2 && seg[0] == "users":
		if _, dom, ok := strings.Cut(seg[1], "@"); ok && !strings.EqualFold(dom, Domain) {
			// Google answers for an address in a domain the customer does not own
			// with 403, not 404.
			writeError(w, http.StatusForbidden, "forbidden", "global", "Not Authorized to access this resource/api")
			return
		}
		u := s.user(seg[1])
		switch r.Method {
		case http.MethodGet:
			if !usersRead() {
				return
			}
		case http.MethodPatch, http.MethodPut, http.MethodDelete:
			if !users() {
				return
			}
		default:
			writeError(w, http.StatusMethodNotAllowed, "methodNotAllowed", "global", "Method Not Allowed")
			return
		}
		if u == nil {
			notFound(w, "userKey")
			return
		}
		switch r.Method {
		case http.MethodGet:
			writeJSON(w, http.StatusOK, s.userJSON(u))
		case http.MethodDelete:
			s.deleteUser(u)
			w.WriteHeader(http.StatusNoContent)
		default:
			s.patchUser(w, r, u)
		}
	case len(seg) == 3 && seg[0] == "users" && seg[2] == "signOut" && r.Method == http.MethodPost:
		if !allowed(w, g, ScopeUser, "https://www.googleapis.com/auth/admin.directory.user.security") {
			return
		}
		u := s.user(seg[1])
		if u == nil {
			notFound(w, "userKey")
			return
		}
		u.SignOuts++
		w.WriteHeader(http.StatusNoContent)
	case len(seg) == 1 && seg[0] == "groups" && r.Method == http.MethodGet:
		if allowed(w, g, ScopeGroup, ScopeGroupRead) {
			s.listGroups(w, r.URL.Query())
		}
	case len(seg) == 3 && seg[0] == "groups" && seg[2] == "members" && r.Method == http.MethodPost:
		if allowed(w, g, ScopeGroup, ScopeGroupMember) {
			s.insertMember(w, r, seg[1])
		}
	case len(seg) == 4 && seg[0] == "groups" && seg[2] == "members" && r.Method == http.MethodDelete:
		if allowed(w, g, ScopeGroup, ScopeGroupMember) {
			s.deleteMember(w, seg[1], seg[3])
		}
	default:
		writeError(w, http.StatusNotFound, "notFound", "global", "Not Found")
	}
}

// listUsers is users.list: by customer or domain, an optional query
// (externalId= or email=), orderBy email, and pages.
func (s *Server) listUsers(w http.ResponseWriter, q url.Values) {
	if !s.inCustomer(w, q) {
		return
	}
	match := func(*user) bool { return true }
	if query := strings.TrimSpace(q.Get("query")); query != "" {
		field, value, ok := parseQuery(query)
		if !ok || (field != "externalid" && field != "email") {
			badRequest(w, "invalid", "Invalid Input: "+query)
			return
		}
		match = func(u *user) bool {
			if field == "email" {
				return u.PrimaryEmail == strings.ToLower(value) || slices.Contains(u.Aliases, strings.ToLower(value))
			}
			return u.ExternalID == value
		}
	}
	var found []*user
	for _, u := range s.users {
		if match(u) {
			found = append(found, u)
		}
	}
	if ob := q.Get("orderBy"); ob == "email" {
		slices.SortFunc(found, func(a, b *user) int { return strings.Compare(a.PrimaryEmail, b.PrimaryEmail) })
	} else if ob != "" && ob != "familyName" && ob != "givenName" {
		badRequest(w, "invalid", "Invalid value for orderBy")
		return
	}
	if q.Get("sortOrder") == "DESCENDING" {
		slices.Reverse(found)
	}
	pg, next, ok := page(w, q, found, 100, 500)
	if !ok {
		return
	}
	out := map[string]any{"kind": "admin#directory#users", "etag": etag("users")}
	list := make([]any, 0, len(pg))
	for _, u := range pg {
		list = append(list, s.userJSON(u))
	}
	if len(list) > 0 {
		out["users"] = list
	}
	if next != "" {
		out["nextPageToken"] = next
	}
	writeJSON(w, http.StatusOK, out)
}

// inCustomer checks the customer or domain parameter a list method requires.
func (s *Server) inCustomer(w http.ResponseWriter, q url.Values) bool {
	c, d := q.Get("customer"), q.Get("domain")
	switch {
	case c == "" && d == "":
		badRequest(w, "badRequest", "Bad Request")
		return false
	case c != "" && c != "my_customer" && c != CustomerID, d != "" && !strings.EqualFold(d, Domain):
		writeError(w, http.StatusForbidden, "forbidden", "global", "Not Authorized to access this resource/api")
		return false
	}
	return true
}

// parseQuery reads one `field=value` or `field='quoted value'` term of the
// Directory API's user search syntax.
func parseQuery(q string) (field, value string, ok bool) {
	f, v, ok := strings.Cut(q, "=")
	if !ok {
		return "", "", false
	}
	field = strings.ToLower(strings.TrimSpace(f))
	v = strings.TrimSpace(v)
	if strings.HasPrefix(v, "'") {
		if len(v) < 2 || !strings.HasSuffix(v, "'") {
			return "", "", false
		}
		var b strings.Builder
		inner := v[1 : len(v)-1]
		for i := 0; i < len(inner); i++ {
			switch {
			case inner[i] == '\\' && i+1 < len(inner):
				i++
				b.WriteByte(inner[i])
			case inner[i] == '\'':
				return "", "", false
			default:
				b.WriteByte(inner[i])
			}
		}
		return field, b.String(), true
	}
	if strings.ContainsAny(v, " '") {
		return "", "", false
	}
	return field, v, true
}

// userBody is what users.insert, users.update and users.patch read.
type userBody struct {
	PrimaryEmail *string `json:"primaryEmail"`
	Name         *struct {
		GivenName  string `json:"givenName"`
		FamilyName string `json:"familyName"`
	} `json:"name"`
	Password                  *string `json:"password"`
	ChangePasswordAtNextLogin *bool   `json:"changePasswordAtNextLogin"`
	Suspended                 *bool   `json:"suspended"`
	Archived                  *bool   `json:"archived"`
	ExternalIDs               *[]struct {
		Type  string `json:"type"`
		Value string `json:"value"`
	} `json:"externalIds"`
	Organizations *[]struct {
		Title      string `json:"title"`
		Department string `json:"department"`
		Primary    bool   `json:"primary"`
	} `json:"organizations"`
}

func decodeUser(w http.ResponseWriter, r *http.Request) (userBody, bool) {
	var b userBody
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&b); err != nil {
		badRequest(w, "parseError", "Parse Error")
		return b, false
	}
	return b, true
}

// insertUser is users.insert, with the validation Google applies to a new user.
func (s *Server) insertUser(w http.ResponseWriter, r *http.Request) {
	b, ok := decodeUser(w, r)
	if !ok {
		return
	}
	switch {
	case b.PrimaryEmail == nil || !strings.Contains(*b.PrimaryEmail, "@"):
		badRequest(w, "invalid", "Invalid Input: primary_user_email")
		return
	case !strings.EqualFold(strings.SplitN(*b.PrimaryEmail, "@", 2)[1], Domain):
		badRequest(w, "notFound", "Domain not found.")
		return
	case b.Name == nil || strings.TrimSpace(b.Name.GivenName) == "":
		badRequest(w, "invalid", "Invalid Given/Family Name: GivenName")
		return
	case strings.TrimSpace(b.Name.FamilyName) == "":
		badRequest(w, "invalid", "Invalid Given/Family Name: FamilyName")
		return
	case b.Password == nil || len(*b.Password) < 8 || len(*b.Password) > 100:
		badRequest(w, "invalid", "Invalid Password")
		return
	}
	email := strings.ToLower(*b.PrimaryEmail)
	if s.user(email) != nil || s.group(email) != nil {
		writeError(w, http.StatusConflict, "duplicate", "global", "Entity already exists.")
		return
	}
	u := &user{created: time.Now()}
	u.ID = s.newID()
	u.PrimaryEmail = email
	u.HasPassword = true
	s.apply(u, b)
	s.users = append(s.users, u)
	writeJSON(w, http.StatusOK, s.userJSON(u))
}

// patchUser is users.patch and users.update: only the fields sent change.
func (s *Server) patchUser(w http.ResponseWriter, r *http.Request, u *user) {
	b, ok := decodeUser(w, r)
	if !ok {
		return
	}
	if b.PrimaryEmail != nil && !strings.EqualFold(*b.PrimaryEmail, u.PrimaryEmail) {
		email := strings.ToLower(*b.PrimaryEmail)
		if s.user(email) != nil || s.group(email) != nil {
			writeError(w, http.StatusConflict, "duplicate", "global", "Entity already exists.")
			return
		}
		// Renaming keeps the old address as an alias, as Google does.
		u.Aliases = append(u.Aliases, u.PrimaryEmail)
		u.PrimaryEmail = email
	}
	if b.Password != nil {
		if len(*b.Password) < 8 {
			badRequest(w, "invalid", "Invalid Password")
			return
		}
		u.HasPassword = true
	}
	s.apply(u, b)
	writeJSON(w, http.StatusOK, s.userJSON(u))
}

func (s *Server) apply(u *user, b userBody) {
	if b.Name != nil {
		u.GivenName, u.FamilyName = b.Name.GivenName, b.Name.FamilyName
	}
	if b.ChangePasswordAtNextLogin != nil {
		u.ChangePasswordAtNextLogin = *b.ChangePasswordAtNextLogin
	}
	if b.Suspended != nil {
		u.Suspended = *b.Suspended
	}
	if b.Archived != nil {
		u.Archived = *b.Archived
	}
	if b.ExternalIDs != nil {
		u.ExternalID = ""
		for _, e := range *b.ExternalIDs {
			if e.Type == "organization" {
				u.ExternalID = e.Value
			}
		}
	}
	if b.Organizations != nil {
		u.Title, u.Department = "", ""
		for _, o := range *b.Organizations {
			if o.Primary || u.Title == "" && u.Department == "" {
				u.Title, u.Department = o.Title, o.Department
			}
		}
	}
}

// deleteUser removes the user, its memberships and its files, as deleting a
// Workspace user does once any transfer is done.
func (s *Server) deleteUser(u *user) {
	s.users = slices.DeleteFunc(s.users, func(x *user) bool { return x == u })
	for _, g := range u.groups {
		g.members = slices.DeleteFunc(g.members, func(x *user) bool { return x == u })
	}
	delete(s.files, u.ID)
}

func (s *Server) userJSON(u *user) map[string]any {
	out := map[string]any{
		"kind":                       "admin#directory#user",
		"id":                         u.ID,
		"etag":                       etag(u.ID),
		"primaryEmail":               u.PrimaryEmail,
		"name":                       map[string]string{"givenName": u.GivenName, "familyName": u.FamilyName, "fullName": strings.TrimSpace(u.GivenName + " " + u.FamilyName)},
		"isAdmin":                    u.IsAdmin,
		"isDelegatedAdmin":           false,
		"lastLoginTime":              "1970-01-01T00:00:00.000Z",
		"creationTime":               u.created.UTC().Format("2006-01-02T15:04:05.000Z"),
		"agreedToTerms":              false,
		"suspended":                  u.Suspended,
		"archived":                   u.Archived,
		"changePasswordAtNextLogin":  u.ChangePasswordAtNextLogin,
		"ipWhitelisted":              false,
		"emails":                     []map[string]any{{"address": u.PrimaryEmail, "primary": true}},
		"customerId":                 CustomerID,
		"orgUnitPath":                "/",
		"isMailboxSetup":             true,
		"isEnrolledIn2Sv":            false,
		"isEnforcedIn2Sv":            false,
		"includeInGlobalAddressList": true,
	}
	if u.Suspended {
		out["suspensionReason"] = "ADMIN"
	}
	if len(u.Aliases) > 0 {
		out["aliases"] = u.Aliases
	}
	if u.ExternalID != "" {
		out["externalIds"] = []map[string]string{{"type": "organization", "value": u.ExternalID}}
	}
	if u.Title != "" || u.Department != "" {
		out["organizations"] = []map[string]any{{"title": u.Title, "department": u.Department, "primary": true, "customType": ""}}
	}
	return out
}

// listGroups is groups.list: a user's direct groups (userKey) or the customer's.
func (s *Server) listGroups(w http.ResponseWriter, q url.Values) {
	var found []*group
	if key := q.Get("userKey"); key != "" {
		u := s.user(key)
		if u == nil {
			notFound(w, "userKey")
			return
		}
		for _, g := range s.groups {
			if slices.Contains(g.members, u) {
				found = append(found, g)
			}
		}
	} else {
		if !s.inCustomer(w, q) {
			return
		}
		found = s.groups
	}
	pg, next, ok := page(w, q, found, 200, 200)
	if !ok {
		return
	}
	list := make([]any, 0, len(pg))
	for _, g := range pg {
		list = append(list, map[string]any{"kind": "admin#directory#group", "id": g.id, "etag": etag(g.id),
			"email": g.email, "name": g.name, "description": "", "directMembersCount": strconv.Itoa(len(g.members)), "adminCreated": true})
	}
	out := map[string]any{"kind": "admin#directory#groups", "etag": etag("groups")}
	if len(list) > 0 {
		out["groups"] = list
	}
	if next != "" {
		out["nextPageToken"] = next
	}
	writeJSON(w, http.StatusOK, out)
}

// insertMember is members.insert; the member is named by email (required) or id.
func (s *Server) insertMember(w http.ResponseWriter, r *http.Request, groupKey string) {
	var b struct {
		Email string `json:"email"`
		ID    string `json:"id"`
		Role  string `json:"role"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&b); err != nil {
		badRequest(w, "parseError", "Parse Error")
		return
	}
	g := s.group(groupKey)
	if g == nil {
		notFound(w, "groupKey")
		return
	}
	if b.Email == "" && b.ID == "" {
		badRequest(w, "required", "Missing required field: memberKey")
		return
	}
	key := b.Email
	if key == "" {
		key = b.ID
	}
	u := s.user(key)
	if u == nil {
		notFound(w, "memberKey")
		return
	}
	if slices.Contains(g.members, u) {
		writeError(w, http.StatusConflict, "duplicate", "global", "Member already exists.")
		return
	}
	role := b.Role
	if role == "" {
		role = "MEMBER"
	}
	g.members = append(g.members, u)
	u.groups = append(u.groups, g)
	writeJSON(w, http.StatusOK, map[string]any{"kind": "admin#directory#member", "etag": etag(g.id + u.ID),
		"id": u.ID, "email": u.PrimaryEmail, "role": role, "type": "USER", "status": "ACTIVE"})
}

// deleteMember is members.delete; the member is named by ID or email.
func (s *Server) deleteMember(w http.ResponseWriter, groupKey, memberKey string) {
	g := s.group(groupKey)
	if g == nil {
		notFound(w, "groupKey")
		return
	}
	u := s.user(memberKey)
	if u == nil || !slices.Contains(g.members, u) {
		notFound(w, "memberKey")
		return
	}
	g.members = slices.DeleteFunc(g.members, func(x *user) bool { return x == u })
	u.groups = slices.DeleteFunc(u.groups, func(x *group) bool { return x == g })
	w.WriteHeader(http.StatusNoContent)
}

func etag(s string) string { return `"` + s + `/fake"` }
