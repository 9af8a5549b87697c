package proxy_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scimgate/scimgate/directory"
)

// TestProxyServerSentEvents: events are flushed through one by one as the
// upstream sends them: the upstream sends the next only after the client
// has read the previous one, so a proxy that buffers would stall.
func TestProxyServerSentEvents(t *testing.T) {
	e := newEnv(t, nil)
	res, err := e.client.Do(e.request("GET", "/app/events", e.bearer("alice")))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("GET /app/events = %d %q", res.StatusCode, res.Header.Get("Content-Type"))
	}
	events := make(chan string)
	readErr := make(chan error, 1)
	go func() {
		br := bufio.NewReader(res.Body)
		for {
			ev, err := readEvent(br)
			if err != nil {
				readErr <- err
				return
			}
			events <- ev
		}
	}()
	for i := range 5 {
		select {
		case ev := <-events:
			if want := fmt.Sprintf("id: %d\ndata: event %d", i, i); ev != want {
				t.Fatalf("event %d = %q, want %q", i, ev, want)
			}
		case err := <-readErr:
			t.Fatalf("event %d: %v", i, err)
		case <-time.After(2 * time.Second):
			t.Fatalf("event %d not delivered within 2s: the proxy buffers the stream", i)
		}
		if i < 4 {
			e.up.events <- struct{}{}
		}
	}
	if n := e.streams.Len(); n != 1 {
		t.Errorf("Streams.Len() = %d while one stream is open, want 1", n)
	}
	// Access goes: the event stream ends.
	start := time.Now()
	e.SetActive("alice", false)
	select {
	case err := <-readErr:
		t.Logf("event stream cut %s after the deactivation started: %v", time.Since(start), err)
	case ev := <-events:
		t.Fatalf("event %q delivered after the user was deactivated", ev)
	case <-time.After(time.Second):
		t.Fatal("event stream not cut within 1s of deactivation")
	}
}

// counter is a writer that counts what it is given.
type counter struct{ n atomic.Int64 }

func (c *counter) Write(p []byte) (int, error) { c.n.Add(int64(len(p))); return len(p), nil }

// download is a streaming GET in progress.
type download struct {
	got  counter
	done chan error
	at   atomic.Pointer[time.Time] // when the read ended
}

func (e *env) download(t *testing.T, user string) *download {
	t.Helper()
	res, err := e.client.Do(e.request("GET", "/app/download", e.bearer(user)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { res.Body.Close() })
	if res.StatusCode != 200 {
		t.Fatalf("%s GET /app/download = %d", user, res.StatusCode)
	}
	d := &download{done: make(chan error, 1)}
	go func() {
		_, err := io.Copy(&d.got, res.Body)
		now := time.Now()
		d.at.Store(&now)
		if err == nil {
			err = io.EOF // the body ended cleanly: no error to the client
		}
		d.done <- err
	}()
	return d
}

// waitBytes waits until at least n bytes have arrived.
func (d *download) waitBytes(t *testing.T, n int64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for d.got.n.Load() < n {
		if time.Now().After(deadline) {
			t.Fatalf("download stalled at %d bytes", d.got.n.Load())
		}
		time.Sleep(time.Millisecond)
	}
}

// TestProxyCutsStreams: a long download is cut as soon as its user loses
// access over SCIM, whichever way: the client's read ends with an error
// within a second, while another user's download goes on.
func TestProxyCutsStreams(t *testing.T) {
	tests := []struct {
		name   string
		user   string
		revoke func(e *env)
	}{
		{"deactivated", "dave", func(e *env) { e.SetActive("dave", false) }},
		{"removed from the group", "dave", func(e *env) { e.RemoveMember("engineering", "dave") }},
		{"nested group unnested", "alice", func(e *env) { e.RemoveMember("engineering", "group:platform") }},
		{"token revoked", "erin", func(e *env) {
			id, _, _ := directory.SplitAccessToken(e.tokens["erin"])
			if err := e.Dir.RevokeAccessToken(e.Ctx, id, "test"); err != nil {
				e.T.Fatal(err)
			}
		}},
		{"user deleted", "frank", func(e *env) { e.DeleteUser("frank") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, nil)
			keep := "erin"
			if tt.user == "erin" {
				keep = "frank"
			}
			cut := e.download(t, tt.user)
			stays := e.download(t, keep)
			cut.waitBytes(t, 256<<10)
			stays.waitBytes(t, 256<<10)
			if n := e.streams.Len(); n != 2 {
				t.Errorf("Streams.Len() = %d with two downloads open, want 2", n)
			}

			start := time.Now()
			tt.revoke(e)
			acked := time.Since(start)
			var err error
			select {
			case err = <-cut.done:
			case <-time.After(time.Second):
				t.Fatalf("download of %s not cut within 1s (got %d bytes)", tt.user, cut.got.n.Load())
			}
			delay := cut.at.Load().Sub(start)
			t.Logf("%s: download cut %s after the change started (SCIM write acknowledged after %s): %v", tt.name, delay, acked, err)
			if err == io.EOF {
				t.Errorf("the cut download ended cleanly; the client must see an error, not a complete body")
			}

			// The other user's download is untouched.
			n := stays.got.n.Load()
			stays.waitBytes(t, n+256<<10)
			select {
			case err := <-stays.done:
				t.Fatalf("%s's allowed download ended: %v", keep, err)
			default:
			}
			deadline := time.Now().Add(time.Second)
			for e.streams.Len() != 1 && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			if n := e.streams.Len(); n != 1 {
				t.Errorf("Streams.Len() = %d after the cut, want 1", n)
			}
			// And the next request of the cut user is refused.
			if res, _ := e.do("GET", "/app/x", e.bearer(tt.user)); res.StatusCode == 200 {
				t.Errorf("%s's next request = 200 after losing access", tt.user)
			}
		})
	}
}

// TestProxyCutsStreamWhenTokenExpires: an access token that expires while
// its download streams loses access like a revoked one; nothing in the
// directory changes then, so only time can trigger the cut.
func TestProxyCutsStreamWhenTokenExpires(t *testing.T) {
	e := newEnv(t, nil)
	const ttl = 300 * time.Millisecond
	secret, _ := e.Token("erin", ttl)
	e.tokens["erin"] = secret
	issued := time.Now()
	d := e.download(t, "erin")
	d.waitBytes(t, 64<<10)
	select {
	case err := <-d.done:
		t.Logf("download ended %s after the token was issued (TTL %s): %v", d.at.Load().Sub(issued), ttl, err)
		if err == io.EOF {
			t.Error("the download ended cleanly; the client must see an error")
		}
	case <-time.After(ttl + time.Second):
		t.Errorf("download with a token that expired %s ago still streams (%d bytes); "+
			"streams are rechecked only on directory changes, never when a token expires", time.Since(issued)-ttl, d.got.n.Load())
	}
	if res, _ := e.do("GET", "/app/x", e.bearer("erin")); res.StatusCode != 401 {
		t.Errorf("a new request with the expired token = %d, want 401", res.StatusCode)
	}
}

// TestProxyCutsWebSocket: an upgraded connection is closed when its user
// is deactivated.
func TestProxyCutsWebSocket(t *testing.T) {
	e := newEnv(t, nil)
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.proxy.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /app/ws HTTP/1.1\r\nHost: app.test\r\nAuthorization: Bearer %s\r\nX-Scimgate-User: root\r\n"+
		"Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n", e.tokens["dave"])
	br := bufio.NewReader(conn)
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade = %d, want 101", res.StatusCode)
	}
	if u := e.up.last(t).Header.Get("X-Scimgate-User"); u != "dave" {
		t.Errorf("the upgraded request reached the upstream as %q, want dave", u)
	}
	fmt.Fprintf(conn, "hello\n")
	if line, err := br.ReadString('\n'); err != nil || line != "echo hello\n" {
		t.Fatalf("echo = %q, %v", line, err)
	}
	start := time.Now()
	e.SetActive("dave", false)
	conn.SetReadDeadline(time.Now().Add(time.Second))
	fmt.Fprintf(conn, "again\n") // may or may not be echoed before the cut
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatal("WebSocket not closed within 1s of deactivation")
			}
			t.Logf("WebSocket closed %s after the deactivation started: %v", time.Since(start), err)
			return
		}
		t.Logf("echoed %q %s after the deactivation started, before the cut", line, time.Since(start))
	}
}
