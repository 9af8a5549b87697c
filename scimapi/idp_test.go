package scimapi_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scimgate/scimgate/scimapi"
)

// TestIdPScenarios runs every golden file under testdata/idp/<idp>/: what
// one identity provider sends, request for request, and what it must get
// back. cycle.txt replays the provider's provisioning cycle in order;
// quirks.txt holds the shapes the cycle does not reach. The files use the
// format and the deterministic server of TestConformance (tenant acme),
// one fresh server per file, and -update rewrites them the same way:
// update one file at a time (-run 'IdPScenarios/okta/cycle') and review
// the diff, because hand-written expectations are overwritten too.
func TestIdPScenarios(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "idp", "*", "*.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no golden files under testdata/idp")
	}
	for _, path := range files {
		idp := filepath.Base(filepath.Dir(path))
		name := strings.TrimSuffix(filepath.Base(path), ".txt")
		t.Run(idp+"/"+name, func(t *testing.T) {
			t.Parallel()
			runGolden(t, path, scimapi.Options{})
		})
	}
}

// TestIdPEntraParallelGroupPatches replays what Entra ID does to one
// group during a sync: many PATCHes at once, "Add" and "Remove" with value
// lists, capitalised. No change may be lost to a read-modify-write race
// and no removal may take more than the members it names. A golden file
// cannot show this, since its steps run one after another.
func TestIdPEntraParallelGroupPatches(t *testing.T) {
	h := newHarness(t, scimapi.Options{})
	const adders, perAdder, stay, leave = 16, 5, 6, 6
	newUser := func(name string) string {
		var got struct{ ID string }
		h.send(t, http.MethodPost, "/scim/v2/Users", http.StatusCreated,
			fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":%q,"active":true}`, name), &got)
		return got.ID
	}
	var stayIDs, leaveIDs []string
	for i := range stay {
		stayIDs = append(stayIDs, newUser(fmt.Sprintf("stay%d@contoso.example", i)))
	}
	for i := range leave {
		leaveIDs = append(leaveIDs, newUser(fmt.Sprintf("leave%d@contoso.example", i)))
	}
	addIDs := make([][]string, adders)
	for i := range adders {
		for j := range perAdder {
			addIDs[i] = append(addIDs[i], newUser(fmt.Sprintf("new%d-%d@contoso.example", i, j)))
		}
	}
	var group struct{ ID string }
	h.send(t, http.MethodPost, "/scim/v2/Groups", http.StatusCreated,
		`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"externalId":"5b0f6a3e-7c55-4b53-9a35-1f0c4a8e2d11","displayName":"Sales","members":[],"meta":{"resourceType":"Group"}}`, &group)
	h.send(t, http.MethodPatch, "/scim/v2/Groups/"+group.ID, http.StatusNoContent, entraMembersPatch("Add", append(slices.Clone(stayIDs), leaveIDs...)), nil)

	var wg sync.WaitGroup
	for i := range adders {
		wg.Go(func() {
			h.send(t, http.MethodPatch, "/scim/v2/Groups/"+group.ID, http.StatusNoContent, entraMembersPatch("Add", addIDs[i]), nil)
		})
	}
	for _, id := range leaveIDs {
		wg.Go(func() {
			h.send(t, http.MethodPatch, "/scim/v2/Groups/"+group.ID, http.StatusNoContent, entraMembersPatch("Remove", []string{id}), nil)
		})
	}
	wg.Wait()

	var got struct {
		Members []struct{ Value string }
	}
	h.send(t, http.MethodGet, "/scim/v2/Groups/"+group.ID+"?attributes=members.value", http.StatusOK, "", &got)
	var have []string
	for _, m := range got.Members {
		have = append(have, m.Value)
	}
	want := slices.Clone(stayIDs)
	for _, ids := range addIDs {
		want = append(want, ids...)
	}
	slices.Sort(have)
	slices.Sort(want)
	if !slices.Equal(have, want) {
		t.Errorf("after %d parallel Add and %d parallel Remove PATCHes: %d members %v, want %d %v",
			adders, leave, len(have), have, len(want), want)
	}
}

// entraMembersPatch is the body Entra ID sends to add or remove members:
// a capitalised op, path "members" and a list of {"$ref": null, "value"}.
func entraMembersPatch(op string, ids []string) string {
	var vals []string
	for _, id := range ids {
		vals = append(vals, fmt.Sprintf(`{"$ref":null,"value":%q}`, id))
	}
	return `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"` + op +
		`","path":"members","value":[` + strings.Join(vals, ",") + `]}]}`
}

// send makes one request as tenant acme, checks its status and decodes a
// JSON response into out when out is not nil. It may run on any goroutine.
func (h *harness) send(t testing.TB, method, target string, status int, body string, out any) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, h.srv.URL+target, rd)
	if err != nil {
		t.Error(err)
		return
	}
	req.Header.Set("Authorization", "Bearer "+h.tokens["acme"])
	req.Header.Set("Content-Type", "application/scim+json")
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		t.Error(err)
		return
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Error(err)
		return
	}
	if resp.StatusCode != status {
		t.Errorf("%s %s = %d %s, want %d", method, target, resp.StatusCode, raw, status)
		return
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Errorf("%s %s: decode %s: %v", method, target, raw, err)
		}
	}
}

// TestIdPOktaThousandMemberPatch: Okta pushes up to 1,000 membership
// changes in one PATCH, gives up after 60 seconds and never retries a
// 400. One stale id among them is skipped; the rest apply, well within
// the timeout.
func TestIdPOktaThousandMemberPatch(t *testing.T) {
	if testing.Short() {
		t.Skip("creates 1,000 users")
	}
	h := newHarness(t, scimapi.Options{})
	const n = 1000
	var ops []string
	for i := range n {
		ops = append(ops, fmt.Sprintf(`{"method":"POST","path":"/Users","bulkId":"u%d","data":{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"user%04d@okta.local","active":true}}`, i, i))
	}
	var bulk struct {
		Operations []struct{ Location, Status string }
	}
	h.send(t, http.MethodPost, "/scim/v2/Bulk", http.StatusOK,
		`{"schemas":["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],"Operations":[`+strings.Join(ops, ",")+`]}`, &bulk)
	if len(bulk.Operations) != n {
		t.Fatalf("bulk create answered %d operations, want %d", len(bulk.Operations), n)
	}
	var ids, vals []string
	for i, op := range bulk.Operations {
		if op.Status != "201" {
			t.Fatalf("bulk create %d: status %s", i, op.Status)
		}
		id := op.Location[strings.LastIndexByte(op.Location, '/')+1:]
		ids = append(ids, id)
		vals = append(vals, fmt.Sprintf(`{"value":%q,"display":"user%04d@okta.local"}`, id, i))
	}
	// The stale id replaces one of the thousand.
	vals[n/2] = `{"value":"9a8b7c6d-0000-4000-8000-00000000dead","display":"gone@okta.local"}`
	ids = slices.Delete(ids, n/2, n/2+1)

	var group struct{ ID string }
	h.send(t, http.MethodPost, "/scim/v2/Groups", http.StatusCreated,
		`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Everyone","members":[]}`, &group)
	start := time.Now()
	h.send(t, http.MethodPatch, "/scim/v2/Groups/"+group.ID, http.StatusNoContent,
		`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"add","path":"members","value":[`+strings.Join(vals, ",")+`]}]}`, nil)
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("a 1,000-member PATCH took %v; Okta gives up after 60 s", d)
	}
	var got struct {
		Members []struct{ Value string }
	}
	h.send(t, http.MethodGet, "/scim/v2/Groups/"+group.ID+"?attributes=members.value", http.StatusOK, "", &got)
	var have []string
	for _, m := range got.Members {
		have = append(have, m.Value)
	}
	slices.Sort(have)
	slices.Sort(ids)
	if !slices.Equal(have, ids) {
		t.Errorf("after adding %d members with one stale id: %d members, want %d", n, len(have), len(ids))
	}
}
