package directory_test

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scimgate/scimgate/directory"
	"github.com/scimgate/scimgate/scim/schema"
	"github.com/scimgate/scimgate/store/sqlite"
)

// TestSkippedMembersLogged: member ids that name nobody of the tenant are
// skipped and logged, by a create and by a PATCH that adds nothing else
// (no change event then: nothing changed); a write that fails logs none.
func TestSkippedMembersLogged(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	var logs bytes.Buffer // the directory logs from the caller's goroutine
	dir := directory.New(st, directory.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	_, info, _, err := dir.CreateToken(ctx, "acme", "", 0, "test")
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{st: st, dir: dir, c: directory.Caller{TenantID: info.TenantID, Actor: info.ID}}

	if _, err := dir.Create(ctx, f.c, schema.GroupType, decode(t, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],
		"displayName":"eng","members":[{"value":"pushed-before-its-user"}]}`), nil); err != nil {
		t.Fatal(err)
	}
	gid := f.group(t, "ops")
	before := len(f.changes(t))
	if err := f.patch(t, schema.GroupType, gid, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
		"Operations":[{"op":"add","path":"members","value":[{"value":"not-provisioned-yet"}]}]}`); err != nil {
		t.Fatal(err)
	}
	if n := len(f.changes(t)) - before; n != 0 {
		t.Errorf("a PATCH that changed nothing wrote %d change events", n)
	}
	// A PATCH that fails after skipping (its next operation is refused)
	// writes nothing, and logs nothing.
	if err := f.patch(t, schema.GroupType, gid, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
		"Operations":[{"op":"add","path":"members","value":[{"value":"never-logged"}]},
		{"op":"replace","path":"id","value":"x"}]}`); err == nil {
		t.Fatal("a PATCH that replaces the id succeeded")
	}
	out := logs.String()
	for _, id := range []string{"pushed-before-its-user", "not-provisioned-yet"} {
		if !strings.Contains(out, id) {
			t.Errorf("the skipped member %s is not logged:\n%s", id, out)
		}
	}
	if strings.Contains(out, "never-logged") {
		t.Errorf("a failed write logged its members:\n%s", out)
	}
}
