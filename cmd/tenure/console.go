package main

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/guard"
	"github.com/tenure-io/tenure/internal/authlimit"
	"github.com/tenure-io/tenure/policy"
	"github.com/tenure-io/tenure/rollout"
	"github.com/tenure-io/tenure/web"
)

// policySource returns the policy file's name and text, for the console's policy page.
func policySource(path string) (string, []byte, error) {
	if path == "" {
		return "dev.yaml (built in)", policy.Dev, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", nil, fmt.Errorf("reading the policy for the console: %w", err)
	}
	return filepath.Base(path), b, nil
}

// devConsole is the console of `tenure dev`: a one-click local admin sign-in,
// whose failures count in limit, and a session key kept in DIR/session.key;
// sessions are kept in the store, so sign-ins survive a restart. It also
// returns the reader of its sessions, so that the codec endpoint lets in
// signed-in IT.
func devConsole(s *stack, limit *authlimit.Limiter) (http.Handler, func(*http.Request) (string, bool), error) {
	key, err := secretFile(filepath.Join(s.cfg.dataDir, "session.key"))
	if err != nil {
		return nil, nil, fmt.Errorf("console session key: %w", err)
	}
	h, err := web.New(web.Config{
		Store: s.store, Engine: s.engine, Reconciler: s.engine, Guard: s.guard, Policies: s.rollouts,
		DevSignIn: true, AuthLimit: limit, SessionKey: []byte(key), Logger: s.log,
		AuditSigningKey: s.auditKey,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("console: %w", err)
	}
	role, err := web.SessionRole([]byte(key), s.store)
	if err != nil {
		return nil, nil, err
	}
	return h, role, nil
}

// consoleEngine is what the console hands work to: people's workflows, and
// reconciliations. *workflows.Engine is both.
type consoleEngine interface {
	tenure.Engine
	tenure.Reconciler
}

// apiConsole is the console of `tenure api`, with single sign-on configured from
// TENURE_OIDC_* and the session key from TENURE_SESSION_KEY. Without an OIDC
// issuer it returns nil: the API is served alone.
func apiConsole(getenv func(string) string, policies *rollout.Service, store web.Store, engine consoleEngine, g *guard.Guard, auditKey ed25519.PrivateKey, log *slog.Logger) (http.Handler, error) {
	issuer := getenv("TENURE_OIDC_ISSUER")
	if issuer == "" {
		log.Info("the console is off: set TENURE_OIDC_ISSUER and the other TENURE_OIDC_* variables to serve it")
		return nil, nil
	}
	key := getenv("TENURE_SESSION_KEY")
	if len(key) < web.MinSessionKey {
		return nil, errors.New("TENURE_SESSION_KEY must be set to a secret of at least 32 characters, the same on every API instance")
	}
	roles, err := web.ParseRoles(getenv("TENURE_OIDC_ROLES"))
	if err != nil {
		return nil, fmt.Errorf("TENURE_OIDC_ROLES: %w", err)
	}
	var scopes []string
	if s := getenv("TENURE_OIDC_SCOPES"); s != "" {
		scopes = strings.Fields(strings.ReplaceAll(s, ",", " "))
	}
	redirect := getenv("TENURE_OIDC_REDIRECT_URL")
	h, err := web.New(web.Config{
		Store: store, Engine: engine, Reconciler: engine, Guard: g, Policies: policies, SessionKey: []byte(key), Logger: log, AuditSigningKey: auditKey,
		SecureCookies: strings.HasPrefix(redirect, "https://"),
		OIDC: &web.OIDCConfig{
			Issuer: issuer, ClientID: getenv("TENURE_OIDC_CLIENT_ID"), ClientSecret: getenv("TENURE_OIDC_CLIENT_SECRET"),
			RedirectURL: redirect, RoleClaim: getenv("TENURE_OIDC_ROLE_CLAIM"), Roles: roles, Scopes: scopes,
		},
	})
	if err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	return h, nil
}
