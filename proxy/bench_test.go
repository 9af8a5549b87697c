package proxy

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/scimgate/scimgate/admin"
	"github.com/scimgate/scimgate/gateway"
	"github.com/scimgate/scimgate/internal/gatetest"
	"github.com/scimgate/scimgate/internal/logbuf"
	"github.com/scimgate/scimgate/internal/logfmt"
)

// cannedTransport answers every request with a 200-byte body without
// touching the network, after writing the request's headers as a real
// transport would: what is left to measure is the proxies' own work.
type cannedTransport struct{}

var cannedBody = strings.Repeat("x", 200)

func (cannedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	_ = r.Header.Write(io.Discard)
	return &http.Response{
		StatusCode:    200,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        http.Header{"Content-Type": {"text/plain"}, "Content-Length": {"200"}},
		Body:          io.NopCloser(strings.NewReader(cannedBody)),
		ContentLength: 200,
		Request:       r,
	}, nil
}

// processCPU is the CPU time the process used so far.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// discardWriter is a ResponseWriter that keeps nothing.
type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *discardWriter) WriteHeader(int)             {}

// BenchmarkServeHTTP compares the built-in proxy, deciding an allowed
// request with an access token, with a bare httputil.ReverseProxy over the
// same transport: the difference is the gate's cost per request.
//
//	go test ./proxy -run '^$' -bench ServeHTTP -benchmem
func BenchmarkServeHTTP(b *testing.B) {
	const upstream = "http://upstream.test"
	f := gatetest.New(b, `
routes:
  - {name: app, host: app.test, path: /app, upstream: "`+upstream+`", allow: {groups: [staff]}}
`)
	f.User("alice")
	f.Group("engineers", "alice")
	f.Group("staff", "group:engineers")
	token, _ := f.Token("alice", time.Hour)
	// As serve wires it: metrics, and a logger at warn (no access log).
	f.Gate.Streams = gateway.NewStreams(nil)
	f.Gate.Metrics = admin.NewMetrics(f.Live, f.Gate.Streams)
	f.Gate.Log = slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if err := f.Live.Sync(context.Background()); err != nil {
		b.Fatal(err)
	}
	u, _ := url.Parse(upstream)
	bare := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(u)
			pr.SetXForwarded()
		},
		Transport: cannedTransport{},
		// Reuse copy buffers as the built-in proxy does: their
		// allocation (32 KiB a request) would otherwise dominate.
		BufferPool: &bufferPool{},
	}
	gate := New(f.Gate, nil)
	gate.transport = cannedTransport{}
	// The same gate at serve's default level (info): a text line per
	// decision, into a logbuf as serve writes it.
	infoGate := *f.Gate
	infoGate.Log = slog.New(logfmt.NewText(logbuf.New(io.Discard, 100*time.Millisecond, 64<<10), nil))
	gateInfo := New(&infoGate, nil)
	gateInfo.transport = cannedTransport{}

	for _, tt := range []struct {
		name string
		h    http.Handler
	}{
		{"bare", bare},
		{"gate", gate},
		{"gate-info", gateInfo},
	} {
		b.Run(tt.name, func(b *testing.B) {
			r := httptest.NewRequest("GET", "http://app.test/app/x", nil)
			r.RemoteAddr = "127.0.0.1:40000"
			r.Header.Set("Authorization", "Bearer "+token)
			r.Header.Set("User-Agent", "wrk")
			w := &discardWriter{h: http.Header{}}
			tt.h.ServeHTTP(w, r)
			if got := w.h.Get("Content-Length"); got != "200" {
				b.Fatalf("answer headers %v, want a 200-byte body", w.h)
			}
			b.ReportAllocs()
			cpu0 := processCPU(b)
			for b.Loop() {
				clear(w.h)
				tt.h.ServeHTTP(w, r)
			}
			// Wall time suffers from whatever else runs on the machine;
			// the process's CPU time (the garbage collector's included)
			// much less.
			b.ReportMetric(float64(processCPU(b)-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}
