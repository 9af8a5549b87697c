package storetest

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/scimgate/scimgate/store"
)

// historyLog appends changes shaped as package directory writes them, one
// transaction each, and returns their sequence numbers.
func historyLog(t testing.TB, s store.Store, cs ...store.Change) []int64 {
	t.Helper()
	var seqs []int64
	for _, c := range cs {
		update(t, s, func(tx store.Tx) error {
			if err := tx.AppendChange(context.Background(), &c); err != nil {
				return err
			}
			seqs = append(seqs, c.Seq)
			return nil
		})
	}
	return seqs
}

func doc(kv ...any) []byte {
	m := map[string]any{}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1]
	}
	b, _ := json.Marshal(m)
	return b
}

func edge(group, member, typ string, added bool) store.EdgeChange {
	return store.EdgeChange{Group: group, Member: member, MemberType: typ, Added: added}
}

// testHistory checks the temporal index against a change log written as
// the directory writes it: spans open, change and close with the changes,
// a PUT that lists a member again does not break its span, deletes close
// every span naming the resource, and times map to changes by the running
// maximum of change times.
func testHistory(t *testing.T, s store.Store) {
	ctx := context.Background()
	tn := newTenant(t, s, "okta")
	at := func(sec int) time.Time { return t0.Add(time.Duration(sec) * time.Second) }
	ch := func(sec int, typ, id, op string, after []byte, edges ...store.EdgeChange) store.Change {
		return store.Change{TenantID: tn.ID, At: at(sec), Actor: "tok", ResourceType: typ, ResourceID: id, Op: op, After: after, Edges: edges}
	}
	U, G := store.TypeUser, store.TypeGroup
	seq := historyLog(t, s,
		ch(1, store.TypeTenant, "1", store.OpCreate, doc("name", "okta")),                                // 0
		ch(2, U, "u1", store.OpCreate, doc("id", "u1", "userName", "Alice")),                             // 1
		ch(3, G, "g1", store.OpCreate, doc("id", "g1", "displayName", "eng"), edge("g1", "u1", U, true)), // 2
		ch(4, U, "u1", store.OpPatch, doc("id", "u1", "userName", "Alice", "title", "x")),                // 3: no span change
		ch(5, U, "u1", store.OpPatch, doc("id", "u1", "userName", "Alice", "active", false)),             // 4
		ch(7, G, "g1", store.OpReplace, doc("id", "g1", "displayName", "Eng"), // 5: rename, u1 listed again
			edge("g1", "u1", U, false), edge("g1", "u1", U, true)),
		ch(6, G, "g2", store.OpCreate, doc("id", "g2", "displayName", "all"), edge("g2", "g1", G, true)), // 6: stamped earlier
		ch(8, U, "u1", store.OpPatch, doc("id", "u1", "userName", "bob", "active", true)),                // 7
		ch(9, G, "g1", store.OpDelete, nil, edge("g1", "u1", U, false), edge("g2", "g1", G, false)),      // 8
		ch(10, U, "u1", store.OpDelete, nil),                                                             // 9
	)
	open := store.SpanOpen
	view(t, s, func(tx store.ReadTx) error {
		users, err := tx.UserSpans(ctx, store.SpanFilter{At: store.AllTime, TenantID: tn.ID, IDs: []string{"u1"}})
		if err != nil {
			t.Fatal(err)
		}
		wantUsers := []store.UserSpan{
			{TenantID: tn.ID, ID: "u1", UserName: "Alice", Active: true, Born: seq[1], From: seq[1], To: seq[4]},
			{TenantID: tn.ID, ID: "u1", UserName: "Alice", Active: false, Born: seq[1], From: seq[4], To: seq[7]},
			{TenantID: tn.ID, ID: "u1", UserName: "bob", Active: true, Born: seq[1], From: seq[7], To: seq[9]},
		}
		if diff := cmp.Diff(wantUsers, users); diff != "" {
			t.Errorf("UserSpans(u1) mismatch (-want +got):\n%s", diff)
		}
		groups, err := tx.GroupSpans(ctx, store.SpanFilter{At: store.AllTime, NameKeys: []string{"eng"}})
		if err != nil {
			t.Fatal(err)
		}
		wantGroups := []store.GroupSpan{
			{TenantID: tn.ID, ID: "g1", DisplayName: "eng", Born: seq[2], From: seq[2], To: seq[5]},
			{TenantID: tn.ID, ID: "g1", DisplayName: "Eng", Born: seq[2], From: seq[5], To: seq[8]},
		}
		if diff := cmp.Diff(wantGroups, groups); diff != "" {
			t.Errorf("GroupSpans(eng) mismatch (-want +got):\n%s", diff)
		}
		edges, err := tx.EdgeSpans(ctx, store.EdgeFilter{At: store.AllTime, TenantID: tn.ID, Members: []string{"u1", "g1"}})
		if err != nil {
			t.Fatal(err)
		}
		wantEdges := []store.EdgeSpan{
			{TenantID: tn.ID, Group: "g1", Member: "u1", MemberType: U, From: seq[2], To: seq[8]},
			{TenantID: tn.ID, Group: "g2", Member: "g1", MemberType: G, From: seq[6], To: seq[8]},
		}
		if diff := cmp.Diff(wantEdges, edges); diff != "" {
			t.Errorf("EdgeSpans(members u1, g1) mismatch (-want +got):\n%s", diff)
		}
		// After change 6 (the group all): u1 inactive, in Eng, in all.
		now, err := tx.GroupSpans(ctx, store.SpanFilter{At: seq[6]})
		if err != nil {
			t.Fatal(err)
		}
		if len(now) != 2 || now[0].DisplayName != "Eng" || now[1].DisplayName != "all" || now[1].To != open {
			t.Errorf("GroupSpans(at %d) = %+v, want Eng and all", seq[6], now)
		}
		if es, _ := tx.EdgeSpans(ctx, store.EdgeFilter{At: seq[6], TenantID: tn.ID, Groups: []string{"g1", "g2"}}); len(es) != 2 {
			t.Errorf("EdgeSpans(at %d, groups g1 g2) = %+v, want 2", seq[6], es)
		}
		if us, _ := tx.UserSpans(ctx, store.SpanFilter{At: seq[9]}); len(us) != 0 {
			t.Errorf("UserSpans(at %d) = %+v, want none (deleted)", seq[9], us)
		}
		if us, _ := tx.UserSpans(ctx, store.SpanFilter{At: 0}); len(us) != 0 {
			t.Errorf("UserSpans(at 0) = %+v, want none", us)
		}
		tenants, err := tx.TenantSpans(ctx)
		if err != nil || len(tenants) != 1 || tenants[0] != (store.TenantSpan{ID: tn.ID, Name: "okta", From: seq[0]}) {
			t.Errorf("TenantSpans = %+v, %v", tenants, err)
		}

		// Change 6 was stamped at 6 s but committed after the one stamped
		// 7 s: it takes effect at 7 s, with it.
		for _, tt := range []struct {
			at   time.Time
			want int64
		}{
			{t0, 0},
			{at(1), seq[0]},
			{at(5).Add(-time.Nanosecond), seq[3]},
			{at(6), seq[4]},
			{at(7), seq[6]},
			{at(10), seq[9]},
			{at(99), seq[9]},
		} {
			if got, err := tx.SeqAt(ctx, tt.at); err != nil || got != tt.want {
				t.Errorf("SeqAt(%s) = %d, %v; want %d", tt.at.Format(time.TimeOnly), got, err, tt.want)
			}
		}
		times, err := tx.SeqTimes(ctx, []int64{seq[5], seq[6], seq[7]})
		if err != nil || !times[seq[5]].Equal(at(7)) || !times[seq[6]].Equal(at(7)) || !times[seq[7]].Equal(at(8)) {
			t.Errorf("SeqTimes = %v, %v; want 7 s, 7 s, 8 s", times, err)
		}
		return nil
	})
}
