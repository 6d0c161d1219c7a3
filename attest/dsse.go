package attest

import (
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
)

// Envelope is a DSSE envelope (https://github.com/secure-systems-lab/dsse).
type Envelope struct {
	PayloadType string      `json:"payloadType"`
	Payload     string      `json:"payload"` // base64 (standard) of the statement's JSON
	Signatures  []Signature `json:"signatures"`
}

// Signature is one DSSE signature.
type Signature struct {
	KeyID string `json:"keyid"`
	Sig   string `json:"sig"`
}

// pae is DSSE's pre-authentication encoding, what is signed.
func pae(payloadType string, payload []byte) []byte {
	return fmt.Appendf(nil, "DSSEv1 %d %s %d %s", len(payloadType), payloadType, len(payload), payload)
}

// KeyID names a public key: the sha256 of its raw 32 bytes, in hex.
func KeyID(pub ed25519.PublicKey) string {
	h := sha256.Sum256(pub)
	return hex.EncodeToString(h[:])
}

// Keys sign statements with Current (nil: statements are unsigned) and
// verify those signed by Current or any of Previous, so a rotation does
// not orphan statements already pushed.
type Keys struct {
	Current  ed25519.PrivateKey
	Previous []ed25519.PublicKey
}

// Public lists every key that verifies, the current one first.
func (k *Keys) Public() []ed25519.PublicKey {
	var out []ed25519.PublicKey
	if k == nil {
		return nil
	}
	if k.Current != nil {
		out = append(out, k.Current.Public().(ed25519.PublicKey))
	}
	return append(out, k.Previous...)
}

// Seal wraps s in a DSSE envelope, signed when k has a current key.
func (k *Keys) Seal(s *Statement) ([]byte, error) {
	payload, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("encode the statement: %w", err)
	}
	env := Envelope{PayloadType: PayloadType, Payload: base64.StdEncoding.EncodeToString(payload), Signatures: []Signature{}}
	if k != nil && k.Current != nil {
		pub := k.Current.Public().(ed25519.PublicKey)
		sig := ed25519.Sign(k.Current, pae(PayloadType, payload))
		env.Signatures = append(env.Signatures, Signature{KeyID: KeyID(pub), Sig: base64.StdEncoding.EncodeToString(sig)})
	}
	out, err := json.MarshalIndent(env, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode the envelope: %w", err)
	}
	return append(out, '\n'), nil
}

// ErrUnsigned is an envelope without a signature: it proves nothing.
var ErrUnsigned = errors.New("the statement is not signed (the server had no EVIDENCE_KEY)")

// Open checks the envelope's signature against keys and returns its
// statement and the key id that verified it. A statement is returned with
// ErrUnsigned or a bad signature too, so a caller can say what it claims;
// it must not be trusted then.
func Open(envelope []byte, keys []ed25519.PublicKey) (*Statement, string, error) {
	var env Envelope
	if err := json.Unmarshal(envelope, &env); err != nil {
		return nil, "", fmt.Errorf("read the DSSE envelope: %w", err)
	}
	if env.PayloadType != PayloadType {
		return nil, "", fmt.Errorf("payloadType is %q, not %q", env.PayloadType, PayloadType)
	}
	payload, err := base64.StdEncoding.DecodeString(env.Payload)
	if err != nil {
		return nil, "", fmt.Errorf("read the DSSE payload: %w", err)
	}
	s, err := parseStatement(payload)
	if err != nil {
		return nil, "", err
	}
	if len(env.Signatures) == 0 {
		return s, "", ErrUnsigned
	}
	msg := pae(env.PayloadType, payload)
	for _, sig := range env.Signatures {
		raw, err := base64.StdEncoding.DecodeString(sig.Sig)
		if err != nil {
			continue
		}
		for _, pub := range keys {
			if ed25519.Verify(pub, msg, raw) {
				return s, KeyID(pub), nil
			}
		}
	}
	ids := make([]string, len(env.Signatures))
	for i, sig := range env.Signatures {
		ids[i] = shortID(sig.KeyID)
	}
	return s, "", fmt.Errorf("no signature verifies with the given key(s): signed by key %s", strings.Join(ids, ", "))
}

func shortID(id string) string {
	if len(id) > 16 {
		return id[:16]
	}
	return id
}

// ParsePrivateKey reads an Ed25519 private key: base64 (standard or URL,
// padded or not) of its 32-byte seed or 64-byte key, or PEM (PKCS #8
// "PRIVATE KEY", as `openssl genpkey -algorithm ed25519` writes).
func ParsePrivateKey(s string) (ed25519.PrivateKey, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "-----BEGIN") {
		block, _ := pem.Decode([]byte(s))
		if block == nil {
			return nil, errors.New("not a PEM block")
		}
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("not a PKCS #8 private key: %w", err)
		}
		ek, ok := k.(ed25519.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("the key is %T, not Ed25519", k)
		}
		return ek, nil
	}
	raw, err := decodeBase64(s)
	if err != nil {
		return nil, err
	}
	switch len(raw) {
	case ed25519.SeedSize:
		return ed25519.NewKeyFromSeed(raw), nil
	case ed25519.PrivateKeySize:
		k := ed25519.NewKeyFromSeed(raw[:ed25519.SeedSize])
		if !k.Public().(ed25519.PublicKey).Equal(ed25519.PublicKey(raw[ed25519.SeedSize:])) {
			return nil, errors.New("the 64-byte key's public half does not match its seed")
		}
		return k, nil
	}
	return nil, fmt.Errorf("%d bytes: an Ed25519 key is a 32-byte seed or a 64-byte key", len(raw))
}

// ParsePublicKey reads an Ed25519 public key: base64 of its 32 bytes (so
// a base64 seed reads as a public key here), PEM
// ("PUBLIC KEY", PKIX), or a private key of either form (its public half).
func ParsePublicKey(s string) (ed25519.PublicKey, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "-----BEGIN PUBLIC KEY") {
		block, _ := pem.Decode([]byte(s))
		if block == nil {
			return nil, errors.New("not a PEM block")
		}
		k, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("not a PKIX public key: %w", err)
		}
		ek, ok := k.(ed25519.PublicKey)
		if !ok {
			return nil, fmt.Errorf("the key is %T, not Ed25519", k)
		}
		return ek, nil
	}
	if !strings.HasPrefix(s, "-----BEGIN") {
		if raw, err := decodeBase64(s); err == nil && len(raw) == ed25519.PublicKeySize {
			return ed25519.PublicKey(raw), nil
		}
	}
	k, err := ParsePrivateKey(s)
	if err != nil {
		return nil, fmt.Errorf("not an Ed25519 public key (base64 of 32 bytes or PEM) nor a private one: %w", err)
	}
	return k.Public().(ed25519.PublicKey), nil
}

// PublicPEM is pub as a PEM "PUBLIC KEY" block, to hand to reviewers.
func PublicPEM(pub ed25519.PublicKey) string {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		panic(err) // an Ed25519 key always marshals
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

func decodeBase64(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, nil
		}
	}
	return nil, errors.New("not base64 or PEM")
}
