package snapshot

import "hash/maphash"

// numShards: 1,024 keeps a shard of 100,000 users near 100 entries, so
// that the copy a change makes stays small.
const numShards = 1024

var seed = maphash.MakeSeed()

// shardMap is a persistent map: a version is never modified, and an edit
// copies only the shards it touches, so publishing a change to one user of
// 100,000 copies a few hundred entries rather than all of them.
type shardMap[K comparable, V any] struct {
	shards [numShards]map[K]V
	hash   func(K) uint64
}

func newShardMap[K comparable, V any](hash func(K) uint64) *shardMap[K, V] {
	return &shardMap[K, V]{hash: hash}
}

func (m *shardMap[K, V]) get(k K) (V, bool) {
	v, ok := m.shards[m.hash(k)%numShards][k]
	return v, ok
}

func (m *shardMap[K, V]) len() int {
	n := 0
	for _, s := range m.shards {
		n += len(s)
	}
	return n
}

func (m *shardMap[K, V]) each(fn func(K, V)) {
	for _, s := range m.shards {
		for k, v := range s {
			fn(k, v)
		}
	}
}

// shardEdit is an edit of a shardMap: the first write copies the table of
// shards, the first write to a shard copies that shard, and later writes
// reuse the copies. An edit that writes nothing copies nothing.
type shardEdit[K comparable, V any] struct {
	orig   *shardMap[K, V]
	m      *shardMap[K, V] // nil until the first write
	copied [numShards]bool
}

// edit starts an edit of m.
func (m *shardMap[K, V]) edit() *shardEdit[K, V] { return &shardEdit[K, V]{orig: m} }

func (e *shardEdit[K, V]) shard(k K) map[K]V {
	if e.m == nil {
		c := *e.orig
		e.m = &c
	}
	i := e.m.hash(k) % numShards
	if !e.copied[i] {
		old := e.m.shards[i]
		s := make(map[K]V, len(old)+1)
		for k, v := range old {
			s[k] = v
		}
		e.m.shards[i] = s
		e.copied[i] = true
	}
	return e.m.shards[i]
}

func (e *shardEdit[K, V]) get(k K) (V, bool) { return e.done().get(k) }

func (e *shardEdit[K, V]) set(k K, v V) { e.shard(k)[k] = v }

func (e *shardEdit[K, V]) del(k K) {
	if _, ok := e.get(k); ok {
		delete(e.shard(k), k)
	}
}

// done returns the new version: the original when nothing was written.
func (e *shardEdit[K, V]) done() *shardMap[K, V] {
	if e.m == nil {
		return e.orig
	}
	return e.m
}

func hashKey(k Key) uint64 { return maphash.String(seed, k.ID) ^ uint64(k.Tenant)*0x9e3779b97f4a7c15 }

func hashString(s string) uint64 { return maphash.String(seed, s) }
