// Package forwardauth is scimgate's forward-auth endpoint for proxies that
// ask an external service whether to let a request through: nginx
// auth_request, Traefik forwardAuth, Caddy forward_auth and Envoy's HTTP
// external authorization. It answers 2xx with identity headers to copy
// upstream, or refuses.
package forwardauth

import (
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

// originalRequest reads the original request from the headers each proxy
// sends: nginx X-Original-URI and X-Original-Method (with Host set to the
// original host); Traefik and Caddy X-Forwarded-Method, -Uri, -Host and
// -Proto.
func originalRequest(r *http.Request) (original, bool) {
	h := r.Header
	o := original{
		method: first(h.Get("X-Original-Method"), h.Get("X-Forwarded-Method")),
		host:   first(h.Get("X-Forwarded-Host"), r.Host),
		proto:  first(h.Get("X-Forwarded-Proto"), "http"),
	}
	if uri := h.Get("X-Original-URI"); uri != "" {
		o.uri, o.nginx = uri, true
	} else {
		o.uri = h.Get("X-Forwarded-Uri")
	}
	return o, o.uri != ""
}

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
	o, ok := originalRequest(r)
	if !ok {
		http.Error(w, "forward-auth needs the original request: X-Original-URI (nginx) or X-Forwarded-Uri (Traefik, Caddy)", http.StatusBadRequest)
		return
	}
	path := o.uri
	if i := strings.IndexAny(path, "?#"); i >= 0 {
		path = path[:i]
	}
	host := policy.NormalizeHost(o.host)
	clean, err := policy.NormalizePath(path)
	var c gateway.Check
	if err != nil {
		c = h.gate.BadRequest("forwardauth", r, host, o.method)
	} else {
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
		if h.gate.SignIn != nil {
			if u := h.gate.SignIn(r, returnTo); u != "" {
				w.Header().Set(HeaderSignIn, u)
			}
		}
		r = r.Clone(r.Context())
		r.Header.Del("Accept") // JSON body: nginx shows its own error page
		h.gate.Deny(w, r, c, "")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusForbidden)
	_, _ = w.Write([]byte(`{"error":"forbidden","reason":"` + c.Decision.Reason + `"}` + "\n"))
}
