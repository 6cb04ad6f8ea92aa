package scim

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/tenure-io/tenure/integrations"
)

// Group membership is where SCIM apps differ most. RFC 7643 makes the User's
// groups attribute read-only and lets an app leave it out (AWS IAM Identity
// Center does), so a membership may be readable on the User, through a filter
// on the Group's members, on the Group resource itself, or nowhere. The
// connector reads it from the first side that works, learns which once, and
// says so plainly (Account.Unverifiable) when no side does, rather than
// reporting a membership it cannot see as missing: that is what made a caller
// add the same member again and again.

// memberFilters are the filters on a Group's members that apps accept, tried
// in this order: the value path form of RFC 7644, the sub-attribute form (AWS
// IAM Identity Center takes only this one), and the bare form some apps
// (SCIMMY) take instead.
var memberFilters = []func(id string) string{
	func(id string) string { return "members[value eq " + quote(id) + "]" },
	func(id string) string { return "members.value eq " + quote(id) },
	func(id string) string { return "members eq " + quote(id) },
}

// account is u as an Account, its memberships read from whichever side the
// app shows them; names are groups to check besides those already resolved.
func (c *Client) account(ctx context.Context, u user, names []string) (integrations.Account, error) {
	a := u.account()
	if c.nameGroups(u, &a) {
		sort.Strings(a.Groups)
	}
	switch c.membership {
	case membershipUser:
		return a, nil
	case membershipAuto:
		if c.learnUserGroups(u) == yes {
			return a, nil
		}
	}
	held, unverifiable, err := c.groupSide(ctx, u.ID, c.checked(names))
	if err != nil {
		return integrations.Account{}, err
	}
	if len(held) > 0 && c.membership == membershipAuto {
		c.dialectMu.Lock()
		c.userGroups = no // a member by the Group, yet the User lists no group
		c.dialectMu.Unlock()
	}
	a.Groups = held
	a.Unverifiable = unverifiable
	return a, nil
}

// learnUserGroups notes, from a User the app returned, whether the app fills
// in the User's groups, and returns what is known: only an app that maintains
// the attribute ever fills it in.
func (c *Client) learnUserGroups(u user) tri {
	c.dialectMu.Lock()
	defer c.dialectMu.Unlock()
	if len(u.Groups) > 0 {
		c.userGroups = yes
	}
	return c.userGroups
}

// nameGroups puts the display names this connector knows in place of the
// ids of groups the User lists without a display (RFC 7643 makes display
// optional), and reports whether it changed any.
func (c *Client) nameGroups(u user, a *integrations.Account) bool {
	changed := false
	for _, g := range u.Groups {
		if g.Display != "" {
			continue
		}
		c.groupIDs.Range(func(k, v any) bool {
			if v.(string) != g.Value {
				return true
			}
			if i := slices.Index(a.Groups, g.Value); i >= 0 {
				a.Groups[i] = k.(string)
				changed = true
			}
			return false
		})
	}
	return changed
}

// checked is names and every group this connector has resolved, sorted and
// without repeats.
func (c *Client) checked(names []string) []string {
	out := slices.Clone(names)
	c.groupIDs.Range(func(k, _ any) bool {
		out = append(out, k.(string))
		return true
	})
	sort.Strings(out)
	return slices.Compact(out)
}

// filterState is how far the connector trusts a members filter form.
type filterState int8

const (
	// filterUnprobed: not tried yet.
	filterUnprobed filterState = iota
	// filterTentative: the app applies it (a filter for an id nobody has finds
	// no group), but it has not yet been seen to find a member. An app whose
	// filter matches nothing would pass that probe, so while tentative a
	// filter's "not a member" is checked on the Group where the Group shows
	// its members, and an add is read back through the filter.
	filterTentative
	// filterConfirmed: the filter has found a member.
	filterConfirmed
	// filterUnusable: no form works; memberships are read from the Group.
	filterUnusable
)

// groupSide reads the user's memberships from the Group side: by a members
// filter where the app has one (all the user's groups, whatever names says),
// else from each named group's members. held is sorted; unverifiable lists the
// named groups whose members the app does not show.
func (c *Client) groupSide(ctx context.Context, uid string, names []string) (held, unverifiable []string, err error) {
	switch c.membership {
	case membershipNone:
		return nil, slices.Clone(names), nil
	case membershipGroup:
		return c.groupMembersOf(ctx, uid, names)
	}
	form, state, err := c.memberFilter(ctx)
	if err != nil {
		return nil, nil, err
	}
	if state == filterUnusable {
		if c.membership == membershipFilter {
			return nil, nil, &integrations.Error{Kind: integrations.Permanent, App: c.app, Op: "memberships",
				Detail: "the membership setting is \"filter\" but the app refuses a filter on Group members"}
		}
		return c.groupMembersOf(ctx, uid, names)
	}
	held, err = c.groupsByFilter(ctx, uid, form)
	if err != nil {
		if integrations.KindOf(err) != integrations.Permanent || c.membership == membershipFilter {
			return nil, nil, err
		}
		// The probe passed but the real filter fails (SCIMMY's filter trips over
		// groups without members): stop using it.
		c.setFilter(form, filterUnusable)
		return c.groupMembersOf(ctx, uid, names)
	}
	if len(held) > 0 || state == filterConfirmed {
		c.setFilter(form, filterConfirmed)
		return held, nil, nil
	}
	// Tentative and nothing found: where the Group shows that the user is a
	// member after all, the filter misses members and is dropped.
	for _, name := range names {
		member, known, err := c.listedOn(ctx, uid, name)
		if err != nil {
			return nil, nil, err
		}
		if known && member {
			c.setFilter(form, filterUnusable)
			return c.groupMembersOf(ctx, uid, names)
		}
	}
	return nil, nil, nil
}

// groupMembersOf reads each named group's members.
func (c *Client) groupMembersOf(ctx context.Context, uid string, names []string) (held, unverifiable []string, err error) {
	for _, name := range names {
		member, known, err := c.listedOn(ctx, uid, name)
		switch {
		case err != nil:
			return nil, nil, err
		case !known:
			unverifiable = append(unverifiable, name)
		case member:
			held = append(held, name)
		}
	}
	return held, unverifiable, nil
}

// memberFilter returns the members filter form in use and how far it is
// trusted, probing once. The probe asks for the groups of an id no user has:
// an app that applies the filter answers with no group; one that ignores it
// answers with groups, and one that cannot parse it answers 400 or 501.
func (c *Client) memberFilter(ctx context.Context) (int, filterState, error) {
	c.dialectMu.Lock()
	defer c.dialectMu.Unlock()
	if c.memberState != filterUnprobed {
		return c.memberForm, c.memberState, nil
	}
	const probe = "tenure-membership-probe-no-such-user"
	for i, form := range memberFilters {
		q := url.Values{"filter": {form(probe)}, "startIndex": {"1"}, "count": {"1"}, "excludedAttributes": {"members"}}
		var page listResponse[group]
		err := c.do(ctx, "memberships", http.MethodGet, "/Groups", q, nil, &page)
		switch k := integrations.KindOf(err); {
		case err == nil, k == integrations.NotFound:
			// AWS answers a filter on a member nobody has with 404.
			if len(page.Resources) == 0 && page.TotalResults == 0 {
				c.memberForm, c.memberState = i, filterTentative
				if c.membership == membershipFilter {
					c.memberState = filterConfirmed // the setting vouches for it
				}
				return c.memberForm, c.memberState, nil
			}
		case k == integrations.Transient, k == integrations.RateLimited:
			return 0, filterUnprobed, err
		}
	}
	c.memberState = filterUnusable
	return 0, c.memberState, nil
}

// setFilter records what a read showed about form; a form once dropped or
// confirmed stays so.
func (c *Client) setFilter(form int, state filterState) {
	c.dialectMu.Lock()
	defer c.dialectMu.Unlock()
	if c.memberForm == form && c.memberState == filterTentative {
		c.memberState = state
	}
}

// checkFilter reads an add back through a tentative members filter: an app
// whose filter does not find the member just added does not apply it.
func (c *Client) checkFilter(ctx context.Context, uid, group string) error {
	c.dialectMu.Lock()
	form, state := c.memberForm, c.memberState
	c.dialectMu.Unlock()
	if state != filterTentative || c.membership == membershipUser || c.membership == membershipNone {
		return nil
	}
	held, err := c.groupsByFilter(ctx, uid, form)
	switch {
	case err != nil && integrations.KindOf(err) == integrations.Permanent:
		c.setFilter(form, filterUnusable)
	case err != nil:
		return err
	case slices.Contains(held, group):
		c.setFilter(form, filterConfirmed)
	default:
		c.setFilter(form, filterUnusable)
	}
	return nil
}

// groupsByFilter lists the display names of the groups whose members include
// uid, using members filter form.
func (c *Client) groupsByFilter(ctx context.Context, uid string, form int) ([]string, error) {
	q := url.Values{"filter": {memberFilters[form](uid)}, "excludedAttributes": {"members"}}
	var held []string
	var bad error
	err := c.pages(ctx, "memberships", "/Groups", q, func(page []json.RawMessage) bool {
		for _, raw := range page {
			var g group
			if err := json.Unmarshal(raw, &g); err != nil || g.DisplayName == "" {
				bad = &integrations.Error{Kind: integrations.Transient, App: c.app, Op: "memberships",
					Detail: "the app listed a group without a displayName"}
				return false
			}
			held = append(held, g.DisplayName)
		}
		return true
	})
	if integrations.IsNotFound(err) {
		err = nil // AWS: no group has this member
	}
	if err == nil {
		err = bad
	}
	sort.Strings(held)
	return slices.Compact(held), err
}

// listedOn reports whether the group named name lists uid among its members.
// known is false when the app does not show the group's members, even when
// asked for them by name (RFC 7644 section 3.4.2.5's attributes). A group that
// does not exist lists nobody.
func (c *Client) listedOn(ctx context.Context, uid, name string) (member, known bool, err error) {
	gid, err := c.groupID(ctx, name, false)
	if integrations.IsNotFound(err) {
		return false, true, nil
	}
	if err != nil {
		return false, false, err
	}
	for _, q := range []url.Values{nil, {"attributes": {"members"}}} {
		var g struct {
			Members *[]struct {
				Value string `json:"value"`
			} `json:"members"`
		}
		err := c.do(ctx, "memberships", http.MethodGet, groupPath(gid), q, nil, &g)
		if integrations.IsNotFound(err) {
			c.groupIDs.Delete(name)
			return false, true, nil
		}
		if err != nil && q != nil && integrations.KindOf(err) == integrations.Permanent {
			break // an app that cannot take attributes= (SCIMMY on an empty group)
		}
		if err != nil {
			return false, false, err
		}
		if g.Members != nil {
			c.dialectMu.Lock()
			c.groupMembers = yes
			c.dialectMu.Unlock()
			return slices.ContainsFunc(*g.Members, func(m struct {
				Value string `json:"value"`
			}) bool {
				return m.Value == uid
			}), true, nil
		}
	}
	// RFC 7643 lets an empty members attribute be left out, so a group that
	// shows no members may be empty or may hide them. Once the app has shown
	// members on any group, it is empty; until then the membership is unseen.
	c.dialectMu.Lock()
	shows := c.groupMembers == yes
	c.dialectMu.Unlock()
	return false, shows, nil
}

// holds reports whether the account holds the group named name, from
// whichever side the app shows it; known is false when no side does.
func (c *Client) holds(ctx context.Context, id, name string) (member, known bool, err error) {
	a, err := c.GetWithGroups(ctx, id, []string{name})
	if err != nil {
		return false, false, err
	}
	if slices.Contains(a.Unverifiable, name) {
		return false, false, nil
	}
	return slices.Contains(a.Groups, name), true, nil
}

// AddToGroup makes the account a member of the group with displayName group,
// creating the group first unless the app's create_groups setting is "false".
// It reads the membership first and sends nothing when the account already
// holds the group, so no member is ever added twice, even by an app that
// would list them twice.
func (c *Client) AddToGroup(ctx context.Context, id, group string) error {
	gid, err := c.groupID(ctx, group, true)
	if err != nil {
		return err
	}
	member, known, err := c.holds(ctx, id, group)
	if err != nil {
		return err
	}
	if known && member {
		return nil
	}
	err = c.addMember(ctx, gid, id)
	if err == nil {
		return c.checkFilter(ctx, id, group)
	}
	switch integrations.KindOf(err) {
	case integrations.NotFound:
		// The cached group may have been deleted and recreated under a new id.
		c.groupIDs.Delete(group)
		gid, err = c.groupID(ctx, group, true)
		if err != nil {
			return err
		}
		return c.addMember(ctx, gid, id)
	case integrations.Conflict:
		// Some apps refuse to add a member twice; the membership is what we wanted.
		return nil
	}
	return err
}

// addMember PATCHes one member into a group, in the form the app takes.
func (c *Client) addMember(ctx context.Context, gid, uid string) error {
	return c.patchResource(ctx, "add_to_group", groupPath(gid), "add", "members", []map[string]string{{"value": uid}})
}

// RemoveFromGroup ends the account's membership of the group with displayName
// group. A missing group or a missing membership counts as removed, and a
// membership the app shows to be gone already is not asked for again.
func (c *Client) RemoveFromGroup(ctx context.Context, id, group string) error {
	gid, err := c.groupID(ctx, group, false)
	if err != nil {
		if integrations.IsNotFound(err) {
			return nil
		}
		return err
	}
	member, known, err := c.holds(ctx, id, group)
	if integrations.IsNotFound(err) {
		// The account is gone, and with it its memberships.
		return nil
	}
	if err != nil {
		return err
	}
	if known && !member {
		return nil
	}
	// The value map form cannot name one member, so removal always has a path.
	body := patchOp(patchOperation{Op: "remove", Path: "members[value eq " + quote(id) + "]"})
	err = c.modify(ctx, "remove_from_group", http.MethodPatch, groupPath(gid), body, nil)
	if err == nil {
		return nil
	}
	if integrations.IsNotFound(err) {
		c.groupIDs.Delete(group)
		return nil
	}
	// RFC 7644 section 3.5.2.2: a filter that matches no member is a 400 noTarget.
	if statusOf(err) == http.StatusBadRequest && scimTypeIs(err, "noTarget") {
		return nil
	}
	return err
}

// groupID returns the SCIM id of the group named name. A missing group is a
// NotFound *Error unless forAdd: then it is created, or, where the app's
// create_groups setting forbids that, a Permanent *Error naming the group,
// since a person must fix the app or the policy.
func (c *Client) groupID(ctx context.Context, name string, forAdd bool) (string, error) {
	if v, ok := c.groupIDs.Load(name); ok {
		return v.(string), nil
	}
	id, found, err := c.findGroup(ctx, name)
	if err != nil {
		return "", err
	}
	if !found {
		detail := "group " + strconv.Quote(name) + " does not exist"
		switch {
		case !forAdd:
			return "", &integrations.Error{Kind: integrations.NotFound, App: c.app, Op: "find_group", Detail: detail}
		case !c.createGroups:
			return "", &integrations.Error{Kind: integrations.Permanent, App: c.app, Op: "find_group",
				Detail: detail + " and the app's create_groups setting is false"}
		}
		if id, err = c.createGroup(ctx, name); err != nil {
			return "", err
		}
	}
	c.groupIDs.Store(name, id)
	return id, nil
}

// findGroup finds a group by displayName: by filter, or by listing every
// group where the app refuses a filter on Groups (400 invalidFilter, 501, or
// the group_filter setting).
func (c *Client) findGroup(ctx context.Context, name string) (string, bool, error) {
	if !c.noGroupFilter.Load() {
		q := url.Values{
			"filter":             {Filter("displayName", name)},
			"startIndex":         {"1"},
			"count":              {"2"},
			"excludedAttributes": {"members"}, // a big group's member list is not needed here
		}
		var page listResponse[group]
		err := c.do(ctx, "find_group", http.MethodGet, "/Groups", q, nil, &page)
		if err == nil {
			for _, g := range page.Resources {
				if g.DisplayName == name || g.DisplayName == "" {
					return g.ID, true, nil
				}
			}
			return "", false, nil
		}
		if !filterRefused(err) || c.groupFilter == "true" {
			return "", false, err
		}
		c.noGroupFilter.Store(true)
	}
	var id string
	err := c.pages(ctx, "find_group", "/Groups", url.Values{"excludedAttributes": {"members"}}, func(page []json.RawMessage) bool {
		for _, raw := range page {
			var g group
			if json.Unmarshal(raw, &g) == nil && g.DisplayName == name {
				id = g.ID
				return false
			}
		}
		return true
	})
	return id, id != "", err
}

// filterRefused reports whether err is an app saying it cannot filter.
func filterRefused(err error) bool {
	s := statusOf(err)
	return s == http.StatusNotImplemented ||
		(s == http.StatusBadRequest && (scimTypeIs(err, "invalidFilter") || strings.Contains(strings.ToLower(errDetail(err)), "filter")))
}

func (c *Client) createGroup(ctx context.Context, name string) (string, error) {
	body := map[string]any{"schemas": []string{SchemaGroup}, "displayName": name}
	var g group
	err := c.do(ctx, "create_group", http.MethodPost, "/Groups", nil, body, &g)
	if integrations.KindOf(err) == integrations.Conflict {
		// Another worker created it between our filter and our POST.
		id, found, ferr := c.findGroup(ctx, name)
		if ferr != nil {
			return "", ferr
		}
		if found {
			return id, nil
		}
		return "", err
	}
	if err != nil {
		return "", withGroup(err, name)
	}
	if g.ID == "" {
		return "", &integrations.Error{Kind: integrations.Permanent, App: c.app, Op: "create_group",
			Detail: "the app created group " + strconv.Quote(name) + " but returned no id"}
	}
	return g.ID, nil
}

// withGroup names the group in an app's refusal to create it, so the person
// reading it knows which grant to fix.
func withGroup(err error, name string) error {
	e, ok := err.(*integrations.Error)
	if !ok || e.Kind == integrations.Transient || e.Kind == integrations.RateLimited {
		return err
	}
	out := *e
	out.Detail = "cannot create group " + strconv.Quote(name) + ": " + e.Detail
	if out.Kind == integrations.NotFound {
		out.Kind = integrations.Permanent // the Groups endpoint itself is missing
	}
	return &out
}

func errDetail(err error) string {
	if e, ok := err.(*integrations.Error); ok {
		return e.Detail
	}
	return ""
}
