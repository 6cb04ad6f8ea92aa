// Package payloadcodec encrypts what Tenure puts in Temporal: workflow inputs,
// results, signals and activity payloads carry people's names and emails, so they
// are sealed with AES-256-GCM before they leave the process, and Temporal's history
// holds only ciphertext. A codec endpoint lets the Temporal UI decode them for IT,
// for signed-in users only.
package payloadcodec

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/proto"
)

// Encoding marks a payload this codec sealed.
const Encoding = "binary/tenure-aes256gcm"

// keyIDKey names the metadata that says which key sealed a payload.
const keyIDKey = "tenure-key-id"

// Codec seals and opens payloads. It is safe for concurrent use.
type Codec struct {
	aead  cipher.AEAD
	keyID string
	// plaintext lets unsealed payloads through Decode (see AllowPlaintext).
	plaintext bool
}

// ErrPlaintext is Decode's answer to a payload that is not sealed: whoever sent
// it did not hold the key, so the worker must not act on it.
var ErrPlaintext = errors.New("refusing a payload that is not sealed with Tenure's key: whoever sent it does not hold TENURE_CODEC_KEY")

// Option changes a codec.
type Option func(*Codec)

// AllowPlaintext lets Decode pass unsealed payloads through, for replaying or
// finishing runs that started before encryption was turned on. Without it, a
// signal, update or input written straight to Temporal without the key (a
// forged approval, say) is refused: a signal is dropped, an update rejected.
func AllowPlaintext() Option { return func(c *Codec) { c.plaintext = true } }

// New returns a codec for a 32-byte key.
func New(key []byte, opts ...Option) (*Codec, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("the payload key must be 32 bytes, not %d", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(key)
	c := &Codec{aead: aead, keyID: hex.EncodeToString(sum[:4])}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// ParseKey reads a key written as 64 hex characters.
func ParseKey(s string) ([]byte, error) {
	k, err := hex.DecodeString(strings.TrimSpace(s))
	if err != nil || len(k) != 32 {
		return nil, fmt.Errorf("the payload key must be 64 hex characters (openssl rand -hex 32)")
	}
	return k, nil
}

// NewKey returns a new random key, as ParseKey reads it.
func NewKey() string {
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		panic(err)
	}
	return hex.EncodeToString(k)
}

// Encode seals each payload, with its metadata, into a new payload.
func (c *Codec) Encode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		plain, err := proto.Marshal(p)
		if err != nil {
			return nil, err
		}
		nonce := make([]byte, c.aead.NonceSize())
		if _, err := rand.Read(nonce); err != nil {
			return nil, err
		}
		out[i] = &commonpb.Payload{
			Metadata: map[string][]byte{converter.MetadataEncoding: []byte(Encoding), keyIDKey: []byte(c.keyID)},
			Data:     c.aead.Seal(nonce, nonce, plain, []byte(Encoding)),
		}
	}
	return out, nil
}

// Decode opens payloads this codec sealed. Any other payload is ErrPlaintext,
// unless the codec allows plaintext (AllowPlaintext).
func (c *Codec) Decode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		if string(p.GetMetadata()[converter.MetadataEncoding]) != Encoding {
			if !c.plaintext {
				return nil, ErrPlaintext
			}
			out[i] = p
			continue
		}
		n := c.aead.NonceSize()
		if len(p.Data) < n {
			return nil, fmt.Errorf("a sealed payload is too short")
		}
		plain, err := c.aead.Open(nil, p.Data[:n], p.Data[n:], []byte(Encoding))
		if err != nil {
			return nil, fmt.Errorf("a payload sealed with key %s does not open with key %s", p.Metadata[keyIDKey], c.keyID)
		}
		var orig commonpb.Payload
		if err := proto.Unmarshal(plain, &orig); err != nil {
			return nil, err
		}
		out[i] = &orig
	}
	return out, nil
}

// DataConverter is Temporal's default converter with every payload sealed.
func (c *Codec) DataConverter() converter.DataConverter {
	return converter.NewCodecDataConverter(converter.GetDefaultDataConverter(), c)
}

// Access names the role of a caller of the codec endpoint, and false for
// someone not signed in.
type Access func(*http.Request) (role string, ok bool)

// Handler serves the codec endpoint the Temporal UI calls. POST .../decode is
// for admins and auditors; POST .../encode, which turns plaintext into a payload
// the worker accepts, for admins only. access says who the caller is; uiOrigin,
// when set, is the UI's origin, let in by CORS with credentials so a console
// session can vouch for the user.
func (c *Codec) Handler(access Access, uiOrigin string) http.Handler {
	// The UI shows old plaintext payloads as they are: only the worker refuses them.
	lenient := *c
	lenient.plaintext = true
	inner := converter.NewPayloadCodecHTTPHandler(&lenient)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if uiOrigin != "" && r.Header.Get("Origin") == uiOrigin {
			h := w.Header()
			h.Set("Access-Control-Allow-Origin", uiOrigin)
			h.Set("Access-Control-Allow-Credentials", "true")
			h.Set("Access-Control-Allow-Methods", "POST")
			h.Set("Access-Control-Allow-Headers", "Content-Type, X-Namespace, Authorization")
			h.Add("Vary", "Origin")
		}
		if r.Method == http.MethodOptions {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		role, ok := access(r)
		switch {
		case !ok:
			http.Error(w, "sign in to the Tenure console, or send an admin or auditor bearer token", http.StatusUnauthorized)
			return
		case strings.HasSuffix(r.URL.Path, "/encode") && role != "admin":
			http.Error(w, "only an admin may encode payloads", http.StatusForbidden)
			return
		case role != "admin" && role != "auditor":
			http.Error(w, "only admins and auditors may decode payloads", http.StatusForbidden)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, 8<<20)
		inner.ServeHTTP(w, r)
	})
}
