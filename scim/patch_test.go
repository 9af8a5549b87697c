package scim

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/scimgate/scimgate/scim/schema"
)

// patchBody wraps a JSON array of operations in a PATCH request body.
func patchBody(ops string) string {
	return `{"schemas":["` + PatchSchema + `"],"Operations":` + ops + `}`
}

func mustParsePatch(t testing.TB, rt *schema.ResourceType, ops string) []PatchOp {
	t.Helper()
	parsed, err := ParsePatch(rt, mustDecode(t, patchBody(ops)))
	if err != nil {
		t.Fatalf("ParsePatch(%s) = %v", ops, err)
	}
	return parsed
}

// Pieces of the stored user document the PATCH tests start from.
const (
	pID      = `"id":"u1"`
	pUser    = `"userName":"bjensen"`
	pActive  = `"active":true`
	pName    = `"name":{"givenName":"Barbara","familyName":"Jensen"}`
	pWork    = `{"value":"b@work","type":"work","primary":true}`
	pHome    = `{"value":"b@home","type":"home"}`
	pEmails  = `"emails":[` + pWork + `,` + pHome + `]`
	pExtBody = `"department":"Ops","manager":{"value":"m1"}`
	pExt     = `"` + ent + `":{` + pExtBody + `}`
)

var patchUser = obj(pID, pUser, pActive, pName, pEmails, pExt)

const patchMinimal = `{"id":"u1","userName":"bjensen"}`

var patchTests = []struct {
	name string
	doc  string // patchUser when empty
	ops  string
	want string
}{
	// add (RFC 7644 section 3.5.2.1)
	{name: "add simple attribute", ops: `[{"op":"add","path":"displayName","value":"Babs"}]`,
		want: obj(pID, pUser, pActive, pName, pEmails, pExt, `"displayName":"Babs"`)},
	{name: "add to single-valued replaces", ops: `[{"op":"add","path":"active","value":false}]`,
		want: obj(pID, pUser, `"active":false`, pName, pEmails, pExt)},
	{name: "op name in any case", ops: `[{"op":"Add","path":"displayName","value":"Babs"},{"OP":"ADD","PATH":"nickName","VALUE":"B"}]`,
		want: obj(pID, pUser, pActive, pName, pEmails, pExt, `"displayName":"Babs"`, `"nickName":"B"`)},
	{name: "path in any case", ops: `[{"op":"add","path":"DISPLAYNAME","value":"Babs"}]`,
		want: obj(pID, pUser, pActive, pName, pEmails, pExt, `"displayName":"Babs"`)},
	{name: "add to multi-valued appends", ops: `[{"op":"add","path":"emails","value":[{"value":"b@other","type":"other"}]}]`,
		want: obj(pID, pUser, pActive, pName, `"emails":[`+pWork+`,`+pHome+`,{"value":"b@other","type":"other"}]`, pExt)},
	{name: "add a single value to multi-valued", ops: `[{"op":"add","path":"emails","value":{"value":"b@other"}}]`,
		want: obj(pID, pUser, pActive, pName, `"emails":[`+pWork+`,`+pHome+`,{"value":"b@other"}]`, pExt)},
	{name: "add de-duplicates", ops: `[{"op":"add","path":"emails","value":[{"value":"b@home","type":"home"},{"value":"b@x"},{"value":"b@x"}]}]`,
		want: obj(pID, pUser, pActive, pName, `"emails":[`+pWork+`,`+pHome+`,{"value":"b@x"}]`, pExt)},
	{name: "add of a primary clears other primaries", ops: `[{"op":"add","path":"emails","value":[{"value":"b@new","primary":"True"}]}]`,
		want: obj(pID, pUser, pActive, pName, `"emails":[{"value":"b@work","type":"work"},`+pHome+`,{"value":"b@new","primary":true}]`, pExt)},
	{name: "add to absent multi-valued", ops: `[{"op":"add","path":"phoneNumbers","value":[{"value":"555","type":"work"}]}]`,
		want: obj(pID, pUser, pActive, pName, pEmails, pExt, `"phoneNumbers":[{"value":"555","type":"work"}]`)},
	{name: "add empty list is a no-op", ops: `[{"op":"add","path":"emails","value":[]}]`, want: patchUser},
	{name: "add complex merges", ops: `[{"op":"add","path":"name","value":{"middleName":"Jane","givenName":"Babs"}}]`,
		want: obj(pID, pUser, pActive, `"name":{"givenName":"Babs","familyName":"Jensen","middleName":"Jane"}`, pEmails, pExt)},
	{name: "add sub-attribute", ops: `[{"op":"add","path":"name.middleName","value":"Jane"}]`,
		want: obj(pID, pUser, pActive, `"name":{"givenName":"Barbara","familyName":"Jensen","middleName":"Jane"}`, pEmails, pExt)},
	{name: "add sub-attribute to absent complex", doc: patchMinimal, ops: `[{"op":"add","path":"name.givenName","value":"Barbara"}]`,
		want: obj(pID, pUser, `"name":{"givenName":"Barbara"}`)},
	{name: "add URN-qualified core attribute", ops: `[{"op":"add","path":"` + coreURN + `:name.middleName","value":"Jane"}]`,
		want: obj(pID, pUser, pActive, `"name":{"givenName":"Barbara","familyName":"Jensen","middleName":"Jane"}`, pEmails, pExt)},
	{name: "add extension attribute", ops: `[{"op":"add","path":"` + ent + `:costCenter","value":"4130"}]`,
		want: obj(pID, pUser, pActive, pName, pEmails, `"`+ent+`":{`+pExtBody+`,"costCenter":"4130"}`)},
	{name: "add extension attribute without the extension", doc: patchMinimal, ops: `[{"op":"add","path":"` + strings.ToUpper(ent) + `:DEPARTMENT","value":"Ops"}]`,
		want: obj(pID, pUser, `"`+ent+`":{"department":"Ops"}`)},
	{name: "extension manager as a bare string", ops: `[{"op":"add","path":"` + ent + `:manager","value":"m2"}]`,
		want: obj(pID, pUser, pActive, pName, pEmails, `"`+ent+`":{"department":"Ops","manager":{"value":"m2"}}`)},
	{name: "extension manager as a bare string without the extension", doc: patchMinimal, ops: `[{"op":"replace","path":"` + ent + `:manager","value":"m2"}]`,
		want: obj(pID, pUser, `"`+ent+`":{"manager":{"value":"m2"}}`)},
	{name: "extension manager sub-attribute", ops: `[{"op":"replace","path":"` + ent + `:manager.value","value":"m3"}]`,
		want: obj(pID, pUser, pActive, pName, pEmails, `"`+ent+`":{"department":"Ops","manager":{"value":"m3"}}`)},
	{name: "add without path", ops: `[{"op":"add","value":{"displayName":"Babs","NICKNAME":"B"}}]`,
		want: obj(pID, pUser, pActive, pName, pEmails, pExt, `"displayName":"Babs"`, `"nickName":"B"`)},
	{name: "no path with dotted, URN-prefixed keys and schemas",
		ops: `[{"op":"add","value":{"schemas":["urn:whatever"],"name.givenName":"Babs","` + ent + `:department":"Sales",
			"` + strings.ToUpper(ent) + `:costCenter":"4130","` + coreURN + `:title":"Guide"}}]`,
		want: obj(pID, pUser, pActive, `"name":{"givenName":"Babs","familyName":"Jensen"}`, pEmails, `"title":"Guide"`,
			`"`+ent+`":{"department":"Sales","costCenter":"4130","manager":{"value":"m1"}}`)},
	{name: "no path with a bare extension URN object", doc: patchMinimal,
		ops:  `[{"op":"add","value":{"` + ent + `":{"division":"EMEA","Manager":"m9"}}}]`,
		want: obj(pID, pUser, `"`+ent+`":{"division":"EMEA","manager":{"value":"m9"}}}`)},
	{name: "no path with overlapping keys applies them in order", doc: patchMinimal,
		ops:  `[{"op":"add","value":{"name.givenName":"B","name":{"givenName":"A","familyName":"F"}}}]`,
		want: obj(pID, pUser, `"name":{"givenName":"B","familyName":"F"}`)},
	{name: "no path with an empty object", ops: `[{"op":"add","value":{}}]`, want: patchUser},

	// replace (RFC 7644 section 3.5.2.3)
	{name: "Okta deactivate", ops: `[{"op":"replace","value":{"active":false}}]`,
		want: obj(pID, pUser, `"active":false`, pName, pEmails, pExt)},
	{name: "Entra string boolean", ops: `[{"op":"Replace","path":"active","value":"False"}]`,
		want: obj(pID, pUser, `"active":false`, pName, pEmails, pExt)},
	{name: "Entra no-path replace",
		ops: `[{"op":"Replace","value":{"name.givenName":"Babs","name.familyName":"J","` + ent + `:department":"Sales","active":"False"}}]`,
		want: obj(pID, pUser, `"active":false`, `"name":{"givenName":"Babs","familyName":"J"}`, pEmails,
			`"`+ent+`":{"department":"Sales","manager":{"value":"m1"}}`)},
	{name: "replace single complex merges", ops: `[{"op":"replace","path":"name","value":{"givenName":"Babs"}}]`,
		want: obj(pID, pUser, pActive, `"name":{"givenName":"Babs","familyName":"Jensen"}`, pEmails, pExt)},
	{name: "replace multi-valued replaces all", ops: `[{"op":"replace","path":"emails","value":[{"value":"only@x","type":"work"}]}]`,
		want: obj(pID, pUser, pActive, pName, `"emails":[{"value":"only@x","type":"work"}]`, pExt)},
	{name: "replace multi-valued with a single value", ops: `[{"op":"replace","path":"emails","value":{"value":"only@x"}}]`,
		want: obj(pID, pUser, pActive, pName, `"emails":[{"value":"only@x"}]`, pExt)},
	{name: "replace multi-valued with empty list removes it", ops: `[{"op":"replace","path":"emails","value":[]}]`,
		want: obj(pID, pUser, pActive, pName, pExt)},
	{name: "replace with null removes", ops: `[{"op":"replace","path":"active","value":null}]`,
		want: obj(pID, pUser, pName, pEmails, pExt)},
	{name: "replace sub-attribute with null removes it", ops: `[{"op":"replace","path":"name.givenName","value":null}]`,
		want: obj(pID, pUser, pActive, `"name":{"familyName":"Jensen"}`, pEmails, pExt)},
	// RFC 7643 section 2.5: null is unassigned, for a whole complex
	// attribute as for a simple one, and for a sub-attribute named in a
	// complex value (RFC 7644 section 3.5.2.3: given sub-attributes replace).
	{name: "replace complex with null removes it", ops: `[{"op":"replace","path":"name","value":null}]`,
		want: obj(pID, pUser, pActive, pEmails, pExt)},
	{name: "add complex with null removes it", ops: `[{"op":"add","path":"name","value":null}]`,
		want: obj(pID, pUser, pActive, pEmails, pExt)},
	{name: "no-path replace with a null complex removes it", ops: `[{"op":"replace","value":{"name":null,"title":"Guide"}}]`,
		want: obj(pID, pUser, pActive, pEmails, pExt, `"title":"Guide"`)},
	{name: "replace extension complex with null removes it", ops: `[{"op":"replace","path":"` + ent + `:manager","value":null}]`,
		want: obj(pID, pUser, pActive, pName, pEmails, `"`+ent+`":{"department":"Ops"}`)},
	{name: "no-path extension object with a null complex removes it", ops: `[{"op":"replace","value":{"` + ent + `":{"manager":null}}}]`,
		want: obj(pID, pUser, pActive, pName, pEmails, `"`+ent+`":{"department":"Ops"}`)},
	{name: "replacing the last extension attribute with null drops the extension",
		ops:  `[{"op":"replace","path":"` + ent + `:manager","value":null},{"op":"replace","path":"` + ent + `:department","value":null}]`,
		want: obj(pID, pUser, pActive, pName, pEmails)},
	{name: "null sub-attribute in a complex value removes it", ops: `[{"op":"replace","path":"name","value":{"givenName":null,"middleName":"J"}}]`,
		want: obj(pID, pUser, pActive, `"name":{"familyName":"Jensen","middleName":"J"}`, pEmails, pExt)},
	{name: "null sub-attributes can empty a complex attribute", ops: `[{"op":"add","path":"name","value":{"GIVENNAME":null,"familyName":null}}]`,
		want: obj(pID, pUser, pActive, pEmails, pExt)},
	{name: "null sub-attribute of an absent complex is a no-op", doc: patchMinimal, ops: `[{"op":"replace","path":"name","value":{"givenName":null}}]`,
		want: patchMinimal},
	{name: "null read-only sub-attribute in a value is ignored",
		doc:  obj(pID, pUser, `"`+ent+`":{"manager":{"value":"m1","displayName":"Boss"}}`),
		ops:  `[{"op":"replace","path":"` + ent + `:manager","value":{"displayName":null}}]`,
		want: obj(pID, pUser, `"`+ent+`":{"manager":{"value":"m1","displayName":"Boss"}}`)},
	{name: "null sub-attribute in a value-filter element merge removes it", ops: `[{"op":"add","path":"emails[type eq \"work\"]","value":{"primary":null}}]`,
		want: obj(pID, pUser, pActive, pName, `"emails":[{"value":"b@work","type":"work"},`+pHome+`]`, pExt)},
	{name: "replace extension attribute", ops: `[{"op":"replace","path":"` + ent + `:department","value":"Sales"}]`,
		want: obj(pID, pUser, pActive, pName, pEmails, `"`+ent+`":{"department":"Sales","manager":{"value":"m1"}}`)},
	{name: "replace absent attribute adds it", doc: patchMinimal, ops: `[{"op":"replace","path":"title","value":"Guide"}]`,
		want: obj(pID, pUser, `"title":"Guide"`)},

	// value-filter paths
	{name: "replace value-filter sub-attribute", ops: `[{"op":"replace","path":"emails[type eq \"work\"].value","value":"new@work"}]`,
		want: obj(pID, pUser, pActive, pName, `"emails":[{"value":"new@work","type":"work","primary":true},`+pHome+`]`, pExt)},
	{name: "value filter in any case", ops: `[{"op":"replace","path":"EMAILS[TYPE EQ \"WORK\"].VALUE","value":"new@work"}]`,
		want: obj(pID, pUser, pActive, pName, `"emails":[{"value":"new@work","type":"work","primary":true},`+pHome+`]`, pExt)},
	{name: "replace value-filter sub-attribute without a match creates the value",
		ops:  `[{"op":"replace","path":"emails[type eq \"other\"].value","value":"o@x"}]`,
		want: obj(pID, pUser, pActive, pName, `"emails":[`+pWork+`,`+pHome+`,{"type":"other","value":"o@x"}]`, pExt)},
	{name: "Entra add value-filter sub-attribute on a user without emails", doc: patchMinimal,
		ops:  `[{"op":"Add","path":"emails[type eq \"work\"].value","value":"b@work"},{"op":"Add","path":"emails[type eq \"work\"].primary","value":"True"}]`,
		want: obj(pID, pUser, `"emails":[{"type":"work","value":"b@work","primary":true}]`)},
	{name: "value filter with and creates every compared sub-attribute", doc: patchMinimal,
		ops:  `[{"op":"add","path":"addresses[type eq \"work\" and country eq \"US\"].locality","value":"Hollywood"}]`,
		want: obj(pID, pUser, `"addresses":[{"type":"work","country":"US","locality":"Hollywood"}]`)},
	{name: "created value that is primary clears other primaries",
		ops:  `[{"op":"add","path":"emails[type eq \"other\" and primary eq true].value","value":"o@x"}]`,
		want: obj(pID, pUser, pActive, pName, `"emails":[{"value":"b@work","type":"work"},`+pHome+`,{"type":"other","primary":true,"value":"o@x"}]`, pExt)},
	{name: "setting primary through a value filter clears other primaries",
		ops:  `[{"op":"replace","path":"emails[type eq \"home\"].primary","value":true}]`,
		want: obj(pID, pUser, pActive, pName, `"emails":[{"value":"b@work","type":"work"},{"value":"b@home","type":"home","primary":true}]`, pExt)},
	{name: "value filter matching several values",
		doc:  obj(pID, pUser, `"emails":[{"value":"a","type":"work"},{"value":"b","type":"work"},{"value":"c","type":"home"}]`),
		ops:  `[{"op":"replace","path":"emails[type eq \"work\"].display","value":"W"}]`,
		want: obj(pID, pUser, `"emails":[{"value":"a","type":"work","display":"W"},{"value":"b","type":"work","display":"W"},{"value":"c","type":"home"}]`)},
	{name: "value filter making several values primary keeps one",
		doc:  obj(pID, pUser, `"emails":[{"value":"a","type":"work"},{"value":"b","type":"work"},{"value":"c","type":"home","primary":true}]`),
		ops:  `[{"op":"replace","path":"emails[type eq \"work\"].primary","value":true}]`,
		want: obj(pID, pUser, `"emails":[{"value":"a","type":"work","primary":true},{"value":"b","type":"work"},{"value":"c","type":"home"}]`)},
	{name: "replace value-filter element", ops: `[{"op":"replace","path":"emails[type eq \"home\"]","value":{"value":"h2","type":"home","primary":true}}]`,
		want: obj(pID, pUser, pActive, pName, `"emails":[{"value":"b@work","type":"work"},{"value":"h2","type":"home","primary":true}]`, pExt)},
	{name: "replace value-filter element drops sub-attributes not given", ops: `[{"op":"replace","path":"emails[type eq \"work\"]","value":{"value":"w2"}}]`,
		want: obj(pID, pUser, pActive, pName, `"emails":[{"value":"w2"},`+pHome+`]`, pExt)},
	{name: "add value-filter element merges", ops: `[{"op":"add","path":"emails[type eq \"home\"]","value":{"display":"Home"}}]`,
		want: obj(pID, pUser, pActive, pName, `"emails":[`+pWork+`,{"value":"b@home","type":"home","display":"Home"}]`, pExt)},
	{name: "value filter on an extension-free complex attribute", doc: obj(pID, pUser, `"addresses":[{"type":"work","locality":"X"}]`),
		ops:  `[{"op":"replace","path":"addresses[type eq \"work\"].locality","value":"Y"}]`,
		want: obj(pID, pUser, `"addresses":[{"type":"work","locality":"Y"}]`)},

	// remove (RFC 7644 section 3.5.2.2)
	{name: "remove sub-attribute", ops: `[{"op":"remove","path":"name.givenName"}]`,
		want: obj(pID, pUser, pActive, `"name":{"familyName":"Jensen"}`, pEmails, pExt)},
	{name: "remove last sub-attribute removes the attribute", ops: `[{"op":"remove","path":"name.givenName"},{"op":"remove","path":"name.familyName"}]`,
		want: obj(pID, pUser, pActive, pEmails, pExt)},
	{name: "remove complex", ops: `[{"op":"remove","path":"name"}]`, want: obj(pID, pUser, pActive, pEmails, pExt)},
	{name: "remove value-filter element", ops: `[{"op":"remove","path":"emails[type eq \"work\"]"}]`,
		want: obj(pID, pUser, pActive, pName, `"emails":[`+pHome+`]`, pExt)},
	{name: "remove value-filter sub-attribute", ops: `[{"op":"remove","path":"emails[type eq \"work\"].primary"}]`,
		want: obj(pID, pUser, pActive, pName, `"emails":[{"value":"b@work","type":"work"},`+pHome+`]`, pExt)},
	{name: "remove value-filter sub-attribute keeps the rest", ops: `[{"op":"remove","path":"emails[value ew \"@home\"].value"}]`,
		want: obj(pID, pUser, pActive, pName, `"emails":[`+pWork+`,{"type":"home"}]`, pExt)},
	{name: "remove every value through filters", ops: `[{"op":"remove","path":"emails[type eq \"work\"]"},{"op":"remove","path":"emails[type eq \"home\"]"}]`,
		want: obj(pID, pUser, pActive, pName, pExt)},
	{name: "remove with a complex value filter", ops: `[{"op":"remove","path":"emails[type eq \"work\" or value sw \"b@h\"]"}]`,
		want: obj(pID, pUser, pActive, pName, pExt)},
	{name: "remove multi-valued", ops: `[{"op":"remove","path":"emails"}]`, want: obj(pID, pUser, pActive, pName, pExt)},
	{name: "remove sub-attribute of every value", ops: `[{"op":"remove","path":"emails.type"}]`,
		want: obj(pID, pUser, pActive, pName, `"emails":[{"value":"b@work","primary":true},{"value":"b@home"}]`, pExt)},
	{name: "remove listed values", ops: `[{"op":"remove","path":"emails","value":[{"value":"b@home"}]}]`,
		want: obj(pID, pUser, pActive, pName, `"emails":[`+pWork+`]`, pExt)},
	// Listed values compare as add compares them: emails without case.
	{name: "remove listed values, another case", ops: `[{"op":"Remove","path":"emails","value":[{"value":"B@Home"}]}]`,
		want: obj(pID, pUser, pActive, pName, `"emails":[`+pWork+`]`, pExt)},
	// A listed value naming a type removes that type's value alone.
	{name: "remove listed values of a type", ops: `[{"op":"remove","path":"emails","value":[{"value":"b@work","type":"home"},{"value":"b@home","type":"HOME"}]}]`,
		want: obj(pID, pUser, pActive, pName, `"emails":[`+pWork+`]`, pExt)},
	{name: "path null is no path", ops: `[{"op":"replace","path":null,"value":{"displayName":"Babs"}}]`,
		want: obj(pID, pUser, pActive, pName, pEmails, pExt, `"displayName":"Babs"`)},
	{name: "remove extension attribute", ops: `[{"op":"remove","path":"` + ent + `:manager"}]`,
		want: obj(pID, pUser, pActive, pName, pEmails, `"`+ent+`":{"department":"Ops"}`)},
	{name: "remove extension sub-attribute", ops: `[{"op":"remove","path":"` + ent + `:manager.value"}]`,
		want: obj(pID, pUser, pActive, pName, pEmails, `"`+ent+`":{"department":"Ops"}`)},
	{name: "remove every extension attribute removes the extension",
		ops:  `[{"op":"remove","path":"` + ent + `:manager"},{"op":"Remove","path":"` + ent + `:department"}]`,
		want: obj(pID, pUser, pActive, pName, pEmails)},
	{name: "remove from an absent extension is a no-op", doc: patchMinimal, ops: `[{"op":"remove","path":"` + ent + `:department"}]`, want: patchMinimal},
	{name: "remove absent attribute is a no-op", ops: `[{"op":"remove","path":"title"},{"op":"remove","path":"phoneNumbers.type"}]`, want: patchUser},
	{name: "remove with an empty value", ops: `[{"op":"remove","path":"displayName","value":""}]`, want: patchUser},

	// read-only and write-only attributes
	{name: "no-path replace echoing the id", ops: `[{"op":"replace","value":{"id":"u1","displayName":"Babs"}}]`,
		want: obj(pID, pUser, pActive, pName, pEmails, pExt, `"displayName":"Babs"`)},
	{name: "replace id with its value", ops: `[{"op":"replace","path":"id","value":"u1"}]`, want: patchUser},
	{name: "password accepted and not stored", ops: `[{"op":"replace","path":"password","value":"t1meMa$heen"},{"op":"add","value":{"Password":"x","nickName":"B"}},{"op":"remove","path":"password"}]`,
		want: obj(pID, pUser, pActive, pName, pEmails, pExt, `"nickName":"B"`)},
	{name: "read-only sub-attribute in a value is dropped", ops: `[{"op":"replace","path":"` + ent + `:manager","value":{"value":"m2","displayName":"Boss"}}]`,
		want: obj(pID, pUser, pActive, pName, pEmails, `"`+ent+`":{"department":"Ops","manager":{"value":"m2"}}`)},

	// Order matters: later operations see earlier ones.
	{name: "operations apply in order",
		ops:  `[{"op":"remove","path":"emails"},{"op":"add","path":"emails","value":[{"value":"x"}]},{"op":"replace","path":"emails[value eq \"x\"].type","value":"home"}]`,
		want: obj(pID, pUser, pActive, pName, `"emails":[{"value":"x","type":"home"}]`, pExt)},
}

func TestApplyPatch(t *testing.T) {
	for _, tt := range patchTests {
		t.Run(tt.name, func(t *testing.T) {
			checkApplyPatch(t, tt.doc, tt.ops, tt.want)
		})
	}
}

// checkApplyPatch applies ops to the user document src (patchUser when
// empty) and checks the result against want, that the input is left
// alone, and that the operations can be applied again.
func checkApplyPatch(t *testing.T, src, opsJSON, want string) {
	t.Helper()
	if src == "" {
		src = patchUser
	}
	doc := mustDecode(t, src)
	before := deepCopy(doc)
	ops := mustParsePatch(t, schema.UserType, opsJSON)
	got, err := ApplyPatch(schema.UserType, doc, ops, nil)
	if err != nil {
		t.Fatalf("ApplyPatch(%s) = %v, want success", opsJSON, err)
	}
	if diff := cmp.Diff(decodeAny(t, want), any(got)); diff != "" {
		t.Errorf("ApplyPatch(%s) mismatch (-want +got):\n%s", opsJSON, diff)
	}
	if diff := cmp.Diff(before, any(doc)); diff != "" {
		t.Errorf("ApplyPatch(%s) modified its input (-before +after):\n%s", opsJSON, diff)
	}
	// The operations are not consumed: applying them again to the same
	// input gives the same result.
	again, err := ApplyPatch(schema.UserType, doc, ops, nil)
	if err != nil {
		t.Fatalf("second ApplyPatch(%s) = %v", opsJSON, err)
	}
	if diff := cmp.Diff(got, again); diff != "" {
		t.Errorf("second ApplyPatch(%s) differs (-first +second):\n%s", opsJSON, diff)
	}
}

var patchErrorTests = []struct {
	name  string
	doc   string // patchUser when empty
	ops   string
	code  Code
	names []string
}{
	{"different id", "", `[{"op":"replace","path":"id","value":"u2"}]`, CodeMutability, []string{"id"}},
	{"no-path replace with a different id", "", `[{"op":"replace","value":{"id":"u2","displayName":"B"}}]`, CodeMutability, []string{"id"}},
	{"remove id", "", `[{"op":"remove","path":"id"}]`, CodeMutability, []string{"id"}},
	{"id echo when the document has none", `{"userName":"bjensen"}`, `[{"op":"replace","path":"id","value":"u1"}]`, CodeMutability, []string{"id"}},
	{"add groups", "", `[{"op":"add","path":"groups","value":[{"value":"g1"}]}]`, CodeMutability, []string{"groups"}},
	{"no-path groups", "", `[{"op":"add","value":{"groups":[{"value":"g1"}]}}]`, CodeMutability, []string{"groups"}},
	{"meta sub-attribute", "", `[{"op":"replace","path":"meta.created","value":"2020-01-01T00:00:00Z"}]`, CodeMutability, []string{"meta.created"}},
	{"meta", "", `[{"op":"replace","path":"meta","value":{"version":"W/\"9\""}}]`, CodeMutability, []string{"meta"}},
	{"read-only extension sub-attribute", "", `[{"op":"replace","path":"` + ent + `:manager.displayName","value":"Boss"}]`,
		CodeMutability, []string{ent + ":manager.displayName"}},
	// RFC 7644 section 3.5.2.2: unassigning a required attribute is a
	// mutability error.
	{"remove required attribute", "", `[{"op":"remove","path":"userName"}]`, CodeMutability, []string{"userName", "required"}},
	{"replace required attribute with empty", "", `[{"op":"replace","path":"userName","value":""}]`, CodeMutability, []string{"userName"}},
	{"replace required attribute with null", "", `[{"op":"replace","value":{"userName":null}}]`, CodeMutability, []string{"userName"}},
	{"replace required attribute with null through its path", "", `[{"op":"replace","path":"userName","value":null}]`, CodeMutability, []string{"userName"}},
	{"number for boolean", "", `[{"op":"add","path":"active","value":1}]`, CodeInvalidValue, []string{"active"}},
	{"object for string", "", `[{"op":"add","path":"displayName","value":{"a":"b"}}]`, CodeInvalidValue, []string{"displayName"}},
	{"array for single-valued", "", `[{"op":"replace","path":"displayName","value":["a"]}]`, CodeInvalidValue, []string{"displayName", "single-valued"}},
	{"string for complex", "", `[{"op":"replace","path":"name","value":"Babs"}]`, CodeInvalidValue, []string{"name"}},
	{"unknown sub-attribute in value", "", `[{"op":"replace","path":"name","value":{"nick":"B"}}]`, CodeInvalidValue, []string{"nick"}},
	{"two primaries in one add", "", `[{"op":"add","path":"emails","value":[{"value":"a","primary":true},{"value":"b","primary":true}]}]`,
		CodeInvalidValue, []string{"emails", "primary"}},
	{"object for value-filter sub-attribute", "", `[{"op":"replace","path":"emails[type eq \"work\"].value","value":{}}]`,
		CodeInvalidValue, []string{"emails[type eq \"work\"].value"}},
	{"array for value-filter element", "", `[{"op":"replace","path":"emails[type eq \"work\"]","value":[{"value":"x"}]}]`,
		CodeInvalidValue, []string{"emails"}},
	{"sub-attribute of multi-valued without a filter", "", `[{"op":"add","path":"emails.value","value":"x"}]`, CodeInvalidPath, []string{"emails"}},
	{"replace value filter without a match", "", `[{"op":"replace","path":"emails[type eq \"other\"]","value":{"value":"x"}}]`,
		CodeNoTarget, []string{"emails"}},
	// RFC 7644 section 3.12: a remove whose value filter matches nothing is
	// noTarget (group members excepted, see TestApplyPatchMembers).
	{"remove value filter without a match", "", `[{"op":"remove","path":"emails[type eq \"other\"]"}]`, CodeNoTarget, []string{"emails[type eq \"other\"]"}},
	{"remove value filter with sub-attribute without a match", "", `[{"op":"remove","path":"emails[type eq \"other\"].value"}]`,
		CodeNoTarget, []string{"emails"}},
	{"remove value filter on an absent attribute", patchMinimal, `[{"op":"remove","path":"emails[type eq \"work\"]"}]`, CodeNoTarget, []string{"emails"}},
	{"add value filter without a match", "", `[{"op":"add","path":"emails[type eq \"other\"]","value":{"value":"x"}}]`, CodeNoTarget, []string{"emails"}},
	{"value filter with sub-attribute that describes no value", "", `[{"op":"replace","path":"emails[value co \"zzz\"].type","value":"work"}]`,
		CodeNoTarget, []string{"emails"}},
	{"value filter with not", "", `[{"op":"add","path":"emails[not (type eq \"work\") and type eq \"x\"].value","value":"v"}]`,
		CodeNoTarget, []string{"emails"}},
	{"no-path value not an object", "", `[{"op":"add","value":"Babs"}]`, CodeInvalidValue, []string{"add"}},
	{"no-path value a list", "", `[{"op":"replace","value":[{"active":false}]}]`, CodeInvalidValue, []string{"replace"}},
	{"no-path null value", "", `[{"op":"replace","value":null}]`, CodeInvalidValue, []string{"replace"}},
	{"no-path unknown attribute", "", `[{"op":"add","value":{"favouriteColour":"blue"}}]`, CodeInvalidPath, []string{"favouriteColour"}},
	{"no-path value-path key", "", `[{"op":"add","value":{"emails[type eq \"work\"].value":"x"}}]`, CodeInvalidPath, []string{"emails"}},
	{"no-path extension not an object", "", `[{"op":"add","value":{"` + ent + `":"Ops"}}]`, CodeInvalidValue, []string{ent}},
	{"no-path unknown extension attribute", "", `[{"op":"add","value":{"` + ent + `":{"badge":"7"}}}]`, CodeInvalidPath, []string{"badge"}},
	{"no-path core URN", "", `[{"op":"add","value":{"` + coreURN + `":{"title":"x"}}}]`, CodeInvalidPath, []string{coreURN}},
}

func TestApplyPatchErrors(t *testing.T) {
	for _, tt := range patchErrorTests {
		t.Run(tt.name, func(t *testing.T) {
			src := tt.doc
			if src == "" {
				src = patchUser
			}
			doc := mustDecode(t, src)
			before := deepCopy(doc)
			ops := mustParsePatch(t, schema.UserType, tt.ops)
			got, err := ApplyPatch(schema.UserType, doc, ops, nil)
			if err == nil {
				t.Fatalf("ApplyPatch(%s) = %v, want error", tt.ops, got)
			}
			if got != nil {
				t.Errorf("ApplyPatch(%s) = %v with an error, want nil", tt.ops, got)
			}
			checkCode(t, "ApplyPatch("+tt.ops+")", err, tt.code, tt.names...)
			if diff := cmp.Diff(before, any(doc)); diff != "" {
				t.Errorf("ApplyPatch(%s) modified its input (-before +after):\n%s", tt.ops, diff)
			}
		})
	}
}

// TestApplyPatchAtomic checks that a failing operation leaves the input
// untouched even after earlier operations changed every part of it.
func TestApplyPatchAtomic(t *testing.T) {
	tests := []struct {
		ops  string
		code Code
	}{
		{`[{"op":"replace","path":"userName","value":"x"},{"op":"remove","path":"emails[type eq \"work\"]"},
		   {"op":"add","path":"name.middleName","value":"J"},{"op":"replace","path":"` + ent + `:manager","value":"m2"},
		   {"op":"remove","path":"` + ent + `:department"},{"op":"add","path":"emails[type eq \"home\"].primary","value":true},
		   {"op":"add","path":"active","value":3}]`, CodeInvalidValue},
		{`[{"op":"remove","path":"emails"},{"op":"remove","path":"name"},{"op":"remove","path":"` + ent + `:manager"},
		   {"op":"remove","path":"userName"}]`, CodeMutability},
		{`[{"op":"replace","path":"emails[type eq \"work\"].value","value":"w"},{"op":"remove","path":"emails.type"},
		   {"op":"replace","path":"id","value":"other"}]`, CodeMutability},
		{`[{"op":"add","value":{"displayName":"B","name.givenName":"X"}},{"op":"replace","path":"emails[type eq \"nope\"]","value":{"value":"x"}}]`,
			CodeNoTarget},
	}
	for _, tt := range tests {
		doc := mustDecode(t, patchUser)
		before := deepCopy(doc)
		got, err := ApplyPatch(schema.UserType, doc, mustParsePatch(t, schema.UserType, tt.ops), nil)
		if err == nil {
			t.Errorf("ApplyPatch(%s) = %v, want error", tt.ops, got)
			continue
		}
		checkCode(t, "ApplyPatch("+tt.ops+")", err, tt.code)
		if diff := cmp.Diff(before, any(doc)); diff != "" {
			t.Errorf("failed ApplyPatch(%s) modified its input (-before +after):\n%s", tt.ops, diff)
		}
	}
}

func TestApplyPatchResultIsACopy(t *testing.T) {
	doc := mustDecode(t, patchUser)
	before := deepCopy(doc)
	got, err := ApplyPatch(schema.UserType, doc, mustParsePatch(t, schema.UserType, `[{"op":"add","path":"title","value":"x"}]`), nil)
	if err != nil {
		t.Fatal(err)
	}
	// Scribble over every map and list of the result.
	var scribble func(v any)
	scribble = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				scribble(e)
				x[k] = "scribbled"
			}
		case []any:
			for i, e := range x {
				scribble(e)
				x[i] = "scribbled"
			}
		}
	}
	scribble(got)
	if diff := cmp.Diff(before, any(doc)); diff != "" {
		t.Errorf("ApplyPatch result shares memory with its input (-before +after):\n%s", diff)
	}
}

func TestApplyPatchNilDoc(t *testing.T) {
	got, err := ApplyPatch(schema.GroupType, nil, mustParsePatch(t, schema.GroupType, `[{"op":"add","path":"displayName","value":"G"}]`), nil)
	if err != nil {
		t.Fatalf("ApplyPatch(nil doc) = %v", err)
	}
	if diff := cmp.Diff(map[string]any{"displayName": "G"}, got); diff != "" {
		t.Errorf("ApplyPatch(nil doc) mismatch (-want +got):\n%s", diff)
	}
}

// fakeMembers records the membership edits a PATCH makes. Edits of nothing
// (Add or Remove of an empty list) are not recorded: they change nothing.
type fakeMembers struct {
	members []map[string]any // what List returns
	calls   []string
	fail    string // the method that fails with errBoom
}

var errBoom = errors.New("boom")

func (f *fakeMembers) call(method, arg string) error {
	f.calls = append(f.calls, strings.TrimSpace(method+" "+arg))
	if f.fail == method {
		return errBoom
	}
	return nil
}

func (f *fakeMembers) Add(elems []any) error {
	if len(elems) == 0 {
		return nil
	}
	b, err := json.Marshal(elems)
	if err != nil {
		return err
	}
	return f.call("Add", string(b))
}

// Remove reports as removed the ids that are among the fake's members.
func (f *fakeMembers) Remove(ids []string) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	n := 0
	for _, id := range ids {
		for _, m := range f.members {
			if m["value"] == id {
				n++
			}
		}
	}
	return n, f.call("Remove", strings.Join(ids, ","))
}

func (f *fakeMembers) Clear() error { return f.call("Clear", "") }

func (f *fakeMembers) List() ([]map[string]any, error) {
	if err := f.call("List", ""); err != nil {
		return nil, err
	}
	return f.members, nil
}

func newFakeMembers() *fakeMembers {
	return &fakeMembers{members: []map[string]any{
		{"value": "u1", "display": "Babs Jensen", "type": "User"},
		{"value": "u2", "display": "Mandy Pepper", "type": "User"},
		{"value": "g2", "display": "Sub Group", "type": "Group"},
	}}
}

const memberGroup = `{"id":"g1","displayName":"Tour Guides"}`

var memberTests = []struct {
	name  string
	ops   string
	calls []string
	want  string // the resulting document; memberGroup when empty
}{
	{name: "Entra remove with a value array", ops: `[{"op":"Remove","path":"members","value":[{"value":"u1"},{"value":"g2"}]}]`,
		calls: []string{"Remove u1,g2"}},
	{name: "remove with a single value object", ops: `[{"op":"remove","path":"members","value":{"value":"u1"}}]`, calls: []string{"Remove u1"}},
	{name: "remove with bare id strings", ops: `[{"op":"remove","path":"members","value":["u1","u2"]}]`, calls: []string{"Remove u1,u2"}},
	{name: "remove value filter on value needs no listing", ops: `[{"op":"remove","path":"members[value eq \"u1\"]"}]`, calls: []string{"Remove u1"}},
	{name: "remove value filter with or", ops: `[{"op":"remove","path":"members[value eq \"u1\" or value eq \"u2\"]"}]`, calls: []string{"Remove u1,u2"}},
	{name: "remove value filter with three ids", ops: `[{"op":"remove","path":"members[value eq \"u1\" or (value eq \"u2\" or value eq \"x\")]"}]`,
		calls: []string{"Remove u1,u2,x"}},
	{name: "remove unknown id", ops: `[{"op":"remove","path":"members[value eq \"nobody\"]"}]`, calls: []string{"Remove nobody"}},
	{name: "remove value filter on display lists members", ops: `[{"op":"remove","path":"members[display co \"pepper\"]"}]`,
		calls: []string{"List", "Remove u2"}},
	{name: "remove value filter on type", ops: `[{"op":"remove","path":"members[type eq \"Group\"]"}]`, calls: []string{"List", "Remove g2"}},
	{name: "remove value filter with and lists members", ops: `[{"op":"remove","path":"members[value eq \"u1\" and type eq \"User\"]"}]`,
		calls: []string{"List", "Remove u1"}},
	{name: "remove value filter mixing ids and others lists members", ops: `[{"op":"remove","path":"members[value eq \"u1\" or display sw \"sub\"]"}]`,
		calls: []string{"List", "Remove u1,g2"}},
	{name: "remove value filter with ne lists members", ops: `[{"op":"remove","path":"members[value ne \"u1\"]"}]`,
		calls: []string{"List", "Remove u2,g2"}},
	{name: "remove value filter matching nothing", ops: `[{"op":"remove","path":"members[display co \"nobody\"]"}]`, calls: []string{"List"}},
	{name: "remove all members", ops: `[{"op":"remove","path":"members"}]`, calls: []string{"Clear"}},
	{name: "replace members", ops: `[{"op":"replace","path":"members","value":[{"value":"u3","display":"ignored"},{"value":"u4","type":"User"}]}]`,
		calls: []string{"Clear", `Add [{"value":"u3"},{"type":"User","value":"u4"}]`}},
	{name: "replace members with an empty list", ops: `[{"op":"replace","path":"members","value":[]}]`, calls: []string{"Clear"}},
	{name: "replace members with null", ops: `[{"op":"replace","path":"members","value":null}]`, calls: []string{"Clear"}},
	{name: "add members", ops: `[{"op":"add","path":"members","value":[{"value":"u3","display":"X","type":"User","$ref":"https://example.com/v2/Users/u3"}]}]`,
		calls: []string{`Add [{"$ref":"https://example.com/v2/Users/u3","type":"User","value":"u3"}]`}},
	{name: "Entra add members", ops: `[{"op":"Add","path":"members","value":[{"value":"u3"}]}]`, calls: []string{`Add [{"value":"u3"}]`}},
	{name: "add a single member object", ops: `[{"op":"add","path":"members","value":{"value":"u3"}}]`, calls: []string{`Add [{"value":"u3"}]`}},
	{name: "add an empty member list", ops: `[{"op":"add","path":"members","value":[]}]`},
	{name: "Okta membership update", ops: `[{"op":"remove","path":"members[value eq \"u1\"]"},{"op":"add","path":"members","value":[{"value":"u5"}]}]`,
		calls: []string{"Remove u1", `Add [{"value":"u5"}]`}},
	{name: "replace value filter swaps a member", ops: `[{"op":"replace","path":"members[value eq \"u1\"]","value":{"value":"u9"}}]`,
		calls: []string{"Remove u1", `Add [{"value":"u9"}]`}},
	{name: "no-path add of members", ops: `[{"op":"add","value":{"members":[{"value":"u3"}]}}]`, calls: []string{`Add [{"value":"u3"}]`}},
	{name: "Okta rename echoing the id", ops: `[{"op":"replace","value":{"id":"g1","displayName":"Guides"}}]`,
		want: `{"id":"g1","displayName":"Guides"}`},
	{name: "no-path replace with members", ops: `[{"op":"replace","value":{"id":"g1","displayName":"Guides","members":[{"value":"u7"}]}}]`,
		calls: []string{"Clear", `Add [{"value":"u7"}]`}, want: `{"id":"g1","displayName":"Guides"}`},
	{name: "rename and add members", ops: `[{"op":"replace","path":"displayName","value":"Guides"},{"op":"add","path":"members","value":[{"value":"u3"}]}]`,
		calls: []string{`Add [{"value":"u3"}]`}, want: `{"id":"g1","displayName":"Guides"}`},
}

func TestApplyPatchMembers(t *testing.T) {
	for _, tt := range memberTests {
		t.Run(tt.name, func(t *testing.T) {
			doc := mustDecode(t, memberGroup)
			before := deepCopy(doc)
			m := newFakeMembers()
			got, err := ApplyPatch(schema.GroupType, doc, mustParsePatch(t, schema.GroupType, tt.ops), m)
			if err != nil {
				t.Fatalf("ApplyPatch(%s) = %v, want success", tt.ops, err)
			}
			if diff := cmp.Diff(tt.calls, m.calls); diff != "" {
				t.Errorf("ApplyPatch(%s) member calls mismatch (-want +got):\n%s", tt.ops, diff)
			}
			want := tt.want
			if want == "" {
				want = memberGroup
			}
			if diff := cmp.Diff(decodeAny(t, want), any(got)); diff != "" {
				t.Errorf("ApplyPatch(%s) mismatch (-want +got):\n%s", tt.ops, diff)
			}
			if diff := cmp.Diff(before, any(doc)); diff != "" {
				t.Errorf("ApplyPatch(%s) modified its input (-before +after):\n%s", tt.ops, diff)
			}
		})
	}
}

func TestApplyPatchMembersErrors(t *testing.T) {
	tests := []struct {
		name  string
		ops   string
		fail  string
		code  Code // CodeInternal: the editor's own error, errBoom
		names []string
	}{
		{"add with a value filter", `[{"op":"add","path":"members[value eq \"u1\"]","value":[{"value":"u1"}]}]`, "", CodeInvalidPath, []string{"members"}},
		{"member sub-attribute through a filter", `[{"op":"replace","path":"members[value eq \"u1\"].display","value":"X"}]`, "", CodeMutability, []string{"members"}},
		{"member value through a filter", `[{"op":"remove","path":"members[value eq \"u1\"].value"}]`, "", CodeMutability, []string{"members"}},
		{"member sub-attribute", `[{"op":"add","path":"members.value","value":"u1"}]`, "", CodeMutability, []string{"members.value"}},
		{"bad member value", `[{"op":"add","path":"members","value":[{"value":true}]}]`, "", CodeInvalidValue, []string{"members"}},
		{"unknown member sub-attribute", `[{"op":"add","path":"members","value":[{"value":"u1","role":"owner"}]}]`, "", CodeInvalidValue, []string{"role"}},
		{"remove required displayName", `[{"op":"add","path":"members","value":[{"value":"u1"}]},{"op":"remove","path":"displayName"}]`, "",
			CodeMutability, []string{"displayName"}},
		{"List fails", `[{"op":"remove","path":"members[display co \"x\"]"}]`, "List", CodeInternal, nil},
		{"Remove fails", `[{"op":"remove","path":"members[value eq \"u1\"]"}]`, "Remove", CodeInternal, nil},
		{"Remove with values fails", `[{"op":"remove","path":"members","value":[{"value":"u1"}]}]`, "Remove", CodeInternal, nil},
		{"Clear fails", `[{"op":"replace","path":"members","value":[{"value":"u1"}]}]`, "Clear", CodeInternal, nil},
		{"Add fails", `[{"op":"add","path":"members","value":[{"value":"u1"}]}]`, "Add", CodeInternal, nil},
		{"remove with an empty value array", `[{"op":"remove","path":"members","value":[]}]`, "", CodeInvalidValue, []string{"omit value"}},
		{"remove with a null value", `[{"op":"remove","path":"members","value":null}]`, "", CodeInvalidValue, []string{"omit value"}},
		{"member without its value", `[{"op":"add","path":"members","value":[{"display":"Babs"}]}]`, "", CodeInvalidValue, []string{"members[0].value is required"}},
		{"replace through a filter matching no member", `[{"op":"replace","path":"members[value eq \"nobody\"]","value":[{"value":"u2"}]}]`, "", CodeNoTarget, []string{"no member matches"}},
		{"Add after replace-filter fails", `[{"op":"replace","path":"members[value eq \"u1\"]","value":[{"value":"u2"}]}]`, "Add", CodeInternal, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := mustDecode(t, memberGroup)
			before := deepCopy(doc)
			m := newFakeMembers()
			m.fail = tt.fail
			got, err := ApplyPatch(schema.GroupType, doc, mustParsePatch(t, schema.GroupType, tt.ops), m)
			if err == nil {
				t.Fatalf("ApplyPatch(%s) = %v, want error", tt.ops, got)
			}
			if tt.code == CodeInternal {
				if !errors.Is(err, errBoom) {
					t.Fatalf("ApplyPatch(%s) = %v, want the editor's error", tt.ops, err)
				}
				if e := AsError(err); e.Code != CodeInternal || e.Msg != "internal server error" {
					t.Errorf("AsError(%v) = %q (code %d), want an internal error", err, e.Msg, e.Code)
				}
			} else {
				checkCode(t, "ApplyPatch("+tt.ops+")", err, tt.code, tt.names...)
			}
			if diff := cmp.Diff(before, any(doc)); diff != "" {
				t.Errorf("ApplyPatch(%s) modified its input (-before +after):\n%s", tt.ops, diff)
			}
		})
	}
}

// TestApplyPatchGroupWithoutEditor covers a group patched without a
// Members editor: members are then an attribute of the document.
func TestApplyPatchGroupWithoutEditor(t *testing.T) {
	doc := mustDecode(t, `{"id":"g1","displayName":"G","members":[{"value":"u1"},{"value":"u2"}]}`)
	ops := mustParsePatch(t, schema.GroupType, `[{"op":"remove","path":"members[value eq \"u1\"]"},{"op":"add","path":"members","value":[{"value":"u3","display":"x"}]}]`)
	got, err := ApplyPatch(schema.GroupType, doc, ops, nil)
	if err != nil {
		t.Fatalf("ApplyPatch = %v", err)
	}
	want := decodeAny(t, `{"id":"g1","displayName":"G","members":[{"value":"u2"},{"value":"u3"}]}`)
	if diff := cmp.Diff(want, any(got)); diff != "" {
		t.Errorf("ApplyPatch mismatch (-want +got):\n%s", diff)
	}
}

// parsedOp is a PatchOp with its path as a string, for comparisons.
type parsedOp struct {
	Op       string
	Path     string
	Value    any
	HasValue bool
}

func flatten(ops []PatchOp) []parsedOp {
	out := make([]parsedOp, 0, len(ops))
	for _, op := range ops {
		p := parsedOp{Op: op.Op, Value: op.Value, HasValue: op.HasValue}
		if op.Path != nil {
			p.Path = op.Path.String()
		}
		out = append(out, p)
	}
	return out
}

func TestParsePatch(t *testing.T) {
	tests := []struct {
		body string
		want []parsedOp
	}{
		{patchBody(`[{"op":"add","path":"displayName","value":"Babs"}]`), []parsedOp{{"add", "displayName", "Babs", true}}},
		{patchBody(`[{"op":"Add","path":"DISPLAYNAME","value":"Babs"},{"op":"REPLACE","value":{"active":false}},{"op":"Remove","path":"emails[TYPE eq \"work\"].Value"}]`),
			[]parsedOp{{"add", "displayName", "Babs", true}, {"replace", "", map[string]any{"active": false}, true}, {"remove", `emails[type eq "work"].value`, nil, false}}},
		{patchBody(`[{"op":"remove","path":"emails","value":[{"value":"u1"}]}]`),
			[]parsedOp{{"remove", "emails", []any{map[string]any{"value": "u1"}}, true}}},
		{patchBody(`[{"op":"add","path":"","value":{"a":1}}]`), []parsedOp{{"add", "", map[string]any{"a": json.Number("1")}, true}}},
		{patchBody(`[{"op":"add","path":"  ","value":null}]`), []parsedOp{{"add", "", nil, true}}},
		{patchBody(`[{"op":"add","path":"` + ent + `:Manager","value":"m1"}]`), []parsedOp{{"add", ent + ":manager", "m1", true}}},
		{patchBody(`[{"op":"add","path":"` + coreURN + `:name.givenName","value":"B"}]`), []parsedOp{{"add", "name.givenName", "B", true}}},
		{patchBody(`[{"op":"add","path":"title","value":"x","extra":"ignored"}]`), []parsedOp{{"add", "title", "x", true}}},
		// Lenient: schemas may be absent, Operations in any case.
		{`{"operations":[{"op":"add","path":"title","value":"x"}]}`, []parsedOp{{"add", "title", "x", true}}},
		{`{"SCHEMAS":["` + strings.ToUpper(PatchSchema) + `"],"OPERATIONS":[{"op":"add","path":"title","value":"x"}]}`, []parsedOp{{"add", "title", "x", true}}},
	}
	for _, tt := range tests {
		ops, err := ParsePatch(schema.UserType, mustDecode(t, tt.body))
		if err != nil {
			t.Errorf("ParsePatch(%s) = %v, want success", tt.body, err)
			continue
		}
		if diff := cmp.Diff(tt.want, flatten(ops)); diff != "" {
			t.Errorf("ParsePatch(%s) mismatch (-want +got):\n%s", tt.body, diff)
		}
	}
}

func TestParsePatchErrors(t *testing.T) {
	tests := []struct {
		rt    *schema.ResourceType
		body  string
		code  Code
		names []string
	}{
		{schema.UserType, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],"Operations":[{"op":"add","path":"title","value":"x"}]}`,
			CodeInvalidValue, []string{PatchSchema}},
		{schema.UserType, `{"schemas":"` + PatchSchema + `","Operations":[{"op":"add","path":"title","value":"x"}]}`, CodeInvalidValue, []string{"schemas"}},
		{schema.UserType, `{"schemas":["` + PatchSchema + `"]}`, CodeInvalidValue, []string{"Operations"}},
		{schema.UserType, patchBody(`[]`), CodeInvalidValue, []string{"Operations"}},
		{schema.UserType, patchBody(`{"op":"add","path":"title","value":"x"}`), CodeInvalidValue, []string{"Operations"}},
		{schema.UserType, patchBody(`null`), CodeInvalidValue, []string{"Operations"}},
		{schema.UserType, patchBody(`["add"]`), CodeInvalidSyntax, []string{"Operations[0]"}},
		{schema.UserType, patchBody(`[{"op":"add","path":"title","value":"x"},null]`), CodeInvalidSyntax, []string{"Operations[1]"}},
		{schema.UserType, patchBody(`[{"op":"add","path":"title"}]`), CodeInvalidValue, []string{"Operations[0]", "value"}},
		{schema.UserType, patchBody(`[{"op":"Replace"}]`), CodeInvalidValue, []string{"Operations[0]", "value"}},
		{schema.UserType, patchBody(`[{"op":"copy","path":"title","value":"x"}]`), CodeInvalidValue, []string{"Operations[0].op"}},
		{schema.UserType, patchBody(`[{"op":"move","from":"title","path":"nickName"}]`), CodeInvalidValue, []string{"Operations[0].op"}},
		{schema.UserType, patchBody(`[{"path":"title","value":"x"}]`), CodeInvalidValue, []string{"Operations[0].op"}},
		{schema.UserType, patchBody(`[{"op":1,"path":"title","value":"x"}]`), CodeInvalidValue, []string{"Operations[0].op"}},
		{schema.UserType, patchBody(`[{"op":"remove"}]`), CodeNoTarget, []string{"Operations[0]"}},
		{schema.UserType, patchBody(`[{"op":"remove","path":""}]`), CodeNoTarget, []string{"Operations[0]"}},
		{schema.UserType, patchBody(`[{"op":"remove","value":{"title":"x"}}]`), CodeNoTarget, []string{"Operations[0]"}},
		{schema.UserType, patchBody(`[{"op":"add","path":"favouriteColour","value":"x"}]`), CodeInvalidPath, []string{"favouriteColour"}},
		{schema.UserType, patchBody(`[{"op":"add","path":"emails[type eq","value":"x"}]`), CodeInvalidPath, []string{"emails[type eq"}},
		{schema.UserType, patchBody(`[{"op":"add","path":"name[givenName eq \"x\"]","value":"x"}]`), CodeInvalidPath, []string{"name"}},
		{schema.UserType, patchBody(`[{"op":"add","path":"` + ent + `","value":{}}]`), CodeInvalidPath, []string{ent}},
		{schema.UserType, patchBody(`[{"op":"add","path":"emails[type eq \"work\"].nope","value":"x"}]`), CodeInvalidPath, []string{"nope"}},
		{schema.UserType, patchBody(`[{"op":"add","path":"members","value":[]}]`), CodeInvalidPath, []string{"members"}},
		{schema.GroupType, patchBody(`[{"op":"add","path":"userName","value":"x"}]`), CodeInvalidPath, []string{"userName"}},
		{schema.UserType, patchBody(`[{"op":"add","path":7,"value":"x"}]`), CodeInvalidPath, []string{"Operations[0].path"}},
		{schema.UserType, patchBody(`[{"op":"add","path":"title","value":"x"},{"op":"add","path":"bad path","value":"x"}]`), CodeInvalidPath, []string{"Operations[1]"}},
	}
	for _, tt := range tests {
		ops, err := ParsePatch(tt.rt, mustDecode(t, tt.body))
		if err == nil {
			t.Errorf("ParsePatch(%s) = %v, want error", tt.body, flatten(ops))
			continue
		}
		checkCode(t, "ParsePatch("+tt.body+")", err, tt.code, tt.names...)
	}
}

func TestParsePatchTooMany(t *testing.T) {
	build := func(n int) map[string]any {
		ops := make([]any, n)
		for i := range ops {
			ops[i] = map[string]any{"op": "add", "path": "members", "value": []any{map[string]any{"value": fmt.Sprint("u", i)}}}
		}
		return map[string]any{"schemas": []any{PatchSchema}, "Operations": ops}
	}
	ops, err := ParsePatch(schema.GroupType, build(MaxPatchOperations))
	if err != nil || len(ops) != MaxPatchOperations {
		t.Errorf("ParsePatch(%d operations) = %d operations, %v; want success", MaxPatchOperations, len(ops), err)
	}
	_, err = ParsePatch(schema.GroupType, build(MaxPatchOperations+1))
	checkCode(t, fmt.Sprintf("ParsePatch(%d operations)", MaxPatchOperations+1), err, CodeTooMany, fmt.Sprint(MaxPatchOperations))
}
