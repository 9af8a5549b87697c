package scim

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/scimgate/scimgate/scim/schema"
)

// fuzzUser and fuzzGroup are the stored documents PATCH fuzzing starts from.
var (
	fuzzUser  = patchUser
	fuzzGroup = `{"id":"g1","displayName":"Tour Guides"}`
)

// checkStored checks that doc, a successful result of Normalize or
// ApplyPatch, renders to valid JSON that normalises back to doc (less the
// read-only id), so that what is stored can always be served and PUT back.
func checkStored(t *testing.T, call string, rt *schema.ResourceType, doc map[string]any) {
	t.Helper()
	var buf bytes.Buffer
	Render(&buf, rt, doc, nil)
	if !json.Valid(buf.Bytes()) {
		t.Fatalf("%s rendered as invalid JSON: %s", call, buf.Bytes())
	}
	raw, err := DecodeJSON(buf.Bytes())
	if err != nil {
		t.Fatalf("%s rendered as %s, which DecodeJSON rejects: %v", call, buf.Bytes(), err)
	}
	again, err := Normalize(rt, raw)
	if err != nil {
		t.Fatalf("%s rendered as %s, which Normalize rejects: %v", call, buf.Bytes(), err)
	}
	want := deepCopy(doc).(map[string]any)
	delete(want, "id")
	if diff := cmp.Diff(want, again); diff != "" {
		t.Fatalf("%s rendered as %s, which normalises differently (-want +got):\n%s", call, buf.Bytes(), diff)
	}
}

func FuzzNormalize(f *testing.F) {
	for _, tt := range normalizeTests {
		f.Add([]byte(tt.body))
	}
	for _, tt := range normalizeErrorTests {
		f.Add([]byte(tt.body))
	}
	f.Add([]byte(renderUserDoc))
	f.Add([]byte(`{"userName":"a\u2028\"\\","name":{"givenName":"\ud800"},"emails":[{"value":"x","primary":"TRUE"}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, rt := range []*schema.ResourceType{schema.UserType, schema.GroupType} {
			raw, err := DecodeJSON(body)
			checkClientErr(t, "DecodeJSON", err)
			if err != nil {
				return
			}
			before := deepCopy(raw)
			doc, err := Normalize(rt, raw)
			checkClientErr(t, "Normalize("+rt.Name+")", err)
			if diff := cmp.Diff(before, any(raw)); diff != "" {
				t.Fatalf("Normalize(%s, %s) modified its input:\n%s", rt.Name, body, diff)
			}
			if err != nil {
				continue
			}
			doc2, err := Normalize(rt, raw)
			if err != nil || !cmp.Equal(doc, doc2) {
				t.Fatalf("Normalize(%s, %s) is not deterministic: %v then %v, %v", rt.Name, body, doc, doc2, err)
			}
			checkStored(t, "Normalize("+rt.Name+")", rt, doc)
		}
	})
}

func FuzzParsePatch(f *testing.F) {
	for _, tt := range patchTests {
		f.Add([]byte(patchBody(tt.ops)))
	}
	for _, tt := range patchErrorTests {
		f.Add([]byte(patchBody(tt.ops)))
	}
	for _, tt := range memberTests {
		f.Add([]byte(patchBody(tt.ops)))
	}
	f.Add([]byte(`{"Operations":[{"op":"remove","path":"members[value eq \"u1\" or display co \"a\"]"}]}`))
	f.Add([]byte(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"add","value":{"schemas":[],"id":"g1"}}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		raw, err := DecodeJSON(body)
		checkClientErr(t, "DecodeJSON", err)
		if err != nil {
			return
		}
		for _, c := range []struct {
			rt      *schema.ResourceType
			doc     string
			members func() Members
		}{
			{schema.UserType, fuzzUser, func() Members { return nil }},
			{schema.GroupType, fuzzGroup, func() Members { return newFakeMembers() }},
			{schema.GroupType, `{"id":"g1","displayName":"G","members":[{"value":"u1","type":"User"}]}`, func() Members { return nil }},
		} {
			ops, err := ParsePatch(c.rt, raw)
			checkClientErr(t, "ParsePatch("+c.rt.Name+")", err)
			if err != nil {
				continue
			}
			doc := mustDecode(t, c.doc)
			before := deepCopy(doc)
			out, err := ApplyPatch(c.rt, doc, ops, c.members())
			checkClientErr(t, "ApplyPatch("+c.rt.Name+")", err)
			if diff := cmp.Diff(before, any(doc)); diff != "" {
				t.Fatalf("ApplyPatch(%s, %s) modified its input:\n%s", c.rt.Name, body, diff)
			}
			if err != nil {
				if out != nil {
					t.Fatalf("ApplyPatch(%s, %s) = %v with error %v, want nil", c.rt.Name, body, out, err)
				}
				continue
			}
			checkStored(t, "ApplyPatch("+c.rt.Name+", "+string(body)+")", c.rt, out)
		}
	})
}

func FuzzProjection(f *testing.F) {
	for _, tt := range renderTests {
		f.Add(tt.attrs, tt.excluded)
	}
	f.Add("members,members.value", "members.display")
	f.Add("nope", "")
	f.Add("", "urn:x:y")
	f.Add(`emails[type eq "work"]`, "")
	user := mustDecode(f, renderUserDoc)
	group := mustDecode(f, `{"id":"g1","displayName":"G","members":[{"value":"u1","display":"Babs","type":"User"}],"meta":{"resourceType":"Group"}}`)
	f.Fuzz(func(t *testing.T, attrs, excluded string) {
		for _, c := range []struct {
			rt  *schema.ResourceType
			doc map[string]any
		}{{schema.UserType, user}, {schema.GroupType, group}} {
			p, err := ParseProjection(c.rt, strings.Split(attrs, "&"), strings.Split(excluded, "&"))
			checkClientErr(t, "ParseProjection", err)
			if err != nil {
				continue
			}
			for _, a := range c.rt.Schema.Attributes {
				p.Wants(a)
			}
			var buf bytes.Buffer
			Render(&buf, c.rt, c.doc, p)
			var got map[string]any
			if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
				t.Fatalf("Render(attributes=%q, excludedAttributes=%q) = %s, which is not valid JSON: %v", attrs, excluded, buf.Bytes(), err)
			}
			if got["id"] != "u1" && got["id"] != "g1" {
				t.Fatalf("Render(attributes=%q, excludedAttributes=%q) = %s, without id", attrs, excluded, buf.Bytes())
			}
			if _, ok := got["password"]; ok {
				t.Fatalf("Render(attributes=%q, excludedAttributes=%q) = %s, with the password", attrs, excluded, buf.Bytes())
			}
		}
	})
}

func FuzzSearchBody(f *testing.F) {
	f.Add([]byte(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],"filter":"userName eq \"a\"","sortBy":"name.familyName",
		"sortOrder":"descending","startIndex":1,"count":10,"attributes":["userName"],"excludedAttributes":["emails"]}`))
	f.Add([]byte(`{"filter":"members[value eq \"x\"]","sortBy":"displayName","count":-1}`))
	f.Add([]byte(`{"count":1e3,"startIndex":"1"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		raw, err := DecodeJSON(body)
		if err != nil {
			return
		}
		q, err := ParseSearchBody(raw)
		checkClientErr(t, "ParseSearchBody", err)
		if err != nil {
			return
		}
		if q.StartIndex < 1 || q.Count < -1 {
			t.Fatalf("ParseSearchBody(%s) = startIndex %d, count %d", body, q.StartIndex, q.Count)
		}
		for _, rt := range []*schema.ResourceType{schema.UserType, schema.GroupType} {
			_, err := q.Compile(rt)
			checkClientErr(t, "Compile", err)
		}
	})
}
