package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/scimgate/scimgate/store"
)

// testAuditExport checks export cursors and decision pruning.
func testAuditExport(t *testing.T, s store.Store) {
	t.Run("Cursors", func(t *testing.T) { testExportCursors(t, s) })
	t.Run("Prune", func(t *testing.T) { testPruneDecisions(t, s) })
}

func testExportCursors(t *testing.T, s store.Store) {
	ctx := context.Background()
	view(t, s, func(tx store.ReadTx) error {
		if seq, err := tx.ExportCursor(ctx, "siem", store.StreamDecisions); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("ExportCursor(new sink) = %d, %v; want ErrNotFound", seq, err)
		}
		return nil
	})
	update(t, s, func(tx store.Tx) error {
		for _, c := range []struct {
			sink, stream string
			seq          int64
		}{{"siem", store.StreamDecisions, 5}, {"siem", store.StreamChanges, 7}, {"file", store.StreamDecisions, 1}, {"siem", store.StreamDecisions, 9}} {
			if err := tx.SetExportCursor(ctx, c.sink, c.stream, c.seq); err != nil {
				return err
			}
		}
		return nil
	})
	if err := s.Update(ctx, func(tx store.Tx) error { return tx.SetExportCursor(ctx, "siem", "nonsense", 1) }); err == nil {
		t.Error("SetExportCursor(unknown stream) = nil, want an error")
	}
	view(t, s, func(tx store.ReadTx) error {
		for _, c := range []struct {
			sink, stream string
			want         int64
		}{{"siem", store.StreamDecisions, 9}, {"siem", store.StreamChanges, 7}, {"file", store.StreamDecisions, 1}} {
			if got, err := tx.ExportCursor(ctx, c.sink, c.stream); err != nil || got != c.want {
				t.Errorf("ExportCursor(%s, %s) = %d, %v; want %d", c.sink, c.stream, got, err, c.want)
			}
		}
		if _, err := tx.ExportCursor(ctx, "file", store.StreamChanges); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("ExportCursor(file, changes) = %v, want ErrNotFound", err)
		}
		return nil
	})
}

func testPruneDecisions(t *testing.T, s store.Store) {
	ctx := context.Background()
	// Ten decisions a minute apart; the sixth is stamped late (a clock
	// step), which stops pruning there.
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Minute) }
	// They are appended three at a time: a backend that stores them
	// together must still prune decision by decision.
	var all []store.Decision
	for lo := 0; lo < 10; lo += 3 {
		var d []store.Decision
		for i := lo; i < min(lo+3, 10); i++ {
			d = append(d, store.Decision{At: at(i), Method: "GET", Host: "h", Path: fmt.Sprint("/", i), Reason: "no-route", Adapter: "proxy"})
			if i == 5 {
				d[len(d)-1].At = at(100)
			}
		}
		update(t, s, func(tx store.Tx) error { return tx.AppendDecisions(ctx, d) })
		all = append(all, d...)
	}
	now := t0.Add(time.Hour)
	prune := func(before time.Time, through int64, limit int) int {
		t.Helper()
		var n int
		update(t, s, func(tx store.Tx) (err error) {
			n, err = tx.PruneDecisions(ctx, before, through, limit, now)
			return err
		})
		return n
	}
	remaining := func() []int64 {
		t.Helper()
		var seqs []int64
		view(t, s, func(tx store.ReadTx) error {
			ds, err := tx.Decisions(ctx, 0, 100)
			for _, d := range ds {
				seqs = append(seqs, d.Seq)
			}
			return err
		})
		return seqs
	}
	view(t, s, func(tx store.ReadTx) error {
		if _, err := tx.AuditAnchor(ctx, store.StreamDecisions); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("AuditAnchor before pruning = %v, want ErrNotFound", err)
		}
		return nil
	})
	if n := prune(at(0), 10, 100); n != 0 {
		t.Errorf("prune before the first decision deleted %d", n)
	}
	if n := prune(at(3), 10, 100); n != 3 {
		t.Errorf("prune before 3m deleted %d, want 3 (seqs 1-3)", n)
	}
	if n := prune(at(50), 4, 100); n != 1 {
		t.Errorf("prune through seq 4 deleted %d, want 1 (seq 4)", n)
	}
	if n := prune(at(50), 10, 100); n != 1 {
		t.Errorf("prune before 50m deleted %d, want 1: seq 6 is stamped later and stops it", n)
	}
	if got := remaining(); len(got) != 5 || got[0] != 6 {
		t.Errorf("after pruning: seqs %v, want 6-10", got)
	}
	view(t, s, func(tx store.ReadTx) error {
		a, err := tx.AuditAnchor(ctx, store.StreamDecisions)
		if err != nil || a.Seq != 5 || !bytes.Equal(a.Hash, all[4].Hash) || !a.At.Equal(all[4].At) || !a.Pruned.Equal(now) {
			t.Errorf("AuditAnchor = %+v, %v; want seq 5, its hash and time, pruned now", a, err)
		}
		return nil
	})
	// The limit bounds one call; the last decision always stays.
	if n := prune(at(1000), 100, 2); n != 2 {
		t.Errorf("prune with limit 2 deleted %d", n)
	}
	if n := prune(at(1000), 100, 100); n != 2 {
		t.Errorf("prune everything deleted %d, want 2 (the last stays)", n)
	}
	if got := remaining(); len(got) != 1 || got[0] != 10 {
		t.Errorf("after pruning everything: seqs %v, want 10", got)
	}
	// The next decision chains to the one kept.
	d := []store.Decision{{At: at(11), Method: "GET", Host: "h", Path: "/11", Reason: "no-route", Adapter: "proxy"}}
	update(t, s, func(tx store.Tx) error { return tx.AppendDecisions(ctx, d) })
	if d[0].Seq != 11 || !bytes.Equal(d[0].Prev, all[9].Hash) {
		t.Errorf("decision after pruning: seq %d prev %x; want 11 chained to %x", d[0].Seq, d[0].Prev, all[9].Hash)
	}
	view(t, s, func(tx store.ReadTx) error {
		a, err := tx.AuditAnchor(ctx, store.StreamDecisions)
		if err != nil || a.Seq != 9 || !bytes.Equal(a.Hash, all[8].Hash) {
			t.Errorf("AuditAnchor = %+v, %v; want seq 9", a, err)
		}
		if n, err := tx.SeqCounter(ctx, store.StreamDecisions); err != nil || n != 11 {
			t.Errorf("SeqCounter after pruning = %d, %v; want 11", n, err)
		}
		return nil
	})
}
