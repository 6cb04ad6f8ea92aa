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
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
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

// SettingCreateGroups is the app setting that, when "false", stops the connector
// from creating a group that a grant names but the app does not have yet.
const SettingCreateGroups = "create_groups"

// pageSize is how many resources List asks for per page.
const pageSize = 100

// Client is a SCIM 2.0 connector for one app. It is safe for concurrent use.
type Client struct {
	app          string
	base         string // BaseURL without a trailing slash
	token        string
	createGroups bool
	http         *http.Client

	capsMu sync.Mutex
	caps   *integrations.Capabilities // nil until discovery succeeds

	groupIDs sync.Map // group displayName -> SCIM id, to spare a filter per grant
}

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
	c := &Client{
		app:          name,
		base:         strings.TrimRight(app.BaseURL, "/"),
		token:        app.Token,
		createGroups: app.Settings[SettingCreateGroups] != "false",
		http:         defaultHTTPClient(),
	}
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

// Capabilities reads the app's ServiceProviderConfig (and ResourceTypes) once and
// caches the answer; a failed discovery is not cached, so the next call retries.
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
	c.caps = &integrations.Capabilities{
		Groups:  groups,
		Filter:  spc.Filter.Supported,
		Disable: Spec.Can.Disable,
		Delete:  Spec.Can.Delete,
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
			return u.account(), nil
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

// Get reads one account by the app's ID.
func (c *Client) Get(ctx context.Context, id string) (integrations.Account, error) {
	var u user
	if err := c.do(ctx, "get", http.MethodGet, userPath(id), nil, nil, &u); err != nil {
		return integrations.Account{}, err
	}
	return u.account(), nil
}

// Create creates the account, or adopts the existing one when the app answers 409.
func (c *Client) Create(ctx context.Context, u integrations.User) (integrations.Account, error) {
	var created user
	err := c.do(ctx, "create", http.MethodPost, "/Users", nil, newUserBody(u), &created)
	if err == nil {
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
func (c *Client) SetActive(ctx context.Context, id string, active bool) error {
	err := c.do(ctx, "set_active", http.MethodPatch, userPath(id), nil,
		patchOp(patchOperation{Op: "replace", Path: "active", Value: active}), nil)
	var e *integrations.Error
	if errors.As(err, &e) && (e.Status == http.StatusNotImplemented || e.Status == http.StatusMethodNotAllowed) {
		return c.replaceActive(ctx, id, active)
	}
	return err
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
	return c.do(ctx, "set_active", http.MethodPut, userPath(id), nil, full, nil)
}

// Delete deletes the account; one that is already gone counts as deleted.
func (c *Client) Delete(ctx context.Context, id string) error {
	err := c.do(ctx, "delete", http.MethodDelete, userPath(id), nil, nil, nil)
	if integrations.IsNotFound(err) {
		return nil
	}
	return err
}

// AddToGroup makes the account a member of the group with displayName group,
// creating the group first unless the app's create_groups setting is "false".
func (c *Client) AddToGroup(ctx context.Context, id, group string) error {
	gid, err := c.groupID(ctx, group, c.createGroups)
	if err != nil {
		return err
	}
	body := patchOp(patchOperation{Op: "add", Path: "members", Value: []map[string]string{{"value": id}}})
	err = c.do(ctx, "add_to_group", http.MethodPatch, groupPath(gid), nil, body, nil)
	if err == nil {
		return nil
	}
	switch integrations.KindOf(err) {
	case integrations.NotFound:
		// The cached group may have been deleted and recreated under a new id.
		c.groupIDs.Delete(group)
		gid, err = c.groupID(ctx, group, c.createGroups)
		if err != nil {
			return err
		}
		return c.do(ctx, "add_to_group", http.MethodPatch, groupPath(gid), nil, body, nil)
	case integrations.Conflict:
		// Some apps refuse to add a member twice; the membership is what we wanted.
		return nil
	}
	return err
}

// RemoveFromGroup ends the account's membership of the group with displayName
// group. A missing group or a missing membership counts as removed.
func (c *Client) RemoveFromGroup(ctx context.Context, id, group string) error {
	gid, err := c.groupID(ctx, group, false)
	if err != nil {
		if integrations.IsNotFound(err) {
			return nil
		}
		return err
	}
	body := patchOp(patchOperation{Op: "remove", Path: "members[value eq " + quote(id) + "]"})
	err = c.do(ctx, "remove_from_group", http.MethodPatch, groupPath(gid), nil, body, nil)
	if err == nil {
		return nil
	}
	if integrations.IsNotFound(err) {
		c.groupIDs.Delete(group)
		return nil
	}
	// RFC 7644 section 3.5.2.2: a filter that matches no member is a 400 noTarget.
	var e *integrations.Error
	if errors.As(err, &e) && e.Status == http.StatusBadRequest && strings.Contains(e.Detail, "noTarget") {
		return nil
	}
	return err
}

// groupID returns the SCIM id of the group named name, creating it when create is
// set. It returns a NotFound *Error when the group is missing and create is not set.
func (c *Client) groupID(ctx context.Context, name string, create bool) (string, error) {
	if v, ok := c.groupIDs.Load(name); ok {
		return v.(string), nil
	}
	id, found, err := c.findGroup(ctx, name)
	if err != nil {
		return "", err
	}
	if !found {
		if !create {
			kind := integrations.NotFound
			detail := "group " + strconv.Quote(name) + " does not exist"
			if !c.createGroups {
				// A grant names a group the app lacks and we may not create it: a
				// person must fix the app or the policy, so retrying is pointless.
				kind = integrations.Permanent
				detail += " and the app's create_groups setting is false"
			}
			return "", &integrations.Error{Kind: kind, App: c.app, Op: "find_group", Detail: detail}
		}
		if id, err = c.createGroup(ctx, name); err != nil {
			return "", err
		}
	}
	c.groupIDs.Store(name, id)
	return id, nil
}

func (c *Client) findGroup(ctx context.Context, name string) (string, bool, error) {
	q := url.Values{
		"filter":             {Filter("displayName", name)},
		"startIndex":         {"1"},
		"count":              {"2"},
		"excludedAttributes": {"members"}, // a big group's member list is not needed here
	}
	var page listResponse[group]
	if err := c.do(ctx, "find_group", http.MethodGet, "/Groups", q, nil, &page); err != nil {
		return "", false, err
	}
	for _, g := range page.Resources {
		if g.DisplayName == name || g.DisplayName == "" {
			return g.ID, true, nil
		}
	}
	return "", false, nil
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
		return "", err
	}
	if g.ID == "" {
		return "", &integrations.Error{Kind: integrations.Permanent, App: c.app, Op: "create_group",
			Detail: "the app created group " + strconv.Quote(name) + " but returned no id"}
	}
	return g.ID, nil
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

// List calls fn for every user, page by page, until fn returns false.
func (c *Client) List(ctx context.Context, fn func(integrations.Account) bool) error {
	start := 1
	for {
		q := url.Values{"startIndex": {strconv.Itoa(start)}, "count": {strconv.Itoa(pageSize)}}
		var page listResponse[user]
		if err := c.do(ctx, "list", http.MethodGet, "/Users", q, nil, &page); err != nil {
			return err
		}
		for _, u := range page.Resources {
			if !fn(u.account()) {
				return nil
			}
		}
		// Advance by what arrived rather than by the count asked for: apps may cap
		// a page below it (ServiceProviderConfig's filter.maxResults).
		start += len(page.Resources)
		if len(page.Resources) == 0 || start > page.TotalResults {
			return nil
		}
	}
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
