// Package authn turns the credentials a request carries into an
// engine.Principal: who it claims to be and with which credential. It never
// decides: a credential that does not verify becomes a principal the engine
// refuses with a stable reason, so that every outcome is one decision,
// logged and counted like the others.
package authn

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/scimgate/scimgate/directory"
	"github.com/scimgate/scimgate/engine"
	"github.com/scimgate/scimgate/snapshot"
)

// Snapshots provides the current directory snapshot.
type Snapshots interface {
	Current() *snapshot.Snapshot
}

// syncer is a snapshot source that can catch up with the store on demand.
type syncer interface {
	Sync(ctx context.Context) error
}

// Authenticator verifies credentials against the live snapshot, in memory.
type Authenticator struct {
	src Snapshots
}

// New returns an authenticator over src.
func New(src Snapshots) *Authenticator { return &Authenticator{src: src} }

// invalidToken is a token id no token has: the engine refuses it as
// token-invalid.
const invalidToken = "-"

// Authenticate returns the principal of r. A request without credentials
// is anonymous. An access token whose secret does not match, or a bearer
// value that is not an access token, yields a principal the engine refuses
// as token-invalid.
func (a *Authenticator) Authenticate(r *http.Request) engine.Principal {
	h := r.Header.Get("Authorization")
	if h == "" {
		return engine.Principal{}
	}
	scheme, cred, _ := strings.Cut(h, " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return engine.Principal{TokenID: invalidToken}
	}
	return a.Token(strings.TrimSpace(cred))
}

// Token verifies an access token. The secret is compared with the stored
// hash in constant time; an unknown id costs the same as a wrong secret.
func (a *Authenticator) Token(bearer string) engine.Principal {
	id, secret, ok := directory.SplitAccessToken(bearer)
	if !ok {
		return engine.Principal{TokenID: invalidToken}
	}
	sum := sha256.Sum256([]byte(secret))
	tk, found := a.src.Current().Token(id)
	if !found {
		// A token made a moment ago by another process (the command line)
		// may not have reached the snapshot yet.
		if s, ok := a.src.(syncer); ok && s.Sync(context.Background()) == nil {
			tk, found = a.src.Current().Token(id)
		}
	}
	var want [32]byte
	if found {
		want = tk.Hash
	}
	if subtle.ConstantTimeCompare(want[:], sum[:]) != 1 || !found {
		return engine.Principal{TokenID: invalidToken}
	}
	// Revocation and expiry are the engine's to judge, on every decision.
	return engine.Principal{User: tk.Owner, TokenID: id}
}
