package metrics

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"
)

// TokenEnv names the variable holding the scrapers' bearer token, good for
// /metrics only, on the API and on the worker's metrics listener.
const TokenEnv = "TENURE_METRICS_TOKEN"

// HasToken reports whether r carries "Authorization: Bearer <token>". The
// digests are compared in constant time, so neither the token's bytes nor its
// length show in how long the answer takes. An empty token matches nothing.
func HasToken(r *http.Request, token string) bool {
	scheme, got, found := strings.Cut(r.Header.Get("Authorization"), " ")
	got = strings.TrimSpace(got)
	if token == "" || !found || !strings.EqualFold(scheme, "Bearer") || got == "" {
		return false
	}
	a, b := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(token))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

// Protect serves h only to requests carrying the token; with token "", to
// every request, for a listener bound where only the scraper reaches it.
func Protect(h http.Handler, token string) http.Handler {
	if token == "" {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !HasToken(r, token) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="tenure metrics"`)
			http.Error(w, "send Authorization: Bearer <"+TokenEnv+">", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}
