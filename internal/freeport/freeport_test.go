package freeport

import (
	"net"
	"strconv"
	"testing"
)

// TestGet: ports come from below the ephemeral range and can be bound.
func TestGet(t *testing.T) {
	seen := map[int]bool{}
	for range 20 {
		p := Get(t)
		if p < low || p >= high {
			t.Fatalf("port %d outside [%d, %d)", p, low, high)
		}
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			t.Fatalf("port %d: %v", p, err)
		}
		ln.Close()
		seen[p] = true
	}
	if len(seen) < 10 {
		t.Errorf("20 ports, %d distinct: not random", len(seen))
	}
}
