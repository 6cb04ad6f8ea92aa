package google_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/integrations"
	"github.com/tenure-io/tenure/integrations/google"
	"github.com/tenure-io/tenure/integrations/google/googletest"
)

func config(s *googletest.Server) integrations.AppConfig {
	return integrations.AppConfig{
		Name:      "google",
		Connector: google.Kind,
		Params:    map[string]string{"domain": googletest.Domain, "admin_email": googletest.Admin, "base_url": s.BaseURL()},
		Secrets:   map[string]string{"credentials": string(s.Credentials)},
	}
}

func newFake(t *testing.T) *googletest.Server {
	t.Helper()
	s := googletest.NewServer()
	t.Cleanup(s.Close)
	return s
}

func connect(t *testing.T, s *googletest.Server, edit ...func(*integrations.AppConfig)) *google.Client {
	t.Helper()
	cfg := config(s)
	for _, e := range edit {
		e(&cfg)
	}
	c, err := google.New(cfg, google.WithTransferPolling(5*time.Millisecond, 2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func person(n int) integrations.User {
	return integrations.User{
		ExternalID: fmt.Sprintf("E%04d", n), UserName: fmt.Sprintf("person%d@example.com", n),
		GivenName: "Given", FamilyName: fmt.Sprintf("Family%d", n), Email: fmt.Sprintf("Person%d@example.com", n),
		Title: "Engineer", Department: "R&D", Active: true,
	}
}

// appError asserts err is an *integrations.Error of kind and returns it.
func appError(t *testing.T, err error, kind integrations.Kind) *integrations.Error {
	t.Helper()
	var e *integrations.Error
	if !errors.As(err, &e) {
		t.Fatalf("got %v (%T), want an *integrations.Error of kind %v", err, err, kind)
	}
	if e.Kind != kind {
		t.Fatalf("got kind %v (%v), want %v", e.Kind, e, kind)
	}
	if strings.Contains(e.Error(), "PRIVATE KEY") {
		t.Fatalf("the error quotes the private key: %v", e)
	}
	return e
}

func TestFactoryChecksTheSettings(t *testing.T) {
	s := newFake(t)
	for _, tc := range []struct {
		field string
		edit  func(*integrations.AppConfig)
	}{
		{"domain", func(c *integrations.AppConfig) { delete(c.Params, "domain") }},
		{"domain", func(c *integrations.AppConfig) { c.Params["domain"] = "admin@example.com" }},
		{"admin_email", func(c *integrations.AppConfig) { delete(c.Params, "admin_email") }},
		{"admin_email", func(c *integrations.AppConfig) { c.Params["admin_email"] = "admin" }},
		{"credentials", func(c *integrations.AppConfig) { delete(c.Secrets, "credentials") }},
		{"credentials", func(c *integrations.AppConfig) { c.Secrets["credentials"] = "not json" }},
		{"credentials", func(c *integrations.AppConfig) {
			c.Secrets["credentials"] = `{"type":"authorized_user","client_id":"x"}`
		}},
		{"credentials", func(c *integrations.AppConfig) {
			c.Secrets["credentials"] = strings.Replace(string(s.Credentials), "MII", "XXX", 1)
		}},
		{"base_url", func(c *integrations.AppConfig) { c.Params["base_url"] = "ftp://example.com/" }},
	} {
		cfg := config(s)
		tc.edit(&cfg)
		_, err := google.New(cfg)
		var te *tenure.Error
		if !errors.As(err, &te) || te.Code != tenure.EINVALID || len(te.Fields) != 1 || te.Fields[0].Field != "apps.google."+tc.field {
			t.Fatalf("%s: got %v, want an invalid apps.google.%s", tc.field, err, tc.field)
		}
		if strings.Contains(err.Error(), "PRIVATE KEY") {
			t.Fatalf("the error quotes the key: %v", err)
		}
	}
	if s.TokenRequests() != 0 || len(s.Calls()) != 0 {
		t.Fatal("the factory called Google")
	}
}

func TestCapabilitiesSignsInAsTheAdmin(t *testing.T) {
	s := newFake(t)
	c := connect(t, s)
	caps, err := c.Capabilities(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if caps != google.Spec.Can || !caps.TransferData || !caps.RevokeSessions || !caps.Groups {
		t.Fatalf("got %+v, want %+v", caps, google.Spec.Can)
	}
	calls := s.Calls()
	if s.TokenRequests() != 1 || len(calls) != 1 || calls[0].Subject != googletest.Admin ||
		calls[0].Path != "/admin/directory/v1/users" || calls[0].Query.Get("customer") != "my_customer" {
		t.Fatalf("token requests %d, calls %+v", s.TokenRequests(), calls)
	}
	// The token is reused.
	if _, err := c.Capabilities(context.Background()); err != nil || s.TokenRequests() != 1 {
		t.Fatalf("second call: %v, %d token requests", err, s.TokenRequests())
	}
}

func TestRefusedCredentialsArePermanent(t *testing.T) {
	ctx := context.Background()
	t.Run("delegation lacks a scope", func(t *testing.T) {
		s := newFake(t)
		s.SetAuthorisedScopes(googletest.ScopeUser, googletest.ScopeGroupMember, googletest.ScopeGroupRead)
		_, err := connect(t, s).Capabilities(ctx)
		e := appError(t, err, integrations.Permanent)
		if e.Status != http.StatusUnauthorized || !strings.Contains(e.Detail, "unauthorized_client") ||
			!strings.Contains(e.Detail, "admin.datatransfer") {
			t.Fatalf("got %v", e)
		}
	})
	t.Run("key not the service account's", func(t *testing.T) {
		s := newFake(t)
		_, err := connect(t, s, func(c *integrations.AppConfig) { c.Secrets["credentials"] = string(s.ForeignCredentials()) }).Capabilities(ctx)
		if e := appError(t, err, integrations.Permanent); !strings.Contains(e.Detail, "Invalid JWT Signature") {
			t.Fatalf("got %v", e)
		}
	})
	t.Run("admin_email is nobody", func(t *testing.T) {
		s := newFake(t)
		_, err := connect(t, s, func(c *integrations.AppConfig) { c.Params["admin_email"] = "ghost@example.com" }).Capabilities(ctx)
		if e := appError(t, err, integrations.Permanent); !strings.Contains(e.Detail, "Invalid email or User ID") {
			t.Fatalf("got %v", e)
		}
	})
	t.Run("admin_email is not an admin", func(t *testing.T) {
		s := newFake(t)
		s.AddUser(googletest.User{PrimaryEmail: "clerk@example.com", GivenName: "C", FamilyName: "Lerk"})
		_, err := connect(t, s, func(c *integrations.AppConfig) { c.Params["admin_email"] = "clerk@example.com" }).Capabilities(ctx)
		if e := appError(t, err, integrations.Permanent); e.Status != http.StatusForbidden || !strings.Contains(e.Detail, "Not Authorized to access this resource/api") {
			t.Fatalf("got %v", e)
		}
	})
	t.Run("token endpoint down", func(t *testing.T) {
		s := newFake(t)
		s.FailTokens(1, googletest.Fault{Status: http.StatusServiceUnavailable, Reason: "temporarily_unavailable", Message: "try later"})
		c := connect(t, s)
		appError(t, func() error { _, err := c.Capabilities(ctx); return err }(), integrations.Transient)
		if _, err := c.Capabilities(ctx); err != nil {
			t.Fatalf("after the outage: %v", err)
		}
	})
}

func TestCreateStoresTheUserAndLookupFindsIt(t *testing.T) {
	ctx := context.Background()
	s := newFake(t)
	c := connect(t, s)
	u := person(1)
	u.UserName = "ada@example.com"
	u.GivenName, u.FamilyName, u.Title, u.Department = "Ada", "Lovelace", "Analyst", "Engines"
	acct, err := c.Create(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	if acct.ID == "" || acct.UserName != "ada@example.com" || acct.ExternalID != "E0001" || !acct.Active || len(acct.Groups) != 0 {
		t.Fatalf("created %+v", acct)
	}
	got, ok := s.User(acct.ID)
	if !ok || got.PrimaryEmail != "ada@example.com" || got.GivenName != "Ada" || got.FamilyName != "Lovelace" ||
		got.ExternalID != "E0001" || got.Title != "Analyst" || got.Department != "Engines" || got.Suspended ||
		!got.HasPassword || !got.ChangePasswordAtNextLogin {
		t.Fatalf("Google stored %+v", got)
	}
	for _, q := range []struct{ name, externalID, userName string }{
		{"by HR ID", "E0001", ""},
		{"by email", "", "ada@example.com"},
		{"by email when the HR ID is unknown", "E9999", "ada@example.com"},
	} {
		found, err := c.Lookup(ctx, q.externalID, q.userName)
		if err != nil {
			t.Fatalf("%s: %v", q.name, err)
		}
		if found.ID != acct.ID || found.ExternalID != "E0001" || found.UserName != "ada@example.com" {
			t.Fatalf("%s: got %+v", q.name, found)
		}
	}
	for _, email := range []string{"nobody@example.com", "ada.lovelace@gmail.example"} {
		if _, err := c.Lookup(ctx, "E404", email); !integrations.IsNotFound(err) {
			t.Fatalf("lookup of %s: %v", email, err)
		}
	}
	renamed := s.AddUser(googletest.User{PrimaryEmail: "grace.hopper@example.com", GivenName: "Grace", FamilyName: "Hopper",
		Aliases: []string{"grace@example.com"}})
	if found, err := c.Lookup(ctx, "", "Grace@example.com"); err != nil || found.ID != renamed.ID || found.UserName != "grace.hopper@example.com" {
		t.Fatalf("lookup by alias: %+v, %v", found, err)
	}
	// An HR ID with a quote in it is searched for exactly.
	odd := person(2)
	odd.ExternalID = "O'Brien 7"
	created, err := c.Create(ctx, odd)
	if err != nil {
		t.Fatal(err)
	}
	if found, err := c.Lookup(ctx, "O'Brien 7", ""); err != nil || found.ID != created.ID {
		t.Fatalf("lookup by an HR ID with a quote and a space: %+v, %v", found, err)
	}
}

func TestCreateInactiveCreatesASuspendedUser(t *testing.T) {
	s := newFake(t)
	u := person(1)
	u.Active = false
	acct, err := connect(t, s).Create(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := s.User(acct.ID); !got.Suspended || acct.Active {
		t.Fatalf("Google has %+v, connector says %+v", got, acct)
	}
}

func TestCreateWithoutAFamilyNameIsPermanent(t *testing.T) {
	s := newFake(t)
	u := person(1)
	u.FamilyName = ""
	_, err := connect(t, s).Create(context.Background(), u)
	appError(t, err, integrations.Permanent)
	if len(s.Users()) != 1 {
		t.Fatalf("Google has %d users, want only the admin", len(s.Users()))
	}
}

func TestCreateAdoptsAnExistingUser(t *testing.T) {
	ctx := context.Background()
	s := newFake(t)
	c := connect(t, s)
	existing := s.AddUser(googletest.User{PrimaryEmail: "person1@example.com", GivenName: "Given", FamilyName: "Family1", ExternalID: "E0001"})
	acct, err := c.Create(ctx, person(1))
	if err != nil {
		t.Fatal(err)
	}
	if acct.ID != existing.ID || len(s.Users()) != 2 {
		t.Fatalf("adopted %+v; Google has %d users", acct, len(s.Users()))
	}

	// A reused address that belongs to another person's account is not adopted.
	s.AddUser(googletest.User{PrimaryEmail: "person2@example.com", GivenName: "Other", FamilyName: "Person", ExternalID: "E0999"})
	_, err = c.Create(ctx, person(2))
	if e := appError(t, err, integrations.Conflict); !strings.Contains(e.Detail, "E0999") {
		t.Fatalf("got %v", e)
	}
}

func TestSetActiveSuspendsAndRestores(t *testing.T) {
	ctx := context.Background()
	s := newFake(t)
	c := connect(t, s)
	acct, err := c.Create(ctx, person(1))
	if err != nil {
		t.Fatal(err)
	}
	for _, active := range []bool{false, false, true} {
		if err := c.SetActive(ctx, acct.ID, active); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.User(acct.ID); got.Suspended == active {
			t.Fatalf("after SetActive(%t) Google has suspended=%t", active, got.Suspended)
		}
		if got, err := c.Get(ctx, acct.ID); err != nil || got.Active != active {
			t.Fatalf("Get after SetActive(%t): %+v, %v", active, got, err)
		}
	}
	appError(t, c.SetActive(ctx, "100000000000000000404", false), integrations.NotFound)
}

func TestGroupsByLocalPartOrAddress(t *testing.T) {
	ctx := context.Background()
	s := newFake(t)
	s.AddGroup("engineering@example.com", "Engineering")
	s.AddGroup("all-staff@example.com", "All staff")
	s.AddGroup("partners@partner.example.org", "Partners")
	c := connect(t, s)
	acct, err := c.Create(ctx, person(1))
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range []string{"engineering", "engineering", "all-staff@example.com", "partners@partner.example.org"} {
		if err := c.AddToGroup(ctx, acct.ID, g); err != nil {
			t.Fatalf("add to %s: %v", g, err)
		}
	}
	for _, g := range []string{"engineering@example.com", "all-staff@example.com", "partners@partner.example.org"} {
		if m := s.Members(g); !slices.Equal(m, []string{"person1@example.com"}) {
			t.Fatalf("Google has %v in %s", m, g)
		}
	}
	got, err := c.Get(ctx, acct.ID)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"all-staff", "engineering", "partners@partner.example.org"}; !slices.Equal(got.Groups, want) {
		t.Fatalf("groups %v, want %v", got.Groups, want)
	}

	for range 2 {
		if err := c.RemoveFromGroup(ctx, acct.ID, "engineering"); err != nil {
			t.Fatal(err)
		}
	}
	if m := s.Members("engineering@example.com"); len(m) != 0 {
		t.Fatalf("engineering still has %v", m)
	}
	if err := c.RemoveFromGroup(ctx, acct.ID, "no-such-group"); err != nil {
		t.Fatalf("removing from a missing group: %v", err)
	}
	err = c.AddToGroup(ctx, acct.ID, "no-such-group")
	if e := appError(t, err, integrations.Permanent); !strings.Contains(e.Detail, "no-such-group@example.com") {
		t.Fatalf("got %v", e)
	}
	if got, _ := c.Get(ctx, acct.ID); !slices.Equal(got.Groups, []string{"all-staff", "partners@partner.example.org"}) {
		t.Fatalf("groups after removal %v", got.Groups)
	}
}

func TestRevokeSessionsSignsTheUserOut(t *testing.T) {
	ctx := context.Background()
	s := newFake(t)
	c := connect(t, s)
	acct, err := c.Create(ctx, person(1))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.RevokeSessions(ctx, acct.ID); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.User(acct.ID); got.SignOuts != 1 {
		t.Fatalf("Google counted %d sign-outs", got.SignOuts)
	}
}

func TestDeleteRemovesTheUser(t *testing.T) {
	ctx := context.Background()
	s := newFake(t)
	s.AddGroup("engineering@example.com", "Engineering")
	c := connect(t, s)
	acct, err := c.Create(ctx, person(1))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.AddToGroup(ctx, acct.ID, "engineering"); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, acct.ID); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.User(acct.ID); ok || len(s.Members("engineering@example.com")) != 0 {
		t.Fatal("Google still has the user")
	}
	if _, err := c.Get(ctx, acct.ID); !integrations.IsNotFound(err) {
		t.Fatalf("Get after delete: %v", err)
	}
	if err := c.Delete(ctx, acct.ID); err != nil {
		t.Fatalf("deleting again: %v", err)
	}
}

func TestListStreamsEveryUserPageByPage(t *testing.T) {
	ctx := context.Background()
	s := newFake(t)
	s.AddGroup("all-staff@example.com", "All staff")
	want := map[string]bool{googletest.Admin: true}
	for i := range 450 {
		u := s.AddUser(googletest.User{PrimaryEmail: fmt.Sprintf("u%03d@example.com", i), GivenName: "U", FamilyName: "N", ExternalID: fmt.Sprintf("E%03d", i)})
		want[u.PrimaryEmail] = true
	}
	s.AddMember("all-staff@example.com", "u007@example.com")
	c := connect(t, s)
	seen := map[string]integrations.Account{}
	err := c.List(ctx, func(a integrations.Account) bool {
		if _, dup := seen[a.UserName]; dup {
			t.Fatalf("%s listed twice", a.UserName)
		}
		seen[a.UserName] = a
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != len(want) {
		t.Fatalf("listed %d users, want %d", len(seen), len(want))
	}
	if a := seen["u007@example.com"]; a.ExternalID != "E007" || !a.Active || !slices.Equal(a.Groups, []string{"all-staff"}) {
		t.Fatalf("u007 listed as %+v", a)
	}
	pages := 0
	for _, call := range s.Calls() {
		if call.Path == "/admin/directory/v1/users" {
			pages++
		}
	}
	if pages != 3 {
		t.Fatalf("listed in %d pages, want 3", pages)
	}

	// Stopping early fetches no further page.
	before, n := len(s.Calls()), 0
	if err := c.List(ctx, func(integrations.Account) bool { n++; return n < 3 }); err != nil {
		t.Fatal(err)
	}
	pages = 0
	for _, call := range s.Calls()[before:] {
		if call.Path == "/admin/directory/v1/users" {
			pages++
		}
	}
	if n != 3 || pages != 1 {
		t.Fatalf("stopped after %d accounts and %d pages", n, pages)
	}
}

func TestGoogleErrorsMapToKinds(t *testing.T) {
	ctx := context.Background()
	s := newFake(t)
	c := connect(t, s)
	acct, err := c.Create(ctx, person(1))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name       string
		fault      googletest.Fault
		kind       integrations.Kind
		retryAfter time.Duration
		detail     string
	}{
		{"403 rateLimitExceeded", googletest.Fault{Status: 403, Reason: "rateLimitExceeded", Domain: "usageLimits", Message: "Rate Limit Exceeded"},
			integrations.RateLimited, 5 * time.Second, "Rate Limit Exceeded"},
		{"403 userRateLimitExceeded with Retry-After", googletest.Fault{Status: 403, Reason: "userRateLimitExceeded", Domain: "usageLimits", Message: "User Rate Limit Exceeded", RetryAfter: "7"},
			integrations.RateLimited, 7 * time.Second, "userRateLimitExceeded"},
		{"403 quotaExceeded", googletest.Fault{Status: 403, Reason: "quotaExceeded", Domain: "usageLimits", Message: "Quota exceeded"},
			integrations.RateLimited, 30 * time.Second, "Quota exceeded"},
		{"429", googletest.Fault{Status: 429, Reason: "rateLimitExceeded", Message: "Too many concurrent requests"},
			integrations.RateLimited, 5 * time.Second, ""},
		{"403 forbidden", googletest.Fault{Status: 403, Reason: "forbidden", Message: "Not Authorized to access this resource/api"},
			integrations.Permanent, 0, "Not Authorized to access this resource/api"},
		{"401", googletest.Fault{Status: 401, Reason: "authError", Message: "Invalid Credentials"},
			integrations.Permanent, 0, "Invalid Credentials"},
		{"400", googletest.Fault{Status: 400, Reason: "invalid", Message: "Invalid Input: memberKey"},
			integrations.Permanent, 0, "Invalid Input: memberKey"},
		{"500", googletest.Fault{Status: 500, Reason: "backendError", Message: "Backend Error"},
			integrations.Transient, 0, "Backend Error"},
		{"503", googletest.Fault{Status: 503, Reason: "backendError", Message: "Service unavailable"},
			integrations.Transient, 0, ""},
		{"propagation", googletest.Fault{Status: 412, Reason: "conditionNotMet", Message: "User creation is not complete."},
			integrations.Transient, 0, ""},
	} {
		s.Fail(1, tc.fault)
		_, err := c.Get(ctx, acct.ID)
		e := appError(t, err, tc.kind)
		if e.Status != tc.fault.Status || e.RetryAfter != tc.retryAfter || !strings.Contains(e.Detail, tc.detail) {
			t.Fatalf("%s: got %#v", tc.name, e)
		}
		// The fault was one request: the retry succeeds.
		if got, err := c.Get(ctx, acct.ID); err != nil || got.ID != acct.ID {
			t.Fatalf("%s: retry: %+v, %v", tc.name, got, err)
		}
	}
}

func TestRateLimitedChangeSucceedsOnRetry(t *testing.T) {
	ctx := context.Background()
	s := newFake(t)
	c := connect(t, s)
	acct, err := c.Create(ctx, person(1))
	if err != nil {
		t.Fatal(err)
	}
	s.RateLimit(1)
	err = c.SetActive(ctx, acct.ID, false)
	if e := appError(t, err, integrations.RateLimited); e.RetryAfter <= 0 {
		t.Fatalf("no RetryAfter in %v", e)
	}
	if got, _ := s.User(acct.ID); got.Suspended {
		t.Fatal("a refused request changed the user")
	}
	if err := c.SetActive(ctx, acct.ID, false); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.User(acct.ID); !got.Suspended {
		t.Fatal("the retry did not suspend the user")
	}
}

func TestTransferDataMovesDriveFilesToTheNewOwner(t *testing.T) {
	ctx := context.Background()
	s := newFake(t)
	c := connect(t, s)
	leaver, err := c.Create(ctx, person(1))
	if err != nil {
		t.Fatal(err)
	}
	s.AddUser(googletest.User{PrimaryEmail: "boss@example.com", GivenName: "B", FamilyName: "Oss"})
	s.AddFile("person1@example.com", googletest.File{Name: "plan.doc", Shared: true})
	s.AddFile("person1@example.com", googletest.File{Name: "notes.txt", Shared: false})
	s.SetTransferSteps(3)

	if err := c.TransferData(ctx, leaver.ID, "boss@example.com"); err != nil {
		t.Fatal(err)
	}
	ts := s.Transfers()
	if len(ts) != 1 || ts[0].Status != "completed" || ts[0].OldOwnerUserID != leaver.ID ||
		!slices.Equal(ts[0].Applications, []string{googletest.DriveApplicationID}) ||
		!slices.Equal(ts[0].Params["PRIVACY_LEVEL"], []string{"PRIVATE", "SHARED"}) {
		t.Fatalf("Google has transfers %+v", ts)
	}
	if left := s.Files("person1@example.com"); len(left) != 0 {
		t.Fatalf("the leaver still owns %v", left)
	}
	if got := s.Files("boss@example.com"); len(got) != 2 {
		t.Fatalf("the new owner has %v", got)
	}
}

func TestTransferStillRunningIsTransientAndTheRetryWaitsOnTheSameTransfer(t *testing.T) {
	ctx := context.Background()
	s := newFake(t)
	c := connect(t, s)
	leaver, err := c.Create(ctx, person(1))
	if err != nil {
		t.Fatal(err)
	}
	s.AddUser(googletest.User{PrimaryEmail: "boss@example.com", GivenName: "B", FamilyName: "Oss"})
	s.SetTransferSteps(1 << 30)
	short, err := google.New(config(s), google.WithTransferPolling(5*time.Millisecond, 40*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	err = short.TransferData(ctx, leaver.ID, "boss@example.com")
	if e := appError(t, err, integrations.Transient); !strings.Contains(e.Detail, "inProgress") {
		t.Fatalf("got %v", e)
	}
	s.SetTransferSteps(0)
	if err := c.TransferData(ctx, leaver.ID, "boss@example.com"); err != nil {
		t.Fatal(err)
	}
	if ts := s.Transfers(); len(ts) != 1 || ts[0].Status != "completed" {
		t.Fatalf("Google has transfers %+v, want the one, completed", ts)
	}
}

func TestTransferDataRefusals(t *testing.T) {
	ctx := context.Background()
	s := newFake(t)
	c := connect(t, s)
	leaver, err := c.Create(ctx, person(1))
	if err != nil {
		t.Fatal(err)
	}
	for _, owner := range []string{"nobody@example.com", "boss@gmail.example"} {
		err = c.TransferData(ctx, leaver.ID, owner)
		if e := appError(t, err, integrations.Permanent); !strings.Contains(e.Detail, owner+`" has no Google Workspace account`) {
			t.Fatalf("got %v", e)
		}
	}
	s.AddUser(googletest.User{PrimaryEmail: "boss@example.com", GivenName: "B", FamilyName: "Oss"})
	s.FailTransfers(true)
	err = c.TransferData(ctx, leaver.ID, "boss@example.com")
	if e := appError(t, err, integrations.Permanent); !strings.Contains(e.Detail, "failed") {
		t.Fatalf("got %v", e)
	}
	if len(s.Transfers()) != 1 {
		t.Fatalf("Google has %d transfers", len(s.Transfers()))
	}
}

func TestConcurrentGroupChanges(t *testing.T) {
	ctx := context.Background()
	s := newFake(t)
	c := connect(t, s)
	groups := []string{"a", "b", "c", "d", "e", "f"}
	for _, g := range groups {
		s.AddGroup(g+"@example.com", g)
	}
	acct, err := c.Create(ctx, person(1))
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, len(groups)*2)
	for _, g := range groups {
		for range 2 {
			go func() { errs <- c.AddToGroup(ctx, acct.ID, g) }()
		}
	}
	for range len(groups) * 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	got, err := c.Get(ctx, acct.ID)
	if err != nil || !slices.Equal(got.Groups, groups) {
		t.Fatalf("groups %v, %v", got.Groups, err)
	}
}

func TestTheLibraryLogsNothingEvenWhenAskedTo(t *testing.T) {
	// Google's libraries log each request, body included, to stderr when this is
	// set; users.insert's body carries the initial password.
	t.Setenv("GOOGLE_SDK_GO_LOGGING_LEVEL", "debug")
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := os.Stderr
	os.Stderr = w
	defer func() { os.Stderr = stderr }()
	s := newFake(t)
	c := connect(t, s)
	_, cerr := c.Create(context.Background(), person(1))
	os.Stderr = stderr
	w.Close()
	out, _ := io.ReadAll(r)
	if cerr != nil {
		t.Fatal(cerr)
	}
	if strings.Contains(string(out), "password") || strings.Contains(string(out), "Bearer") {
		t.Fatalf("the library logged the request:\n%s", out)
	}
}
