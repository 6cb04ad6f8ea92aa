package integrations_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/tenure-io/tenure/integrations"
)

func TestKindOfStatus(t *testing.T) {
	for status, want := range map[int]integrations.Kind{
		429: integrations.RateLimited, 500: integrations.Transient, 503: integrations.Transient,
		408: integrations.Transient, 404: integrations.NotFound, 409: integrations.Conflict,
		400: integrations.Permanent, 401: integrations.Permanent, 403: integrations.Permanent, 422: integrations.Permanent,
	} {
		if got := integrations.KindOfStatus(status); got != want {
			t.Errorf("KindOfStatus(%d) = %s, want %s", status, got, want)
		}
	}
}

func TestTransportErrorRedactsAndSaysWhoGaveUp(t *testing.T) {
	redact := func(s string) string { return strings.ReplaceAll(s, "s3cret", "[redacted]") }
	_, err := http.Get("http://127.0.0.1:1/scim?token=s3cret")
	e := &integrations.Error{}
	if got := integrations.TransportError(context.Background(), "app", "get", err, redact); !errors.As(got, &e) ||
		e.Kind != integrations.Transient || strings.Contains(e.Detail, "s3cret") || strings.Contains(e.Detail, "127.0.0.1:1/scim") {
		t.Fatalf("a refused connection: %v, want transient, without the URL or the secret", got)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if got := integrations.TransportError(ctx, "app", "get", err, redact); !errors.Is(got, context.Canceled) {
		t.Fatalf("a call the caller gave up on: %v, want context.Canceled", got)
	}
}
