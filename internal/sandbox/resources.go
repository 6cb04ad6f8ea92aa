package sandbox

import (
	"fmt"
	"maps"
	"net/http"
	"reflect"
	"time"

	"github.com/elimity-com/scim"
	scimerr "github.com/elimity-com/scim/errors"
	efilter "github.com/elimity-com/scim/filter"
	"github.com/elimity-com/scim/optional"
	"github.com/elimity-com/scim/schema"
	"github.com/scim2/filter-parser/v2"

	"github.com/tenure-io/tenure/internal/scimpatch"
)

// resources is the scim.ResourceHandler of one app's users or groups. Users
// and groups differ in a few places only: which name is unique, the user's
// read-only groups attribute, and the group's members.
type resources struct {
	a     *app
	group bool
	core  schema.Schema   // the core schema plus externalId, which PATCH paths resolve against
	exts  []schema.Schema // schema extensions, such as the enterprise user

	patcher *scimpatch.Patcher // applies PATCH operations against core and exts
}

func newResources(a *app, group bool, core schema.Schema, exts ...schema.Schema) *resources {
	attrs := append(schema.Attributes{}, core.Attributes...)
	core.Attributes = append(attrs, schema.SimpleCoreAttribute(schema.SimpleStringParams(schema.StringParams{
		CaseExact: true,
		Name:      "externalId",
	})))
	return &resources{a: a, group: group, core: core, exts: exts, patcher: scimpatch.New(core, exts, scimpatch.Options{})}
}

func (h *resources) table() *table {
	if h.group {
		return &h.a.groups
	}
	return &h.a.users
}

func (h *resources) key() string {
	if h.group {
		return groupKey
	}
	return userKey
}

// Create stores a new user or group.
func (h *resources) Create(_ *http.Request, attrs scim.ResourceAttributes) (scim.Resource, error) {
	rec, err := h.recordFrom(attrs, true)
	if err != nil {
		return scim.Resource{}, err
	}
	h.a.mu.Lock()
	defer h.a.mu.Unlock()
	if err := h.check(rec, ""); err != nil {
		return scim.Resource{}, err
	}
	now := time.Now().UTC()
	rec.ID, rec.Created, rec.Modified, rec.Version = newID(), now, now, 1
	h.store(rec, nil)
	return h.resource(rec), nil
}

// Get reads one user or group.
func (h *resources) Get(_ *http.Request, id string) (scim.Resource, error) {
	h.a.mu.RLock()
	defer h.a.mu.RUnlock()
	rec, ok := h.table().byID[id]
	if !ok {
		return scim.Resource{}, scimerr.ScimErrorResourceNotFound(id)
	}
	return h.resource(rec), nil
}

// GetAll lists one page of the users or groups that pass the filter, oldest first.
func (h *resources) GetAll(_ *http.Request, params scim.ListRequestParams) (scim.Page, error) {
	h.a.mu.RLock()
	defer h.a.mu.RUnlock()
	t := h.table()
	var matches []string
	switch {
	case params.FilterValidator == nil:
		matches = t.order
	default:
		if id, indexed := h.lookup(params.FilterValidator); indexed {
			if id != "" {
				matches = []string{id}
			}
			break
		}
		for _, id := range t.order {
			if passes(*params.FilterValidator, h.filterView(t.byID[id])) {
				matches = append(matches, id)
			}
		}
	}
	count := max(params.Count, 0)
	if n := h.a.getDialect().PageSize; n > 0 {
		count = n // the dialect of an app that ignores count
	}
	start := min(max(params.StartIndex-1, 0), len(matches))
	end := min(start+count, len(matches))
	page := scim.Page{TotalResults: len(matches), Resources: make([]scim.Resource, 0, end-start)}
	for _, id := range matches[start:end] {
		page.Resources = append(page.Resources, h.resource(t.byID[id]))
	}
	return page, nil
}

// Replace replaces all of a user's or group's attributes.
func (h *resources) Replace(_ *http.Request, id string, attrs scim.ResourceAttributes) (scim.Resource, error) {
	rec, err := h.recordFrom(attrs, true)
	if err != nil {
		return scim.Resource{}, err
	}
	h.a.mu.Lock()
	defer h.a.mu.Unlock()
	old, ok := h.table().byID[id]
	if !ok {
		return scim.Resource{}, scimerr.ScimErrorResourceNotFound(id)
	}
	rec.ID = id
	if err := h.check(rec, id); err != nil {
		return scim.Resource{}, err
	}
	rec.Created, rec.Modified, rec.Version = old.Created, time.Now().UTC(), old.Version+1
	h.store(rec, old)
	return h.resource(rec), nil
}

// Delete deletes a user or group and takes it out of every group.
func (h *resources) Delete(_ *http.Request, id string) error {
	h.a.mu.Lock()
	defer h.a.mu.Unlock()
	rec, ok := h.table().byID[id]
	if !ok {
		return scimerr.ScimErrorResourceNotFound(id)
	}
	h.table().remove(id, h.key())
	if h.group {
		for _, m := range memberIDs(rec) {
			h.a.unlink(m, id)
		}
	}
	// Groups may list users and, nested, other groups.
	now := time.Now().UTC()
	for gid := range h.a.memberOf[id] {
		g, ok := h.a.groups.byID[gid]
		if !ok {
			continue
		}
		ng := *g
		ng.Attrs = maps.Clone(g.Attrs)
		var kept []any
		for _, m := range asList(g.Attrs["members"]) {
			if str(asMap(m), "value") != id {
				kept = append(kept, m)
			}
		}
		setList(ng.Attrs, "members", kept)
		ng.Modified, ng.Version = now, g.Version+1
		h.a.groups.put(&ng, groupKey)
	}
	delete(h.a.memberOf, id)
	h.a.changed()
	return nil
}

// Patch applies RFC 7644 PATCH operations, all or nothing, and answers with
// the resource, or, under the patchNoContent dialect, with nothing (204).
func (h *resources) Patch(_ *http.Request, id string, ops []scim.PatchOperation) (scim.Resource, error) {
	res, err := h.applyPatch(id, ops)
	if err == nil && h.a.getDialect().PatchNoContent {
		return scim.Resource{}, nil
	}
	return res, err
}

func (h *resources) applyPatch(id string, ops []scim.PatchOperation) (scim.Resource, error) {
	h.a.mu.Lock()
	defer h.a.mu.Unlock()
	old, ok := h.table().byID[id]
	if !ok {
		return scim.Resource{}, scimerr.ScimErrorResourceNotFound(id)
	}
	if rec, ok, err := h.addMembers(old, ops); ok {
		if err != nil {
			return scim.Resource{}, err
		}
		return h.resource(rec), nil
	}
	attrs, err := h.patch(old, ops)
	if err != nil {
		return scim.Resource{}, err
	}
	rec, err := h.recordFrom(attrs, false)
	if err != nil {
		return scim.Resource{}, err
	}
	rec.ID = id
	if err := h.check(rec, id); err != nil {
		return scim.Resource{}, err
	}
	if rec.ExternalID == old.ExternalID && reflect.DeepEqual(rec.Attrs, old.Attrs) {
		// Nothing changed: keep the version, so ETags stay valid.
		return h.resource(old), nil
	}
	rec.Created, rec.Modified, rec.Version = old.Created, time.Now().UTC(), old.Version+1
	h.store(rec, old)
	return h.resource(rec), nil
}

// recordFrom makes an unsaved record of validated attributes. Passwords are
// dropped: the sandbox has no logins and keeps no secrets.
func (h *resources) recordFrom(attrs map[string]any, whole bool) (*record, error) {
	rec := &record{Attrs: make(map[string]any, len(attrs))}
	for k, v := range attrs {
		switch k {
		case "externalId":
			rec.ExternalID, _ = v.(string)
		case "password", "id", "meta", "schemas", "groups":
		default:
			rec.Attrs[k] = v
		}
	}
	for _, s := range append([]schema.Schema{h.core}, h.exts...) {
		container := rec.Attrs
		if s.ID != h.core.ID {
			container = asMap(rec.Attrs[s.ID])
		}
		for _, attr := range s.Attributes {
			if m, ok := container[attr.Name()].(map[string]any); ok && attr.MultiValued() {
				// A lone complex value where a list belongs is a one-element list.
				container[attr.Name()] = []any{m}
			}
		}
	}
	if !h.group {
		if h.a.getDialect().NoActive {
			delete(rec.Attrs, "active")
		} else if _, ok := rec.Attrs["active"]; !ok && whole {
			rec.Attrs["active"] = true
		}
	}
	if str(rec.Attrs, h.key()) == "" {
		return nil, scimerr.ScimError{
			ScimType: scimerr.ScimTypeInvalidValue,
			Detail:   h.key() + " is required",
			Status:   http.StatusBadRequest,
		}
	}
	return rec, nil
}

// check enforces uniqueness and, for groups, that members exist. The caller
// holds a.mu; rec is not stored yet, so check may tidy its members.
func (h *resources) check(rec *record, self string) error {
	t := h.table()
	if id, ok := t.byKey[keyOf(rec, h.key())]; ok && id != self {
		return conflict(fmt.Sprintf("%s %q is already taken", h.key(), str(rec.Attrs, h.key())))
	}
	if rec.ExternalID != "" {
		if id, ok := t.byExt[rec.ExternalID]; ok && id != self {
			return conflict(fmt.Sprintf("externalId %q is already taken", rec.ExternalID))
		}
	}
	if !h.group {
		return nil
	}
	seen := map[string]bool{}
	var members []any
	for _, m := range asList(rec.Attrs["members"]) {
		v := str(asMap(m), "value")
		if err := h.memberProblem(v, self); err != nil {
			return err
		}
		if seen[v] && !h.a.getDialect().DuplicateMembers {
			continue
		}
		seen[v] = true
		members = append(members, m)
	}
	setList(rec.Attrs, "members", members)
	return nil
}

// memberProblem says what is wrong with id as a member of the group self, if
// anything; the caller holds a.mu.
func (h *resources) memberProblem(id, self string) error {
	_, isUser := h.a.users.byID[id]
	_, isGroup := h.a.groups.byID[id]
	switch {
	case id == "":
		return invalidValue("every member needs a value: the id of a user or group")
	case id == self:
		return invalidValue("a group cannot be a member of itself")
	case !isUser && !isGroup:
		return invalidValue(fmt.Sprintf("member %q is not a user or group of this app", id))
	}
	return nil
}

// store saves rec in place of old (nil for a new record); the caller holds a.mu.
func (h *resources) store(rec, old *record) {
	h.table().put(rec, h.key())
	if h.group {
		if old != nil {
			for _, m := range memberIDs(old) {
				h.a.unlink(m, old.ID)
			}
		}
		for _, m := range memberIDs(rec) {
			h.a.link(m, rec.ID)
		}
	}
	h.a.changed()
}

// resource is rec as the SCIM library returns it; the caller holds a.mu. The
// top-level map is fresh; nested values are shared, which is safe because
// stored records never change.
func (h *resources) resource(rec *record) scim.Resource {
	attrs := maps.Clone(rec.Attrs)
	d := h.a.getDialect()
	switch {
	case h.group && d.NoGroupMembers:
		delete(attrs, "members")
	case !h.group && d.NoActive:
		delete(attrs, "active")
	}
	if !h.group && !d.NoUserGroups {
		if groups := h.groupsAttr(rec.ID); len(groups) > 0 {
			attrs["groups"] = groups
		}
	}
	created, modified := rec.Created, rec.Modified
	res := scim.Resource{
		ID:         rec.ID,
		Attributes: attrs,
		Meta: scim.Meta{
			Created:      &created,
			LastModified: &modified,
			Version:      versionTag(rec),
		},
	}
	if rec.ExternalID != "" {
		res.ExternalID = optional.NewString(rec.ExternalID)
	}
	return res
}

// groupsAttr is a user's read-only groups attribute (RFC 7643 4.1.2).
func (h *resources) groupsAttr(userID string) []any {
	var out []any
	for _, g := range h.a.groupsOf(userID) {
		out = append(out, map[string]any{"value": g.ID, "display": str(g.Attrs, groupKey), "type": "direct"})
	}
	return out
}

// filterView is rec as a filter sees it, common attributes included.
func (h *resources) filterView(rec *record) map[string]any {
	m := maps.Clone(rec.Attrs)
	m["id"] = rec.ID
	if rec.ExternalID != "" {
		m["externalId"] = rec.ExternalID
	}
	if !h.group {
		if groups := h.groupsAttr(rec.ID); len(groups) > 0 {
			m["groups"] = groups
		}
	}
	m["meta"] = map[string]any{
		"resourceType": map[bool]string{false: "User", true: "Group"}[h.group],
		"created":      rec.Created.Format(time.RFC3339),
		"lastModified": rec.Modified.Format(time.RFC3339),
	}
	return m
}

// lookup answers the filters clients send most (userName, externalId, id or a
// group's displayName eq "x") from an index instead of a scan. indexed is false
// when the filter is of another form.
func (h *resources) lookup(v *efilter.Validator) (id string, indexed bool) {
	e, ok := v.GetFilter().(*filter.AttributeExpression)
	if !ok || e.Operator != filter.EQ || e.AttributePath.SubAttribute != nil {
		return "", false
	}
	if uri := e.AttributePath.URI(); uri != "" && uri != h.core.ID {
		return "", false
	}
	want, ok := e.CompareValue.(string)
	if !ok {
		return "", false
	}
	return h.table().find(e.AttributePath.AttributeName, want, h.key())
}

// find is the record whose attribute name equals want, from the index of
// id, externalId or key (userName or displayName, without regard to case);
// indexed is false for any other attribute.
func (t *table) find(name, want, key string) (id string, indexed bool) {
	switch {
	case equalFold(name, "id"):
		if _, ok := t.byID[want]; ok {
			return want, true
		}
		return "", true
	case equalFold(name, "externalId"):
		return t.byExt[want], true
	case equalFold(name, key):
		return t.byKey[lower(want)], true
	}
	return "", false
}

// passes reports whether m passes the filter. The library panics on values of
// unexpected shapes; a resource it cannot judge does not match.
func passes(v efilter.Validator, m map[string]any) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	return v.PassesFilter(m) == nil
}

func conflict(detail string) error {
	return scimerr.ScimError{ScimType: scimerr.ScimTypeUniqueness, Detail: detail, Status: http.StatusConflict}
}

func invalidValue(detail string) error {
	return scimerr.ScimError{ScimType: scimerr.ScimTypeInvalidValue, Detail: detail, Status: http.StatusBadRequest}
}
