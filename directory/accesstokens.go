package directory

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/scimgate/scimgate/store"
)

// Access tokens look like "sga_<16 hex id>_<43 base64url secret>": the same
// shape as SCIM tokens with their own prefix, so that one can never be used
// as the other.
const (
	AccessTokenPrefix = "sga_"
	accessTokenIDLen  = 16
)

// SplitAccessToken splits a bearer string into the token id and secret.
func SplitAccessToken(bearer string) (id, secret string, ok bool) {
	rest, found := strings.CutPrefix(bearer, AccessTokenPrefix)
	if !found || len(rest) < accessTokenIDLen+2 || rest[accessTokenIDLen] != '_' {
		return "", "", false
	}
	return rest[:accessTokenIDLen], rest[accessTokenIDLen+1:], true
}

// AccessTokenInfo describes an access token for listings.
type AccessTokenInfo struct {
	store.AccessToken
	Tenant   string
	UserName string
}

// FindUser finds a user by userName (case-insensitive) in the named tenant,
// or in whichever tenant has one when tenant is empty.
func (s *Service) FindUser(ctx context.Context, tenant, userName string) (store.Tenant, *store.Resource, error) {
	var tn store.Tenant
	var r *store.Resource
	err := s.view(ctx, func(tx store.ReadTx) error {
		var err error
		tn, r, err = findUser(ctx, tx, tenant, userName)
		return err
	})
	return tn, r, err
}

func findUser(ctx context.Context, tx store.ReadTx, tenant, userName string) (store.Tenant, *store.Resource, error) {
	tenants, err := tx.Tenants(ctx)
	if err != nil {
		return store.Tenant{}, nil, err
	}
	var foundT store.Tenant
	var found *store.Resource
	var where []string
	for _, tn := range tenants {
		if tenant != "" && tn.Name != tenant {
			continue
		}
		r, err := tx.ResourceByName(ctx, tn.ID, store.TypeUser, nameKey(userName))
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return store.Tenant{}, nil, err
		}
		foundT, found = tn, r
		where = append(where, tn.Name)
	}
	switch {
	case len(where) == 0 && tenant != "":
		return store.Tenant{}, nil, fmt.Errorf("no user %q in tenant %q", userName, tenant)
	case len(where) == 0:
		return store.Tenant{}, nil, fmt.Errorf("no user %q in the directory", userName)
	case len(where) > 1:
		return store.Tenant{}, nil, fmt.Errorf("user %q exists in tenants %s; name one with --tenant", userName, strings.Join(where, ", "))
	}
	return foundT, found, nil
}

// CreateAccessToken creates an API token owned by a directory user and
// returns its secret. The user must be active now; afterwards every request
// is judged on the user's state at that moment.
func (s *Service) CreateAccessToken(ctx context.Context, tenant, userName, description string, ttl time.Duration, actor string) (string, AccessTokenInfo, error) {
	var raw [8 + 32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", AccessTokenInfo{}, fmt.Errorf("generate token: %w", err)
	}
	id := hex.EncodeToString(raw[:8])
	secret := base64.RawURLEncoding.EncodeToString(raw[8:])
	sum := sha256.Sum256([]byte(secret))
	var info AccessTokenInfo
	err := s.update(ctx, func(tx store.Tx) error {
		tn, u, err := findUser(ctx, tx, tenant, userName)
		if err != nil {
			return err
		}
		if !u.Active {
			return fmt.Errorf("user %q is not active", u.Display)
		}
		now := s.now().UTC()
		tk := store.AccessToken{ID: id, TenantID: tn.ID, UserID: u.ID, Hash: sum[:], Description: description, Created: now}
		if ttl > 0 {
			tk.Expires = now.Add(ttl)
		}
		if err := tx.PutAccessToken(ctx, tk); err != nil {
			return err
		}
		info = AccessTokenInfo{AccessToken: tk, Tenant: tn.Name, UserName: userName}
		return tx.AppendChange(ctx, &store.Change{TenantID: tn.ID, At: now, Actor: actor, ResourceType: store.TypeAccessToken,
			ResourceID: id, Op: store.OpCreate, After: accessTokenEvent(tk)})
	})
	if err != nil {
		return "", AccessTokenInfo{}, fmt.Errorf("create access token: %w", err)
	}
	return AccessTokenPrefix + id + "_" + secret, info, nil
}

func accessTokenEvent(tk store.AccessToken) []byte {
	m := map[string]any{"id": tk.ID, "user_id": tk.UserID, "description": tk.Description}
	if !tk.Expires.IsZero() {
		m["expires"] = tk.Expires.Format(time.RFC3339)
	}
	return marshalJSON(m)
}

// AccessTokens lists access tokens, of one user when userName is set.
func (s *Service) AccessTokens(ctx context.Context, tenant, userName string) ([]AccessTokenInfo, error) {
	var out []AccessTokenInfo
	err := s.view(ctx, func(tx store.ReadTx) error {
		var only *store.Resource
		var onlyT store.Tenant
		if userName != "" {
			var err error
			if onlyT, only, err = findUser(ctx, tx, tenant, userName); err != nil {
				return err
			}
		}
		tenants, err := tx.Tenants(ctx)
		if err != nil {
			return err
		}
		found := false
		for _, tn := range tenants {
			if (tenant != "" && tn.Name != tenant) || (only != nil && tn.ID != onlyT.ID) {
				continue
			}
			found = true
			uid := ""
			if only != nil {
				uid = only.ID
			}
			tks, err := tx.AccessTokens(ctx, tn.ID, uid)
			if err != nil {
				return err
			}
			for _, tk := range tks {
				name := ""
				if r, err := tx.Resource(ctx, tn.ID, store.TypeUser, tk.UserID); err == nil {
					doc, _ := decodeDoc(r.Doc)
					name, _ = doc["userName"].(string)
				}
				out = append(out, AccessTokenInfo{AccessToken: tk, Tenant: tn.Name, UserName: name})
			}
		}
		if tenant != "" && !found {
			return fmt.Errorf("tenant %q does not exist", tenant)
		}
		return nil
	})
	return out, err
}

// RevokeAccessToken revokes an access token; requests with it are denied
// from then on.
func (s *Service) RevokeAccessToken(ctx context.Context, id, actor string) error {
	return s.update(ctx, func(tx store.Tx) error {
		tk, err := tx.AccessToken(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("access token %q does not exist", id)
		}
		if err != nil {
			return err
		}
		if !tk.Revoked.IsZero() {
			return fmt.Errorf("access token %q was already revoked at %s", id, tk.Revoked.Format(time.RFC3339))
		}
		now := s.now().UTC()
		if err := tx.RevokeAccessToken(ctx, id, now); err != nil {
			return err
		}
		return tx.AppendChange(ctx, &store.Change{TenantID: tk.TenantID, At: now, Actor: actor, ResourceType: store.TypeAccessToken,
			ResourceID: id, Op: store.OpRevoke, Before: accessTokenEvent(tk)})
	})
}
