// Package forwardauth is scimgate's forward-auth endpoint for proxies that
// ask an external service whether to let a request through: nginx
// auth_request, Traefik forwardAuth, Caddy forward_auth and Envoy's HTTP
// external authorization. It answers 2xx with identity headers to copy
// upstream, or refuses.
package forwardauth

import (
	"errors"
	"net/http"
	"strings"

	"github.com/scimgate/scimgate/assertion"
	"github.com/scimgate/scimgate/engine"
	"github.com/scimgate/scimgate/gateway"
	"github.com/scimgate/scimgate/policy"
)

// HeaderSignIn carries, on a 401, the URL that starts sign-in. nginx cannot
// pass a redirect through auth_request, so its configuration reads this
// header (auth_request_set) and redirects itself.
const HeaderSignIn = "X-Scimgate-Sign-In"

// On an allowed request, the Cookie and Authorization the application may
// see: the request's own without scimgate's credentials (the session
// cookie, an access token), which an application must not be able to
// replay on other routes. Absent when nothing is left. The proxy sets the
// upstream request's Cookie and Authorization from them (nginx:
// auth_request_set; Caddy: copy_headers X-Scimgate-Upstream-Cookie>Cookie).
const (
	HeaderUpstreamCookie        = "X-Scimgate-Upstream-Cookie"
	HeaderUpstreamAuthorization = "X-Scimgate-Upstream-Authorization"
)

// Handler is the forward-auth endpoint.
type Handler struct {
	gate *gateway.Gate
}

// New returns the endpoint deciding with gate.
func New(gate *gateway.Gate) *Handler { return &Handler{gate: gate} }

// original is the request the proxy asks about.
type original struct {
	method, host, uri, proto string
	nginx                    bool // nginx auth_request style headers
}

// errConflict: the two header styles disagree about the original request.
var errConflict = errors.New("conflicting forward-auth headers")

// originalRequest reads the original request from the headers each proxy
// sends: nginx X-Original-URI and X-Original-Method, with Host set to the
// original host; Traefik and Caddy X-Forwarded-Method, -Uri, -Host and
// -Proto. Proxies pass client headers through to the auth request, so a
// client can add headers of the other style: when both styles are present
// and disagree, the request is refused rather than decided on a value the
// client may have chosen.
func originalRequest(r *http.Request) (original, error) {
	h := r.Header
	// A proxy sets each of these once; a second value is one the client
	// added and the proxy appended to, and which one the proxy itself
	// acts on is not known here.
	for _, k := range [...]string{"X-Original-Uri", "X-Original-Method", "X-Forwarded-Uri", "X-Forwarded-Method", "X-Forwarded-Host", "X-Forwarded-Proto"} {
		if len(h[k]) > 1 {
			return original{}, errConflict
		}
	}
	fwd := original{
		method: h.Get("X-Forwarded-Method"),
		host:   h.Get("X-Forwarded-Host"),
		uri:    h.Get("X-Forwarded-Uri"),
		proto:  first(h.Get("X-Forwarded-Proto"), "http"),
	}
	uri := h.Get("X-Original-URI")
	if uri == "" {
		if fwd.uri == "" {
			return original{}, errMissing
		}
		if h.Get("X-Original-Method") != "" {
			return original{}, errConflict
		}
		if fwd.host == "" {
			fwd.host = r.Host
		}
		return fwd, nil
	}
	o := original{method: h.Get("X-Original-Method"), host: r.Host, uri: uri, proto: fwd.proto, nginx: true}
	if (fwd.uri != "" && fwd.uri != o.uri) || (fwd.method != "" && fwd.method != o.method) || (fwd.host != "" && fwd.host != o.host) {
		return original{}, errConflict
	}
	return o, nil
}

var errMissing = errors.New("forward-auth needs the original request: X-Original-URI (nginx) or X-Forwarded-Uri (Traefik, Caddy)")

func first(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

// ServeHTTP implements http.Handler. Without the original method the
// request is decided with an unknown method, which only routes open to
// every method admit: a proxy that forgets to send it fails closed.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	o, err := originalRequest(r)
	if err != nil {
		status, reason := http.StatusBadRequest, "missing-headers"
		if errors.Is(err, errConflict) {
			// nginx understands only 2xx, 401 and 403.
			status, reason = http.StatusForbidden, "conflicting-headers"
		}
		gateway.WriteError(w, status, reason, "", err.Error())
		return
	}
	path, _, _ := strings.Cut(o.uri, "?")
	host := policy.NormalizeHost(o.host)
	clean, err := policy.CanonicalPath(path)
	var c gateway.Check
	switch {
	case !policy.ValidHost(host):
		c = h.gate.BadRequest("forwardauth", r, host, o.method, engine.ReasonBadHost)
	case err != nil || strings.IndexByte(path, '#') >= 0:
		// Clients never send a fragment: a '#' in the request line is
		// part of a path that the proxy forwards as it is, and that an
		// application may read past (/public/x#/../../console).
		c = h.gate.BadRequest("forwardauth", r, host, o.method, engine.ReasonBadPath)
	default:
		c = h.gate.Decide("forwardauth", r, engine.Request{Host: host, Path: clean, Method: o.method})
	}
	assertion.Strip(w.Header())
	if c.Decision.Allow {
		vals, identified, err := h.gate.Identify(c)
		if err != nil {
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		if identified {
			vals.Set(w.Header())
		}
		upstreamCredentials(w.Header(), r.Header, c.Principal, h.gate.Auth.Cookies())
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
		return
	}
	returnTo := o.proto + "://" + o.host + o.uri
	if !o.nginx {
		h.gate.Deny(w, r, c, returnTo)
		return
	}
	// nginx treats anything but 2xx, 401 and 403 from auth_request as an
	// error, and cannot pass a redirect: send 401 with the sign-in URL in
	// a header, and fold other refusals into 403.
	if gateway.Status(c.Decision) == http.StatusUnauthorized {
		if h.gate.SignIn != nil && gateway.WantsHTML(r) {
			if u := h.gate.SignIn(r, returnTo); u != "" {
				w.Header().Set(HeaderSignIn, u)
			}
		}
		r = r.Clone(r.Context())
		r.Header.Del("Accept") // JSON body: nginx shows its own error page
		h.gate.Deny(w, r, c, "")
		return
	}
	route := ""
	if c.Decision.Route != nil {
		route = c.Decision.Route.Name
	}
	gateway.WriteError(w, http.StatusForbidden, c.Decision.Reason, route, gateway.Message(c.Decision.Reason))
}

// upstreamCredentials sets, in the answer out, the Cookie and
// Authorization of the asking request in without scimgate's credentials
// (gateway.StripCredentials).
func upstreamCredentials(out, in http.Header, p engine.Principal, cookies []string) {
	if auth := in["Authorization"]; len(auth) == 1 && !gateway.OwnAuthorization(p, auth[0]) {
		out.Set(HeaderUpstreamAuthorization, auth[0])
	}
	var kept string
	for _, line := range in["Cookie"] {
		rest, _ := gateway.StripCookies(line, cookies)
		if rest == "" {
			continue
		}
		if kept != "" {
			kept += "; "
		}
		kept += rest
	}
	if kept != "" {
		out.Set(HeaderUpstreamCookie, kept)
	}
}
