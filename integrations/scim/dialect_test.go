package scim_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/tenure-io/tenure/integrations"
	"github.com/tenure-io/tenure/integrations/scim"
	"github.com/tenure-io/tenure/internal/sandbox"
)

// Each test here runs the connector over real HTTP against a sandbox app told
// to speak one SCIM dialect, and checks the app's own state.

// dialectWorld is a sandbox with one app, "app", that speaks dialect d.
func dialectWorld(t *testing.T, d sandbox.Dialect) *world {
	t.Helper()
	w := newWorld(t, "app")
	if err := w.sb.SetDialect("app", d); err != nil {
		t.Fatal(err)
	}
	return w
}

// members counts how often the app's group lists each member.
func (w *world) members(t *testing.T, group string) map[string]int {
	t.Helper()
	ids, err := w.sb.Members("app", group)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, id := range ids {
		out[id]++
	}
	return out
}

// TestMembershipFromWhicheverSideTheAppShows is the bug report: an app that
// keeps memberships on the Group only. Every case runs on an app that would
// list a member twice if asked twice, so "exactly once" is the connector's
// doing.
func TestMembershipFromWhicheverSideTheAppShows(t *testing.T) {
	for _, tc := range []struct {
		name     string
		dialect  sandbox.Dialect
		settings map[string]string
		// fresh says what a new connector, which has resolved no group yet,
		// sees with plain Get: all groups, or none until told which to check.
		freshSeesAll bool
		unverifiable bool
	}{
		{name: "groups on the User", dialect: sandbox.Dialect{DuplicateMembers: true}, freshSeesAll: true},
		{name: "members filter", dialect: sandbox.Dialect{NoUserGroups: true, DuplicateMembers: true}, freshSeesAll: true},
		{name: "Group members", dialect: sandbox.Dialect{NoUserGroups: true, NoMemberFilter: true, DuplicateMembers: true}},
		{name: "Group members by setting", dialect: sandbox.Dialect{NoUserGroups: true, DuplicateMembers: true},
			settings: map[string]string{scim.SettingMembership: "group"}},
		{name: "unverifiable", dialect: sandbox.Dialect{NoUserGroups: true, NoMemberFilter: true, NoGroupMembers: true},
			unverifiable: true},
		{name: "unverifiable by setting", dialect: sandbox.Dialect{},
			settings: map[string]string{scim.SettingMembership: "none"}, unverifiable: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			w := dialectWorld(t, tc.dialect)
			c := w.connector(t, "app", tc.settings)
			a, err := c.Create(ctx, person(1))
			if err != nil {
				t.Fatal(err)
			}
			b, err := c.Create(ctx, person(2))
			if err != nil {
				t.Fatal(err)
			}
			if err := c.AddToGroup(ctx, b.ID, "eng"); err != nil {
				t.Fatal(err)
			}
			// What a retried sync does: add again and again.
			for range 3 {
				for _, g := range []string{"eng", "ops"} {
					if err := c.AddToGroup(ctx, a.ID, g); err != nil {
						t.Fatalf("add to %s: %v", g, err)
					}
				}
			}
			if tc.unverifiable {
				// The connector cannot see the membership, so it sends the add
				// each time; the app (which de-duplicates here) keeps one.
				got, err := c.GetWithGroups(ctx, a.ID, []string{"eng", "ops"})
				if err != nil {
					t.Fatal(err)
				}
				if len(got.Groups) != 0 || !slices.Equal(got.Unverifiable, []string{"eng", "ops"}) {
					t.Fatalf("got groups %v, unverifiable %v; want none held and [eng ops] unverifiable", got.Groups, got.Unverifiable)
				}
			} else {
				for _, g := range []string{"eng", "ops"} {
					if n := w.members(t, g)[a.ID]; n != 1 {
						t.Fatalf("the app's %s lists the user %d times, want once", g, n)
					}
				}
				got, err := c.Get(ctx, a.ID)
				if err != nil || !slices.Equal(got.Groups, []string{"eng", "ops"}) || len(got.Unverifiable) != 0 {
					t.Fatalf("Get: %+v, %v; want groups [eng ops]", got, err)
				}
				fresh := w.connector(t, "app", tc.settings)
				got, err = fresh.Get(ctx, a.ID)
				want := []string{"eng", "ops"}
				if !tc.freshSeesAll {
					want = nil
				}
				if err != nil || !slices.Equal(got.Groups, want) {
					t.Fatalf("a fresh connector's Get: %+v, %v; want groups %v", got, err, want)
				}
				got, err = fresh.GetWithGroups(ctx, a.ID, []string{"eng", "ops", "never-made"})
				if err != nil || !slices.Equal(got.Groups, []string{"eng", "ops"}) || len(got.Unverifiable) != 0 {
					t.Fatalf("GetWithGroups: %+v, %v; want groups [eng ops]", got, err)
				}
				if got, err := fresh.Lookup(ctx, a.ExternalID, ""); err != nil || !slices.Equal(got.Groups, []string{"eng", "ops"}) {
					t.Fatalf("Lookup after GetWithGroups: %+v, %v; want groups [eng ops]", got, err)
				}
			}

			for range 2 {
				if err := c.RemoveFromGroup(ctx, a.ID, "eng"); err != nil {
					t.Fatal(err)
				}
			}
			eng, ops := w.members(t, "eng"), w.members(t, "ops")
			if eng[a.ID] != 0 || eng[b.ID] != 1 || ops[a.ID] != 1 {
				t.Fatalf("after removing the user from eng: eng %v, ops %v (user %s, other %s)", eng, ops, a.ID, b.ID)
			}
			if !tc.unverifiable {
				if got, err := c.Get(ctx, a.ID); err != nil || !slices.Equal(got.Groups, []string{"ops"}) {
					t.Fatalf("Get after removal: %+v, %v; want [ops]", got, err)
				}
			}
		})
	}
}

// TestNoActiveMeansDisableDeletes covers apps whose User has no active
// attribute: found from /Schemas, or set.
func TestNoActiveMeansDisableDeletes(t *testing.T) {
	for _, settings := range []map[string]string{nil, {scim.SettingDisable: "delete"}} {
		ctx := context.Background()
		w := dialectWorld(t, sandbox.Dialect{NoActive: true})
		c := w.connector(t, "app", settings)
		caps, err := c.Capabilities(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if caps.Disable || !caps.Delete {
			t.Fatalf("capabilities %+v: want no disable (it deletes), and delete", caps)
		}
		a, err := c.Create(ctx, person(1))
		if err != nil {
			t.Fatal(err)
		}
		if err := c.SetActive(ctx, a.ID, true); err != nil {
			t.Fatalf("enabling an account that is there: %v", err)
		}
		if err := c.SetActive(ctx, a.ID, false); err != nil {
			t.Fatal(err)
		}
		if users, _ := w.sb.Users("app"); len(users) != 0 {
			t.Fatalf("after disable the app still has %+v", users)
		}
		if _, err := c.Get(ctx, a.ID); !integrations.IsNotFound(err) {
			t.Fatalf("Get after disable: %v, want NotFound", err)
		}
		err = c.SetActive(ctx, a.ID, true)
		if e := asError(t, err); e.Kind != integrations.NotFound || !strings.Contains(e.Detail, "create it again") {
			t.Fatalf("enable after disable: %v, want NotFound telling to create it again", err)
		}
		again, err := c.Create(ctx, person(1))
		if err != nil || again.ID == "" {
			t.Fatalf("re-create: %+v, %v", again, err)
		}
		if users, _ := w.sb.Users("app"); len(users) != 1 || users[0].ExternalID != "E00001" {
			t.Fatalf("after re-create the app has %+v", users)
		}
	}
}

// TestPatchForms: an app that takes only the value map form, and one that
// takes only paths, each with the setting that matches and with auto.
func TestPatchForms(t *testing.T) {
	for _, tc := range []struct {
		app, setting string
		ok           bool
	}{
		{"value", "value", true},
		{"value", "auto", true},
		{"value", "path", false},
		{"path", "path", true},
		{"path", "auto", true},
		{"path", "value", false},
	} {
		t.Run("app "+tc.app+" setting "+tc.setting, func(t *testing.T) {
			ctx := context.Background()
			w := dialectWorld(t, sandbox.Dialect{Patch: tc.app})
			c := w.connector(t, "app", map[string]string{scim.SettingPatch: tc.setting})
			a, err := c.Create(ctx, person(1))
			if err != nil {
				t.Fatal(err)
			}
			err = c.SetActive(ctx, a.ID, false)
			if !tc.ok {
				if e := asError(t, err); e.Kind != integrations.Permanent || e.Status != http.StatusBadRequest {
					t.Fatalf("got %v, want the app's 400", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if w.user(t, "app", a.ID).Active {
				t.Fatal("the app still has the user active")
			}
			if err := c.SetActive(ctx, a.ID, true); err != nil || !w.user(t, "app", a.ID).Active {
				t.Fatalf("enable: %v; app has active=%v", err, w.user(t, "app", a.ID).Active)
			}
			for range 2 {
				if err := c.AddToGroup(ctx, a.ID, "eng"); err != nil {
					t.Fatal(err)
				}
			}
			if got := w.user(t, "app", a.ID).Groups; !slices.Equal(got, []string{"eng"}) {
				t.Fatalf("the app has groups %v", got)
			}
			if err := c.RemoveFromGroup(ctx, a.ID, "eng"); err != nil {
				t.Fatal(err)
			}
			if got := w.user(t, "app", a.ID).Groups; len(got) != 0 {
				t.Fatalf("after removal the app has groups %v", got)
			}
		})
	}
}

// TestGroupsThatCannotBeCreated: the app refuses (403), or the setting says no.
// Either way the error is Permanent and names the group.
func TestGroupsThatCannotBeCreated(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name     string
		dialect  sandbox.Dialect
		settings map[string]string
	}{
		{"the app refuses", sandbox.Dialect{NoGroupCreate: true}, nil},
		{"create_groups is false", sandbox.Dialect{}, map[string]string{scim.SettingCreateGroups: "false"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := dialectWorld(t, tc.dialect)
			c := w.connector(t, "app", tc.settings)
			a, err := c.Create(ctx, person(1))
			if err != nil {
				t.Fatal(err)
			}
			err = c.AddToGroup(ctx, a.ID, "secret-admins")
			if e := asError(t, err); e.Kind != integrations.Permanent || !strings.Contains(e.Detail, `"secret-admins"`) {
				t.Fatalf("got %v, want a permanent error naming the group", err)
			}
			if _, err := w.sb.Members("app", "secret-admins"); err == nil {
				t.Fatal("the group was created")
			}
			if err := c.RemoveFromGroup(ctx, a.ID, "secret-admins"); err != nil {
				t.Fatalf("removing from a group that does not exist: %v", err)
			}
		})
	}
}

// TestGroupsFoundWithoutFilter: an app that refuses filters on Groups, with
// pages smaller than asked for, so finding a group means paging through all.
func TestGroupsFoundWithoutFilter(t *testing.T) {
	ctx := context.Background()
	w := dialectWorld(t, sandbox.Dialect{})
	setup := w.connector(t, "app", nil)
	filler, err := setup.Create(ctx, person(99))
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"g01", "g02", "g03", "g04", "g05", "g06", "g07", "g08", "g09", "g10"}
	for _, g := range names {
		if err := setup.AddToGroup(ctx, filler.ID, g); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.sb.SetDialect("app", sandbox.Dialect{NoGroupFilter: true, PageSize: 3}); err != nil {
		t.Fatal(err)
	}
	for _, settings := range []map[string]string{nil, {scim.SettingGroupFilter: "false"}} {
		c := w.connector(t, "app", settings)
		a, err := c.Create(ctx, person(len(settings)+1))
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range []string{"g10", "g10", "g02", "new"} {
			if err := c.AddToGroup(ctx, a.ID, g); err != nil {
				t.Fatalf("add to %s: %v", g, err)
			}
		}
		if got := w.user(t, "app", a.ID).Groups; !slices.Equal(got, []string{"g02", "g10", "new"}) {
			t.Fatalf("the app has groups %v, want [g02 g10 new]", got)
		}
		if n := w.members(t, "g10")[a.ID]; n != 1 {
			t.Fatalf("g10 lists the user %d times", n)
		}
		if err := c.RemoveFromGroup(ctx, a.ID, "g10"); err != nil {
			t.Fatal(err)
		}
		if got := w.user(t, "app", a.ID).Groups; !slices.Equal(got, []string{"g02", "new"}) {
			t.Fatalf("after removal the app has groups %v", got)
		}
	}
	// Forced on, the filter the app refuses is an error, not a silent fallback.
	c := w.connector(t, "app", map[string]string{scim.SettingGroupFilter: "true"})
	err = c.AddToGroup(ctx, filler.ID, "g01")
	if e := asError(t, err); e.Kind != integrations.Permanent || e.Status != http.StatusBadRequest {
		t.Fatalf("got %v, want the app's 400", err)
	}
}

// statusCounter counts the statuses the app answered, and can run a hook
// before a request is sent.
type statusCounter struct {
	next     http.RoundTripper
	before   func(*http.Request)
	statuses [600]atomic.Int32
}

func (s *statusCounter) RoundTrip(r *http.Request) (*http.Response, error) {
	if s.before != nil {
		s.before(r)
	}
	resp, err := s.next.RoundTrip(r)
	if err == nil && resp.StatusCode < len(s.statuses) {
		s.statuses[resp.StatusCode].Add(1)
	}
	return resp, err
}

// TestETagsRequired: an app that needs If-Match on every write. The connector
// learns it from the first 428, and a version that goes stale between its read
// and its write (412) is read again and the write retried once.
func TestETagsRequired(t *testing.T) {
	ctx := context.Background()
	w := dialectWorld(t, sandbox.Dialect{RequireETags: true})
	other := w.connector(t, "app", nil)
	sc := &statusCounter{next: http.DefaultTransport}
	c, err := scim.New(integrations.AppConfig{Name: "app", BaseURL: w.url + "/sandbox/app/scim/v2", Token: sandboxToken},
		scim.WithHTTPClient(&http.Client{Transport: sc}))
	if err != nil {
		t.Fatal(err)
	}
	a, err := c.Create(ctx, person(1))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SetActive(ctx, a.ID, false); err != nil {
		t.Fatal(err)
	}
	if w.user(t, "app", a.ID).Active || sc.statuses[428].Load() != 1 {
		t.Fatalf("active=%v after disable, %d answers 428; want false and one", w.user(t, "app", a.ID).Active, sc.statuses[428].Load())
	}

	// Someone else changes the user between the connector's read of its version
	// and its write.
	var bumped atomic.Bool
	sc.before = func(r *http.Request) {
		if r.Method == http.MethodPatch && r.Header.Get("If-Match") != "" && bumped.CompareAndSwap(false, true) {
			// Two changes that end where they began: only the version moves.
			if err := other.SetActive(ctx, a.ID, true); err != nil {
				t.Error(err)
			}
			if err := other.SetActive(ctx, a.ID, false); err != nil {
				t.Error(err)
			}
		}
	}
	if err := c.SetActive(ctx, a.ID, true); err != nil {
		t.Fatal(err)
	}
	if !w.user(t, "app", a.ID).Active || sc.statuses[412].Load() != 1 {
		t.Fatalf("active=%v after enable, %d answers 412; want true and one", w.user(t, "app", a.ID).Active, sc.statuses[412].Load())
	}
	sc.before = nil

	for range 2 {
		if err := c.AddToGroup(ctx, a.ID, "eng"); err != nil {
			t.Fatal(err)
		}
	}
	if got := w.user(t, "app", a.ID).Groups; !slices.Contains(got, "eng") {
		t.Fatalf("the app has groups %v", got)
	}
	if err := c.RemoveFromGroup(ctx, a.ID, "eng"); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(ctx, a.ID); !integrations.IsNotFound(err) {
		t.Fatalf("Get after delete: %v", err)
	}

	// With etags "never", the app's refusal comes back as it is.
	never := w.connector(t, "app", map[string]string{scim.SettingETags: "never"})
	b, err := never.Create(ctx, person(3))
	if err != nil {
		t.Fatal(err)
	}
	if e := asError(t, never.SetActive(ctx, b.ID, false)); e.Status != http.StatusPreconditionRequired || e.Kind != integrations.Permanent {
		t.Fatalf("got %+v, want the app's 428, permanent", e)
	}
}

// TestPaginationIgnoringCount: pages smaller and larger than the count asked for.
func TestPaginationIgnoringCount(t *testing.T) {
	ctx := context.Background()
	for _, size := range []int{7, 1000} {
		w := dialectWorld(t, sandbox.Dialect{PageSize: size})
		c := w.connector(t, "app", nil)
		const n = 130
		for i := range n {
			if _, err := c.Create(ctx, person(i)); err != nil {
				t.Fatal(err)
			}
		}
		seen := map[string]int{}
		if err := c.List(ctx, func(a integrations.Account) bool { seen[a.ID]++; return true }); err != nil {
			t.Fatalf("page size %d: %v", size, err)
		}
		if len(seen) != n {
			t.Fatalf("page size %d: List saw %d users, want %d", size, len(seen), n)
		}
		for id, k := range seen {
			if k != 1 {
				t.Fatalf("page size %d: List saw %s %d times", size, id, k)
			}
		}
	}
}

// TestBadSettingsAreRefused: a dialect setting with a value the connector does
// not know is a config error naming the setting.
func TestBadSettingsAreRefused(t *testing.T) {
	_, err := scim.New(integrations.AppConfig{Name: "app", BaseURL: "https://app.example/scim/v2", Token: "t",
		Settings: map[string]string{scim.SettingMembership: "guess"}})
	if err == nil || !strings.Contains(err.Error(), "apps.app.settings.membership") {
		t.Fatalf("got %v, want an error naming apps.app.settings.membership", err)
	}
	var e *integrations.Error
	if errors.As(err, &e) {
		t.Fatalf("a config error is not an app error: %v", err)
	}
}
