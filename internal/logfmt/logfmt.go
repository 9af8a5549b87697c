// Package logfmt is a slog.Handler that writes the lines of log/slog's
// TextHandler and JSONHandler, byte for byte, at a fraction of their cost
// for the records a gateway writes by the thousand: the access log's one
// line per decision. Records made of plain strings, integers and booleans
// are formatted here; any other record (quoting or escaping needed,
// groups, floats, errors, a ReplaceAttr or AddSource option) is handed to
// the standard handler, so the output is the standard one either way.
package logfmt

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"time"
)

// Handler is a slog.Handler writing text or JSON lines.
type Handler struct {
	json  bool
	level slog.Leveler
	std   slog.Handler // handles what the fast path does not
	out   *lockedWriter
	pre   []byte // attributes from WithAttrs, formatted
	slow  bool   // every record goes to std (a group, or attributes the fast path cannot write)
}

// lockedWriter serializes the writes of both paths: one line per Write.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// NewText returns a handler writing the lines slog.NewTextHandler(w, opts)
// would write.
func NewText(w io.Writer, opts *slog.HandlerOptions) *Handler {
	return newHandler(false, w, opts)
}

// NewJSON returns a handler writing the lines slog.NewJSONHandler(w, opts)
// would write.
func NewJSON(w io.Writer, opts *slog.HandlerOptions) *Handler {
	return newHandler(true, w, opts)
}

func newHandler(json bool, w io.Writer, opts *slog.HandlerOptions) *Handler {
	if opts == nil {
		opts = &slog.HandlerOptions{}
	}
	out := &lockedWriter{w: w}
	h := &Handler{json: json, level: opts.Level, out: out,
		slow: opts.AddSource || opts.ReplaceAttr != nil}
	if h.level == nil {
		h.level = slog.LevelInfo
	}
	if json {
		h.std = slog.NewJSONHandler(out, opts)
	} else {
		h.std = slog.NewTextHandler(out, opts)
	}
	return h
}

// Enabled reports whether level is at or above the handler's level.
func (h *Handler) Enabled(_ context.Context, level slog.Level) bool {
	return level >= h.level.Level()
}

// WithAttrs returns a handler that adds attrs to every record.
func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	c := *h
	c.std = h.std.WithAttrs(attrs)
	if !c.slow {
		pre := append([]byte(nil), h.pre...)
		for _, a := range attrs {
			var ok bool
			if pre, ok = h.appendAttr(pre, a); !ok {
				c.slow = true
				break
			}
		}
		c.pre = pre
	}
	return &c
}

// WithGroup returns a handler that puts later attributes in a group.
func (h *Handler) WithGroup(name string) slog.Handler {
	c := *h
	c.std, c.slow = h.std.WithGroup(name), true
	return &c
}

var buffers = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// Handle writes r's line.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	if h.slow {
		return h.std.Handle(ctx, r)
	}
	bp := buffers.Get().(*[]byte)
	defer func() {
		if cap(*bp) <= 16<<10 {
			buffers.Put(bp)
		}
	}()
	buf, ok := h.appendRecord((*bp)[:0], r)
	*bp = buf
	if !ok {
		return h.std.Handle(ctx, r)
	}
	_, err := h.out.Write(buf)
	return err
}

// appendRecord formats r, or returns false if the fast path cannot.
func (h *Handler) appendRecord(buf []byte, r slog.Record) ([]byte, bool) {
	if h.json {
		buf = append(buf, '{')
	}
	first := true // no separator before the first key
	if !r.Time.IsZero() {
		buf, first = h.appendKey(buf, slog.TimeKey, true), false
		if h.json {
			if y := r.Time.Year(); y < 0 || y >= 10000 {
				return buf, false
			}
			buf = append(buf, '"')
			buf = r.Time.AppendFormat(buf, time.RFC3339Nano)
			buf = append(buf, '"')
		} else {
			buf = appendMillis(buf, r.Time)
		}
	}
	var ok bool
	if buf, ok = h.appendString(h.appendKey(buf, slog.LevelKey, first), r.Level.String()); !ok {
		return buf, false
	}
	if buf, ok = h.appendString(h.appendKey(buf, slog.MessageKey, false), r.Message); !ok {
		return buf, false
	}
	buf = append(buf, h.pre...)
	r.Attrs(func(a slog.Attr) bool {
		buf, ok = h.appendAttr(buf, a)
		return ok
	})
	if !ok {
		return buf, false
	}
	if h.json {
		buf = append(buf, '}')
	}
	return append(buf, '\n'), true
}

// appendKey writes the separator (unless first) and key; the keys given
// to it are plain.
func (h *Handler) appendKey(buf []byte, key string, first bool) []byte {
	if h.json {
		if !first {
			buf = append(buf, ',')
		}
		buf = append(buf, '"')
		buf = append(buf, key...)
		return append(buf, '"', ':')
	}
	if !first {
		buf = append(buf, ' ')
	}
	buf = append(buf, key...)
	return append(buf, '=')
}

// appendAttr writes a, or returns false for what the fast path leaves to
// the standard handler.
func (h *Handler) appendAttr(buf []byte, a slog.Attr) ([]byte, bool) {
	if a.Key == "" || !plain(a.Key) {
		return buf, false
	}
	v := a.Value
	switch v.Kind() {
	case slog.KindString:
		return h.appendString(h.appendKey(buf, a.Key, false), v.String())
	case slog.KindInt64:
		return strconv.AppendInt(h.appendKey(buf, a.Key, false), v.Int64(), 10), true
	case slog.KindUint64:
		return strconv.AppendUint(h.appendKey(buf, a.Key, false), v.Uint64(), 10), true
	case slog.KindBool:
		return strconv.AppendBool(h.appendKey(buf, a.Key, false), v.Bool()), true
	}
	return buf, false
}

// appendString writes a plain or empty string value.
func (h *Handler) appendString(buf []byte, s string) ([]byte, bool) {
	if s == "" {
		return append(buf, '"', '"'), true
	}
	if !plain(s) {
		return buf, false
	}
	if !h.json {
		return append(buf, s...), true
	}
	buf = append(buf, '"')
	buf = append(buf, s...)
	return append(buf, '"'), true
}

// appendMillis writes t as the text handler does: RFC 3339 with exactly
// three fractional digits, truncated.
func appendMillis(buf []byte, t time.Time) []byte {
	const fracEnd = len("2006-01-02T15:04:05.000")
	n := len(buf)
	// RFC3339Nano drops trailing zeros: 100µs more keeps four digits,
	// of which the fourth is cut.
	buf = t.Truncate(time.Millisecond).Add(100*time.Microsecond).AppendFormat(buf, time.RFC3339Nano)
	return append(buf[:n+fracEnd], buf[n+fracEnd+1:]...)
}

// plain reports whether s is written as is by both standard handlers: no
// quoting in text, no escaping in JSON.
func plain(s string) bool {
	for i := 0; i < len(s); i++ {
		if !plainByte[s[i]] {
			return false
		}
	}
	return true
}

// plainByte holds the bytes that neither handler quotes or escapes:
// printable ASCII but for space, '"', '=' and '\\'.
var plainByte = func() (t [256]bool) {
	for c := '!'; c <= '~'; c++ {
		t[c] = c != '"' && c != '=' && c != '\\'
	}
	return t
}()
