package audit_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scimgate/scimgate/audit"
	"github.com/scimgate/scimgate/store"
)

// Clients that ask for a long log and stop reading must not hold the
// store's read connections: the gateway's snapshot and SCIM reads share
// them. Beyond MaxHTTPQueries, audit queries are refused; a stalled answer
// ends after the stall timeout, cut short (no last chunk), and frees its
// place.
func TestHandlerStalledClients(t *testing.T) {
	defer audit.SetHTTPTimeouts(300*time.Millisecond, time.Minute)()
	ctx := context.Background()
	st := openStore(t, filepath.Join(t.TempDir(), "db"))
	// About 20 MB of JSON lines: more than the sockets buffer.
	for b := range 20 {
		ds := make([]store.Decision, 2500)
		for i := range ds {
			n := b*len(ds) + i
			ds[i] = store.Decision{At: t0.Add(time.Duration(n) * time.Millisecond), TenantID: 1, UserID: "u1", UserName: "alice",
				Route: "prod", Method: "GET", Host: "prod.example", Path: fmt.Sprintf("/a/long/path/%08d/%s", n, strings.Repeat("x", 200)),
				Allow: true, Reason: "group", Adapter: "proxy", Remote: "192.0.2.1:1234"}
		}
		if err := st.Update(ctx, func(tx store.Tx) error { return tx.AppendDecisions(ctx, ds) }); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewServer(audit.Handler(st, nil))
	defer srv.Close()
	addr := srv.Listener.Addr().String()

	var stalled []net.Conn
	for range audit.MaxHTTPQueries {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.(*net.TCPConn).SetReadBuffer(4096)
		fmt.Fprintf(c, "GET /audit/log?limit=100000 HTTP/1.1\r\nHost: %s\r\n\r\n", addr)
		line, err := bufio.NewReaderSize(c, 16).ReadString('\n')
		if err != nil || !strings.Contains(line, " 200 ") {
			t.Fatalf("stalled client %d: status line %q, %v", len(stalled), line, err)
		}
		stalled = append(stalled, c) // and read no more
	}

	resp, err := http.Get(srv.URL + "/audit/log?limit=1")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || !strings.Contains(string(body), "audit queries are running") {
		t.Errorf("a query beyond %d while they stall = %d %q (Retry-After %q), want 503 saying why",
			audit.MaxHTTPQueries, resp.StatusCode, body, resp.Header.Get("Retry-After"))
	}

	// The stalled answers end, and their places are free again.
	var code int
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		resp, err := http.Get(srv.URL + "/audit/log?limit=1")
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if code = resp.StatusCode; code == 200 {
			break
		}
	}
	if code != 200 {
		t.Fatalf("GET /audit/log after the stall timeout = %d, want 200", code)
	}
	// What a stalled client reads now never ends with the last chunk: it
	// cannot take the cut answer for a whole one. (The kernel may hold
	// back the rest of a closed socket's data: a read may time out.)
	for i, c := range stalled {
		_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
		rest, err := io.ReadAll(c)
		var ne net.Error
		if err != nil && !(errors.As(err, &ne) && ne.Timeout()) {
			t.Fatalf("stalled client %d: reading the rest: %v", i, err)
		}
		if bytes.HasSuffix(rest, []byte("\r\n0\r\n\r\n")) {
			t.Errorf("stalled client %d got a complete answer (%d bytes), want one cut short", i, len(rest))
		}
	}
}

// A log that cannot be read answers 500 when nothing was sent yet, and
// never an empty 200 that looks complete.
func TestHandlerUnreadableLog(t *testing.T) {
	tr := newTrail(t)
	tr.sql(t, `UPDATE changes SET edges = 'not json' WHERE seq = 1`)
	srv := httptest.NewServer(audit.Handler(tr.st, nil))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/audit/log")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusInternalServerError || !strings.Contains(string(body), "edges") {
		t.Errorf("GET /audit/log with a damaged change = %d %q, want 500 naming the damage", resp.StatusCode, body)
	}
}
