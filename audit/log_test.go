package audit_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/scimgate/scimgate/audit"
	"github.com/scimgate/scimgate/store"
)

// logWorld writes a small history straight to the store, a minute apart:
// alice created, a policy, alice put in eng, decisions, bob, alice
// renamed, an access token of hers, another policy, her deletion.
func logWorld(t testing.TB) store.Store {
	t.Helper()
	st := openStore(t, filepath.Join(t.TempDir(), "db"))
	ctx := context.Background()
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	change := func(m int, typ, id, op, before, after string, edges ...store.EdgeChange) func(tx store.Tx) error {
		return func(tx store.Tx) error {
			c := &store.Change{TenantID: 1, At: at(m), Actor: "okta", ResourceType: typ, ResourceID: id, Op: op, Edges: edges}
			if before != "" {
				c.Before = []byte(before)
			}
			if after != "" {
				c.After = []byte(after)
			}
			return tx.AppendChange(ctx, c)
		}
	}
	pol := func(m int, route string) func(tx store.Tx) error {
		return func(tx store.Tx) error {
			return tx.AppendPolicyVersion(ctx, &store.PolicyVersion{At: at(m), Source: "a.yaml", Digest: route,
				Doc: []byte(`[{"name":"` + route + `","path":"/` + route + `/"}]`)})
		}
	}
	dec := func(m int, uid, name, route string, allow bool) func(tx store.Tx) error {
		return func(tx store.Tx) error {
			return tx.AppendDecisions(ctx, []store.Decision{{At: at(m), TenantID: 1, UserID: uid, UserName: name, Route: route,
				Method: "GET", Host: "app.test", Path: "/" + route + "/x", Allow: allow, Reason: map[bool]string{true: "group-ok", false: "not-allowed"}[allow],
				Adapter: "proxy", Remote: "192.0.2.1:5", CredKind: store.CredToken, CredID: "tok1"}})
		}
	}
	steps := []func(tx store.Tx) error{
		change(0, store.TypeUser, "u1", store.OpCreate, "", `{"id":"u1","userName":"alice"}`),
		pol(1, "app"),
		change(2, store.TypeGroup, "g1", store.OpCreate, "", `{"id":"g1","displayName":"eng"}`,
			store.EdgeChange{Group: "g1", Member: "u1", MemberType: store.TypeUser, Added: true}),
		dec(3, "u1", "alice", "app", true),
		change(4, store.TypeUser, "u2", store.OpCreate, "", `{"id":"u2","userName":"bob"}`),
		dec(5, "u2", "bob", "app", false),
		change(6, store.TypeUser, "u1", store.OpReplace, `{"id":"u1","userName":"alice"}`, `{"id":"u1","userName":"alice2"}`),
		change(7, store.TypeAccessToken, "tok1", store.OpCreate, "", `{"id":"tok1","user_id":"u1"}`),
		pol(8, "admin"),
		dec(9, "u1", "alice2", "admin", true),
		change(10, store.TypeUser, "u1", store.OpDelete, `{"id":"u1","userName":"alice2"}`, "",
			store.EdgeChange{Group: "g1", Member: "u1", MemberType: store.TypeUser}),
	}
	for _, s := range steps {
		if err := st.Update(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	return st
}

func entryIDs(t testing.TB, st store.Store, f audit.Filter) []string {
	t.Helper()
	var got []string
	err := audit.Log(context.Background(), st, f, func(e audit.Entry) error {
		got = append(got, fmt.Sprintf("%s#%d", e.Stream[:1], e.Seq))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestLog(t *testing.T) {
	st := logWorld(t)
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	tests := []struct {
		name string
		f    audit.Filter
		want string // c: changes, p: policies, d: decisions
	}{
		{"everything", audit.Filter{}, "c#1 p#1 c#2 d#1 c#3 d#2 c#4 c#5 p#2 d#3 c#6"},
		{"since and until", audit.Filter{Since: at(3), Until: at(8)}, "d#1 c#3 d#2 c#4 c#5"},
		{"since only", audit.Filter{Since: at(9)}, "d#3 c#6"},
		{"limit", audit.Filter{Limit: 2}, "c#1 p#1"},
		// alice: her user, her membership, her decisions, her rename, her
		// token and her deletion — under both names.
		{"user", audit.Filter{User: "ALICE"}, "c#1 c#2 d#1 c#4 c#5 d#3 c#6"},
		{"user bob", audit.Filter{User: "bob"}, "c#3 d#2"},
		{"user and time", audit.Filter{User: "alice", Since: at(4)}, "c#4 c#5 d#3 c#6"},
		// Her later name, after she was deleted: every id the name ever
		// had, known before any record is read, whatever the range.
		{"later name", audit.Filter{User: "alice2"}, "c#1 c#2 d#1 c#4 c#5 d#3 c#6"},
		{"later name and time", audit.Filter{User: "alice2", Until: at(4)}, "c#1 c#2 d#1"},
		// Bounds beyond what int64 nanoseconds hold are the ends of time.
		{"until far away", audit.Filter{Until: time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)}, "c#1 p#1 c#2 d#1 c#3 d#2 c#4 c#5 p#2 d#3 c#6"},
		{"since long ago", audit.Filter{Since: time.Date(1600, 1, 1, 0, 0, 0, 0, time.UTC), Until: time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)},
			"c#1 p#1 c#2 d#1 c#3 d#2 c#4 c#5 p#2 d#3 c#6"},
		{"since far away", audit.Filter{Since: time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC)}, ""},
		{"route", audit.Filter{Route: "app"}, "p#1 d#1 d#2"},
		{"route admin", audit.Filter{Route: "admin"}, "p#2 d#3"},
		{"user and route", audit.Filter{User: "bob", Route: "app"}, "d#2"},
		{"nobody", audit.Filter{User: "carol"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := strings.Join(entryIDs(t, st, tt.f), " ")
			if got != tt.want {
				t.Errorf("Log(%+v) = %q, want %q", tt.f, got, tt.want)
			}
		})
	}
}

// TestLogUserPaging: which of a user's decisions --user keeps does not
// depend on how the streams' pages interleave. Here the id the name
// denoted is first met on the second page of changes, after the page of
// decisions that holds the user's decision was read; and the decision
// names the user by a later name.
func TestLogUserPaging(t *testing.T) {
	w := newWorld(t, "acme", "globex")
	w.step = time.Millisecond
	w.createUser("globex", "alice")
	for i := range 1000 {
		w.createUser("acme", fmt.Sprintf("filler%04d", i))
	}
	x := w.createUser("acme", "bob")
	for _, name := range []string{"alice", "carol"} {
		if err := w.renameUser("acme", x, name); err != nil {
			t.Fatal(err)
		}
	}
	at := w.tick()
	ctx := context.Background()
	err := w.st.Update(ctx, func(tx store.Tx) error {
		return tx.AppendDecisions(ctx, []store.Decision{{At: at, TenantID: w.callers["acme"].TenantID, UserID: x, UserName: "carol",
			Route: "app", Method: "GET", Host: "h", Path: "/app", Allow: true, Reason: "group-ok", Adapter: "proxy"}})
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []audit.Filter{
		{User: "alice"},
		{User: "ALICE", Since: at.Add(-10 * time.Millisecond)},
		{User: "alice", Since: at},
		{User: "alice", Limit: 6},
	} {
		var got []string
		err := audit.Log(ctx, w.st, f, func(e audit.Entry) error {
			if e.Decision != nil {
				got = append(got, e.Decision.UserName)
			}
			return nil
		})
		if err != nil || !cmp.Equal(got, []string{"carol"}) {
			t.Errorf("Log(%+v) decisions = %v, %v; want carol's", f, got, err)
		}
	}
}

func TestLogEntries(t *testing.T) {
	st := logWorld(t)
	var es []audit.Entry
	err := audit.Log(context.Background(), st, audit.Filter{}, func(e audit.Entry) error {
		es = append(es, e)
		return nil
	})
	if err != nil || len(es) != 11 {
		t.Fatalf("Log = %d entries, %v; want 11", len(es), err)
	}
	texts := []struct {
		i    int
		want string
	}{
		{0, "2026-03-04T05:06:07.000Z  changes  #1      create user alice (u1) by okta, tenant 1"},
		{1, "2026-03-04T05:07:07.000Z  policies #1      loaded from a.yaml, digest app, routes: app"},
		{2, "create group eng (g1) by okta, tenant 1: +u1"},
		{5, "decisions #2      DENY  not-allowed bob GET app.test/app/x route app via proxy from 192.0.2.1:5 (access token tok1)"},
		{10, "delete user alice2 (u1) by okta, tenant 1: -member of g1"},
	}
	for _, tt := range texts {
		if got := es[tt.i].Text(); !strings.Contains(got, tt.want) {
			t.Errorf("entry %d Text() = %q, want it to contain %q", tt.i, got, tt.want)
		}
	}
	raw, err := json.Marshal(es[6])
	if err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	ch := back["change"].(map[string]any)
	if back["stream"] != "changes" || back["seq"] != 4.0 || ch["name"] != "alice2" || ch["before"].(map[string]any)["userName"] != "alice" || len(back["hash"].(string)) != 64 {
		t.Errorf("JSON of the rename = %s", raw)
	}
}

// TestLogPages: the merge holds over many pages of each stream, and
// entries at the same time come policies, changes, decisions.
func TestLogPages(t *testing.T) {
	st := openStore(t, filepath.Join(t.TempDir(), "db"))
	ctx := context.Background()
	const n = 2500
	err := st.Update(ctx, func(tx store.Tx) error {
		var ds []store.Decision
		for i := range n {
			// Changes on even seconds, decisions on odd ones, and one of
			// each on every tenth second.
			c := &store.Change{TenantID: 1, At: t0.Add(time.Duration(2*i) * time.Second), Actor: "t", ResourceType: store.TypeUser, ResourceID: "u", Op: store.OpPatch}
			if err := tx.AppendChange(ctx, c); err != nil {
				return err
			}
			d := store.Decision{At: t0.Add(time.Duration(2*i+1) * time.Second), Method: "GET", Reason: "no-route"}
			if i%5 == 0 {
				d.At = c.At
			}
			ds = append(ds, d)
		}
		if err := tx.AppendPolicyVersion(ctx, &store.PolicyVersion{At: t0, Source: "x", Digest: "d"}); err != nil {
			return err
		}
		return tx.AppendDecisions(ctx, ds)
	})
	if err != nil {
		t.Fatal(err)
	}
	var prev audit.Entry
	count := 0
	order := map[string]int{store.StreamPolicies: 0, store.StreamChanges: 1, store.StreamDecisions: 2}
	err = audit.Log(ctx, st, audit.Filter{}, func(e audit.Entry) error {
		if count > 0 && (e.At.Before(prev.At) || e.At.Equal(prev.At) && order[e.Stream] < order[prev.Stream]) {
			t.Errorf("%s#%d at %v after %s#%d at %v", e.Stream, e.Seq, e.At, prev.Stream, prev.Seq, prev.At)
		}
		prev = e
		count++
		return nil
	})
	if err != nil || count != 2*n+1 {
		t.Errorf("Log = %d entries, %v; want %d", count, err, 2*n+1)
	}
}

func TestHandler(t *testing.T) {
	tr := newTrail(t)
	srv := httptest.NewServer(audit.Handler(tr.st, nil))
	defer srv.Close()
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b strings.Builder
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			b.WriteString(sc.Text() + "\n")
		}
		return resp.StatusCode, b.String()
	}
	code, body := get("/audit/log?route=app1&since=2026-03-04T05:00:00Z")
	if lines := strings.Count(body, "\n"); code != 200 || lines != 1 || !strings.Contains(body, `"stream":"policies"`) {
		t.Errorf("GET /audit/log?route=app1 = %d, %d lines:\n%s", code, lines, body)
	}
	// Names are trimmed, as on the command line.
	if code2, body2 := get("/audit/log?route=%20app1%20&since=2026-03-04T05:00:00Z"); code2 != code || body2 != body {
		t.Errorf("GET /audit/log?route=%%20app1%%20 = %d:\n%s\nwant the answer for route=app1", code2, body2)
	}
	if code, body := get("/audit/log?limit=5"); code != 200 || strings.Count(body, "\n") != 5 {
		t.Errorf("GET /audit/log?limit=5 = %d:\n%s", code, body)
	}
	for _, bad := range []string{"/audit/log?since=yesterday", "/audit/log?limit=0", "/audit/log?limit=100001", "/audit/verify?head=changes:1:zz"} {
		if code, body := get(bad); code != 400 || !strings.Contains(body, `"error"`) {
			t.Errorf("GET %s = %d %s, want 400 with an error", bad, code, body)
		}
	}
	head := tr.head(t, store.StreamDecisions)
	code, body = get("/audit/verify?head=" + head.String())
	var rep audit.Report
	if err := json.Unmarshal([]byte(body), &rep); code != 200 || err != nil || !rep.OK || len(rep.Streams) != 3 {
		t.Errorf("GET /audit/verify = %d %s, want 200 and ok", code, body)
	}
	// The temporal index is checked only when asked: it is not chained.
	if code, body := get("/audit/verify?index=true"); code != 200 || !strings.Contains(body, `"ok":true`) {
		t.Errorf("GET /audit/verify?index=true on an untouched trail = %d %s, want 200 and ok", code, body)
	}
	if code, body := get("/audit/verify?index=maybe"); code != 400 {
		t.Errorf("GET /audit/verify?index=maybe = %d %s, want 400", code, body)
	}
	tr.sql(t, `DELETE FROM history_users WHERE id = 'u1'`)
	srv.Config.Handler = audit.Handler(tr.st, nil)
	if code, body := get("/audit/verify"); code != 200 {
		t.Errorf("GET /audit/verify with the index edited = %d %s, want 200: the chains are whole", code, body)
	}
	if code, body := get("/audit/verify?index=1"); code != 409 || !strings.Contains(body, `"stream":"`+audit.IndexStream+`"`) {
		t.Errorf("GET /audit/verify?index=1 with the index edited = %d %s, want 409 naming the index", code, body)
	}
	tr.sql(t, `DELETE FROM decisions WHERE seq = 6`, `UPDATE sqlite_sequence SET seq = 5 WHERE name = 'decisions'`)
	srv.Config.Handler = audit.Handler(tr.st, nil)
	code, body = get("/audit/verify?head=" + head.String())
	rep = audit.Report{}
	_ = json.Unmarshal([]byte(body), &rep)
	want := []audit.Finding{{Stream: "decisions", Seq: 6, Problem: audit.ProblemTruncated, Detail: "the stream ends at seq 5, before the kept head seq 6"}}
	if diff := cmp.Diff(want, rep.Findings); code != 409 || rep.OK || diff != "" {
		t.Errorf("GET /audit/verify after cutting the tail = %d, ok %v; findings mismatch (-want +got):\n%s", code, rep.OK, diff)
	}
}

func TestParseTime(t *testing.T) {
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Time
		err  bool
	}{
		{"", time.Time{}, false},
		{"2026-01-02T03:04:05Z", time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), false},
		{"2026-01-02T03:04:05.5+02:00", time.Date(2026, 1, 2, 1, 4, 5, 5e8, time.UTC), false},
		{"2026-01-02", time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC), false},
		{"24h", now.Add(-24 * time.Hour), false},
		{"-1h", time.Time{}, true},
		{"yesterday", time.Time{}, true},
	}
	for _, tt := range tests {
		got, err := audit.ParseTime(tt.in, now)
		if (err != nil) != tt.err || !got.Equal(tt.want) {
			t.Errorf("ParseTime(%q) = %v, %v; want %v (error %v)", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func FuzzParseTime(f *testing.F) {
	for _, s := range []string{"2026-01-02T03:04:05Z", "2026-01-02", "24h", "1h30m", ""} {
		f.Add(s)
	}
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		got, err := audit.ParseTime(s, now)
		if err == nil && strings.TrimSpace(s) != "" && got.IsZero() && !strings.HasPrefix(strings.TrimSpace(s), "0001-01-01") {
			t.Errorf("ParseTime(%q) = zero time without an error", s)
		}
	})
}

// TestLogTextUntrusted: values anyone can choose (the path of a refused
// request, a userName) cannot forge another line or field of the text
// output, nor reach the terminal as control sequences.
func TestLogTextUntrusted(t *testing.T) {
	at := time.Date(2026, 11, 23, 6, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		e    audit.Entry
		want string
	}{
		{"newline in the path", audit.Entry{At: at, Stream: "decisions", Seq: 1, Decision: &audit.DecisionEntry{
			Reason: "unauthenticated", Method: "GET", Host: "app.test", Path: "/app/\n2026-11-23T06:00:00.000Z  decision #999 allow group-ok alice",
			Adapter: "proxy"}}, `"app.test/app/\n2026-11-23T06:00:00.000Z  decision #999 allow group-ok alice"`},
		{"escape sequence", audit.Entry{At: at, Stream: "decisions", Seq: 2, Decision: &audit.DecisionEntry{
			Reason: "unauthenticated", Method: "GET", Host: "app.test", Path: "/\x1b[2J", Adapter: "proxy"}}, `"app.test/\x1b[2J"`},
		{"space in a userName", audit.Entry{At: at, Stream: "changes", Seq: 3, Change: &audit.ChangeEntry{
			Op: "create", ResourceType: "User", Name: "john doe allow", ResourceID: "u1", Actor: "okta", TenantID: 1}}, `create user "john doe allow" (u1)`},
		{"plain values stay plain", audit.Entry{At: at, Stream: "changes", Seq: 4, Change: &audit.ChangeEntry{
			Op: "create", ResourceType: "User", Name: "Ümit@example.com", ResourceID: "u2", Actor: "okta", TenantID: 1}}, `create user Ümit@example.com (u2)`},
	}
	for _, tt := range tests {
		got := tt.e.Text()
		if !strings.Contains(got, tt.want) || strings.ContainsAny(got, "\n\x1b") {
			t.Errorf("%s: Text() = %q, want it to contain %q and no raw control character", tt.name, got, tt.want)
		}
	}
}
