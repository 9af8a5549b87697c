package config

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"gopkg.in/yaml.v3"
)

func FuzzParse(f *testing.F) {
	f.Add([]byte(fullConfig))
	f.Add([]byte(""))
	f.Add([]byte("scim: {bulk: {max_operation: 5}}"))
	f.Add([]byte("scim:\n  bulk:\n    max_operation: 5\n  max_result: 3\n  max_results: lots\nlogg: {}\nlisten: [a, b]\n"))
	f.Add([]byte("listen: &addr \"127.0.0.1:7000\"\nscim: {bootstrap_tenant: *addr}\n"))
	f.Add([]byte("a: &a [*a]"))
	f.Add([]byte("scim: {max_results: \"5\", max_body_bytes: 0x10}\n---\nlisten: x\n"))
	f.Add([]byte("? [a]\n: 1\nscim:\n  <<: {max_results: 5}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data)
		if err != nil {
			if err.Error() == "" {
				t.Fatalf("Parse(%q) = an error without a message", data)
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Parse(%q) succeeded with a config that fails Validate: %v", data, err)
		}
		// What Parse accepts survives a round trip through YAML.
		out, err := yaml.Marshal(c)
		if err != nil {
			t.Fatalf("yaml.Marshal(%+v) = %v", c, err)
		}
		c2, err := Parse(out)
		if err != nil {
			t.Fatalf("Parse(%q) succeeded, but Parse of its re-encoding %q = %v", data, out, err)
		}
		if diff := cmp.Diff(c, c2, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("Parse(%q) and Parse of its re-encoding differ (-first +second):\n%s", data, diff)
		}
	})
}
