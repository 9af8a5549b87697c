package scim

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/scimgate/scimgate/scim/filter"
	"github.com/scimgate/scimgate/scim/schema"
)

var normalizeTests = []struct {
	name string
	rt   *schema.ResourceType
	body string
	want string // the normalised document
}{
	{
		name: "canonical names from any case",
		rt:   schema.UserType,
		body: `{"SCHEMAS":["URN:IETF:PARAMS:SCIM:SCHEMAS:CORE:2.0:USER"],"USERNAME":"bjensen","Name":{"GIVENNAME":"Barbara","familyname":"Jensen"},
			"Emails":[{"VALUE":"b@example.com","Type":"work","PRIMARY":true}],"ExternalID":"e1","Active":true}`,
		want: `{"userName":"bjensen","name":{"givenName":"Barbara","familyName":"Jensen"},
			"emails":[{"value":"b@example.com","type":"work","primary":true}],"externalId":"e1","active":true}`,
	},
	{
		// RFC 7643 section 2.4: the same (type, value) is kept once, under
		// the sub-attributes' caseExact rules; a repeat marked primary makes
		// the kept value primary. Group members are not de-duplicated here.
		name: "duplicate (type, value) pairs are kept once",
		rt:   schema.UserType,
		body: `{"userName":"bjensen","emails":[{"value":"alice@home.org","type":"home"},{"value":"b@w","type":"work"},
			{"value":"ALICE@home.org","type":"HOME","primary":true,"display":"dup"},{"value":"alice@home.org","type":"work"},{"value":"alice@home.org"}],
			"roles":[{"value":"r"},{"value":"r"}],"photos":[{"value":"https://x/A"},{"value":"https://x/a"}],
			"addresses":[{"locality":"X"},{"locality":"X"},{"locality":"Y"}]}`,
		want: `{"userName":"bjensen","emails":[{"value":"alice@home.org","type":"home","primary":true},{"value":"b@w","type":"work"},
			{"value":"alice@home.org","type":"work"},{"value":"alice@home.org"}],
			"roles":[{"value":"r"}],"photos":[{"value":"https://x/A"},{"value":"https://x/a"}],
			"addresses":[{"locality":"X"},{"locality":"Y"}]}`,
	},
	{
		name: "group members are not de-duplicated here",
		rt:   schema.GroupType,
		body: `{"displayName":"G","members":[{"value":"u1"},{"value":"u1"}]}`,
		want: `{"displayName":"G","members":[{"value":"u1"},{"value":"u1"}]}`,
	},
	{
		name: "URN-qualified core attributes",
		rt:   schema.UserType,
		body: `{"urn:ietf:params:scim:schemas:core:2.0:User:userName":"bjensen",
			"URN:IETF:PARAMS:SCIM:SCHEMAS:CORE:2.0:USER:displayName":"Babs",
			"urn:ietf:params:scim:schemas:core:2.0:User:name.givenName":"Barbara",
			"urn:ietf:params:scim:schemas:core:2.0:User:externalId":"e1"}`,
		want: `{"userName":"bjensen","displayName":"Babs","name":{"givenName":"Barbara"},"externalId":"e1"}`,
	},
	{
		name: "extension object under its URN",
		rt:   schema.UserType,
		body: `{"schemas":["` + coreURN + `","` + ent + `"],"userName":"bjensen",
			"` + ent + `":{"department":"Tour Operations","employeeNumber":"701984","manager":{"value":"m1","$ref":"../Users/m1"}}}`,
		want: `{"userName":"bjensen","` + ent + `":{"department":"Tour Operations","employeeNumber":"701984","manager":{"value":"m1","$ref":"../Users/m1"}}}`,
	},
	{
		name: "extension object under its URN in another case",
		rt:   schema.UserType,
		body: `{"schemas":["` + coreURN + `","URN:IETF:PARAMS:SCIM:SCHEMAS:EXTENSION:ENTERPRISE:2.0:USER"],"userName":"bjensen",
			"urn:ietf:params:scim:schemas:extension:Enterprise:2.0:user":{"DEPARTMENT":"Ops","Manager":{"VALUE":"m1"}}}`,
		want: `{"userName":"bjensen","` + ent + `":{"department":"Ops","manager":{"value":"m1"}}}`,
	},
	{
		name: "extension attributes as fully qualified top-level keys",
		rt:   schema.UserType,
		body: `{"userName":"bjensen","` + ent + `:department":"Ops","` + ent + `:manager.value":"m1",
			"URN:IETF:PARAMS:SCIM:SCHEMAS:EXTENSION:ENTERPRISE:2.0:USER:COSTCENTER":"4130"}`,
		want: `{"userName":"bjensen","` + ent + `":{"department":"Ops","costCenter":"4130","manager":{"value":"m1"}}}`,
	},
	{
		name: "extension object and qualified key merge",
		rt:   schema.UserType,
		body: `{"userName":"bjensen","` + ent + `":{"department":"Ops"},"` + ent + `:division":"EMEA"}`,
		want: `{"userName":"bjensen","` + ent + `":{"department":"Ops","division":"EMEA"}}`,
	},
	{
		name: "readOnly attributes dropped",
		rt:   schema.UserType,
		body: `{"id":"u1","userName":"bjensen",
			"meta":{"resourceType":"User","created":"2010-01-23T04:56:22Z","version":"W/\"1\""},
			"groups":[{"value":"g1","display":"Admins"}],
			"` + ent + `":{"manager":{"value":"m1","displayName":"The Boss"}}}`,
		want: `{"userName":"bjensen","` + ent + `":{"manager":{"value":"m1"}}}`,
	},
	{
		name: "readOnly values are dropped unchecked",
		rt:   schema.UserType,
		body: `{"id":42,"userName":"bjensen","meta":"not an object","groups":"nor this"}`,
		want: `{"userName":"bjensen"}`,
	},
	{
		name: "extension left empty by readOnly sub-attributes is dropped",
		rt:   schema.UserType,
		body: `{"userName":"bjensen","` + ent + `":{"manager":{"displayName":"The Boss"}},"` + ent + `:manager.displayName":"x"}`,
		want: `{"userName":"bjensen"}`,
	},
	{
		name: "members.display dropped",
		rt:   schema.GroupType,
		body: `{"schemas":["` + groupURN + `"],"displayName":"Tour Guides","id":"g1",
			"members":[{"value":"u1","display":"Babs","type":"User","$ref":"../Users/u1"},{"value":"u2","display":"Mandy"}]}`,
		want: `{"displayName":"Tour Guides","members":[{"value":"u1","type":"User","$ref":"../Users/u1"},{"value":"u2"}]}`,
	},
	{
		name: "password dropped",
		rt:   schema.UserType,
		body: `{"userName":"bjensen","password":"t1meMa$heen","PASSWORD":{"even":"an object"}}`,
		want: `{"userName":"bjensen"}`,
	},
	{
		name: "Entra string booleans",
		rt:   schema.UserType,
		body: `{"userName":"bjensen","active":"True","emails":[{"value":"a@x","primary":"false"},{"value":"b@x","primary":" TRUE "}]}`,
		want: `{"userName":"bjensen","active":true,"emails":[{"value":"a@x","primary":false},{"value":"b@x","primary":true}]}`,
	},
	{
		name: "Entra string boolean False",
		rt:   schema.UserType,
		body: `{"userName":"bjensen","active":"False"}`,
		want: `{"userName":"bjensen","active":false}`,
	},
	{
		name: "manager as a bare string",
		rt:   schema.UserType,
		body: `{"userName":"bjensen","` + ent + `":{"manager":"m1"}}`,
		want: `{"userName":"bjensen","` + ent + `":{"manager":{"value":"m1"}}}`,
	},
	{
		name: "qualified manager as a bare string",
		rt:   schema.UserType,
		body: `{"userName":"bjensen","` + ent + `:manager":"m1"}`,
		want: `{"userName":"bjensen","` + ent + `":{"manager":{"value":"m1"}}}`,
	},
	{
		name: "single value for a multi-valued attribute is wrapped",
		rt:   schema.UserType,
		body: `{"userName":"bjensen","emails":{"value":"b@x","type":"work"},"roles":"admin"}`,
		want: `{"userName":"bjensen","emails":[{"value":"b@x","type":"work"}],"roles":[{"value":"admin"}]}`,
	},
	{
		name: "bare strings in a multi-valued list become values",
		rt:   schema.UserType,
		body: `{"userName":"bjensen","emails":["a@x","b@x"]}`,
		want: `{"userName":"bjensen","emails":[{"value":"a@x"},{"value":"b@x"}]}`,
	},
	{
		name: "single member object is wrapped",
		rt:   schema.GroupType,
		body: `{"displayName":"g","members":{"value":"u1"}}`,
		want: `{"displayName":"g","members":[{"value":"u1"}]}`,
	},
	{
		name: "nulls and empty values dropped",
		rt:   schema.UserType,
		body: `{"userName":"bjensen","displayName":null,"emails":[],"phoneNumbers":[null,{}],"name":{"givenName":null},
			"addresses":null,"externalId":null,"` + ent + `":{},"` + ent + `:department":null,"x509Certificates":[{"value":null}]}`,
		want: `{"userName":"bjensen"}`,
	},
	{
		name: "null extension object",
		rt:   schema.UserType,
		body: `{"userName":"bjensen","` + ent + `":null}`,
		want: `{"userName":"bjensen"}`,
	},
	{
		name: "empty members dropped",
		rt:   schema.GroupType,
		body: `{"displayName":"g","members":[]}`,
		want: `{"displayName":"g"}`,
	},
	{
		name: "one primary is fine",
		rt:   schema.UserType,
		body: `{"userName":"bjensen","emails":[{"value":"a","primary":true},{"value":"b","primary":false},{"value":"c"}]}`,
		want: `{"userName":"bjensen","emails":[{"value":"a","primary":true},{"value":"b","primary":false},{"value":"c"}]}`,
	},
	{
		name: "numbers for strings keep their text",
		rt:   schema.UserType,
		body: `{"userName":1234,"externalId":1.50,"` + ent + `":{"employeeNumber":701984}}`,
		want: `{"userName":"1234","externalId":"1.50","` + ent + `":{"employeeNumber":"701984"}}`,
	},
	{
		name: "empty strings are kept",
		rt:   schema.UserType,
		body: `{"userName":"bjensen","nickName":"","name":{"givenName":""}}`,
		want: `{"userName":"bjensen","nickName":"","name":{"givenName":""}}`,
	},
	{
		name: "every writable user attribute",
		rt:   schema.UserType,
		body: `{"schemas":["` + coreURN + `","` + ent + `"],"externalId":"701984","userName":"bjensen@example.com",
			"name":{"formatted":"Ms. Barbara J Jensen, III","familyName":"Jensen","givenName":"Barbara","middleName":"Jane","honorificPrefix":"Ms.","honorificSuffix":"III"},
			"displayName":"Babs Jensen","nickName":"Babs","profileUrl":"https://login.example.com/bjensen","title":"Tour Guide","userType":"Employee",
			"preferredLanguage":"en-US","locale":"en-US","timezone":"America/Los_Angeles","active":true,
			"emails":[{"value":"bjensen@example.com","type":"work","primary":true,"display":"work mail"}],
			"phoneNumbers":[{"value":"555-555-8377","type":"work"}],
			"ims":[{"value":"someaimhandle","type":"aim"}],
			"photos":[{"value":"https://photos.example.com/profilephoto/72930000000Ccne/F","type":"photo"}],
			"addresses":[{"type":"work","streetAddress":"100 Universal City Plaza","locality":"Hollywood","region":"CA","postalCode":"91608","country":"USA","formatted":"100 Universal City Plaza\nHollywood, CA 91608 USA","primary":true}],
			"entitlements":[{"value":"Sample Entitlement"}],"roles":[{"value":"Sample Role","type":"r"}],
			"x509Certificates":[{"value":"MIIDQzCCAqygAwIBAgICEAAwDQYJKoZIhvcNAQEFBQAwTjELMAkGA1UEBhMCVVMx"}],
			"` + ent + `":{"employeeNumber":"701984","costCenter":"4130","organization":"Universal Studios","division":"Theme Park","department":"Tour Operations",
				"manager":{"value":"26118915-6090-4610-87e4-49d8ca9f808d","$ref":"../Users/26118915-6090-4610-87e4-49d8ca9f808d","displayName":"John Smith"}}}`,
		want: `{"externalId":"701984","userName":"bjensen@example.com",
			"name":{"formatted":"Ms. Barbara J Jensen, III","familyName":"Jensen","givenName":"Barbara","middleName":"Jane","honorificPrefix":"Ms.","honorificSuffix":"III"},
			"displayName":"Babs Jensen","nickName":"Babs","profileUrl":"https://login.example.com/bjensen","title":"Tour Guide","userType":"Employee",
			"preferredLanguage":"en-US","locale":"en-US","timezone":"America/Los_Angeles","active":true,
			"emails":[{"value":"bjensen@example.com","type":"work","primary":true,"display":"work mail"}],
			"phoneNumbers":[{"value":"555-555-8377","type":"work"}],
			"ims":[{"value":"someaimhandle","type":"aim"}],
			"photos":[{"value":"https://photos.example.com/profilephoto/72930000000Ccne/F","type":"photo"}],
			"addresses":[{"type":"work","streetAddress":"100 Universal City Plaza","locality":"Hollywood","region":"CA","postalCode":"91608","country":"USA","formatted":"100 Universal City Plaza\nHollywood, CA 91608 USA","primary":true}],
			"entitlements":[{"value":"Sample Entitlement"}],"roles":[{"value":"Sample Role","type":"r"}],
			"x509Certificates":[{"value":"MIIDQzCCAqygAwIBAgICEAAwDQYJKoZIhvcNAQEFBQAwTjELMAkGA1UEBhMCVVMx"}],
			"` + ent + `":{"employeeNumber":"701984","costCenter":"4130","organization":"Universal Studios","division":"Theme Park","department":"Tour Operations",
				"manager":{"value":"26118915-6090-4610-87e4-49d8ca9f808d","$ref":"../Users/26118915-6090-4610-87e4-49d8ca9f808d"}}}`,
	},
}

func TestNormalize(t *testing.T) {
	for _, tt := range normalizeTests {
		t.Run(tt.name, func(t *testing.T) {
			raw := mustDecode(t, tt.body)
			before := deepCopy(raw)
			got, err := Normalize(tt.rt, raw)
			if err != nil {
				t.Fatalf("Normalize(%s) = %v, want success", tt.body, err)
			}
			if diff := cmp.Diff(decodeAny(t, tt.want), any(got)); diff != "" {
				t.Errorf("Normalize(%s) mismatch (-want +got):\n%s", tt.body, diff)
			}
			if diff := cmp.Diff(before, any(raw)); diff != "" {
				t.Errorf("Normalize(%s) modified its input (-before +after):\n%s", tt.body, diff)
			}
		})
	}
}

// TestNormalizeOverlappingKeys checks that a body naming one attribute
// twice normalises the same way every time, whatever the map order.
func TestNormalizeOverlappingKeys(t *testing.T) {
	tests := []struct {
		body, want string
	}{
		// "name" sorts before "name.givenName": the sub-attribute wins.
		{`{"userName":"a","name":{"givenName":"A","familyName":"F"},"name.givenName":"B"}`,
			`{"userName":"a","name":{"givenName":"B","familyName":"F"}}`},
		// Upper case sorts first, a prefix before what extends it.
		{`{"USERNAME":"x","userName":"y","UserName":"z"}`, `{"userName":"y"}`},
		{`{"userName":"a","name":{"GIVENNAME":"A","givenName":"B","GivenName":"C"}}`, `{"userName":"a","name":{"givenName":"B"}}`},
		{`{"userName":"a","` + ent + `":{"DEPARTMENT":"A","department":"B"},"` + ent + `:department":"C"}`,
			`{"userName":"a","` + ent + `":{"department":"C"}}`},
	}
	for _, tt := range tests {
		want := decodeAny(t, tt.want)
		for range 50 {
			got, err := Normalize(schema.UserType, mustDecode(t, tt.body))
			if err != nil {
				t.Fatalf("Normalize(%s) = %v, want success", tt.body, err)
			}
			if diff := cmp.Diff(want, any(got)); diff != "" {
				t.Fatalf("Normalize(%s) mismatch (-want +got):\n%s", tt.body, diff)
			}
		}
	}
}

var normalizeErrorTests = []struct {
	name  string
	rt    *schema.ResourceType
	body  string
	code  Code
	names []string // substrings the message must contain
}{
	{"two primaries", schema.UserType, `{"userName":"a","emails":[{"value":"a","primary":true},{"value":"b","primary":true}]}`,
		CodeInvalidValue, []string{"emails", "primary"}},
	{"two primaries, one as a string", schema.UserType, `{"userName":"a","emails":[{"value":"a","primary":true},{"value":"b","primary":"True"}]}`,
		CodeInvalidValue, []string{"emails", "primary"}},
	{"two primary addresses", schema.UserType, `{"userName":"a","addresses":[{"primary":true,"locality":"x"},{"primary":true,"locality":"y"}]}`,
		CodeInvalidValue, []string{"addresses"}},
	{"number for boolean", schema.UserType, `{"userName":"a","active":1}`, CodeInvalidValue, []string{"active", "boolean"}},
	{"word for boolean", schema.UserType, `{"userName":"a","active":"yes"}`, CodeInvalidValue, []string{"active", "boolean"}},
	{"number for boolean sub-attribute", schema.UserType, `{"userName":"a","emails":[{"value":"a","primary":0}]}`,
		CodeInvalidValue, []string{"emails[0].primary"}},
	{"object for string", schema.UserType, `{"userName":"a","displayName":{"x":1}}`, CodeInvalidValue, []string{"displayName", "string"}},
	{"boolean for string", schema.UserType, `{"userName":true}`, CodeInvalidValue, []string{"userName", "string"}},
	{"object for string sub-attribute", schema.UserType, `{"userName":"a","name":{"givenName":{"x":1}}}`, CodeInvalidValue, []string{"name.givenName"}},
	{"array for string sub-attribute", schema.UserType, `{"userName":"a","emails":[{"value":["a"]}]}`, CodeInvalidValue, []string{"emails[0].value"}},
	{"object for extension string", schema.UserType, `{"userName":"a","` + ent + `":{"department":{}}}`, CodeInvalidValue, []string{"department"}},
	{"array for single-valued", schema.UserType, `{"userName":"a","displayName":["x"]}`, CodeInvalidValue, []string{"displayName", "single-valued"}},
	{"array for single-valued complex", schema.UserType, `{"userName":"a","name":[{"givenName":"x"}]}`, CodeInvalidValue, []string{"name", "single-valued"}},
	{"array for userName", schema.UserType, `{"userName":["a"]}`, CodeInvalidValue, []string{"userName"}},
	{"string for complex without value", schema.UserType, `{"userName":"a","name":"Barbara"}`, CodeInvalidValue, []string{"name", "object"}},
	{"number for complex", schema.UserType, `{"userName":"a","` + ent + `":{"manager":7}}`, CodeInvalidValue, []string{"manager", "object"}},
	{"nested list in multi-valued", schema.UserType, `{"userName":"a","emails":[[{"value":"a"}]]}`, CodeInvalidValue, []string{"emails[0]"}},
	{"unknown attribute", schema.UserType, `{"userName":"a","favouriteColour":"blue"}`, CodeInvalidValue, []string{"favouriteColour"}},
	{"unknown sub-attribute", schema.UserType, `{"userName":"a","name":{"nickName":"Babs"}}`, CodeInvalidValue, []string{"nickName", "name"}},
	{"unknown sub-attribute of a multi-valued element", schema.UserType, `{"userName":"a","emails":[{"value":"a","label":"x"}]}`,
		CodeInvalidValue, []string{"label", "emails[0]"}},
	{"unknown dotted sub-attribute", schema.UserType, `{"userName":"a","name.nick":"x"}`, CodeInvalidValue, []string{"name.nick"}},
	{"unknown extension attribute", schema.UserType, `{"userName":"a","` + ent + `":{"badge":"7"}}`, CodeInvalidValue, []string{"badge"}},
	{"unknown qualified extension attribute", schema.UserType, `{"userName":"a","` + ent + `:badge":"7"}`, CodeInvalidValue, []string{ent + ":badge"}},
	{"unknown URN", schema.UserType, `{"userName":"a","urn:example:params:scim:schemas:extension:x:2.0:User":{"a":1}}`,
		CodeInvalidValue, []string{"urn:example:params:scim:schemas:extension:x:2.0:User"}},
	{"core URN as a key", schema.UserType, `{"userName":"a","` + coreURN + `":{"displayName":"x"}}`, CodeInvalidValue, []string{coreURN}},
	{"extension on a group", schema.GroupType, `{"displayName":"g","` + ent + `":{"department":"x"}}`, CodeInvalidValue, []string{ent}},
	{"user attribute on a group", schema.GroupType, `{"displayName":"g","userName":"x"}`, CodeInvalidValue, []string{"userName"}},
	{"extension not an object", schema.UserType, `{"userName":"a","` + ent + `":"Ops"}`, CodeInvalidValue, []string{ent, "object"}},
	{"extension is a list", schema.UserType, `{"userName":"a","` + ent + `":[{"department":"Ops"}]}`, CodeInvalidValue, []string{ent}},
	{"sub-attribute of multi-valued", schema.UserType, `{"userName":"a","emails.value":"a@x"}`, CodeInvalidValue, []string{"emails"}},
	{"sub-attribute of a simple attribute", schema.UserType, `{"userName":"a","displayName.x":"a"}`, CodeInvalidValue, []string{"displayName.x"}},
	{"bad member value type", schema.GroupType, `{"displayName":"g","members":[{"value":true}]}`, CodeInvalidValue, []string{"members[0].value"}},
	{"schemas missing the core URN", schema.UserType, `{"schemas":["` + ent + `"],"userName":"a"}`, CodeInvalidValue, []string{coreURN}},
	{"empty schemas", schema.UserType, `{"schemas":[],"userName":"a"}`, CodeInvalidValue, []string{coreURN}},
	{"schemas with an unsupported URN", schema.UserType, `{"schemas":["` + coreURN + `","urn:example:custom"],"userName":"a"}`,
		CodeInvalidValue, []string{"urn:example:custom", ent}},
	{"user schema on a group", schema.GroupType, `{"schemas":["` + coreURN + `"],"displayName":"g"}`, CodeInvalidValue, []string{coreURN}},
	{"enterprise schema on a group", schema.GroupType, `{"schemas":["` + groupURN + `","` + ent + `"],"displayName":"g"}`, CodeInvalidValue, []string{ent}},
	{"schemas not an array", schema.UserType, `{"schemas":"` + coreURN + `","userName":"a"}`, CodeInvalidSyntax, []string{"schemas"}},
	{"schemas with a number", schema.UserType, `{"schemas":["` + coreURN + `",1],"userName":"a"}`, CodeInvalidSyntax, []string{"schemas"}},
	{"userName missing", schema.UserType, `{"schemas":["` + coreURN + `"],"displayName":"a"}`, CodeInvalidValue, []string{"userName", "required"}},
	{"userName empty", schema.UserType, `{"userName":""}`, CodeInvalidValue, []string{"userName", "required"}},
	{"userName null", schema.UserType, `{"userName":null}`, CodeInvalidValue, []string{"userName", "required"}},
	{"userName only read-only", schema.UserType, `{"id":"u1"}`, CodeInvalidValue, []string{"userName", "required"}},
	{"displayName missing", schema.GroupType, `{"members":[{"value":"u1"}]}`, CodeInvalidValue, []string{"displayName", "required"}},
	{"displayName empty", schema.GroupType, `{"displayName":""}`, CodeInvalidValue, []string{"displayName", "required"}},
	{"empty body", schema.GroupType, `{}`, CodeInvalidValue, []string{"displayName"}},
}

func TestNormalizeErrors(t *testing.T) {
	for _, tt := range normalizeErrorTests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Normalize(tt.rt, mustDecode(t, tt.body))
			if err == nil {
				t.Fatalf("Normalize(%s) = %v, want error", tt.body, got)
			}
			checkCode(t, "Normalize("+tt.body+")", err, tt.code, tt.names...)
		})
	}
}

// TestNormSingleTypes covers the data types the served schemas only use
// for read-only attributes (dateTime) or not at all (integer, decimal).
func TestNormSingleTypes(t *testing.T) {
	tests := []struct {
		typ   schema.Type
		in    string
		want  any // nil with ok: unassigned
		ok    bool
		wants string
	}{
		{schema.DateTime, `"2010-01-23T04:56:22Z"`, "2010-01-23T04:56:22Z", true, ""},
		{schema.DateTime, `"2011-05-13T04:42:34.123+02:00"`, "2011-05-13T04:42:34.123+02:00", true, ""},
		{schema.DateTime, `"2010-01-23"`, nil, false, "date-time"},
		{schema.DateTime, `"yesterday"`, nil, false, "date-time"},
		{schema.DateTime, `"2010-01-23T04:56:22"`, nil, false, "date-time"},
		{schema.DateTime, `1264222582`, nil, false, "date-time"},
		{schema.DateTime, `null`, nil, true, ""},
		{schema.Integer, `42`, json.Number("42"), true, ""},
		{schema.Integer, `-7`, json.Number("-7"), true, ""},
		{schema.Integer, `4.2`, nil, false, "integer"},
		{schema.Integer, `"42"`, nil, false, "integer"},
		{schema.Integer, `99999999999999999999`, nil, false, "integer"},
		{schema.Decimal, `4.2`, json.Number("4.2"), true, ""},
		{schema.Decimal, `1e3`, json.Number("1e3"), true, ""},
		{schema.Decimal, `1e999`, nil, false, "number"},
		{schema.Decimal, `"4.2"`, nil, false, "number"},
		{schema.Binary, `"AAEC"`, "AAEC", true, ""},
		{schema.Reference, `"https://example.com/x"`, "https://example.com/x", true, ""},
		{schema.Reference, `false`, nil, false, "string"},
		{schema.Boolean, `"FALSE"`, false, true, ""},
		{schema.Boolean, `"1"`, nil, false, "boolean"},
	}
	for _, tt := range tests {
		a := &schema.Attribute{Name: "x", Type: tt.typ}
		got, err := normSingle(a, decodeAny(t, tt.in), "x")
		if !tt.ok {
			checkCode(t, "normSingle("+string(tt.typ)+", "+tt.in+")", err, CodeInvalidValue, "x", tt.wants)
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("normSingle(%s, %s) = %#v, %v, want %#v", tt.typ, tt.in, got, err, tt.want)
		}
	}
	_, err := normSingle(&schema.Attribute{Name: "x", Type: "money"}, "1", "x")
	checkCode(t, "normSingle(money)", err, CodeInternal)
}

func TestDecodeJSON(t *testing.T) {
	tests := []struct {
		in   string
		want string // "" for an error
	}{
		{`{"a":1.50,"b":[1,2e3],"c":{"d":null}}`, `{"a":1.50,"b":[1,2e3],"c":{"d":null}}`},
		{"  {}\n\t ", `{}`},
		{`{"s":"\u2028\ud83d\ude00"}`, `{"s":"\u2028😀"}`},
		{`{"a":1} {"b":2}`, ""},
		{`{"a":1} 2`, ""},
		{`{"a":1} }`, ""},
		{`{"a":1} ]`, ""},
		{`{"a":1}]]`, ""},
		{`{"a":1} x`, ""},
		{`{"a":1`, ""},
		{`{"a":1,}`, ""},
		{``, ""},
		{`null`, ""},
		{`[]`, ""},
		{`"x"`, ""},
		{`[{"userName":"a"}]`, ""},
		{`true`, ""},
		{`12`, ""},
	}
	for _, tt := range tests {
		got, err := DecodeJSON([]byte(tt.in))
		if tt.want == "" {
			if err == nil {
				t.Errorf("DecodeJSON(%q) = %v, want error", tt.in, got)
				continue
			}
			checkCode(t, "DecodeJSON("+tt.in+")", err, CodeInvalidSyntax)
			continue
		}
		if err != nil {
			t.Errorf("DecodeJSON(%q) = %v, want success", tt.in, err)
			continue
		}
		if diff := cmp.Diff(decodeAny(t, tt.want), any(got)); diff != "" {
			t.Errorf("DecodeJSON(%q) mismatch (-want +got):\n%s", tt.in, diff)
		}
	}
}

func TestDecodeJSONMessages(t *testing.T) {
	tests := []struct{ in, msg string }{
		{`[{"userName":"a"}]`, "request body must be a JSON object"},
		{`null`, "request body must be a JSON object"},
		{`"x"`, "request body must be a JSON object"},
		{`{"a":1}}`, "request body has data after the JSON object"},
		{`{"a":1} {}`, "request body has data after the JSON object"},
		{`{"a":`, "request body is not valid JSON"},
		{``, "request body is not valid JSON"},
	}
	for _, tt := range tests {
		_, err := DecodeJSON([]byte(tt.in))
		checkCode(t, "DecodeJSON("+tt.in+")", err, CodeInvalidSyntax, tt.msg)
		if e := AsError(err); e != nil && strings.Contains(e.Msg, "interface") {
			t.Errorf("DecodeJSON(%s) = %q, which names Go types", tt.in, e.Msg)
		}
	}
}

// TestNormalizeSCIM1URNs: OneLogin templates may send SCIM 1.0 URNs; they
// are accepted as aliases and stored under the 2.0 URNs.
func TestNormalizeSCIM1URNs(t *testing.T) {
	body := `{"schemas":["urn:scim:schemas:core:1.0","urn:scim:schemas:extension:enterprise:1.0"],
		"userName":"bjensen","urn:scim:schemas:extension:enterprise:1.0":{"department":"Tour Operations"},
		"urn:scim:schemas:core:1.0:displayName":"Babs"}`
	got, err := Normalize(schema.UserType, mustDecode(t, body))
	if err != nil {
		t.Fatalf("Normalize(%s) = %v", body, err)
	}
	want := map[string]any{"userName": "bjensen", "displayName": "Babs",
		schema.EnterpriseURN: map[string]any{"department": "Tour Operations"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Normalize(SCIM 1.0 URNs) mismatch (-want +got):\n%s", diff)
	}
	if _, err := Normalize(schema.GroupType, mustDecode(t, `{"schemas":["urn:scim:schemas:core:1.0"],"displayName":"g"}`)); err != nil {
		t.Errorf("Normalize(group with the SCIM 1.0 core URN) = %v", err)
	}
	if _, err := filter.Compile(schema.UserType, `urn:scim:schemas:extension:enterprise:1.0:department eq "x"`); err != nil {
		t.Errorf("Compile(filter with the SCIM 1.0 enterprise URN) = %v", err)
	}
}

// TestNormalizeOneLoginEnterprise: OneLogin's SCIM 1.1 enterprise template
// names the manager's id managerId, and some OneLogin connectors send the
// URNs with "2.0" in place of "1.0".
func TestNormalizeOneLoginEnterprise(t *testing.T) {
	for _, urn := range []string{"urn:scim:schemas:extension:enterprise:1.0", "urn:scim:schemas:extension:enterprise:2.0"} {
		body := `{"schemas":["urn:scim:schemas:core:2.0","` + urn + `"],"userName":"bjensen",
			"` + urn + `":{"manager":{"managerId":"26118915-6090-4610-87e4-49d8ca9f808d","displayName":"John Smith"},"department":"Tour"}}`
		got, err := Normalize(schema.UserType, mustDecode(t, body))
		if err != nil {
			t.Fatalf("Normalize(%s) = %v", urn, err)
		}
		want := map[string]any{"userName": "bjensen", schema.EnterpriseURN: map[string]any{
			"department": "Tour", "manager": map[string]any{"value": "26118915-6090-4610-87e4-49d8ca9f808d"}}}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Normalize(%s) mismatch (-want +got):\n%s", urn, diff)
		}
	}
}
