package spoe

import (
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"time"
)

// Listen listens where HAProxy's SPOE backend connects: network "tcp" or
// "unix". A unix socket left by a previous run is replaced, one that a process still listens on is not;
// the new socket is as open as a loopback port (mode 0666): keep it in a
// directory only HAProxy's user can reach to narrow that.
func Listen(network, addr string) (net.Listener, error) {
	if network == "unix" {
		if fi, err := os.Lstat(addr); err == nil && fi.Mode()&os.ModeSocket != 0 {
			if c, err := net.DialTimeout("unix", addr, time.Second); err == nil {
				c.Close()
				return nil, fmt.Errorf("%s is in use by another process", addr)
			} else if !errors.Is(err, syscall.ECONNREFUSED) {
				return nil, fmt.Errorf("%s exists and cannot be checked: %w", addr, err)
			}
			if err := os.Remove(addr); err != nil {
				return nil, err
			}
		}
	}
	ln, err := net.Listen(network, addr)
	if err != nil {
		return nil, err
	}
	if network == "unix" {
		if err := os.Chmod(addr, 0o666); err != nil {
			ln.Close()
			return nil, err
		}
	}
	return ln, nil
}
