package store_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/scimgate/scimgate/store"
)

func batchDecisions() []store.Decision {
	return []store.Decision{
		{Seq: 7, At: at, TenantID: 2, UserID: "u1", UserName: "alice@example.com", Route: "admin", Method: "GET",
			Host: "app.example.com", Path: "/x?y", Allow: true, Reason: "allowed", Adapter: "proxy", Remote: "127.0.0.1:5",
			CredKind: store.CredToken, CredID: "t1"},
		{Seq: 8, At: at.Add(time.Millisecond), Method: "POST", Host: "h", Path: "/", Reason: "no-credentials", Adapter: "caddy"},
		{Seq: 9}, // every field empty, the zero time included
	}
}

// TestDecisionBatch: a batch chains its decisions exactly as HashDecision
// does one by one, and decodes back to them.
func TestDecisionBatch(t *testing.T) {
	prev := bytes.Repeat([]byte{7}, 32)
	ds := batchDecisions()
	data := store.AppendDecisionBatch(nil, prev, ds)
	p := prev
	for i := range ds {
		want := store.HashDecision(p, &ds[i])
		if !bytes.Equal(ds[i].Prev, p) || !bytes.Equal(ds[i].Hash, want) {
			t.Errorf("decision %d: prev %x hash %x; want %x %x", i, ds[i].Prev, ds[i].Hash, p, want)
		}
		p = want
	}
	got, err := store.DecodeDecisionBatch(prev, data)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(ds, got); diff != "" {
		t.Errorf("decoded batch mismatch (-want +got):\n%s", diff)
	}
	if again := store.EncodeDecisionBatch(got); !bytes.Equal(again, data) {
		t.Error("EncodeDecisionBatch of the decoded batch differs from the batch")
	}
}

// TestDecisionBatchCorrupt: damage is an error wrapping ErrCorruptBatch
// that keeps the decisions before it, never a panic.
func TestDecisionBatchCorrupt(t *testing.T) {
	ds := batchDecisions()
	data := store.AppendDecisionBatch(nil, nil, ds)
	// Every prefix: either whole decisions, the first ones, or an error.
	for i := range len(data) {
		got, err := store.DecodeDecisionBatch(nil, data[:i])
		if err != nil && !errors.Is(err, store.ErrCorruptBatch) {
			t.Fatalf("prefix %d: error %v does not wrap ErrCorruptBatch", i, err)
		}
		if len(got) >= len(ds) || !cmp.Equal(got, ds[:len(got)], cmpopts.EquateEmpty()) {
			t.Fatalf("prefix %d: decoded %d decisions, not a prefix of the batch", i, len(got))
		}
	}
	zeros := make([]byte, 32)
	// One string, "", and one decision: seq 1 (zig-zag 2), at 0, tenant 0,
	// 11 indexes, the allow flag, the hash.
	one := func(index, allow byte) []byte {
		b := []byte{1, 1, 0, 2, 0, 0}
		for range 11 {
			b = append(b, index)
		}
		return append(append(b, allow), zeros...)
	}
	if got, err := store.DecodeDecisionBatch(nil, one(0, 1)); err != nil || len(got) != 1 || got[0].Seq != 1 || !got[0].Allow {
		t.Fatalf("hand-made batch: %+v, %v", got, err)
	}
	tests := []struct {
		name, want string
		data       []byte
	}{
		{"unknown version", "unknown version 2", append([]byte{2}, data[1:]...)},
		{"string index out of range", "string index out of range", one(1, 1)},
		{"allow flag 2", "bad allow flag", one(0, 2)},
		{"string count past the end", "bad string count", []byte{1, 100, 0}},
		{"overflowing varint", "bad seq", append([]byte{1, 0}, bytes.Repeat([]byte{0xff}, 11)...)},
	}
	for _, tt := range tests {
		got, err := store.DecodeDecisionBatch(nil, tt.data)
		if !errors.Is(err, store.ErrCorruptBatch) || !strings.Contains(err.Error(), tt.want) || len(got) != 0 {
			t.Errorf("%s: %d decisions, %v; want none and an error with %q", tt.name, len(got), err, tt.want)
		}
	}
}

// TestDecisionBatchSize: what the batch format is for. Decisions that
// repeat each other's strings take a few dozen bytes besides their hash.
func TestDecisionBatchSize(t *testing.T) {
	ds := make([]store.Decision, 512)
	for i := range ds {
		ds[i] = batchDecisions()[0]
		ds[i].Seq = int64(i + 1)
		ds[i].At = at.Add(time.Duration(i) * 40 * time.Microsecond)
		ds[i].Path = fmt.Sprint("/app/", i%10)
	}
	data := store.AppendDecisionBatch(nil, nil, ds)
	if per := len(data) / len(ds); per > 32+24 {
		t.Errorf("%d bytes per decision, want at most 56", per)
	}
}

func FuzzDecodeDecisionBatch(f *testing.F) {
	f.Add(store.AppendDecisionBatch(nil, nil, batchDecisions()))
	f.Add([]byte{})
	f.Add([]byte{1, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		ds, err := store.DecodeDecisionBatch(nil, data)
		if err != nil && !errors.Is(err, store.ErrCorruptBatch) {
			t.Fatalf("error %v does not wrap ErrCorruptBatch", err)
		}
		// What decodes encodes to a batch that decodes the same.
		again, err := store.DecodeDecisionBatch(nil, store.EncodeDecisionBatch(ds))
		if err != nil || !cmp.Equal(ds, again, cmpopts.EquateEmpty()) {
			t.Fatalf("re-encoded batch decodes to %+v, %v; want %+v", again, err, ds)
		}
	})
}
