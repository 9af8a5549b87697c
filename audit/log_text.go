package audit

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/scimgate/scimgate/store"
)

// Text formats e as one human-readable line.
func (e Entry) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s  %-8s #%-6d ", e.At.UTC().Format("2006-01-02T15:04:05.000Z07:00"), e.Stream, e.Seq)
	switch {
	case e.Change != nil:
		c := e.Change
		what := strings.ToLower(c.ResourceType)
		if what == "" {
			what = "resource"
		}
		fmt.Fprintf(&b, "%s %s", c.Op, what)
		if c.Name != "" {
			fmt.Fprintf(&b, " %s", safe(c.Name))
		}
		fmt.Fprintf(&b, " (%s) by %s, tenant %d", safe(c.ResourceID), safe(c.Actor), c.TenantID)
		var edges []string
		for _, ed := range c.Edges {
			sign := "-"
			if ed.Added {
				sign = "+"
			}
			if ed.Group == c.ResourceID {
				edges = append(edges, sign+safe(ed.Member))
			} else {
				edges = append(edges, sign+"member of "+safe(ed.Group))
			}
		}
		if len(edges) > 0 {
			fmt.Fprintf(&b, ": %s", strings.Join(edges, " "))
		}
	case e.Policy != nil:
		p := e.Policy
		routes := strings.Join(mapSafe(p.Routes), ", ")
		if routes == "" {
			routes = "none"
		}
		fmt.Fprintf(&b, "loaded from %s, digest %.12s, routes: %s", safe(p.Source), safe(p.Digest), routes)
	case e.Decision != nil:
		d := e.Decision
		verdict := "DENY "
		if d.Allow {
			verdict = "allow"
		}
		who := safe(d.UserName)
		if who == "" {
			who = "anonymous"
		}
		fmt.Fprintf(&b, "%s %s %s %s %s", verdict, safe(d.Reason), who, safe(d.Method), safe(d.Host+d.Path))
		if d.Route != "" {
			fmt.Fprintf(&b, " route %s", safe(d.Route))
		}
		fmt.Fprintf(&b, " via %s", safe(d.Adapter))
		if d.Remote != "" {
			fmt.Fprintf(&b, " from %s", safe(d.Remote))
		}
		switch d.CredKind {
		case store.CredToken:
			fmt.Fprintf(&b, " (access token %s)", safe(d.CredID))
		case store.CredSession:
			fmt.Fprintf(&b, " (session %s)", safe(d.CredID))
		}
	}
	return b.String()
}

// safe quotes a value that anyone may have chosen (a path, a userName)
// when it holds a space or a character that is not printable, so that it
// can neither pass for more fields or another line nor drive the terminal.
func safe(s string) string { return quoteUnsafe(s, false) }

// Field is s as one field of tab-separated output: quoted like safe's,
// but spaces are kept, so that a name from the directory cannot end its
// field or line and forge another.
func Field(s string) string { return quoteUnsafe(s, true) }

// quoteUnsafe quotes s (Go syntax) when it starts with a quote (it would
// read as quoted), or holds a character that is not printable, or a space
// unless spaces are allowed.
func quoteUnsafe(s string, spaces bool) string {
	if strings.HasPrefix(s, `"`) {
		return strconv.Quote(s)
	}
	for _, r := range s {
		if (r == ' ' && !spaces) || (r != ' ' && (r == utf8.RuneError || !strconv.IsPrint(r))) {
			return strconv.Quote(s)
		}
	}
	return s
}

func mapSafe(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = safe(s)
	}
	return out
}

// ParseTime reads a --since or --until value: an RFC 3339 time, a date
// (2026-01-02, midnight UTC), or a duration before now ("24h", "90m").
func ParseTime(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("time %q: want RFC 3339 (2026-01-02T15:04:05Z), a date (2026-01-02) or a duration before now (24h)", s)
}
