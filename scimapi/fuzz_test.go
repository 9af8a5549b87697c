package scimapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/scimgate/scimgate/directory"
	"github.com/scimgate/scimgate/scimapi"
	"github.com/scimgate/scimgate/store/sqlite"
)

// fuzzTargets are the resources a fuzzed request goes to; USER and GROUP
// stand for the ids of a user and a group that exist.
var fuzzTargets = []string{"/Users", "/Groups", "/Users/USER", "/Groups/GROUP", "/Users/.search", "/.search", "/Bulk", "/Schemas", "/ResourceTypes/User"}

var fuzzMethods = []string{"GET", "POST", "PUT", "PATCH", "DELETE"}

// FuzzRequests sends the SCIM server arbitrary requests (method, resource,
// query, body) over a real store and checks every answer: never a 5xx,
// and every refusal a SCIM error body whose status is the response's and
// whose scimType, on a 400, is one RFC 7644 defines.
func FuzzRequests(f *testing.F) {
	seeds := []struct {
		method, target uint8
		query, body    string
	}{
		{1, 0, "", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"x@example.com","emails":[{"value":"x@example.com","type":"work"}]}`},
		{0, 0, `filter=userName eq "alice@example.com" and (emails[type eq "work" and value co "@"] or not (active pr))&sortBy=name.familyName&count=2&startIndex=0`, ""},
		{0, 0, `filter=meta.lastModified gt "2011-05-13T04:42:34Z"&attributes=userName,emails.value&excludedAttributes=groups`, ""},
		{3, 2, "", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Replace","path":"emails[type eq \"work\"].value","value":"y@example.com"},{"op":"remove","path":"name.givenName"}]}`},
		{3, 3, "", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"add","path":"members","value":[{"value":"USER"}]},{"op":"remove","path":"members[value eq \"nobody\"]"}]}`},
		{2, 2, "", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"alice@example.com","active":"False","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"manager":"m1"}}`},
		{1, 6, "", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],"Operations":[{"method":"POST","path":"/Users","bulkId":"b1","data":{"userName":"b@example.com"}},{"method":"POST","path":"/Groups","data":{"displayName":"g","members":[{"value":"bulkId:b1"}]}}]}`},
		{1, 5, "", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],"filter":"displayName sw \"eng\"","count":0}`},
		{4, 3, "", ""},
		{1, 0, "", `{"userName":`},
		{0, 1, "filter=members[value eq \"x\"", ""},
	}
	for _, s := range seeds {
		f.Add(s.method, s.target, s.query, s.body)
	}
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(f.TempDir(), "scimgate.db"))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { st.Close() })
	dir := directory.New(st, directory.Options{})
	secret, _, _, err := dir.CreateToken(ctx, "acme", "", 0, "fuzz")
	if err != nil {
		f.Fatal(err)
	}
	h := scimapi.New(dir, scimapi.Options{BaseURL: baseURL})
	do := func(method, target, query, body string) (int, http.Header, []byte) {
		r := httptest.NewRequest(method, baseURL+target, strings.NewReader(body))
		r.URL.RawQuery = query
		r.Header.Set("Authorization", "Bearer "+secret)
		if body != "" {
			r.Header.Set("Content-Type", scimapi.ContentType)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code, w.Header(), w.Body.Bytes()
	}
	idOf := func(target, body string) string {
		code, _, raw := do("POST", target, "", body)
		var res struct{ ID string }
		if code != http.StatusCreated || json.Unmarshal(raw, &res) != nil {
			f.Fatalf("POST %s = %d %s", target, code, raw)
		}
		return res.ID
	}
	user := idOf("/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"alice@example.com"}`)
	group := idOf("/Groups", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"engineering","members":[{"value":"`+user+`"}]}`)
	scimTypes := []string{"invalidFilter", "tooMany", "uniqueness", "mutability", "invalidSyntax", "invalidPath", "noTarget", "invalidValue", "invalidVers", "sensitive"}

	f.Fuzz(func(t *testing.T, m, tg uint8, query, body string) {
		method := fuzzMethods[int(m)%len(fuzzMethods)]
		target := strings.NewReplacer("USER", user, "GROUP", group).Replace(fuzzTargets[int(tg)%len(fuzzTargets)])
		body = strings.NewReplacer("USER", user, "GROUP", group).Replace(body)
		code, hdr, raw := do(method, target, query, body)
		if code >= 500 {
			t.Fatalf("%s %s?%s %q = %d %s", method, target, query, body, code, raw)
		}
		if code < 400 || code == http.StatusMethodNotAllowed && len(raw) == 0 {
			return
		}
		if ct := hdr.Get("Content-Type"); !strings.HasPrefix(ct, scimapi.ContentType) {
			t.Fatalf("%s %s = %d with Content-Type %q", method, target, code, ct)
		}
		var e struct {
			Schemas  []string
			Status   string
			ScimType string
			Detail   string
		}
		if err := json.Unmarshal(raw, &e); err != nil {
			t.Fatalf("%s %s = %d, body is not JSON: %q", method, target, code, raw)
		}
		if !slices.Contains(e.Schemas, "urn:ietf:params:scim:api:messages:2.0:Error") || e.Status != strconv.Itoa(code) || e.Detail == "" {
			t.Fatalf("%s %s = %d, error body %s", method, target, code, raw)
		}
		if e.ScimType != "" && !slices.Contains(scimTypes, e.ScimType) {
			t.Fatalf("%s %s = %d with scimType %q", method, target, code, e.ScimType)
		}
	})
}
