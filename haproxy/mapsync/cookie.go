package mapsync

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// Key files in the map directory. HAProxy 2.6's jwt_verify reads a PEM
// "PUBLIC KEY" (PEM_read_bio_PUBKEY): given a CERTIFICATE it reports "file
// not found" and every verification returns -5, so JWTKeyFile holds the
// public key, not a certificate.
const (
	JWTKeyFile     = "jwt.pem" // public key, for haproxy.cfg's jwt_verify
	privateKeyFile = "jwt.key" // private key, PKCS #8, mode 0600
)

// DefaultCookieName is the cookie haproxy.cfg reads the JWT from.
const DefaultCookieName = "scimgate_jwt"

// ErrSession: MintCookie was given a session that is unknown, revoked,
// expired, or whose owner is not active or cannot be mapped.
var ErrSession = errors.New("session cannot be used")

// signingKey is the ES256 key cookies are signed with.
type signingKey struct {
	priv *ecdsa.PrivateKey
	kid  string
}

// loadKey reads dir/jwt.key, creating it on first use, and (re)writes
// dir/jwt.pem from it. A key another process created first wins.
func loadKey(dir string) (*signingKey, error) {
	path := filepath.Join(dir, privateKeyFile)
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		if err := createKey(path); err != nil {
			return nil, err
		}
		raw, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("read jwt key: %w", err)
	}
	block, _ := pem.Decode(raw)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("read jwt key %s: no PEM PRIVATE KEY block", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("read jwt key %s: %w", path, err)
	}
	priv, ok := k.(*ecdsa.PrivateKey)
	if !ok || priv.Curve != elliptic.P256() {
		return nil, fmt.Errorf("read jwt key %s: not a P-256 ECDSA key", path)
	}
	pub, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("jwt public key: %w", err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub})
	pubPath := filepath.Join(dir, JWTKeyFile)
	if cur, err := os.ReadFile(pubPath); err != nil || !bytes.Equal(cur, pubPEM) {
		if err := writeAtomic(pubPath, pubPEM, 0o644); err != nil {
			return nil, err
		}
	}
	sum := sha256.Sum256(pub)
	return &signingKey{priv: priv, kid: base64.RawURLEncoding.EncodeToString(sum[:8])}, nil
}

// createKey writes a new key to path unless a file is there already: the
// key goes to a temporary file that is then hard-linked to path, which
// fails when another process got there first.
func createKey(path string) error {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("generate jwt key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return fmt.Errorf("generate jwt key: %w", err)
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".jwt.key.*")
	if err != nil {
		return fmt.Errorf("create jwt key: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	_, err = f.Write(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("create jwt key: %w", err)
	}
	if err := os.Link(tmp, path); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("create jwt key: %w", err)
	}
	return nil
}

// sign returns a compact ES256 JWS of claims.
func (k *signingKey) sign(claims any) (string, error) {
	enc := base64.RawURLEncoding
	h, err := json.Marshal(map[string]string{"alg": "ES256", "typ": "JWT", "kid": k.kid})
	if err != nil {
		return "", err
	}
	c, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("jwt claims: %w", err)
	}
	signing := enc.EncodeToString(h) + "." + enc.EncodeToString(c)
	sum := sha256.Sum256([]byte(signing))
	r, s, err := ecdsa.Sign(rand.Reader, k.priv, sum[:])
	if err != nil {
		return "", fmt.Errorf("sign jwt: %w", err)
	}
	// JWS wants R || S, 32 bytes each (RFC 7518 3.4), not ASN.1; HAProxy
	// 2.6.12 verifies that form.
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return signing + "." + enc.EncodeToString(sig), nil
}

// Claims are the claims of the session cookie haproxy.cfg checks.
type Claims struct {
	SessionID string `json:"sid"` // key of sessions.map
	Subject   string `json:"sub"` // the owner's UID; must equal sessions.map[sid]
	IssuedAt  int64  `json:"iat"`
	Expires   int64  `json:"exp"` // haproxy.cfg denies once date >= exp
	// RefreshAt, when set, is when haproxy.cfg starts sending browsers to
	// scimgate's refresh endpoint for a new JWT: a session in use keeps
	// going, one idle until exp must sign in again.
	RefreshAt int64 `json:"rfa,omitempty"`
}

// MintCookie returns the JWT for the cookie (DefaultCookieName) of a
// browser session that sign-in just created, and makes sure HAProxy knows
// the session before returning: the cookie works on the very next request.
// The JWT expires at exp or at the session's expiry, whichever is first;
// refreshAt, when not zero and before that, becomes its rfa claim.
//
// The session must be in the current snapshot, neither revoked nor expired,
// and its owner active; otherwise the error wraps ErrSession. The JWT names
// the owner by UID rather than userName: userNames are unique only within
// a tenant.
func (s *Syncer) MintCookie(ctx context.Context, sessionID string, exp, refreshAt time.Time) (string, error) {
	now := s.o.Now()
	snap := s.eng.Snapshot()
	ss, ok := snap.Session(sessionID)
	switch {
	case !ok:
		return "", fmt.Errorf("mint cookie: %w: session %q unknown", ErrSession, sessionID)
	case ss.Revoked:
		return "", fmt.Errorf("mint cookie: %w: session %q revoked", ErrSession, sessionID)
	case !now.Before(ss.Expires):
		return "", fmt.Errorf("mint cookie: %w: session %q expired", ErrSession, sessionID)
	case !keySafe(sessionID):
		return "", fmt.Errorf("mint cookie: %w: session id %q cannot be a map key", ErrSession, sessionID)
	}
	u, ok := snap.User(ss.Owner)
	if !ok || !u.Active {
		return "", fmt.Errorf("mint cookie: %w: owner of session %q is not active", ErrSession, sessionID)
	}
	uid := UID(ss.Owner)
	if exp.IsZero() || exp.After(ss.Expires) {
		exp = ss.Expires
	}
	c := Claims{SessionID: sessionID, Subject: uid, IssuedAt: now.Unix(), Expires: exp.Unix()}
	if !refreshAt.IsZero() && refreshAt.Before(exp) {
		c.RefreshAt = refreshAt.Unix()
	}
	tok, err := s.key.sign(c)
	if err != nil {
		return "", fmt.Errorf("mint cookie: %w", err)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	// A sync that dropped the session (revoked meanwhile) must not be
	// undone by pushing it again: look once more under the lock.
	if ss, ok := s.eng.Snapshot().Session(sessionID); !ok || ss.Revoked {
		return "", fmt.Errorf("mint cookie: %w: session %q revoked", ErrSession, sessionID)
	}
	s.known[sessionID] = true
	if s.pushed == nil {
		// Nothing pushed yet, or HAProxy's state is unknown: a full sync
		// carries the session.
		if err := s.syncLocked(ctx); err != nil {
			return "", fmt.Errorf("mint cookie: %w", err)
		}
		return tok, nil
	}
	if _, ok := s.pushed.kv[UsersMap][uid]; !ok {
		// The owner is not in users.map yet (a change not synced so far):
		// sync everything, which brings both.
		if err := s.syncLocked(ctx); err != nil {
			return "", fmt.Errorf("mint cookie: %w", err)
		}
		return tok, nil
	}
	if s.pushed.kv[SessionsMap][sessionID] == uid {
		// HAProxy has the session already (a JWT renewed): nothing to push.
		return tok, nil
	}
	if err := s.hx.SetEntry(ctx, s.Path(SessionsMap), sessionID, uid); err != nil {
		s.pushed = nil
		return "", fmt.Errorf("mint cookie: push session: %w", err)
	}
	s.pushed.kv[SessionsMap][sessionID] = uid
	s.Resync() // the file on disk, at the next sync
	return tok, nil
}
