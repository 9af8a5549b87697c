package snapshot_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/scimgate/scimgate/directory"
	"github.com/scimgate/scimgate/scim"
	"github.com/scimgate/scimgate/scim/schema"
	"github.com/scimgate/scimgate/snapshot"
	"github.com/scimgate/scimgate/store"
	"github.com/scimgate/scimgate/store/sqlite"
)

// dump renders a snapshot canonically: group indexes replaced by ids, so
// that an incrementally maintained snapshot and a freshly loaded one
// compare equal when they hold the same directory.
func dump(s *snapshot.Snapshot) []string {
	var out []string
	s.TenantIDs(func(id int64) { out = append(out, fmt.Sprint("tenant ", id)) })
	name := func(i int32) string {
		g := s.Group(i)
		if g == nil {
			return fmt.Sprintf("<deleted %d>", i)
		}
		return g.ID
	}
	names := func(list []int32) string {
		var ns []string
		for _, i := range list {
			ns = append(ns, name(i))
		}
		slices.Sort(ns)
		return strings.Join(ns, ",")
	}
	s.EachUser(func(u *snapshot.User) {
		if got, ok := s.UserByName(u.Tenant, u.NameKey); !ok || got != u {
			out = append(out, "name index misses "+u.ID)
		}
		out = append(out, fmt.Sprintf("user %d/%s %q ext=%q email=%q display=%q active=%v groups=[%s] all=%v",
			u.Tenant, u.ID, u.UserName, u.ExternalID, u.Email, u.DisplayName, u.Active, names(u.Groups), s.GroupNames(u)))
	})
	for i := range int32(s.NumGroupIndexes()) {
		g := s.Group(i)
		if g == nil {
			continue
		}
		if got, ok := s.GroupByKey(g.Key); !ok || got != g {
			out = append(out, "group index misses "+g.ID)
		}
		if !slices.Contains(s.GroupsNamed(strings.ToLower(g.Name)), i) {
			out = append(out, "group name index misses "+g.ID)
		}
		out = append(out, fmt.Sprintf("group %d/%s %q parents=[%s] ancestors=[%s]", g.Tenant, g.ID, g.Name, names(g.Parents), names(s.Ancestors(i))))
	}
	slices.Sort(out)
	return out
}

type env struct {
	t    *testing.T
	dir  *directory.Service
	live *snapshot.Live
	c    directory.Caller
	path string
}

func newEnv(t *testing.T) *env {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "db")
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	dir := directory.New(st, directory.Options{})
	_, info, _, err := dir.CreateToken(ctx, "acme", "", 0, "test")
	if err != nil {
		t.Fatal(err)
	}
	lctx, cancel := context.WithCancel(ctx)
	t.Cleanup(cancel)
	live, err := snapshot.Start(lctx, st, snapshot.Options{Poll: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, dir: dir, live: live, c: directory.Caller{TenantID: info.TenantID, Actor: "t"}, path: path}
}

func (e *env) body(s string) map[string]any {
	m, err := scim.DecodeJSON([]byte(s))
	if err != nil {
		e.t.Fatal(err)
	}
	return m
}

func (e *env) patch(rt *schema.ResourceType, id, ops string) {
	e.t.Helper()
	parsed, err := scim.ParsePatch(rt, e.body(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":`+ops+`}`))
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.dir.Patch(context.Background(), e.c, rt, id, parsed, directory.Precondition{}, nil, false); err != nil {
		e.t.Fatalf("patch %s %s: %v", id, ops, err)
	}
}

// check compares the live snapshot with one loaded from the store now:
// every change is applied by the time the directory call returns.
func (e *env) check(step string) {
	e.t.Helper()
	st, err := sqlite.Open(context.Background(), e.path)
	if err != nil {
		e.t.Fatal(err)
	}
	defer st.Close()
	fresh, err := snapshot.Load(context.Background(), st)
	if err != nil {
		e.t.Fatal(err)
	}
	live := e.live.Current()
	if err := live.Verify(); err != nil {
		e.t.Fatalf("after %s: live snapshot inconsistent: %v", step, err)
	}
	if diff := cmp.Diff(dump(fresh), dump(live)); diff != "" {
		e.t.Fatalf("after %s: live snapshot differs from a fresh load (-fresh +live):\n%s", step, diff)
	}
	if live.Seq != fresh.Seq {
		e.t.Fatalf("after %s: live seq %d, fresh %d", step, live.Seq, fresh.Seq)
	}
}

// TestIncrementalMatchesLoad applies random directory operations and checks
// after each that the incrementally maintained snapshot equals a fresh one.
func TestIncrementalMatchesLoad(t *testing.T) {
	for seed := range uint64(4) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			e := newEnv(t)
			ctx := context.Background()
			rnd := rand.New(rand.NewPCG(seed, 42))
			var users, groups []string
			pick := func(list []string) string { return list[rnd.IntN(len(list))] }
			n := 0
			for step := range 150 {
				var what string
				switch op := rnd.IntN(12); {
				case op < 3 || len(users) < 3:
					n++
					r, err := e.dir.Create(ctx, e.c, schema.UserType, e.body(fmt.Sprintf(
						`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"User%d@x","externalId":"e%d",
						"emails":[{"value":"u%d@x","primary":true}],"active":%v}`, n, n, n, rnd.IntN(4) > 0)), nil)
					if err != nil {
						t.Fatal(err)
					}
					users, what = append(users, r.ID), "create user"
				case op < 5 || len(groups) < 2:
					n++
					members := `[]`
					if len(users) > 0 {
						members = fmt.Sprintf(`[{"value":"%s"}]`, pick(users))
					}
					r, err := e.dir.Create(ctx, e.c, schema.GroupType, e.body(fmt.Sprintf(
						`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Group%d","members":%s}`, n, members)), nil)
					if err != nil {
						t.Fatal(err)
					}
					groups, what = append(groups, r.ID), "create group"
				case op < 7:
					member := pick(users)
					if rnd.IntN(3) == 0 {
						member = pick(groups)
					}
					opname := "add"
					if rnd.IntN(3) == 0 {
						opname = "remove"
					}
					g := pick(groups)
					if opname == "add" {
						e.patch(schema.GroupType, g, fmt.Sprintf(`[{"op":"add","path":"members","value":[{"value":"%s"}]}]`, member))
					} else {
						e.patch(schema.GroupType, g, fmt.Sprintf(`[{"op":"remove","path":"members[value eq \"%s\"]"}]`, member))
					}
					what = opname + " member"
				case op == 7:
					n++
					e.patch(schema.UserType, pick(users), fmt.Sprintf(`[{"op":"replace","value":{"userName":"Renamed%d@x","active":%v,"displayName":"D%d"}}]`, n, rnd.IntN(2) == 0, n))
					what = "update user"
				case op == 8:
					n++
					e.patch(schema.GroupType, pick(groups), fmt.Sprintf(`[{"op":"replace","path":"displayName","value":"Renamed group %d"}]`, n))
					what = "rename group"
				case op == 9:
					i := rnd.IntN(len(users))
					if err := e.dir.Delete(ctx, e.c, schema.UserType, users[i], directory.Precondition{}); err != nil {
						t.Fatal(err)
					}
					users, what = slices.Delete(users, i, i+1), "delete user"
				case op == 10:
					i := rnd.IntN(len(groups))
					if err := e.dir.Delete(ctx, e.c, schema.GroupType, groups[i], directory.Precondition{}); err != nil {
						t.Fatal(err)
					}
					groups, what = slices.Delete(groups, i, i+1), "delete group"
				default:
					ops := fmt.Sprintf(`[{"op":"replace","path":"members","value":[{"value":"%s"},{"value":"%s"}]}]`, pick(users), pick(groups))
					e.patch(schema.GroupType, pick(groups), ops)
					what = "replace members"
				}
				e.check(fmt.Sprintf("step %d (%s)", step, what))
			}
		})
	}
}

// TestTokensAndOtherProcesses: a token created and revoked through another
// store handle (another process: the CLI) reaches the live snapshot through
// the change log; deleting the owner drops the token at once.
func TestTokensAndOtherProcesses(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	u, err := e.dir.Create(ctx, e.c, schema.UserType, e.body(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"alice"}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	other, err := sqlite.Open(ctx, e.path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	cli := directory.New(other, directory.Options{})
	_, info, err := cli.CreateAccessToken(ctx, "", "ALICE", "ci", 0, "cli")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the token to appear", func() bool {
		tk, ok := e.live.Current().Token(info.ID)
		return ok && !tk.Revoked && tk.Owner.ID == u.ID
	})
	if err := cli.RevokeAccessToken(ctx, info.ID, "cli"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the revocation", func() bool {
		tk, ok := e.live.Current().Token(info.ID)
		return ok && tk.Revoked
	})
	_, info2, err := e.dir.CreateAccessToken(ctx, "acme", "alice", "", 0, "t")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := e.live.Current().Token(info2.ID); !ok {
		t.Fatal("a token created in this process is not in the snapshot when CreateAccessToken returns")
	}
	if err := e.dir.Delete(ctx, e.c, schema.UserType, u.ID, directory.Precondition{}); err != nil {
		t.Fatal(err)
	}
	if _, ok := e.live.Current().Token(info2.ID); ok {
		t.Error("the deleted user's token is still in the snapshot")
	}
	if age := e.live.Age(); age > time.Second {
		t.Errorf("snapshot age %v while polling every 10ms", age)
	}
	e.check("tokens")
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// failingViews is a store whose reads fail while fail is set.
type failingViews struct {
	*sqlite.Store
	fail atomic.Bool
}

func (f *failingViews) View(ctx context.Context, fn func(store.ReadTx) error) error {
	if f.fail.Load() {
		return errors.New("disk I/O error")
	}
	return f.Store.View(ctx, fn)
}

// TestCommitNotAppliedRefusesAll: when a commit cannot be applied to the
// snapshot (its access token cannot be read back), the snapshot is marked
// stale at once, before the write is acknowledged, so that decisions fail
// closed rather than go on from a snapshot without the change; it is
// fresh again once the poller catches up.
func TestCommitNotAppliedRefusesAll(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	fv := &failingViews{Store: st}
	dir := directory.New(st, directory.Options{})
	_, info, _, err := dir.CreateToken(ctx, "acme", "", 0, "test")
	if err != nil {
		t.Fatal(err)
	}
	c := directory.Caller{TenantID: info.TenantID, Actor: "t"}
	if _, err := dir.Create(ctx, c, schema.UserType, map[string]any{"schemas": []any{"urn:ietf:params:scim:schemas:core:2.0:User"}, "userName": "alice"}, nil); err != nil {
		t.Fatal(err)
	}
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	live, err := snapshot.Start(lctx, fv, snapshot.Options{Poll: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	fv.fail.Store(true)
	if _, _, err := dir.CreateAccessToken(ctx, "acme", "alice", "", 0, "t"); err != nil {
		t.Fatal(err)
	}
	if age := live.Age(); age < time.Hour {
		t.Errorf("snapshot age %v right after a commit it could not apply; want it stale", age)
	}
	fv.fail.Store(false)
	waitFor(t, "the poller to catch up", func() bool { return live.Age() < time.Second })
}

// TestSyncSeesWhatCameBefore: Sync returns only once it has read what was
// committed before the call, however soon after the last read it comes:
// tokens made one after the other by another process are each known when
// the request carrying them asks, though reads stay at least syncEvery
// apart (this Live never polls on its own).
func TestSyncSeesWhatCameBefore(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if _, err := e.dir.Create(ctx, e.c, schema.UserType, e.body(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"alice"}`), nil); err != nil {
		t.Fatal(err)
	}
	other, err := sqlite.Open(ctx, e.path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	live, err := snapshot.Start(lctx, other, snapshot.Options{Poll: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	const n = 5
	for i := range n {
		_, info, err := e.dir.CreateAccessToken(ctx, "", "alice", "ci", 0, "cli")
		if err != nil {
			t.Fatal(err)
		}
		if err := live.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		if _, ok := live.Current().Token(info.ID); !ok {
			t.Fatalf("token %d, made before Sync, is not in the snapshot after it", i)
		}
	}
	if d := time.Since(start); d < (n-1)*10*time.Millisecond {
		t.Errorf("%d syncs in %v: reads closer than 10ms apart", n, d)
	}
}

// TestLiveStopsOnClosedStore: a store closed under a running snapshot (a
// Caddy configuration validated, then cleaned up) stops the change log's
// poller quietly, rather than warning at every poll for as long as the
// process runs.
func TestLiveStopsOnClosedStore(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	var logged strings.Builder
	var mu sync.Mutex
	log := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return logged.Write(p)
	}), nil))
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if _, err := snapshot.Start(lctx, st, snapshot.Options{Poll: 5 * time.Millisecond, Logger: log}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	time.Sleep(100 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if logged.Len() > 0 {
		t.Errorf("after the store closed, the snapshot logged:\n%s", logged.String())
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
