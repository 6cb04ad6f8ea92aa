package scim_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tenure-io/tenure/integrations"
	"github.com/tenure-io/tenure/integrations/scim"
	"github.com/tenure-io/tenure/internal/sandbox"
)

const sandboxToken = "sandbox-token-for-tests"

// world is a sandbox served over real HTTP and a connector for each of its apps.
type world struct {
	sb  *sandbox.Sandbox
	url string
}

func newWorld(t testing.TB, apps ...string) *world {
	t.Helper()
	sb, err := sandbox.New(sandbox.Options{Apps: apps, Token: sandboxToken})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sb.Handler())
	t.Cleanup(func() {
		srv.Close()
		_ = sb.Close()
	})
	return &world{sb: sb, url: srv.URL}
}

func (w *world) connector(t testing.TB, app string, settings map[string]string) *scim.Client {
	t.Helper()
	c, err := scim.New(integrations.AppConfig{
		Name:      app,
		Connector: scim.Kind,
		BaseURL:   w.url + "/sandbox/" + app + "/scim/v2",
		Token:     sandboxToken,
		Settings:  settings,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (w *world) user(t testing.TB, app, id string) sandbox.User {
	t.Helper()
	users, err := w.sb.Users(app)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range users {
		if u.ID == id {
			return u
		}
	}
	t.Fatalf("app %s has no user %s (it has %d users)", app, id, len(users))
	return sandbox.User{}
}

func (w *world) faults(t testing.TB, app string, f sandbox.Faults) {
	t.Helper()
	if err := w.sb.SetFaults(app, f); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.sb.SetFaults(app, sandbox.Faults{}) })
}

func person(n int) integrations.User {
	return integrations.User{
		ExternalID:  fmt.Sprintf("E%05d", n),
		UserName:    fmt.Sprintf("person%d@example.com", n),
		GivenName:   "Given",
		FamilyName:  fmt.Sprintf("Family%d", n),
		DisplayName: fmt.Sprintf("Given Family%d", n),
		Email:       fmt.Sprintf("person%d@example.com", n),
		Title:       "Engineer",
		Department:  "R&D",
		Active:      true,
	}
}

func TestCapabilitiesFromSandbox(t *testing.T) {
	w := newWorld(t, "github")
	caps, err := w.connector(t, "github", nil).Capabilities(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !caps.Groups || !caps.Filter || caps.RevokeSessions {
		t.Fatalf("got %+v, want groups and filter, and no session revocation", caps)
	}
}

func TestCreateThenLookup(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, "github")
	c := w.connector(t, "github", nil)
	u := integrations.User{
		ExternalID: "E1001", UserName: "ada@example.com", GivenName: "Ada", FamilyName: "Lovelace",
		DisplayName: "Ada Lovelace", Email: "ada@example.com", Title: "Analyst", Department: "Engines", Active: true,
	}
	created, err := c.Create(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	if created.ID == "" || !created.Active || created.UserName != u.UserName || created.ExternalID != u.ExternalID {
		t.Fatalf("created %+v", created)
	}
	stored := w.user(t, "github", created.ID)
	if stored.GivenName != "Ada" || stored.FamilyName != "Lovelace" || stored.Email != "ada@example.com" || !stored.Active {
		t.Fatalf("the app stored %+v", stored)
	}

	for _, q := range []struct{ name, externalID, userName string }{
		{"by externalId", "E1001", ""},
		{"by userName", "", "ada@example.com"},
		{"by userName when the externalId is unknown", "E9999", "ada@example.com"},
	} {
		got, err := c.Lookup(ctx, q.externalID, q.userName)
		if err != nil {
			t.Fatalf("%s: %v", q.name, err)
		}
		if got.ID != created.ID || got.UserName != u.UserName || got.ExternalID != u.ExternalID {
			t.Fatalf("%s: got %+v, want %+v", q.name, got, created)
		}
	}

	_, err = c.Lookup(ctx, "E404", "nobody@example.com")
	if !integrations.IsNotFound(err) {
		t.Fatalf("lookup of nobody: got %v, want NotFound", err)
	}
}

func TestCreateTwiceAdoptsTheExistingAccount(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, "github")
	c := w.connector(t, "github", nil)
	first, err := c.Create(ctx, person(1))
	if err != nil {
		t.Fatal(err)
	}
	second, err := c.Create(ctx, person(1))
	if err != nil {
		t.Fatalf("second create: %v", err)
	}
	if second.ID != first.ID {
		t.Fatalf("second create returned %s, want the adopted %s", second.ID, first.ID)
	}
	users, _ := w.sb.Users("github")
	if len(users) != 1 {
		t.Fatalf("the app has %d users, want 1", len(users))
	}
}

func TestCreateDoesNotAdoptSomeoneElsesAccount(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, "github")
	c := w.connector(t, "github", nil)
	leaver := person(1)
	if _, err := c.Create(ctx, leaver); err != nil {
		t.Fatal(err)
	}
	joiner := person(2)
	joiner.UserName = leaver.UserName // a reused email address
	_, err := c.Create(ctx, joiner)
	var e *integrations.Error
	if !errors.As(err, &e) || e.Kind != integrations.Conflict || !strings.Contains(e.Detail, leaver.ExternalID) {
		t.Fatalf("got %v, want a conflict naming the other account's externalId", err)
	}
}

func TestSetActive(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, "github")
	c := w.connector(t, "github", nil)
	acct, err := c.Create(ctx, person(1))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SetActive(ctx, acct.ID, false); err != nil {
		t.Fatal(err)
	}
	if w.user(t, "github", acct.ID).Active {
		t.Fatal("the app still has the user active after SetActive(false)")
	}
	got, err := c.Get(ctx, acct.ID)
	if err != nil || got.Active {
		t.Fatalf("Get after disabling: %+v, %v", got, err)
	}
	if err := c.SetActive(ctx, acct.ID, true); err != nil {
		t.Fatal(err)
	}
	if !w.user(t, "github", acct.ID).Active {
		t.Fatal("the app has the user disabled after SetActive(true)")
	}
	if err := c.SetActive(ctx, "no-such-id", false); !integrations.IsNotFound(err) {
		t.Fatalf("disabling a missing user: got %v, want NotFound", err)
	}
}

func TestDeleteTwice(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, "github")
	c := w.connector(t, "github", nil)
	acct, err := c.Create(ctx, person(1))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if err := c.Delete(ctx, acct.ID); err != nil {
			t.Fatalf("delete %d: %v", i+1, err)
		}
	}
	if users, _ := w.sb.Users("github"); len(users) != 0 {
		t.Fatalf("the app still has %+v", users)
	}
	if _, err := c.Get(ctx, acct.ID); !integrations.IsNotFound(err) {
		t.Fatalf("Get after delete: got %v, want NotFound", err)
	}
}

func TestGroupMembership(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, "github")
	c := w.connector(t, "github", nil)
	acct, err := c.Create(ctx, person(1))
	if err != nil {
		t.Fatal(err)
	}
	other, err := c.Create(ctx, person(2))
	if err != nil {
		t.Fatal(err)
	}
	// Added twice to "engineering" (created on first use), once to "admins".
	for _, g := range []string{"engineering", "engineering", "admins"} {
		if err := c.AddToGroup(ctx, acct.ID, g); err != nil {
			t.Fatalf("add to %s: %v", g, err)
		}
	}
	if err := c.AddToGroup(ctx, other.ID, "engineering"); err != nil {
		t.Fatal(err)
	}
	want := []string{"admins", "engineering"}
	if got := w.user(t, "github", acct.ID).Groups; !slices.Equal(got, want) {
		t.Fatalf("the app has groups %v, want %v", got, want)
	}
	if got, err := c.Get(ctx, acct.ID); err != nil || !slices.Equal(got.Groups, want) {
		t.Fatalf("Get: %+v, %v; want groups %v", got, err, want)
	}
	if got, err := c.Lookup(ctx, acct.ExternalID, ""); err != nil || !slices.Equal(got.Groups, want) {
		t.Fatalf("Lookup: %+v, %v; want groups %v", got, err, want)
	}

	for i := range 2 {
		if err := c.RemoveFromGroup(ctx, acct.ID, "engineering"); err != nil {
			t.Fatalf("remove %d: %v", i+1, err)
		}
	}
	if got := w.user(t, "github", acct.ID).Groups; !slices.Equal(got, []string{"admins"}) {
		t.Fatalf("after removal the app has groups %v, want [admins]", got)
	}
	if got := w.user(t, "github", other.ID).Groups; !slices.Equal(got, []string{"engineering"}) {
		t.Fatalf("removing one member touched another: %v", got)
	}
	if err := c.RemoveFromGroup(ctx, acct.ID, "never-existed"); err != nil {
		t.Fatalf("removing from a missing group: %v", err)
	}
}

func TestGroupsAreNotCreatedWhenTheAppSaysNo(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, "github")
	c := w.connector(t, "github", map[string]string{"create_groups": "false"})
	acct, err := c.Create(ctx, person(1))
	if err != nil {
		t.Fatal(err)
	}
	err = c.AddToGroup(ctx, acct.ID, "secret-admins")
	var e *integrations.Error
	if !errors.As(err, &e) || e.Kind != integrations.Permanent || !strings.Contains(e.Detail, `"secret-admins"`) {
		t.Fatalf("got %v, want a permanent error naming the group", err)
	}
	if got := w.user(t, "github", acct.ID).Groups; len(got) != 0 {
		t.Fatalf("the user joined %v", got)
	}
}

func TestListPaginates(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, "github")
	c := w.connector(t, "github", nil)
	const n = 250
	want := make(map[string]bool, n)
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make(chan error, n)
	next := make(chan int)
	for range 8 {
		wg.Go(func() {
			for i := range next {
				a, err := c.Create(ctx, person(i))
				if err != nil {
					errs <- err
					continue
				}
				mu.Lock()
				want[a.ID] = true
				mu.Unlock()
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	seen := map[string]int{}
	if err := c.List(ctx, func(a integrations.Account) bool {
		seen[a.ID]++
		return true
	}); err != nil {
		t.Fatal(err)
	}
	if len(seen) != n {
		t.Fatalf("List saw %d distinct users, want %d", len(seen), n)
	}
	for id, k := range seen {
		if !want[id] || k != 1 {
			t.Fatalf("List saw %s %d times (created: %v)", id, k, want[id])
		}
	}

	calls := 0
	if err := c.List(ctx, func(integrations.Account) bool { calls++; return calls < 5 }); err != nil {
		t.Fatal(err)
	}
	if calls != 5 {
		t.Fatalf("List went on for %d calls after fn said stop at 5", calls)
	}

	// Page by page, each page with the cursor of the next; and from a cursor,
	// the same accounts as the listing from the start had after it.
	var order []string
	var cursors []string
	if err := c.ListPages(ctx, "", func(accounts []integrations.Account, next string) bool {
		for _, a := range accounts {
			order = append(order, a.ID)
		}
		cursors = append(cursors, next)
		return true
	}); err != nil {
		t.Fatal(err)
	}
	if strings.Join(cursors, ",") != "101,201," || len(order) != n {
		t.Fatalf("pages with cursors %q and %d users, want 101, 201 and the end, and %d", cursors, len(order), n)
	}
	var rest []string
	if err := c.ListPages(ctx, "101", func(accounts []integrations.Account, _ string) bool {
		for _, a := range accounts {
			rest = append(rest, a.ID)
		}
		return true
	}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rest, order[100:]) {
		t.Fatalf("from cursor 101: %d users, want the %d after the first 100", len(rest), n-100)
	}
	var e *integrations.Error
	if err := c.ListPages(ctx, "page-2", func([]integrations.Account, string) bool { return true }); !errors.As(err, &e) || e.Kind != integrations.Permanent {
		t.Fatalf("a cursor that is no startIndex: %v, want a permanent error", err)
	}
}

func TestRateLimitCarriesRetryAfter(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, "github")
	c := w.connector(t, "github", nil)
	acct, err := c.Create(ctx, person(1))
	if err != nil {
		t.Fatal(err)
	}
	w.faults(t, "github", sandbox.Faults{RateLimit: 1, RetryAfter: 3 * time.Second})
	err = c.SetActive(ctx, acct.ID, false)
	var e *integrations.Error
	if !errors.As(err, &e) || e.Kind != integrations.RateLimited || e.RetryAfter != 3*time.Second {
		t.Fatalf("got %#v, want RateLimited after 3s", err)
	}
	if !w.user(t, "github", acct.ID).Active {
		t.Fatal("a rate-limited call changed the user")
	}
	// The limit was for one request: the retry goes through.
	if err := c.SetActive(ctx, acct.ID, false); err != nil {
		t.Fatalf("retry: %v", err)
	}
}

func TestReadsRideOutABriefFaultAndWritesDoNot(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, "github")
	c := w.connector(t, "github", nil)
	acct, err := c.Create(ctx, person(1))
	if err != nil {
		t.Fatal(err)
	}
	w.faults(t, "github", sandbox.Faults{FailNext: 2, FailStatus: 503, FailDetail: "maintenance"})
	if _, err := c.Get(ctx, acct.ID); err != nil {
		t.Fatalf("a read that met two 503s: %v, want it sent again and answered", err)
	}
	w.faults(t, "github", sandbox.Faults{FailNext: 1, FailStatus: 503, FailDetail: "maintenance"})
	_, err = c.Create(ctx, person(2))
	if e := (*integrations.Error)(nil); !errors.As(err, &e) || e.Kind != integrations.Transient {
		t.Fatalf("a create that met a 503: %v, want the transient fault, not a second POST", err)
	}
}

func TestUnavailableIsTransient(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, "github")
	c := w.connector(t, "github", nil)
	acct, err := c.Create(ctx, person(1))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []sandbox.Faults{
		// A read is sent three times before its fault is the step's.
		{FailNext: 3, FailStatus: 503, FailDetail: "maintenance"},
		{ErrorRate: 1},
	} {
		w.faults(t, "github", f)
		err := c.SetActive(ctx, acct.ID, false)
		var e *integrations.Error
		if !errors.As(err, &e) || e.Kind != integrations.Transient || e.Status != 503 {
			t.Fatalf("faults %v: got %v, want a transient 503", f, err)
		}
		_ = w.sb.SetFaults("github", sandbox.Faults{})
	}
}

func TestBadRequestIsPermanentWithTheAppsDetail(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, "github")
	c := w.connector(t, "github", nil)
	const detail = "department Engines is not one of the app's cost centres"
	w.faults(t, "github", sandbox.Faults{FailNext: 1, FailStatus: 400, FailDetail: detail})
	_, err := c.Create(ctx, person(1))
	var e *integrations.Error
	if !errors.As(err, &e) || e.Kind != integrations.Permanent || e.Status != 400 || !strings.Contains(e.Detail, detail) {
		t.Fatalf("got %v, want a permanent 400 carrying %q", err, detail)
	}
	if !strings.Contains(err.Error(), detail) || !strings.HasPrefix(err.Error(), "github: create") {
		t.Fatalf("the message %q does not tell a person what to fix", err)
	}
}

func TestWrongTokenIsPermanent(t *testing.T) {
	w := newWorld(t, "github")
	c, err := scim.New(integrations.AppConfig{
		Name: "github", BaseURL: w.url + "/sandbox/github/scim/v2", Token: "not-the-token",
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Lookup(context.Background(), "E1", "a@example.com")
	var e *integrations.Error
	if !errors.As(err, &e) || e.Kind != integrations.Permanent || e.Status != 401 {
		t.Fatalf("got %v, want a permanent 401", err)
	}
	if strings.Contains(err.Error(), "not-the-token") {
		t.Fatalf("the error leaks the token: %v", err)
	}
}

// BenchmarkSetActive measures one disable or enable round trip to a sandbox app
// over HTTP, the unit of work of a lock or a leaver's first phase.
func BenchmarkSetActive(b *testing.B) {
	ctx := context.Background()
	w := newWorld(b, "github")
	c := w.connector(b, "github", nil)
	acct, err := c.Create(ctx, person(1))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	active := false
	for b.Loop() {
		if err := c.SetActive(ctx, acct.ID, active); err != nil {
			b.Fatal(err)
		}
		active = !active
	}
}
