package gateway

import (
	"net/http"
	"slices"
	"testing"

	"github.com/scimgate/scimgate/engine"
)

func TestStripCredentials(t *testing.T) {
	for _, tc := range []struct {
		name       string
		in         http.Header
		cookie     string
		jwt        bool // the principal authenticated with a bearer JWT
		wantAuth   string
		wantCookie []string
	}{
		{"access token", http.Header{"Authorization": {"Bearer sga_0123_secret"}}, "", false, "", nil},
		{"access token, any case", http.Header{"Authorization": {"bEaReR   sga_0123_secret"}}, "", false, "", nil},
		{"the application's bearer token", http.Header{"Authorization": {"Bearer eyJhbGciOi"}}, "", false, "Bearer eyJhbGciOi", nil},
		{"the IdP's bearer JWT it authenticated with", http.Header{"Authorization": {"Bearer eyJhbGciOi.e30.sig"}}, "", true, "", nil},
		{"basic auth", http.Header{"Authorization": {"Basic YTpi"}}, "sess", false, "Basic YTpi", nil},
		{"session cookie alone", http.Header{"Cookie": {"sess=abc.def"}}, "sess", false, "", nil},
		{"session cookie among others", http.Header{"Cookie": {"a=1; sess=abc.def;b=2"}}, "sess", false, "", []string{"a=1; b=2"}},
		{"several Cookie lines", http.Header{"Cookie": {"sess=x", "c=3"}}, "sess", false, "", []string{"c=3"}},
		{"a prefix of the name is another cookie", http.Header{"Cookie": {"sess2=x; xsess=y"}}, "sess", false, "", []string{"sess2=x; xsess=y"}},
		{"sessions off", http.Header{"Cookie": {"sess=x"}}, "", false, "", []string{"sess=x"}},
		{"the session's JWT cookie (HAProxy map-sync)", http.Header{"Cookie": {"a=1; scimgate_jwt=e.y.j; sess=x", "scimgate_jwt=z"}}, "sess", false, "", []string{"a=1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var cookies []string
			if tc.cookie != "" {
				cookies = []string{tc.cookie, "scimgate_jwt"}
			}
			StripCredentials(tc.in, engine.Principal{JWT: tc.jwt}, cookies)
			if got := tc.in.Get("Authorization"); got != tc.wantAuth {
				t.Errorf("Authorization = %q, want %q", got, tc.wantAuth)
			}
			if got := tc.in.Values("Cookie"); !slices.Equal(got, tc.wantCookie) {
				t.Errorf("Cookie = %q, want %q", got, tc.wantCookie)
			}
		})
	}
}
