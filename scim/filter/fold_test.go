package filter

import (
	"strings"
	"testing"
)

// TestFoldContains: "co" on ASCII values agrees with lowering the value
// and searching it, on both sides of the length where the search
// switches from matching at each position to strings.Contains.
func TestFoldContains(t *testing.T) {
	long := strings.Repeat("aB", 3000)
	for _, tt := range []struct{ s, lit string }{
		{"Hello World", "o w"},
		{"Hello World", "low"},
		{long + "XyZ", "bxyz"},
		{long + "XyZ", "bxyy"},
		{"XyZ" + long, "xyza"},
		{long, strings.Repeat("ab", 100)},
		{long, strings.Repeat("ab", 100) + "c"},
		{strings.Repeat("a", 5000) + "b", strings.Repeat("a", 1000) + "b"},
		{strings.Repeat("a", 5000), strings.Repeat("a", 1000) + "b"},
		{"", "a"},
		{"abc", ""},
	} {
		want := strings.Contains(strings.ToLower(tt.s), tt.lit)
		if got := foldTest(tt.s, tt.lit, opCo); got != want {
			t.Errorf("foldTest(%d bytes, %d bytes, co) = %v, want %v", len(tt.s), len(tt.lit), got, want)
		}
	}
}

// BenchmarkFoldContainsLong is "co" with a long literal on a long value,
// what a crafted filter may ask of every stored resource.
//
//	go test ./scim/filter -run '^$' -bench FoldContainsLong
func BenchmarkFoldContainsLong(b *testing.B) {
	s := strings.Repeat("A", 512<<10)
	lit := strings.Repeat("a", 8<<10) + "b"
	for b.Loop() {
		if foldTest(s, lit, opCo) {
			b.Fatal("matched")
		}
	}
}
