// Package freeport finds TCP ports on 127.0.0.1 for servers that tests
// start as separate processes (HAProxy, nginx, Caddy), which must be told
// their port before they bind it.
//
// A port from listening on :0 comes from the kernel's ephemeral range,
// the same range every outgoing connection of every test running at the
// same time takes its local port from: between the check and the server's
// bind, a connection may take it ("Address already in use"). The ports
// here are picked at random below that range, where only listeners that
// ask for a port by number go.
//
// go test runs packages in parallel processes, each picking ports: two of
// them could pick the same one before either server binds it. A port is
// therefore also claimed in a directory every test process shares (a file
// per port, created exclusively), and given back when the test ends.
package freeport

import (
	"errors"
	"io/fs"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// low and high bound the ports picked: below Linux's default ephemeral
// range (32768-60999), above the ports services usually have.
const (
	low  = 20000
	high = 32768
)

// staleClaim is the age past which a claim is taken for one a crashed test
// left behind.
const staleClaim = time.Hour

// claims is the directory of the claims, shared by every test process of
// the machine.
var claims = filepath.Join(os.TempDir(), "scimgate-test-ports")

// Get returns a port on 127.0.0.1 that nothing listens on right now and
// no other test process has claimed; it stays claimed until t ends.
func Get(t testing.TB) int {
	t.Helper()
	if err := os.MkdirAll(claims, 0o777); err != nil {
		t.Fatalf("freeport: %v", err)
	}
	for range 200 {
		p := low + rand.IntN(high-low)
		release, ok := claim(p)
		if !ok {
			continue
		}
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			release()
			continue
		}
		ln.Close()
		t.Cleanup(release)
		return p
	}
	t.Fatalf("freeport: no free port in [%d, %d) after 200 tries", low, high)
	return 0
}

// claim creates p's claim, or takes over a stale one, and returns how to
// give it back. It reports false when another test holds p.
func claim(p int) (release func(), ok bool) {
	path := filepath.Join(claims, strconv.Itoa(p))
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o666)
	if errors.Is(err, fs.ErrExist) {
		fi, serr := os.Stat(path)
		if serr != nil || time.Since(fi.ModTime()) < staleClaim {
			return nil, false
		}
		// Left by a test that crashed: take it over, once.
		if os.Remove(path) != nil {
			return nil, false
		}
		f, err = os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o666)
	}
	if err != nil {
		return nil, false
	}
	f.Close()
	return func() { os.Remove(path) }, true
}

// Addr returns "127.0.0.1:PORT" for a port from Get.
func Addr(t testing.TB) string {
	t.Helper()
	return "127.0.0.1:" + strconv.Itoa(Get(t))
}
