package scimserver_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/guard"
	"github.com/tenure-io/tenure/scimserver"
	"github.com/tenure-io/tenure/store"
	"github.com/tenure-io/tenure/store/storetest"
)

const (
	adminToken   = "scim-admin-token-for-tests"
	hrToken      = "scim-hr-token-for-tests"
	auditorToken = "scim-auditor-token-for-tests"
	enterprise   = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
)

// engine records the events handed to Temporal, and can be told to fail.
type engine struct {
	mu      sync.Mutex
	events  []tenure.Event // accepted ones only
	failing error
}

func (e *engine) SubmitEvent(_ context.Context, ev tenure.Event) (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.failing != nil {
		return "", e.failing
	}
	e.events = append(e.events, ev)
	return tenure.WorkflowID(ev.Employee.ID), nil
}
func (e *engine) Lock(context.Context, string, string, string) (string, error)   { return "", nil }
func (e *engine) Unlock(context.Context, string, string, string) (string, error) { return "", nil }
func (e *engine) Decide(context.Context, tenure.Approval, tenure.Decision) (tenure.ApprovalStatus, error) {
	return "", nil
}
func (e *engine) Retry(context.Context, string, string, string, string) (string, error) {
	return "", nil
}
func (e *engine) Reconverge(context.Context, string, string, string) (string, error) {
	return "", nil
}
func (e *engine) Ready(context.Context) error { return nil }
func (e *engine) RunURL(string) string        { return "" }

func (e *engine) submitted() []tenure.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.events)
}

func (e *engine) fail(err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.failing = err
}

type harness struct {
	t   *testing.T
	url string
	db  *store.DB
	eng *engine
}

// tokens authenticates a fixed set of bearer tokens; the real ones (the API's
// StaticTokens and StoreTokens) are tested where they live.
type tokens map[string]tenure.Principal

func (ts tokens) Authenticate(_ context.Context, token string) (tenure.Principal, error) {
	p, ok := ts[token]
	if !ok {
		return tenure.Principal{}, tenure.Errorf(tenure.EUNAUTHORIZED, "the bearer token is not valid")
	}
	return p, nil
}

// newGuard is the blast-radius guard on db, with the default threshold.
func newGuard(t *testing.T, db *store.DB, eng tenure.Engine) *guard.Guard {
	t.Helper()
	g, err := guard.New(guard.Config{Store: db, Engine: eng})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// newHarness serves the SCIM server at its prefix, as cmd/tenure mounts it, on
// a real SQLite store; configure, when given, changes its Config first.
func newHarness(t *testing.T, configure ...func(*scimserver.Config)) *harness {
	db := storetest.SQLite(t)
	eng := &engine{}
	auth := tokens{
		adminToken:   {Name: "okta", Role: tenure.RoleAdmin},
		hrToken:      {Name: "entra", Role: tenure.RoleHR},
		auditorToken: {Name: "auditor", Role: tenure.RoleAuditor},
	}
	cfg := scimserver.Config{Directory: db, Store: db, Engine: eng, Auth: auth, Guard: newGuard(t, db, eng)}
	for _, f := range configure {
		f(&cfg)
	}
	scim, err := scimserver.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(scimserver.Prefix+"/", scim.Handler())
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &harness{t: t, url: srv.URL + scimserver.Prefix, db: db, eng: eng}
}

// do sends a request and decodes the JSON answer.
func (h *harness) do(token, method, path string, body []byte) (int, map[string]any) {
	h.t.Helper()
	req, err := http.NewRequest(method, h.url+path, bytes.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/scim+json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var out map[string]any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			h.t.Fatalf("%s %s: %d, not JSON: %s", method, path, res.StatusCode, raw)
		}
	}
	return res.StatusCode, out
}

// must sends a request and fails the test unless it gets want.
func (h *harness) must(token, method, path string, body []byte, want int) map[string]any {
	h.t.Helper()
	status, out := h.do(token, method, path, body)
	if status != want {
		h.t.Fatalf("%s %s = %d, want %d: %v", method, path, status, want, out)
	}
	return out
}

func fixture(t *testing.T, name string, replace ...string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return []byte(strings.NewReplacer(replace...).Replace(string(b)))
}

func filterQuery(f string) string { return "?filter=" + url.QueryEscape(f) }

// summary is what a test checks of an event.
type summary struct {
	Type       tenure.EventType
	EmployeeID string
}

func summaries(evs []tenure.Event) []summary {
	out := make([]summary, 0, len(evs))
	for _, ev := range evs {
		out = append(out, summary{ev.Type, ev.Employee.ID})
	}
	return out
}

func TestOktaCreatePatchDeactivate(t *testing.T) {
	h := newHarness(t)
	const userName = "ada.lovelace@example.com"

	// Okta first asks whether the user exists.
	list := h.must(adminToken, "GET", "/Users"+filterQuery(`userName eq "`+userName+`"`)+"&startIndex=1&count=100", nil, 200)
	if list["totalResults"] != 0.0 {
		t.Fatalf("before the create, the filter found %v", list)
	}

	created := h.must(adminToken, "POST", "/Users", fixture(t, "okta/create_user.json"), 201)
	id, _ := created["id"].(string)
	hrID := "scim-" + id
	if created["userName"] != userName || created["active"] != true || created["password"] != nil {
		t.Errorf("created user = %v", created)
	}
	evs := h.eng.submitted()
	if len(evs) != 1 {
		t.Fatalf("after the create, events = %+v", evs)
	}
	hire := evs[0]
	want := tenure.Person{ID: hrID, Email: userName, GivenName: "Ada", FamilyName: "Lovelace"}
	if hire.Type != tenure.EventHire || !equalPerson(hire.Employee, want) || !strings.HasPrefix(hire.ID, "scim:"+id+":1:") {
		t.Errorf("hire = %+v, want a hire of %+v", hire, want)
	}

	// Okta updates a profile with PUT: a new title is an update.
	h.must(adminToken, "PUT", "/Users/"+id, fixture(t, "okta/replace_user.json", `"ID"`, `"`+id+`"`), 200)
	// Deactivation is a PATCH without a path; sending it twice runs it once.
	h.must(adminToken, "PATCH", "/Users/"+id, fixture(t, "okta/deactivate_user.json"), 200)
	h.must(adminToken, "PATCH", "/Users/"+id, fixture(t, "okta/deactivate_user.json"), 200)
	got := summaries(h.eng.submitted())
	wantEvents := []summary{{tenure.EventHire, hrID}, {tenure.EventUpdate, hrID}, {tenure.EventTerminate, hrID}}
	if !slices.Equal(got, wantEvents) {
		t.Fatalf("events = %v, want %v", got, wantEvents)
	}
	if upd := h.eng.submitted()[1]; upd.Employee.Title != "Senior Engineer" {
		t.Errorf("the update carries title %q", upd.Employee.Title)
	}

	// Reads reflect the changes: the filter Okta uses, and the user itself.
	list = h.must(adminToken, "GET", "/Users"+filterQuery(`userName eq "ADA.lovelace@example.com"`), nil, 200)
	res, _ := list["Resources"].([]any)
	if list["totalResults"] != 1.0 || len(res) != 1 {
		t.Fatalf("userName filter = %v", list)
	}
	u := res[0].(map[string]any)
	if u["id"] != id || u["active"] != false || u["title"] != "Senior Engineer" || u["externalId"] != "00ujl29u0le5T6Aj10h7" {
		t.Errorf("listed user = %v", u)
	}

	// Once Tenure's workflow has recorded the person, the read shows their status.
	if err := h.db.UpsertEmployee(context.Background(), tenure.Employee{Person: want, Status: tenure.PersonTerminated}); err != nil {
		t.Fatal(err)
	}
	u = h.must(adminToken, "GET", "/Users/"+id, nil, 200)
	if ext, _ := u[scimserver.TenureSchemaID].(map[string]any); ext["status"] != "terminated" || ext["hrId"] != hrID {
		t.Errorf("tenure extension = %v", u[scimserver.TenureSchemaID])
	}

	// Reactivating is a rehire.
	h.must(adminToken, "PATCH", "/Users/"+id, fixture(t, "okta/reactivate_user.json"), 200)
	if got := summaries(h.eng.submitted()); len(got) != 4 || got[3] != (summary{tenure.EventRehire, hrID}) {
		t.Errorf("after reactivation, events = %v", got)
	}
}

func TestOktaGroupPush(t *testing.T) {
	h := newHarness(t)
	id := h.must(adminToken, "POST", "/Users", fixture(t, "okta/create_user.json"), 201)["id"].(string)
	gid := h.must(adminToken, "POST", "/Groups", fixture(t, "okta/create_group.json", "USER_ID", id), 201)["id"].(string)
	// Okta finds the pushed group by name.
	list := h.must(adminToken, "GET", "/Groups"+filterQuery(`displayName eq "engineering"`), nil, 200)
	if list["totalResults"] != 1.0 {
		t.Errorf("displayName filter = %v", list)
	}
	h.must(adminToken, "PATCH", "/Groups/"+gid, fixture(t, "okta/rename_group.json", "GROUP_ID", gid), 200)
	h.must(adminToken, "PATCH", "/Groups/"+gid, fixture(t, "okta/remove_member.json", "USER_ID", id), 200)
	h.must(adminToken, "DELETE", "/Groups/"+gid, nil, 204)
	h.must(adminToken, "GET", "/Groups/"+gid, nil, 404)

	evs := h.eng.submitted()
	var groups []string
	for _, ev := range evs[1:] {
		if ev.Type != tenure.EventUpdate {
			t.Errorf("a group change made a %s", ev.Type)
		}
		groups = append(groups, ev.Employee.Attributes["groups"])
	}
	if want := []string{"Engineering", "Platform", ""}; !slices.Equal(groups, want) {
		t.Errorf("the member's groups went %q, want %q", groups, want)
	}
	// A member that is not a user is refused, and nothing is written.
	if status, _ := h.do(adminToken, "POST", "/Groups", fixture(t, "okta/create_group.json", "USER_ID", "nobody")); status != 400 {
		t.Errorf("a group with an unknown member = %d", status)
	}
	if list := h.must(adminToken, "GET", "/Groups", nil, 200); list["totalResults"] != 0.0 {
		t.Errorf("groups left: %v", list)
	}
}

func TestEntraCreatePatchDisable(t *testing.T) {
	h := newHarness(t)
	mgr := h.must(hrToken, "POST", "/Users", fixture(t, "entra/create_manager.json"), 201)
	mgrID := mgr["id"].(string)

	list := h.must(hrToken, "GET", "/Users"+filterQuery(`userName eq "Test_User_ab6490ee@contoso.example"`), nil, 200)
	if list["totalResults"] != 0.0 {
		t.Fatalf("before the create, the filter found %v", list)
	}
	created := h.must(hrToken, "POST", "/Users", fixture(t, "entra/create_user.json"), 201)
	id := created["id"].(string)

	// Entra finds users by externalId, and by email.
	for _, f := range []string{
		`externalId eq "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef"`,
		`emails.value eq "test_user_ab6490ee@contoso.example"`,
		`emails[type eq "work" and value eq "Test_User_ab6490ee@contoso.example"]`,
	} {
		list := h.must(hrToken, "GET", "/Users"+filterQuery(f), nil, 200)
		res, _ := list["Resources"].([]any)
		if list["totalResults"] != 1.0 || len(res) != 1 || res[0].(map[string]any)["id"] != id {
			t.Errorf("filter %s = %v", f, list)
		}
	}

	h.must(hrToken, "PATCH", "/Users/"+id, fixture(t, "entra/update_user.json", "MANAGER_ID", mgrID), 200)
	grp := h.must(hrToken, "POST", "/Groups", fixture(t, "entra/create_group.json"), 201)
	gid := grp["id"].(string)
	h.must(hrToken, "PATCH", "/Groups/"+gid, fixture(t, "entra/add_member.json", "USER_ID", id), 200)
	user := h.must(hrToken, "GET", "/Users/"+id, nil, 200)
	if groups, _ := user["groups"].([]any); len(groups) != 1 || groups[0].(map[string]any)["display"] != "Platform Team" {
		t.Errorf("the user's groups = %v", user["groups"])
	}
	h.must(hrToken, "PATCH", "/Groups/"+gid, fixture(t, "entra/remove_member.json", "USER_ID", id), 200)
	h.must(hrToken, "PATCH", "/Users/"+id, fixture(t, "entra/disable_user.json"), 200)
	// Entra deletes a user it disabled earlier: nothing more to do in Tenure.
	h.must(hrToken, "DELETE", "/Users/"+id, nil, 204)
	h.must(hrToken, "GET", "/Users/"+id, nil, 404)

	evs := h.eng.submitted()
	got := summaries(evs)
	want := []summary{
		{tenure.EventHire, "E1000"}, {tenure.EventHire, "E2001"}, {tenure.EventUpdate, "E2001"},
		{tenure.EventUpdate, "E2001"}, {tenure.EventUpdate, "E2001"}, {tenure.EventTerminate, "E2001"},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("events = %v, want %v", got, want)
	}
	moved := evs[2].Employee
	if moved.Title != "Senior Engineer" || moved.Department != "Platform" || moved.Email != "alan.turing@contoso.example" || moved.ManagerID != "E1000" {
		t.Errorf("the update carries %+v", moved)
	}
	if g := evs[3].Employee.Attributes["groups"]; g != "Platform Team" {
		t.Errorf("after the member was added, groups = %q", g)
	}
	if g, ok := evs[4].Employee.Attributes["groups"]; ok {
		t.Errorf("after the member was removed, groups = %q", g)
	}
	if group := h.must(hrToken, "GET", "/Groups/"+gid, nil, 200); group["members"] != nil {
		t.Errorf("the group still lists %v", group["members"])
	}
}

func TestRejectedRequestsWriteNothing(t *testing.T) {
	h := newHarness(t)
	body := fixture(t, "okta/create_user.json", `"givenName": "Ada", `, "")
	status, out := h.do(adminToken, "POST", "/Users", body)
	if status != 400 || !strings.Contains(out["detail"].(string), "name.givenName") {
		t.Errorf("a user without a given name = %d %v", status, out)
	}
	body = fixture(t, "entra/create_user.json", `"E2001"`, `"../E1"`)
	if status, out := h.do(adminToken, "POST", "/Users", body); status != 400 || !strings.Contains(out["detail"].(string), "employeeNumber") {
		t.Errorf("a bad employeeNumber = %d %v", status, out)
	}
	// Names and titles go through intake's one check, which refuses bidirectional
	// controls and zero-width characters.
	body = fixture(t, "okta/create_user.json", `"givenName": "Ada"`, `"givenName": "Ada\u202e"`)
	if status, out := h.do(adminToken, "POST", "/Users", body); status != 400 || !strings.Contains(out["detail"].(string), "name.givenName") ||
		!strings.Contains(out["detail"].(string), "U+202E") {
		t.Errorf("a given name with a right-to-left override = %d %v", status, out)
	}
	body = fixture(t, "entra/create_user.json", `"title": "Engineer"`, `"title": "Engi\u200dneer"`)
	if status, out := h.do(adminToken, "POST", "/Users", body); status != 400 || !strings.Contains(out["detail"].(string), "title") ||
		!strings.Contains(out["detail"].(string), "U+200D") {
		t.Errorf("a title with a zero-width joiner = %d %v", status, out)
	}
	if n := len(h.eng.submitted()); n != 0 {
		t.Errorf("%d events were sent", n)
	}
	if list := h.must(adminToken, "GET", "/Users", nil, 200); list["totalResults"] != 0.0 {
		t.Errorf("users were stored: %v", list)
	}

	// A userName that is taken is a 409, and hires nobody.
	h.must(adminToken, "POST", "/Users", fixture(t, "okta/create_user.json"), 201)
	if status, out := h.do(adminToken, "POST", "/Users", fixture(t, "okta/create_user.json")); status != 409 || out["scimType"] != "uniqueness" {
		t.Errorf("a second create = %d %v", status, out)
	}
	if n := len(h.eng.submitted()); n != 1 {
		t.Errorf("%d events were sent, want 1", n)
	}
}

func TestRetryAfterEngineFailureRunsOnce(t *testing.T) {
	h := newHarness(t)
	created := h.must(adminToken, "POST", "/Users", fixture(t, "okta/create_user.json"), 201)
	id := created["id"].(string)

	h.eng.fail(errors.New("temporal is down"))
	if status, _ := h.do(adminToken, "PATCH", "/Users/"+id, fixture(t, "okta/deactivate_user.json")); status != 500 {
		t.Errorf("with the engine down, PATCH = %d, want 500", status)
	}
	// Nothing was written: the user is still active.
	if u := h.must(adminToken, "GET", "/Users/"+id, nil, 200); u["active"] != true {
		t.Errorf("after a failed PATCH, active = %v", u["active"])
	}
	h.eng.fail(nil)
	h.must(adminToken, "PATCH", "/Users/"+id, fixture(t, "okta/deactivate_user.json"), 200)
	h.must(adminToken, "PATCH", "/Users/"+id, fixture(t, "okta/deactivate_user.json"), 200)
	evs := h.eng.submitted()
	if len(evs) != 2 || evs[1].Type != tenure.EventTerminate {
		t.Fatalf("events = %v", summaries(evs))
	}
	if !strings.HasPrefix(evs[1].ID, "scim:"+id+":2:") {
		t.Errorf("terminate id = %s", evs[1].ID)
	}
}

func TestAuth(t *testing.T) {
	h := newHarness(t)
	for _, tc := range []struct {
		token string
		want  int
	}{{"", 401}, {"wrong-token", 401}, {auditorToken, 403}, {hrToken, 200}, {adminToken, 200}} {
		status, out := h.do(tc.token, "GET", "/Users", nil)
		if status != tc.want {
			t.Errorf("token %q: status %d, want %d", tc.token, status, tc.want)
		}
		if tc.want != 200 {
			schemas, _ := out["schemas"].([]any)
			if len(schemas) != 1 || schemas[0] != "urn:ietf:params:scim:api:messages:2.0:Error" || out["detail"] == "" {
				t.Errorf("token %q: error body %v is not a SCIM error", tc.token, out)
			}
		}
	}
	if status, _ := h.do(auditorToken, "POST", "/Users", fixture(t, "okta/create_user.json")); status != 403 {
		t.Errorf("an auditor's create = %d", status)
	}
	if n := len(h.eng.submitted()); n != 0 {
		t.Errorf("%d events were sent", n)
	}
}

func TestDiscovery(t *testing.T) {
	h := newHarness(t)
	spc := h.must(adminToken, "GET", "/ServiceProviderConfig", nil, 200)
	if p, _ := spc["patch"].(map[string]any); p["supported"] != true {
		t.Errorf("ServiceProviderConfig = %v", spc)
	}
	schemas := h.must(adminToken, "GET", "/Schemas", nil, 200)
	raw, _ := json.Marshal(schemas)
	for _, id := range []string{"urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:core:2.0:Group", enterprise, scimserver.TenureSchemaID} {
		if !strings.Contains(string(raw), id) {
			t.Errorf("Schemas lacks %s", id)
		}
	}
	types := h.must(adminToken, "GET", "/ResourceTypes", nil, 200)
	if types["totalResults"] != 2.0 {
		t.Errorf("ResourceTypes = %v", types)
	}
}

func TestPaging(t *testing.T) {
	h := newHarness(t)
	for _, n := range []string{"a", "b", "c"} {
		body := fixture(t, "okta/create_user.json", "ada.lovelace@", n+"@", "00ujl29u0le5T6Aj10h7", "ext-"+n)
		h.must(adminToken, "POST", "/Users", body, 201)
	}
	page := h.must(adminToken, "GET", "/Users?startIndex=2&count=1", nil, 200)
	res, _ := page["Resources"].([]any)
	if page["totalResults"] != 3.0 || len(res) != 1 || res[0].(map[string]any)["userName"] != "b@example.com" {
		t.Errorf("page 2 of 1 = %v", page)
	}
	page = h.must(adminToken, "GET", "/Users"+filterQuery(`userName sw "b" or userName sw "c"`)+"&count=1&startIndex=2", nil, 200)
	res, _ = page["Resources"].([]any)
	if page["totalResults"] != 2.0 || len(res) != 1 || res[0].(map[string]any)["userName"] != "c@example.com" {
		t.Errorf("filtered page = %v", page)
	}
}

func equalPerson(a, b tenure.Person) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

// TestNewRefusesMissingDependencies: a server without an authenticator, or
// without somewhere to send events, fails at start-up, not at the first request.
func TestNewRefusesMissingDependencies(t *testing.T) {
	db := storetest.SQLite(t)
	_, err := scimserver.New(scimserver.Config{Directory: db, Store: db})
	if err == nil || !strings.Contains(err.Error(), "Engine, Auth, Guard") {
		t.Fatalf("New without Engine, Auth and Guard = %v", err)
	}
	if _, err := scimserver.New(scimserver.Config{Directory: db, Store: db, Engine: &engine{}, Auth: tokens{}, Guard: newGuard(t, db, &engine{})}); err != nil {
		t.Fatalf("New with every dependency = %v", err)
	}
}

// TestDeactivationsOverTheThresholdAreHeld: an identity provider deactivates
// one user per request, as Okta does. The guard counts them in the scim
// window: the 11th and 12th of 12 (of 12 active people) are held, while the
// identity provider is answered as usual and its view kept.
func TestDeactivationsOverTheThresholdAreHeld(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	var ids []string
	for i := range 12 {
		body := strings.NewReplacer("ada.lovelace@", fmt.Sprintf("user%02d@", i), "00ujl29u0le5T6Aj10h7", fmt.Sprintf("ext-%02d", i)).
			Replace(string(fixture(t, "okta/create_user.json")))
		created := h.must(adminToken, "POST", "/Users", []byte(body), 201)
		id := created["id"].(string)
		ids = append(ids, id)
		// The person's workflow would record them active; the engine here is a fake.
		p := tenure.Person{ID: "scim-" + id, Email: fmt.Sprintf("user%02d@example.com", i), GivenName: "Ada", FamilyName: "Lovelace"}
		if err := h.db.UpsertEmployee(ctx, tenure.Employee{Person: p, Status: tenure.PersonActive}); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range ids {
		got := h.must(hrToken, "PATCH", "/Users/"+id, fixture(t, "okta/deactivate_user.json"), 200)
		if got["active"] != false {
			t.Fatalf("deactivated user = %v", got)
		}
	}
	terminations := 0
	for _, ev := range h.eng.submitted() {
		if ev.Type == tenure.EventTerminate {
			terminations++
		}
	}
	if terminations != 10 {
		t.Fatalf("%d terminations reached the engine, want 10", terminations)
	}
	for _, id := range ids[10:] {
		evs, err := h.db.ListEvents(ctx, "scim-"+id)
		if err != nil || len(evs) != 2 || evs[1].Status != tenure.EventHeld {
			t.Fatalf("events of scim-%s = %+v, %v; want the termination held", id, evs, err)
		}
	}
	holds, err := h.db.ListHolds(ctx, tenure.HoldFilter{})
	if err != nil || len(holds) != 1 || holds[0].Source != "scim" || holds[0].People != 2 || holds[0].Actor != "entra" {
		t.Fatalf("holds = %+v, %v; want one scim hold of 2 people, by the caller", holds, err)
	}
}
