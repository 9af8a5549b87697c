package signin

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/scimgate/scimgate/config"
	"github.com/scimgate/scimgate/snapshot"
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

// TestResolve: a claim names a user of the configured tenant, or of the
// only tenant; with several tenants and none configured nobody signs in,
// not even a user only one tenant has, since the provider vouches for its
// own accounts alone.
func TestResolve(t *testing.T) {
	one := snapshot.NewBuilder(1)
	one.AddTenant(1, "okta")
	one.AddUser(snapshot.Key{Tenant: 1, ID: "u1"}, "alice@x.test", true)
	one.AddUser(snapshot.Key{Tenant: 1, ID: "u3"}, "kate@x.test", true)
	one.AddUser(snapshot.Key{Tenant: 1, ID: "u4"}, "jürgen@x.test", true)
	two := snapshot.NewBuilder(1)
	two.AddTenant(1, "okta")
	two.AddTenant(2, "entra")
	two.AddUser(snapshot.Key{Tenant: 1, ID: "u1"}, "alice@x.test", true)
	two.AddUser(snapshot.Key{Tenant: 2, ID: "u2"}, "bob@x.test", true)
	single, double := one.Snapshot(), two.Snapshot()
	tests := []struct {
		name, tenant, claim string
		snap                *snapshot.Snapshot
		want                string // user id; empty: err
		err                 error
	}{
		{"only tenant", "", "ALICE@x.test", single, "u1", nil},
		{"only tenant, unknown", "", "bob@x.test", single, "", ErrNotProvisioned},
		{"KELVIN SIGN is not k", "", "\u212Aate@x.test", single, "", ErrNotProvisioned},
		{"letters outside ASCII fold among themselves", "", "JÜRGEN@x.test", single, "u4", nil},
		{"configured", "entra", "bob@x.test", double, "u2", nil},
		{"configured, another tenant's user", "entra", "alice@x.test", double, "", ErrNotProvisioned},
		{"configured tenant missing", "google", "alice@x.test", double, "", ErrNotProvisioned},
		{"several tenants, none configured", "", "bob@x.test", double, "", ErrTenantUnset},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &Service{o: Options{OIDC: &config.OIDC{UserAttribute: "userName", Tenant: tt.tenant}}}
			u, err := s.Resolve(tt.snap, tt.claim)
			if tt.want != "" {
				if err != nil || u.ID != tt.want {
					t.Fatalf("Resolve = %v, %v; want user %s", u, err, tt.want)
				}
				return
			}
			if !errors.Is(err, tt.err) {
				t.Fatalf("Resolve = %v, %v; want %v", u, err, tt.err)
			}
		})
	}
}
