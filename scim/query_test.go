package scim

import (
	"net/url"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/scimgate/scimgate/scim/schema"
)

func TestParseQueryParams(t *testing.T) {
	tests := []struct {
		query string
		want  RawQuery
	}{
		{"", RawQuery{StartIndex: 1, Count: -1}},
		{"startIndex=5&count=10", RawQuery{StartIndex: 5, Count: 10}},
		{"startIndex=0", RawQuery{StartIndex: 1, Count: -1}},
		{"startIndex=-3", RawQuery{StartIndex: 1, Count: -1}},
		{"count=0", RawQuery{StartIndex: 1, Count: 0}},
		{"count=-1", RawQuery{StartIndex: 1, Count: 0}},
		{"count=-100", RawQuery{StartIndex: 1, Count: 0}},
		{"count=%2010%20", RawQuery{StartIndex: 1, Count: 10}},
		{"count=99999999999999", RawQuery{StartIndex: 1, Count: 1 << 31}},
		{"startIndex=99999999999999", RawQuery{StartIndex: 1 << 31, Count: -1}},
		{"startIndex=99999999999999999999&count=99999999999999999999", RawQuery{StartIndex: 1 << 31, Count: 1 << 31}},
		{"startIndex=-99999999999999999999&count=-99999999999999999999", RawQuery{StartIndex: 1, Count: 0}},
		{"STARTINDEX=2&Count=3&FILTER=userName+eq+%22a%22&SortBy=userName&sortorder=Descending",
			RawQuery{StartIndex: 2, Count: 3, Filter: `userName eq "a"`, SortBy: "userName", SortOrder: "Descending"}},
		{"attributes=userName,emails&attributes=name&excludedAttributes=groups",
			RawQuery{StartIndex: 1, Count: -1, Attributes: []string{"userName,emails", "name"}, Excluded: []string{"groups"}}},
		{"ExcludedAttributes=members", RawQuery{StartIndex: 1, Count: -1, Excluded: []string{"members"}}},
		{"count=1&count=2", RawQuery{StartIndex: 1, Count: 2}},
		{"unknown=1&count=4", RawQuery{StartIndex: 1, Count: 4}},
	}
	for _, tt := range tests {
		v, err := url.ParseQuery(tt.query)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ParseQueryParams(v)
		if err != nil {
			t.Errorf("ParseQueryParams(%q) = %v, want success", tt.query, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("ParseQueryParams(%q) mismatch (-want +got):\n%s", tt.query, diff)
		}
	}
}

func TestParseQueryParamsErrors(t *testing.T) {
	for _, q := range []string{"count=ten", "count=1.5", "count=", "startIndex=1e2", "startIndex=0x10", "StartIndex=abc"} {
		v, _ := url.ParseQuery(q)
		got, err := ParseQueryParams(v)
		if err == nil {
			t.Errorf("ParseQueryParams(%q) = %+v, want error", q, got)
			continue
		}
		checkCode(t, "ParseQueryParams("+q+")", err, CodeInvalidValue, "integer")
	}
}

func TestParseSearchBody(t *testing.T) {
	tests := []struct {
		body string
		want RawQuery
	}{
		{`{}`, RawQuery{StartIndex: 1, Count: -1}},
		{`{"schemas":["` + SearchRequestSchema + `"]}`, RawQuery{StartIndex: 1, Count: -1}},
		{`{"schemas":["urn:x","URN:IETF:PARAMS:SCIM:API:MESSAGES:2.0:SEARCHREQUEST"],"filter":"userName eq \"a\"","sortBy":"userName",
		   "sortOrder":"descending","startIndex":3,"count":20,"attributes":["userName","emails"],"excludedAttributes":["groups"]}`,
			RawQuery{Filter: `userName eq "a"`, SortBy: "userName", SortOrder: "descending", StartIndex: 3, Count: 20,
				Attributes: []string{"userName", "emails"}, Excluded: []string{"groups"}}},
		{`{"STARTINDEX":0,"COUNT":-1}`, RawQuery{StartIndex: 1, Count: 0}},
		{`{"count":-5,"startIndex":-5}`, RawQuery{StartIndex: 1, Count: 0}},
		{`{"count":0}`, RawQuery{StartIndex: 1, Count: 0}},
		{`{"attributes":"userName,name","excludedAttributes":"emails"}`,
			RawQuery{StartIndex: 1, Count: -1, Attributes: []string{"userName,name"}, Excluded: []string{"emails"}}},
		{`{"attributes":[]}`, RawQuery{StartIndex: 1, Count: -1, Attributes: []string{}}},
		{`{"other":{"x":1}}`, RawQuery{StartIndex: 1, Count: -1}},
	}
	for _, tt := range tests {
		got, err := ParseSearchBody(mustDecode(t, tt.body))
		if err != nil {
			t.Errorf("ParseSearchBody(%s) = %v, want success", tt.body, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("ParseSearchBody(%s) mismatch (-want +got):\n%s", tt.body, diff)
		}
	}
}

func TestParseSearchBodyErrors(t *testing.T) {
	tests := []struct {
		body  string
		names []string
	}{
		{`{"schemas":["` + PatchSchema + `"]}`, []string{SearchRequestSchema}},
		{`{"schemas":[]}`, []string{SearchRequestSchema}},
		{`{"schemas":"` + SearchRequestSchema + `"}`, []string{SearchRequestSchema}},
		{`{"filter":1}`, []string{"filter", "string"}},
		{`{"sortBy":["userName"]}`, []string{"sortBy", "string"}},
		{`{"sortOrder":true}`, []string{"sortOrder", "string"}},
		{`{"startIndex":"2"}`, []string{"startIndex", "integer"}},
		{`{"count":1.5}`, []string{"count", "integer"}},
		{`{"count":null}`, []string{"count", "integer"}},
		{`{"attributes":[1]}`, []string{"attributes"}},
		{`{"excludedAttributes":{"a":1}}`, []string{"excludedAttributes"}},
	}
	for _, tt := range tests {
		got, err := ParseSearchBody(mustDecode(t, tt.body))
		if err == nil {
			t.Errorf("ParseSearchBody(%s) = %+v, want error", tt.body, got)
			continue
		}
		checkCode(t, "ParseSearchBody("+tt.body+")", err, CodeInvalidValue, tt.names...)
	}
}

func TestCompile(t *testing.T) {
	tests := []struct {
		rt         *schema.ResourceType
		raw        RawQuery
		filter     string // canonical, "" for none
		sortBy     string
		descending bool
	}{
		{schema.UserType, RawQuery{StartIndex: 1, Count: -1}, "", "", false},
		{schema.UserType, RawQuery{Filter: "  ", StartIndex: 1, Count: -1}, "", "", false},
		{schema.UserType, RawQuery{Filter: `USERNAME Eq "x"`, StartIndex: 2, Count: 5}, `userName eq "x"`, "", false},
		{schema.UserType, RawQuery{SortBy: "NAME.familyName", SortOrder: "DESCENDING"}, "", "name.familyName", true},
		{schema.UserType, RawQuery{SortBy: "meta.lastModified", SortOrder: "Ascending"}, "", "meta.lastModified", false},
		{schema.UserType, RawQuery{SortBy: ent + ":department"}, "", ent + ":department", false},
		{schema.GroupType, RawQuery{Filter: `members[value eq "u1"]`, SortBy: "displayName"}, `members[value eq "u1"]`, "displayName", false},
	}
	for _, tt := range tests {
		q, err := tt.raw.Compile(tt.rt)
		if err != nil {
			t.Errorf("%+v.Compile(%s) = %v, want success", tt.raw, tt.rt.Name, err)
			continue
		}
		if got := q.Filter.String(); got != tt.filter {
			t.Errorf("%+v.Compile(%s).Filter = %q, want %q", tt.raw, tt.rt.Name, got, tt.filter)
		}
		sortBy := ""
		if q.SortBy != nil {
			sortBy = q.SortBy.String()
		}
		if sortBy != tt.sortBy || q.Descending != tt.descending {
			t.Errorf("%+v.Compile(%s) sorts by %q descending=%v, want %q descending=%v", tt.raw, tt.rt.Name, sortBy, q.Descending, tt.sortBy, tt.descending)
		}
		if q.StartIndex != tt.raw.StartIndex || q.Count != tt.raw.Count {
			t.Errorf("%+v.Compile(%s) = startIndex %d count %d, want them unchanged", tt.raw, tt.rt.Name, q.StartIndex, q.Count)
		}
		if q.Projection == nil {
			t.Errorf("%+v.Compile(%s).Projection = nil", tt.raw, tt.rt.Name)
		}
	}
}

func TestCompileProjection(t *testing.T) {
	q, err := RawQuery{Attributes: []string{"displayName"}}.Compile(schema.GroupType)
	if err != nil {
		t.Fatal(err)
	}
	if q.Projection.Wants(schema.Group.Attr("members")) {
		t.Errorf("Compile(attributes=displayName).Projection.Wants(members) = true, want false")
	}
	q, err = RawQuery{Excluded: []string{"members"}}.Compile(schema.GroupType)
	if err != nil {
		t.Fatal(err)
	}
	if q.Projection.Wants(schema.Group.Attr("members")) {
		t.Errorf("Compile(excludedAttributes=members).Projection.Wants(members) = true, want false")
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		rt    *schema.ResourceType
		raw   RawQuery
		code  Code
		names []string
	}{
		{schema.UserType, RawQuery{Filter: `userName eq`}, CodeInvalidFilter, nil},
		{schema.UserType, RawQuery{Filter: `favouriteColour eq "blue"`}, CodeInvalidFilter, []string{"favouriteColour"}},
		{schema.UserType, RawQuery{Filter: `active eq "maybe"`}, CodeInvalidFilter, nil},
		{schema.GroupType, RawQuery{Filter: `userName eq "a"`}, CodeInvalidFilter, []string{"userName"}},
		{schema.UserType, RawQuery{SortBy: "favouriteColour"}, CodeInvalidValue, []string{"sortBy", "favouriteColour"}},
		{schema.UserType, RawQuery{SortBy: ent}, CodeInvalidValue, []string{"sortBy", ent}},
		{schema.UserType, RawQuery{SortBy: `emails[type eq "work"]`}, CodeInvalidValue, []string{"sortBy"}},
		{schema.UserType, RawQuery{SortBy: " "}, CodeInvalidValue, []string{"sortBy"}},
		{schema.UserType, RawQuery{SortOrder: "up"}, CodeInvalidValue, []string{"sortOrder", "up"}},
		{schema.UserType, RawQuery{SortOrder: "asc"}, CodeInvalidValue, []string{"sortOrder"}},
		{schema.UserType, RawQuery{Attributes: []string{"nope"}}, CodeInvalidValue, []string{"attributes", "nope"}},
		{schema.UserType, RawQuery{Excluded: []string{"nope"}}, CodeInvalidValue, []string{"excludedAttributes", "nope"}},
	}
	for _, tt := range tests {
		q, err := tt.raw.Compile(tt.rt)
		if err == nil {
			t.Errorf("%+v.Compile(%s) = %+v, want error", tt.raw, tt.rt.Name, q)
			continue
		}
		checkCode(t, "Compile", err, tt.code, tt.names...)
	}
}
