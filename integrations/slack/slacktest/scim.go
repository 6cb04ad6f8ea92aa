package slacktest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The fake's SCIM API follows Slack's SCIM 2.0 dialect as Slack documents it:
// users and IdP groups under /scim/v2, the org admin's user token as a bearer
// token, DELETE /Users/{id} deactivates (the user stays, active false) and a
// PATCH or PUT with active true reactivates, group membership changes through
// PATCH /Groups/{id}, filters `userName eq "..."` and `email eq "..."` on users
// and `displayName eq "..."` on groups, Slack's own error body
// {"Errors": {"description": ..., "code": ...}}, and 429 with Retry-After.

// SCIM schema URNs the fake speaks.
const (
	scimUserSchema  = "urn:ietf:params:scim:schemas:core:2.0:User"
	scimGroupSchema = "urn:ietf:params:scim:schemas:core:2.0:Group"
	scimListSchema  = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
	scimPatchSchema = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
	scimEnterprise  = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
)

// scimMaxCount is the largest page Slack's SCIM API returns.
const scimMaxCount = 1000

// SCIMUser is a user as the fake's SCIM API holds it.
type SCIMUser struct {
	ID         string
	UserName   string // Slack's username, derived from what was sent
	ExternalID string
	Email      string
	GivenName  string
	FamilyName string
	Title      string
	Active     bool

	seeded bool // one of Config.Users
}

type scimGroup struct {
	id, name string
	members  []string // user IDs, in the order added
}

type rateLimit struct {
	n          int
	retryAfter time.Duration
}

// SCIMURL is the SCIM API's base URL, ending in /scim/v2, as Slack's is.
func (s *Server) SCIMURL() string { return s.srv.URL + "/scim/v2" }

// SCIMUser returns the user with SCIM id id.
func (s *Server) SCIMUser(id string) (SCIMUser, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, u := range s.scimUsers {
		if u.ID == id {
			return *u, true
		}
	}
	return SCIMUser{}, false
}

// SCIMUserByEmail returns the user with the email address email.
func (s *Server) SCIMUserByEmail(email string) (SCIMUser, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u := s.scimByEmail(email); u != nil {
		return *u, true
	}
	return SCIMUser{}, false
}

// AddSCIMGroup creates the IdP group name, as an admin would in Slack, and
// returns its ID.
func (s *Server) AddSCIMGroup(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := &scimGroup{id: s.nextID("S"), name: name}
	s.scimGroups = append(s.scimGroups, g)
	return g.id
}

// GroupMembers returns the user IDs in the IdP group name, sorted, and false
// when there is no such group.
func (s *Server) GroupMembers(name string) ([]string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.groupByName(name)
	if g == nil {
		return nil, false
	}
	out := slices.Clone(g.members)
	slices.Sort(out)
	return out, true
}

// SessionResets counts the admin.users.session.reset calls that signed userID
// out.
func (s *Server) SessionResets(userID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.resets[userID]
}

// RateLimitSCIM makes the next n SCIM requests fail with 429 and Retry-After.
func (s *Server) RateLimitSCIM(n int, retryAfter time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.scimLimit = rateLimit{n: n, retryAfter: retryAfter}
}

// RateLimitMethod makes the next n calls of the Web API method fail as Slack
// rate limits them: HTTP 429 with Retry-After and {"ok": false, "error":
// "ratelimited"}.
func (s *Server) RateLimitMethod(method string, n int, retryAfter time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.methodLimits[method] = &rateLimit{n: n, retryAfter: retryAfter}
}

// SCIMRequests counts the SCIM requests the fake answered, rate-limited ones
// included.
func (s *Server) SCIMRequests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.scimRequests
}

func (s *Server) scimByEmail(email string) *SCIMUser {
	for _, u := range s.scimUsers {
		if email != "" && strings.EqualFold(u.Email, email) {
			return u
		}
	}
	return nil
}

func (s *Server) scimByID(id string) *SCIMUser {
	for _, u := range s.scimUsers {
		if u.ID == id {
			return u
		}
	}
	return nil
}

func (s *Server) groupByName(name string) *scimGroup {
	for _, g := range s.scimGroups {
		if g.name == name {
			return g
		}
	}
	return nil
}

func (s *Server) groupByID(id string) *scimGroup {
	for _, g := range s.scimGroups {
		if g.id == id {
			return g
		}
	}
	return nil
}

// scimError writes Slack's SCIM error body.
func scimError(w http.ResponseWriter, code int, description string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]any{"Errors": map[string]any{"description": description, "code": code}})
}

func scimJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

// scim answers one SCIM request.
func (s *Server) scim(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.scimRequests++
	if s.scimLimit.n > 0 {
		s.scimLimit.n--
		w.Header().Set("Retry-After", strconv.Itoa(int(s.scimLimit.retryAfter.Seconds())))
		scimError(w, http.StatusTooManyRequests, "rate_limited")
		return
	}
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || s.cfg.AdminToken == "" || token != s.cfg.AdminToken {
		scimError(w, http.StatusUnauthorized, "invalid_authentication")
		return
	}
	path := strings.TrimPrefix(r.URL.Path, "/scim/v2")
	parts := strings.Split(strings.Trim(path, "/"), "/")
	var body map[string]any
	if r.Method == http.MethodPost || r.Method == http.MethodPatch || r.Method == http.MethodPut {
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&body); err != nil {
			scimError(w, http.StatusBadRequest, "invalid_json")
			return
		}
	}
	switch {
	case len(parts) == 1 && parts[0] == "ServiceProviderConfig" && r.Method == http.MethodGet:
		scimJSON(w, http.StatusOK, map[string]any{
			"schemas":        []string{"urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"},
			"patch":          map[string]any{"supported": true},
			"bulk":           map[string]any{"supported": false},
			"filter":         map[string]any{"supported": true, "maxResults": scimMaxCount},
			"changePassword": map[string]any{"supported": false},
			"sort":           map[string]any{"supported": false},
			"etag":           map[string]any{"supported": false},
			"authenticationSchemes": []any{map[string]any{
				"type": "oauthbearertoken", "name": "OAuth Bearer Token", "primary": true}},
		})
	case parts[0] == "Users" && len(parts) == 1:
		switch r.Method {
		case http.MethodGet:
			s.listUsers(w, r.URL.Query())
		case http.MethodPost:
			s.createUser(w, body)
		default:
			scimError(w, http.StatusMethodNotAllowed, "method_not_allowed")
		}
	case parts[0] == "Users" && len(parts) == 2:
		u := s.scimByID(parts[1])
		if u == nil {
			scimError(w, http.StatusNotFound, "no_such_user")
			return
		}
		switch r.Method {
		case http.MethodGet:
			scimJSON(w, http.StatusOK, s.userResource(u))
		case http.MethodDelete:
			// Slack never deletes a user through SCIM: it deactivates.
			u.Active = false
			w.WriteHeader(http.StatusNoContent)
		case http.MethodPatch:
			if desc := s.patchUser(u, body); desc != "" {
				scimError(w, http.StatusBadRequest, desc)
				return
			}
			scimJSON(w, http.StatusOK, s.userResource(u))
		case http.MethodPut:
			if desc := applyUser(u, body, true); desc != "" {
				scimError(w, http.StatusBadRequest, desc)
				return
			}
			scimJSON(w, http.StatusOK, s.userResource(u))
		default:
			scimError(w, http.StatusMethodNotAllowed, "method_not_allowed")
		}
	case parts[0] == "Groups" && len(parts) == 1:
		switch r.Method {
		case http.MethodGet:
			s.listGroups(w, r.URL.Query())
		case http.MethodPost:
			s.createGroup(w, body)
		default:
			scimError(w, http.StatusMethodNotAllowed, "method_not_allowed")
		}
	case parts[0] == "Groups" && len(parts) == 2:
		g := s.groupByID(parts[1])
		if g == nil {
			scimError(w, http.StatusNotFound, "no_such_group")
			return
		}
		switch r.Method {
		case http.MethodGet:
			scimJSON(w, http.StatusOK, s.groupResource(g, true))
		case http.MethodPatch:
			if desc := s.patchGroup(g, body); desc != "" {
				scimError(w, http.StatusBadRequest, desc)
				return
			}
			w.WriteHeader(http.StatusNoContent)
		case http.MethodDelete:
			s.scimGroups = slices.DeleteFunc(s.scimGroups, func(x *scimGroup) bool { return x == g })
			w.WriteHeader(http.StatusNoContent)
		default:
			scimError(w, http.StatusMethodNotAllowed, "method_not_allowed")
		}
	default:
		scimError(w, http.StatusNotFound, "unknown_endpoint")
	}
}

var filterRe = regexp.MustCompile(`^\s*([A-Za-z.]+)\s+(?i:eq)\s+"((?:[^"\\]|\\.)*)"\s*$`)

// parseFilter reads Slack's one supported filter form, attr eq "value".
func parseFilter(f string) (attr, value string, ok bool) {
	m := filterRe.FindStringSubmatch(f)
	if m == nil {
		return "", "", false
	}
	var v string
	if err := json.Unmarshal([]byte(`"`+m[2]+`"`), &v); err != nil {
		return "", "", false
	}
	return strings.ToLower(m[1]), v, true
}

// page reads startIndex (1-based) and count, capped as Slack caps them.
func page(q url.Values) (start, count int) {
	start, count = 1, 100
	if v, err := strconv.Atoi(q.Get("startIndex")); err == nil && v > 0 {
		start = v
	}
	if v, err := strconv.Atoi(q.Get("count")); err == nil && v >= 0 {
		count = min(v, scimMaxCount)
	}
	return start, count
}

func listResponse[T any](all []T, q url.Values, render func(T) map[string]any) map[string]any {
	start, count := page(q)
	res := []map[string]any{}
	for i := start - 1; i >= 0 && i < len(all) && len(res) < count; i++ {
		res = append(res, render(all[i]))
	}
	return map[string]any{
		"schemas": []string{scimListSchema}, "totalResults": len(all),
		"itemsPerPage": len(res), "startIndex": start, "Resources": res,
	}
}

func (s *Server) listUsers(w http.ResponseWriter, q url.Values) {
	users := s.scimUsers
	if f := q.Get("filter"); f != "" {
		attr, value, ok := parseFilter(f)
		if !ok {
			scimError(w, http.StatusBadRequest, "invalid_filter")
			return
		}
		var match func(*SCIMUser) bool
		switch attr {
		case "username":
			match = func(u *SCIMUser) bool { return strings.EqualFold(u.UserName, value) }
		case "email", "emails", "emails.value":
			match = func(u *SCIMUser) bool { return strings.EqualFold(u.Email, value) }
		default:
			scimError(w, http.StatusBadRequest, "unsupported_filter_attribute: "+attr)
			return
		}
		users = nil
		for _, u := range s.scimUsers {
			if match(u) {
				users = append(users, u)
			}
		}
	}
	scimJSON(w, http.StatusOK, listResponse(users, q, s.userResource))
}

func (s *Server) listGroups(w http.ResponseWriter, q url.Values) {
	groups := s.scimGroups
	if f := q.Get("filter"); f != "" {
		attr, value, ok := parseFilter(f)
		if !ok || attr != "displayname" {
			scimError(w, http.StatusBadRequest, "invalid_filter")
			return
		}
		groups = nil
		for _, g := range s.scimGroups {
			if g.name == value {
				groups = append(groups, g)
			}
		}
	}
	withMembers := !strings.Contains(q.Get("excludedAttributes"), "members")
	scimJSON(w, http.StatusOK, listResponse(groups, q, func(g *scimGroup) map[string]any {
		return s.groupResource(g, withMembers)
	}))
}

// slackUserName turns what was sent as userName into a Slack username: an
// email becomes its local part, lower-cased, as Slack documents.
func slackUserName(s string) string {
	if i := strings.LastIndex(s, "@"); i > 0 {
		s = s[:i]
	}
	s = strings.ToLower(s)
	if len(s) > 21 {
		s = s[:21]
	}
	return s
}

func (s *Server) createUser(w http.ResponseWriter, body map[string]any) {
	u := &SCIMUser{Active: true}
	if desc := applyUser(u, body, true); desc != "" {
		scimError(w, http.StatusBadRequest, desc)
		return
	}
	if u.UserName == "" || u.Email == "" {
		scimError(w, http.StatusBadRequest, "missing_required_fields: userName and emails")
		return
	}
	if s.scimByEmail(u.Email) != nil {
		scimError(w, http.StatusConflict, "email_taken")
		return
	}
	for _, x := range s.scimUsers {
		if x.UserName == u.UserName {
			scimError(w, http.StatusConflict, "username_taken")
			return
		}
	}
	u.ID = s.nextID("W")
	s.scimUsers = append(s.scimUsers, u)
	scimJSON(w, http.StatusCreated, s.userResource(u))
}

// applyUser sets the attributes a User body carries. full is true for POST and
// PUT, which replace the resource.
func applyUser(u *SCIMUser, body map[string]any, full bool) string {
	if v, ok := body["userName"].(string); ok {
		u.UserName = slackUserName(v)
	}
	if v, ok := body["externalId"].(string); ok {
		u.ExternalID = v
	}
	if v, ok := body["title"].(string); ok {
		u.Title = v
	}
	if v, ok := body["active"]; ok {
		b, isBool := v.(bool)
		if !isBool {
			return "invalid_active"
		}
		u.Active = b
	}
	if n, ok := body["name"].(map[string]any); ok {
		u.GivenName, _ = n["givenName"].(string)
		u.FamilyName, _ = n["familyName"].(string)
	}
	if emails, ok := body["emails"].([]any); ok && len(emails) > 0 {
		u.Email = ""
		for _, e := range emails {
			m, _ := e.(map[string]any)
			v, _ := m["value"].(string)
			if p, _ := m["primary"].(bool); p || u.Email == "" {
				u.Email = v
			}
		}
	} else if full && u.Email == "" {
		return "missing_required_fields: emails"
	}
	return ""
}

func (s *Server) patchUser(u *SCIMUser, body map[string]any) string {
	ops, ok := body["Operations"].([]any)
	if !ok {
		return "invalid_patch: no Operations"
	}
	for _, o := range ops {
		op, _ := o.(map[string]any)
		switch strings.ToLower(fmt.Sprint(op["op"])) {
		case "replace", "add":
		default:
			return "invalid_patch: unsupported op"
		}
		path, _ := op["path"].(string)
		if path == "" {
			m, ok := op["value"].(map[string]any)
			if !ok {
				return "invalid_patch: value must be an object without a path"
			}
			if desc := applyUser(u, m, false); desc != "" {
				return desc
			}
			continue
		}
		if desc := applyUser(u, map[string]any{path: op["value"]}, false); desc != "" {
			return desc
		}
	}
	return ""
}

func (s *Server) userResource(u *SCIMUser) map[string]any {
	groups := []map[string]any{}
	for _, g := range s.scimGroups {
		if slices.Contains(g.members, u.ID) {
			groups = append(groups, map[string]any{"value": g.id, "display": g.name})
		}
	}
	out := map[string]any{
		"schemas":     []string{scimUserSchema, scimEnterprise},
		"id":          u.ID,
		"userName":    u.UserName,
		"displayName": strings.TrimSpace(u.GivenName + " " + u.FamilyName),
		"name":        map[string]any{"givenName": u.GivenName, "familyName": u.FamilyName},
		"emails":      []map[string]any{{"value": u.Email, "primary": true}},
		"active":      u.Active,
		"groups":      groups,
		"title":       u.Title,
		"meta":        map[string]any{"location": s.SCIMURL() + "/Users/" + u.ID},
	}
	if u.ExternalID != "" {
		out["externalId"] = u.ExternalID
	}
	return out
}

func (s *Server) groupResource(g *scimGroup, withMembers bool) map[string]any {
	out := map[string]any{
		"schemas":     []string{scimGroupSchema},
		"id":          g.id,
		"displayName": g.name,
		"meta":        map[string]any{"location": s.SCIMURL() + "/Groups/" + g.id},
	}
	if withMembers {
		members := []map[string]any{}
		for _, id := range g.members {
			m := map[string]any{"value": id}
			if u := s.scimByID(id); u != nil {
				m["display"] = u.UserName
			}
			members = append(members, m)
		}
		out["members"] = members
	}
	return out
}

func (s *Server) createGroup(w http.ResponseWriter, body map[string]any) {
	name, _ := body["displayName"].(string)
	if name == "" {
		scimError(w, http.StatusBadRequest, "missing_required_fields: displayName")
		return
	}
	if s.groupByName(name) != nil {
		scimError(w, http.StatusConflict, "group_already_exists")
		return
	}
	g := &scimGroup{id: s.nextID("S"), name: name}
	s.scimGroups = append(s.scimGroups, g)
	scimJSON(w, http.StatusCreated, s.groupResource(g, true))
}

var memberPath = regexp.MustCompile(`^members\[value eq "([^"]+)"\]$`)

// patchGroup adds or removes members: add with a members value list, remove
// with a members value list or a members[value eq "..."] path.
func (s *Server) patchGroup(g *scimGroup, body map[string]any) string {
	ops, ok := body["Operations"].([]any)
	if !ok {
		return "invalid_patch: no Operations"
	}
	for _, o := range ops {
		op, _ := o.(map[string]any)
		path, _ := op["path"].(string)
		var ids []string
		if m := memberPath.FindStringSubmatch(path); m != nil {
			ids = []string{m[1]}
		} else if path == "members" {
			vals, _ := op["value"].([]any)
			for _, v := range vals {
				m, _ := v.(map[string]any)
				if id, _ := m["value"].(string); id != "" {
					ids = append(ids, id)
				}
			}
		} else if path == "displayName" {
			if name, _ := op["value"].(string); name != "" {
				g.name = name
			}
			continue
		} else {
			return "invalid_patch: unsupported path " + path
		}
		switch strings.ToLower(fmt.Sprint(op["op"])) {
		case "add":
			for _, id := range ids {
				if s.scimByID(id) == nil {
					return "invalid_members: no user " + id
				}
				if !slices.Contains(g.members, id) {
					g.members = append(g.members, id)
				}
			}
		case "remove":
			g.members = slices.DeleteFunc(g.members, func(m string) bool { return slices.Contains(ids, m) })
		default:
			return "invalid_patch: unsupported op"
		}
	}
	return ""
}
