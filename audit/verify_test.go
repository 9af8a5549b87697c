package audit_test

import (
	"context"
	"database/sql"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/scimgate/scimgate/audit"
	"github.com/scimgate/scimgate/store"
	"github.com/scimgate/scimgate/store/sqlite"
	"github.com/scimgate/scimgate/store/sqlite/sqlitetest"
)

var t0 = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

// trail is a store holding six records in each stream, on a file that
// the tests alter with SQL behind the store's back.
type trail struct {
	path string
	st   *sqlite.Store
}

func newTrail(t testing.TB) *trail {
	t.Helper()
	tr := &trail{path: filepath.Join(t.TempDir(), "scimgate.db")}
	tr.open(t)
	ctx := context.Background()
	for i := range 6 {
		err := tr.st.Update(ctx, func(tx store.Tx) error {
			c := &store.Change{TenantID: 1, At: t0.Add(time.Duration(i) * time.Minute), Actor: "okta", ResourceType: store.TypeUser,
				ResourceID: fmt.Sprintf("u%d", i), Op: store.OpCreate, After: fmt.Appendf(nil, `{"userName":"user%d"}`, i)}
			if err := tx.AppendChange(ctx, c); err != nil {
				return err
			}
			v := &store.PolicyVersion{At: t0.Add(time.Duration(i) * time.Minute), Source: "/etc/scimgate.yaml",
				Digest: fmt.Sprintf("digest%d", i), Doc: fmt.Appendf(nil, `[{"name":"app%d"}]`, i)}
			if err := tx.AppendPolicyVersion(ctx, v); err != nil {
				return err
			}
			return tx.AppendDecisions(ctx, []store.Decision{{At: t0.Add(time.Duration(i) * time.Minute), TenantID: 1, UserID: "u1",
				UserName: "user1", Route: "app", Method: "GET", Host: "app.test", Path: fmt.Sprintf("/app/%d", i), Allow: i%2 == 0,
				Reason: "group-ok", Adapter: "proxy", Remote: "192.0.2.1:999"}})
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return tr
}

func (tr *trail) open(t testing.TB) {
	t.Helper()
	st, err := sqlite.Open(context.Background(), tr.path)
	if err != nil {
		t.Fatal(err)
	}
	tr.st = st
	t.Cleanup(func() { st.Close() })
}

// sql runs statements on the database file directly, with the store
// closed, as an attacker with write access to it would.
func (tr *trail) sql(t testing.TB, stmts ...string) {
	t.Helper()
	tr.st.Close()
	db, err := sql.Open("sqlite", "file:"+tr.path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := sqlitetest.Exec(db, stmts...); err != nil {
		t.Fatal(err)
	}
	db.Close()
	tr.open(t)
}

func (tr *trail) verify(t testing.TB, kept ...audit.Head) audit.Report {
	t.Helper()
	rep, err := audit.Verify(context.Background(), tr.st, kept)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func (tr *trail) head(t testing.TB, stream string) audit.Head {
	t.Helper()
	for _, s := range tr.verify(t).Streams {
		if s.Stream == stream {
			return s.Head()
		}
	}
	t.Fatalf("no stream %s", stream)
	return audit.Head{}
}

func TestVerifyClean(t *testing.T) {
	tr := newTrail(t)
	rep := tr.verify(t)
	if !rep.OK || len(rep.Findings) != 0 {
		t.Fatalf("Verify of an untouched trail = %+v, want OK", rep)
	}
	for _, s := range rep.Streams {
		if s.Records != 6 || s.FirstSeq != 1 || s.HeadSeq != 6 || len(s.HeadHash) != 64 {
			t.Errorf("stream %s: %+v, want 6 records, seqs 1-6 and a head hash", s.Stream, s)
		}
		// The head, kept and passed back, matches.
		if rep := tr.verify(t, s.Head()); !rep.OK {
			t.Errorf("Verify(kept head %s) = %v, want OK", s.Head(), rep.Findings)
		}
	}
}

// TestVerifyTamper alters each stream in the ways an attacker with SQL
// access to the database can, and checks what verify says, exactly.
func TestVerifyTamper(t *testing.T) {
	streams := []struct {
		stream, table string
		edit          string // an UPDATE of one field of seq 3
	}{
		{store.StreamChanges, "changes", `UPDATE changes SET actor = 'mallory' WHERE seq = 3`},
		{store.StreamPolicies, "policy_versions", `UPDATE policy_versions SET doc = '[{"name":"app","allow":{"public":true}}]' WHERE seq = 3`},
		{store.StreamDecisions, "decisions", `UPDATE decisions SET allow = 1 - allow WHERE seq = 3`},
	}
	type finding struct {
		seq            int64
		problem, about string // about: a substring of the detail
	}
	for _, s := range streams {
		tests := []struct {
			name string
			sql  func(tr *trail) []string
			head bool // verify with the head kept before the tampering
			want []finding
		}{
			{"edit a field", func(*trail) []string { return []string{s.edit} }, false,
				[]finding{{3, audit.ProblemEdited, "does not match the record's content"}}},
			{"edit the stored hash", func(*trail) []string {
				return []string{`UPDATE ` + s.table + ` SET hash = randomblob(32) WHERE seq = 4`}
			}, false, []finding{{4, audit.ProblemEdited, "does not match"}}},
			{"delete a middle record", func(*trail) []string {
				return []string{`DELETE FROM ` + s.table + ` WHERE seq = 3`}
			}, false, []finding{{3, audit.ProblemDeleted, "seq 3 missing between seq 2 and seq 4"}}},
			{"delete two middle records", func(*trail) []string {
				return []string{`DELETE FROM ` + s.table + ` WHERE seq IN (2, 3)`}
			}, false, []finding{{2, audit.ProblemDeleted, "seqs 2-3 missing (2 records)"}}},
			{"delete the first record", func(*trail) []string {
				return []string{`DELETE FROM ` + s.table + ` WHERE seq = 1`}
			}, false, []finding{{1, audit.ProblemDeleted, "seq 1 missing before the first record (seq 2)"}}},
			{"delete the tail", func(*trail) []string {
				return []string{`DELETE FROM ` + s.table + ` WHERE seq = 6`}
			}, false, []finding{{6, audit.ProblemDeleted, "seq 6 missing at the end: the stream's counter is at 6"}}},
			{"delete the tail, kept head", func(*trail) []string {
				return []string{`DELETE FROM ` + s.table + ` WHERE seq = 6`}
			}, true, []finding{
				{6, audit.ProblemDeleted, "seq 6 missing at the end"},
				{6, audit.ProblemTruncated, "the stream ends at seq 5, before the kept head seq 6"},
			}},
			// Resetting the counter too hides the cut from verify alone:
			// only a head kept elsewhere shows it.
			{"delete the tail and reset the counter", func(*trail) []string {
				return []string{`DELETE FROM ` + s.table + ` WHERE seq = 6`, `UPDATE sqlite_sequence SET seq = 5 WHERE name = '` + s.table + `'`}
			}, false, nil},
			{"delete the tail and reset the counter, kept head", func(*trail) []string {
				return []string{`DELETE FROM ` + s.table + ` WHERE seq = 6`, `UPDATE sqlite_sequence SET seq = 5 WHERE name = '` + s.table + `'`}
			}, true, []finding{{6, audit.ProblemTruncated, "the stream ends at seq 5, before the kept head seq 6"}}},
			{"insert a forged record", func(*trail) []string {
				return []string{`CREATE TEMP TABLE x AS SELECT * FROM ` + s.table + ` WHERE seq = 6`,
					`UPDATE x SET seq = 7, hash = randomblob(32)`, `INSERT INTO ` + s.table + ` SELECT * FROM x`}
			}, false, []finding{{7, audit.ProblemEdited, "does not match the record's content"}}},
			{"insert a copy of a record", func(*trail) []string {
				return []string{`CREATE TEMP TABLE x AS SELECT * FROM ` + s.table + ` WHERE seq = 6`,
					`UPDATE x SET seq = 7`, `INSERT INTO ` + s.table + ` SELECT * FROM x`}
			}, false, []finding{{7, audit.ProblemReordered, "holds the record written as seq 6"}}},
			{"swap two records", func(*trail) []string {
				return []string{
					`UPDATE ` + s.table + ` SET seq = -3 WHERE seq = 3`,
					`UPDATE ` + s.table + ` SET seq = 3 WHERE seq = 4`,
					`UPDATE ` + s.table + ` SET seq = 4 WHERE seq = -3`,
				}
			}, false, []finding{
				{3, audit.ProblemReordered, "holds the record written as seq 4"},
				{4, audit.ProblemReordered, "holds the record written as seq 3"},
			}},
			{"move a record to the end", func(*trail) []string {
				return []string{`UPDATE ` + s.table + ` SET seq = 7 WHERE seq = 2`}
			}, false, []finding{
				{2, audit.ProblemDeleted, "seq 2 missing between seq 1 and seq 3"},
				{7, audit.ProblemReordered, "holds the record written as seq 2"},
			}},
		}
		for _, tt := range tests {
			t.Run(s.stream+"/"+tt.name, func(t *testing.T) {
				tr := newTrail(t)
				var kept []audit.Head
				if tt.head {
					kept = append(kept, tr.head(t, s.stream))
				}
				tr.sql(t, tt.sql(tr)...)
				rep := tr.verify(t, kept...)
				var got []finding
				for _, f := range rep.Findings {
					if f.Stream != s.stream {
						t.Errorf("finding in another stream: %s", f)
					}
					got = append(got, finding{f.Seq, f.Problem, f.Detail})
				}
				if len(got) != len(tt.want) {
					t.Fatalf("Verify found %v, want %v", rep.Findings, tt.want)
				}
				for i, w := range tt.want {
					if got[i].seq != w.seq || got[i].problem != w.problem || !strings.Contains(got[i].about, w.about) {
						t.Errorf("finding %d = %s seq %d: %s: %s; want seq %d: %s: …%s…", i, s.stream, got[i].seq, got[i].problem, got[i].about, w.seq, w.problem, w.about)
					}
				}
				if rep.OK != (len(tt.want) == 0) {
					t.Errorf("Report.OK = %v with %d findings", rep.OK, len(rep.Findings))
				}
			})
		}
	}
}

// TestVerifyRewrittenChain: an attacker who edits a record and recomputes
// its hash breaks the link of the next record; one who recomputes every
// hash after it too leaves a valid chain, which only a head kept
// elsewhere exposes. That is the limit of a hash chain, stated as a test.
func TestVerifyRewrittenChain(t *testing.T) {
	ctx := context.Background()
	tr := newTrail(t)
	kept := tr.head(t, store.StreamDecisions)
	var ds []store.Decision
	err := tr.st.View(ctx, func(tx store.ReadTx) (err error) {
		ds, err = tx.Decisions(ctx, 0, 100)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	// Seq 3 flipped to an allow, its hash recomputed: seq 4 no longer
	// links to it.
	ds[2].Allow = !ds[2].Allow
	ds[2].Hash = store.HashDecision(ds[2].Prev, &ds[2])
	tr.sql(t, fmt.Sprintf(`UPDATE decisions SET allow = 1 - allow, hash = x'%x' WHERE seq = 3`, ds[2].Hash))
	want := []audit.Finding{{Stream: store.StreamDecisions, Seq: 4, Problem: audit.ProblemBrokenLink,
		Detail: "prev does not match the hash of seq 3: that record was rewritten, or this one inserted"}}
	if diff := cmp.Diff(want, tr.verify(t).Findings); diff != "" {
		t.Errorf("rewritten record: findings mismatch (-want +got):\n%s", diff)
	}
	// The whole chain after it rewritten too.
	var stmts []string
	for i := 3; i < len(ds); i++ {
		ds[i].Prev = ds[i-1].Hash
		ds[i].Hash = store.HashDecision(ds[i].Prev, &ds[i])
		stmts = append(stmts, fmt.Sprintf(`UPDATE decisions SET prev = x'%x', hash = x'%x' WHERE seq = %d`, ds[i].Prev, ds[i].Hash, ds[i].Seq))
	}
	tr.sql(t, stmts...)
	if rep := tr.verify(t); !rep.OK {
		t.Errorf("rewritten chain without a kept head: %v; want it to pass (the documented limit)", rep.Findings)
	}
	want = []audit.Finding{{Stream: store.StreamDecisions, Seq: 6, Problem: audit.ProblemHeadMismatch,
		Detail: fmt.Sprintf("hash %x differs from the kept head %x: the stream was rewritten", ds[5].Hash, kept.Hash)}}
	if diff := cmp.Diff(want, tr.verify(t, kept).Findings); diff != "" {
		t.Errorf("rewritten chain, kept head: findings mismatch (-want +got):\n%s", diff)
	}
}

// hashes returns the stored hash of each record of a stream, by seq - 1.
func (tr *trail) hashes(t testing.TB, stream string) [][]byte {
	t.Helper()
	ctx := context.Background()
	var out [][]byte
	err := tr.st.View(ctx, func(tx store.ReadTx) error {
		switch stream {
		case store.StreamChanges:
			cs, err := tx.Changes(ctx, 0, 100)
			for _, c := range cs {
				out = append(out, c.Hash)
			}
			return err
		case store.StreamPolicies:
			vs, err := tx.PolicyVersions(ctx, 0, 100)
			for _, v := range vs {
				out = append(out, v.Hash)
			}
			return err
		}
		ds, err := tx.Decisions(ctx, 0, 100)
		for _, d := range ds {
			out = append(out, d.Hash)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestVerifyForgedAnchor: a retention anchor is trusted only where
// retention writes one (decisions), and a kept head is never passed
// without being checked: one inside the range an anchor cut off is a
// finding, whoever deleted that range.
func TestVerifyForgedAnchor(t *testing.T) {
	type finding struct {
		seq     int64
		problem string
	}
	// anchorAt writes an anchor for a decision of time at, pruned at
	// pruned (Unix nanoseconds); anchor one that retention could have
	// written, for a decision two hours old when it was pruned.
	anchorAt := func(stream string, seq int64, hash []byte, at, pruned int64) string {
		return fmt.Sprintf(`INSERT INTO audit_anchors (stream, seq, hash, at, pruned) VALUES ('%s', %d, x'%x', %d, %d)`, stream, seq, hash, at, pruned)
	}
	const t0 = int64(1_700_000_000_000_000_000)
	anchor := func(stream string, seq int64, hash []byte) string {
		return anchorAt(stream, seq, hash, t0, t0+int64(2*time.Hour))
	}
	tests := []struct {
		name   string
		stream string
		kept   int64 // the seq of a head kept before the tampering; 0: none
		sql    func(h [][]byte) []string
		want   []finding
	}{
		{"changes: records deleted behind a forged anchor", store.StreamChanges, 2, func(h [][]byte) []string {
			return []string{`DELETE FROM changes WHERE seq <= 4`, anchor("changes", 4, h[3])}
		}, []finding{{4, audit.ProblemForeignAnchor}, {1, audit.ProblemDeleted}, {2, audit.ProblemDeleted}}},
		{"policies: a forged anchor alone", store.StreamPolicies, 0, func(h [][]byte) []string {
			return []string{anchor("policies", 3, h[2])}
		}, []finding{{3, audit.ProblemForeignAnchor}}},
		{"decisions: kept head below the anchor", store.StreamDecisions, 3, func(h [][]byte) []string {
			return []string{`DELETE FROM decisions WHERE seq <= 5`, anchor("decisions", 5, h[4])}
		}, []finding{{3, audit.ProblemPruned}}},
		{"decisions: kept head at the anchor", store.StreamDecisions, 5, func(h [][]byte) []string {
			return []string{`DELETE FROM decisions WHERE seq <= 5`, anchor("decisions", 5, h[4])}
		}, nil},
		{"decisions: kept head after the anchor", store.StreamDecisions, 6, func(h [][]byte) []string {
			return []string{`DELETE FROM decisions WHERE seq <= 2`, anchor("decisions", 2, h[1])}
		}, nil},
		{"decisions: every record deleted behind an anchor at the last", store.StreamDecisions, 0, func(h [][]byte) []string {
			n := len(h)
			return []string{`DELETE FROM decisions`, anchor("decisions", int64(n), h[n-1])}
		}, []finding{{6, audit.ProblemImpossibleAnchor}}}, // newTrail appends 6
		{"decisions: an anchor for a decision pruned under an hour old", store.StreamDecisions, 0, func(h [][]byte) []string {
			return []string{`DELETE FROM decisions WHERE seq <= 2`, anchorAt("decisions", 2, h[1], t0, t0+int64(time.Minute))}
		}, []finding{{2, audit.ProblemImpossibleAnchor}}},
		{"decisions: an anchor with no times", store.StreamDecisions, 0, func(h [][]byte) []string {
			return []string{`DELETE FROM decisions WHERE seq <= 2`, anchorAt("decisions", 2, h[1], 0, 0)}
		}, []finding{{2, audit.ProblemImpossibleAnchor}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := newTrail(t)
			h := tr.hashes(t, tt.stream)
			var kept []audit.Head
			if tt.kept > 0 {
				kept = append(kept, audit.Head{Stream: tt.stream, Seq: tt.kept, Hash: h[tt.kept-1]})
			}
			tr.sql(t, tt.sql(h)...)
			rep := tr.verify(t, kept...)
			var got []finding
			for _, f := range rep.Findings {
				got = append(got, finding{f.Seq, f.Problem})
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(finding{})); diff != "" {
				t.Errorf("Verify findings mismatch (-want +got):\n%s\n%v", diff, rep.Findings)
			}
			// The report names a decision anchor it started after, for the
			// command line to show.
			for _, s := range rep.Streams {
				if s.Stream == store.StreamDecisions && tt.stream == store.StreamDecisions && s.AnchorSeq == 0 {
					t.Errorf("decisions report %+v names no anchor", s)
				}
			}
			if rep.OK != (len(tt.want) == 0) {
				t.Errorf("Report.OK = %v with findings %v", rep.OK, rep.Findings)
			}
		})
	}
}

func TestParseHead(t *testing.T) {
	hash := strings.Repeat("ab", 32)
	tests := []struct {
		in      string
		want    audit.Head
		wantErr string
	}{
		{"changes:12:" + hash, audit.Head{Stream: "changes", Seq: 12, Hash: mustHex(hash)}, ""},
		{" decisions:1:" + strings.ToUpper(hash) + " ", audit.Head{Stream: "decisions", Seq: 1, Hash: mustHex(hash)}, ""},
		{"policies:3:" + hash[:62], audit.Head{}, "64 hex digits"},
		{"policies:0:" + hash, audit.Head{}, "positive integer"},
		{"policies:x:" + hash, audit.Head{}, "positive integer"},
		{"users:3:" + hash, audit.Head{}, `unknown stream "users"`},
		{"changes:3", audit.Head{}, "want stream:SEQ:HASH"},
		{"changes:3:" + hash + ":x", audit.Head{}, "want stream:SEQ:HASH"},
	}
	for _, tt := range tests {
		got, err := audit.ParseHead(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseHead(%q) = %v, %v; want error with %q", tt.in, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !cmp.Equal(got, tt.want) {
			t.Errorf("ParseHead(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
		if back, err := audit.ParseHead(got.String()); err != nil || !cmp.Equal(back, got) {
			t.Errorf("ParseHead(%q.String()) = %v, %v; want %v", tt.in, back, err, got)
		}
	}
}

func FuzzParseHead(f *testing.F) {
	f.Add("changes:12:" + strings.Repeat("ab", 32))
	f.Add("decisions:1:00")
	f.Add("::")
	f.Fuzz(func(t *testing.T, s string) {
		h, err := audit.ParseHead(s)
		if err != nil {
			return
		}
		if h.Seq < 1 || len(h.Hash) != 32 {
			t.Fatalf("ParseHead(%q) = %v: accepted an invalid head", s, h)
		}
		back, err := audit.ParseHead(h.String())
		if err != nil || !cmp.Equal(back, h) {
			t.Fatalf("ParseHead(%q).String() = %q does not parse back: %v, %v", s, h.String(), back, err)
		}
	})
}

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}
