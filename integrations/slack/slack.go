// Package slack is Tenure's Slack app: it implements tenure.Notifier by posting
// Block Kit messages through Slack's Web API (approval requests with Approve and
// Deny buttons, reminders, escalations, decisions, accounts ready, failed steps
// with a Retry button, leaver summaries, the guard's holds with Release and
// Discard buttons), and gives the API what it needs to answer Slack's
// interactions: signature checks, the clicker's email, the deny modal,
// ephemeral replies and the rewrite of a decided hold's alert. Every Web API call goes through
// github.com/slack-go/slack. Without Slack, activities.LogNotifier logs what
// would have been sent.
//
// The package is also the slack connector kind (Connector, Spec): people's
// Slack accounts over Slack's SCIM API, with an org admin's token rather than
// the notifier's bot token.
package slack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	slackapi "github.com/slack-go/slack"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/integrations"
)

// DefaultAPIURL is Slack's own Web API; TENURE_SLACK_API_URL points elsewhere.
const DefaultAPIURL = "https://slack.com/api/"

// DefaultResponseURLBase is where Slack's response URLs live: the only place
// Respond posts to, unless TENURE_SLACK_RESPONSE_URL_BASE says otherwise.
const DefaultResponseURLBase = "https://hooks.slack.com/"

// The identifiers of the app's interactive elements: the API matches on them.
const (
	// ActionApprove and ActionDeny are the buttons of an approval request; their
	// value is the approval ID.
	ActionApprove = "approve"
	ActionDeny    = "deny"
	// ActionRetry is the button of a failed-step alert; its value is RetryValue.
	ActionRetry = "retry"
	// DenyCallback is the callback_id of the modal that asks why access is denied;
	// its private_metadata is the approval ID.
	DenyCallback = "deny_reason"
	// DenyReasonBlock and DenyReasonAction locate the reason in the modal's state.
	DenyReasonBlock  = "reason"
	DenyReasonAction = "reason"
	// ApprovalBlockPrefix starts the block_id of an approval's buttons, followed
	// by the approval ID.
	ApprovalBlockPrefix = "approval:"
	// ActionRelease and ActionDiscard are the buttons of a guard hold's alert;
	// their value is the hold ID.
	ActionRelease = "hold_release"
	ActionDiscard = "hold_discard"
	// HoldBlockPrefix starts the block_id of a hold alert's buttons, followed
	// by the hold ID.
	HoldBlockPrefix = "hold:"
)

// MaxReason is the longest deny reason the modal accepts.
const MaxReason = 1000

// Config is how Tenure reaches Slack. BotToken and SigningSecret are secrets:
// they are never logged.
type Config struct {
	BotToken        string
	SigningSecret   string
	APIURL          string
	ITChannel       string
	SecurityChannel string
	// ResponseURLBase is the only place an interaction's response_url may point:
	// its scheme and host, and a path under its path. Empty means
	// DefaultResponseURLBase; tests point it at their fake.
	ResponseURLBase string
	// Admins are the emails of the people allowed to press Retry, and
	// Release or Discard on a guard hold's alert.
	Admins []string
	// ConsoleURL is Tenure's console, linked from messages when set.
	ConsoleURL string
}

// String leaves the secrets out so a config can be logged.
func (c Config) String() string {
	return fmt.Sprintf("slack at %s (IT channel %s, security channel %s, %d admins)",
		c.APIURL, c.ITChannel, c.SecurityChannel, len(c.Admins))
}

// FromEnv reads the TENURE_SLACK_* variables. ok is false when no bot token is
// set: Slack is then off and notices are only logged.
func FromEnv(getenv func(string) string) (cfg Config, ok bool) {
	get := func(k string) string { return strings.TrimSpace(getenv(k)) }
	cfg = Config{
		BotToken:        get("TENURE_SLACK_BOT_TOKEN"),
		SigningSecret:   get("TENURE_SLACK_SIGNING_SECRET"),
		APIURL:          get("TENURE_SLACK_API_URL"),
		ResponseURLBase: get("TENURE_SLACK_RESPONSE_URL_BASE"),
		ITChannel:       get("TENURE_SLACK_IT_CHANNEL"),
		SecurityChannel: get("TENURE_SLACK_SECURITY_CHANNEL"),
		ConsoleURL:      get("TENURE_CONSOLE_URL"),
	}
	if cfg.APIURL == "" {
		cfg.APIURL = DefaultAPIURL
	}
	if cfg.SecurityChannel == "" {
		cfg.SecurityChannel = cfg.ITChannel
	}
	for _, a := range strings.Split(get("TENURE_SLACK_ADMINS"), ",") {
		if a = strings.TrimSpace(a); a != "" {
			cfg.Admins = append(cfg.Admins, a)
		}
	}
	return cfg, cfg.BotToken != ""
}

// Option changes how New builds a Slack.
type Option func(*Slack)

// WithLogger sets the logger for what Slack refused.
func WithLogger(l *slog.Logger) Option { return func(s *Slack) { s.log = l } }

// WithHTTPClient sets the HTTP client of every call to Slack; its timeout and
// transport are kept, and response URLs never follow its redirects.
func WithHTTPClient(c *http.Client) Option { return func(s *Slack) { s.http = c } }

// Slack posts Tenure's notices to Slack and serves the API's interactions. It is
// safe for concurrent use.
type Slack struct {
	cfg  Config
	api  *slackapi.Client
	http *http.Client
	// hooks is cfg.ResponseURLBase, parsed, and hookClient the client that posts
	// there: it follows no redirect, so nothing sent to a response URL goes on
	// to another host.
	hooks      *url.URL
	hookClient *http.Client
	log        *slog.Logger
}

// New checks cfg and returns a Slack that calls the Web API at cfg.APIURL. It
// makes no call: a wrong token shows on the first notice.
func New(cfg Config, opts ...Option) (*Slack, error) {
	var p []tenure.FieldError
	if cfg.BotToken == "" {
		p = append(p, tenure.FieldError{Field: "TENURE_SLACK_BOT_TOKEN", Problem: "is required (the bot token, xoxb-...)"})
	}
	if cfg.SigningSecret == "" {
		p = append(p, tenure.FieldError{Field: "TENURE_SLACK_SIGNING_SECRET", Problem: "is required to check that interactions come from Slack"})
	}
	if cfg.APIURL == "" {
		cfg.APIURL = DefaultAPIURL
	}
	if u, err := url.Parse(cfg.APIURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		p = append(p, tenure.FieldError{Field: "TENURE_SLACK_API_URL", Problem: "must be an http or https URL such as " + DefaultAPIURL})
	}
	if cfg.ResponseURLBase == "" {
		cfg.ResponseURLBase = DefaultResponseURLBase
	}
	if !strings.HasSuffix(cfg.ResponseURLBase, "/") {
		cfg.ResponseURLBase += "/"
	}
	hooks, err := url.Parse(cfg.ResponseURLBase)
	if err != nil || (hooks.Scheme != "https" && hooks.Scheme != "http") || hooks.Host == "" || hooks.User != nil ||
		hooks.RawQuery != "" || hooks.Fragment != "" {
		p = append(p, tenure.FieldError{Field: "TENURE_SLACK_RESPONSE_URL_BASE", Problem: "must be an http or https URL without credentials or a query, such as " + DefaultResponseURLBase})
	}
	if cfg.ITChannel == "" {
		p = append(p, tenure.FieldError{Field: "TENURE_SLACK_IT_CHANNEL", Problem: "is required: failed steps and leaver summaries go there"})
	}
	if len(p) > 0 {
		return nil, tenure.Invalid(p...)
	}
	if !strings.HasSuffix(cfg.APIURL, "/") {
		cfg.APIURL += "/"
	}
	if cfg.SecurityChannel == "" {
		cfg.SecurityChannel = cfg.ITChannel
	}
	s := &Slack{cfg: cfg, hooks: hooks}
	for _, o := range opts {
		o(s)
	}
	if s.http == nil {
		s.http = &http.Client{Timeout: 15 * time.Second}
	}
	s.hookClient = &http.Client{
		Timeout:       s.http.Timeout,
		Transport:     s.http.Transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	// Slack prefers the token in the Authorization header; slack-go sends it as a
	// form field for form-encoded methods, so add the header on calls to the API.
	apiClient := &http.Client{
		Timeout:       s.http.Timeout,
		Jar:           s.http.Jar,
		CheckRedirect: s.http.CheckRedirect,
		Transport:     bearer{base: s.http.Transport, prefix: cfg.APIURL, token: cfg.BotToken},
	}
	s.api = slackapi.New(cfg.BotToken,
		slackapi.OptionAPIURL(cfg.APIURL),
		slackapi.OptionHTTPClient(apiClient))
	return s, nil
}

// bearer adds the bot token as a bearer token to requests for the Web API only,
// never to other hosts (a response_url is Slack's, but needs no token).
type bearer struct {
	base   http.RoundTripper
	prefix string
	token  string
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	base := b.base
	if base == nil {
		base = http.DefaultTransport
	}
	if strings.HasPrefix(r.URL.String(), b.prefix) && r.Header.Get("Authorization") == "" {
		r = r.Clone(r.Context())
		r.Header.Set("Authorization", "Bearer "+b.token)
	}
	return base.RoundTrip(r)
}

// Admins are the emails allowed to press Retry, as configured.
func (s *Slack) Admins() []string { return append([]string(nil), s.cfg.Admins...) }

// callError classifies a failed Web API call the way connectors do, so that the
// activity that sent the notice retries what is worth retrying: a rate limit
// after Slack's Retry-After, a network fault or 5xx with backoff, and anything
// Slack refused (a bad token, a missing scope, an unknown user) not at all.
func callError(method string, err error) error {
	if err == nil {
		return nil
	}
	e := &integrations.Error{App: "slack", Op: method}
	var (
		rl   *slackapi.RateLimitedError
		sc   slackapi.StatusCodeError
		se   slackapi.SlackErrorResponse
		nerr net.Error
	)
	switch {
	case errors.As(err, &rl):
		e.Kind, e.Status, e.RetryAfter, e.Detail = integrations.RateLimited, http.StatusTooManyRequests, rl.RetryAfter, "rate limited"
	case errors.As(err, &sc):
		e.Status, e.Detail = sc.Code, sc.Status
		e.Kind = integrations.Permanent
		if sc.Code >= 500 || sc.Code == http.StatusRequestTimeout {
			e.Kind = integrations.Transient
		}
	case errors.As(err, &se):
		e.Detail = se.Err
		switch se.Err {
		case "ratelimited":
			e.Kind, e.RetryAfter = integrations.RateLimited, time.Minute
		case "internal_error", "fatal_error", "service_unavailable", "request_timeout":
			e.Kind = integrations.Transient
		case "users_not_found", "user_not_found", "channel_not_found", "message_not_found":
			e.Kind = integrations.NotFound
		default:
			e.Kind = integrations.Permanent
		}
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded), errors.As(err, &nerr):
		e.Kind, e.Detail = integrations.Transient, err.Error()
	default:
		e.Kind, e.Detail = integrations.Transient, err.Error()
	}
	return e
}
