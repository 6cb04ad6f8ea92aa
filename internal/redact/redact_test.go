package redact

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestString(t *testing.T) {
	for in, want := range map[string]string{
		"":                         "",
		"E1001 joined Engineering": "E1001 joined Engineering",
		"ada@example.com":          "[email]",
		"user ada.lovelace+hr@mail.example.co.uk already exists":           "user [email] already exists",
		`{"error":"Ada.Lovelace@Example.COM taken"}`:                       `{"error":"[email] taken"}`,
		"emails: a@x.example, b@y.example":                                 "emails: [email], [email]",
		"user=ada@example.com":                                             "user=[email]",
		"<ada@example.com>":                                                "<[email]>",
		"GET /users?filter=userName%20eq%20%22ada%40example.com%22":        "GET /users?filter=userName%20eq%20%[email]%22",
		"zoë@exämple.de":                                                   "[email]",
		"go get example.com/pkg@v1.2.3":                                    "go get example.com/pkg@v1.2.3", // a version, not an address
		"@here and @channel":                                               "@here and @channel",
		"a @ b":                                                            "a @ b",
		"Authorization: Bearer xoxb-1234":                                  "Authorization: Bearer [redacted]",
		"authorization: Basic dXNlcjpwYXNz":                                "authorization: Basic [redacted]",
		"Proxy-Authorization: abc123":                                      "Proxy-Authorization: [redacted]",
		"map[Authorization:[Bearer eyJhbGciOi.eyJzdWIi.sig] Accept:[*/*]]": "map[Authorization:[Bearer [redacted]] Accept:[*/*]]",
		`{"Authorization":"token ghp_abcdef0123"}`:                         `{"Authorization":"token [redacted]"}`,
		"sent Bearer tnr_0123456789abcdef to the app":                      "sent Bearer [redacted] to the app",
		"the bearer token expired":                                         "the bearer token expired",
		"bearer ABCDEFGHIJKLMNOPQRSTUV":                                    "bearer [redacted]",
	} {
		if got := String(in); got != want {
			t.Errorf("String(%q) = %q, want %q", in, got, want)
		}
	}
}

// stringer prints as text with an email, as a struct's String method might.
type stringer struct{ who string }

func (s stringer) String() string { return "person " + s.who }

// valuer resolves lazily to a group holding an email.
type valuer struct{}

func (valuer) LogValue() slog.Value {
	return slog.GroupValue(slog.String("email", "lazy@example.com"), slog.Int("n", 1))
}

func TestHandler(t *testing.T) {
	appErr := fmt.Errorf("scim: create: HTTP 409: %w", errors.New(`{"detail":"userName ada@example.com is taken"}`))
	for _, c := range []struct {
		name string
		log  func(l *slog.Logger)
		want []string // in the output
	}{
		{"message", func(l *slog.Logger) { l.Info("mailing ada@example.com") }, []string{`msg="mailing [email]"`}},
		{"string attribute", func(l *slog.Logger) { l.Info("m", "to", "ada@example.com") }, []string{"to=[email]"}},
		{"error attribute", func(l *slog.Logger) { l.Error("m", "error", appErr) }, []string{"userName [email] is taken"}},
		{"slog.Any error", func(l *slog.Logger) { l.Error("m", slog.Any("err", appErr)) }, []string{"[email] is taken"}},
		{"group, nested", func(l *slog.Logger) {
			l.Info("m", slog.Group("person", slog.String("id", "E1"), slog.Group("contact", slog.String("email", "ada@example.com"))))
		}, []string{"person.id=E1", "person.contact.email=[email]"}},
		{"bound with With", func(l *slog.Logger) { l.With("user", "ada@example.com").Info("m") }, []string{"user=[email]"}},
		{"in a named group", func(l *slog.Logger) { l.WithGroup("req").Info("m", "from", "ada@example.com") }, []string{"req.from=[email]"}},
		{"stringer", func(l *slog.Logger) { l.Info("m", "who", stringer{"ada@example.com"}) }, []string{`who="person [email]"`}},
		{"slice", func(l *slog.Logger) { l.Info("m", "emails", []string{"a@x.example", "b@y.example"}) }, []string{`emails="[[email] [email]]"`}},
		{"LogValuer", func(l *slog.Logger) { l.Info("m", "p", valuer{}) }, []string{"p.email=[email]", "p.n=1"}},
		{"header", func(l *slog.Logger) {
			l.Info("m", "headers", http.Header{"Authorization": {"Bearer xoxb-secret-1"}})
		}, []string{"Authorization:[Bearer [redacted]]"}},
		{"authorization key", func(l *slog.Logger) { l.Info("m", "authorization", "opaque-value") }, []string{"authorization=[redacted]"}},
		{"left alone", func(l *slog.Logger) {
			l.Info("m", "n", 3, "d", 2*time.Second, "ip", net.ParseIP("192.0.2.1"), "ok", true, "hr_id", "E1001")
		}, []string{"n=3", "d=2s", "ip=192.0.2.1", "ok=true", "hr_id=E1001"}},
	} {
		var buf bytes.Buffer
		c.log(slog.New(New(slog.NewTextHandler(&buf, nil))))
		out := buf.String()
		for _, w := range c.want {
			if !strings.Contains(out, w) {
				t.Errorf("%s: %q does not contain %q", c.name, out, w)
			}
		}
		for _, leak := range []string{"@example.com", "@x.example", "xoxb-secret", "opaque-value"} {
			if strings.Contains(out, leak) {
				t.Errorf("%s: %q leaks %q", c.name, out, leak)
			}
		}
	}
}

// Level checks are the wrapped handler's, so a disabled level costs nothing.
func TestHandlerKeepsTheLevel(t *testing.T) {
	var buf bytes.Buffer
	l := slog.New(New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelWarn})))
	l.Info("ada@example.com")
	if buf.Len() != 0 || l.Enabled(context.Background(), slog.LevelInfo) {
		t.Fatalf("an INFO record passed a WARN handler: %q", buf.String())
	}
	l.Warn("ada@example.com")
	if !strings.Contains(buf.String(), "level=WARN") || !strings.Contains(buf.String(), "[email]") {
		t.Fatalf("output %q", buf.String())
	}
}
