package gatetest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"strings"
)

// VerifyJWT checks an ES256 JWT against a JWKS the way an upstream would:
// the key is chosen by kid, the signature verified; it returns the header
// and the claims.
func VerifyJWT(jwks []byte, token string) (header, claims map[string]any, err error) {
	var set struct {
		Keys []map[string]string `json:"keys"`
	}
	if err := json.Unmarshal(jwks, &set); err != nil {
		return nil, nil, fmt.Errorf("JWKS: %w", err)
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, nil, fmt.Errorf("%d parts, want 3", len(parts))
	}
	enc := base64.RawURLEncoding
	decode := func(s string, v any) error {
		b, err := enc.DecodeString(s)
		if err != nil {
			return err
		}
		return json.Unmarshal(b, v)
	}
	if err := decode(parts[0], &header); err != nil {
		return nil, nil, fmt.Errorf("header: %w", err)
	}
	if err := decode(parts[1], &claims); err != nil {
		return nil, nil, fmt.Errorf("claims: %w", err)
	}
	if header["alg"] != "ES256" {
		return nil, nil, fmt.Errorf("alg %v, want ES256", header["alg"])
	}
	var key map[string]string
	for _, k := range set.Keys {
		if k["kid"] == header["kid"] {
			key = k
		}
	}
	if key == nil {
		return nil, nil, fmt.Errorf("no key %v in the JWKS", header["kid"])
	}
	if key["kty"] != "EC" || key["crv"] != "P-256" || key["alg"] != "ES256" || key["use"] != "sig" {
		return nil, nil, fmt.Errorf("JWK %v is not an ES256 signing key", key)
	}
	x, err1 := enc.DecodeString(key["x"])
	y, err2 := enc.DecodeString(key["y"])
	if err1 != nil || err2 != nil || len(x) != 32 || len(y) != 32 {
		return nil, nil, fmt.Errorf("JWK coordinates %q %q", key["x"], key["y"])
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
	if err != nil {
		return nil, nil, fmt.Errorf("JWK: %w", err)
	}
	sig, err := enc.DecodeString(parts[2])
	if err != nil || len(sig) != 64 {
		return nil, nil, fmt.Errorf("signature is not 64 bytes of base64url")
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if !ecdsa.Verify(pub, sum[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
		return nil, nil, fmt.Errorf("signature does not verify")
	}
	return header, claims, nil
}
