package sqlite

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/scimgate/scimgate/store"
)

// TestCancelledWriteKeepsItsBatch: a request whose context ends while its
// statement runs (an IdP giving up on a large PATCH, a client gone) must
// not undo the other writes of its batch. SQLite answers an interrupted
// INSERT, UPDATE or DELETE by rolling back the whole transaction, the
// savepoints other requests had released included.
func TestCancelledWriteKeepsItsBatch(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var tn store.Tenant
	if err := s.Update(ctx, func(tx store.Tx) error {
		tn, err = tx.CreateTenant(ctx, "t", time.Now())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	queued := func(n int) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); len(s.writes) < n; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%d writes queued, want %d", len(s.writes), n)
			}
		}
	}

	// The writer is held so that a and b land in one batch, a first.
	release := make(chan struct{})
	held := make(chan error, 1)
	inside := make(chan struct{})
	go func() { held <- s.Update(ctx, func(store.Tx) error { close(inside); <-release; return nil }) }()
	<-inside
	a := make(chan error, 1)
	go func() {
		a <- s.Update(ctx, func(tx store.Tx) error {
			return tx.AppendChange(ctx, &store.Change{TenantID: tn.ID, At: time.Now(), Actor: "a",
				ResourceType: store.TypeUser, ResourceID: "a", Op: store.OpCreate, After: []byte(`{}`)})
		})
	}()
	queued(1)
	bctx, cancel := context.WithCancel(ctx)
	defer cancel()
	b := make(chan error, 1)
	go func() {
		b <- s.Update(bctx, func(tx store.Tx) error {
			// Long enough (a tenth of a second and more) for the cancel to land inside it; the
			// rows name no group.
			time.AfterFunc(20*time.Millisecond, cancel)
			_, err := tx.(*txn).q.ExecContext(bctx, `INSERT INTO members (group_rid, member_rid)
				WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c LIMIT 100000) SELECT -1, x FROM c`)
			return err
		})
	}()
	queued(2)
	close(release)
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	if err := <-a; err != nil {
		t.Errorf("a, in the batch of a cancelled request: %v", err)
	}
	t.Logf("b, cancelled while its statement ran: %v", <-b)
	if err := s.View(ctx, func(tx store.ReadTx) error {
		cs, err := tx.Changes(ctx, 0, 10)
		if err == nil && (len(cs) != 1 || cs[0].Actor != "a") {
			t.Errorf("changes stored %+v, want a's", cs)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
}
