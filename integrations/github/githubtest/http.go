package githubtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Documentation links as GitHub puts them in error bodies. go-github tells a
// secondary rate limit from other 403s by the suffix of this one.
const (
	docsSecondary = "https://docs.github.com/free-pro-team@latest/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"
	docsPrimary   = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-primary-rate-limits"
	docsAuth      = "https://docs.github.com/rest"
)

// msgSecondary is GitHub's documented secondary rate limit message.
const msgSecondary = "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. " +
	"If you reach out to GitHub Support for help, please include the request ID %s."

func (s *Server) routes() {
	m := http.NewServeMux()
	m.HandleFunc("GET /user", s.getAuthenticatedUser)
	m.HandleFunc("GET /users/{username}", s.getUser)
	m.HandleFunc("GET /orgs/{org}", s.org(s.getOrg))
	m.HandleFunc("GET /orgs/{org}/members", s.org(s.listMembers))
	m.HandleFunc("GET /orgs/{org}/members/{username}", s.org(s.checkMember))
	m.HandleFunc("DELETE /orgs/{org}/members/{username}", s.org(s.removeMember))
	m.HandleFunc("GET /orgs/{org}/memberships/{username}", s.org(s.getMembership))
	m.HandleFunc("PUT /orgs/{org}/memberships/{username}", s.org(s.setMembership))
	m.HandleFunc("DELETE /orgs/{org}/memberships/{username}", s.org(s.removeMembership))
	m.HandleFunc("GET /orgs/{org}/invitations", s.org(s.listInvitations))
	m.HandleFunc("POST /orgs/{org}/invitations", s.org(s.createInvitation))
	m.HandleFunc("DELETE /orgs/{org}/invitations/{id}", s.org(s.cancelInvitation))
	m.HandleFunc("GET /orgs/{org}/invitations/{id}/teams", s.org(s.invitationTeams))
	m.HandleFunc("GET /orgs/{org}/failed_invitations", s.org(s.listFailed))
	m.HandleFunc("GET /orgs/{org}/teams", s.org(s.listTeams))
	m.HandleFunc("GET /orgs/{org}/teams/{slug}", s.org(s.getTeam))
	m.HandleFunc("GET /orgs/{org}/teams/{slug}/members", s.org(s.listTeamMembers))
	m.HandleFunc("GET /orgs/{org}/teams/{slug}/memberships/{username}", s.org(s.getTeamMembership))
	m.HandleFunc("PUT /orgs/{org}/teams/{slug}/memberships/{username}", s.org(s.setTeamMembership))
	m.HandleFunc("DELETE /orgs/{org}/teams/{slug}/memberships/{username}", s.org(s.removeTeamMembership))
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { notFound(w) })
	s.mux = m
}

// ServeHTTP answers one API request: it checks the token, spends the rate
// limit, applies any injected fault and routes the rest with the state locked.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	prefix, rest := splitPrefix(r.URL.Path)
	r2 := r.Clone(r.Context())
	r2.URL.Path, r2.URL.RawPath = rest, ""

	s.mu.Lock()
	defer s.mu.Unlock()
	line := r.Method + " " + rest
	if r.URL.RawQuery != "" {
		line += "?" + r.URL.RawQuery
	}
	s.requests = append(s.requests, line)

	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-GitHub-Media-Type", "github.v3; format=json")
	w.Header().Set("X-GitHub-Request-Id", fmt.Sprintf("FAKE:%X", len(s.requests)))

	if !s.authorized(r.Header.Get("Authorization")) {
		writeError(w, http.StatusUnauthorized, "Bad credentials", docsAuth, nil)
		return
	}
	if s.spendRate(w) {
		return
	}
	if s.injectFault(w) {
		return
	}
	r2 = r2.WithContext(withBase(r2.Context(), baseURL(r, prefix)))
	s.mux.ServeHTTP(w, r2)
}

// splitPrefix separates a mount prefix ending in /api/v3 from the API path.
func splitPrefix(p string) (prefix, rest string) {
	if i := strings.Index(p, apiPrefix+"/"); i >= 0 {
		return p[:i+len(apiPrefix)], p[i+len(apiPrefix):]
	}
	if strings.HasSuffix(p, apiPrefix) {
		return p, "/"
	}
	return "", p
}

// authorized accepts the token as "Bearer" or "token", as GitHub does.
func (s *Server) authorized(h string) bool {
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || (!strings.EqualFold(scheme, "Bearer") && !strings.EqualFold(scheme, "token")) {
		return false
	}
	return tok == s.Token
}

// spendRate sets the x-ratelimit-* headers every GitHub answer carries and
// reports whether the primary limit refused the request.
func (s *Server) spendRate(w http.ResponseWriter) bool {
	now := time.Now()
	if now.After(s.rate.reset) {
		s.rate.used, s.rate.reset = 0, now.Add(time.Hour)
	}
	exhausted := now.Before(s.rate.exhaustedUntil)
	reset := s.rate.reset
	if exhausted {
		reset = s.rate.exhaustedUntil
	} else {
		s.rate.used++
	}
	remaining := max(s.rate.limit-s.rate.used, 0)
	if exhausted {
		remaining = 0
	}
	h := w.Header()
	h.Set("X-RateLimit-Limit", strconv.Itoa(s.rate.limit))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(remaining))
	h.Set("X-RateLimit-Used", strconv.Itoa(s.rate.used))
	h.Set("X-RateLimit-Reset", strconv.FormatInt(reset.Unix(), 10))
	h.Set("X-RateLimit-Resource", "core")
	if exhausted {
		writeError(w, http.StatusForbidden, "API rate limit exceeded for user ID 1001.", docsPrimary, nil)
	}
	return exhausted
}

func (s *Server) injectFault(w http.ResponseWriter) bool {
	if len(s.faults) == 0 {
		return false
	}
	f := &s.faults[0]
	f.left--
	status, secondary, retryAfter := f.status, f.secondary, f.retryAfter
	if f.left <= 0 {
		s.faults = s.faults[1:]
	}
	if secondary {
		w.Header().Set("Retry-After", strconv.Itoa(int(retryAfter/time.Second)))
		writeError(w, status, fmt.Sprintf(msgSecondary, w.Header().Get("X-GitHub-Request-Id")), docsSecondary, nil)
		return true
	}
	if retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(retryAfter/time.Second)))
	}
	writeError(w, status, http.StatusText(status), docsAuth, nil)
	return true
}

// ghError is GitHub's error body.
type ghError struct {
	Message          string       `json:"message"`
	Errors           []fieldError `json:"errors,omitempty"`
	DocumentationURL string       `json:"documentation_url"`
	Status           string       `json:"status"`
}

type fieldError struct {
	Resource string `json:"resource,omitempty"`
	Code     string `json:"code"`
	Field    string `json:"field,omitempty"`
	Message  string `json:"message,omitempty"`
}

func writeError(w http.ResponseWriter, status int, msg, docs string, errs []fieldError) {
	writeJSON(w, status, ghError{Message: msg, Errors: errs, DocumentationURL: docs, Status: strconv.Itoa(status)})
}

func notFound(w http.ResponseWriter) {
	writeError(w, http.StatusNotFound, "Not Found", "https://docs.github.com/rest", nil)
}

func validationFailed(w http.ResponseWriter, docs string, errs ...fieldError) {
	writeError(w, http.StatusUnprocessableEntity, "Validation Failed", docs, errs)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// org wraps a handler for /orgs/{org}/...: any other organisation is 404, as
// GitHub answers for an org the token cannot see.
func (s *Server) org(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !strings.EqualFold(r.PathValue("org"), s.Org) {
			notFound(w)
			return
		}
		h(w, r)
	}
}

// paginate picks the page the request asks for out of n items and sets the
// Link header as GitHub does: next and last while there are more, first and
// prev after the first page.
func (s *Server) paginate(w http.ResponseWriter, r *http.Request, n int) (from, to int) {
	q := r.URL.Query()
	per := 30
	if v, err := strconv.Atoi(q.Get("per_page")); err == nil && v > 0 {
		per = v
	}
	per = min(per, s.maxPerPage, 100)
	page := 1
	if v, err := strconv.Atoi(q.Get("page")); err == nil && v > 0 {
		page = v
	}
	last := max((n+per-1)/per, 1)
	link := func(p int, rel string) string {
		q2 := url.Values{}
		for k, v := range q {
			q2[k] = v
		}
		q2.Set("page", strconv.Itoa(p))
		q2.Set("per_page", strconv.Itoa(per))
		return fmt.Sprintf(`<%s%s?%s>; rel="%s"`, base(r), r.URL.Path, q2.Encode(), rel)
	}
	var links []string
	if page < last {
		links = append(links, link(page+1, "next"), link(last, "last"))
	}
	if page > 1 {
		links = append(links, link(1, "first"), link(min(page-1, last), "prev"))
	}
	if len(links) > 0 {
		w.Header().Set("Link", strings.Join(links, ", "))
	}
	from = min((page-1)*per, n)
	return from, min(from+per, n)
}

// ---- users and the organisation

func (s *Server) getAuthenticatedUser(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.fullUserJSON(r, s.users[botLogin]))
}

func (s *Server) getUser(w http.ResponseWriter, r *http.Request) {
	u := s.users[strings.ToLower(r.PathValue("username"))]
	if u == nil {
		notFound(w)
		return
	}
	writeJSON(w, http.StatusOK, s.fullUserJSON(r, u))
}

func (s *Server) getOrg(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.orgJSON(r))
}

// ---- members and memberships

func (s *Server) listMembers(w http.ResponseWriter, r *http.Request) {
	var us []*user
	for key := range s.members {
		us = append(us, s.users[key])
	}
	sort.Slice(us, func(i, j int) bool { return us[i].id < us[j].id })
	from, to := s.paginate(w, r, len(us))
	out := []any{}
	for _, u := range us[from:to] {
		out = append(out, s.userJSON(r, u))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) checkMember(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.members[strings.ToLower(r.PathValue("username"))]; !ok {
		notFound(w)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// removeMember is DELETE /orgs/{org}/members/{username}: the user leaves the
// organisation and every team in it.
func (s *Server) removeMember(w http.ResponseWriter, r *http.Request) {
	key := strings.ToLower(r.PathValue("username"))
	s.dropMember(key)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) dropMember(key string) {
	delete(s.members, key)
	for _, t := range s.teams {
		delete(t.members, key)
	}
}

func (s *Server) getMembership(w http.ResponseWriter, r *http.Request) {
	key := strings.ToLower(r.PathValue("username"))
	state, role := s.membershipLocked(key)
	if state == "" || s.users[key] == nil {
		notFound(w)
		return
	}
	writeJSON(w, http.StatusOK, s.membershipJSON(r, s.users[key], state, role))
}

// setMembership is PUT /orgs/{org}/memberships/{username}: a member's role
// changes; anyone else is invited and reads back as pending until they accept.
func (s *Server) setMembership(w http.ResponseWriter, r *http.Request) {
	key := strings.ToLower(r.PathValue("username"))
	u := s.users[key]
	if u == nil {
		notFound(w)
		return
	}
	var body struct {
		Role string `json:"role"`
	}
	if !decode(w, r, &body) {
		return
	}
	if body.Role == "" {
		body.Role = "member"
	}
	if body.Role != "member" && body.Role != "admin" {
		validationFailed(w, "https://docs.github.com/rest/orgs/members#set-organization-membership-for-a-user",
			fieldError{Resource: "Membership", Code: "invalid", Field: "role"})
		return
	}
	state, _ := s.membershipLocked(key)
	switch state {
	case "active":
		s.members[key] = body.Role
	case "pending":
		for _, inv := range s.invitations {
			if s.invitationUser(inv) == key {
				inv.role = invitationRole(body.Role)
			}
		}
	default:
		s.invitations = append(s.invitations, &invitation{id: s.id(), login: key, role: invitationRole(body.Role), created: time.Now()})
	}
	state, role := s.membershipLocked(key)
	writeJSON(w, http.StatusOK, s.membershipJSON(r, u, state, role))
}

func invitationRole(membershipRole string) string {
	if membershipRole == "admin" {
		return "admin"
	}
	return "direct_member"
}

// removeMembership is DELETE /orgs/{org}/memberships/{username}: a member is
// removed, a pending invitation is cancelled.
func (s *Server) removeMembership(w http.ResponseWriter, r *http.Request) {
	key := strings.ToLower(r.PathValue("username"))
	state, _ := s.membershipLocked(key)
	switch state {
	case "active":
		s.dropMember(key)
	case "pending":
		s.invitations = slices.DeleteFunc(s.invitations, func(inv *invitation) bool { return s.invitationUser(inv) == key })
	default:
		notFound(w)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// ---- invitations

func (s *Server) listInvitations(w http.ResponseWriter, r *http.Request) {
	s.writeInvitations(w, r, s.invitations)
}

func (s *Server) listFailed(w http.ResponseWriter, r *http.Request) {
	s.writeInvitations(w, r, s.failed)
}

func (s *Server) writeInvitations(w http.ResponseWriter, r *http.Request, invs []*invitation) {
	from, to := s.paginate(w, r, len(invs))
	out := []any{}
	for _, inv := range invs[from:to] {
		out = append(out, s.invitationJSON(r, inv))
	}
	writeJSON(w, http.StatusOK, out)
}

// createInvitation is POST /orgs/{org}/invitations. As GitHub does, inviting
// an address that already has a pending invitation returns that invitation,
// and inviting a member (by user or by their verified email) is refused.
func (s *Server) createInvitation(w http.ResponseWriter, r *http.Request) {
	const docs = "https://docs.github.com/rest/orgs/members#create-an-organization-invitation"
	var body struct {
		InviteeID *int64  `json:"invitee_id"`
		Email     *string `json:"email"`
		Role      string  `json:"role"`
		TeamIDs   []int64 `json:"team_ids"`
	}
	if !decode(w, r, &body) {
		return
	}
	if body.Role == "" {
		body.Role = "direct_member"
	}
	switch body.Role {
	case "admin", "direct_member", "billing_manager", "reinstate":
	default:
		validationFailed(w, docs, fieldError{Resource: "OrganizationInvitation", Code: "invalid", Field: "role"})
		return
	}
	for _, id := range body.TeamIDs {
		if s.teamByID(id) == nil {
			validationFailed(w, docs, fieldError{Resource: "OrganizationInvitation", Code: "invalid", Field: "team_ids"})
			return
		}
	}
	inv := &invitation{role: body.Role, teams: body.TeamIDs, created: time.Now()}
	switch {
	case body.Email != nil && *body.Email != "":
		email := strings.TrimSpace(*body.Email)
		if !strings.Contains(email, "@") {
			validationFailed(w, docs, fieldError{Resource: "OrganizationInvitation", Code: "invalid", Field: "email"})
			return
		}
		for _, u := range s.users {
			if u.email != "" && strings.EqualFold(u.email, email) {
				if _, member := s.members[strings.ToLower(u.login)]; member {
					validationFailed(w, docs, fieldError{Resource: "OrganizationInvitation", Code: "unprocessable", Field: "data",
						Message: "A user with this email address is already a part of this organization"})
					return
				}
			}
		}
		for _, old := range s.invitations {
			if strings.EqualFold(old.email, email) {
				writeJSON(w, http.StatusCreated, s.invitationJSON(r, old))
				return
			}
		}
		inv.email = email
	case body.InviteeID != nil:
		var u *user
		for _, c := range s.users {
			if c.id == *body.InviteeID {
				u = c
			}
		}
		if u == nil {
			validationFailed(w, docs, fieldError{Resource: "OrganizationInvitation", Code: "invalid", Field: "invitee_id"})
			return
		}
		if state, _ := s.membershipLocked(strings.ToLower(u.login)); state == "active" {
			validationFailed(w, docs, fieldError{Resource: "OrganizationInvitation", Code: "unprocessable", Field: "data",
				Message: "Invitee is already a part of this org"})
			return
		}
		inv.login = strings.ToLower(u.login)
	default:
		validationFailed(w, docs, fieldError{Resource: "OrganizationInvitation", Code: "missing_field", Field: "email",
			Message: "Either invitee_id or email must be provided"})
		return
	}
	inv.id = s.id()
	s.invitations = append(s.invitations, inv)
	writeJSON(w, http.StatusCreated, s.invitationJSON(r, inv))
}

// cancelInvitation answers 204 whether or not the invitation is still
// pending, as GitHub has been seen to.
func (s *Server) cancelInvitation(w http.ResponseWriter, r *http.Request) {
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	s.invitations = slices.DeleteFunc(s.invitations, func(inv *invitation) bool { return inv.id == id })
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) invitationTeams(w http.ResponseWriter, r *http.Request) {
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	for _, inv := range s.invitations {
		if inv.id != id {
			continue
		}
		from, to := s.paginate(w, r, len(inv.teams))
		out := []any{}
		for _, tid := range inv.teams[from:to] {
			if t := s.teamByID(tid); t != nil {
				out = append(out, s.teamJSON(r, t))
			}
		}
		writeJSON(w, http.StatusOK, out)
		return
	}
	notFound(w)
}

// ---- teams

func (s *Server) sortedTeams() []*team {
	ts := make([]*team, 0, len(s.teams))
	for _, t := range s.teams {
		ts = append(ts, t)
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i].name < ts[j].name })
	return ts
}

func (s *Server) listTeams(w http.ResponseWriter, r *http.Request) {
	ts := s.sortedTeams()
	from, to := s.paginate(w, r, len(ts))
	out := []any{}
	for _, t := range ts[from:to] {
		out = append(out, s.teamJSON(r, t))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) getTeam(w http.ResponseWriter, r *http.Request) {
	t := s.teams[r.PathValue("slug")]
	if t == nil {
		notFound(w)
		return
	}
	writeJSON(w, http.StatusOK, s.teamJSON(r, t))
}

func (s *Server) listTeamMembers(w http.ResponseWriter, r *http.Request) {
	t := s.teams[r.PathValue("slug")]
	if t == nil {
		notFound(w)
		return
	}
	var us []*user
	for key := range t.members {
		us = append(us, s.users[key])
	}
	sort.Slice(us, func(i, j int) bool { return us[i].id < us[j].id })
	from, to := s.paginate(w, r, len(us))
	out := []any{}
	for _, u := range us[from:to] {
		out = append(out, s.userJSON(r, u))
	}
	writeJSON(w, http.StatusOK, out)
}

// teamState is a user's membership of a team: active, or pending while the
// invitation to the organisation that carries the team is not accepted.
func (s *Server) teamState(t *team, key string) (state, role string) {
	if r, ok := t.members[key]; ok {
		return "active", r
	}
	for _, inv := range s.invitations {
		if s.invitationUser(inv) == key && slices.Contains(inv.teams, t.id) {
			return "pending", "member"
		}
	}
	return "", ""
}

func (s *Server) getTeamMembership(w http.ResponseWriter, r *http.Request) {
	t := s.teams[r.PathValue("slug")]
	key := strings.ToLower(r.PathValue("username"))
	if t == nil || s.users[key] == nil {
		notFound(w)
		return
	}
	state, role := s.teamState(t, key)
	if state == "" {
		notFound(w)
		return
	}
	writeJSON(w, http.StatusOK, s.teamMembershipJSON(r, t, s.users[key], state, role))
}

// setTeamMembership is PUT .../teams/{slug}/memberships/{username}. As GitHub
// documents, a user who is not in the organisation is invited to it, and the
// team membership stays pending until they accept.
func (s *Server) setTeamMembership(w http.ResponseWriter, r *http.Request) {
	t := s.teams[r.PathValue("slug")]
	key := strings.ToLower(r.PathValue("username"))
	u := s.users[key]
	if t == nil || u == nil {
		notFound(w)
		return
	}
	var body struct {
		Role string `json:"role"`
	}
	if !decode(w, r, &body) {
		return
	}
	if body.Role == "" {
		body.Role = "member"
	}
	if body.Role != "member" && body.Role != "maintainer" {
		validationFailed(w, "https://docs.github.com/rest/teams/members#add-or-update-team-membership-for-a-user",
			fieldError{Resource: "TeamMember", Code: "invalid", Field: "role"})
		return
	}
	switch state, _ := s.membershipLocked(key); state {
	case "active":
		t.members[key] = body.Role
	case "pending":
		for _, inv := range s.invitations {
			if s.invitationUser(inv) == key && !slices.Contains(inv.teams, t.id) {
				inv.teams = append(inv.teams, t.id)
			}
		}
	default:
		s.invitations = append(s.invitations, &invitation{id: s.id(), login: key, role: "direct_member",
			teams: []int64{t.id}, created: time.Now()})
	}
	state, role := s.teamState(t, key)
	writeJSON(w, http.StatusOK, s.teamMembershipJSON(r, t, u, state, role))
}

func (s *Server) removeTeamMembership(w http.ResponseWriter, r *http.Request) {
	t := s.teams[r.PathValue("slug")]
	key := strings.ToLower(r.PathValue("username"))
	if t == nil || s.users[key] == nil {
		notFound(w)
		return
	}
	state, _ := s.teamState(t, key)
	switch state {
	case "active":
		delete(t.members, key)
	case "pending":
		for _, inv := range s.invitations {
			if s.invitationUser(inv) == key {
				inv.teams = slices.DeleteFunc(inv.teams, func(id int64) bool { return id == t.id })
			}
		}
	default:
		notFound(w)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	if r.Body == nil || r.ContentLength == 0 {
		return true
	}
	if err := json.NewDecoder(r.Body).Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, "Problems parsing JSON", "https://docs.github.com/rest", nil)
		return false
	}
	return true
}
