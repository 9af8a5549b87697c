package assertion

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"strings"
	"time"
)

// Keys are verification keys by key id.
type Keys map[string]*ecdsa.PublicKey

// ParseJWKS reads the EC P-256 keys of a JSON Web Key Set.
func ParseJWKS(b []byte) (Keys, error) {
	var set struct {
		Keys []struct {
			Kty, Crv, X, Y, Kid string
		} `json:"keys"`
	}
	if err := json.Unmarshal(b, &set); err != nil {
		return nil, fmt.Errorf("parse JWKS: %w", err)
	}
	keys := Keys{}
	for _, k := range set.Keys {
		if k.Kty != "EC" || k.Crv != "P-256" {
			continue
		}
		x, err1 := base64.RawURLEncoding.DecodeString(k.X)
		y, err2 := base64.RawURLEncoding.DecodeString(k.Y)
		if err1 != nil || err2 != nil || len(x) != 32 || len(y) != 32 {
			return nil, fmt.Errorf("parse JWKS: key %q has bad coordinates", k.Kid)
		}
		pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
		if err != nil {
			return nil, fmt.Errorf("parse JWKS: key %q: %w", k.Kid, err)
		}
		keys[k.Kid] = pub
	}
	if len(keys) == 0 {
		return nil, errors.New("parse JWKS: no P-256 keys")
	}
	return keys, nil
}

// FetchJWKS gets and parses the JWKS at url.
func FetchJWKS(ctx context.Context, url string) (Keys, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch JWKS: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch JWKS: %s", resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	return ParseJWKS(b)
}

// Verified is a verified assertion.
type Verified struct {
	Claims
	Issuer    string    `json:"iss"`
	IssuedAt  time.Time `json:"iat"`
	ExpiresAt time.Time `json:"exp"`
}

// Verify checks an assertion's ES256 signature against keys and its
// expiry (with one minute of clock skew), and returns its claims.
func Verify(token string, keys Keys, now time.Time) (Verified, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return Verified{}, errors.New("assertion: not a JWT")
	}
	enc := base64.RawURLEncoding
	hb, err := enc.DecodeString(parts[0])
	if err != nil {
		return Verified{}, errors.New("assertion: bad header")
	}
	var h struct{ Alg, Kid string }
	if err := json.Unmarshal(hb, &h); err != nil || h.Alg != "ES256" {
		return Verified{}, errors.New("assertion: not an ES256 JWT")
	}
	key := keys[h.Kid]
	if key == nil {
		return Verified{}, fmt.Errorf("assertion: unknown key %q", h.Kid)
	}
	sig, err := enc.DecodeString(parts[2])
	if err != nil || len(sig) != 64 {
		return Verified{}, errors.New("assertion: bad signature encoding")
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if !ecdsa.Verify(key, sum[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
		return Verified{}, errors.New("assertion: signature does not verify")
	}
	pb, err := enc.DecodeString(parts[1])
	if err != nil {
		return Verified{}, errors.New("assertion: bad payload")
	}
	var p struct {
		Claims
		Issuer   string `json:"iss"`
		IssuedAt int64  `json:"iat"`
		Expires  int64  `json:"exp"`
	}
	if err := json.Unmarshal(pb, &p); err != nil {
		return Verified{}, errors.New("assertion: bad payload")
	}
	v := Verified{Claims: p.Claims, Issuer: p.Issuer, IssuedAt: time.Unix(p.IssuedAt, 0), ExpiresAt: time.Unix(p.Expires, 0)}
	if !now.Before(v.ExpiresAt.Add(time.Minute)) {
		return Verified{}, fmt.Errorf("assertion: expired at %s", v.ExpiresAt.UTC().Format(time.RFC3339))
	}
	return v, nil
}
