package attest

import (
	"bytes"
	"crypto/ed25519"
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

func TestOpenTrustsAnyOfItsKeys(t *testing.T) {
	oldKey, _ := ParseKey(NewKey())
	newKey, _ := ParseKey(NewKey())
	stranger, _ := ParseKey(NewKey())
	pub := func(k ed25519.PrivateKey) ed25519.PublicKey { return k.Public().(ed25519.PublicKey) }
	env, err := Sign(oldKey, map[string]int{"seq": 7})
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(env)
	var got struct{ Seq int }
	sig, err := Open(raw, &got, pub(newKey), pub(oldKey))
	if err != nil || got.Seq != 7 || sig.KeyID != KeyID(pub(oldKey)) {
		t.Fatalf("open with the old key trusted: %+v %+v %v", got, sig, err)
	}
	if _, err := Open(raw, &got, pub(newKey), pub(stranger)); err == nil || !strings.Contains(err.Error(), "not a trusted key") {
		t.Fatalf("open without the signer trusted: %v", err)
	}
	if _, err := Open(raw, &got); err != nil {
		t.Fatalf("open trusting no key: %v", err)
	}
	tampered := bytes.Replace(raw, []byte(`"seq":7`), []byte(`"seq":8`), 1)
	if _, err := Open(tampered, &got, pub(oldKey)); err == nil || !strings.Contains(err.Error(), "changed") {
		t.Fatalf("open a changed payload: %v", err)
	}
	if _, err := Open([]byte(`nope`), &got); err == nil || !strings.Contains(err.Error(), "not a signed document") {
		t.Fatalf("open garbage: %v", err)
	}
}
