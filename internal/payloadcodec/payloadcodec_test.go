package payloadcodec

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/encoding/protojson"
)

func TestSealedPayloadsHideTheDataAndOpenAgain(t *testing.T) {
	key := mustKey(t)
	c, err := New(key)
	if err != nil {
		t.Fatal(err)
	}
	dc := c.DataConverter()
	p, err := dc.ToPayload(map[string]string{"email": "ada@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(p.Data, []byte("ada@example.com")) || string(p.Metadata["encoding"]) != Encoding {
		t.Fatalf("payload is not sealed: %s %q", p.Metadata, p.Data)
	}
	var got map[string]string
	if err := dc.FromPayload(p, &got); err != nil || got["email"] != "ada@example.com" {
		t.Fatalf("opened %v, %v", got, err)
	}
	// Another key does not open it.
	other, _ := New(mustKey(t))
	if _, err := other.Decode([]*commonpb.Payload{p}); err == nil {
		t.Error("a payload opened with the wrong key")
	}
	// A payload nobody sealed is refused: its sender did not hold the key.
	plain := &commonpb.Payload{Metadata: map[string][]byte{"encoding": []byte("json/plain")}, Data: []byte(`"x"`)}
	if _, err := c.Decode([]*commonpb.Payload{p, plain}); !errors.Is(err, ErrPlaintext) {
		t.Errorf("a plain payload was not refused: %v", err)
	}
	var s string
	if err := dc.FromPayload(plain, &s); !errors.Is(err, ErrPlaintext) {
		t.Errorf("the data converter took a plain payload: %q, %v", s, err)
	}
	// ...unless plaintext is allowed, for runs that began before encryption.
	migrating, _ := New(key, AllowPlaintext())
	out, err := migrating.Decode([]*commonpb.Payload{plain})
	if err != nil || out[0] != plain {
		t.Errorf("a plain payload did not pass through while migrating: %v", err)
	}
}

func TestHandlerDecodesForAllowedCallersOnly(t *testing.T) {
	c, _ := New(mustKey(t))
	p, _ := c.DataConverter().ToPayload("secret-name")
	plain, _ := converter.GetDefaultDataConverter().ToPayload("old")
	body, _ := protojson.Marshal(&commonpb.Payloads{Payloads: []*commonpb.Payload{p, plain}})
	roles := map[string]string{"Bearer ok": "admin", "Bearer auditor": "auditor", "Bearer hr": "hr"}
	access := func(r *http.Request) (string, bool) {
		role, ok := roles[r.Header.Get("Authorization")]
		return role, ok
	}
	srv := httptest.NewServer(c.Handler(access, "http://ui.test"))
	defer srv.Close()

	post := func(auth string) *http.Response { return postTo(t, srv.URL+"/decode", auth, body) }
	if resp := post(""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("without credentials: %d", resp.StatusCode)
	}
	if resp := post("Bearer hr"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("decode as hr: %d", resp.StatusCode)
	}
	// An auditor reads, and an old plaintext payload shows as it is.
	if resp := post("Bearer auditor"); resp.StatusCode != http.StatusOK {
		t.Errorf("decode as auditor: %d", resp.StatusCode)
	}
	// Encoding makes a payload the worker accepts: admins only.
	encode := func(auth string) int { return postTo(t, srv.URL+"/encode", auth, body).StatusCode }
	if got := encode("Bearer auditor"); got != http.StatusForbidden {
		t.Errorf("encode as auditor: %d", got)
	}
	if got := encode("Bearer ok"); got != http.StatusOK {
		t.Errorf("encode as admin: %d", got)
	}
	resp := post("Bearer ok")
	defer resp.Body.Close()
	var buf bytes.Buffer
	buf.ReadFrom(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(buf.String(), "InNlY3JldC1uYW1lIg") {
		t.Errorf("decode: %d %s", resp.StatusCode, buf.String())
	}
	if resp.Header.Get("Access-Control-Allow-Origin") != "http://ui.test" || resp.Header.Get("Access-Control-Allow-Credentials") != "true" {
		t.Errorf("CORS headers: %v", resp.Header)
	}
}

func postTo(t *testing.T, url, auth string, body []byte) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", "http://ui.test")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func mustKey(t *testing.T) []byte {
	k, err := ParseKey(NewKey())
	if err != nil {
		t.Fatal(err)
	}
	return k
}
