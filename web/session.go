package web

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/tenure-io/tenure"
)

// Cookie names. The session cookie is set on every visit, signed in or not, so
// that the sign-in form itself carries a CSRF token.
const (
	sessionCookie = "tenure_session"
	oidcCookie    = "tenure_oidc"
	// sessionTTL is how long a sign-in lasts; a browser left open signs in again.
	sessionTTL = 12 * time.Hour
	// csrfField and csrfHeader carry the synchronizer token in forms and in htmx requests.
	csrfField  = "csrf"
	csrfHeader = "X-CSRF-Token"
)

// MinSessionKey is the shortest session key New accepts, in bytes.
const MinSessionKey = 32

// user is who is signed in.
type user struct {
	Name  string `json:"n"`
	Email string `json:"e,omitempty"`
	Role  string `json:"r"`
	// EmployeeID is the user's own HR ID, found by email: it scopes a manager's view.
	EmployeeID string `json:"i,omitempty"`
}

// Actor names the user in the audit trail.
func (u *user) Actor() string {
	if u.Email != "" {
		return u.Email
	}
	return u.Name
}

// principal is the user as the access rules in the tenure package see them.
func (u *user) principal() tenure.Principal {
	return tenure.Principal{Name: u.Actor(), Role: u.Role, EmployeeID: u.EmployeeID}
}

// session is the content of the session cookie.
type session struct {
	User    *user     `json:"u,omitempty"`
	CSRF    string    `json:"c"`
	Expires time.Time `json:"x"`
}

// cookieCodec seals cookies with AES-GCM: the browser can neither read nor change
// them. Each cookie's name is the associated data, so one cannot stand in for another.
type cookieCodec struct {
	aead cipher.AEAD
}

func newCookieCodec(key []byte) (*cookieCodec, error) {
	if len(key) < MinSessionKey {
		return nil, errors.New("web: the session key must be at least 32 bytes")
	}
	k, err := hkdf.Key(sha256.New, key, nil, "tenure console cookies v1", 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &cookieCodec{aead: aead}, nil
}

func (cc *cookieCodec) seal(name string, v any) (string, error) {
	plain, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, cc.aead.NonceSize())
	rand.Read(nonce) // never fails, per crypto/rand
	return base64.RawURLEncoding.EncodeToString(cc.aead.Seal(nonce, nonce, plain, []byte(name))), nil
}

func (cc *cookieCodec) open(name, s string, v any) bool {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) < cc.aead.NonceSize() {
		return false
	}
	n := cc.aead.NonceSize()
	plain, err := cc.aead.Open(nil, b[:n], b[n:], []byte(name))
	if err != nil {
		return false
	}
	return json.Unmarshal(plain, v) == nil
}

// session reads the session cookie, starting a new anonymous one (with a new
// CSRF token) when there is none or it has expired or been tampered with.
func (c *console) session(w http.ResponseWriter, r *http.Request) *session {
	var s session
	if ck, err := r.Cookie(sessionCookie); err == nil && c.cookies.open(sessionCookie, ck.Value, &s) &&
		s.CSRF != "" && c.now().Before(s.Expires) {
		return &s
	}
	s = session{CSRF: rand.Text(), Expires: c.now().Add(sessionTTL)}
	c.saveSession(w, r, &s)
	return &s
}

// saveSession writes the session cookie.
func (c *console) saveSession(w http.ResponseWriter, r *http.Request, s *session) {
	v, err := c.cookies.seal(sessionCookie, s)
	if err != nil {
		c.log.Error("sealing the session", "error", err)
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: v, Path: "/", Expires: s.Expires,
		HttpOnly: true, Secure: c.secureRequest(r), SameSite: http.SameSiteLaxMode,
	})
}

// startSession signs u in with a fresh session and CSRF token, so nothing from
// before the sign-in (a planted cookie) carries over.
func (c *console) startSession(w http.ResponseWriter, r *http.Request, u *user) {
	c.saveSession(w, r, &session{User: u, CSRF: rand.Text(), Expires: c.now().Add(sessionTTL)})
}

// secureRequest says whether cookies must be Secure: over TLS, or when told so.
func (c *console) secureRequest(r *http.Request) bool { return c.secure || r.TLS != nil }

// checkCSRF compares the request's token with the session's in constant time.
func (c *console) checkCSRF(r *http.Request, s *session) error {
	tok := r.Header.Get(csrfHeader)
	if tok == "" {
		// Read the form only now: ParseForm honours the body limit set by the caller.
		tok = r.PostFormValue(csrfField)
	}
	if tok == "" || subtle.ConstantTimeCompare([]byte(tok), []byte(s.CSRF)) != 1 {
		return tenure.Errorf(tenure.EFORBIDDEN, "the form has expired or did not come from this console; reload the page and try again")
	}
	return nil
}

// urlQueryEscape escapes a value for a query string.
func urlQueryEscape(s string) string { return url.QueryEscape(s) }

// safeNext keeps a post-sign-in destination on this console: a path, never a
// scheme-relative or absolute URL that would send the user elsewhere.
func safeNext(next string) string {
	if next == "" || next[0] != '/' || len(next) > 1 && (next[1] == '/' || next[1] == '\\') {
		return "/"
	}
	return next
}

// SessionRole returns a reader of the console's session cookie, for other
// handlers on the same site (the Temporal UI's codec endpoint) that let in
// signed-in users: it reports the signed-in user's role, and false for anyone
// not signed in.
func SessionRole(key []byte) (func(*http.Request) (string, bool), error) {
	cc, err := newCookieCodec(key)
	if err != nil {
		return nil, err
	}
	return func(r *http.Request) (string, bool) {
		var s session
		ck, err := r.Cookie(sessionCookie)
		if err != nil || !cc.open(sessionCookie, ck.Value, &s) || s.User == nil || !time.Now().Before(s.Expires) {
			return "", false
		}
		return s.User.Role, true
	}, nil
}
