// Package google is Tenure's connector for Google Workspace. It creates, suspends,
// restores, signs out and deletes users and changes their group memberships through
// the Admin SDK Directory API, and hands a leaver's Drive files to another person
// through the Data Transfer API before the account is deleted.
//
// It authenticates as a service account with domain-wide delegation: every call is
// made as the admin named by admin_email, which is how Google lets a server act on a
// whole domain without a person signing in. Everything Google-specific (the two
// client libraries, the token, group naming, polling a transfer, and the mapping of
// Google's errors to integrations.Error kinds) lives here.
package google

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	googleoauth "golang.org/x/oauth2/google"
	"golang.org/x/oauth2/jwt"
	datatransfer "google.golang.org/api/admin/datatransfer/v1"
	directory "google.golang.org/api/admin/directory/v1"
	"google.golang.org/api/option"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/integrations"
)

// Kind is the connector kind name used in policy files.
const Kind = "google"

// DefaultBaseURL is the root of Google's Admin SDK APIs.
const DefaultBaseURL = "https://admin.googleapis.com/"

// DefaultCustomer is the alias Google accepts for the customer the admin belongs to.
const DefaultCustomer = "my_customer"

// Scopes are the OAuth scopes the connector asks for; each must be authorised for
// the service account's client ID under domain-wide delegation, or Google refuses
// every token.
var Scopes = []string{
	directory.AdminDirectoryUserScope,
	directory.AdminDirectoryGroupMemberScope,
	// Reading which groups a user belongs to (groups.list?userKey=) needs a group
	// scope; the read-only one is enough.
	directory.AdminDirectoryGroupReadonlyScope,
	datatransfer.AdminDatatransferScope,
}

// driveApplication is how the Data Transfer API names Drive in applications.list.
const driveApplication = "Drive and Docs"

// Transfer statuses the Data Transfer API reports in overallTransferStatusCode.
const (
	transferNew        = "new"
	transferInProgress = "inProgress"
	transferCompleted  = "completed"
	transferFailed     = "failed"
)

// externalIDType is the externalIds type under which the HR ID is stored; Google
// searches externalIds by value whatever their type, and "organization" is the
// documented type for an employer's own ID.
const externalIDType = "organization"

// pageSize is how many users List asks for per page (Google's maximum is 500).
const pageSize = 200

// Spec declares the Google Workspace kind.
var Spec = integrations.Spec{
	Kind: Kind,
	New:  Factory,
	Can: integrations.Capabilities{Groups: true, Disable: true, Delete: true, RevokeSessions: true,
		ReclaimLicence: true, TransferData: true, Filter: true},
	Keys: []integrations.Key{
		{Name: "customer"},
		{Name: "domain", Required: true},
		{Name: "credentials", Required: true, Secret: true},
		{Name: "admin_email", Required: true},
		{Name: "base_url"},
	},
}

// Client is the Google Workspace connector for one app. It is safe for concurrent use.
type Client struct {
	app      string
	customer string
	domain   string // lower-cased
	dir      *directory.Service
	xfer     *datatransfer.Service
	secret   string // the private key, only so it can be kept out of error text

	transport http.RoundTripper

	pollEvery time.Duration // between transfers.get calls
	pollFor   time.Duration // how long one TransferData call waits before handing back to its retry

	emails  sync.Map // user ID -> primary email, to spare a users.get per group change
	driveMu sync.Mutex
	driveID int64 // the Drive application's ID, once known
}

var _ integrations.Connector = (*Client)(nil)

// Option configures a Client.
type Option func(*Client)

// WithTransferPolling sets how often TransferData asks about a running transfer
// and for how long in total before it returns a Transient error for its retry.
func WithTransferPolling(every, total time.Duration) Option {
	return func(c *Client) {
		if every > 0 {
			c.pollEvery = every
		}
		if total > 0 {
			c.pollFor = total
		}
	}
}

// New returns a connector for app. It checks the settings and the service-account
// key but makes no call to Google.
func New(app integrations.AppConfig, opts ...Option) (*Client, error) {
	name := app.Name
	if name == "" {
		name = "(unnamed)"
	}
	p := func(k string) string { return strings.TrimSpace(app.Params[k]) }

	domain := strings.ToLower(p("domain"))
	if domain == "" || strings.ContainsAny(domain, "@/ ") || !strings.Contains(domain, ".") {
		return nil, invalidConfig(name, "domain", "is required: the Workspace's primary domain, such as example.com")
	}
	admin := p("admin_email")
	if at := strings.LastIndex(admin, "@"); at <= 0 || at == len(admin)-1 {
		return nil, invalidConfig(name, "admin_email", "is required: the email of a Workspace admin the service account acts as")
	}
	customer := p("customer")
	if customer == "" {
		customer = DefaultCustomer
	}
	base := p("base_url")
	if base == "" {
		base = strings.TrimSpace(app.BaseURL)
	}
	if base == "" {
		base = DefaultBaseURL
	}
	if err := checkBaseURL(base); err != "" {
		return nil, invalidConfig(name, "base_url", err)
	}
	if !strings.HasSuffix(base, "/") {
		base += "/"
	}
	key := app.Secrets["credentials"]
	cfg, problem := parseKey([]byte(key))
	if problem != "" {
		return nil, invalidConfig(name, "credentials", problem)
	}
	cfg.jwt.Subject = admin

	c := &Client{
		app: name, customer: customer, domain: domain,
		secret:    cfg.privateKey,
		pollEvery: 2 * time.Second,
		pollFor:   20 * time.Second,
	}
	for _, opt := range opts {
		opt(c)
	}
	if c.transport == nil {
		c.transport = defaultTransport()
	}
	// The token request runs on the context given to TokenSource, not the call's,
	// so it gets its own client with a timeout.
	tokenHTTP := &http.Client{Timeout: 30 * time.Second, Transport: c.transport}
	ts := cfg.jwt.TokenSource(context.WithValue(context.Background(), oauth2.HTTPClient, tokenHTTP))
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &oauth2.Transport{Source: ts, Base: c.transport}}

	ctx := context.Background()
	// Google's libraries log every request and response, bodies included, when
	// GOOGLE_SDK_GO_LOGGING_LEVEL is set; users.insert carries the initial
	// password, so their logger is silenced whatever the environment says.
	clientOpts := []option.ClientOption{option.WithHTTPClient(hc), option.WithEndpoint(base),
		option.WithLogger(slog.New(slog.DiscardHandler))}
	dir, err := directory.NewService(ctx, clientOpts...)
	if err != nil {
		return nil, invalidConfig(name, "base_url", "cannot be used: "+err.Error())
	}
	xfer, err := datatransfer.NewService(ctx, clientOpts...)
	if err != nil {
		return nil, invalidConfig(name, "base_url", "cannot be used: "+err.Error())
	}
	c.dir, c.xfer = dir, xfer
	return c, nil
}

// Factory adapts New to integrations.Factory.
func Factory(app integrations.AppConfig) (integrations.Connector, error) {
	return New(app)
}

func invalidConfig(app, field, problem string) error {
	return tenure.Invalid(tenure.FieldError{Field: "apps." + app + "." + field, Problem: problem})
}

func checkBaseURL(s string) string {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return "is not a URL"
	case u.Scheme != "http" && u.Scheme != "https":
		return "must be an http or https URL"
	case u.Host == "":
		return "has no host"
	case u.User != nil:
		return "must not carry credentials"
	case u.RawQuery != "" || u.Fragment != "":
		return "must not carry a query or fragment"
	}
	return ""
}

// serviceAccount is a parsed service-account key.
type serviceAccount struct {
	jwt        *jwt.Config
	privateKey string
}

// parseKey reads a service-account JSON key and checks that its private key can
// sign, so a broken secret is reported when the policy loads rather than on the
// first leaver. The problem text never quotes the key.
func parseKey(key []byte) (serviceAccount, string) {
	if len(strings.TrimSpace(string(key))) == 0 {
		return serviceAccount{}, "is required: a service-account JSON key, given as credentials_env or credentials_file"
	}
	var f struct {
		Type        string `json:"type"`
		ClientEmail string `json:"client_email"`
		PrivateKey  string `json:"private_key"`
		TokenURI    string `json:"token_uri"`
	}
	if err := json.Unmarshal(key, &f); err != nil {
		return serviceAccount{}, "is not a JSON service-account key"
	}
	switch {
	case f.Type != "service_account":
		return serviceAccount{}, "is a JSON key of type " + strconv.Quote(f.Type) + ", not a service_account key"
	case f.ClientEmail == "":
		return serviceAccount{}, "has no client_email"
	case f.PrivateKey == "":
		return serviceAccount{}, "has no private_key"
	}
	if f.TokenURI != "" {
		if p := checkBaseURL(f.TokenURI); p != "" {
			return serviceAccount{}, "has a token_uri that " + p
		}
	}
	if !signingKey(f.PrivateKey) {
		return serviceAccount{}, "has a private_key that is not a PEM RSA key"
	}
	cfg, err := googleoauth.JWTConfigFromJSON(key, Scopes...)
	if err != nil {
		return serviceAccount{}, "cannot be read as a service-account key"
	}
	return serviceAccount{jwt: cfg, privateKey: f.PrivateKey}, ""
}

func signingKey(p string) bool {
	block, _ := pem.Decode([]byte(p))
	if block == nil {
		return false
	}
	if k, err := x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
		_, ok := k.(*rsa.PrivateKey)
		return ok
	}
	_, err := x509.ParsePKCS1PrivateKey(block.Bytes)
	return err == nil
}

// defaultTransport keeps connections to Google alive between calls: a leaver fans
// out many calls at once, and a TLS handshake for each would dominate.
func defaultTransport() http.RoundTripper {
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          64,
		MaxIdleConnsPerHost:   32,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   5 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
}
