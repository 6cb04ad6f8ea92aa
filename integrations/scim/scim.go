// Package scim is Tenure's connector for apps that speak SCIM 2.0 (RFC 7643 and
// RFC 7644): it creates, disables, deletes and reads back accounts and group
// memberships over HTTP with a bearer token. Everything SCIM-specific (requests,
// auth, paging, filters and the mapping of HTTP failures to integrations.Error
// kinds) lives here, so activities only ever see the integrations.Connector view.
package scim

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/integrations"
)

// Kind is the connector kind name used in policy files.
const Kind = "scim"

// SCIM schema and message URNs (RFC 7643 section 8.7, RFC 7644 section 3.12).
const (
	SchemaUser       = "urn:ietf:params:scim:schemas:core:2.0:User"
	SchemaGroup      = "urn:ietf:params:scim:schemas:core:2.0:Group"
	SchemaEnterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	SchemaPatchOp    = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
	SchemaError      = "urn:ietf:params:scim:api:messages:2.0:Error"
)

// MediaType is the SCIM media type sent in Accept and Content-Type.
const MediaType = "application/scim+json"

// The app settings (AppConfig.Settings) that adapt the connector to a SCIM
// dialect. Each has an "auto" default that works the answer out from the app.
const (
	// SettingCreateGroups, when "false", stops the connector from creating a
	// group that a grant names but the app does not have yet.
	SettingCreateGroups = "create_groups"
	// SettingMembership says where memberships are read back from: "user" (the
	// User's groups attribute), "filter" (GET /Groups?filter=members[value eq
	// "<id>"]), "group" (the Group's members), "none" (unverifiable), or "auto".
	SettingMembership = "membership"
	// SettingPatch is the PATCH form to send: "path" ({"op":"replace","path":
	// "active","value":false}), "value" (the value map Entra and Okta send,
	// {"op":"replace","value":{"active":false}}), or "auto" (path, and the value
	// map once the app refuses a path with a 400).
	SettingPatch = "patch"
	// SettingDisable is how an account is switched off: "active" (active=false),
	// "delete" (for apps without an active attribute), or "auto" (delete when the
	// app's /Schemas show a User without active).
	SettingDisable = "disable"
	// SettingGroupFilter, when "false", finds groups by listing them instead of
	// by filter; "auto" falls back to listing when the app refuses the filter.
	SettingGroupFilter = "group_filter"
	// SettingETags is when writes carry If-Match: "always", "never", or "auto"
	// (once the app answers 428 or 412 to a write without one).
	SettingETags = "etags"
)

// The values of SettingMembership.
const (
	membershipAuto   = "auto"
	membershipUser   = "user"
	membershipFilter = "filter"
	membershipGroup  = "group"
	membershipNone   = "none"
)

// The values of SettingETags.
const (
	etagsAuto   = "auto"
	etagsAlways = "always"
	etagsNever  = "never"
)

// settingValues are the values each dialect setting accepts, the first the default.
var settingValues = map[string][]string{
	SettingCreateGroups: {"true", "false"},
	SettingMembership:   {membershipAuto, membershipUser, membershipFilter, membershipGroup, membershipNone},
	SettingPatch:        {"auto", "path", "value"},
	SettingDisable:      {"auto", "active", "delete"},
	SettingGroupFilter:  {"auto", "true", "false"},
	SettingETags:        {etagsAuto, etagsAlways, etagsNever},
}

// pageSize is how many resources List asks for per page.
const pageSize = 100

// Client is a SCIM 2.0 connector for one app. It is safe for concurrent use.
type Client struct {
	app          string
	base         string // BaseURL without a trailing slash
	token        string
	createGroups bool
	membership   string // SettingMembership
	patch        string // SettingPatch
	disable      string // SettingDisable
	groupFilter  string // SettingGroupFilter
	etags        string // SettingETags
	http         *http.Client

	capsMu sync.Mutex
	caps   *integrations.Capabilities // nil until discovery succeeds

	// groupIDs maps the display names of the groups this connector has resolved
	// to their SCIM ids. It spares a filter per grant, and its names are the
	// groups whose membership Get checks when the app shows members on the
	// Group only: the groups Tenure manages in the app.
	groupIDs sync.Map

	// What the connector has learnt about the app's dialect, each once.
	dialectMu     sync.Mutex
	userGroups    tri         // whether the app fills in the User's groups
	groupMembers  tri         // yes once the app has shown a Group's members
	memberForm    int         // the index in memberFilters of the form in use
	memberState   filterState // how far that form is trusted
	noActive      tri         // whether the User has no active attribute (from /Schemas)
	valuePatch    atomic.Bool
	noGroupFilter atomic.Bool
	etagsRequired atomic.Bool
}

// tri is a fact about the app not yet known, or known to be true or false.
type tri int8

const (
	unknown tri = iota
	yes
	no
)

var _ integrations.Connector = (*Client)(nil)

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient makes the connector send its requests through hc.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) {
		if hc != nil {
			c.http = hc
		}
	}
}

// New returns a connector for app; app.BaseURL ends in /scim/v2 and app.Token is
// the bearer token.
func New(app integrations.AppConfig, opts ...Option) (*Client, error) {
	name := app.Name
	if name == "" {
		name = "(unnamed)"
	}
	u, err := url.Parse(app.BaseURL)
	switch {
	case strings.TrimSpace(app.BaseURL) == "":
		return nil, invalidConfig(name, "base_url", "is required (the URL ending in /scim/v2)")
	case err != nil:
		return nil, invalidConfig(name, "base_url", "is not a URL")
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, invalidConfig(name, "base_url", "must be an http or https URL")
	case u.Host == "":
		return nil, invalidConfig(name, "base_url", "has no host")
	case u.RawQuery != "" || u.Fragment != "":
		return nil, invalidConfig(name, "base_url", "must not carry a query or fragment")
	case u.User != nil:
		// Credentials in the URL would end up in logs and error messages.
		return nil, invalidConfig(name, "base_url", "must not carry credentials; use the token")
	}
	if app.Token == "" {
		return nil, invalidConfig(name, "token", "is required (the app's bearer token)")
	}
	set := map[string]string{}
	for _, key := range slices.Sorted(maps.Keys(settingValues)) {
		values := settingValues[key]
		v := strings.ToLower(strings.TrimSpace(app.Settings[key]))
		switch {
		case v == "":
			v = values[0]
		case !slices.Contains(values, v):
			return nil, invalidConfig(name, "settings."+key, "must be one of "+strings.Join(values, ", "))
		}
		set[key] = v
	}
	c := &Client{
		app:          name,
		base:         strings.TrimRight(app.BaseURL, "/"),
		token:        app.Token,
		createGroups: set[SettingCreateGroups] != "false",
		membership:   set[SettingMembership],
		patch:        set[SettingPatch],
		disable:      set[SettingDisable],
		groupFilter:  set[SettingGroupFilter],
		etags:        set[SettingETags],
		http:         defaultHTTPClient(),
	}
	c.valuePatch.Store(c.patch == "value")
	c.noGroupFilter.Store(c.groupFilter == "false")
	for _, opt := range opts {
		opt(c)
	}
	return c, nil
}

// Factory adapts New to integrations.Factory.
func Factory(app integrations.AppConfig) (integrations.Connector, error) {
	return New(app)
}

// Spec declares the SCIM kind: an app at base_url with a bearer token.
var Spec = integrations.Spec{
	Kind: Kind,
	New:  Factory,
	Can:  integrations.Capabilities{Groups: true, Disable: true, Delete: true, ReclaimLicence: true, Filter: true},
	Keys: []integrations.Key{
		{Name: "base_url", Required: true},
		{Name: "token", Secret: true},
	},
}

func invalidConfig(app, field, problem string) error {
	return tenure.Invalid(tenure.FieldError{
		Field:   "apps." + app + "." + field,
		Problem: problem,
	})
}

// defaultHTTPClient keeps connections to the app alive between calls: a leaver
// fans out many calls to the same host at once, and a new TLS handshake for each
// would dominate their latency.
func defaultHTTPClient() *http.Client {
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          128,
		MaxIdleConnsPerHost:   32,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   5 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: tr}
}

// Capabilities reads the app's ServiceProviderConfig, ResourceTypes and User
// schema once and caches the answer; a failed discovery is not cached, so the
// next call retries. What it learns also sets the dialect switches left on
// auto: an app that cannot filter has its groups found by listing, and one
// whose User has no active attribute is disabled by deleting.
func (c *Client) Capabilities(ctx context.Context) (integrations.Capabilities, error) {
	c.capsMu.Lock()
	defer c.capsMu.Unlock()
	if c.caps != nil {
		return *c.caps, nil
	}
	var spc serviceProviderConfig
	if err := c.do(ctx, "capabilities", http.MethodGet, "/ServiceProviderConfig", nil, nil, &spc); err != nil {
		return integrations.Capabilities{}, err
	}
	groups, err := c.groupsSupported(ctx)
	if err != nil {
		return integrations.Capabilities{}, err
	}
	noActive, err := c.disablesByDelete(ctx)
	if err != nil {
		return integrations.Capabilities{}, err
	}
	if !spc.Filter.Supported && c.groupFilter == "auto" {
		c.noGroupFilter.Store(true) // find groups by listing them
	}
	c.caps = &integrations.Capabilities{
		Groups: groups,
		Filter: spc.Filter.Supported,
		// Without an active attribute, disabling deletes the account and
		// enabling creates it again.
		Disable: Spec.Can.Disable && !noActive,
		Delete:  Spec.Can.Delete,
		// A deleted (or, in most SaaS, deactivated) user frees its seat.
		ReclaimLicence: Spec.Can.ReclaimLicence,
		// Plain SCIM has no operation that ends sessions or revokes tokens.
		RevokeSessions: false,
	}
	return *c.caps, nil
}

// groupsSupported asks /ResourceTypes whether the app has Groups. Many apps do not
// serve that document; then groups are assumed, because the group calls themselves
// will say so plainly if they are not there.
func (c *Client) groupsSupported(ctx context.Context) (bool, error) {
	var rt resourceTypes
	err := c.do(ctx, "capabilities", http.MethodGet, "/ResourceTypes", nil, nil, &rt)
	switch {
	case err == nil:
	case integrations.KindOf(err) == integrations.NotFound, integrations.KindOf(err) == integrations.Permanent:
		return true, nil
	default:
		return false, err
	}
	if len(rt.Resources) == 0 {
		return true, nil
	}
	for _, r := range rt.Resources {
		if strings.EqualFold(r.Name, "Group") || strings.EqualFold(r.Endpoint, "/Groups") {
			return true, nil
		}
	}
	return false, nil
}

// Lookup finds the account by externalId first, then by userName.
func (c *Client) Lookup(ctx context.Context, externalID, userName string) (integrations.Account, error) {
	for _, q := range []struct{ attr, value string }{
		{"externalId", externalID},
		{"userName", userName},
	} {
		if q.value == "" {
			continue
		}
		u, found, err := c.findUser(ctx, Filter(q.attr, q.value))
		if err != nil {
			return integrations.Account{}, err
		}
		if found {
			return c.account(ctx, u, nil)
		}
	}
	return integrations.Account{}, &integrations.Error{
		Kind:   integrations.NotFound,
		App:    c.app,
		Op:     "lookup",
		Detail: "no user has that externalId or userName",
	}
}

func (c *Client) findUser(ctx context.Context, filter string) (user, bool, error) {
	q := url.Values{"filter": {filter}, "startIndex": {"1"}, "count": {"2"}}
	var page listResponse[user]
	if err := c.do(ctx, "lookup", http.MethodGet, "/Users", q, nil, &page); err != nil {
		return user{}, false, err
	}
	if len(page.Resources) == 0 {
		return user{}, false, nil
	}
	return page.Resources[0], true, nil
}

// Get reads one account by the app's ID, with the memberships of the groups
// this connector has resolved; see GetWithGroups.
func (c *Client) Get(ctx context.Context, id string) (integrations.Account, error) {
	return c.GetWithGroups(ctx, id, nil)
}

// GetWithGroups reads one account by the app's ID and reports its group
// memberships from whichever side the app shows them (see SettingMembership).
// Where the app fills in the User's groups, Account.Groups is all of them.
// Where it shows members on the Group only, Account.Groups holds those of
// groups (plus the groups this connector has resolved before) that list the
// account; pass the entitlements the caller wants and manages, so a fresh
// worker still sees them. Account.Unverifiable lists those of them whose
// membership the app gives no way to read.
func (c *Client) GetWithGroups(ctx context.Context, id string, groups []string) (integrations.Account, error) {
	var u user
	if err := c.do(ctx, "get", http.MethodGet, userPath(id), nil, nil, &u); err != nil {
		return integrations.Account{}, err
	}
	if u.ID == "" {
		u.ID = id
	}
	return c.account(ctx, u, groups)
}

// Create creates the account, or adopts the existing one when the app answers 409.
func (c *Client) Create(ctx context.Context, u integrations.User) (integrations.Account, error) {
	body := newUserBody(u)
	if c.knownNoActive() {
		delete(body, "active")
	}
	var created user
	err := c.do(ctx, "create", http.MethodPost, "/Users", nil, body, &created)
	if err == nil {
		// A new account is in no group yet; reading memberships would cost calls.
		return created.account(), nil
	}
	if integrations.KindOf(err) != integrations.Conflict {
		return integrations.Account{}, err
	}
	acct, lerr := c.Lookup(ctx, u.ExternalID, u.UserName)
	if lerr != nil {
		if integrations.IsNotFound(lerr) {
			// The app says the user exists but will not show it to us: adopting is
			// impossible, and retrying will not change that.
			return integrations.Account{}, err
		}
		return integrations.Account{}, lerr
	}
	if acct.ExternalID != "" && u.ExternalID != "" && acct.ExternalID != u.ExternalID {
		// The userName is taken by someone else's account (say, a former employee
		// whose email was reused). Adopting it would hand this person their access.
		return integrations.Account{}, &integrations.Error{
			Kind: integrations.Conflict, App: c.app, Op: "create", Status: http.StatusConflict,
			Detail: "userName " + strconv.Quote(u.UserName) + " belongs to the account of externalId " +
				strconv.Quote(acct.ExternalID) + ", not " + strconv.Quote(u.ExternalID),
		}
	}
	return acct, nil
}

func newUserBody(u integrations.User) map[string]any {
	body := map[string]any{
		"schemas":  []string{SchemaUser},
		"userName": u.UserName,
		"active":   u.Active,
	}
	if u.ExternalID != "" {
		body["externalId"] = u.ExternalID
	}
	if u.GivenName != "" || u.FamilyName != "" {
		name := map[string]string{}
		if u.GivenName != "" {
			name["givenName"] = u.GivenName
		}
		if u.FamilyName != "" {
			name["familyName"] = u.FamilyName
		}
		body["name"] = name
	}
	if u.DisplayName != "" {
		body["displayName"] = u.DisplayName
	}
	if u.Email != "" {
		body["emails"] = []map[string]any{{"value": u.Email, "primary": true, "type": "work"}}
	}
	if u.Title != "" {
		body["title"] = u.Title
	}
	if u.Department != "" {
		body["schemas"] = []string{SchemaUser, SchemaEnterprise}
		body[SchemaEnterprise] = map[string]string{"department": u.Department}
	}
	return body
}

// SetActive enables or disables the account. An app that does not implement
// PATCH (501, or 405) gets the whole user back with active changed instead, as
// RFC 7644 section 3.5.1 allows; asking first would cost every call a request.
//
// An app without an active attribute (SettingDisable "delete") cannot switch
// an account off: disabling deletes it, and enabling an account that is gone
// is a NotFound error, so the caller creates it again.
func (c *Client) SetActive(ctx context.Context, id string, active bool) error {
	noActive, err := c.disablesByDelete(ctx)
	if err != nil {
		return err
	}
	if noActive {
		if !active {
			return c.Delete(ctx, id)
		}
		err := c.do(ctx, "set_active", http.MethodGet, userPath(id), nil, nil, nil)
		if integrations.IsNotFound(err) {
			return &integrations.Error{Kind: integrations.NotFound, App: c.app, Op: "set_active", Status: http.StatusNotFound,
				Detail: "the app has no active attribute, so disabling deleted the account; create it again to enable it"}
		}
		return err
	}
	err = c.patchResource(ctx, "set_active", userPath(id), "replace", "active", active)
	var e *integrations.Error
	if errors.As(err, &e) && (e.Status == http.StatusNotImplemented || e.Status == http.StatusMethodNotAllowed) {
		return c.replaceActive(ctx, id, active)
	}
	return err
}

// patchResource sends one PATCH operation that sets attr to value, in the form
// the app takes (SettingPatch): with a path, or as a value map without one.
// Under "auto" a 400 to the path form is tried once more as a value map, and
// the form that worked is kept for later calls.
func (c *Client) patchResource(ctx context.Context, op, path, verb, attr string, value any) error {
	withPath := patchOp(patchOperation{Op: verb, Path: attr, Value: value})
	valueMap := patchOp(patchOperation{Op: verb, Value: map[string]any{attr: value}})
	if c.valuePatch.Load() {
		return c.modify(ctx, op, http.MethodPatch, path, valueMap, nil)
	}
	err := c.modify(ctx, op, http.MethodPatch, path, withPath, nil)
	if c.patch != "auto" || statusOf(err) != http.StatusBadRequest || scimTypeIs(err, "noTarget") {
		return err
	}
	if verr := c.modify(ctx, op, http.MethodPatch, path, valueMap, nil); verr != nil {
		return err // the app's complaint about the form we normally send
	}
	c.valuePatch.Store(true)
	return nil
}

func (c *Client) replaceActive(ctx context.Context, id string, active bool) error {
	// A map keeps attributes this package does not model, so PUT does not erase them.
	var full map[string]any
	if err := c.do(ctx, "set_active", http.MethodGet, userPath(id), nil, nil, &full); err != nil {
		return err
	}
	if full == nil {
		return &integrations.Error{Kind: integrations.Transient, App: c.app, Op: "set_active",
			Detail: "the app returned an empty user"}
	}
	full["active"] = active
	delete(full, "meta")
	delete(full, "groups") // read-only (RFC 7643 section 4.1.2)
	return c.modify(ctx, "set_active", http.MethodPut, userPath(id), full, nil)
}

// disablesByDelete reports whether the app's users have no active attribute:
// the disable setting, or under "auto" the User schema the app serves at
// /Schemas, read once. An app that does not serve its schema is taken to have
// active, the SCIM core schema's attribute.
func (c *Client) disablesByDelete(ctx context.Context) (bool, error) {
	switch c.disable {
	case "delete":
		return true, nil
	case "active":
		return false, nil
	}
	c.dialectMu.Lock()
	defer c.dialectMu.Unlock()
	if c.noActive != unknown {
		return c.noActive == yes, nil
	}
	var sch struct {
		ID         string `json:"id"`
		Attributes []struct {
			Name string `json:"name"`
		} `json:"attributes"`
	}
	err := c.do(ctx, "schemas", http.MethodGet, "/Schemas/"+SchemaUser, nil, nil, &sch)
	switch k := integrations.KindOf(err); {
	case err == nil:
	case k == integrations.NotFound, k == integrations.Permanent:
		c.noActive = no
		return false, nil
	default:
		return false, err
	}
	c.noActive = no
	if sch.ID == SchemaUser && len(sch.Attributes) > 0 && !slices.ContainsFunc(sch.Attributes, func(a struct {
		Name string `json:"name"`
	}) bool {
		return strings.EqualFold(a.Name, "active")
	}) {
		c.noActive = yes
	}
	return c.noActive == yes, nil
}

// knownNoActive reports whether the app is already known to have no active
// attribute, without asking it: Create should cost one call.
func (c *Client) knownNoActive() bool {
	if c.disable != "auto" {
		return c.disable == "delete"
	}
	c.dialectMu.Lock()
	defer c.dialectMu.Unlock()
	return c.noActive == yes
}

// Delete deletes the account; one that is already gone counts as deleted.
func (c *Client) Delete(ctx context.Context, id string) error {
	err := c.modify(ctx, "delete", http.MethodDelete, userPath(id), nil, nil)
	if integrations.IsNotFound(err) {
		return nil
	}
	return err
}

// RevokeSessions is not possible over plain SCIM; Capabilities says so, and this
// refuses rather than pretending sessions were ended.
func (c *Client) RevokeSessions(ctx context.Context, id string) error {
	return c.unsupported("revoke_sessions", "SCIM 2.0 has no way to revoke sessions; disabling the account is the strongest step")
}

// TransferData is not part of SCIM 2.0.
func (c *Client) TransferData(ctx context.Context, id, toUserName string) error {
	return c.unsupported("transfer_data", "SCIM 2.0 has no way to transfer a user's data")
}

func (c *Client) unsupported(op, detail string) error {
	return &integrations.Error{
		Kind:   integrations.Permanent,
		App:    c.app,
		Op:     op,
		Detail: detail,
	}
}

// List calls fn for every user, page by page, until fn returns false. Its
// accounts carry the groups the User resource lists; an app that shows members
// on the Group only needs GetWithGroups for each. A User listed with groups
// teaches the connector that the app fills them in, so that GetWithGroups then
// reads them from the User alone.
func (c *Client) List(ctx context.Context, fn func(integrations.Account) bool) error {
	return c.ListPages(ctx, "", func(accounts []integrations.Account, _ string) bool {
		for _, a := range accounts {
			if !fn(a) {
				return false
			}
		}
		return true
	})
}

// ListPages is List a page at a time, from the page cursor names on (see
// integrations.PageLister). A cursor is the startIndex of the page's first
// User, in decimal.
func (c *Client) ListPages(ctx context.Context, cursor string, page func(accounts []integrations.Account, next string) bool) error {
	start := 1
	if cursor != "" {
		n, err := strconv.Atoi(cursor)
		if err != nil || n < 1 {
			return &integrations.Error{Kind: integrations.Permanent, App: c.app, Op: "list",
				Detail: "a listing cursor is a startIndex of 1 or more, not " + strconv.Quote(cursor)}
		}
		start = n
	}
	var bad error
	err := c.pagesFrom(ctx, "list", "/Users", nil, start, func(raws []json.RawMessage, next int) bool {
		accounts := make([]integrations.Account, 0, len(raws))
		for _, raw := range raws {
			var u user
			if err := json.Unmarshal(raw, &u); err != nil {
				bad = &integrations.Error{Kind: integrations.Transient, App: c.app, Op: "list",
					Detail: "unreadable user: " + err.Error()}
				return false
			}
			if c.membership == membershipAuto {
				c.learnUserGroups(u)
			}
			accounts = append(accounts, u.account())
		}
		cursor := ""
		if next > 0 {
			cursor = strconv.Itoa(next)
		}
		return page(accounts, cursor)
	})
	if err != nil {
		return err
	}
	return bad
}

// Filter returns the SCIM filter `attr eq "value"` with value escaped as a JSON
// string, which is what RFC 7644 section 3.4.2.2 makes a comparison value.
func Filter(attr, value string) string {
	return attr + " eq " + quote(value)
}

// quote renders s as a JSON string literal. encoding/json would also escape <, >
// and &, which some SCIM filter parsers do not decode.
func quote(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20:
			b.WriteString(`\u00`)
			b.WriteByte("0123456789abcdef"[r>>4])
			b.WriteByte("0123456789abcdef"[r&0xf])
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func userPath(id string) string  { return "/Users/" + url.PathEscape(id) }
func groupPath(id string) string { return "/Groups/" + url.PathEscape(id) }

type patchOperation struct {
	Op    string `json:"op"`
	Path  string `json:"path,omitempty"`
	Value any    `json:"value,omitempty"`
}

func patchOp(ops ...patchOperation) map[string]any {
	return map[string]any{"schemas": []string{SchemaPatchOp}, "Operations": ops}
}

// user is the part of a SCIM User resource that Tenure reads back.
type user struct {
	ID         string `json:"id"`
	UserName   string `json:"userName"`
	ExternalID string `json:"externalId"`
	Active     *bool  `json:"active"`
	Groups     []struct {
		Value   string `json:"value"`
		Display string `json:"display"`
	} `json:"groups"`
}

func (u user) account() integrations.Account {
	a := integrations.Account{
		ID:         u.ID,
		UserName:   u.UserName,
		ExternalID: u.ExternalID,
		// An app that leaves active out does not say the user is disabled, and
		// reporting a disable that may not have happened would be dishonest.
		Active: u.Active == nil || *u.Active,
	}
	for _, g := range u.Groups {
		name := g.Display
		if name == "" {
			name = g.Value
		}
		a.Groups = append(a.Groups, name)
	}
	sort.Strings(a.Groups)
	return a
}

type group struct {
	ID          string `json:"id"`
	DisplayName string `json:"displayName"`
}

type listResponse[T any] struct {
	TotalResults int `json:"totalResults"`
	StartIndex   int `json:"startIndex"`
	ItemsPerPage int `json:"itemsPerPage"`
	Resources    []T `json:"Resources"`
}

type serviceProviderConfig struct {
	Filter struct {
		Supported  bool `json:"supported"`
		MaxResults int  `json:"maxResults"`
	} `json:"filter"`
}

type resourceType struct {
	Name     string `json:"name"`
	Endpoint string `json:"endpoint"`
}

// resourceTypes accepts both a ListResponse and a bare JSON array, since apps
// serve /ResourceTypes either way.
type resourceTypes struct {
	Resources []resourceType
}

// UnmarshalJSON reads either shape of /ResourceTypes.
func (r *resourceTypes) UnmarshalJSON(b []byte) error {
	var list listResponse[resourceType]
	if err := json.Unmarshal(b, &list); err == nil {
		r.Resources = list.Resources
		return nil
	}
	return json.Unmarshal(b, &r.Resources)
}
