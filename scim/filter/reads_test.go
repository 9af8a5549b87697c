package filter

import (
	"testing"

	"github.com/scimgate/scimgate/scim/schema"
)

func TestReads(t *testing.T) {
	tests := []struct {
		src, path string
		want      bool
	}{
		{`meta.version eq "W/\"1\""`, "meta.version", true},
		{`META.VERSION eq "W/\"1\""`, "meta.version", true},
		{`meta.lastModified gt "2026-01-01T00:00:00Z"`, "meta.version", false},
		{`userName eq "a" or not (meta.version pr)`, "meta.version", true},
		{`meta[version eq "W/\"1\""]`, "meta.version", true},
		{`meta[created gt "2026-01-01T00:00:00Z"]`, "meta.version", false},
		{`emails[type eq "work"]`, "emails.type", true},
		{`emails[type eq "work"]`, "type", false},
		{`userName eq "version"`, "meta.version", false},
	}
	for _, tt := range tests {
		f, err := Compile(schema.UserType, tt.src)
		if err != nil {
			t.Fatalf("Compile(%q): %v", tt.src, err)
		}
		if got := f.Reads(tt.path); got != tt.want {
			t.Errorf("Compile(%q).Reads(%q) = %v, want %v", tt.src, tt.path, got, tt.want)
		}
	}
}
