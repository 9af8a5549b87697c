package assertion_test

import (
	"context"
	"net/http"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/scimgate/scimgate/assertion"
	"github.com/scimgate/scimgate/store/sqlite"
)

func TestSignVerify(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "db")
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Unix(1_800_000_000, 0)
	s, err := assertion.NewSigner(ctx, st, assertion.Options{Issuer: "https://gate.test", TTL: time.Minute, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	again, err := assertion.NewSigner(ctx, st, assertion.Options{Issuer: "https://gate.test"})
	if err != nil || again.KeyID() != s.KeyID() {
		t.Fatalf("a second signer on the same store uses key %s (%v), want the stored %s", again.KeyID(), err, s.KeyID())
	}
	keys, err := assertion.ParseJWKS(s.JWKS())
	if err != nil {
		t.Fatal(err)
	}
	jwt, exp, err := s.Sign(assertion.Claims{Subject: "u1", UserName: "alice", Groups: []string{"eng", "ops"}, Tenant: 7, Audience: "app"})
	if err != nil || !exp.Equal(now.Add(time.Minute)) {
		t.Fatalf("Sign = %v, exp %v", err, exp)
	}
	v, err := assertion.Verify(jwt, keys, now)
	if err != nil {
		t.Fatalf("Verify = %v", err)
	}
	if v.Subject != "u1" || v.UserName != "alice" || v.Audience != "app" || v.Issuer != "https://gate.test" || len(v.Groups) != 2 || v.Tenant != 7 {
		t.Errorf("Verify claims = %+v", v)
	}
	parts := strings.Split(jwt, ".")
	tampered := parts[0] + "." + strings.Replace(parts[1], parts[1][5:9], "AAAA", 1) + "." + parts[2]
	for name, tc := range map[string]struct {
		token string
		at    time.Time
	}{
		"tampered":  {tampered, now},
		"expired":   {jwt, now.Add(3 * time.Minute)},
		"truncated": {parts[0] + "." + parts[1], now},
		"garbage":   {"x.y.z", now},
	} {
		if _, err := assertion.Verify(tc.token, keys, tc.at); err == nil {
			t.Errorf("Verify(%s) = nil error", name)
		}
	}
}

func TestStrip(t *testing.T) {
	h := http.Header{}
	h["X-Scimgate-User"] = []string{"root"}
	h["x-scimgate-groups"] = []string{"admins"} // not canonical: set directly
	h.Set("X-SCIMGATE-ASSERTION", "forged")
	h.Set("X-Scimgate-Whatever", "x")
	h.Set("X-Other", "keep")
	assertion.Strip(h)
	if len(h) != 1 || h.Get("X-Other") != "keep" {
		t.Errorf("after Strip: %v, want only X-Other", h)
	}
	for _, tc := range []struct {
		in   []string
		want []string // nil: no Connection header left
	}{
		{[]string{"keep-alive"}, []string{"keep-alive"}},
		{[]string{"X-Scimgate-User, X-Scimgate-Assertion"}, nil},
		{[]string{"Upgrade, x_scimgate_groups", "x-scimgate-email,keep-alive"}, []string{"Upgrade", "keep-alive"}},
	} {
		h := http.Header{"Connection": tc.in}
		assertion.Strip(h)
		if !reflect.DeepEqual(h["Connection"], tc.want) {
			t.Errorf("Strip(Connection: %q) = %q, want %q", tc.in, h["Connection"], tc.want)
		}
	}
}

func TestIsIdentityHeader(t *testing.T) {
	for _, tt := range []struct {
		name string
		want bool
	}{
		{"X-Scimgate-User", true},
		{"x_scimgate_groups", true},
		{"X-SCimgAte", true}, // the bare name too, as the HAProxy examples delete it
		{"x_scimgate", true},
		{"X-Scimgate-", true},
		{"X-Scimgatex", false},
		{"X-Scimgat", false},
		{"X-Scimgate\rUser", false},
		{"X\rScimgate-User", false}, // '\r'|0x20 is '-': folding must not confuse them
		{"Xx-Scimgate-User", false},
		{"X-Other", false},
		{"", false},
	} {
		if got := assertion.IsIdentityHeader(tt.name); got != tt.want {
			t.Errorf("IsIdentityHeader(%q) = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestValuesSet(t *testing.T) {
	tests := []struct {
		name string
		v    assertion.Values
		want http.Header
	}{
		{"all", assertion.Values{User: "alice", Email: "alice@example.com", Groups: "eng,ops", Assertion: "ey.x.y"},
			http.Header{"X-Scimgate-User": {"alice"}, "X-Scimgate-Email": {"alice@example.com"}, "X-Scimgate-Groups": {"eng,ops"},
				"X-Scimgate-Assertion": {"ey.x.y"}, "X-Other": {"keep"}}},
		{"no email", assertion.Values{User: "bob", Assertion: "ey.x.y"},
			http.Header{"X-Scimgate-User": {"bob"}, "X-Scimgate-Groups": {""}, "X-Scimgate-Assertion": {"ey.x.y"}, "X-Other": {"keep"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{"X-Scimgate-User": {"forged", "twice"}, "X-Other": {"keep"}}
			tt.v.Set(h)
			if !reflect.DeepEqual(h, tt.want) {
				t.Errorf("Set(%+v) = %v, want %v", tt.v, h, tt.want)
			}
			for k := range tt.want {
				if got, want := h.Get(k), tt.want[k][0]; got != want {
					t.Errorf("Get(%q) = %q, want %q", k, got, want)
				}
			}
			// A later handler adding a value must not overwrite another header's.
			h.Add(assertion.HeaderUser, "extra")
			if got := h.Get(assertion.HeaderGroups); got != tt.v.Groups {
				t.Errorf("after an Add to %s, %s = %q, want %q", assertion.HeaderUser, assertion.HeaderGroups, got, tt.v.Groups)
			}
		})
	}
}
