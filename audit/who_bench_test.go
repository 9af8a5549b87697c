package audit_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/scimgate/scimgate/audit"
	"github.com/scimgate/scimgate/config"
	"github.com/scimgate/scimgate/policy"
	"github.com/scimgate/scimgate/store"
	"github.com/scimgate/scimgate/store/sqlite"
)

// The point-in-time benchmark's history: 1,000,000 change events over a
// year, written straight through the store (AppendChange, which keeps the
// temporal index, exactly as SCIM writes do) and cached in
// $TMPDIR/scimgate-history-bench-v2. 50,000 users, group "all" with every
// user, "engineering" above 10 departments above 200 of the 2,000 teams,
// every user in about 2 teams; then churn: members added and removed,
// users deactivated and reactivated, renamed, deleted and created again
// under the same name, teams moved between departments and renamed; and
// a policy version every 100,000 changes. Only the change log, the policy
// versions and the index are written, not the directory's state tables:
// the queries read nothing else.
const (
	benchEvents = 1_000_000
	benchUsers  = 50_000
	benchTeams  = 2_000
	benchName   = "scimgate-history-bench-v2"
)

var benchStart = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// historyDataset returns the path of the generated database, generating it
// on first use.
func historyDataset(b *testing.B) string {
	dir := filepath.Join(os.TempDir(), benchName)
	db := filepath.Join(dir, "history.db")
	if _, err := os.Stat(filepath.Join(dir, "done")); err == nil {
		return db
	}
	os.RemoveAll(dir)
	start := time.Now()
	if err := generateHistory(db); err != nil {
		b.Fatalf("generate history: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "done"), nil, 0o600); err != nil {
		b.Fatal(err)
	}
	fmt.Fprintf(os.Stderr, "generated %d change events in %s\n", benchEvents, time.Since(start).Round(time.Second))
	return db
}

type historyGen struct {
	r       *rand.Rand
	tenant  int64
	n       int // events written
	users   []genUser
	teams   []string // team ids; index = team number
	names   []string // team displayNames
	members map[[2]int]bool
	pairs   [][2]int // (team, user index) memberships, for picking one to remove
	depts   []string
	parent  []int // team -> department, -1 when none
	pending []store.Change
}

type genUser struct {
	id, name string
	active   bool
	gen      int
}

func (g *historyGen) at() time.Time { return benchStart.Add(time.Duration(g.n) * 31 * time.Second) }

func (g *historyGen) emit(typ, id, op string, before, after any, edges ...store.EdgeChange) {
	enc := func(v any) []byte {
		if v == nil {
			return nil
		}
		b, _ := json.Marshal(v)
		return b
	}
	g.pending = append(g.pending, store.Change{TenantID: g.tenant, At: g.at(), Actor: "bench", ResourceType: typ, ResourceID: id,
		Op: op, Before: enc(before), After: enc(after), Edges: edges})
	g.n++
}

func userDoc(u genUser) map[string]any {
	return map[string]any{"id": u.id, "userName": u.name, "active": u.active,
		"emails": []any{map[string]any{"value": u.name, "primary": true}}, "name": map[string]any{"givenName": "Bench", "familyName": u.name}}
}

func groupDoc(id, name string) map[string]any { return map[string]any{"id": id, "displayName": name} }

func (g *historyGen) addMembers(group, name string, ids []string, typ string) {
	var edges []store.EdgeChange
	for _, id := range ids {
		edges = append(edges, store.EdgeChange{Group: group, Member: id, MemberType: typ, Added: true})
	}
	g.emit(store.TypeGroup, group, store.OpPatch, groupDoc(group, name), groupDoc(group, name), edges...)
}

func (g *historyGen) join(team, u int) {
	if g.members[[2]int{team, u}] {
		return
	}
	g.members[[2]int{team, u}] = true
	g.pairs = append(g.pairs, [2]int{team, u})
	g.addMembers(g.teams[team], g.names[team], []string{g.users[u].id}, store.TypeUser)
}

func generateHistory(path string) error {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		return err
	}
	defer st.Close()
	g := &historyGen{r: rand.New(rand.NewPCG(1, 2)), members: map[[2]int]bool{}}
	flush := func() error {
		err := st.Update(ctx, func(tx store.Tx) error {
			for i := range g.pending {
				if err := tx.AppendChange(ctx, &g.pending[i]); err != nil {
					return err
				}
			}
			return nil
		})
		g.pending = g.pending[:0]
		return err
	}
	err = st.Update(ctx, func(tx store.Tx) error {
		tn, err := tx.CreateTenant(ctx, "bench", benchStart)
		g.tenant = tn.ID
		return err
	})
	if err != nil {
		return err
	}
	g.emit(store.TypeTenant, fmt.Sprint(g.tenant), store.OpCreate, nil, map[string]any{"name": "bench"})
	if err := recordBenchPolicy(ctx, st, g.at().Add(-time.Minute), 0); err != nil {
		return err
	}
	for i := range benchUsers {
		u := genUser{id: fmt.Sprintf("u-%06d-0", i), name: fmt.Sprintf("user%06d@example.com", i), active: true}
		g.users = append(g.users, u)
		g.emit(store.TypeUser, u.id, store.OpCreate, nil, userDoc(u))
	}
	g.emit(store.TypeGroup, "g-all", store.OpCreate, nil, groupDoc("g-all", "all"))
	g.emit(store.TypeGroup, "g-eng", store.OpCreate, nil, groupDoc("g-eng", "engineering"))
	for d := range 10 {
		id := fmt.Sprintf("g-dept-%d", d)
		g.depts = append(g.depts, id)
		g.emit(store.TypeGroup, id, store.OpCreate, nil, groupDoc(id, fmt.Sprintf("dept-%d", d)),
			store.EdgeChange{Group: "g-eng", Member: id, MemberType: store.TypeGroup, Added: true})
	}
	for t := range benchTeams {
		id, name := fmt.Sprintf("g-team-%04d", t), fmt.Sprintf("team-%04d", t)
		g.teams, g.names, g.parent = append(g.teams, id), append(g.names, name), append(g.parent, -1)
		var edges []store.EdgeChange
		if t < 200 {
			g.parent[t] = t % 10
			edges = append(edges, store.EdgeChange{Group: g.depts[t%10], Member: id, MemberType: store.TypeGroup, Added: true})
		}
		g.emit(store.TypeGroup, id, store.OpCreate, nil, groupDoc(id, name), edges...)
	}
	for lo := 0; lo < benchUsers; lo += 100 {
		var ids []string
		for _, u := range g.users[lo : lo+100] {
			ids = append(ids, u.id)
		}
		g.addMembers("g-all", "all", ids, store.TypeUser)
	}
	for u := range benchUsers {
		g.join(g.r.IntN(benchTeams), u)
		g.join(g.r.IntN(benchTeams), u)
		if len(g.pending) >= 5000 {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	version := 1
	for g.n < benchEvents {
		if g.n >= version*100_000 {
			if err := flush(); err != nil {
				return err
			}
			if err := recordBenchPolicy(ctx, st, g.at(), version); err != nil {
				return err
			}
			version++
		}
		g.churn()
		if len(g.pending) >= 5000 {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}

// churn writes one random directory change (a delete and re-create, two).
func (g *historyGen) churn() {
	r := g.r
	u := r.IntN(len(g.users))
	switch op := r.IntN(100); {
	case op < 45:
		g.join(r.IntN(benchTeams), u)
	case op < 75:
		// Pairs of deleted users are dropped as they are picked.
		var p [2]int
		for {
			if len(g.pairs) == 0 {
				return
			}
			i := r.IntN(len(g.pairs))
			p = g.pairs[i]
			g.pairs[i] = g.pairs[len(g.pairs)-1]
			g.pairs = g.pairs[:len(g.pairs)-1]
			if g.members[p] {
				break
			}
		}
		delete(g.members, p)
		t := p[0]
		g.emit(store.TypeGroup, g.teams[t], store.OpPatch, groupDoc(g.teams[t], g.names[t]), groupDoc(g.teams[t], g.names[t]),
			store.EdgeChange{Group: g.teams[t], Member: g.users[p[1]].id, MemberType: store.TypeUser})
	case op < 85:
		before := g.users[u]
		g.users[u].active = !before.active
		g.emit(store.TypeUser, before.id, store.OpPatch, userDoc(before), userDoc(g.users[u]))
	case op < 90:
		before := g.users[u]
		g.users[u].name = fmt.Sprintf("user%06d-r%d@example.com", u, g.n)
		g.emit(store.TypeUser, before.id, store.OpPatch, userDoc(before), userDoc(g.users[u]))
	case op < 94:
		// Deleted, then created again under the same name with a new id.
		old := g.users[u]
		var edges []store.EdgeChange
		for t := range benchTeams {
			if g.members[[2]int{t, u}] {
				delete(g.members, [2]int{t, u})
				edges = append(edges, store.EdgeChange{Group: g.teams[t], Member: old.id, MemberType: store.TypeUser})
			}
		}
		edges = append(edges, store.EdgeChange{Group: "g-all", Member: old.id, MemberType: store.TypeUser})
		g.emit(store.TypeUser, old.id, store.OpDelete, userDoc(old), nil, edges...)
		nu := genUser{id: fmt.Sprintf("u-%06d-%d", u, old.gen+1), name: old.name, active: true, gen: old.gen + 1}
		g.users[u] = nu
		g.emit(store.TypeUser, nu.id, store.OpCreate, nil, userDoc(nu))
		g.addMembers("g-all", "all", []string{nu.id}, store.TypeUser)
		g.join(r.IntN(benchTeams), u)
	case op < 97:
		// A team moves to another department, or out of engineering.
		t := r.IntN(300)
		if p := g.parent[t]; p >= 0 {
			g.parent[t] = -1
			g.emit(store.TypeGroup, g.depts[p], store.OpPatch, groupDoc(g.depts[p], fmt.Sprint("dept-", p)), groupDoc(g.depts[p], fmt.Sprint("dept-", p)),
				store.EdgeChange{Group: g.depts[p], Member: g.teams[t], MemberType: store.TypeGroup})
		} else {
			p := r.IntN(10)
			g.parent[t] = p
			g.emit(store.TypeGroup, g.depts[p], store.OpPatch, groupDoc(g.depts[p], fmt.Sprint("dept-", p)), groupDoc(g.depts[p], fmt.Sprint("dept-", p)),
				store.EdgeChange{Group: g.depts[p], Member: g.teams[t], MemberType: store.TypeGroup, Added: true})
		}
	default:
		t := r.IntN(benchTeams - 100) // the last 100 keep their names: policies name them
		old := g.names[t]
		g.names[t] = fmt.Sprintf("team-%04d-r%d", t, g.n)
		g.emit(store.TypeGroup, g.teams[t], store.OpPatch, groupDoc(g.teams[t], old), groupDoc(g.teams[t], g.names[t]))
	}
}

// recordBenchPolicy records version v of the benchmark's policy, loaded
// at at: routes for engineering (nested), one team, everyone.
func recordBenchPolicy(ctx context.Context, st store.Store, at time.Time, v int) error {
	routes := []config.Route{
		{Name: "eng", Path: "/eng", Allow: config.AllowRule{Groups: []string{"engineering"}}, Deny: config.DenyRule{Groups: []string{fmt.Sprintf("team-%04d", v)}}},
		{Name: "team", Path: "/team", Allow: config.AllowRule{Groups: []string{fmt.Sprintf("team-%04d", benchTeams-100+v)}}},
		{Name: "all", Path: "/all", Allow: config.AllowRule{Groups: []string{"all"}}},
	}
	p, err := policy.Compile(routes, "bench.yaml", at)
	if err != nil {
		return err
	}
	_, _, err = audit.RecordPolicy(ctx, st, p, routes)
	return err
}

// BenchmarkWhoAt asks who could reach a route at a random past time, over
// the 1,000,000-event history:
//
//	go test ./audit -run '^$' -bench WhoAt -benchtime 20x -timeout 30m
func BenchmarkWhoAt(b *testing.B) {
	path := historyDataset(b)
	st, err := sqlite.Open(context.Background(), path)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	end := benchStart.Add(benchEvents * 31 * time.Second)
	for _, route := range []string{"team", "eng", "all"} {
		b.Run("route="+route, func(b *testing.B) {
			r := rand.New(rand.NewPCG(3, 4))
			users := 0
			for b.Loop() {
				at := benchStart.Add(time.Duration(r.Int64N(int64(end.Sub(benchStart)))))
				res, err := audit.Who(context.Background(), st, route, at)
				if err != nil {
					b.Fatal(err)
				}
				users += len(res.Users)
			}
			b.ReportMetric(float64(users)/float64(b.N), "users/op")
		})
	}
}

// BenchmarkHistoryOf asks for the whole history of one user, over the
// same history.
func BenchmarkHistoryOf(b *testing.B) {
	path := historyDataset(b)
	st, err := sqlite.Open(context.Background(), path)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	r := rand.New(rand.NewPCG(5, 6))
	intervals := 0
	for b.Loop() {
		// A user renamed since is not known by this name: ask again.
		for {
			res, err := audit.History(context.Background(), st, fmt.Sprintf("user%06d@example.com", r.IntN(benchUsers)), "")
			if errors.Is(err, audit.ErrUnknownUser) {
				continue
			}
			if err != nil {
				b.Fatal(err)
			}
			intervals += len(res.Intervals)
			break
		}
	}
	b.ReportMetric(float64(intervals)/float64(b.N), "intervals/op")
}
