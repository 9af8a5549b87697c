package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestHealthzMainListener: once serve has printed its banner, GET /healthz
// on the main listener answers 200 "ok" without credentials, on any Host,
// as does the admin listener's readiness check; only GET is the health
// check, other methods go to the gateway like any other path.
func TestHealthzMainListener(t *testing.T) {
	bin := realBinary(t)
	dir := t.TempDir()
	config := filepath.Join(dir, "scimgate.yaml")
	adminAddr := "127.0.0.1:" + freePort(t)
	cfg := fmt.Sprintf("listen: \"127.0.0.1:0\"\nadmin_listen: %q\nstore: \"sqlite:%s\"\nlog:\n  level: warn\n",
		adminAddr, filepath.Join(dir, "data", "scimgate.db"))
	if err := os.WriteFile(config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, bin, config)
	u, err := url.Parse(srv.base)
	if err != nil || u.Host == "" {
		t.Fatalf("SCIM base URL %q: %v", srv.base, err)
	}
	mainURL := u.Scheme + "://" + u.Host
	hc := &http.Client{Timeout: 10 * time.Second}
	tests := []struct {
		name   string
		method string
		url    string
		host   string // Host header; empty: the listener's address
		wantOK bool   // 200 "ok\n" as text; otherwise anything but 200
	}{
		{name: "GET", method: "GET", url: mainURL + "/healthz", wantOK: true},
		{name: "GET with a query", method: "GET", url: mainURL + "/healthz?probe=lb", wantOK: true},
		{name: "GET on a gateway host", method: "GET", url: mainURL + "/healthz", host: "app.example.com", wantOK: true},
		{name: "GET on the admin listener", method: "GET", url: "http://" + adminAddr + "/healthz", wantOK: true},
		{name: "POST is not the health check", method: "POST", url: mainURL + "/healthz"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, tt.url, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tt.host != "" {
				req.Host = tt.host
			}
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatalf("%s %s: %v", tt.method, tt.url, err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			ok := resp.StatusCode == http.StatusOK && string(body) == "ok\n"
			if ok != tt.wantOK {
				t.Fatalf("%s %s (Host %q) = %d %q; want the health answer 200 \"ok\\n\": %v", tt.method, tt.url, tt.host, resp.StatusCode, body, tt.wantOK)
			}
			if ct := resp.Header.Get("Content-Type"); tt.wantOK && !strings.HasPrefix(ct, "text/plain") {
				t.Errorf("Content-Type = %q, want text/plain", ct)
			}
			if !tt.wantOK && resp.StatusCode == http.StatusOK {
				t.Errorf("%s %s = 200 %q, want the gateway's refusal", tt.method, tt.url, body)
			}
		})
	}
}

// TestServeMaxResultsFromConfig: scim.max_results in the configuration
// reaches the running server: /ServiceProviderConfig advertises it as
// filter.maxResults and lists return at most that many a page, with
// totalResults counting all.
func TestServeMaxResultsFromConfig(t *testing.T) {
	bin := realBinary(t)
	dir := t.TempDir()
	config := filepath.Join(dir, "scimgate.yaml")
	cfg := fmt.Sprintf("listen: \"127.0.0.1:0\"\nadmin_listen: \"\"\nstore: \"sqlite:%s\"\nscim:\n  bootstrap_tenant: acme\n  max_results: 2\nlog:\n  level: warn\n",
		filepath.Join(dir, "data", "scimgate.db"))
	if err := os.WriteFile(config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, bin, config)
	if srv.token == "" {
		t.Fatal("the server printed no bootstrap SCIM token")
	}
	hc := &http.Client{Timeout: 10 * time.Second}
	get := func(path string, v any) {
		t.Helper()
		st, raw := scimReq(t, hc, srv.base, srv.token, "GET", path, "")
		if st != http.StatusOK {
			t.Fatalf("GET %s = %d %s", path, st, raw)
		}
		if err := json.Unmarshal(raw, v); err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
	}
	var spc struct {
		Filter struct {
			MaxResults int `json:"maxResults"`
		} `json:"filter"`
	}
	get("/ServiceProviderConfig", &spc)
	if spc.Filter.MaxResults != 2 {
		t.Errorf("ServiceProviderConfig filter.maxResults = %d, want 2 from scim.max_results", spc.Filter.MaxResults)
	}
	for i := range 3 {
		st, raw := scimReq(t, hc, srv.base, srv.token, "POST", "/Users",
			fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"u%d"}`, i))
		if st != http.StatusCreated {
			t.Fatalf("create u%d: %d %s", i, st, raw)
		}
	}
	type page struct {
		TotalResults, ItemsPerPage, StartIndex int
		Resources                              []json.RawMessage
	}
	for _, tt := range []struct {
		path       string
		wantItems  int
		wantStart  int
		wantTotals int
	}{
		{"/Users", 2, 1, 3},
		{"/Users?count=50", 2, 1, 3},
		{"/Users?startIndex=3&count=50", 1, 3, 3},
	} {
		var p page
		get(tt.path, &p)
		if p.ItemsPerPage != tt.wantItems || len(p.Resources) != tt.wantItems || p.StartIndex != tt.wantStart || p.TotalResults != tt.wantTotals {
			t.Errorf("GET %s: itemsPerPage %d, %d resources, startIndex %d, totalResults %d; want %d, %d, %d, %d",
				tt.path, p.ItemsPerPage, len(p.Resources), p.StartIndex, p.TotalResults, tt.wantItems, tt.wantItems, tt.wantStart, tt.wantTotals)
		}
	}
}
