package slack

// The Slack connector: people's Slack accounts through Slack's SCIM 2.0 API,
// and their sessions through the Web API's admin.users.session.reset. It lives
// beside the notifier because both are Slack, but shares nothing with it but
// the Web API error mapping: the notifier uses the bot token, the connector an
// org admin's user token.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	slackapi "github.com/slack-go/slack"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/integrations"
	"github.com/tenure-io/tenure/integrations/scim"
)

// Kind is the connector kind name used in policy files.
const Kind = "slack"

// DefaultSCIMURL is Slack's SCIM 2.0 API.
const DefaultSCIMURL = "https://api.slack.com/scim/v2"

// The policy keys of the slack kind.
const (
	// KeyToken is the org admin's user token with the admin scope (secret).
	KeyToken = "token"
	// KeyBaseURL is the SCIM API's base URL, DefaultSCIMURL by default.
	KeyBaseURL = "base_url"
	// KeyAPIURL is the Web API's base URL, for admin.users.session.reset. By
	// default it is DefaultAPIURL with Slack's own SCIM URL, and /api/ on the
	// SCIM URL's host otherwise.
	KeyAPIURL = "api_url"
)

// Spec declares the slack kind.
var Spec = integrations.Spec{
	Kind: Kind,
	New:  Factory,
	Can: integrations.Capabilities{
		Groups: true, Disable: true, RevokeSessions: true, Filter: true,
		// Slack bills active members only: deactivating frees the seat.
		ReclaimLicence: true,
	},
	Keys: []integrations.Key{
		{Name: KeyToken, Required: true, Secret: true},
		{Name: KeyBaseURL},
		{Name: KeyAPIURL},
	},
}

// scimRetryAfter is the wait when Slack's 429 does not say: its SCIM limits
// are per minute.
const scimRetryAfter = 5 * time.Second

// Connector manages one Slack organisation's accounts. It is safe for
// concurrent use.
type Connector struct {
	app   string
	base  string // the SCIM base URL, without a trailing slash
	token string
	http  *http.Client
	// scim does what Slack's SCIM does as RFC 7644 says: reading users, paging,
	// group membership, reactivating.
	scim *scim.Client
	api  *slackapi.Client
}

var _ integrations.Connector = (*Connector)(nil)

// NewConnector returns the connector for app. It makes no call to Slack.
func NewConnector(app integrations.AppConfig) (*Connector, error) {
	name := app.Name
	if name == "" {
		name = "(unnamed)"
	}
	token := app.Secrets[KeyToken]
	if token == "" {
		token = app.Token
	}
	if token == "" {
		return nil, invalidKey(name, KeyToken, "is required: an org admin's user token with the admin scope (token_env or token_file)")
	}
	base := app.Params[KeyBaseURL]
	if base == "" {
		base = app.BaseURL
	}
	if base == "" {
		base = DefaultSCIMURL
	}
	base = strings.TrimRight(base, "/")
	bu, err := checkURL(name, KeyBaseURL, base)
	if err != nil {
		return nil, err
	}
	apiURL := app.Params[KeyAPIURL]
	switch {
	case apiURL != "":
	case base == DefaultSCIMURL:
		apiURL = DefaultAPIURL
	default:
		apiURL = bu.Scheme + "://" + bu.Host + "/api/"
	}
	if _, err := checkURL(name, KeyAPIURL, apiURL); err != nil {
		return nil, err
	}
	if !strings.HasSuffix(apiURL, "/") {
		apiURL += "/"
	}

	hc := &http.Client{Timeout: 15 * time.Second, Transport: dialect{base: http.DefaultTransport}}
	sc, err := scim.New(integrations.AppConfig{
		Name: name, Connector: Kind, BaseURL: base, Token: token, Settings: scimSettings(app.Settings),
	}, scim.WithHTTPClient(hc))
	if err != nil {
		return nil, err
	}
	webClient := &http.Client{Timeout: 15 * time.Second,
		Transport: bearer{base: http.DefaultTransport, prefix: apiURL, token: token}}
	return &Connector{
		app: name, base: base, token: token, http: hc, scim: sc,
		api: slackapi.New(token, slackapi.OptionAPIURL(apiURL), slackapi.OptionHTTPClient(webClient)),
	}, nil
}

// scimSettings tells the SCIM client Slack's dialect up front, so it spends no
// calls working it out: Slack lists a user's groups on the User, takes PATCH
// operations with a path, filters groups by displayName and uses no ETags. A
// setting in the policy still wins.
func scimSettings(policy map[string]string) map[string]string {
	out := map[string]string{
		scim.SettingMembership:  "user",
		scim.SettingPatch:       "path",
		scim.SettingGroupFilter: "true",
		scim.SettingETags:       "never",
	}
	for k, v := range policy {
		out[k] = v
	}
	return out
}

// Factory adapts NewConnector to integrations.Factory.
func Factory(app integrations.AppConfig) (integrations.Connector, error) {
	return NewConnector(app)
}

func checkURL(app, key, raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	switch {
	case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "":
		return nil, invalidKey(app, key, "must be an http or https URL")
	case u.User != nil:
		return nil, invalidKey(app, key, "must not carry credentials; use the token")
	case u.RawQuery != "" || u.Fragment != "":
		return nil, invalidKey(app, key, "must not carry a query or fragment")
	}
	return u, nil
}

func invalidKey(app, key, problem string) error {
	return tenure.Invalid(tenure.FieldError{Field: "apps." + app + "." + key, Problem: problem})
}

// Capabilities reads Slack's ServiceProviderConfig with the token, which checks
// the token and the plan (SCIM needs Business+ or Enterprise Grid).
func (c *Connector) Capabilities(ctx context.Context) (integrations.Capabilities, error) {
	var spc struct {
		Filter struct {
			Supported bool `json:"supported"`
		} `json:"filter"`
	}
	if err := c.do(ctx, "capabilities", http.MethodGet, "/ServiceProviderConfig", nil, nil, &spc); err != nil {
		return integrations.Capabilities{}, err
	}
	caps := Spec.Can
	caps.Filter = spc.Filter.Supported
	return caps, nil
}

// Lookup finds the account by email. Slack filters users on userName and email
// only, and its userName is a Slack handle derived from the email, so the
// email is the one key; the account's externalId is read back so the caller
// can tell a reused address from the same person.
func (c *Connector) Lookup(ctx context.Context, externalID, userName string) (integrations.Account, error) {
	if userName != "" {
		q := url.Values{"filter": {scim.Filter("email", userName)}, "startIndex": {"1"}, "count": {"1"}}
		var page struct {
			Resources []scimUser `json:"Resources"`
		}
		if err := c.do(ctx, "lookup", http.MethodGet, "/Users", q, nil, &page); err != nil {
			return integrations.Account{}, err
		}
		if len(page.Resources) > 0 {
			return page.Resources[0].account(), nil
		}
	}
	return integrations.Account{}, &integrations.Error{Kind: integrations.NotFound, App: c.app, Op: "lookup",
		Detail: "no Slack user has that email"}
}

// Get reads one account by its Slack user ID.
func (c *Connector) Get(ctx context.Context, id string) (integrations.Account, error) {
	return c.scim.Get(ctx, id)
}

// Create provisions the user. Slack answers 409 when the email or the handle
// is taken; the account with that email is then adopted, unless it records
// another person's HR ID.
func (c *Connector) Create(ctx context.Context, u integrations.User) (integrations.Account, error) {
	var created scimUser
	err := c.do(ctx, "create", http.MethodPost, "/Users", nil, userBody(u), &created)
	if err == nil {
		return created.account(), nil
	}
	if integrations.KindOf(err) != integrations.Conflict {
		return integrations.Account{}, err
	}
	email := u.Email
	if email == "" {
		email = u.UserName
	}
	acct, lerr := c.Lookup(ctx, u.ExternalID, email)
	if integrations.IsNotFound(lerr) {
		// The handle is taken by someone with another email: a person must
		// choose, so the 409 stands.
		return integrations.Account{}, err
	}
	if lerr != nil {
		return integrations.Account{}, lerr
	}
	if acct.ExternalID != "" && u.ExternalID != "" && acct.ExternalID != u.ExternalID {
		return integrations.Account{}, &integrations.Error{Kind: integrations.Conflict, App: c.app, Op: "create",
			Status: http.StatusConflict,
			Detail: "email " + strconv.Quote(email) + " belongs to the Slack user of externalId " +
				strconv.Quote(acct.ExternalID) + ", not " + strconv.Quote(u.ExternalID)}
	}
	return acct, nil
}

// userBody is a SCIM User as Slack takes it: userName may be the email (Slack
// turns it into a handle), and at least one email is required.
func userBody(u integrations.User) map[string]any {
	email := u.Email
	if email == "" {
		email = u.UserName
	}
	body := map[string]any{
		"schemas":  []string{scim.SchemaUser},
		"userName": u.UserName,
		"active":   u.Active,
		"emails":   []map[string]any{{"value": email, "primary": true, "type": "work"}},
	}
	if u.ExternalID != "" {
		body["externalId"] = u.ExternalID
	}
	if u.GivenName != "" || u.FamilyName != "" {
		body["name"] = map[string]string{"givenName": u.GivenName, "familyName": u.FamilyName}
	}
	if u.DisplayName != "" {
		body["displayName"] = u.DisplayName
	}
	if u.Title != "" {
		body["title"] = u.Title
	}
	if u.Department != "" {
		body["schemas"] = []string{scim.SchemaUser, scim.SchemaEnterprise}
		body[scim.SchemaEnterprise] = map[string]string{"department": u.Department}
	}
	return body
}

// SetActive deactivates with DELETE /Users/{id}, which is how Slack documents
// deactivation (the user, their messages and files stay), and reactivates with
// a PATCH of active.
func (c *Connector) SetActive(ctx context.Context, id string, active bool) error {
	if active {
		return c.scim.SetActive(ctx, id, true)
	}
	return c.do(ctx, "set_active", http.MethodDelete, "/Users/"+url.PathEscape(id), nil, nil, nil)
}

// Delete is refused: Slack never deletes a user through SCIM (its DELETE
// deactivates), so claiming a deletion would be false. Disable is the leaver's
// strongest step in Slack.
func (c *Connector) Delete(ctx context.Context, id string) error {
	return c.unsupported("delete", "Slack does not delete users: SCIM's DELETE only deactivates, which disable already does")
}

// AddToGroup adds the user to the IdP group named group.
func (c *Connector) AddToGroup(ctx context.Context, id, group string) error {
	return c.scim.AddToGroup(ctx, id, group)
}

// RemoveFromGroup removes the user from the IdP group named group.
func (c *Connector) RemoveFromGroup(ctx context.Context, id, group string) error {
	return c.scim.RemoveFromGroup(ctx, id, group)
}

// RevokeSessions signs the user out of every Slack session, web and mobile,
// with admin.users.session.reset.
func (c *Connector) RevokeSessions(ctx context.Context, id string) error {
	err := c.api.AdminUsersSessionResetContext(ctx, id)
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return fmt.Errorf("%s: revoke_sessions: %w", c.app, ctx.Err())
	}
	e, ok := callError("admin.users.session.reset", err).(*integrations.Error)
	if !ok {
		return err
	}
	e.App, e.Op = c.app, "revoke_sessions"
	e.Detail = c.redact(e.Detail)
	return e
}

// TransferData is not possible: Slack keeps a deactivated user's messages and
// files in place, owned by them.
func (c *Connector) TransferData(ctx context.Context, id, toUserName string) error {
	return c.unsupported("transfer_data", "Slack has no API to transfer a user's files; a deactivated user's messages and files stay in the workspace")
}

// List streams every user, page by page.
func (c *Connector) List(ctx context.Context, fn func(integrations.Account) bool) error {
	return c.scim.List(ctx, fn)
}

// ListPages is List a page at a time, from a page cursor on: Slack's SCIM
// pages by startIndex, as every SCIM app does.
func (c *Connector) ListPages(ctx context.Context, cursor string, page func([]integrations.Account, string) bool) error {
	return c.scim.ListPages(ctx, cursor, page)
}

func (c *Connector) unsupported(op, detail string) error {
	return &integrations.Error{Kind: integrations.Permanent, App: c.app, Op: op, Detail: detail}
}

func (c *Connector) redact(s string) string {
	return strings.ReplaceAll(s, c.token, "[redacted]")
}

// scimUser is the part of Slack's SCIM User that Tenure reads.
type scimUser struct {
	ID         string `json:"id"`
	UserName   string `json:"userName"`
	ExternalID string `json:"externalId"`
	Active     *bool  `json:"active"`
	Groups     []struct {
		Value   string `json:"value"`
		Display string `json:"display"`
	} `json:"groups"`
}

func (u scimUser) account() integrations.Account {
	a := integrations.Account{ID: u.ID, UserName: u.UserName, ExternalID: u.ExternalID, Active: u.Active == nil || *u.Active}
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

// do sends one request to Slack's SCIM API and decodes a 2xx answer into out.
func (c *Connector) do(ctx context.Context, op, method, path string, query url.Values, in, out any) error {
	u := c.base + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return c.unsupported(op, "cannot encode the request: "+err.Error())
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return c.unsupported(op, "cannot build the request")
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.http.Do(req)
	if err != nil {
		return integrations.TransportError(ctx, c.app, op, err, c.redact)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return &integrations.Error{Kind: integrations.Transient, App: c.app, Op: op, Detail: "reading the answer: " + c.redact(err.Error())}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return c.failure(op, resp, data)
	}
	if out == nil || len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return &integrations.Error{Kind: integrations.Transient, App: c.app, Op: op, Status: resp.StatusCode,
			Detail: "unreadable response: " + err.Error()}
	}
	return nil
}

// failure maps a SCIM status to an error kind, with Slack's own description.
func (c *Connector) failure(op string, resp *http.Response, body []byte) error {
	e := &integrations.Error{App: c.app, Op: op, Status: resp.StatusCode, Detail: c.redact(errorText(body)),
		Kind: integrations.KindOfStatus(resp.StatusCode)}
	if e.Kind == integrations.RateLimited {
		e.RetryAfter = scimRetryAfter
		if d, ok := integrations.RetryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
			e.RetryAfter = d
		}
	}
	return e
}
