package sqlite_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scimgate/scimgate/directory"
	"github.com/scimgate/scimgate/scim"
	"github.com/scimgate/scimgate/scim/schema"
	"github.com/scimgate/scimgate/store"
	"github.com/scimgate/scimgate/store/sqlite"
)

// BenchmarkHistoryWriteCost measures what the temporal index adds to SCIM
// writes: each operation goes through package directory, one durable
// transaction each (fsync included), with the index kept and without.
//
//	go test ./store/sqlite -run '^$' -bench HistoryWriteCost -benchtime 2000x
func BenchmarkHistoryWriteCost(b *testing.B) {
	ops := []struct {
		name string
		fn   func(b *testing.B, e *writeEnv, i int)
	}{
		{"create-user", func(b *testing.B, e *writeEnv, i int) {
			e.create(b, schema.UserType, fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"bench%d"}`, i))
		}},
		{"add-member", func(b *testing.B, e *writeEnv, i int) {
			e.patch(b, schema.GroupType, e.group, fmt.Sprintf(`[{"op":"add","path":"members","value":[{"value":%q}]}]`, e.users[i%len(e.users)]))
			if i%len(e.users) == len(e.users)-1 {
				e.patch(b, schema.GroupType, e.group, `[{"op":"replace","path":"members","value":[]}]`)
			}
		}},
		{"deactivate-user", func(b *testing.B, e *writeEnv, i int) {
			e.patch(b, schema.UserType, e.users[i%len(e.users)], fmt.Sprintf(`[{"op":"replace","value":{"active":%t}}]`, (i/len(e.users))%2 == 1))
		}},
		{"put-100-members-1-changed", func(b *testing.B, e *writeEnv, i int) {
			// A PUT that lists the group's 100 members with one swapped, as
			// Okta's full replace sends it: 2 edges change.
			var vals []string
			for k := range 99 {
				vals = append(vals, fmt.Sprintf(`{"value":%q}`, e.users[k]))
			}
			vals = append(vals, fmt.Sprintf(`{"value":%q}`, e.users[100+i%900]))
			e.patch(b, schema.GroupType, e.group, `[{"op":"replace","path":"members","value":[`+strings.Join(vals, ",")+`]}]`)
		}},
		{"put-100-members-all-changed", func(b *testing.B, e *writeEnv, i int) {
			var vals []string
			for k := range 100 {
				vals = append(vals, fmt.Sprintf(`{"value":%q}`, e.users[(i*100+k)%len(e.users)]))
			}
			e.patch(b, schema.GroupType, e.group, `[{"op":"replace","path":"members","value":[`+strings.Join(vals, ",")+`]}]`)
		}},
	}
	for _, op := range ops {
		for _, on := range []bool{false, true} {
			b.Run(fmt.Sprintf("%s/index=%t", op.name, on), func(b *testing.B) {
				e := newWriteEnv(b)
				restore := sqlite.SetHistoryIndexing(on)
				defer restore()
				i := 0
				for b.Loop() {
					op.fn(b, e, i)
					i++
				}
			})
		}
	}
}

type writeEnv struct {
	dir   *directory.Service
	c     directory.Caller
	users []string
	group string
}

func newWriteEnv(b *testing.B) *writeEnv {
	b.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "scimgate.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	e := &writeEnv{dir: directory.New(st, directory.Options{})}
	_, info, _, err := e.dir.CreateToken(ctx, "bench", "bench", 0, "bench")
	if err != nil {
		b.Fatal(err)
	}
	e.c = directory.Caller{TenantID: info.TenantID, Actor: info.ID, Base: "https://x/scim/v2"}
	// Users and a group created in one transaction each batch, to start
	// the measured writes on a directory that is not empty.
	err = st.Update(ctx, func(tx store.Tx) error {
		for i := range 1000 {
			id := fmt.Sprintf("user-%04d", i)
			r := &store.Resource{TenantID: info.TenantID, Type: store.TypeUser, ID: id, NameKey: id, Display: id, Active: true, Version: 1,
				Doc: []byte(`{"userName":"` + id + `"}`)}
			if err := tx.InsertResource(ctx, r); err != nil {
				return err
			}
			e.users = append(e.users, id)
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	e.group = e.create(b, schema.GroupType, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"team"}`)
	return e
}

func (e *writeEnv) create(b *testing.B, rt *schema.ResourceType, doc string) string {
	body, err := scim.DecodeJSON([]byte(doc))
	if err != nil {
		b.Fatal(err)
	}
	r, err := e.dir.Create(context.Background(), e.c, rt, body, nil)
	if err != nil {
		b.Fatal(err)
	}
	return r.ID
}

func (e *writeEnv) patch(b *testing.B, rt *schema.ResourceType, id, ops string) {
	body, err := scim.DecodeJSON([]byte(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":` + ops + `}`))
	if err != nil {
		b.Fatal(err)
	}
	parsed, err := scim.ParsePatch(rt, body)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := e.dir.Patch(context.Background(), e.c, rt, id, parsed, directory.Precondition{}, nil, false); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkHistoryIndexCPU isolates the index's CPU cost per change:
// changes shaped as the directory writes them are appended 256 to a
// transaction, so that fsync hardly counts, with the index kept and
// without.
//
//	go test ./store/sqlite -run '^$' -bench HistoryIndexCPU -count 5
func BenchmarkHistoryIndexCPU(b *testing.B) {
	kinds := []struct {
		name string
		make func(i int) store.Change
	}{
		{"user-create", func(i int) store.Change {
			return store.Change{ResourceType: store.TypeUser, ResourceID: fmt.Sprint("u", i), Op: store.OpCreate,
				After: []byte(fmt.Sprintf(`{"id":"u%d","userName":"user%d@example.com","active":true,"emails":[{"value":"user%d@example.com","primary":true}]}`, i, i, i))}
		}},
		{"user-deactivate", func(i int) store.Change {
			doc := func(active bool) []byte {
				return []byte(fmt.Sprintf(`{"id":"u%d","userName":"user%d@example.com","active":%t}`, i%1000, i%1000, active))
			}
			active := (i/1000)%2 == 1
			return store.Change{ResourceType: store.TypeUser, ResourceID: fmt.Sprint("u", i%1000), Op: store.OpPatch,
				Before: doc(!active), After: doc(active)}
		}},
		{"member-add", func(i int) store.Change {
			return store.Change{ResourceType: store.TypeGroup, ResourceID: fmt.Sprint("g", i%100), Op: store.OpPatch,
				Before: []byte(fmt.Sprintf(`{"id":"g%d","displayName":"group%d"}`, i%100, i%100)),
				After:  []byte(fmt.Sprintf(`{"id":"g%d","displayName":"group%d"}`, i%100, i%100)),
				Edges:  []store.EdgeChange{{Group: fmt.Sprint("g", i%100), Member: fmt.Sprint("u", i), MemberType: store.TypeUser, Added: true}}}
		}},
	}
	for _, k := range kinds {
		for _, on := range []bool{false, true} {
			b.Run(fmt.Sprintf("%s/index=%t", k.name, on), func(b *testing.B) {
				restore := sqlite.SetHistoryIndexing(on)
				defer restore()
				st, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "scimgate.db"))
				if err != nil {
					b.Fatal(err)
				}
				defer st.Close()
				ctx := context.Background()
				i := 0
				b.ResetTimer()
				for i < b.N {
					err := st.Update(ctx, func(tx store.Tx) error {
						for j := 0; j < 256 && i < b.N; j++ {
							c := k.make(i)
							c.TenantID, c.At, c.Actor = 1, time.Unix(int64(i), 0), "bench"
							if err := tx.AppendChange(ctx, &c); err != nil {
								return err
							}
							i++
						}
						return nil
					})
					if err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
