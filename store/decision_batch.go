package store

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// Decisions are stored in batches: one value per batch holds many
// decisions, each with its hash. A row per decision cost more to bind
// through a database driver than the decision itself, and most of a
// decision repeats the one before it (the same user, route, host,
// adapter), so a batch stores each distinct string once. The chain stays
// per decision: verify recomputes every hash from the decoded fields
// (HashDecision) and still names the record that was touched.
//
// Batch layout (integers are varints; signed ones zig-zag encoded):
//
//	version byte (1)
//	uvarint(number of strings), then each: uvarint(length) bytes
//	per decision:
//	    seq minus the previous decision's seq (signed; the first: seq)
//	    at, in Unix nanoseconds, minus the previous decision's (signed)
//	    tenant (signed)
//	    11 string indexes: user id, user name, route, method, host,
//	        path, reason, adapter, remote, credential kind and id
//	    allow byte (0 or 1)
//	    hash[32]
//
// The first decision's prev is kept beside the batch; each next one's
// prev is the hash before it.

// ErrCorruptBatch is returned, wrapped, when a stored batch cannot be
// decoded.
var ErrCorruptBatch = errors.New("corrupt decision batch")

const batchVersion = 1

// decisionStrings is how many string fields a decision has.
const decisionStrings = 11

// AppendDecisionRecord appends d's canonical encoding to buf: the fields
// HashDecision covers, in its order.
func AppendDecisionRecord(buf []byte, d *Decision) []byte {
	h := hasher{buf: buf}
	h.int(d.Seq)
	h.int(UnixNanos(d.At))
	h.int(d.TenantID)
	h.str(d.UserID)
	h.str(d.UserName)
	h.str(d.Route)
	h.str(d.Method)
	h.str(d.Host)
	h.str(d.Path)
	if d.Allow {
		h.int(1)
	} else {
		h.int(0)
	}
	h.str(d.Reason)
	h.str(d.Adapter)
	h.str(d.Remote)
	h.str(d.CredKind)
	h.str(d.CredID)
	return h.buf
}

// hashDecisionRecord hashes a record as HashDecision does.
func hashDecisionRecord(prev, record []byte) []byte {
	sum := sha256.Sum256(decisionHashInput(make([]byte, 0, 64+len(prev)+len(record)), prev, record))
	return sum[:]
}

// decisionHashInput appends what HashDecision hashes to buf: the tag,
// prev and the record.
func decisionHashInput(buf, prev, record []byte) []byte {
	h := hasher{buf: buf}
	h.str(tagDecision)
	h.bytes(prev)
	return append(h.buf, record...)
}

// AppendDecisionBatch chains ds after prev (setting each Prev and Hash;
// Seq must be set) and appends their batch encoding to buf.
func AppendDecisionBatch(buf []byte, prev []byte, ds []Decision) []byte {
	in := make([]byte, 0, 1024)
	hashes := make([]byte, 0, len(ds)*sha256.Size) // one allocation for the batch's hashes
	for i := range ds {
		d := &ds[i]
		in = decisionHashInput(in[:0], prev, nil)
		in = AppendDecisionRecord(in, d)
		sum := sha256.Sum256(in)
		hashes = append(hashes, sum[:]...)
		d.Prev = prev
		d.Hash = hashes[len(hashes)-sha256.Size : len(hashes) : len(hashes)]
		prev = d.Hash
	}
	return appendBatch(buf, ds)
}

// EncodeDecisionBatch encodes ds with their stored Hash as it is,
// without recomputing it: what a store rewrites when it keeps part of a
// batch. A hash of the wrong length is stored as zeros, which matches
// nothing.
func EncodeDecisionBatch(ds []Decision) []byte { return appendBatch(nil, ds) }

func decisionFields(d *Decision) [decisionStrings]*string {
	return [decisionStrings]*string{&d.UserID, &d.UserName, &d.Route, &d.Method, &d.Host, &d.Path, &d.Reason, &d.Adapter,
		&d.Remote, &d.CredKind, &d.CredID}
}

func appendBatch(buf []byte, ds []Decision) []byte {
	var (
		table   []byte
		n       uint64
		index   = make(map[string]uint64, 64)
		last    [decisionStrings]string
		lastIdx [decisionStrings]uint64
		body    = make([]byte, 0, len(ds)*64)
		seq, at int64
	)
	for i := range ds {
		d := &ds[i]
		body = binary.AppendVarint(body, d.Seq-seq)
		body = binary.AppendVarint(body, UnixNanos(d.At)-at)
		body = binary.AppendVarint(body, d.TenantID)
		seq, at = d.Seq, UnixNanos(d.At)
		for f, p := range decisionFields(d) {
			s := *p
			// Most fields repeat the decision before: no map lookup.
			if i == 0 || s != last[f] {
				idx, ok := index[s]
				if !ok {
					idx = n
					n++
					index[s] = idx
					table = binary.AppendUvarint(table, uint64(len(s)))
					table = append(table, s...)
				}
				last[f], lastIdx[f] = s, idx
			}
			body = binary.AppendUvarint(body, lastIdx[f])
		}
		if d.Allow {
			body = append(body, 1)
		} else {
			body = append(body, 0)
		}
		if len(d.Hash) == sha256.Size {
			body = append(body, d.Hash...)
		} else {
			body = append(body, make([]byte, sha256.Size)...)
		}
	}
	buf = append(buf, batchVersion)
	buf = binary.AppendUvarint(buf, n)
	buf = append(buf, table...)
	return append(buf, body...)
}

// batchReader reads a batch, remembering the first problem.
type batchReader struct {
	b   []byte
	err error
}

func (r *batchReader) fail(what string) {
	if r.err == nil {
		r.err = errors.New(what)
	}
}

func (r *batchReader) uvarint(what string) uint64 {
	if r.err != nil {
		return 0
	}
	v, k := binary.Uvarint(r.b)
	if k <= 0 {
		r.fail("bad " + what)
		return 0
	}
	r.b = r.b[k:]
	return v
}

func (r *batchReader) varint(what string) int64 {
	if r.err != nil {
		return 0
	}
	v, k := binary.Varint(r.b)
	if k <= 0 {
		r.fail("bad " + what)
		return 0
	}
	r.b = r.b[k:]
	return v
}

func (r *batchReader) bytes(n uint64, what string) []byte {
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)) {
		r.fail("truncated " + what)
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

// DecodeDecisionBatch decodes a batch whose first decision chains after
// prev. On a malformed batch it returns the decisions before the damage
// and an error wrapping ErrCorruptBatch.
func DecodeDecisionBatch(prev, data []byte) ([]Decision, error) {
	r := batchReader{b: data}
	if v := r.bytes(1, "version"); r.err == nil && v[0] != batchVersion {
		r.fail(fmt.Sprintf("unknown version %d", v[0]))
	}
	n := r.uvarint("string count")
	if n > uint64(len(r.b)) { // every string takes a byte at least
		r.fail("bad string count")
	}
	var strs []string
	for i := uint64(0); i < n && r.err == nil; i++ {
		strs = append(strs, string(r.bytes(r.uvarint("string length"), "string")))
	}
	if r.err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorruptBatch, r.err)
	}
	var out []Decision
	var seq, at int64
	for len(r.b) > 0 {
		var d Decision
		seq += r.varint("seq")
		at += r.varint("time")
		d.Seq = seq
		if at != 0 {
			d.At = time.Unix(0, at).UTC()
		}
		d.TenantID = r.varint("tenant")
		for _, p := range decisionFields(&d) {
			if i := r.uvarint("string index"); i < uint64(len(strs)) {
				*p = strs[i]
			} else {
				r.fail("string index out of range")
			}
		}
		switch a := r.bytes(1, "allow flag"); {
		case r.err != nil:
		case a[0] == 1:
			d.Allow = true
		case a[0] != 0:
			r.fail("bad allow flag")
		}
		hash := r.bytes(sha256.Size, "hash")
		if r.err != nil {
			return out, fmt.Errorf("%w: decision %d: %w", ErrCorruptBatch, len(out)+1, r.err)
		}
		d.Prev = prev
		d.Hash = append([]byte(nil), hash...)
		prev = d.Hash
		out = append(out, d)
	}
	return out, nil
}
