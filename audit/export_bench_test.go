package audit_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/scimgate/scimgate/audit"
	"github.com/scimgate/scimgate/store"
	"github.com/scimgate/scimgate/store/sqlite"
)

// countingSink counts the records it is sent and checks their order.
type countingSink struct {
	n    int
	last int64
	err  error
}

func (s *countingSink) Send(_ context.Context, recs []audit.ExportRecord) error {
	for _, r := range recs {
		if r.Entry.Seq != s.last+1 && s.err == nil {
			s.err = fmt.Errorf("seq %d after %d", r.Entry.Seq, s.last)
		}
		s.last = r.Entry.Seq
	}
	s.n += len(recs)
	return nil
}
func (s *countingSink) Close() error { return nil }

// BenchmarkExportDecisions drains a backlog of decisions stored as the
// recorder stores them (batches of 1024) to a sink that only counts, with
// the default batch_size, and reports the rate.
func BenchmarkExportDecisions(b *testing.B) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "s.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	const total, batch = 100 * 1024, 1024
	for i := 0; i < total; i += batch {
		ds := make([]store.Decision, batch)
		for j := range ds {
			ds[j] = store.Decision{At: exT0.Add(time.Duration(i+j) * time.Millisecond), TenantID: 1, UserID: "u1", UserName: "user1@example.com",
				Route: "app", Method: "GET", Host: "app.example.com", Path: fmt.Sprintf("/app/%d", i+j), Allow: true, Reason: "group-ok",
				Adapter: "proxy", Remote: "192.0.2.7:4444"}
		}
		if err := st.Update(ctx, func(tx store.Tx) error { return tx.AppendDecisions(ctx, ds) }); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for i := range b.N {
		sink := &countingSink{}
		x := audit.NewExporter(st, audit.ExportOptions{Name: fmt.Sprintf("bench%d", i), Sink: sink, Streams: []string{store.StreamDecisions},
			BatchSize: 500})
		for sink.n < total {
			if _, err := x.Step(ctx); err != nil {
				b.Fatal(err)
			}
		}
		if sink.err != nil || sink.n != total {
			b.Fatalf("exported %d of %d: %v", sink.n, total, sink.err)
		}
	}
	b.ReportMetric(float64(b.N*total)/b.Elapsed().Seconds(), "decisions/s")
}
