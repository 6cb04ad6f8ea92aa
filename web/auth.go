package web

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/internal/authlimit"
)

// OIDCConfig is single sign-on through an OpenID Connect provider such as Okta,
// Google or Entra ID: the authorization code flow with PKCE (S256), state and nonce.
type OIDCConfig struct {
	// Issuer is the provider's issuer URL, where /.well-known/openid-configuration lives.
	Issuer       string
	ClientID     string
	ClientSecret string
	// RedirectURL is this console's /auth/callback as the provider knows it.
	RedirectURL string
	// Scopes default to openid, email and profile.
	Scopes []string
	// RoleClaim names the ID token claim that holds the user's groups or roles
	// (a string or a list of strings); it defaults to "groups".
	RoleClaim string
	// Roles maps a value of RoleClaim to a console role (admin, hr, manager or
	// auditor). A user with several gets the strongest: admin, hr, auditor, manager.
	Roles map[string]string
	// HTTPClient talks to the provider; nil means http.DefaultClient.
	HTTPClient *http.Client
}

// rolePrecedence orders the roles from the most to the least powerful.
var rolePrecedence = []string{tenure.RoleAdmin, tenure.RoleHR, tenure.RoleAuditor, tenure.RoleManager}

// ParseRoles reads a role mapping written as "group=role,group=role", such as
// "tenure-admins=admin,tenure-hr=hr".
func ParseRoles(s string) (map[string]string, error) {
	out := map[string]string{}
	for _, pair := range strings.Split(s, ",") {
		pair = strings.TrimSpace(pair)
		if pair == "" {
			continue
		}
		group, role, ok := strings.Cut(pair, "=")
		group, role = strings.TrimSpace(group), strings.TrimSpace(role)
		if !ok || group == "" {
			return nil, fmt.Errorf("role mapping %q: write it as group=role", pair)
		}
		if !slices.Contains(rolePrecedence, role) {
			return nil, fmt.Errorf("role mapping %q: the role must be admin, hr, manager or auditor", pair)
		}
		out[group] = role
	}
	return out, nil
}

// oidcClient discovers the provider on first use, so the console starts even
// when the provider is briefly unreachable.
type oidcClient struct {
	cfg OIDCConfig

	mu       sync.Mutex
	oauth    *oauth2.Config
	verifier *oidc.IDTokenVerifier
}

func newOIDCClient(cfg OIDCConfig) (*oidcClient, error) {
	var missing []string
	for _, f := range []struct{ name, v string }{
		{"issuer", cfg.Issuer}, {"client ID", cfg.ClientID}, {"redirect URL", cfg.RedirectURL},
	} {
		if f.v == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("web: OIDC needs its %s", strings.Join(missing, ", "))
	}
	if len(cfg.Scopes) == 0 {
		cfg.Scopes = []string{oidc.ScopeOpenID, "email", "profile"}
	}
	if cfg.RoleClaim == "" {
		cfg.RoleClaim = "groups"
	}
	return &oidcClient{cfg: cfg}, nil
}

// ctx carries the HTTP client that go-oidc and oauth2 use to reach the provider.
func (o *oidcClient) ctx(ctx context.Context) context.Context {
	if o.cfg.HTTPClient == nil {
		return ctx
	}
	return oidc.ClientContext(ctx, o.cfg.HTTPClient)
}

func (o *oidcClient) discover(ctx context.Context) (*oauth2.Config, *oidc.IDTokenVerifier, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.oauth != nil {
		return o.oauth, o.verifier, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	p, err := oidc.NewProvider(o.ctx(ctx), o.cfg.Issuer)
	if err != nil {
		return nil, nil, tenure.Unavailable("the identity provider", err)
	}
	o.oauth = &oauth2.Config{
		ClientID: o.cfg.ClientID, ClientSecret: o.cfg.ClientSecret, RedirectURL: o.cfg.RedirectURL,
		Endpoint: p.Endpoint(), Scopes: o.cfg.Scopes,
	}
	o.verifier = p.Verifier(&oidc.Config{ClientID: o.cfg.ClientID})
	return o.oauth, o.verifier, nil
}

// oidcFlow is what the browser carries, sealed, between login and callback.
type oidcFlow struct {
	State    string    `json:"s"`
	Nonce    string    `json:"n"`
	Verifier string    `json:"v"`
	Next     string    `json:"x"`
	Expires  time.Time `json:"e"`
}

// flowTTL is how long a sign-in may take at the provider.
const flowTTL = 10 * time.Minute

func (c *console) signInPage(w http.ResponseWriter, r *http.Request) {
	s, err := c.session(w, r)
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	next := safeNext(r.URL.Query().Get("next"))
	if s.User != nil {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	c.render(w, r, s, http.StatusOK, "signin", "Sign in", map[string]any{
		"Next": next, "Dev": c.dev, "OIDC": c.oidc != nil, "Error": r.URL.Query().Get("error") != "",
	})
}

// devIdentity is who the dev sign-in signs in.
var devIdentity = identity{Name: "Local admin", Email: "admin@tenure.local", Role: tenure.RoleAdmin}

// devSignIn signs in as the local admin: `tenure dev` only, behind the CSRF token.
// It takes no password, so its one failure is a request without the visit's
// CSRF token (a forged cross-site sign-in): those count against the client's
// address in the limiter, which it asks before checking anything.
func (c *console) devSignIn(w http.ResponseWriter, r *http.Request) {
	s, err := c.session(w, r)
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	if !c.dev {
		c.fail(w, r, s, tenure.Errorf(tenure.ENOTFOUND, "local sign-in is only offered by tenure dev"))
		return
	}
	client := authlimit.ClientKey(r)
	if wait := c.limit.Wait(client); wait > 0 {
		c.fail(w, r, s, authlimit.Refuse(wait))
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := c.checkCSRF(r, s); err != nil {
		c.limit.Fail(client)
		c.fail(w, r, s, err)
		return
	}
	u, err := c.sessions.resolve(r.Context(), devIdentity)
	if err == nil {
		err = c.startSession(w, r, devIdentity, u)
	}
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	http.Redirect(w, r, safeNext(r.PostFormValue("next")), http.StatusSeeOther)
}

// signOut revokes the session in the store, so that the cookie, and any copy of
// it, is dead everywhere at once.
func (c *console) signOut(w http.ResponseWriter, r *http.Request) {
	s, err := c.session(w, r)
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := c.checkCSRF(r, s); err != nil {
		c.fail(w, r, s, err)
		return
	}
	if err := c.endSession(w, r, s); err != nil {
		c.fail(w, r, s, err)
		return
	}
	http.Redirect(w, r, "/signin", http.StatusSeeOther)
}

// oidcLogin sends the browser to the provider with a fresh state, nonce and PKCE
// verifier, which it keeps in a sealed cookie for the callback.
func (c *console) oidcLogin(w http.ResponseWriter, r *http.Request) {
	s, err := c.session(w, r)
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	if c.oidc == nil {
		c.fail(w, r, s, tenure.Errorf(tenure.ENOTFOUND, "single sign-on is not configured"))
		return
	}
	oc, _, err := c.oidc.discover(r.Context())
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	flow := oidcFlow{State: rand.Text(), Nonce: rand.Text(), Verifier: oauth2.GenerateVerifier(),
		Next: safeNext(r.URL.Query().Get("next")), Expires: c.now().Add(flowTTL)}
	v, err := c.cookies.seal(oidcCookie, flow)
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: oidcCookie, Value: v, Path: "/auth/", MaxAge: int(flowTTL / time.Second),
		HttpOnly: true, Secure: c.secureRequest(r), SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, oc.AuthCodeURL(flow.State, oauth2.S256ChallengeOption(flow.Verifier), oidc.Nonce(flow.Nonce)), http.StatusFound)
}

// oidcCallback finishes the sign-in: the state must match the cookie's, the code
// is exchanged with the PKCE verifier, the ID token's signature, issuer, audience,
// expiry and nonce are checked, the email must be verified, and the role comes
// from the configured claim (or, failing that, from having reports).
func (c *console) oidcCallback(w http.ResponseWriter, r *http.Request) {
	s, err := c.session(w, r)
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	if c.oidc == nil {
		c.fail(w, r, s, tenure.Errorf(tenure.ENOTFOUND, "single sign-on is not configured"))
		return
	}
	http.SetCookie(w, &http.Cookie{Name: oidcCookie, Value: "", Path: "/auth/", MaxAge: -1,
		HttpOnly: true, Secure: c.secureRequest(r), SameSite: http.SameSiteLaxMode})
	id, next, err := c.finishOIDC(r)
	var u *user
	if err == nil {
		u, err = c.sessions.resolve(r.Context(), id)
	}
	if err == nil {
		err = c.startSession(w, r, id, u)
	}
	if err != nil {
		c.log.Warn("single sign-on refused", "error", err)
		c.fail(w, r, s, err)
		return
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// finishOIDC checks the provider's answer and returns who signed in.
func (c *console) finishOIDC(r *http.Request) (identity, string, error) {
	ctx := r.Context()
	q := r.URL.Query()
	var flow oidcFlow
	ck, err := r.Cookie(oidcCookie)
	if err != nil || !c.cookies.open(oidcCookie, ck.Value, &flow) || !c.now().Before(flow.Expires) {
		return identity{}, "", tenure.Errorf(tenure.EUNAUTHORIZED, "the sign-in took too long or was started elsewhere; sign in again")
	}
	if e := q.Get("error"); e != "" {
		return identity{}, "", tenure.Errorf(tenure.EUNAUTHORIZED, "the identity provider refused the sign-in: %s %s", e, q.Get("error_description"))
	}
	if subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(flow.State)) != 1 {
		return identity{}, "", tenure.Errorf(tenure.EUNAUTHORIZED, "the sign-in's state does not match; sign in again")
	}
	oc, verifier, err := c.oidc.discover(ctx)
	if err != nil {
		return identity{}, "", err
	}
	tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	tok, err := oc.Exchange(c.oidc.ctx(tctx), q.Get("code"), oauth2.VerifierOption(flow.Verifier))
	if err != nil {
		return identity{}, "", fmt.Errorf("%w: %w", tenure.Errorf(tenure.EUNAUTHORIZED, "the identity provider did not accept the sign-in code; sign in again"), err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return identity{}, "", tenure.Errorf(tenure.EUNAUTHORIZED, "the identity provider sent no ID token; is the openid scope allowed?")
	}
	idt, err := verifier.Verify(c.oidc.ctx(tctx), raw)
	if err != nil {
		return identity{}, "", fmt.Errorf("%w: %w", tenure.Errorf(tenure.EUNAUTHORIZED, "the ID token is not valid"), err)
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(flow.Nonce)) != 1 {
		return identity{}, "", tenure.Errorf(tenure.EUNAUTHORIZED, "the ID token's nonce does not match this sign-in")
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		return identity{}, "", fmt.Errorf("%w: %w", tenure.Errorf(tenure.EUNAUTHORIZED, "the ID token's claims cannot be read"), err)
	}
	email, _ := claims["email"].(string)
	if email == "" {
		return identity{}, "", tenure.Errorf(tenure.EFORBIDDEN, "the identity provider sent no email address: Tenure needs one to find you in HR; is the email scope allowed?")
	}
	// Only a verified email is the user's: an unverified one (or a provider that
	// does not say) could be someone else's HR record, and its reports.
	if verified, _ := claims["email_verified"].(bool); !verified {
		return identity{}, "", tenure.Errorf(tenure.EFORBIDDEN, "the identity provider has not verified your email address, so Tenure cannot sign you in: verify it with the provider, or ask IT")
	}
	name, _ := claims["name"].(string)
	if name == "" {
		name = email
	}
	return identity{Email: email, Name: name, Role: c.oidc.role(claims[c.oidc.cfg.RoleClaim])}, flow.Next, nil
}

// role maps the claim's values to the strongest role they give.
func (o *oidcClient) role(claim any) string {
	var values []string
	switch v := claim.(type) {
	case string:
		values = []string{v}
	case []any:
		for _, x := range v {
			if s, ok := x.(string); ok {
				values = append(values, s)
			}
		}
	}
	best := len(rolePrecedence)
	for _, v := range values {
		if i := slices.Index(rolePrecedence, o.cfg.Roles[v]); i >= 0 && i < best {
			best = i
		}
	}
	if best == len(rolePrecedence) {
		return ""
	}
	return rolePrecedence[best]
}
