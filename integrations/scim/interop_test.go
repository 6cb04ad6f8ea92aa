package scim_test

import (
	"context"
	"slices"
	"testing"

	"github.com/tenure-io/tenure/integrations"
	"github.com/tenure-io/tenure/integrations/scim"
	"github.com/tenure-io/tenure/integrations/scim/scimtest"
)

// The interop test runs the connector against a SCIM service Tenure did not
// write: scimtest's SCIMMY peer, which keeps memberships on the Group, never
// fills in the User's groups, and lists a member twice when asked twice. Its
// node_modules come from `npm ci` in scimtest/testdata/scimmy; without them the
// test is skipped, unless TENURE_REQUIRE_SCIM_PEER=1 (as in CI).

func peerConnector(t *testing.T, p *scimtest.Peer) *scim.Client {
	t.Helper()
	c, err := scim.New(integrations.AppConfig{Name: "scimmy", Connector: scim.Kind, BaseURL: p.BaseURL, Token: p.Token})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func active(t *testing.T, st scimtest.State, id string) bool {
	t.Helper()
	u, ok := st.User(id)
	if !ok {
		t.Fatalf("the peer has no user %s", id)
	}
	return u.Active == nil || *u.Active
}

func TestInteropWithSCIMMY(t *testing.T) {
	ctx := context.Background()
	p := scimtest.StartPeer(t)
	c := peerConnector(t, p)

	caps, err := c.Capabilities(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !caps.Groups || !caps.Disable || !caps.Filter {
		t.Fatalf("capabilities %+v, want groups, disable and filter", caps)
	}

	a, err := c.Create(ctx, person(1))
	if err != nil {
		t.Fatal(err)
	}
	if again, err := c.Create(ctx, person(1)); err != nil || again.ID != a.ID {
		t.Fatalf("second create: %+v, %v; want the account %s adopted", again, err, a.ID)
	}
	b, err := c.Create(ctx, person(2))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.AddToGroup(ctx, b.ID, "engineering"); err != nil {
		t.Fatal(err)
	}

	// Two groups, each asked for three times, as retried syncs would.
	for range 3 {
		for _, g := range []string{"engineering", "admins"} {
			if err := c.AddToGroup(ctx, a.ID, g); err != nil {
				t.Fatalf("add to %s: %v", g, err)
			}
		}
	}
	st := p.State(t)
	if got := st.Memberships(a.ID); len(got) != 2 || got["engineering"] != 1 || got["admins"] != 1 {
		t.Fatalf("the peer lists the user in %v, want engineering and admins once each", got)
	}
	for _, u := range st.Users {
		if len(u.Groups) != 0 {
			t.Fatalf("the peer fills in the User's groups (%s): this test no longer covers the Group-only case", u.Groups)
		}
	}

	want := []string{"admins", "engineering"}
	if got, err := c.Get(ctx, a.ID); err != nil || !slices.Equal(got.Groups, want) || len(got.Unverifiable) != 0 {
		t.Fatalf("Get: %+v, %v; want groups %v", got, err, want)
	}
	fresh := peerConnector(t, p)
	got, err := fresh.GetWithGroups(ctx, a.ID, []string{"admins", "engineering", "finance"})
	if err != nil || !slices.Equal(got.Groups, want) || len(got.Unverifiable) != 0 {
		t.Fatalf("a fresh connector's GetWithGroups: %+v, %v; want groups %v", got, err, want)
	}
	if got, err := fresh.Lookup(ctx, "", a.UserName); err != nil || got.ID != a.ID || !slices.Equal(got.Groups, want) {
		t.Fatalf("Lookup by userName: %+v, %v", got, err)
	}

	if err := c.SetActive(ctx, a.ID, false); err != nil {
		t.Fatal(err)
	}
	if active(t, p.State(t), a.ID) {
		t.Fatal("the peer still has the user active after disable")
	}
	if got, err := c.Get(ctx, a.ID); err != nil || got.Active {
		t.Fatalf("Get after disable: %+v, %v", got, err)
	}
	if err := c.SetActive(ctx, a.ID, true); err != nil {
		t.Fatal(err)
	}
	if !active(t, p.State(t), a.ID) {
		t.Fatal("the peer has the user inactive after enable")
	}

	for range 2 {
		if err := c.RemoveFromGroup(ctx, a.ID, "engineering"); err != nil {
			t.Fatal(err)
		}
	}
	st = p.State(t)
	if got := st.Memberships(a.ID); len(got) != 1 || got["admins"] != 1 {
		t.Fatalf("after removal from engineering the peer lists the user in %v, want admins once", got)
	}
	if got := st.Memberships(b.ID); got["engineering"] != 1 {
		t.Fatalf("removing one member touched another: %v", got)
	}
	if got, err := c.Get(ctx, a.ID); err != nil || !slices.Equal(got.Groups, []string{"admins"}) {
		t.Fatalf("Get after removal: %+v, %v; want [admins]", got, err)
	}

	if err := c.Delete(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, a.ID); err != nil {
		t.Fatalf("deleting again: %v", err)
	}
	st = p.State(t)
	if _, ok := st.User(a.ID); ok {
		t.Fatal("the peer still has the user after delete")
	}
	if got := st.Memberships(a.ID); len(got) != 0 {
		t.Fatalf("the deleted user is still in %v", got)
	}
	if _, err := c.Get(ctx, a.ID); !integrations.IsNotFound(err) {
		t.Fatalf("Get after delete: %v, want NotFound", err)
	}
}
