package snapshot_test

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"

	"github.com/scimgate/scimgate/snapshot"
	"github.com/scimgate/scimgate/store"
)

// big is a snapshot of 100,000 users in 10,000 groups, built from changes.
var big = sync.OnceValues(func() (*snapshot.Snapshot, error) {
	var cs []store.Change
	seq := int64(0)
	add := func(c store.Change) {
		seq++
		c.Seq, c.TenantID = seq, 1
		cs = append(cs, c)
	}
	add(store.Change{ResourceType: store.TypeTenant, ResourceID: "1", Op: store.OpCreate, After: []byte(`{"name":"acme"}`)})
	for g := range 10_000 {
		add(store.Change{ResourceType: store.TypeGroup, ResourceID: fmt.Sprintf("g%d", g), Op: store.OpCreate,
			After: []byte(fmt.Sprintf(`{"displayName":"group %d"}`, g))})
	}
	for u := range 100_000 {
		doc, _ := json.Marshal(map[string]any{"userName": fmt.Sprintf("u%d@x", u), "emails": []any{map[string]any{"value": fmt.Sprintf("u%d@x", u)}}})
		add(store.Change{ResourceType: store.TypeUser, ResourceID: fmt.Sprintf("u%d", u), Op: store.OpCreate, After: doc,
			Edges: []store.EdgeChange{{Group: fmt.Sprintf("g%d", u%10_000), Member: fmt.Sprintf("u%d", u), MemberType: store.TypeUser, Added: true}}})
	}
	return snapshot.Build(cs)
})

// BenchmarkApply measures what each committed SCIM write costs the
// store's writer to publish: one change applied to a large snapshot.
func BenchmarkApply(b *testing.B) {
	s, err := big()
	if err != nil {
		b.Fatal(err)
	}
	cases := []struct {
		name string
		c    func(i int) store.Change
	}{
		{"user-create", func(i int) store.Change {
			return store.Change{Seq: 1 << 40, TenantID: 1, ResourceType: store.TypeUser, ResourceID: fmt.Sprintf("new%d", i), Op: store.OpCreate,
				After: []byte(fmt.Sprintf(`{"userName":"new%d@x"}`, i))}
		}},
		{"user-deactivate", func(i int) store.Change {
			return store.Change{Seq: 1 << 40, TenantID: 1, ResourceType: store.TypeUser, ResourceID: fmt.Sprintf("u%d", i%100_000), Op: store.OpPatch,
				After: []byte(fmt.Sprintf(`{"userName":"u%d@x","active":false}`, i%100_000))}
		}},
		{"member-add", func(i int) store.Change {
			return store.Change{Seq: 1 << 40, TenantID: 1, ResourceType: store.TypeGroup, ResourceID: "g1", Op: store.OpPatch,
				After: []byte(`{"displayName":"group 1"}`),
				Edges: []store.EdgeChange{{Group: "g1", Member: fmt.Sprintf("u%d", i%100_000), MemberType: store.TypeUser, Added: true}}}
		}},
		{"group-create", func(i int) store.Change {
			return store.Change{Seq: 1 << 40, TenantID: 1, ResourceType: store.TypeGroup, ResourceID: fmt.Sprintf("ng%d", i), Op: store.OpCreate,
				After: []byte(fmt.Sprintf(`{"displayName":"new group %d"}`, i))}
		}},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if _, err := s.Apply([]store.Change{tc.c(i)}); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}
