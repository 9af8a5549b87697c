package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/scimgate/scimgate/store"
)

// testChangeChain checks that the change log is hash-chained in commit
// order, also when concurrent Updates share a transaction and some of
// them roll back after appending.
func testChangeChain(t *testing.T, s store.Store) {
	ctx := context.Background()
	tn := newTenant(t, s, "okta")
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Go(func() {
			_ = s.Update(ctx, func(tx store.Tx) error {
				for j := range 2 {
					c := &store.Change{TenantID: tn.ID, At: t0, Actor: "t", ResourceType: store.TypeUser,
						ResourceID: fmt.Sprint(i, "-", j), Op: store.OpCreate, After: []byte(`{}`)}
					if err := tx.AppendChange(ctx, c); err != nil {
						return err
					}
					if len(c.Hash) != 32 || !bytes.Equal(c.Hash, store.HashChange(c.Prev, c)) {
						t.Errorf("AppendChange set Hash %x, want HashChange(Prev, c)", c.Hash)
					}
				}
				if i%3 == 0 {
					return errors.New("rolled back")
				}
				return nil
			})
		})
	}
	wg.Wait()
	var cs []store.Change
	view(t, s, func(tx store.ReadTx) (err error) {
		cs, err = tx.Changes(ctx, 0, 1000)
		return err
	})
	if len(cs) != 2*26 {
		t.Fatalf("%d changes, want %d", len(cs), 2*26)
	}
	var prev []byte
	for i, c := range cs {
		if c.Seq != int64(i+1) {
			t.Errorf("change %d has seq %d, want %d (no gaps after rollbacks)", i, c.Seq, i+1)
		}
		if !bytes.Equal(c.Prev, prev) {
			t.Errorf("change %d: Prev %x, want the previous Hash %x", c.Seq, c.Prev, prev)
		}
		if !bytes.Equal(c.Hash, store.HashChange(c.Prev, &c)) {
			t.Errorf("change %d: stored Hash %x is not HashChange of the stored record", c.Seq, c.Hash)
		}
		prev = c.Hash
	}
}

func testPolicyVersions(t *testing.T, s store.Store) {
	ctx := context.Background()
	in := []store.PolicyVersion{
		{At: t0, Source: "/etc/scimgate.yaml", Digest: "aa", Doc: []byte(`[{"name":"app"}]`)},
		{At: t0.Add(time.Minute), Source: "/etc/scimgate.yaml", Digest: "bb", Doc: []byte(`[]`)},
		{At: t0.Add(time.Minute), Source: "caddy", Digest: "cc", Doc: []byte(`[{"name":"x"}]`)},
		{At: t0.Add(time.Hour), Source: "caddy", Digest: "dd"},
	}
	var prev []byte
	for i := range in {
		update(t, s, func(tx store.Tx) error {
			v := in[i]
			if err := tx.AppendPolicyVersion(ctx, &v); err != nil {
				return err
			}
			in[i] = v
			return nil
		})
		v := in[i]
		if v.Seq != int64(i+1) || !bytes.Equal(v.Prev, prev) || !bytes.Equal(v.Hash, store.HashPolicyVersion(prev, &v)) {
			t.Errorf("AppendPolicyVersion #%d set Seq %d, Prev %x, Hash %x; want %d, %x, HashPolicyVersion", i, v.Seq, v.Prev, v.Hash, i+1, prev)
		}
		prev = v.Hash
	}
	// A rolled-back append leaves no trace and no hole.
	err := s.Update(ctx, func(tx store.Tx) error {
		v := store.PolicyVersion{At: t0, Source: "x", Digest: "zz"}
		if err := tx.AppendPolicyVersion(ctx, &v); err != nil {
			return err
		}
		return errors.New("rolled back")
	})
	if err == nil {
		t.Fatal("Update: want the function's error")
	}
	view(t, s, func(tx store.ReadTx) error {
		all, err := tx.PolicyVersions(ctx, 0, 100)
		if diff := cmp.Diff(in, all, cmpopts.EquateEmpty()); err != nil || diff != "" {
			t.Errorf("PolicyVersions(0) = %v; mismatch (-want +got):\n%s", err, diff)
		}
		if n, err := tx.SeqCounter(ctx, store.StreamPolicies); err != nil || n != 4 {
			t.Errorf("SeqCounter(policies) = %d, %v; want 4 (the rolled-back append not counted)", n, err)
		}
		if n, err := tx.SeqCounter(ctx, store.StreamChanges); err != nil || n != 0 {
			t.Errorf("SeqCounter(changes) = %d, %v; want 0", n, err)
		}
		if _, err := tx.SeqCounter(ctx, "nope"); err == nil {
			t.Errorf("SeqCounter(nope): want an error")
		}
		if got, err := tx.PolicyVersions(ctx, 2, 1); err != nil || len(got) != 1 || got[0].Seq != 3 {
			t.Errorf("PolicyVersions(after 2, limit 1) = %+v, %v; want seq 3", got, err)
		}
		tests := []versionAt{
			{t0.Add(-time.Nanosecond), 0},
			{t0, 1},
			{t0.Add(time.Second), 1},
			{t0.Add(time.Minute), 3}, // two at the same time: the later one
			{t0.Add(time.Hour - 1), 3},
			{t0.Add(time.Hour), 4},
			{t0.Add(1000 * time.Hour), 4},
		}
		checkVersionsAt(t, tx, tests)
		return nil
	})
	testPolicyClockStep(t, s)
}

// testPolicyClockStep: a version loaded after another but stamped before
// it (the clock stepped back) takes effect when the one before it did,
// and is in force from then on; times beyond what int64 nanoseconds
// hold clamp to the ends of time rather than overflow.
func testPolicyClockStep(t *testing.T, s store.Store) {
	ctx := context.Background()
	update(t, s, func(tx store.Tx) error { // seq 5, stamped before seq 4 (t0 + 1h)
		return tx.AppendPolicyVersion(ctx, &store.PolicyVersion{At: t0.Add(30 * time.Minute), Source: "caddy", Digest: "ee"})
	})
	view(t, s, func(tx store.ReadTx) error {
		tests := []versionAt{
			{t0.Add(30 * time.Minute), 3}, // seq 5's own time: seq 4 was not in force yet, nor is seq 5
			{t0.Add(time.Hour - 1), 3},
			{t0.Add(time.Hour), 5}, // seq 4 and 5 take effect together: the later one
			{t0.Add(1000 * time.Hour), 5},
			{time.Date(2262, 4, 12, 0, 0, 0, 0, time.UTC), 5},
			{time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC), 5},
			{time.Date(1677, 1, 1, 0, 0, 0, 0, time.UTC), 0},
			{time.Date(1, 1, 2, 0, 0, 0, 0, time.UTC), 0},
		}
		checkVersionsAt(t, tx, tests)
		return nil
	})
}

// versionAt is a time and the seq of the policy version in force then;
// 0: none (ErrNotFound).
type versionAt struct {
	at   time.Time
	want int64
}

func checkVersionsAt(t *testing.T, tx store.ReadTx, tests []versionAt) {
	t.Helper()
	ctx := context.Background()
	for _, tt := range tests {
		got, err := tx.PolicyVersionAt(ctx, tt.at)
		if tt.want == 0 {
			if !errors.Is(err, store.ErrNotFound) {
				t.Errorf("PolicyVersionAt(%v) = %+v, %v; want ErrNotFound", tt.at, got, err)
			}
			continue
		}
		if err != nil || got.Seq != tt.want {
			t.Errorf("PolicyVersionAt(%v) = seq %d, %v; want seq %d", tt.at, got.Seq, err, tt.want)
		}
	}
}

func testDecisions(t *testing.T, s store.Store) {
	ctx := context.Background()
	mk := func(i int, allow bool) store.Decision {
		return store.Decision{At: t0.Add(time.Duration(i) * time.Second), TenantID: 1, UserID: "u1", UserName: "alice",
			Route: "app", Method: "GET", Host: "app.example.com", Path: fmt.Sprintf("/app/%d", i), Allow: allow,
			Reason: "group-ok", Adapter: "proxy", Remote: "192.0.2.1:1234", CredKind: store.CredToken, CredID: "tok"}
	}
	var all []store.Decision
	for batch := range 3 {
		ds := []store.Decision{mk(batch*2, true), mk(batch*2+1, false)}
		update(t, s, func(tx store.Tx) error { return tx.AppendDecisions(ctx, ds) })
		all = append(all, ds...)
	}
	// A rolled-back batch leaves no hole in the chain.
	_ = s.Update(ctx, func(tx store.Tx) error {
		if err := tx.AppendDecisions(ctx, []store.Decision{mk(99, true)}); err != nil {
			return err
		}
		return errors.New("rolled back")
	})
	update(t, s, func(tx store.Tx) error { return tx.AppendDecisions(ctx, nil) })
	var prev []byte
	for i, d := range all {
		if d.Seq != int64(i+1) || !bytes.Equal(d.Prev, prev) || !bytes.Equal(d.Hash, store.HashDecision(prev, &d)) {
			t.Errorf("decision %d: Seq %d, Prev %x, Hash %x; want %d, %x and HashDecision", i, d.Seq, d.Prev, d.Hash, i+1, prev)
		}
		prev = d.Hash
	}
	view(t, s, func(tx store.ReadTx) error {
		got, err := tx.Decisions(ctx, 0, 100)
		if diff := cmp.Diff(all, got, cmpopts.EquateEmpty()); err != nil || diff != "" {
			t.Errorf("Decisions(0) = %v; mismatch (-want +got):\n%s", err, diff)
		}
		if n, err := tx.SeqCounter(ctx, store.StreamDecisions); err != nil || n != 6 {
			t.Errorf("SeqCounter(decisions) = %d, %v; want 6", n, err)
		}
		got, err = tx.DecisionsByTime(ctx, store.CursorAt(t0.Add(2*time.Second)), t0.Add(4*time.Second), 100)
		if err != nil || len(got) != 2 || got[0].Seq != 3 || got[1].Seq != 4 {
			t.Errorf("DecisionsByTime([2s, 4s)) = %+v, %v; want seqs 3, 4", got, err)
		}
		got, err = tx.DecisionsByTime(ctx, store.TimeCursor{At: all[4].At, Seq: all[4].Seq}, time.Time{}, 100)
		if err != nil || len(got) != 1 || got[0].Seq != 6 {
			t.Errorf("DecisionsByTime(after seq 5) = %+v, %v; want seq 6", got, err)
		}
		return nil
	})
}

// testChangesByTime reads the change log in time order, which is not
// always commit order: At is stamped before the write is queued.
func testChangesByTime(t *testing.T, s store.Store) {
	ctx := context.Background()
	tn := newTenant(t, s, "okta")
	ats := []time.Duration{3, 1, 2, 2, 5} // seconds after t0, in commit order
	for i, d := range ats {
		update(t, s, func(tx store.Tx) error {
			return tx.AppendChange(ctx, &store.Change{TenantID: tn.ID, At: t0.Add(d * time.Second), Actor: "t",
				ResourceType: store.TypeUser, ResourceID: fmt.Sprint(i), Op: store.OpCreate})
		})
	}
	seqs := func(cs []store.Change) []string {
		var out []string
		for _, c := range cs {
			out = append(out, c.ResourceID)
		}
		return out
	}
	view(t, s, func(tx store.ReadTx) error {
		tests := []struct {
			after store.TimeCursor
			until time.Time
			limit int
			want  []string
		}{
			{store.TimeCursor{}, time.Time{}, 100, []string{"1", "2", "3", "0", "4"}},
			{store.CursorAt(t0.Add(2 * time.Second)), t0.Add(5 * time.Second), 100, []string{"2", "3", "0"}},
			{store.CursorAt(t0.Add(2 * time.Second)), time.Time{}, 2, []string{"2", "3"}},
			{store.TimeCursor{At: t0.Add(2 * time.Second), Seq: 3}, time.Time{}, 100, []string{"3", "0", "4"}},
			// Bounds beyond what int64 nanoseconds hold clamp to the ends
			// of time rather than overflow.
			{store.CursorAt(time.Date(1600, 1, 1, 0, 0, 0, 0, time.UTC)), time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC), 100,
				[]string{"1", "2", "3", "0", "4"}},
			{store.CursorAt(t0.Add(2 * time.Second)), time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC), 100, []string{"2", "3", "0", "4"}},
			{store.CursorAt(time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC)), time.Time{}, 100, nil},
			{store.TimeCursor{}, time.Date(1650, 1, 1, 0, 0, 0, 0, time.UTC), 100, nil},
		}
		for _, tt := range tests {
			got, err := tx.ChangesByTime(ctx, tt.after, tt.until, tt.limit)
			if diff := cmp.Diff(tt.want, seqs(got)); err != nil || diff != "" {
				t.Errorf("ChangesByTime(%v, %v, %d) = %v; mismatch (-want +got):\n%s", tt.after, tt.until, tt.limit, err, diff)
			}
		}
		return nil
	})
}

// testDecisionsByTimeOrder pages through decisions in time order when
// the clock stepped back, within one append and between appends: every
// page, at every size, is what sorting all of them by (time, seq) gives.
func testDecisionsByTimeOrder(t *testing.T, s store.Store) {
	ctx := context.Background()
	// Seconds after t0 of each decision, in append order, grouped by
	// AppendDecisions call.
	groups := [][]int{{10, 11, 12}, {13, 2, 3}, {4, 14}, {14, 15, 1}, {16}}
	var all []store.Decision
	for _, g := range groups {
		var ds []store.Decision
		for _, sec := range g {
			ds = append(ds, store.Decision{At: t0.Add(time.Duration(sec) * time.Second), Method: "GET", Host: "h",
				Path: fmt.Sprint("/", sec), Reason: "no-route", Adapter: "proxy"})
		}
		update(t, s, func(tx store.Tx) error { return tx.AppendDecisions(ctx, ds) })
		all = append(all, ds...)
	}
	sorted := slices.Clone(all)
	slices.SortStableFunc(sorted, func(a, b store.Decision) int { return a.At.Compare(b.At) }) // seqs ascend already
	for _, until := range []time.Time{{}, t0.Add(14 * time.Second)} {
		var want []int64
		for _, d := range sorted {
			if until.IsZero() || d.At.Before(until) {
				want = append(want, d.Seq)
			}
		}
		for limit := 1; limit <= 5; limit++ {
			var got []int64
			cur := store.CursorAt(t0)
			view(t, s, func(tx store.ReadTx) error {
				for range 100 {
					page, err := tx.DecisionsByTime(ctx, cur, until, limit)
					if err != nil {
						return err
					}
					for _, d := range page {
						got = append(got, d.Seq)
					}
					if len(page) < limit {
						return nil
					}
					cur = store.TimeCursor{At: page[len(page)-1].At, Seq: page[len(page)-1].Seq}
				}
				return errors.New("paging does not end")
			})
			if !slices.Equal(got, want) {
				t.Errorf("until %v, pages of %d: seqs %v, want %v", until, limit, got, want)
			}
		}
	}
}
