package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scimgate/scimgate/config"
	"github.com/scimgate/scimgate/scim"
	"github.com/scimgate/scimgate/scim/schema"
)

// stack is the whole server in process, over real HTTP on loopback.
type stack struct {
	t        *testing.T
	a        *app
	srv      *httptest.Server
	upstream *httptest.Server
	scimTok  string
	client   *http.Client
}

func newStack(t *testing.T, routes string) *stack {
	t.Helper()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Seen-User", r.Header.Get("X-Scimgate-User"))
		_, _ = io.WriteString(w, "upstream\n")
	}))
	t.Cleanup(up.Close)
	dir := t.TempDir()
	yaml := fmt.Sprintf("store: \"sqlite:%s\"\nadmin_listen: \"\"\nroutes:\n%s", filepath.Join(dir, "db"),
		bytes.ReplaceAll([]byte(routes), []byte("UPSTREAM"), []byte(up.URL)))
	cfg, err := config.Parse([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	a, err := newApp(ctx, cfg, filepath.Join(dir, "cfg.yaml"), "http://gate.test", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.st.Close() })
	secret, err := a.dir.Bootstrap(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	s := &stack{t: t, a: a, upstream: up, scimTok: secret,
		client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 10 * time.Second}}
	s.srv = httptest.NewServer(a.handler)
	t.Cleanup(s.srv.Close)
	return s
}

// scim sends a SCIM request and returns the status and decoded body.
func (s *stack) scim(method, path, body string) (int, map[string]any) {
	s.t.Helper()
	req, _ := http.NewRequest(method, s.srv.URL+"/scim/v2"+path, bytes.NewBufferString(body))
	req.Header.Set("Authorization", "Bearer "+s.scimTok)
	req.Header.Set("Content-Type", "application/scim+json")
	resp, err := s.client.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

func (s *stack) mustSCIM(want int, method, path, body string) map[string]any {
	s.t.Helper()
	st, m := s.scim(method, path, body)
	if st != want {
		s.t.Fatalf("%s %s = %d %v, want %d", method, path, st, m, want)
	}
	return m
}

func (s *stack) createUser(name string) string {
	m := s.mustSCIM(http.StatusCreated, "POST", "/Users", `{"schemas":["`+schema.UserURN+`"],"userName":"`+name+`"}`)
	return m["id"].(string)
}

func (s *stack) createGroup(name string, members ...string) string {
	var ms []string
	for _, m := range members {
		ms = append(ms, `{"value":"`+m+`"}`)
	}
	m := s.mustSCIM(http.StatusCreated, "POST", "/Groups", fmt.Sprintf(`{"schemas":["%s"],"displayName":"%s","members":[%s]}`,
		schema.GroupURN, name, joinComma(ms)))
	return m["id"].(string)
}

func joinComma(ss []string) string {
	var b bytes.Buffer
	for i, s := range ss {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(s)
	}
	return b.String()
}

func patchOps(ops string) string {
	return `{"schemas":["` + scim.PatchSchema + `"],"Operations":` + ops + `}`
}

func (s *stack) accessToken(user string) (secret, id string) {
	s.t.Helper()
	secret, info, err := s.a.dir.CreateAccessToken(context.Background(), "acme", user, "", 0, "test")
	if err != nil {
		s.t.Fatal(err)
	}
	return secret, info.ID
}

// get fetches a gateway URL with a token; it returns the status.
func (s *stack) get(path, token string) int {
	req, _ := http.NewRequest("GET", s.srv.URL+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return -1
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// trial runs clients requesting path with token while revoke runs; it
// returns how many requests that began after revoke returned were allowed
// (must be zero), and how many before it were allowed (proof of a race).
func (s *stack) trial(clients int, path string, token *atomic.Pointer[string], revoke func()) (lateAllowed, earlyAllowed int) {
	var revokedAt atomic.Int64 // monotonic ns since base, 0 until revoke returned
	base := time.Now()
	var wg sync.WaitGroup
	var late, early atomic.Int64
	// The revocation waits for a first allowed request, so that every trial
	// races however slowly the clients start (a loaded machine).
	firstOK := make(chan struct{})
	var once sync.Once
	for range clients {
		wg.Go(func() {
			extra := 0
			for extra < 2 {
				began := time.Since(base).Nanoseconds()
				st := s.get(path, *token.Load())
				at := revokedAt.Load()
				switch {
				case at != 0 && began > at && st == http.StatusOK:
					late.Add(1)
				case st == http.StatusOK:
					early.Add(1)
					once.Do(func() { close(firstOK) })
				}
				if at != 0 {
					extra++
				}
			}
		})
	}
	select {
	case <-firstOK:
	case <-time.After(2 * time.Second):
	}
	time.Sleep(time.Duration(rand.IntN(300)) * time.Microsecond)
	revoke()
	revokedAt.Store(time.Since(base).Nanoseconds())
	wg.Wait()
	return int(late.Load()), int(early.Load())
}

func trials() int {
	if n, err := strconv.Atoi(os.Getenv("SCIMGATE_REVOCATION_TRIALS")); err == nil && n > 0 {
		return n
	}
	switch {
	case testing.Short():
		return 50
	case raceEnabled:
		return 500
	}
	return 10_000
}

// TestRevocationRace: while many clients send requests as a user, access is
// taken away over SCIM (deactivation, group removal, deletion) or by
// revoking the access token; no request that began after that call
// returned may be allowed. Zero tolerated over 10,000 trials of each kind.
func TestRevocationRace(t *testing.T) {
	const routes = "  - {name: app, path: /app, upstream: UPSTREAM, allow: {groups: [eng]}}\n"
	kinds := []struct {
		name string
		// setup returns the revocation and what restores access after it.
		setup func(s *stack, tok *atomic.Pointer[string]) (revoke, rearm func())
	}{
		{"deactivate", func(s *stack, tok *atomic.Pointer[string]) (func(), func()) {
			uid := s.createUser("alice")
			s.createGroup("eng", uid)
			secret, _ := s.accessToken("alice")
			tok.Store(&secret)
			on := patchOps(`[{"op":"replace","value":{"active":true}}]`)
			off := patchOps(`[{"op":"replace","value":{"active":false}}]`)
			return func() { s.mustSCIM(http.StatusOK, "PATCH", "/Users/"+uid, off) },
				func() { s.mustSCIM(http.StatusOK, "PATCH", "/Users/"+uid, on) }
		}},
		{"group-removal", func(s *stack, tok *atomic.Pointer[string]) (func(), func()) {
			uid := s.createUser("bob")
			gid := s.createGroup("eng", uid)
			secret, _ := s.accessToken("bob")
			tok.Store(&secret)
			return func() {
					s.mustSCIM(http.StatusNoContent, "PATCH", "/Groups/"+gid, patchOps(`[{"op":"remove","path":"members[value eq \"`+uid+`\"]"}]`))
				}, func() {
					s.mustSCIM(http.StatusNoContent, "PATCH", "/Groups/"+gid, patchOps(`[{"op":"add","path":"members","value":[{"value":"`+uid+`"}]}]`))
				}
		}},
	}
	// Deletion and token revocation consume the user or token: each trial
	// makes a fresh one before it starts.
	type fresh struct {
		name    string
		prepare func(s *stack, gid string, n int) (token string, revoke func())
	}
	freshKinds := []fresh{
		{"user-delete", func(s *stack, gid string, n int) (string, func()) {
			name := fmt.Sprintf("carol%d", n)
			uid := s.createUser(name)
			s.mustSCIM(http.StatusNoContent, "PATCH", "/Groups/"+gid, patchOps(`[{"op":"add","path":"members","value":[{"value":"`+uid+`"}]}]`))
			secret, _ := s.accessToken(name)
			return secret, func() { s.mustSCIM(http.StatusNoContent, "DELETE", "/Users/"+uid, "") }
		}},
		{"token-revoke", func(s *stack, gid string, n int) (string, func()) {
			secret, id := s.accessToken("dave")
			return secret, func() {
				if err := s.a.dir.RevokeAccessToken(context.Background(), id, "test"); err != nil {
					t.Fatal(err)
				}
			}
		}},
	}
	n := trials()
	report := func(t *testing.T, late, raced, trials int, took time.Duration) {
		if late > 0 {
			t.Errorf("%d requests that began after the revocation returned were allowed", late)
		}
		if raced < trials/2 {
			t.Errorf("only %d of %d trials had a request allowed before the revocation: the test does not race", raced, trials)
		}
		t.Logf("%d trials in %s: %d late allows; %d trials raced an allowed request against the revocation", trials, took.Round(time.Millisecond), late, raced)
	}
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			s := newStack(t, routes)
			var tok atomic.Pointer[string]
			revoke, rearm := k.setup(s, &tok)
			start, late, raced := time.Now(), 0, 0
			for range n {
				l, e := s.trial(8, "/app/x", &tok, revoke)
				late += l
				if e > 0 {
					raced++
				}
				rearm()
			}
			report(t, late, raced, n, time.Since(start))
		})
	}
	for _, k := range freshKinds {
		t.Run(k.name, func(t *testing.T) {
			s := newStack(t, routes)
			s.createUser("dave")
			gid := s.createGroup("eng", s.mustSCIM(http.StatusOK, "GET", "/Users?filter=userName%20eq%20%22dave%22", "")["Resources"].([]any)[0].(map[string]any)["id"].(string))
			start, late, raced := time.Now(), 0, 0
			var tok atomic.Pointer[string]
			for i := range n {
				secret, revoke := k.prepare(s, gid, i)
				tok.Store(&secret)
				l, e := s.trial(8, "/app/x", &tok, revoke)
				late += l
				if e > 0 {
					raced++
				}
			}
			report(t, late, raced, n, time.Since(start))
		})
	}
}
