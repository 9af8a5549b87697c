package store_test

import (
	"encoding/hex"
	"math"
	"testing"
	"time"

	"github.com/scimgate/scimgate/store"
)

var at = time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)

// TestHashGolden pins the canonical encoding: a change to it makes every
// stored chain fail verification, so it must be deliberate (a new tag).
func TestHashGolden(t *testing.T) {
	prev, _ := hex.DecodeString("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff")
	c := &store.Change{Seq: 7, TenantID: 2, At: at, Actor: "tok", ResourceType: store.TypeGroup, ResourceID: "g1", Op: store.OpPatch,
		Before: []byte(`{"a":1}`), After: []byte(`{"a":2}`), Detail: []byte(`{}`),
		Edges: []store.EdgeChange{{Group: "g1", Member: "u1", MemberType: store.TypeUser, Added: true}}}
	v := &store.PolicyVersion{Seq: 3, At: at, Source: "/etc/scimgate.yaml", Digest: "abc", Doc: []byte(`[]`)}
	d := &store.Decision{Seq: 9, At: at, TenantID: 2, UserID: "u1", UserName: "alice", Route: "app", Method: "GET", Host: "h",
		Path: "/p", Allow: true, Reason: "group-ok", Adapter: "proxy", Remote: "192.0.2.1:1", CredKind: store.CredToken, CredID: "t"}
	tests := []struct {
		name string
		got  []byte
		want string
	}{
		{"change", store.HashChange(prev, c), "a11287b48fba9472ad81d71a6e486b74cdd1d8a1e8615be30221d2ef51dd3f84"},
		{"policy", store.HashPolicyVersion(prev, v), "189a8b786e68533e40d24fa83d2e8c749e47303bf9dd1f53d0ec53e019f2d5bc"},
		{"decision", store.HashDecision(prev, d), "9287276aa2e59b668394f7667f419914f37cf8c70ec9fd05fd4c3ee7b16534e1"},
		{"first decision", store.HashDecision(nil, d), "5ed6b75dba6783a85877df56819fdba78a4c7558343098ca5573edf4d094af03"},
	}
	for _, tt := range tests {
		if got := hex.EncodeToString(tt.got); got != tt.want {
			t.Errorf("%s hash = %s, want %s", tt.name, got, tt.want)
		}
	}
}

// TestHashCoversEveryField: changing any field changes the hash, and
// moving bytes between adjacent fields does too (the length prefixes).
func TestHashCoversEveryField(t *testing.T) {
	base := store.Decision{Seq: 1, At: at, TenantID: 1, UserID: "u", UserName: "n", Route: "r", Method: "m", Host: "h", Path: "p",
		Reason: "x", Adapter: "a", Remote: "re", CredKind: "k", CredID: "i"}
	h0 := hex.EncodeToString(store.HashDecision(nil, &base))
	edits := map[string]func(*store.Decision){
		"seq": func(d *store.Decision) { d.Seq++ }, "at": func(d *store.Decision) { d.At = d.At.Add(1) },
		"tenant": func(d *store.Decision) { d.TenantID++ }, "user id": func(d *store.Decision) { d.UserID += "x" },
		"user name": func(d *store.Decision) { d.UserName += "x" }, "route": func(d *store.Decision) { d.Route += "x" },
		"method": func(d *store.Decision) { d.Method += "x" }, "host": func(d *store.Decision) { d.Host += "x" },
		"path": func(d *store.Decision) { d.Path += "x" }, "allow": func(d *store.Decision) { d.Allow = true },
		"reason": func(d *store.Decision) { d.Reason += "x" }, "adapter": func(d *store.Decision) { d.Adapter += "x" },
		"remote": func(d *store.Decision) { d.Remote += "x" }, "cred kind": func(d *store.Decision) { d.CredKind += "x" },
		"cred id": func(d *store.Decision) { d.CredID += "x" },
		"shifted": func(d *store.Decision) { d.Host, d.Path = "hp", "" },
	}
	for name, edit := range edits {
		d := base
		edit(&d)
		if hex.EncodeToString(store.HashDecision(nil, &d)) == h0 {
			t.Errorf("editing %s leaves the hash unchanged", name)
		}
	}
	if hex.EncodeToString(store.HashDecision([]byte{1}, &base)) == h0 {
		t.Errorf("another prev leaves the hash unchanged")
	}
}

// TestUnixNanos: times beyond what int64 nanoseconds hold clamp to the
// ends, where time.Time.UnixNano overflows (9999 came out before 1970).
func TestUnixNanos(t *testing.T) {
	tests := []struct {
		in   time.Time
		want int64
	}{
		{time.Time{}, 0},
		{at, at.UnixNano()},
		{time.Unix(0, math.MaxInt64), math.MaxInt64},
		{time.Unix(0, math.MinInt64), math.MinInt64},
		{time.Unix(0, math.MaxInt64).Add(1), math.MaxInt64},
		{time.Date(2263, 1, 1, 0, 0, 0, 0, time.UTC), math.MaxInt64},
		{time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC), math.MaxInt64},
		{time.Date(1677, 1, 1, 0, 0, 0, 0, time.UTC), math.MinInt64},
		{time.Date(1, 1, 2, 0, 0, 0, 0, time.UTC), math.MinInt64},
	}
	for _, tt := range tests {
		if got := store.UnixNanos(tt.in); got != tt.want {
			t.Errorf("UnixNanos(%v) = %d, want %d", tt.in, got, tt.want)
		}
	}
	// A hashed record's time is the stored one: clamped alike.
	far := &store.PolicyVersion{Seq: 1, At: time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)}
	end := &store.PolicyVersion{Seq: 1, At: time.Unix(0, math.MaxInt64)}
	if a, b := store.HashPolicyVersion(nil, far), store.HashPolicyVersion(nil, end); hex.EncodeToString(a) != hex.EncodeToString(b) {
		t.Errorf("HashPolicyVersion at 9999 = %x, want the hash at the end of int64 time %x", a, b)
	}
}

func BenchmarkHashDecision(b *testing.B) {
	d := &store.Decision{Seq: 9, At: at, TenantID: 2, UserID: "00000000-0000-4000-8000-000000000001", UserName: "alice@example.com",
		Route: "app", Method: "GET", Host: "app.test", Path: "/app/x", Allow: true, Reason: "group-ok", Adapter: "proxy",
		Remote: "127.0.0.1:54321", CredKind: store.CredToken, CredID: "0123456789abcdef"}
	prev := make([]byte, 32)
	b.ReportAllocs()
	for b.Loop() {
		store.HashDecision(prev, d)
	}
}
