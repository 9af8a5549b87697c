package directory_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/scimgate/scimgate/directory"
	"github.com/scimgate/scimgate/store"
)

// TestBeginLoginBounded: sign-ins in progress are bounded, since anyone
// can start one; expired ones make room again, and a finished one is gone.
func TestBeginLoginBounded(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	const maxAge, limit = 10 * time.Minute, 3
	begin := func(state string) error {
		return f.dir.BeginLogin(ctx, store.LoginState{State: state, Nonce: "n", Verifier: "v", ReturnTo: "/", Created: f.clock.Now()}, maxAge, limit)
	}
	for i := range limit {
		if err := begin(fmt.Sprint("s", i)); err != nil {
			t.Fatalf("sign-in %d: %v", i, err)
		}
	}
	if err := begin("one-too-many"); !errors.Is(err, directory.ErrTooManyLogins) {
		t.Fatalf("sign-in past the limit = %v, want ErrTooManyLogins", err)
	}
	if _, err := f.dir.FinishLogin(ctx, "s0", maxAge); err != nil {
		t.Fatal(err)
	}
	if err := begin("after-one-finished"); err != nil {
		t.Errorf("sign-in after one finished = %v", err)
	}
	f.clock.Advance(maxAge + time.Second)
	for i := range limit {
		if err := begin(fmt.Sprint("later", i)); err != nil {
			t.Fatalf("sign-in %d after the others expired: %v", i, err)
		}
	}
	if _, err := f.dir.FinishLogin(ctx, "s1", maxAge); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("an expired sign-in finished: %v", err)
	}
}
