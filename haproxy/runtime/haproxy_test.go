package runtime

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/scimgate/scimgate/internal/haproxytest"
)

// testConfig routes /lookup to a map lookup answered by HAProxy itself, and
// everything else to the upstream. MAP, INTMAP and UPSTREAM are replaced
// before the template is rendered.
const testConfig = `
global
    stats socket ipv4@127.0.0.1:{{port "admin"}} level admin
    stats socket ipv4@127.0.0.1:{{port "operator"}} level operator

defaults
    mode http
    log global
    option httplog
    timeout connect 5s
    timeout client 30s
    timeout server 30s

frontend fe
    bind 127.0.0.1:{{port "fe"}}
    http-request set-var(txn.n) req.hdr(x-key),map_str_int(INTMAP,0)
    http-request return status 200 content-type text/plain lf-string "%[req.hdr(x-key),map(MAP,none)]" if { path /lookup }
    default_backend upstream

backend upstream
    server s1 UPSTREAM
`

type fixture struct {
	h      *haproxytest.HAProxy
	c      *Client
	mapF   string      // a str map (map)
	intMap string      // a map_str_int map
	ended  chan string // upstream requests that ended, by X-Name
}

// start runs HAProxy in front of an upstream that streams "tick" lines until
// the client goes away.
func start(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{ended: make(chan string, 16)}
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() { f.ended <- r.Header.Get("X-Name") }()
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusOK)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			if _, err := io.WriteString(w, "tick\n"); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
				return
			case <-tick.C:
			}
		}
	}))
	t.Cleanup(up.Close)

	dir := t.TempDir()
	f.mapF = filepath.Join(dir, "groups.map")
	f.intMap = filepath.Join(dir, "counts.map")
	if err := os.WriteFile(f.mapF, []byte("alice engineering\nbob ops admins\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.intMap, []byte("alice 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := strings.NewReplacer("INTMAP", f.intMap, "MAP", f.mapF, "UPSTREAM", up.Listener.Addr().String()).Replace(testConfig)
	f.h = haproxytest.Start(t, cfg)
	c, err := New(f.h.Socket())
	if err != nil {
		t.Fatal(err)
	}
	f.c = c
	return f
}

// lookup asks HAProxy itself what the map says for key.
func (f *fixture) lookup(t *testing.T, key string) string {
	t.Helper()
	v, err := f.lookupErr(key)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func (f *fixture) lookupErr(key string) (string, error) {
	req, _ := http.NewRequest("GET", "http://"+f.h.Addr()+"/lookup", nil)
	req.Header.Set("X-Key", key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("lookup %q: %w", key, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", fmt.Errorf("lookup %q: %w", key, err)
	}
	return string(b), nil
}

// stream opens a streaming request through HAProxy and waits for its first
// tick.
func (f *fixture) stream(t *testing.T, name string) (net.Conn, *bufio.Reader) {
	t.Helper()
	conn, err := net.Dial("tcp", f.h.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "GET /stream HTTP/1.1\r\nHost: test\r\nX-Name: %s\r\n\r\n", name)
	r := bufio.NewReader(conn)
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("stream %s: %v", name, err)
		}
		if strings.Contains(line, "tick") {
			return conn, r
		}
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestSessionsShutdown(t *testing.T) {
	f := start(t)
	victim, victimR := f.stream(t, "victim")
	bystander, bystanderR := f.stream(t, "bystander")

	ss, err := f.c.Sessions(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	var got *Session
	for i, s := range ss {
		if s.Frontend == "GLOBAL" {
			t.Errorf("Sessions returned the CLI's own session %+v", s)
		}
		if s.Src == victim.LocalAddr().String() {
			got = &ss[i]
		}
	}
	if got == nil {
		t.Fatalf("Sessions() = %+v, none from %s", ss, victim.LocalAddr())
	}
	want := Session{ID: got.ID, Proto: "tcpv4", Src: victim.LocalAddr().String(), Frontend: "fe", Backend: "upstream", Server: "s1", Age: got.Age}
	if diff := cmp.Diff(want, *got); diff != "" {
		t.Errorf("victim's session mismatch (-want +got):\n%s", diff)
	}
	if got.Age < 0 || got.Age > time.Minute {
		t.Errorf("victim's session age %v", got.Age)
	}

	if err := f.c.ShutdownSession(ctx(t), *got); err != nil {
		t.Fatalf("ShutdownSession(%s) = %v", got.ID, err)
	}
	// The client sees its connection end: EOF or reset, not a timeout.
	_ = victim.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = io.Copy(io.Discard, victimR)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("victim's connection still open 5s after shutdown")
	}
	select {
	case name := <-f.ended:
		if name != "victim" {
			t.Errorf("upstream request %q ended, want victim", name)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("upstream request still running 5s after shutdown")
	}

	// The bystander streams on.
	_ = bystander.SetReadDeadline(time.Now().Add(5 * time.Second))
	for range 3 {
		if _, err := bystanderR.ReadString('\n'); err != nil {
			t.Fatalf("bystander's stream broken: %v", err)
		}
	}

	// Shutting the victim down again: its pointer is gone or reused (often by
	// the CLI's own session); either way it is ErrNoSession and nothing else
	// is shut down.
	if err := f.c.ShutdownSession(ctx(t), *got); !errors.Is(err, ErrNoSession) {
		t.Errorf("second ShutdownSession = %v, want ErrNoSession", err)
	}
	if err := f.c.Shutdown(ctx(t), "0x1"); !errors.Is(err, ErrNoSession) {
		t.Errorf("Shutdown(0x1) = %v, want ErrNoSession", err)
	}
	if err := f.c.Shutdown(ctx(t), "0x1;show info"); !errors.Is(err, ErrInvalid) {
		t.Errorf("Shutdown(injection) = %v, want ErrInvalid", err)
	}
	if _, err := bystanderR.ReadString('\n'); err != nil {
		t.Fatalf("bystander's stream broken: %v", err)
	}
	bystander.Close()
}

func TestMaps(t *testing.T) {
	f := start(t)
	maps, err := f.c.Maps(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range maps {
		names = append(names, m.File)
	}
	if len(maps) != 2 || !strings.Contains(strings.Join(names, " "), f.mapF) {
		t.Fatalf("Maps() = %+v, want %s and %s", maps, f.mapF, f.intMap)
	}
	for _, m := range maps {
		if m.File == f.mapF && m.Entries != 2 {
			t.Errorf("Maps(): %s has %d entries, want 2", m.File, m.Entries)
		}
	}

	entries, err := f.c.MapEntries(ctx(t), f.mapF)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]Entry{{"alice", "engineering"}, {"bob", "ops admins"}}, entries); diff != "" {
		t.Errorf("MapEntries(file) mismatch (-want +got):\n%s", diff)
	}

	// Keys and values the CLI would misread unless escaped.
	tests := []struct{ key, value string }{
		{"alice", "sales"},     // existing key: set map
		{"carol", "eng"},       // missing key: add map
		{"dave", "eng ops  x"}, // spaces inside
		{"erin", "trailing "},  // trailing space kept
		{"semi;colon", "a;b"},  // command separator
		{`back\slash`, `c:\dir\`},
		{"lt<<", "<<"}, // payload marker
		{"hash#", "#1 #2"},
		{"josé@example.com", "équipe été"},
	}
	for _, tt := range tests {
		if err := f.c.SetEntry(ctx(t), f.mapF, tt.key, tt.value); err != nil {
			t.Fatalf("SetEntry(%q, %q) = %v", tt.key, tt.value, err)
		}
		if got := f.lookup(t, tt.key); got != tt.value {
			t.Errorf("after SetEntry(%q, %q) HAProxy looks up %q", tt.key, tt.value, got)
		}
	}
	// Setting again goes through "set map" for every key.
	for _, tt := range tests {
		if err := f.c.SetEntry(ctx(t), f.mapF, tt.key, tt.value+"2"); err != nil {
			t.Fatalf("SetEntry(%q) again = %v", tt.key, err)
		}
	}
	entries, err = f.c.MapEntries(ctx(t), "#"+strconv.Itoa(mapID(t, maps, f.mapF)))
	if err != nil {
		t.Fatal(err)
	}
	want := []Entry{{"alice", "sales2"}, {"bob", "ops admins"}}
	for _, tt := range tests[1:] {
		want = append(want, Entry{tt.key, tt.value + "2"})
	}
	if diff := cmp.Diff(want, entries); diff != "" {
		t.Errorf("MapEntries(#id) mismatch (-want +got):\n%s", diff)
	}

	for _, key := range []string{"bob", "semi;colon", "nobody"} {
		if err := f.c.DelEntry(ctx(t), f.mapF, key); err != nil {
			t.Errorf("DelEntry(%q) = %v", key, err)
		}
		if got := f.lookup(t, key); got != "none" {
			t.Errorf("after DelEntry(%q) HAProxy looks up %q", key, got)
		}
	}

	rejected := []struct{ key, value string }{
		{"a b", "v"}, {"a\nb", "v"}, {"#0x1", "v"}, {"", "v"},
		{"k", "v\nshow info"}, {"k", "v\tw"}, {"k", " lead"}, {"k", ""},
	}
	for _, tt := range rejected {
		if err := f.c.SetEntry(ctx(t), f.mapF, tt.key, tt.value); !errors.Is(err, ErrInvalid) {
			t.Errorf("SetEntry(%q, %q) = %v, want ErrInvalid", tt.key, tt.value, err)
		}
	}
	if err := f.c.DelEntry(ctx(t), f.mapF, "#0x1"); !errors.Is(err, ErrInvalid) {
		t.Errorf("DelEntry(#0x1) = %v, want ErrInvalid", err)
	}
	if err := f.c.SetEntry(ctx(t), f.mapF, "k", strings.Repeat("v", 9000)); !errors.Is(err, ErrInvalid) {
		t.Errorf("SetEntry(9000-byte value) = %v, want ErrInvalid", err)
	}
}

func mapID(t *testing.T, maps []Map, file string) int {
	for _, m := range maps {
		if m.File == file {
			return m.ID
		}
	}
	t.Fatalf("no map %s in %+v", file, maps)
	return -1
}

func TestReplace(t *testing.T) {
	f := start(t)
	f.c.payloadLimit = 300 // many batches from few entries

	var next []Entry
	for i := range 40 {
		next = append(next, Entry{fmt.Sprintf("user%02d", i), fmt.Sprintf("group %d;x\\y", i)})
	}
	next = append(next, Entry{"empty", ""}, Entry{"lt", "<<"})

	// Mid-replacement, lookups still see the old map in full.
	var mid []string
	f.c.beforeCommit = func(ver string) {
		mid = append(mid, f.lookup(t, "alice"), f.lookup(t, "user00"), f.lookup(t, "user39"))
		staged, err := f.c.Exec(ctx(t), "show map @"+ver+" "+f.mapF)
		if err != nil {
			t.Errorf("show map @%s: %v", ver, err)
		}
		if n := len(parseEntries(staged)); n != len(next) {
			t.Errorf("version %s holds %d entries before commit, want %d", ver, n, len(next))
		}
	}
	if err := f.c.Replace(ctx(t), f.mapF, next); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"engineering", "none", "none"}, mid); diff != "" {
		t.Errorf("lookups before commit (-want +got):\n%s", diff)
	}
	f.c.beforeCommit = nil
	for _, e := range []Entry{{"alice", "none"}, {"user00", "group 0;x\\y"}, {"user39", "group 39;x\\y"}, {"empty", ""}} {
		if got := f.lookup(t, e.Key); got != e.Value {
			t.Errorf("after Replace, lookup(%q) = %q, want %q", e.Key, got, e.Value)
		}
	}
	got, err := f.c.MapEntries(ctx(t), f.mapF)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(next, got); diff != "" {
		t.Errorf("MapEntries after Replace (-want +got):\n%s", diff)
	}

	// A failure half-way (HAProxy rejects a non-integer in a map_str_int
	// map, in the last batch) leaves the live map as it was, and the staged
	// version is cleared.
	bad := []Entry{}
	for i := range 40 {
		bad = append(bad, Entry{fmt.Sprintf("n%02d", i), strconv.Itoa(i)})
	}
	bad = append(bad, Entry{"oops", "not-a-number"})
	err = f.c.Replace(ctx(t), f.intMap, bad)
	var he *Error
	if !errors.As(err, &he) || !strings.Contains(he.Message, "unable to parse") {
		t.Fatalf("Replace(int map, bad entry) = %v, want HAProxy's parse error", err)
	}
	got, err = f.c.MapEntries(ctx(t), f.intMap)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]Entry{{"alice", "1"}}, got); diff != "" {
		t.Errorf("int map after a failed Replace (-want +got):\n%s", diff)
	}
	// HAProxy 2.6's entry_cnt goes wrong after a rejected payload line, so
	// look at the staged version itself.
	maps, err := f.c.Maps(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range maps {
		if m.File != f.intMap {
			continue
		}
		staged, err := f.c.Exec(ctx(t), fmt.Sprintf("show map @%d %s", m.NextVer, f.intMap))
		if err != nil || staged != "" {
			t.Errorf("staged version %d after a failed Replace = %q, %v; want it cleared", m.NextVer, staged, err)
		}
	}

	// Replacing with nothing empties the map atomically.
	if err := f.c.Replace(ctx(t), f.mapF, nil); err != nil {
		t.Fatal(err)
	}
	if got, err := f.c.MapEntries(ctx(t), f.mapF); err != nil || len(got) != 0 {
		t.Errorf("MapEntries after Replace(nil) = %v, %v; want empty", got, err)
	}

	if err := f.c.Replace(ctx(t), f.mapF, []Entry{{"ok", "v"}, {"bad key", "v"}}); !errors.Is(err, ErrInvalid) {
		t.Errorf("Replace(bad key) = %v, want ErrInvalid", err)
	}
	if err := f.c.Replace(ctx(t), "/no/such.map", next); !errors.Is(err, ErrUnknownMap) {
		t.Errorf("Replace(unknown map) = %v, want ErrUnknownMap", err)
	}
}

// TestReplaceLarge replaces a map of 100,000 entries with another one while
// lookups run, and reports the time.
func TestReplaceLarge(t *testing.T) {
	f := start(t)
	const n = 100_000
	gen := func(tag string) []Entry {
		es := make([]Entry, n)
		for i := range es {
			es[i] = Entry{fmt.Sprintf("user%06d@example.com", i), "grp-" + tag + " grp-all"}
		}
		return es
	}
	if err := f.c.Replace(ctx(t), f.mapF, gen("a")); err != nil {
		t.Fatal(err)
	}

	// Lookups during the second Replace see all-a, then all-b. Looking up a
	// key of the first batch and then one of the last, a replacement entry by
	// entry would show b then a (or none); an atomic one never does.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var seen []string
	var lookupErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			first, err1 := f.lookupErr("user000000@example.com")
			last, err2 := f.lookupErr("user099999@example.com")
			if err := errors.Join(err1, err2); err != nil {
				lookupErr = err
				return
			}
			seen = append(seen, first+"|"+last)
		}
	}()
	start := time.Now()
	err := f.c.Replace(ctx(t), f.mapF, gen("b"))
	elapsed := time.Since(start)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if lookupErr != nil {
		t.Fatal(lookupErr)
	}
	t.Logf("Replace of %d entries took %v (%d lookup pairs ran meanwhile)", n, elapsed, len(seen))
	for _, s := range seen {
		switch s {
		case "grp-a grp-all|grp-a grp-all", "grp-a grp-all|grp-b grp-all", "grp-b grp-all|grp-b grp-all":
		default:
			t.Errorf("lookups during Replace saw %q", s)
		}
	}

	maps, err := f.c.Maps(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range maps {
		if m.File == f.mapF && m.Entries != n {
			t.Errorf("map counts %d entries, want %d (old version not dropped)", m.Entries, n)
		}
	}
	if got := f.lookup(t, "user054321@example.com"); got != "grp-b grp-all" {
		t.Errorf("lookup after Replace = %q", got)
	}
}

func TestErrors(t *testing.T) {
	f := start(t)
	tests := []struct {
		name string
		addr string
		run  func(c *Client) error
		want error
	}{
		{"unknown command", f.h.Socket(), func(c *Client) error { _, err := c.Exec(ctx(t), "frobnicate now"); return err }, ErrUnknownCommand},
		{"unknown map", f.h.Socket(), func(c *Client) error { _, err := c.MapEntries(ctx(t), "/no/such.map"); return err }, ErrUnknownMap},
		{"unknown map set", f.h.Socket(), func(c *Client) error { return c.SetEntry(ctx(t), "#99", "k", "v") }, ErrUnknownMap},
		{"operator cannot shut down", "ipv4@127.0.0.1:" + strconv.Itoa(f.h.Port("operator")),
			func(c *Client) error { return c.Shutdown(ctx(t), "0x1") }, ErrPermission},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(tt.addr)
			if err != nil {
				t.Fatal(err)
			}
			err = tt.run(c)
			var he *Error
			if !errors.Is(err, tt.want) || !errors.As(err, &he) {
				t.Fatalf("got %v, want an *Error wrapping %v", err, tt.want)
			}
			t.Logf("HAProxy said: %v", err)
		})
	}

	// The admin TCP socket works like the unix one.
	tcp, err := New("127.0.0.1:" + strconv.Itoa(f.h.Port("admin")))
	if err != nil {
		t.Fatal(err)
	}
	if err := tcp.SetEntry(ctx(t), f.mapF, "viatcp", "yes"); err != nil {
		t.Fatalf("SetEntry over TCP = %v", err)
	}
	if got := f.lookup(t, "viatcp"); got != "yes" {
		t.Errorf("lookup after SetEntry over TCP = %q", got)
	}

	// A request larger than HAProxy's buffer gets no answer to its command,
	// which is an error, not an empty success.
	for _, size := range []int{16500, 20000} {
		c, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err = f.c.exec(c, "add map "+f.mapF, strings.Repeat("k v\n", size/4))
		cancel()
		if err == nil {
			t.Errorf("%d-byte request succeeded, want an error", size)
		}
		t.Logf("%d-byte request: %v", size, err)
	}
}

// TestReplaceCancelledAtCommit: a context that ends while the commit is
// on its way never leaves the live map empty: the commit is seen through,
// and the new version is not cleared after HAProxy made it the live one.
func TestReplaceCancelledAtCommit(t *testing.T) {
	f := start(t)
	old := []Entry{{"alice", "engineering"}, {"bob", "ops admins"}}
	next := []Entry{{"alice", "x"}, {"carol", "y"}}
	for i := range 20 {
		if err := f.c.Replace(ctx(t), f.mapF, old); err != nil {
			t.Fatal(err)
		}
		c, cancel := context.WithCancel(ctx(t))
		f.c.beforeCommit = func(string) { go cancel() }
		err := f.c.Replace(c, f.mapF, next)
		f.c.beforeCommit = nil
		cancel()
		got, gerr := f.c.MapEntries(ctx(t), f.mapF)
		if gerr != nil {
			t.Fatal(gerr)
		}
		if !cmp.Equal(got, old) && !cmp.Equal(got, next) {
			t.Fatalf("try %d: Replace = %v, and the live map holds %v: neither the old content nor the new", i, err, got)
		}
	}
}
