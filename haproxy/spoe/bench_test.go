package spoe

import (
	"context"
	"testing"
	"time"

	"github.com/scimgate/scimgate/authn"
	"github.com/scimgate/scimgate/haproxy/spop"
	"github.com/scimgate/scimgate/internal/gatetest"
)

// BenchmarkNotify is the agent's work for one request, from the NOTIFY
// frame HAProxy sends to the ACK it gets: decode, decide, identify,
// encode. The socket I/O around it is not included.
func BenchmarkNotify(b *testing.B) {
	f := gatetest.New(b, agentRoutes)
	f.User("alice")
	f.Group("engineering", "alice")
	f.Gate.Auth = authn.New(f.Live, authn.Options{CookieName: "sg"})
	secret, _ := f.Token("alice", time.Hour)
	a := New(f.Gate, Options{})
	raw := notifyFrame(1, 1, map[string]string{
		"method": "GET", "host": "app.test", "path": "/app/x", "query": "a=1",
		"authorization": "Bearer " + secret, "cookie": "theme=dark", "accept": "*/*",
	})
	fr, err := spop.ParseFrame(raw[4:])
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	out, err := a.notify(ctx, nil, fr, 16380)
	if err != nil {
		b.Fatal(err)
	}
	ack, err := spop.ParseFrame(out[4:])
	if err != nil {
		b.Fatal(err)
	}
	if v := actions(b, ack)["allow"]; !v.Bool {
		b.Fatalf("alice is not allowed: %v", actions(b, ack))
	}
	b.ReportAllocs()
	for b.Loop() {
		out, _ = a.notify(ctx, out[:0], fr, 16380)
	}
}
