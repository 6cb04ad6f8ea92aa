package scimserver

import (
	"context"
	"maps"
	"net/http"
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

// users is the scim.ResourceHandler of /Users.
type users struct{ s *Server }

var userPatcher = scimpatch.New(userSchema, userExts, patchOptions)

// userExts are the User schema's extensions.
var userExts = []schema.Schema{enterpriseSchema, tenureSchema}

// Create stores a new user and, when it is active, hires the person.
func (h *users) Create(r *http.Request, attrs scim.ResourceAttributes) (scim.Resource, error) {
	ctx := r.Context()
	u := directory.User{ID: newID(), Active: true}
	if err := readUser(attrs, &u); err != nil {
		return scim.Resource{}, err
	}
	u.HRID = employeeNumber(attrs)
	if u.HRID == "" {
		u.HRID = hrIDPrefix + u.ID
	} else if !intake.ValidHRID(u.HRID) {
		return scim.Resource{}, invalidValue(enterpriseSchema.ID + ":employeeNumber must be 1 to 64 letters, digits or . _ - to be an HR ID")
	}
	if err := h.unique(ctx, u); err != nil {
		return scim.Resource{}, err
	}
	if err := h.s.commit(ctx, []change{{new: u}}, nil); err != nil {
		return scim.Resource{}, h.s.scimError(ctx, err)
	}
	return h.get(ctx, u.ID)
}

// unique refuses a new user whose userName or HR ID is taken before any event
// is sent; the store checks again as it writes.
func (h *users) unique(ctx context.Context, u directory.User) error {
	taken, n, err := h.s.dir.ListSCIMUsers(ctx, directory.UserQuery{UserName: u.UserName, Limit: 1})
	if err != nil {
		return h.s.scimError(ctx, err)
	}
	if n > 0 && taken[0].ID != u.ID {
		return h.s.scimError(ctx, tenure.Errorf(tenure.ECONFLICT, "userName %q is already taken", u.UserName))
	}
	taken, n, err = h.s.dir.ListSCIMUsers(ctx, directory.UserQuery{HRID: u.HRID, Limit: 1})
	if err != nil {
		return h.s.scimError(ctx, err)
	}
	if n > 0 && taken[0].ID != u.ID {
		return h.s.scimError(ctx, tenure.Errorf(tenure.ECONFLICT, "employeeNumber %q is already user %s's", u.HRID, taken[0].ID))
	}
	return nil
}

// Get reads one user.
func (h *users) Get(r *http.Request, id string) (scim.Resource, error) {
	return h.get(r.Context(), id)
}

func (h *users) get(ctx context.Context, id string) (scim.Resource, error) {
	u, err := h.s.dir.GetSCIMUser(ctx, id)
	if err != nil {
		return scim.Resource{}, h.s.scimError(ctx, err)
	}
	status, err := h.s.status(ctx, u)
	if err != nil {
		return scim.Resource{}, h.s.scimError(ctx, err)
	}
	return userResource(u, status), nil
}

// GetAll lists one page of the users that pass the filter, oldest first.
func (h *users) GetAll(r *http.Request, params scim.ListRequestParams) (scim.Page, error) {
	ctx := r.Context()
	if params.FilterValidator == nil {
		list, total, err := h.s.dir.ListSCIMUsers(ctx, directory.UserQuery{Limit: max(params.Count, 1), Offset: params.StartIndex - 1})
		if err != nil {
			return scim.Page{}, h.s.scimError(ctx, err)
		}
		if params.Count == 0 {
			list = nil
		}
		return h.page(ctx, list, total)
	}
	// Read the rows the filter can match, then judge each with the whole filter.
	q := planUsers(params.FilterValidator.GetFilter())
	candidates, _, err := h.s.dir.ListSCIMUsers(ctx, q)
	if err != nil {
		return scim.Page{}, h.s.scimError(ctx, err)
	}
	needStatus := strings.Contains(strings.ToLower(r.URL.Query().Get("filter")), "status")
	var hits []directory.User
	for _, u := range candidates {
		status := ""
		if needStatus {
			if status, err = h.s.status(ctx, u); err != nil {
				return scim.Page{}, h.s.scimError(ctx, err)
			}
		}
		if matches(params.FilterValidator, userFilterSchema, userExts, userView(u, status)) {
			hits = append(hits, u)
		}
	}
	start := min(params.StartIndex-1, len(hits))
	end := min(start+params.Count, len(hits))
	return h.page(ctx, hits[start:end], len(hits))
}

func (h *users) page(ctx context.Context, list []directory.User, total int) (scim.Page, error) {
	p := scim.Page{TotalResults: total, Resources: make([]scim.Resource, 0, len(list))}
	for _, u := range list {
		status, err := h.s.status(ctx, u)
		if err != nil {
			return scim.Page{}, h.s.scimError(ctx, err)
		}
		p.Resources = append(p.Resources, userResource(u, status))
	}
	return p, nil
}

// Replace replaces a user's attributes (PUT). A PUT without active keeps the
// user's active flag, rather than reading its absence as a termination.
func (h *users) Replace(r *http.Request, id string, attrs scim.ResourceAttributes) (scim.Resource, error) {
	ctx := r.Context()
	old, err := h.s.dir.GetSCIMUser(ctx, id)
	if err != nil {
		return scim.Resource{}, h.s.scimError(ctx, err)
	}
	u := directory.User{ID: id, Active: old.Active, Groups: old.Groups}
	if err := readUser(attrs, &u); err != nil {
		return scim.Resource{}, err
	}
	return h.update(ctx, old, u)
}

// Patch applies PATCH operations, all or nothing.
func (h *users) Patch(r *http.Request, id string, ops []scim.PatchOperation) (scim.Resource, error) {
	ctx := r.Context()
	old, err := h.s.dir.GetSCIMUser(ctx, id)
	if err != nil {
		return scim.Resource{}, h.s.scimError(ctx, err)
	}
	doc := make(map[string]any, len(old.Attributes)+1)
	maps.Copy(doc, old.Attributes)
	if old.ExternalID != "" {
		doc["externalId"] = old.ExternalID
	}
	doc, err = userPatcher.Apply(doc, ops)
	if err != nil {
		return scim.Resource{}, err
	}
	u := directory.User{ID: id, Active: old.Active, Groups: old.Groups}
	if err := readUser(doc, &u); err != nil {
		return scim.Resource{}, err
	}
	return h.update(ctx, old, u)
}

func (h *users) update(ctx context.Context, old, u directory.User) (scim.Resource, error) {
	u.HRID = old.HRID
	if u.UserName != old.UserName {
		if err := h.unique(ctx, u); err != nil {
			return scim.Resource{}, err
		}
	}
	if err := h.s.commit(ctx, []change{{old: &old, new: u}}, nil); err != nil {
		return scim.Resource{}, h.s.scimError(ctx, err)
	}
	return h.get(ctx, u.ID)
}

// Delete removes a user, terminates the person, and takes them out of their groups.
func (h *users) Delete(r *http.Request, id string) error {
	ctx := r.Context()
	old, err := h.s.dir.GetSCIMUser(ctx, id)
	if err != nil {
		return h.s.scimError(ctx, err)
	}
	var gws []directory.GroupWrite
	for _, ref := range old.Groups {
		g, err := h.s.dir.GetSCIMGroup(ctx, ref.ID)
		if tenure.ErrorCode(err) == tenure.ENOTFOUND {
			continue
		}
		if err != nil {
			return h.s.scimError(ctx, err)
		}
		prev := g.Version
		g.Members = slices.DeleteFunc(slices.Clone(g.Members), func(m string) bool { return m == id })
		g.Version, g.UpdatedAt = prev+1, h.s.now().UTC()
		gws = append(gws, directory.GroupWrite{Group: g, Prev: prev})
	}
	if err := h.s.commit(ctx, []change{{old: &old, del: true}}, gws); err != nil {
		return h.s.scimError(ctx, err)
	}
	return nil
}

// status is the person's status in Tenure's read model, or "" before Tenure has
// processed them.
func (s *Server) status(ctx context.Context, u directory.User) (string, error) {
	e, err := s.store.GetEmployee(ctx, u.HRID)
	switch tenure.ErrorCode(err) {
	case "":
		return string(e.Status), nil
	case tenure.ENOTFOUND:
		return "", nil
	}
	return "", err
}

// userResource is a user as the library returns it.
func userResource(u directory.User, status string) scim.Resource {
	attrs := make(scim.ResourceAttributes, len(u.Attributes)+2)
	for k, v := range u.Attributes {
		attrs[k] = v
	}
	if groups := groupsAttr(u); len(groups) > 0 {
		attrs["groups"] = groups
	}
	ext := map[string]any{"hrId": u.HRID}
	if status != "" {
		ext["status"] = status
	}
	attrs[TenureSchemaID] = ext
	created, modified := u.CreatedAt, u.UpdatedAt
	res := scim.Resource{
		ID:         u.ID,
		Attributes: attrs,
		Meta:       scim.Meta{Created: &created, LastModified: &modified, Version: etag(u.Version)},
	}
	if u.ExternalID != "" {
		res.ExternalID = optional.NewString(u.ExternalID)
	}
	return res
}
