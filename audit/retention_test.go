package audit_test

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/scimgate/scimgate/audit"
	"github.com/scimgate/scimgate/config"
	"github.com/scimgate/scimgate/store"
	"github.com/scimgate/scimgate/store/sqlite"
	"github.com/scimgate/scimgate/store/sqlite/sqlitetest"
)

type exRetentionCounts struct {
	mu      sync.Mutex
	pruned  int
	overdue time.Duration
}

func (c *exRetentionCounts) Pruned(n int)            { c.mu.Lock(); c.pruned += n; c.mu.Unlock() }
func (c *exRetentionCounts) Overdue(d time.Duration) { c.mu.Lock(); c.overdue = d; c.mu.Unlock() }

func exSetCursor(t testing.TB, st store.Store, sink string, seq int64) {
	t.Helper()
	ctx := context.Background()
	if err := st.Update(ctx, func(tx store.Tx) error { return tx.SetExportCursor(ctx, sink, store.StreamDecisions, seq) }); err != nil {
		t.Fatal(err)
	}
}

func exDecisionSeqs(t testing.TB, st store.Store) []int64 {
	t.Helper()
	var seqs []int64
	err := st.View(context.Background(), func(tx store.ReadTx) error {
		ds, err := tx.Decisions(context.Background(), 0, 1000)
		for _, d := range ds {
			seqs = append(seqs, d.Seq)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return seqs
}

func exSeqRange(from, to int64) []int64 {
	var out []int64
	for i := from; i <= to; i++ {
		out = append(out, i)
	}
	return out
}

// exMustVerify fails the test unless the trail verifies.
func exMustVerify(t testing.TB, st audit.Viewer) audit.Report {
	t.Helper()
	rep, err := audit.Verify(context.Background(), st, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK {
		t.Fatalf("verify after pruning: %v", rep.Findings)
	}
	return rep
}

func exDecisionReport(rep audit.Report) audit.StreamReport {
	for _, s := range rep.Streams {
		if s.Stream == store.StreamDecisions {
			return s
		}
	}
	return audit.StreamReport{}
}

// TestRetention: decisions are deleted once they are older than the
// retention period and every sink exporting decisions has delivered
// them, from the head only; the trail still verifies after each pruning,
// and after new decisions are appended.
func TestRetention(t *testing.T) {
	st := exportStore(t, filepath.Join(t.TempDir(), "db"), 20) // decisions 1-20 at exT0 + 0..19 minutes
	now := exT0.Add(24*time.Hour + 15*time.Minute)             // decisions 1-15 are older than a day
	var logs bytes.Buffer
	m := &exRetentionCounts{}
	r := audit.NewRetention(st, audit.RetentionOptions{MaxAge: 24 * time.Hour, Sinks: []string{"siem", "file"}, Batch: 4,
		Metrics: m, Now: func() time.Time { return now }, Log: slog.New(slog.NewTextHandler(&logs, nil))})
	ctx := context.Background()

	// A sink that has exported nothing holds everything back.
	exSetCursor(t, st, "file", 20)
	if n, err := r.Prune(ctx); err != nil || n != 0 {
		t.Errorf("Prune with a sink that exported nothing = %d, %v; want 0", n, err)
	}
	if !strings.Contains(logs.String(), "audit retention held back") || !strings.Contains(logs.String(), "sinks=[siem]") {
		t.Errorf("no held-back log naming the sink:\n%s", logs.String())
	}

	exSetCursor(t, st, "siem", 10)
	if n, err := r.Prune(ctx); err != nil || n != 10 {
		t.Errorf("Prune with siem at seq 10 = %d, %v; want 10", n, err)
	}
	if got := exDecisionSeqs(t, st); !cmp.Equal(got, exSeqRange(11, 20)) {
		t.Errorf("decisions left: %v, want 11-20", got)
	}
	if m.overdue != 5*time.Minute {
		t.Errorf("overdue %s, want 5m (decision 11 is 5 minutes past the period)", m.overdue)
	}
	rep := exDecisionReport(exMustVerify(t, st))
	if rep.FirstSeq != 11 || rep.HeadSeq != 20 || rep.Records != 10 {
		t.Errorf("verify: decisions %d-%d, %d records; want 11-20, 10", rep.FirstSeq, rep.HeadSeq, rep.Records)
	}

	exSetCursor(t, st, "siem", 20)
	logs.Reset()
	if n, err := r.Prune(ctx); err != nil || n != 5 {
		t.Errorf("Prune with every sink done = %d, %v; want 5 (the young ones stay)", n, err)
	}
	if got := exDecisionSeqs(t, st); !cmp.Equal(got, exSeqRange(16, 20)) {
		t.Errorf("decisions left: %v, want 16-20", got)
	}
	if m.overdue != 0 || m.pruned != 15 || strings.Contains(logs.String(), "held back") {
		t.Errorf("overdue %s, pruned %d, logs %q; want 0, 15, none held back", m.overdue, m.pruned, logs.String())
	}
	// Directory changes and policy versions are never pruned.
	rep2 := exMustVerify(t, st)
	for _, s := range rep2.Streams {
		if s.Stream != store.StreamDecisions && (s.FirstSeq != 1 || s.Records != 20) {
			t.Errorf("%s: seqs from %d, %d records; want all 20 kept", s.Stream, s.FirstSeq, s.Records)
		}
	}
	exAppend(t, st, 20, 22)
	if rep := exDecisionReport(exMustVerify(t, st)); rep.FirstSeq != 16 || rep.HeadSeq != 22 {
		t.Errorf("verify after appending: decisions %d-%d, want 16-22", rep.FirstSeq, rep.HeadSeq)
	}
}

// TestRetentionKeepsLast: without sinks, age alone decides, and the
// newest decision stays even when it is old: the next one chains to it.
func TestRetentionKeepsLast(t *testing.T) {
	st := exportStore(t, filepath.Join(t.TempDir(), "db"), 7)
	r := audit.NewRetention(st, audit.RetentionOptions{MaxAge: time.Hour, Batch: 2, Now: func() time.Time { return exT0.AddDate(1, 0, 0) }})
	if n, err := r.Prune(context.Background()); err != nil || n != 6 {
		t.Errorf("Prune = %d, %v; want 6", n, err)
	}
	if got := exDecisionSeqs(t, st); !cmp.Equal(got, []int64{7}) {
		t.Errorf("decisions left: %v, want [7]", got)
	}
	exAppend(t, st, 7, 8)
	exMustVerify(t, st)
	if n, err := audit.NewRetention(st, audit.RetentionOptions{}).Prune(context.Background()); err != nil || n != 0 {
		t.Errorf("Prune without a period = %d, %v; want 0", n, err)
	}
}

// TestRetentionRun: Run prunes at once and then every interval.
func TestRetentionRun(t *testing.T) {
	st := exportStore(t, filepath.Join(t.TempDir(), "db"), 3)
	var mu sync.Mutex
	now := exT0
	r := audit.NewRetention(st, audit.RetentionOptions{MaxAge: time.Hour, Interval: 10 * time.Millisecond,
		Now: func() time.Time { mu.Lock(); defer mu.Unlock(); return now }})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	time.Sleep(30 * time.Millisecond)
	if got := exDecisionSeqs(t, st); len(got) != 3 {
		t.Errorf("young decisions pruned: %v left", got)
	}
	mu.Lock()
	now = exT0.Add(2 * time.Hour)
	mu.Unlock()
	exWaitFor(t, 10*time.Second, "pruning", func() bool { return len(exDecisionSeqs(t, st)) == 1 })
}

// exSQL alters the database behind the store's back, as someone with
// write access to the file could, and reopens the store.
func exSQL(t testing.TB, st **sqlite.Store, path string, stmts ...string) {
	t.Helper()
	(*st).Close()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	if err := sqlitetest.Exec(db, stmts...); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if *st, err = sqlite.Open(context.Background(), path); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { (*st).Close() })
}

// TestRetentionTamper: after pruning, verify still catches what it
// caught before — records deleted after the anchor, an altered anchor,
// and an anchor that does not match a kept head — and reports a kept
// head that pruning put out of reach.
func TestRetentionTamper(t *testing.T) {
	tests := []struct {
		name    string
		stmts   []string
		kept    []audit.Head
		seq     int64
		problem string
	}{
		{"first kept record deleted", []string{"DELETE FROM decisions WHERE seq = 6"}, nil, 6, audit.ProblemDeleted},
		{"anchor moved on", []string{"DELETE FROM decisions WHERE seq <= 7", "UPDATE audit_anchors SET seq = 6"}, nil, 7, audit.ProblemDeleted},
		{"anchor hash altered", []string{"UPDATE audit_anchors SET hash = zeroblob(32)"}, nil, 6, audit.ProblemBrokenLink},
		{"record after the anchor edited", []string{"UPDATE decisions SET path = '/other' WHERE seq = 6"}, nil, 6, audit.ProblemEdited},
		{"head kept at the anchor", nil, []audit.Head{{Stream: store.StreamDecisions, Seq: 5, Hash: bytes.Repeat([]byte{1}, 32)}},
			5, audit.ProblemHeadMismatch},
		// Retention deleted it, or someone who forged the anchor did: the
		// head cannot be checked, which is not a pass.
		{"head kept before pruning", nil, []audit.Head{{Stream: store.StreamDecisions, Seq: 3, Hash: bytes.Repeat([]byte{1}, 32)}},
			3, audit.ProblemPruned},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "db")
			st := exportStore(t, path, 9)
			r := audit.NewRetention(st, audit.RetentionOptions{MaxAge: time.Hour, Now: func() time.Time { return exT0.Add(65 * time.Minute) }})
			if n, err := r.Prune(context.Background()); err != nil || n != 5 {
				t.Fatalf("Prune = %d, %v; want 5", n, err)
			}
			exMustVerify(t, st)
			if len(tt.stmts) > 0 {
				exSQL(t, &st, path, tt.stmts...)
			}
			rep, err := audit.Verify(context.Background(), st, tt.kept)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, f := range rep.Findings {
				got = append(got, fmt.Sprintf("%s %d %s", f.Stream, f.Seq, f.Problem))
			}
			want := fmt.Sprintf("%s %d %s", store.StreamDecisions, tt.seq, tt.problem)
			if rep.OK || len(got) == 0 || got[0] != want {
				t.Errorf("verify found %v, want first %q", got, want)
			}
		})
	}
}

// TestRetentionOptionsFrom: only the sinks that export decisions hold
// retention back.
func TestRetentionOptionsFrom(t *testing.T) {
	c, err := config.Parse([]byte(`audit:
  export:
    - {name: all, type: stdout}
    - {name: changes-only, type: webhook, url: "https://h/x", streams: [changes]}
    - {name: dec, type: file, path: /tmp/x, streams: [policies, decisions]}
  retention: {decisions: 30d, interval: 5m}
`))
	if err != nil {
		t.Fatal(err)
	}
	o, err := audit.RetentionOptionsFrom(c.Audit)
	if err != nil {
		t.Fatal(err)
	}
	if o.MaxAge != 30*24*time.Hour || o.Interval != 5*time.Minute || !cmp.Equal(o.Sinks, []string{"all", "dec"}) {
		t.Errorf("RetentionOptionsFrom = %+v", o)
	}
}
