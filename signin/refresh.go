package signin

import (
	"net/http"
	"time"
)

// jwtTimes returns when a session JWT minted now expires and when it asks
// to be renewed. With an idle timeout shorter than what is left of the
// session, the JWT lives one idle period and is renewed from half of it,
// so that HAProxy, which never tells scimgate about requests, still ends a
// session left idle; otherwise it lives as long as the session.
func (s *Service) jwtTimes(now, sessionExpires time.Time) (exp, refreshAt time.Time) {
	idle := s.o.Sessions.Idle
	if idle <= 0 || !now.Add(idle).Before(sessionExpires) {
		return sessionExpires, time.Time{}
	}
	return now.Add(idle), now.Add(idle / 2)
}

// refresh renews the session JWT of a browser whose session is in use:
// haproxy.cfg sends it here once its JWT passes the refresh time, with the
// URL to return to. The session cookie must still be valid, its idle time
// included; this request counts as activity. Anything else goes to sign-in.
func (s *Service) refresh(w http.ResponseWriter, r *http.Request) {
	returnTo, ok := s.safeReturn(r.URL.Query().Get("rd"))
	if !ok {
		s.page(w, http.StatusBadRequest, "Refresh refused", "The address to return to is not one this gateway serves.")
		return
	}
	if s.o.SessionJWT == nil {
		http.NotFound(w, r)
		return
	}
	s.mu.Lock()
	check := s.sessions
	s.mu.Unlock()
	var sid string
	if c, err := r.Cookie(s.o.Sessions.CookieName); err == nil && check != nil {
		if p := check.Session(c.Value); p.Reject == "" {
			sid = p.SessionID
		}
	}
	if sid == "" {
		http.Redirect(w, r, s.SignInURL(r, returnTo), http.StatusFound)
		return
	}
	now := s.o.Now()
	ss, ok := s.o.Snapshots.Current().Session(sid)
	if !ok {
		http.Redirect(w, r, s.SignInURL(r, returnTo), http.StatusFound)
		return
	}
	exp, refreshAt := s.jwtTimes(now, ss.Expires)
	jwt, err := s.o.SessionJWT.MintCookie(r.Context(), sid, exp, refreshAt)
	if err != nil {
		// Most often the session ended (revoked, expired, its owner
		// deactivated) since the cookie was checked: sign in again.
		s.o.Log.Info("session JWT not renewed; signing in again", "session_id", sid, "err", err)
		http.Redirect(w, r, s.SignInURL(r, returnTo), http.StatusFound)
		return
	}
	http.SetCookie(w, s.named(s.o.SessionJWTCookie, jwt, ss.Expires))
	http.Redirect(w, r, returnTo, http.StatusFound)
}
