package config

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// Route is one protected (or public) route of the gateway.
type Route struct {
	// Name identifies the route in decisions, logs and metrics.
	Name string `yaml:"name"`
	// Host is an exact host name, a wildcard "*.example.com" (one label),
	// or "*" / empty for any host.
	Host string `yaml:"host"`
	// Path is a prefix matched on whole segments: "/app" matches "/app"
	// and "/app/x" but not "/apple". Default "/".
	Path string `yaml:"path"`
	// Methods limits the route to these methods; empty means all. GET
	// also admits HEAD.
	Methods []string `yaml:"methods"`
	// Upstream is where the built-in proxy sends allowed requests. Routes
	// without one are for forward-auth and proxy integrations only.
	Upstream string    `yaml:"upstream"`
	Allow    AllowRule `yaml:"allow"`
	Deny     DenyRule  `yaml:"deny"`
}

// AllowRule admits users by group, by name, or everyone.
type AllowRule struct {
	// Groups are group displayNames, "tenant/displayName" where two
	// tenants share a name. A user is admitted when in any of them,
	// directly or through nested groups.
	Groups []string `yaml:"groups"`
	// Users are userNames, or "tenant/userName".
	Users []string `yaml:"users"`
	// Public admits every request, signed in or not.
	Public bool `yaml:"public"`
}

// DenyRule refuses users by group or name; it wins over allow.
type DenyRule struct {
	Groups []string `yaml:"groups"`
	Users  []string `yaml:"users"`
}

// Methods the gateway knows.
var knownMethods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"}

// validateRoutes reports every problem of the routes with its field path.
func validateRoutes(routes []Route, add func(path, msg, hint string)) {
	names := map[string]int{}
	for i, r := range routes {
		at := func(field string) string { return fmt.Sprintf("routes[%d].%s", i, field) }
		switch {
		case r.Name == "":
			add(at("name"), "is required", "a short name such as \"app\"; it appears in logs and metrics")
		case strings.ContainsAny(r.Name, " \t\n\"'"):
			add(at("name"), fmt.Sprintf("%q contains spaces or quotes", r.Name), "use letters, digits, - and _")
		default:
			if j, dup := names[r.Name]; dup {
				add(at("name"), fmt.Sprintf("%q is also the name of routes[%d]", r.Name, j), "route names must be unique")
			}
			names[r.Name] = i
		}
		if msg := checkHost(r.Host); msg != "" {
			add(at("host"), msg, `an exact host "app.example.com", a wildcard "*.example.com", or "*"`)
		}
		if r.Path != "" && !strings.HasPrefix(r.Path, "/") {
			add(at("path"), fmt.Sprintf("%q must start with /", r.Path), `for example "/app/"`)
		} else if msg, hint := checkPath(r.Path); msg != "" {
			add(at("path"), fmt.Sprintf("%q %s", r.Path, msg), hint)
		}
		for j, m := range r.Methods {
			if !contains(knownMethods, m) {
				add(at(fmt.Sprintf("methods[%d]", j)), fmt.Sprintf("%q is not an HTTP method", m), "one of "+strings.Join(knownMethods, ", ")+" (upper case)")
			}
		}
		if r.Upstream != "" {
			u, err := url.Parse(r.Upstream)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				add(at("upstream"), fmt.Sprintf("%q is not an http(s) URL", r.Upstream), `for example "http://127.0.0.1:9001"`)
			} else if u.Hostname() == "" {
				add(at("upstream"), fmt.Sprintf("%q names no host", r.Upstream), `for example "http://127.0.0.1:9001"`)
			} else if port := u.Port(); port != "" && !validPort(port) {
				add(at("upstream"), fmt.Sprintf("%q has no valid port", r.Upstream), "a port between 1 and 65535, or none for the scheme's")
			} else if u.RawQuery != "" || u.Fragment != "" {
				add(at("upstream"), fmt.Sprintf("%q has a query or fragment", r.Upstream), "name only scheme, host and an optional path prefix")
			}
		}
		a := r.Allow
		if !a.Public && len(a.Groups) == 0 && len(a.Users) == 0 {
			add(at("allow"), "admits nobody", "name groups or users, or set public: true")
		}
		if a.Public && (len(a.Groups) > 0 || len(a.Users) > 0) {
			add(at("allow"), "public: true admits everyone; groups and users would be ignored", "remove them, or public: true")
		}
		if a.Public && (len(r.Deny.Groups) > 0 || len(r.Deny.Users) > 0) {
			add(at("deny"), "a public route admits everyone, signed in or not: deny would refuse nobody",
				"admit groups or users instead of public: true, or give the people to refuse a route of their own")
		}
		checkNames(a.Groups, at("allow.groups"), add)
		checkNames(a.Users, at("allow.users"), add)
		checkNames(r.Deny.Groups, at("deny.groups"), add)
		checkNames(r.Deny.Users, at("deny.users"), add)
	}
	checkShadowed(routes, add)
	checkCaseTwins(routes, add)
}

// place is where a valid route applies: its host, lower-case ("" for
// any), and its path prefix as routes are matched on it; ok is false for
// a route whose host or path is reported as wrong.
func place(r Route) (host, path string, ok bool) {
	if msg, _ := checkPath(r.Path); msg != "" || checkHost(r.Host) != "" || (r.Path != "" && !strings.HasPrefix(r.Path, "/")) {
		return "", "", false
	}
	host = strings.ToLower(r.Host)
	if host == "*" {
		host = ""
	}
	if path = strings.TrimRight(r.Path, "/"); path == "" {
		path = "/"
	}
	return host, path, true
}

// checkCaseTwins reports a route whose path differs from an earlier one's
// on the same host only in letter case, for methods both take: requests
// for either spelling fall under both once case is folded, so the later
// route's are refused as ambiguous (bad-path), and it never decides.
func checkCaseTwins(routes []Route, add func(path, msg, hint string)) {
	type key struct{ host, path string }
	seen := map[key][]int{}
	for i, r := range routes {
		host, p, ok := place(r)
		if !ok {
			continue // reported already
		}
		// policy.FoldCase's fold (config cannot import policy).
		k := key{host, strings.ToLower(strings.ToUpper(p))}
		var twins, refused []string
		all := false
		for _, j := range seen[k] {
			o := routes[j]
			if strings.TrimRight(o.Path, "/") == strings.TrimRight(r.Path, "/") {
				continue
			}
			ms, every := sharedMethods(o.Methods, r.Methods)
			if len(ms) == 0 && !every {
				continue
			}
			twins = append(twins, fmt.Sprintf("routes[%d] (%q, %q)", j, o.Name, o.Path))
			all = all || every
			for _, m := range ms {
				if !contains(refused, m) {
					refused = append(refused, m)
				}
			}
		}
		if len(twins) > 0 {
			what := "every method"
			if !all {
				what = strings.Join(refused, ", ")
			}
			add(fmt.Sprintf("routes[%d].path", i), fmt.Sprintf("%q differs from the path of the earlier %s only in letter case: its requests for %s are refused as ambiguous", r.Path, strings.Join(twins, " and "), what),
				"many servers read paths without regard to case: give the routes paths that differ in more than case, or merge them")
		}
		seen[k] = append(seen[k], i)
	}
}

// sharedMethods returns the methods two routes' lists share, or every
// true when both take every method (an empty list takes them all).
func sharedMethods(a, b []string) (ms []string, every bool) {
	switch {
	case len(a) == 0 && len(b) == 0:
		return nil, true
	case len(a) == 0:
		return b, false
	case len(b) == 0:
		return a, false
	}
	for _, m := range b {
		if contains(a, m) || (m == "HEAD" && contains(a, "GET")) {
			ms = append(ms, m)
		}
	}
	return ms, false
}

// checkShadowed reports a route that an earlier one on the same host and
// path hides: a request goes to the first route on its host and longest
// path prefix that admits its method, so a later route decides only the
// methods no earlier one there takes. A route that would decide nothing,
// or whose listed methods are taken by an earlier one, is a mistake (its
// deny rule, say, would never apply). A route for all methods after
// routes for some (GET public, the rest for staff) decides the rest.
func checkShadowed(routes []Route, add func(path, msg, hint string)) {
	type key struct{ host, path string }
	type earlier struct {
		index   int
		methods []string // empty: all
	}
	seen := map[key][]earlier{}
	for i, r := range routes {
		host, p, ok := place(r)
		if !ok {
			continue // reported already
		}
		k := key{host, p}
		taken := func(m string) (int, bool) {
			for _, e := range seen[k] {
				if len(e.methods) == 0 || contains(e.methods, m) || (m == "HEAD" && contains(e.methods, "GET")) {
					return e.index, true
				}
			}
			return 0, false
		}
		name := func(j int) string { return fmt.Sprintf("routes[%d] (%q)", j, routes[j].Name) }
		where := "any host"
		if host != "" {
			where = "host " + host
		}
		if len(r.Methods) == 0 {
			for _, e := range seen[k] {
				if len(e.methods) == 0 {
					add(fmt.Sprintf("routes[%d].path", i), fmt.Sprintf("%q on %s is decided by the earlier %s: this route never applies", r.Path, where, name(e.index)),
						fmt.Sprintf("merge it into %s, or give it another host or path", name(e.index)))
					break
				}
			}
		} else {
			var hidden []string
			j := 0
			for _, m := range r.Methods {
				if e, ok := taken(m); ok {
					hidden, j = append(hidden, m), e
				}
			}
			if len(hidden) > 0 {
				what := "this route never applies"
				if len(hidden) < len(r.Methods) {
					what = "those methods never reach this route"
				}
				add(fmt.Sprintf("routes[%d].path", i), fmt.Sprintf("%q on %s: %s is decided by the earlier %s: %s", r.Path, where, strings.Join(hidden, ", "), name(j), what),
					fmt.Sprintf("merge it into %s, remove the methods it takes, or give it another host or path", name(j)))
			}
		}
		seen[k] = append(seen[k], earlier{i, r.Methods})
	}
}

// checkPath reports what is wrong with a route's path prefix, if
// anything: a prefix no normalised request path can have would protect
// nothing, and requests would fall to a shorter route.
func checkPath(p string) (msg, hint string) {
	if strings.ContainsAny(p, "*?#%\\") {
		return "is not a plain path prefix", `no wildcards, query, fragment or escapes: "/admin" covers /admin and everything under it`
	}
	if p == "" || p == "/" {
		return "", ""
	}
	for seg := range strings.SplitSeq(strings.TrimSuffix(strings.TrimPrefix(p, "/"), "/"), "/") {
		switch seg {
		case ".", "..":
			return "has a dot segment", "name the path it resolves to"
		case "":
			return "has an empty segment (//)", "request paths with // are refused; use single slashes"
		}
	}
	return "", ""
}

// checkHost reports what is wrong with a route's host, if anything: a
// host no request could carry (requests are matched by their Host, ASCII
// letters, digits, - and _ in dot-separated labels) would leave the
// route's requests to broader routes, silently.
func checkHost(h string) string {
	switch {
	case h == "" || h == "*":
		return ""
	case strings.HasPrefix(h, "."):
		return fmt.Sprintf("%q: a leading dot matches no host here; name *%s for the subdomains, and %s in a route of its own", h, h, h[1:])
	case strings.ContainsAny(h, "/:@ ") || strings.HasSuffix(h, "."):
		return fmt.Sprintf("%q is not a host name (no scheme, port or path)", h)
	case strings.Count(h, "*") > 1, strings.Contains(h, "*") && !strings.HasPrefix(h, "*."):
		return fmt.Sprintf("%q: a wildcard may only be the first label, as in *.example.com", h)
	case strings.HasPrefix(h, "*.") && !strings.Contains(h[2:], "."):
		return fmt.Sprintf("%q is too broad: name at least two labels after *.", h)
	}
	for label := range strings.SplitSeq(strings.TrimPrefix(h, "*."), ".") {
		if label == "" {
			return fmt.Sprintf("%q has an empty label (..)", h)
		}
		if len(label) > 63 {
			return fmt.Sprintf("%q: the label %.20q... is over 63 characters", h, label)
		}
		for _, c := range label {
			switch {
			case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_':
			case c >= 0x80:
				return fmt.Sprintf("%q is not ASCII: write it in punycode (xn--...), as requests carry it", h)
			default:
				return fmt.Sprintf("%q: %q is not a host name character", h, c)
			}
		}
	}
	return ""
}

func checkNames(names []string, path string, add func(path, msg, hint string)) {
	for i, n := range names {
		if strings.TrimSpace(n) == "" {
			add(fmt.Sprintf("%s[%d]", path, i), "is empty", "")
		}
	}
}

// validPort reports whether s is a port a connection can be made to.
func validPort(s string) bool {
	n, err := strconv.Atoi(s)
	return err == nil && n >= 1 && n <= 65535
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}
