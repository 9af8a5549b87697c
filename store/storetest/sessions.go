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

func testSessions(t *testing.T, s store.Store) {
	ctx := context.Background()
	tn := newTenant(t, s, "okta")
	a := store.Session{ID: "s1", TenantID: tn.ID, UserID: "u1", Hash: []byte{1}, Created: t0, LastSeen: t0,
		Expires: t0.Add(12 * time.Hour), IDToken: "eyJ...", UserAgent: "Firefox", Remote: "192.0.2.1"}
	b := store.Session{ID: "s2", TenantID: tn.ID, UserID: "u1", Hash: []byte{2}, Created: t0.Add(time.Second), LastSeen: t0, Expires: t0.Add(time.Hour)}
	c := store.Session{ID: "s3", TenantID: tn.ID, UserID: "u2", Hash: []byte{3}, Created: t0, LastSeen: t0, Expires: t0.Add(time.Hour)}
	update(t, s, func(tx store.Tx) error {
		for _, x := range []store.Session{a, b, c} {
			if err := tx.PutSession(ctx, x); err != nil {
				return err
			}
		}
		return nil
	})
	view(t, s, func(tx store.ReadTx) error {
		got, err := tx.Session(ctx, "s1")
		if diff := cmp.Diff(a, got); err != nil || diff != "" {
			t.Errorf("Session(s1) = %v; mismatch (-want +got):\n%s", err, diff)
		}
		mine, _ := tx.Sessions(ctx, tn.ID, "u1")
		all, _ := tx.Sessions(ctx, tn.ID, "")
		if len(mine) != 2 || len(all) != 3 {
			t.Errorf("Sessions(u1), Sessions() = %d, %d; want 2, 3", len(mine), len(all))
		}
		return nil
	})
	seen := t0.Add(time.Minute)
	update(t, s, func(tx store.Tx) error {
		if err := tx.TouchSession(ctx, "s1", seen); err != nil {
			return err
		}
		if err := tx.TouchSession(ctx, "s1", t0); err != nil { // never goes back
			return err
		}
		return tx.RevokeSession(ctx, "s2", seen)
	})
	if err := s.Update(ctx, func(tx store.Tx) error { return tx.RevokeSession(ctx, "s2", seen) }); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("RevokeSession(revoked) = %v, want ErrNotFound", err)
	}
	if err := s.Update(ctx, func(tx store.Tx) error { return tx.TouchSession(ctx, "nope", seen) }); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("TouchSession(unknown) = %v, want ErrNotFound", err)
	}
	view(t, s, func(tx store.ReadTx) error {
		if got, _ := tx.Session(ctx, "s1"); !got.LastSeen.Equal(seen) {
			t.Errorf("LastSeen = %v, want %v", got.LastSeen, seen)
		}
		if got, _ := tx.Session(ctx, "s2"); !got.Revoked.Equal(seen) {
			t.Errorf("Revoked = %v, want %v", got.Revoked, seen)
		}
		return nil
	})
	var deleted []string
	update(t, s, func(tx store.Tx) (err error) {
		deleted, err = tx.DeleteSessions(ctx, tn.ID, "u1")
		return err
	})
	sort.Strings(deleted)
	if fmt.Sprint(deleted) != "[s1 s2]" {
		t.Errorf("DeleteSessions(u1) = %v, want [s1 s2]", deleted)
	}
	view(t, s, func(tx store.ReadTx) error {
		if _, err := tx.Session(ctx, "s1"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Session(deleted) = %v, want ErrNotFound", err)
		}
		if _, err := tx.Session(ctx, "s3"); err != nil {
			t.Errorf("another user's session was deleted: %v", err)
		}
		return nil
	})
}

func testLoginStates(t *testing.T, s store.Store) {
	ctx := context.Background()
	old := store.LoginState{State: "old", Nonce: "n0", Verifier: "v0", ReturnTo: "/", Created: t0}
	fresh := store.LoginState{State: "st", Nonce: "n1", Verifier: "v1", ReturnTo: "https://app.test/x", Created: t0.Add(time.Hour)}
	update(t, s, func(tx store.Tx) error {
		if err := tx.PutLoginState(ctx, old); err != nil {
			return err
		}
		return tx.PutLoginState(ctx, fresh)
	})
	var n int
	update(t, s, func(tx store.Tx) (err error) {
		n, err = tx.CountLoginStates(ctx, t0.Add(-time.Minute))
		return err
	})
	if n != 2 {
		t.Errorf("CountLoginStates = %d, want 2", n)
	}
	var got store.LoginState
	update(t, s, func(tx store.Tx) (err error) {
		got, err = tx.TakeLoginState(ctx, "st", t0.Add(time.Minute))
		return err
	})
	if diff := cmp.Diff(fresh, got); diff != "" {
		t.Errorf("TakeLoginState mismatch (-want +got):\n%s", diff)
	}
	for _, state := range []string{"st", "old", "never"} {
		err := s.Update(ctx, func(tx store.Tx) error {
			_, err := tx.TakeLoginState(ctx, state, t0)
			return err
		})
		if !errors.Is(err, store.ErrNotFound) {
			t.Errorf("TakeLoginState(%s) after use or expiry = %v, want ErrNotFound", state, err)
		}
	}
	// Counting deletes the expired ones first.
	update(t, s, func(tx store.Tx) error {
		if err := tx.PutLoginState(ctx, old); err != nil {
			return err
		}
		if err := tx.PutLoginState(ctx, fresh); err != nil {
			return err
		}
		n, err := tx.CountLoginStates(ctx, t0.Add(time.Minute))
		if n != 1 {
			t.Errorf("CountLoginStates after one expired = %d, %v; want 1", n, err)
		}
		return err
	})
	update(t, s, func(tx store.Tx) error {
		_, err := tx.TakeLoginState(ctx, "old", t0.Add(-time.Hour))
		if !errors.Is(err, store.ErrNotFound) {
			t.Errorf("the expired state survived counting: %v", err)
		}
		return nil
	})
}
