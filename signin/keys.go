package signin

import (
	"bytes"
	"context"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// keyRefreshEvery bounds how often a token can make the gateway fetch the
// provider's keys again. Anyone can send a token that names a key nobody
// knows, or a known key with a broken signature; were each one a fetch,
// anyone could make the gateway hammer the provider's key endpoint until
// the provider throttles it, just when it rotates its keys.
const keyRefreshEvery = 30 * time.Second

// maxJWKSBytes bounds the provider's key set document, and maxRSABits
// the RSA keys taken from it.
const (
	maxJWKSBytes = 1 << 20
	maxRSABits   = 8192
)

// signingAlgs are the signature algorithms accepted on tokens: asymmetric
// ones only, so that neither "none" nor an HMAC keyed with a public key
// ever verifies.
var signingAlgs = []jose.SignatureAlgorithm{
	jose.RS256, jose.RS384, jose.RS512, jose.ES256, jose.ES384, jose.ES512,
	jose.PS256, jose.PS384, jose.PS512, jose.EdDSA,
}

// keyMaxAge is how long fetched keys are used before they are fetched
// again: a key the provider withdrew (it leaked) stops verifying within
// it, even while the provider signs with another key already known.
const keyMaxAge = time.Hour

// keySet verifies token signatures with the keys the provider publishes at
// its jwks_uri. It fetches them on first use, after keyMaxAge, and when a
// token does not verify with the keys it holds (the provider rotated its
// keys, or re-keyed a key id), never more often than keyRefreshEvery.
type keySet struct {
	uri    string
	client *http.Client
	now    func() time.Time

	keys    atomic.Pointer[[]jose.JSONWebKey]
	fetched atomic.Int64 // when the last fetch began, Unix nanoseconds (0: never)
	mu      sync.Mutex   // held while fetching: one fetch at a time
	fetches atomic.Int64
}

func newKeySet(uri string, client *http.Client, now func() time.Time) *keySet {
	return &keySet{uri: uri, client: client, now: now}
}

// VerifySignature implements oidc.KeySet.
func (k *keySet) VerifySignature(ctx context.Context, raw string) ([]byte, error) {
	jws, err := jose.ParseSigned(raw, signingAlgs)
	if err != nil {
		return nil, fmt.Errorf("parse token: %w", err)
	}
	if len(jws.Signatures) != 1 {
		return nil, errors.New("a token must carry exactly one signature")
	}
	kid := jws.Signatures[0].Header.KeyID
	keys := k.keys.Load()
	if keys == nil || k.now().Sub(time.Unix(0, k.fetched.Load())) > keyMaxAge {
		// Too old to trust, or none yet; a failed fetch keeps the old ones.
		keys, err = k.refresh(ctx, keys)
		if keys == nil {
			return nil, err
		}
	}
	payload, known := verifyWith(jws, *keys, kid)
	if payload != nil {
		return payload, nil
	}
	if fresh, _ := k.refresh(ctx, keys); fresh != keys {
		if payload, known = verifyWith(jws, *fresh, kid); payload != nil {
			return payload, nil
		}
	}
	if known {
		return nil, errBadSignature
	}
	return nil, errUnknownKey
}

var (
	errBadSignature = errors.New("the token's signature does not verify with the provider's keys")
	errUnknownKey   = errors.New("the token names a key the provider does not publish")
	errNoKeys       = errors.New("the provider's keys could not be fetched; retrying shortly")
)

// verifyWith verifies jws with the keys that match kid (every key when the
// token names none) and reports whether any key matched kid.
func verifyWith(jws *jose.JSONWebSignature, keys []jose.JSONWebKey, kid string) (payload []byte, known bool) {
	for i := range keys {
		if kid != "" && keys[i].KeyID != kid {
			continue
		}
		known = kid != ""
		if p, err := jws.Verify(&keys[i]); err == nil {
			return p, true
		}
	}
	return nil, known
}

// refresh returns the keys to verify with once seen did not do: the ones
// another caller fetched since, else freshly fetched ones unless the last
// fetch began less than keyRefreshEvery ago, else seen (nil when there
// are none, with errNoKeys or the fetch's error).
//
// A caller that holds keys does not wait behind a fetch under way: it
// verifies with them (a provider that hangs would otherwise hold every
// verification for the HTTP client's timeout).
func (k *keySet) refresh(ctx context.Context, seen *[]jose.JSONWebKey) (*[]jose.JSONWebKey, error) {
	if seen == nil {
		k.mu.Lock()
	} else if !k.mu.TryLock() {
		return seen, errNoKeys
	}
	defer k.mu.Unlock()
	if cur := k.keys.Load(); cur != seen {
		return cur, nil
	}
	now := k.now()
	if last := k.fetched.Load(); last != 0 && now.Sub(time.Unix(0, last)) < keyRefreshEvery {
		return seen, errNoKeys
	}
	k.fetched.Store(now.UnixNano())
	k.fetches.Add(1)
	// Not cut short when the asking request goes away: a client that
	// hangs up at once would otherwise spend the next fetch for nothing.
	// The HTTP client's timeout bounds it.
	keys, err := k.fetch(context.WithoutCancel(ctx))
	if err != nil {
		return seen, err
	}
	k.keys.Store(&keys)
	return &keys, nil
}

// fetch reads the provider's key set. Keys of a type or algorithm this
// gateway does not use are skipped, not fatal: providers publish them.
func (k *keySet) fetch(ctx context.Context) ([]jose.JSONWebKey, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.uri, nil)
	if err != nil {
		return nil, fmt.Errorf("fetch keys: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := k.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch keys: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch keys: %s answered %s", k.uri, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return nil, fmt.Errorf("fetch keys: %w", err)
	}
	if len(body) > maxJWKSBytes {
		return nil, fmt.Errorf("fetch keys: %s sent more than %d bytes", k.uri, maxJWKSBytes)
	}
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, fmt.Errorf("fetch keys: %s: %w", k.uri, err)
	}
	keys := make([]jose.JSONWebKey, 0, len(set.Keys))
	for _, raw := range set.Keys {
		var key jose.JSONWebKey
		if json.Unmarshal(raw, &key) != nil || !key.Valid() || !key.IsPublic() || (key.Use != "" && key.Use != "sig") {
			continue
		}
		if r, ok := key.Key.(*rsa.PublicKey); ok && r.N.BitLen() > maxRSABits {
			continue // every verification with it would cost dearly
		}
		keys = append(keys, key)
	}
	return keys, nil
}

// verifyTimes verifies a token's signature with keys, then its expiry and
// not-before against the service's clock, allowing clock_skew either way.
type verifyTimes struct {
	keys *keySet
	s    *Service
}

// VerifySignature implements oidc.KeySet.
func (v *verifyTimes) VerifySignature(ctx context.Context, raw string) ([]byte, error) {
	payload, err := v.keys.VerifySignature(ctx, raw)
	if err != nil {
		return nil, err
	}
	if err := checkTimes(payload, v.s.o.Now(), v.s.o.OIDC.ClockSkew); err != nil {
		return nil, err
	}
	return payload, nil
}

// checkTimes: a token is good from nbf (when it has one) to exp, each
// widened by skew, and was not issued (iat) later than now plus skew: a
// token from the future comes from a provider whose clock is wrong, or
// was minted ahead of time to outlive its key.
func checkTimes(payload []byte, now time.Time, skew time.Duration) error {
	var c struct {
		Exp *json.Number `json:"exp"`
		NBF *json.Number `json:"nbf"`
		IAT *json.Number `json:"iat"`
	}
	d := json.NewDecoder(bytes.NewReader(payload))
	d.UseNumber()
	if err := d.Decode(&c); err != nil {
		return fmt.Errorf("token claims: %w", err)
	}
	exp, ok := unixTime(c.Exp)
	if !ok {
		return errors.New("the token has no valid exp claim")
	}
	if !now.Before(exp.Add(skew)) {
		return fmt.Errorf("the token expired at %s", exp.UTC().Format(time.RFC3339))
	}
	// Neither valid from (nbf) nor issued (iat) later than now, within
	// the skew.
	for _, t := range []struct {
		claim *json.Number
		name  string
	}{{c.NBF, "nbf"}, {c.IAT, "iat"}} {
		if t.claim == nil {
			continue
		}
		at, ok := unixTime(t.claim)
		if !ok {
			return fmt.Errorf("the token's %s claim is not a time", t.name)
		}
		if at.After(now.Add(skew)) {
			return fmt.Errorf("the token's %s claim is in the future: %s", t.name, at.UTC().Format(time.RFC3339))
		}
	}
	return nil
}

// unixTime reads a NumericDate (seconds since the epoch, perhaps with a
// fraction).
func unixTime(n *json.Number) (time.Time, bool) {
	if n == nil {
		return time.Time{}, false
	}
	f, err := n.Float64()
	if err != nil || math.IsNaN(f) || f < 0 || f > 1<<40 {
		return time.Time{}, false
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), true
}
