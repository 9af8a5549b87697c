package directory

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/scimgate/scimgate/store"
)

// SCIM tokens look like "sgs_<16 hex id>_<43 base64url secret>". The id
// finds the row; only SHA-256 of the 256-bit secret is stored and it is
// compared in constant time. The prefix lets secret scanners spot leaks.
const (
	SCIMTokenPrefix = "sgs_" // the prefix of every SCIM token
	tokenIDLen      = 16
)

// Change-log resource types for tenants and tokens.
const (
	TypeTenant    = store.TypeTenant
	TypeScimToken = "ScimToken"
)

// ErrBadToken is returned for any bearer token that does not authenticate:
// malformed, unknown, wrong secret, expired or revoked. Callers must not
// tell these apart in responses.
var ErrBadToken = errors.New("invalid token")

// touchEvery bounds how often a token's last-used time is written.
const touchEvery = time.Minute

type tokenCache struct {
	mu      sync.Mutex
	touched map[string]time.Time
}

// TokenInfo is a token with its tenant's name, for listings.
type TokenInfo struct {
	store.Token
	Tenant string
}

// CreateToken creates a SCIM token for the named tenant, creating the
// tenant when it does not exist yet, and returns the secret bearer string.
// ttl <= 0 means the token does not expire. created reports whether the
// tenant was created.
func (s *Service) CreateToken(ctx context.Context, tenantName, description string, ttl time.Duration, actor string) (secret string, info TokenInfo, created bool, err error) {
	err = s.update(ctx, func(tx store.Tx) error {
		secret, info, created, err = s.createToken(ctx, tx, tenantName, description, ttl, actor)
		return err
	})
	if err != nil {
		return "", TokenInfo{}, false, fmt.Errorf("create token: %w", err)
	}
	return secret, info, created, nil
}

// Bootstrap creates the named tenant and a token for it when the store
// has no tenant at all, in one transaction; otherwise it does nothing and
// returns "".
func (s *Service) Bootstrap(ctx context.Context, tenantName string) (secret string, err error) {
	err = s.update(ctx, func(tx store.Tx) error {
		tenants, err := tx.Tenants(ctx)
		if err != nil || len(tenants) > 0 {
			return err
		}
		secret, _, _, err = s.createToken(ctx, tx, tenantName, "bootstrap token", 0, "system")
		return err
	})
	if err != nil {
		return "", fmt.Errorf("bootstrap tenant: %w", err)
	}
	return secret, nil
}

func (s *Service) createToken(ctx context.Context, tx store.Tx, tenantName, description string, ttl time.Duration, actor string) (string, TokenInfo, bool, error) {
	tenantName = strings.TrimSpace(tenantName)
	if tenantName == "" {
		return "", TokenInfo{}, false, errors.New("tenant name is empty")
	}
	var raw [8 + 32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", TokenInfo{}, false, fmt.Errorf("generate token: %w", err)
	}
	id := hex.EncodeToString(raw[:8])
	secret := base64.RawURLEncoding.EncodeToString(raw[8:])
	sum := sha256.Sum256([]byte(secret))
	now := s.now().UTC()
	created := false
	tn, err := tx.TenantByName(ctx, tenantName)
	if errors.Is(err, store.ErrNotFound) {
		if err := checkTenantName(ctx, tx, tenantName); err != nil {
			return "", TokenInfo{}, false, err
		}
		if tn, err = tx.CreateTenant(ctx, tenantName, now); err != nil {
			return "", TokenInfo{}, false, err
		}
		created = true
		ev := &store.Change{TenantID: tn.ID, At: now, Actor: actor, ResourceType: TypeTenant,
			ResourceID: strconv.FormatInt(tn.ID, 10), Op: store.OpCreate, After: marshalJSON(map[string]any{"name": tn.Name})}
		if err := tx.AppendChange(ctx, ev); err != nil {
			return "", TokenInfo{}, false, err
		}
	} else if err != nil {
		return "", TokenInfo{}, false, err
	}
	tk := store.Token{ID: id, TenantID: tn.ID, Hash: sum[:], Description: description, Created: now}
	if ttl > 0 {
		tk.Expires = now.Add(ttl)
	}
	if err := tx.PutToken(ctx, tk); err != nil {
		return "", TokenInfo{}, false, err
	}
	err = tx.AppendChange(ctx, &store.Change{TenantID: tn.ID, At: now, Actor: actor, ResourceType: TypeScimToken,
		ResourceID: id, Op: store.OpCreate, After: tokenEvent(tk)})
	if err != nil {
		return "", TokenInfo{}, false, err
	}
	return SCIMTokenPrefix + id + "_" + secret, TokenInfo{Token: tk, Tenant: tn.Name}, created, nil
}

// checkTenantName vets the name of a new tenant: policies qualify names as
// "tenant/name", so a tenant name has no "/" or spaces, and no two tenants
// differ only in case, which a policy author would read as one.
func checkTenantName(ctx context.Context, tx store.ReadTx, name string) error {
	if strings.ContainsAny(name, "/ \t") {
		return fmt.Errorf("tenant name %q must not contain \"/\" or spaces", name)
	}
	tenants, err := tx.Tenants(ctx)
	if err != nil {
		return err
	}
	for _, tn := range tenants {
		if strings.EqualFold(tn.Name, name) {
			return fmt.Errorf("tenant %q exists; names differing only in case are not allowed (use --tenant %s)", tn.Name, tn.Name)
		}
	}
	return nil
}

func tokenEvent(tk store.Token) []byte {
	m := map[string]any{"id": tk.ID, "description": tk.Description}
	if !tk.Expires.IsZero() {
		m["expires"] = tk.Expires.Format(time.RFC3339)
	}
	return marshalJSON(m)
}

// Tokens lists the tokens of one tenant, or of all tenants when tenant is
// empty.
func (s *Service) Tokens(ctx context.Context, tenant string) ([]TokenInfo, error) {
	var out []TokenInfo
	err := s.view(ctx, func(tx store.ReadTx) error {
		tenants, err := tx.Tenants(ctx)
		if err != nil {
			return err
		}
		found := false
		for _, tn := range tenants {
			if tenant != "" && tn.Name != tenant {
				continue
			}
			found = true
			tks, err := tx.Tokens(ctx, tn.ID)
			if err != nil {
				return err
			}
			for _, tk := range tks {
				out = append(out, TokenInfo{Token: tk, Tenant: tn.Name})
			}
		}
		if tenant != "" && !found {
			return fmt.Errorf("tenant %q does not exist", tenant)
		}
		return nil
	})
	return out, err
}

// RevokeToken revokes a token by id; it stops working on the next request.
func (s *Service) RevokeToken(ctx context.Context, id, actor string) error {
	return s.update(ctx, func(tx store.Tx) error {
		tk, err := tx.Token(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("token %q does not exist", id)
		}
		if err != nil {
			return err
		}
		if !tk.Revoked.IsZero() {
			return fmt.Errorf("token %q was already revoked at %s", id, tk.Revoked.Format(time.RFC3339))
		}
		now := s.now().UTC()
		if err := tx.RevokeToken(ctx, id, now); err != nil {
			return err
		}
		return tx.AppendChange(ctx, &store.Change{TenantID: tk.TenantID, At: now, Actor: actor, ResourceType: TypeScimToken,
			ResourceID: id, Op: store.OpRevoke, Before: tokenEvent(tk)})
	})
}

// Authenticate checks a SCIM bearer token against the store on every call,
// so that a revocation from another process applies to the next request.
func (s *Service) Authenticate(ctx context.Context, bearer string) (tenantID int64, tokenID string, err error) {
	id, secret, ok := splitToken(bearer)
	sum := sha256.Sum256([]byte(secret))
	var tk store.Token
	if ok {
		err = s.view(ctx, func(tx store.ReadTx) error {
			tk, err = tx.Token(ctx, id)
			return err
		})
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return 0, "", fmt.Errorf("authenticate: %w", err)
		}
	}
	// Compare even when the id is unknown so that timing reveals nothing.
	hash := tk.Hash
	if len(hash) != len(sum) {
		hash = make([]byte, len(sum))
	}
	match := subtle.ConstantTimeCompare(hash, sum[:]) == 1
	now := s.now()
	if !ok || tk.ID == "" || !match || !tk.Revoked.IsZero() || (!tk.Expires.IsZero() && !now.Before(tk.Expires)) {
		return 0, "", ErrBadToken
	}
	s.touch(ctx, tk, now)
	return tk.TenantID, tk.ID, nil
}

// touch records a token's last use at most once per touchEvery. Failing to
// record it does not fail the request.
func (s *Service) touch(ctx context.Context, tk store.Token, now time.Time) {
	if now.Sub(tk.LastUsed) < touchEvery {
		return
	}
	s.tokens.mu.Lock()
	if s.tokens.touched == nil {
		s.tokens.touched = map[string]time.Time{}
	}
	last := s.tokens.touched[tk.ID]
	due := now.Sub(last) >= touchEvery
	if due {
		s.tokens.touched[tk.ID] = now
	}
	s.tokens.mu.Unlock()
	if !due {
		return
	}
	err := s.update(ctx, func(tx store.Tx) error { return tx.TouchToken(ctx, tk.ID, now.UTC()) })
	if err != nil {
		s.log.Warn("record token use", "token_id", tk.ID, "err", err)
	}
}

func splitToken(bearer string) (id, secret string, ok bool) {
	rest, found := strings.CutPrefix(bearer, SCIMTokenPrefix)
	if !found || len(rest) < tokenIDLen+2 || rest[tokenIDLen] != '_' {
		return "", "", false
	}
	return rest[:tokenIDLen], rest[tokenIDLen+1:], true
}

// Tenant returns the tenant with the given name.
func (s *Service) Tenant(ctx context.Context, name string) (store.Tenant, error) {
	var tn store.Tenant
	err := s.view(ctx, func(tx store.ReadTx) (err error) {
		tn, err = tx.TenantByName(ctx, name)
		return err
	})
	return tn, err
}

// Tenants lists every tenant.
func (s *Service) Tenants(ctx context.Context) ([]store.Tenant, error) {
	var out []store.Tenant
	err := s.view(ctx, func(tx store.ReadTx) (err error) {
		out, err = tx.Tenants(ctx)
		return err
	})
	return out, err
}
