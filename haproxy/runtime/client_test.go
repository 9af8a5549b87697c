package runtime

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestNew(t *testing.T) {
	tests := []struct {
		addr             string
		network, address string // empty: New must fail
	}{
		{"/run/haproxy/admin.sock", "unix", "/run/haproxy/admin.sock"},
		{"unix:/run/haproxy/admin.sock", "unix", "/run/haproxy/admin.sock"},
		{"unix@/tmp/s", "unix", "/tmp/s"},
		{"./admin.sock", "unix", "./admin.sock"},
		{"127.0.0.1:9999", "tcp", "127.0.0.1:9999"},
		{"localhost:9999", "tcp", "localhost:9999"},
		{"[::1]:9999", "tcp", "[::1]:9999"},
		{"ipv4@127.0.0.1:9999", "tcp4", "127.0.0.1:9999"},
		{"ipv6@::1:9999", "tcp6", "[::1]:9999"},
		{"ipv6@[::1]:9999", "tcp6", "[::1]:9999"},
		{"tcp@127.0.0.1:9999", "tcp", "127.0.0.1:9999"},
		{"", "", ""},
		{"unix:", "", ""},
		{"admin.sock", "", ""},
		{"127.0.0.1", "", ""},
		{"127.0.0.1:0", "", ""},
		{"127.0.0.1:65536", "", ""},
		{"127.0.0.1:http", "", ""},
		{":9999", "", ""},
		{"abns@haproxy:9999", "", ""},
		{"fe80::1::2:99", "", ""},
		{"/run/haproxy/admin sock", "", ""},
	}
	for _, tt := range tests {
		c, err := New(tt.addr)
		if tt.network == "" {
			if err == nil {
				t.Errorf("New(%q) = %s, want an error", tt.addr, c)
			}
			continue
		}
		if err != nil {
			t.Errorf("New(%q) error: %v", tt.addr, err)
			continue
		}
		if c.network != tt.network || c.address != tt.address {
			t.Errorf("New(%q) = %s:%s, want %s:%s", tt.addr, c.network, c.address, tt.network, tt.address)
		}
	}
}

// The answers below are HAProxy 2.6.12's, as received after the
// "set severity-output number;" prefix (hence the leading empty line).
func TestInterpret(t *testing.T) {
	tests := []struct {
		name, raw string
		want      string // output when no error
		kind      error  // wanted sentinel; nil with wantErr for an untyped error
		wantErr   bool
	}{
		{"success, no output", "\n\n", "", nil, false},
		{"add map payload", "\n\n", "", nil, false},
		{"prepare map", "\n[6]: New version created: 1\n\n", "New version created: 1", nil, false},
		{"show map", "\n0x55d6d952a780 alice group1\n0x55d6d952a7d0 k4 \n\n", "0x55d6d952a780 alice group1\n0x55d6d952a7d0 k4 ", nil, false},
		{"unknown map", "\n[3]: Unknown map identifier. Please use #<id> or <file>.\n\n", "", ErrUnknownMap, true},
		{"set map missing key", "\n[3]: entry not found.\n\n", "", ErrNotFound, true},
		{"del map missing key", "\n[3]: Key not found.\n\n", "", ErrNotFound, true},
		{"shutdown gone session", "\n[3]: No such session (use 'show sess').\n\n", "", ErrNoSession, true},
		{"show sess gone session", "\nSession not found.\n\n", "", ErrNoSession, true},
		{"permission", "\n[3]: Permission denied\n\n", "", ErrPermission, true},
		{"permission untagged", "\nPermission denied\n\n", "", ErrPermission, true},
		{"unknown command", "\n[6]: Unknown command, but maybe one of the following ones is a better match:\n  show fd [num]   : dump\n\n", "", ErrUnknownCommand, true},
		{"missing version", "\n[3]: Missing version number.\n\n", "", nil, true},
		{"version range", "\n[3]: Version number out of range.\n\n", "", nil, true},
		{"bad int", "\n[3]: unable to parse 'x'.\n\n", "", nil, true},
		{"args", "\n[3]: 'set map' expects three parameters: map identifier, key and value.\n\n", "", nil, true},
		{"no session prefix", "\n[3]: Session pointer expected (use 'show sess').\n\n", "", nil, true},
		{"warning is not an error", "\n[4]: something odd\n\n", "something odd", nil, false},
		{"bracket text is output", "\n[abc]: x\n\n", "[abc]: x", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := interpret("some command here", tt.raw)
			if tt.wantErr {
				var e *Error
				if !errors.As(err, &e) {
					t.Fatalf("interpret(%q) = %q, %v; want an *Error", tt.raw, got, err)
				}
				if tt.kind != nil && !errors.Is(err, tt.kind) {
					t.Errorf("interpret(%q) error %v, want it to wrap %v", tt.raw, err, tt.kind)
				}
				if tt.kind == nil && e.kind != nil {
					t.Errorf("interpret(%q) error wraps %v, want no sentinel", tt.raw, e.kind)
				}
				if strings.HasPrefix(e.Message, "[") || strings.HasSuffix(e.Message, "\n") {
					t.Errorf("interpret(%q) message %q keeps the tag or newline", tt.raw, e.Message)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("interpret(%q) = %q, %v; want %q, nil", tt.raw, got, err, tt.want)
			}
		})
	}
}

func TestEscape(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain", "plain"},
		{"a b", `a\ b`},
		{"a;b", `a\;b`},
		{`a\b`, `a\\b`},
		{"<<", `\<\<`},
		{"#1", "#1"},
		{"héllo", "héllo"},
	}
	for _, tt := range tests {
		if got := escape(tt.in); got != tt.want {
			t.Errorf("escape(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestValidEntry(t *testing.T) {
	tests := []struct {
		key, value string
		ok         bool
	}{
		{"alice", "engineering", true},
		{"alice", "eng ops  admins ", true},
		{"alice", "", true},
		{"a;b\\c<<", "x;y\\z <<", true},
		{"josé@example.com", "équipe", true},
		{"", "v", false},
		{"a b", "v", false},
		{"a\tb", "v", false},
		{"a\nb", "v", false},
		{"a\u00a0b", "v", false}, // no-break space
		{"a\x7fb", "v", false},
		{"#12", "v", false},
		{"k", "v\nw", false},
		{"k", "v\rw", false},
		{"k", "v\tw", false},
		{"k", "v\x00", false},
		{"k", "\u0085", false}, // NEL, a C1 control
		{"k", " lead", false},
	}
	for _, tt := range tests {
		err := validEntry(Entry{tt.key, tt.value})
		if (err == nil) != tt.ok {
			t.Errorf("validEntry(%q, %q) = %v, want ok=%v", tt.key, tt.value, err, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("validEntry(%q, %q) = %v, want ErrInvalid", tt.key, tt.value, err)
		}
	}
}

// A socket that accepts and never answers must not hang a call past its
// context.
func TestExecDeadline(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mute.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	c, err := New(path)
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = c.Exec(ctx, "show info")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Exec on a mute socket = %v, want context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Exec took %v past a 100ms deadline", d)
	}

	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	_, err = c.Exec(ctx, "show info")
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Exec cancelled = %v, want context.Canceled", err)
	}

	if _, err := c.Exec(context.Background(), "show info\nshow sess"); !errors.Is(err, ErrInvalid) {
		t.Errorf("Exec with a line break = %v, want ErrInvalid", err)
	}
}

func TestDescribe(t *testing.T) {
	tests := []struct{ in, want string }{
		{"show map", "show map"},
		{"set map /etc/g.map alice eng", "set map /etc/g.map"},
		{"add map @12 /etc/g.map", "add map /etc/g.map"},
		{"shutdown session 0x1", "shutdown session 0x1"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := describe(tt.in); got != tt.want {
			t.Errorf("describe(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
