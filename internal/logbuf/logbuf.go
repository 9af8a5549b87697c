// Package logbuf buffers a log's output: one line per decision, written
// as it comes, costs the gateway a system call a request. Lines are
// written in batches instead, at most a flush interval late, in the order
// they came.
package logbuf

import (
	"io"
	"sync"
	"time"
)

// Writer buffers what is written to it and writes it on to the underlying
// writer every interval, when the buffer reaches its size, and on Flush or
// Close. It is safe for concurrent use.
type Writer struct {
	w     io.Writer
	every time.Duration
	size  int

	mu      sync.Mutex
	buf     []byte
	pending bool // a flush is scheduled
	closed  bool
}

// New returns a Writer on w that flushes every interval, or when size
// bytes wait.
func New(w io.Writer, every time.Duration, size int) *Writer {
	return &Writer{w: w, every: every, size: size, buf: make([]byte, 0, size)}
}

// Write buffers p. After Close it writes through.
func (b *Writer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return b.w.Write(p)
	}
	b.buf = append(b.buf, p...)
	if len(b.buf) >= b.size {
		if err := b.flushLocked(); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	if !b.pending {
		b.pending = true
		time.AfterFunc(b.every, func() { _ = b.Flush() })
	}
	return len(p), nil
}

// Flush writes what waits.
func (b *Writer) Flush() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.pending = false
	return b.flushLocked()
}

func (b *Writer) flushLocked() error {
	if len(b.buf) == 0 {
		return nil
	}
	_, err := b.w.Write(b.buf)
	if cap(b.buf) > 4*b.size {
		b.buf = make([]byte, 0, b.size) // one large burst does not stay
	} else {
		b.buf = b.buf[:0]
	}
	return err
}

// Close flushes, and lets later writes through unbuffered.
func (b *Writer) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	return b.flushLocked()
}
