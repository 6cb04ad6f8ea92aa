// Package authlimit slows down guessing. It counts failed authentications per
// key (a client address, or the first characters of a credential) and, once a
// key has failed more than its allowance, refuses it for a while: every
// authentication path asks Wait before it checks a credential and calls Fail
// when the credential is wrong. Successful attempts cost nothing.
package authlimit

import (
	"fmt"
	"math"
	"net"
	"net/http"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/tenure-io/tenure"
)

// Default allows a burst of 20 failures per key, then one every 3 seconds.
const (
	DefaultBurst = 20
	DefaultEvery = 3 * time.Second
)

// maxKeys bounds memory: when more keys than this are tracked, those that have
// regained their whole allowance are forgotten.
const maxKeys = 10000

// Limiter tracks failures per key. It is safe for concurrent use; the zero
// value is not usable, use New.
type Limiter struct {
	burst int
	every time.Duration
	now   func() time.Time

	mu   sync.Mutex
	keys map[string]*rate.Limiter
}

// New returns a limiter that lets each key fail burst times, then once per
// every. now is the clock (time.Now when nil).
func New(burst int, every time.Duration, now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	return &Limiter{burst: burst, every: every, now: now, keys: map[string]*rate.Limiter{}}
}

// Wait returns how long the most limited of keys must wait before it may try
// again; zero means it may try now. Empty keys are skipped.
func (l *Limiter) Wait(keys ...string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	var wait time.Duration
	for _, k := range keys {
		lim := l.keys[k]
		if k == "" || lim == nil {
			continue
		}
		if t := lim.TokensAt(now); t < 1 {
			if d := time.Duration(math.Ceil((1 - t) * float64(l.every))); d > wait {
				wait = d
			}
		}
	}
	return wait
}

// Fail records one failed attempt against each key.
func (l *Limiter) Fail(keys ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	for _, k := range keys {
		if k == "" {
			continue
		}
		lim := l.keys[k]
		if lim == nil {
			if len(l.keys) >= maxKeys {
				l.forgetRested(now)
			}
			lim = rate.NewLimiter(rate.Every(l.every), l.burst)
			l.keys[k] = lim
		}
		lim.ReserveN(now, 1) // may go into debt: a key that keeps failing keeps waiting
	}
}

// forgetRested drops keys that have their whole allowance back.
func (l *Limiter) forgetRested(now time.Time) {
	for k, lim := range l.keys {
		if lim.TokensAt(now) >= float64(l.burst) {
			delete(l.keys, k)
		}
	}
}

// Refuse is the error for a caller who must wait: ETOOMANY, with RetryAfter
// rounded up to whole seconds.
func Refuse(wait time.Duration) *tenure.Error {
	secs := int(math.Ceil(wait.Seconds()))
	if secs < 1 {
		secs = 1
	}
	err := tenure.Errorf(tenure.ETOOMANY, "too many failed attempts to authenticate; retry in %d s", secs)
	err.RetryAfter = time.Duration(secs) * time.Second
	return err
}

// RetryAfterHeader is err's Retry-After value in seconds, as HTTP writes it.
func RetryAfterHeader(err *tenure.Error) string {
	return fmt.Sprint(int(math.Ceil(err.RetryAfter.Seconds())))
}

// ClientKey names the client of r for limiting: its remote IP address. It does
// not trust forwarding headers, which a client can write; behind a proxy, the
// proxy's address is limited as a whole, so set the proxy to limit per client.
func ClientKey(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	return "ip:" + host
}

// CredentialKey names a credential by its first 8 characters, so one guessed
// token prefix is limited across clients without keeping the credential.
func CredentialKey(kind, credential string) string {
	if credential == "" {
		return ""
	}
	if len(credential) > 8 {
		credential = credential[:8]
	}
	return kind + ":" + credential
}
