// Package storetest is the conformance suite of the store contract. Every
// backend runs it from its own tests:
//
//	func TestConformance(t *testing.T) { storetest.Run(t, openTestStore) }
package storetest

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/scimgate/scimgate/store"
)

// Opener returns a new, empty store; the suite closes it.
type Opener func(t testing.TB) store.Store

// Run runs the whole suite, each part on a fresh store.
func Run(t *testing.T, open Opener) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"Tenants", testTenants},
		{"Tokens", testTokens},
		{"Resources", testResources},
		{"ResourceUniqueness", testUniqueness},
		{"Listing", testListing},
		{"Members", testMembers},
		{"DeleteRemovesEdges", testDeleteEdges},
		{"TenantIsolation", testTenantIsolation},
		{"Atomicity", testAtomicity},
		{"Changes", testChanges},
		{"CommitHooks", testCommitHooks},
		{"ConcurrentUpdates", testConcurrentUpdates},
		{"AccessTokens", testAccessTokens},
		{"SigningKeys", testSigningKeys},
		{"Memberships", testMemberships},
		{"LastSeq", testLastSeq},
		{"Sessions", testSessions},
		{"ChangeChain", testChangeChain},
		{"ChangesByTime", testChangesByTime},
		{"PolicyVersions", testPolicyVersions},
		{"Decisions", testDecisions},
		{"DecisionsByTimeOrder", testDecisionsByTimeOrder},
		{"AuditExport", testAuditExport},
		{"History", testHistory},
		{"Closed", testClosed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() { s.Close() })
			tt.fn(t, s)
		})
	}
}

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 600, time.UTC)

func update(t testing.TB, s store.Store, fn func(store.Tx) error) {
	t.Helper()
	if err := s.Update(context.Background(), fn); err != nil {
		t.Fatalf("Update: %v", err)
	}
}

func view(t testing.TB, s store.Store, fn func(store.ReadTx) error) {
	t.Helper()
	if err := s.View(context.Background(), fn); err != nil {
		t.Fatalf("View: %v", err)
	}
}

func newTenant(t testing.TB, s store.Store, name string) store.Tenant {
	t.Helper()
	var tn store.Tenant
	update(t, s, func(tx store.Tx) (err error) {
		tn, err = tx.CreateTenant(context.Background(), name, t0)
		return err
	})
	return tn
}

func user(tenant int64, id, name string) *store.Resource {
	return &store.Resource{
		TenantID: tenant, Type: store.TypeUser, ID: id, NameKey: name, Display: name,
		Active: true, Version: 1, Created: t0, Modified: t0, Doc: []byte(`{"userName":"` + name + `"}`),
	}
}

func group(tenant int64, id, name string) *store.Resource {
	return &store.Resource{
		TenantID: tenant, Type: store.TypeGroup, ID: id, NameKey: name, Display: name,
		Active: true, Version: 1, Created: t0, Modified: t0, Doc: []byte(`{"displayName":"` + name + `"}`),
	}
}

func insert(t testing.TB, s store.Store, rs ...*store.Resource) {
	t.Helper()
	update(t, s, func(tx store.Tx) error {
		for _, r := range rs {
			if err := tx.InsertResource(context.Background(), r); err != nil {
				return err
			}
		}
		return nil
	})
}

func testTenants(t *testing.T, s store.Store) {
	ctx := context.Background()
	a := newTenant(t, s, "okta")
	b := newTenant(t, s, "entra")
	if a.ID == b.ID || a.ID == 0 {
		t.Fatalf("tenant ids %d, %d: want distinct and non-zero", a.ID, b.ID)
	}
	err := s.Update(ctx, func(tx store.Tx) error {
		_, err := tx.CreateTenant(ctx, "okta", t0)
		return err
	})
	if !errors.Is(err, store.ErrConflict) {
		t.Errorf("CreateTenant(duplicate) = %v, want ErrConflict", err)
	}
	view(t, s, func(tx store.ReadTx) error {
		got, err := tx.TenantByName(ctx, "entra")
		if err != nil || got.ID != b.ID || !got.Created.Equal(t0) {
			t.Errorf("TenantByName(entra) = %+v, %v; want id %d created %v", got, err, b.ID, t0)
		}
		if got, err := tx.Tenant(ctx, a.ID); err != nil || got.Name != "okta" {
			t.Errorf("Tenant(%d) = %+v, %v; want okta", a.ID, got, err)
		}
		if _, err := tx.TenantByName(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("TenantByName(nope) = %v, want ErrNotFound", err)
		}
		all, err := tx.Tenants(ctx)
		if err != nil || len(all) != 2 || all[0].Name != "okta" || all[1].Name != "entra" {
			t.Errorf("Tenants() = %+v, %v; want okta, entra", all, err)
		}
		return nil
	})
}

func testTokens(t *testing.T, s store.Store) {
	ctx := context.Background()
	tn := newTenant(t, s, "okta")
	other := newTenant(t, s, "other")
	tk := store.Token{ID: "tok1", TenantID: tn.ID, Hash: []byte{1, 2, 3}, Description: "ci", Created: t0, Expires: t0.Add(time.Hour)}
	update(t, s, func(tx store.Tx) error {
		if err := tx.PutToken(ctx, tk); err != nil {
			return err
		}
		return tx.PutToken(ctx, store.Token{ID: "tok2", TenantID: other.ID, Hash: []byte{4}, Created: t0})
	})
	view(t, s, func(tx store.ReadTx) error {
		got, err := tx.Token(ctx, "tok1")
		if err != nil {
			t.Fatalf("Token(tok1): %v", err)
		}
		if diff := cmp.Diff(tk, got); diff != "" {
			t.Errorf("Token(tok1) mismatch (-want +got):\n%s", diff)
		}
		list, err := tx.Tokens(ctx, tn.ID)
		if err != nil || len(list) != 1 || list[0].ID != "tok1" {
			t.Errorf("Tokens(okta) = %+v, %v; want [tok1]", list, err)
		}
		return nil
	})
	used, revoked := t0.Add(time.Minute), t0.Add(2*time.Minute)
	update(t, s, func(tx store.Tx) error {
		if err := tx.TouchToken(ctx, "tok1", used); err != nil {
			return err
		}
		return tx.RevokeToken(ctx, "tok1", revoked)
	})
	view(t, s, func(tx store.ReadTx) error {
		got, err := tx.Token(ctx, "tok1")
		if err != nil || !got.LastUsed.Equal(used) || !got.Revoked.Equal(revoked) {
			t.Errorf("Token(tok1) after touch+revoke = %+v, %v", got, err)
		}
		if _, err := tx.Token(ctx, "missing"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Token(missing) = %v, want ErrNotFound", err)
		}
		return nil
	})
	err := s.Update(ctx, func(tx store.Tx) error { return tx.RevokeToken(ctx, "missing", t0) })
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("RevokeToken(missing) = %v, want ErrNotFound", err)
	}
}

func testResources(t *testing.T, s store.Store) {
	ctx := context.Background()
	tn := newTenant(t, s, "okta")
	u := user(tn.ID, "u1", "alice")
	u.ExternalID = "ext-1"
	u.Doc = []byte(`{"userName":"Alice","name":{"givenName":"Alice"}}`)
	insert(t, s, u)
	view(t, s, func(tx store.ReadTx) error {
		got, err := tx.Resource(ctx, tn.ID, store.TypeUser, "u1")
		if err != nil {
			t.Fatalf("Resource(u1): %v", err)
		}
		if diff := cmp.Diff(u, got); diff != "" {
			t.Errorf("Resource(u1) mismatch (-want +got):\n%s", diff)
		}
		if _, err := tx.Resource(ctx, tn.ID, store.TypeGroup, "u1"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Resource(Group, u1) = %v, want ErrNotFound", err)
		}
		if got, err := tx.ResourceByName(ctx, tn.ID, store.TypeUser, "alice"); err != nil || got.ID != "u1" {
			t.Errorf("ResourceByName(alice) = %v, %v; want u1", got, err)
		}
		if got, err := tx.ResourcesByExternalID(ctx, tn.ID, store.TypeUser, "ext-1"); err != nil || len(got) != 1 || got[0].ID != "u1" {
			t.Errorf("ResourcesByExternalID(ext-1) = %v, %v; want [u1]", got, err)
		}
		if got, err := tx.ResourcesByExternalID(ctx, tn.ID, store.TypeUser, ""); err != nil || len(got) != 0 {
			t.Errorf("ResourcesByExternalID(\"\") = %v, %v; want none", got, err)
		}
		return nil
	})

	u2 := *u
	u2.NameKey, u2.Display, u2.Active, u2.Version = "alice2", "Alice Two", false, 2
	u2.Modified = t0.Add(time.Second)
	u2.Doc = []byte(`{"userName":"alice2"}`)
	update(t, s, func(tx store.Tx) error { return tx.UpdateResource(ctx, &u2) })
	view(t, s, func(tx store.ReadTx) error {
		got, err := tx.Resource(ctx, tn.ID, store.TypeUser, "u1")
		if err != nil {
			t.Fatalf("Resource(u1): %v", err)
		}
		if diff := cmp.Diff(&u2, got); diff != "" {
			t.Errorf("Resource(u1) after update mismatch (-want +got):\n%s", diff)
		}
		if _, err := tx.ResourceByName(ctx, tn.ID, store.TypeUser, "alice"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("ResourceByName(old name) = %v, want ErrNotFound", err)
		}
		return nil
	})
	missing := user(tn.ID, "nope", "nope")
	if err := s.Update(ctx, func(tx store.Tx) error { return tx.UpdateResource(ctx, missing) }); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UpdateResource(missing) = %v, want ErrNotFound", err)
	}
	if err := s.Update(ctx, func(tx store.Tx) error {
		_, err := tx.DeleteResource(ctx, tn.ID, store.TypeGroup, "u1")
		return err
	}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeleteResource(Group, u1) = %v, want ErrNotFound", err)
	}
	update(t, s, func(tx store.Tx) error {
		_, err := tx.DeleteResource(ctx, tn.ID, store.TypeUser, "u1")
		return err
	})
	view(t, s, func(tx store.ReadTx) error {
		if _, err := tx.Resource(ctx, tn.ID, store.TypeUser, "u1"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Resource(deleted) = %v, want ErrNotFound", err)
		}
		if n, err := tx.CountResources(ctx, tn.ID, store.TypeUser); err != nil || n != 0 {
			t.Errorf("CountResources after the delete = %d, %v; want 0", n, err)
		}
		return nil
	})
}

func testUniqueness(t *testing.T, s store.Store) {
	ctx := context.Background()
	a := newTenant(t, s, "a")
	b := newTenant(t, s, "b")
	insert(t, s, user(a.ID, "u1", "alice"), user(a.ID, "u2", "bob"))
	tests := []struct {
		name string
		fn   func(tx store.Tx) error
		want error
	}{
		{"same name same tenant", func(tx store.Tx) error { return tx.InsertResource(ctx, user(a.ID, "u3", "alice")) }, store.ErrConflict},
		{"same id same tenant", func(tx store.Tx) error { return tx.InsertResource(ctx, user(a.ID, "u1", "carol")) }, store.ErrConflict},
		{"rename onto taken name", func(tx store.Tx) error {
			r := user(a.ID, "u2", "alice")
			return tx.UpdateResource(ctx, r)
		}, store.ErrConflict},
		{"same name other tenant", func(tx store.Tx) error { return tx.InsertResource(ctx, user(b.ID, "u1", "alice")) }, nil},
		{"same name other type", func(tx store.Tx) error { return tx.InsertResource(ctx, group(a.ID, "g1", "alice")) }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.Update(ctx, tt.fn)
			if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Errorf("Update = %v, want %v", err, tt.want)
			}
		})
	}
}

func testListing(t *testing.T, s store.Store) {
	ctx := context.Background()
	tn := newTenant(t, s, "okta")
	const n = 1100 // crosses any reasonable scan chunk
	var want []string
	update(t, s, func(tx store.Tx) error {
		for i := range n {
			id := fmt.Sprintf("u%04d", n-i) // ids not in creation order
			want = append(want, id)
			if err := tx.InsertResource(ctx, user(tn.ID, id, id)); err != nil {
				return err
			}
		}
		return tx.InsertResource(ctx, group(tn.ID, "g", "g"))
	})
	view(t, s, func(tx store.ReadTx) error {
		if c, err := tx.CountResources(ctx, tn.ID, store.TypeUser); err != nil || c != n {
			t.Errorf("CountResources = %d, %v; want %d", c, err, n)
		}
		page, err := tx.Resources(ctx, tn.ID, store.TypeUser, store.Page{Offset: 10, Limit: 5})
		if err != nil {
			t.Fatal(err)
		}
		if got := ids(page); !cmp.Equal(got, want[10:15]) {
			t.Errorf("Resources(10, 5) = %v, want %v", got, want[10:15])
		}
		all, err := tx.Resources(ctx, tn.ID, store.TypeUser, store.Page{Limit: -1})
		if err != nil || len(all) != n {
			t.Errorf("Resources(all) = %d, %v; want %d", len(all), err, n)
		}
		var scanned []string
		err = tx.ScanResources(ctx, tn.ID, store.TypeUser, func(r *store.Resource) error {
			// Reading the same transaction from inside fn must work.
			if _, err := tx.Resource(ctx, tn.ID, store.TypeUser, r.ID); err != nil {
				return err
			}
			scanned = append(scanned, r.ID)
			return nil
		})
		if err != nil {
			t.Fatalf("ScanResources: %v", err)
		}
		if !cmp.Equal(scanned, want) {
			t.Errorf("ScanResources order differs from creation order")
		}
		stop := errors.New("stop")
		count := 0
		err = tx.ScanResources(ctx, tn.ID, store.TypeUser, func(*store.Resource) error {
			count++
			if count == 3 {
				return stop
			}
			return nil
		})
		if !errors.Is(err, stop) || count != 3 {
			t.Errorf("ScanResources with early stop = %v after %d, want stop after 3", err, count)
		}
		return nil
	})
}

func ids(rs []*store.Resource) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.ID)
	}
	return out
}

func memberIDs(ms []store.Member) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.ID)
	}
	sort.Strings(out)
	return out
}

func testMembers(t *testing.T, s store.Store) {
	ctx := context.Background()
	tn := newTenant(t, s, "okta")
	insert(t, s, user(tn.ID, "u1", "alice"), user(tn.ID, "u2", "bob"), group(tn.ID, "g1", "eng"), group(tn.ID, "g2", "all"))
	var added []store.EdgeChange
	update(t, s, func(tx store.Tx) (err error) {
		added, err = tx.AddMembers(ctx, tn.ID, "g1", []store.Member{{ID: "u1"}, {ID: "u2"}})
		if err != nil {
			return err
		}
		again, err := tx.AddMembers(ctx, tn.ID, "g1", []store.Member{{ID: "u1"}})
		if err != nil || len(again) != 0 {
			return fmt.Errorf("re-adding u1 = %v, %v; want no edges", again, err)
		}
		_, err = tx.AddMembers(ctx, tn.ID, "g2", []store.Member{{ID: "g1"}})
		return err
	})
	wantAdded := []store.EdgeChange{
		{Group: "g1", Member: "u1", MemberType: store.TypeUser, Added: true},
		{Group: "g1", Member: "u2", MemberType: store.TypeUser, Added: true},
	}
	if diff := cmp.Diff(wantAdded, added); diff != "" {
		t.Errorf("AddMembers edges mismatch (-want +got):\n%s", diff)
	}
	view(t, s, func(tx store.ReadTx) error {
		ms, err := tx.Members(ctx, tn.ID, "g1")
		if err != nil {
			t.Fatal(err)
		}
		sort.Slice(ms, func(i, j int) bool { return ms[i].ID < ms[j].ID })
		want := []store.Member{{ID: "u1", Type: store.TypeUser, Display: "alice"}, {ID: "u2", Type: store.TypeUser, Display: "bob"}}
		if diff := cmp.Diff(want, ms); diff != "" {
			t.Errorf("Members(g1) mismatch (-want +got):\n%s", diff)
		}
		if ms, _ := tx.Members(ctx, tn.ID, "g2"); len(ms) != 1 || ms[0].Type != store.TypeGroup {
			t.Errorf("Members(g2) = %+v, want the group g1", ms)
		}
		if c, err := tx.MemberCount(ctx, tn.ID, "g1"); err != nil || c != 2 {
			t.Errorf("MemberCount(g1) = %d, %v; want 2", c, err)
		}
		for _, tc := range []struct {
			g, m string
			want bool
		}{{"g1", "u1", true}, {"g1", "g2", false}, {"g2", "g1", true}, {"g2", "u1", false}} {
			if got, err := tx.HasMember(ctx, tn.ID, tc.g, tc.m); err != nil || got != tc.want {
				t.Errorf("HasMember(%s, %s) = %v, %v; want %v", tc.g, tc.m, got, err, tc.want)
			}
		}
		ps, err := tx.ParentGroups(ctx, tn.ID, "g1")
		if err != nil || len(ps) != 1 || ps[0].ID != "g2" || ps[0].Display != "all" {
			t.Errorf("ParentGroups(g1) = %+v, %v; want [g2 all]", ps, err)
		}
		if gs, err := tx.MemberGroups(ctx, tn.ID, "g2"); err != nil || !cmp.Equal(gs, []string{"g1"}) {
			t.Errorf("MemberGroups(g2) = %v, %v; want [g1]", gs, err)
		}
		if gs, err := tx.MemberGroups(ctx, tn.ID, "g1"); err != nil || len(gs) != 0 {
			t.Errorf("MemberGroups(g1) = %v, %v; want none (its members are users)", gs, err)
		}
		return nil
	})
	var removed, cleared []store.EdgeChange
	update(t, s, func(tx store.Tx) (err error) {
		if removed, err = tx.RemoveMembers(ctx, tn.ID, "g1", []string{"u1", "u1", "nobody"}); err != nil {
			return err
		}
		cleared, err = tx.ClearMembers(ctx, tn.ID, "g2")
		return err
	})
	if diff := cmp.Diff([]store.EdgeChange{{Group: "g1", Member: "u1", MemberType: store.TypeUser}}, removed); diff != "" {
		t.Errorf("RemoveMembers edges mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]store.EdgeChange{{Group: "g2", Member: "g1", MemberType: store.TypeGroup}}, cleared); diff != "" {
		t.Errorf("ClearMembers edges mismatch (-want +got):\n%s", diff)
	}
	view(t, s, func(tx store.ReadTx) error {
		if ms, _ := tx.Members(ctx, tn.ID, "g1"); !cmp.Equal(memberIDs(ms), []string{"u2"}) {
			t.Errorf("Members(g1) after remove = %v, want [u2]", memberIDs(ms))
		}
		if ms, _ := tx.Members(ctx, tn.ID, "g2"); len(ms) != 0 {
			t.Errorf("Members(g2) after clear = %v, want none", memberIDs(ms))
		}
		return nil
	})
	for _, tc := range []struct {
		name string
		fn   func(tx store.Tx) error
	}{
		{"unknown member", func(tx store.Tx) error {
			_, err := tx.AddMembers(ctx, tn.ID, "g1", []store.Member{{ID: "ghost"}})
			return err
		}},
		{"unknown group", func(tx store.Tx) error {
			_, err := tx.AddMembers(ctx, tn.ID, "ghost", []store.Member{{ID: "u1"}})
			return err
		}},
		{"user as group", func(tx store.Tx) error {
			_, err := tx.AddMembers(ctx, tn.ID, "u1", []store.Member{{ID: "u2"}})
			return err
		}},
	} {
		if err := s.Update(ctx, tc.fn); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s: AddMembers = %v, want ErrNotFound", tc.name, err)
		}
	}
}

func testDeleteEdges(t *testing.T, s store.Store) {
	ctx := context.Background()
	tn := newTenant(t, s, "okta")
	insert(t, s, user(tn.ID, "u1", "alice"), group(tn.ID, "g1", "eng"), group(tn.ID, "g2", "all"), group(tn.ID, "g3", "ops"))
	update(t, s, func(tx store.Tx) error {
		for _, e := range [][2]string{{"g1", "u1"}, {"g2", "g1"}, {"g3", "u1"}, {"g1", "g3"}} {
			if _, err := tx.AddMembers(ctx, tn.ID, e[0], []store.Member{{ID: e[1]}}); err != nil {
				return err
			}
		}
		return nil
	})
	var edges []store.EdgeChange
	update(t, s, func(tx store.Tx) (err error) {
		edges, err = tx.DeleteResource(ctx, tn.ID, store.TypeGroup, "g1")
		return err
	})
	got := fmt.Sprint(sortedEdges(edges))
	want := "[g1<-g3(Group) g1<-u1(User) g2<-g1(Group)]"
	if got != want {
		t.Errorf("DeleteResource(g1) edges = %s, want %s", got, want)
	}
	view(t, s, func(tx store.ReadTx) error {
		if ps, _ := tx.ParentGroups(ctx, tn.ID, "u1"); !cmp.Equal(memberIDs(ps), []string{"g3"}) {
			t.Errorf("ParentGroups(u1) after deleting g1 = %v, want [g3]", memberIDs(ps))
		}
		if ms, _ := tx.Members(ctx, tn.ID, "g2"); len(ms) != 0 {
			t.Errorf("Members(g2) after deleting its member g1 = %v, want none", memberIDs(ms))
		}
		if c, err := tx.MemberCount(ctx, tn.ID, "g2"); err != nil || c != 0 {
			t.Errorf("MemberCount(g2) after deleting its member g1 = %d, %v; want 0", c, err)
		}
		return nil
	})
}

func sortedEdges(es []store.EdgeChange) []string {
	var out []string
	for _, e := range es {
		out = append(out, fmt.Sprintf("%s<-%s(%s)", e.Group, e.Member, e.MemberType))
	}
	sort.Strings(out)
	return out
}

func testTenantIsolation(t *testing.T, s store.Store) {
	ctx := context.Background()
	a := newTenant(t, s, "a")
	b := newTenant(t, s, "b")
	insert(t, s, user(a.ID, "ua", "alice"), group(a.ID, "ga", "eng"), user(b.ID, "ub", "bob"), group(b.ID, "gb", "eng"))
	view(t, s, func(tx store.ReadTx) error {
		if _, err := tx.Resource(ctx, b.ID, store.TypeUser, "ua"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("tenant b reads tenant a's user: %v", err)
		}
		if rs, _ := tx.Resources(ctx, b.ID, store.TypeUser, store.Page{Limit: -1}); !cmp.Equal(ids(rs), []string{"ub"}) {
			t.Errorf("tenant b lists %v, want [ub]", ids(rs))
		}
		return nil
	})
	for name, fn := range map[string]func(tx store.Tx) error{
		"add other tenant's user": func(tx store.Tx) error {
			_, err := tx.AddMembers(ctx, b.ID, "gb", []store.Member{{ID: "ua"}})
			return err
		},
		"add to other tenant's group": func(tx store.Tx) error {
			_, err := tx.AddMembers(ctx, b.ID, "ga", []store.Member{{ID: "ub"}})
			return err
		},
		"delete other tenant's user": func(tx store.Tx) error {
			_, err := tx.DeleteResource(ctx, b.ID, store.TypeUser, "ua")
			return err
		},
		"update other tenant's user": func(tx store.Tx) error {
			return tx.UpdateResource(ctx, user(b.ID, "ua", "mallory"))
		},
	} {
		if err := s.Update(ctx, fn); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s: %v, want ErrNotFound", name, err)
		}
	}
	view(t, s, func(tx store.ReadTx) error {
		if r, err := tx.Resource(ctx, a.ID, store.TypeUser, "ua"); err != nil || r.NameKey != "alice" {
			t.Errorf("tenant a's user changed: %+v, %v", r, err)
		}
		return nil
	})
}

func testAtomicity(t *testing.T, s store.Store) {
	ctx := context.Background()
	tn := newTenant(t, s, "okta")
	boom := errors.New("boom")
	err := s.Update(ctx, func(tx store.Tx) error {
		if err := tx.InsertResource(ctx, user(tn.ID, "u1", "alice")); err != nil {
			return err
		}
		if err := tx.AppendChange(ctx, &store.Change{TenantID: tn.ID, At: t0, Actor: "t", ResourceType: store.TypeUser, ResourceID: "u1", Op: store.OpCreate}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Errorf("Update = %v, want boom", err)
	}
	err = s.Update(ctx, func(tx store.Tx) error {
		if err := tx.InsertResource(ctx, user(tn.ID, "u2", "bob")); err != nil {
			return err
		}
		panic("kaboom")
	})
	if err == nil {
		t.Errorf("Update with panic = nil, want an error")
	}
	// A failing transaction must not take a concurrent one down with it.
	var wg sync.WaitGroup
	errs := make([]error, 20)
	for i := range errs {
		wg.Go(func() {
			errs[i] = s.Update(ctx, func(tx store.Tx) error {
				if err := tx.InsertResource(ctx, user(tn.ID, fmt.Sprintf("c%d", i), fmt.Sprintf("c%d", i))); err != nil {
					return err
				}
				if i%2 == 1 {
					return boom
				}
				return nil
			})
		})
	}
	wg.Wait()
	view(t, s, func(tx store.ReadTx) error {
		for _, id := range []string{"u1", "u2"} {
			if _, err := tx.Resource(ctx, tn.ID, store.TypeUser, id); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("Resource(%s) from a failed Update = %v, want ErrNotFound", id, err)
			}
		}
		for i, err := range errs {
			_, rerr := tx.Resource(ctx, tn.ID, store.TypeUser, fmt.Sprintf("c%d", i))
			switch {
			case i%2 == 0 && (err != nil || rerr != nil):
				t.Errorf("update c%d = %v, read = %v; want committed", i, err, rerr)
			case i%2 == 1 && (!errors.Is(err, boom) || !errors.Is(rerr, store.ErrNotFound)):
				t.Errorf("update c%d = %v, read = %v; want boom and absent", i, err, rerr)
			}
		}
		cs, err := tx.Changes(ctx, 0, 100)
		if err != nil || len(cs) != 0 {
			t.Errorf("Changes after failed updates = %d, %v; want none", len(cs), err)
		}
		return nil
	})
}

func testChanges(t *testing.T, s store.Store) {
	ctx := context.Background()
	tn := newTenant(t, s, "okta")
	in := store.Change{
		TenantID: tn.ID, At: t0, Actor: "tok1", ResourceType: store.TypeGroup, ResourceID: "g1", Op: store.OpPatch,
		Before: []byte(`{"displayName":"a"}`), After: []byte(`{"displayName":"b"}`),
		Edges:  []store.EdgeChange{{Group: "g1", Member: "u1", MemberType: store.TypeUser, Added: true}},
		Detail: []byte(`{"skipped":["x"]}`),
	}
	var seqs []int64
	for range 3 {
		update(t, s, func(tx store.Tx) error {
			c := in
			if err := tx.AppendChange(ctx, &c); err != nil {
				return err
			}
			seqs = append(seqs, c.Seq)
			return nil
		})
	}
	if !(seqs[0] > 0 && seqs[0] < seqs[1] && seqs[1] < seqs[2]) {
		t.Errorf("change seqs %v, want strictly increasing and positive", seqs)
	}
	view(t, s, func(tx store.ReadTx) error {
		cs, err := tx.Changes(ctx, seqs[0], 10)
		if err != nil || len(cs) != 2 {
			t.Fatalf("Changes(after %d) = %d, %v; want 2", seqs[0], len(cs), err)
		}
		want := in
		want.Seq, want.Prev, want.Hash = seqs[1], cs[0].Prev, cs[0].Hash
		if diff := cmp.Diff(want, cs[0]); diff != "" {
			t.Errorf("Changes()[0] mismatch (-want +got):\n%s", diff)
		}
		if cs, _ := tx.Changes(ctx, 0, 1); len(cs) != 1 || cs[0].Seq != seqs[0] {
			t.Errorf("Changes(0, limit 1) = %+v, want seq %d", cs, seqs[0])
		}
		return nil
	})
}

func testCommitHooks(t *testing.T, s store.Store) {
	ctx := context.Background()
	tn := newTenant(t, s, "okta")
	var mu sync.Mutex
	var seen []int64
	s.OnCommit(func(cs []store.Change) {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range cs {
			seen = append(seen, c.Seq)
		}
	})
	var wg sync.WaitGroup
	var committed sync.Map
	for i := range 40 {
		wg.Go(func() {
			var seq int64
			err := s.Update(ctx, func(tx store.Tx) error {
				c := &store.Change{TenantID: tn.ID, At: t0, Actor: "t", ResourceType: store.TypeUser, ResourceID: fmt.Sprint(i), Op: store.OpCreate}
				if err := tx.AppendChange(ctx, c); err != nil {
					return err
				}
				seq = c.Seq
				if i%4 == 0 {
					return errors.New("rolled back")
				}
				return nil
			})
			if err != nil {
				return
			}
			// The hook has run before Update returns.
			mu.Lock()
			found := false
			for _, s := range seen {
				found = found || s == seq
			}
			mu.Unlock()
			if !found {
				t.Errorf("Update returned before the commit hook saw seq %d", seq)
			}
			committed.Store(seq, true)
		})
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if !sort.SliceIsSorted(seen, func(i, j int) bool { return seen[i] < seen[j] }) {
		t.Errorf("hook saw seqs out of order: %v", seen)
	}
	n := 0
	committed.Range(func(any, any) bool { n++; return true })
	if len(seen) != n || n != 30 {
		t.Errorf("hook saw %d changes, %d committed; want 30 of each", len(seen), n)
	}
}

func testConcurrentUpdates(t *testing.T, s store.Store) {
	ctx := context.Background()
	tn := newTenant(t, s, "okta")
	insert(t, s, group(tn.ID, "g", "big"))
	const workers, per = 16, 25
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range per {
				id := fmt.Sprintf("u%d-%d", w, i)
				err := s.Update(ctx, func(tx store.Tx) error {
					if err := tx.InsertResource(ctx, user(tn.ID, id, id)); err != nil {
						return err
					}
					_, err := tx.AddMembers(ctx, tn.ID, "g", []store.Member{{ID: id}})
					return err
				})
				if err != nil {
					t.Errorf("Update(%s): %v", id, err)
				}
			}
		})
	}
	wg.Wait()
	view(t, s, func(tx store.ReadTx) error {
		if c, err := tx.MemberCount(ctx, tn.ID, "g"); err != nil || c != workers*per {
			t.Errorf("MemberCount = %d, %v; want %d", c, err, workers*per)
		}
		return nil
	})
}

func testClosed(t *testing.T, s store.Store) {
	ctx := context.Background()
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Update(ctx, func(store.Tx) error { return nil }); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Update after Close = %v, want ErrClosed", err)
	}
	if err := s.View(ctx, func(store.ReadTx) error { return nil }); !errors.Is(err, store.ErrClosed) {
		t.Errorf("View after Close = %v, want ErrClosed", err)
	}
}
