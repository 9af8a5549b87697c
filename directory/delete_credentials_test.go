package directory_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/scimgate/scimgate/directory"
	"github.com/scimgate/scimgate/scim/schema"
	"github.com/scimgate/scimgate/snapshot"
	"github.com/scimgate/scimgate/store"
)

// creds is what a user was given: access token ids and session cookies.
type creds struct {
	tokens   []string // access token ids
	sessions []string // session ids
	cookies  []string // session cookie values, same order as sessions
}

// giveCreds creates access tokens and sessions for a user through the
// directory API; revokeFirst revokes the first of each, so that revoked
// credentials are part of what a delete must remove.
func (f *fixture) giveCreds(t testing.TB, userName, userID string, tokens, sessions int, revokeFirst bool) creds {
	t.Helper()
	ctx := context.Background()
	var c creds
	for i := range tokens {
		_, info, err := f.dir.CreateAccessToken(ctx, "acme", userName, "token", 0, "cli")
		if err != nil {
			t.Fatalf("CreateAccessToken(%s): %v", userName, err)
		}
		c.tokens = append(c.tokens, info.ID)
		if i == 0 && revokeFirst {
			if err := f.dir.RevokeAccessToken(ctx, info.ID, "cli"); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i := range sessions {
		cookie, sess, err := f.dir.CreateSession(ctx, directory.NewSession{
			TenantID: f.c.TenantID, UserID: userID, Lifetime: time.Hour, UserAgent: "test", Remote: "192.0.2.1"})
		if err != nil {
			t.Fatalf("CreateSession(%s): %v", userName, err)
		}
		c.sessions = append(c.sessions, sess.ID)
		c.cookies = append(c.cookies, cookie)
		if i == 0 && revokeFirst {
			if err := f.dir.RevokeSession(ctx, sess.ID, "cli"); err != nil {
				t.Fatal(err)
			}
		}
	}
	return c
}

// storedCreds reads, straight from the store, which of the given access
// token and session ids still exist, and the ids the store lists for the
// user.
func storedCreds(t testing.TB, st store.Store, tenant int64, userID string, c creds) (tokens, sessions, listed []string) {
	t.Helper()
	ctx := context.Background()
	err := st.View(ctx, func(tx store.ReadTx) error {
		for _, id := range c.tokens {
			_, err := tx.AccessToken(ctx, id)
			switch {
			case err == nil:
				tokens = append(tokens, id)
			case !errors.Is(err, store.ErrNotFound):
				return err
			}
		}
		for _, id := range c.sessions {
			_, err := tx.Session(ctx, id)
			switch {
			case err == nil:
				sessions = append(sessions, id)
			case !errors.Is(err, store.ErrNotFound):
				return err
			}
		}
		tks, err := tx.AccessTokens(ctx, tenant, userID)
		if err != nil {
			return err
		}
		for _, tk := range tks {
			listed = append(listed, "token:"+tk.ID)
		}
		ss, err := tx.Sessions(ctx, tenant, userID)
		if err != nil {
			return err
		}
		for _, s := range ss {
			listed = append(listed, "session:"+s.ID)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return tokens, sessions, listed
}

// deleteDetail is the Detail of a user's tombstone event.
type deleteDetail struct {
	AccessTokens []string `json:"access_tokens_deleted"`
	Sessions     []string `json:"sessions_deleted"`
}

// TestDeleteUserRemovesCredentials: deleting a user deletes every access
// token and session it owns, revoked or not, and nobody else's; the
// tombstone event lists their ids under access_tokens_deleted and
// sessions_deleted (the names snapshot/apply.go reads), and has no Detail
// when there was nothing to delete.
func TestDeleteUserRemovesCredentials(t *testing.T) {
	tests := []struct {
		name             string
		tokens, sessions int
		revokeFirst      bool
	}{
		{name: "tokens and sessions", tokens: 2, sessions: 2},
		{name: "revoked ones too", tokens: 2, sessions: 2, revokeFirst: true},
		{name: "tokens only", tokens: 1},
		{name: "sessions only", sessions: 3},
		{name: "no credentials"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			ctx := context.Background()
			alice := f.user(t, "alice")
			bob := f.user(t, "bob")
			mine := f.giveCreds(t, "alice", alice, tt.tokens, tt.sessions, tt.revokeFirst)
			theirs := f.giveCreds(t, "bob", bob, 1, 1, false)
			if tks, ss, _ := storedCreds(t, f.st, f.c.TenantID, alice, mine); len(tks) != tt.tokens || len(ss) != tt.sessions {
				t.Fatalf("before delete the store has %d tokens and %d sessions of alice, want %d and %d", len(tks), len(ss), tt.tokens, tt.sessions)
			}
			before := len(f.changes(t))

			if err := f.dir.Delete(ctx, f.c, schema.UserType, alice, directory.Precondition{}); err != nil {
				t.Fatalf("Delete(alice) = %v", err)
			}

			tks, ss, listed := storedCreds(t, f.st, f.c.TenantID, alice, mine)
			if len(tks) != 0 || len(ss) != 0 || len(listed) != 0 {
				t.Errorf("after deleting alice the store still has tokens %v, sessions %v (listed for her: %v)", tks, ss, listed)
			}
			for _, cookie := range mine.cookies {
				if _, ok := f.dir.VerifySession(ctx, cookie); ok {
					t.Errorf("a session cookie of deleted alice still verifies")
				}
			}
			// Bob's credentials are untouched.
			if tks, ss, _ := storedCreds(t, f.st, f.c.TenantID, bob, theirs); !slices.Equal(tks, theirs.tokens) || !slices.Equal(ss, theirs.sessions) {
				t.Errorf("bob's credentials after deleting alice: tokens %v sessions %v, want %v %v", tks, ss, theirs.tokens, theirs.sessions)
			}
			if _, ok := f.dir.VerifySession(ctx, theirs.cookies[0]); !ok {
				t.Errorf("bob's session no longer verifies after deleting alice")
			}

			// One event, the tombstone, records the whole delete.
			all := f.changes(t)
			if n := len(all) - before; n != 1 {
				t.Fatalf("Delete appended %d change events, want 1 (the tombstone)", n)
			}
			ev := all[len(all)-1]
			if ev.ResourceType != store.TypeUser || ev.ResourceID != alice || ev.Op != store.OpDelete || ev.After != nil {
				t.Fatalf("last event = %s %s %s (after %s), want the User delete tombstone of %s", ev.ResourceType, ev.ResourceID, ev.Op, ev.After, alice)
			}
			if tt.tokens+tt.sessions == 0 {
				if ev.Detail != nil {
					t.Errorf("tombstone Detail = %s, want none when the user had no credentials", ev.Detail)
				}
				return
			}
			var raw map[string]json.RawMessage
			if err := json.Unmarshal(ev.Detail, &raw); err != nil {
				t.Fatalf("tombstone Detail %q: %v", ev.Detail, err)
			}
			// A key is present only when something of its kind was deleted.
			var wantKeys []string
			if tt.tokens > 0 {
				wantKeys = append(wantKeys, "access_tokens_deleted")
			}
			if tt.sessions > 0 {
				wantKeys = append(wantKeys, "sessions_deleted")
			}
			var gotKeys []string
			for k := range raw {
				gotKeys = append(gotKeys, k)
			}
			slices.Sort(gotKeys)
			if !slices.Equal(gotKeys, wantKeys) {
				t.Errorf("tombstone Detail keys = %v, want %v (Detail %s)", gotKeys, wantKeys, ev.Detail)
			}
			var got deleteDetail
			if err := json.Unmarshal(ev.Detail, &got); err != nil {
				t.Fatal(err)
			}
			slices.Sort(got.AccessTokens)
			slices.Sort(got.Sessions)
			want := deleteDetail{AccessTokens: slices.Sorted(slices.Values(mine.tokens)), Sessions: slices.Sorted(slices.Values(mine.sessions))}
			if diff := cmp.Diff(want, got, cmpEmptyNil); diff != "" {
				t.Errorf("tombstone Detail ids mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// cmpEmptyNil treats nil and empty slices alike.
var cmpEmptyNil = cmp.FilterValues(func(a, b []string) bool { return len(a) == 0 && len(b) == 0 }, cmp.Ignore())

// faultStore is the real store with one fault: while armed, appending a
// User delete event fails, as a full disk or a closed store would.
type faultStore struct {
	store.Store
	armed atomic.Bool
}

var errAppend = errors.New("injected: append change failed")

func (s *faultStore) Update(ctx context.Context, fn func(store.Tx) error) error {
	return s.Store.Update(ctx, func(tx store.Tx) error { return fn(faultTx{Tx: tx, s: s}) })
}

type faultTx struct {
	store.Tx
	s *faultStore
}

func (t faultTx) AppendChange(ctx context.Context, c *store.Change) error {
	if t.s.armed.Load() && c.ResourceType == store.TypeUser && c.Op == store.OpDelete {
		return errAppend
	}
	return t.Tx.AppendChange(ctx, c)
}

// TestDeleteUserCredentialsSameTransaction: the credentials go in the same
// transaction as the user and its tombstone. When the tombstone cannot be
// recorded (the last step of Delete), the access tokens and sessions
// already deleted in that transaction are back, with the user and its
// memberships; once the fault is gone the same Delete removes them all.
func TestDeleteUserCredentialsSameTransaction(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	alice := f.user(t, "alice")
	gid := f.group(t, "eng")
	if err := f.patch(t, schema.GroupType, gid, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
		"Operations":[{"op":"add","path":"members","value":[{"value":"`+alice+`"}]}]}`); err != nil {
		t.Fatal(err)
	}
	mine := f.giveCreds(t, "alice", alice, 2, 2, false)
	fs := &faultStore{Store: f.st}
	dir := directory.New(fs, directory.Options{Now: f.clock.Now})
	before := len(f.changes(t))

	fs.armed.Store(true)
	if err := dir.Delete(ctx, f.c, schema.UserType, alice, directory.Precondition{}); !errors.Is(err, errAppend) {
		t.Fatalf("Delete with a failing tombstone = %v, want %v", err, errAppend)
	}
	if tks, ss, _ := storedCreds(t, f.st, f.c.TenantID, alice, mine); !slices.Equal(tks, mine.tokens) || !slices.Equal(ss, mine.sessions) {
		t.Errorf("after a failed Delete the store has tokens %v sessions %v, want all of %v %v: the credential deletes were not rolled back with the tombstone",
			tks, ss, mine.tokens, mine.sessions)
	}
	if _, err := f.dir.Get(ctx, f.c, schema.UserType, alice, nil); err != nil {
		t.Errorf("after a failed Delete, Get(alice) = %v, want the user", err)
	}
	if g, err := f.dir.Get(ctx, f.c, schema.GroupType, gid, nil); err != nil || g.Doc["members"] == nil {
		t.Errorf("after a failed Delete the group lost its member: %v, %v", g, err)
	}
	if _, ok := f.dir.VerifySession(ctx, mine.cookies[0]); !ok {
		t.Errorf("after a failed Delete alice's session no longer verifies")
	}
	if n := len(f.changes(t)) - before; n != 0 {
		t.Errorf("a failed Delete left %d change events", n)
	}

	fs.armed.Store(false)
	if err := dir.Delete(ctx, f.c, schema.UserType, alice, directory.Precondition{}); err != nil {
		t.Fatalf("Delete = %v", err)
	}
	if tks, ss, listed := storedCreds(t, f.st, f.c.TenantID, alice, mine); len(tks)+len(ss)+len(listed) != 0 {
		t.Errorf("after Delete the store still has tokens %v sessions %v listed %v", tks, ss, listed)
	}
	all := f.changes(t)
	var got deleteDetail
	if err := json.Unmarshal(all[len(all)-1].Detail, &got); err != nil {
		t.Fatalf("tombstone Detail %q: %v", all[len(all)-1].Detail, err)
	}
	if len(got.AccessTokens) != 2 || len(got.Sessions) != 2 {
		t.Errorf("tombstone Detail = %s, want 2 access tokens and 2 sessions", all[len(all)-1].Detail)
	}
}

// TestVerifySessionExpiry: a session past its lifetime is no longer a
// session, though nothing revoked it (sign-out asks VerifySession).
func TestVerifySessionExpiry(t *testing.T) {
	f := newFixture(t)
	alice := f.user(t, "alice")
	c := f.giveCreds(t, "alice", alice, 0, 1, false) // an hour's lifetime
	for _, tt := range []struct {
		after time.Duration
		want  bool
	}{{59 * time.Minute, true}, {time.Minute, false}} {
		f.clock.Advance(tt.after)
		if _, ok := f.dir.VerifySession(context.Background(), c.cookies[0]); ok != tt.want {
			t.Errorf("VerifySession at %v = %v, want %v", f.clock.Now(), ok, tt.want)
		}
	}
}

// TestDeactivateEndsSessions: deactivating a user deletes its sessions in
// the same change (listed under sessions_deleted, which the snapshot
// reads), keeps its access tokens, touches nobody else's, and a
// reactivation brings no session back. Other edits of an inactive user
// delete nothing more.
func TestDeactivateEndsSessions(t *testing.T) {
	f := newFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel) // before the store closes
	alice := f.user(t, "alice")
	bob := f.user(t, "bob")
	// Started first: the sessions reach it as changes (its first load
	// leaves out sessions expired by the wall clock, and this fixture's
	// clock is not the wall clock).
	live, err := snapshot.Start(ctx, f.st, snapshot.Options{})
	if err != nil {
		t.Fatal(err)
	}
	mine := f.giveCreds(t, "alice", alice, 1, 2, false)
	theirs := f.giveCreds(t, "bob", bob, 1, 1, false)
	if err := live.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := live.Current().Session(mine.sessions[0]); !ok {
		t.Fatal("alice's session is not in the snapshot")
	}
	active := func(v string) string {
		return `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Replace","path":"active","value":` + v + `}]}`
	}
	if err := f.patch(t, schema.UserType, alice, active(`"False"`)); err != nil { // Entra's spelling
		t.Fatal(err)
	}
	tks, ss, _ := storedCreds(t, f.st, f.c.TenantID, alice, mine)
	if len(ss) != 0 || !slices.Equal(tks, mine.tokens) {
		t.Errorf("after deactivation alice has tokens %v sessions %v, want tokens %v and no session", tks, ss, mine.tokens)
	}
	for _, cookie := range mine.cookies {
		if _, ok := f.dir.VerifySession(ctx, cookie); ok {
			t.Error("a session cookie of deactivated alice still verifies")
		}
	}
	if err := live.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	for _, id := range mine.sessions {
		if _, ok := live.Current().Session(id); ok {
			t.Errorf("alice's session %s is still in the snapshot after her deactivation", id)
		}
	}
	if _, ok := live.Current().Session(theirs.sessions[0]); !ok {
		t.Error("bob's session left the snapshot with alice's deactivation")
	}
	if tks, ss, _ := storedCreds(t, f.st, f.c.TenantID, bob, theirs); !slices.Equal(tks, theirs.tokens) || !slices.Equal(ss, theirs.sessions) {
		t.Errorf("bob's credentials after deactivating alice: tokens %v sessions %v", tks, ss)
	}
	all := f.changes(t)
	ev := all[len(all)-1]
	var got deleteDetail
	if err := json.Unmarshal(ev.Detail, &got); err != nil || ev.ResourceID != alice ||
		!cmp.Equal(slices.Sorted(slices.Values(got.Sessions)), slices.Sorted(slices.Values(mine.sessions))) || len(got.AccessTokens) != 0 {
		t.Errorf("the deactivation's event: %s %s detail %s, want alice's sessions %v deleted", ev.ResourceID, ev.Op, ev.Detail, mine.sessions)
	}

	// Edits of the inactive user, and its reactivation, delete nothing.
	for _, body := range []string{
		`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"title","value":"x"}]}`,
		active("true"),
	} {
		if err := f.patch(t, schema.UserType, alice, body); err != nil {
			t.Fatal(err)
		}
		if all := f.changes(t); all[len(all)-1].Detail != nil {
			t.Errorf("%s recorded detail %s, want none", body, all[len(all)-1].Detail)
		}
	}
	for _, cookie := range mine.cookies {
		if _, ok := f.dir.VerifySession(ctx, cookie); ok {
			t.Error("a session from before the deactivation verifies after the reactivation")
		}
	}
}

// TestPurgeSessions: sessions that ended (expired, or revoked) before the
// cutoff are deleted, each with a change event (op delete, actor
// retention); live ones and those that ended after it stay.
func TestPurgeSessions(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	alice := f.user(t, "alice")
	mk := func(lifetime time.Duration) (string, string) {
		cookie, sess, err := f.dir.CreateSession(ctx, directory.NewSession{TenantID: f.c.TenantID, UserID: alice, Lifetime: lifetime})
		if err != nil {
			t.Fatal(err)
		}
		return sess.ID, cookie
	}
	expiredLongAgo, _ := mk(time.Hour)
	revokedLongAgo, _ := mk(72 * time.Hour)
	if err := f.dir.RevokeSession(ctx, revokedLongAgo, "cli"); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(48 * time.Hour) // both ended two days ago, or nearly
	expiredLately, _ := mk(time.Hour)
	revokedLately, _ := mk(72 * time.Hour)
	if err := f.dir.RevokeSession(ctx, revokedLately, "cli"); err != nil {
		t.Fatal(err)
	}
	live, liveCookie := mk(72 * time.Hour)
	f.clock.Advance(2 * time.Hour) // expiredLately ended an hour ago

	before := len(f.changes(t))
	n, err := f.dir.PurgeSessions(ctx, f.clock.Now().Add(-directory.SessionsKeptFor), 100)
	if err != nil || n != 2 {
		t.Fatalf("PurgeSessions = %d, %v; want the 2 sessions that ended over a day ago", n, err)
	}
	_, ss, _ := storedCreds(t, f.st, f.c.TenantID, alice, creds{sessions: []string{expiredLongAgo, revokedLongAgo, expiredLately, revokedLately, live}})
	if want := []string{expiredLately, revokedLately, live}; !slices.Equal(ss, want) {
		t.Errorf("sessions left %v, want %v", ss, want)
	}
	if _, ok := f.dir.VerifySession(ctx, liveCookie); !ok {
		t.Error("the live session no longer verifies")
	}
	var purged []string
	for _, ev := range f.changes(t)[before:] {
		if ev.ResourceType != store.TypeSession || ev.Op != store.OpDelete || ev.Actor != "retention" {
			t.Errorf("event %s %s %s by %s, want session deletes by retention", ev.ResourceType, ev.ResourceID, ev.Op, ev.Actor)
		}
		purged = append(purged, ev.ResourceID)
	}
	slices.Sort(purged)
	if want := slices.Sorted(slices.Values([]string{expiredLongAgo, revokedLongAgo})); !slices.Equal(purged, want) {
		t.Errorf("delete events for %v, want %v", purged, want)
	}
	if n, err := f.dir.PurgeSessions(ctx, f.clock.Now().Add(-directory.SessionsKeptFor), 100); err != nil || n != 0 {
		t.Errorf("a second PurgeSessions = %d, %v; want 0", n, err)
	}
}

// TestPurgedSessionLeavesSnapshot: the live snapshot drops a purged
// session with its change event, as a server running beside the purge
// sees it.
func TestPurgedSessionLeavesSnapshot(t *testing.T) {
	f := newFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel) // before the store closes
	alice := f.user(t, "alice")
	live, err := snapshot.Start(ctx, f.st, snapshot.Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, sess, err := f.dir.CreateSession(ctx, directory.NewSession{TenantID: f.c.TenantID, UserID: alice, Lifetime: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if err := live.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := live.Current().Session(sess.ID); !ok {
		t.Fatal("the new session is not in the snapshot")
	}
	f.clock.Advance(26 * time.Hour)
	if n, err := f.dir.PurgeSessions(ctx, f.clock.Now().Add(-directory.SessionsKeptFor), 100); err != nil || n != 1 {
		t.Fatalf("PurgeSessions = %d, %v; want 1", n, err)
	}
	if err := live.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := live.Current().Session(sess.ID); ok {
		t.Error("the purged session is still in the snapshot")
	}
}

// TestPurgeSessionsLimit: one purge deletes at most its limit; the next
// takes the rest.
func TestPurgeSessionsLimit(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	alice := f.user(t, "alice")
	for range 3 {
		if _, _, err := f.dir.CreateSession(ctx, directory.NewSession{TenantID: f.c.TenantID, UserID: alice, Lifetime: time.Hour}); err != nil {
			t.Fatal(err)
		}
	}
	f.clock.Advance(48 * time.Hour)
	cutoff := f.clock.Now().Add(-directory.SessionsKeptFor)
	for i, want := range []int{2, 1, 0} {
		if n, err := f.dir.PurgeSessions(ctx, cutoff, 2); err != nil || n != want {
			t.Errorf("purge %d = %d, %v; want %d", i+1, n, err, want)
		}
	}
}

// TestPurgeSessionsBatches: a purge larger than one transaction's batch
// goes on batch after batch up to its limit, an event per session, and
// stops at a batch that comes back short.
func TestPurgeSessionsBatches(t *testing.T) {
	t.Cleanup(directory.SetPurgeBatch(2))
	f := newFixture(t)
	ctx := context.Background()
	alice := f.user(t, "alice")
	var ids []string
	for range 7 {
		_, sess, err := f.dir.CreateSession(ctx, directory.NewSession{TenantID: f.c.TenantID, UserID: alice, Lifetime: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, sess.ID)
	}
	f.clock.Advance(48 * time.Hour)
	cutoff := f.clock.Now().Add(-directory.SessionsKeptFor)
	before := len(f.changes(t))
	if n, err := f.dir.PurgeSessions(ctx, cutoff, 5); err != nil || n != 5 {
		t.Fatalf("PurgeSessions(limit 5, batches of 2) = %d, %v; want 5", n, err)
	}
	if n, err := f.dir.PurgeSessions(ctx, cutoff, 100); err != nil || n != 2 {
		t.Fatalf("the next PurgeSessions = %d, %v; want the 2 left", n, err)
	}
	var purged []string
	for _, ev := range f.changes(t)[before:] {
		if ev.ResourceType == store.TypeSession && ev.Op == store.OpDelete {
			purged = append(purged, ev.ResourceID)
		}
	}
	slices.Sort(purged)
	slices.Sort(ids)
	if !slices.Equal(purged, ids) {
		t.Errorf("delete events for %v, want one for each of %v", purged, ids)
	}
}
