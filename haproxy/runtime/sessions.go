package runtime

import (
	"context"
	"fmt"
	"math"
	"net"
	"strconv"
	"strings"
	"time"
)

// Session is one line of "show sess". HAProxy 2.6 prints
//
//	0x55ef00100d30: proto=tcpv4 src=127.0.0.1:52750 fe=fe1 be=be1 srv=s1 ts=00 epoch=0x3 age=2s calls=3 ...
//	0x7f1a78039d20: proto=tcpv6 src=::1:51618 fe=fe1 be=be1 srv=s1 ...
//	0x7f5e68039d90: proto=unix_stream src=unix:1 fe=GLOBAL be=<NONE> srv=<none> ...
//
// The last one is the CLI's own session; Sessions leaves out every fe=GLOBAL
// session (the CLI and other internal ones).
type Session struct {
	// ID is the stream pointer HAProxy uses as session identifier
	// ("0x55ef00100d30"). HAProxy reuses the memory of ended sessions at
	// once, so an ID may designate a different session a moment later; see
	// ShutdownSession.
	ID       string
	Proto    string        // "tcpv4", "tcpv6", "unix_stream", "?"
	Src      string        // client address, "127.0.0.1:52750", "[::1]:51618", "unix:1"; "" when unknown
	Frontend string        // frontend name
	Backend  string        // backend name, "" before one is chosen
	Server   string        // server name, "" before one is chosen
	Age      time.Duration // at second resolution, two most significant units ("1h5m")
}

// Sessions returns the sessions HAProxy handles now, except its internal
// ones (fe=GLOBAL).
func (c *Client) Sessions(ctx context.Context) ([]Session, error) {
	out, err := c.exec(ctx, "show sess", "")
	if err != nil {
		return nil, err
	}
	return parseSessions(out), nil
}

// Shutdown ends the session with this ID ("shutdown session"). It returns
// ErrNoSession (wrapped) when HAProxy has no session with that ID, which in a
// batch means "already gone", not a failure.
//
// Because HAProxy reuses session memory, an ID taken from an earlier
// Sessions call may by now designate another session, which Shutdown would
// end; ShutdownSession checks first.
func (c *Client) Shutdown(ctx context.Context, id string) error {
	if !validSessionID(id) {
		return fmt.Errorf("haproxy shutdown session: %w: id %q is not a 0x... pointer", ErrInvalid, id)
	}
	_, err := c.exec(ctx, "shutdown session "+id, "")
	return err
}

// ShutdownSession ends s if its ID still designates the same session: it
// asks "show sess <id>" first and, when the client address or frontend
// differ, returns ErrNoSession (s has ended and HAProxy reused its memory)
// without shutting anything down. When the detail output lacks those fields
// (a future format), it shuts the session down unchecked. A session that
// ends and is replaced by one with the same pointer, client address and
// frontend between the two commands cannot be told apart.
func (c *Client) ShutdownSession(ctx context.Context, s Session) error {
	if !validSessionID(s.ID) {
		return fmt.Errorf("haproxy shutdown session: %w: id %q is not a 0x... pointer", ErrInvalid, s.ID)
	}
	detail, err := c.exec(ctx, "show sess "+s.ID, "")
	if err != nil {
		return err
	}
	src, fe := parseSessionDetail(detail)
	if (src != "" && s.Src != "" && src != s.Src) || (fe != "" && s.Frontend != "" && fe != s.Frontend) {
		return &Error{
			Command: "shutdown session " + s.ID,
			Message: fmt.Sprintf("pointer now designates another session (src=%s fe=%s)", src, fe),
			kind:    ErrNoSession,
		}
	}
	return c.Shutdown(ctx, s.ID)
}

// parseSessions parses the output of "show sess". Lines that are not
// session lines are skipped, so are fe=GLOBAL sessions.
func parseSessions(out string) []Session {
	var ss []Session
	for _, line := range strings.Split(out, "\n") {
		id, rest, ok := strings.Cut(line, ": ")
		if !ok || !validSessionID(id) {
			continue
		}
		s := Session{ID: id}
		for _, field := range strings.Fields(rest) {
			k, v, ok := strings.Cut(field, "=")
			if !ok {
				continue
			}
			switch k {
			case "proto":
				s.Proto = v
			case "src":
				s.Src = normalizeSrc(v)
			case "fe":
				s.Frontend = v
			case "be":
				s.Backend = noneToEmpty(v)
			case "srv":
				s.Server = noneToEmpty(v)
			case "age":
				s.Age, _ = parseAge(v)
			}
		}
		if s.Frontend == "GLOBAL" {
			continue
		}
		ss = append(ss, s)
	}
	return ss
}

// parseSessionDetail finds the client address and frontend in the answer
// to "show sess <id>":
//
//	0x55ef00100d30: [22/Nov/2026:21:50:30.955661] id=44 proto=tcpv4 source=127.0.0.1:55296
//	  flags=0xc4a, conn_retries=0, ...
//	  frontend=fe1 (id=2 mode=http), listener=? (id=1) addr=127.0.0.1:51829
func parseSessionDetail(out string) (src, frontend string) {
	for i, line := range strings.Split(out, "\n") {
		fields := strings.Fields(line)
		if i == 0 {
			for _, f := range fields {
				if v, ok := strings.CutPrefix(f, "source="); ok {
					src = normalizeSrc(v)
				}
			}
			continue
		}
		if len(fields) > 0 {
			if v, ok := strings.CutPrefix(fields[0], "frontend="); ok {
				frontend = v
			}
		}
	}
	return src, frontend
}

// normalizeSrc turns HAProxy's "::1:51618" into "[::1]:51618", the form
// net.Conn.LocalAddr().String() has. Other forms ("unix:1") stay; "?:?" is
// unknown.
func normalizeSrc(v string) string {
	if v == "?:?" || v == "?" {
		return ""
	}
	i := strings.LastIndexByte(v, ':')
	if i <= 0 {
		return v
	}
	ip := net.ParseIP(v[:i])
	if ip == nil {
		return v
	}
	if _, err := strconv.ParseUint(v[i+1:], 10, 16); err != nil {
		return v
	}
	return net.JoinHostPort(v[:i], v[i+1:])
}

func noneToEmpty(v string) string {
	if v == "<NONE>" || v == "<none>" {
		return ""
	}
	return v
}

// validSessionID accepts "0x" and 1 to 16 hex digits.
func validSessionID(id string) bool {
	hex, ok := strings.CutPrefix(id, "0x")
	if !ok || len(hex) == 0 || len(hex) > 16 {
		return false
	}
	for i := 0; i < len(hex); i++ {
		c := hex[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// parseAge parses HAProxy's human_time: up to two of "<n>d", "<n>h",
// "<n>m", "<n>s", most significant first ("0s", "45s", "1m30s", "2h5m",
// "3d4h"). "?" and anything else is an error.
func parseAge(s string) (time.Duration, error) {
	if s == "" {
		return 0, fmt.Errorf("age %q: empty", s)
	}
	var total time.Duration
	rest := s
	for rest != "" {
		i := 0
		for i < len(rest) && '0' <= rest[i] && rest[i] <= '9' {
			i++
		}
		if i == 0 || i == len(rest) || i > 9 {
			return 0, fmt.Errorf("age %q: want <n>d<n>h<n>m<n>s", s)
		}
		n, _ := strconv.Atoi(rest[:i])
		var unit time.Duration
		switch rest[i] {
		case 'd':
			unit = 24 * time.Hour
		case 'h':
			unit = time.Hour
		case 'm':
			unit = time.Minute
		case 's':
			unit = time.Second
		default:
			return 0, fmt.Errorf("age %q: unknown unit %q", s, rest[i])
		}
		if time.Duration(n) > (math.MaxInt64-total)/unit {
			return 0, fmt.Errorf("age %q: out of range", s)
		}
		total += time.Duration(n) * unit
		rest = rest[i+1:]
	}
	return total, nil
}
