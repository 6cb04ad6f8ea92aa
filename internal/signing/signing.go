// Package signing signs and verifies webhook bodies, inbound from HR systems and
// outbound to subscribers, with one scheme:
//
//	Tenure-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">
//
// Verification accepts any of several secrets (for rotation), compares in
// constant time, and refuses a timestamp outside the tolerance in either direction.
package signing

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/tenure-io/tenure"
)

// Header is the HTTP header that carries the signature.
const Header = "Tenure-Signature"

// DefaultTolerance is how far a signature's timestamp may be from now.
const DefaultTolerance = 300 * time.Second

// Sign returns the header value for body, signed with secret at t.
func Sign(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac(secret, ts, body))
}

func mac(secret, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Parse splits a header value into its timestamp and v1 signatures. A header may
// carry several v1 values (a sender rotating its secret).
func Parse(header string) (ts string, sigs [][]byte, err error) {
	for _, part := range strings.Split(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return "", nil, fmt.Errorf("malformed part %q", part)
		}
		switch k {
		case "t":
			if ts != "" {
				return "", nil, fmt.Errorf("more than one timestamp")
			}
			if _, err := strconv.ParseInt(v, 10, 64); err != nil || v == "" || len(v) > 12 {
				return "", nil, fmt.Errorf("timestamp %q is not unix seconds", v)
			}
			ts = v
		case "v1":
			b, err := hex.DecodeString(v)
			if err != nil || len(b) != sha256.Size {
				return "", nil, fmt.Errorf("v1 is not a hex SHA-256 HMAC")
			}
			sigs = append(sigs, b)
		}
	}
	if ts == "" {
		return "", nil, fmt.Errorf("no timestamp (t=)")
	}
	if len(sigs) == 0 {
		return "", nil, fmt.Errorf("no signature (v1=)")
	}
	return ts, sigs, nil
}

// Verify checks header against body with each of secrets, at now. It returns an
// EUNAUTHORIZED error saying what is wrong, and never which secret nearly matched.
func Verify(header string, body []byte, secrets []string, now time.Time, tolerance time.Duration) error {
	if header == "" {
		return tenure.Errorf(tenure.EUNAUTHORIZED, "the %s header is missing", Header)
	}
	ts, sigs, err := Parse(header)
	if err != nil {
		return tenure.Errorf(tenure.EUNAUTHORIZED, "the %s header is malformed: %v", Header, err)
	}
	sec, _ := strconv.ParseInt(ts, 10, 64)
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return tenure.Errorf(tenure.EUNAUTHORIZED, "the signature's timestamp is outside the %s tolerance", tolerance)
	}
	ok := 0
	for _, secret := range secrets {
		if secret == "" {
			continue
		}
		want := mac(secret, ts, body)
		for _, sig := range sigs {
			ok |= boolInt(hmac.Equal(want, sig))
		}
	}
	if ok == 0 {
		return tenure.Errorf(tenure.EUNAUTHORIZED, "the signature does not match the body")
	}
	return nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
