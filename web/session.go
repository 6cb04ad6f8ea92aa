package web

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"time"
	"unicode"
	"unicode/utf8"

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

// user is who is signed in, as resolve found them at this request.
type user struct {
	Name  string
	Email string
	Role  string
	// EmployeeID is the user's own HR ID, found by email: it scopes a manager's view.
	EmployeeID string
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

// session is the content of the session cookie: the CSRF token of the visit
// and, once signed in, the ID of the session the store keeps. Who the user is
// and what they may do is never read from the cookie: the store says it at
// every request, so a sign-out or a revocation ends a copied cookie too.
type session struct {
	// ID is the signed-in session's random ID; the store keeps only its SHA-256.
	// Empty before sign-in: an anonymous visit has no row.
	ID      string    `json:"i,omitempty"`
	CSRF    string    `json:"c"`
	Expires time.Time `json:"x"`
	// User is who is signed in at this request; nil when nobody is.
	User *user `json:"-"`
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

// session reads the session cookie and, for a signed-in session, its row in
// the store and who its user is now. When there is no cookie, or it has expired
// or been tampered with, or its stored session has ended (signed out, revoked
// or expired), it starts a new anonymous session with a new CSRF token. A store
// that cannot be read is an error, with the session as far as it was read.
func (c *console) session(w http.ResponseWriter, r *http.Request) (*session, error) {
	s, ok := c.sessions.read(r)
	if !ok {
		return c.anonymous(w, r), nil
	}
	if s.ID == "" {
		return s, nil
	}
	u, alive, err := c.sessions.user(r.Context(), s.ID)
	switch {
	case err != nil:
		return s, err
	case !alive:
		return c.anonymous(w, r), nil
	}
	// u is nil while the user has no role: the session lives on, signed out.
	s.User = u
	return s, nil
}

// anonymous starts a visit that is not signed in.
func (c *console) anonymous(w http.ResponseWriter, r *http.Request) *session {
	s := &session{CSRF: rand.Text(), Expires: c.now().Add(sessionTTL)}
	c.saveSession(w, r, s)
	return s
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

// startSession signs id in: a new session row, and a cookie with a fresh ID and
// CSRF token, so nothing from before the sign-in (a planted cookie) carries over.
// u is who resolve found id to be, for the row's record of the sign-in.
func (c *console) startSession(w http.ResponseWriter, r *http.Request, id identity, u *user) error {
	ctx := r.Context()
	now := c.now()
	sid := rand.Text()
	row := tenure.ConsoleSession{
		IDHash: hashSessionID(sid), Email: id.Email, Name: id.Name, EmployeeID: u.EmployeeID, Role: id.Role,
		CreatedAt: now, ExpiresAt: now.Add(sessionTTL),
	}
	if err := c.store.CreateSession(ctx, row); err != nil {
		return tenure.Unavailable("the store", err)
	}
	c.saveSession(w, r, &session{ID: sid, CSRF: rand.Text(), Expires: row.ExpiresAt})
	// Sign-ins are few: each one clears the sessions that expired, so the table
	// holds at most a day's sign-ins. A failure here costs nothing but space.
	if _, err := c.store.DeleteExpiredSessions(ctx, now); err != nil {
		c.log.Warn("deleting expired console sessions", "error", err)
	}
	return nil
}

// endSession signs the session out: its row is revoked, so the cookie (and any
// copy of it) is dead everywhere, and the browser gets a new anonymous session.
func (c *console) endSession(w http.ResponseWriter, r *http.Request, s *session) error {
	if s.ID != "" {
		if err := c.store.RevokeSession(r.Context(), hashSessionID(s.ID), c.now()); err != nil {
			return tenure.Unavailable("the store", err)
		}
	}
	c.anonymous(w, r)
	return nil
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

// safeNext keeps a post-sign-in destination on this console: a clean path
// such as /people/E1?live=1, never a scheme-relative or absolute URL that
// would send the user elsewhere. Browsers drop tabs and newlines from a URL and
// read a backslash as a slash, so "/\t/evil.example" is "//evil.example" to
// them: any control character, whitespace or backslash refuses the path, and
// so does one whose percent-decoded form (decoded again while it changes) would.
// Anything refused becomes "/".
func safeNext(next string) string {
	p := next
	for range 4 {
		if !cleanPath(p) {
			return "/"
		}
		decoded, err := url.PathUnescape(p)
		if err != nil {
			return "/"
		}
		if decoded == p {
			return next
		}
		p = decoded
	}
	// Still changing after four decodings: nobody writes such a link.
	return "/"
}

// cleanPath reports whether p is a path on this site with nothing a browser
// could read as another site.
func cleanPath(p string) bool {
	if len(p) == 0 || p[0] != '/' || len(p) > 1 && (p[1] == '/' || p[1] == '\\') || !utf8.ValidString(p) {
		return false
	}
	for _, r := range p {
		if r == '\\' || unicode.IsControl(r) || unicode.IsSpace(r) {
			return false
		}
	}
	u, err := url.Parse(p)
	return err == nil && u.Scheme == "" && u.Host == "" && u.User == nil
}

// sessions reads signed-in sessions: the cookie, its row in the store, and who
// its user is now. The console and SessionRole share it, so the codec endpoint
// lets in exactly whom the console does.
type sessions struct {
	cookies *cookieCodec
	store   SessionStore
	now     func() time.Time
}

// SessionStore is what reading sessions needs: the stored sessions, and the HR
// records that decide a user's employee ID and reports. *store.DB is one.
type SessionStore interface {
	tenure.SessionStore
	FindEmployeeByEmail(ctx context.Context, email string) (tenure.Employee, error)
	SearchEmployees(ctx context.Context, f tenure.EmployeeFilter, department, app, managerID string) ([]tenure.Employee, int, error)
}

// read opens the session cookie; false when there is none, or it has expired
// or been tampered with.
func (ss *sessions) read(r *http.Request) (*session, bool) {
	var s session
	ck, err := r.Cookie(sessionCookie)
	if err != nil || !ss.cookies.open(sessionCookie, ck.Value, &s) || s.CSRF == "" || !ss.now().Before(s.Expires) {
		return nil, false
	}
	return &s, true
}

// user finds the stored session with ID id and who its user is now. alive is
// false when the session has ended: unknown, signed out, revoked or expired. A
// live session whose user has no role now (a manager whose last report left, a
// person locked in HR) has a nil user.
func (ss *sessions) user(ctx context.Context, id string) (u *user, alive bool, err error) {
	row, err := ss.store.FindSession(ctx, hashSessionID(id))
	switch {
	case tenure.ErrorCode(err) == tenure.ENOTFOUND:
		return nil, false, nil
	case err != nil:
		return nil, false, tenure.Unavailable("the store", err)
	case !row.Active(ss.now()):
		return nil, false, nil
	}
	u, err = ss.resolve(ctx, identity{Email: row.Email, Name: row.Name, Role: row.Role})
	if tenure.ErrorCode(err) == tenure.EFORBIDDEN {
		return nil, true, nil
	}
	return u, err == nil, err
}

// identity is who signed in, as the identity provider (or the dev sign-in) said
// at sign-in: what a stored session keeps of them.
type identity struct {
	Email string
	Name  string
	// Role is the role the provider's groups gave, "" when they gave none.
	Role string
}

// resolve is the one rule for who id is now and what role they have, applied at
// sign-in and again at every request: their HR record is found by email (a
// locked or terminated person is refused), the role is the one the provider's
// groups gave, and someone in no group who has reports is a manager. Someone
// with no role is EFORBIDDEN.
func (ss *sessions) resolve(ctx context.Context, id identity) (*user, error) {
	u := &user{Name: id.Name, Email: id.Email, Role: id.Role}
	if id.Email != "" {
		emp, err := ss.store.FindEmployeeByEmail(ctx, id.Email)
		switch {
		case err == nil:
			if emp.Status == tenure.PersonLocked || emp.Status == tenure.PersonTerminated {
				// The message names nobody: sign-in refusals are logged.
				return nil, tenure.Errorf(tenure.EFORBIDDEN, "your HR record is %s: Tenure's console is closed to you", emp.Status)
			}
			u.EmployeeID = emp.ID
		case tenure.ErrorCode(err) != tenure.ENOTFOUND:
			return nil, tenure.Unavailable("the store", err)
		}
	}
	if u.Role == "" && u.EmployeeID != "" {
		// Someone with reports is a manager without being in any group.
		_, reports, err := ss.store.SearchEmployees(ctx, tenure.EmployeeFilter{Limit: 1}, "", "", u.EmployeeID)
		if err != nil {
			return nil, tenure.Unavailable("the store", err)
		}
		if reports > 0 {
			u.Role = tenure.RoleManager
		}
	}
	if u.Role == "" {
		return nil, tenure.Errorf(tenure.EFORBIDDEN, "you have no role in Tenure: ask IT to add you to one of its groups")
	}
	return u, nil
}

// hashSessionID is what the store keeps of a session ID: its hex SHA-256. A
// fast hash is enough, as for API tokens: the ID is 128 random bits.
func hashSessionID(id string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:])
}

// SessionRole returns a reader of the console's sessions, for other handlers on
// the same site (the Temporal UI's codec endpoint) that let in signed-in users:
// it reports the role the user has now, as the console would find it, and false
// for anyone not signed in, signed out, revoked or expired. A store that cannot
// be read lets nobody in.
func SessionRole(key []byte, store SessionStore) (func(*http.Request) (string, bool), error) {
	if store == nil {
		return nil, errors.New("web: SessionRole needs the store that keeps the sessions")
	}
	cc, err := newCookieCodec(key)
	if err != nil {
		return nil, err
	}
	ss := &sessions{cookies: cc, store: store, now: time.Now}
	return func(r *http.Request) (string, bool) {
		s, ok := ss.read(r)
		if !ok || s.ID == "" {
			return "", false
		}
		u, _, err := ss.user(r.Context(), s.ID)
		if err != nil || u == nil {
			return "", false
		}
		return u.Role, true
	}, nil
}
