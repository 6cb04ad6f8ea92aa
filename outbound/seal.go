package outbound

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
)

// KeySize is the length of the key that seals signing secrets: AES-256.
const KeySize = 32

// ParseKey reads a sealing key written as 64 hex digits or as standard base64 of
// 32 bytes, as TENURE_SECRET_KEY and DIR/secret.key hold it.
func ParseKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if b, err := hex.DecodeString(s); err == nil && len(b) == KeySize {
		return b, nil
	}
	if b, err := base64.StdEncoding.DecodeString(s); err == nil && len(b) == KeySize {
		return b, nil
	}
	// Never echo the value: it is a key, or close to one.
	return nil, fmt.Errorf("the secret key must be %d bytes written as %d hex digits or in base64", KeySize, 2*KeySize)
}

// NewKey returns a random sealing key, hex-encoded.
func NewKey() string {
	b := make([]byte, KeySize)
	rand.Read(b) // never fails (crypto/rand panics instead)
	return hex.EncodeToString(b)
}

// sealer encrypts signing secrets at rest with AES-GCM. The subscription ID is the
// additional data, so a sealed secret copied onto another subscription's row does
// not open.
type sealer struct{ aead cipher.AEAD }

func newSealer(key []byte) (*sealer, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("outbound: the secret key is %d bytes, want %d", len(key), KeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &sealer{aead: aead}, nil
}

// seal returns nonce || ciphertext.
func (s *sealer) seal(subscriptionID, secret string) []byte {
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(secret)+s.aead.Overhead())
	rand.Read(nonce)
	return s.aead.Seal(nonce, nonce, []byte(secret), additional(subscriptionID))
}

func (s *sealer) open(subscriptionID string, sealed []byte) (string, error) {
	n := s.aead.NonceSize()
	if len(sealed) < n+s.aead.Overhead() {
		return "", fmt.Errorf("the sealed secret of subscription %s is truncated", subscriptionID)
	}
	plain, err := s.aead.Open(nil, sealed[:n], sealed[n:], additional(subscriptionID))
	if err != nil {
		return "", fmt.Errorf("the secret of subscription %s does not open with this key (was TENURE_SECRET_KEY changed?)", subscriptionID)
	}
	return string(plain), nil
}

func additional(subscriptionID string) []byte { return []byte("tenure/subscription/" + subscriptionID) }
