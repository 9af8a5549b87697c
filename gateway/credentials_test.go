package gateway

import (
	"net/http"
	"slices"
	"testing"
)

func TestStripCredentials(t *testing.T) {
	for _, tc := range []struct {
		name       string
		in         http.Header
		cookie     string
		wantAuth   string
		wantCookie []string
	}{
		{"access token", http.Header{"Authorization": {"Bearer sga_0123_secret"}}, "", "", nil},
		{"access token, any case", http.Header{"Authorization": {"bEaReR   sga_0123_secret"}}, "", "", nil},
		{"the application's bearer token", http.Header{"Authorization": {"Bearer eyJhbGciOi"}}, "", "Bearer eyJhbGciOi", nil},
		{"basic auth", http.Header{"Authorization": {"Basic YTpi"}}, "sess", "Basic YTpi", nil},
		{"session cookie alone", http.Header{"Cookie": {"sess=abc.def"}}, "sess", "", nil},
		{"session cookie among others", http.Header{"Cookie": {"a=1; sess=abc.def;b=2"}}, "sess", "", []string{"a=1; b=2"}},
		{"several Cookie lines", http.Header{"Cookie": {"sess=x", "c=3"}}, "sess", "", []string{"c=3"}},
		{"a prefix of the name is another cookie", http.Header{"Cookie": {"sess2=x; xsess=y"}}, "sess", "", []string{"sess2=x; xsess=y"}},
		{"sessions off", http.Header{"Cookie": {"sess=x"}}, "", "", []string{"sess=x"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			StripCredentials(tc.in, tc.cookie)
			if got := tc.in.Get("Authorization"); got != tc.wantAuth {
				t.Errorf("Authorization = %q, want %q", got, tc.wantAuth)
			}
			if got := tc.in.Values("Cookie"); !slices.Equal(got, tc.wantCookie) {
				t.Errorf("Cookie = %q, want %q", got, tc.wantCookie)
			}
		})
	}
}
