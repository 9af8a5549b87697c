package scim

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/scimgate/scimgate/scim/schema"
)

// renderUserDoc is a full stored user document plus the attributes the
// directory adds (id, meta, groups), in no particular key order, with a
// password that must never be rendered.
const renderUserDoc = `{
	"meta":{"version":"W/\"3\"","location":"https://example.com/v2/Users/u1","lastModified":"2011-05-13T04:42:34Z","created":"2010-01-23T04:56:22Z","resourceType":"User"},
	"` + ent + `":{"manager":{"displayName":"John Smith","value":"m1"},"department":"Tour Operations"},
	"groups":[{"type":"direct","display":"Tour Guides","value":"g1"}],
	"emails":[{"primary":true,"type":"work","value":"bjensen@example.com"},{"type":"home","value":"babs@jensen.org"}],
	"password":"t1meMa$heen",
	"active":true,
	"displayName":"Babs Jensen",
	"name":{"givenName":"Barbara","familyName":"Jensen"},
	"userName":"bjensen",
	"externalId":"701984",
	"id":"u1"
}`

// Pieces of the expected renderings, in schema order.
const (
	rSchemas    = `"schemas":["` + coreURN + `"]`
	rSchemasExt = `"schemas":["` + coreURN + `","` + ent + `"]`
	rID         = `"id":"u1"`
	rExternalID = `"externalId":"701984"`
	rUserName   = `"userName":"bjensen"`
	rName       = `"name":{"familyName":"Jensen","givenName":"Barbara"}`
	rDisplay    = `"displayName":"Babs Jensen"`
	rActive     = `"active":true`
	rEmails     = `"emails":[{"value":"bjensen@example.com","type":"work","primary":true},{"value":"babs@jensen.org","type":"home"}]`
	rGroups     = `"groups":[{"value":"g1","display":"Tour Guides","type":"direct"}]`
	rExt        = `"` + ent + `":{"department":"Tour Operations","manager":{"value":"m1","displayName":"John Smith"}}`
	rMeta       = `"meta":{"resourceType":"User","created":"2010-01-23T04:56:22Z","lastModified":"2011-05-13T04:42:34Z","location":"https://example.com/v2/Users/u1","version":"W/\"3\""}`
)

func obj(members ...string) string { return "{" + strings.Join(members, ",") + "}" }

var renderTests = []struct {
	name, attrs, excluded string
	want                  string
}{
	{"default", "", "",
		obj(rSchemasExt, rID, rExternalID, rUserName, rName, rDisplay, rActive, rEmails, rGroups, rExt, rMeta)},
	{"attributes selects plus always", "userName", "", obj(rSchemas, rID, rUserName)},
	{"attributes in any case", "USERNAME,DisplayName", "", obj(rSchemas, rID, rUserName, rDisplay)},
	{"attributes with spaces", " userName , active ", "", obj(rSchemas, rID, rUserName, rActive)},
	{"URN-qualified core attribute", coreURN + ":userName", "", obj(rSchemas, rID, rUserName)},
	{"returned=never is never rendered", "password", "", obj(rSchemas, rID)},
	{"returned=never with others", "password,userName", "", obj(rSchemas, rID, rUserName)},
	{"returned=always even when excluded", "", "id", obj(rSchemasExt, rID, rExternalID, rUserName, rName, rDisplay, rActive, rEmails, rGroups, rExt, rMeta)},
	{"returned=always when only id is asked", "id", "", obj(rSchemas, rID)},
	{"externalId is not always", "externalId", "", obj(rSchemas, rID, rExternalID)},
	{"sub-attribute selection", "name.givenName", "", obj(rSchemas, rID, `"name":{"givenName":"Barbara"}`)},
	{"sub-attribute selection in any case", "NAME.GIVENNAME", "", obj(rSchemas, rID, `"name":{"givenName":"Barbara"}`)},
	{"multi-valued sub-attribute selection", "emails.value", "",
		obj(rSchemas, rID, `"emails":[{"value":"bjensen@example.com"},{"value":"babs@jensen.org"}]`)},
	{"two sub-attributes", "emails.value,emails.type", "",
		obj(rSchemas, rID, `"emails":[{"value":"bjensen@example.com","type":"work"},{"value":"babs@jensen.org","type":"home"}]`)},
	{"whole attribute and a sub-attribute", "emails,emails.value", "", obj(rSchemas, rID, rEmails)},
	{"sub-attribute that no element has", "emails.display", "", obj(rSchemas, rID)},
	{"read-only computed attribute", "groups.display", "", obj(rSchemas, rID, `"groups":[{"display":"Tour Guides"}]`)},
	{"meta sub-attribute", "meta.version", "", obj(rSchemas, rID, `"meta":{"version":"W/\"3\""}`)},
	{"extension attribute", ent + ":department", "", obj(rSchemasExt, rID, `"`+ent+`":{"department":"Tour Operations"}`)},
	{"extension attribute in any case", strings.ToUpper(ent) + ":DEPARTMENT", "", obj(rSchemasExt, rID, `"`+ent+`":{"department":"Tour Operations"}`)},
	{"extension sub-attribute", ent + ":manager.value", "", obj(rSchemasExt, rID, `"`+ent+`":{"manager":{"value":"m1"}}`)},
	{"whole extension", ent, "", obj(rSchemasExt, rID, rExt)},
	{"whole extension and one of its attributes", ent + "," + ent + ":department", "", obj(rSchemasExt, rID, rExt)},
	{"extension attribute the document lacks", ent + ":costCenter", "", obj(rSchemas, rID)},
	{"excluded whole extension", "", ent, obj(rSchemas, rID, rExternalID, rUserName, rName, rDisplay, rActive, rEmails, rGroups, rMeta)},
	{"excluded extension attribute", "", ent + ":manager", obj(rSchemasExt, rID, rExternalID, rUserName, rName, rDisplay, rActive, rEmails, rGroups,
		`"`+ent+`":{"department":"Tour Operations"}`, rMeta)},
	{"excluded extension sub-attribute", "", ent + ":manager.displayName", obj(rSchemasExt, rID, rExternalID, rUserName, rName, rDisplay, rActive, rEmails, rGroups,
		`"`+ent+`":{"department":"Tour Operations","manager":{"value":"m1"}}`, rMeta)},
	{"excluding every extension attribute drops it from schemas", "", ent + ":manager," + ent + ":department",
		obj(rSchemas, rID, rExternalID, rUserName, rName, rDisplay, rActive, rEmails, rGroups, rMeta)},
	{"excluded attributes", "", "emails,groups,meta,name,externalId", obj(rSchemasExt, rID, rUserName, rDisplay, rActive, rExt)},
	{"excluded in several lists", "", "emails,groups", obj(rSchemasExt, rID, rExternalID, rUserName, rName, rDisplay, rActive, rExt, rMeta)},
	{"excluded sub-attributes", "", "name.givenName,emails.type,emails.primary,meta.location,meta.version,meta.created,meta.lastModified",
		obj(rSchemasExt, rID, rExternalID, rUserName, `"name":{"familyName":"Jensen"}`, rDisplay, rActive,
			`"emails":[{"value":"bjensen@example.com"},{"value":"babs@jensen.org"}]`, rGroups, rExt, `"meta":{"resourceType":"User"}`)},
	{"excluding every sub-attribute present drops the attribute", "", "name.givenName,name.familyName",
		obj(rSchemasExt, rID, rExternalID, rUserName, rDisplay, rActive, rEmails, rGroups, rExt, rMeta)},
	{"attributes and excludedAttributes", "name,emails", "name.familyName", obj(rSchemas, rID, `"name":{"givenName":"Barbara"}`, rEmails)},
}

func TestRender(t *testing.T) {
	doc := mustDecode(t, renderUserDoc)
	for _, tt := range renderTests {
		t.Run(tt.name, func(t *testing.T) {
			got := render(t, schema.UserType, doc, tt.attrs, tt.excluded)
			if got != tt.want {
				t.Errorf("Render(attributes=%q, excludedAttributes=%q) =\n%s\nwant\n%s", tt.attrs, tt.excluded, got, tt.want)
			}
			if !json.Valid([]byte(got)) {
				t.Errorf("Render(attributes=%q, excludedAttributes=%q) = %s, which is not valid JSON", tt.attrs, tt.excluded, got)
			}
		})
	}
}

func TestRenderProjectionFromSeveralLists(t *testing.T) {
	doc := mustDecode(t, renderUserDoc)
	p, err := ParseProjection(schema.UserType, []string{"userName", "name.givenName,active"}, []string{"id"})
	if err != nil {
		t.Fatalf("ParseProjection = %v", err)
	}
	var buf bytes.Buffer
	Render(&buf, schema.UserType, doc, p)
	want := obj(rSchemas, rID, rUserName, `"name":{"givenName":"Barbara"}`, rActive)
	if got := buf.String(); got != want {
		t.Errorf("Render = %s, want %s", got, want)
	}
}

func TestRenderShapes(t *testing.T) {
	tests := []struct {
		name string
		rt   *schema.ResourceType
		doc  string
		want string
	}{
		{"empty document", schema.UserType, `{}`, `{"schemas":["` + coreURN + `"]}`},
		{"empty extension is not listed", schema.UserType, `{"id":"u1","` + ent + `":{}}`, obj(rSchemas, rID)},
		{"extension of only unknown keys is not listed", schema.UserType, `{"id":"u1","` + ent + `":{"x":"y"}}`, obj(rSchemas, rID)},
		{"unknown top-level keys are not rendered", schema.UserType, `{"id":"u1","x":"y","urn:x":{"a":1}}`, obj(rSchemas, rID)},
		{"null values are not rendered", schema.UserType, `{"id":"u1","userName":null,"name":null}`, obj(rSchemas, rID)},
		{"empty complex values are not rendered", schema.UserType, `{"id":"u1","name":{},"emails":[{},"x",{"foo":"bar"}]}`, obj(rSchemas, rID)},
		{"complex values of the wrong shape are not rendered", schema.UserType, `{"id":"u1","name":"Babs","emails":{"value":"x"}}`, obj(rSchemas, rID)},
		{"numbers and odd values", schema.UserType, `{"id":"u1","userName":12.50,"active":"yes"}`,
			obj(rSchemas, rID, `"userName":12.50`, `"active":"yes"`)},
		{"group", schema.GroupType,
			`{"members":[{"type":"User","display":"Babs","value":"u1","$ref":"https://example.com/v2/Users/u1"},{"value":"g2","type":"Group"}],"displayName":"Tour Guides","id":"g1",
			  "meta":{"resourceType":"Group"}}`,
			`{"schemas":["` + groupURN + `"],"id":"g1","displayName":"Tour Guides","members":[{"value":"u1","$ref":"https://example.com/v2/Users/u1","type":"User","display":"Babs"},{"value":"g2","type":"Group"}],"meta":{"resourceType":"Group"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			Render(&buf, tt.rt, mustDecode(t, tt.doc), nil)
			if got := buf.String(); got != tt.want {
				t.Errorf("Render(%s) =\n%s\nwant\n%s", tt.doc, got, tt.want)
			}
		})
	}
}

func TestRenderGroupProjection(t *testing.T) {
	doc := mustDecode(t, `{"id":"g1","displayName":"Tour Guides","members":[{"value":"u1","display":"Babs","type":"User"}]}`)
	tests := []struct{ attrs, excluded, want string }{
		{"", "members", `{"schemas":["` + groupURN + `"],"id":"g1","displayName":"Tour Guides"}`},
		{"", "MEMBERS", `{"schemas":["` + groupURN + `"],"id":"g1","displayName":"Tour Guides"}`},
		{"", "members.display", `{"schemas":["` + groupURN + `"],"id":"g1","displayName":"Tour Guides","members":[{"value":"u1","type":"User"}]}`},
		{"members.value", "", `{"schemas":["` + groupURN + `"],"id":"g1","members":[{"value":"u1"}]}`},
		{"displayName", "", `{"schemas":["` + groupURN + `"],"id":"g1","displayName":"Tour Guides"}`},
	}
	for _, tt := range tests {
		if got := render(t, schema.GroupType, doc, tt.attrs, tt.excluded); got != tt.want {
			t.Errorf("Render(group, attributes=%q, excludedAttributes=%q) = %s, want %s", tt.attrs, tt.excluded, got, tt.want)
		}
	}
}

func TestProjectionWants(t *testing.T) {
	members := schema.Group.Attr("members")
	displayName := schema.Group.Attr("displayName")
	groups := schema.User.Attr("groups")
	password := schema.User.Attr("password")
	id := schema.Common.Attr("id")
	tests := []struct {
		rt              *schema.ResourceType
		attrs, excluded string
		a               *schema.Attribute
		want            bool
	}{
		{schema.GroupType, "", "", members, true},
		{schema.GroupType, "", "members", members, false},
		{schema.GroupType, "", "Members", members, false},
		{schema.GroupType, "", "members.display", members, true},
		{schema.GroupType, "", "displayName", members, true},
		{schema.GroupType, "displayName", "", members, false},
		{schema.GroupType, "displayName", "", displayName, true},
		{schema.GroupType, "members.value", "", members, true},
		{schema.GroupType, "id", "", members, false},
		{schema.GroupType, "", "id", id, true},
		{schema.UserType, "", "", groups, true},
		{schema.UserType, "", "groups", groups, false},
		{schema.UserType, "userName", "", groups, false},
		{schema.UserType, "groups.value", "", groups, true},
		{schema.UserType, "", "", password, false},
		{schema.UserType, "password", "", password, false},
		{schema.UserType, ent, "", groups, false},
	}
	for _, tt := range tests {
		p, err := ParseProjection(tt.rt, split(tt.attrs), split(tt.excluded))
		if err != nil {
			t.Fatalf("ParseProjection(%q, %q) = %v", tt.attrs, tt.excluded, err)
		}
		if got := p.Wants(tt.a); got != tt.want {
			t.Errorf("ParseProjection(%s, %q, %q).Wants(%s) = %v, want %v", tt.rt.Name, tt.attrs, tt.excluded, tt.a.Name, got, tt.want)
		}
	}
	var nilProj *Projection
	if !nilProj.Wants(members) || !(&Projection{}).Wants(members) {
		t.Errorf("nil and zero Projection.Wants(members) = false, want true")
	}
	if nilProj.Wants(password) {
		t.Errorf("nil Projection.Wants(password) = true, want false")
	}
}

func TestParseProjectionErrors(t *testing.T) {
	tests := []struct {
		rt              *schema.ResourceType
		attrs, excluded []string
		names           []string
	}{
		{schema.UserType, []string{"favouriteColour"}, nil, []string{"attributes", "favouriteColour"}},
		{schema.UserType, []string{"userName,nope"}, nil, []string{"attributes", "nope"}},
		{schema.UserType, []string{"userName", "nope"}, nil, []string{"nope"}},
		{schema.UserType, nil, []string{"nope"}, []string{"excludedAttributes", "nope"}},
		{schema.UserType, []string{"name.nickName"}, nil, []string{"name.nickName"}},
		{schema.UserType, []string{"userName.x"}, nil, []string{"userName.x"}},
		{schema.UserType, []string{"name.givenName.x"}, nil, []string{"name.givenName.x"}},
		{schema.UserType, []string{ent + ":badge"}, nil, []string{ent + ":badge"}},
		{schema.UserType, []string{coreURN}, nil, []string{coreURN}},
		{schema.UserType, []string{`emails[type eq "work"]`}, nil, []string{"emails"}},
		{schema.UserType, []string{"urn:x:y"}, nil, []string{"urn:x:y"}},
		{schema.GroupType, []string{"userName"}, nil, []string{"userName"}},
		{schema.GroupType, nil, []string{ent}, []string{ent}},
	}
	for _, tt := range tests {
		p, err := ParseProjection(tt.rt, tt.attrs, tt.excluded)
		if err == nil {
			t.Errorf("ParseProjection(%q, %q) = %v, want error", tt.attrs, tt.excluded, p)
			continue
		}
		checkCode(t, "ParseProjection", err, CodeInvalidValue, tt.names...)
	}
	// Empty entries are ignored.
	p, err := ParseProjection(schema.UserType, []string{"", " , ,"}, []string{","})
	if err != nil {
		t.Fatalf("ParseProjection of empty lists = %v", err)
	}
	if !p.Wants(schema.User.Attr("emails")) {
		t.Errorf("ParseProjection of empty lists does not select the default set")
	}
}

func TestWriteString(t *testing.T) {
	tests := []struct {
		in, want string
		decoded  string // what encoding/json reads back
	}{
		{"plain", `"plain"`, "plain"},
		{"", `""`, ""},
		{`say "hi"`, `"say \"hi\""`, `say "hi"`},
		{`back\slash`, `"back\\slash"`, `back\slash`},
		{"tab\there\nline\rcr", `"tab\there\nline\rcr"`, "tab\there\nline\rcr"},
		{"\x00\x01\x08\x0c\x1f\x7f", `"\u0000\u0001\u0008\u000c\u001f` + "\x7f" + `"`, "\x00\x01\x08\x0c\x1f\x7f"},
		{"bad\xffutf8", `"bad\ufffdutf8"`, "bad\ufffdutf8"},
		{"\xc3", `"\ufffd"`, "\ufffd"},
		{"\xe2\x80", `"\ufffd\ufffd"`, "\ufffd\ufffd"},
		{"\xed\xa0\x80", `"\ufffd\ufffd\ufffd"`, "\ufffd\ufffd\ufffd"}, // a UTF-16 surrogate
		{"line\u2028para\u2029end", `"line\u2028para\u2029end"`, "line\u2028para\u2029end"},
		{"élodie 😀 <a&b>", `"élodie 😀 <a&b>"`, "élodie 😀 <a&b>"},
		{"\ufffd", "\"\ufffd\"", "\ufffd"},
	}
	for _, tt := range tests {
		var buf bytes.Buffer
		writeString(&buf, tt.in)
		if got := buf.String(); got != tt.want {
			t.Errorf("writeString(%q) = %s, want %s", tt.in, got, tt.want)
		}
		var back string
		if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
			t.Errorf("writeString(%q) = %s, which encoding/json rejects: %v", tt.in, buf.String(), err)
			continue
		}
		if back != tt.decoded {
			t.Errorf("writeString(%q) reads back as %q, want %q", tt.in, back, tt.decoded)
		}
	}
}

func TestRenderEscapesAndRoundTrips(t *testing.T) {
	odd := "q\"b\\c\x00\x1f\n\u2028\u2029 😀"
	doc := map[string]any{
		"id":       "u\"1",
		"userName": odd,
		"name":     map[string]any{"givenName": "bad\xffbyte"},
		"emails":   []any{map[string]any{"value": odd, "type": "\t"}},
		ent:        map[string]any{"department": "</script>"},
	}
	var buf bytes.Buffer
	Render(&buf, schema.UserType, doc, nil)
	var got map[string]any
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatalf("Render = %s, which is not valid JSON: %v", buf.String(), err)
	}
	want := map[string]any{
		"schemas":  []any{coreURN, ent},
		"id":       "u\"1",
		"userName": odd,
		"name":     map[string]any{"givenName": "bad\ufffdbyte"},
		"emails":   []any{map[string]any{"value": odd, "type": "\t"}},
		ent:        map[string]any{"department": "</script>"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Render round trip mismatch (-want +got):\n%s", diff)
	}
	if strings.ContainsRune(buf.String(), '\u2028') || strings.ContainsRune(buf.String(), '\u2029') {
		t.Errorf("Render = %s, want U+2028 and U+2029 escaped", buf.String())
	}
}

type marshalsOddly struct{ A int }

type failsToMarshal struct{}

func (failsToMarshal) MarshalJSON() ([]byte, error) { return nil, errors.New("no") }
func (failsToMarshal) String() string               { return "unmarshalable" }

func TestWriteJSON(t *testing.T) {
	tests := []struct {
		in   any
		want string
	}{
		{nil, `null`},
		{true, `true`},
		{json.Number("1.50"), `1.50`},
		{1.5, `1.5`},
		{math.Inf(1), `null`},
		{math.NaN(), `null`},
		{7, `7`},
		{int64(-7), `-7`},
		{[]any{"a", 1, nil}, `["a",1,null]`},
		{[]string{"a", `"`}, `["a","\""]`},
		{[]any{}, `[]`},
		{map[string]any{"b": 1, "a": map[string]any{"d": "x", "c": []any{}}}, `{"a":{"c":[],"d":"x"},"b":1}`},
		{map[string]any{}, `{}`},
		{marshalsOddly{A: 1}, `{"A":1}`},
		{failsToMarshal{}, `"unmarshalable"`},
	}
	for _, tt := range tests {
		var buf bytes.Buffer
		writeJSON(&buf, tt.in)
		if got := buf.String(); got != tt.want {
			t.Errorf("writeJSON(%#v) = %s, want %s", tt.in, got, tt.want)
		}
		if !json.Valid(buf.Bytes()) {
			t.Errorf("writeJSON(%#v) = %s, which is not valid JSON", tt.in, buf.String())
		}
	}
}
