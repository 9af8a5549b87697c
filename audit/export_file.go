package audit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// FileSink appends records to a file, one JSON object per line, and
// syncs the file after every batch: a batch counts as delivered once it
// is on disk. When the file is renamed or removed (log rotation), the
// next batch creates it anew. A line cut short by a crash is ended before
// anything else is appended, and its record is written again whole.
type FileSink struct {
	path string
	f    *os.File
	buf  []byte
}

// OpenFileSink opens (creating if needed, mode 0600) the file at path. An
// existing file readable by others is made mode 0600.
func OpenFileSink(path string) (*FileSink, error) {
	s := &FileSink{path: path}
	if err := s.open(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *FileSink) open() error {
	_, statErr := os.Stat(s.path)
	f, err := os.OpenFile(s.path, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("open audit export file: %w", err)
	}
	// A file made here (the first, or the next after a rotation) is named
	// durably before records go into it: the file's own fsync does not
	// cover its directory entry, and the exporter moves its cursor past
	// what Send wrote.
	if errors.Is(statErr, fs.ErrNotExist) {
		if err := syncDir(filepath.Dir(s.path)); err != nil {
			f.Close()
			return fmt.Errorf("open audit export file: %w", err)
		}
	}
	// The records say who went where: never readable by other users, also
	// when the file was there already (made by hand, or by a log rotator)
	// with a wider mode. Group bits are the operator's to choose: a log
	// shipper often reads through its group (logrotate's "create 0640
	// root adm").
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("open audit export file: %w", err)
	}
	if perm := fi.Mode().Perm(); perm&0o007 != 0 {
		if err := f.Chmod(perm &^ 0o007); err != nil {
			f.Close()
			return fmt.Errorf("audit export file %s is open to other users (mode %v) and cannot be closed to them: %w; chmod o-rwx it, or let the sink create it", s.path, perm, err)
		}
	}
	// A crash in the middle of a write leaves a partial last line: end
	// it, so that the records that follow stay one per line.
	if fi.Size() > 0 {
		last := make([]byte, 1)
		if _, err := f.ReadAt(last, fi.Size()-1); err == nil && last[0] != '\n' {
			if _, err := f.Write([]byte{'\n'}); err != nil {
				f.Close()
				return fmt.Errorf("end partial line of %s: %w", s.path, err)
			}
		}
	}
	s.f = f
	return nil
}

// rotated reports whether the open file is no longer at s.path.
func (s *FileSink) rotated() bool {
	cur, err := os.Stat(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return true
	}
	open, err2 := s.f.Stat()
	return err == nil && err2 == nil && !os.SameFile(cur, open)
}

// Send implements Sink.
func (s *FileSink) Send(_ context.Context, recs []ExportRecord) error {
	if s.f != nil && s.rotated() {
		s.f.Close()
		s.f = nil
	}
	if s.f == nil {
		if err := s.open(); err != nil {
			return err
		}
	}
	s.buf = appendLines(s.buf[:0], recs)
	if _, err := s.f.Write(s.buf); err != nil {
		// Reopen next time: that also ends the partial line.
		s.f.Close()
		s.f = nil
		return fmt.Errorf("write %s: %w", s.path, err)
	}
	if err := s.f.Sync(); err != nil {
		s.f.Close()
		s.f = nil
		return fmt.Errorf("sync %s: %w", s.path, err)
	}
	return nil
}

// Close implements Sink.
func (s *FileSink) Close() error {
	if s.f == nil {
		return nil
	}
	err := s.f.Close()
	s.f = nil
	return err
}

// WriterSink writes records to a stream such as standard output, each
// batch in one write. Nothing is synced: what the reader has read is
// delivered.
type WriterSink struct {
	w   io.Writer
	buf []byte
}

// NewWriterSink returns a sink writing to w.
func NewWriterSink(w io.Writer) *WriterSink { return &WriterSink{w: w} }

// Send implements Sink.
func (s *WriterSink) Send(_ context.Context, recs []ExportRecord) error {
	s.buf = appendLines(s.buf[:0], recs)
	if _, err := s.w.Write(s.buf); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}

// Close implements Sink; it leaves the stream open.
func (s *WriterSink) Close() error { return nil }

// appendLines appends the records' lines, each ended by a newline.
func appendLines(buf []byte, recs []ExportRecord) []byte {
	for _, r := range recs {
		buf = append(buf, r.Line...)
		buf = append(buf, '\n')
	}
	return buf
}

// syncDir flushes a directory's entries to disk.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}
