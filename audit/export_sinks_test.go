package audit_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scimgate/scimgate/audit"
	"github.com/scimgate/scimgate/config"
	"github.com/scimgate/scimgate/store"
)

// exReadLines parses a file of JSON lines; a line that does not parse
// fails the test.
func exReadLines(t testing.TB, path string) []audit.Entry {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []audit.Entry
	for _, line := range bytes.Split(b, []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var e audit.Entry
		if err := json.Unmarshal(line, &e); err != nil {
			t.Fatalf("%s: line %q: %v", path, line, err)
		}
		out = append(out, e)
	}
	if len(b) > 0 && b[len(b)-1] != '\n' {
		t.Errorf("%s does not end with a newline", path)
	}
	return out
}

// TestExportFile: the file holds every record once, one JSON object per
// line, each the line `audit log --json` prints; after the file is
// rotated away, a new one is created; a partial last line left by a
// crash is ended before the next records.
func TestExportFile(t *testing.T) {
	dir := t.TempDir()
	st := exportStore(t, filepath.Join(dir, "db"), 6)
	path := filepath.Join(dir, "audit.jsonl")
	sink, err := audit.OpenSink(config.AuditExport{Name: "local", Type: config.ExportFile, Path: path}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("OpenSink created %v, %v; want the file, mode 0600", fi, err)
	}
	stop := runExporter(t, st, audit.ExportOptions{Sink: sink, BatchSize: 4})
	exWaitFor(t, 10*time.Second, "18 lines", func() bool { b, _ := os.ReadFile(path); return bytes.Count(b, []byte("\n")) == 18 })
	got := exReadLines(t, path)
	byKey, dups := exDistinct(got)
	if dups != 0 {
		t.Errorf("%d records twice", dups)
	}
	exCheckOrder(t, got)
	exSameJSON(t, exStored(t, st), byKey)
	// Each line is byte for byte what `audit log --json` encodes.
	b, _ := os.ReadFile(path)
	first, _, _ := bytes.Cut(b, []byte("\n"))
	var enc bytes.Buffer
	_ = json.NewEncoder(&enc).Encode(got[0])
	if !bytes.Equal(append(first, '\n'), enc.Bytes()) {
		t.Errorf("first line\n%s\nis not the log's encoding\n%s", first, enc.Bytes())
	}

	// Rotation: the file is renamed away; the next batch creates it anew.
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	exAppend(t, st, 6, 8)
	exWaitFor(t, 10*time.Second, "a new file", func() bool { b, _ := os.ReadFile(path); return bytes.Count(b, []byte("\n")) == 6 })
	stop()
	if n := len(exReadLines(t, path+".1")); n != 18 {
		t.Errorf("rotated file has %d lines, want 18", n)
	}

	// A crash in the middle of a line: the partial line ends, and the
	// records follow whole.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"stream":"decisions","seq":8,"at":"2026-`)
	f.Close()
	sink2, err := audit.OpenFileSink(path)
	if err != nil {
		t.Fatal(err)
	}
	defer sink2.Close()
	if err := sink2.Send(context.Background(), []audit.ExportRecord{{Line: []byte(`{"stream":"decisions","seq":8}`)}}); err != nil {
		t.Fatal(err)
	}
	b, _ = os.ReadFile(path)
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if last := lines[len(lines)-1]; last != `{"stream":"decisions","seq":8}` || !strings.HasSuffix(lines[len(lines)-2], `"at":"2026-`) {
		t.Errorf("after a partial line the file ends with %q", lines[len(lines)-2:])
	}
}

// TestExportStdout: type stdout (and path "-") write to the stream given.
func TestExportStdout(t *testing.T) {
	st := exportStore(t, filepath.Join(t.TempDir(), "db"), 2)
	for _, c := range []config.AuditExport{{Name: "a", Type: config.ExportStdout}, {Name: "b", Type: config.ExportFile, Path: "-"}} {
		var buf exSyncBuffer
		sink, err := audit.OpenSink(c, &buf, nil)
		if err != nil {
			t.Fatal(err)
		}
		runExporter(t, st, audit.ExportOptions{Name: c.Name, Sink: sink, Streams: []string{store.StreamDecisions}})
		exWaitFor(t, 10*time.Second, "2 lines on stdout", func() bool { return strings.Count(buf.String(), "\n") == 2 })
		if !strings.HasPrefix(buf.String(), `{"stream":"decisions","seq":1,`) {
			t.Errorf("%s wrote %q", c.Type, buf.String())
		}
	}
}

type exSyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *exSyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *exSyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// exRFC5424 matches a message as the syslog sink writes it:
// <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD MSG.
var exRFC5424 = regexp.MustCompile(`^<(\d{1,3})>1 (\S+) (\S+) (\S+) (\S+) (\S+) (-) (\{.*\})$`)

// exSyslogMsg is a parsed RFC 5424 message.
type exSyslogMsg struct {
	facility, severity int
	time               time.Time
	host, app, procID  string
	msgID              string
	entry              audit.Entry
}

func exParse5424(t testing.TB, msg string) exSyslogMsg {
	t.Helper()
	m := exRFC5424.FindStringSubmatch(msg)
	if m == nil {
		t.Fatalf("not an RFC 5424 message: %q", msg)
	}
	pri, _ := strconv.Atoi(m[1])
	ts, err := time.Parse(time.RFC3339Nano, m[2])
	if err != nil {
		t.Errorf("timestamp %q: %v", m[2], err)
	}
	out := exSyslogMsg{facility: pri / 8, severity: pri % 8, time: ts, host: m[3], app: m[4], procID: m[5], msgID: m[6]}
	if err := json.Unmarshal([]byte(m[8]), &out.entry); err != nil {
		t.Errorf("MSG %q: %v", m[8], err)
	}
	return out
}

// exCheckSyslog checks the messages a syslog sink sent for the records of
// exportStore(n).
func exCheckSyslog(t *testing.T, st store.Store, msgs []string, facility int) {
	t.Helper()
	var es []audit.Entry
	host, _ := os.Hostname()
	for _, raw := range msgs {
		m := exParse5424(t, raw)
		es = append(es, m.entry)
		wantSev := 5
		if d := m.entry.Decision; d != nil && d.Allow {
			wantSev = 6
		} else if d != nil {
			wantSev = 4
		}
		if m.facility != facility || m.severity != wantSev {
			t.Errorf("%s seq %d: facility %d severity %d, want %d and %d", m.entry.Stream, m.entry.Seq, m.facility, m.severity, facility, wantSev)
		}
		if m.app != "scimgate" || m.procID != strconv.Itoa(os.Getpid()) || m.msgID != m.entry.Stream || m.host != host {
			t.Errorf("header: host %q app %q procid %q msgid %q", m.host, m.app, m.procID, m.msgID)
		}
		if !m.time.Equal(m.entry.At) {
			t.Errorf("timestamp %s, want the record's time %s", m.time, m.entry.At)
		}
	}
	byKey, dups := exDistinct(es)
	if dups != 0 {
		t.Errorf("%d messages twice", dups)
	}
	exCheckOrder(t, es)
	exSameJSON(t, exStored(t, st), byKey)
}

// TestExportSyslogUDP: one RFC 5424 datagram per record.
func TestExportSyslogUDP(t *testing.T) {
	st := exportStore(t, filepath.Join(t.TempDir(), "db"), 4)
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	sink, err := audit.OpenSink(config.AuditExport{Name: "s", Type: config.ExportSyslog, Address: pc.LocalAddr().String(), Facility: "authpriv"}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	runExporter(t, st, audit.ExportOptions{Sink: sink, BatchSize: 3})
	var msgs []string
	buf := make([]byte, 70000)
	for len(msgs) < 12 {
		_ = pc.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, _, err := pc.ReadFrom(buf)
		if err != nil {
			t.Fatalf("after %d datagrams: %v", len(msgs), err)
		}
		msgs = append(msgs, string(buf[:n]))
	}
	exCheckSyslog(t, st, msgs, 10)
}

// TestExportSyslogTCP: octet-counted (RFC 6587) or newline-framed
// messages on one connection; a broken connection is dialled again and
// the batch sent again.
func TestExportSyslogTCP(t *testing.T) {
	for _, framing := range []string{config.FramingOctetCounting, config.FramingNewline} {
		t.Run(framing, func(t *testing.T) {
			st := exportStore(t, filepath.Join(t.TempDir(), "db"), 4)
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			msgs := make(chan string, 100)
			go func() {
				for {
					conn, err := ln.Accept()
					if err != nil {
						return
					}
					go exReadFrames(conn, framing, msgs)
				}
			}()
			sink, err := audit.OpenSink(config.AuditExport{Name: "s", Type: config.ExportSyslog, Network: "tcp",
				Address: ln.Addr().String(), Framing: framing}, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer sink.Close()
			runExporter(t, st, audit.ExportOptions{Sink: sink, BatchSize: 5})
			var got []string
			for len(got) < 12 {
				select {
				case m := <-msgs:
					got = append(got, m)
				case <-time.After(10 * time.Second):
					t.Fatalf("%d messages after 10s, want 12", len(got))
				}
			}
			exCheckSyslog(t, st, got, 16)
		})
	}
}

// exReadFrames reads syslog frames from conn.
func exReadFrames(conn net.Conn, framing string, out chan<- string) {
	defer conn.Close()
	r := bufio.NewReader(conn)
	for {
		if framing == config.FramingNewline {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			out <- strings.TrimSuffix(line, "\n")
			continue
		}
		n, err := r.ReadString(' ')
		if err != nil {
			return
		}
		size, err := strconv.Atoi(strings.TrimSuffix(n, " "))
		if err != nil {
			out <- fmt.Sprintf("bad frame length %q", n)
			return
		}
		msg := make([]byte, size)
		if _, err := io.ReadFull(r, msg); err != nil {
			return
		}
		out <- string(msg)
	}
}

// TestExportSyslogDown: while nothing listens, deliveries fail and are
// retried; once a server listens, every record arrives.
func TestExportSyslogDown(t *testing.T) {
	st := exportStore(t, filepath.Join(t.TempDir(), "db"), 2)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	sink := audit.NewSyslogSink(audit.SyslogOptions{Network: "tcp", Address: addr, Facility: 16, Timeout: time.Second})
	defer sink.Close()
	m := &exportCounts{}
	runExporter(t, st, audit.ExportOptions{Sink: sink, Metrics: m})
	exWaitFor(t, 10*time.Second, "failed attempts", func() bool { _, failed, _, _ := m.get(); return failed >= 2 })
	ln, err = net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("port %s taken meanwhile: %v", addr, err)
	}
	defer ln.Close()
	msgs := make(chan string, 100)
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go exReadFrames(conn, config.FramingOctetCounting, msgs)
		}
	}()
	var got []string
	for len(got) < 6 {
		select {
		case msg := <-msgs:
			got = append(got, msg)
		case <-time.After(10 * time.Second):
			t.Fatalf("%d messages after the server came up, want 6", len(got))
		}
	}
	exCheckSyslog(t, st, got, 16)
}
