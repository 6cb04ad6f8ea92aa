package scim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/tenure-io/tenure/integrations"
)

const (
	// maxBody bounds how much of a response is read, so a misbehaving app cannot
	// exhaust the worker's memory.
	maxBody = 16 << 20
	// maxSnippet bounds how much of a non-SCIM error body reaches an error message.
	maxSnippet = 300
	// defaultRetryAfter is the wait when a 429 does not say how long to wait.
	defaultRetryAfter = time.Second
)

// do sends one SCIM request and decodes a 2xx JSON answer into out (when out is
// not nil). Any other outcome is returned as an *integrations.Error, or as the
// context's error when ctx ended.
func (c *Client) do(ctx context.Context, op, method, path string, query url.Values, in, out any) error {
	u := c.base + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return &integrations.Error{Kind: integrations.Permanent, App: c.app, Op: op,
				Detail: "cannot encode the request: " + err.Error()}
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return &integrations.Error{Kind: integrations.Permanent, App: c.app, Op: op,
			Detail: "cannot build the request: " + c.redact(err.Error())}
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", MediaType)
	if in != nil {
		req.Header.Set("Content-Type", MediaType)
	}

	resp, err := c.http.Do(req)
	if err != nil {
		return c.failure(ctx, op, nil, nil, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return c.failure(ctx, op, nil, nil, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return c.failure(ctx, op, resp, data, nil)
	}
	if out == nil || len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		// A 2xx we cannot read may hide a proxy's login page or a half-written
		// answer; another attempt may well succeed, so it is not permanent.
		return &integrations.Error{Kind: integrations.Transient, App: c.app, Op: op, Status: resp.StatusCode,
			Detail: "unreadable response: " + err.Error()}
	}
	return nil
}

// failure is the one place that decides what a failed SCIM call means: either
// the transport failed (err set) or the app answered with a non-2xx status.
func (c *Client) failure(ctx context.Context, op string, resp *http.Response, body []byte, err error) error {
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			// The caller gave up (an activity was cancelled or timed out): say so
			// plainly rather than dressing it up as the app's fault.
			return fmt.Errorf("%s: %s: %w", c.app, op, ctxErr)
		}
		detail := "request failed: " + c.redact(transportCause(err))
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			detail = "timed out: " + c.redact(transportCause(err))
		}
		return &integrations.Error{Kind: integrations.Transient, App: c.app, Op: op, Detail: detail}
	}

	e := &integrations.Error{App: c.app, Op: op, Status: resp.StatusCode, Detail: c.errorDetail(body)}
	switch s := resp.StatusCode; {
	case s == http.StatusTooManyRequests:
		e.Kind = integrations.RateLimited
		e.RetryAfter = defaultRetryAfter
		if d, ok := integrations.RetryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
			e.RetryAfter = d
		}
	case s >= 500:
		e.Kind = integrations.Transient
	case s == http.StatusNotFound:
		e.Kind = integrations.NotFound
	case s == http.StatusConflict:
		e.Kind = integrations.Conflict
	case s == http.StatusRequestTimeout:
		// The app timed out waiting for us: a timeout, not a refusal.
		e.Kind = integrations.Transient
	default:
		// 400, 401, 403 and every other status: a person must change something.
		e.Kind = integrations.Permanent
	}
	return e
}

// transportCause drops the *url.Error wrapper, whose message repeats the whole
// request URL, filters and all.
func transportCause(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
}

// scimError is RFC 7644 section 3.12's error response.
type scimError struct {
	Detail   string `json:"detail"`
	ScimType string `json:"scimType"`
}

// errorDetail returns the app's own explanation: the SCIM error's detail and
// scimType, or else a trimmed snippet of whatever the body held.
func (c *Client) errorDetail(body []byte) string {
	var se scimError
	if json.Unmarshal(body, &se) == nil && (se.Detail != "" || se.ScimType != "") {
		d := strings.TrimSpace(se.Detail)
		if se.ScimType != "" {
			if d == "" {
				d = se.ScimType
			} else {
				d += " (scimType " + se.ScimType + ")"
			}
		}
		return c.redact(d)
	}
	snippet := strings.Join(strings.Fields(string(body)), " ")
	if len(snippet) > maxSnippet {
		cut := maxSnippet
		for cut > 0 && !isRuneStart(snippet[cut]) {
			cut--
		}
		snippet = snippet[:cut] + "..."
	}
	return c.redact(snippet)
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }

// redact removes the bearer token from text that came from the app or the
// network stack: some apps echo the request headers in their error pages.
func (c *Client) redact(s string) string {
	if c.token == "" {
		return s
	}
	return strings.ReplaceAll(s, c.token, "[redacted]")
}
