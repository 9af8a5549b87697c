// Package gatetest builds, for the tests of the enforcement adapters, what
// serve wires: a real SQLite directory, its live snapshot, an engine over
// a policy, a signer and a gate.
package gatetest

import (
	"context"
	"errors"
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

// Fixture is a real directory on SQLite, its live snapshot, an engine over
// a policy and a gate, as serve wires them.
type Fixture struct {
	T      testing.TB
	Ctx    context.Context
	Dir    *directory.Service
	Live   *snapshot.Live
	Eng    *engine.Engine
	Signer *assertion.Signer
	Gate   *gateway.Gate
	Acme   directory.Caller
	ids    map[string]string // userName or "group:NAME" -> SCIM id
}

// New returns a fixture whose engine decides with the routes of a
// configuration snippet.
func New(t testing.TB, routes string) *Fixture {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f := &Fixture{T: t, Ctx: ctx, ids: map[string]string{}}
	f.Dir = directory.New(st, directory.Options{})
	_, info, _, err := f.Dir.CreateToken(ctx, "acme", "", 0, "test")
	if err != nil {
		t.Fatal(err)
	}
	f.Acme = directory.Caller{TenantID: info.TenantID, Actor: "test"}
	if f.Live, err = snapshot.Start(ctx, st, snapshot.Options{Poll: 20 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	f.Eng = engine.New(f.Live, Compile(t, routes), engine.Options{})
	if f.Signer, err = assertion.NewSigner(ctx, st, assertion.Options{Issuer: "https://gate.test", TTL: time.Minute}); err != nil {
		t.Fatal(err)
	}
	f.Gate = &gateway.Gate{Engine: f.Eng, Auth: authn.New(f.Live, authn.Options{}), Identity: assertion.NewIdentity(f.Signer)}
	return f
}

// Compile compiles the routes of a configuration snippet.
func Compile(t testing.TB, routes string) *policy.Policy {
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

func (f *Fixture) Body(s string) map[string]any {
	f.T.Helper()
	m, err := scim.DecodeJSON([]byte(s))
	if err != nil {
		f.T.Fatal(err)
	}
	return m
}

// User creates an active user.
func (f *Fixture) User(name string) string {
	f.T.Helper()
	r, err := f.Dir.Create(f.Ctx, f.Acme, schema.UserType, f.Body(fmt.Sprintf(
		`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":%q,"active":true,"emails":[{"value":%q,"primary":true}]}`,
		name, name)), nil)
	if err != nil {
		f.T.Fatal(err)
	}
	f.ids[name] = r.ID
	return r.ID
}

// Group creates a group with the given member userNames or "group:NAME"s.
func (f *Fixture) Group(name string, members ...string) string {
	f.T.Helper()
	var ms []string
	for _, m := range members {
		ms = append(ms, fmt.Sprintf(`{"value":%q}`, f.ID(m)))
	}
	r, err := f.Dir.Create(f.Ctx, f.Acme, schema.GroupType, f.Body(fmt.Sprintf(
		`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":%q,"members":[%s]}`, name, strings.Join(ms, ","))), nil)
	if err != nil {
		f.T.Fatal(err)
	}
	f.ids["group:"+name] = r.ID
	return r.ID
}

func (f *Fixture) ID(name string) string {
	f.T.Helper()
	id, ok := f.ids[name]
	if !ok {
		f.T.Fatalf("no resource %q", name)
	}
	return id
}

func (f *Fixture) Patch(rt *schema.ResourceType, name, ops string) {
	f.T.Helper()
	parsed, err := scim.ParsePatch(rt, f.Body(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":`+ops+`}`))
	if err != nil {
		f.T.Fatal(err)
	}
	if _, err := f.Dir.Patch(f.Ctx, f.Acme, rt, f.ID(name), parsed, directory.Precondition{}, nil, false); err != nil {
		f.T.Fatal(err)
	}
}

func (f *Fixture) SetActive(user string, active bool) {
	f.T.Helper()
	f.Patch(schema.UserType, user, fmt.Sprintf(`[{"op":"replace","value":{"active":%v}}]`, active))
}

func (f *Fixture) RemoveMember(group, member string) {
	f.T.Helper()
	f.Patch(schema.GroupType, "group:"+group, fmt.Sprintf(`[{"op":"remove","path":"members[value eq \"%s\"]"}]`, f.ID(member)))
}

func (f *Fixture) DeleteUser(name string) {
	f.T.Helper()
	if err := f.Dir.Delete(f.Ctx, f.Acme, schema.UserType, f.ID(name), directory.Precondition{}); err != nil {
		f.T.Fatal(err)
	}
}

// Who is the principal of a signed-in user (no token).
func (f *Fixture) Who(user string) engine.Principal {
	return engine.Principal{User: snapshot.Key{Tenant: f.Acme.TenantID, ID: f.ID(user)}}
}

// Token creates an access token for user and returns its secret and id.
func (f *Fixture) Token(user string, ttl time.Duration) (secret, id string) {
	f.T.Helper()
	secret, info, err := f.Dir.CreateAccessToken(f.Ctx, "acme", user, "test", ttl, "test")
	if err != nil {
		f.T.Fatal(err)
	}
	return secret, info.ID
}

// JWTs stands in for the identity provider's verified bearer JWTs
// (authn.JWTs): a token "jwt.<userName>.sig" is that user's, one
// "other.*.*" another issuer's, any other is badly signed.
type JWTs struct{ F *Fixture }

// VerifyJWT implements authn.JWTs.
func (j JWTs) VerifyJWT(_ context.Context, raw string) (string, time.Time, error) {
	parts := strings.Split(raw, ".")
	switch {
	case len(parts) == 3 && parts[0] == "jwt":
		return parts[1], time.Now().Add(time.Hour), nil
	case len(parts) == 3 && parts[0] == "other":
		return "", time.Time{}, fmt.Errorf("issued by another: %w", authn.ErrOtherIssuer)
	}
	return "", time.Time{}, errors.New("bad signature")
}

// Resolve implements authn.JWTs.
func (j JWTs) Resolve(s *snapshot.Snapshot, claim string) (*snapshot.User, error) {
	if u, ok := s.UserByName(j.F.Acme.TenantID, claim); ok {
		return u, nil
	}
	return nil, errors.New("no such user")
}
