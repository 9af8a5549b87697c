package audit_test

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/scimgate/scimgate/audit"
	"github.com/scimgate/scimgate/store"
)

// TestVerifyDecisionBatchRows: decisions are stored in batches whose rows
// carry, outside the hashed records, the seqs and times reads by time use
// to find them. Editing those, or the batch's data, is reported as an edit
// of the batch's decisions: a batch moved out of every time range would
// otherwise hide its decisions from `audit log` while verify said OK.
func TestVerifyDecisionBatchRows(t *testing.T) {
	tests := []struct{ name, sql string }{
		{"min_at moved past every query", `UPDATE decision_batches SET min_at = 9223372036854775807 WHERE last_seq = 3`},
		{"max_at moved before every query", `UPDATE decision_batches SET max_at = 0 WHERE last_seq = 3`},
		{"count", `UPDATE decision_batches SET n = 5 WHERE last_seq = 3`},
		{"last hash", `UPDATE decision_batches SET last_hash = randomblob(32) WHERE last_seq = 3`},
		{"first seq", `UPDATE decision_batches SET first_seq = 2 WHERE last_seq = 3`},
		{"data that does not decode", `UPDATE decision_batches SET data = x'00ff' WHERE last_seq = 3`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := newTrail(t)
			tr.st.Close()
			db, err := sql.Open("sqlite", "file:"+tr.path)
			if err != nil {
				t.Fatal(err)
			}
			res, err := db.Exec(tt.sql)
			if err != nil {
				t.Fatal(err)
			}
			if n, _ := res.RowsAffected(); n != 1 {
				t.Fatalf("%s changed %d rows, want 1", tt.sql, n)
			}
			db.Close()
			tr.open(t)
			rep := tr.verify(t)
			if rep.OK || len(rep.Findings) == 0 {
				t.Fatalf("Verify = OK after %s", tt.sql)
			}
			f := rep.Findings[0]
			if f.Stream != store.StreamDecisions || f.Seq != 3 || f.Problem != audit.ProblemEdited {
				t.Errorf("first finding %s, want an edit of decision 3", f)
			}
			for _, f := range rep.Findings {
				if f.Stream != store.StreamDecisions {
					t.Errorf("finding in another stream: %s", f)
				}
			}
		})
	}
}

// TestVerifyRewrittenInsideBatch: a decision rewritten inside its batch
// with a recomputed hash verifies itself (its successor's prev is taken
// from its stored hash); the finding, on the successor, names both.
func TestVerifyRewrittenInsideBatch(t *testing.T) {
	tr := newTrail(t)
	ctx := context.Background()
	err := tr.st.Update(ctx, func(tx store.Tx) error {
		var ds []store.Decision
		for i := range 3 {
			ds = append(ds, store.Decision{At: t0.Add(time.Hour), TenantID: 1, UserID: "u1", UserName: "user1", Route: "app",
				Method: "GET", Host: "app.test", Path: fmt.Sprintf("/batch/%d", i), Allow: true, Reason: "group-ok", Adapter: "proxy"})
		}
		return tx.AppendDecisions(ctx, ds) // seqs 7, 8, 9 in one batch
	})
	if err != nil {
		t.Fatal(err)
	}
	tr.st.Close()
	db, err := sql.Open("sqlite", "file:"+tr.path)
	if err != nil {
		t.Fatal(err)
	}
	var prev, data []byte
	if err := db.QueryRow(`SELECT prev, data FROM decision_batches WHERE last_seq = 9`).Scan(&prev, &data); err != nil {
		t.Fatal(err)
	}
	ds, err := store.DecodeDecisionBatch(prev, data)
	if err != nil || len(ds) != 3 {
		t.Fatalf("decode: %d decisions, %v", len(ds), err)
	}
	ds[1].UserName = "someone-else"
	ds[1].Hash = store.HashDecision(ds[1].Prev, &ds[1])
	if _, err := db.Exec(`UPDATE decision_batches SET data = ? WHERE last_seq = 9`, store.EncodeDecisionBatch(ds)); err != nil {
		t.Fatal(err)
	}
	db.Close()
	tr.open(t)
	rep := tr.verify(t)
	if len(rep.Findings) != 1 {
		t.Fatalf("findings %v, want one", rep.Findings)
	}
	f := rep.Findings[0]
	if f.Seq != 9 || f.Problem != audit.ProblemEdited || !strings.Contains(f.Detail, "seq 8 was rewritten") {
		t.Errorf("finding %s, want seq 9 edited, naming seq 8 as possibly rewritten", f)
	}
}
