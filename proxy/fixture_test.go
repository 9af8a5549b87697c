package proxy_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scimgate/scimgate/assertion"
	"github.com/scimgate/scimgate/authn"
	"github.com/scimgate/scimgate/config"
	"github.com/scimgate/scimgate/directory"
	"github.com/scimgate/scimgate/engine"
	"github.com/scimgate/scimgate/gateway"
	"github.com/scimgate/scimgate/policy"
	"github.com/scimgate/scimgate/scim"
	"github.com/scimgate/scimgate/scim/schema"
	"github.com/scimgate/scimgate/snapshot"
	"github.com/scimgate/scimgate/store/sqlite"
)

// fixture is a real directory on SQLite, its live snapshot, an engine over
// a policy and a gate, as serve wires them.
type fixture struct {
	t      testing.TB
	ctx    context.Context
	dir    *directory.Service
	live   *snapshot.Live
	eng    *engine.Engine
	signer *assertion.Signer
	gate   *gateway.Gate
	acme   directory.Caller
	ids    map[string]string // userName or "group:NAME" -> SCIM id
}

func newFixture(t testing.TB, routes string) *fixture {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f := &fixture{t: t, ctx: ctx, ids: map[string]string{}}
	f.dir = directory.New(st, directory.Options{})
	_, info, _, err := f.dir.CreateToken(ctx, "acme", "", 0, "test")
	if err != nil {
		t.Fatal(err)
	}
	f.acme = directory.Caller{TenantID: info.TenantID, Actor: "test"}
	if f.live, err = snapshot.Start(ctx, st, snapshot.Options{Poll: 20 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	f.eng = engine.New(f.live, compile(t, routes), engine.Options{})
	if f.signer, err = assertion.NewSigner(ctx, st, assertion.Options{Issuer: "https://gate.test", TTL: time.Minute}); err != nil {
		t.Fatal(err)
	}
	f.gate = &gateway.Gate{Engine: f.eng, Auth: authn.New(f.live, authn.Options{}), Identity: assertion.NewIdentity(f.signer)}
	return f
}

func compile(t testing.TB, routes string) *policy.Policy {
	t.Helper()
	cfg, err := config.Parse([]byte(routes))
	if err != nil {
		t.Fatalf("config.Parse: %v\n%s", err, routes)
	}
	p, err := policy.Compile(cfg.Routes, "test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func (f *fixture) body(s string) map[string]any {
	f.t.Helper()
	m, err := scim.DecodeJSON([]byte(s))
	if err != nil {
		f.t.Fatal(err)
	}
	return m
}

// user creates an active user.
func (f *fixture) user(name string) string {
	f.t.Helper()
	r, err := f.dir.Create(f.ctx, f.acme, schema.UserType, f.body(fmt.Sprintf(
		`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":%q,"active":true,"emails":[{"value":%q,"primary":true}]}`,
		name, name)), nil)
	if err != nil {
		f.t.Fatal(err)
	}
	f.ids[name] = r.ID
	return r.ID
}

// group creates a group with the given member userNames or "group:NAME"s.
func (f *fixture) group(name string, members ...string) string {
	f.t.Helper()
	var ms []string
	for _, m := range members {
		ms = append(ms, fmt.Sprintf(`{"value":%q}`, f.id(m)))
	}
	r, err := f.dir.Create(f.ctx, f.acme, schema.GroupType, f.body(fmt.Sprintf(
		`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":%q,"members":[%s]}`, name, strings.Join(ms, ","))), nil)
	if err != nil {
		f.t.Fatal(err)
	}
	f.ids["group:"+name] = r.ID
	return r.ID
}

func (f *fixture) id(name string) string {
	f.t.Helper()
	id, ok := f.ids[name]
	if !ok {
		f.t.Fatalf("no resource %q", name)
	}
	return id
}

func (f *fixture) patch(rt *schema.ResourceType, name, ops string) {
	f.t.Helper()
	parsed, err := scim.ParsePatch(rt, f.body(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":`+ops+`}`))
	if err != nil {
		f.t.Fatal(err)
	}
	if _, err := f.dir.Patch(f.ctx, f.acme, rt, f.id(name), parsed, directory.Precondition{}, nil, false); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) setActive(user string, active bool) {
	f.t.Helper()
	f.patch(schema.UserType, user, fmt.Sprintf(`[{"op":"replace","value":{"active":%v}}]`, active))
}

func (f *fixture) removeMember(group, member string) {
	f.t.Helper()
	f.patch(schema.GroupType, "group:"+group, fmt.Sprintf(`[{"op":"remove","path":"members[value eq \"%s\"]"}]`, f.id(member)))
}

func (f *fixture) deleteUser(name string) {
	f.t.Helper()
	if err := f.dir.Delete(f.ctx, f.acme, schema.UserType, f.id(name), directory.Precondition{}); err != nil {
		f.t.Fatal(err)
	}
}

// token creates an access token for user and returns its secret and id.
func (f *fixture) token(user string, ttl time.Duration) (secret, id string) {
	f.t.Helper()
	secret, info, err := f.dir.CreateAccessToken(f.ctx, "acme", user, "test", ttl, "test")
	if err != nil {
		f.t.Fatal(err)
	}
	return secret, info.ID
}
