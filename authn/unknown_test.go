package authn

import (
	"context"
	"fmt"
	"testing"

	"github.com/scimgate/scimgate/engine"
	"github.com/scimgate/scimgate/snapshot"
)

// syncCounter is an empty directory that counts the change-log reads it
// is asked for.
type syncCounter struct {
	s     *snapshot.Snapshot
	syncs int
}

func (c *syncCounter) Current() *snapshot.Snapshot { return c.s }
func (c *syncCounter) Sync(context.Context) error  { c.syncs++; return nil }

// TestUnknownIDsReadOnce: an unknown token or session id costs one read
// of the change log; the same id again (a script still using a deleted
// token) is refused without another; a different id reads again; past
// maxUnknown ids the set starts over.
func TestUnknownIDsReadOnce(t *testing.T) {
	s, err := snapshot.Build(nil)
	if err != nil {
		t.Fatal(err)
	}
	src := &syncCounter{s: s}
	a := New(src, Options{CookieName: "sg"})
	token := func(i int) string { return fmt.Sprintf("sga_%016x_secretsecretsecret", i) }
	session := func(i int) string { return fmt.Sprintf("%016x.secretsecretsecret", i) }
	for i, st := range []struct {
		f     func() engine.Principal
		syncs int
	}{
		{func() engine.Principal { return a.Token(token(1)) }, 1},
		{func() engine.Principal { return a.Token(token(1)) }, 1},
		{func() engine.Principal { return a.Token(token(2)) }, 2},
		{func() engine.Principal { return a.Session(session(1)) }, 3},
		{func() engine.Principal { return a.Session(session(1)) }, 3},
	} {
		if p := st.f(); p.Reject == "" {
			t.Errorf("step %d: not refused", i)
		}
		if src.syncs != st.syncs {
			t.Errorf("step %d: %d change-log reads, want %d", i, src.syncs, st.syncs)
		}
	}
	for i := range maxUnknown {
		a.Token(token(1000 + i))
	}
	before := src.syncs
	a.Token(token(1))
	if src.syncs != before+1 {
		t.Errorf("after %d other ids, an id remembered earlier read the change log %d times, want once (forgotten)", maxUnknown, src.syncs-before)
	}
}
