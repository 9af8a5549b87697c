package audit

import (
	"context"
	"encoding/hex"
	"fmt"

	"github.com/scimgate/scimgate/store"
)

// Viewer is the part of the store verify and the log read through.
type Viewer interface {
	View(ctx context.Context, fn func(store.ReadTx) error) error
}

// StreamReport is what verify saw of one stream.
type StreamReport struct {
	Stream   string `json:"stream"`
	Records  int64  `json:"records"`
	FirstSeq int64  `json:"first_seq"`
	HeadSeq  int64  `json:"head_seq"`  // the last record's, 0 when empty
	HeadHash string `json:"head_hash"` // hex
	Omitted  int    `json:"omitted_findings,omitempty"`
	// AnchorSeq is the seq of the retention anchor the stream starts
	// after: retention deleted the records up to it. 0: none.
	AnchorSeq int64 `json:"anchor_seq,omitempty"`
}

// Head returns the stream's head, to keep outside the database.
func (s StreamReport) Head() Head {
	h, _ := hex.DecodeString(s.HeadHash)
	return Head{Stream: s.Stream, Seq: s.HeadSeq, Hash: h}
}

// Report is the outcome of Verify.
type Report struct {
	OK       bool           `json:"ok"`
	Streams  []StreamReport `json:"streams"`
	Findings []Finding      `json:"findings"`
}

// verifyPage is how many records verify reads at a time.
const verifyPage = 10_000

// Verify walks every stream, recomputes every record's hash and checks
// the links between records, the sequence numbers, the end of each stream
// against the store's counter, and the kept heads. Each stream is read in
// one read transaction. An error means the store could not be read; the
// trail's problems are in the Report.
func Verify(ctx context.Context, v Viewer, kept []Head) (Report, error) {
	rep := Report{Findings: []Finding{}}
	for _, stream := range Streams {
		c := newChain(stream, kept)
		err := v.View(ctx, func(tx store.ReadTx) error {
			// Retention prunes decisions from the head and keeps an
			// anchor: the chain starts after it (audit/retention.go).
			if err := startAfterAnchor(ctx, tx, c); err != nil {
				return err
			}
			if err := walk(ctx, tx, c); err != nil {
				return err
			}
			counter, err := tx.SeqCounter(ctx, stream)
			if err != nil {
				return err
			}
			c.finish(counter)
			return nil
		})
		if err != nil {
			return Report{}, fmt.Errorf("verify %s: %w", stream, err)
		}
		rep.Streams = append(rep.Streams, StreamReport{Stream: stream, Records: c.records, FirstSeq: c.first,
			HeadSeq: c.lastSeq, HeadHash: hex.EncodeToString(c.lastHash), Omitted: c.omitted, AnchorSeq: c.anchor})
		rep.Findings = append(rep.Findings, c.findings...)
	}
	rep.OK = len(rep.Findings) == 0
	return rep, nil
}

func walk(ctx context.Context, tx store.ReadTx, c *chain) error {
	switch c.stream {
	case store.StreamChanges:
		return walkStream(ctx, c, func(after int64) ([]store.Change, error) { return tx.Changes(ctx, after, verifyPage) },
			func(r *store.Change) (*int64, []byte, []byte) { return &r.Seq, r.Prev, r.Hash },
			func(r *store.Change) []byte { return store.HashChange(r.Prev, r) })
	case store.StreamPolicies:
		return walkStream(ctx, c, func(after int64) ([]store.PolicyVersion, error) { return tx.PolicyVersions(ctx, after, verifyPage) },
			func(r *store.PolicyVersion) (*int64, []byte, []byte) { return &r.Seq, r.Prev, r.Hash },
			func(r *store.PolicyVersion) []byte { return store.HashPolicyVersion(r.Prev, r) })
	case store.StreamDecisions:
		return walkStream(ctx, c, func(after int64) ([]store.Decision, error) { return tx.Decisions(ctx, after, verifyPage) },
			func(r *store.Decision) (*int64, []byte, []byte) { return &r.Seq, r.Prev, r.Hash },
			func(r *store.Decision) []byte { return store.HashDecision(r.Prev, r) })
	}
	return fmt.Errorf("unknown stream %q", c.stream)
}

// walkStream pages through one stream's records in sequence order and
// feeds each to c. fields exposes a record's seq, prev and stored hash;
// hash recomputes the record's hash, with the seq c asks for in place.
func walkStream[R any](ctx context.Context, c *chain, page func(after int64) ([]R, error),
	fields func(*R) (seq *int64, prev, hash []byte), hash func(*R) []byte,
) error {
	var after int64
	for {
		rs, err := page(after)
		if err != nil {
			return err
		}
		for i := range rs {
			r := &rs[i]
			seqp, prev, stored := fields(r)
			seq := *seqp
			c.add(seq, prev, stored, func(s int64) []byte {
				*seqp = s
				defer func() { *seqp = seq }()
				return hash(r)
			})
		}
		if len(rs) < verifyPage {
			return ctx.Err()
		}
		seqp, _, _ := fields(&rs[len(rs)-1])
		after = *seqp
	}
}

// HistoryChecker rebuilds the temporal index that the point-in-time
// answers read from the change log, and compares it with the stored one;
// *sqlite.Store is one.
type HistoryChecker interface {
	CheckHistory(ctx context.Context, limit int) ([]store.HistoryMismatch, error)
}

// IndexStream names the temporal index in findings.
const IndexStream = "history-index"

// VerifyIndex adds to rep every row of the temporal index that the change
// log does not explain ("unexplained") or that the log implies and the
// index lacks ("missing"), up to maxFindings of each table and side. The
// index is derived, not hash-chained: without this check an edited index
// would change `access who` and `access history` unseen.
func VerifyIndex(ctx context.Context, c HistoryChecker, rep *Report) error {
	ms, err := c.CheckHistory(ctx, maxFindings)
	if err != nil {
		return err
	}
	for _, m := range ms {
		problem := "unexplained"
		if m.Missing {
			problem = "missing"
		}
		rep.Findings = append(rep.Findings, Finding{Stream: IndexStream, Problem: problem, Detail: m.Table + ": " + m.Row})
		rep.OK = false
	}
	return nil
}
