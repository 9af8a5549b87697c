package audit

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/scimgate/scimgate/config"
)

// Syslog severities the sink uses (RFC 5424, section 6.2.1).
const (
	severityWarning = 4 // a refused request
	severityNotice  = 5 // a directory change, a policy version
	severityInfo    = 6 // an allowed request
)

// maxDatagram bounds a syslog message sent over udp or a unix datagram
// socket: a longer one (a large policy version) is cut there, and no
// longer valid JSON. Use tcp for those.
const maxDatagram = 64000

// SyslogOptions configures a SyslogSink.
type SyslogOptions struct {
	Network  string // "udp", "tcp" or "unix"
	Address  string // host:port, or a socket path
	Facility int    // RFC 5424 facility code
	Framing  string // tcp: config.FramingOctetCounting (default) or config.FramingNewline
	Hostname string // default os.Hostname
	Timeout  time.Duration
	Log      *slog.Logger
}

// SyslogSink sends each record as one RFC 5424 message: MSGID is the
// stream, the timestamp the record's time, and MSG the JSON line. Over
// tcp a batch is delivered once it is written to the connection (syslog
// has no acknowledgement); over udp once it is sent. A failed write
// closes the connection and the batch is sent again on a new one.
type SyslogSink struct {
	opts   SyslogOptions
	header string // " HOSTNAME APP-NAME PROCID "
	conn   net.Conn
	stream bool // the connection is a byte stream (tcp, unix stream)
	buf    []byte
}

// NewSyslogSink returns a syslog sink; it connects on the first Send.
func NewSyslogSink(opts SyslogOptions) *SyslogSink {
	if opts.Hostname == "" {
		opts.Hostname, _ = os.Hostname()
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	if opts.Framing == "" {
		opts.Framing = config.FramingOctetCounting
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	return &SyslogSink{opts: opts, header: " " + sdName(opts.Hostname, 255) + " scimgate " + strconv.Itoa(os.Getpid()) + " "}
}

func (s *SyslogSink) dial(ctx context.Context) error {
	d := net.Dialer{Timeout: s.opts.Timeout}
	var err error
	switch s.opts.Network {
	case "unix":
		// The local syslog socket is usually a datagram one (/dev/log);
		// some daemons listen on a stream socket instead.
		if s.conn, err = d.DialContext(ctx, "unixgram", s.opts.Address); err == nil {
			s.stream = false
			return nil
		}
		s.conn, err = d.DialContext(ctx, "unix", s.opts.Address)
		s.stream = true
	default:
		s.conn, err = d.DialContext(ctx, s.opts.Network, s.opts.Address)
		s.stream = s.opts.Network == "tcp"
	}
	if err != nil {
		s.conn = nil
		return fmt.Errorf("connect to syslog %s %s: %w", s.opts.Network, s.opts.Address, err)
	}
	return nil
}

// Send implements Sink.
func (s *SyslogSink) Send(ctx context.Context, recs []ExportRecord) error {
	if s.conn == nil {
		if err := s.dial(ctx); err != nil {
			return err
		}
	}
	_ = s.conn.SetWriteDeadline(time.Now().Add(s.opts.Timeout))
	fail := func(err error) error {
		s.conn.Close()
		s.conn = nil
		return fmt.Errorf("write to syslog %s %s: %w", s.opts.Network, s.opts.Address, err)
	}
	if s.stream {
		// One write per batch: octet counting (RFC 6587, 3.4.1) or a
		// newline after each message, which JSON never holds unescaped.
		s.buf = s.buf[:0]
		for _, r := range recs {
			msg := s.message(r)
			if s.opts.Framing == config.FramingNewline {
				s.buf = append(append(s.buf, msg...), '\n')
			} else {
				s.buf = append(append(strconv.AppendInt(s.buf, int64(len(msg)), 10), ' '), msg...)
			}
		}
		if _, err := s.conn.Write(s.buf); err != nil {
			return fail(err)
		}
		return nil
	}
	for _, r := range recs {
		msg := s.message(r)
		if len(msg) > maxDatagram {
			s.opts.Log.Warn("audit export: syslog message cut to fit a datagram; use network: tcp for whole records",
				"stream", r.Entry.Stream, "seq", r.Entry.Seq, "bytes", len(msg))
			msg = msg[:maxDatagram]
		}
		if _, err := s.conn.Write(msg); err != nil {
			return fail(err)
		}
	}
	return nil
}

// message formats r as an RFC 5424 message:
// <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID - MSG.
func (s *SyslogSink) message(r ExportRecord) []byte {
	sev := severityNotice
	if d := r.Entry.Decision; d != nil {
		sev = severityWarning
		if d.Allow {
			sev = severityInfo
		}
	}
	b := make([]byte, 0, len(r.Line)+128)
	b = append(b, '<')
	b = strconv.AppendInt(b, int64(s.opts.Facility*8+sev), 10)
	b = append(b, ">1 "...)
	if r.Entry.At.IsZero() {
		b = append(b, '-')
	} else {
		b = r.Entry.At.UTC().AppendFormat(b, "2006-01-02T15:04:05.000000Z07:00")
	}
	b = append(b, s.header...)
	b = append(b, sdName(r.Entry.Stream, 32)...)
	b = append(b, " - "...)
	return append(b, r.Line...)
}

// sdName makes s a valid header field: printable US-ASCII without spaces,
// at most n bytes; "-" (nil) when empty.
func sdName(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if r > ' ' && r < 127 {
			return r
		}
		return -1
	}, s)
	if len(s) > n {
		s = s[:n]
	}
	if s == "" {
		return "-"
	}
	return s
}

// Close implements Sink.
func (s *SyslogSink) Close() error {
	if s.conn == nil {
		return nil
	}
	err := s.conn.Close()
	s.conn = nil
	return err
}
