package directory_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/scimgate/scimgate/directory"
	"github.com/scimgate/scimgate/scim"
	"github.com/scimgate/scimgate/scim/schema"
)

// TestNestingDepth: groups nest at most MaxNestingDepth deep, whichever
// end of the chain grows and wherever two chains are joined; a refused
// PATCH changes nothing, and cycles do not count as depth.
func TestNestingDepth(t *testing.T) {
	f := newFixture(t)
	add := func(parent, child string) error {
		return f.patch(t, schema.GroupType, parent, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
			"Operations":[{"op":"add","path":"members","value":[{"value":"`+child+`","type":"Group"}]}]}`)
	}
	// chain builds n groups, each a member of the next: depth n.
	chain := func(prefix string, n int) []string {
		ids := make([]string, n)
		for i := range n {
			ids[i] = f.group(t, fmt.Sprintf("%s%d", prefix, i))
			if i > 0 {
				if err := add(ids[i], ids[i-1]); err != nil {
					t.Fatalf("%s: nesting level %d: %v", prefix, i+1, err)
				}
			}
		}
		return ids
	}
	invalid := func(what string, err error) {
		t.Helper()
		if e := scim.AsError(err); err == nil || e.Code != scim.CodeInvalidValue || !strings.Contains(err.Error(), "deep") {
			t.Errorf("%s: %v, want 400 invalidValue naming the depth", what, err)
		}
	}

	a := chain("a", directory.MaxNestingDepth)
	invalid("a group above the top of a full chain", add(f.group(t, "top"), a[len(a)-1]))
	invalid("a group below the bottom of a full chain", add(a[0], f.group(t, "bottom")))

	b := chain("b", 16)
	c := chain("c", 16)
	if err := add(c[0], b[len(b)-1]); err != nil {
		t.Errorf("joining two chains of 16 into 32: %v", err)
	}
	d := chain("d", 2)
	invalid("joining a chain of 2 under a chain of 32", add(b[0], d[len(d)-1]))

	// One refused member refuses the PATCH: the other member stays out.
	e, u := f.group(t, "e"), f.user(t, "eve")
	err := f.patch(t, schema.GroupType, b[0], `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
		"Operations":[{"op":"add","path":"members","value":[{"value":"`+u+`"},{"value":"`+e+`"}]}]}`)
	invalid("a PATCH with one member too deep", err)
	g, _ := f.dir.Get(t.Context(), f.c, schema.GroupType, b[0], nil)
	if ms, _ := g.Doc["members"].([]any); len(ms) != 0 {
		t.Errorf("the refused PATCH left members %v", ms)
	}

	// A cycle is no deeper than its groups.
	x := chain("x", 3)
	if err := add(x[0], x[2]); err != nil {
		t.Errorf("closing a cycle of 3: %v", err)
	}
}

// TestSkippedMembersBounded: a write naming thousands of ids that do not
// exist keeps the first hundred and their count in its change event, not
// all of them: the audit trail keeps every event for good.
func TestSkippedMembersBounded(t *testing.T) {
	f := newFixture(t)
	gid, uid := f.group(t, "eng"), f.user(t, "alice")
	vals := []string{`{"value":"` + uid + `"}`}
	for i := range 5000 {
		vals = append(vals, fmt.Sprintf(`{"value":"ghost-%d"}`, i))
	}
	if err := f.patch(t, schema.GroupType, gid, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
		"Operations":[{"op":"add","path":"members","value":[`+strings.Join(vals, ",")+`]}]}`); err != nil {
		t.Fatal(err)
	}
	cs := f.changes(t)
	var d struct {
		Skipped []string `json:"skipped_members"`
		Count   int      `json:"skipped_count"`
	}
	if err := json.Unmarshal(cs[len(cs)-1].Detail, &d); err != nil {
		t.Fatal(err)
	}
	if len(d.Skipped) != 100 || d.Skipped[0] != "ghost-0" || d.Count != 5000 || len(cs[len(cs)-1].Edges) != 1 {
		t.Errorf("detail keeps %d ids (first %q), count %d, %d edges; want 100, ghost-0, 5000, alice added",
			len(d.Skipped), d.Skipped[0], d.Count, len(cs[len(cs)-1].Edges))
	}
}
