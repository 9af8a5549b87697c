package mapsync

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scimgate/scimgate/engine"
	"github.com/scimgate/scimgate/haproxy/runtime"
	"github.com/scimgate/scimgate/internal/gatetest"
	"github.com/scimgate/scimgate/snapshot"
	"github.com/scimgate/scimgate/store"
)

// The scale for a full recompute: 10k users x 10 routes.
const (
	benchUsers  = 10_000
	benchRoutes = 10
	benchGroups = 100
)

// swapSource is an engine.Source whose snapshot a benchmark replaces.
type swapSource struct {
	p atomic.Pointer[snapshot.Snapshot]
}

func (s *swapSource) Current() *snapshot.Snapshot { return s.p.Load() }
func (s *swapSource) Age() time.Duration          { return 0 }
func (s *swapSource) Subscribe() <-chan struct{}  { return make(chan struct{}) }

// countingMaps is a runtime API that only counts commands.
type countingMaps struct{ sets, dels, replaced atomic.Int64 }

func (c *countingMaps) MapEntries(context.Context, string) ([]runtime.Entry, error) { return nil, nil }
func (c *countingMaps) SetEntry(context.Context, string, string, string) error {
	c.sets.Add(1)
	return nil
}
func (c *countingMaps) DelEntry(context.Context, string, string) error { c.dels.Add(1); return nil }
func (c *countingMaps) Replace(_ context.Context, _ string, es []runtime.Entry) error {
	c.replaced.Add(int64(len(es)))
	return nil
}

var benchWorld = sync.OnceValues(func() ([]store.Change, error) {
	var cs []store.Change
	seq := int64(0)
	add := func(c store.Change) {
		seq++
		c.Seq, c.TenantID = seq, 1
		cs = append(cs, c)
	}
	add(store.Change{ResourceType: store.TypeTenant, ResourceID: "1", Op: store.OpCreate, After: []byte(`{"name":"acme"}`)})
	for g := range benchGroups {
		add(store.Change{ResourceType: store.TypeGroup, ResourceID: fmt.Sprintf("g%03d", g), Op: store.OpCreate,
			After: fmt.Appendf(nil, `{"displayName":"group-%03d"}`, g)})
	}
	for u := range benchUsers {
		id := fmt.Sprintf("u%05d", u)
		doc, _ := json.Marshal(map[string]any{"userName": fmt.Sprintf("user%05d@example.com", u), "active": true})
		c := store.Change{ResourceType: store.TypeUser, ResourceID: id, Op: store.OpCreate, After: doc}
		for k := range 3 {
			c.Edges = append(c.Edges, store.EdgeChange{Group: fmt.Sprintf("g%03d", (u*7+k*31)%benchGroups), Member: id, MemberType: store.TypeUser, Added: true})
		}
		add(c)
	}
	return cs, nil
})

func benchSyncer(b *testing.B) (*Syncer, *swapSource, *countingMaps, *snapshot.Snapshot) {
	b.Helper()
	cs, err := benchWorld()
	if err != nil {
		b.Fatal(err)
	}
	snap, err := snapshot.Build(cs)
	if err != nil {
		b.Fatal(err)
	}
	var routes strings.Builder
	routes.WriteString("routes:\n")
	for r := range benchRoutes {
		// Each route admits ten groups: about a quarter of the users.
		var gs []string
		for k := range 10 {
			gs = append(gs, fmt.Sprintf("group-%03d", (r*10+k)%benchGroups))
		}
		fmt.Fprintf(&routes, "  - {name: r%d, host: app.test, path: /r%d, allow: {groups: [%s]}}\n", r, r, strings.Join(gs, ", "))
	}
	src := &swapSource{}
	src.p.Store(snap)
	eng := engine.New(src, gatetest.Compile(b, routes.String()), engine.Options{})
	hx := &countingMaps{}
	s, err := New(hx, eng, src, Options{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	return s, src, hx, snap
}

// BenchmarkCompute is the full recompute of every map: 10k users x 10
// routes, one engine decision each.
func BenchmarkCompute(b *testing.B) {
	s, _, _, _ := benchSyncer(b)
	now := time.Now()
	var st *state
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if st, _, err = compute(s.eng, s.known, now, now); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(st.kv[AccessMap])), "access-entries")
}

// BenchmarkSyncOneUser is a sync after one user's deactivation: recompute,
// diff against the last push, push the difference (to a runtime API that
// only counts), rewrite the changed files.
func BenchmarkSyncOneUser(b *testing.B) {
	s, src, hx, snap := benchSyncer(b)
	ctx := context.Background()
	if err := s.Sync(ctx); err != nil {
		b.Fatal(err)
	}
	// Two snapshots that differ in one user, alternated.
	off, err := snap.Apply([]store.Change{{Seq: 1 << 40, TenantID: 1, ResourceType: store.TypeUser, ResourceID: "u00042",
		Op: store.OpPatch, After: []byte(`{"userName":"user00042@example.com","active":false}`)}})
	if err != nil {
		b.Fatal(err)
	}
	hx.sets.Store(0)
	hx.dels.Store(0)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if i%2 == 0 {
			src.p.Store(off)
		} else {
			src.p.Store(snap)
		}
		i++
		if err := s.Sync(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(hx.sets.Load()+hx.dels.Load())/float64(i), "commands/sync")
}
