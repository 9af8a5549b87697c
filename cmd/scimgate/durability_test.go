package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/scimgate/scimgate/internal/rundir"
	"github.com/scimgate/scimgate/store"
	"github.com/scimgate/scimgate/store/sqlite"
)

// buildBinary builds scimgate once per test binary run.
var buildBinary = sync.OnceValues(func() (string, error) {
	dir, err := rundir.Make("scimgate-bin")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "scimgate")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

func TestMain(m *testing.M) { rundir.Main(m) }

// realBinary returns the scimgate binary for a test that runs it, and
// skips the test in -short mode.
func realBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the real binary")
	}
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// server is a scimgate process started from the built binary.
type server struct {
	cmd   *exec.Cmd
	base  string // SCIM base URL
	token string // bootstrap token, on the first start only
	done  chan struct{}

	mu     sync.Mutex
	stdout []string // every line serve printed so far
}

// printed returns, once serve has printed a line containing want (within
// 10 s), everything it printed; else the test fails.
func (s *server) printed(t *testing.T, want string) string {
	t.Helper()
	for end := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		s.mu.Lock()
		out := strings.Join(s.stdout, "\n")
		s.mu.Unlock()
		if strings.Contains(out, want) {
			return out
		}
		if time.Now().After(end) {
			t.Fatalf("serve printed no %q in 10s:\n%s", want, out)
		}
	}
}

func startServer(t *testing.T, bin, config string) *server {
	t.Helper()
	cmd := exec.Command(bin, "serve", "--config", config)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &server{cmd: cmd, done: make(chan struct{})}
	go func() { cmd.Wait(); close(s.done) }()
	t.Cleanup(func() { s.kill() })
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("scimgate serve's log (the end):\n%s", stderr.tail(8<<10))
		}
	})
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			s.mu.Lock()
			s.stdout = append(s.stdout, sc.Text())
			s.mu.Unlock()
			lines <- sc.Text()
		}
		close(lines)
	}()
	// The banner names the base URL, then either the bootstrap token or
	// how to create one.
	timeout := time.After(20 * time.Second)
	for ready := false; !ready; {
		select {
		case line, ok := <-lines:
			if !ok {
				<-s.done // stderr is complete only once the process has exited
				t.Fatalf("server exited before it was ready:\n%s", stderr.tail(8<<10))
			}
			line = strings.TrimSpace(line)
			if v, ok := strings.CutPrefix(line, "SCIM base URL:"); ok {
				s.base = strings.TrimSuffix(strings.TrimSpace(v), "/")
			}
			if v, ok := strings.CutPrefix(line, "SCIM token:"); ok {
				s.token, ready = strings.TrimSpace(v), true
			}
			ready = ready || strings.HasPrefix(line, "Create a SCIM token")
		case <-timeout:
			s.kill()
			t.Fatalf("server not ready after 20s:\n%s", stderr.tail(8<<10))
		}
	}
	go func() {
		for range lines {
		}
	}()
	return s
}

func (s *server) kill() {
	if s.cmd.Process != nil {
		s.cmd.Process.Signal(syscall.SIGKILL)
		<-s.done
	}
}

type client struct {
	http  *http.Client
	base  string
	token string
}

func (c *client) do(method, path string, body any) (int, map[string]any, error) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, c.base+path, rd)
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/scim+json")
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, err
	}
	var m map[string]any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &m); err != nil {
			return 0, nil, fmt.Errorf("decode %s %s: %w", method, path, err)
		}
	}
	return resp.StatusCode, m, nil
}

// acked records the writes the server acknowledged.
type acked struct {
	mu      sync.Mutex
	users   map[string]string   // id -> userName
	members map[string][]string // group id -> member ids
}

// TestKill9Durability kills the server with SIGKILL while 16 clients write,
// restarts it, and checks that every acknowledged write survived and that
// the store holds no half-written change: every resource and membership
// edge has its change event and every change event its state.
func TestKill9Durability(t *testing.T) {
	bin := realBinary(t)
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "data", "scimgate.db")
	config := filepath.Join(dir, "scimgate.yaml")
	cfg := fmt.Sprintf("listen: \"127.0.0.1:0\"\nadmin_listen: \"\"\nstore: \"sqlite:%s\"\nscim:\n  bootstrap_tenant: durability\nlog:\n  level: warn\n", dbPath)
	if err := os.WriteFile(config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	a := &acked{users: map[string]string{}, members: map[string][]string{}}
	var token string
	const workers, rounds = 16, 3
	groups := make([]string, workers)
	for round := range rounds {
		srv := startServer(t, bin, config)
		if round == 0 {
			token = srv.token
			if token == "" {
				t.Fatal("first start printed no SCIM token")
			}
		}
		c := &client{http: &http.Client{Timeout: 10 * time.Second}, base: srv.base, token: token}
		if round == 0 {
			for w := range workers {
				st, body, err := c.do("POST", "/Groups", map[string]any{
					"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"}, "displayName": fmt.Sprintf("group-%d", w)})
				if err != nil || st != http.StatusCreated {
					t.Fatalf("create group: %d %v %v", st, body, err)
				}
				groups[w] = body["id"].(string)
			}
		}
		verify(t, c, a)
		load(t, c, a, groups, round, srv)
	}
	srv := startServer(t, bin, config)
	c := &client{http: &http.Client{Timeout: 10 * time.Second}, base: srv.base, token: token}
	verify(t, c, a)
	checkConsistency(t, dbPath)
	t.Logf("acknowledged %d user creates across %d kills", len(a.users), rounds)
}

// load runs the writers and kills the server after a random delay.
func load(t *testing.T, c *client, a *acked, groups []string, round int, srv *server) {
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := range groups {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				name := fmt.Sprintf("user-%d-%d-%d@example.com", round, w, i)
				st, body, err := c.do("POST", "/Users", map[string]any{
					"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:User"}, "userName": name,
					"name": map[string]any{"givenName": "G", "familyName": name}, "active": true,
				})
				if err != nil {
					return // killed
				}
				if st != http.StatusCreated {
					t.Errorf("create %s: status %d %v", name, st, body)
					return
				}
				id := body["id"].(string)
				a.mu.Lock()
				a.users[id] = name
				a.mu.Unlock()
				if i%3 != 0 {
					continue
				}
				st, body, err = c.do("PATCH", "/Groups/"+groups[w], map[string]any{
					"schemas":    []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
					"Operations": []any{map[string]any{"op": "add", "path": "members", "value": []any{map[string]any{"value": id}}}},
				})
				if err != nil {
					return
				}
				if st != http.StatusNoContent {
					t.Errorf("add member: status %d %v", st, body)
					return
				}
				a.mu.Lock()
				a.members[groups[w]] = append(a.members[groups[w]], id)
				a.mu.Unlock()
			}
		})
	}
	time.Sleep(time.Duration(300+rand.IntN(700)) * time.Millisecond)
	srv.kill()
	close(stop)
	wg.Wait()
}

// verify checks every acknowledged write through the API.
func verify(t *testing.T, c *client, a *acked) {
	t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	for id, name := range a.users {
		st, body, err := c.do("GET", "/Users/"+id, nil)
		if err != nil || st != http.StatusOK || body["userName"] != name {
			t.Errorf("acknowledged user %s (%s) lost: %d %v %v", id, name, st, body, err)
		}
	}
	for g, ids := range a.members {
		st, body, err := c.do("GET", "/Groups/"+g, nil)
		if err != nil || st != http.StatusOK {
			t.Fatalf("group %s: %d %v", g, st, err)
		}
		have := map[string]bool{}
		ms, _ := body["members"].([]any)
		for _, m := range ms {
			have[m.(map[string]any)["value"].(string)] = true
		}
		for _, id := range ids {
			if !have[id] {
				t.Errorf("acknowledged membership %s in group %s lost", id, g)
			}
		}
	}
}

// checkConsistency reads the store directly: state and change log agree.
func checkConsistency(t *testing.T, dbPath string) {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	err = st.View(ctx, func(tx store.ReadTx) error {
		tenants, err := tx.Tenants(ctx)
		if err != nil || len(tenants) != 1 {
			return fmt.Errorf("tenants = %v, %v; want one", tenants, err)
		}
		tn := tenants[0].ID
		created := map[string]bool{}
		edges := map[[2]string]bool{}
		var last int64
		for {
			cs, err := tx.Changes(ctx, last, 1000)
			if err != nil {
				return err
			}
			if len(cs) == 0 {
				break
			}
			for _, c := range cs {
				if c.Seq <= last {
					t.Errorf("change seq %d after %d", c.Seq, last)
				}
				last = c.Seq
				if c.Op == store.OpCreate && (c.ResourceType == store.TypeUser || c.ResourceType == store.TypeGroup) {
					created[c.ResourceID] = true
				}
				for _, e := range c.Edges {
					edges[[2]string{e.Group, e.Member}] = e.Added
				}
			}
		}
		for _, typ := range []string{store.TypeUser, store.TypeGroup} {
			n := 0
			err := tx.ScanResources(ctx, tn, typ, func(r *store.Resource) error {
				n++
				if !created[r.ID] {
					t.Errorf("%s %s exists without its create event", typ, r.ID)
				}
				delete(created, r.ID)
				if typ != store.TypeGroup {
					return nil
				}
				ms, err := tx.Members(ctx, tn, r.ID)
				if err != nil {
					return err
				}
				for _, m := range ms {
					if !edges[[2]string{r.ID, m.ID}] {
						t.Errorf("membership %s in %s exists without its event", m.ID, r.ID)
					}
					delete(edges, [2]string{r.ID, m.ID})
				}
				return nil
			})
			if err != nil {
				return err
			}
			t.Logf("%d %s resources", n, typ)
		}
		for id := range created {
			t.Errorf("create event for %s without the resource", id)
		}
		for e, added := range edges {
			if added {
				t.Errorf("membership event %v without the membership", e)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
