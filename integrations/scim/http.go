package scim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
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
	_, err := c.send(ctx, op, method, path, query, "", in, out)
	return err
}

// readRetries are the pauses before a read that met a transient fault (a 5xx,
// a refused or dropped connection) is sent again within the same call. A step
// reads an app several times; without them, an app failing 30% of requests
// fails most steps, and each failed step waits out Temporal's backoff. Only
// reads are repeated here: a write that failed may have been applied, and
// whether to send it again is the step's decision, made after reading back.
var readRetries = []time.Duration{100 * time.Millisecond, 300 * time.Millisecond}

// send is do with an optional If-Match header; it also returns the response's
// ETag header, which is where some apps put a resource's version.
func (c *Client) send(ctx context.Context, op, method, path string, query url.Values, ifMatch string, in, out any) (string, error) {
	etag, err := c.sendOnce(ctx, op, method, path, query, ifMatch, in, out)
	if method != http.MethodGet {
		return etag, err
	}
	for _, pause := range readRetries {
		if err == nil || integrations.KindOf(err) != integrations.Transient || ctx.Err() != nil {
			break
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return etag, err
		case <-t.C:
		}
		etag, err = c.sendOnce(ctx, op, method, path, query, ifMatch, in, out)
	}
	return etag, err
}

// sendOnce sends the request once.
func (c *Client) sendOnce(ctx context.Context, op, method, path string, query url.Values, ifMatch string, in, out any) (string, error) {
	u := c.base + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return "", &integrations.Error{Kind: integrations.Permanent, App: c.app, Op: op,
				Detail: "cannot encode the request: " + err.Error()}
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return "", &integrations.Error{Kind: integrations.Permanent, App: c.app, Op: op,
			Detail: "cannot build the request: " + c.redact(err.Error())}
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", MediaType)
	if in != nil {
		req.Header.Set("Content-Type", MediaType)
	}
	if ifMatch != "" {
		req.Header.Set("If-Match", ifMatch)
	}

	resp, err := c.http.Do(req)
	if err != nil {
		return "", c.failure(ctx, op, nil, nil, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return "", c.failure(ctx, op, nil, nil, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return "", c.failure(ctx, op, resp, data, nil)
	}
	etag := resp.Header.Get("ETag")
	if out == nil || len(bytes.TrimSpace(data)) == 0 {
		return etag, nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		// A 2xx we cannot read may hide a proxy's login page or a half-written
		// answer; another attempt may well succeed, so it is not permanent.
		return "", &integrations.Error{Kind: integrations.Transient, App: c.app, Op: op, Status: resp.StatusCode,
			Detail: "unreadable response: " + err.Error()}
	}
	return etag, nil
}

// statusOf is the HTTP status an error carries, or 0.
func statusOf(err error) int {
	var e *integrations.Error
	if errors.As(err, &e) {
		return e.Status
	}
	return 0
}

// scimTypeIs reports whether err is the app's SCIM error of type t (RFC 7644
// section 3.12), which errorDetail keeps in the Detail.
func scimTypeIs(err error, t string) bool {
	var e *integrations.Error
	return errors.As(err, &e) && strings.Contains(e.Detail, t)
}

// modify sends a PATCH, PUT or DELETE of the resource at path, with If-Match
// where the app wants it. An app that requires ETags answers a request without
// one 428 (or 412); the connector then remembers to read the version first. A
// stale version (412: someone changed the resource between our read and our
// write) is read again and the write retried once, inside this call, since the
// operations Tenure sends are the same whatever the version.
func (c *Client) modify(ctx context.Context, op, method, path string, in, out any) error {
	var etag string
	if c.etags == etagsAlways || (c.etags == etagsAuto && c.etagsRequired.Load()) {
		v, err := c.version(ctx, op, path)
		if err != nil {
			return err
		}
		etag = v
	}
	for attempt := 0; ; attempt++ {
		_, err := c.send(ctx, op, method, path, nil, etag, in, out)
		s := statusOf(err)
		if s != http.StatusPreconditionRequired && s != http.StatusPreconditionFailed {
			return err
		}
		if c.etags == etagsNever || attempt == 1 {
			return err
		}
		if etag == "" {
			c.etagsRequired.Store(true)
		}
		v, verr := c.version(ctx, op, path)
		if verr != nil {
			return verr
		}
		if v == "" {
			return err // the app wants a version it does not give out
		}
		etag = v
	}
}

// version reads the resource at path for its version: meta.version, or else
// the ETag header (RFC 7644 section 3.14).
func (c *Client) version(ctx context.Context, op, path string) (string, error) {
	var r struct {
		Meta struct {
			Version string `json:"version"`
		} `json:"meta"`
	}
	var q url.Values
	if strings.HasPrefix(path, "/Groups/") {
		q = url.Values{"excludedAttributes": {"members"}} // a big group's members are not needed
	}
	etag, err := c.send(ctx, op, http.MethodGet, path, q, "", nil, &r)
	if err != nil {
		return "", err
	}
	if r.Meta.Version != "" {
		return r.Meta.Version, nil
	}
	return etag, nil
}

// failure is the one place that decides what a failed SCIM call means: either
// the transport failed (err set) or the app answered with a non-2xx status.
func (c *Client) failure(ctx context.Context, op string, resp *http.Response, body []byte, err error) error {
	if err != nil {
		return integrations.TransportError(ctx, c.app, op, err, c.redact)
	}

	e := &integrations.Error{App: c.app, Op: op, Status: resp.StatusCode, Detail: c.errorDetail(body),
		Kind: integrations.KindOfStatus(resp.StatusCode)}
	if e.Kind == integrations.RateLimited {
		e.RetryAfter = defaultRetryAfter
		if d, ok := integrations.RetryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
			e.RetryAfter = d
		}
	}
	return e
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

// pages reads every page of the list at path (RFC 7644 section 3.4.2.4) and
// calls fn with each page's resources until fn returns false. It trusts only
// what arrived: apps return fewer than count (a filter.maxResults cap) or more
// (a fixed page size), leave itemsPerPage and totalResults out, or ignore
// startIndex altogether; the next page starts after the last resource received,
// and a page that repeats the one before ends the listing rather than looping.
func (c *Client) pages(ctx context.Context, op, path string, query url.Values, fn func([]json.RawMessage) bool) error {
	return c.pagesFrom(ctx, op, path, query, 1, func(page []json.RawMessage, _ int) bool { return fn(page) })
}

// pagesFrom is pages from the resource at startIndex start on, calling fn
// with each page's resources and the startIndex of the page after it: 0 when
// the app's totalResults says there is none.
func (c *Client) pagesFrom(ctx context.Context, op, path string, query url.Values, start int, fn func(page []json.RawMessage, next int) bool) error {
	var lastFirst string
	for {
		q := url.Values{}
		for k, v := range query {
			q[k] = v
		}
		q.Set("startIndex", strconv.Itoa(start))
		q.Set("count", strconv.Itoa(pageSize))
		var page listResponse[json.RawMessage]
		if err := c.do(ctx, op, http.MethodGet, path, q, nil, &page); err != nil {
			return err
		}
		n := len(page.Resources)
		if n == 0 {
			return nil
		}
		if page.StartIndex > 0 && page.StartIndex != start {
			return &integrations.Error{Kind: integrations.Permanent, App: c.app, Op: op,
				Detail: fmt.Sprintf("asked for startIndex %d, the app answered with startIndex %d", start, page.StartIndex)}
		}
		first := string(page.Resources[0])
		if start > 1 && first == lastFirst {
			return &integrations.Error{Kind: integrations.Permanent, App: c.app, Op: op,
				Detail: fmt.Sprintf("the app ignores startIndex: page %d repeats the page before it", start)}
		}
		lastFirst = first
		next := start + n
		if page.TotalResults > 0 && next > page.TotalResults {
			next = 0
		}
		if !fn(page.Resources, next) || next == 0 {
			return nil
		}
		start = next
	}
}
