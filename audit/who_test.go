package audit_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/scimgate/scimgate/audit"
	"github.com/scimgate/scimgate/config"
)

// checkWho compares Who at each time with the lines wanted.
func checkWho(t *testing.T, w *world, route string, want map[time.Time][]string) {
	t.Helper()
	for at, lines := range want {
		got, err := w.who(route, at)
		if err != nil {
			t.Errorf("Who(%s, %s): %v", route, at.Format(time.TimeOnly), err)
			continue
		}
		if diff := cmp.Diff(lines, got); diff != "" {
			t.Errorf("Who(%s, %s) mismatch (-want +got):\n%s", route, at.Format(time.TimeOnly), diff)
		}
	}
}

func TestWhoNestedGroups(t *testing.T) {
	w := newWorld(t, "acme")
	alice := w.createUser("acme", "alice")
	platform := w.createGroup("acme", "platform", alice)
	eng := w.createGroup("acme", "engineering", platform)
	w.policy(groupRoute("app", "engineering"))
	nested := w.tick()
	w.removeMember("acme", eng, platform)
	out := w.tick()
	w.addMembers("acme", eng, alice)
	direct := w.tick()
	checkWho(t, w, "app", map[time.Time][]string{
		nested: {"acme/alice via platform -> engineering"},
		out:    nil,
		direct: {"acme/alice via engineering"},
	})
}

func TestWhoRenames(t *testing.T) {
	w := newWorld(t, "acme")
	alice := w.createUser("acme", "alice")
	eng := w.createGroup("acme", "eng", alice)
	w.policy(config.Route{Name: "app", Allow: config.AllowRule{Groups: []string{"eng"}, Users: []string{"bob"}}})
	before := w.tick()
	if err := w.renameGroup("acme", eng, "engineering"); err != nil {
		t.Fatal(err)
	}
	renamed := w.tick()
	if err := w.renameUser("acme", alice, "bob"); err != nil {
		t.Fatal(err)
	}
	asBob := w.tick()
	checkWho(t, w, "app", map[time.Time][]string{
		before:  {"acme/alice via eng"},
		renamed: nil, // the rule names "eng", which no group is called any more
		asBob:   {"acme/bob via user rule"},
	})
}

func TestWhoDeletionsAndReactivation(t *testing.T) {
	w := newWorld(t, "acme")
	alice, bob := w.createUser("acme", "alice"), w.createUser("acme", "bob")
	eng := w.createGroup("acme", "eng", alice, bob)
	w.policy(groupRoute("app", "eng"))
	both := w.tick()
	w.setActive("acme", alice, false)
	inactive := w.tick()
	w.setActive("acme", alice, true)
	again := w.tick()
	w.deleteUser("acme", bob)
	bobGone := w.tick()
	w.deleteGroup("acme", eng)
	groupGone := w.tick()
	w.createGroup("acme", "eng", w.createUser("acme", "bob"))
	recreated := w.tick()
	checkWho(t, w, "app", map[time.Time][]string{
		both:      {"acme/alice via eng", "acme/bob via eng"},
		inactive:  {"acme/bob via eng"},
		again:     {"acme/alice via eng", "acme/bob via eng"},
		bobGone:   {"acme/alice via eng"},
		groupGone: nil,
		recreated: {"acme/bob via eng"},
	})
}

func TestWhoPolicyEdits(t *testing.T) {
	w := newWorld(t, "acme")
	alice, bob := w.createUser("acme", "alice"), w.createUser("acme", "bob")
	w.createGroup("acme", "eng", alice)
	w.createGroup("acme", "ops", bob)
	noPolicy := w.tick()
	w.policy(groupRoute("app", "eng"))
	v1 := w.tick()
	w.policy(groupRoute("app", "ops"), config.Route{Name: "site", Allow: config.AllowRule{Public: true}})
	v2 := w.tick()
	w.policy(groupRoute("app", "ops"), config.Route{Name: "admin", Allow: config.AllowRule{Groups: []string{"eng", "ops"}},
		Deny: config.DenyRule{Groups: []string{"ops"}}})
	v3 := w.tick()
	checkWho(t, w, "app", map[time.Time][]string{v1: {"acme/alice via eng"}, v2: {"acme/bob via ops"}})
	checkWho(t, w, "site", map[time.Time][]string{v2: {"acme/alice via public", "acme/bob via public"}})
	checkWho(t, w, "admin", map[time.Time][]string{v3: {"acme/alice via eng"}}) // deny wins

	for _, tt := range []struct {
		route string
		at    time.Time
		want  error
		say   string
	}{
		{"app", noPolicy, audit.ErrNoPolicy, "the first policy version was loaded at"},
		{"site", v1, audit.ErrUnknownRoute, "has routes app"},
		{"site", v3, audit.ErrUnknownRoute, "has routes app, admin"},
	} {
		_, err := audit.Who(context.Background(), w.st, tt.route, tt.at)
		if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.say) {
			t.Errorf("Who(%s, %s) = %v, want %v saying %q", tt.route, tt.at.Format(time.TimeOnly), err, tt.want, tt.say)
		}
	}
}

// TestWhoTenants: names shared by tenants bind as the engine binds them.
func TestWhoTenants(t *testing.T) {
	w := newWorld(t, "acme", "globex")
	a := w.createUser("acme", "alice")
	w.createGroup("acme", "eng", a)
	g := w.createUser("globex", "alice")
	w.createGroup("globex", "eng", g)
	w.createUser("acme", "carol")
	w.policy(
		groupRoute("shared", "eng"),    // two tenants have "eng": binds nothing
		groupRoute("acme", "acme/eng"), // qualified
		config.Route{Name: "alice", Allow: config.AllowRule{Users: []string{"alice"}}},         // not unique: nobody
		config.Route{Name: "galice", Allow: config.AllowRule{Users: []string{"globex/alice"}}}, // qualified
		config.Route{Name: "carol", Allow: config.AllowRule{Users: []string{"carol"}}},         // unique
	)
	at := w.tick()
	checkWho(t, w, "shared", map[time.Time][]string{at: nil})
	checkWho(t, w, "acme", map[time.Time][]string{at: {"acme/alice via eng"}})
	checkWho(t, w, "alice", map[time.Time][]string{at: nil})
	checkWho(t, w, "galice", map[time.Time][]string{at: {"globex/alice via user rule"}})
	checkWho(t, w, "carol", map[time.Time][]string{at: {"acme/carol via user rule"}})
	// Once globex's alice is gone, the unqualified rule names one user.
	w.deleteUser("globex", g)
	later := w.tick()
	checkWho(t, w, "alice", map[time.Time][]string{at: nil, later: {"acme/alice via user rule"}})
}

func TestHistory(t *testing.T) {
	w := newWorld(t, "acme")
	alice := w.createUser("acme", "alice")
	eng := w.createGroup("acme", "eng")
	ops := w.createGroup("acme", "ops")
	v1 := w.policy(groupRoute("app", "eng"), groupRoute("ops", "ops"))
	w.addMembers("acme", eng, alice)
	w.setActive("acme", alice, false)
	w.setActive("acme", alice, true)
	w.addMembers("acme", ops, eng) // alice reaches ops through eng
	w.policy(groupRoute("app", "ops"), groupRoute("ops", "ops"))
	w.deleteUser("acme", alice)
	alice2 := w.createUser("acme", "alice")
	w.addMembers("acme", ops, alice2)
	w.policy(groupRoute("ops", "ops"))

	res, err := audit.History(context.Background(), w.st, "alice", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Users) != 2 || !res.Since.Equal(v1.At) {
		t.Errorf("History users %+v since %v, want 2 users since %v", res.Users, res.Since, v1.At)
	}
	var got []string
	for _, in := range res.Intervals {
		to := "now"
		if in.To != nil {
			to = in.To.String()
		}
		got = append(got, in.Route+" "+in.UserID+" via "+in.Via+": "+in.From.String()+" .. "+to)
	}
	tok := w.callers["acme"].Actor
	want := []string{
		"app id-0001 via eng: change 6: patch group id-0002 (eng) by " + tok + " .. change 7: patch user id-0001 (alice) by " + tok,
		"app id-0001 via eng: change 8: patch user id-0001 (alice) by " + tok + " .. change 10: delete user id-0001 (alice) by " + tok,
		"app id-0004 via ops: change 12: patch group id-0003 (ops) by " + tok + " .. policy version 3 from test.yaml",
		"ops id-0001 via eng -> ops: change 9: patch group id-0003 (ops) by " + tok + " .. change 10: delete user id-0001 (alice) by " + tok,
		"ops id-0004 via ops: change 12: patch group id-0003 (ops) by " + tok + " .. now",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("History(alice) mismatch (-want +got):\n%s", diff)
	}

	only, err := audit.History(context.Background(), w.st, "ALICE", "ops")
	if err != nil || len(only.Intervals) != 2 {
		t.Errorf("History(ALICE, ops) = %+v, %v; want the 2 ops intervals", only, err)
	}
	for _, tt := range []struct {
		user, route string
		want        error
	}{
		{"nobody", "", audit.ErrUnknownUser},
		{"alice", "nowhere", audit.ErrUnknownRoute},
	} {
		if _, err := audit.History(context.Background(), w.st, tt.user, tt.route); !errors.Is(err, tt.want) {
			t.Errorf("History(%q, %q) = %v, want %v", tt.user, tt.route, err, tt.want)
		}
	}
}

// TestWhoGroupPathTies: when several groups grant access, the path named
// is the one the live engine names: groups are indexed in creation order,
// whatever was renamed or deleted since.
func TestWhoGroupPathTies(t *testing.T) {
	w := newWorld(t, "acme")
	alice := w.createUser("acme", "alice")
	old := w.createGroup("acme", "old")
	ops := w.createGroup("acme", "ops", alice)
	eng := w.createGroup("acme", "eng", alice)
	w.deleteGroup("acme", old)
	if err := w.renameGroup("acme", ops, "ops2"); err != nil {
		t.Fatal(err)
	}
	w.policy(groupRoute("app", "eng", "ops2"), groupRoute("nested", "top"))
	w.createGroup("acme", "top", eng, ops)
	at := w.tick()
	checkWho(t, w, "app", map[time.Time][]string{at: {"acme/alice via ops2"}})
	checkWho(t, w, "nested", map[time.Time][]string{at: {"acme/alice via ops2 -> top"}})
	m := newModel(t, w)
	for _, rt := range []string{"app", "nested"} {
		want, _ := m.who(t, rt, at)
		got, _ := w.who(rt, at)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Who(%s) differs from the replay (-replay +index):\n%s", rt, diff)
		}
	}
}
