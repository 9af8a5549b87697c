package engine_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scimgate/scimgate/config"
	"github.com/scimgate/scimgate/directory"
	"github.com/scimgate/scimgate/engine"
	"github.com/scimgate/scimgate/policy"
	"github.com/scimgate/scimgate/scim"
	"github.com/scimgate/scimgate/scim/schema"
	"github.com/scimgate/scimgate/snapshot"
	"github.com/scimgate/scimgate/store/sqlite"
)

// world is a directory with two tenants, a live snapshot and an engine.
type world struct {
	t      *testing.T
	dir    *directory.Service
	live   *snapshot.Live
	eng    *engine.Engine
	acme   directory.Caller
	globex directory.Caller
	ids    map[string]string // name -> resource id
	now    time.Time
}

const worldPolicy = `
routes:
  - {name: public, host: app.test, path: /public, allow: {public: true}}
  - {name: eng, host: app.test, path: /eng, allow: {groups: [engineering]}}
  - {name: admin, host: app.test, path: /admin, allow: {groups: [admins], users: [carol@acme]}, deny: {groups: [contractors], users: [bob@acme]}}
  - {name: ops-acme, host: app.test, path: /ops, allow: {groups: [acme/ops]}}
  - {name: ops-any, host: app.test, path: /ops-any, allow: {groups: [ops]}}
  - {name: shared-user, host: app.test, path: /shared, allow: {users: [shared@x]}}
  - {name: shared-user-acme, host: app.test, path: /shared-acme, allow: {users: [acme/shared@x]}}
  - {name: deny-case, host: app.test, path: /deny-case, allow: {groups: [Acme/admins]}, deny: {groups: [ACME/contractors], users: [Acme/bob@acme]}}
  - {name: deny-any, host: app.test, path: /deny-any, allow: {users: [acme/erin@acme, acme/shared@x, globex/gina@globex, acme/alice@acme]}, deny: {groups: [ops], users: [shared@x]}}
  - {name: pre-tenant, host: app.test, path: /pre, allow: {groups: [initech/admins], users: [initech/mallory, acme/alice@acme]}, deny: {groups: [initech/blocked]}}
`

func newWorld(t *testing.T) *world {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	w := &world{t: t, ids: map[string]string{}, now: time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)}
	w.dir = directory.New(st, directory.Options{Now: func() time.Time { return w.now }})
	for _, tn := range []string{"acme", "globex"} {
		_, info, _, err := w.dir.CreateToken(ctx, tn, "", 0, "test")
		if err != nil {
			t.Fatal(err)
		}
		c := directory.Caller{TenantID: info.TenantID, Actor: "test"}
		if tn == "acme" {
			w.acme = c
		} else {
			w.globex = c
		}
	}
	lctx, cancel := context.WithCancel(ctx)
	t.Cleanup(cancel)
	if w.live, err = snapshot.Start(lctx, st, snapshot.Options{Poll: 20 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	w.eng = engine.New(w.live, compilePolicy(t, worldPolicy), engine.Options{Now: func() time.Time { return w.now }})
	return w
}

func compilePolicy(t testing.TB, yaml string) *policy.Policy {
	cfg, err := config.Parse([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	p, err := policy.Compile(cfg.Routes, "test", time.Unix(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func (w *world) body(s string) map[string]any {
	m, err := scim.DecodeJSON([]byte(s))
	if err != nil {
		w.t.Fatal(err)
	}
	return m
}

func (w *world) user(c directory.Caller, name string, active bool) {
	r, err := w.dir.Create(context.Background(), c, schema.UserType, w.body(fmt.Sprintf(
		`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":%q,"active":%v}`, name, active)), nil)
	if err != nil {
		w.t.Fatal(err)
	}
	w.ids[fmt.Sprint(c.TenantID, "/", strings.ToLower(name))] = r.ID
}

// group creates a group with members named "user" or "group:NAME".
func (w *world) group(c directory.Caller, name string, members ...string) {
	var ms []string
	for _, m := range members {
		ms = append(ms, fmt.Sprintf(`{"value":%q}`, w.id(c, m)))
	}
	r, err := w.dir.Create(context.Background(), c, schema.GroupType, w.body(fmt.Sprintf(
		`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":%q,"members":[%s]}`, name, strings.Join(ms, ","))), nil)
	if err != nil {
		w.t.Fatal(err)
	}
	w.ids[fmt.Sprint(c.TenantID, "/group:", strings.ToLower(name))] = r.ID
}

func (w *world) id(c directory.Caller, name string) string {
	id, ok := w.ids[fmt.Sprint(c.TenantID, "/", strings.ToLower(name))]
	if !ok {
		w.t.Fatalf("no resource %q in tenant %d", name, c.TenantID)
	}
	return id
}

func (w *world) patch(c directory.Caller, rt *schema.ResourceType, id, ops string) {
	w.t.Helper()
	parsed, err := scim.ParsePatch(rt, w.body(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":`+ops+`}`))
	if err != nil {
		w.t.Fatal(err)
	}
	if _, err := w.dir.Patch(context.Background(), c, rt, id, parsed, directory.Precondition{}, nil, false); err != nil {
		w.t.Fatal(err)
	}
}

func (w *world) who(c directory.Caller, name string) engine.Principal {
	return engine.Principal{User: snapshot.Key{Tenant: c.TenantID, ID: w.id(c, name)}}
}

func (w *world) decide(p engine.Principal, path string) engine.Decision {
	return w.eng.Decide(p, engine.Request{Host: "app.test", Path: path, Method: "GET"})
}

func (w *world) expect(p engine.Principal, path string, allow bool, reason string) {
	w.t.Helper()
	d := w.decide(p, path)
	if d.Allow != allow || d.Reason != reason {
		w.t.Errorf("Decide(%v, %s) = %v %s, want %v %s", p.User.ID, path, d.Allow, d.Reason, allow, reason)
	}
}

// seed builds the directory most tests decide on.
func (w *world) seed() {
	a, g := w.acme, w.globex
	for _, u := range []string{"alice@acme", "bob@acme", "carol@acme", "dave@acme", "erin@acme", "shared@x"} {
		w.user(a, u, true)
	}
	w.user(a, "ivan@acme", false)
	w.user(g, "gina@globex", true)
	w.user(g, "shared@x", true)
	w.group(a, "platform", "alice@acme") // nested in engineering
	w.group(a, "engineering", "group:platform", "bob@acme")
	w.group(a, "admins", "bob@acme", "dave@acme", "ivan@acme")
	w.group(a, "contractors", "dave@acme")
	w.group(a, "ops", "erin@acme")
	w.group(g, "ops", "gina@globex") // the same name in another tenant
	// Names of a tenant not created yet, made by another tenant's IdP.
	w.user(g, "initech/mallory", true)
	w.group(g, "initech/admins", "gina@globex")
	w.group(a, "initech/blocked", "alice@acme")
}

func TestDecide(t *testing.T) {
	w := newWorld(t)
	w.seed()
	a, g := w.acme, w.globex
	anon := engine.Principal{}
	tests := []struct {
		who    engine.Principal
		path   string
		allow  bool
		reason string
	}{
		{anon, "/nowhere", false, engine.ReasonNoRoute},
		{anon, "/public/x", true, engine.ReasonPublic},
		{anon, "/eng", false, engine.ReasonUnauthenticated},
		{w.who(a, "alice@acme"), "/eng/docs", true, engine.ReasonGroupOK}, // through platform, nested
		{w.who(a, "bob@acme"), "/eng", true, engine.ReasonGroupOK},
		{w.who(a, "carol@acme"), "/eng", false, engine.ReasonNotAllowed},
		{w.who(a, "carol@acme"), "/admin", true, engine.ReasonUserOK},
		{w.who(a, "bob@acme"), "/admin", false, engine.ReasonDeniedUser},   // deny wins over the admins group
		{w.who(a, "dave@acme"), "/admin", false, engine.ReasonDeniedGroup}, // deny wins over the admins group
		{w.who(a, "ivan@acme"), "/admin", false, engine.ReasonUserInactive},
		{w.who(a, "erin@acme"), "/ops", true, engine.ReasonGroupOK},
		{w.who(g, "gina@globex"), "/ops", false, engine.ReasonNotAllowed},   // acme/ops only
		{w.who(a, "erin@acme"), "/ops-any", false, engine.ReasonNotAllowed}, // "ops" is ambiguous: binds nothing
		{w.who(g, "gina@globex"), "/ops-any", false, engine.ReasonNotAllowed},
		{w.who(a, "shared@x"), "/shared", false, engine.ReasonNotAllowed}, // two tenants have shared@x
		{w.who(a, "shared@x"), "/shared-acme", true, engine.ReasonUserOK},
		// A tenant named in another case is the same tenant.
		{w.who(a, "dave@acme"), "/deny-case", false, engine.ReasonDeniedGroup},
		{w.who(a, "bob@acme"), "/deny-case", false, engine.ReasonDeniedUser},
		{w.who(a, "ivan@acme"), "/deny-case", false, engine.ReasonUserInactive},
		// Deny rules with names several tenants use refuse in all of them:
		// another IdP creating the name must not switch them off.
		{w.who(a, "erin@acme"), "/deny-any", false, engine.ReasonDeniedGroup},
		{w.who(g, "gina@globex"), "/deny-any", false, engine.ReasonDeniedGroup},
		{w.who(a, "shared@x"), "/deny-any", false, engine.ReasonDeniedUser},
		{w.who(a, "alice@acme"), "/deny-any", true, engine.ReasonUserOK},
		{w.who(g, "shared@x"), "/shared-acme", false, engine.ReasonNotAllowed},
		{engine.Principal{User: snapshot.Key{Tenant: a.TenantID, ID: "gone"}}, "/eng", false, engine.ReasonUserUnknown},
		{w.who(a, "alice@acme"), "/public", true, engine.ReasonPublic},
		// initech does not exist: its names in allow rules admit nobody,
		// though globex has a group and a user called by them; in deny
		// rules they are read as whole names.
		{w.who(g, "gina@globex"), "/pre", false, engine.ReasonNotAllowed},
		{w.who(g, "initech/mallory"), "/pre", false, engine.ReasonNotAllowed},
		{w.who(a, "alice@acme"), "/pre", false, engine.ReasonDeniedGroup},
	}
	for _, tt := range tests {
		w.expect(tt.who, tt.path, tt.allow, tt.reason)
	}
	warnings := strings.Join(w.eng.Warnings(), "\n")
	for _, want := range []string{
		`route ops-any: allow group "ops": several tenants have a group of that name, so it admits nobody`,
		`route deny-any: deny group "ops": several tenants have a group of that name, so it refuses the members of all of them`,
		`route pre-tenant: allow group "initech/admins": no tenant initech (yet), so it admits nobody`,
		`route pre-tenant: allow user "initech/mallory": no tenant initech (yet), so it admits nobody`,
	} {
		if !strings.Contains(warnings, want) {
			t.Errorf("Warnings() = %q, want %q", warnings, want)
		}
	}
	if d := w.decide(w.who(a, "alice@acme"), "/public"); d.User == nil || d.User.UserName != "alice@acme" {
		t.Errorf("a public route does not identify a signed-in user: %+v", d.User)
	}
}

// TestDecideFollowsTheDirectory: every change is reflected in the very next
// decision, with no wait.
func TestDecideFollowsTheDirectory(t *testing.T) {
	w := newWorld(t)
	w.seed()
	a := w.acme
	alice := w.who(a, "alice@acme")
	w.expect(alice, "/eng", true, engine.ReasonGroupOK)

	// Unnest platform from engineering: alice loses access.
	w.patch(a, schema.GroupType, w.id(a, "group:engineering"), fmt.Sprintf(`[{"op":"remove","path":"members[value eq \"%s\"]"}]`, w.id(a, "group:platform")))
	w.expect(alice, "/eng", false, engine.ReasonNotAllowed)
	// Add her directly.
	w.patch(a, schema.GroupType, w.id(a, "group:engineering"), fmt.Sprintf(`[{"op":"add","path":"members","value":[{"value":%q}]}]`, w.id(a, "alice@acme")))
	w.expect(alice, "/eng", true, engine.ReasonGroupOK)
	// Deactivate, reactivate.
	w.patch(a, schema.UserType, w.id(a, "alice@acme"), `[{"op":"replace","value":{"active":false}}]`)
	w.expect(alice, "/eng", false, engine.ReasonUserInactive)
	w.patch(a, schema.UserType, w.id(a, "alice@acme"), `[{"op":"replace","value":{"active":true}}]`)
	w.expect(alice, "/eng", true, engine.ReasonGroupOK)
	// Rename the group: the policy names "engineering", so access goes.
	w.patch(a, schema.GroupType, w.id(a, "group:engineering"), `[{"op":"replace","path":"displayName","value":"Engineering Old"}]`)
	w.expect(alice, "/eng", false, engine.ReasonNotAllowed)
	w.patch(a, schema.GroupType, w.id(a, "group:engineering"), `[{"op":"replace","path":"displayName","value":"ENGINEERING"}]`)
	w.expect(alice, "/eng", true, engine.ReasonGroupOK) // names match case-insensitively
	// A new group named in the policy starts to grant at once.
	w.group(a, "admins2")
	w.eng.SetPolicy(compilePolicy(t, "routes:\n  - {name: x, host: app.test, path: /x, allow: {groups: [admins2]}}\n"))
	w.expect(alice, "/x", false, engine.ReasonNotAllowed)
	w.patch(a, schema.GroupType, w.id(a, "group:admins2"), fmt.Sprintf(`[{"op":"add","path":"members","value":[{"value":%q}]}]`, w.id(a, "alice@acme")))
	w.expect(alice, "/x", true, engine.ReasonGroupOK)
	// Deleting the group, then the user.
	if err := w.dir.Delete(context.Background(), a, schema.GroupType, w.id(a, "group:admins2"), directory.Precondition{}); err != nil {
		t.Fatal(err)
	}
	w.expect(alice, "/x", false, engine.ReasonNotAllowed)
	if err := w.dir.Delete(context.Background(), a, schema.UserType, w.id(a, "alice@acme"), directory.Precondition{}); err != nil {
		t.Fatal(err)
	}
	w.expect(alice, "/x", false, engine.ReasonUserUnknown)
}

func TestDecideTokens(t *testing.T) {
	w := newWorld(t)
	w.seed()
	ctx := context.Background()
	a := w.acme
	_, tok, err := w.dir.CreateAccessToken(ctx, "acme", "bob@acme", "", time.Hour, "test")
	if err != nil {
		t.Fatal(err)
	}
	bob := w.who(a, "bob@acme")
	withToken := bob
	withToken.TokenID = tok.ID
	w.expect(withToken, "/eng", true, engine.ReasonGroupOK)
	w.expect(engine.Principal{User: w.who(a, "carol@acme").User, TokenID: tok.ID}, "/eng", false, engine.ReasonTokenInvalid)
	w.expect(engine.Principal{User: bob.User, TokenID: "nosuchtoken"}, "/eng", false, engine.ReasonTokenInvalid)
	w.now = w.now.Add(time.Hour)
	w.expect(withToken, "/eng", false, engine.ReasonTokenExpired)
	w.now = w.now.Add(-time.Hour)
	if err := w.dir.RevokeAccessToken(ctx, tok.ID, "test"); err != nil {
		t.Fatal(err)
	}
	w.expect(withToken, "/eng", false, engine.ReasonTokenRevoked)
	w.expect(withToken, "/public", true, engine.ReasonPublic)
	if d := w.decide(withToken, "/public"); d.User != nil {
		t.Errorf("a revoked token still identifies its owner on a public route")
	}
	if !w.decide(withToken, "/eng").Unauthenticated() {
		t.Errorf("a revoked token must be treated as unauthenticated (401), not forbidden")
	}
}

// staleSource is a snapshot source whose snapshot is too old.
type staleSource struct{ s *snapshot.Snapshot }

func (s staleSource) Current() *snapshot.Snapshot { return s.s }
func (s staleSource) Age() time.Duration          { return time.Hour }

func TestDecideStaleSnapshotDenies(t *testing.T) {
	w := newWorld(t)
	w.seed()
	e := engine.New(staleSource{w.live.Current()}, compilePolicy(t, worldPolicy), engine.Options{MaxSnapshotAge: time.Minute})
	for _, path := range []string{"/eng", "/public"} {
		if d := e.Decide(w.who(w.acme, "bob@acme"), engine.Request{Host: "app.test", Path: path, Method: "GET"}); d.Allow || d.Reason != engine.ReasonStale {
			t.Errorf("Decide(%s) on a stale snapshot = %v %s, want deny %s", path, d.Allow, d.Reason, engine.ReasonStale)
		}
	}
}

func TestExplain(t *testing.T) {
	w := newWorld(t)
	w.seed()
	x := w.eng.Explain(w.who(w.acme, "alice@acme"), engine.Request{Host: "app.test", Path: "/eng", Method: "GET"})
	if !x.Allow || !slices.Equal(x.GroupPath, []string{"platform", "engineering"}) {
		t.Errorf("Explain(alice, /eng) = %v %v, want allowed through [platform engineering]", x.Allow, x.GroupPath)
	}
	x = w.eng.Explain(w.who(w.acme, "dave@acme"), engine.Request{Host: "app.test", Path: "/admin", Method: "GET"})
	if x.Reason != engine.ReasonDeniedGroup || !slices.Equal(x.GroupPath, []string{"contractors"}) {
		t.Errorf("Explain(dave, /admin) = %s %v, want denied-group [contractors]", x.Reason, x.GroupPath)
	}
}

func TestDecideDoesNotAllocate(t *testing.T) {
	w := newWorld(t)
	w.seed()
	alice := w.who(w.acme, "alice@acme")
	r := engine.Request{Host: "app.test", Path: "/eng/docs", Method: "GET"}
	w.eng.Decide(alice, r)
	if n := testing.AllocsPerRun(1000, func() { w.eng.Decide(alice, r) }); n != 0 {
		t.Errorf("Decide allocates %v times per call, want 0", n)
	}
	shared := w.who(w.acme, "shared@x")
	rs := engine.Request{Host: "app.test", Path: "/shared", Method: "GET"}
	if n := testing.AllocsPerRun(1000, func() { w.eng.Decide(shared, rs) }); n != 0 {
		t.Errorf("Decide with a user rule allocates %v times per call, want 0", n)
	}
}

// TestConfirm: a decision is confirmed as long as nothing it was made on
// changed, and made again as soon as the directory or the policy did.
func TestConfirm(t *testing.T) {
	w := newWorld(t)
	w.seed()
	a := w.acme
	alice := w.who(a, "alice@acme")
	eng := engine.Request{Host: "app.test", Path: "/eng", Method: "GET"}
	tests := []struct {
		name   string
		change func()
		allow  bool
		reason string
	}{
		{"nothing changed", func() {}, true, engine.ReasonGroupOK},
		{"user deactivated", func() {
			w.patch(a, schema.UserType, w.id(a, "alice@acme"), `[{"op":"replace","value":{"active":false}}]`)
		}, false, engine.ReasonUserInactive},
		{"user reactivated", func() {
			w.patch(a, schema.UserType, w.id(a, "alice@acme"), `[{"op":"replace","value":{"active":true}}]`)
		}, true, engine.ReasonGroupOK},
		{"removed from the group", func() {
			w.patch(a, schema.GroupType, w.id(a, "group:engineering"),
				fmt.Sprintf(`[{"op":"remove","path":"members[value eq \"%s\"]"}]`, w.id(a, "group:platform")))
		}, false, engine.ReasonNotAllowed},
		{"admitted by a new policy", func() {
			w.eng.SetPolicy(compilePolicy(t, "routes:\n  - {name: eng, host: app.test, path: /eng, allow: {groups: [platform]}}\n"))
		}, true, engine.ReasonGroupOK},
		{"refused by a new policy", func() {
			w.eng.SetPolicy(compilePolicy(t, "routes:\n  - {name: eng, host: app.test, path: /eng, allow: {groups: [admins]}}\n"))
		}, false, engine.ReasonNotAllowed},
	}
	d := w.eng.Decide(alice, eng)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.change()
			got := w.eng.Confirm(alice, eng, d)
			if got.Allow != tt.allow || got.Reason != tt.reason {
				t.Errorf("Confirm(alice, /eng) = %v %s, want %v %s", got.Allow, got.Reason, tt.allow, tt.reason)
			}
			if now := w.eng.Decide(alice, eng); got.Allow != now.Allow || got.Reason != now.Reason || got.Snap != now.Snap {
				t.Errorf("Confirm(alice, /eng) = %v %s on snapshot %d, Decide now = %v %s on %d",
					got.Allow, got.Reason, got.Snap.Seq, now.Allow, now.Reason, now.Snap.Seq)
			}
			d = got
		})
	}
}

// countingSource counts the decisions made on it (each asks its age).
type countingSource struct {
	engine.Source
	ages int
}

func (c *countingSource) Age() time.Duration { c.ages++; return c.Source.Age() }

func TestConfirmDoesNotDecideAgain(t *testing.T) {
	w := newWorld(t)
	w.seed()
	src := &countingSource{Source: w.live}
	e := engine.New(src, compilePolicy(t, worldPolicy), engine.Options{})
	alice := w.who(w.acme, "alice@acme")
	r := engine.Request{Host: "app.test", Path: "/eng/docs", Method: "GET"}
	d := e.Decide(alice, r)
	src.ages = 0
	if n := testing.AllocsPerRun(100, func() { d = e.Confirm(alice, r, d) }); n != 0 || !d.Allow || src.ages != 0 {
		t.Errorf("Confirm = %v %s with %v allocations per call and %d new decisions, want the decision confirmed as it is",
			d.Allow, d.Reason, n, src.ages)
	}
}

// TestDecideWithoutHost: a request without a Host is refused as bad-host
// when a route names a host (the upstream may serve it as that host), and
// decided under the routes for any host when none does.
func TestDecideWithoutHost(t *testing.T) {
	s, err := snapshot.Build(nil)
	if err != nil {
		t.Fatal(err)
	}
	named := engine.New(fixedSource{s}, compilePolicy(t, `routes:
  - {name: landing, path: /, allow: {public: true}}
  - {name: app, host: app.test, path: /, allow: {groups: [admins]}}
`), engine.Options{})
	anyHost := engine.New(fixedSource{s}, compilePolicy(t, `routes:
  - {name: landing, path: /, allow: {public: true}}
`), engine.Options{})
	for _, tc := range []struct {
		e      *engine.Engine
		host   string
		allow  bool
		reason string
	}{
		{named, "", false, engine.ReasonBadHost},
		{named, "app.test", false, engine.ReasonUnauthenticated},
		{named, "other.test", true, engine.ReasonPublic},
		{anyHost, "", true, engine.ReasonPublic},
	} {
		d := tc.e.Decide(engine.Principal{}, engine.Request{Host: tc.host, Path: "/admin", Method: "GET"})
		if d.Allow != tc.allow || d.Reason != tc.reason {
			t.Errorf("Host %q = %v %s, want %v %s", tc.host, d.Allow, d.Reason, tc.allow, tc.reason)
		}
	}
}
