package api

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/hex"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/intake"
)

// TokenPrefix starts every token Tenure issues, so that a leaked one is easy to
// recognise (and for secret scanners to find).
const TokenPrefix = "tnr_"

// shownPrefix is how many characters of a token, TokenPrefix included, are kept
// in clear to tell tokens apart. They reveal 40 of its 256 random bits.
const shownPrefix = len(TokenPrefix) + 8

// maxTokenName bounds a token's name.
const maxTokenName = 100

// tokenEncoding writes tokens in upper-case letters and digits only, so they
// survive being pasted into shells, headers and YAML without quoting.
var tokenEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// TokenSpec is what a new token is for.
type TokenSpec struct {
	Name string
	Role string
	// EmployeeID is the HR ID the token acts for; required for a manager.
	EmployeeID string
	// ExpiresAt is when the token stops working; nil for never.
	ExpiresAt *time.Time
}

// TokenDB is what issuing and revoking tokens needs: the tokens and the audit
// trail. *store.DB is one.
type TokenDB interface {
	tenure.TokenStore
	AppendAudit(ctx context.Context, r tenure.AuditRecord) error
}

// HashToken is what Tenure keeps of a token: the hex SHA-256 of it. A fast,
// unsalted hash is enough because a token is 256 random bits: nobody can guess
// their way back from the hash, unlike a password, which a slow salted hash
// protects. It also lets a request find its token with one indexed lookup.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// CheckTokenSpec reports every problem with spec at once; now is the clock that
// an expiry must be after.
func CheckTokenSpec(spec TokenSpec, now time.Time) error {
	var p intake.Problems
	checkTokenSpec(spec, now, &p)
	return p.Err()
}

func checkTokenSpec(spec TokenSpec, now time.Time, p *intake.Problems) {
	switch name := strings.TrimSpace(spec.Name); {
	case name == "":
		p.Add("name", "is required")
	case name != spec.Name:
		p.Add("name", "must not start or end with spaces")
	default:
		intake.CheckText("name", spec.Name, maxTokenName, false, p)
	}
	switch {
	case spec.Role == "":
		p.Add("role", "is required")
	case !tenure.ValidRole(spec.Role):
		p.Add("role", "must be one of "+strings.Join(tenure.Roles, ", "))
	}
	switch {
	case spec.EmployeeID == "" && spec.Role == tenure.RoleManager:
		p.Add("employee_id", "is required for a manager: it names whose reports the token may see")
	case spec.EmployeeID != "" && !intake.ValidHRID(spec.EmployeeID):
		p.Add("employee_id", "must be 1 to 64 letters, digits or . _ -")
	}
	if spec.ExpiresAt != nil && !spec.ExpiresAt.After(now) {
		p.Add("expires_at", "must be in the future")
	}
}

// IssueToken creates a token for spec and records it in the audit trail as made by
// actor. It returns the token itself, which Tenure does not keep and so can show
// this once only, and what is kept of it.
func IssueToken(ctx context.Context, db TokenDB, spec TokenSpec, actor string, now time.Time) (string, tenure.APIToken, error) {
	if err := CheckTokenSpec(spec, now); err != nil {
		return "", tenure.APIToken{}, err
	}
	secret := make([]byte, 32)
	id := make([]byte, 8)
	if _, err := rand.Read(secret); err != nil {
		return "", tenure.APIToken{}, err
	}
	if _, err := rand.Read(id); err != nil {
		return "", tenure.APIToken{}, err
	}
	plain := TokenPrefix + tokenEncoding.EncodeToString(secret)
	t := tenure.APIToken{
		ID:         "tok_" + hex.EncodeToString(id),
		Name:       spec.Name,
		Role:       spec.Role,
		EmployeeID: spec.EmployeeID,
		Prefix:     plain[:shownPrefix],
		Hash:       HashToken(plain),
		CreatedBy:  actor,
		CreatedAt:  now.UTC().Truncate(time.Microsecond),
	}
	if spec.ExpiresAt != nil {
		e := spec.ExpiresAt.UTC().Truncate(time.Microsecond)
		t.ExpiresAt = &e
	}
	if err := db.CreateToken(ctx, t); err != nil {
		return "", tenure.APIToken{}, err
	}
	if err := db.AppendAudit(ctx, tokenAudit(t, "token.created", actor, now)); err != nil {
		return "", tenure.APIToken{}, err
	}
	return plain, t, nil
}

// RevokeToken revokes the token with id at once and records who did so. Revoking a
// revoked token changes nothing and succeeds.
func RevokeToken(ctx context.Context, db TokenDB, id, actor string, now time.Time) (tenure.APIToken, error) {
	t, err := db.RevokeToken(ctx, id, now)
	if err != nil {
		return tenure.APIToken{}, err
	}
	if err := db.AppendAudit(ctx, tokenAudit(t, "token.revoked", actor, *t.RevokedAt)); err != nil {
		return tenure.APIToken{}, err
	}
	return t, nil
}

// tokenAudit is the audit record of a change to a token. Its key is the token and
// the change, so that a retried revocation is recorded once.
func tokenAudit(t tenure.APIToken, action, actor string, at time.Time) tenure.AuditRecord {
	detail := "token " + t.Name + " (" + t.Prefix + "…), role " + t.Role
	if t.EmployeeID != "" {
		detail += " for " + t.EmployeeID
	}
	return tenure.AuditRecord{
		Key:        "token/" + t.ID + "/" + action,
		At:         at,
		Actor:      actor,
		Action:     action,
		EmployeeID: t.EmployeeID,
		Detail:     detail,
	}
}

// storeTokens authenticates the bootstrap tokens and the store's tokens.
type storeTokens struct {
	bootstrap tenure.Authenticator
	store     tenure.TokenStore
	now       func() time.Time
}

// StoreTokens authenticates the bootstrap admin tokens (such as the dev admin.token
// or TENURE_ADMIN_TOKEN) and the tokens issued into store; store may be nil.
func StoreTokens(store tenure.TokenStore, bootstrap map[string]tenure.Principal) tenure.Authenticator {
	return &storeTokens{bootstrap: StaticTokens(bootstrap), store: store, now: time.Now}
}

// Authenticate finds an issued token by its hash. The lookup compares hashes, so
// its timing can at most reveal something about the hash of a token the caller
// already holds, never about a stored token; the found hash is still compared in
// constant time, so a store that matched loosely cannot let a wrong token in.
func (a *storeTokens) Authenticate(ctx context.Context, token string) (tenure.Principal, error) {
	if p, err := a.bootstrap.Authenticate(ctx, token); err == nil {
		return p, nil
	}
	invalid := tenure.Errorf(tenure.EUNAUTHORIZED, "the bearer token is not valid")
	if a.store == nil || !strings.HasPrefix(token, TokenPrefix) {
		return tenure.Principal{}, invalid
	}
	sum := sha256.Sum256([]byte(token))
	t, err := a.store.FindTokenByHash(ctx, hex.EncodeToString(sum[:]))
	switch tenure.ErrorCode(err) {
	case "":
	case tenure.ENOTFOUND:
		return tenure.Principal{}, invalid
	default:
		return tenure.Principal{}, err
	}
	stored, err := hex.DecodeString(t.Hash)
	if err != nil || subtle.ConstantTimeCompare(stored, sum[:]) != 1 {
		return tenure.Principal{}, invalid
	}
	now := a.now()
	switch {
	case t.RevokedAt != nil:
		return tenure.Principal{}, tenure.Errorf(tenure.EUNAUTHORIZED, "the bearer token %s… was revoked", t.Prefix)
	case !t.Active(now):
		return tenure.Principal{}, tenure.Errorf(tenure.EUNAUTHORIZED, "the bearer token %s… has expired", t.Prefix)
	}
	if t.LastUsedAt == nil || now.Sub(*t.LastUsedAt) >= time.Minute {
		// Best effort: a failure to note the use must not refuse a valid token, and
		// the request that follows reports a store that is down.
		_ = a.store.TouchToken(ctx, t.ID, now)
	}
	return tenure.Principal{Name: t.Name, Role: t.Role, EmployeeID: t.EmployeeID, TokenID: t.ID}, nil
}

// tokenCreated is the 201 body of POST /api/v1/tokens: the only time the token
// itself is shown.
type tokenCreated struct {
	tenure.APIToken
	Token string `json:"token"`
}

// tokenList is the body of GET /api/v1/tokens.
type tokenList struct {
	Tokens []tenure.APIToken `json:"tokens"`
}

func (s *server) createToken(c echo.Context) error {
	var (
		p                   intake.Problems
		spec                TokenSpec
		expiresAt, expireIn string
	)
	if err := decodeBody(c, map[string]any{
		"name":        &spec.Name,
		"role":        &spec.Role,
		"employee_id": &spec.EmployeeID,
		"expires_at":  &expiresAt,
		"expires_in":  &expireIn,
	}, false, &p); err != nil {
		return err
	}
	if p.Has("body") {
		return p.Err()
	}
	now := s.now()
	switch {
	case expiresAt != "" && expireIn != "":
		p.Add("expires_in", "send expires_at or expires_in, not both")
	case expiresAt != "":
		t, err := time.Parse(time.RFC3339, expiresAt)
		if err != nil {
			p.Add("expires_at", "must be an RFC 3339 time such as 2026-01-02T15:04:05Z")
		} else {
			spec.ExpiresAt = &t
		}
	case expireIn != "":
		d, err := time.ParseDuration(expireIn)
		if err != nil || d <= 0 {
			p.Add("expires_in", "must be a positive duration such as 720h")
		} else {
			t := now.Add(d)
			spec.ExpiresAt = &t
		}
	}
	checkTokenSpec(spec, now, &p)
	if err := p.Err(); err != nil {
		return err
	}
	plain, t, err := IssueToken(c.Request().Context(), s.tokens, spec, principal(c).Actor(), now)
	if err != nil {
		return tenure.Unavailable("the store", err)
	}
	return respond(c, http.StatusCreated, tokenCreated{APIToken: t, Token: plain})
}

func (s *server) listTokens(c echo.Context) error {
	list, err := s.tokens.ListTokens(c.Request().Context())
	if err != nil {
		return tenure.Unavailable("the store", err)
	}
	return respond(c, http.StatusOK, tokenList{Tokens: orEmpty(list)})
}

func (s *server) revokeToken(c echo.Context) error {
	t, err := RevokeToken(c.Request().Context(), s.tokens, c.Param("id"), principal(c).Actor(), s.now())
	if err != nil {
		return tenure.Unavailable("the store", err)
	}
	return respond(c, http.StatusOK, t)
}
