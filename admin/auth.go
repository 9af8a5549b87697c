package admin

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// NewToken returns a random admin bearer token and the SHA-256 (hex) that
// goes in the configuration's admin_token_sha256. Only the hash is kept.
func NewToken() (secret, hash string, err error) {
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", "", fmt.Errorf("generate token: %w", err)
	}
	secret = "sgadm_" + base64.RawURLEncoding.EncodeToString(raw[:])
	sum := sha256.Sum256([]byte(secret))
	return secret, hex.EncodeToString(sum[:]), nil
}

// RequireToken serves next only to requests whose bearer token hashes to
// one of hashes (SHA-256, hex). Every other request gets 401. With no
// hashes, which the configuration allows only on a loopback listener,
// next serves requests whose Host is a loopback address or localhost:
// a web page the operator opens must not read the audit trail through a
// name of its own that resolves to 127.0.0.1 (DNS rebinding).
func RequireToken(hashes []string, next http.Handler) (http.Handler, error) {
	if len(hashes) == 0 {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !loopbackHost(r.Host) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusMisdirectedRequest)
				_ = json.NewEncoder(w).Encode(map[string]string{"error": "without admin_token_sha256 the audit trail answers only to a loopback Host (127.0.0.1, [::1], localhost)"})
				return
			}
			next.ServeHTTP(w, r)
		}), nil
	}
	sums := make([][]byte, len(hashes))
	for i, h := range hashes {
		b, err := hex.DecodeString(h)
		if err != nil || len(b) != sha256.Size {
			return nil, fmt.Errorf("admin token hash %d is not a SHA-256 in hex", i)
		}
		sums[i] = b
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !tokenOK(sums, r.Header.Get("Authorization")) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="scimgate admin"`)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_ = json.NewEncoder(w).Encode(map[string]string{"error": "a bearer token listed in admin_token_sha256 is required"})
			return
		}
		next.ServeHTTP(w, r)
	}), nil
}

// loopbackHost reports whether a Host header names this machine by a
// loopback address or localhost.
func loopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.Trim(host, "[]"), ".")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// tokenOK compares the token's hash with every allowed hash in constant
// time, so the response time tells nothing about which one came close.
func tokenOK(sums [][]byte, authorization string) bool {
	scheme, secret, ok := strings.Cut(authorization, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || secret == "" {
		return false
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(secret)))
	match := 0
	for _, s := range sums {
		match |= subtle.ConstantTimeCompare(sum[:], s)
	}
	return match == 1
}
