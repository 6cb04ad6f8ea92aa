package attest

import (
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"strings"
)

// Open reads a signed document, checks its signature and decodes its payload
// into v. With trusted keys given, the signer must be one of them (a deployment
// trusts its old keys as well as its new one while it rotates); without them,
// Open proves only that the payload is unchanged. It returns the signature, to
// say who signed.
func Open(raw []byte, v any, trusted ...ed25519.PublicKey) (Signature, error) {
	var env Envelope
	if err := json.Unmarshal(raw, &env); err != nil {
		return Signature{}, fmt.Errorf("not a signed document: %w", err)
	}
	var key ed25519.PublicKey
	if len(trusted) > 0 {
		pub, err := ParsePublicKey(env.Signature.PublicKey)
		if err != nil {
			return env.Signature, fmt.Errorf("signature.public_key: %w", err)
		}
		var ids []string
		for _, t := range trusted {
			if pub.Equal(t) {
				key = t
			}
			ids = append(ids, KeyID(t))
		}
		if key == nil {
			return env.Signature, fmt.Errorf("signed with key %s, which is not a trusted key (%s)", KeyID(pub), strings.Join(ids, ", "))
		}
	}
	if err := Verify(env, key); err != nil {
		return env.Signature, err
	}
	if err := json.Unmarshal(env.Payload, v); err != nil {
		return env.Signature, fmt.Errorf("payload: %w", err)
	}
	return env.Signature, nil
}
