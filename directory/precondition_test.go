package directory_test

import (
	"errors"
	"testing"

	"github.com/scimgate/scimgate/directory"
	"github.com/scimgate/scimgate/scim"
)

// TestPreconditionCheck covers RFC 7232 sections 3.1, 3.2 and 6 for
// writes: If-Match must match, then If-None-Match must not; the tag is
// computed only when a header is present.
func TestPreconditionCheck(t *testing.T) {
	const cur = `W/"2"`
	tests := []struct {
		pre     directory.Precondition
		want412 bool
	}{
		{directory.Precondition{}, false},
		{directory.Precondition{IfMatch: cur}, false},
		{directory.Precondition{IfMatch: `"2"`}, false},
		{directory.Precondition{IfMatch: "*"}, false},
		{directory.Precondition{IfMatch: `W/"1"`}, true},
		{directory.Precondition{IfNoneMatch: "*"}, true},
		{directory.Precondition{IfNoneMatch: `W/"1", W/"2"`}, true},
		{directory.Precondition{IfNoneMatch: `W/"1"`}, false},
		{directory.Precondition{IfMatch: cur, IfNoneMatch: cur}, true},
		{directory.Precondition{IfMatch: `W/"1"`, IfNoneMatch: `W/"1"`}, true},
	}
	for _, tt := range tests {
		calls := 0
		err := tt.pre.Check(func() (string, error) { calls++; return cur, nil })
		if got := err != nil; got != tt.want412 {
			t.Errorf("%+v.Check() = %v, want 412 %v", tt.pre, err, tt.want412)
		}
		if err != nil && scim.AsError(err).Code != scim.CodePreconditionFailed {
			t.Errorf("%+v.Check() = %v, want code PreconditionFailed", tt.pre, err)
		}
		if wantCalls := min(1, len(tt.pre.IfMatch+tt.pre.IfNoneMatch)); calls != wantCalls {
			t.Errorf("%+v.Check() computed the tag %d times, want %d", tt.pre, calls, wantCalls)
		}
	}
	boom := errors.New("boom")
	if err := (directory.Precondition{IfMatch: "*"}).Check(func() (string, error) { return "", boom }); !errors.Is(err, boom) {
		t.Errorf("Check with a failing tag = %v, want %v", err, boom)
	}
}
