package mapsync

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/scimgate/scimgate/config"
	"github.com/scimgate/scimgate/directory"
	"github.com/scimgate/scimgate/internal/gatetest"
	"github.com/scimgate/scimgate/policy"
	"github.com/scimgate/scimgate/scim/schema"
	"github.com/scimgate/scimgate/snapshot"
)

// TestCompute checks the maps computed for a small directory: access as the
// engine decides it, users, sessions, status.
func TestCompute(t *testing.T) {
	const routes = `
routes:
  - {name: app, host: app.test, path: /app, allow: {groups: [eng]}, deny: {users: [mallory]}}
  - {name: ops, host: app.test, path: /ops, allow: {groups: [ops]}}
  - {name: pub, path: /pub, allow: {public: true}}
`
	f := gatetest.New(t, routes)
	// A route that an earlier one hides, which configuration files refuse
	// since; map-sync still gives it no entries, and says so.
	cfg, err := config.Parse([]byte(routes))
	if err != nil {
		t.Fatal(err)
	}
	hidden := config.Route{Name: "hidden", Host: "app.test", Path: "/app", Allow: config.AllowRule{Users: []string{"alice"}}}
	withHidden, err := policy.Compile(append(cfg.Routes, hidden), "test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	f.Eng.SetPolicy(withHidden)
	for _, u := range []string{"alice", "mallory", "john doe", "idle"} {
		f.User(u)
	}
	if _, err := f.Dir.Create(f.Ctx, f.Acme, schema.UserType, f.Body(
		`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"evil\u0001name","active":true}`), nil); err != nil {
		t.Fatal(err)
	}
	// A userName no runtime API command could carry: left out, rather
	// than fail every sync.
	long := strings.Repeat("m", 9000)
	if _, err := f.Dir.Create(f.Ctx, f.Acme, schema.UserType, f.Body(
		`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"`+long+`","active":true}`), nil); err != nil {
		t.Fatal(err)
	}
	f.Group("ops", "alice")
	f.Group("eng", "group:ops", "mallory", "john doe", "idle")
	f.Token("idle", 0) // its owner is deactivated below
	f.SetActive("idle", false)
	uid := func(u string) string { return UID(f.Who(u).User) }

	sess := func(u string) string {
		_, s, err := f.Dir.CreateSession(f.Ctx, directory.NewSession{TenantID: f.Acme.TenantID, UserID: f.ID(u), Lifetime: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		return s.ID
	}
	aliceSess, revoked := sess("alice"), sess("mallory")
	if err := f.Dir.RevokeSession(f.Ctx, revoked, "test"); err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{aliceSess: true, revoked: true, "ffffffffffffffff": true}

	// Access tokens: live ones of active users, by the hash of the secret.
	aliceTok, _ := f.Token("alice", 0)
	johnTok, _ := f.Token("john doe", time.Hour)
	_, revokedTok := f.Token("alice", 0)
	if err := f.Dir.RevokeAccessToken(f.Ctx, revokedTok, "test"); err != nil {
		t.Fatal(err)
	}
	key := func(bearer string) string {
		id, secret, ok := directory.SplitAccessToken(bearer)
		if !ok {
			t.Fatalf("%q is not an access token", bearer)
		}
		return TokenKey(id, sha256.Sum256([]byte(secret)))
	}
	var johnExpires time.Time
	f.Eng.Snapshot().EachToken(func(tk *snapshot.Token) {
		if TokenKey(tk.ID, tk.Hash) == key(johnTok) {
			johnExpires = tk.Expires
		}
	})
	now := time.Now()
	st, stats, err := compute(f.Eng, known, now, now.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]map[string]string{
		AccessMap: {
			"*|pub":                  "1",
			uid("alice") + "|app":    "alice", // eng through ops
			uid("alice") + "|ops":    "alice",
			uid("john doe") + "|app": "john doe",
		},
		UsersMap: {
			uid("alice"):    "alice",
			uid("mallory"):  "mallory",
			uid("john doe"): "john doe", // a blank is fine in a value
		},
		SessionsMap: {aliceSess: uid("alice")},
		TokensMap: {
			key(aliceTok): "0|" + uid("alice"),
			key(johnTok):  strconv.FormatInt(johnExpires.Unix(), 10) + "|" + uid("john doe"),
		},
		StatusMap: {"until": strconv.FormatInt(now.Add(time.Minute).Unix(), 10)},
	}
	if diff := cmp.Diff(want, st.kv); diff != "" {
		t.Errorf("maps (-want +got):\n%s", diff)
	}
	if stats.SkippedUsers != 2 {
		t.Errorf("SkippedUsers = %d, want 2 (the userName with a control character, the long one)", stats.SkippedUsers)
	}
	if !slices.Equal(stats.ShadowedRoutes, []string{"hidden"}) {
		t.Errorf("ShadowedRoutes = %v, want [hidden]", stats.ShadowedRoutes)
	}
	// Once john's token expires, it leaves tokens.map.
	later, _, err := compute(f.Eng, known, johnExpires, johnExpires.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if got := later.kv[TokensMap]; !cmp.Equal(got, map[string]string{key(aliceTok): "0|" + uid("alice")}) {
		t.Errorf("tokens.map at john's token's expiry: %v", got)
	}
	// The syncer forgets sessions that can never come back.
	liveSessions(f.Eng.Snapshot(), known, now)
	if !cmp.Equal(known, map[string]bool{aliceSess: true}) {
		t.Errorf("known sessions after pruning: %v", known)
	}
	// A route's path with upper case: HAProxy must look every request up
	// folded too.
	f.Eng.SetPolicy(gatetest.Compile(t, "routes:\n  - {name: reports, host: app.test, path: /Reports, allow: {public: true}}\n"))
	upper, _, err := compute(f.Eng, known, now, now.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if got := upper.kv[StatusMap]["fold"]; got != "1" {
		t.Errorf(`status.map "fold" = %q with a route /Reports, want "1"`, got)
	}
}

func TestMintCookie(t *testing.T) {
	st := &stack{f: gatetest.New(t, `
routes:
  - {name: app, path: /, allow: {groups: [eng]}}
`)}
	f := st.f
	f.User("alice")
	f.User("bob")
	dir := t.TempDir()
	hx := &countingMaps{}
	s, err := New(hx, f.Eng, f.Live, Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	st.s = s
	id, _ := st.session(t, "alice")
	if hx.replaced.Load() == 0 {
		t.Error("the first MintCookie did not sync")
	}
	_, bobSess, err := f.Dir.CreateSession(f.Ctx, directory.NewSession{TenantID: f.Acme.TenantID, UserID: f.ID("bob"), Lifetime: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	f.SetActive("bob", false)
	tests := []struct{ name, sid string }{
		{"unknown", "0123456789abcdef"},
		{"inactive owner", bobSess.ID},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := s.MintCookie(f.Ctx, tc.sid, time.Time{}, time.Time{}); !errors.Is(err, ErrSession) {
				t.Errorf("MintCookie(%s) = %v, want ErrSession", tc.sid, err)
			}
		})
	}
	// exp and rfa: capped by the session's end; rfa only before exp.
	now := time.Now()
	for _, tc := range []struct {
		name           string
		exp, refreshAt time.Time
		wantExp        int64
		wantRFA        int64
	}{
		{"idle period", now.Add(10 * time.Minute), now.Add(5 * time.Minute), now.Add(10 * time.Minute).Unix(), now.Add(5 * time.Minute).Unix()},
		{"past the session's end", now.Add(48 * time.Hour), time.Time{}, 0, 0},
		{"refresh not before exp", now.Add(10 * time.Minute), now.Add(10 * time.Minute), now.Add(10 * time.Minute).Unix(), 0},
	} {
		tok, err := s.MintCookie(f.Ctx, id, tc.exp, tc.refreshAt)
		if err != nil {
			t.Fatal(err)
		}
		parts := strings.Split(tok, ".")
		raw, _ := base64.RawURLEncoding.DecodeString(parts[1])
		var c Claims
		if err := json.Unmarshal(raw, &c); err != nil {
			t.Fatal(err)
		}
		ss, _ := f.Live.Current().Session(id)
		if tc.wantExp == 0 {
			tc.wantExp = ss.Expires.Unix()
		}
		if c.Expires != tc.wantExp || c.RefreshAt != tc.wantRFA || (tc.wantRFA == 0 && strings.Contains(string(raw), "rfa")) {
			t.Errorf("%s: claims %s; want exp %d, rfa %d", tc.name, raw, tc.wantExp, tc.wantRFA)
		}
	}

	// A second syncer on the same directory (scimgate restarted) keeps the
	// key and the sessions.
	if err := s.Sync(f.Ctx); err != nil {
		t.Fatal(err)
	}
	s2, err := New(hx, f.Eng, f.Live, Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if !s2.key.priv.Equal(s.key.priv) {
		t.Error("the key changed across restarts")
	}
	if !s2.known[id] {
		t.Errorf("session %s forgotten across restarts: %v", id, s2.known)
	}
	for _, name := range []string{JWTKeyFile, privateKeyFile, RoutesMap, AccessMap, SessionsMap, UsersMap, StatusMap} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if fi, err := os.Stat(filepath.Join(dir, privateKeyFile)); err == nil && fi.Mode().Perm() != 0o600 {
		t.Errorf("%s mode %v, want 0600", privateKeyFile, fi.Mode().Perm())
	}
}

func TestOptions(t *testing.T) {
	tests := []struct {
		name string
		o    Options
		ok   bool
	}{
		{"defaults", Options{Dir: "/x"}, true},
		{"relative dir", Options{Dir: "x"}, false},
		{"max_stale below two drift periods", Options{Dir: "/x", DriftEvery: 10 * time.Second, MaxStale: 15 * time.Second}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.o.defaults(); (err == nil) != tc.ok {
				t.Errorf("defaults() = %v, want ok %v", err, tc.ok)
			}
		})
	}
}
