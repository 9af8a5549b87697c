//go:build !linux

package proxy

import "net"

// peekable is false: without a check that a pooled connection is still
// open with nothing unread, bytes an upstream sent after an answer would
// be read as the next request's answer; every request goes through
// http.Transport, whose reader goroutine sees them.
const peekable = false

type peeker struct{}

func newPeeker(net.Conn) peeker { return peeker{} }

func (c *upConn) alive() bool { return false }
