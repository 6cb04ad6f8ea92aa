package payloadcodec

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	"google.golang.org/protobuf/encoding/protojson"
)

func TestSealedPayloadsHideTheDataAndOpenAgain(t *testing.T) {
	c, err := New(mustKey(t))
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
	// A payload written before encryption passes through.
	plain := &commonpb.Payload{Metadata: map[string][]byte{"encoding": []byte("json/plain")}, Data: []byte(`"x"`)}
	out, err := c.Decode([]*commonpb.Payload{plain})
	if err != nil || out[0] != plain {
		t.Errorf("a plain payload did not pass through: %v", err)
	}
}

func TestHandlerDecodesForAllowedCallersOnly(t *testing.T) {
	c, _ := New(mustKey(t))
	p, _ := c.DataConverter().ToPayload("secret-name")
	body, _ := protojson.Marshal(&commonpb.Payloads{Payloads: []*commonpb.Payload{p}})
	allow := func(r *http.Request) bool { return r.Header.Get("Authorization") == "Bearer ok" }
	srv := httptest.NewServer(c.Handler(allow, "http://ui.test"))
	defer srv.Close()

	post := func(auth string) *http.Response {
		req, _ := http.NewRequest("POST", srv.URL+"/decode", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Origin", "http://ui.test")
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	if resp := post(""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("without credentials: %d", resp.StatusCode)
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

func mustKey(t *testing.T) []byte {
	k, err := ParseKey(NewKey())
	if err != nil {
		t.Fatal(err)
	}
	return k
}
