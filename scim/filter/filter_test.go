package filter

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/scimgate/scimgate/scim/schema"
)

const (
	ent  = schema.EnterpriseURN
	core = schema.UserURN
)

// matchTests lists, for each filter, the documents it matches. A filter over
// UserType is evaluated against every user document (bjensen, minimal, odd,
// empty), one over GroupType against tourGuides and empty; each must match
// exactly the listed ones.
var matchTests = []struct {
	src  string
	rt   *schema.ResourceType
	want string // space-separated document names
}{
	// String, caseExact false: case-insensitive for every operator.
	{`userName eq "bjensen@example.com"`, schema.UserType, "bjensen"},
	{`userName eq "BJensen@Example.COM"`, schema.UserType, "bjensen"},
	{`userName eq "bjensen"`, schema.UserType, ""},
	{`userName ne "BJENSEN@EXAMPLE.COM"`, schema.UserType, "minimal odd empty"},
	{`userName co "JENSEN@"`, schema.UserType, "bjensen"},
	{`userName co ""`, schema.UserType, "bjensen minimal"},
	{`userName sw "BJ"`, schema.UserType, "bjensen"},
	{`userName ew ".COM"`, schema.UserType, "bjensen"},
	{`userName ew "example"`, schema.UserType, ""},
	{`userName gt "A"`, schema.UserType, "bjensen minimal"},
	{`userName gt "BJENSEN@EXAMPLE.COM"`, schema.UserType, "minimal"},
	{`userName ge "BJENSEN@EXAMPLE.COM"`, schema.UserType, "bjensen minimal"},
	{`userName lt "C"`, schema.UserType, "bjensen"},
	{`userName le "bjensen@example.com"`, schema.UserType, "bjensen"},
	{`userName lt "bjensen"`, schema.UserType, ""},
	{`displayName co "babs J"`, schema.UserType, "bjensen"},
	// Non-ASCII values fold with strings.ToLower.
	{`userName eq "élodie"`, schema.UserType, "minimal"},
	{`nickName eq "Élodie"`, schema.UserType, "minimal"},
	{`nickName co "LOD"`, schema.UserType, "minimal"},
	{`nickName sw "é"`, schema.UserType, "minimal"},
	{`nickName ew "DIE"`, schema.UserType, "minimal"},
	{`nickName gt "e"`, schema.UserType, "minimal"},
	{`nickName lt "f"`, schema.UserType, "bjensen"}, // "" is a value for comparisons, though not for pr
	{`userName eq "\u00c9LODIE"`, schema.UserType, "minimal"},

	// caseExact attributes compare exactly.
	{`id eq "` + bjensenID + `"`, schema.UserType, "bjensen"},
	{`id eq "2819C223-7F76-453A-919D-413861904646"`, schema.UserType, ""},
	{`externalId eq "BJensen-ext"`, schema.UserType, "bjensen"},
	{`externalId eq "bjensen-ext"`, schema.UserType, ""},
	{`externalId ne "bjensen-ext"`, schema.UserType, "bjensen minimal odd empty"},
	{`externalId co "Jensen"`, schema.UserType, "bjensen"},
	{`externalId co "jensen"`, schema.UserType, ""},
	{`externalId sw "BJ"`, schema.UserType, "bjensen"},
	{`externalId ew "-ext"`, schema.UserType, "bjensen"},
	{`externalId gt "A"`, schema.UserType, "bjensen"},
	{`externalId gt "a"`, schema.UserType, ""},
	{`externalId lt "a"`, schema.UserType, "bjensen"},
	{`id ge "a1"`, schema.UserType, "minimal"},
	{`id le "a1"`, schema.UserType, "bjensen minimal"},
	{`members.value eq "902c246b-6245-4190-8e05-00816be7344a"`, schema.GroupType, "tourGuides"},
	{`members.value eq "902C246B-6245-4190-8E05-00816BE7344A"`, schema.GroupType, ""},
	{`members eq "` + bjensenID + `"`, schema.GroupType, "tourGuides"},
	{`members.type eq "user"`, schema.GroupType, "tourGuides"},
	{`members.display co "pepper"`, schema.GroupType, "tourGuides"},
	{`displayName eq "tour guides"`, schema.GroupType, "tourGuides"},

	// meta.
	{`meta.resourceType eq "User"`, schema.UserType, "bjensen minimal"},
	{`meta.resourceType eq "user"`, schema.UserType, ""},
	{`meta.resourceType eq "Group"`, schema.GroupType, "tourGuides"},
	{`meta.version eq "W/\"3694e05e9dff591\""`, schema.UserType, "bjensen"},
	{`meta.location sw "https://example.com/v2/Users/"`, schema.UserType, "bjensen"},
	{`meta pr`, schema.UserType, "bjensen minimal odd"},

	// dateTime: chronological, whatever the offset or fraction.
	{`meta.created eq "2010-01-23T04:56:22Z"`, schema.UserType, "bjensen"},
	{`meta.created eq "2010-01-23T05:56:22+01:00"`, schema.UserType, "bjensen"},
	{`meta.created eq "2010-01-23t04:56:22z"`, schema.UserType, "bjensen"},
	{`meta.created eq "2020-06-01T10:00:00Z"`, schema.UserType, "minimal"},
	{`meta.created ne "2010-01-23T04:56:22Z"`, schema.UserType, "minimal odd empty"},
	{`meta.created gt "2010-01-23T04:56:21Z"`, schema.UserType, "bjensen minimal"},
	{`meta.created gt "2010-01-23T04:56:22Z"`, schema.UserType, "minimal"},
	{`meta.created ge "2010-01-23T04:56:22Z"`, schema.UserType, "bjensen minimal"},
	{`meta.created lt "2020-06-01T10:00:00.000000001Z"`, schema.UserType, "bjensen minimal"},
	{`meta.created le "2010-01-23T04:56:22Z"`, schema.UserType, "bjensen"},
	{`meta.lastModified gt "2011-05-13T04:42:33.9Z"`, schema.UserType, "bjensen"},
	{`meta.lastModified lt "2011-05-13T04:42:34.5Z"`, schema.UserType, "bjensen"},
	{`meta.lastModified pr`, schema.UserType, "bjensen odd"},
	{`meta.created gt "2000-01-01T00:00:00Z"`, schema.GroupType, "tourGuides"},

	// boolean.
	{`active eq true`, schema.UserType, "bjensen"},
	{`active eq FALSE`, schema.UserType, "minimal"},
	{`active ne true`, schema.UserType, "minimal odd empty"},
	{`active ne false`, schema.UserType, "bjensen odd empty"},
	{`active eq "true"`, schema.UserType, "bjensen"},
	{`active eq "False"`, schema.UserType, "minimal"},
	{`active pr`, schema.UserType, "bjensen minimal odd"},
	{`emails.primary eq true`, schema.UserType, "bjensen"},
	{`addresses[primary eq true and locality eq "hollywood"]`, schema.UserType, "bjensen"},

	// Multi-valued: any value matches.
	{`emails co "jensen.org"`, schema.UserType, "bjensen"},
	{`emails eq "BABS@jensen.org"`, schema.UserType, "bjensen"},
	{`emails.value eq "babs@jensen.org"`, schema.UserType, "bjensen"},
	// ne too (RFC 7644 section 3.4.2.2): some value is not equal. An
	// element without the sub-attribute is not equal; no values match
	// nothing; "none equals" is not(eq). odd's emails are a string, which
	// equals nothing.
	{`emails.value ne "babs@jensen.org"`, schema.UserType, "bjensen odd"},
	{`emails.value ne "nobody@example.com"`, schema.UserType, "bjensen odd"},
	{`emails.type ne "work"`, schema.UserType, "bjensen odd"},
	{`emails.type ne "work" and emails pr`, schema.UserType, "bjensen odd"},
	{`emails[type ne "work"]`, schema.UserType, "bjensen"},
	{`emails ne "BJENSEN@example.com"`, schema.UserType, "bjensen odd"},
	{`emails.display ne "x"`, schema.UserType, "bjensen odd"},
	{`not (emails.type eq "work")`, schema.UserType, "minimal odd empty"},
	{`not (emails.type ne "work")`, schema.UserType, "minimal empty"},
	{`x509Certificates ne "MIIDQzCCAqygAwIBAgICEAAwDQYJKoZIhvcNAQEFBQAw"`, schema.UserType, ""},
	{`phoneNumbers.value ne "x"`, schema.UserType, ""},
	{`members.value ne "` + bjensenID + `"`, schema.GroupType, "tourGuides"},
	{`members.type ne "user"`, schema.GroupType, ""},
	{`members[type ne "User"]`, schema.GroupType, ""},
	// ne on a singular attribute is NOT(eq): unassigned matches.
	{`title ne "tour guide"`, schema.UserType, "minimal odd empty"},
	{`name.givenName ne "x"`, schema.UserType, "bjensen minimal odd empty"},
	{`emails.type eq "home"`, schema.UserType, "bjensen"},
	{`emails.type eq "other"`, schema.UserType, ""},
	{`emails.value sw "babs"`, schema.UserType, "bjensen"},
	{`emails.value gt "bjensen"`, schema.UserType, "bjensen"},
	{`emails.value lt "a"`, schema.UserType, ""},
	{`emails pr`, schema.UserType, "bjensen odd"},
	{`emails.display pr`, schema.UserType, ""},
	{`phoneNumbers pr`, schema.UserType, ""},
	{`phoneNumbers eq null`, schema.UserType, "bjensen minimal odd empty"},
	{`groups eq "` + groupID + `"`, schema.UserType, "bjensen"},
	{`groups.display co "guide"`, schema.UserType, "bjensen"},
	{`x509Certificates.value eq "MIIDQzCCAqygAwIBAgICEAAwDQYJKoZIhvcNAQEFBQAw"`, schema.UserType, "bjensen"},
	{`x509Certificates co "miid"`, schema.UserType, ""},
	{`x509Certificates sw "MIID"`, schema.UserType, "bjensen"},
	// Both conditions on the same element with a value path, on any
	// elements without.
	{`emails[type eq "work" and value co "jensen.org"]`, schema.UserType, ""},
	{`emails.type eq "work" and emails.value co "jensen.org"`, schema.UserType, "bjensen"},
	{`emails[type eq "WORK" and value co "@example.com"]`, schema.UserType, "bjensen"},
	{`emails[type eq "home" or primary eq true]`, schema.UserType, "bjensen"},
	{`emails[not (type eq "work")]`, schema.UserType, "bjensen"},
	{`emails[type ne "work" and type ne "home"]`, schema.UserType, ""},
	{`emails[value pr]`, schema.UserType, "bjensen"},
	{`emails[display eq null]`, schema.UserType, "bjensen"},
	{`members[value eq "` + bjensenID + `" and type eq "User"]`, schema.GroupType, "tourGuides"},
	{`members[display sw "babs"]`, schema.GroupType, "tourGuides"},
	{`members[$ref pr]`, schema.GroupType, ""},

	// Complex, single-valued.
	{`name.familyName eq "jensen"`, schema.UserType, "bjensen"},
	{`name.givenName sw "Bar"`, schema.UserType, "bjensen"},
	{`name.middleName pr`, schema.UserType, ""},
	{`name.middleName eq null`, schema.UserType, "bjensen minimal odd empty"},
	{`name pr`, schema.UserType, "bjensen odd"},
	{`name eq null`, schema.UserType, "minimal empty"},
	{`name ne null`, schema.UserType, "bjensen odd"},
	{`name[givenName eq "barbara" and familyName eq "jensen"]`, schema.UserType, "bjensen"},

	// null.
	{`title eq null`, schema.UserType, "minimal odd empty"},
	{`title ne null`, schema.UserType, "bjensen"},
	{`nickName eq NULL`, schema.UserType, "bjensen odd empty"},
	{`nickName pr`, schema.UserType, "minimal"},

	// Extension attributes, qualified and not, and URN-qualified core ones.
	{ent + `:department eq "tour operations"`, schema.UserType, "bjensen"},
	{`URN:IETF:PARAMS:SCIM:SCHEMAS:EXTENSION:ENTERPRISE:2.0:USER:Department eq "Tour Operations"`, schema.UserType, "bjensen"},
	{`department eq "Tour Operations"`, schema.UserType, "bjensen"},
	{`employeeNumber eq "701984"`, schema.UserType, "bjensen"},
	{ent + `:costCenter pr`, schema.UserType, "bjensen"},
	{ent + `:manager.value eq "` + managerID + `"`, schema.UserType, "bjensen"},
	{ent + `:manager.value eq "` + strings.ToUpper(managerID) + `"`, schema.UserType, ""},
	{ent + `:manager eq "` + managerID + `"`, schema.UserType, "bjensen"},
	{`manager.displayName co "SMITH"`, schema.UserType, "bjensen"},
	{`manager pr`, schema.UserType, "bjensen odd"},
	{`manager.value pr`, schema.UserType, "bjensen"},
	{ent + `:manager[value sw "2611"]`, schema.UserType, "bjensen"},
	{core + `:userName eq "bjensen@example.com"`, schema.UserType, "bjensen"},
	{core + `:name.familyName eq "Jensen"`, schema.UserType, "bjensen"},
	{core + `:meta.resourceType eq "User"`, schema.UserType, "bjensen minimal"},
	{core + `:id pr`, schema.UserType, "bjensen minimal"},
	{schema.GroupURN + `:members.value eq "` + bjensenID + `"`, schema.GroupType, "tourGuides"},

	// Logical operators and precedence.
	{`not (userName eq "bjensen@example.com")`, schema.UserType, "minimal odd empty"},
	{`not(title pr)`, schema.UserType, "minimal odd empty"},
	{`userName eq "x" or title pr and active eq true`, schema.UserType, "bjensen"},
	{`(userName eq "x" or title pr) and active eq false`, schema.UserType, ""},
	{`userName sw "b" and active eq true and title co "guide"`, schema.UserType, "bjensen"},
	{`userName eq "x" or userName eq "élodie" or id eq "` + bjensenID + `"`, schema.UserType, "bjensen minimal"},
	{`not (not (active eq true))`, schema.UserType, "bjensen"},
	{`userName pr and not (emails pr)`, schema.UserType, "minimal"},
	{`userType eq "Employee" and emails[type eq "work" and value co "@example.com"]`, schema.UserType, ""},
	{`title pr and emails[type eq "work" and value co "@example.com"] or active eq false`, schema.UserType, "bjensen minimal"},
	{"userName\teq  \"bjensen@example.com\"\n and  \t title pr", schema.UserType, "bjensen"},
	{`USERNAME EQ "bjensen@example.com" AND Active Eq TRUE`, schema.UserType, "bjensen"},
	{`( ( userName pr ) )`, schema.UserType, "bjensen minimal odd"},
}

func userDocs(rt *schema.ResourceType) []string {
	if rt == schema.GroupType {
		return []string{"tourGuides", "empty"}
	}
	return []string{"bjensen", "minimal", "odd", "empty"}
}

func TestMatch(t *testing.T) {
	for _, tt := range matchTests {
		t.Run(tt.src, func(t *testing.T) {
			f, err := Compile(tt.rt, tt.src)
			if err != nil {
				t.Fatalf("Compile(%q) = %v, want success", tt.src, err)
			}
			var got []string
			for _, name := range userDocs(tt.rt) {
				if f.Match(docs[name]) {
					got = append(got, name)
				}
			}
			want := strings.Fields(tt.want)
			if !slices.Equal(got, want) {
				t.Errorf("Compile(%q) matches %q, want %q", tt.src, got, want)
			}
			// Re-rendering must not change the meaning.
			g, err := Compile(tt.rt, f.String())
			if err != nil {
				t.Fatalf("Compile(%q) (rendering of %q) = %v, want success", f.String(), tt.src, err)
			}
			for _, name := range userDocs(tt.rt) {
				if g.Match(docs[name]) != f.Match(docs[name]) {
					t.Errorf("Compile(%q) and Compile(%q) disagree on %s", tt.src, f.String(), name)
				}
			}
		})
	}
}

// sexpr renders an Expr fully parenthesised in prefix form, so precedence
// and associativity are visible: `a or b and c` => (or a (and b c)).
func sexpr(e Expr) string {
	switch x := e.(type) {
	case *And:
		return "(and " + sexpr(x.Left) + " " + sexpr(x.Right) + ")"
	case *Or:
		return "(or " + sexpr(x.Left) + " " + sexpr(x.Right) + ")"
	case *Not:
		return "(not " + sexpr(x.X) + ")"
	case *Present:
		return "(pr " + x.Path.String() + ")"
	case *Compare:
		var b strings.Builder
		writeValue(&b, x.Value)
		return fmt.Sprintf("(%s %s %s)", x.Op, x.Path, b.String())
	case *ValuePath:
		return "(" + x.Path.String() + "[] " + sexpr(x.Filter) + ")"
	}
	return fmt.Sprintf("<%T>", e)
}

func TestString(t *testing.T) {
	tests := []struct {
		src, want, tree string
	}{
		{`userName eq "x" or title pr and active eq true`,
			`userName eq "x" or title pr and active eq true`,
			`(or (eq userName "x") (and (pr title) (eq active true)))`},
		{`userName eq "x" and title pr or active eq true`,
			`userName eq "x" and title pr or active eq true`,
			`(or (and (eq userName "x") (pr title)) (eq active true))`},
		{`(userName eq "x" or title pr) and active eq true`,
			`(userName eq "x" or title pr) and active eq true`,
			`(and (or (eq userName "x") (pr title)) (eq active true))`},
		{`userName eq "x" and (title pr or active eq true)`,
			`userName eq "x" and (title pr or active eq true)`,
			`(and (eq userName "x") (or (pr title) (eq active true)))`},
		{`title pr and userName pr and id pr`,
			`title pr and userName pr and id pr`,
			`(and (and (pr title) (pr userName)) (pr id))`},
		{`title pr and (userName pr and id pr)`,
			`title pr and (userName pr and id pr)`,
			`(and (pr title) (and (pr userName) (pr id)))`},
		{`title pr or userName pr or id pr`,
			`title pr or userName pr or id pr`,
			`(or (or (pr title) (pr userName)) (pr id))`},
		{`(title pr and userName pr) or id pr`,
			`title pr and userName pr or id pr`,
			`(or (and (pr title) (pr userName)) (pr id))`},
		{`((((userName pr))))`, `userName pr`, `(pr userName)`},
		{`NOT (userName PR) AND title Pr`,
			`not (userName pr) and title pr`,
			`(and (not (pr userName)) (pr title))`},
		{`not (userName pr and title pr) or id pr`,
			`not (userName pr and title pr) or id pr`,
			`(or (not (and (pr userName) (pr title))) (pr id))`},
		{`not(not (userName pr))`, `not (not (userName pr))`, `(not (not (pr userName)))`},
		{`USERNAME EQ "x"`, `userName eq "x"`, `(eq userName "x")`},
		{core + `:userName eq "x"`, `userName eq "x"`, `(eq userName "x")`},
		{core + `:META.CREATED gt "2011-05-13T04:42:34Z"`,
			`meta.created gt "2011-05-13T04:42:34Z"`,
			`(gt meta.created "2011-05-13T04:42:34Z")`},
		{`department eq "x"`, ent + `:department eq "x"`, `(eq ` + ent + `:department "x")`},
		{`MANAGER.VALUE eq "x"`, ent + `:manager.value eq "x"`, `(eq ` + ent + `:manager.value "x")`},
		{`emails[TYPE eq "work" and value co "@example.com" or not (primary eq true)]`,
			`emails[type eq "work" and value co "@example.com" or not (primary eq true)]`,
			`(emails[] (or (and (eq type "work") (co value "@example.com")) (not (eq primary true))))`},
		{`emails[type eq "work"] and emails[type eq "home"]`,
			`emails[type eq "work"] and emails[type eq "home"]`,
			`(and (emails[] (eq type "work")) (emails[] (eq type "home")))`},
		{`active eq "True"`, `active eq true`, `(eq active true)`},
		{`active ne FALSE`, `active ne false`, `(ne active false)`},
		{`title eq NULL`, `title eq null`, `(eq title null)`},
		{`title ne null`, `title ne null`, `(ne title null)`},
		{`userName eq "caf\u00e9 \"q\" \\ \/ \ud83d\ude00 \ud800"`,
			`userName eq "café \"q\" \\ / 😀 ` + "\uFFFD" + `"`,
			`(eq userName "café \"q\" \\ / 😀 ` + "\uFFFD" + `")`},
		{`userName eq "tab\there\u0001\n"`, `userName eq "tab\there\u0001\n"`, `(eq userName "tab\there\u0001\n")`},
		{"userName\teq  \"x\"   and\ttitle pr", `userName eq "x" and title pr`, `(and (eq userName "x") (pr title))`},
		{`members[$REF pr]`, `members[$ref pr]`, `(members[] (pr $ref))`},
	}
	for _, tt := range tests {
		rt := schema.UserType
		if strings.HasPrefix(tt.src, "members") {
			rt = schema.GroupType
		}
		f, err := Compile(rt, tt.src)
		if err != nil {
			t.Errorf("Compile(%q) = %v, want success", tt.src, err)
			continue
		}
		if got := f.String(); got != tt.want {
			t.Errorf("Compile(%q).String() = %q, want %q", tt.src, got, tt.want)
		}
		if got := sexpr(f.Root()); got != tt.tree {
			t.Errorf("Compile(%q) tree = %s, want %s", tt.src, got, tt.tree)
		}
		g, err := Compile(rt, f.String())
		if err != nil {
			t.Errorf("Compile(%q) = %v, want success", f.String(), err)
		} else if g.String() != f.String() {
			t.Errorf("Compile(%q).String() = %q, want it unchanged", f.String(), g.String())
		}
	}
}

// attrCmp compares resolved paths by identity of their schema and
// attributes, which is what resolution promises.
var attrCmp = cmp.Comparer(func(a, b AttrPath) bool { return a == b })

func mustAttrPath(t *testing.T, rt *schema.ResourceType, src string) AttrPath {
	t.Helper()
	p, err := ParseAttrPath(rt, src)
	if err != nil {
		t.Fatalf("ParseAttrPath(%q) = %v", src, err)
	}
	return p
}

func TestRoot(t *testing.T) {
	emails := schema.User.Attr("emails")
	rel := func(name string) AttrPath { return AttrPath{Attr: emails.Sub(name)} }
	tests := []struct {
		src  string
		want Expr
	}{
		{`userName eq "X"`, &Compare{Path: mustAttrPath(t, schema.UserType, "userName"), Op: Eq, Value: "X"}},
		{`title pr or userName sw "a" and not (active eq "TRUE")`, &Or{
			Left: &Present{Path: mustAttrPath(t, schema.UserType, "title")},
			Right: &And{
				Left:  &Compare{Path: mustAttrPath(t, schema.UserType, "userName"), Op: Sw, Value: "a"},
				Right: &Not{X: &Compare{Path: mustAttrPath(t, schema.UserType, "active"), Op: Eq, Value: true}},
			},
		}},
		{`emails[type eq "work" and value co "@x"]`, &ValuePath{
			Path: mustAttrPath(t, schema.UserType, "emails"),
			Filter: &And{
				Left:  &Compare{Path: rel("type"), Op: Eq, Value: "work"},
				Right: &Compare{Path: rel("value"), Op: Co, Value: "@x"},
			},
		}},
		{`manager.value eq null`, &Compare{
			Path: AttrPath{Schema: schema.Enterprise, Attr: schema.Enterprise.Attr("manager"),
				Sub: schema.Enterprise.Attr("manager").Sub("value")},
			Op: Eq,
		}},
		{`meta.created ge "2011-05-13T04:42:34Z"`, &Compare{
			Path: AttrPath{Schema: schema.User, Attr: schema.Common.Attr("meta"), Sub: schema.Common.Attr("meta").Sub("created")},
			Op:   Ge, Value: "2011-05-13T04:42:34Z",
		}},
	}
	for _, tt := range tests {
		f, err := Compile(schema.UserType, tt.src)
		if err != nil {
			t.Errorf("Compile(%q) = %v, want success", tt.src, err)
			continue
		}
		if diff := cmp.Diff(tt.want, f.Root(), attrCmp); diff != "" {
			t.Errorf("Compile(%q).Root() mismatch (-want +got):\n%s", tt.src, diff)
		}
	}
}

func TestAttrPathKey(t *testing.T) {
	tests := []struct {
		src, str, key string
	}{
		{"userName", "userName", "userName"},
		{"NAME.givenname", "name.givenName", "name"},
		{"meta.lastModified", "meta.lastModified", "meta"},
		{core + ":id", "id", "id"},
		{"department", ent + ":department", ent},
		{ent + ":manager.value", ent + ":manager.value", ent},
		{strings.ToLower(ent), ent, ent},
	}
	for _, tt := range tests {
		p := mustAttrPath(t, schema.UserType, tt.src)
		if p.String() != tt.str || p.Key() != tt.key {
			t.Errorf("ParseAttrPath(%q) = %q with key %q, want %q with key %q", tt.src, p.String(), p.Key(), tt.str, tt.key)
		}
	}
}

// errorTests lists invalid filters with the expected message fragment and
// offset.
var errorTests = []struct {
	name, src string
	rt        *schema.ResourceType
	msg       string
	off       int
}{
	{"unknown attribute", `foo eq "x"`, nil, `unknown attribute "foo"`, 0},
	{"unknown attribute in group", `userName eq "x"`, schema.GroupType, `unknown attribute "userName"`, 0},
	{"unknown sub-attribute", `name.foo eq "x"`, nil, `unknown sub-attribute "name.foo"`, 5},
	{"sub-attribute of simple", `userName.foo eq "x"`, nil, `attribute "userName" is not complex`, 9},
	{"too many levels", `name.givenName.x pr`, nil, `too many levels`, 5},
	{"missing sub-attribute", `name. pr`, nil, `missing sub-attribute name`, 5},
	{"unknown schema", `urn:bogus:User:userName eq "x"`, nil, `unknown schema "urn:bogus:User"`, 0},
	{"unknown extension attribute", ent + `:bogus pr`, nil, `unknown attribute "bogus" in schema`, len(ent) + 1},
	{"core URN with extension attribute", core + `:department pr`, nil, `unknown attribute "department"`, len(core) + 1},
	{"bare extension URN", ent + ` pr`, nil, `schema URN "` + ent + `" is not an attribute`, 0},
	{"bare core URN", core + ` pr`, nil, `is not an attribute`, 0},
	{"empty attribute name", core + `: pr`, nil, `missing attribute name`, len(core) + 1},
	{"unknown operator", `userName xx "x"`, nil, `unknown operator "xx"`, 9},
	{"operator glued", `userName eq"x"`, nil, `missing space after "eq"`, 11},
	{"missing operator", `userName`, nil, `missing operator after "userName"`, 8},
	{"missing value", `userName eq`, nil, `missing value after "eq"`, 11},
	{"unquoted value", `userName eq bjensen`, nil, `invalid value "bjensen"`, 12},
	{"value is paren", `userName eq (`, nil, `invalid value`, 12},
	{"unterminated string", `userName eq "x`, nil, `unterminated string`, 12},
	{"unterminated after escape", `userName eq "x\`, nil, `unterminated string`, 12},
	{"invalid escape", `userName eq "\x"`, nil, `invalid escape "\\x"`, 13},
	{"invalid unicode escape", `userName eq "\u12"`, nil, `invalid \u escape`, 13},
	{"control character", "userName eq \"a\tb\"", nil, `control character`, 14},
	{"control character after escape", "userName eq \"\\n\x01\"", nil, `control character`, 15},
	{"leading zero", `userName eq 01`, nil, `invalid number`, 12},
	{"bare minus", `userName eq -`, nil, `invalid number`, 12},
	{"bad fraction", `userName eq 1.`, nil, `invalid number`, 12},
	{"bad exponent", `userName eq 1e+`, nil, `invalid number`, 12},
	{"number then word", `userName eq 12ab`, nil, `invalid number`, 12},
	{"unexpected character", `userName eq "x" @`, nil, `unexpected character '@'`, 16},
	{"invalid UTF-8", "userName eq \"\xff\"", nil, `invalid UTF-8`, 13},
	{"missing paren", `(userName eq "x"`, nil, `missing ')'`, 16},
	{"missing paren with garbage", `(userName eq "x" title pr)`, nil, `missing ')' (found "title")`, 17},
	{"extra paren", `userName eq "x")`, nil, `unexpected ')' after expression`, 15},
	{"trailing garbage", `userName eq "x" garbage`, nil, `unexpected "garbage" after expression`, 16},
	{"trailing string", `userName eq "x" "y"`, nil, `unexpected string after expression`, 16},
	{"dangling and", `userName eq "x" and`, nil, `unexpected end of input`, 19},
	{"dangling or", `userName eq "x" or `, nil, `unexpected end of input`, 19},
	{"and glued before", `userName eq "x"and title pr`, nil, `missing space before "and"`, 15},
	{"and glued after", `userName eq "x" and(title pr)`, nil, `missing space after "and"`, 19},
	{"or glued", `(title pr)or(userName pr)`, nil, `missing space before "or"`, 10},
	{"leading and", `and title pr`, nil, `unknown attribute "and"`, 0},
	{"not without paren", `not title pr`, nil, `missing '(' after "not"`, 4},
	{"not at end", `not`, nil, `missing '(' after "not"`, 3},
	{"empty", ``, nil, `empty filter`, 0},
	{"blank", "  \t ", nil, `empty filter`, 4},
	{"empty parens", `()`, nil, `empty filter`, 1},
	{"lone paren", `)`, nil, `unexpected ')', expected an expression`, 0},
	{"operator after value path", `emails[type eq "work"] eq "x"`, nil, `unexpected "eq" after expression`, 23},
	{"stray bracket", `userName eq "x"]`, nil, `unexpected ']'`, 15},

	// Types.
	{"bad dateTime", `meta.created gt "yesterday"`, nil, `invalid dateTime "yesterday"`, 16},
	{"dateTime without zone", `meta.created gt "2011-05-13T04:42:34"`, nil, `invalid dateTime`, 16},
	{"dateTime number", `meta.created eq 5`, nil, `must be compared with an RFC 3339 string`, 16},
	{"dateTime co", `meta.created co "2010"`, nil, `operator "co" is not supported on dateTime attribute "meta.created"`, 13},
	{"dateTime sw", `meta.lastModified sw "2010"`, nil, `operator "sw" is not supported on dateTime`, 18},
	{"string with number", `userName eq 42`, nil, `string attribute "userName" must be compared with a string`, 12},
	{"string with bool", `userName eq true`, nil, `must be compared with a string`, 12},
	{"reference with number", `profileUrl eq 1`, nil, `reference attribute "profileUrl"`, 14},
	{"boolean with string", `active eq "yes"`, nil, `boolean attribute "active" must be compared with true or false`, 10},
	{"boolean with number", `active eq 1`, nil, `must be compared with true or false`, 10},
	{"boolean gt", `active gt true`, nil, `operator "gt" is not supported on boolean attribute "active"`, 7},
	{"boolean co", `active co "t"`, nil, `operator "co" is not supported on boolean`, 7},
	{"boolean sub-attribute le", `emails[primary le true]`, nil, `operator "le" is not supported on boolean attribute "emails.primary"`, 15},
	{"binary ordering", `x509Certificates.value gt "a"`, nil, `operator "gt" is not supported on binary`, 23},
	{"complex without value", `name eq "x"`, nil, `complex attribute "name" has no "value" sub-attribute`, 0},
	{"meta compared", `meta gt "x"`, nil, `complex attribute "meta"`, 0},
	{"complex value with wrong type", `emails eq true`, nil, `string attribute "emails" must be compared with a string`, 10},
	{"ordering null", `userName gt null`, nil, `operator "gt" cannot compare with null`, 9},
	{"co null", `title co null`, nil, `operator "co" cannot compare with null`, 6},

	// Value paths.
	{"missing bracket", `emails[type eq "work"`, nil, `missing ']'`, 21},
	{"missing bracket before and", `emails[type eq "work" and title pr`, nil, `unknown sub-attribute "emails.title"`, 26},
	{"empty value filter", `emails[]`, nil, `empty value filter`, 7},
	{"nested value filter", `emails[display[value pr]]`, nil, `nested value filters are not allowed`, 14},
	{"unknown sub in value filter", `emails[foo eq "x"]`, nil, `unknown sub-attribute "emails.foo"`, 7},
	{"dotted sub in value filter", `emails[value.foo eq "x"]`, nil, `sub-attribute "emails.value" has no sub-attribute "foo"`, 13},
	{"qualified name in value filter", `emails[` + core + `:emails.value eq "x"]`, nil, `unknown sub-attribute`, 7},
	{"value filter on simple", `userName[value eq "x"]`, nil, `attribute "userName" is not complex and cannot have a value filter`, 0},
	{"value filter on sub-attribute", `emails.value[type eq "x"]`, nil, `cannot follow sub-attribute "emails.value"`, 12},
	{"space before bracket", `emails [type eq "work"]`, nil, `missing operator after "emails" (found '[')`, 7},
}

func TestCompileErrors(t *testing.T) {
	for _, tt := range errorTests {
		t.Run(tt.name, func(t *testing.T) {
			rt := tt.rt
			if rt == nil {
				rt = schema.UserType
			}
			f, err := Compile(rt, tt.src)
			if err == nil {
				t.Fatalf("Compile(%q) = %q, want error containing %q", tt.src, f, tt.msg)
			}
			var fe *Error
			if !errors.As(err, &fe) {
				t.Fatalf("Compile(%q) error %v is %T, want *Error", tt.src, err, err)
			}
			if !strings.Contains(fe.Msg, tt.msg) || fe.Offset != tt.off {
				t.Errorf("Compile(%q) = %v, want %q at offset %d", tt.src, err, tt.msg, tt.off)
			}
		})
	}
}

func TestLimits(t *testing.T) {
	nest := func(n int, open, close string) string {
		return strings.Repeat(open, n) + "userName pr" + strings.Repeat(close, n)
	}
	tests := []struct {
		name, src string
		ok        bool
		msg       string
	}{
		{"parens at limit", nest(MaxDepth, "(", ")"), true, ""},
		{"parens over limit", nest(MaxDepth+1, "(", ")"), false, "nested deeper than 64 levels"},
		{"not at limit", nest(MaxDepth, "not (", ")"), true, ""},
		{"not over limit", nest(MaxDepth+1, "not (", ")"), false, "nested deeper than 64 levels"},
		{"value path counts", nest(MaxDepth-1, "(", ")")[:MaxDepth-1] + `emails[value pr]` + strings.Repeat(")", MaxDepth-1), true, ""},
		{"value path over limit", strings.Repeat("(", MaxDepth) + `emails[value pr]` + strings.Repeat(")", MaxDepth), false, "nested deeper"},
		{"deep unclosed", strings.Repeat("(", 1_000), false, "nested deeper"},
		{"long flat chain", "userName pr" + strings.Repeat(" and title pr", (MaxLength-20)/13), true, ""},
		{"length at limit", `userName ne "` + strings.Repeat("a", MaxLength-14) + `"`, true, ""},
		{"length over limit", `userName ne "` + strings.Repeat("a", MaxLength-13) + `"`, false, "longer than 16384 bytes"},
		{"huge", strings.Repeat("(", 1<<20), false, "longer than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Compile(schema.UserType, tt.src)
			if tt.ok {
				if err != nil {
					t.Fatalf("Compile(%.40q...) = %v, want success", tt.src, err)
				}
				if !f.Match(docs["bjensen"]) {
					t.Errorf("Compile(%.40q...) does not match bjensen", tt.src)
				}
				return
			}
			var fe *Error
			if !errors.As(err, &fe) || !strings.Contains(fe.Msg, tt.msg) {
				t.Errorf("Compile(%.40q...) = %v, want *Error containing %q", tt.src, err, tt.msg)
			}
		})
	}
}

func TestErrorString(t *testing.T) {
	_, err := Compile(schema.UserType, `foo eq "x"`)
	if got, want := fmt.Sprint(err), `filter: unknown attribute "foo" at offset 0`; got != want {
		t.Errorf("Compile(%q) = %q, want %q", `foo eq "x"`, got, want)
	}
	_, err = Compile(nil, `userName pr`)
	if got, want := fmt.Sprint(err), `filter: no resource type to resolve attributes against`; got != want {
		t.Errorf("Compile(nil, ...) = %q, want %q", got, want)
	}
	if _, err := Compile(&schema.ResourceType{}, `userName pr`); err == nil {
		t.Errorf("Compile with an empty resource type succeeded, want error")
	}
}

// TestNumbers covers integer and decimal attributes, which the served
// schemas lack, through hand-built attributes.
func TestNumbers(t *testing.T) {
	age := &schema.Attribute{Name: "age", Type: schema.Integer}
	score := &schema.Attribute{Name: "score", Type: schema.Decimal}
	doc := Map{"age": json.Number("42"), "score": 2.5, "list": []any{json.Number("1"), json.Number("7")}}
	tests := []struct {
		attr *schema.Attribute
		op   Op
		lit  string
		want bool
	}{
		{age, Eq, "42", true},
		{age, Eq, "4.2e1", true},
		{age, Ne, "42", false},
		{age, Gt, "41", true},
		{age, Ge, "42", true},
		{age, Lt, "42", false},
		{age, Le, "-1", false},
		{score, Gt, "2.25", true},
		{score, Lt, "3", true},
		{score, Eq, "2.5", true},
	}
	for _, tt := range tests {
		path := AttrPath{Attr: tt.attr}
		_, n, err := newCompare(path, tt.attr.Name, tt.op, json.Number(tt.lit), false, 0, 0, 0)
		if err != nil {
			t.Fatalf("newCompare(%s %s %s) = %v", tt.attr.Name, tt.op, tt.lit, err)
		}
		if got := n.eval(doc, nil); got != tt.want {
			t.Errorf("%s %s %s = %v, want %v", tt.attr.Name, tt.op, tt.lit, got, tt.want)
		}
	}
	for _, bad := range []struct {
		op  Op
		val any
		msg string
	}{
		{Co, json.Number("1"), `operator "co" is not supported on integer`},
		{Eq, "42", `must be compared with a number`},
		{Eq, json.Number("1e999"), `out of range`},
	} {
		if _, _, err := newCompare(AttrPath{Attr: age}, "age", bad.op, bad.val, false, 0, 0, 0); err == nil || !strings.Contains(err.Error(), bad.msg) {
			t.Errorf("age %s %v = %v, want error containing %q", bad.op, bad.val, err, bad.msg)
		}
	}
	var b strings.Builder
	writeExpr(&b, &Compare{Path: AttrPath{Attr: age}, Op: Ge, Value: json.Number("-1.5e3")}, 0)
	if got, want := b.String(), `age ge -1.5e3`; got != want {
		t.Errorf("rendering = %q, want %q", got, want)
	}
	for _, v := range []any{float32(1), 1, int64(1), int32(1)} {
		if f, ok := toFloat(v); !ok || f != 1 {
			t.Errorf("toFloat(%T) = %v, %v, want 1, true", v, f, ok)
		}
	}
}

func TestNilAndOddInputs(t *testing.T) {
	var f *Filter
	if !f.Match(docs["bjensen"]) || f.String() != "" || f.Root() != nil {
		t.Errorf("nil Filter: Match false, String %q or Root %v; want match-all", f.String(), f.Root())
	}
	g, err := Compile(schema.UserType, `userName pr or emails[type eq "work"]`)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []Resource{nil, Map(nil), Map{"emails": []map[string]any{{"type": "work"}}}} {
		g.Match(r) // must not panic
	}
	if !g.Match(Map{"emails": []map[string]any{{"type": "work"}}}) {
		t.Errorf("value path over []map[string]any does not match")
	}
	h, err := Compile(schema.UserType, `meta.created lt "2030-01-01T00:00:00Z" and emails.value eq "x"`)
	if err != nil {
		t.Fatal(err)
	}
	when := mustTime(t, "2020-01-01T00:00:00Z")
	if !h.Match(Map{"meta": map[string]any{"created": when}, "emails": []map[string]any{{"value": []any{"y", "X"}}}}) {
		t.Errorf("time.Time value or nested list not matched")
	}
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	tm, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

func TestConcurrentMatch(t *testing.T) {
	f, err := Compile(schema.UserType, `userName sw "b" and emails[type eq "work"] and meta.created lt "2030-01-01T00:00:00Z"`)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 200 {
				if !f.Match(docs["bjensen"]) || f.Match(docs["minimal"]) {
					t.Error("wrong result under concurrency")
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestPresent(t *testing.T) {
	tests := []struct {
		v    any
		want bool
	}{
		{nil, false},
		{"", false},
		{"x", true},
		{false, true},
		{json.Number("0"), true},
		{[]any{}, false},
		{[]any{"", nil}, false},
		{[]any{"", "x"}, true},
		{map[string]any{}, false},
		{map[string]any{"value": nil, "display": ""}, false},
		{map[string]any{"value": "x"}, true},
		{map[string]any{"list": []any{map[string]any{}}}, false},
		{[]map[string]any{{}, {"a": nil}}, false},
		{[]map[string]any{{}, {"a": 1.0}}, true},
	}
	for _, tt := range tests {
		if got := present(tt.v); got != tt.want {
			t.Errorf("present(%#v) = %v, want %v", tt.v, got, tt.want)
		}
	}
	f, err := Compile(schema.UserType, `emails pr`)
	if err != nil {
		t.Fatal(err)
	}
	if f.Match(Map{"emails": []any{map[string]any{}, map[string]any{"value": ""}}}) {
		t.Errorf("Compile(%q) matches emails without present values", `emails pr`)
	}
}

// TestValuePathSubAttribute: Entra ID filters users on a work email with
// emails[type eq "work"].value eq "x", outside the RFC grammar; it reads as
// emails[type eq "work" and value eq "x"].
func TestValuePathSubAttribute(t *testing.T) {
	doc := Map{"emails": []any{
		map[string]any{"type": "home", "value": "b@home.example"},
		map[string]any{"type": "work", "value": "Babs@Work.example"},
	}}
	tests := []struct {
		filter string
		want   bool
		canon  string
	}{
		{`emails[type eq "work"].value eq "babs@work.example"`, true, `emails[type eq "work" and value eq "babs@work.example"]`},
		{`emails[type eq "work"].value eq "b@home.example"`, false, ``},
		{`emails[type eq "home"].value sw "b@"`, true, ``},
		{`emails[type eq "work"].display pr`, false, ``},
		{`emails[type eq "work"].value pr and userName pr`, false, ``},
	}
	for _, tt := range tests {
		f, err := Compile(schema.UserType, tt.filter)
		if err != nil {
			t.Errorf("Compile(%q) = %v", tt.filter, err)
			continue
		}
		if got := f.Match(doc); got != tt.want {
			t.Errorf("Compile(%q).Match = %v, want %v", tt.filter, got, tt.want)
		}
		if tt.canon != "" && f.String() != tt.canon {
			t.Errorf("Compile(%q).String() = %q, want %q", tt.filter, f.String(), tt.canon)
		}
	}
	for _, bad := range []string{`emails[type eq "work"].`, `emails[type eq "work"]. value eq "x"`, `emails[type eq "work"].bogus eq "x"`, `emails[type eq "work"].value`} {
		if _, err := Compile(schema.UserType, bad); err == nil {
			t.Errorf("Compile(%q) = nil error", bad)
		}
	}
}
