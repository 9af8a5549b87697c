package signin

import (
	"net/http"
	"strings"
	"sync"
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
	returnTo, err := s.safeReturn(r, r.URL.Query().Get("rd"))
	if err != nil {
		s.page(w, http.StatusBadRequest, "Refresh refused", upperFirst(err.Error())+".")
		return
	}
	if s.o.SessionJWT == nil {
		http.NotFound(w, r)
		return
	}
	// returnTo is absolute (on the host the browser came from), as a
	// sign-in, which starts on the callback's host, must have it.
	back := returnTo
	if rd := r.URL.Query().Get("rd"); strings.HasPrefix(rd, "/") {
		// A path: back on the host the browser came from, which HAProxy
		// sent here with a relative redirect, whatever its scheme.
		back = rd
	}
	var sid string
	if c, err := r.Cookie(s.o.Sessions.CookieName); err == nil {
		if check := s.sessions.Load(); check != nil {
			if p := (*check).Session(c.Value); p.Reject == "" {
				sid = p.SessionID
			}
		}
	}
	if sid == "" {
		http.Redirect(w, r, s.SignInURL(r, returnTo), http.StatusFound)
		return
	}
	now := s.o.Now()
	if !s.renewals.allow(sid, now) {
		// The browser came back for a new JWT again and again: HAProxy
		// finds every JWT due at once (its clock ahead of scimgate's by
		// half an idle period or more) or never receives the cookie.
		s.o.Log.Error("session JWT renewed in a loop; is HAProxy's clock ahead of scimgate's, or the cookie refused (Secure over http)?", "session_id", sid)
		s.page(w, http.StatusServiceUnavailable, "Session not renewed",
			"The proxy keeps asking for a new session token. Ask your administrator to check that the proxy's and the gateway's clocks agree.")
		return
	}
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
	http.Redirect(w, r, back, http.StatusFound)
}

// renewals counts the refreshes of each session in a short window, to
// break a redirect loop rather than serve it.
type renewals struct {
	mu     sync.Mutex
	recent map[string]renewal
}

type renewal struct {
	since time.Time
	n     int
}

const (
	renewalWindow = 10 * time.Second
	renewalMax    = 3 // in one window: two tabs at once are fine, a loop is not
)

// allow records a refresh of session sid at now and reports whether it is
// within bounds.
func (r *renewals) allow(sid string, now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.recent == nil {
		r.recent = map[string]renewal{}
	}
	if len(r.recent) > 10000 {
		for k, v := range r.recent {
			if now.Sub(v.since) > renewalWindow {
				delete(r.recent, k)
			}
		}
	}
	v := r.recent[sid]
	if now.Sub(v.since) > renewalWindow {
		v = renewal{since: now}
	}
	v.n++
	r.recent[sid] = v
	return v.n <= renewalMax
}
