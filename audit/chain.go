package audit

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/scimgate/scimgate/store"
)

// Streams lists the audit streams in the order verify walks them.
var Streams = []string{store.StreamChanges, store.StreamPolicies, store.StreamDecisions}

// Head is a position in a stream and the hash of the record there: what
// an operator keeps outside the database to detect a rewritten or cut
// stream later.
type Head struct {
	Stream string
	Seq    int64
	Hash   []byte
}

// String formats h as ParseHead reads it: "stream:SEQ:HEX".
func (h Head) String() string { return fmt.Sprintf("%s:%d:%x", h.Stream, h.Seq, h.Hash) }

// ParseHead parses "stream:SEQ:HEX", as Head.String and verify print it.
func ParseHead(s string) (Head, error) {
	parts := strings.Split(strings.TrimSpace(s), ":")
	if len(parts) != 3 {
		return Head{}, fmt.Errorf("head %q: want stream:SEQ:HASH", s)
	}
	h := Head{Stream: parts[0]}
	if !slices.Contains(Streams, h.Stream) {
		return Head{}, fmt.Errorf("head %q: unknown stream %q (%s)", s, h.Stream, strings.Join(Streams, ", "))
	}
	seq, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil || seq < 1 {
		return Head{}, fmt.Errorf("head %q: sequence number %q is not a positive integer", s, parts[1])
	}
	h.Seq = seq
	if h.Hash, err = hex.DecodeString(parts[2]); err != nil || len(h.Hash) != 32 {
		return Head{}, fmt.Errorf("head %q: hash is not 64 hex digits", s)
	}
	return h, nil
}

// Problems verify reports.
const (
	// ProblemEdited: a record's stored hash does not match its content.
	ProblemEdited = "edited"
	// ProblemReordered: a record's content hashes right only under
	// another sequence number; it was moved there.
	ProblemReordered = "reordered"
	// ProblemDeleted: sequence numbers are missing.
	ProblemDeleted = "deleted"
	// ProblemBrokenLink: a record's prev is not the hash of the record
	// before it, which is intact: that one was rewritten with a new hash,
	// or this one inserted.
	ProblemBrokenLink = "broken-link"
	// ProblemHeadMismatch: the record at a kept head's position has
	// another hash: the stream was rewritten up to there.
	ProblemHeadMismatch = "head-mismatch"
	// ProblemTruncated: the stream ends before a kept head.
	ProblemTruncated = "truncated"
	// ProblemPruned: a kept head is at or before the decision stream's
	// retention anchor but not at it: retention deleted its record (or
	// someone deleted it and forged the anchor; from inside the database
	// the two look alike), so it cannot be checked. Keep a newer head.
	ProblemPruned = "pruned"
	// ProblemForeignAnchor: a stream that retention never prunes
	// (changes, policies) has a retention anchor: someone wrote it, to
	// hide records deleted before it. Verify ignores it.
	ProblemForeignAnchor = "foreign-anchor"
	// ProblemImpossibleAnchor: the decision stream's retention anchor is
	// one retention never writes: at or past the stream's last record
	// (retention keeps the newest decision), or for a decision less than
	// the shortest retention period (an hour) old when it was pruned. It
	// was written to hide records deleted before it.
	ProblemImpossibleAnchor = "impossible-anchor"
)

// minRetention is the shortest retention period the configuration
// accepts (config: audit.retention.decisions).
const minRetention = time.Hour

// Finding is one problem verify found.
type Finding struct {
	Stream  string `json:"stream"`
	Seq     int64  `json:"seq"`
	Problem string `json:"problem"`
	Detail  string `json:"detail"`
}

func (f Finding) String() string {
	if f.Seq == 0 { // not a record of a stream (the temporal index)
		return fmt.Sprintf("%s: %s: %s", f.Stream, f.Problem, f.Detail)
	}
	return fmt.Sprintf("%s seq %d: %s: %s", f.Stream, f.Seq, f.Problem, f.Detail)
}

// maxFindings bounds the findings kept per stream: a renumbered stream
// fails at every record, and the first ones say where it started.
const maxFindings = 100

// moveWindow is how far verify looks for the sequence number a record
// that does not hash right was written under.
const moveWindow = 8

// chain checks one stream, fed its records in sequence order.
type chain struct {
	stream   string
	kept     map[int64][]byte // kept heads of this stream: seq -> hash
	records  int64
	first    int64
	lastSeq  int64
	lastHash []byte
	lastBad  bool // the last record failed its own check
	// anchor is the seq of the retention anchor the chain starts after
	// (see startAfterAnchor in retention.go); 0: the stream starts at 1.
	anchor int64
	// checked holds the kept heads compared with a record or the anchor.
	checked  map[int64]bool
	findings []Finding
	omitted  int
	// derivedPrev: a record's prev is not stored but taken from the
	// stored hash of the record before it (decisions, kept in batches).
	// A record rewritten with a recomputed hash then shows as its
	// successor edited, and the finding says so.
	derivedPrev bool
}

func newChain(stream string, kept []Head) *chain {
	c := &chain{stream: stream, kept: map[int64][]byte{}, checked: map[int64]bool{}, derivedPrev: stream == store.StreamDecisions}
	for _, h := range kept {
		if h.Stream == stream {
			c.kept[h.Seq] = h.Hash
		}
	}
	return c
}

func (c *chain) report(seq int64, problem, format string, args ...any) {
	if len(c.findings) >= maxFindings {
		c.omitted++
		return
	}
	c.findings = append(c.findings, Finding{Stream: c.stream, Seq: seq, Problem: problem, Detail: fmt.Sprintf(format, args...)})
}

// add checks the next record: seq, its stored prev and hash, and rehash,
// which computes the record's hash as if it had sequence number s.
func (c *chain) add(seq int64, prev, hash []byte, rehash func(s int64) []byte) {
	gap := false
	switch {
	case c.records == 0 && seq > c.anchor+1:
		gap = true
		c.report(c.anchor+1, ProblemDeleted, "%s before the first record (seq %d)", missing(c.anchor+1, seq-1), seq)
	case c.records > 0 && seq != c.lastSeq+1:
		gap = true
		c.report(c.lastSeq+1, ProblemDeleted, "%s between seq %d and seq %d", missing(c.lastSeq+1, seq-1), c.lastSeq, seq)
	}
	bad := false
	if !bytes.Equal(rehash(seq), hash) {
		bad = true
		if from, ok := c.movedFrom(seq, hash, rehash); ok {
			c.report(seq, ProblemReordered, "holds the record written as seq %d", from)
		} else if c.derivedPrev && c.records > 0 && !gap {
			c.report(seq, ProblemEdited, "the stored hash does not match the record's content: this record was edited, "+
				"or seq %d was rewritten with a recomputed hash (a decision's prev is the stored hash of the one before it)", c.lastSeq)
		} else {
			c.report(seq, ProblemEdited, "the stored hash does not match the record's content")
		}
	} else if (c.records > 0 || c.anchor > 0) && !gap && !c.lastBad && !bytes.Equal(prev, c.lastHash) {
		bad = true
		c.report(seq, ProblemBrokenLink, "prev does not match the hash of seq %d: that record was rewritten, or this one inserted", c.lastSeq)
	}
	if want, ok := c.kept[seq]; ok {
		c.checked[seq] = true
		if !bytes.Equal(want, hash) {
			c.report(seq, ProblemHeadMismatch, "hash %x differs from the kept head %x: the stream was rewritten", hash, want)
		}
	}
	if c.records == 0 {
		c.first = seq
	}
	c.records++
	c.lastSeq, c.lastHash, c.lastBad = seq, hash, bad
}

// movedFrom looks for the sequence number near seq under which the
// record hashes to its stored hash.
func (c *chain) movedFrom(seq int64, hash []byte, rehash func(int64) []byte) (int64, bool) {
	if len(c.findings) >= maxFindings {
		return 0, false // already flooded: spare the work
	}
	for d := int64(1); d <= moveWindow; d++ {
		for _, s := range []int64{seq - d, seq + d} {
			if s > 0 && bytes.Equal(rehash(s), hash) {
				return s, true
			}
		}
	}
	return 0, false
}

// finish checks the end of the stream, counter being the highest
// sequence number the store ever assigned in it, and that every kept head
// was checked: a head whose record is not there is a finding, never a
// pass.
func (c *chain) finish(counter int64) {
	if c.anchor > 0 && c.anchor >= counter {
		c.report(c.anchor, ProblemImpossibleAnchor, "the retention anchor at seq %d is at or past the stream's last seq %d; "+
			"retention always keeps the newest decision", c.anchor, counter)
	}
	if counter > c.lastSeq {
		c.report(c.lastSeq+1, ProblemDeleted, "%s at the end: the stream's counter is at %d", missing(c.lastSeq+1, counter), counter)
	}
	var lost []int64
	for seq := range c.kept {
		if !c.checked[seq] {
			lost = append(lost, seq)
		}
	}
	slices.Sort(lost)
	for _, seq := range lost {
		switch {
		case seq > c.lastSeq:
			c.report(seq, ProblemTruncated, "the stream ends at seq %d, before the kept head seq %d", c.lastSeq, seq)
		case seq < c.anchor:
			c.report(seq, ProblemPruned, "the kept head cannot be checked: the stream starts after its retention anchor at seq %d; "+
				"keep a head at or after seq %d instead", c.anchor, c.anchor)
		default:
			c.report(seq, ProblemDeleted, "the record of the kept head seq %d is missing", seq)
		}
	}
}

func missing(from, to int64) string {
	if from == to {
		return fmt.Sprintf("seq %d missing", from)
	}
	return fmt.Sprintf("seqs %d-%d missing (%d records)", from, to, to-from+1)
}
