package integrations

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
)

// KindOfStatus is what an HTTP error status means for a call to an app, where
// the app says nothing more specific: 429 is a rate limit; 5xx and 408 (the app
// timed out waiting for us) are transient; 404 is not found; 409 is a conflict;
// 400, 401, 403 and every other status are permanent, because a person must
// change something. Connectors look at an app's own signals first (Google's
// quota reasons, GitHub's secondary rate limit) and fall back to this.
func KindOfStatus(status int) Kind {
	switch {
	case status == http.StatusTooManyRequests:
		return RateLimited
	case status >= 500, status == http.StatusRequestTimeout:
		return Transient
	case status == http.StatusNotFound:
		return NotFound
	case status == http.StatusConflict:
		return Conflict
	}
	return Permanent
}

// TransportError is a call to app that got no answer. When ctx has ended, the
// caller gave up (an activity was cancelled or timed out), and the error says so
// rather than blaming the app. Otherwise the network failed, which is
// Transient. redact scrubs secrets from the network stack's text, which may
// quote the request.
func TransportError(ctx context.Context, app, op string, err error, redact func(string) string) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("%s: %s: %w", app, op, ctxErr)
	}
	// The *url.Error wrapper repeats the whole request URL, filters and all.
	cause := err.Error()
	var ue *url.Error
	if errors.As(err, &ue) {
		cause = ue.Err.Error()
	}
	detail := "request failed: " + redact(cause)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		detail = "timed out: " + redact(cause)
	}
	return &Error{Kind: Transient, App: app, Op: op, Detail: detail}
}
