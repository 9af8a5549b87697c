package audit_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/scimgate/scimgate/audit"
	"github.com/scimgate/scimgate/config"
	"github.com/scimgate/scimgate/store/sqlite"
)

var (
	userPool   = []string{"alice", "bob", "carol", "Dave", "erin"}
	groupPool  = []string{"eng", "ops", "admins", "all", "Platform"}
	groupRefs  = []string{"eng", "ops", "admins", "all", "platform", "acme/eng", "globex/ops", "initech/admins", "nosuch/eng"}
	userRefs   = []string{"alice", "bob", "dave", "acme/alice", "globex/bob", "initech/carol"}
	routePool  = []string{"app", "ops", "admin", "pub", "vip"}
	whoLookups = append(slices.Clone(userPool), "acme/alice", "globex/bob", "initech/erin", "nosuch/alice", "nobody")
)

// randomHistory drives a directory of three tenants through n random SCIM
// operations and policy edits: creates, renames, nesting (cycles
// included), removals, PUTs, deactivation and reactivation, deletes and
// re-creates under the same names.
func randomHistory(t *testing.T, w *world, r *rand.Rand, n int) {
	pick := func(list []string) string { return list[r.IntN(len(list))] }
	users := map[string][]string{}  // tenant -> live user ids
	groups := map[string][]string{} // tenant -> live group ids
	tenants := []string{"acme", "globex"}
	remove := func(list []string, id string) []string {
		return slices.DeleteFunc(list, func(x string) bool { return x == id })
	}
	some := func(tn string) []string {
		var out []string
		for range r.IntN(3) {
			if pool := append(slices.Clone(users[tn]), groups[tn]...); len(pool) > 0 {
				out = append(out, pick(pool))
			}
		}
		return out
	}
	for i := range n {
		if r.IntN(10) == 0 {
			w.step = time.Duration(1+r.IntN(3600)) * time.Second // sometimes a long gap
		} else {
			w.step = time.Duration(1+r.IntN(1000)) * time.Millisecond
		}
		if i == n/2 {
			w.tenant("initech") // "initech/…" rules bind from now on
			tenants = append(tenants, "initech")
		}
		tn := pick(tenants)
		us, gs := users[tn], groups[tn]
		switch op := r.IntN(100); {
		case op < 15:
			if id, err := w.tryCreate(tn, userType, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":`+jq(pick(userPool))+`}`); err == nil {
				users[tn] = append(us, id)
			}
		case op < 22 && len(us) > 0:
			_ = w.renameUser(tn, pick(us), pick(userPool)) // may clash: then nothing changes
		case op < 32 && len(us) > 0:
			w.setActive(tn, pick(us), r.IntN(2) == 0)
		case op < 37 && len(us) > 0:
			id := pick(us)
			w.deleteUser(tn, id)
			users[tn] = remove(us, id)
		case op < 47:
			if id, err := w.tryCreate(tn, groupType, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":`+
				jq(pick(groupPool))+`,"members":`+memberList(some(tn))+`}`); err == nil {
				groups[tn] = append(gs, id)
			}
		case op < 52 && len(gs) > 0:
			_ = w.renameGroup(tn, pick(gs), pick(groupPool))
		case op < 70 && len(gs) > 0:
			if m := some(tn); len(m) > 0 {
				w.addMembers(tn, pick(gs), m...)
			}
		case op < 80 && len(gs) > 0:
			if pool := append(slices.Clone(us), gs...); len(pool) > 0 {
				w.removeMember(tn, pick(gs), pick(pool))
			}
		case op < 85 && len(gs) > 0:
			_ = w.putGroup(tn, pick(gs), pick(groupPool), some(tn)...)
		case op < 89 && len(gs) > 0:
			id := pick(gs)
			w.deleteGroup(tn, id)
			groups[tn] = remove(gs, id)
		case op < 100:
			w.policy(randomPolicy(r)...)
		}
	}
}

func randomPolicy(r *rand.Rand) []config.Route {
	pick := func(list []string) string { return list[r.IntN(len(list))] }
	var routes []config.Route
	for _, name := range routePool {
		if r.IntN(5) == 0 {
			continue
		}
		rt := config.Route{Name: name, Path: "/" + name}
		switch {
		case r.IntN(8) == 0:
			rt.Allow.Public = true
		default:
			for range 1 + r.IntN(2) {
				rt.Allow.Groups = append(rt.Allow.Groups, pick(groupRefs))
			}
			if r.IntN(3) == 0 {
				rt.Allow.Users = append(rt.Allow.Users, pick(userRefs))
			}
			if r.IntN(4) == 0 {
				rt.Deny.Groups = append(rt.Deny.Groups, pick(groupRefs))
			}
			if r.IntN(4) == 0 {
				rt.Deny.Users = append(rt.Deny.Users, pick(userRefs))
			}
		}
		routes = append(routes, rt)
	}
	return routes
}

// TestPointInTimeMatchesReplay builds random histories and compares every
// Who, at many times, and every History with the replay model.
func TestPointInTimeMatchesReplay(t *testing.T) {
	seeds, ops := 4, 300
	if testing.Short() {
		seeds, ops = 1, 150
	}
	for seed := range seeds {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(seed), 8))
			w := newWorld(t, "acme", "globex")
			randomHistory(t, w, r, ops)
			m := newModel(t, w)
			times := sampleTimes(m, r, 120)
			whos := compareWho(t, w, m, times)
			histories := compareHistory(t, w, m)
			t.Logf("%d changes, %d policy versions: %d Who answers (%d non-empty), %d History answers compared",
				len(m.changes), len(m.versions), whos[0], whos[1], histories)
			if seed == 0 {
				// An index rebuilt from the change log when the store opens
				// (a database from before the index) answers alike.
				rebuildIndex(t, w)
				compareWho(t, w, m, times[:30])
				compareHistory(t, w, m)
			}
		})
	}
}

// sampleTimes picks times to ask about: change and policy times, the
// nanosecond before them, random times, and times before anything.
func sampleTimes(m *model, r *rand.Rand, n int) []time.Time {
	var all []time.Time
	for _, h := range m.hats {
		all = append(all, h, h.Add(-time.Nanosecond))
	}
	for _, v := range m.versions {
		all = append(all, v.At, v.At.Add(-time.Nanosecond))
	}
	end := m.hats[len(m.hats)-1]
	for range n / 4 {
		all = append(all, histT0.Add(time.Duration(r.Int64N(int64(end.Sub(histT0)+time.Hour)))))
	}
	r.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	return append([]time.Time{histT0.Add(-time.Hour), end.Add(time.Hour)}, all[:min(n, len(all))]...)
}

func compareWho(t *testing.T, w *world, m *model, times []time.Time) [2]int {
	var n [2]int
	for _, at := range times {
		for _, rt := range routePool {
			want, ok := m.who(t, rt, at)
			got, err := w.who(rt, at)
			switch {
			case !ok:
				if !errors.Is(err, audit.ErrNoPolicy) && !errors.Is(err, audit.ErrUnknownRoute) {
					t.Errorf("Who(%s, %s) = %v, %v; want no policy or unknown route", rt, at, got, err)
				}
			case err != nil:
				t.Errorf("Who(%s, %s): %v", rt, at, err)
			default:
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("Who(%s, %s) mismatch (-replay +index):\n%s", rt, at, diff)
				}
				n[0]++
				if len(want) > 0 {
					n[1]++
				}
			}
		}
	}
	return n
}

func compareHistory(t *testing.T, w *world, m *model) int {
	n := 0
	for _, u := range whoLookups {
		for _, rt := range append([]string{""}, routePool...) {
			want, ok := m.history(t, u, rt)
			res, err := audit.History(context.Background(), w.st, u, rt)
			switch {
			case !ok:
				if err == nil {
					t.Errorf("History(%s, %q): no error, want unknown user", u, rt)
				}
				continue
			case errors.Is(err, audit.ErrUnknownRoute):
				if rt == "" || len(want) > 0 {
					t.Errorf("History(%s, %q): %v", u, rt, err)
				}
				continue
			case err != nil:
				t.Errorf("History(%s, %q): %v", u, rt, err)
				continue
			}
			n++
			if diff := cmp.Diff(want, flatten(res)); diff != "" {
				t.Errorf("History(%s, %q) mismatch (-replay +index):\n%s", u, rt, diff)
			}
		}
	}
	return n
}

// rebuildIndex empties the temporal index and reopens the store, which
// then indexes the whole change log again.
func rebuildIndex(t *testing.T, w *world) {
	t.Helper()
	path := w.path
	if err := w.st.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	for _, table := range []string{"history_clock", "history_tenants", "history_users", "history_groups", "history_members"} {
		if _, err := db.Exec(`DELETE FROM ` + table); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	st, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	w.st = st
}
