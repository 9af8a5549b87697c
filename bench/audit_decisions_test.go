package bench_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/scimgate/scimgate/audit"
	"github.com/scimgate/scimgate/store"
	"github.com/scimgate/scimgate/store/sqlite"
)

// decisionsDataset holds 1M recorded decisions, generated once into
// $TMPDIR/scimgate-bench-decisions-v1 in batches of the size the recorder
// writes under load.
const decisionsDataset = "scimgate-bench-decisions-v1"

func decisionsDatasetPath() (string, error) {
	dir := filepath.Join(os.TempDir(), decisionsDataset)
	db := filepath.Join(dir, "dataset.db")
	if _, err := os.Stat(filepath.Join(dir, "done")); err == nil {
		return db, nil
	}
	os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	start := time.Now()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, db)
	if err != nil {
		return "", err
	}
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	const batch = 256
	ds := make([]store.Decision, 0, batch)
	for lo := 0; lo < auditEvents; lo += batch {
		ds = ds[:0]
		for i := lo; i < min(lo+batch, auditEvents); i++ {
			u := i % 100_000
			ds = append(ds, store.Decision{At: at.Add(time.Duration(i) * time.Millisecond), TenantID: 1, UserID: userID(u),
				UserName: userName(u), Route: fmt.Sprintf("route%d", i%1000), Method: "GET", Host: "app.example.com",
				Path: fmt.Sprintf("/app/%d", i%5000), Allow: i%10 != 0, Reason: "group-ok", Adapter: "proxy",
				Remote: "192.0.2.1:40000", CredKind: store.CredToken, CredID: fmt.Sprintf("tok%d", u)})
		}
		if err := st.Update(ctx, func(tx store.Tx) error { return tx.AppendDecisions(ctx, ds) }); err != nil {
			st.Close()
			return "", fmt.Errorf("generate decisions dataset: %w", err)
		}
	}
	if err := st.Close(); err != nil {
		return "", err
	}
	fmt.Fprintf(os.Stderr, "generated %d decisions in %s\n", auditEvents, time.Since(start).Round(time.Second))
	return db, os.WriteFile(filepath.Join(dir, "done"), nil, 0o600)
}

// BenchmarkAuditVerifyDecisions times audit.Verify over 1M recorded
// decisions: every batch decoded, its row checked against its records,
// every hash recomputed.
func BenchmarkAuditVerifyDecisions(b *testing.B) {
	db, err := decisionsDatasetPath()
	if err != nil {
		b.Fatal(err)
	}
	rep, perOp := timeVerify(b, db)
	var got int64
	for _, s := range rep.Streams {
		if s.Stream == store.StreamDecisions {
			got = s.Records
		}
	}
	if !rep.OK || got != auditEvents {
		b.Fatalf("verify: OK=%v, %d decisions, findings %v", rep.OK, got, rep.Findings)
	}
	b.ReportMetric(float64(auditEvents)/perOp.Seconds(), "decisions/s")
}

// timeVerify times audit.Verify over the store at db, reports the time of
// one verify as s/verify and returns the last report and that time.
func timeVerify(b *testing.B, db string) (audit.Report, time.Duration) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, db)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	var rep audit.Report
	b.ResetTimer()
	for b.Loop() {
		if rep, err = audit.Verify(ctx, st, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	perOp := b.Elapsed() / time.Duration(b.N)
	b.ReportMetric(perOp.Seconds(), "s/verify")
	return rep, perOp
}
