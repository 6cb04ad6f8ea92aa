package authlimit

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/tenure-io/tenure"
)

func TestLimiterRefusesAfterBurstAndRecovers(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	l := New(3, 2*time.Second, func() time.Time { return now })
	for i := range 3 {
		if w := l.Wait("ip:a"); w != 0 {
			t.Fatalf("attempt %d: wait %v, want 0", i, w)
		}
		l.Fail("ip:a")
	}
	w := l.Wait("ip:a")
	if w <= 0 || w > 2*time.Second {
		t.Fatalf("after the burst: wait %v, want (0, 2s]", w)
	}
	if l.Wait("ip:b") != 0 {
		t.Fatal("another key must not be limited")
	}
	if l.Wait("ip:b", "ip:a") != w {
		t.Fatal("Wait must report the most limited key")
	}
	now = now.Add(w)
	if got := l.Wait("ip:a"); got != 0 {
		t.Fatalf("after waiting: wait %v, want 0", got)
	}
	// Failing while refused goes into debt: a client that keeps guessing keeps waiting.
	l.Fail("ip:a")
	l.Fail("ip:a")
	if got := l.Wait("ip:a"); got < 2*time.Second {
		t.Fatalf("a key that keeps failing: wait %v, want at least 2s", got)
	}
}

func TestLimiterForgetsRestedKeys(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	l := New(1, time.Second, func() time.Time { return now })
	for i := range maxKeys {
		l.Fail(CredentialKey("tok", string(rune('a'+i%26))+time.Duration(i).String()))
	}
	now = now.Add(time.Minute)
	l.Fail("ip:new")
	if len(l.keys) != 1 {
		t.Fatalf("tracked %d keys after they rested, want 1", len(l.keys))
	}
}

func TestRefuseAndKeys(t *testing.T) {
	err := Refuse(1500 * time.Millisecond)
	if err.Code != tenure.ETOOMANY || tenure.HTTPStatus(err.Code) != 429 || RetryAfterHeader(err) != "2" {
		t.Fatalf("Refuse: %+v, header %q", err, RetryAfterHeader(err))
	}
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "192.0.2.7:5555"
	r.Header.Set("X-Forwarded-For", "203.0.113.9")
	if got := ClientKey(r); got != "ip:192.0.2.7" {
		t.Fatalf("ClientKey = %q", got)
	}
	if got := CredentialKey("bearer", "tnr_abcdefghijkl"); got != "bearer:tnr_abcd" {
		t.Fatalf("CredentialKey = %q", got)
	}
	if CredentialKey("bearer", "") != "" {
		t.Fatal("an empty credential has no key")
	}
}
