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
package freeport

import (
	"math/rand/v2"
	"net"
	"strconv"
	"testing"
)

// low and high bound the ports picked: below Linux's default ephemeral
// range (32768-60999), above the ports services usually have.
const (
	low  = 20000
	high = 32768
)

// Get returns a port on 127.0.0.1 that nothing listens on right now.
func Get(t testing.TB) int {
	t.Helper()
	for range 200 {
		p := low + rand.IntN(high-low)
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err == nil {
			ln.Close()
			return p
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("freeport: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// Addr returns "127.0.0.1:PORT" for a port from Get.
func Addr(t testing.TB) string {
	t.Helper()
	return "127.0.0.1:" + strconv.Itoa(Get(t))
}
