package main

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// scrape reads the admin listener's /metrics: series (name and labels,
// as exposed, labels sorted by name) to value.
func scrape(t *testing.T, adminAddr string) map[string]float64 {
	t.Helper()
	resp, err := http.Get("http://" + adminAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %d", resp.StatusCode)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if i < 0 || err != nil {
			t.Fatalf("/metrics line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// adminHealth requests the admin listener's /healthz.
func adminHealth(t *testing.T, adminAddr string) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + adminAddr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestAdminMetrics runs the real binary with an admin listener: SCIM
// requests are counted by operation and status, decisions by adapter,
// route, result and reason, the snapshot's age and the directory's size
// are exposed; /healthz answers 200, then 503 once the store cannot be
// read for longer than gateway.max_snapshot_age (the change log's table
// renamed away behind the server's back), and 200 again once it can.
func TestAdminMetrics(t *testing.T) {
	bin := realBinary(t)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "upstream\n") }))
	defer up.Close()
	dir := t.TempDir()
	db := filepath.Join(dir, "scimgate.db")
	config := filepath.Join(dir, "scimgate.yaml")
	adminAddr := freeAddr(t)
	cfg := fmt.Sprintf("listen: \"127.0.0.1:0\"\nadmin_listen: %q\nstore: \"sqlite:%s\"\nscim:\n  bootstrap_tenant: acme\nlog:\n  level: error\n"+
		"gateway:\n  max_snapshot_age: 1s\nroutes:\n  - {name: app, path: /app, upstream: %q, allow: {groups: [staff]}}\n"+
		"  - {name: pub, path: /pub, upstream: %q, allow: {public: true}}\n", adminAddr, db, up.URL, up.URL)
	if err := os.WriteFile(config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, bin, config)
	hc := &http.Client{Timeout: 10 * time.Second}
	if st, body := adminHealth(t, adminAddr); st != http.StatusOK || body != "ok\n" {
		t.Fatalf("admin /healthz on a fresh server: %d %q, want 200 ok", st, body)
	}
	alice := scimCreate(t, hc, srv, "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"alice@example.com"}`)
	scimCreate(t, hc, srv, "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"bob@example.com"}`)
	scimCreate(t, hc, srv, "/Groups", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"staff","members":[{"value":"`+alice+`"}]}`)
	aliceTok := newAccessToken(t, bin, config, "alice@example.com")
	bobTok := newAccessToken(t, bin, config, "bob@example.com")
	gw := gatewayURL(srv)
	waitFor(t, "alice's token to work", func() bool { st, _ := gateGet(t, gw+"/app/x", aliceTok); return st == http.StatusOK })

	// Counted from here: deltas, so that the set-up's requests do not
	// matter.
	before := scrape(t, adminAddr)
	scimCalls := []struct {
		method, path, body string
		want               int
	}{
		{"POST", "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"carol@example.com"}`, 201},
		{"POST", "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"carol@example.com"}`, 409},
		{"GET", "/Users/" + alice, "", 200},
		{"GET", "/Users/no-such-id", "", 404},
		{"GET", "/Users", "", 200},
		{"GET", "/Users", "", 200},
		{"PATCH", "/Users/" + alice, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"displayName","value":"Alice"}]}`, 200},
		{"GET", "/ServiceProviderConfig", "", 200},
	}
	for _, c := range scimCalls {
		if st, raw := scimReq(t, hc, srv.base, srv.token, c.method, c.path, c.body); st != c.want {
			t.Fatalf("%s %s: %d %s, want %d", c.method, c.path, st, raw, c.want)
		}
	}
	gateCalls := []struct {
		path, token string
		want        int
	}{
		{"/app/x", aliceTok, 200},
		{"/app/y", aliceTok, 200},
		{"/app/x", bobTok, 403},
		{"/app/x", "", 401},
		{"/pub/x", "", 200},
		{"/nowhere", aliceTok, 403},
	}
	for _, c := range gateCalls {
		if st, reason := gateGet(t, gw+c.path, c.token); st != c.want {
			t.Fatalf("GET %s: %d %s, want %d", c.path, st, reason, c.want)
		}
	}
	after := scrape(t, adminAddr)

	for _, tt := range []struct {
		series string
		delta  float64
	}{
		{`scimgate_scim_requests_total{operation="create",status="201"}`, 1},
		{`scimgate_scim_requests_total{operation="create",status="409"}`, 1},
		{`scimgate_scim_requests_total{operation="get",status="200"}`, 1},
		{`scimgate_scim_requests_total{operation="get",status="404"}`, 1},
		{`scimgate_scim_requests_total{operation="list",status="200"}`, 2},
		{`scimgate_scim_requests_total{operation="patch",status="200"}`, 1},
		{`scimgate_scim_requests_total{operation="discovery",status="200"}`, 1},
		{`scimgate_decisions_total{adapter="proxy",reason="group-ok",result="allow",route="app"}`, 2},
		{`scimgate_decisions_total{adapter="proxy",reason="not-allowed",result="deny",route="app"}`, 1},
		{`scimgate_decisions_total{adapter="proxy",reason="unauthenticated",result="deny",route="app"}`, 1},
		{`scimgate_decisions_total{adapter="proxy",reason="public",result="allow",route="pub"}`, 1},
		{`scimgate_decisions_total{adapter="proxy",reason="no-route",result="deny",route=""}`, 1},
	} {
		if _, ok := after[tt.series]; !ok {
			t.Errorf("/metrics has no series %s", tt.series)
			continue
		}
		if d := after[tt.series] - before[tt.series]; d != tt.delta {
			t.Errorf("%s grew by %v, want %v", tt.series, d, tt.delta)
		}
	}
	if age, ok := after["scimgate_snapshot_age_seconds"]; !ok || age < 0 || age > 1 {
		t.Errorf("scimgate_snapshot_age_seconds = %v (present %v), want between 0 and 1 on a server that reads its store", age, ok)
	}
	if after["scimgate_directory_users"] != 3 || after["scimgate_directory_groups"] != 1 || after["scimgate_directory_access_tokens"] != 2 {
		t.Errorf("directory gauges: users %v, groups %v, access tokens %v; want 3, 1, 2",
			after["scimgate_directory_users"], after["scimgate_directory_groups"], after["scimgate_directory_access_tokens"])
	}
	if st, body := adminHealth(t, adminAddr); st != http.StatusOK || body != "ok\n" {
		t.Errorf("admin /healthz: %d %q, want 200 ok", st, body)
	}

	// The store stops answering: the change log's table is renamed away,
	// so every read of it fails. Past max_snapshot_age (1s) the server is
	// not ready, and decides nothing.
	alter(t, db, `ALTER TABLE changes RENAME TO changes_hidden`)
	waitFor(t, "admin /healthz to answer 503", func() bool { st, _ := adminHealth(t, adminAddr); return st == http.StatusServiceUnavailable })
	if st, body := adminHealth(t, adminAddr); st != http.StatusServiceUnavailable || !strings.HasPrefix(body, "directory snapshot is ") {
		t.Errorf("admin /healthz with a stale snapshot: %d %q, want 503 naming the snapshot's age", st, body)
	}
	if age := scrape(t, adminAddr)["scimgate_snapshot_age_seconds"]; age <= 1 {
		t.Errorf("scimgate_snapshot_age_seconds = %v while /healthz says stale, want over 1", age)
	}
	if st, reason := gateGet(t, gw+"/app/x", aliceTok); st != http.StatusServiceUnavailable || reason != "snapshot-stale" {
		t.Errorf("a request with a stale snapshot: %d %q, want 503 snapshot-stale", st, reason)
	}
	alter(t, db, `ALTER TABLE changes_hidden RENAME TO changes`)
	waitFor(t, "admin /healthz to recover", func() bool { st, _ := adminHealth(t, adminAddr); return st == http.StatusOK })
	if st, reason := gateGet(t, gw+"/app/x", aliceTok); st != http.StatusOK {
		t.Errorf("alice once the store answers again: %d %q, want 200", st, reason)
	}
}
