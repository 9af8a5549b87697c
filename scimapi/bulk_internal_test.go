package scimapi

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestSubstitutePrefixes checks that a bulkId that is a prefix of another
// never rewrites part of the longer reference. The map is consulted in
// random order, so each case runs many times.
func TestSubstitutePrefixes(t *testing.T) {
	ids := map[string]string{"u1": "ID1", "u10": "ID10", "p": "IDP", "p2": "IDP2", "a": "IDA"}
	tests := []struct {
		name string
		op   bulkOp
		want bulkOp
	}{
		{
			name: "members u1 and u10",
			op:   bulkOp{Data: map[string]any{"members": []any{map[string]any{"value": "bulkId:u1"}, map[string]any{"value": "bulkId:u10"}}}},
			want: bulkOp{Data: map[string]any{"members": []any{map[string]any{"value": "ID1"}, map[string]any{"value": "ID10"}}}},
		},
		{
			name: "path and filter with p and p2",
			op:   bulkOp{Path: "/Groups/bulkId:p2", Data: map[string]any{"path": `members[value eq "bulkId:p"]`, "other": "bulkId:p2 bulkId:p"}},
			want: bulkOp{Path: "/Groups/IDP2", Data: map[string]any{"path": `members[value eq "IDP"]`, "other": "IDP2 IDP"}},
		},
		{
			name: "unknown longer reference is left alone",
			op:   bulkOp{Data: "bulkId:ab"},
			want: bulkOp{Data: "bulkId:ab"},
		},
		{
			name: "empty reference is left alone",
			op:   bulkOp{Data: "bulkId:"},
			want: bulkOp{Data: "bulkId:"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for range 50 {
				got := substitute(tt.op, ids)
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Fatalf("substitute(%v) mismatch (-want +got):\n%s", tt.op, diff)
				}
			}
		})
	}
}

func TestBulkRefs(t *testing.T) {
	op := bulkOp{Path: "/Users/bulkId:u10", Data: map[string]any{"members": []any{map[string]any{"value": "bulkId:u1"}}, "x": "bulkId:"}}
	got := bulkRefs(op)
	want := []string{"u10", "u1"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("bulkRefs(%v) mismatch (-want +got):\n%s", op, diff)
	}
}
