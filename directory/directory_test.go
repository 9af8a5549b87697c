package directory_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/scimgate/scimgate/directory"
	"github.com/scimgate/scimgate/scim"
	"github.com/scimgate/scimgate/scim/schema"
	"github.com/scimgate/scimgate/store"
	"github.com/scimgate/scimgate/store/sqlite"
)

// clock is a fake clock for expiry tests.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

type fixture struct {
	st    store.Store
	dir   *directory.Service
	clock *clock
	c     directory.Caller
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	clk := &clock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	dir := directory.New(st, directory.Options{Now: clk.Now})
	_, info, _, err := dir.CreateToken(ctx, "acme", "test", 0, "test")
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{st: st, dir: dir, clock: clk, c: directory.Caller{TenantID: info.TenantID, Actor: info.ID, Base: "https://x/scim/v2"}}
}

func decode(t testing.TB, s string) map[string]any {
	t.Helper()
	m, err := scim.DecodeJSON([]byte(s))
	if err != nil {
		t.Fatalf("DecodeJSON(%s): %v", s, err)
	}
	return m
}

func (f *fixture) user(t testing.TB, name string) string {
	t.Helper()
	r, err := f.dir.Create(context.Background(), f.c, schema.UserType, decode(t,
		`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"`+name+`"}`), nil)
	if err != nil {
		t.Fatalf("create user %s: %v", name, err)
	}
	return r.ID
}

func (f *fixture) group(t testing.TB, name string) string {
	t.Helper()
	r, err := f.dir.Create(context.Background(), f.c, schema.GroupType, decode(t,
		`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"`+name+`"}`), nil)
	if err != nil {
		t.Fatalf("create group %s: %v", name, err)
	}
	return r.ID
}

func (f *fixture) patch(t testing.TB, rt *schema.ResourceType, id, body string) error {
	t.Helper()
	ops, err := scim.ParsePatch(rt, decode(t, body))
	if err != nil {
		t.Fatalf("ParsePatch(%s): %v", body, err)
	}
	_, err = f.dir.Patch(context.Background(), f.c, rt, id, ops, directory.Precondition{}, nil, false)
	return err
}

func (f *fixture) changes(t testing.TB) []store.Change {
	t.Helper()
	var out []store.Change
	err := f.st.View(context.Background(), func(tx store.ReadTx) (err error) {
		out, err = tx.Changes(context.Background(), 0, 100000)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestChangeEvents checks that every mutation records who changed what,
// with the resource before and after and the membership edges.
func TestChangeEvents(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	uid := f.user(t, "alice")
	gid := f.group(t, "eng")
	if err := f.patch(t, schema.GroupType, gid, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
		"Operations":[{"op":"add","path":"members","value":[{"value":"`+uid+`"},{"value":"ghost"}]}]}`); err != nil {
		t.Fatal(err)
	}
	if err := f.patch(t, schema.UserType, uid, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
		"Operations":[{"op":"replace","value":{"active":false}}]}`); err != nil {
		t.Fatal(err)
	}
	// A no-op PATCH writes nothing.
	if err := f.patch(t, schema.UserType, uid, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
		"Operations":[{"op":"replace","value":{"active":false}}]}`); err != nil {
		t.Fatal(err)
	}
	if err := f.dir.Delete(ctx, f.c, schema.UserType, uid, directory.Precondition{}); err != nil {
		t.Fatal(err)
	}
	type summary struct {
		Type, ID, Op, Actor string
		Before, After       map[string]any
		Edges               []store.EdgeChange
		Detail              string
	}
	var got []summary
	var last int64
	for _, c := range f.changes(t) {
		if c.Seq <= last {
			t.Errorf("seq %d follows %d", c.Seq, last)
		}
		last = c.Seq
		if c.TenantID != f.c.TenantID || c.At.IsZero() {
			t.Errorf("change %d: tenant %d at %v", c.Seq, c.TenantID, c.At)
		}
		s := summary{Type: c.ResourceType, ID: c.ResourceID, Op: c.Op, Actor: c.Actor, Edges: c.Edges, Detail: string(c.Detail)}
		if c.Before != nil {
			json.Unmarshal(c.Before, &s.Before)
		}
		if c.After != nil {
			json.Unmarshal(c.After, &s.After)
		}
		got = append(got, s)
	}
	tok := f.c.Actor
	want := []summary{
		{Type: directory.TypeTenant, ID: fmt.Sprint(f.c.TenantID), Op: "create", Actor: "test", After: map[string]any{"name": "acme"}},
		{Type: directory.TypeScimToken, ID: tok, Op: "create", Actor: "test", After: map[string]any{"id": tok, "description": "test"}},
		{Type: "User", ID: uid, Op: "create", Actor: tok, After: map[string]any{"id": uid, "userName": "alice"}},
		{Type: "Group", ID: gid, Op: "create", Actor: tok, After: map[string]any{"id": gid, "displayName": "eng"}},
		{Type: "Group", ID: gid, Op: "patch", Actor: tok,
			Before: map[string]any{"id": gid, "displayName": "eng"}, After: map[string]any{"id": gid, "displayName": "eng"},
			Edges:  []store.EdgeChange{{Group: gid, Member: uid, MemberType: "User", Added: true}},
			Detail: `{"skipped_members":["ghost"]}`},
		{Type: "User", ID: uid, Op: "patch", Actor: tok,
			Before: map[string]any{"id": uid, "userName": "alice"}, After: map[string]any{"id": uid, "userName": "alice", "active": false}},
		{Type: "User", ID: uid, Op: "delete", Actor: tok,
			Before: map[string]any{"id": uid, "userName": "alice", "active": false},
			Edges:  []store.EdgeChange{{Group: gid, Member: uid, MemberType: "User"}}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("change log mismatch (-want +got):\n%s", diff)
	}
}

// TestConcurrentMemberPatches: 50 concurrent PATCHes, each adding distinct
// members to one group, lose nothing (no read-modify-write race).
func TestConcurrentMemberPatches(t *testing.T) {
	f := newFixture(t)
	gid := f.group(t, "big")
	const n, per = 50, 4
	ids := make([][]string, n)
	for i := range n {
		for j := range per {
			ids[i] = append(ids[i], f.user(t, fmt.Sprintf("u%d-%d", i, j)))
		}
	}
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			var vals []string
			for _, id := range ids[i] {
				vals = append(vals, `{"value":"`+id+`"}`)
			}
			err := f.patch(t, schema.GroupType, gid, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
				"Operations":[{"op":"add","path":"members","value":[`+strings.Join(vals, ",")+`]}]}`)
			if err != nil {
				t.Errorf("patch %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	g, err := f.dir.Get(context.Background(), f.c, schema.GroupType, gid, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ms, _ := g.Doc["members"].([]any); len(ms) != n*per {
		t.Errorf("group has %d members, want %d", len(ms), n*per)
	}
	if want := fmt.Sprintf(`W/"%d"`, 1+n); g.Tag != want {
		t.Errorf("group version %s, want %s (one per PATCH)", g.Tag, want)
	}
}

// TestPatchAtomicity: when one operation of a PATCH fails, the membership
// edits of earlier operations are rolled back too.
func TestPatchAtomicity(t *testing.T) {
	f := newFixture(t)
	uid := f.user(t, "alice")
	gid := f.group(t, "eng")
	err := f.patch(t, schema.GroupType, gid, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
		"Operations":[{"op":"add","path":"members","value":[{"value":"`+uid+`"}]},
		{"op":"replace","path":"displayName","value":{"x":1}}]}`)
	if e := scim.AsError(err); e.Code != scim.CodeInvalidValue {
		t.Fatalf("Patch = %v, want invalidValue", err)
	}
	g, err := f.dir.Get(context.Background(), f.c, schema.GroupType, gid, nil)
	if err != nil {
		t.Fatal(err)
	}
	if g.Doc["members"] != nil || g.Tag != `W/"1"` {
		t.Errorf("after failed PATCH: members %v version %s; want none, W/\"1\"", g.Doc["members"], g.Tag)
	}
	if n := len(f.changes(t)); n != 4 { // tenant, token, user, group
		t.Errorf("%d change events after a failed PATCH, want 4", n)
	}
}

func TestAuthenticate(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	secret, info, created, err := f.dir.CreateToken(ctx, "acme", "rotation", time.Hour, "cli")
	if err != nil || created {
		t.Fatalf("CreateToken = %v, created %v; want existing tenant", err, created)
	}
	if !strings.HasPrefix(secret, "sgs_"+info.ID+"_") || len(secret) < 60 {
		t.Errorf("token %q: want sgs_<id>_<43-char secret>", secret)
	}
	tenant, id, err := f.dir.Authenticate(ctx, secret)
	if err != nil || tenant != f.c.TenantID || id != info.ID {
		t.Errorf("Authenticate(valid) = %d, %s, %v", tenant, id, err)
	}
	tests := []struct{ name, token string }{
		{"empty", ""},
		{"garbage", "hello"},
		{"wrong secret", secret[:len(secret)-2] + "xx"},
		{"unknown id", "sgs_0000000000000000_" + secret[len("sgs_0000000000000000_"):]},
		{"missing prefix", strings.TrimPrefix(secret, "sgs_")},
		{"truncated", secret[:20]},
	}
	for _, tt := range tests {
		if _, _, err := f.dir.Authenticate(ctx, tt.token); !errors.Is(err, directory.ErrBadToken) {
			t.Errorf("Authenticate(%s) = %v, want ErrBadToken", tt.name, err)
		}
	}
	f.clock.Advance(time.Hour)
	if _, _, err := f.dir.Authenticate(ctx, secret); !errors.Is(err, directory.ErrBadToken) {
		t.Errorf("Authenticate(expired) = %v, want ErrBadToken", err)
	}
	secret2, info2, _, err := f.dir.CreateToken(ctx, "acme", "", 0, "cli")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.dir.Authenticate(ctx, secret2); err != nil {
		t.Fatalf("Authenticate(second token) = %v", err)
	}
	if err := f.dir.RevokeToken(ctx, info2.ID, "cli"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.dir.Authenticate(ctx, secret2); !errors.Is(err, directory.ErrBadToken) {
		t.Errorf("Authenticate(revoked) = %v, want ErrBadToken", err)
	}
	if err := f.dir.RevokeToken(ctx, info2.ID, "cli"); err == nil || !strings.Contains(err.Error(), "already revoked") {
		t.Errorf("RevokeToken twice = %v, want already revoked", err)
	}
	if err := f.dir.RevokeToken(ctx, "nope", "cli"); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("RevokeToken(unknown) = %v, want does not exist", err)
	}
	list, err := f.dir.Tokens(ctx, "acme")
	if err != nil || len(list) != 3 {
		t.Fatalf("Tokens(acme) = %d, %v; want 3", len(list), err)
	}
	for _, tk := range list {
		if tk.ID == info.ID && tk.LastUsed.IsZero() {
			t.Errorf("token %s used but LastUsed not recorded", tk.ID)
		}
	}
	if _, err := f.dir.Tokens(ctx, "nope"); err == nil {
		t.Errorf("Tokens(unknown tenant) = nil error")
	}
}

func TestBootstrapOnce(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	dir := directory.New(st, directory.Options{})
	secret, err := dir.Bootstrap(ctx, "default")
	if err != nil || secret == "" {
		t.Fatalf("first Bootstrap = %q, %v; want a token", secret, err)
	}
	if again, err := dir.Bootstrap(ctx, "default"); err != nil || again != "" {
		t.Errorf("second Bootstrap = %q, %v; want nothing", again, err)
	}
	if _, _, err := dir.Authenticate(ctx, secret); err != nil {
		t.Errorf("bootstrap token does not authenticate: %v", err)
	}
}

// TestGroupSameMembersAgain: a PUT of a group, or a replace of its
// members, that names the members it has changes nothing: no new version,
// no change event listing every member as removed and added back (Okta
// pushes whole groups that way). One that differs records the difference
// alone.
func TestGroupSameMembersAgain(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	a, b, c := f.user(t, "a"), f.user(t, "b"), f.user(t, "c")
	gid := f.group(t, "eng")
	members := func(ids ...string) string {
		var ms []string
		for _, id := range ids {
			ms = append(ms, `{"value":"`+id+`"}`)
		}
		return "[" + strings.Join(ms, ",") + "]"
	}
	put := func(ids ...string) string {
		t.Helper()
		r, err := f.dir.Replace(ctx, f.c, schema.GroupType, gid, decode(t, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"eng","members":`+members(ids...)+`}`), directory.Precondition{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return r.Tag
	}
	v1 := put(a, b)
	n := len(f.changes(t))
	if v := put(b, a); v != v1 {
		t.Errorf("PUT with the same members: version %s, was %s", v, v1)
	}
	if err := f.patch(t, schema.GroupType, gid, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
		"Operations":[{"op":"replace","path":"members","value":`+members(a, b)+`}]}`); err != nil {
		t.Fatal(err)
	}
	if got := f.changes(t); len(got) != n {
		t.Fatalf("the same members again recorded %d change events", len(got)-n)
	}
	if v := put(a, c); v == v1 {
		t.Errorf("PUT replacing b with c kept the version %s", v)
	}
	got := f.changes(t)
	if len(got) != n+1 {
		t.Fatalf("PUT replacing b with c recorded %d change events, want 1", len(got)-n)
	}
	want := []store.EdgeChange{
		{Group: gid, Member: b, MemberType: store.TypeUser, Added: false},
		{Group: gid, Member: c, MemberType: store.TypeUser, Added: true},
	}
	if e := got[n].Edges; !slices.EqualFunc(e, want, func(x, y store.EdgeChange) bool { return x == y }) {
		t.Errorf("edges %+v, want %+v", e, want)
	}
}
