package slack_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/integrations"
	"github.com/tenure-io/tenure/integrations/slack"
	"github.com/tenure-io/tenure/integrations/slack/slacktest"
)

const adminToken = "xoxp-admin-5678-secret"

// org starts a fake Slack organisation and a connector on it with the org
// admin's token.
func org(t *testing.T, settings map[string]string) (*slacktest.Server, *slack.Connector) {
	t.Helper()
	f := slacktest.New(slacktest.Config{Token: botToken, AdminToken: adminToken, SigningSecret: secret,
		Users: []slacktest.User{boss}})
	t.Cleanup(f.Close)
	c, err := slack.NewConnector(integrations.AppConfig{
		Name: "slack", Connector: slack.Kind, Settings: settings,
		Params:  map[string]string{"base_url": f.SCIMURL()},
		Secrets: map[string]string{"token": adminToken},
	})
	if err != nil {
		t.Fatal(err)
	}
	return f, c
}

func wantKind(t *testing.T, err error, kind integrations.Kind) *integrations.Error {
	t.Helper()
	var e *integrations.Error
	if !errors.As(err, &e) || e.Kind != kind {
		t.Fatalf("err = %v, want an *integrations.Error of kind %v", err, kind)
	}
	if strings.Contains(err.Error(), adminToken) {
		t.Fatalf("error leaks the token: %v", err)
	}
	return e
}

var adaHire = integrations.User{ExternalID: "E1001", UserName: "ada.lovelace@example.com", Email: "ada.lovelace@example.com",
	GivenName: "Ada", FamilyName: "Lovelace", Title: "Engineer", Department: "Engineering", Active: true}

func TestConnectorConfig(t *testing.T) {
	for _, tc := range []struct {
		name  string
		app   integrations.AppConfig
		field string
	}{
		{"no token", integrations.AppConfig{Name: "chat"}, "apps.chat.token"},
		{"bad base_url", integrations.AppConfig{Name: "chat", Secrets: map[string]string{"token": "x"},
			Params: map[string]string{"base_url": "ftp://slack/scim/v2"}}, "apps.chat.base_url"},
		{"credentials in base_url", integrations.AppConfig{Name: "chat", Secrets: map[string]string{"token": "x"},
			Params: map[string]string{"base_url": "https://u:p@slack.example/scim/v2"}}, "apps.chat.base_url"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := slack.NewConnector(tc.app)
			var te *tenure.Error
			if !errors.As(err, &te) || !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("NewConnector = %v, want an invalid-config error naming %s", err, tc.field)
			}
		})
	}
	if _, err := slack.Factory(integrations.AppConfig{Name: "chat", Secrets: map[string]string{"token": "x"}}); err != nil {
		t.Fatalf("defaults to Slack's own SCIM API: %v", err)
	}
}

func TestConnectorCapabilities(t *testing.T) {
	f, c := org(t, nil)
	caps, err := c.Capabilities(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := integrations.Capabilities{Groups: true, Disable: true, RevokeSessions: true, Filter: true, ReclaimLicence: true}
	if caps != want {
		t.Fatalf("Capabilities = %+v, want %+v", caps, want)
	}

	// The bot token is not an admin token: Slack refuses it, in its own words.
	bad, err := slack.NewConnector(integrations.AppConfig{Name: "slack",
		Params: map[string]string{"base_url": f.SCIMURL()}, Secrets: map[string]string{"token": botToken}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = bad.Capabilities(context.Background())
	e := wantKind(t, err, integrations.Permanent)
	if e.Status != 401 || !strings.Contains(e.Detail, "invalid_authentication") || strings.Contains(err.Error(), botToken) {
		t.Fatalf("bad token: %v", err)
	}
}

func TestConnectorHire(t *testing.T) {
	f, c := org(t, nil)
	ctx := context.Background()
	acct, err := c.Create(ctx, adaHire)
	if err != nil {
		t.Fatal(err)
	}
	u, ok := f.SCIMUserByEmail(adaHire.Email)
	if !ok || u.ID != acct.ID || !u.Active || u.Email != adaHire.Email || u.ExternalID != "E1001" || u.UserName != "ada.lovelace" || u.Title != "Engineer" {
		t.Fatalf("Slack holds %+v (found %t)", u, ok)
	}
	if acct.UserName != "ada.lovelace" || acct.ExternalID != "E1001" || !acct.Active {
		t.Fatalf("Create = %+v", acct)
	}

	got, err := c.Lookup(ctx, "E1001", "ada.lovelace@example.com")
	if err != nil || got.ID != acct.ID {
		t.Fatalf("Lookup = %+v, %v", got, err)
	}
	_, err = c.Lookup(ctx, "E404", "nobody@example.com")
	wantKind(t, err, integrations.NotFound)

	// Slack answers 409 email_taken: the same person's account is adopted.
	again, err := c.Create(ctx, adaHire)
	if err != nil || again.ID != acct.ID {
		t.Fatalf("second Create = %+v, %v", again, err)
	}
	// Someone else with a reused address is refused.
	other := adaHire
	other.ExternalID = "E2002"
	_, err = c.Create(ctx, other)
	if e := wantKind(t, err, integrations.Conflict); !strings.Contains(e.Detail, "E1001") {
		t.Fatalf("detail = %q", e.Detail)
	}
	// A handle taken by another email stays a conflict, in Slack's words.
	_, err = c.Create(ctx, integrations.User{ExternalID: "E3", UserName: "ada.lovelace@other.example", Email: "ada.lovelace@other.example", Active: true})
	if e := wantKind(t, err, integrations.Conflict); !strings.Contains(e.Detail, "username_taken") {
		t.Fatalf("detail = %q", e.Detail)
	}
	_, err = c.Get(ctx, "W404")
	if e := wantKind(t, err, integrations.NotFound); !strings.Contains(e.Detail, "no_such_user") {
		t.Fatalf("Get of an unknown user: detail %q, want Slack's description", e.Detail)
	}
}

func TestConnectorDisableEnable(t *testing.T) {
	f, c := org(t, nil)
	ctx := context.Background()
	acct, err := c.Create(ctx, adaHire)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SetActive(ctx, acct.ID, false); err != nil {
		t.Fatal(err)
	}
	u, ok := f.SCIMUser(acct.ID)
	if !ok || u.Active {
		t.Fatalf("after disable Slack holds %+v (found %t): want the user kept, deactivated", u, ok)
	}
	before := f.SCIMRequests()
	if got, err := c.Get(ctx, acct.ID); err != nil || got.Active || len(got.Groups) != 0 {
		t.Fatalf("Get after disable = %+v, %v", got, err)
	}
	// Slack lists memberships on the User: reading one costs one request,
	// even for a user in no group.
	if n := f.SCIMRequests() - before; n != 1 {
		t.Fatalf("Get sent %d SCIM requests, want 1", n)
	}
	if err := c.SetActive(ctx, acct.ID, true); err != nil {
		t.Fatal(err)
	}
	if u, _ := f.SCIMUser(acct.ID); !u.Active {
		t.Fatal("enable did not reactivate the user")
	}
	wantKind(t, c.SetActive(ctx, "W404", false), integrations.NotFound)
}

func TestConnectorDeleteIsRefused(t *testing.T) {
	f, c := org(t, nil)
	ctx := context.Background()
	acct, err := c.Create(ctx, adaHire)
	if err != nil {
		t.Fatal(err)
	}
	wantKind(t, c.Delete(ctx, acct.ID), integrations.Permanent)
	if u, _ := f.SCIMUser(acct.ID); !u.Active {
		t.Fatal("a refused delete changed the user")
	}
	wantKind(t, c.TransferData(ctx, acct.ID, "boss@example.com"), integrations.Permanent)
}

func TestConnectorGroups(t *testing.T) {
	f, c := org(t, nil)
	ctx := context.Background()
	f.AddSCIMGroup("engineering")
	acct, err := c.Create(ctx, adaHire)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // idempotent
		for _, g := range []string{"engineering", "all-staff"} {
			if err := c.AddToGroup(ctx, acct.ID, g); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, g := range []string{"engineering", "all-staff"} {
		if m, ok := f.GroupMembers(g); !ok || !slices.Equal(m, []string{acct.ID}) {
			t.Fatalf("group %s members = %v (exists %t)", g, m, ok)
		}
	}
	got, err := c.Get(ctx, acct.ID)
	if err != nil || !slices.Equal(got.Groups, []string{"all-staff", "engineering"}) {
		t.Fatalf("Get = %+v, %v", got, err)
	}
	for range 2 {
		if err := c.RemoveFromGroup(ctx, acct.ID, "engineering"); err != nil {
			t.Fatal(err)
		}
	}
	if m, _ := f.GroupMembers("engineering"); len(m) != 0 {
		t.Fatalf("engineering still has %v", m)
	}
	if err := c.RemoveFromGroup(ctx, acct.ID, "never-existed"); err != nil {
		t.Fatalf("removing from a missing group = %v", err)
	}

	// With create_groups false, a group Slack lacks is a person's to fix.
	_, strict := org(t, map[string]string{"create_groups": "false"})
	wantKind(t, strict.AddToGroup(ctx, "U0BOSS", "no-such-group"), integrations.Permanent)
}

func TestConnectorRevokeSessions(t *testing.T) {
	f, c := org(t, nil)
	ctx := context.Background()
	acct, err := c.Create(ctx, adaHire)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.RevokeSessions(ctx, acct.ID); err != nil {
		t.Fatal(err)
	}
	if n := f.SessionResets(acct.ID); n != 1 {
		t.Fatalf("admin.users.session.reset signed the user out %d times, want 1", n)
	}
	calls := f.Calls("admin.users.session.reset")
	if len(calls) != 1 || calls[0].Args["user_id"] != acct.ID {
		t.Fatalf("calls = %+v", calls)
	}
	wantKind(t, c.RevokeSessions(ctx, "W404"), integrations.NotFound)
}

func TestConnectorRateLimits(t *testing.T) {
	f, c := org(t, nil)
	ctx := context.Background()
	acct, err := c.Create(ctx, adaHire)
	if err != nil {
		t.Fatal(err)
	}
	f.RateLimitSCIM(1, 7*time.Second)
	before := f.SCIMRequests()
	_, err = c.Get(ctx, acct.ID)
	if e := wantKind(t, err, integrations.RateLimited); e.RetryAfter != 7*time.Second {
		t.Fatalf("RetryAfter = %s, want Slack's 7s", e.RetryAfter)
	}
	// The wait is the caller's to honour (Temporal's retry): the connector
	// must not hammer Slack by retrying at once.
	if n := f.SCIMRequests() - before; n != 1 {
		t.Fatalf("a rate-limited Get sent %d requests, want 1", n)
	}
	f.RateLimitSCIM(1, 3*time.Second)
	_, err = c.Lookup(ctx, "", adaHire.Email)
	if e := wantKind(t, err, integrations.RateLimited); e.RetryAfter != 3*time.Second {
		t.Fatalf("Lookup RetryAfter = %s", e.RetryAfter)
	}
	if _, err := c.Get(ctx, acct.ID); err != nil {
		t.Fatalf("after the limit passed: %v", err)
	}

	f.RateLimitMethod("admin.users.session.reset", 1, 4*time.Second)
	err = c.RevokeSessions(ctx, acct.ID)
	if e := wantKind(t, err, integrations.RateLimited); e.RetryAfter != 4*time.Second {
		t.Fatalf("session reset RetryAfter = %s", e.RetryAfter)
	}
	if f.SessionResets(acct.ID) != 0 {
		t.Fatal("a rate-limited reset signed the user out")
	}
	if err := c.RevokeSessions(ctx, acct.ID); err != nil || f.SessionResets(acct.ID) != 1 {
		t.Fatalf("retry: %v, resets %d", err, f.SessionResets(acct.ID))
	}
}

func TestConnectorList(t *testing.T) {
	f, c := org(t, nil)
	ctx := context.Background()
	want := []string{"U0BOSS"}
	for i := range 205 { // more than two of the client's pages
		email := "p" + strconv.Itoa(i) + "@example.com"
		u := integrations.User{ExternalID: "E" + strconv.Itoa(i), UserName: email, Email: email, Active: true}
		acct, err := c.Create(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, acct.ID)
	}
	var got []string
	if err := c.List(ctx, func(a integrations.Account) bool { got = append(got, a.ID); return true }); err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("List gave %d users, want %d", len(got), len(want))
	}
	if _, ok := f.SCIMUser("U0BOSS"); !ok {
		t.Fatal("the configured member is not a SCIM user")
	}

	// From the cursor of the second page, the rest of the listing.
	var cursors, first, rest []string
	if err := c.ListPages(ctx, "", func(accounts []integrations.Account, next string) bool {
		for _, a := range accounts {
			first = append(first, a.ID)
		}
		cursors = append(cursors, next)
		return true
	}); err != nil {
		t.Fatal(err)
	}
	if len(cursors) != 3 || cursors[2] != "" || len(first) != len(want) {
		t.Fatalf("pages with cursors %q, %d users", cursors, len(first))
	}
	if err := c.ListPages(ctx, cursors[0], func(accounts []integrations.Account, _ string) bool {
		for _, a := range accounts {
			rest = append(rest, a.ID)
		}
		return true
	}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rest, first[len(first)-len(rest):]) || len(rest) != len(want)-100 {
		t.Fatalf("from cursor %s: %d users, want the %d after the first page", cursors[0], len(rest), len(want)-100)
	}
}
