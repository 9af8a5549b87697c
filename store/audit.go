package store

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"math"
	"time"
)

// The audit trail is three append-only streams, each a hash chain: the
// directory change log (Change), the policies that were loaded
// (PolicyVersion) and access decisions (Decision). Every record carries
// the hash of the record before it (Prev) and its own hash (Hash), which
// covers Prev and every field of the record in a canonical encoding. The
// functions below are that encoding: backends compute the hashes with
// them when they append, and the verifier (package audit) recomputes them.

// PolicyVersion is one policy that was loaded, with where from and what.
type PolicyVersion struct {
	Seq    int64
	At     time.Time
	Source string // where it was loaded from: a file path, "caddy"
	Digest string // policy.Policy.Hash of what was loaded
	Doc    []byte // JSON of the []config.Route it was compiled from
	Prev   []byte
	Hash   []byte
}

// Decision is one access decision of the gateway, as the audit trail
// keeps it.
type Decision struct {
	Seq      int64
	At       time.Time
	TenantID int64  // 0: no user
	UserID   string // "" when the request had no valid user
	UserName string
	Route    string // "" when no route applied
	Method   string
	Host     string
	Path     string
	Allow    bool
	Reason   string // engine's stable reason string
	Adapter  string // "proxy", "forward-auth", "caddy", "spoe"
	Remote   string // the client's address as the adapter saw it
	// CredKind is how the request authenticated: CredToken, CredSession,
	// or "" for none.
	CredKind string
	CredID   string // the access token or session id
	Prev     []byte
	Hash     []byte
}

// Credential kinds of a Decision.
const (
	CredToken   = "token"
	CredSession = "session"
)

// Audit stream names, as verify reports and --head flags name them.
const (
	StreamChanges   = "changes"
	StreamPolicies  = "policies"
	StreamDecisions = "decisions"
)

// AuditReadTx reads the policy and decision streams, and every stream in
// time order (part of ReadTx).
type AuditReadTx interface {
	// PolicyVersions returns up to limit policy versions with Seq > after,
	// in order.
	PolicyVersions(ctx context.Context, after int64, limit int) ([]PolicyVersion, error)
	// PolicyVersionAt returns the policy version in force at at: the
	// last one appended that took effect by then, a version taking effect
	// at the latest At of it and the versions appended before it (a
	// version loaded after another is in force after it even when the
	// clock stepped back in between). ErrNotFound when there is none.
	PolicyVersionAt(ctx context.Context, at time.Time) (PolicyVersion, error)
	// Decisions returns up to limit decisions with Seq > after, in order.
	Decisions(ctx context.Context, after int64, limit int) ([]Decision, error)
	// ChangesByTime returns up to limit changes after the cursor with At
	// before until (zero: no bound), ordered by At, then Seq.
	ChangesByTime(ctx context.Context, after TimeCursor, until time.Time, limit int) ([]Change, error)
	// DecisionsByTime is ChangesByTime for decisions.
	DecisionsByTime(ctx context.Context, after TimeCursor, until time.Time, limit int) ([]Decision, error)
	// SeqCounter returns the highest sequence number a stream
	// (StreamChanges, StreamPolicies, StreamDecisions) has assigned,
	// including to records deleted since; 0 when none.
	SeqCounter(ctx context.Context, stream string) (int64, error)
}

// AuditTx appends to the policy and decision streams (part of Tx). The
// previous hash is read inside the transaction, so that a write rolled
// back never leaves a record chained to it.
type AuditTx interface {
	// AppendPolicyVersion adds v to the policy stream and sets v.Seq,
	// v.Prev and v.Hash.
	AppendPolicyVersion(ctx context.Context, v *PolicyVersion) error
	// AppendDecisions adds ds, in order, to the decision stream and sets
	// the Seq, Prev and Hash of each.
	AppendDecisions(ctx context.Context, ds []Decision) error
}

// TimeCursor is a position in a stream read in time order: records after
// it have a later At, or the same At and a greater Seq. The zero cursor
// is before every record.
type TimeCursor struct {
	At  time.Time
	Seq int64
}

// CursorAt returns the cursor just before the first record at or after t.
func CursorAt(t time.Time) TimeCursor { return TimeCursor{At: t} }

// Domain separation: a record of one stream never hashes like a record
// of another.
const (
	tagChange   = "scimgate/change/v1"
	tagPolicy   = "scimgate/policy/v1"
	tagDecision = "scimgate/decision/v1"
)

// HashChange returns the hash of c (c.Seq set) chained after prev: the
// SHA-256 of prev and every field of c, each length-prefixed. Edges are
// hashed as their JSON encoding.
func HashChange(prev []byte, c *Change) []byte {
	var edges []byte
	if len(c.Edges) > 0 {
		// Marshalling a slice of plain structs cannot fail.
		edges, _ = json.Marshal(c.Edges)
	}
	return HashChangeRaw(prev, c, edges)
}

// HashChangeRaw is HashChange with c.Edges already encoded as JSON (nil
// when there are none), for backends that hold the stored encoding.
func HashChangeRaw(prev []byte, c *Change, edges []byte) []byte {
	h := newHasher(tagChange, prev)
	h.int(c.Seq)
	h.int(c.TenantID)
	h.int(UnixNanos(c.At))
	h.str(c.Actor)
	h.str(c.ResourceType)
	h.str(c.ResourceID)
	h.str(c.Op)
	h.bytes(c.Before)
	h.bytes(c.After)
	h.bytes(edges)
	h.bytes(c.Detail)
	return h.sum()
}

// HashPolicyVersion returns the hash of v (v.Seq set) chained after prev.
func HashPolicyVersion(prev []byte, v *PolicyVersion) []byte {
	h := newHasher(tagPolicy, prev)
	h.int(v.Seq)
	h.int(UnixNanos(v.At))
	h.str(v.Source)
	h.str(v.Digest)
	h.bytes(v.Doc)
	return h.sum()
}

// HashDecision returns the hash of d (d.Seq set) chained after prev.
func HashDecision(prev []byte, d *Decision) []byte {
	return hashDecisionRecord(prev, AppendDecisionRecord(make([]byte, 0, 256), d))
}

// Times as every backend stores and compares them (UnixNanos), and as
// records are hashed: nanoseconds since the Unix epoch in an int64.
var (
	minNanosTime = time.Unix(0, math.MinInt64)
	maxNanosTime = time.Unix(0, math.MaxInt64)
)

// UnixNanos is how every backend stores and compares times: nanoseconds
// since the Unix epoch, 0 for the zero time. A time outside what an int64
// holds (before 1677-09-21 or after 2262-04-11) is clamped to the nearest
// end, where time.Time.UnixNano would overflow: a question about the
// year 9999 is one about the end of time, not about some year in 1700.
func UnixNanos(t time.Time) int64 {
	switch {
	case t.IsZero():
		return 0
	case t.Before(minNanosTime):
		return math.MinInt64
	case t.After(maxNanosTime):
		return math.MaxInt64
	}
	return t.UnixNano()
}

// hasher builds the canonical encoding — a tag, the previous hash, then
// fields as 8-byte big-endian integers or length-prefixed bytes — and
// hashes it in one go. Nil and empty byte fields encode alike.
type hasher struct{ buf []byte }

func newHasher(tag string, prev []byte) hasher {
	h := hasher{buf: make([]byte, 0, 512)}
	h.str(tag)
	h.bytes(prev)
	return h
}

func (h *hasher) int(v int64) { h.buf = binary.BigEndian.AppendUint64(h.buf, uint64(v)) }

func (h *hasher) bytes(b []byte) {
	h.int(int64(len(b)))
	h.buf = append(h.buf, b...)
}

func (h *hasher) str(s string) {
	h.int(int64(len(s)))
	h.buf = append(h.buf, s...)
}

func (h *hasher) sum() []byte {
	sum := sha256.Sum256(h.buf)
	return sum[:]
}

// HistoryMismatch is a row of the temporal index that differs from the
// index rebuilt from the change log: a row the log does not explain, or
// (Missing) one it explains that the index lacks.
type HistoryMismatch struct {
	Table   string `json:"table"`
	Row     string `json:"row"`
	Missing bool   `json:"missing,omitempty"`
}
