package signin

import (
	"net/http"
	"testing"
)

// TestCallbackEmailVerification: an email address the ID token says is
// unverified is refused, whatever UserInfo says; UserInfo is asked only
// when the ID token leaves the claim out.
func TestCallbackEmailVerification(t *testing.T) {
	p := newFakeIdP(t)
	s := idpService(t, p)
	tests := []struct {
		name     string
		id, info map[string]any
		want     int
	}{
		{"verified in the ID token", map[string]any{"email": "victim@example.test", "email_verified": true}, nil, http.StatusFound},
		{"unverified in the ID token, UserInfo silent", map[string]any{"email": "victim@example.test", "email_verified": false},
			map[string]any{"sub": "sub-1", "email": "victim@example.test"}, http.StatusForbidden},
		{"unverified in the ID token, UserInfo says verified", map[string]any{"email": "victim@example.test", "email_verified": false},
			map[string]any{"sub": "sub-1", "email": "victim@example.test", "email_verified": true}, http.StatusForbidden},
		{"unverified in both", map[string]any{"email": "victim@example.test", "email_verified": "false"},
			map[string]any{"sub": "sub-1", "email": "victim@example.test", "email_verified": false}, http.StatusForbidden},
		{"no email in the ID token: UserInfo's", map[string]any{}, map[string]any{"sub": "sub-1", "email": "victim@example.test", "email_verified": true}, http.StatusFound},
		{"no email in the ID token, UserInfo unverified", map[string]any{}, map[string]any{"sub": "sub-1", "email": "victim@example.test", "email_verified": false}, http.StatusForbidden},
		{"no email in the ID token, UserInfo about another subject", map[string]any{}, map[string]any{"sub": "sub-2", "email": "victim@example.test"}, http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p.set(func(p *fakeIdP) { p.idClaims, p.userinfo = tt.id, tt.info })
			state, cookies := startSignIn(t, s, p, "/app/")
			w := callbackWith(s, state, "code", cookies)
			session := sessionSet(w, "__Host-scimgate_session")
			if w.Code != tt.want || (session != "") != (tt.want == http.StatusFound) {
				t.Errorf("callback = %d, session cookie set %v; want %d", w.Code, session != "", tt.want)
			}
		})
	}
}
