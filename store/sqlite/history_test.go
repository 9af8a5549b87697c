package sqlite_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/scimgate/scimgate/store"
	"github.com/scimgate/scimgate/store/sqlite"
)

var historyTables = []string{"history_clock", "history_tenants", "history_users", "history_groups", "history_members"}

// dumpHistory returns every row of the temporal index, in order.
func dumpHistory(t testing.TB, db *sql.DB) []string {
	t.Helper()
	var out []string
	for _, table := range historyTables {
		var n int
		if err := db.QueryRow(`SELECT count(*) FROM pragma_table_info(?)`, table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		order := make([]string, n)
		for i := range order {
			order[i] = fmt.Sprint(i + 1)
		}
		rows, err := db.Query(`SELECT * FROM ` + table + ` ORDER BY ` + strings.Join(order, ", "))
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			out = append(out, table+fmt.Sprint(vals...))
		}
		rows.Close()
	}
	return out
}

// directoryLog writes a small directory history the way package directory
// writes it: resources, memberships and their change events together.
func directoryLog(t testing.TB, s store.Store, round int) {
	t.Helper()
	ctx := context.Background()
	at := time.Unix(int64(1000+round*10), 0)
	err := s.Update(ctx, func(tx store.Tx) error {
		tn, err := tx.TenantByName(ctx, "okta")
		if err != nil {
			if tn, err = tx.CreateTenant(ctx, "okta", at); err != nil {
				return err
			}
			if err := tx.AppendChange(ctx, &store.Change{TenantID: tn.ID, At: at, Actor: "cli", ResourceType: store.TypeTenant,
				ResourceID: fmt.Sprint(tn.ID), Op: store.OpCreate, After: []byte(`{"name":"okta"}`)}); err != nil {
				return err
			}
		}
		uid, gid := fmt.Sprintf("u%d", round), fmt.Sprintf("g%d", round)
		for _, r := range []*store.Resource{
			{TenantID: tn.ID, Type: store.TypeUser, ID: uid, NameKey: uid, Display: uid, Active: true, Version: 1, Doc: []byte(`{"userName":"` + uid + `"}`)},
			{TenantID: tn.ID, Type: store.TypeGroup, ID: gid, NameKey: gid, Display: gid, Active: true, Version: 1, Doc: []byte(`{"displayName":"` + gid + `"}`)},
		} {
			if err := tx.InsertResource(ctx, r); err != nil {
				return err
			}
			after, _ := json.Marshal(map[string]any{"id": r.ID, "userName": uid, "displayName": gid})
			if err := tx.AppendChange(ctx, &store.Change{TenantID: tn.ID, At: at, Actor: "tok", ResourceType: r.Type, ResourceID: r.ID,
				Op: store.OpCreate, After: after}); err != nil {
				return err
			}
		}
		edges, err := tx.AddMembers(ctx, tn.ID, gid, []store.Member{{ID: uid}})
		if err != nil {
			return err
		}
		return tx.AppendChange(ctx, &store.Change{TenantID: tn.ID, At: at.Add(time.Second), Actor: "tok", ResourceType: store.TypeGroup,
			ResourceID: gid, Op: store.OpPatch, After: []byte(`{"displayName":"` + gid + `"}`), Edges: edges})
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestHistoryRebuild: a store opened over a change log its index has not
// seen (a database from before the index) indexes it, to the same rows as
// indexing each change as it was written.
func TestHistoryRebuild(t *testing.T) {
	path := filepath.Join(t.TempDir(), "scimgate.db")
	s, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	for round := range 5 {
		directoryLog(t, s, round)
	}
	s.Close()
	db := rawDB(t, path)
	want := dumpHistory(t, db)
	if len(want) < 20 {
		t.Fatalf("index has %d rows, want more", len(want))
	}
	for _, table := range historyTables {
		if _, err := db.Exec(`DELETE FROM ` + table); err != nil {
			t.Fatal(err)
		}
	}
	s, err = sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if diff := cmp.Diff(want, dumpHistory(t, db)); diff != "" {
		t.Errorf("rebuilt index differs (-written +rebuilt):\n%s", diff)
	}
}

// TestHistoryCatchUp: changes an older binary wrote without indexing them
// are indexed by the next write, before its own change.
func TestHistoryCatchUp(t *testing.T) {
	dir := t.TempDir()
	ref, err := sqlite.Open(context.Background(), filepath.Join(dir, "ref.db"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := sqlite.Open(context.Background(), filepath.Join(dir, "gap.db"))
	if err != nil {
		t.Fatal(err)
	}
	for round := range 6 {
		directoryLog(t, ref, round)
		if round >= 2 && round < 4 {
			restore := sqlite.SetHistoryIndexing(false)
			directoryLog(t, s, round)
			restore()
		} else {
			directoryLog(t, s, round)
		}
	}
	ref.Close()
	s.Close()
	want, got := dumpHistory(t, rawDB(t, filepath.Join(dir, "ref.db"))), dumpHistory(t, rawDB(t, filepath.Join(dir, "gap.db")))
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("index after a gap differs (-always indexed +caught up):\n%s", diff)
	}
}

// TestHistoryReconcile: resources and memberships written without
// directory events (as the benchmark dataset is loaded: one create event
// per resource, its document nested, no membership edges) get spans from
// the last change on when the index is first built, so that questions
// about now agree with the state; their names are keyed as Go folds them,
// beyond ASCII too.
func TestHistoryReconcile(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "scimgate.db")
	restore := sqlite.SetHistoryIndexing(false) // a database from before the index
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	var last int64
	err = s.Update(ctx, func(tx store.Tx) error {
		tn, err := tx.CreateTenant(ctx, "bench", time.Unix(1, 0))
		if err != nil {
			return err
		}
		for _, r := range []*store.Resource{
			{TenantID: tn.ID, Type: store.TypeUser, ID: "u1", NameKey: "alice", Display: "Alice", Active: true, Doc: []byte(`{"userName":"Alice"}`)},
			{TenantID: tn.ID, Type: store.TypeUser, ID: "u2", NameKey: "bob", Display: "bob", Active: false, Doc: []byte(`{"userName":"bob","active":false}`)},
			{TenantID: tn.ID, Type: store.TypeUser, ID: "u3", NameKey: "ümit", Display: "ÜMIT", Active: true, Doc: []byte(`{"userName":"ÜMIT"}`)},
			{TenantID: tn.ID, Type: store.TypeGroup, ID: "g1", NameKey: "all", Display: "all", Active: true, Doc: []byte(`{"displayName":"all"}`)},
			{TenantID: tn.ID, Type: store.TypeGroup, ID: "g2", NameKey: "équipe", Display: "ÉQUIPE", Active: true, Doc: []byte(`{"displayName":"ÉQUIPE"}`)},
		} {
			if err := tx.InsertResource(ctx, r); err != nil {
				return err
			}
			after, _ := json.Marshal(map[string]any{"id": r.ID, "doc": json.RawMessage(r.Doc)})
			c := &store.Change{TenantID: tn.ID, At: time.Unix(2, 0), Actor: "bench", ResourceType: r.Type, ResourceID: r.ID, Op: store.OpCreate, After: after}
			if err := tx.AppendChange(ctx, c); err != nil {
				return err
			}
			last = c.Seq
		}
		_, err = tx.AddMembers(ctx, tn.ID, "g1", []store.Member{{ID: "u1"}, {ID: "u2"}})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	restore()
	s, err = sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	err = s.View(ctx, func(tx store.ReadTx) error {
		var got []string
		us, err := tx.UserSpans(ctx, store.SpanFilter{At: store.AllTime})
		for _, u := range us {
			got = append(got, fmt.Sprintf("user %s %s active=%t from %d", u.ID, u.UserName, u.Active, u.From))
		}
		gs, _ := tx.GroupSpans(ctx, store.SpanFilter{At: store.AllTime})
		for _, g := range gs {
			got = append(got, fmt.Sprintf("group %s %s from %d", g.ID, g.DisplayName, g.From))
		}
		es, _ := tx.EdgeSpans(ctx, store.EdgeFilter{At: store.AllTime, TenantID: 1, Groups: []string{"g1"}})
		for _, e := range es {
			got = append(got, fmt.Sprintf("edge %s %s from %d", e.Group, e.Member, e.From))
		}
		ts, _ := tx.TenantSpans(ctx)
		for _, tn := range ts {
			got = append(got, fmt.Sprintf("tenant %s from %d", tn.Name, tn.From))
		}
		f := func(format string) string { return fmt.Sprintf(format, last) }
		want := []string{
			f("user u1 Alice active=true from %d"), f("user u2 bob active=false from %d"), f("user u3 ÜMIT active=true from %d"),
			f("group g1 all from %d"), f("group g2 ÉQUIPE from %d"),
			f("edge g1 u1 from %d"), f("edge g1 u2 from %d"), f("tenant bench from %d"),
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("reconciled spans mismatch (-want +got):\n%s", diff)
		}
		if us, err := tx.UserSpans(ctx, store.SpanFilter{At: store.AllTime, NameKeys: []string{"ümit"}}); err != nil || len(us) != 1 {
			t.Errorf("UserSpans(name ümit) = %+v, %v; want u3", us, err)
		}
		if gs, err := tx.GroupSpans(ctx, store.SpanFilter{At: store.AllTime, NameKeys: []string{"équipe"}}); err != nil || len(gs) != 1 {
			t.Errorf("GroupSpans(name équipe) = %+v, %v; want g2", gs, err)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestCheckHistory: the index rebuilt from the change log matches the
// stored one, and an edited, added or deleted index row shows as a
// mismatch on the side it is on.
func TestCheckHistory(t *testing.T) {
	ctx := context.Background()
	open := func(t *testing.T) (*sqlite.Store, *sql.DB) {
		path := filepath.Join(t.TempDir(), "scimgate.db")
		s, err := sqlite.Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		for round := range 5 {
			directoryLog(t, s, round)
		}
		return s, rawDB(t, path)
	}
	s, _ := open(t)
	if ms, err := s.CheckHistory(ctx, 100); err != nil || len(ms) != 0 {
		t.Fatalf("CheckHistory of an untouched store = %v, %v; want nothing", ms, err)
	}
	tests := []struct {
		name, tamper string
		want         []store.HistoryMismatch
	}{
		{"a membership moved to another user", `UPDATE history_members SET member_id = 'mallory' WHERE group_id = 'g2'`, []store.HistoryMismatch{
			{Table: "history_members", Row: "tenant_id=1 group_id=g2 member_id=mallory from_seq=10 to_seq=9223372036854775807 member_type=User"},
			{Table: "history_members", Row: "tenant_id=1 group_id=g2 member_id=u2 from_seq=10 to_seq=9223372036854775807 member_type=User", Missing: true},
		}},
		{"a span ended early", `UPDATE history_users SET to_seq = 3 WHERE id = 'u0'`, []store.HistoryMismatch{
			{Table: "history_users", Row: "tenant_id=1 id=u0 from_seq=2 to_seq=3 born=2 user_name=u0 name_key=u0 active=1"},
			{Table: "history_users", Row: "tenant_id=1 id=u0 from_seq=2 to_seq=9223372036854775807 born=2 user_name=u0 name_key=u0 active=1", Missing: true},
		}},
		{"a group deleted from the index", `DELETE FROM history_groups WHERE id = 'g4'`, []store.HistoryMismatch{
			{Table: "history_groups", Row: "tenant_id=1 id=g4 from_seq=15 to_seq=9223372036854775807 born=15 display_name=g4 name_key=g4", Missing: true},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, db := open(t)
			if _, err := db.Exec(tt.tamper); err != nil {
				t.Fatal(err)
			}
			got, err := s.CheckHistory(ctx, 100)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("CheckHistory mismatch (-want +got):\n%s", diff)
			}
		})
	}
}
