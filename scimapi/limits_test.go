package scimapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/scimgate/scimgate/directory"
	"github.com/scimgate/scimgate/scim"
	"github.com/scimgate/scimgate/scimapi"
	"github.com/scimgate/scimgate/store/sqlite"
)

// apiHarness is a SCIM server over a real SQLite store whose directory
// options the test chooses, with one tenant's token and the database path.
type apiHarness struct {
	srv    *httptest.Server
	dir    *directory.Service
	token  string
	dbPath string
}

func newAPIHarness(t *testing.T, dopts directory.Options, sopts scimapi.Options) *apiHarness {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "scimgate.db")
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	dir := directory.New(st, dopts)
	secret, _, _, err := dir.CreateToken(ctx, "acme", "", 0, "test")
	if err != nil {
		t.Fatal(err)
	}
	sopts.BaseURL = baseURL
	srv := httptest.NewServer(scimapi.New(dir, sopts))
	t.Cleanup(srv.Close)
	return &apiHarness{srv: srv, dir: dir, token: secret, dbPath: path}
}

// call sends one authenticated request; target is the path and query
// after the server's root, with the query already encoded.
func (h *apiHarness) call(t *testing.T, method, target, body string) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, h.srv.URL+target, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+h.token)
	if body != "" {
		req.Header.Set("Content-Type", scimapi.ContentType)
	}
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, raw
}

// mustCall is call that fails the test unless the status is want.
func (h *apiHarness) mustCall(t *testing.T, want int, method, target, body string) []byte {
	t.Helper()
	status, raw := h.call(t, method, target, body)
	if status != want {
		t.Fatalf("%s %s = %d %s, want %d", method, target, status, raw, want)
	}
	return raw
}

// create POSTs a resource and returns its id.
func (h *apiHarness) create(t *testing.T, endpoint, body string) string {
	t.Helper()
	var res struct{ ID string }
	if err := json.Unmarshal(h.mustCall(t, http.StatusCreated, http.MethodPost, "/scim/v2/"+endpoint, body), &res); err != nil || res.ID == "" {
		t.Fatalf("create %s: id %q, %v", endpoint, res.ID, err)
	}
	return res.ID
}

// listPage is a ListResponse with each resource reduced to its id and
// name (userName for users, displayName for groups).
type listPage struct {
	TotalResults int `json:"totalResults"`
	ItemsPerPage int `json:"itemsPerPage"`
	StartIndex   int `json:"startIndex"`
	Resources    []struct {
		ID          string `json:"id"`
		UserName    string `json:"userName"`
		DisplayName string `json:"displayName"`
	} `json:"Resources"`
}

func (p listPage) names() []string {
	var out []string
	for _, r := range p.Resources {
		out = append(out, r.UserName+r.DisplayName)
	}
	return out
}

func decodePage(t *testing.T, raw []byte) listPage {
	t.Helper()
	var p listPage
	if err := json.Unmarshal(raw, &p); err != nil {
		t.Fatalf("decode ListResponse %s: %v", raw, err)
	}
	return p
}

func userBody(name string) string {
	return `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"` + name + `"}`
}

func groupBody(name string) string {
	return `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"` + name + `"}`
}

func searchBody(fields string) string {
	return `{"schemas":["` + scim.SearchRequestSchema + `"]` + fields + `}`
}

func encodeQuery(params string) string {
	v, err := url.ParseQuery(params)
	if err != nil {
		panic(err)
	}
	return v.Encode()
}

// TestMaxResultsCapsPages: with max_results 3, a list or search without
// count, or with a count above 3, returns at most 3 resources a page;
// totalResults still counts every match, itemsPerPage is the page's size,
// startIndex is echoed, and startIndex pages through the rest. A smaller
// count is honoured. It holds on every listing path: unfiltered lists
// (paged in the database), filtered and sorted lists, POST .search, and
// the root /.search across resource types.
func TestMaxResultsCapsPages(t *testing.T) {
	const maxResults = 3
	h := newAPIHarness(t, directory.Options{MaxResults: maxResults}, scimapi.Options{})
	var users []string // names in creation order
	for i := 1; i <= 7; i++ {
		name := fmt.Sprintf("user-%d", i)
		h.create(t, "Users", userBody(name))
		users = append(users, name)
	}
	h.create(t, "Groups", groupBody("grp-1"))
	h.create(t, "Groups", groupBody("grp-2"))

	const users7 = 7
	tests := []struct {
		name      string
		method    string
		target    string
		body      string
		wantTotal int
		wantStart int
		wantNames []string
	}{
		{"list without count", "GET", "/scim/v2/Users?" + encodeQuery("attributes=userName"), "", users7, 1, users[0:3]},
		{"list with count above max", "GET", "/scim/v2/Users?" + encodeQuery("attributes=userName&count=100"), "", users7, 1, users[0:3]},
		{"list with the largest count", "GET", "/scim/v2/Users?" + encodeQuery("attributes=userName&count=2147483647"), "", users7, 1, users[0:3]},
		{"list with count equal to max", "GET", "/scim/v2/Users?" + encodeQuery("attributes=userName&count=3"), "", users7, 1, users[0:3]},
		{"list with count below max", "GET", "/scim/v2/Users?" + encodeQuery("attributes=userName&count=2"), "", users7, 1, users[0:2]},
		{"second page", "GET", "/scim/v2/Users?" + encodeQuery("attributes=userName&startIndex=4&count=1000"), "", users7, 4, users[3:6]},
		{"last partial page", "GET", "/scim/v2/Users?" + encodeQuery("attributes=userName&startIndex=7"), "", users7, 7, users[6:7]},
		{"beyond the end", "GET", "/scim/v2/Users?" + encodeQuery("attributes=userName&startIndex=8&count=1000"), "", users7, 8, nil},
		{"fewer than max", "GET", "/scim/v2/Groups?" + encodeQuery("attributes=displayName"), "", 2, 1, []string{"grp-1", "grp-2"}},
		{"filtered without count", "GET", "/scim/v2/Users?" + encodeQuery(`attributes=userName&filter=userName sw "user-"`), "", users7, 1, users[0:3]},
		{"filtered second page", "GET", "/scim/v2/Users?" + encodeQuery(`attributes=userName&filter=userName sw "user-"&startIndex=4&count=50`), "", users7, 4, users[3:6]},
		{"sorted with count above max", "GET", "/scim/v2/Users?" + encodeQuery("attributes=userName&sortBy=userName&sortOrder=descending&count=50"), "", users7, 1,
			[]string{"user-7", "user-6", "user-5"}},
		{"POST .search without count", "POST", "/scim/v2/Users/.search", searchBody(`,"attributes":["userName"]`), users7, 1, users[0:3]},
		{"POST .search with count above max", "POST", "/scim/v2/Users/.search", searchBody(`,"attributes":["userName"],"count":500,"startIndex":2`), users7, 2, users[1:4]},
		{"root .search without count", "POST", "/scim/v2/.search", searchBody(`,"attributes":["userName","displayName"]`), users7 + 2, 1, users[0:3]},
		{"root .search across types", "POST", "/scim/v2/.search", searchBody(`,"attributes":["userName","displayName"],"startIndex":6,"count":99`), users7 + 2, 6,
			[]string{"user-6", "user-7", "grp-1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := decodePage(t, h.mustCall(t, http.StatusOK, tt.method, tt.target, tt.body))
			if p.TotalResults != tt.wantTotal {
				t.Errorf("totalResults = %d, want %d", p.TotalResults, tt.wantTotal)
			}
			if p.StartIndex != tt.wantStart {
				t.Errorf("startIndex = %d, want %d", p.StartIndex, tt.wantStart)
			}
			if len(p.Resources) > maxResults {
				t.Errorf("%d resources in one page, more than max_results %d", len(p.Resources), maxResults)
			}
			if p.ItemsPerPage != len(p.Resources) {
				t.Errorf("itemsPerPage = %d, but the page holds %d resources", p.ItemsPerPage, len(p.Resources))
			}
			if got := p.names(); !slices.Equal(got, tt.wantNames) {
				t.Errorf("page = %v, want %v", got, tt.wantNames)
			}
		})
	}

	// An IdP that asks for everything pages with startIndex until
	// totalResults: it gets every user exactly once, in order.
	t.Run("walk all pages", func(t *testing.T) {
		var got []string
		pages := 0
		for start := 1; start <= len(users); {
			if pages++; pages > 10 {
				t.Fatalf("still paging after %d pages: %v", pages, got)
			}
			p := decodePage(t, h.mustCall(t, http.StatusOK, "GET", "/scim/v2/Users?"+encodeQuery(fmt.Sprintf("attributes=userName&count=1000&startIndex=%d", start)), ""))
			if p.TotalResults != len(users) || p.ItemsPerPage == 0 || p.ItemsPerPage > maxResults {
				t.Fatalf("page at %d: totalResults %d, itemsPerPage %d", start, p.TotalResults, p.ItemsPerPage)
			}
			got = append(got, p.names()...)
			start += p.ItemsPerPage
		}
		if !slices.Equal(got, users) {
			t.Errorf("paging collected %v, want %v", got, users)
		}
		if pages != 3 {
			t.Errorf("took %d pages, want 3 (7 users, 3 a page)", pages)
		}
	})
}

// TestMaxResultsAdvertised: /ServiceProviderConfig advertises as
// filter.maxResults the page size the server enforces: the directory's
// MaxResults (scim.max_results), 1000 when unset.
func TestMaxResultsAdvertised(t *testing.T) {
	const users = 5
	tests := []struct {
		configured int // directory.Options.MaxResults
		want       int
	}{
		{configured: 1, want: 1},
		{configured: 3, want: 3},
		{configured: 0, want: 1000},
		{configured: -5, want: 1000},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.configured), func(t *testing.T) {
			h := newAPIHarness(t, directory.Options{MaxResults: tt.configured}, scimapi.Options{})
			for i := range users {
				h.create(t, "Users", userBody(fmt.Sprintf("u%d", i)))
			}
			var spc struct {
				Filter struct {
					Supported  bool `json:"supported"`
					MaxResults int  `json:"maxResults"`
				} `json:"filter"`
			}
			raw := h.mustCall(t, http.StatusOK, "GET", "/scim/v2/ServiceProviderConfig", "")
			if err := json.Unmarshal(raw, &spc); err != nil {
				t.Fatal(err)
			}
			if !spc.Filter.Supported || spc.Filter.MaxResults != tt.want {
				t.Errorf("ServiceProviderConfig filter = %+v, want supported with maxResults %d", spc.Filter, tt.want)
			}
			if got := h.dir.MaxResults(); got != tt.want {
				t.Errorf("directory MaxResults() = %d, want %d", got, tt.want)
			}
			p := decodePage(t, h.mustCall(t, http.StatusOK, "GET", "/scim/v2/Users?count=100000", ""))
			if want := min(tt.want, users); p.ItemsPerPage != want || len(p.Resources) != want || p.TotalResults != users {
				t.Errorf("list: itemsPerPage %d, %d resources, totalResults %d; want %d, %d, %d",
					p.ItemsPerPage, len(p.Resources), p.TotalResults, want, want, users)
			}
		})
	}
}

// TestMemberFilterWorkBounded: an operation whose members filter is not
// a plain id match lists the whole group, inside the store's one write
// transaction that every tenant waits on; those listings count against
// scim.MaxPatchWork, so a PATCH repeating one cannot hold the writer for
// minutes. Over the bound it is refused whole (tooMany), under it applies.
func TestMemberFilterWorkBounded(t *testing.T) {
	h := newAPIHarness(t, directory.Options{}, scimapi.Options{})
	const members = 500
	g := h.create(t, "Groups", groupBody("big"))
	ids := make([]string, members)
	values := make([]string, members)
	for i := range ids {
		ids[i] = h.create(t, "Users", userBody(fmt.Sprintf("u%04d", i)))
		values[i] = `{"value":"` + ids[i] + `"}`
	}
	const head = `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[`
	h.mustCall(t, http.StatusNoContent, http.MethodPatch, "/scim/v2/Groups/"+g, head+`{"op":"add","path":"members","value":[`+strings.Join(values, ",")+`]}]}`)
	patch := func(filterOps int) (int, []byte) {
		// First a change, then filter operations that match nobody.
		ops := []string{`{"op":"remove","path":"members[value eq \"` + ids[0] + `\"]"}`}
		for range filterOps {
			ops = append(ops, `{"op":"remove","path":"members[display eq \"nobody\"]"}`)
		}
		return h.call(t, http.MethodPatch, "/scim/v2/Groups/"+g, head+strings.Join(ops, ",")+"]}")
	}
	isMember := func() bool {
		raw := h.mustCall(t, http.StatusOK, http.MethodGet, "/scim/v2/Groups/"+g+"?attributes=members", "")
		return strings.Contains(string(raw), ids[0])
	}
	// Each listing visits the members left (one fewer after the first
	// operation) and the operation.
	over := scim.MaxPatchWork/members + 1
	status, raw := patch(over)
	if status != http.StatusBadRequest || !strings.Contains(string(raw), `"tooMany"`) {
		t.Errorf("PATCH with %d member filter operations over %d members = %d %s, want 400 tooMany", over, members, status, raw)
	}
	if !isMember() {
		t.Error("the refused PATCH removed a member")
	}
	if status, raw := patch(over - 2); status != http.StatusNoContent || isMember() {
		t.Errorf("PATCH with %d member filter operations = %d %s (member removed: %v), want 204 and the member removed", over-2, status, raw, !isMember())
	}
}
