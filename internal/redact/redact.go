// Package redact keeps personal data and credentials out of Tenure's logs. It
// is one rule in one place: a slog.Handler that rewrites every record before the
// handler it wraps sees it, replacing email addresses with [email] and bearer
// tokens and Authorization header values with [redacted], in the message and in
// every attribute: strings, errors, values that print as text, and groups, at
// any depth, including attributes bound earlier with Logger.With.
//
// An app's error body can quote a person's email ("user ada@example.com already
// exists"); whichever code logs that error, the log shows "user [email] already
// exists".
package redact

import (
	"context"
	"encoding"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
)

// The markers that replace what is redacted.
const (
	Email  = "[email]"
	Secret = "[redacted]"
)

var (
	// email is an address as people and apps write it, also percent-encoded in a
	// URL (ada%40example.com). The domain ends in a dot and a name of letters, so
	// "pkg@v1.2.3" stays. The local part is the usual letters, digits and . _ + -,
	// so "user=ada@..." keeps its "user=".
	email = regexp.MustCompile(`[\p{L}\p{N}._+-]+(?:@|%40)(?:[\p{L}\p{N}-]+\.)+\p{L}{2,}`)
	// authorization is an Authorization (or Proxy-Authorization) header with its
	// value, as a header line, a Go map or JSON print it; the scheme is kept.
	authorization = regexp.MustCompile(`(?i)\b((?:proxy-)?authorization["']?\s*[:=]\s*\[?["']?)(?:(basic|bearer|token|digest|negotiate|ntlm)\s+)?[^\s"',;\]]+`)
	// bearer is a bearer token anywhere else (token68, RFC 7235).
	bearer = regexp.MustCompile(`(?i)\b(bearer)(\s+)([A-Za-z0-9\-._~+/]+=*)`)
)

// String returns s with every email address, Authorization value and bearer
// token replaced by its marker.
func String(s string) string {
	if s == "" {
		return s
	}
	if strings.Contains(s, "@") || strings.Contains(s, "%40") {
		s = email.ReplaceAllString(s, Email)
	}
	s = authorization.ReplaceAllStringFunc(s, func(m string) string {
		sub := authorization.FindStringSubmatch(m)
		if sub[2] != "" {
			return sub[1] + sub[2] + " " + Secret
		}
		return sub[1] + Secret
	})
	return bearer.ReplaceAllStringFunc(s, func(m string) string {
		sub := bearer.FindStringSubmatch(m)
		if !tokenLike(sub[3]) {
			return m // prose: "the bearer token expired"
		}
		return sub[1] + sub[2] + Secret
	})
}

// tokenLike tells a credential from a word: it holds something other than
// letters, or is longer than English words written after "bearer" are.
func tokenLike(s string) bool {
	if len(s) >= 16 {
		return true
	}
	for _, r := range s {
		if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z') {
			return true
		}
	}
	return false
}

// Handler wraps a slog.Handler and redacts every record it passes on.
type Handler struct {
	next slog.Handler
}

var _ slog.Handler = (*Handler)(nil)

// New returns a Handler that redacts what it passes to next.
func New(next slog.Handler) *Handler { return &Handler{next: next} }

// Enabled is the wrapped handler's.
func (h *Handler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

// Handle passes on a copy of r with its message and attributes redacted.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, String(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(Attr(a))
		return true
	})
	return h.next.Handle(ctx, out)
}

// WithAttrs redacts attrs once, as they are bound.
func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	red := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		red[i] = Attr(a)
	}
	return &Handler{next: h.next.WithAttrs(red)}
}

// WithGroup names a group; the attributes that follow are redacted as they come.
func (h *Handler) WithGroup(name string) slog.Handler {
	return &Handler{next: h.next.WithGroup(name)}
}

// Attr returns a with its key and value redacted, groups at any depth. A value
// that is neither a string, an error nor a group is redacted as the text handler
// would print it, and left as it is when that text holds nothing to redact.
func Attr(a slog.Attr) slog.Attr {
	a.Key = String(a.Key)
	v := a.Value.Resolve()
	if (strings.EqualFold(a.Key, "authorization") || strings.EqualFold(a.Key, "proxy-authorization")) && v.Kind() != slog.KindGroup {
		a.Value = slog.StringValue(Secret) // a header's value, whatever its scheme
		return a
	}
	switch v.Kind() {
	case slog.KindString:
		a.Value = slog.StringValue(String(v.String()))
	case slog.KindGroup:
		group := v.Group()
		red := make([]slog.Attr, len(group))
		for i, g := range group {
			red[i] = Attr(g)
		}
		a.Value = slog.GroupValue(red...)
	case slog.KindAny:
		a.Value = anyValue(v)
	default:
		a.Value = v // numbers, times, durations: nothing to redact
	}
	return a
}

// anyValue redacts a value of kind Any: an error by its message, anything else
// by the text it prints as.
func anyValue(v slog.Value) slog.Value {
	var text string
	switch x := v.Any().(type) {
	case nil:
		return v
	case error:
		return slog.StringValue(String(x.Error()))
	case encoding.TextMarshaler:
		b, err := x.MarshalText()
		if err != nil {
			return slog.StringValue(String(err.Error()))
		}
		text = string(b)
	case []byte:
		text = string(x)
	default:
		text = fmt.Sprintf("%+v", x)
	}
	if red := String(text); red != text {
		return slog.StringValue(red)
	}
	return v
}
