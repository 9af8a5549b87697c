package scim

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/scimgate/scimgate/scim/schema"
)

var duplicatePatchTests = []struct {
	name string
	doc  string // patchUser when empty
	ops  string
	want string
}{
	// RFC 7643 section 2.4 and RFC 7644 section 3.5.2.1: a (type, value)
	// pair that exists already is not added again; emails.value and type
	// are not caseExact. Re-adding it as primary makes the kept one primary.
	{name: "add an existing value as primary merges primary",
		ops:  `[{"op":"add","path":"emails","value":[{"value":"b@home","type":"home","primary":true}]}]`,
		want: obj(pID, pUser, pActive, pName, `"emails":[{"value":"b@work","type":"work"},{"value":"b@home","type":"home","primary":true}]`, pExt)},
	{name: "add an existing value in another case is a no-op",
		ops: `[{"op":"add","path":"emails","value":[{"value":"B@HOME","type":"Home"}]}]`, want: patchUser},
	{name: "add without a path de-duplicates too",
		ops: `[{"op":"add","value":{"emails":[{"value":"B@Work","type":"work","display":"W"}]}}]`, want: patchUser},
	{name: "add the same value with another type adds it",
		ops:  `[{"op":"add","path":"emails","value":[{"value":"b@home","type":"other"}]}]`,
		want: obj(pID, pUser, pActive, pName, `"emails":[`+pWork+`,`+pHome+`,{"value":"b@home","type":"other"}]`, pExt)},
	{name: "add duplicates within one value list keeps the first",
		doc:  patchMinimal,
		ops:  `[{"op":"add","path":"emails","value":[{"value":"c1@x.com","type":"work"},{"value":"C1@X.COM","type":"work","primary":true}]}]`,
		want: obj(pID, pUser, `"emails":[{"value":"c1@x.com","type":"work","primary":true}]`)},
	{name: "binary values compare case-exactly",
		doc:  obj(pID, pUser, `"x509Certificates":[{"value":"QUJD"}]`),
		ops:  `[{"op":"add","path":"x509Certificates","value":[{"value":"qujd"}]}]`,
		want: obj(pID, pUser, `"x509Certificates":[{"value":"QUJD"},{"value":"qujd"}]`)},
	{name: "replace multi-valued de-duplicates",
		ops:  `[{"op":"replace","path":"emails","value":[{"value":"a@x","type":"work"},{"value":"A@X","type":"WORK","primary":true},{"value":"a@x","type":"home"}]}]`,
		want: obj(pID, pUser, pActive, pName, `"emails":[{"value":"a@x","type":"work","primary":true},{"value":"a@x","type":"home"}]`, pExt)},
	{name: "a value-filter edit that makes two values the same keeps one",
		ops:  `[{"op":"replace","path":"emails[type eq \"home\"]","value":{"value":"B@WORK","type":"work"}}]`,
		want: obj(pID, pUser, pActive, pName, `"emails":[`+pWork+`]`, pExt)},
}

func TestApplyPatchDuplicates(t *testing.T) {
	for _, tt := range duplicatePatchTests {
		t.Run(tt.name, func(t *testing.T) {
			checkApplyPatch(t, tt.doc, tt.ops, tt.want)
		})
	}
}

// TestApplyPatchRemoveNoMatch checks RFC 7644 section 3.12 for removals:
// a value filter that matches nothing is noTarget, except for group
// members, whose removal stays idempotent because Okta never retries a
// 400; that holds with or without a Members editor.
func TestApplyPatchRemoveNoMatch(t *testing.T) {
	tests := []struct {
		name    string
		rt      *schema.ResourceType
		doc     string
		ops     string
		members Members
		want    string // the resulting document; empty when an error is wanted
	}{
		{name: "user emails", rt: schema.UserType, doc: patchUser, ops: `[{"op":"remove","path":"emails[type eq \"other\"]"}]`},
		{name: "user addresses absent", rt: schema.UserType, doc: patchMinimal, ops: `[{"op":"remove","path":"addresses[type eq \"work\"].locality"}]`},
		{name: "group members with an editor", rt: schema.GroupType, doc: memberGroup, members: newFakeMembers(),
			ops: `[{"op":"remove","path":"members[value eq \"nobody\"]"}]`, want: memberGroup},
		{name: "group members without an editor", rt: schema.GroupType, doc: `{"id":"g1","displayName":"G","members":[{"value":"u1"}]}`,
			ops: `[{"op":"remove","path":"members[value eq \"nobody\"]"}]`, want: `{"id":"g1","displayName":"G","members":[{"value":"u1"}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ops := mustParsePatch(t, tt.rt, tt.ops)
			got, err := ApplyPatch(tt.rt, mustDecode(t, tt.doc), ops, tt.members)
			if tt.want == "" {
				checkCode(t, "ApplyPatch("+tt.ops+")", err, CodeNoTarget)
				return
			}
			if err != nil {
				t.Fatalf("ApplyPatch(%s) = %v, want success", tt.ops, err)
			}
			if diff := cmp.Diff(decodeAny(t, tt.want), any(got)); diff != "" {
				t.Errorf("ApplyPatch(%s) mismatch (-want +got):\n%s", tt.ops, diff)
			}
		})
	}
}

// BenchmarkNormalizeManyEmails: de-duplicating a long multi-valued
// attribute grows with its length, not its square (a 4 MiB request holds
// some 50,000 e-mail addresses).
func BenchmarkNormalizeManyEmails(b *testing.B) {
	for _, n := range []int{1_000, 50_000} {
		emails := make([]any, n)
		for i := range emails {
			emails[i] = map[string]any{"value": fmt.Sprintf("u%d@example.com", i%(n/2)), "type": "work"}
		}
		b.Run(fmt.Sprint("emails=", n), func(b *testing.B) {
			for b.Loop() {
				doc := map[string]any{"schemas": []any{schema.UserURN}, "userName": "alice", "emails": slices.Clone(emails)}
				out, err := Normalize(schema.UserType, doc)
				if err != nil {
					b.Fatal(err)
				}
				if got := len(out["emails"].([]any)); got != n/2 {
					b.Fatalf("%d e-mails kept, want %d", got, n/2)
				}
			}
		})
	}
}

// manyEmails is a user document with n work addresses u0@x.org ...
func manyEmails(n int) map[string]any {
	emails := make([]any, n)
	for i := range emails {
		emails[i] = map[string]any{"value": fmt.Sprintf("u%d@x.org", i), "type": "work"}
	}
	return map[string]any{"schemas": []any{schema.UserURN}, "id": "u", "userName": "alice", "emails": emails}
}

// TestApplyPatchRemoveManyValues: removing listed values finds each by
// its value (in any case, of any type when the value names none), among
// many.
func TestApplyPatchRemoveManyValues(t *testing.T) {
	const n = 20_000
	drop := make([]any, 0, n/2)
	for i := 0; i < n; i += 2 {
		drop = append(drop, map[string]any{"value": fmt.Sprintf("U%d@X.ORG", i)})
	}
	drop = append(drop, map[string]any{"value": "u1@x.org", "type": "home"}) // another type: kept
	ops := patchOps(t, map[string]any{"op": "remove", "path": "emails", "value": drop})
	out, err := ApplyPatch(schema.UserType, manyEmails(n), ops, nil)
	if err != nil {
		t.Fatal(err)
	}
	checkOddKept(t, out, n)
}

// TestApplyPatchWorkBounded: a PATCH whose operations would walk long
// lists over and over is refused as a whole (tooMany), before the
// document changes; within the bound it applies.
func TestApplyPatchWorkBounded(t *testing.T) {
	const n = 10_000
	op := func(k int) []PatchOp {
		ops := make([]map[string]any, k)
		for i := range ops {
			ops[i] = map[string]any{"op": "replace", "path": `emails[value eq "u1@x.org"].display`, "value": fmt.Sprint(i)}
		}
		return patchOps(t, ops...)
	}
	doc := manyEmails(n)
	if _, err := ApplyPatch(schema.UserType, doc, op(MaxPatchWork/n-1), nil); err != nil {
		t.Fatalf("%d operations over %d values: %v, want success", MaxPatchWork/n-1, n, err)
	}
	_, err := ApplyPatch(schema.UserType, doc, op(MaxPatchWork/n+1), nil)
	checkCode(t, "a PATCH over the work bound", err, CodeTooMany)
	if _, ok := doc["emails"].([]any)[1].(map[string]any)["display"]; ok {
		t.Error("the refused PATCH changed the document")
	}
}

// BenchmarkPatchRemoveManyValues removes 50,000 of 100,000 addresses in
// one operation, about what a 4 MiB request can ask.
//
//	go test ./scim -run '^$' -bench PatchRemoveManyValues -benchtime 3x
func BenchmarkPatchRemoveManyValues(b *testing.B) {
	const n = 100_000
	drop := make([]any, 0, n/2)
	for i := 0; i < n; i += 2 {
		drop = append(drop, map[string]any{"value": fmt.Sprintf("u%d@x.org", i)})
	}
	doc := manyEmails(n)
	ops := patchOps(b, map[string]any{"op": "remove", "path": "emails", "value": drop})
	for b.Loop() {
		if _, err := ApplyPatch(schema.UserType, doc, ops, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// patchOps parses operations given as JSON objects.
func patchOps(t testing.TB, ops ...map[string]any) []PatchOp {
	t.Helper()
	b, err := json.Marshal(ops)
	if err != nil {
		t.Fatal(err)
	}
	return mustParsePatch(t, schema.UserType, string(b))
}

// TestApplyPatchRemoveFilteredMany: a value filter that selects every
// other value of a long list removes them all and keeps the others in
// order.
func TestApplyPatchRemoveFilteredMany(t *testing.T) {
	const n = 20_000
	doc := manyEmails(n)
	for i, e := range doc["emails"].([]any) {
		if i%2 == 1 {
			e.(map[string]any)["type"] = "home"
		}
	}
	out, err := ApplyPatch(schema.UserType, doc, patchOps(t, map[string]any{"op": "remove", "path": `emails[type eq "work"]`}), nil)
	if err != nil {
		t.Fatal(err)
	}
	checkOddKept(t, out, n)
}

// checkOddKept checks that of manyEmails(n) the odd addresses are left,
// in order.
func checkOddKept(t *testing.T, out map[string]any, n int) {
	t.Helper()
	kept, _ := out["emails"].([]any)
	if len(kept) != n/2 {
		t.Fatalf("%d addresses kept, want %d", len(kept), n/2)
	}
	for i, e := range kept {
		if want := fmt.Sprintf("u%d@x.org", 2*i+1); e.(map[string]any)["value"] != want {
			t.Fatalf("kept[%d] = %v, want %s", i, e, want)
		}
	}
}
