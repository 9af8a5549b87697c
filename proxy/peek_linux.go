package proxy

import (
	"net"
	"syscall"
	"unsafe"
)

// peekable: pooled connections can be checked (alive), so the transport
// carries requests itself.
const peekable = true

// peeker asks the kernel whether a pooled connection can carry another
// request, without blocking and without taking anything from it.
type peeker struct {
	rc   syscall.RawConn
	fn   func(fd uintptr) bool // peekFD bound once, not per call
	ok   bool
	byte [1]byte
}

func newPeeker(nc net.Conn) peeker {
	var p peeker
	if sc, ok := nc.(syscall.Conn); ok {
		p.rc, _ = sc.SyscallConn()
	}
	return p
}

// alive reports whether c is still open with nothing unread: a peer that
// closed it (keep-alive timeout, restart) has left an end of file, one
// that misbehaves has sent bytes nobody asked for. http.Transport learns
// both from the goroutine that reads each idle connection.
func (c *upConn) alive() bool {
	p := &c.peek
	if p.rc == nil {
		return true
	}
	if p.fn == nil {
		p.fn = p.peekFD
	}
	p.ok = false
	if err := p.rc.Read(p.fn); err != nil {
		return false
	}
	return p.ok
}

// peekFD is the raw read: MSG_PEEK leaves any byte in place, and only
// "nothing yet" (EAGAIN) means the connection is idle and open.
func (p *peeker) peekFD(fd uintptr) bool {
	_, _, errno := syscall.Syscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&p.byte[0])), 1,
		syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0, 0)
	p.ok = errno == syscall.EAGAIN
	return true
}
