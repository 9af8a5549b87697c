package main

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"log"
	"net"
	"strings"

	"github.com/scimgate/scimgate/haproxy/spop"
)

// serveSPOEFloor is the cheapest SPOE agent the benchmark can put behind
// HAProxy's SPOE filter: it decides nothing and answers every NOTIFY with
// the same variables scimgate's agent sets on an allow with an access
// token (route, reason, allow, status, user, email, groups, an assertion
// of the usual size, strip_auth), read and written as scimgate's agent
// does (one goroutine a connection, ACKs flushed when nothing more is
// buffered). What SPOE mode costs above it is scimgate's agent; what it
// costs above plain HAProxy is HAProxy's SPOE filter and the loopback.
func serveSPOEFloor(ln net.Listener, user, groups string) {
	const txn = spop.ScopeTransaction
	var actions []byte
	actions = spop.AppendSetVarString(actions, txn, "route", "app")
	actions = spop.AppendSetVarString(actions, txn, "reason", "allowed")
	actions = spop.AppendSetVarBool(actions, txn, "allow", true)
	actions = spop.AppendSetVarInt(actions, txn, "status", 200)
	actions = spop.AppendSetVarString(actions, txn, "user", user)
	actions = spop.AppendSetVarString(actions, txn, "email", user)
	actions = spop.AppendSetVarString(actions, txn, "groups", groups)
	// An ES256 assertion naming one user and a group is about 480 bytes.
	actions = spop.AppendSetVarString(actions, txn, "assertion", strings.Repeat("a", 480))
	actions = spop.AppendSetVarBool(actions, txn, "strip_auth", true)
	for {
		c, err := ln.Accept()
		if err != nil {
			log.Fatal(err)
		}
		go func() {
			defer c.Close()
			if err := floorConn(c, actions); err != nil && err != io.EOF {
				log.Printf("spoefloor: %v", err)
			}
		}()
	}
}

func floorConn(c net.Conn, actions []byte) error {
	r, w := bufio.NewReaderSize(c, 32<<10), bufio.NewWriterSize(c, 32<<10)
	in := make([]byte, 16384)
	var out []byte
	for {
		var hdr [4]byte
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return err
		}
		n := int(binary.BigEndian.Uint32(hdr[:]))
		if n > len(in) {
			return fmt.Errorf("frame of %d bytes", n)
		}
		if _, err := io.ReadFull(r, in[:n]); err != nil {
			return err
		}
		f, err := spop.ParseFrame(in[:n])
		if err != nil {
			return err
		}
		out = out[:0]
		switch f.Type {
		case spop.TypeHAProxyHello:
			var start int
			out, start = spop.AppendFrameHeader(out, spop.TypeAgentHello, spop.FlagFin, 0, 0)
			out = spop.AppendKVString(out, "version", "2.0")
			out = spop.AppendKVUint32(out, "max-frame-size", 16380)
			out = spop.AppendKVString(out, "capabilities", "pipelining")
			out = spop.FinishFrame(out, start)
		case spop.TypeNotify:
			var start int
			out, start = spop.AppendFrameHeader(out, spop.TypeAck, spop.FlagFin, f.StreamID, f.FrameID)
			out = spop.FinishFrame(append(out, actions...), start)
		case spop.TypeHAProxyDisconnect:
			var start int
			out, start = spop.AppendFrameHeader(out, spop.TypeAgentDisconnect, spop.FlagFin, 0, 0)
			out = spop.AppendKVUint32(out, "status-code", 0)
			out = spop.AppendKVString(out, "message", "")
			out = spop.FinishFrame(out, start)
			if _, err := w.Write(out); err != nil {
				return err
			}
			return w.Flush()
		}
		if _, err := w.Write(out); err != nil {
			return err
		}
		if r.Buffered() == 0 {
			if err := w.Flush(); err != nil {
				return err
			}
		}
	}
}
