// Package spoe is scimgate's HAProxy SPOE agent: HAProxy's SPOE filter
// sends each request's method, host, path and credentials in a NOTIFY
// frame, and the agent answers with variables — allow, status, reason,
// user, groups, the signed assertion, a sign-in URL — that haproxy.cfg
// acts on (examples/haproxy/). It speaks SPOP 2.0 itself (package spop),
// with pipelining: ACKs are batched into as few writes as the NOTIFYs came
// in.
//
// When HAProxy's runtime API is configured, the agent remembers which
// client connection each allowed user came on, and when a directory or
// policy change takes that user's access away it shuts those connections'
// streams down — long downloads and WebSockets included.
package spoe

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/scimgate/scimgate/engine"
	"github.com/scimgate/scimgate/gateway"
	"github.com/scimgate/scimgate/haproxy/spop"
	"github.com/scimgate/scimgate/policy"
)

// MessageName is the spoe-message the agent answers; others are
// acknowledged without actions.
const MessageName = "scimgate"

// Adapter names the agent's decisions in logs and metrics.
const Adapter = "spoe"

// Variable names the agent sets, in the transaction scope. HAProxy
// prefixes them with spoe.conf's var-prefix: txn.scimgate.allow, ...
const (
	VarAllow     = "allow"      // bool
	VarStatus    = "status"     // int: 200, or the refusal's 401, 403, 400, 503
	VarReason    = "reason"     // string, engine.Reason*
	VarRoute     = "route"      // string, when a route applies
	VarUser      = "user"       // string: userName
	VarEmail     = "email"      // string
	VarGroups    = "groups"     // string: comma-separated
	VarAssertion = "assertion"  // string: the signed JWT for the upstream
	VarRedirect  = "redirect"   // string: the sign-in URL, for browsers not signed in
	VarStripAuth = "strip_auth" // bool: Authorization carries a scimgate access token; delete it
	VarCookie    = "cookie"     // string: the Cookie header without the session cookie, when it had one
)

// ReasonIdentityTooLarge is the reason, with status 500, of an allowed
// request whose answer (the user's groups, twice: in groups and in the
// assertion) does not fit the frame size negotiated with HAProxy. A
// larger frame would be a protocol error to HAProxy, which would drop the
// connection and every request in flight on it.
const ReasonIdentityTooLarge = "identity-too-large"

// Options configure an agent.
type Options struct {
	Log *slog.Logger
	// MaxFrameSize is the largest frame accepted, default 16380.
	MaxFrameSize int
	// Runtime, when set, is used to shut down the HAProxy streams of users
	// who lose access.
	Runtime Runtime
	// SweepEvery is how often connections HAProxy no longer has are
	// forgotten; default 10s.
	SweepEvery time.Duration
}

// Agent answers HAProxy's SPOE filter.
type Agent struct {
	gate *gateway.Gate
	o    Options
	log  *slog.Logger
	cuts *cutter // nil without a runtime API

	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

// New returns an agent deciding with gate.
func New(gate *gateway.Gate, o Options) *Agent {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.MaxFrameSize == 0 {
		o.MaxFrameSize = 16380
	}
	if o.SweepEvery == 0 {
		o.SweepEvery = 10 * time.Second
	}
	a := &Agent{gate: gate, o: o, log: o.Log, conns: map[net.Conn]struct{}{}}
	if o.Runtime != nil && gate.Streams != nil {
		a.cuts = newCutter(o.Runtime, gate.Streams, gate.Audit, o.Log)
	}
	return a
}

// Serve accepts HAProxy's connections on ln until ctx ends.
func (a *Agent) Serve(ctx context.Context, ln net.Listener) error {
	stop := context.AfterFunc(ctx, func() {
		ln.Close()
		a.mu.Lock()
		for c := range a.conns {
			c.Close()
		}
		a.mu.Unlock()
	})
	defer stop()
	if a.cuts != nil {
		go a.cuts.run(ctx, a.o.SweepEvery)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			return fmt.Errorf("spoe: accept: %w", err)
		}
		a.mu.Lock()
		a.conns[c] = struct{}{}
		a.mu.Unlock()
		wg.Go(func() {
			defer func() {
				a.mu.Lock()
				delete(a.conns, c)
				a.mu.Unlock()
				c.Close()
			}()
			if err := a.serveConn(ctx, c); err != nil && !errors.Is(err, io.EOF) && ctx.Err() == nil {
				a.log.Warn("spoe connection ended", "remote", c.RemoteAddr().String(), "err", err)
			}
		})
	}
}

// protocolError ends a connection with an AGENT-DISCONNECT of its status.
type protocolError struct {
	status uint32
	msg    string
}

func (e *protocolError) Error() string { return fmt.Sprintf("spop status %d: %s", e.status, e.msg) }

// conn is one HAProxy connection's state.
type conn struct {
	r       *bufio.Reader
	w       *bufio.Writer
	in      []byte // the frame being read
	out     []byte // the frames being written
	maxSize int    // negotiated
}

func (a *Agent) serveConn(ctx context.Context, nc net.Conn) error {
	c := &conn{
		r:       bufio.NewReaderSize(nc, 32<<10),
		w:       bufio.NewWriterSize(nc, 32<<10),
		in:      make([]byte, a.o.MaxFrameSize),
		maxSize: a.o.MaxFrameSize,
	}
	err := a.converse(ctx, c)
	var pe *protocolError
	if errors.As(err, &pe) {
		c.out = disconnect(c.out[:0], pe.status, pe.msg)
		c.w.Write(c.out)
		c.w.Flush()
	}
	return err
}

func (a *Agent) converse(ctx context.Context, c *conn) error {
	f, err := c.read()
	if err != nil {
		return err
	}
	if f.Type != spop.TypeHAProxyHello {
		return &protocolError{spop.StatusInvalid, "expected HAPROXY-HELLO"}
	}
	healthcheck, err := c.hello(f)
	if err != nil {
		return err
	}
	if err := c.w.Flush(); err != nil {
		return err
	}
	if healthcheck {
		return nil
	}
	for {
		f, err := c.read()
		if err != nil {
			return err
		}
		switch f.Type {
		case spop.TypeNotify:
			if f.Flags&spop.FlagFin == 0 {
				return &protocolError{spop.StatusFragmentation, "fragmented frames are not supported"}
			}
			if c.out, err = a.notify(ctx, c.out[:0], f, c.maxSize); err != nil {
				return err
			}
			if _, err := c.w.Write(c.out); err != nil {
				return err
			}
		case spop.TypeHAProxyDisconnect:
			l := spop.NewKVList(f.Payload)
			for k, v, ok := l.Next(); ok; k, v, ok = l.Next() {
				if string(k) == "message" && v.String() != "" {
					a.log.Debug("haproxy disconnects", "message", v.String())
				}
			}
			c.out = disconnect(c.out[:0], spop.StatusNormal, "")
			c.w.Write(c.out)
			return c.w.Flush()
		default:
			// Unknown frames may be skipped (SPOE.txt, 3.2.2).
		}
		// Answer in batches: write when HAProxy has sent nothing more.
		if c.r.Buffered() == 0 {
			if err := c.w.Flush(); err != nil {
				return err
			}
		}
	}
}

// read reads one frame; its payload aliases c.in until the next read.
func (c *conn) read() (spop.Frame, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(c.r, hdr[:]); err != nil {
		return spop.Frame{}, err
	}
	n := int(binary.BigEndian.Uint32(hdr[:]))
	if n > c.maxSize {
		return spop.Frame{}, &protocolError{spop.StatusTooBig, fmt.Sprintf("frame of %d bytes exceeds %d", n, c.maxSize)}
	}
	if _, err := io.ReadFull(c.r, c.in[:n]); err != nil {
		return spop.Frame{}, err
	}
	f, err := spop.ParseFrame(c.in[:n])
	if err != nil {
		return spop.Frame{}, &protocolError{spop.StatusInvalid, err.Error()}
	}
	return f, nil
}

// hello answers HAPROXY-HELLO with AGENT-HELLO: SPOP 2.0, the smaller of
// the two frame sizes, pipelining.
func (c *conn) hello(f spop.Frame) (healthcheck bool, err error) {
	var versions, caps string
	var size uint64
	l := spop.NewKVList(f.Payload)
	for k, v, ok := l.Next(); ok; k, v, ok = l.Next() {
		switch string(k) {
		case "supported-versions":
			versions = v.String()
		case "max-frame-size":
			size = v.Uint
		case "capabilities":
			caps = v.String()
		case "healthcheck":
			healthcheck = v.Bool
		}
	}
	if err := l.Err(); err != nil {
		return false, &protocolError{spop.StatusInvalid, err.Error()}
	}
	switch {
	case versions == "":
		return false, &protocolError{spop.StatusNoVersion, "no supported-versions"}
	case !supports2(versions):
		return false, &protocolError{spop.StatusBadVersion, "this agent speaks SPOP 2.0, HAProxy offers " + versions}
	case size == 0:
		return false, &protocolError{spop.StatusNoFrameSize, "no max-frame-size"}
	case size < 256:
		return false, &protocolError{spop.StatusBadFrameSize, fmt.Sprintf("max-frame-size %d is below 256", size)}
	}
	if size < uint64(c.maxSize) {
		c.maxSize = int(size)
	}
	agentCaps := ""
	for cp := range strings.SplitSeq(caps, ",") {
		if strings.TrimSpace(cp) == "pipelining" {
			agentCaps = "pipelining"
		}
	}
	b, start := spop.AppendFrameHeader(c.out[:0], spop.TypeAgentHello, spop.FlagFin, 0, 0)
	b = spop.AppendKVString(b, "version", "2.0")
	b = spop.AppendKVUint32(b, "max-frame-size", uint32(c.maxSize))
	b = spop.AppendKVString(b, "capabilities", agentCaps)
	c.out = spop.FinishFrame(b, start)
	_, err = c.w.Write(c.out)
	return healthcheck, err
}

// supports2 reports whether a supported-versions list includes SPOP 2.x.
func supports2(versions string) bool {
	for v := range strings.SplitSeq(versions, ",") {
		if major, _, _ := strings.Cut(strings.TrimSpace(v), "."); major == "2" {
			return true
		}
	}
	return false
}

func disconnect(b []byte, status uint32, msg string) []byte {
	b, start := spop.AppendFrameHeader(b, spop.TypeAgentDisconnect, spop.FlagFin, 0, 0)
	b = spop.AppendKVUint32(b, "status-code", status)
	b = spop.AppendKVString(b, "message", msg)
	return spop.FinishFrame(b, start)
}

// query is what a scimgate message carries.
type query struct {
	method, host, path, query string
	authorization, cookie     string
	accept                    string
	tls                       bool
	src                       net.IP
	srcPort                   uint64
}

// notify decodes a NOTIFY frame and appends its ACK to out, in at most
// maxSize bytes.
func (a *Agent) notify(ctx context.Context, out []byte, f spop.Frame, maxSize int) ([]byte, error) {
	var q query
	found := false
	msgs := spop.NewMessages(f.Payload)
	var args spop.KVList
	for name, ok := msgs.Next(&args); ok; name, ok = msgs.Next(&args) {
		if string(name) != MessageName {
			continue
		}
		found = true
		for k, v, ok := args.Next(); ok; k, v, ok = args.Next() {
			q.set(k, v)
		}
	}
	if err := msgs.Err(); err != nil {
		return out, &protocolError{spop.StatusInvalid, err.Error()}
	}
	out, start := spop.AppendFrameHeader(out, spop.TypeAck, spop.FlagFin, f.StreamID, f.FrameID)
	if !found {
		return spop.FinishFrame(out, start), nil
	}
	out, v := a.decide(ctx, out, &q)
	if size := len(out) - start - 4; size > maxSize {
		// Fail closed in an answer that fits: a refusal, without the
		// identity or the sign-in URL.
		out, _ = spop.AppendFrameHeader(out[:start], spop.TypeAck, spop.FlagFin, f.StreamID, f.FrameID)
		mark := len(out)
		if out = v.appendRefusal(out, true); len(out)-start-4 > maxSize {
			out = v.appendRefusal(out[:mark], false)
		}
		a.log.Warn("spoe: answer too large for the frame size", "user", v.user, "size", size,
			"max_frame_size", maxSize, "route", v.route, "reason", v.reason,
			"hint", "raise HAProxy's tune.bufsize (or the spoe-agent's max-frame-size) and spoe.max_frame_size")
	}
	return spop.FinishFrame(out, start), nil
}

// verdict is what an ACK says, for the refusal sent instead when the ACK
// does not fit the frame size.
type verdict struct {
	allow         bool
	status        int32
	reason, route string
	user          string // userName, when known
}

// appendRefusal appends the actions of a refusal: v's own, without a
// sign-in URL, or ReasonIdentityTooLarge (status 500) when v allowed.
func (v verdict) appendRefusal(out []byte, withRoute bool) []byte {
	const txn = spop.ScopeTransaction
	status, reason := v.status, v.reason
	if v.allow {
		status, reason = 500, ReasonIdentityTooLarge
	}
	if withRoute && v.route != "" {
		out = spop.AppendSetVarString(out, txn, VarRoute, v.route)
	}
	out = spop.AppendSetVarBool(out, txn, VarAllow, false)
	out = spop.AppendSetVarString(out, txn, VarReason, reason)
	return spop.AppendSetVarInt(out, txn, VarStatus, status)
}

func (q *query) set(k []byte, v spop.Value) {
	switch string(k) {
	case "method":
		q.method = string(v.Bytes)
	case "host":
		q.host = string(v.Bytes)
	case "path":
		q.path = string(v.Bytes)
	case "query":
		q.query = string(v.Bytes)
	case "authorization":
		q.authorization = string(v.Bytes)
	case "cookie":
		q.cookie = string(v.Bytes)
	case "accept":
		q.accept = string(v.Bytes)
	case "tls":
		q.tls = v.Bool
	case "src":
		if v.Kind == spop.KindIPv4 || v.Kind == spop.KindIPv6 {
			q.src = net.IP(v.Bytes)
		}
	case "src_port":
		q.srcPort = v.Uint + uint64(v.Int)
	}
}

// remote is the client's address as "ip:port", "" when unknown.
func (q *query) remote() string {
	if q.src == nil {
		return ""
	}
	return net.JoinHostPort(q.src.String(), strconv.FormatUint(q.srcPort, 10))
}

// returnURL is where a sign-in started by this request comes back to.
func (q *query) returnURL() string {
	scheme := "http"
	if q.tls {
		scheme = "https"
	}
	u := scheme + "://" + q.host + q.path
	if q.query != "" {
		u += "?" + q.query
	}
	return u
}

// decide decides a request and appends the actions that carry the
// outcome.
func (a *Agent) decide(ctx context.Context, out []byte, q *query) ([]byte, verdict) {
	const txn = spop.ScopeTransaction
	g := a.gate
	remote := q.remote()
	host := policy.NormalizeHost(q.host)
	session, _, _ := gateway.SplitCookie(q.cookie, g.Auth.CookieName())
	var c gateway.Check
	if !policy.ValidHost(host) {
		c = g.Refuse(ctx, Adapter, remote, host, q.method, engine.ReasonBadHost)
	} else if p, err := policy.CanonicalPath(q.path); err != nil || q.method == "" || strings.IndexByte(q.path, '#') >= 0 {
		// A '#' in the request line (HAProxy refuses it, unless told to
		// accept invalid requests) is part of a path it forwards as it is.
		c = g.Refuse(ctx, Adapter, remote, host, q.method, engine.ReasonBadPath)
	} else {
		c = g.DecideCredentials(ctx, Adapter, q.authorization, session, remote,
			engine.Request{Host: host, Path: p, Method: q.method})
	}
	d := c.Decision
	v := verdict{reason: d.Reason}
	if d.Route != nil {
		v.route = d.Route.Name
		out = spop.AppendSetVarString(out, txn, VarRoute, d.Route.Name)
	}
	if d.User != nil {
		v.user = d.User.UserName
	}
	out = spop.AppendSetVarString(out, txn, VarReason, d.Reason)
	if !d.Allow {
		v.status = int32(gateway.Status(d))
		out = spop.AppendSetVarBool(out, txn, VarAllow, false)
		out = spop.AppendSetVarInt(out, txn, VarStatus, v.status)
		if v.status == 401 && g.SignIn != nil && strings.Contains(q.accept, "text/html") {
			if u := g.SignIn(nil, q.returnURL()); u != "" {
				out = spop.AppendSetVarString(out, txn, VarRedirect, u)
			}
		}
		return out, v
	}
	if a.cuts != nil && d.User != nil && remote != "" {
		// Tracked before answering, then confirmed: a change that lands
		// in between is seen here, one after it by the streams' recheck.
		a.cuts.track(remote, d.Route.Name, g.Engine, c.Principal, c.Request)
		if c = g.Confirm(ctx, remote, c); !c.Decision.Allow {
			v.reason, v.status = c.Decision.Reason, int32(gateway.Status(c.Decision))
			out = spop.AppendSetVarBool(out, txn, VarAllow, false)
			out = spop.AppendSetVarString(out, txn, VarReason, v.reason)
			return spop.AppendSetVarInt(out, txn, VarStatus, v.status), v
		}
	}
	vals, identified, err := g.Identify(c)
	if err != nil {
		// No assertion, no entry: fail closed.
		a.log.Error("spoe: sign assertion", "err", err)
		v.status = 500
		out = spop.AppendSetVarBool(out, txn, VarAllow, false)
		return spop.AppendSetVarInt(out, txn, VarStatus, v.status), v
	}
	v.allow, v.status = true, 200
	out = spop.AppendSetVarBool(out, txn, VarAllow, true)
	out = spop.AppendSetVarInt(out, txn, VarStatus, 200)
	if identified {
		v.user = vals.User
		out = spop.AppendSetVarString(out, txn, VarUser, vals.User)
		if vals.Email != "" {
			out = spop.AppendSetVarString(out, txn, VarEmail, vals.Email)
		}
		out = spop.AppendSetVarString(out, txn, VarGroups, vals.Groups)
		out = spop.AppendSetVarString(out, txn, VarAssertion, vals.Assertion)
	}
	if gateway.OwnAuthorization(c.Principal, q.authorization) {
		out = spop.AppendSetVarBool(out, txn, VarStripAuth, true)
	}
	if otherCookies, found := gateway.StripCookies(q.cookie, g.Auth.Cookies()); found {
		out = spop.AppendSetVarString(out, txn, VarCookie, otherCookies)
	}
	return out, v
}
