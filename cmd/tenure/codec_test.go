package main

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/api"
	"github.com/tenure-io/tenure/internal/authlimit"
)

// TestCodecAccessLimitsGuessing: the codec endpoint's bearer tokens count
// against the same limiter as the API's, so guessing there is slowed too.
func TestCodecAccessLimitsGuessing(t *testing.T) {
	auth := api.StaticTokens(map[string]tenure.Principal{"right-token-0123456789": {Name: "it", Role: tenure.RoleAuditor}})
	now := time.Unix(1_700_000_000, 0)
	access := codecAccess(auth, nil, authlimit.New(3, time.Minute, func() time.Time { return now }))
	try := func(token string) (string, bool) {
		r := httptest.NewRequest("POST", "/decode", nil)
		r.RemoteAddr = "192.0.2.1:4000"
		r.Header.Set("Authorization", "Bearer "+token)
		return access(r)
	}
	if role, ok := try("right-token-0123456789"); !ok || role != tenure.RoleAuditor {
		t.Fatalf("the right token: %q %v", role, ok)
	}
	for range 3 {
		if _, ok := try("wrong-token"); ok {
			t.Fatal("a wrong token was let in")
		}
	}
	if _, ok := try("right-token-0123456789"); ok {
		t.Fatal("a client over its allowance was let in")
	}
	now = now.Add(time.Minute)
	if _, ok := try("right-token-0123456789"); !ok {
		t.Fatal("the allowance did not come back")
	}
}
