package bench_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scimgate/scimgate/store"
	"github.com/scimgate/scimgate/store/sqlite"
)

// The audit trail (issue 8).
//
//	./scripts/bench.sh 'Audit'
//
// BenchmarkAuditVerify: `audit verify` over a change log of 1M events,
// generated once straight through the store into
// $TMPDIR/scimgate-bench-audit-v1 (about a minute), then copied for each
// run. BenchmarkAuditProxy: the built-in proxy recording every allowed
// decision against the same proxy recording none, side by side (the
// GATE_* knobs of bench/gate_test.go apply).

const (
	auditEvents  = 1_000_000
	auditDataset = "scimgate-bench-audit-v1"
)

// auditDatasetPath returns the database of 1M change events, generating
// it on first use: users created, updated, put in and taken out of groups,
// with documents and membership edges as the directory writes them.
func auditDatasetPath() (string, error) {
	dir := filepath.Join(os.TempDir(), auditDataset)
	db := filepath.Join(dir, "dataset.db")
	done := filepath.Join(dir, "done")
	if _, err := os.Stat(done); err == nil {
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
	const chunk = 10_000
	for lo := 0; lo < auditEvents; lo += chunk {
		err := st.Update(ctx, func(tx store.Tx) error {
			for i := lo; i < min(lo+chunk, auditEvents); i++ {
				u := i % 100_000
				c := &store.Change{TenantID: 1, At: at.Add(time.Duration(i) * time.Second), Actor: "0123456789abcdef",
					ResourceType: store.TypeUser, ResourceID: userID(u)}
				doc := fmt.Sprintf(`{"id":%q,"userName":%q,"active":true,"name":{"givenName":"Given","familyName":"Family%d"},"emails":[{"value":%q,"type":"work","primary":true}]}`,
					userID(u), userName(u), u, userName(u))
				switch i % 4 {
				case 0:
					c.Op, c.After = store.OpCreate, []byte(doc)
				case 1:
					c.Op, c.Before, c.After = store.OpPatch, []byte(doc), []byte(doc)
				case 2, 3:
					g := groupID(i % 10_000)
					c.ResourceType, c.ResourceID, c.Op = store.TypeGroup, g, store.OpPatch
					c.Edges = []store.EdgeChange{{Group: g, Member: userID(u), MemberType: store.TypeUser, Added: i%4 == 2}}
				}
				if err := tx.AppendChange(ctx, c); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			st.Close()
			return "", fmt.Errorf("generate audit dataset: %w", err)
		}
	}
	if err := st.Close(); err != nil {
		return "", err
	}
	fmt.Fprintf(os.Stderr, "generated %d change events in %s\n", auditEvents, time.Since(start).Round(time.Second))
	return db, os.WriteFile(done, nil, 0o600)
}

// BenchmarkAuditVerify times audit.Verify over the 1M-event change log,
// and the `scimgate audit verify` command (opening the store included).
func BenchmarkAuditVerify(b *testing.B) {
	db, err := auditDatasetPath()
	if err != nil {
		b.Fatal(err)
	}
	rep, perOp := timeVerify(b, db)
	if !rep.OK || rep.Streams[0].Records != auditEvents {
		b.Fatalf("verify: %+v", rep)
	}
	b.ReportMetric(float64(auditEvents)/perOp.Seconds(), "events/s")

	bin, err := buildBinary()
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	out, err := exec.Command(bin, "audit", "verify", "--store", "sqlite:"+db).CombinedOutput()
	if err != nil {
		b.Fatalf("scimgate audit verify: %v\n%s", err, out)
	}
	b.ReportMetric(time.Since(start).Seconds(), "cli-s")
	if perOp > 10*time.Second {
		b.Logf("audit verify of %d events took %s: above the 10 s target", auditEvents, perOp)
	}
}

// BenchmarkAuditProxy compares, in one run, two scimgate servers on the
// same store and upstream: one recording every allowed decision in the
// audit trail (audit.decisions.allows: all, the default), one recording
// none (allows: none; refusals are always recorded, and the benchmark
// makes none). wrk sends alice's token to /app/x on both, in alternating
// rounds.
func BenchmarkAuditProxy(b *testing.B) {
	needWrk(b)
	s := settings()
	for _, l := range layouts(b) {
		b.Run("pin="+l.name, func(b *testing.B) {
			once(b, func() func() {
				w, err := theGateWorld()
				if err != nil {
					b.Fatal(err)
				}
				peer, err := startProc("upstream", os.Stderr, "listening on", pin(l.load, w.peer, "upstream")...)
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(peer.stop)
				up := "http://" + peer.value("listening on")
				gates := map[string]*proc{}
				urls := map[string]string{}
				for _, allows := range []string{"none", "all"} {
					cfg, err := w.config("audit-"+l.name+"-"+allows, "warn", up, false)
					if err != nil {
						b.Fatal(err)
					}
					if err := appendFile(cfg, "audit:\n  decisions:\n    allows: "+allows+"\n"); err != nil {
						b.Fatal(err)
					}
					p, err := startProc("scimgate-audit-"+allows, os.Stderr, "SCIM base URL:", pin(l.proxy, w.bin, "serve", "--config", cfg)...)
					if err != nil {
						b.Fatal(err)
					}
					b.Cleanup(p.stop)
					gates[allows] = p
					urls[allows] = strings.TrimSuffix(strings.TrimSuffix(p.value("SCIM base URL:"), "/"), "/scim/v2")
					if err := checkGate(urls[allows], up, w.token); err != nil {
						b.Fatal(err)
					}
				}
				before := countDecisions(b, w.db)
				hdr := []string{"Host: " + gateHost, "Authorization: Bearer " + w.token}
				res := rounds(b, s, l, []target{
					{name: "audit-none", url: urls["none"] + "/app/x", headers: hdr, proc: gates["none"]},
					{name: "audit-all", url: urls["all"] + "/app/x", headers: hdr, proc: gates["all"]},
				})
				// Everything the all-server was asked is in the store once
				// it has stopped (Close flushes the buffer).
				gates["all"].stop()
				gates["none"].stop()
				var asked int
				for _, r := range res["audit-all"] {
					asked += r.requests
				}
				written := countDecisions(b, w.db) - before
				return func() {
					report(b, "audit-none", res["audit-none"])
					report(b, "audit-all", res["audit-all"])
					r := ratio(b, "all/none-%", res["audit-all"], res["audit-none"])
					// Written includes the warm-up's and checkGate's decisions.
					b.ReportMetric(float64(asked), "all-asked")
					b.ReportMetric(float64(written), "all-written")
					reportOthers(b, res)
					if r < 95 {
						b.Logf("recording every allowed decision costs %.1f%% of throughput: above the 5%% target", 100-r)
					}
				}
			})
		})
	}
}

// countDecisions counts the decisions in the store at path.
func countDecisions(b *testing.B, path string) int {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	var n int64
	err = st.View(ctx, func(tx store.ReadTx) (err error) {
		n, err = tx.SeqCounter(ctx, store.StreamDecisions)
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	return int(n)
}
