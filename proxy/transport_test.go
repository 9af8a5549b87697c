package proxy

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// testTransport is the built-in proxy's transport with its fallback
// counted.
func testTransport(t *testing.T, idleTimeout time.Duration) (*h1Transport, *atomic.Int64) {
	t.Helper()
	var fellBack atomic.Int64
	base := &http.Transport{MaxResponseHeaderBytes: maxResponseHeaderBytes}
	tr := newH1Transport(countingRT{base, &fellBack}, net.Dialer{Timeout: 5 * time.Second}, 4, idleTimeout)
	t.Cleanup(tr.CloseIdleConnections)
	return tr, &fellBack
}

type countingRT struct {
	rt http.RoundTripper
	n  *atomic.Int64
}

func (c countingRT) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.rt.RoundTrip(r)
}

// connCounter counts the connections a test server accepted.
func connCounter(s *httptest.Server) *atomic.Int64 {
	var n atomic.Int64
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			n.Add(1)
		}
	}
	return &n
}

func get(t *testing.T, rt http.RoundTripper, method, url string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := rt.RoundTrip(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	b, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		t.Fatalf("%s %s: body: %v", method, url, err)
	}
	return res, string(b)
}

func (t *h1Transport) idleCount() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, l := range t.idle {
		n += len(l)
	}
	return n
}

// TestH1TransportAnswers: each kind of answer arrives whole, and the
// connection carries the next request only when it may: after a body
// read to its end, not after a body delimited by the connection's close
// or an answer that asked to close.
func TestH1TransportAnswers(t *testing.T) {
	s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/len":
			w.Header().Set("Content-Length", "5")
			_, _ = io.WriteString(w, "hello")
		case "/chunked":
			w.Header().Set("Trailer", "X-Sum")
			_, _ = io.WriteString(w, "part1,")
			w.(http.Flusher).Flush()
			_, _ = io.WriteString(w, "part2")
			w.Header().Set("X-Sum", "42")
		case "/nocontent":
			w.WriteHeader(http.StatusNoContent)
		case "/notmodified":
			w.WriteHeader(http.StatusNotModified)
		case "/close":
			w.Header().Set("Connection", "close")
			_, _ = io.WriteString(w, "bye")
		case "/unbounded":
			// No length, no chunking: the body ends with the connection.
			c, bw, err := http.NewResponseController(w).Hijack()
			if err != nil {
				t.Error(err)
				return
			}
			_, _ = bw.WriteString("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil close")
			_ = bw.Flush()
			_ = c.Close()
		}
	}))
	conns := connCounter(s)
	s.Start()
	defer s.Close()
	tr, fellBack := testTransport(t, time.Minute)
	get(t, tr, "GET", s.URL+"/len") // a connection to reuse

	for _, tt := range []struct {
		method, path string
		status       int
		body         string
		trailer      string
		reuse        bool // the next request goes on the same connection
	}{
		{"GET", "/len", 200, "hello", "", true},
		{"GET", "/chunked", 200, "part1,part2", "42", true},
		{"HEAD", "/len", 200, "", "", true},
		{"GET", "/nocontent", 204, "", "", true},
		{"GET", "/notmodified", 304, "", "", true},
		{"DELETE", "/len", 200, "hello", "", true},
		{"GET", "/close", 200, "bye", "", false},
		{"GET", "/unbounded", 200, "until close", "", false},
	} {
		t.Run(tt.method+tt.path, func(t *testing.T) {
			before := conns.Load()
			res, body := get(t, tr, tt.method, s.URL+tt.path)
			if res.StatusCode != tt.status || body != tt.body || res.Trailer.Get("X-Sum") != tt.trailer {
				t.Fatalf("%s %s = %d %q trailer %q, want %d %q trailer %q", tt.method, tt.path,
					res.StatusCode, body, res.Trailer.Get("X-Sum"), tt.status, tt.body, tt.trailer)
			}
			if pooled := tr.idleCount() == 1; pooled != tt.reuse {
				t.Errorf("connection pooled after the answer: %v, want %v", pooled, tt.reuse)
			}
			// The next request is answered right whether or not the
			// connection was pooled.
			if res, body := get(t, tr, "GET", s.URL+"/len"); res.StatusCode != 200 || body != "hello" {
				t.Fatalf("GET /len after it = %d %q", res.StatusCode, body)
			}
			if opened := conns.Load() - before; (opened == 0) != tt.reuse {
				t.Errorf("%d connections opened for the two requests, want reuse %v", opened, tt.reuse)
			}
		})
	}
	if n := fellBack.Load(); n != 0 {
		t.Errorf("%d requests went to the fallback transport, want none", n)
	}
}

// TestH1TransportFallback: requests with a body and upgrades go to
// http.Transport, which can read an answer while a body is being sent.
func TestH1TransportFallback(t *testing.T) {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		_, _ = w.Write(b)
	}))
	defer s.Close()
	tr, fellBack := testTransport(t, time.Minute)
	req, _ := http.NewRequest("POST", s.URL, strings.NewReader("payload"))
	res, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if string(b) != "payload" || fellBack.Load() != 1 {
		t.Errorf("POST with a body: %q, fallback used %d times; want the payload echoed, by the fallback", b, fellBack.Load())
	}
	req, _ = http.NewRequest("GET", s.URL, nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	if res, err := tr.RoundTrip(req); err == nil {
		res.Body.Close()
	}
	if fellBack.Load() != 2 {
		t.Errorf("an upgrade went to the fallback %d times in all, want 2", fellBack.Load())
	}
}

// rawServer runs handle on every connection to a loopback listener; n
// counts them from 1.
func rawServer(t *testing.T, handle func(c net.Conn, br *bufio.Reader, n int)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for n := 1; ; n++ {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				handle(c, bufio.NewReader(c), n)
			}()
		}
	}()
	return "http://" + ln.Addr().String()
}

// TestH1TransportUpstreamClosed: an upstream that closes a keep-alive
// connection while it is pooled, or as a request arrives on it, does not
// fail requests that may be sent again; other requests are not sent twice.
func TestH1TransportUpstreamClosed(t *testing.T) {
	const ok = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
	t.Run("closed while idle", func(t *testing.T) {
		closed := make(chan struct{}, 10)
		url := rawServer(t, func(c net.Conn, br *bufio.Reader, n int) {
			if _, err := http.ReadRequest(br); err != nil {
				return
			}
			_, _ = io.WriteString(c, ok) // keep-alive, then gone
			c.Close()
			closed <- struct{}{}
		})
		tr, _ := testTransport(t, time.Minute)
		for i := range 3 {
			if res, body := get(t, tr, "POST", url); res.StatusCode != 200 || body != "ok" {
				t.Fatalf("request %d = %d %q", i, res.StatusCode, body)
			}
			<-closed
			time.Sleep(20 * time.Millisecond) // the FIN reaches this side
		}
	})
	t.Run("closed as the request arrives", func(t *testing.T) {
		var seen atomic.Int64
		url := rawServer(t, func(c net.Conn, br *bufio.Reader, n int) {
			for i := 0; ; i++ {
				r, err := http.ReadRequest(br)
				if err != nil {
					return
				}
				seen.Add(1)
				if i == 1 {
					return // the second request on a connection: closed unanswered
				}
				_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: "+strconv.Itoa(len(r.Method))+"\r\n\r\n"+r.Method)
			}
		})
		tr, _ := testTransport(t, time.Minute)
		get(t, tr, "GET", url)
		if res, body := get(t, tr, "GET", url); res.StatusCode != 200 || body != "GET" {
			t.Fatalf("GET on a connection closed under it = %d %q, want it sent again on a new one", res.StatusCode, body)
		}
		// The retry's connection is pooled now; a POST on it is not sent again.
		req, _ := http.NewRequest("POST", url, nil)
		before := seen.Load()
		if res, err := tr.RoundTrip(req); err == nil {
			res.Body.Close()
			t.Fatalf("POST on a connection closed under it = %d, want an error", res.StatusCode)
		}
		if n := seen.Load() - before; n != 1 {
			t.Errorf("the POST reached the upstream %d times, want once", n)
		}
	})
}

// TestH1TransportMisbehavingUpstream: bytes after an answer, an answer
// header over the cap, informational answers, and a protocol switch
// nobody asked for.
func TestH1TransportMisbehavingUpstream(t *testing.T) {
	var conns atomic.Int64
	url := rawServer(t, func(c net.Conn, br *bufio.Reader, n int) {
		conns.Add(1)
		for {
			r, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			var answer string
			switch r.URL.Path {
			case "/extra":
				answer = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nforgd"
			case "/early":
				answer = "HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n" + "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
			case "/many1xx":
				answer = strings.Repeat("HTTP/1.1 100 Continue\r\n\r\n", max1xx+1) + "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
			case "/switch":
				answer = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n"
			case "/huge":
				answer = "HTTP/1.1 200 OK\r\nX-Big: " + strings.Repeat("a", maxResponseHeaderBytes) + "\r\nContent-Length: 2\r\n\r\nok"
			default:
				answer = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nright"
			}
			if _, err := io.WriteString(c, answer); err != nil {
				return
			}
		}
	})
	tr, _ := testTransport(t, time.Minute)

	get(t, tr, "GET", url+"/extra")
	time.Sleep(20 * time.Millisecond) // the extra bytes arrive
	before := conns.Load()
	if res, body := get(t, tr, "GET", url+"/next"); body != "right" || conns.Load() != before+1 {
		t.Errorf("after an answer with bytes behind it: %d %q on %d new connections, want \"right\" on a new one",
			res.StatusCode, body, conns.Load()-before)
	}

	var hints []int
	req, _ := http.NewRequest("GET", url+"/early", nil)
	req = req.WithContext(httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
		Got1xxResponse: func(code int, _ textproto.MIMEHeader) error { hints = append(hints, code); return nil },
	}))
	res, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || string(b) != "ok" || len(hints) != 1 || hints[0] != 103 {
		t.Errorf("103 then 200: final %d %q, informational %v; want 200 \"ok\" after [103]", res.StatusCode, b, hints)
	}

	for path, want := range map[string]error{"/many1xx": errTooMany1xx, "/switch": errSwitching, "/huge": errHeaderTooLarge} {
		req, _ := http.NewRequest("GET", url+path, nil)
		res, err := tr.RoundTrip(req)
		if res != nil {
			res.Body.Close()
		}
		if !errors.Is(err, want) {
			t.Errorf("GET %s: error %v, want %v", path, err, want)
		}
	}
	// Each failed on the connection the one before pooled, and closed it.
	if n := tr.idleCount(); n != 0 {
		t.Errorf("%d idle connections after failed answers, want 0", n)
	}
	if res, body := get(t, tr, "GET", url+"/next"); body != "right" {
		t.Errorf("GET after the failures = %d %q, want \"right\"", res.StatusCode, body)
	}

	req, _ = http.NewRequest("GET", url, nil)
	req.Header["X-Bad"] = []string{"a\r\nInjected: 1"}
	if res, err := tr.RoundTrip(req); err == nil {
		res.Body.Close()
		t.Error("a header value with CR LF was sent")
	}
}

// TestH1TransportCancel: a request whose context ends mid-answer stops
// reading at once, reports the context's error, and its connection is
// closed rather than pooled.
func TestH1TransportCancel(t *testing.T) {
	gone := make(chan struct{})
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "first")
		w.(http.Flusher).Flush()
		<-r.Context().Done() // the proxy closed the connection
		close(gone)
	}))
	defer s.Close()
	tr, _ := testTransport(t, time.Minute)
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", s.URL, nil)
	res, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 5)
	if _, err := io.ReadFull(res.Body, buf); err != nil {
		t.Fatal(err)
	}
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	_, err = res.Body.Read(buf)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("read after cancel: %v, want context.Canceled", err)
	}
	res.Body.Close()
	select {
	case <-gone:
	case <-time.After(5 * time.Second):
		t.Fatal("the upstream connection stayed open after the cancel")
	}
	t.Logf("read interrupted %v after it began", time.Since(start))
	if n := tr.idleCount(); n != 0 {
		t.Errorf("%d idle connections after a cancelled request, want 0", n)
	}
}

// TestH1TransportIdleTimeout: pooled connections are closed once idle
// for the timeout.
func TestH1TransportIdleTimeout(t *testing.T) {
	closed := make(chan struct{})
	s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok")
	}))
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateClosed {
			close(closed)
		}
	}
	s.Start()
	defer s.Close()
	tr, _ := testTransport(t, 100*time.Millisecond)
	get(t, tr, "GET", s.URL)
	if tr.idleCount() != 1 {
		t.Fatalf("%d idle connections after a request, want 1", tr.idleCount())
	}
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("idle connection still open 5s after a 100ms idle timeout")
	}
	if n := tr.idleCount(); n != 0 {
		t.Errorf("%d idle connections after the timeout, want 0", n)
	}
}

// TestH1TransportEndedContextNotSent: a request whose context ended
// before it was sent (its user's access revoked, its client gone) never
// reaches the upstream, also when a pooled connection is at hand.
func TestH1TransportEndedContextNotSent(t *testing.T) {
	var deletes atomic.Int64
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == "DELETE" {
			deletes.Add(1)
		}
	}))
	defer s.Close()
	tr, _ := testTransport(t, time.Minute)
	revoked := errors.New("revoked")
	for range 50 {
		get(t, tr, "GET", s.URL) // a pooled connection
		ctx, cancel := context.WithCancelCause(context.Background())
		cancel(revoked)
		req, _ := http.NewRequestWithContext(ctx, "DELETE", s.URL, nil)
		if res, err := tr.RoundTrip(req); !errors.Is(err, context.Canceled) {
			if res != nil {
				res.Body.Close()
			}
			t.Fatalf("DELETE with an ended context: %v, want context.Canceled", err)
		}
	}
	if n := deletes.Load(); n != 0 {
		t.Errorf("%d DELETEs with an ended context reached the upstream, want none", n)
	}
}

// TestH1TransportReapsClosedIdle: a pooled connection the upstream closed
// is closed here too long before the idle timeout, not left half-closed.
func TestH1TransportReapsClosedIdle(t *testing.T) {
	s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	s.Config.IdleTimeout = 50 * time.Millisecond
	s.Start()
	defer s.Close()
	tr, _ := testTransport(t, 3*time.Second) // the reaper runs every second
	get(t, tr, "GET", s.URL)
	deadline := time.Now().Add(2500 * time.Millisecond)
	for tr.idleCount() > 0 {
		if time.Now().After(deadline) {
			t.Fatal("a connection the upstream closed is still pooled 2.5s later (idle timeout 3s)")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestH1TransportBodyAfterEnd: a body read again after an error or after
// Close says so, never a clean end; a request asking to close its
// connection does not leave it pooled; a method http.Transport refuses is
// refused.
func TestH1TransportBodyAfterEnd(t *testing.T) {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "10")
		_, _ = io.WriteString(w, "12345") // short: the upstream ends early
	}))
	defer s.Close()
	tr, _ := testTransport(t, time.Minute)
	req, _ := http.NewRequest("GET", s.URL, nil)
	res, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(res.Body); err == nil {
		t.Fatal("a short body read without error")
	}
	if _, err := res.Body.Read(make([]byte, 1)); err == nil || err == io.EOF {
		t.Errorf("read after a truncated body: %v, want the error again", err)
	}
	res.Body.Close()

	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") }))
	defer ok.Close()
	req, _ = http.NewRequest("GET", ok.URL, nil)
	if res, err = tr.RoundTrip(req); err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if _, err := res.Body.Read(make([]byte, 1)); !errors.Is(err, errBodyClosed) {
		t.Errorf("read after Close: %v, want %v", err, errBodyClosed)
	}

	// An upstream that keeps the connection whatever the request asks.
	keeps := rawServer(t, func(c net.Conn, br *bufio.Reader, n int) {
		for {
			if _, err := http.ReadRequest(br); err != nil {
				return
			}
			if _, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"); err != nil {
				return
			}
		}
	})
	tr2, _ := testTransport(t, time.Minute)
	req, _ = http.NewRequest("GET", keeps, nil)
	req.Close = true
	if res, err = tr2.RoundTrip(req); err != nil {
		t.Fatal(err)
	}
	_, _ = io.ReadAll(res.Body)
	res.Body.Close()
	if n := tr2.idleCount(); n != 0 {
		t.Errorf("%d idle connections after a request with Close set, want 0", n)
	}

	req, _ = http.NewRequest("GET", ok.URL, nil)
	req.Method = "GET /x HTTP/1.1\r\nX-Injected: 1\r\n"
	if res, err := tr.RoundTrip(req); err == nil {
		res.Body.Close()
		t.Error("a method with CR LF was sent")
	}
}
