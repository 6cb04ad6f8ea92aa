// Package attest signs documents that must be checkable outside Tenure, such as
// the audit trail's checkpoints and a leaver's evidence, with an Ed25519 key.
// A signed document is an Envelope: the payload as JSON, and a signature over
// its compact form, so pretty-printing the file does not break it.
package attest

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Algorithm names the signature scheme in an Envelope.
const Algorithm = "Ed25519"

// Envelope is a signed document.
type Envelope struct {
	Payload   json.RawMessage `json:"payload"`
	Signature Signature       `json:"signature"`
}

// Signature says who signed an Envelope's payload, and how.
type Signature struct {
	Algorithm string `json:"alg"`
	// KeyID is the first 8 bytes of the public key's SHA-256, in hex.
	KeyID string `json:"key_id"`
	// PublicKey is the signer's public key, in hex. Checking against it proves
	// the payload is intact; checking that it is the deployment's key (Verify's
	// trusted) proves who signed.
	PublicKey string `json:"public_key"`
	Value     string `json:"value"`
}

// ParseKey reads a private key written as the 64 hex characters of its seed.
func ParseKey(s string) (ed25519.PrivateKey, error) {
	seed, err := hex.DecodeString(strings.TrimSpace(s))
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, errors.New("the signing key must be 64 hex characters (openssl rand -hex 32)")
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

// NewKey returns a new random private key, written as ParseKey reads it.
func NewKey() string {
	seed := make([]byte, ed25519.SeedSize)
	rand.Read(seed) // never fails, per crypto/rand
	return hex.EncodeToString(seed)
}

// PublicKeyHex is key's public half in hex, as Verify's trusted takes it.
func PublicKeyHex(key ed25519.PrivateKey) string {
	return hex.EncodeToString(key.Public().(ed25519.PublicKey))
}

// KeyID names a public key briefly.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}

// Sign marshals v and signs it.
func Sign(key ed25519.PrivateKey, v any) (Envelope, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return Envelope{}, err
	}
	msg, err := compact(raw)
	if err != nil {
		return Envelope{}, err
	}
	pub := key.Public().(ed25519.PublicKey)
	return Envelope{Payload: msg, Signature: Signature{
		Algorithm: Algorithm,
		KeyID:     KeyID(pub),
		PublicKey: hex.EncodeToString(pub),
		Value:     base64.StdEncoding.EncodeToString(ed25519.Sign(key, msg)),
	}}, nil
}

// ParsePublicKey reads a public key in hex, as PublicKeyHex writes it.
func ParsePublicKey(s string) (ed25519.PublicKey, error) {
	b, err := hex.DecodeString(strings.TrimSpace(s))
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, errors.New("a public key must be 64 hex characters")
	}
	return ed25519.PublicKey(b), nil
}

// Verify checks env's signature. With trusted set, the signer must be that key;
// without it, only that the payload matches the key the envelope names, which
// proves it unchanged but not who signed.
func Verify(env Envelope, trusted ed25519.PublicKey) error {
	if env.Signature.Algorithm != Algorithm {
		return fmt.Errorf("the signature's algorithm is %q, not %s", env.Signature.Algorithm, Algorithm)
	}
	pub, err := ParsePublicKey(env.Signature.PublicKey)
	if err != nil {
		return fmt.Errorf("signature.public_key: %w", err)
	}
	if trusted != nil && !pub.Equal(trusted) {
		return fmt.Errorf("signed with key %s, not the trusted key %s", KeyID(pub), KeyID(trusted))
	}
	sig, err := base64.StdEncoding.DecodeString(env.Signature.Value)
	if err != nil {
		return errors.New("signature.value is not base64")
	}
	msg, err := compact(env.Payload)
	if err != nil {
		return fmt.Errorf("payload: %w", err)
	}
	if !ed25519.Verify(pub, msg, sig) {
		return errors.New("the signature does not match the payload: the document was changed after it was signed")
	}
	return nil
}

func compact(raw []byte) ([]byte, error) {
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
