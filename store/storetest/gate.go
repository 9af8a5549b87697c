package storetest

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/scimgate/scimgate/store"
)

func testAccessTokens(t *testing.T, s store.Store) {
	ctx := context.Background()
	tn := newTenant(t, s, "okta")
	other := newTenant(t, s, "other")
	a := store.AccessToken{ID: "at1", TenantID: tn.ID, UserID: "u1", Hash: []byte{9}, Description: "ci", Created: t0, Expires: t0.Add(time.Hour)}
	b := store.AccessToken{ID: "at2", TenantID: tn.ID, UserID: "u2", Hash: []byte{8}, Created: t0.Add(time.Second)}
	c := store.AccessToken{ID: "at3", TenantID: tn.ID, UserID: "u1", Hash: []byte{7}, Created: t0.Add(2 * time.Second)}
	d := store.AccessToken{ID: "at4", TenantID: other.ID, UserID: "u1", Hash: []byte{6}, Created: t0}
	update(t, s, func(tx store.Tx) error {
		for _, tk := range []store.AccessToken{a, b, c, d} {
			if err := tx.PutAccessToken(ctx, tk); err != nil {
				return err
			}
		}
		return nil
	})
	if err := s.Update(ctx, func(tx store.Tx) error { return tx.PutAccessToken(ctx, a) }); !errors.Is(err, store.ErrConflict) {
		t.Errorf("PutAccessToken(duplicate id) = %v, want ErrConflict", err)
	}
	view(t, s, func(tx store.ReadTx) error {
		got, err := tx.AccessToken(ctx, "at1")
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(a, got); diff != "" {
			t.Errorf("AccessToken(at1) mismatch (-want +got):\n%s", diff)
		}
		all, _ := tx.AccessTokens(ctx, tn.ID, "")
		mine, _ := tx.AccessTokens(ctx, tn.ID, "u1")
		if fmt.Sprint(tokenIDs(all), tokenIDs(mine)) != "[at1 at2 at3] [at1 at3]" {
			t.Errorf("AccessTokens = %v, %v; want [at1 at2 at3] [at1 at3]", tokenIDs(all), tokenIDs(mine))
		}
		return nil
	})
	revoked := t0.Add(time.Minute)
	update(t, s, func(tx store.Tx) error { return tx.RevokeAccessToken(ctx, "at2", revoked) })
	if err := s.Update(ctx, func(tx store.Tx) error { return tx.RevokeAccessToken(ctx, "at2", revoked) }); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("RevokeAccessToken(already revoked) = %v, want ErrNotFound", err)
	}
	var deleted []string
	update(t, s, func(tx store.Tx) (err error) {
		deleted, err = tx.DeleteAccessTokens(ctx, tn.ID, "u1")
		return err
	})
	sort.Strings(deleted)
	if fmt.Sprint(deleted) != "[at1 at3]" {
		t.Errorf("DeleteAccessTokens(u1) = %v, want [at1 at3]", deleted)
	}
	view(t, s, func(tx store.ReadTx) error {
		if got, err := tx.AccessToken(ctx, "at2"); err != nil || !got.Revoked.Equal(revoked) {
			t.Errorf("AccessToken(at2) = %+v, %v; want revoked at %v", got, err, revoked)
		}
		if _, err := tx.AccessToken(ctx, "at1"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("AccessToken(deleted) = %v, want ErrNotFound", err)
		}
		if _, err := tx.AccessToken(ctx, "at4"); err != nil {
			t.Errorf("the other tenant's token was deleted too: %v", err)
		}
		return nil
	})
}

func tokenIDs(ts []store.AccessToken) []string {
	var out []string
	for _, t := range ts {
		out = append(out, t.ID)
	}
	return out
}

func testSigningKeys(t *testing.T, s store.Store) {
	ctx := context.Background()
	k1 := store.SigningKey{ID: "k1", Alg: "ES256", Private: []byte("secret-1"), Created: t0}
	k2 := store.SigningKey{ID: "k2", Alg: "ES256", Private: []byte("secret-2"), Created: t0.Add(time.Hour)}
	update(t, s, func(tx store.Tx) error {
		if err := tx.PutSigningKey(ctx, k2); err != nil {
			return err
		}
		return tx.PutSigningKey(ctx, k1)
	})
	view(t, s, func(tx store.ReadTx) error {
		got, err := tx.SigningKeys(ctx)
		if diff := cmp.Diff([]store.SigningKey{k1, k2}, got); err != nil || diff != "" {
			t.Errorf("SigningKeys() = %v; mismatch (-want +got):\n%s", err, diff)
		}
		return nil
	})
}

func testMemberships(t *testing.T, s store.Store) {
	ctx := context.Background()
	a := newTenant(t, s, "a")
	b := newTenant(t, s, "b")
	insert(t, s, group(b.ID, "gb", "other"), user(b.ID, "ub", "ub"))
	var rs []*store.Resource
	for i := range 30 {
		rs = append(rs, user(a.ID, fmt.Sprintf("u%02d", i), fmt.Sprintf("u%02d", i)))
	}
	for i := range 3 {
		rs = append(rs, group(a.ID, fmt.Sprintf("g%d", i), fmt.Sprintf("g%d", i)))
	}
	insert(t, s, rs...)
	var want []string
	update(t, s, func(tx store.Tx) error {
		for g := range 3 {
			var ms []store.Member
			for i := g; i < 30; i += g + 1 {
				id := fmt.Sprintf("u%02d", i)
				ms = append(ms, store.Member{ID: id})
				want = append(want, fmt.Sprintf("g%d<-%s(User)", g, id))
			}
			if _, err := tx.AddMembers(ctx, a.ID, fmt.Sprintf("g%d", g), ms); err != nil {
				return err
			}
		}
		want = append(want, "g0<-g2(Group)")
		if _, err := tx.AddMembers(ctx, a.ID, "g0", []store.Member{{ID: "g2"}}); err != nil {
			return err
		}
		_, err := tx.AddMembers(ctx, b.ID, "gb", []store.Member{{ID: "ub"}})
		return err
	})
	var got []string
	view(t, s, func(tx store.ReadTx) error {
		return tx.Memberships(ctx, a.ID, func(g, m, typ string) error {
			got = append(got, fmt.Sprintf("%s<-%s(%s)", g, m, typ))
			return nil
		})
	})
	sort.Strings(got)
	sort.Strings(want)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Memberships(a) mismatch (-want +got):\n%s", diff)
	}
	stop := errors.New("stop")
	n := 0
	err := s.View(ctx, func(tx store.ReadTx) error {
		return tx.Memberships(ctx, a.ID, func(string, string, string) error {
			if n++; n == 2 {
				return stop
			}
			return nil
		})
	})
	if !errors.Is(err, stop) || n != 2 {
		t.Errorf("Memberships with early stop = %v after %d, want stop after 2", err, n)
	}
}

func testLastSeq(t *testing.T, s store.Store) {
	ctx := context.Background()
	view(t, s, func(tx store.ReadTx) error {
		if seq, err := tx.LastSeq(ctx); err != nil || seq != 0 {
			t.Errorf("LastSeq(empty) = %d, %v; want 0", seq, err)
		}
		return nil
	})
	tn := newTenant(t, s, "okta")
	var last int64
	update(t, s, func(tx store.Tx) error {
		c := &store.Change{TenantID: tn.ID, At: t0, Actor: "t", ResourceType: store.TypeUser, ResourceID: "u", Op: store.OpCreate}
		err := tx.AppendChange(ctx, c)
		last = c.Seq
		return err
	})
	view(t, s, func(tx store.ReadTx) error {
		if seq, err := tx.LastSeq(ctx); err != nil || seq != last {
			t.Errorf("LastSeq = %d, %v; want %d", seq, err, last)
		}
		return nil
	})
}
