package signin

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/scimgate/scimgate/config"
)

// TestClaimOf: the configured claim names the user, except an email
// address the provider says it has not verified.
func TestClaimOf(t *testing.T) {
	tests := []struct {
		name, userClaim, claims string
		want                    string
		err                     error
	}{
		{"verified", "email", `{"email":"a@x.test","email_verified":true}`, "a@x.test", nil},
		{"not said (Entra)", "email", `{"email":"a@x.test"}`, "a@x.test", nil},
		{"unverified", "email", `{"email":"a@x.test","email_verified":false}`, "", errUnverified},
		{"unverified, as a string", "email", `{"email":"a@x.test","email_verified":"False"}`, "", errUnverified},
		{"another claim ignores email_verified", "preferred_username", `{"preferred_username":"a","email_verified":false}`, "a", nil},
		{"missing", "email", `{"sub":"1"}`, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &Service{o: Options{OIDC: &config.OIDC{UserClaim: tt.userClaim}}}
			got, err := s.claimOf(func(v any) error { return json.Unmarshal([]byte(tt.claims), v) })
			if tt.want == "" && tt.err == nil {
				if err == nil {
					t.Errorf("claimOf = %q, want an error", got)
				}
				return
			}
			if got != tt.want || !errors.Is(err, tt.err) {
				t.Errorf("claimOf = %q, %v; want %q, %v", got, err, tt.want, tt.err)
			}
		})
	}
}
