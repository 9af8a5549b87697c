package signin

import (
	"context"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"time"

	"golang.org/x/oauth2"

	"github.com/scimgate/scimgate/directory"
	"github.com/scimgate/scimgate/store"
)

// callback completes a sign-in: the state is used once (the browser
// deletes its cookie, and usedStates refuses it again), the code is
// exchanged with the PKCE verifier, the ID token verified (signature,
// issuer, audience, expiry) and its nonce checked; then the directory
// decides whether this person may have a session at all.
func (s *Service) callback(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	q := r.URL.Query()
	if e := q.Get("error"); e != "" {
		// Anyone can craft this URL: its text is logged, never shown,
		// so that the gateway's pages carry no words of an attacker's.
		s.o.Log.Info("the identity provider refused the sign-in", "error", e, "error_description", q.Get("error_description"))
		msg := "The identity provider refused the sign-in."
		if e == "access_denied" {
			msg += " You may not be assigned to this application there, or you declined."
		}
		s.page(w, http.StatusForbidden, "Sign-in refused", msg)
		return
	}
	state, code := q.Get("state"), q.Get("code")
	if state == "" || code == "" {
		s.page(w, http.StatusBadRequest, "Sign-in failed", "The identity provider's answer is incomplete.")
		return
	}
	want := s.stateCookie(state)
	bound, err := r.Cookie(want.Name)
	if err != nil {
		s.o.Log.Warn("sign-in callback without its browser binding", "remote_addr", r.RemoteAddr)
		s.page(w, http.StatusBadRequest, "Sign-in expired", "This sign-in was already used or has expired, or was started in another browser. Go back to the page you wanted and sign in again.")
		return
	}
	want.MaxAge = -1
	http.SetCookie(w, want)
	ls, err := s.sealer.open(state, bound.Value, s.o.Now())
	if err != nil {
		s.o.Log.Warn("sign-in callback with a cookie that does not open for its state", "remote_addr", r.RemoteAddr)
		s.page(w, http.StatusBadRequest, "Sign-in expired", "This sign-in has expired or does not belong to this browser. Go back to the page you wanted and sign in again.")
		return
	}
	if !s.used.first(state, s.o.Now()) {
		s.o.Log.Warn("sign-in callback replayed", "remote_addr", r.RemoteAddr)
		s.page(w, http.StatusBadRequest, "Sign-in expired", "This sign-in was already used. Go back to the page you wanted and sign in again.")
		return
	}
	if err := s.provider(ctx); err != nil {
		s.page(w, http.StatusServiceUnavailable, "Sign-in unavailable", "The identity provider cannot be reached right now.")
		return
	}
	tok, err := s.oauth.Exchange(ctxWithClient(ctx, s.o.Client), code, oauth2.VerifierOption(ls.Verifier))
	if err != nil {
		s.o.Log.Warn("exchange the authorization code", "err", err)
		s.page(w, http.StatusBadGateway, "Sign-in failed", "The identity provider did not accept the sign-in.")
		return
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		s.page(w, http.StatusBadGateway, "Sign-in failed", "The identity provider sent no ID token.")
		return
	}
	idt, err := s.ids.Verify(ctx, raw)
	if err != nil {
		s.o.Log.Warn("ID token refused", "err", err)
		s.page(w, http.StatusUnauthorized, "Sign-in failed", "The identity provider's answer could not be verified.")
		return
	}
	if idt.Nonce != ls.Nonce {
		s.o.Log.Warn("ID token nonce mismatch", "remote_addr", r.RemoteAddr)
		s.page(w, http.StatusBadRequest, "Sign-in failed", "The identity provider's answer does not belong to this sign-in.")
		return
	}
	who, err := s.claim(idt)
	if err != nil && !errors.Is(err, errUnverified) && tok.AccessToken != "" {
		// Only a claim the ID token leaves out is asked of UserInfo: an
		// address it says is unverified stays refused, whatever UserInfo
		// (which may not mention verification at all) says.
		who, err = s.userInfoClaim(ctx, tok, idt.Subject)
	}
	if errors.Is(err, errUnverified) {
		s.o.Log.Warn("sign-in with an unverified email address", "subject", idt.Subject)
		s.page(w, http.StatusForbidden, "Sign-in refused", "The identity provider has not verified your email address, so it cannot say who you are.")
		return
	}
	if err != nil {
		s.o.Log.Warn("sign-in without the user claim", "claim", s.o.OIDC.UserClaim, "err", err)
		s.page(w, http.StatusForbidden, "Sign-in refused", "The identity provider did not say who you are ("+s.o.OIDC.UserClaim+" claim missing).")
		return
	}
	u, err := s.Resolve(s.o.Snapshots.Current(), who)
	if errors.Is(err, ErrTenantUnset) {
		s.o.Log.Error("sign-in refused: set oidc.tenant", "err", err)
		s.page(w, http.StatusServiceUnavailable, "Sign-in unavailable", "The gateway does not know which identity provider's users may sign in. Ask your administrator to set oidc.tenant.")
		return
	}
	if err != nil {
		s.o.Log.Info("sign-in by an identity that is not provisioned", "identity", who, "err", err)
		s.page(w, http.StatusForbidden, "Not provisioned",
			"You signed in at the identity provider as "+who+", but that account has not been provisioned to this gateway. "+
				"Ask your administrator to assign you to this application in the identity provider.")
		return
	}
	if !u.Active {
		s.page(w, http.StatusForbidden, "Account deactivated", "You signed in as "+who+", but that account is deactivated in the directory.")
		return
	}
	// The ID token is kept only as the hint sign-out gives the provider's
	// end-session endpoint; without one there is no reason to store it.
	hint := ""
	s.mu.Lock()
	if s.endSess != "" {
		hint = raw
	}
	s.mu.Unlock()
	cookie, sess, err := s.o.Dir.CreateSession(ctx, directory.NewSession{
		TenantID: u.Tenant, UserID: u.ID, Lifetime: s.o.Sessions.Lifetime, IDToken: hint,
		UserAgent: r.UserAgent(), Remote: r.RemoteAddr,
	})
	if err != nil {
		s.o.Log.Error("create session", "user", u.UserName, "err", err)
		s.page(w, http.StatusInternalServerError, "Sign-in failed", "The session could not be created.")
		return
	}
	if s.o.SessionJWT != nil {
		exp, refreshAt := s.jwtTimes(s.o.Now(), sess.Expires)
		jwt, err := s.o.SessionJWT.MintCookie(ctx, sess.ID, exp, refreshAt)
		if err != nil {
			s.o.Log.Error("mint session JWT", "user", u.UserName, "session_id", sess.ID, "err", err)
			if err := s.o.Dir.RevokeSession(ctx, sess.ID, "sign-in"); err != nil {
				s.o.Log.Error("revoke session", "session_id", sess.ID, "err", err)
			}
			s.page(w, http.StatusServiceUnavailable, "Sign-in failed", "The session could not be registered with the proxy. Try again in a moment.")
			return
		}
		http.SetCookie(w, s.named(s.o.SessionJWTCookie, jwt, sess.Expires))
	}
	s.o.Log.Info("signed in", "user", u.UserName, "tenant_id", u.Tenant, "session_id", sess.ID)
	http.SetCookie(w, s.cookie(cookie, sess.Expires))
	http.Redirect(w, r, ls.ReturnTo, http.StatusFound)
}

// cookie builds the session cookie: HttpOnly, SameSite=Lax, Secure when
// the gateway is served over https.
func (s *Service) cookie(value string, expires time.Time) *http.Cookie {
	return s.named(s.o.Sessions.CookieName, value, expires)
}

// named builds a cookie like the session cookie under another name.
func (s *Service) named(name, value string, expires time.Time) *http.Cookie {
	c := &http.Cookie{
		Name: name, Value: value, Path: "/", Domain: s.o.Sessions.CookieDomain,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: s.o.PublicURL.Scheme == "https",
	}
	if expires.IsZero() {
		c.MaxAge = -1
	} else {
		c.Expires = expires
	}
	return c
}

// signOut revokes the session, clears the cookie and, when the provider
// offers one, continues at its end-session endpoint.
func (s *Service) signOut(w http.ResponseWriter, r *http.Request) {
	if !s.signOutAsked(r) {
		// Another site linked here (or posted a form), or the browser
		// does not say: a browser follows such links with the Lax session
		// cookie. Ask rather than let any site sign people out.
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_ = pageTmpl.Execute(w, map[string]string{"Title": "Sign out?", "Message": "Do you want to sign out of the gateway?", "Action": SignOutPath})
		return
	}
	idToken := ""
	if c, err := r.Cookie(s.o.Sessions.CookieName); err == nil {
		if id, _, ok := directory.SplitSessionCookie(c.Value); ok {
			// Only the holder of the whole cookie may end the session.
			if sess, ok := s.o.Dir.VerifySession(r.Context(), c.Value); ok {
				idToken = sess.IDToken
				if err := s.o.Dir.RevokeSession(r.Context(), id, "sign-out"); err != nil && !errors.Is(err, store.ErrNotFound) {
					s.o.Log.Error("revoke session", "session_id", id, "err", err)
				}
			}
		}
	}
	http.SetCookie(w, s.cookie("", time.Time{}))
	if s.o.SessionJWT != nil {
		http.SetCookie(w, s.named(s.o.SessionJWTCookie, "", time.Time{}))
	}
	if err := s.provider(r.Context()); err == nil && s.endSess != "" {
		u, err := url.Parse(s.endSess)
		if err == nil {
			q := u.Query()
			if idToken != "" {
				q.Set("id_token_hint", idToken)
			}
			q.Set("post_logout_redirect_uri", s.o.PublicURL.String()+"/")
			q.Set("client_id", s.o.OIDC.ClientID)
			u.RawQuery = q.Encode()
			http.Redirect(w, r, u.String(), http.StatusFound)
			return
		}
	}
	s.page(w, http.StatusOK, "Signed out", "You are signed out of the gateway.")
}

// signOutAsked reports whether a sign-out request comes from the person
// signing out: a page of this origin (the form below, an application's
// link on the same host), or a navigation the browser says nobody
// started (a typed address, a bookmark). A browser that sends no fetch
// metadata is believed only for a POST whose Origin is this one; a
// same-site page (another subdomain) is asked, like any other site.
func (s *Service) signOutAsked(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "same-origin", "none":
		return true
	case "":
		o := r.Header.Get("Origin")
		return r.Method == http.MethodPost && o != "" && o == requestScheme(r, s.callbackURL.Scheme)+"://"+r.Host
	}
	return false
}

var pageTmpl = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;color:#222}</style></head>
<body><h1>{{.Title}}</h1><p>{{.Message}}</p>{{if .Action}}<form method="post" action="{{.Action}}"><button>Sign out</button></form>{{end}}</body></html>
`))

func (s *Service) page(w http.ResponseWriter, status int, title, msg string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = pageTmpl.Execute(w, map[string]string{"Title": title, "Message": msg})
}

// ctxWithClient makes the oauth2 package use client.
func ctxWithClient(ctx context.Context, c *http.Client) context.Context {
	return context.WithValue(ctx, oauth2.HTTPClient, c)
}
