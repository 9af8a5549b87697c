package audit_test

import (
	"database/sql"
	"testing"

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
