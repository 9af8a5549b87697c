package scimapi_test

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/scimgate/scimgate/directory"
	"github.com/scimgate/scimgate/scimapi"
	"github.com/scimgate/scimgate/store/sqlite"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/conformance and testdata/idp from the actual responses")

// baseURL is the external SCIM base URL every golden file sees.
const baseURL = "https://scim.example.test/scim/v2"

// epoch is the fake clock's first reading.
var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// tenants get a SCIM token each before a file's first step; the
// Authorization pseudo-header names them.
var tenants = []string{"acme", "globex"}

// fileOptions are the server options of golden files that need limits
// other than the defaults; each file says so in its leading comment.
var fileOptions = map[string]scimapi.Options{
	"errors.txt":      {MaxBodyBytes: 512},
	"bulk_limits.txt": {BulkMaxOperations: 2, BulkMaxPayload: 700},
}

// TestConformance runs every golden file under testdata/conformance against
// a fresh, deterministic server: a clock that starts at epoch and advances
// one second per reading, and sequential resource ids. Steps within a file
// share the server and run in order.
//
// -update rewrites the response sections from what the server answers.
// Some expectations are written by hand where the server deviates from the
// RFCs (each such step has a comment citing the rule); -update overwrites
// those too, so update one file at a time (-run Conformance/NAME) and
// review the diff before keeping it.
func TestConformance(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "conformance", "*.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no golden files under testdata/conformance")
	}
	for _, path := range files {
		name := filepath.Base(path)
		t.Run(strings.TrimSuffix(name, ".txt"), func(t *testing.T) {
			t.Parallel()
			runGolden(t, path, fileOptions[name])
		})
	}
}

func runGolden(t *testing.T, path string, opts scimapi.Options) {
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	gf, err := parseGolden(string(src))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	h := newHarness(t, opts)
	got := make([]response, len(gf.steps))
	ran := 0
	for n, st := range gf.steps {
		t.Run(st.title, func(t *testing.T) {
			resp, err := h.do(st)
			if err != nil {
				t.Fatalf("%s:%d: %v", path, st.line, err)
			}
			got[n] = resp
			ran++
			if *update {
				return
			}
			want := st.want
			want.Body = canonicalBody([]byte(want.Body))
			if diff := cmp.Diff(want, resp); diff != "" {
				t.Errorf("%s:%d: %s %s: response mismatch (-want +got):\n%s", path, st.line, st.method, st.target, diff)
			}
		})
	}
	if *update {
		if ran != len(gf.steps) {
			t.Fatalf("%s: not rewritten: only %d of %d steps ran", path, ran, len(gf.steps))
		}
		if err := os.WriteFile(path, gf.format(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// harness is one server with its tenants' tokens.
type harness struct {
	srv    *httptest.Server
	tokens map[string]string // tenant name -> bearer secret
}

func newHarness(t *testing.T, opts scimapi.Options) *harness {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	dir := directory.New(st, directory.Options{Now: fakeClock(epoch), NewID: sequentialIDs()})
	h := &harness{tokens: map[string]string{}}
	for _, tenant := range tenants {
		secret, _, _, err := dir.CreateToken(ctx, tenant, "", 0, "test")
		if err != nil {
			t.Fatal(err)
		}
		h.tokens[tenant] = secret
	}
	opts.BaseURL = baseURL
	h.srv = httptest.NewServer(scimapi.New(dir, opts))
	t.Cleanup(h.srv.Close)
	return h
}

// fakeClock returns a clock that reads start, then start+1s, and so on.
func fakeClock(start time.Time) func() time.Time {
	var mu sync.Mutex
	next := start
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		now := next
		next = next.Add(time.Second)
		return now
	}
}

// sequentialIDs returns an id generator that yields
// 00000000-0000-4000-8000-000000000001, ...002 and so on, in hexadecimal
// so that the tenth id, ...00a, can show that ids compare case-exactly.
func sequentialIDs() func() string {
	var mu sync.Mutex
	n := 0
	return func() string {
		mu.Lock()
		defer mu.Unlock()
		n++
		return fmt.Sprintf("00000000-0000-4000-8000-%012x", n)
	}
}

// do sends a step's request and returns the response as a golden file
// records it.
func (h *harness) do(st *step) (response, error) {
	target, err := encodeTarget(st.target)
	if err != nil {
		return response{}, err
	}
	var body io.Reader
	if st.body != "" {
		body = strings.NewReader(st.body)
	}
	req, err := http.NewRequest(st.method, h.srv.URL+target, body)
	if err != nil {
		return response{}, err
	}
	for _, kv := range st.headers {
		req.Header.Add(kv[0], kv[1])
	}
	switch secret, ok := h.tokens[st.auth]; {
	case ok:
		req.Header.Set("Authorization", "Bearer "+secret)
	case st.auth == "none":
	default:
		auth := st.auth
		for tenant, secret := range h.tokens {
			auth = strings.ReplaceAll(auth, "{"+tenant+"}", secret)
		}
		req.Header.Set("Authorization", auth)
	}
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return response{}, err
	}
	out := response{Status: resp.StatusCode, Body: canonicalBody(raw)}
	for _, name := range checkedHeaders {
		for _, v := range resp.Header.Values(name) {
			out.Header = append(out.Header, name+": "+v)
		}
	}
	return out, nil
}

// encodeTarget percent-encodes the query of a readable request target:
// keys and values are split on '&' and the first '=', %XX escapes in them
// are decoded, and the result is encoded again, keeping parameter order.
// Empty parts stay empty, so that a target written with a trailing '?' or
// '&' (OneLogin sends both) is sent that way.
func encodeTarget(target string) (string, error) {
	path, rawQuery, hasQuery := strings.Cut(target, "?")
	if !hasQuery {
		return path, nil
	}
	var parts []string
	for _, kv := range strings.Split(rawQuery, "&") {
		if kv == "" {
			parts = append(parts, "")
			continue
		}
		k, v, _ := strings.Cut(kv, "=")
		dk, err := url.PathUnescape(k)
		if err != nil {
			return "", fmt.Errorf("query key %q: %v", k, err)
		}
		dv, err := url.PathUnescape(v)
		if err != nil {
			return "", fmt.Errorf("query value %q: %v", v, err)
		}
		parts = append(parts, url.QueryEscape(dk)+"="+url.QueryEscape(dv))
	}
	return path + "?" + strings.Join(parts, "&"), nil
}
