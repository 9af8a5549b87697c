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
	testPurgeSessions(t, s, tn.ID)
}

// testPurgeSessions: PurgeSessions deletes, up to its limit, the sessions
// that expired or were revoked before the cutoff, and returns them whole.
func testPurgeSessions(t *testing.T, s store.Store, tenant int64) {
	ctx := context.Background()
	cutoff := t0.Add(100 * time.Hour)
	mk := func(id string, expires, revoked time.Time) store.Session {
		return store.Session{ID: id, TenantID: tenant, UserID: "u9", Hash: []byte{9}, Created: t0, LastSeen: t0, Expires: expires, Revoked: revoked}
	}
	sessions := []store.Session{
		mk("p1", cutoff.Add(-time.Hour), time.Time{}),            // expired before: purged
		mk("p2", cutoff.Add(time.Hour), cutoff.Add(-time.Hour)),  // revoked before: purged
		mk("p3", cutoff.Add(-time.Minute), time.Time{}),          // expired before: purged, once the limit allows
		mk("k1", cutoff.Add(time.Hour), time.Time{}),             // live
		mk("k2", cutoff.Add(time.Hour), cutoff.Add(time.Minute)), // revoked after
		mk("k3", cutoff, time.Time{}),                            // expires at the cutoff: not before it
	}
	update(t, s, func(tx store.Tx) error {
		for _, x := range sessions {
			if err := tx.PutSession(ctx, x); err != nil {
				return err
			}
		}
		return nil
	})
	var purged []string
	for _, limit := range []int{2, 10, 10} {
		update(t, s, func(tx store.Tx) error {
			got, err := tx.PurgeSessions(ctx, cutoff, limit)
			if len(got) > limit {
				t.Errorf("PurgeSessions(limit %d) returned %d sessions", limit, len(got))
			}
			for _, x := range got {
				if x.UserID == "" || x.TenantID != tenant || x.Expires.IsZero() {
					t.Errorf("PurgeSessions returned %+v, want the whole session", x)
				}
				purged = append(purged, x.ID)
			}
			return err
		})
	}
	sort.Strings(purged)
	// s3, left from above, expired an hour after t0.
	if fmt.Sprint(purged) != "[p1 p2 p3 s3]" {
		t.Errorf("PurgeSessions purged %v, want [p1 p2 p3 s3]", purged)
	}
	view(t, s, func(tx store.ReadTx) error {
		for _, id := range []string{"k1", "k2", "k3"} {
			if _, err := tx.Session(ctx, id); err != nil {
				t.Errorf("Session(%s) after the purge: %v, want it kept", id, err)
			}
		}
		return nil
	})
}
