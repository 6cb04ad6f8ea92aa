package attest

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestSignVerifyAndTamper(t *testing.T) {
	key, err := ParseKey(NewKey())
	if err != nil {
		t.Fatal(err)
	}
	env, err := Sign(key, map[string]any{"employee_id": "E1", "apps": []string{"slack"}})
	if err != nil {
		t.Fatal(err)
	}
	trusted, err := ParsePublicKey(PublicKeyHex(key))
	if err != nil {
		t.Fatal(err)
	}
	if err := Verify(env, trusted); err != nil {
		t.Fatalf("verify: %v", err)
	}
	// Pretty-printing the file keeps it valid.
	pretty, _ := json.MarshalIndent(env, "", "  ")
	var back Envelope
	if err := json.Unmarshal(pretty, &back); err != nil {
		t.Fatal(err)
	}
	if err := Verify(back, trusted); err != nil {
		t.Fatalf("verify pretty-printed: %v", err)
	}
	// Changing a value breaks it.
	back.Payload = bytes.Replace(back.Payload, []byte(`"E1"`), []byte(`"E2"`), 1)
	if err := Verify(back, nil); err == nil || !strings.Contains(err.Error(), "changed") {
		t.Fatalf("verify tampered: %v", err)
	}
	// Another key is refused when a trusted key is given.
	other, _ := ParseKey(NewKey())
	env2, _ := Sign(other, "x")
	if err := Verify(env2, trusted); err == nil || !strings.Contains(err.Error(), "not the trusted key") {
		t.Fatalf("verify with another key: %v", err)
	}
	if err := Verify(env2, nil); err != nil {
		t.Fatalf("verify without a trusted key: %v", err)
	}
}

func TestParseKeyNamesTheFormat(t *testing.T) {
	if _, err := ParseKey("nothex"); err == nil || !strings.Contains(err.Error(), "64 hex") {
		t.Fatalf("ParseKey: %v", err)
	}
}
