package scimpatch_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/elimity-com/scim"
	scimerr "github.com/elimity-com/scim/errors"
	"github.com/elimity-com/scim/optional"
	"github.com/elimity-com/scim/schema"
	"github.com/scim2/filter-parser/v2"

	"github.com/tenure-io/tenure/internal/scimpatch"
)

const enterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

// tenureExt stands for an extension with a read-only attribute, as Tenure's
// inbound server reports a user's HR ID.
var tenureExt = schema.Schema{
	ID: "urn:example:params:scim:schemas:extension:tenure:2.0:User",
	Attributes: []schema.CoreAttribute{
		schema.SimpleCoreAttribute(schema.SimpleStringParams(schema.StringParams{
			Name:       "hrId",
			Mutability: schema.AttributeMutabilityReadOnly(),
		})),
	},
}

// peer is a SCIM server on github.com/elimity-com/scim whose handlers keep
// resources in memory and patch them with Patchers. It is served over HTTP, so
// each operation reaches the Patcher parsed and validated by the library, as in
// the sandbox apps and Tenure's inbound server.
type peer struct {
	t    *testing.T
	url  string
	mu   sync.Mutex
	docs map[string]map[string]any // by id; users and groups share the space
}

func serve(t *testing.T, opts scimpatch.Options) *peer {
	t.Helper()
	p := &peer{t: t, docs: map[string]map[string]any{}}
	user, group, ent := schema.CoreUserSchema(), schema.CoreGroupSchema(), schema.ExtensionEnterpriseUser()
	srv, err := scim.NewServer(&scim.ServerArgs{
		ServiceProviderConfig: &scim.ServiceProviderConfig{SupportPatch: true},
		ResourceTypes: []scim.ResourceType{
			{
				ID: optional.NewString("User"), Name: "User", Endpoint: "/Users", Schema: user,
				SchemaExtensions: []scim.SchemaExtension{{Schema: ent}, {Schema: tenureExt}},
				Handler:          handler{p, scimpatch.New(user, []schema.Schema{ent, tenureExt}, opts)},
			},
			{
				ID: optional.NewString("Group"), Name: "Group", Endpoint: "/Groups", Schema: group,
				Handler: handler{p, scimpatch.New(group, nil, opts)},
			},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	p.url = hs.URL
	return p
}

// put stores a resource as it stands before a test patches it.
func (p *peer) put(id string, doc map[string]any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.docs[id] = doc
}

func (p *peer) get(id string) map[string]any {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.docs[id]
}

// patch sends a PATCH of the operations to path (as "Users/1") and returns the
// status and the decoded answer.
func (p *peer) patch(path string, ops ...map[string]any) (int, map[string]any) {
	p.t.Helper()
	body, err := json.Marshal(map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"}, "Operations": ops})
	if err != nil {
		p.t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPatch, p.url+"/"+path, bytes.NewReader(body))
	if err != nil {
		p.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/scim+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		p.t.Fatalf("PATCH %s: %d with an undecodable body: %v", path, resp.StatusCode, err)
	}
	return resp.StatusCode, out
}

// ok patches and fails the test unless the answer is 200; it returns the
// stored resource.
func (p *peer) ok(path string, ops ...map[string]any) map[string]any {
	p.t.Helper()
	if status, body := p.patch(path, ops...); status != http.StatusOK {
		p.t.Fatalf("PATCH %s %v: %d %v", path, ops, status, body)
	}
	_, id, _ := strings.Cut(path, "/")
	return p.get(id)
}

// refused patches and fails the test unless the answer is 400 with scimType.
func (p *peer) refused(path, scimType string, ops ...map[string]any) {
	p.t.Helper()
	status, body := p.patch(path, ops...)
	if status != http.StatusBadRequest || body["scimType"] != scimType {
		p.t.Fatalf("PATCH %s %v: %d %v, want 400 %s", path, ops, status, body, scimType)
	}
}

// handler is one resource type's scim.ResourceHandler; only Patch matters.
type handler struct {
	p       *peer
	patcher *scimpatch.Patcher
}

func (h handler) Patch(_ *http.Request, id string, ops []scim.PatchOperation) (scim.Resource, error) {
	old := h.p.get(id)
	if old == nil {
		return scim.Resource{}, scimerr.ScimErrorResourceNotFound(id)
	}
	doc, err := h.patcher.Apply(old, ops)
	if err != nil {
		return scim.Resource{}, err
	}
	h.p.put(id, doc)
	return scim.Resource{ID: id, Attributes: doc}, nil
}

func (h handler) Create(*http.Request, scim.ResourceAttributes) (scim.Resource, error) {
	return scim.Resource{}, scimerr.ScimErrorInternal
}

func (h handler) Get(*http.Request, string) (scim.Resource, error) {
	return scim.Resource{}, scimerr.ScimErrorInternal
}

func (h handler) GetAll(*http.Request, scim.ListRequestParams) (scim.Page, error) {
	return scim.Page{}, scimerr.ScimErrorInternal
}

func (h handler) Replace(*http.Request, string, scim.ResourceAttributes) (scim.Resource, error) {
	return scim.Resource{}, scimerr.ScimErrorInternal
}

func (h handler) Delete(*http.Request, string) error { return scimerr.ScimErrorInternal }

func email(typ, value string) map[string]any { return map[string]any{"type": typ, "value": value} }

func member(id string) map[string]any { return map[string]any{"value": id} }

// ann is a user as the tests find her before each PATCH.
func ann() map[string]any {
	return map[string]any{
		"userName": "ann@example.com",
		"active":   true,
		"title":    "Engineer",
		"name":     map[string]any{"givenName": "Ann", "familyName": "Lee"},
		"emails":   []any{email("work", "ann@work.example"), email("home", "ann@home.example")},
		enterprise: map[string]any{"department": "Eng"},
	}
}

// annWithoutExtensions is ann with no extension attributes at all.
func annWithoutExtensions() map[string]any {
	doc := ann()
	delete(doc, enterprise)
	return doc
}

func want(t *testing.T, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s = %#v, want %#v", what, got, want)
	}
}

func TestReplaceWithPath(t *testing.T) {
	p := serve(t, scimpatch.Options{})
	p.put("1", ann())
	got := p.ok("Users/1",
		map[string]any{"op": "replace", "path": "active", "value": false},
		map[string]any{"op": "Replace", "path": "name.givenName", "value": "Anne"},
		map[string]any{"op": "replace", "path": "externalId", "value": "HR-1"},
	)
	want(t, "active", got["active"], false)
	want(t, "name", got["name"], map[string]any{"givenName": "Anne", "familyName": "Lee"})
	want(t, "externalId", got["externalId"], "HR-1")
	want(t, "emails", got["emails"], ann()["emails"])
}

func TestReplaceWithoutPath(t *testing.T) {
	// Okta sends attribute paths, and an extension's attributes under its URI.
	p := serve(t, scimpatch.Options{})
	p.put("1", ann())
	got := p.ok("Users/1", map[string]any{"op": "replace", "value": map[string]any{
		"active":          false,
		"name.familyName": "Li",
		enterprise:        map[string]any{"department": "Sales", "costCenter": "42"},
	}})
	want(t, "active", got["active"], false)
	want(t, "name", got["name"], map[string]any{"givenName": "Ann", "familyName": "Li"})
	want(t, "enterprise", got[enterprise], map[string]any{"department": "Sales", "costCenter": "42"})
}

func TestNamesAreCaseInsensitive(t *testing.T) {
	// Stored under the schema's spelling, whatever the request's.
	p := serve(t, scimpatch.Options{})
	p.put("1", ann())
	got := p.ok("Users/1",
		map[string]any{"op": "replace", "path": "NAME.GIVENNAME", "value": "Anne"},
		map[string]any{"op": "replace", "path": "Title", "value": "Lead"},
		map[string]any{"op": "replace", "value": map[string]any{"DisplayName": "Ann Lee"}},
		map[string]any{"op": "replace", "path": `Emails[Type eq "work"].Value`, "value": "anne@work.example"},
		map[string]any{"op": "add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:Division", "value": "R&D"},
	)
	want(t, "name", got["name"], map[string]any{"givenName": "Anne", "familyName": "Lee"})
	want(t, "title", got["title"], "Lead")
	want(t, "displayName", got["displayName"], "Ann Lee")
	want(t, "emails", got["emails"], []any{email("work", "anne@work.example"), email("home", "ann@home.example")})
	want(t, "enterprise", got[enterprise], map[string]any{"department": "Eng", "division": "R&D"})
	for _, k := range []string{"NAME", "Title", "DisplayName", "Emails"} {
		if _, ok := got[k]; ok {
			t.Errorf("stored under the request's spelling %q: %v", k, got)
		}
	}
}

func TestAdd(t *testing.T) {
	p := serve(t, scimpatch.Options{})
	p.put("1", ann())
	got := p.ok("Users/1",
		// A value already there by its "value" is not added again.
		map[string]any{"op": "add", "path": "emails", "value": []any{email("other", "ann@work.example"), email("other", "ann@other.example")}},
		// Sub-attributes not given keep their values.
		map[string]any{"op": "add", "path": "name", "value": map[string]any{"middleName": "M"}},
		map[string]any{"op": "add", "value": map[string]any{"nickName": "Annie"}},
	)
	want(t, "emails", got["emails"], []any{email("work", "ann@work.example"), email("home", "ann@home.example"), email("other", "ann@other.example")})
	want(t, "name", got["name"], map[string]any{"givenName": "Ann", "familyName": "Lee", "middleName": "M"})
	want(t, "nickName", got["nickName"], "Annie")

	p.put("g", map[string]any{"displayName": "eng", "members": []any{member("u1")}})
	got = p.ok("Groups/g", map[string]any{"op": "add", "path": "members", "value": []any{member("u1"), member("u2")}})
	want(t, "members", got["members"], []any{member("u1"), member("u2")})
}

func TestReplaceMultiValuedReplacesTheList(t *testing.T) {
	p := serve(t, scimpatch.Options{})
	p.put("1", ann())
	got := p.ok("Users/1", map[string]any{"op": "replace", "path": "emails", "value": []any{email("work", "new@work.example")}})
	want(t, "emails", got["emails"], []any{email("work", "new@work.example")})
}

func TestRemove(t *testing.T) {
	p := serve(t, scimpatch.Options{})
	p.put("1", ann())
	got := p.ok("Users/1",
		map[string]any{"op": "remove", "path": "title"},
		map[string]any{"op": "remove", "path": "name.familyName"},
		map[string]any{"op": "remove", "path": `emails[type eq "home"]`},
	)
	if _, ok := got["title"]; ok {
		t.Errorf("title after remove: %v", got)
	}
	want(t, "name", got["name"], map[string]any{"givenName": "Ann"})
	want(t, "emails", got["emails"], []any{email("work", "ann@work.example")})

	// The last value gone, the attribute is gone: SCIM makes no difference.
	got = p.ok("Users/1", map[string]any{"op": "remove", "path": `emails[type eq "work"]`})
	if _, ok := got["emails"]; ok {
		t.Errorf("emails after removing every value: %v", got["emails"])
	}
}

func TestRemoveMembers(t *testing.T) {
	p := serve(t, scimpatch.Options{})
	p.put("g", map[string]any{"displayName": "eng", "members": []any{member("u1"), member("u2"), member("u3")}})
	// Okta names the member in a filter; Entra in the value.
	got := p.ok("Groups/g", map[string]any{"op": "remove", "path": `members[value eq "u1"]`})
	want(t, "members", got["members"], []any{member("u2"), member("u3")})
	got = p.ok("Groups/g", map[string]any{"op": "Remove", "path": "members", "value": []any{member("u3")}})
	want(t, "members", got["members"], []any{member("u2")})
}

func TestRemovingWhatIsAbsentIsDone(t *testing.T) {
	p := serve(t, scimpatch.Options{})
	doc := annWithoutExtensions()
	p.put("1", doc)
	got := p.ok("Users/1",
		map[string]any{"op": "remove", "path": "nickName"},
		map[string]any{"op": "remove", "path": "addresses.locality"},
		map[string]any{"op": "remove", "path": `emails[type eq "other"]`},
		map[string]any{"op": "remove", "path": enterprise + ":department"},
	)
	want(t, "resource", got, doc)

	p.put("g", map[string]any{"displayName": "eng", "members": []any{member("u1")}})
	got = p.ok("Groups/g", map[string]any{"op": "remove", "path": `members[value eq "u9"]`})
	want(t, "members", got["members"], []any{member("u1")})
}

func TestFilteredSubAttribute(t *testing.T) {
	p := serve(t, scimpatch.Options{})
	p.put("1", ann())
	got := p.ok("Users/1", map[string]any{"op": "replace", "path": `emails[type eq "work"].value`, "value": "anne@work.example"})
	want(t, "emails", got["emails"], []any{email("work", "anne@work.example"), email("home", "ann@home.example")})
	got = p.ok("Users/1", map[string]any{"op": "add", "path": `emails[type eq "home"].primary`, "value": true})
	want(t, "home email", got["emails"].([]any)[1], map[string]any{"type": "home", "value": "ann@home.example", "primary": true})
	got = p.ok("Users/1", map[string]any{"op": "remove", "path": `emails[type eq "home"].primary`})
	want(t, "home email", got["emails"].([]any)[1], email("home", "ann@home.example"))
}

func TestFilteredValueReplacesOrMerges(t *testing.T) {
	op := map[string]any{"op": "replace", "path": `emails[type eq "work"]`, "value": map[string]any{"value": "anne@work.example"}}

	strict := serve(t, scimpatch.Options{})
	strict.put("1", ann())
	got := strict.ok("Users/1", op)
	want(t, "strict emails", got["emails"], []any{map[string]any{"value": "anne@work.example"}, email("home", "ann@home.example")})

	merging := serve(t, scimpatch.Options{MergeMatched: true})
	merging.put("1", ann())
	got = merging.ok("Users/1", op)
	want(t, "merged emails", got["emails"], []any{email("work", "anne@work.example"), email("home", "ann@home.example")})
}

func TestFilterMatchingNothing(t *testing.T) {
	doc := ann()
	doc["emails"] = []any{email("home", "ann@home.example")}
	op := map[string]any{"op": "replace", "path": `emails[type eq "work"].value`, "value": "ann@work.example"}

	strict := serve(t, scimpatch.Options{})
	strict.put("1", doc)
	strict.refused("Users/1", "noTarget", op)
	want(t, "stored after a refused PATCH", strict.get("1"), doc)

	// Entra sets a work email on a user who has none.
	creating := serve(t, scimpatch.Options{CreateUnmatched: true})
	creating.put("1", doc)
	got := creating.ok("Users/1", op)
	want(t, "emails", got["emails"], []any{email("home", "ann@home.example"), email("work", "ann@work.example")})
	// A filter that does not name one value makes nothing.
	creating.put("1", doc)
	creating.refused("Users/1", "noTarget", map[string]any{"op": "replace", "path": `emails[type ne "home"].value`, "value": "x@example.com"})
	creating.refused("Users/1", "noTarget", map[string]any{"op": "replace", "path": `emails[type eq "work" and primary eq true].value`, "value": "x@example.com"})
}

func TestExtensionAttributes(t *testing.T) {
	p := serve(t, scimpatch.Options{})
	doc := annWithoutExtensions()
	p.put("1", doc)
	got := p.ok("Users/1",
		map[string]any{"op": "add", "path": enterprise + ":department", "value": "Sales"},
		map[string]any{"op": "add", "path": enterprise + ":manager", "value": map[string]any{"value": "m1"}},
	)
	want(t, "enterprise", got[enterprise], map[string]any{"department": "Sales", "manager": map[string]any{"value": "m1"}})
	got = p.ok("Users/1", map[string]any{"op": "replace", "path": enterprise + ":manager.value", "value": "m2"})
	want(t, "manager", got[enterprise].(map[string]any)["manager"], map[string]any{"value": "m2"})
	// A core attribute named with the core schema's URI is the core attribute.
	got = p.ok("Users/1", map[string]any{"op": "replace", "path": "urn:ietf:params:scim:schemas:core:2.0:User:title", "value": "Lead"})
	want(t, "title", got["title"], "Lead")
}

func TestEmptiedExtension(t *testing.T) {
	ops := []map[string]any{{"op": "remove", "path": enterprise + ":department"}}

	keeping := serve(t, scimpatch.Options{})
	keeping.put("1", ann())
	got := keeping.ok("Users/1", ops...)
	want(t, "enterprise", got[enterprise], map[string]any{})

	dropping := serve(t, scimpatch.Options{DropEmptyExtensions: true})
	dropping.put("1", ann())
	got = dropping.ok("Users/1", ops...)
	if _, ok := got[enterprise]; ok {
		t.Errorf("emptied extension kept: %v", got)
	}
}

func TestReadOnlyAttributesAreRefused(t *testing.T) {
	p := serve(t, scimpatch.Options{})
	p.put("1", ann())
	// The user's groups are the groups' to say (RFC 7643 4.1.2).
	p.refused("Users/1", "mutability", map[string]any{"op": "replace", "path": "groups", "value": []any{member("g1")}})
	p.refused("Users/1", "mutability", map[string]any{"op": "add", "value": map[string]any{tenureExt.ID: map[string]any{"hrId": "HR-9"}}})
	p.refused("Users/1", "mutability", map[string]any{"op": "remove", "path": tenureExt.ID + ":hrId"})
	want(t, "stored after refused PATCHes", p.get("1"), ann())
}

func TestFailedPatchChangesNothing(t *testing.T) {
	p := serve(t, scimpatch.Options{})
	p.put("1", ann())
	p.refused("Users/1", "noTarget",
		map[string]any{"op": "replace", "path": "active", "value": false},
		map[string]any{"op": "replace", "path": `emails[type eq "work"].value`, "value": "anne@work.example"},
		map[string]any{"op": "replace", "path": `emails[type eq "other"].value`, "value": "x@example.com"},
	)
	want(t, "stored", p.get("1"), ann())
}

func TestApplyLeavesItsInputAlone(t *testing.T) {
	pt := scimpatch.New(schema.CoreUserSchema(), []schema.Schema{schema.ExtensionEnterpriseUser()}, scimpatch.Options{MergeMatched: true})
	doc := ann()
	out, err := pt.Apply(doc, []scim.PatchOperation{
		{Op: "replace", Path: path(t, `emails[type eq "work"]`), Value: map[string]any{"value": "anne@work.example"}},
		{Op: "replace", Path: path(t, "name.givenName"), Value: "Anne"},
		{Op: "remove", Path: path(t, enterprise+":department")},
	})
	if err != nil {
		t.Fatal(err)
	}
	want(t, "input", doc, ann())
	want(t, "output name", out["name"], map[string]any{"givenName": "Anne", "familyName": "Lee"})
}

func TestApplyStoresTheSchemasSpelling(t *testing.T) {
	// The library hands handlers paths in the request's spelling, or its own;
	// either way the attributes land under the schema's.
	pt := scimpatch.New(schema.CoreUserSchema(), []schema.Schema{schema.ExtensionEnterpriseUser()}, scimpatch.Options{})
	out, err := pt.Apply(ann(), []scim.PatchOperation{
		{Op: "replace", Path: path(t, "NAME.GIVENNAME"), Value: "Anne"},
		{Op: "replace", Path: path(t, `EMAILS[TYPE eq "work"].VALUE`), Value: "anne@work.example"},
		{Op: "add", Value: map[string]any{"NickName": "Annie", "URN:IETF:PARAMS:SCIM:SCHEMAS:EXTENSION:ENTERPRISE:2.0:USER": map[string]any{"Division": "R&D"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	want(t, "name", out["name"], map[string]any{"givenName": "Anne", "familyName": "Lee"})
	want(t, "emails", out["emails"], []any{email("work", "anne@work.example"), email("home", "ann@home.example")})
	want(t, "nickName", out["nickName"], "Annie")
	want(t, "enterprise", out[enterprise], map[string]any{"department": "Eng", "division": "R&D"})
}

func TestUnknownPathsAreInvalid(t *testing.T) {
	// The library refuses these first; a Patcher used without it must too.
	pt := scimpatch.New(schema.CoreUserSchema(), nil, scimpatch.Options{})
	for _, p := range []string{"nickname.first", "shoeSize", `emails[type eq "work"].colour`, "urn:example:nope:size"} {
		_, err := pt.Apply(ann(), []scim.PatchOperation{{Op: "replace", Path: path(t, p), Value: "x"}})
		if se, ok := err.(scimerr.ScimError); !ok || se.ScimType != scimerr.ScimTypeInvalidPath {
			t.Errorf("replace %s: %v, want invalidPath", p, err)
		}
	}
	_, err := pt.Apply(ann(), []scim.PatchOperation{{Op: "replace", Value: "not an object"}})
	if se, ok := err.(scimerr.ScimError); !ok || se.ScimType != scimerr.ScimTypeInvalidValue {
		t.Errorf("replace without a path or an object: %v, want invalidValue", err)
	}
}

func path(t *testing.T, s string) *filter.Path {
	t.Helper()
	p, err := filter.ParsePath([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return &p
}
