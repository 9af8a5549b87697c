package authn

import (
	"crypto/sha256"
	"strings"
	"testing"
)

func TestHashSecret(t *testing.T) {
	for _, secret := range []string{"", "short", strings.Repeat("s", 43), strings.Repeat("x", 64), strings.Repeat("y", 200)} {
		if got, want := hashSecret(secret), sha256.Sum256([]byte(secret)); got != want {
			t.Errorf("hashSecret(%d bytes) = %x, want %x", len(secret), got, want)
		}
	}
	secret := strings.Repeat("s", 43) // an access token's
	if n := testing.AllocsPerRun(100, func() { hashSecret(secret) }); n != 0 {
		t.Errorf("hashSecret allocates %v times, want 0", n)
	}
}
