// Package runtime is a client for HAProxy's runtime API, the "stats socket"
// CLI, at level admin: sessions (list, shut down) and maps (read, set,
// delete, replace atomically).
//
// Every call opens one connection and sends one command line in HAProxy's
// non-interactive mode: HAProxy answers and closes. The line is prefixed with
// "set severity-output number", so HAProxy tags the messages it reports as
// errors ("[3]: ..."); that tag, plus a few untagged shapes (see errorShapes),
// is how an answer becomes an *Error. Written against HAProxy 2.6.
package runtime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DefaultTimeout bounds a call whose context has no deadline.
const DefaultTimeout = 10 * time.Second

// severityPrefix goes in front of every command: HAProxy then tags error
// messages "[3]: " and informational ones "[6]: ".
const severityPrefix = "set severity-output number;"

// Sentinel errors callers branch on. An *Error from HAProxy wraps one of them
// when its text has a known shape.
var (
	// ErrUnknownCommand means HAProxy does not know the command (or hides
	// it at this socket's level).
	ErrUnknownCommand = errors.New("unknown command")
	// ErrPermission means the socket's level (user, operator) is below
	// what the command needs; the client expects "level admin".
	ErrPermission = errors.New("permission denied")
	// ErrUnknownMap means no map has that file name or #id.
	ErrUnknownMap = errors.New("unknown map")
	// ErrNoSession means the session is gone (or its pointer now
	// designates another session). In a batch of shutdowns it is not a
	// failure.
	ErrNoSession = errors.New("no such session")
	// ErrNotFound means the map has no entry with that key.
	ErrNotFound = errors.New("entry not found")
	// ErrInvalid means the client refused an argument before sending it,
	// because it would corrupt HAProxy's line protocol or be misread.
	ErrInvalid = errors.New("invalid argument")
	// ErrNoAnswer means the connection ended before HAProxy answered the
	// command, as it does to a request larger than its buffer.
	ErrNoAnswer = errors.New("no answer")
)

// Error is an answer HAProxy gave as an error.
type Error struct {
	Command string // the command's verb and object, e.g. "set map /etc/haproxy/groups.map"
	Message string // HAProxy's text, severity tag and trailing newlines removed
	kind    error  // one of the sentinels, or nil
}

func (e *Error) Error() string {
	return fmt.Sprintf("haproxy %s: %s", e.Command, e.Message)
}

// Unwrap returns the sentinel the message maps to, if any.
func (e *Error) Unwrap() error { return e.kind }

// errorShapes are error answers HAProxy 2.6 gives without a severity tag (or
// with the informational one), matched as prefixes, with their sentinels.
var errorShapes = []struct {
	prefix string
	kind   error
}{
	{"Unknown command", ErrUnknownCommand}, // tagged [6] with the command list
	{"Permission denied", ErrPermission},
	{"Session not found", ErrNoSession}, // "show sess <id>", untagged
}

// taggedKinds map tagged error messages to sentinels.
var taggedKinds = []struct {
	prefix string
	kind   error
}{
	{"Unknown map identifier", ErrUnknownMap},
	{"No such session", ErrNoSession},
	{"entry not found", ErrNotFound}, // set map
	{"Key not found", ErrNotFound},   // del map
	{"Permission denied", ErrPermission},
}

// Client talks to one HAProxy stats socket. It is safe for concurrent use;
// map writes made through one Client are serialized (see Replace).
type Client struct {
	network, address string
	dialer           net.Dialer

	mapMu sync.Mutex // serializes SetEntry, DelEntry and Replace

	// payloadLimit bounds one "add map" payload command in bytes; tests
	// lower it.
	payloadLimit int
	// beforeCommit, when set, runs in Replace between the last "add map" and
	// "commit map"; tests use it to look at the map mid-replacement.
	beforeCommit func(version string)
}

// New returns a client for the stats socket at addr, which is one of
//
//	/run/haproxy/admin.sock      a unix socket (absolute or ./relative path)
//	unix:/path  unix@/path       a unix socket
//	127.0.0.1:9999  [::1]:9999   TCP
//	ipv4@127.0.0.1:9999  ipv6@::1:9999  tcp@host:9999   HAProxy's spelling
//
// New does not connect.
func New(addr string) (*Client, error) {
	network, address, err := parseAddr(addr)
	if err != nil {
		return nil, fmt.Errorf("haproxy runtime address %q: %w", addr, err)
	}
	return &Client{network: network, address: address, payloadLimit: defaultPayloadLimit}, nil
}

// String returns the address the client dials, e.g. "unix:/run/haproxy/admin.sock".
func (c *Client) String() string { return c.network + ":" + c.address }

func parseAddr(addr string) (network, address string, err error) {
	if addr == "" {
		return "", "", errors.New("empty")
	}
	if strings.ContainsAny(addr, " \t\r\n") {
		return "", "", errors.New("contains whitespace")
	}
	for _, p := range []string{"unix:", "unix@"} {
		if rest, ok := strings.CutPrefix(addr, p); ok {
			if rest == "" {
				return "", "", errors.New("empty socket path")
			}
			return "unix", rest, nil
		}
	}
	if strings.HasPrefix(addr, "/") || strings.HasPrefix(addr, "./") || strings.HasPrefix(addr, "../") {
		return "unix", addr, nil
	}
	network = "tcp"
	hostport := addr
	if scheme, rest, ok := strings.Cut(addr, "@"); ok {
		switch scheme {
		case "ipv4", "tcp4":
			network = "tcp4"
		case "ipv6", "tcp6":
			network = "tcp6"
		case "tcp":
		default:
			return "", "", fmt.Errorf("unsupported scheme %q (want unix, ipv4, ipv6 or tcp)", scheme)
		}
		hostport = rest
	}
	host, port, err := splitHostPort(hostport)
	if err != nil {
		return "", "", err
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", "", fmt.Errorf("bad port %q", port)
	}
	if host == "" {
		return "", "", errors.New("missing host (want host:port or a socket path)")
	}
	return network, net.JoinHostPort(host, port), nil
}

// splitHostPort accepts "[::1]:9999", "host:9999" and HAProxy's "::1:9999".
func splitHostPort(s string) (host, port string, err error) {
	if strings.HasPrefix(s, "[") {
		return net.SplitHostPort(s)
	}
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return "", "", errors.New("missing port (want host:port or a socket path)")
	}
	host, port = s[:i], s[i+1:]
	if strings.Contains(host, ":") && net.ParseIP(host) == nil {
		return "", "", fmt.Errorf("bad host %q", host)
	}
	return host, port, nil
}

// Exec runs one command line and returns HAProxy's answer without its
// trailing newlines. An answer HAProxy reports as an error is returned as an
// *Error (with the text). cmd must be a single line; a ';' in it separates
// commands, as HAProxy defines (then only the first answer is checked for
// errors). Arguments containing spaces, ';' or '\' must be escaped with a
// backslash; the typed methods do that.
func (c *Client) Exec(ctx context.Context, cmd string) (string, error) {
	if strings.ContainsAny(cmd, "\r\n") {
		return "", fmt.Errorf("haproxy exec: %w: command contains a line break", ErrInvalid)
	}
	return c.exec(ctx, cmd, "")
}

// exec sends cmd, and payload (already '\n'-terminated lines) when not
// empty, and interprets the answer.
func (c *Client) exec(ctx context.Context, cmd, payload string) (string, error) {
	var req strings.Builder
	req.Grow(len(cmd) + len(payload) + 40)
	req.WriteString(severityPrefix)
	req.WriteString(cmd)
	if payload != "" {
		// The payload starts after " <<\n" and ends at the first empty line.
		req.WriteString(" <<\n")
		req.WriteString(payload)
	}
	req.WriteString("\n")

	raw, err := c.roundTrip(ctx, req.String())
	if err != nil {
		return "", fmt.Errorf("haproxy %s: %w", describe(cmd), err)
	}
	// The answer is "\n" (set severity-output's empty output) and then the
	// command's, which ends with a newline. When the request does not fit
	// HAProxy's buffer (tune.bufsize, 16384 by default), HAProxy 2.6 resets
	// the connection, answers only the first command, or waits for the rest
	// of the line until the deadline: never an answer to cmd.
	if len(raw) < 2 || raw[0] != '\n' || raw[len(raw)-1] != '\n' {
		return "", fmt.Errorf("haproxy %s: %w to a %d-byte request (larger than tune.bufsize?), got %q",
			describe(cmd), ErrNoAnswer, req.Len(), truncate(raw, 60))
	}
	return interpret(cmd, raw)
}

// interpret strips the answer of "set severity-output" (an empty line) and of
// the trailing delimiter, and turns error answers into *Error.
func interpret(cmd, raw string) (string, error) {
	out := strings.TrimPrefix(raw, "\n")
	out = strings.TrimRight(out, "\n")
	msg, sev, tagged := cutSeverity(out)
	if tagged && sev <= 3 { // emerg, alert, crit, err
		e := &Error{Command: describe(cmd), Message: msg}
		for _, k := range taggedKinds {
			if strings.HasPrefix(msg, k.prefix) {
				e.kind = k.kind
				break
			}
		}
		return "", e
	}
	for _, s := range errorShapes {
		if strings.HasPrefix(msg, s.prefix) {
			return "", &Error{Command: describe(cmd), Message: firstLine(msg), kind: s.kind}
		}
	}
	return msg, nil
}

// cutSeverity removes a leading "[N]: " tag.
func cutSeverity(s string) (msg string, sev int, ok bool) {
	if len(s) < 5 || s[0] != '[' {
		return s, 0, false
	}
	end := strings.Index(s, "]: ")
	if end < 2 || end > 3 {
		return s, 0, false
	}
	n, err := strconv.Atoi(s[1:end])
	if err != nil {
		return s, 0, false
	}
	return s[end+3:], n, true
}

func (c *Client) roundTrip(ctx context.Context, req string) (string, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultTimeout)
		defer cancel()
	}
	conn, err := c.dialer.DialContext(ctx, c.network, c.address)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	deadline, _ := ctx.Deadline()
	if err := conn.SetDeadline(deadline); err != nil {
		return "", err
	}
	// Cancellation (not only the deadline) interrupts a blocked read or write.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	if _, err := io.WriteString(conn, req); err != nil {
		return "", wrapCtx(ctx, err)
	}
	var b strings.Builder
	if _, err := io.Copy(&b, conn); err != nil {
		return "", wrapCtx(ctx, err)
	}
	return b.String(), nil
}

// wrapCtx reports the context's error rather than the i/o timeout it caused.
func wrapCtx(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%w (%v)", ctx.Err(), err)
	}
	// The connection's deadline is the context's; its timer may fire first.
	var ne net.Error
	if d, ok := ctx.Deadline(); ok && errors.As(err, &ne) && ne.Timeout() && !time.Now().Before(d) {
		return fmt.Errorf("%w (%v)", context.DeadlineExceeded, err)
	}
	return err
}

// describe names a command in errors: its verb, object and map or session
// (skipping an "@<version>"), never a payload or a value.
func describe(cmd string) string {
	var words []string
	for i, w := range strings.Fields(cmd) {
		if len(words) == 3 {
			break
		}
		if i == 2 && strings.HasPrefix(w, "@") {
			continue
		}
		words = append(words, w)
	}
	s := strings.Join(words, " ")
	if len(s) > 120 {
		s = s[:120] + "..."
	}
	return s
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// escape makes s one argument of a CLI command line: HAProxy splits
// arguments on spaces and tabs, commands on ';', treats a line ending in
// " <<" as the start of a payload, and removes a backslash before any
// character.
func escape(s string) string {
	if !strings.ContainsAny(s, " \t;\\<") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case ' ', '\t', ';', '\\', '<':
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
