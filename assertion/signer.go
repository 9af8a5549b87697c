// Package assertion tells upstreams who is calling: it sets the identity
// headers on allowed requests (after deleting any the client sent) and
// signs a short-lived JWT (ES256) that upstreams can verify against the
// keys the gateway publishes as a JWKS.
package assertion

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/scimgate/scimgate/store"
)

// Signer signs assertions with the newest ES256 key in the store.
type Signer struct {
	key    *ecdsa.PrivateKey
	kid    string
	issuer string
	ttl    time.Duration
	now    func() time.Time
	jwks   []byte
	secret []byte // the key's PKCS #8 encoding, for DeriveKey
}

// Options configures a Signer.
type Options struct {
	Issuer string        // the gateway's public URL
	TTL    time.Duration // assertion lifetime, default 60s
	Now    func() time.Time
}

// NewSigner loads the signing key from the store, creating one on first
// use. Every gateway sharing the store signs with the same key.
func NewSigner(ctx context.Context, st store.Store, o Options) (*Signer, error) {
	if o.TTL <= 0 {
		o.TTL = time.Minute
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	var key store.SigningKey
	err := st.Update(ctx, func(tx store.Tx) error {
		keys, err := tx.SigningKeys(ctx)
		if err != nil {
			return err
		}
		if len(keys) > 0 {
			key = keys[len(keys)-1]
			return nil
		}
		key, err = newKey(o.Now())
		if err != nil {
			return err
		}
		return tx.PutSigningKey(ctx, key)
	})
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	priv, err := x509.ParsePKCS8PrivateKey(key.Private)
	if err != nil {
		return nil, fmt.Errorf("signing key %s: %w", key.ID, err)
	}
	ec, ok := priv.(*ecdsa.PrivateKey)
	if !ok || ec.Curve != elliptic.P256() {
		return nil, errors.New("signing key " + key.ID + " is not a P-256 key")
	}
	s := &Signer{key: ec, kid: key.ID, issuer: o.Issuer, ttl: o.TTL, now: o.Now, secret: key.Private}
	s.jwks, err = json.Marshal(map[string]any{"keys": []any{jwk(ec, key.ID)}})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// DeriveKey derives a 32-byte secret key for purpose from the signing key
// (HKDF-SHA256): every gateway sharing the store derives the same, and
// keys for different purposes are unrelated.
func (s *Signer) DeriveKey(purpose string) ([]byte, error) {
	return hkdf.Key(sha256.New, s.secret, nil, "scimgate "+purpose, 32)
}

func newKey(now time.Time) (store.SigningKey, error) {
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return store.SigningKey{}, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(ec)
	if err != nil {
		return store.SigningKey{}, err
	}
	pub, err := x509.MarshalPKIXPublicKey(&ec.PublicKey)
	if err != nil {
		return store.SigningKey{}, err
	}
	sum := sha256.Sum256(pub)
	return store.SigningKey{ID: hex.EncodeToString(sum[:8]), Alg: "ES256", Private: der, Created: now.UTC()}, nil
}

func jwk(k *ecdsa.PrivateKey, kid string) map[string]string {
	raw, _ := k.PublicKey.Bytes() // 0x04 || X || Y; P-256 was checked
	enc := base64.RawURLEncoding.EncodeToString
	return map[string]string{"kty": "EC", "crv": "P-256", "x": enc(raw[1:33]), "y": enc(raw[33:65]), "kid": kid, "alg": "ES256", "use": "sig"}
}

// JWKS is the JSON Web Key Set upstreams verify assertions with.
func (s *Signer) JWKS() []byte { return s.jwks }

// PublicKey returns the verification key, for proxies that take a key file
// rather than a JWKS (HAProxy's jwt_verify).
func (s *Signer) PublicKey() *ecdsa.PublicKey { return &s.key.PublicKey }

// KeyID is the id of the signing key.
func (s *Signer) KeyID() string { return s.kid }

// TTL is the lifetime of assertions.
func (s *Signer) TTL() time.Duration { return s.ttl }

// Claims are what an assertion says.
type Claims struct {
	Subject  string   `json:"sub"` // the user's SCIM id
	UserName string   `json:"preferred_username"`
	Email    string   `json:"email,omitempty"`
	Groups   []string `json:"groups"`
	Tenant   int64    `json:"tenant"`
	Audience string   `json:"aud"` // the route name
}

// Sign returns a signed JWT for c that expires after the signer's TTL.
func (s *Signer) Sign(c Claims) (string, time.Time, error) {
	now := s.now()
	exp := now.Add(s.ttl)
	payload := struct {
		Claims
		Issuer   string `json:"iss"`
		IssuedAt int64  `json:"iat"`
		Expires  int64  `json:"exp"`
	}{c, s.issuer, now.Unix(), exp.Unix()}
	body, err := json.Marshal(payload)
	if err != nil {
		return "", time.Time{}, err
	}
	header := `{"alg":"ES256","typ":"JWT","kid":"` + s.kid + `"}`
	enc := base64.RawURLEncoding
	signing := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString(body)
	sum := sha256.Sum256([]byte(signing))
	r, sig, err := ecdsa.Sign(rand.Reader, s.key, sum[:])
	if err != nil {
		return "", time.Time{}, err
	}
	raw := make([]byte, 64)
	r.FillBytes(raw[:32])
	sig.FillBytes(raw[32:])
	return signing + "." + enc.EncodeToString(raw), exp, nil
}
