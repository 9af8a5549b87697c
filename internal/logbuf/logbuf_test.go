package logbuf

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// lockedBuffer is a bytes.Buffer safe for the flush goroutine.
type lockedBuffer struct {
	mu     sync.Mutex
	b      bytes.Buffer
	writes int
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.writes++
	return l.b.Write(p)
}

func (l *lockedBuffer) String() (string, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String(), l.writes
}

func TestWriter(t *testing.T) {
	out := &lockedBuffer{}
	w := New(out, 20*time.Millisecond, 1024)
	for i := range 10 {
		fmt.Fprintf(w, "line %d\n", i)
	}
	if s, _ := out.String(); s != "" {
		t.Fatalf("written before the interval: %q", s)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		s, n := out.String()
		if s != "" {
			if want := "line 0\nline 1\nline 2\nline 3\nline 4\nline 5\nline 6\nline 7\nline 8\nline 9\n"; s != want || n != 1 {
				t.Fatalf("after the interval: %d writes of %q, want one of %q", n, s, want)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("nothing written 5 s after the interval")
		}
		time.Sleep(5 * time.Millisecond)
	}

	// A full buffer is written at once; Close writes the rest and lets
	// later lines through.
	w2 := New(out, time.Hour, 64)
	line := strings.Repeat("x", 40) + "\n"
	w2.Write([]byte(line))
	w2.Write([]byte(line))
	if s, _ := out.String(); !strings.HasSuffix(s, line+line) {
		t.Errorf("a full buffer was not written at once")
	}
	w2.Write([]byte("tail\n"))
	if err := w2.Close(); err != nil {
		t.Fatal(err)
	}
	w2.Write([]byte("after\n"))
	if s, _ := out.String(); !strings.HasSuffix(s, "tail\nafter\n") {
		t.Errorf("Close did not flush, or a later write was held: %q", s[len(s)-20:])
	}
}

// TestWriterConcurrent: lines written from many goroutines come out whole.
func TestWriterConcurrent(t *testing.T) {
	out := &lockedBuffer{}
	w := New(out, time.Millisecond, 512)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				fmt.Fprintf(w, "g%d i%d %s\n", g, i, strings.Repeat("y", i%50))
			}
		}()
	}
	wg.Wait()
	w.Close()
	s, _ := out.String()
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	if len(lines) != 8*500 {
		t.Fatalf("%d lines, want %d", len(lines), 8*500)
	}
	for _, l := range lines {
		var g, i int
		var ys string
		if n, _ := fmt.Sscanf(l, "g%d i%d %s", &g, &i, &ys); n < 2 || (i%50 != 0 && len(ys) != i%50) {
			t.Fatalf("mangled line %q", l)
		}
	}
}
