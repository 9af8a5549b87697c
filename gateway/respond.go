package gateway

import (
	"encoding/json"
	"html/template"
	"net/http"
	"strings"

	"github.com/scimgate/scimgate/engine"
)

// messages explain each refusal to the person refused. They say why
// without naming the groups or users a route admits.
var messages = map[string]string{
	engine.ReasonNoRoute:         "No route is configured for this address.",
	engine.ReasonUnauthenticated: "Sign in, or send an access token, to reach this route.",
	engine.ReasonTokenInvalid:    "The credentials sent are not valid. Routes take access tokens (sga_..., from scimgate access-token create), sign-in sessions and, where configured, the identity provider's tokens; SCIM tokens (sgs_...) work on /scim/v2/ alone.",
	engine.ReasonTokenRevoked:    "The access token sent has been revoked.",
	engine.ReasonTokenExpired:    "The access token sent has expired.",
	engine.ReasonUserUnknown:     "Your account no longer exists in the directory.",
	engine.ReasonUserInactive:    "Your account is deactivated in the directory.",
	engine.ReasonDeniedUser:      "Your account is refused on this route.",
	engine.ReasonDeniedGroup:     "A group you belong to is refused on this route.",
	engine.ReasonNotAllowed:      "You are not in a group, or on a list, that this route admits.",
	engine.ReasonStale:           "Access cannot be checked right now because the directory is out of date; try again shortly.",
	engine.ReasonBadPath:         "The request path is ambiguous (encoded slashes, backslashes or semicolons, dot segments, or letter case that would make it another route's) and is refused.",
	engine.ReasonBadHost:         "The Host header is not a host name and is refused.",
}

// Message returns the explanation of a reason.
func Message(reason string) string {
	if m, ok := messages[reason]; ok {
		return m
	}
	return "Access denied."
}

// Status is the HTTP status for a refused check: 401 when credentials are
// missing or no good, 400 for ambiguous paths and hosts, 503 when the directory is
// stale, 403 otherwise.
func Status(d engine.Decision) int {
	switch {
	case d.Unauthenticated():
		return http.StatusUnauthorized
	case d.Reason == engine.ReasonBadPath || d.Reason == engine.ReasonBadHost:
		return http.StatusBadRequest
	case d.Reason == engine.ReasonStale:
		return http.StatusServiceUnavailable
	}
	return http.StatusForbidden
}

// WantsHTML reports whether the client is a browser navigating, rather
// than an API client.
func WantsHTML(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "text/html")
}

// Deny writes the answer to a refused request: browsers that are not
// signed in are sent to sign in when it is configured; API clients get a
// JSON body; browsers an HTML page. returnTo is where sign-in comes back to.
func (g *Gate) Deny(w http.ResponseWriter, r *http.Request, c Check, returnTo string) {
	d := c.Decision
	status := Status(d)
	if status == http.StatusUnauthorized {
		if WantsHTML(r) && g.SignIn != nil {
			if u := g.SignIn(r, returnTo); u != "" {
				http.Redirect(w, r, u, http.StatusFound)
				return
			}
		}
		challenge := `Bearer realm="scimgate"`
		if d.Reason != engine.ReasonUnauthenticated {
			challenge += `, error="invalid_token"`
		}
		w.Header().Set("WWW-Authenticate", challenge)
	}
	w.Header().Set("Cache-Control", "no-store")
	route := ""
	if d.Route != nil {
		route = d.Route.Name
	}
	if WantsHTML(r) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(status)
		_ = denyPage.Execute(w, map[string]any{"Status": status, "Title": http.StatusText(status), "Route": route,
			"Reason": d.Reason, "Message": Message(d.Reason)})
		return
	}
	WriteError(w, status, d.Reason, route, Message(d.Reason))
}

// WriteError writes the JSON body of a refusal: {"error": the status as
// a word, "reason", "route" when there is one, "message"}.
func WriteError(w http.ResponseWriter, status int, reason, route, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(struct {
		Error   string `json:"error"`
		Reason  string `json:"reason"`
		Route   string `json:"route,omitempty"`
		Message string `json:"message"`
	}{strings.ToLower(strings.ReplaceAll(http.StatusText(status), " ", "_")), reason, route, message})
}

var denyPage = template.Must(template.New("deny").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Status}} {{.Title}}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;color:#222}
code{background:#f3f3f3;padding:0 .3em}</style></head>
<body><h1>{{.Title}}</h1><p>{{.Message}}</p>
<p>{{if .Route}}Route <code>{{.Route}}</code>, reason{{else}}Reason{{end}} <code>{{.Reason}}</code>.</p>
</body></html>
`))
