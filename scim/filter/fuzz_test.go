package filter

import (
	"errors"
	"testing"

	"github.com/scimgate/scimgate/scim/schema"
)

// checkErr fails unless err is nil or a *Error, the package's only error type.
func checkErr(t *testing.T, fn, src string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if _, ok := err.(*Error); !ok {
		t.Fatalf("%s(%q) error %v is %T, want *Error", fn, src, err, err)
	}
	var fe *Error
	if !errors.As(err, &fe) || fe.Msg == "" {
		t.Fatalf("%s(%q) error %v has no message", fn, src, err)
	}
}

func FuzzCompile(f *testing.F) {
	for _, tt := range matchTests {
		f.Add(tt.src)
	}
	for _, tt := range errorTests {
		f.Add(tt.src)
	}
	for _, tt := range pathTests {
		f.Add(tt.src)
	}
	f.Add(`members[value eq "x" and type eq "User"] or displayName sw "T"`)
	f.Add(`meta.created gt "2011-05-13T04:42:34.123+02:00" and not (active eq "TRUE")`)
	f.Fuzz(func(t *testing.T, src string) {
		for _, rt := range []*schema.ResourceType{schema.UserType, schema.GroupType} {
			fl, err := Compile(rt, src)
			checkErr(t, "Compile", src, err)
			if err != nil {
				continue
			}
			s := fl.String()
			if len(s) > MaxLength {
				// Canonical names can be longer than what was written
				// (URN-qualified extension attributes), so a rendering of
				// a filter near the limit may exceed it.
				continue
			}
			g, err := Compile(rt, s)
			if err != nil {
				t.Fatalf("Compile(%q) succeeded with String %q, which fails to compile: %v", src, s, err)
			}
			if g.String() != s {
				t.Fatalf("Compile(%q).String() = %q, but Compile(%q).String() = %q", src, s, s, g.String())
			}
			for name, doc := range docs {
				if fl.Match(doc) != g.Match(doc) {
					t.Fatalf("Compile(%q) and Compile(%q) disagree on %s", src, s, name)
				}
			}
		}
	})
}

func FuzzParsePath(f *testing.F) {
	for _, tt := range pathTests {
		f.Add(tt.src)
	}
	for _, tt := range pathErrorTests {
		f.Add(tt.src)
	}
	f.Fuzz(func(t *testing.T, src string) {
		for _, rt := range []*schema.ResourceType{schema.UserType, schema.GroupType} {
			p, err := ParsePath(rt, src)
			checkErr(t, "ParsePath", src, err)
			if err != nil {
				continue
			}
			if p.Attr == nil {
				t.Fatalf("ParsePath(%q).Attr = nil", src)
			}
			s := p.String()
			if len(s) > MaxLength {
				continue
			}
			q, err := ParsePath(rt, s)
			if err != nil {
				t.Fatalf("ParsePath(%q) succeeded with String %q, which fails to parse: %v", src, s, err)
			}
			if q.String() != s || q.AttrPath != p.AttrPath {
				t.Fatalf("ParsePath(%q) = %q, but ParsePath(%q) = %q", src, s, s, q.String())
			}
			elems := []map[string]any{nil, {}, {"value": "x", "type": "work", "primary": true, "display": "X"}}
			for _, e := range elems {
				if p.ValueFilter.Match(e) != q.ValueFilter.Match(e) {
					t.Fatalf("ParsePath(%q) and ParsePath(%q) disagree on %v", src, s, e)
				}
			}
		}
	})
}

func FuzzParseAttrPath(f *testing.F) {
	for _, s := range []string{"userName", "name.givenName", "meta.lastModified", ent, ent + ":manager.value",
		core + ":emails.value", "members.$ref", "a.b.c", ":", "urn:", "x:y.z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		for _, rt := range []*schema.ResourceType{schema.UserType, schema.GroupType} {
			p, err := ParseAttrPath(rt, src)
			checkErr(t, "ParseAttrPath", src, err)
			if err != nil {
				continue
			}
			q, err := ParseAttrPath(rt, p.String())
			if err != nil || q != p {
				t.Fatalf("ParseAttrPath(%q) = %q, but ParseAttrPath(%q) = %q, %v", src, p, p, q, err)
			}
		}
	})
}
