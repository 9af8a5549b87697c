package audit_test

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/scimgate/scimgate/audit"
	"github.com/scimgate/scimgate/engine"
	"github.com/scimgate/scimgate/store/sqlite"
)

// dropCounter counts what a Recorder drops.
type dropCounter struct{ n atomic.Int64 }

func (*dropCounter) Recorded()                 {}
func (*dropCounter) Written(int)               {}
func (c *dropCounter) Dropped(_ string, n int) { c.n.Add(int64(n)) }

// BenchmarkRecorder is the whole cost of recording an allowed decision
// into a SQLite store: Record on the request path, from both cores, and
// the writer's batches, all written before the timer stops.
//
//	go test ./audit -run '^$' -bench Recorder -benchtime 500000x
func BenchmarkRecorder(b *testing.B) {
	st, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "scimgate.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	drops := &dropCounter{}
	r := audit.NewRecorder(st, audit.RecorderOptions{Buffer: 1 << 20, Metrics: drops})
	p := engine.Principal{TokenID: "0123456789abcdef"}
	req := engine.Request{Method: "GET", Host: "app.test", Path: "/app/x"}
	d := engine.Decision{Allow: true, User: alice, Route: appRoute, Reason: "group-ok"}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r.Record("proxy", "127.0.0.1:54321", p, req, d)
		}
	})
	r.Close()
	b.StopTimer()
	if n := drops.n.Load(); n > 0 {
		b.Fatalf("%d decisions dropped", n)
	}
}

// processCPU is the CPU time the process used so far, every goroutine's.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkRecorderCPU is what recording costs a gateway under load: one
// Record per "request" of 30 µs of busy work, the writer's batches
// included, as process CPU per request. The difference between allows=all
// and allows=none is the cost of recording an allowed decision. Run it on
// one core to see the writer share that core with the requests:
//
//	taskset -c 1 go test ./audit -run '^$' -bench RecorderCPU -benchtime 100000x
func BenchmarkRecorderCPU(b *testing.B) {
	for _, allows := range []string{audit.AllowsNone, audit.AllowsAll} {
		b.Run(allows, func(b *testing.B) {
			st, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "scimgate.db"))
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			drops := &dropCounter{}
			r := audit.NewRecorder(st, audit.RecorderOptions{Allows: allows, Metrics: drops})
			p := engine.Principal{TokenID: "0123456789abcdef"}
			req := engine.Request{Method: "GET", Host: "app.test", Path: "/app/x"}
			d := engine.Decision{Allow: true, User: alice, Route: appRoute, Reason: "group-ok"}
			cpu0 := processCPU(b)
			for b.Loop() {
				r.Record("proxy", "127.0.0.1:54321", p, req, d)
				for end := time.Now().Add(30 * time.Microsecond); time.Now().Before(end); {
				}
			}
			r.Close()
			b.ReportMetric(float64(processCPU(b)-cpu0)/float64(b.N), "cpu-ns/op")
			if n := drops.n.Load(); n > 0 {
				b.Fatalf("%d decisions dropped", n)
			}
		})
	}
}
