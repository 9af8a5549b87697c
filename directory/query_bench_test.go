package directory_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/scimgate/scimgate/scim"
	"github.com/scimgate/scimgate/scim/schema"
)

// BenchmarkFilterMemberTerms lists groups with a filter of 100 terms on
// members over a group of 300: the members are read once for the group,
// not once a term.
//
//	go test ./directory -run '^$' -bench FilterMemberTerms
func BenchmarkFilterMemberTerms(b *testing.B) {
	f := newFixture(b)
	g := f.group(b, "big")
	values := make([]string, 300)
	var last string
	for i := range values {
		last = f.user(b, fmt.Sprintf("u%04d", i))
		values[i] = `{"value":"` + last + `"}`
	}
	if err := f.patch(b, schema.GroupType, g, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"add","path":"members","value":[`+strings.Join(values, ",")+`]}]}`); err != nil {
		b.Fatal(err)
	}
	var terms []string
	for i := range 99 {
		terms = append(terms, fmt.Sprintf(`members.display eq "nobody%d"`, i))
	}
	terms = append(terms, `members.value eq "`+last+`"`)
	q, err := scim.RawQuery{StartIndex: 1, Count: -1, Filter: strings.Join(terms, " or ")}.Compile(schema.GroupType)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for b.Loop() {
		page, err := f.dir.Query(ctx, f.c, schema.GroupType, q)
		if err != nil || page.Total != 1 {
			b.Fatalf("Query = %v, %v; want the one group", page, err)
		}
	}
}
