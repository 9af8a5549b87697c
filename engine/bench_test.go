package engine_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scimgate/scimgate/engine"
	"github.com/scimgate/scimgate/snapshot"
	"github.com/scimgate/scimgate/store"
)

// The scale: 100k users, 10k groups, 1k routes.
const (
	benchUsers  = 100_000
	benchGroups = 10_000
	benchRoutes = 1_000
	perUser     = 10 // direct groups per user: 1M memberships
)

type fixedSource struct{ s *snapshot.Snapshot }

func (f fixedSource) Current() *snapshot.Snapshot { return f.s }
func (f fixedSource) Age() time.Duration          { return 0 }

var benchWorld = sync.OnceValues(func() (*engine.Engine, error) {
	var cs []store.Change
	seq := int64(0)
	add := func(c store.Change) {
		seq++
		c.Seq, c.TenantID = seq, 1
		cs = append(cs, c)
	}
	add(store.Change{ResourceType: store.TypeTenant, ResourceID: "1", Op: store.OpCreate, After: []byte(`{"name":"acme"}`)})
	gid := func(i int) string { return fmt.Sprintf("g%05d", i) }
	for i := range benchGroups {
		c := store.Change{ResourceType: store.TypeGroup, ResourceID: gid(i), Op: store.OpCreate,
			After: []byte(fmt.Sprintf(`{"displayName":"group-%05d"}`, i))}
		if i > 0 { // a tree ten wide: group i is nested in group i/10
			c.Edges = []store.EdgeChange{{Group: gid(i / 10), Member: gid(i), MemberType: store.TypeGroup, Added: true}}
		}
		add(c)
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	for u := range benchUsers {
		id := fmt.Sprintf("u%06d", u)
		doc, _ := json.Marshal(map[string]any{"userName": fmt.Sprintf("user%06d@example.com", u), "active": true})
		c := store.Change{ResourceType: store.TypeUser, ResourceID: id, Op: store.OpCreate, After: doc}
		for range perUser {
			c.Edges = append(c.Edges, store.EdgeChange{Group: gid(1000 + rnd.IntN(benchGroups-1000)), Member: id, MemberType: store.TypeUser, Added: true})
		}
		add(c)
	}
	s, err := snapshot.Build(cs)
	if err != nil {
		return nil, err
	}
	var routes strings.Builder
	routes.WriteString("routes:\n")
	for r := range benchRoutes {
		// Each route admits three groups from the upper levels of the tree.
		fmt.Fprintf(&routes, "  - {name: r%d, host: app.test, path: /r%d/, allow: {groups: [group-%05d, group-%05d, group-%05d]}}\n",
			r, r, 1+rnd.IntN(999), 1+rnd.IntN(999), 1+rnd.IntN(999))
	}
	var tb testing.B
	return engine.New(fixedSource{s}, compilePolicy(&tb, routes.String()), engine.Options{}), nil
})

// BenchmarkDecide measures one decision at the scale; it reports
// the median of individually timed decisions next to the mean.
func BenchmarkDecide(b *testing.B) {
	e, err := benchWorld()
	if err != nil {
		b.Fatal(err)
	}
	const n = 4096
	ps := make([]engine.Principal, n)
	rs := make([]engine.Request, n)
	rnd := rand.New(rand.NewPCG(3, 4))
	for i := range n {
		ps[i] = engine.Principal{User: snapshot.Key{Tenant: 1, ID: fmt.Sprintf("u%06d", rnd.IntN(benchUsers))}}
		r := rnd.IntN(benchRoutes)
		rs[i] = engine.Request{Host: "app.test", Path: fmt.Sprintf("/r%d/items/%d", r, i), Method: "GET"}
	}
	allowed := 0
	for i := range n {
		if e.Decide(ps[i], rs[i]).Allow {
			allowed++
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		e.Decide(ps[i&(n-1)], rs[i&(n-1)])
		i++
	}
	b.StopTimer()
	// Median of single decisions, each timed on its own.
	lat := make([]time.Duration, 0, 20000)
	for j := range 20000 {
		start := time.Now()
		e.Decide(ps[j&(n-1)], rs[j&(n-1)])
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
	b.ReportMetric(float64(allowed)/n*100, "%allowed")
}
