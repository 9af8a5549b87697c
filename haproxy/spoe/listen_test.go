package spoe

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestListenUnix: a socket left by a killed run is replaced, the new
// one is connectable by HAProxy's user (0666), a live one is left to its
// listener, and a file that is not a socket is never removed.
func TestListenUnix(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "spoe.sock")
	old, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	old.(*net.UnixListener).SetUnlinkOnClose(false) // as after kill -9
	old.Close()

	ln, err := Listen("unix", sock)
	if err != nil {
		t.Fatalf("over a stale socket: %v", err)
	}
	defer ln.Close()
	fi, err := os.Stat(sock)
	if err != nil || fi.Mode().Perm() != 0o666 {
		t.Errorf("socket mode %v, %v; want 0666", fi.Mode(), err)
	}
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	c.Close()

	// A second agent on the same path must not steal the live socket.
	if ln2, err := Listen("unix", sock); err == nil {
		ln2.Close()
		t.Fatal("listened over a socket another listener serves")
	} else if !strings.Contains(err.Error(), "in use") {
		t.Errorf("over a live socket: %v; want it to say the socket is in use", err)
	}
	if c, err := net.Dial("unix", sock); err != nil {
		t.Errorf("the first listener lost its socket: %v", err)
	} else {
		c.Close()
	}

	file := filepath.Join(dir, "data.db")
	if err := os.WriteFile(file, []byte("keep"), 0o600); err != nil {
		t.Fatal(err)
	}
	if ln, err := Listen("unix", file); err == nil {
		ln.Close()
		t.Fatal("listened over a regular file")
	}
	if b, err := os.ReadFile(file); err != nil || string(b) != "keep" {
		t.Errorf("the regular file was touched: %q %v", b, err)
	}
}
