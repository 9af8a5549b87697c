package freeport

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
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

// TestClaim: a port one test holds is not given to another (another test
// process, as go test runs packages), until the holder ends; a claim left
// by a crashed test is taken over once stale.
func TestClaim(t *testing.T) {
	var p int
	t.Run("holder", func(t *testing.T) {
		p = Get(t)
		if _, ok := claim(p); ok {
			t.Fatalf("port %d claimed twice", p)
		}
	})
	release, ok := claim(p)
	if !ok {
		t.Fatalf("port %d still claimed after its test ended", p)
	}
	release()

	stale := Get(t)
	path := filepath.Join(claims, strconv.Itoa(stale))
	old := time.Now().Add(-2 * staleClaim)
	if err := os.Chtimes(path, old, old); err != nil {
		t.Fatal(err)
	}
	release, ok = claim(stale)
	if !ok {
		t.Fatalf("a stale claim of port %d was not taken over", stale)
	}
	release()
}
