package githubtest

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// The resources below are written in GitHub's shapes (the fields go-github and
// the documentation name), with API URLs that point back at this server.

type baseKey struct{}

func withBase(ctx context.Context, b string) context.Context {
	return context.WithValue(ctx, baseKey{}, b)
}

// base is the API root the request came in on, such as
// http://127.0.0.1:4321/api/v3, for the URLs in answers and Link headers.
func base(r *http.Request) string {
	b, _ := r.Context().Value(baseKey{}).(string)
	return b
}

func baseURL(r *http.Request, prefix string) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + prefix
}

func nodeID(kind string, id int64) string {
	return base64.StdEncoding.EncodeToString(fmt.Appendf(nil, "%s%d", kind, id))
}

func ts(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func (s *Server) userJSON(r *http.Request, u *user) map[string]any {
	return map[string]any{
		"login":       u.login,
		"id":          u.id,
		"node_id":     nodeID("04:User", u.id),
		"avatar_url":  fmt.Sprintf("%s/avatars/u/%d", base(r), u.id),
		"gravatar_id": "",
		"url":         base(r) + "/users/" + u.login,
		"html_url":    "https://github.example/" + u.login,
		"type":        "User",
		"site_admin":  false,
	}
}

// fullUserJSON is GET /users/{username}: the email there is the public one,
// which the fake leaves unset, as most people do.
func (s *Server) fullUserJSON(r *http.Request, u *user) map[string]any {
	m := s.userJSON(r, u)
	m["name"] = nullable(u.name)
	m["email"] = nil
	m["company"] = nil
	m["created_at"] = "2020-01-01T00:00:00Z"
	return m
}

func (s *Server) orgJSON(r *http.Request) map[string]any {
	return map[string]any{
		"login":       s.Org,
		"id":          1,
		"node_id":     nodeID("012:Organization", 1),
		"url":         base(r) + "/orgs/" + s.Org,
		"members_url": base(r) + "/orgs/" + s.Org + "/members{/member}",
		"description": "",
	}
}

func (s *Server) membershipJSON(r *http.Request, u *user, state, role string) map[string]any {
	return map[string]any{
		"url":              base(r) + "/orgs/" + s.Org + "/memberships/" + u.login,
		"state":            state,
		"role":             role,
		"organization_url": base(r) + "/orgs/" + s.Org,
		"organization":     s.orgJSON(r),
		"user":             s.userJSON(r, u),
	}
}

// invitationJSON shows login only for invitations made to a user: GitHub
// leaves it null on an invitation by email even when it knows the account.
func (s *Server) invitationJSON(r *http.Request, inv *invitation) map[string]any {
	var login any
	if inv.login != "" {
		login = s.users[inv.login].login
	}
	m := map[string]any{
		"id":                   inv.id,
		"node_id":              nodeID("018:OrganizationInvitation", inv.id),
		"login":                login,
		"email":                nullable(inv.email),
		"role":                 inv.role,
		"created_at":           ts(inv.created),
		"failed_at":            nil,
		"failed_reason":        nil,
		"inviter":              s.userJSON(r, s.users[botLogin]),
		"team_count":           len(inv.teams),
		"invitation_teams_url": fmt.Sprintf("%s/organizations/1/invitations/%d/teams", base(r), inv.id),
		"invitation_source":    "member",
	}
	if !inv.failed.IsZero() {
		m["failed_at"], m["failed_reason"] = ts(inv.failed), inv.reason
	}
	return m
}

func (s *Server) teamJSON(r *http.Request, t *team) map[string]any {
	u := base(r) + "/organizations/1/team/" + fmt.Sprint(t.id)
	return map[string]any{
		"id":                   t.id,
		"node_id":              nodeID("04:Team", t.id),
		"url":                  u,
		"html_url":             "https://github.example/orgs/" + s.Org + "/teams/" + t.slug,
		"name":                 t.name,
		"slug":                 t.slug,
		"description":          "",
		"privacy":              "closed",
		"notification_setting": "notifications_enabled",
		"permission":           "pull",
		"members_url":          u + "/members{/member}",
		"repositories_url":     u + "/repos",
		"parent":               nil,
	}
}

func (s *Server) teamMembershipJSON(r *http.Request, t *team, u *user, state, role string) map[string]any {
	return map[string]any{
		"url":   fmt.Sprintf("%s/organizations/1/team/%d/memberships/%s", base(r), t.id, u.login),
		"role":  role,
		"state": state,
	}
}

func nullable(s string) any {
	if strings.TrimSpace(s) == "" {
		return nil
	}
	return s
}
