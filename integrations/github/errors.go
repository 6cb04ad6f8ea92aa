package github

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	gh "github.com/google/go-github/v88/github"

	"github.com/tenure-io/tenure/integrations"
)

// secondaryWait is how long GitHub's documentation says to wait after a
// secondary rate limit that names no time: "at least one minute".
const secondaryWait = time.Minute

// fail is the one place that decides what a failed GitHub call means. GitHub
// documents its limits this way: the primary limit is a 403 or 429 with
// x-ratelimit-remaining: 0, to be retried after x-ratelimit-reset; a secondary
// limit is a 403 or 429 saying so, to be retried after Retry-After, or after
// x-ratelimit-reset, or after a minute. go-github recognises both
// (RateLimitError, AbuseRateLimitError), and refuses further calls locally
// until the wait is over, so a limited connector does not keep knocking.
func (c *Client) fail(ctx context.Context, op string, err error) error {
	if err == nil {
		return nil
	}
	var done *integrations.Error
	if errors.As(err, &done) {
		return err // classified already
	}
	if ctx.Err() != nil {
		return integrations.TransportError(ctx, c.app, op, err, c.redact)
	}
	now := time.Now()
	var rle *gh.RateLimitError
	if errors.As(err, &rle) {
		wait := secondaryWait
		if !rle.Rate.Reset.IsZero() {
			wait = clampWait(rle.Rate.Reset.Sub(now))
		}
		return &integrations.Error{Kind: integrations.RateLimited, App: c.app, Op: op,
			Status: statusOf(rle.Response), Detail: c.redact(rle.Message), RetryAfter: wait}
	}
	var are *gh.AbuseRateLimitError
	if errors.As(err, &are) {
		wait := secondaryWait
		if are.RetryAfter != nil && *are.RetryAfter > 0 {
			wait = clampWait(*are.RetryAfter)
		}
		return &integrations.Error{Kind: integrations.RateLimited, App: c.app, Op: op,
			Status: statusOf(are.Response), Detail: c.redact(are.Message), RetryAfter: wait}
	}
	var er *gh.ErrorResponse
	if errors.As(err, &er) {
		return c.classify(op, er, now)
	}
	var ae *gh.AcceptedError
	if errors.As(err, &ae) {
		return &integrations.Error{Kind: integrations.Transient, App: c.app, Op: op, Status: http.StatusAccepted,
			Detail: "GitHub accepted the request but has not finished preparing the answer"}
	}
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	if errors.As(err, &se) || errors.As(err, &te) {
		// A 2xx we cannot read may be a proxy's page or a cut-off answer.
		return &integrations.Error{Kind: integrations.Transient, App: c.app, Op: op,
			Detail: "unreadable response: " + c.redact(err.Error())}
	}
	return integrations.TransportError(ctx, c.app, op, err, c.redact)
}

// classify maps an error answer that go-github did not single out.
func (c *Client) classify(op string, er *gh.ErrorResponse, now time.Time) error {
	status := statusOf(er.Response)
	e := &integrations.Error{App: c.app, Op: op, Status: status, Detail: c.redact(errorDetail(er))}
	switch {
	case status == http.StatusForbidden || status == http.StatusTooManyRequests:
		var h http.Header
		if er.Response != nil {
			h = er.Response.Header
		}
		msg := strings.ToLower(er.Message)
		if d, ok := integrations.RetryAfter(h.Get("Retry-After"), now); ok {
			e.Kind, e.RetryAfter = integrations.RateLimited, max(d, time.Second)
		} else if status == http.StatusTooManyRequests || strings.Contains(msg, "rate limit") || strings.Contains(msg, "abuse") {
			e.Kind, e.RetryAfter = integrations.RateLimited, secondaryWait
			if reset, err := strconv.ParseInt(h.Get("X-RateLimit-Reset"), 10, 64); err == nil && h.Get("X-RateLimit-Remaining") == "0" {
				e.RetryAfter = clampWait(time.Unix(reset, 0).Sub(now))
			}
		} else {
			// A forbidden 403: the token lacks a permission, or an org policy
			// (SAML enforcement, team sync) forbids the change.
			e.Kind = integrations.Permanent
		}
	default:
		// 401 (bad credentials) and 422 (validation) are permanent, as every
		// 4xx without a sign of its own.
		e.Kind = integrations.KindOfStatus(status)
	}
	return e
}

// errorDetail is GitHub's own explanation: the message, and each validation
// error's message or code.
func errorDetail(er *gh.ErrorResponse) string {
	parts := []string{strings.TrimSpace(er.Message)}
	for _, fe := range er.Errors {
		switch {
		case fe.Message != "":
			parts = append(parts, fe.Message)
		case fe.Code != "":
			parts = append(parts, fmt.Sprintf("%s %s on %s", fe.Code, fe.Field, fe.Resource))
		}
	}
	if er.Block != nil && er.Block.Reason != "" {
		parts = append(parts, "blocked: "+er.Block.Reason)
	}
	out := strings.Join(nonEmpty(parts), ": ")
	if out == "" && er.Response != nil {
		out = http.StatusText(er.Response.StatusCode)
	}
	return out
}

// alreadyMember reports whether GitHub refused an invitation because the
// person is in the organisation already.
func alreadyMember(err error) bool {
	var er *gh.ErrorResponse
	if !errors.As(err, &er) || statusOf(er.Response) != http.StatusUnprocessableEntity {
		return false
	}
	d := strings.ToLower(errorDetail(er))
	return strings.Contains(d, "already a part of") || strings.Contains(d, "already a member")
}

// isNotFound reports whether GitHub answered 404.
func isNotFound(err error) bool {
	var er *gh.ErrorResponse
	return errors.As(err, &er) && statusOf(er.Response) == http.StatusNotFound
}

func statusOf(r *http.Response) int {
	if r == nil {
		return 0
	}
	return r.StatusCode
}

func clampWait(d time.Duration) time.Duration {
	return min(max(d, time.Second), integrations.MaxRetryAfter)
}

func nonEmpty(ss []string) []string {
	out := ss[:0]
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// redact removes the token from text that came from GitHub or the network
// stack.
func (c *Client) redact(s string) string {
	if c.token == "" {
		return s
	}
	return strings.ReplaceAll(s, c.token, "[redacted]")
}
