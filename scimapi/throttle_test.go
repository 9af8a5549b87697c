package scimapi_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/scimgate/scimgate/directory"
	"github.com/scimgate/scimgate/scimapi"
	"github.com/scimgate/scimgate/store/sqlite"
)

// TestFailedAuthThrottled: after AuthFailureBurst failures an address gets
// 429 with Retry-After for its next failures, until it may try again; a
// valid token from the same address is served all along (someone sharing
// the identity provider's address must not lock it out); other addresses
// are unaffected.
func TestFailedAuthThrottled(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	dir := directory.New(st, directory.Options{})
	good, _, _, err := dir.CreateToken(ctx, "acme", "", 0, "test")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0)
	srv := scimapi.New(dir, scimapi.Options{AuthFailureBurst: 3, AuthFailureInterval: 5 * time.Second, Now: func() time.Time { return now }})
	get := func(remote, token string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("GET", "/scim/v2/Users", nil)
		r.RemoteAddr = remote
		if token != "" {
			r.Header.Set("Authorization", "Bearer "+token)
		}
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, r)
		return w
	}
	const attacker, idp = "203.0.113.9:5000", "198.51.100.7:443"
	for i := range 3 {
		if w := get(attacker, "sgs_guess"); w.Code != http.StatusUnauthorized {
			t.Fatalf("failure %d: status %d, want 401", i, w.Code)
		}
	}
	w := get(attacker, "sgs_guess")
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != "5" {
		t.Errorf("after 3 failures: status %d Retry-After %q, want 429 and 5", w.Code, w.Header().Get("Retry-After"))
	}
	if w := get(attacker, good); w.Code != http.StatusOK {
		t.Errorf("a valid token from the throttled address: status %d, want 200", w.Code)
	}
	if w := get(idp, "sgs_guess"); w.Code != http.StatusUnauthorized {
		t.Errorf("another address failing: status %d, want 401", w.Code)
	}
	now = now.Add(5 * time.Second)
	if w := get(attacker, ""); w.Code != http.StatusUnauthorized {
		t.Errorf("missing token after the wait: status %d, want 401", w.Code)
	}
	if w := get(attacker, "sgs_guess"); w.Code != http.StatusTooManyRequests {
		t.Errorf("a missing token counts as a failure: status %d, want 429", w.Code)
	}
}
