package filter

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/scimgate/scimgate/scim/schema"
)

var pathTests = []struct {
	src      string
	rt       *schema.ResourceType
	want     string // String()
	key      string // Key()
	attr     string // Attr.Name
	sub      string // Sub.Name or ""
	filter   string // ValueFilter.String() or ""
	elemYes  []map[string]any
	elemNope []map[string]any
}{
	{src: "members", rt: schema.GroupType, want: "members", key: "members", attr: "members"},
	{src: "displayName", rt: schema.GroupType, want: "displayName", key: "displayName", attr: "displayName"},
	{src: "name.givenName", want: "name.givenName", key: "name", attr: "name", sub: "givenName"},
	{src: "Name.GivenName", want: "name.givenName", key: "name", attr: "name", sub: "givenName"},
	{src: "  emails  ", want: "emails", key: "emails", attr: "emails"},
	{src: "meta.lastModified", want: "meta.lastModified", key: "meta", attr: "meta", sub: "lastModified"},
	{src: core + ":name.familyName", want: "name.familyName", key: "name", attr: "name", sub: "familyName"},
	{src: "members[value eq \"2819c223\"]", rt: schema.GroupType,
		want: `members[value eq "2819c223"]`, key: "members", attr: "members", filter: `value eq "2819c223"`,
		elemYes:  []map[string]any{{"value": "2819c223", "type": "User"}},
		elemNope: []map[string]any{{"value": "2819C223"}, {"value": "x"}, {}, nil}},
	{src: `emails[type eq "work"].value`,
		want: `emails[type eq "work"].value`, key: "emails", attr: "emails", sub: "value", filter: `type eq "work"`,
		elemYes:  []map[string]any{{"type": "work"}, {"type": "Work", "value": "x"}},
		elemNope: []map[string]any{{"type": "home"}, {"type": true}, {}}},
	{src: `addresses[type eq "work"].streetAddress`,
		want: `addresses[type eq "work"].streetAddress`, key: "addresses", attr: "addresses", sub: "streetAddress",
		filter: `type eq "work"`},
	{src: `EMAILS[TYPE EQ "work" AND NOT (PRIMARY EQ TRUE)].VALUE`,
		want: `emails[type eq "work" and not (primary eq true)].value`, key: "emails", attr: "emails", sub: "value",
		filter:   `type eq "work" and not (primary eq true)`,
		elemYes:  []map[string]any{{"type": "work"}, {"type": "work", "primary": false}},
		elemNope: []map[string]any{{"type": "work", "primary": true}}},
	{src: `emails[value pr]`, want: `emails[value pr]`, key: "emails", attr: "emails", filter: `value pr`,
		elemYes: []map[string]any{{"value": "a@b"}}, elemNope: []map[string]any{{"value": ""}, {"type": "work"}}},
	{src: `emails[display eq null]`, want: `emails[display eq null]`, key: "emails", attr: "emails", filter: `display eq null`,
		elemYes: []map[string]any{{"value": "a@b"}}, elemNope: []map[string]any{{"display": "x"}}},
	{src: `members[value eq "a" or value eq "b"]`, rt: schema.GroupType,
		want: `members[value eq "a" or value eq "b"]`, key: "members", attr: "members", filter: `value eq "a" or value eq "b"`,
		elemYes: []map[string]any{{"value": "a"}, {"value": "b"}}, elemNope: []map[string]any{{"value": "c"}}},
	{src: `members[value eq "a"].display`, rt: schema.GroupType,
		want: `members[value eq "a"].display`, key: "members", attr: "members", sub: "display", filter: `value eq "a"`},
	{src: core + `:emails[type eq "work"].display`, want: `emails[type eq "work"].display`, key: "emails", attr: "emails",
		sub: "display", filter: `type eq "work"`},
	{src: ent + ":manager", want: ent + ":manager", key: ent, attr: "manager"},
	{src: ent + ":manager.value", want: ent + ":manager.value", key: ent, attr: "manager", sub: "value"},
	{src: ent + ":department", want: ent + ":department", key: ent, attr: "department"},
	{src: "department", want: ent + ":department", key: ent, attr: "department"},
	{src: strings.ToLower(ent) + ":MANAGER.displayname", want: ent + ":manager.displayName", key: ent, attr: "manager", sub: "displayName"},
}

func TestParsePath(t *testing.T) {
	for _, tt := range pathTests {
		t.Run(tt.src, func(t *testing.T) {
			rt := tt.rt
			if rt == nil {
				rt = schema.UserType
			}
			p, err := ParsePath(rt, tt.src)
			if err != nil {
				t.Fatalf("ParsePath(%q) = %v, want success", tt.src, err)
			}
			sub := ""
			if p.Sub != nil {
				sub = p.Sub.Name
			}
			type summary struct{ String, Key, Attr, Sub, Filter string }
			got := summary{p.String(), p.Key(), p.Attr.Name, sub, p.ValueFilter.String()}
			want := summary{tt.want, tt.key, tt.attr, tt.sub, tt.filter}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("ParsePath(%q) mismatch (-want +got):\n%s", tt.src, diff)
			}
			if (p.ValueFilter != nil) != (tt.filter != "") || (p.ValueFilter == nil) != (p.ValueFilter.Expr() == nil) {
				t.Errorf("ParsePath(%q).ValueFilter = %v, want filter %q", tt.src, p.ValueFilter, tt.filter)
			}
			for _, e := range tt.elemYes {
				if !p.ValueFilter.Match(e) {
					t.Errorf("ParsePath(%q).ValueFilter.Match(%v) = false, want true", tt.src, e)
				}
			}
			for _, e := range tt.elemNope {
				if p.ValueFilter.Match(e) {
					t.Errorf("ParsePath(%q).ValueFilter.Match(%v) = true, want false", tt.src, e)
				}
			}
			q, err := ParsePath(rt, p.String())
			if err != nil || q.String() != p.String() {
				t.Errorf("ParsePath(%q) = %v, %v; want %q", p.String(), q, err, p.String())
			}
		})
	}
}

func TestParsePathExpr(t *testing.T) {
	p, err := ParsePath(schema.GroupType, `members[value eq "id"]`)
	if err != nil {
		t.Fatal(err)
	}
	members := schema.Group.Attr("members")
	want := &Compare{Path: AttrPath{Attr: members.Sub("value")}, Op: Eq, Value: "id"}
	if diff := cmp.Diff(Expr(want), p.ValueFilter.Expr(), attrCmp); diff != "" {
		t.Errorf("ParsePath(%q).ValueFilter.Expr() mismatch (-want +got):\n%s", `members[value eq "id"]`, diff)
	}
	if p.Attr != members || p.Schema != schema.Group || p.Sub != nil {
		t.Errorf("ParsePath(%q) = %+v, want members of the Group schema", `members[value eq "id"]`, p.AttrPath)
	}
}

var pathErrorTests = []struct {
	src string
	rt  *schema.ResourceType
	msg string
	off int
}{
	{``, nil, `empty path`, 0},
	{`   `, nil, `empty path`, 3},
	{`bogus`, nil, `unknown attribute "bogus"`, 0},
	{`name.bogus`, nil, `unknown sub-attribute "name.bogus"`, 5},
	{`"userName"`, nil, `unexpected string, expected an attribute path`, 0},
	{`emails[type eq "work"`, nil, `missing ']'`, 21},
	{`emails[type eq "work" and`, nil, `unexpected end of input`, 25},
	{`emails[]`, nil, `empty value filter`, 7},
	{`emails[ ]`, nil, `empty value filter`, 8},
	{`name[givenName eq "x"]`, nil, `attribute "name" is not multi-valued`, 0},
	{ent + `:manager[value eq "x"]`, nil, `is not multi-valued`, 0},
	{`userName[value eq "x"]`, nil, `attribute "userName" is not complex`, 0},
	{`emails.value[type eq "x"]`, nil, `cannot follow sub-attribute "emails.value"`, 12},
	{`members[value eq "x"].bogus`, schema.GroupType, `unknown sub-attribute "members.bogus"`, 22},
	{`members[value eq "x"].`, schema.GroupType, `missing sub-attribute name`, 22},
	{`members[value eq "x"]. value`, schema.GroupType, `missing sub-attribute name`, 23},
	{`members[value eq "x"] .value`, schema.GroupType, `unexpected '.' after path`, 22},
	{`members[value eq "x"].value.display`, schema.GroupType, `unknown sub-attribute "members.value.display"`, 22},
	{`members[value eq "x"]value`, schema.GroupType, `unexpected "value" after path`, 21},
	{`members[value eq "x"][type eq "User"]`, schema.GroupType, `unexpected '[' after path`, 21},
	{`members[value eq "x"] or members pr`, schema.GroupType, `unexpected "or" after path`, 22},
	{`members[bogus eq "x"]`, schema.GroupType, `unknown sub-attribute "members.bogus"`, 8},
	{`members[value xx "x"]`, schema.GroupType, `unknown operator "xx"`, 14},
	{`members[value eq "x"`, schema.GroupType, `missing ']'`, 20},
	{`emails[display[value pr]]`, nil, `nested value filters are not allowed`, 14},
	{`emails [type eq "work"]`, nil, `unexpected '[' after path`, 7},
	{`emails.value eq "x"`, nil, `unexpected "eq" after path`, 13},
	{ent, nil, `schema URN "` + ent + `" is not an attribute`, 0},
	{core, nil, `is not an attribute`, 0},
	{`urn:bogus:ext:attr`, nil, `unknown schema "urn:bogus:ext"`, 0},
	{`emails[type eq "work"].value` + strings.Repeat(" ", MaxLength), nil, `longer than`, MaxLength},
}

func TestParsePathErrors(t *testing.T) {
	for _, tt := range pathErrorTests {
		t.Run(tt.src, func(t *testing.T) {
			rt := tt.rt
			if rt == nil {
				rt = schema.UserType
			}
			p, err := ParsePath(rt, tt.src)
			if err == nil {
				t.Fatalf("ParsePath(%q) = %v, want error containing %q", tt.src, p, tt.msg)
			}
			var fe *Error
			if !errors.As(err, &fe) {
				t.Fatalf("ParsePath(%q) error %v is %T, want *Error", tt.src, err, err)
			}
			if !strings.Contains(fe.Msg, tt.msg) || fe.Offset != tt.off {
				t.Errorf("ParsePath(%q) = %v, want %q at offset %d", tt.src, err, tt.msg, tt.off)
			}
		})
	}
}

func TestParseAttrPath(t *testing.T) {
	tests := []struct {
		src, want, key string
		attrNil        bool
	}{
		{src: "userName", want: "userName", key: "userName"},
		{src: " name.familyName\t", want: "name.familyName", key: "name"},
		{src: "meta.lastModified", want: "meta.lastModified", key: "meta"},
		{src: "ID", want: "id", key: "id"},
		{src: core + ":name.givenName", want: "name.givenName", key: "name"},
		{src: ent + ":department", want: ent + ":department", key: ent},
		{src: ent, want: ent, key: ent, attrNil: true},
		{src: strings.ToUpper(ent), want: ent, key: ent, attrNil: true},
		{src: "emails.$ref", want: "", key: ""}, // error: emails has no $ref
	}
	for _, tt := range tests {
		p, err := ParseAttrPath(schema.UserType, tt.src)
		if tt.want == "" {
			if err == nil {
				t.Errorf("ParseAttrPath(%q) = %v, want error", tt.src, p)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseAttrPath(%q) = %v, want success", tt.src, err)
			continue
		}
		if p.String() != tt.want || p.Key() != tt.key || (p.Attr == nil) != tt.attrNil {
			t.Errorf("ParseAttrPath(%q) = %q (key %q, Attr %v), want %q (key %q, Attr nil %v)",
				tt.src, p, p.Key(), p.Attr, tt.want, tt.key, tt.attrNil)
		}
	}
	p := mustAttrPath(t, schema.UserType, ent)
	if p.Schema != schema.Enterprise || p.Sub != nil {
		t.Errorf("ParseAttrPath(%q) = %+v, want the Enterprise schema with nil Attr", ent, p)
	}
}

func TestParseAttrPathErrors(t *testing.T) {
	tests := []struct {
		src, msg string
		off      int
	}{
		{``, `empty attribute path`, 0},
		{`bogus`, `unknown attribute "bogus"`, 0},
		{`name.bogus`, `unknown sub-attribute "name.bogus"`, 5},
		{`userName eq "x"`, `unexpected "eq" after attribute path`, 9},
		{`emails[type eq "work"]`, `unexpected '[' after attribute path`, 6},
		{`(userName)`, `unexpected '(', expected an attribute path`, 0},
		{core, `is not an attribute`, 0},
		{`userName,title`, `unexpected character ','`, 8},
	}
	for _, tt := range tests {
		_, err := ParseAttrPath(schema.UserType, tt.src)
		var fe *Error
		if !errors.As(err, &fe) || !strings.Contains(fe.Msg, tt.msg) || fe.Offset != tt.off {
			t.Errorf("ParseAttrPath(%q) = %v, want *Error %q at offset %d", tt.src, err, tt.msg, tt.off)
		}
	}
	if _, err := ParseAttrPath(nil, "userName"); err == nil {
		t.Errorf("ParseAttrPath(nil, ...) succeeded, want error")
	}
}
