package snapshot

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/scimgate/scimgate/store"
)

// Load builds a snapshot of everything committed, in one read transaction
// so that it is consistent with the sequence number it records.
func Load(ctx context.Context, st store.Store) (*Snapshot, error) {
	e := empty().edit()
	err := st.View(ctx, func(tx store.ReadTx) error {
		seq, err := tx.LastSeq(ctx)
		if err != nil {
			return err
		}
		e.s.Seq = seq
		tenants, err := tx.Tenants(ctx)
		if err != nil {
			return err
		}
		for _, tn := range tenants {
			e.s.tenants[tn.Name] = tn.ID
			if err := loadTenant(ctx, tx, e, tn.ID); err != nil {
				return fmt.Errorf("tenant %s: %w", tn.Name, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load snapshot: %w", err)
	}
	e.nesting = true
	return e.done(), nil
}

func loadTenant(ctx context.Context, tx store.ReadTx, e *editor, tenant int64) error {
	err := tx.ScanResources(ctx, tenant, store.TypeGroup, func(r *store.Resource) error {
		e.putGroup(Key{Tenant: tenant, ID: r.ID}, r.Display)
		return nil
	})
	if err != nil {
		return err
	}
	err = tx.ScanResources(ctx, tenant, store.TypeUser, func(r *store.Resource) error {
		var d userDoc
		if err := json.Unmarshal(r.Doc, &d); err != nil {
			return fmt.Errorf("user %s: %w", r.ID, err)
		}
		e.putUser(Key{Tenant: tenant, ID: r.ID}, &d)
		return nil
	})
	if err != nil {
		return err
	}
	err = tx.Memberships(ctx, tenant, func(groupID, memberID, memberType string) error {
		e.addFreshEdge(tenant, groupID, memberID, memberType == store.TypeGroup)
		return nil
	})
	if err != nil {
		return err
	}
	e.users.done().each(func(_ Key, u *User) {
		if u.Key.Tenant == tenant {
			slices.Sort(u.Groups) // edges are unique: sorting is enough
		}
	})
	tokens, err := tx.AccessTokens(ctx, tenant, "")
	if err != nil {
		return err
	}
	for _, t := range tokens {
		e.tokens.set(t.ID, tokenOf(t))
	}
	sessions, err := tx.Sessions(ctx, tenant, "")
	if err != nil {
		return err
	}
	for _, s := range sessions {
		if s.Expires.After(time.Now()) {
			e.sessions.set(s.ID, sessionOf(s))
		}
	}
	return nil
}

func sessionOf(s store.Session) *Session {
	x := &Session{ID: s.ID, Owner: Key{Tenant: s.TenantID, ID: s.UserID}, Expires: s.Expires, LastSeen: s.LastSeen, Revoked: !s.Revoked.IsZero()}
	copy(x.Hash[:], s.Hash)
	return x
}

func tokenOf(t store.AccessToken) *Token {
	tk := &Token{ID: t.ID, Owner: Key{Tenant: t.TenantID, ID: t.UserID}, Expires: t.Expires, Revoked: !t.Revoked.IsZero()}
	copy(tk.Hash[:], t.Hash)
	return tk
}

// Build makes a snapshot from a change log alone, without a store: the
// directory as it was after the last change. Access tokens are not
// rebuilt, since the change log does not carry their hashes. Tests,
// benchmarks and point-in-time questions use it.
func Build(changes []store.Change) (*Snapshot, error) {
	return empty().Apply(changes)
}

// Apply returns the snapshot that results from applying changes (in
// sequence order) to s; s is not modified.
func (s *Snapshot) Apply(changes []store.Change) (*Snapshot, error) {
	e := s.edit()
	for _, c := range changes {
		if err := e.apply(c); err != nil {
			return nil, err
		}
	}
	return e.done(), nil
}
