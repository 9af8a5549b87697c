package audit_test

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/scimgate/scimgate/audit"
	"github.com/scimgate/scimgate/config"
	"github.com/scimgate/scimgate/policy"
	"github.com/scimgate/scimgate/store/sqlite"
)

// recordAt records a policy version of routes stamped at, whatever the
// world's clock says: a clock that stepped back.
func recordAt(t *testing.T, w *world, at time.Time, routes ...config.Route) int64 {
	t.Helper()
	p, err := policy.Compile(routes, "test.yaml", at)
	if err != nil {
		t.Fatal(err)
	}
	v, _, err := audit.RecordPolicy(context.Background(), w.st, p, routes)
	if err != nil {
		t.Fatal(err)
	}
	return v.Seq
}

// legacyNameKeys turns the store's temporal index into what binaries
// before migration 0009 wrote (names keyed with SQLite's ASCII-only
// lower()) and reopens it, which migrates it.
func legacyNameKeys(t *testing.T, w *world) {
	t.Helper()
	if err := w.st.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", "file:"+w.path)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`UPDATE history_users SET name_key = lower(user_name)`,
		`UPDATE history_groups SET name_key = lower(display_name)`,
		`DELETE FROM schema_migrations WHERE version = 9`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	st, err := sqlite.Open(context.Background(), w.path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	w.st = st
}

// TestWhoNonASCIINames: names fold as the engine folds them (Go's
// strings.ToLower), capitals beyond ASCII included: in the index as
// written, rebuilt from the change log, and migrated from the keys older
// binaries computed with SQLite's lower().
func TestWhoNonASCIINames(t *testing.T) {
	tests := []struct {
		name  string
		user  string // created in acme
		group string // created in acme with the user, unless empty
		rule  config.AllowRule
		want  []string
	}{
		{"group with a capital beyond ASCII", "alice", "ÉQUIPE", config.AllowRule{Groups: []string{"équipe"}},
			[]string{"acme/alice via ÉQUIPE"}},
		{"tenant-qualified group", "alice", "ÉQUIPE", config.AllowRule{Groups: []string{"acme/Équipe"}},
			[]string{"acme/alice via ÉQUIPE"}},
		{"group with an ASCII capital", "alice", "Ingeniería", config.AllowRule{Groups: []string{"ingeniería"}},
			[]string{"acme/alice via Ingeniería"}},
		{"user rule", "Ümit", "", config.AllowRule{Users: []string{"ümit"}}, []string{"acme/Ümit via user rule"}},
		{"user rule, other case", "ümit", "", config.AllowRule{Users: []string{"ÜMIT"}}, []string{"acme/ümit via user rule"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t, "acme")
			u := w.createUser("acme", tt.user)
			if tt.group != "" {
				w.createGroup("acme", tt.group, u)
			}
			w.policy(config.Route{Name: "app", Path: "/app", Allow: tt.rule})
			at := w.tick()
			check := func(stage string) {
				t.Helper()
				got, err := w.who("app", at)
				if err != nil {
					t.Fatalf("%s: Who(app): %v", stage, err)
				}
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("%s: Who(app) mismatch (-want +got):\n%s", stage, diff)
				}
				if want, _ := newModel(t, w).who(t, "app", at); !cmp.Equal(want, got) {
					t.Errorf("%s: Who(app) = %v, the replay says %v", stage, got, want)
				}
				for _, name := range []string{tt.user, "acme/" + tt.user, strings.ToUpper(tt.user), "ACME/" + strings.ToUpper(tt.user)} {
					res, err := audit.History(context.Background(), w.st, name, "app")
					if err != nil || len(res.Users) != 1 || len(res.Intervals) != 1 {
						t.Errorf("%s: History(%q, app) = %+v, %v; want the user and one interval", stage, name, res, err)
					}
				}
			}
			check("indexed as written")
			legacyNameKeys(t, w)
			check("migrated")
			rebuildIndex(t, w)
			check("rebuilt from the change log")
		})
	}
}

// TestPolicyClockStep: a policy version loaded after another but stamped
// before it (the clock stepped back between two loads) is in force after
// it: versions take effect at the running maximum of their times, as
// directory changes do.
func TestPolicyClockStep(t *testing.T) {
	w := newWorld(t, "acme")
	alice, bob := w.createUser("acme", "alice"), w.createUser("acme", "bob")
	w.createGroup("acme", "eng", alice)
	w.createGroup("acme", "ops", bob)
	t1 := w.tick()
	recordAt(t, w, t1, groupRoute("app", "eng"))
	v2 := recordAt(t, w, t1.Add(-time.Second), groupRoute("app", "ops")) // loaded later, stamped earlier
	later := w.tick().Add(time.Hour)
	checkWho(t, w, "app", map[time.Time][]string{
		t1:    {"acme/bob via ops"}, // both took effect at t1: the later-loaded one is in force
		later: {"acme/bob via ops"},
	})
	if _, err := w.who("app", t1.Add(-time.Nanosecond)); !errors.Is(err, audit.ErrNoPolicy) {
		t.Errorf("Who(app, before t1) = %v, want ErrNoPolicy (v2 does not take effect before v1)", err)
	}
	res, err := audit.History(context.Background(), w.st, "bob", "app")
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Intervals) != 1 || res.Intervals[0].To != nil || res.Intervals[0].From.Policy == nil ||
		res.Intervals[0].From.Policy.Seq != v2 || !res.Intervals[0].From.At.Equal(t1) || !res.Since.Equal(t1) {
		t.Errorf("History(bob, app) = %+v; want one open interval from policy version %d at %s", res, v2, t1)
	}
	if res, err := audit.History(context.Background(), w.st, "alice", "app"); err != nil || len(res.Intervals) != 0 {
		t.Errorf("History(alice, app) = %+v, %v; want no interval (v1 was never alone in force)", res, err)
	}
	m := newModel(t, w)
	compareWho(t, w, m, []time.Time{t1.Add(-time.Second), t1, later})
	compareHistory(t, w, m)
}

// TestHistoryBoundaryNamesPolicy: when a policy version and a directory
// change take effect at the same instant, the boundary names the policy
// version, whether the change is the user's own or unrelated.
func TestHistoryBoundaryNamesPolicy(t *testing.T) {
	tests := []struct {
		name   string
		change func(w *world, alice, eng string)
	}{
		{"unrelated change", func(w *world, _, _ string) { w.createUser("acme", "zed") }},
		{"the user's own change", func(w *world, alice, eng string) { w.removeMember("acme", eng, alice) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t, "acme")
			alice := w.createUser("acme", "alice")
			eng := w.createGroup("acme", "eng", alice)
			w.createGroup("acme", "ops")
			w.policy(groupRoute("app", "eng"))
			at := w.tick()
			w.step = 0 // the change is stamped at, like the policy version
			tt.change(w, alice, eng)
			v2 := recordAt(t, w, at, groupRoute("app", "ops"))
			res, err := audit.History(context.Background(), w.st, "alice", "app")
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Intervals) != 1 || res.Intervals[0].To == nil || res.Intervals[0].To.Policy == nil ||
				res.Intervals[0].To.Policy.Seq != v2 || res.Intervals[0].To.Change != nil || !res.Intervals[0].To.At.Equal(at) {
				t.Fatalf("History(alice, app) = %+v; want one interval closed by policy version %d at %s", res.Intervals, v2, at)
			}
			compareHistory(t, w, newModel(t, w))
		})
	}
}

// TestWhoFarTimes: times beyond what int64 nanoseconds hold (before
// 1677-09-21, after 2262-04-11) are the ends of time, not overflows.
func TestWhoFarTimes(t *testing.T) {
	w := newWorld(t, "acme")
	alice := w.createUser("acme", "alice")
	w.createGroup("acme", "eng", alice)
	w.policy(groupRoute("app", "eng"))
	w.tick()
	for _, tt := range []struct {
		at   string
		want error
	}{
		{"2262-04-11T23:47:16Z", nil},
		{"2262-04-12", nil},
		{"3000-01-01", nil},
		{"9999-12-31T23:59:59Z", nil},
		{"1677-09-22", audit.ErrNoPolicy},
		{"1677-01-01", audit.ErrNoPolicy},
		{"0001-01-02", audit.ErrNoPolicy},
	} {
		at, err := audit.ParseTime(tt.at, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		got, err := w.who("app", at)
		switch {
		case tt.want != nil && !errors.Is(err, tt.want):
			t.Errorf("Who(app, %s) = %v, %v; want %v", tt.at, got, err, tt.want)
		case tt.want == nil && (err != nil || !cmp.Equal(got, []string{"acme/alice via eng"})):
			t.Errorf("Who(app, %s) = %v, %v; want alice", tt.at, got, err)
		}
	}
}
