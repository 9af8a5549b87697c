package spoe

import (
	"bufio"
	"context"
	"encoding/binary"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/scimgate/scimgate/authn"
	"github.com/scimgate/scimgate/directory"
	"github.com/scimgate/scimgate/haproxy/spop"
	"github.com/scimgate/scimgate/internal/gatetest"
	"github.com/scimgate/scimgate/scim/schema"
)

const agentRoutes = `
routes:
  - {name: public, host: app.test, path: /public, allow: {public: true}}
  - {name: app, host: app.test, path: /app, allow: {groups: [engineering]}}
`

// peer speaks SPOP to an agent as HAProxy does.
type peer struct {
	t   *testing.T
	c   net.Conn
	r   *bufio.Reader
	buf []byte
}

func startAgent(t *testing.T) (*gatetest.Fixture, string) {
	t.Helper()
	f := gatetest.New(t, agentRoutes)
	f.User("alice")
	f.User("bob")
	f.Group("engineering", "alice")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.Gate.Auth = authn.New(f.Live, authn.Options{CookieName: "sg"})
	f.Gate.SignIn = func(_ *http.Request, returnTo string) string {
		return "https://gate.test/signin?rd=" + url.QueryEscape(returnTo)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- New(f.Gate, Options{MaxFrameSize: 4096}).Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return f, ln.Addr().String()
}

func dial(t *testing.T, addr string) *peer {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return &peer{t: t, c: c, r: bufio.NewReader(c)}
}

func (p *peer) send(frame []byte) {
	p.t.Helper()
	if _, err := p.c.Write(frame); err != nil {
		p.t.Fatal(err)
	}
}

// recv reads one frame, or returns an error (io.EOF when the agent closed).
func (p *peer) recv() (spop.Frame, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(p.r, hdr[:]); err != nil {
		return spop.Frame{}, err
	}
	p.buf = make([]byte, binary.BigEndian.Uint32(hdr[:]))
	if _, err := io.ReadFull(p.r, p.buf); err != nil {
		return spop.Frame{}, err
	}
	return spop.ParseFrame(p.buf)
}

func kv(f spop.Frame) map[string]spop.Value {
	m := map[string]spop.Value{}
	l := spop.NewKVList(f.Payload)
	for k, v, ok := l.Next(); ok; k, v, ok = l.Next() {
		m[string(k)] = v
	}
	return m
}

func helloFrame(versions string, size uint32, healthcheck bool) []byte {
	b, start := spop.AppendFrameHeader(nil, spop.TypeHAProxyHello, spop.FlagFin, 0, 0)
	if versions != "" {
		b = spop.AppendKVString(b, "supported-versions", versions)
	}
	if size != 0 {
		b = spop.AppendKVUint32(b, "max-frame-size", size)
	}
	b = spop.AppendKVString(b, "capabilities", "pipelining,async")
	if healthcheck {
		b = append(spop.AppendVarint(b, uint64(len("healthcheck"))), "healthcheck"...)
		b = spop.AppendBool(b, true)
	}
	return spop.FinishFrame(b, start)
}

// hugeHello is a HAPROXY-HELLO whose max-frame-size is 2^64-1, as a
// 64-bit unsigned integer.
func hugeHello() []byte {
	b, start := spop.AppendFrameHeader(nil, spop.TypeHAProxyHello, spop.FlagFin, 0, 0)
	b = spop.AppendKVString(b, "supported-versions", "2.0")
	b = append(spop.AppendVarint(b, uint64(len("max-frame-size"))), "max-frame-size"...)
	b = spop.AppendVarint(append(b, byte(spop.KindUint64)), math.MaxUint64)
	b = spop.AppendKVString(b, "capabilities", "pipelining")
	return spop.FinishFrame(b, start)
}

// notifyFrame is a NOTIFY carrying the scimgate message with args.
func notifyFrame(stream, frame uint64, args map[string]string) []byte {
	b, start := spop.AppendFrameHeader(nil, spop.TypeNotify, spop.FlagFin, stream, frame)
	b = append(spop.AppendVarint(b, uint64(len(MessageName))), MessageName...)
	b = append(b, byte(len(args)+2))
	for k, v := range args {
		b = spop.AppendKVString(b, k, v)
	}
	b = append(spop.AppendVarint(b, 3), "src"...)
	b = append(b, byte(spop.KindIPv4), 127, 0, 0, 1)
	b = append(spop.AppendVarint(b, 8), "src_port"...)
	b = spop.AppendVarint(append(b, byte(spop.KindInt32)), 40000)
	return spop.FinishFrame(b, start)
}

// actions decodes an ACK's set-var actions.
func actions(t testing.TB, f spop.Frame) map[string]spop.Value {
	t.Helper()
	m := map[string]spop.Value{}
	b := f.Payload
	for len(b) > 0 {
		if len(b) < 3 || b[0] != spop.ActionSetVar || b[1] != 3 || b[2] != spop.ScopeTransaction {
			t.Fatalf("unexpected action % x", b)
		}
		b = b[3:]
		l, n, err := spop.Varint(b)
		if err != nil {
			t.Fatal(err)
		}
		name := string(b[n : n+int(l)])
		b = b[n+int(l):]
		v, n, err := spop.ReadValue(b)
		if err != nil {
			t.Fatal(err)
		}
		m[name] = v
		b = b[n:]
	}
	return m
}

func TestHello(t *testing.T) {
	_, addr := startAgent(t)
	tests := []struct {
		name       string
		hello      []byte
		wantType   byte
		wantStatus uint64 // AGENT-DISCONNECT
		wantSize   uint64 // AGENT-HELLO
	}{
		{"ok, HAProxy's size larger", helloFrame("2.0", 16380, false), spop.TypeAgentHello, 0, 4096},
		{"ok, HAProxy's size smaller", helloFrame(" 2.0 , 1.0", 1024, false), spop.TypeAgentHello, 0, 1024},
		{"healthcheck", helloFrame("2.0", 16380, true), spop.TypeAgentHello, 0, 4096},
		{"no version", helloFrame("", 16380, false), spop.TypeAgentDisconnect, spop.StatusNoVersion, 0},
		{"version 1 only", helloFrame("1.0", 16380, false), spop.TypeAgentDisconnect, spop.StatusBadVersion, 0},
		{"no frame size", helloFrame("2.0", 0, false), spop.TypeAgentDisconnect, spop.StatusNoFrameSize, 0},
		{"frame size too small", helloFrame("2.0", 100, false), spop.TypeAgentDisconnect, spop.StatusBadFrameSize, 0},
		{"not a hello", notifyFrame(1, 1, nil), spop.TypeAgentDisconnect, spop.StatusInvalid, 0},
		// A size past int64: ours, not a negative one that refuses every frame.
		{"huge frame size", hugeHello(), spop.TypeAgentHello, 0, 4096},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := dial(t, addr)
			p.send(tt.hello)
			f, err := p.recv()
			if err != nil {
				t.Fatal(err)
			}
			m := kv(f)
			if f.Type != tt.wantType {
				t.Fatalf("answer type %d %v, want %d", f.Type, m, tt.wantType)
			}
			if tt.wantType == spop.TypeAgentHello {
				if m["version"].String() != "2.0" || m["max-frame-size"].Uint != tt.wantSize || m["capabilities"].String() != "pipelining" {
					t.Errorf("AGENT-HELLO %v", m)
				}
			} else if m["status-code"].Uint != tt.wantStatus || m["message"].String() == "" {
				t.Errorf("AGENT-DISCONNECT status %d %q, want %d and a message", m["status-code"].Uint, m["message"].String(), tt.wantStatus)
			}
			if tt.wantType == spop.TypeAgentDisconnect || strings.Contains(tt.name, "healthcheck") {
				if _, err := p.recv(); err != io.EOF {
					t.Errorf("after %s the connection is not closed: %v", tt.name, err)
				}
			}
		})
	}
}

func connected(t *testing.T, addr string) *peer {
	p := dial(t, addr)
	p.send(helloFrame("2.0", 16380, false))
	if f, err := p.recv(); err != nil || f.Type != spop.TypeAgentHello {
		t.Fatalf("hello: %+v %v", f, err)
	}
	return p
}

func TestNotify(t *testing.T) {
	f, addr := startAgent(t)
	alice, _ := f.Token("alice", time.Hour)
	bob, _ := f.Token("bob", time.Hour)
	session, _, err := f.Dir.CreateSession(f.Ctx, directory.NewSession{TenantID: f.Acme.TenantID, UserID: f.ID("alice"), Lifetime: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args map[string]string
		want map[string]string // variables, as text
	}{
		{"alice allowed", map[string]string{"method": "GET", "host": "app.test", "path": "/app/x", "authorization": "Bearer " + alice},
			map[string]string{"allow": "true", "status": "200", "reason": "group-ok", "route": "app", "user": "alice", "email": "alice",
				"groups": "engineering", "strip_auth": "true"}},
		{"bob refused", map[string]string{"method": "GET", "host": "App.Test:80", "path": "/app/x", "authorization": "Bearer " + bob},
			map[string]string{"allow": "false", "status": "403", "reason": "not-allowed", "route": "app"}},
		{"no credentials", map[string]string{"method": "GET", "host": "app.test", "path": "/app/x"},
			map[string]string{"allow": "false", "status": "401", "reason": "unauthenticated", "route": "app"}},
		{"public", map[string]string{"method": "GET", "host": "app.test", "path": "/public/x"},
			map[string]string{"allow": "true", "status": "200", "reason": "public", "route": "public"}},
		{"no route", map[string]string{"method": "GET", "host": "other.test", "path": "/"},
			map[string]string{"allow": "false", "status": "403", "reason": "no-route"}},
		{"ambiguous path", map[string]string{"method": "GET", "host": "app.test", "path": "/app%2f..%2fx", "authorization": "Bearer " + alice},
			map[string]string{"allow": "false", "status": "400", "reason": "bad-path"}},
		{"a comma in Host", map[string]string{"method": "GET", "host": "admin.test,app.test", "path": "/app/x", "authorization": "Bearer " + alice},
			map[string]string{"allow": "false", "status": "400", "reason": "bad-host"}},
		// HAProxy forwards the path as the client wrote it.
		{"dot segments", map[string]string{"method": "GET", "host": "app.test", "path": "/public/../app/x", "authorization": "Bearer " + alice},
			map[string]string{"allow": "false", "status": "400", "reason": "bad-path"}},
		{"a fragment in the request line", map[string]string{"method": "GET", "host": "app.test", "path": "/public/x#frag"},
			map[string]string{"allow": "false", "status": "400", "reason": "bad-path"}},
		{"no Host, where routes name hosts", map[string]string{"method": "GET", "host": "", "path": "/public/x"},
			map[string]string{"allow": "false", "status": "400", "reason": "bad-host"}},
		{"bad token", map[string]string{"method": "GET", "host": "app.test", "path": "/app/x", "authorization": "Bearer sga_nope"},
			map[string]string{"allow": "false", "status": "401", "reason": "token-invalid", "route": "app"}},
		{"session", map[string]string{"method": "GET", "host": "app.test", "path": "/app/x", "cookie": "a=1; sg=" + session + "; b=2"},
			map[string]string{"allow": "true", "status": "200", "reason": "group-ok", "route": "app", "user": "alice", "email": "alice",
				"groups": "engineering", "cookie": "a=1; b=2"}},
		{"token and session", map[string]string{"method": "GET", "host": "app.test", "path": "/app/x", "authorization": "Bearer " + alice, "cookie": "sg=" + session},
			map[string]string{"allow": "true", "status": "200", "reason": "group-ok", "route": "app", "user": "alice", "email": "alice",
				"groups": "engineering", "cookie": "", "strip_auth": "true"}},
		{"forged session", map[string]string{"method": "GET", "host": "app.test", "path": "/app/x", "cookie": "sg=0123456789abcdef.forged"},
			map[string]string{"allow": "false", "status": "401", "reason": "session-invalid", "route": "app"}},
		{"sign-in for browsers", map[string]string{"method": "GET", "host": "app.test", "path": "/app/x", "query": "a=1", "accept": "text/html,*/*"},
			map[string]string{"allow": "false", "status": "401", "reason": "unauthenticated", "route": "app",
				"redirect": "https://gate.test/signin?rd=http%3A%2F%2Fapp.test%2Fapp%2Fx%3Fa%3D1"}},
	}
	p := connected(t, addr)
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p.send(notifyFrame(uint64(100+i), 1, tt.args))
			fr, err := p.recv()
			if err != nil {
				t.Fatal(err)
			}
			if fr.Type != spop.TypeAck || fr.StreamID != uint64(100+i) || fr.FrameID != 1 {
				t.Fatalf("answer %+v, want the ACK of stream %d frame 1", fr, 100+i)
			}
			got := map[string]string{}
			for k, v := range actions(t, fr) {
				switch v.Kind {
				case spop.KindBool:
					got[k] = map[bool]string{true: "true", false: "false"}[v.Bool]
				case spop.KindInt32:
					got[k] = strconv.FormatInt(v.Int, 10)
				default:
					got[k] = v.String()
				}
			}
			assertion := got["assertion"]
			delete(got, "assertion")
			if len(got) != len(tt.want) {
				t.Errorf("variables %v, want %v", got, tt.want)
			}
			for k, want := range tt.want {
				if got[k] != want {
					t.Errorf("%s = %q, want %q (all: %v)", k, got[k], want, got)
				}
			}
			if (tt.want["user"] != "") != (strings.Count(assertion, ".") == 2) {
				t.Errorf("assertion %q for %v", assertion, tt.want)
			}
		})
	}
	// Deactivation is seen by the very next NOTIFY.
	f.Patch(schema.UserType, "alice", `[{"op":"replace","path":"active","value":false}]`)
	p.send(notifyFrame(200, 1, tests[0].args))
	fr, err := p.recv()
	if err != nil {
		t.Fatal(err)
	}
	if a := actions(t, fr); a["allow"].Bool || a["reason"].String() != "user-inactive" {
		t.Errorf("alice after deactivation: %v", a)
	}
}

// TestPipelining: NOTIFYs sent back to back are all acknowledged, each
// with its own stream and frame ids.
func TestPipelining(t *testing.T) {
	f, addr := startAgent(t)
	alice, _ := f.Token("alice", time.Hour)
	p := connected(t, addr)
	var batch []byte
	const n = 200
	for i := range n {
		batch = append(batch, notifyFrame(uint64(i), uint64(i%7), map[string]string{
			"method": "GET", "host": "app.test", "path": "/app/x", "authorization": "Bearer " + alice})...)
	}
	p.send(batch)
	seen := map[uint64]bool{}
	for range n {
		fr, err := p.recv()
		if err != nil {
			t.Fatal(err)
		}
		if fr.Type != spop.TypeAck || fr.FrameID != fr.StreamID%7 || seen[fr.StreamID] || !actions(t, fr)["allow"].Bool {
			t.Fatalf("ACK %+v", fr)
		}
		seen[fr.StreamID] = true
	}
}

func TestProtocolErrors(t *testing.T) {
	_, addr := startAgent(t)
	fragment, start := spop.AppendFrameHeader(nil, spop.TypeNotify, 0, 1, 1)
	fragment = spop.FinishFrame(fragment, start)
	big := make([]byte, 4+5000)
	binary.BigEndian.PutUint32(big, 5000)
	garbled, start := spop.AppendFrameHeader(nil, spop.TypeNotify, spop.FlagFin, 1, 1)
	garbled = spop.FinishFrame(append(garbled, 8, 's', 'c', 'i', 'm', 'g', 'a', 't', 'e', 1, 200), start)
	disc, start := spop.AppendFrameHeader(nil, spop.TypeHAProxyDisconnect, spop.FlagFin, 0, 0)
	disc = spop.AppendKVUint32(disc, "status-code", 0)
	disc = spop.FinishFrame(spop.AppendKVString(disc, "message", "bye"), start)
	tests := []struct {
		name   string
		frame  []byte
		status uint64
	}{
		{"fragmented", fragment, spop.StatusFragmentation},
		{"too big", big, spop.StatusTooBig},
		{"garbled", garbled, spop.StatusInvalid},
		{"haproxy disconnects", disc, spop.StatusNormal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := connected(t, addr)
			p.send(tt.frame)
			fr, err := p.recv()
			if err != nil {
				t.Fatal(err)
			}
			if m := kv(fr); fr.Type != spop.TypeAgentDisconnect || m["status-code"].Uint != tt.status {
				t.Errorf("answer type %d %v, want AGENT-DISCONNECT %d", fr.Type, m, tt.status)
			}
			if _, err := p.recv(); err != io.EOF {
				t.Errorf("connection not closed: %v", err)
			}
		})
	}
	// An unknown frame type is skipped.
	p := connected(t, addr)
	unknown, start := spop.AppendFrameHeader(nil, 42, spop.FlagFin, 0, 0)
	p.send(spop.FinishFrame(unknown, start))
	p.send(notifyFrame(5, 1, map[string]string{"method": "GET", "host": "app.test", "path": "/public/"}))
	if fr, err := p.recv(); err != nil || fr.Type != spop.TypeAck || fr.StreamID != 5 {
		t.Errorf("after an unknown frame: %+v %v", fr, err)
	}
}
