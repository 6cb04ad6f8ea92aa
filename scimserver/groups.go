package scimserver

import (
	"cmp"
	"context"
	"net/http"
	"reflect"
	"slices"
	"strings"

	"github.com/elimity-com/scim"
	"github.com/elimity-com/scim/optional"
	"github.com/elimity-com/scim/schema"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/intake"
	"github.com/tenure-io/tenure/internal/scimpatch"
	"github.com/tenure-io/tenure/scimserver/directory"
)

// groups is the scim.ResourceHandler of /Groups. A group's meaning in Tenure is
// the groups attribute of its members' HR records: a change of members or of
// the name is an update event for every member whose groups changed.
type groups struct{ s *Server }

var groupPatcher = scimpatch.New(groupSchema, nil, patchOptions)

// Create stores a new group and updates its members.
func (h *groups) Create(r *http.Request, attrs scim.ResourceAttributes) (scim.Resource, error) {
	ctx := r.Context()
	g := directory.Group{ID: newID()}
	if err := readGroup(attrs, &g); err != nil {
		return scim.Resource{}, err
	}
	if err := h.save(ctx, nil, &g); err != nil {
		return scim.Resource{}, err
	}
	return h.get(ctx, g.ID)
}

// Get reads one group.
func (h *groups) Get(r *http.Request, id string) (scim.Resource, error) {
	return h.get(r.Context(), id)
}

func (h *groups) get(ctx context.Context, id string) (scim.Resource, error) {
	g, err := h.s.dir.GetSCIMGroup(ctx, id)
	if err != nil {
		return scim.Resource{}, h.s.scimError(ctx, err)
	}
	return groupResource(g), nil
}

// GetAll lists one page of the groups that pass the filter, oldest first.
func (h *groups) GetAll(r *http.Request, params scim.ListRequestParams) (scim.Page, error) {
	ctx := r.Context()
	var q directory.GroupQuery
	if params.FilterValidator != nil {
		q = planGroups(params.FilterValidator.GetFilter())
	} else {
		q.Limit, q.Offset = max(params.Count, 1), params.StartIndex-1
	}
	list, total, err := h.s.dir.ListSCIMGroups(ctx, q)
	if err != nil {
		return scim.Page{}, h.s.scimError(ctx, err)
	}
	if params.FilterValidator != nil {
		var hits []directory.Group
		for _, g := range list {
			if matches(params.FilterValidator, groupFilterSchema, nil, groupView(g, nil)) {
				hits = append(hits, g)
			}
		}
		start := min(params.StartIndex-1, len(hits))
		list, total = hits[start:min(start+params.Count, len(hits))], len(hits)
	} else if params.Count == 0 {
		list = nil
	}
	p := scim.Page{TotalResults: total, Resources: make([]scim.Resource, 0, len(list))}
	for _, g := range list {
		p.Resources = append(p.Resources, groupResource(g))
	}
	return p, nil
}

// Replace replaces a group's name and members (PUT).
func (h *groups) Replace(r *http.Request, id string, attrs scim.ResourceAttributes) (scim.Resource, error) {
	ctx := r.Context()
	old, err := h.s.dir.GetSCIMGroup(ctx, id)
	if err != nil {
		return scim.Resource{}, h.s.scimError(ctx, err)
	}
	g := directory.Group{ID: id}
	if err := readGroup(attrs, &g); err != nil {
		return scim.Resource{}, err
	}
	if err := h.save(ctx, &old, &g); err != nil {
		return scim.Resource{}, err
	}
	return h.get(ctx, id)
}

// Patch applies PATCH operations, as Okta and Entra send to rename a group and
// to add and remove members.
func (h *groups) Patch(r *http.Request, id string, ops []scim.PatchOperation) (scim.Resource, error) {
	ctx := r.Context()
	old, err := h.s.dir.GetSCIMGroup(ctx, id)
	if err != nil {
		return scim.Resource{}, h.s.scimError(ctx, err)
	}
	doc := groupAttrs(old, nil)
	if old.ExternalID != "" {
		doc["externalId"] = old.ExternalID
	}
	doc, err = groupPatcher.Apply(doc, ops)
	if err != nil {
		return scim.Resource{}, err
	}
	g := directory.Group{ID: id}
	if err := readGroup(doc, &g); err != nil {
		return scim.Resource{}, err
	}
	if err := h.save(ctx, &old, &g); err != nil {
		return scim.Resource{}, err
	}
	return h.get(ctx, id)
}

// Delete removes a group and updates its members.
func (h *groups) Delete(r *http.Request, id string) error {
	ctx := r.Context()
	old, err := h.s.dir.GetSCIMGroup(ctx, id)
	if err != nil {
		return h.s.scimError(ctx, err)
	}
	return h.save(ctx, &old, nil)
}

// save writes a group change (old nil: a create; g nil: a delete) together with
// the change to each member whose groups it changes.
func (h *groups) save(ctx context.Context, old, g *directory.Group) error {
	now := h.s.now().UTC()
	var gw directory.GroupWrite
	switch {
	case g == nil:
		gw = directory.GroupWrite{Group: *old, Prev: old.Version, Delete: true}
	case old == nil:
		g.Version, g.CreatedAt, g.UpdatedAt = 1, now, now
		gw = directory.GroupWrite{Group: *g}
	default:
		if g.DisplayName == old.DisplayName && g.ExternalID == old.ExternalID && slices.Equal(g.Members, old.Members) {
			return nil
		}
		g.Version, g.CreatedAt, g.UpdatedAt = old.Version+1, old.CreatedAt, now
		gw = directory.GroupWrite{Group: *g, Prev: old.Version}
	}
	if g != nil {
		if err := h.unique(ctx, *g); err != nil {
			return err
		}
	}
	var ids []string
	if old != nil {
		ids = append(ids, old.Members...)
	}
	if g != nil {
		ids = append(ids, g.Members...)
	}
	slices.Sort(ids)
	var changes []change
	for _, id := range slices.Compact(ids) {
		u, err := h.s.dir.GetSCIMUser(ctx, id)
		if tenure.ErrorCode(err) == tenure.ENOTFOUND {
			return invalidValue("member " + id + " is not a user of this server")
		}
		if err != nil {
			return h.s.scimError(ctx, err)
		}
		nu := u
		nu.Groups = slices.DeleteFunc(slices.Clone(u.Groups), func(r directory.GroupRef) bool { return r.ID == gw.Group.ID })
		if g != nil && slices.Contains(g.Members, id) {
			nu.Groups = append(nu.Groups, directory.GroupRef{ID: g.ID, Name: g.DisplayName})
		}
		slices.SortFunc(nu.Groups, func(a, b directory.GroupRef) int {
			return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.ID, b.ID))
		})
		if reflect.DeepEqual(nu.Groups, u.Groups) {
			continue
		}
		changes = append(changes, change{old: &u, new: nu})
	}
	if err := h.s.commit(ctx, changes, []directory.GroupWrite{gw}); err != nil {
		return h.s.scimError(ctx, err)
	}
	return nil
}

func (h *groups) unique(ctx context.Context, g directory.Group) error {
	taken, n, err := h.s.dir.ListSCIMGroups(ctx, directory.GroupQuery{DisplayName: g.DisplayName, Limit: 1})
	if err != nil {
		return h.s.scimError(ctx, err)
	}
	if n > 0 && taken[0].ID != g.ID {
		return h.s.scimError(ctx, tenure.Errorf(tenure.ECONFLICT, "displayName %q is already taken", g.DisplayName))
	}
	return nil
}

// readGroup copies a group's validated attributes into g. Members must be users:
// Tenure has no nested groups.
func readGroup(doc map[string]any, g *directory.Group) error {
	name := str(doc, "displayName")
	switch {
	case name == "":
		return invalidValue("displayName is required")
	case strings.Contains(name, ","):
		// The groups attribute joins names with commas; a comma in a name
		// would make it ambiguous.
		return invalidValue("displayName must not contain a comma: members carry group names joined by commas")
	}
	var p intake.Problems
	intake.CheckText("displayName", name, intake.MaxText, false, &p)
	if err := p.Err(); err != nil {
		return invalidValue(tenure.ErrorMessage(err))
	}
	g.DisplayName = name
	g.ExternalID, _ = doc["externalId"].(string)
	g.Members = nil
	for _, m := range asList(doc["members"]) {
		mm := asMap(m)
		v := str(mm, "value")
		if v == "" {
			return invalidValue("every member needs a value: the id of a user")
		}
		if t := str(mm, "type"); t != "" && !strings.EqualFold(t, "User") {
			return invalidValue("member " + v + " is a " + t + "; only users can be members")
		}
		g.Members = append(g.Members, v)
	}
	slices.Sort(g.Members)
	g.Members = slices.Compact(g.Members)
	return nil
}

// groupFilterSchema is the Group schema with the common attributes, as the
// library checks group filters.
var groupFilterSchema = func() schema.Schema {
	s := groupSchema
	s.Attributes = append(append(schema.Attributes{}, groupSchema.Attributes...), schema.CommonAttributes()...)
	return s
}()

// groupResource is a group as the library returns it.
func groupResource(g directory.Group) scim.Resource {
	created, modified := g.CreatedAt, g.UpdatedAt
	res := scim.Resource{
		ID:         g.ID,
		Attributes: groupAttrs(g, nil),
		Meta:       scim.Meta{Created: &created, LastModified: &modified, Version: etag(g.Version)},
	}
	if g.ExternalID != "" {
		res.ExternalID = optional.NewString(g.ExternalID)
	}
	return res
}
