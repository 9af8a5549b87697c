package config

import (
	"strings"
	"testing"
)

// TestParseSmallInputs: small mistakes are reported with their field path
// and a hint, not as the YAML library's raw error or not at all.
func TestParseSmallInputs(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       []string // each a problem's start; nil: valid
	}{
		{"duplicate key", "listen: \"127.0.0.1:1\"\nlisten: \"127.0.0.1:2\"\n",
			[]string{`line 2: listen: is given twice (first on line 1; keep one)`}},
		{"duplicate nested key", "scim:\n  max_results: 5\n  max_results: 6\n",
			[]string{`line 3: scim.max_results: is given twice`}},
		{"quoted float", "audit: {decisions: {allows: sample, sample_rate: \"0.1\"}}\n",
			[]string{`line 1: audit.decisions.sample_rate: "0.1" is not a number (write the number without quotes)`}},
		{"float", "audit: {decisions: {allows: sample, sample_rate: 0.1}}\n", nil},
		{"integer for a float", "audit: {decisions: {allows: sample, sample_rate: 1}}\n", nil},
		{"list for a float", "audit: {decisions: {sample_rate: [1]}}\n", []string{`line 1: audit.decisions.sample_rate: must be a single number`}},
		{"null route", "routes: [~]\n", []string{`line 1: routes[0]: is empty`}},
		{"null route in a block list", "routes:\n  - \n  - {name: a, allow: {public: true}}\n", []string{`line 2: routes[0]: is empty`}},
		{"null routes", "routes: ~\n", nil},
		{"second document", "listen: \"127.0.0.1:1\"\n---\nlisten: \"bad\"\n",
			[]string{`line 3: (top level): a second YAML document (after ---) would be ignored (a configuration is one document: remove the --- and merge the two)`}},
		{"leading document marker", "---\nlisten: \"127.0.0.1:1\"\n", nil},
		{"trailing document marker", "listen: \"127.0.0.1:1\"\n---\n", nil},
		{"upstream without host", "routes:\n  - {name: a, upstream: \"http://:9001\", allow: {public: true}}\n",
			[]string{`routes[0].upstream: "http://:9001" names no host`}},
		{"upstream port out of range", "routes:\n  - {name: a, upstream: \"http://h:99999\", allow: {public: true}}\n",
			[]string{`routes[0].upstream: "http://h:99999" has no valid port`}},
		{"upstream port zero", "routes:\n  - {name: a, upstream: \"http://h:0\", allow: {public: true}}\n",
			[]string{`routes[0].upstream: "http://h:0" has no valid port`}},
		{"upstream ipv6", "routes:\n  - {name: a, upstream: \"http://[::1]:9001/x\", allow: {public: true}}\n", nil},
		{"admin_listen is listen", "listen: \"127.0.0.1:8080\"\nadmin_listen: \"127.0.0.1:8080\"\n",
			[]string{`admin_listen: "127.0.0.1:8080" is also listen`}},
		{"both on port 0", "listen: \"127.0.0.1:0\"\nadmin_listen: \"127.0.0.1:0\"\n", nil},
		{"admin_listen on every address, listen's port", "listen: \"127.0.0.1:8080\"\nadmin_listen: \"0.0.0.0:8080\"\nadmin_token_sha256: [\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"]\n",
			[]string{`admin_listen: "0.0.0.0:8080" is also listen`}},
		{"listen on every address, admin_listen on its port", "listen: \":9090\"\nadmin_listen: \"127.0.0.1:9090\"\n",
			[]string{`admin_listen: "127.0.0.1:9090" is also listen`}},
		{"localhost and 127.0.0.1", "listen: \"localhost:8080\"\nadmin_listen: \"127.0.0.1:8080\"\n",
			[]string{`admin_listen: "127.0.0.1:8080" is also listen`}},
		{"two loopback addresses", "listen: \"127.0.0.2:8080\"\nadmin_listen: \"127.0.0.1:8080\"\n", nil},
		{"spoe.listen is listen", "listen: \"127.0.0.1:8080\"\nspoe: {listen: \"[::]:8080\"}\n",
			[]string{`spoe.listen: "[::]:8080" is also listen`}},
		{"spoe.listen is admin_listen", "listen: \"127.0.0.1:8080\"\nadmin_listen: \"127.0.0.1:9090\"\nspoe: {listen: \"127.0.0.1:9090\"}\n",
			[]string{`spoe.listen: "127.0.0.1:9090" is also admin_listen`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml))
			got := problems(err)
			if len(got) != len(tt.want) {
				t.Fatalf("problems %q, want %q", got, tt.want)
			}
			for i := range got {
				if !strings.HasPrefix(got[i], tt.want[i]) {
					t.Errorf("problem %q, want it to start %q", got[i], tt.want[i])
				}
			}
		})
	}
}
