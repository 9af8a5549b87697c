package proxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http/httpguts"
)

// h1Transport carries the requests that make up most of a gateway's
// traffic — plain-HTTP upstream, no request body, no upgrade — on pooled
// keep-alive connections, writing the request and reading the answer in
// the calling goroutine. http.Transport hands every request to two
// goroutines of its connection, a writer and a reader, and each hand-off
// is a wake-up; on two loopback cores that cost the built-in proxy a
// fifth of its throughput (BENCHMARKS.md). Everything else — request
// bodies, which may need the answer read while the body is still being
// written, upgrades (WebSockets), TLS and HTTP/2 — goes to fallback.
//
// The request is written by http.Request.Write and the answer parsed by
// http.ReadResponse, the code http.Transport uses; what is this type's own
// is when a connection may carry another request: only once its answer
// was read to the end, neither side asked to close it, nothing more came
// after the answer, and the request's context did not end meanwhile.
type h1Transport struct {
	fallback    http.RoundTripper
	dialer      net.Dialer
	maxIdle     int           // idle connections kept per upstream
	idleTimeout time.Duration // an idle connection is closed after this

	mu     sync.Mutex
	idle   map[string][]*upConn // by host:port, most recently used last
	reaper *time.Timer          // armed while any connection is idle
}

// maxResponseHeaderBytes caps an answer's status line and header, as
// http.Transport's MaxResponseHeaderBytes does for the fallback.
const maxResponseHeaderBytes = 1 << 20

// max1xx is how many informational answers (103 Early Hints, 100
// Continue) may precede the final one. http.Transport sets no number
// when, as for the reverse proxy, someone takes them; one answer that
// never ends must still end.
const max1xx = 100

var (
	errHeaderTooLarge = errors.New("proxy: upstream answer header exceeds 1 MiB")
	errSwitching      = errors.New("proxy: upstream switched protocols for a request without an upgrade")
	errTooMany1xx     = errors.New("proxy: too many informational answers from upstream")
	errBodyClosed     = errors.New("proxy: read on a closed answer body")
)

func newH1Transport(fallback http.RoundTripper, dialer net.Dialer, maxIdle int, idleTimeout time.Duration) *h1Transport {
	return &h1Transport{fallback: fallback, dialer: dialer, maxIdle: maxIdle, idleTimeout: idleTimeout,
		idle: map[string][]*upConn{}}
}

// upConn is one upstream connection. Its Read counts bytes and caps them
// while an answer's header is read; the bufio.Reader reads through it.
type upConn struct {
	nc        net.Conn
	addr      string
	br        *bufio.Reader
	bw        *bufio.Writer
	limit     int64 // bytes Read may still return
	read      int64 // bytes read for the current request
	idleSince time.Time
	peek      peeker // see alive
}

func (c *upConn) Read(p []byte) (int, error) {
	if c.limit <= 0 {
		return 0, errHeaderTooLarge
	}
	if int64(len(p)) > c.limit {
		p = p[:c.limit]
	}
	n, err := c.nc.Read(p)
	c.limit -= int64(n)
	c.read += int64(n)
	return n, err
}

// RoundTrip implements http.RoundTripper.
func (t *h1Transport) RoundTrip(r *http.Request) (*http.Response, error) {
	if !peekable || r.URL.Scheme != "http" || (r.Body != nil && r.Body != http.NoBody) || len(r.Header["Upgrade"]) > 0 || len(r.Trailer) > 0 {
		return t.fallback.RoundTrip(r)
	}
	// A request whose context ended (its client gone, its user's access
	// revoked) is not sent at all.
	ctx := r.Context()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	// As http.Transport: a method or header it would refuse is refused
	// here too.
	if !httpguts.ValidHeaderFieldName(r.Method) {
		return nil, fmt.Errorf("proxy: invalid method %q", r.Method)
	}
	for k, vv := range r.Header {
		if !httpguts.ValidHeaderFieldName(k) {
			return nil, fmt.Errorf("proxy: invalid header field name %q", k)
		}
		for _, v := range vv {
			if !httpguts.ValidHeaderFieldValue(v) {
				return nil, fmt.Errorf("proxy: invalid header field value for %q", k)
			}
		}
	}
	addr := r.URL.Host
	if r.URL.Port() == "" {
		addr = net.JoinHostPort(r.URL.Hostname(), "80")
	}
	c, reused, err := t.conn(ctx, addr)
	if err != nil {
		return nil, err
	}
	res, err := t.exchange(ctx, c, r)
	if err == nil || !reused || c.read > 0 || !replayable(r) || ctx.Err() != nil {
		return res, t.mapErr(ctx, err)
	}
	// The pooled connection was closed by the upstream as it was taken,
	// before any answer: a request that may be sent twice is, once, on a
	// new connection (http.Transport does the same).
	if c, err = t.dial(ctx, addr); err != nil {
		return nil, t.mapErr(ctx, err)
	}
	res, err = t.exchange(ctx, c, r)
	return res, t.mapErr(ctx, err)
}

// mapErr returns the context's error for an error caused by its end: the
// reverse proxy and its error handler tell a client that went away (or a
// revoked request) by it.
func (t *h1Transport) mapErr(ctx context.Context, err error) error {
	if err != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// replayable reports whether r may be sent again after a connection
// failed under it: the rule of http.Transport for a request without body.
func replayable(r *http.Request) bool {
	switch r.Method {
	case "GET", "HEAD", "OPTIONS", "TRACE":
		return true
	}
	return len(r.Header["Idempotency-Key"]) > 0 || len(r.Header["X-Idempotency-Key"]) > 0
}

// exchange sends r on c and reads its answer. On error c is closed.
func (t *h1Transport) exchange(ctx context.Context, c *upConn, r *http.Request) (*http.Response, error) {
	c.read, c.limit = 0, maxResponseHeaderBytes
	// The context's end interrupts whatever c is blocked in; c is not
	// reused after that.
	stop := context.AfterFunc(ctx, func() { _ = c.nc.SetDeadline(time.Unix(1, 0)) })
	fail := func(err error) (*http.Response, error) {
		stop()
		_ = c.nc.Close()
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return fail(err) // it ended as the connection was taken
	}
	if err := r.Write(c.bw); err != nil {
		return fail(err)
	}
	if err := c.bw.Flush(); err != nil {
		return fail(err)
	}
	var res *http.Response
	for n := 0; ; n++ {
		var err error
		if res, err = http.ReadResponse(c.br, r); err != nil {
			return fail(err)
		}
		if res.StatusCode >= 200 {
			break
		}
		if res.StatusCode == http.StatusSwitchingProtocols {
			return fail(errSwitching)
		}
		if n == max1xx {
			return fail(errTooMany1xx)
		}
		// 100 Continue, 103 Early Hints: the reverse proxy passes them on.
		if trace := httptrace.ContextClientTrace(ctx); trace != nil && trace.Got1xxResponse != nil {
			if err := trace.Got1xxResponse(res.StatusCode, textproto.MIMEHeader(res.Header)); err != nil {
				return fail(err)
			}
		}
		c.limit = maxResponseHeaderBytes
	}
	c.limit = math.MaxInt64
	b := &upBody{t: t, c: c, stop: stop, ctx: ctx, keep: !res.Close && !r.Close}
	if res.Body == http.NoBody {
		// HEAD, 204, 304, an empty body: the answer is complete.
		b.finish(true, io.EOF)
		return res, nil
	}
	b.rc = res.Body
	res.Body = b
	return res, nil
}

// upBody is an answer's body. Read to its end, it returns its connection
// to the pool; closed before, it closes the connection.
type upBody struct {
	t     *h1Transport
	c     *upConn
	rc    io.ReadCloser
	stop  func() bool
	ctx   context.Context
	keep  bool        // neither side asked to close the connection
	state atomic.Bool // finished: the connection is pooled or closed
	mu    sync.Mutex
	err   error // what Read returns once finished
}

func (b *upBody) Read(p []byte) (int, error) {
	if b.state.Load() {
		b.mu.Lock()
		defer b.mu.Unlock()
		return 0, b.err
	}
	n, err := b.rc.Read(p)
	switch {
	case err == io.EOF:
		b.finish(true, err)
	case err != nil:
		if b.ctx.Err() != nil {
			err = b.ctx.Err()
		}
		b.finish(false, err)
	}
	return n, err
}

func (b *upBody) Close() error {
	b.finish(false, errBodyClosed)
	return nil
}

// finish ends the body once, with err for later reads: the connection
// goes back to the pool when the body was read to its end (complete) and
// may carry another request, else it is closed.
func (b *upBody) finish(complete bool, err error) {
	b.mu.Lock()
	if b.state.Load() {
		b.mu.Unlock()
		return
	}
	b.err = err
	b.state.Store(true)
	b.mu.Unlock()
	// stop reports false when the context ended and its function ran:
	// the connection's deadline is in the past.
	if !b.stop() || !complete || !b.keep || b.c.br.Buffered() > 0 {
		_ = b.c.nc.Close()
		return
	}
	b.t.put(b.c)
}

// conn returns a pooled connection to addr that is still open, or a new
// one; reused says which.
func (t *h1Transport) conn(ctx context.Context, addr string) (c *upConn, reused bool, err error) {
	for {
		t.mu.Lock()
		list := t.idle[addr]
		if len(list) == 0 {
			t.mu.Unlock()
			break
		}
		c = list[len(list)-1]
		list[len(list)-1] = nil
		if len(list) == 1 {
			delete(t.idle, addr) // the reaper stops when the map is empty
		} else {
			t.idle[addr] = list[:len(list)-1]
		}
		t.mu.Unlock()
		if c.alive() {
			return c, true, nil
		}
		_ = c.nc.Close()
	}
	c, err = t.dial(ctx, addr)
	return c, false, err
}

func (t *h1Transport) dial(ctx context.Context, addr string) (*upConn, error) {
	nc, err := t.dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	c := &upConn{nc: nc, addr: addr, bw: bufio.NewWriterSize(nc, 4<<10)}
	c.br = bufio.NewReaderSize(c, 4<<10)
	c.peek = newPeeker(nc)
	return c, nil
}

// put pools c, unless addr already has maxIdle idle connections.
func (t *h1Transport) put(c *upConn) {
	c.idleSince = time.Now()
	t.mu.Lock()
	list := t.idle[c.addr]
	if len(list) >= t.maxIdle {
		t.mu.Unlock()
		_ = c.nc.Close()
		return
	}
	t.idle[c.addr] = append(list, c)
	if t.reaper == nil {
		t.reaper = time.AfterFunc(t.reapEvery(), t.reap)
	}
	t.mu.Unlock()
}

// reapEvery is how often the reaper runs while connections are idle.
func (t *h1Transport) reapEvery() time.Duration { return min(t.idleTimeout/3, 10*time.Second) }

// reap closes the idle connections that the upstream closed (which would
// otherwise wait in CLOSE_WAIT until taken) or that were idle longer than
// idleTimeout, and runs again while any remain. It checks them under mu:
// nobody takes one meanwhile.
func (t *h1Transport) reap() {
	cutoff := time.Now().Add(-t.idleTimeout)
	var gone []*upConn
	t.mu.Lock()
	for addr, list := range t.idle {
		kept := list[:0]
		for _, c := range list {
			if c.idleSince.Before(cutoff) || !c.alive() {
				gone = append(gone, c)
			} else {
				kept = append(kept, c)
			}
		}
		clear(list[len(kept):])
		if len(kept) == 0 {
			delete(t.idle, addr)
		} else {
			t.idle[addr] = kept
		}
	}
	if len(t.idle) > 0 {
		t.reaper = time.AfterFunc(t.reapEvery(), t.reap)
	} else {
		t.reaper = nil
	}
	t.mu.Unlock()
	for _, c := range gone {
		_ = c.nc.Close()
	}
}

// CloseIdleConnections closes the pooled connections, and the
// fallback's.
func (t *h1Transport) CloseIdleConnections() {
	t.mu.Lock()
	idle := t.idle
	t.idle = map[string][]*upConn{}
	t.mu.Unlock()
	for _, list := range idle {
		for _, c := range list {
			_ = c.nc.Close()
		}
	}
	if ci, ok := t.fallback.(interface{ CloseIdleConnections() }); ok {
		ci.CloseIdleConnections()
	}
}
