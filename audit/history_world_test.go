package audit_test

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scimgate/scimgate/audit"
	"github.com/scimgate/scimgate/config"
	"github.com/scimgate/scimgate/directory"
	"github.com/scimgate/scimgate/engine"
	"github.com/scimgate/scimgate/policy"
	"github.com/scimgate/scimgate/scim"
	"github.com/scimgate/scimgate/scim/schema"
	"github.com/scimgate/scimgate/snapshot"
	"github.com/scimgate/scimgate/store"
	"github.com/scimgate/scimgate/store/sqlite"
)

// world is a directory on a real SQLite store, written through package
// directory as SCIM writes it, with a clock that gives every write its own
// time.
type world struct {
	t       testing.TB
	st      store.Store
	path    string
	dir     *directory.Service
	mu      sync.Mutex
	now     time.Time
	step    time.Duration
	callers map[string]directory.Caller // by tenant name
	ids     int
}

var histT0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func newWorld(t testing.TB, tenants ...string) *world {
	t.Helper()
	path := filepath.Join(t.TempDir(), "scimgate.db")
	st, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	w := &world{t: t, st: st, path: path, now: histT0, step: time.Second, callers: map[string]directory.Caller{}}
	w.dir = directory.New(st, directory.Options{Now: w.tick, NewID: func() string {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.ids++
		return fmt.Sprintf("id-%04d", w.ids)
	}})
	for _, tn := range tenants {
		w.tenant(tn)
	}
	return w
}

// tick advances the clock by one step and returns the new time.
func (w *world) tick() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.now = w.now.Add(w.step)
	return w.now
}

// tenant creates a tenant (with a SCIM token, as the CLI does).
func (w *world) tenant(name string) {
	w.t.Helper()
	_, info, _, err := w.dir.CreateToken(context.Background(), name, "test", 0, "cli")
	if err != nil {
		w.t.Fatal(err)
	}
	w.callers[name] = directory.Caller{TenantID: info.TenantID, Actor: info.ID, Base: "https://x/scim/v2"}
}

func (w *world) tenantNames() map[int64]string {
	m := map[int64]string{}
	for n, c := range w.callers {
		m[c.TenantID] = n
	}
	return m
}

var userType, groupType = schema.UserType, schema.GroupType

func scimBody(t testing.TB, s string) map[string]any {
	t.Helper()
	m, err := scim.DecodeJSON([]byte(s))
	if err != nil {
		t.Fatalf("DecodeJSON(%s): %v", s, err)
	}
	return m
}

func jq(s string) string { b, _ := json.Marshal(s); return string(b) }

func memberList(ids []string) string {
	var parts []string
	for _, id := range ids {
		parts = append(parts, `{"value":`+jq(id)+`}`)
	}
	return "[" + strings.Join(parts, ",") + "]"
}

// The SCIM operations: each fails the test on error unless it returns one.

func (w *world) createUser(tenant, name string) string {
	w.t.Helper()
	r, err := w.tryCreate(tenant, schema.UserType, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":`+jq(name)+`}`)
	if err != nil {
		w.t.Fatalf("create user %s/%s: %v", tenant, name, err)
	}
	return r
}

func (w *world) createGroup(tenant, name string, members ...string) string {
	w.t.Helper()
	r, err := w.tryCreate(tenant, schema.GroupType, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":`+
		jq(name)+`,"members":`+memberList(members)+`}`)
	if err != nil {
		w.t.Fatalf("create group %s/%s: %v", tenant, name, err)
	}
	return r
}

func (w *world) tryCreate(tenant string, rt *schema.ResourceType, doc string) (string, error) {
	r, err := w.dir.Create(context.Background(), w.callers[tenant], rt, scimBody(w.t, doc), nil)
	if err != nil {
		return "", err
	}
	return r.ID, nil
}

func (w *world) patch(tenant string, rt *schema.ResourceType, id, ops string) error {
	w.t.Helper()
	parsed, err := scim.ParsePatch(rt, scimBody(w.t, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":`+ops+`}`))
	if err != nil {
		w.t.Fatalf("ParsePatch(%s): %v", ops, err)
	}
	_, err = w.dir.Patch(context.Background(), w.callers[tenant], rt, id, parsed, directory.Precondition{}, nil, false)
	return err
}

func (w *world) mustPatch(tenant string, rt *schema.ResourceType, id, ops string) {
	w.t.Helper()
	if err := w.patch(tenant, rt, id, ops); err != nil {
		w.t.Fatalf("patch %s %s: %v", id, ops, err)
	}
}

func (w *world) renameUser(tenant, id, name string) error {
	return w.patch(tenant, schema.UserType, id, `[{"op":"replace","path":"userName","value":`+jq(name)+`}]`)
}

func (w *world) setActive(tenant, id string, active bool) {
	w.t.Helper()
	w.mustPatch(tenant, schema.UserType, id, fmt.Sprintf(`[{"op":"replace","value":{"active":%t}}]`, active))
}

func (w *world) renameGroup(tenant, id, name string) error {
	return w.patch(tenant, schema.GroupType, id, `[{"op":"replace","value":{"id":`+jq(id)+`,"displayName":`+jq(name)+`}}]`)
}

func (w *world) addMembers(tenant, group string, members ...string) {
	w.t.Helper()
	w.mustPatch(tenant, schema.GroupType, group, `[{"op":"add","path":"members","value":`+memberList(members)+`}]`)
}

func (w *world) removeMember(tenant, group, member string) {
	w.t.Helper()
	w.mustPatch(tenant, schema.GroupType, group, `[{"op":"remove","path":`+jq(`members[value eq "`+member+`"]`)+`}]`)
}

// putGroup replaces a group with PUT: its name and its whole member list.
func (w *world) putGroup(tenant, id, name string, members ...string) error {
	_, err := w.dir.Replace(context.Background(), w.callers[tenant], schema.GroupType, id, scimBody(w.t,
		`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":`+jq(name)+`,"members":`+memberList(members)+`}`),
		directory.Precondition{}, nil)
	return err
}

func (w *world) deleteUser(tenant, id string) {
	w.t.Helper()
	if err := w.dir.Delete(context.Background(), w.callers[tenant], schema.UserType, id, directory.Precondition{}); err != nil {
		w.t.Fatal(err)
	}
}

func (w *world) deleteGroup(tenant, id string) {
	w.t.Helper()
	if err := w.dir.Delete(context.Background(), w.callers[tenant], schema.GroupType, id, directory.Precondition{}); err != nil {
		w.t.Fatal(err)
	}
}

// policy records a policy version made of routes, loaded now.
func (w *world) policy(routes ...config.Route) store.PolicyVersion {
	w.t.Helper()
	p, err := policy.Compile(routes, "test.yaml", w.tick())
	if err != nil {
		w.t.Fatal(err)
	}
	v, _, err := audit.RecordPolicy(context.Background(), w.st, p, routes)
	if err != nil {
		w.t.Fatal(err)
	}
	return v
}

func groupRoute(name string, allowGroups ...string) config.Route {
	return config.Route{Name: name, Path: "/" + name, Allow: config.AllowRule{Groups: allowGroups}}
}

// log reads the change log and every policy version.
func (w *world) log() ([]store.Change, []store.PolicyVersion) {
	w.t.Helper()
	var cs []store.Change
	var vs []store.PolicyVersion
	err := w.st.View(context.Background(), func(tx store.ReadTx) (err error) {
		if cs, err = tx.Changes(context.Background(), 0, 1<<30); err != nil {
			return err
		}
		vs, err = tx.PolicyVersions(context.Background(), 0, 1<<30)
		return err
	})
	if err != nil {
		w.t.Fatal(err)
	}
	return cs, vs
}

// who asks audit.Who and returns "userName via" lines, or the error.
func (w *world) who(route string, at time.Time) ([]string, error) {
	res, err := audit.Who(context.Background(), w.st, route, at)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, a := range res.Users {
		out = append(out, a.Tenant+"/"+a.UserName+" via "+a.Via)
	}
	return out, nil
}

// The replay model: the directory at T is snapshot.Build of the changes
// that took effect by T, the policy the last version that took effect by
// T (versions, like changes, take effect at the running maximum of their
// times), and the engine decides for every user. It shares nothing with
// the temporal index.

type model struct {
	changes  []store.Change
	hats     []time.Time // running maximum of change times
	versions []store.PolicyVersion
	effs     []time.Time // running maximum of policy version times
	tenants  map[int64]string

	// The last snapshot built and how many changes it holds: asking about
	// times in order applies only the changes in between.
	snap *snapshot.Snapshot
	n    int
}

func newModel(t testing.TB, w *world) *model {
	cs, vs := w.log()
	m := &model{changes: cs, versions: vs, tenants: w.tenantNames()}
	var hat time.Time
	for _, c := range cs {
		if c.At.After(hat) {
			hat = c.At
		}
		m.hats = append(m.hats, hat)
	}
	var eff time.Time
	for i, v := range vs {
		if i == 0 || v.At.After(eff) {
			eff = v.At
		}
		m.effs = append(m.effs, eff)
	}
	return m
}

// prefix is how many changes took effect by t.
func (m *model) prefix(t time.Time) int {
	n, _ := slices.BinarySearchFunc(m.hats, t, func(h, t time.Time) int {
		if h.After(t) {
			return 1
		}
		return -1
	})
	return n
}

func (m *model) policyAt(t testing.TB, at time.Time) (*store.PolicyVersion, *policy.Policy) {
	var v *store.PolicyVersion
	for i := range m.versions {
		if !m.effs[i].After(at) {
			v = &m.versions[i]
		}
	}
	if v == nil {
		return nil, nil
	}
	var routes []config.Route
	if err := json.Unmarshal(v.Doc, &routes); err != nil {
		t.Fatal(err)
	}
	p, err := policy.Compile(routes, v.Source, v.At)
	if err != nil {
		t.Fatal(err)
	}
	return v, p
}

type fixedSource struct{ s *snapshot.Snapshot }

func (f fixedSource) Current() *snapshot.Snapshot { return f.s }
func (f fixedSource) Age() time.Duration          { return 0 }

func (m *model) engineAt(t testing.TB, at time.Time) (*engine.Engine, *snapshot.Snapshot) {
	_, p := m.policyAt(t, at)
	if p == nil {
		return nil, nil
	}
	n := m.prefix(at)
	if m.snap == nil || n < m.n {
		m.snap, m.n = nil, 0
		if m.snap, _ = snapshot.Build(nil); m.snap == nil {
			t.Fatal("snapshot.Build(nil) failed")
		}
	}
	s, err := m.snap.Apply(m.changes[m.n:n])
	if err != nil {
		t.Fatal(err)
	}
	m.snap, m.n = s, n
	return engine.New(fixedSource{s}, p, engine.Options{}), s
}

func via(x engine.Explanation) string {
	switch x.Reason {
	case engine.ReasonPublic:
		return audit.GrantPublic
	case engine.ReasonUserOK:
		return audit.GrantUser
	}
	return strings.Join(x.GroupPath, " -> ")
}

// who is the model's Who, as world.who prints it; ok is false when no
// policy or no such route was in force.
func (m *model) who(t testing.TB, route string, at time.Time) ([]string, bool) {
	eng, s := m.engineAt(t, at)
	if eng == nil || eng.Policy().Route(route) == nil {
		return nil, false
	}
	var out []string
	s.EachUser(func(u *snapshot.User) {
		if x := eng.ExplainRoute(engine.Principal{User: u.Key}, route); x.Allow {
			out = append(out, m.tenants[u.Tenant]+"/"+u.UserName+" via "+via(x))
		}
	})
	slices.SortFunc(out, func(a, b string) int {
		// Sort as audit.Who does: userName, then tenant.
		ta, ua, _ := strings.Cut(strings.SplitN(a, " via ", 2)[0], "/")
		tb, ub, _ := strings.Cut(strings.SplitN(b, " via ", 2)[0], "/")
		return cmp.Or(strings.Compare(ua, ub), strings.Compare(ta, tb))
	})
	return out, true
}

// span is an interval of History, flattened for comparison.
type span struct {
	Route, User, Via string
	From, To         time.Time // To zero: open
	FromBy, ToBy     string    // "change N" or "policy N"
}

func flatten(res *audit.HistoryResult) []span {
	by := func(b *audit.Boundary) string {
		switch {
		case b == nil:
			return ""
		case b.Change != nil:
			return fmt.Sprintf("change %d", b.Change.Seq)
		case b.Policy != nil:
			return fmt.Sprintf("policy %d", b.Policy.Seq)
		}
		return "?"
	}
	var out []span
	for _, in := range res.Intervals {
		s := span{Route: in.Route, User: in.Tenant + "/" + in.UserID + "/" + in.UserName, Via: in.Via, From: in.From.At, FromBy: by(&in.From)}
		if in.To != nil {
			s.To, s.ToBy = in.To.At, by(in.To)
		}
		out = append(out, s)
	}
	sortSpans(out)
	return out
}

func sortSpans(s []span) {
	slices.SortFunc(s, func(a, b span) int {
		return cmp.Or(strings.Compare(a.Route, b.Route), a.From.Compare(b.From), strings.Compare(a.User, b.User))
	})
}

// history is the model's History: every time something took effect from
// the first policy version on, the users that ever had the name are
// decided on every route.
func (m *model) history(t testing.TB, user, route string) ([]span, bool) {
	if len(m.versions) == 0 {
		return nil, false
	}
	name, tenant := strings.ToLower(user), int64(-1)
	if tn, short, ok := strings.Cut(user, "/"); ok {
		for id, n := range m.tenants {
			if n == tn {
				name, tenant = strings.ToLower(short), id
			}
		}
	}
	var ids []snapshot.Key
	for _, c := range m.changes {
		var d struct {
			UserName string `json:"userName"`
		}
		k := snapshot.Key{Tenant: c.TenantID, ID: c.ResourceID}
		if c.ResourceType == store.TypeUser && json.Unmarshal(c.After, &d) == nil && strings.ToLower(d.UserName) == name &&
			(tenant < 0 || c.TenantID == tenant) && !slices.Contains(ids, k) {
			ids = append(ids, k)
		}
	}
	if len(ids) == 0 {
		return nil, false
	}
	since := m.effs[0]
	times := []time.Time{since}
	for _, h := range m.hats {
		if h.After(since) {
			times = append(times, h)
		}
	}
	times = append(times, m.effs...)
	slices.SortFunc(times, time.Time.Compare)
	times = slices.CompactFunc(times, time.Time.Equal)
	type key struct {
		user  snapshot.Key
		route string
	}
	open := map[key]*span{}
	var out []span
	for _, at := range times {
		eng, s := m.engineAt(t, at)
		// A policy version that took effect then, else the last change.
		by := ""
		if slices.ContainsFunc(m.effs, at.Equal) {
			v, _ := m.policyAt(t, at)
			by = fmt.Sprintf("policy %d", v.Seq)
		} else {
			for i, h := range m.hats {
				if h.Equal(at) {
					by = fmt.Sprintf("change %d", m.changes[i].Seq)
				}
			}
		}
		now := map[key]engine.Explanation{}
		users := map[snapshot.Key]*snapshot.User{}
		for _, k := range ids {
			u, ok := s.User(k)
			if !ok {
				continue
			}
			users[k] = u
			for _, r := range eng.Policy().Routes {
				if route != "" && r.Name != route {
					continue
				}
				if x := eng.ExplainRoute(engine.Principal{User: k}, r.Name); x.Allow {
					now[key{k, r.Name}] = x
				}
			}
		}
		for k, sp := range open {
			if _, ok := now[k]; !ok {
				sp.To, sp.ToBy = at, by
				out = append(out, *sp)
				delete(open, k)
			}
		}
		for k, x := range now {
			if open[k] == nil {
				open[k] = &span{Route: k.route, User: m.tenants[k.user.Tenant] + "/" + k.user.ID + "/" + users[k.user].UserName,
					Via: via(x), From: at, FromBy: by}
			}
		}
	}
	for _, sp := range open {
		out = append(out, *sp)
	}
	sortSpans(out)
	return out, true
}
