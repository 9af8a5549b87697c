package haproxytest

import "syscall"

// sysProcAttr makes the kernel kill HAProxy when the test binary dies (a
// panic or a -timeout), so no orphan keeps the test's ports and sockets.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
