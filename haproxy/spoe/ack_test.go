package spoe

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scimgate/scimgate/authn"
	"github.com/scimgate/scimgate/haproxy/spop"
	"github.com/scimgate/scimgate/internal/gatetest"
)

// recorder is a slog.Handler that keeps the records it is given.
type recorder struct {
	mu      sync.Mutex
	records []slog.Record
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *recorder) WithGroup(string) slog.Handler            { return r }

func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	r.records = append(r.records, rec.Clone())
	r.mu.Unlock()
	return nil
}

// warnings returns the warnings logged so far, each as its message and
// its attributes as text.
func (r *recorder) warnings() []map[string]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []map[string]string
	for _, rec := range r.records {
		if rec.Level != slog.LevelWarn {
			continue
		}
		m := map[string]string{"msg": rec.Message}
		rec.Attrs(func(a slog.Attr) bool {
			m[a.Key] = a.Value.String()
			return true
		})
		out = append(out, m)
	}
	return out
}

// serveAgent serves an agent for f's gate with o and returns its address.
func serveAgent(t *testing.T, f *gatetest.Fixture, o Options) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- New(f.Gate, o).Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return ln.Addr().String()
}

// TestAckFitsFrameSize: an ACK never exceeds the max-frame-size negotiated
// in HELLO, which HAProxy would take for a protocol error and drop the
// connection with every request in flight on it. A user whose identity
// does not fit is refused (status 500, which haproxy.cfg turns into a
// 403 with the reason) and a warning names the user; a refusal whose
// sign-in URL does not fit is sent without it. The connection carries on.
func TestAckFitsFrameSize(t *testing.T) {
	longQuery := "q=" + strings.Repeat("/&", 400) // escapes to three times its size in the sign-in URL
	tests := []struct {
		name       string
		groups     int    // alice's groups besides engineering
		agentSize  int    // Options.MaxFrameSize
		hello      uint32 // HAProxy's max-frame-size
		anonymous  bool   // a browser without credentials, with longQuery
		want       map[string]string
		wantIdent  bool // user, groups and assertion sent
		wantWarned bool
	}{
		{"few groups fit", 5, 4096, 16380, false,
			map[string]string{"allow": "true", "status": "200", "reason": "group-ok", "route": "app"}, true, false},
		{"many groups over the agent's size", 120, 4096, 16380, false,
			map[string]string{"allow": "false", "status": "500", "reason": ReasonIdentityTooLarge, "route": "app"}, false, true},
		{"many groups over HAProxy's size", 60, 16380, 2048, false,
			map[string]string{"allow": "false", "status": "500", "reason": ReasonIdentityTooLarge, "route": "app"}, false, true},
		{"the smallest size", 0, 16380, 256, false,
			map[string]string{"allow": "false", "status": "500", "reason": ReasonIdentityTooLarge, "route": "app"}, false, true},
		{"a sign-in URL over the size", 0, 4096, 1200, true,
			map[string]string{"allow": "false", "status": "401", "reason": "unauthenticated", "route": "app"}, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := gatetest.New(t, agentRoutes)
			f.User("alice")
			f.Group("engineering", "alice")
			for i := range tt.groups {
				f.Group(fmt.Sprintf("engineering-platform-subteam-%03d", i), "alice")
			}
			f.Gate.Auth = authn.New(f.Live, authn.Options{CookieName: "sg"})
			f.Gate.SignIn = func(_ *http.Request, returnTo string) string {
				return "https://gate.test/signin?rd=" + url.QueryEscape(returnTo)
			}
			alice, _ := f.Token("alice", time.Hour)
			log := &recorder{}
			addr := serveAgent(t, f, Options{MaxFrameSize: tt.agentSize, Log: slog.New(log)})
			negotiated := min(tt.agentSize, int(tt.hello))

			p := dial(t, addr)
			p.send(helloFrame("2.0", tt.hello, false))
			if fr, err := p.recv(); err != nil || fr.Type != spop.TypeAgentHello || kv(fr)["max-frame-size"].Uint != uint64(negotiated) {
				t.Fatalf("hello: %+v %v", fr, err)
			}
			args := map[string]string{"method": "GET", "host": "app.test", "path": "/app/x", "authorization": "Bearer " + alice}
			if tt.anonymous {
				args = map[string]string{"method": "GET", "host": "app.test", "path": "/app/x", "query": longQuery, "accept": "text/html"}
			}
			p.send(notifyFrame(7, 1, args))
			fr, err := p.recv()
			if err != nil {
				t.Fatal(err)
			}
			if len(p.buf) > negotiated {
				t.Fatalf("a %d-byte ACK on a connection negotiated at %d bytes", len(p.buf), negotiated)
			}
			if fr.Type != spop.TypeAck || fr.StreamID != 7 || fr.FrameID != 1 {
				t.Fatalf("answer %+v, want the ACK of stream 7 frame 1", fr)
			}
			got := map[string]string{}
			for k, v := range actions(t, fr) {
				switch v.Kind {
				case spop.KindBool:
					got[k] = strconv.FormatBool(v.Bool)
				case spop.KindInt32:
					got[k] = strconv.FormatInt(v.Int, 10)
				default:
					got[k] = v.String()
				}
			}
			for k, want := range tt.want {
				if got[k] != want {
					t.Errorf("%s = %q, want %q (all: %v)", k, got[k], want, got)
				}
			}
			for _, k := range []string{VarUser, VarGroups, VarAssertion} {
				if _, ok := got[k]; ok != tt.wantIdent {
					t.Errorf("%s sent: %v, want %v", k, ok, tt.wantIdent)
				}
			}
			if _, ok := got[VarRedirect]; ok {
				t.Errorf("redirect sent: %q", got[VarRedirect])
			}
			warned := false
			for _, w := range log.warnings() {
				if w["msg"] != "spoe: answer too large for the frame size" {
					continue
				}
				warned = true
				if size, _ := strconv.Atoi(w["size"]); size <= negotiated || w["max_frame_size"] != strconv.Itoa(negotiated) {
					t.Errorf("warning %v: want the answer's size, over %d, and the frame size", w, negotiated)
				}
				if wantUser := map[bool]string{false: "alice", true: ""}[tt.anonymous]; w["user"] != wantUser {
					t.Errorf("warning %v names user %q, want %q", w, w["user"], wantUser)
				}
			}
			if warned != tt.wantWarned {
				t.Errorf("warned %v, want %v: %v", warned, tt.wantWarned, log.warnings())
			}

			// The connection carries on.
			p.send(notifyFrame(8, 1, map[string]string{"method": "GET", "host": "app.test", "path": "/public/x"}))
			if fr, err := p.recv(); err != nil || fr.Type != spop.TypeAck || fr.StreamID != 8 || !actions(t, fr)[VarAllow].Bool {
				t.Errorf("next request on the connection: %+v %v", fr, err)
			}
		})
	}
}
