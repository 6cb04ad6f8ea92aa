package signing

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	"github.com/tenure-io/tenure"
)

var now = time.Unix(1_800_000_000, 0)

// independent computes the header the way a sender following the docs would.
func independent(secret string, t int64, body string) string {
	m := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(m, "%d.%s", t, body)
	return fmt.Sprintf("t=%d,v1=%s", t, hex.EncodeToString(m.Sum(nil)))
}

func TestVerify(t *testing.T) {
	body := `{"type":"hire"}`
	cases := []struct {
		name    string
		header  string
		body    string
		secrets []string
		ok      bool
	}{
		{"valid", independent("s1", now.Unix(), body), body, []string{"s1"}, true},
		{"signed by Sign", Sign("s1", now, []byte(body)), body, []string{"s1"}, true},
		{"rotated: old secret still accepted", independent("old", now.Unix(), body), body, []string{"new", "old"}, true},
		{"rotated: sender sends both", independent("new", now.Unix(), body) + ",v1=" + independent("old", now.Unix(), body)[len("t=1800000000,v1="):], body, []string{"new"}, true},
		{"tampered body", independent("s1", now.Unix(), body), `{"type":"terminate"}`, []string{"s1"}, false},
		{"wrong secret", independent("s2", now.Unix(), body), body, []string{"s1"}, false},
		{"expired", independent("s1", now.Unix()-301, body), body, []string{"s1"}, false},
		{"just inside the window", independent("s1", now.Unix()-300, body), body, []string{"s1"}, true},
		{"from the future", independent("s1", now.Unix()+301, body), body, []string{"s1"}, false},
		{"missing", "", body, []string{"s1"}, false},
		{"no v1", fmt.Sprintf("t=%d", now.Unix()), body, []string{"s1"}, false},
		{"garbage", "hello", body, []string{"s1"}, false},
		{"empty secret never matches", independent("", now.Unix(), body), body, []string{""}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := Verify(c.header, []byte(c.body), c.secrets, now, DefaultTolerance)
			if c.ok != (err == nil) {
				t.Fatalf("Verify = %v, want ok=%t", err, c.ok)
			}
			if err != nil && tenure.ErrorCode(err) != tenure.EUNAUTHORIZED {
				t.Errorf("code = %s", tenure.ErrorCode(err))
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	f.Add(independent("s", 1, "x"))
	f.Add("t=1,v1=00")
	f.Add("t=,v1=")
	f.Add(",,,")
	f.Fuzz(func(t *testing.T, header string) {
		ts, sigs, err := Parse(header)
		if err == nil && (ts == "" || len(sigs) == 0) {
			t.Fatalf("Parse(%q) accepted a header without a timestamp or signature", header)
		}
		_ = Verify(header, []byte("body"), []string{"s"}, now, DefaultTolerance)
	})
}
