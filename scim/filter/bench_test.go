package filter

import (
	"testing"

	"github.com/scimgate/scimgate/scim/schema"
)

func BenchmarkMatch(b *testing.B) {
	benchmarks := []struct {
		name, src string
		want      bool
	}{
		{"eq", `userName eq "BJENSEN@example.com"`, true},
		{"eqCaseExact", `id eq "` + bjensenID + `"`, true},
		{"co", `userName co "EXAMPLE"`, true},
		{"valuePath", `emails[type eq "home" and value co "@JENSEN.org"]`, true},
		{"dateTime", `meta.lastModified gt "2011-01-01T00:00:00Z"`, true},
		{"extension", ent + `:manager.value eq "` + managerID + `"`, true},
		{"logic", `userName sw "x" or (active eq true and not (title eq null))`, true},
	}
	doc := bjensen()
	for _, bm := range benchmarks {
		f, err := Compile(schema.UserType, bm.src)
		if err != nil {
			b.Fatalf("Compile(%q) = %v", bm.src, err)
		}
		b.Run(bm.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if f.Match(doc) != bm.want {
					b.Fatalf("Compile(%q).Match = %v, want %v", bm.src, !bm.want, bm.want)
				}
			}
		})
	}
}

func BenchmarkCompile(b *testing.B) {
	const src = `userName eq "bjensen" and emails[type eq "work" and value co "@example.com"] or meta.created gt "2011-05-13T04:42:34Z"`
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Compile(schema.UserType, src); err != nil {
			b.Fatal(err)
		}
	}
}
