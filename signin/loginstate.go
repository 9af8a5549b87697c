package signin

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// login is a sign-in in progress, between the redirect to the identity
// provider and its callback. It travels sealed in the browser's cookie
// rather than in the store: anyone can start a sign-in, and a table of
// them would have to be bounded, which let anyone fill it and keep
// everybody else from signing in.
type login struct {
	Nonce    string `json:"n"`
	Verifier string `json:"v"` // PKCE code verifier
	ReturnTo string `json:"r"`
	Created  int64  `json:"t"` // Unix seconds
}

// sealer seals logins with AES-256-GCM under a key every gateway sharing
// the store derives alike (Options.StateKey), with the sign-in's state as
// additional data: a cookie opens only for the state it was made for.
type sealer struct{ aead cipher.AEAD }

func newSealer(key []byte) (*sealer, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("sign-in state key: %d bytes, want 32", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &sealer{aead: aead}, nil
}

func (s *sealer) seal(state string, l login) (string, error) {
	plain, err := json.Marshal(l)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(plain)+s.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(s.aead.Seal(nonce, nonce, plain, []byte(state))), nil
}

// errLoginCookie: the cookie is not one this gateway sealed for the state,
// or it is older than loginMaxAge.
var errLoginCookie = errors.New("the sign-in cookie does not open for this state, or has expired")

func (s *sealer) open(state, cookie string, now time.Time) (login, error) {
	raw, err := base64.RawURLEncoding.DecodeString(cookie)
	if err != nil || len(raw) < s.aead.NonceSize()+s.aead.Overhead() {
		return login{}, errLoginCookie
	}
	n := s.aead.NonceSize()
	plain, err := s.aead.Open(nil, raw[:n], raw[n:], []byte(state))
	if err != nil {
		return login{}, errLoginCookie
	}
	var l login
	if json.Unmarshal(plain, &l) != nil || l.Nonce == "" || l.Verifier == "" || l.ReturnTo == "" {
		return login{}, errLoginCookie
	}
	age := now.Sub(time.Unix(l.Created, 0))
	if age > loginMaxAge || age < -time.Minute {
		return login{}, errLoginCookie
	}
	return l, nil
}
