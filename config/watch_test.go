package config

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestWatcherSettles: a change is applied once the file has read the same
// on two checks in a row, so that a file written in place (cat >, scp) is
// not applied while cut off half-way, even when the cut-off part parses.
func TestWatcherSettles(t *testing.T) {
	const (
		full = "listen: \"127.0.0.1:8080\"\nroutes:\n  - name: admin\n    path: /admin\n    allow: {groups: [eng]}\n    deny: {users: [mallory@example.com]}\n"
		half = "listen: \"127.0.0.1:8080\"\nroutes:\n  - name: admin\n    path: /admin\n    allow: {groups: [eng]}\n"
		next = "listen: \"127.0.0.1:8080\"\n"
	)
	// full2 is full with one more user denied; half is both cut off.
	full2 := full[:len(full)-3] + ", eve@example.com]}\n"
	for _, in := range []string{half, full2} {
		if _, err := Parse([]byte(in)); err != nil {
			t.Fatalf("test setup: %q must parse: %v", in, err)
		}
	}
	type step struct {
		write  *string // content written in place before the check; nil: none
		remove bool
		want   string // what the check applies; "" nothing
	}
	s := func(v string) *string { return &v }
	tests := []struct {
		name  string
		steps []step
	}{
		{name: "unchanged file applies nothing", steps: []step{{}, {}, {}}},
		{name: "a cut-off write is not applied, the completed one is", steps: []step{
			{write: s(half)}, {write: s(full2)}, {want: full2}, {},
		}},
		{name: "a change is applied on the second identical read, once", steps: []step{
			{write: s(next)}, {want: next}, {}, {},
		}},
		{name: "a write back to the loaded content applies nothing", steps: []step{
			{write: s(half)}, {write: s(full)}, {}, {},
		}},
		{name: "a file that keeps changing is applied once it stops", steps: []step{
			{write: s(half)}, {write: s(next)}, {write: s(half)}, {want: half}, {},
		}},
		{name: "a removed file is reported once it stays removed", steps: []step{
			{remove: true}, {want: "(error)"}, {},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "scimgate.yaml")
			if err := os.WriteFile(path, []byte(full), 0o600); err != nil {
				t.Fatal(err)
			}
			var got []string
			w := &watcher{path: path, last: Sum([]byte(full)), onChange: func(b []byte, err error) {
				if err != nil {
					got = append(got, "(error)")
					return
				}
				got = append(got, string(b))
			}}
			for i, st := range tt.steps {
				if st.write != nil {
					if err := os.WriteFile(path, []byte(*st.write), 0o600); err != nil {
						t.Fatal(err)
					}
				}
				if st.remove {
					if err := os.Remove(path); err != nil {
						t.Fatal(err)
					}
				}
				got = nil
				w.check()
				var want []string
				if st.want != "" {
					want = []string{st.want}
				}
				if len(got) != len(want) || (len(want) == 1 && got[0] != want[0]) {
					t.Fatalf("check %d applied %q, want %q", i, got, want)
				}
			}
		})
	}
}

// TestWatchSeededWithLoadedBytes runs Watch on a real file with a real
// ticker: seeded with the Sum of the bytes loaded, it applies an edit made
// before it started (between the load and the watch) and then one made by
// rename, each once, with the content that settled.
func TestWatchSeededWithLoadedBytes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "scimgate.yaml")
	const loaded, edited, renamed = "listen: \"127.0.0.1:1\"\n", "listen: \"127.0.0.1:2\"\n", "listen: \"127.0.0.1:3\"\n"
	if err := os.WriteFile(path, []byte(loaded), 0o600); err != nil {
		t.Fatal(err)
	}
	_, data, err := LoadFile(path)
	if err != nil || string(data) != loaded {
		t.Fatalf("LoadFile = %q, %v", data, err)
	}
	if err := os.WriteFile(path, []byte(edited), 0o600); err != nil { // before the watch starts
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan string, 10)
	done := make(chan struct{})
	go func() {
		defer close(done)
		Watch(ctx, path, 10*time.Millisecond, Sum(data), func(b []byte, err error) { got <- string(b) })
	}()
	defer func() { cancel(); <-done }()
	next := func(want string) {
		t.Helper()
		select {
		case g := <-got:
			if g != want {
				t.Fatalf("applied %q, want %q", g, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%q not applied within 5s", want)
		}
	}
	next(edited)
	if err := os.WriteFile(path+".tmp", []byte(renamed), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		t.Fatal(err)
	}
	next(renamed)
	select {
	case g := <-got:
		t.Fatalf("applied %q again", g)
	case <-time.After(100 * time.Millisecond):
	}
}
