package google

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"google.golang.org/api/googleapi"

	"github.com/tenure-io/tenure/integrations"
)

// How long to wait on a rate limit that comes without Retry-After. Google asks for
// exponential backoff; these are the first steps of it, and the activity's own
// retry policy grows them from there. The per-minute quota resets within a
// minute, the daily one within the day.
const (
	rateLimitWait  = 5 * time.Second
	quotaWait      = 30 * time.Second
	dailyLimitWait = time.Hour
)

// maxDetail bounds how much of a non-JSON error body reaches an error message.
const maxDetail = 300

// failure is the one place that decides what a failed call means, from Google's
// documented errors: the Directory and Data Transfer APIs' JSON errors, the token
// endpoint's OAuth errors, and the network.
func (c *Client) failure(ctx context.Context, op string, err error) error {
	if err == nil {
		return nil
	}
	var ge *googleapi.Error
	if errors.As(err, &ge) {
		return c.apiFailure(op, ge)
	}
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		return c.tokenFailure(op, re)
	}
	return integrations.TransportError(ctx, c.app, op, err, c.redact)
}

func (c *Client) apiFailure(op string, ge *googleapi.Error) error {
	e := &integrations.Error{App: c.app, Op: op, Status: ge.Code, Detail: c.redact(apiDetail(ge))}
	reason := ""
	if len(ge.Errors) > 0 {
		reason = ge.Errors[0].Reason
	}
	switch s := ge.Code; {
	case s == http.StatusForbidden && (reason == "rateLimitExceeded" || reason == "userRateLimitExceeded"):
		e.Kind, e.RetryAfter = integrations.RateLimited, retryAfter(ge.Header, rateLimitWait)
	case s == http.StatusForbidden && reason == "quotaExceeded":
		e.Kind, e.RetryAfter = integrations.RateLimited, retryAfter(ge.Header, quotaWait)
	case s == http.StatusForbidden && reason == "dailyLimitExceeded":
		e.Kind, e.RetryAfter = integrations.RateLimited, retryAfter(ge.Header, dailyLimitWait)
	case strings.Contains(ge.Message, "User creation is not complete"):
		// Google documents that calls right after users.insert may fail while the
		// new user propagates, and that retrying a little later succeeds.
		e.Kind = integrations.Transient
	default:
		// A forbidden 403 (domain-wide delegation or admin privileges missing,
		// the API not enabled) is as permanent as any other 4xx.
		e.Kind = integrations.KindOfStatus(s)
		if e.Kind == integrations.RateLimited {
			e.RetryAfter = retryAfter(ge.Header, rateLimitWait)
		}
	}
	return e
}

// apiDetail is Google's own explanation: the message, and the first error's
// reason, which is what Google's documentation indexes its errors by.
func apiDetail(ge *googleapi.Error) string {
	msg := strings.TrimSpace(ge.Message)
	reason := ""
	if len(ge.Errors) > 0 {
		reason = ge.Errors[0].Reason
		if msg == "" {
			msg = ge.Errors[0].Message
		}
	}
	if msg == "" {
		msg = snippet(ge.Body)
	}
	if reason != "" {
		msg += " (reason " + reason + ")"
	}
	return msg
}

// tokenFailure maps a refused token request. Google answers 400 invalid_grant
// for a bad signature, clock or subject, and 401 unauthorized_client when
// domain-wide delegation is not set up for the scopes.
func (c *Client) tokenFailure(op string, re *oauth2.RetrieveError) error {
	status := 0
	var h http.Header
	if re.Response != nil {
		status, h = re.Response.StatusCode, re.Response.Header
	}
	// The JWT flow leaves ErrorCode empty, so the body is read here.
	code, desc := re.ErrorCode, re.ErrorDescription
	if code == "" {
		var body struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		if json.Unmarshal(re.Body, &body) == nil {
			code, desc = body.Error, body.Description
		}
	}
	detail := "the token endpoint refused the service account"
	if code != "" {
		detail += ": " + code
		if desc != "" {
			detail += ": " + desc
		}
	} else if s := snippet(string(re.Body)); s != "" {
		detail += ": " + s
	}
	if code == "unauthorized_client" {
		detail += "; authorise the service account's client ID for the scopes " +
			strings.Join(Scopes, ",") + " under domain-wide delegation in the Admin console"
	}
	e := &integrations.Error{App: c.app, Op: op, Status: status, Detail: c.redact(detail)}
	switch {
	case status == http.StatusTooManyRequests:
		e.Kind, e.RetryAfter = integrations.RateLimited, retryAfter(h, rateLimitWait)
	case status >= 500 || status == 0:
		e.Kind = integrations.Transient
	default:
		e.Kind = integrations.Permanent
	}
	return e
}

func retryAfter(h http.Header, def time.Duration) time.Duration {
	if d, ok := integrations.RetryAfter(h.Get("Retry-After"), time.Now()); ok {
		return d
	}
	return def
}

func snippet(body string) string {
	s := strings.Join(strings.Fields(body), " ")
	if len(s) > maxDetail {
		cut := maxDetail
		for cut > 0 && s[cut]&0xC0 == 0x80 {
			cut--
		}
		s = s[:cut] + "..."
	}
	return s
}

// redact keeps the service account's private key out of any text that leaves
// the connector, whatever echoed it.
func (c *Client) redact(s string) string {
	if c.secret == "" {
		return s
	}
	s = strings.ReplaceAll(s, c.secret, "[redacted]")
	// The key as it appears inside JSON, with its newlines escaped.
	return strings.ReplaceAll(s, strings.ReplaceAll(c.secret, "\n", `\n`), "[redacted]")
}
