package api

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/tenure-io/tenure"
)

// An admin signs a user out of the console everywhere: every active session
// of the email is revoked, the revocation is audited, and anything refused
// (another role, a bad email) writes nothing.
func TestRevokeSessionsThroughTheAPI(t *testing.T) {
	h := newRoleHarness(t)
	ctx := context.Background()
	now := time.Now()
	for _, s := range []tenure.ConsoleSession{
		{IDHash: "b1", Email: "Boss@Example.com", Name: "Bea", ExpiresAt: now.Add(time.Hour)},
		{IDHash: "b2", Email: "boss@example.com", Name: "Bea", ExpiresAt: now.Add(2 * time.Hour)},
		{IDHash: "g1", Email: "grace@example.com", Name: "Grace", Role: tenure.RoleHR, ExpiresAt: now.Add(time.Hour)},
	} {
		if err := h.db.CreateSession(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	revoked := func(hash string) bool {
		t.Helper()
		s, err := h.db.FindSession(ctx, hash)
		if err != nil {
			t.Fatal(err)
		}
		return s.RevokedAt != nil
	}

	before := h.state()
	for _, role := range []string{tenure.RoleHR, tenure.RoleManager, tenure.RoleAuditor} {
		wantError(t, h.as(h.tokens[role], "DELETE", "/api/v1/sessions?email=boss@example.com", ""), http.StatusForbidden, tenure.EFORBIDDEN)
	}
	for _, q := range []string{"", "?email=", "?email=" + url.QueryEscape("Bea <boss@example.com>"), "?email=not-an-address"} {
		e := wantError(t, h.do("DELETE", "/api/v1/sessions"+q, ""), http.StatusBadRequest, tenure.EINVALID)
		if len(e.Fields) != 1 || e.Fields[0].Field != "email" {
			t.Errorf("%q: fields %+v, want email named", q, e.Fields)
		}
	}
	if after := h.state(); after != before || revoked("b1") || revoked("b2") {
		t.Fatalf("refused revocations changed %s to %s", before, after)
	}

	res := h.do("DELETE", "/api/v1/sessions?email="+url.QueryEscape("BOSS@example.com"), "")
	var body struct {
		Email   string `json:"email"`
		Revoked int    `json:"revoked"`
	}
	if res.status != http.StatusOK || json.Unmarshal(res.body, &body) != nil || body.Revoked != 2 || body.Email != "BOSS@example.com" {
		t.Fatalf("revoke = %d %s", res.status, res.body)
	}
	if !revoked("b1") || !revoked("b2") || revoked("g1") {
		t.Fatal("the revocation did not end exactly Bea's sessions")
	}
	recs, err := h.db.ListAudit(ctx, tenure.AuditFilter{Action: "session.revoked"})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0].Actor != "bootstrap" || recs[0].EmployeeID != "boss" {
		t.Fatalf("audit = %+v", recs)
	}
	// Again: nothing left to revoke, and the request is still recorded.
	if res := h.do("DELETE", "/api/v1/sessions?email=boss@example.com", ""); res.status != http.StatusOK || res.json(t)["revoked"] != 0.0 {
		t.Fatalf("second revoke = %d %s", res.status, res.body)
	}

	// A server that keeps no sessions says so.
	nh := newHarness(t)
	wantError(t, nh.do("DELETE", "/api/v1/sessions?email=boss@example.com", ""), http.StatusServiceUnavailable, tenure.EUNAVAILABLE)
}
