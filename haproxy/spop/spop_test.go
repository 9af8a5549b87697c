package spop

import (
	"bytes"
	"errors"
	"testing"
)

func TestVarint(t *testing.T) {
	tests := []struct {
		v    uint64
		want []byte
	}{
		{0, []byte{0}},
		{239, []byte{239}},
		{240, []byte{0xF0, 0x00}},
		{2287, []byte{0xFF, 0x7F}},
		{2288, []byte{0xF0, 0x80, 0x00}},
		{264431, []byte{0xFF, 0xFF, 0x7F}},
		{264432, []byte{0xF0, 0x80, 0x80, 0x00}},
		{16380, []byte{0xFC, 0xF0, 0x06}},
	}
	for _, tt := range tests {
		got := AppendVarint(nil, tt.v)
		if !bytes.Equal(got, tt.want) {
			t.Errorf("AppendVarint(%d) = % x, want % x", tt.v, got, tt.want)
		}
		v, n, err := Varint(append(got, 0xAA))
		if err != nil || v != tt.v || n != len(tt.want) {
			t.Errorf("Varint(% x) = %d, %d, %v; want %d, %d", got, v, n, err, tt.v, len(tt.want))
		}
	}
	for _, max := range []uint64{1<<32 - 1, 1<<63 + 12345, 1<<64 - 1} {
		if v, _, err := Varint(AppendVarint(nil, max)); err != nil || v != max {
			t.Errorf("round trip of %d = %d, %v", max, v, err)
		}
	}
	for _, bad := range [][]byte{nil, {0xF0}, {0xF0, 0x80}, bytes.Repeat([]byte{0xFF}, 12)} {
		if _, _, err := Varint(bad); err == nil {
			t.Errorf("Varint(% x) succeeded, want an error", bad)
		}
	}
}

// hello is a HAPROXY-HELLO frame as HAProxy 2.6 sends it.
func hello(healthcheck bool) []byte {
	b, start := AppendFrameHeader(nil, TypeHAProxyHello, FlagFin, 0, 0)
	b = AppendKVString(b, "supported-versions", "2.0")
	b = AppendKVUint32(b, "max-frame-size", 16380)
	b = AppendKVString(b, "capabilities", "pipelining,async")
	if healthcheck {
		b = AppendBool(appendName(b, "healthcheck"), true)
	}
	b = AppendKVString(b, "engine-id", "3C1D4B5A-0B8E-4B2D-9C7B-6E2A1F0D9E8C")
	return FinishFrame(b, start)
}

func TestFrameAndKVList(t *testing.T) {
	raw := hello(true)
	if got := int(raw[0])<<24 | int(raw[1])<<16 | int(raw[2])<<8 | int(raw[3]); got != len(raw)-4 {
		t.Fatalf("length prefix %d, frame is %d bytes", got, len(raw)-4)
	}
	f, err := ParseFrame(raw[4:])
	if err != nil {
		t.Fatal(err)
	}
	if f.Type != TypeHAProxyHello || f.Flags != FlagFin || f.StreamID != 0 || f.FrameID != 0 {
		t.Fatalf("frame = %+v", f)
	}
	got := map[string]Value{}
	l := NewKVList(f.Payload)
	for name, v, ok := l.Next(); ok; name, v, ok = l.Next() {
		got[string(name)] = v
	}
	if l.Err() != nil {
		t.Fatal(l.Err())
	}
	if got["supported-versions"].String() != "2.0" || got["max-frame-size"].Uint != 16380 ||
		got["capabilities"].String() != "pipelining,async" || !got["healthcheck"].Bool || len(got) != 5 {
		t.Errorf("KV list = %+v", got)
	}
	// Every truncation is an error, never a panic or a silent success.
	for i := 5; i < len(raw)-4; i++ {
		f, err := ParseFrame(raw[4 : 4+i])
		if err != nil {
			continue
		}
		l := NewKVList(f.Payload)
		n := 0
		for _, _, ok := l.Next(); ok; _, _, ok = l.Next() {
			n++
		}
		if l.Err() == nil && n == 5 {
			t.Errorf("a frame cut at %d bytes read whole", i)
		}
	}
}

// notify builds a NOTIFY payload with two messages.
func notify() []byte {
	var b []byte
	b = appendName(b, "scimgate")
	b = append(b, 3)
	b = AppendKVString(b, "method", "GET")
	b = AppendBool(appendName(b, "tls"), false)
	b = append(appendName(b, "src"), byte(KindIPv4), 127, 0, 0, 1)
	b = appendName(b, "other")
	b = append(b, 1)
	b = AppendKVUint32(b, "n", 7)
	return b
}

func TestMessages(t *testing.T) {
	tests := []struct {
		name     string
		readArgs bool
	}{{"arguments read", true}, {"arguments skipped", false}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewMessages(notify())
			var args KVList
			var names []string
			var src []byte
			for name, ok := m.Next(&args); ok; name, ok = m.Next(&args) {
				names = append(names, string(name))
				if !tt.readArgs {
					continue
				}
				for k, v, ok := args.Next(); ok; k, v, ok = args.Next() {
					if string(k) == "src" {
						src = v.Bytes
					}
				}
			}
			if m.Err() != nil {
				t.Fatal(m.Err())
			}
			if len(names) != 2 || names[0] != "scimgate" || names[1] != "other" {
				t.Errorf("messages %q", names)
			}
			if tt.readArgs && !bytes.Equal(src, []byte{127, 0, 0, 1}) {
				t.Errorf("src = %v", src)
			}
		})
	}
	m := NewMessages(notify()[:20])
	var args KVList
	for _, ok := m.Next(&args); ok; _, ok = m.Next(&args) {
	}
	if !errors.Is(m.Err(), ErrShort) {
		t.Errorf("truncated NOTIFY: Err = %v, want ErrShort", m.Err())
	}
}

func TestActionsEncoding(t *testing.T) {
	b := AppendSetVarString(nil, ScopeTransaction, "user", "alice")
	b = AppendSetVarBool(b, ScopeTransaction, "allow", true)
	b = AppendSetVarInt(b, ScopeTransaction, "status", 403)
	want := []byte{ActionSetVar, 3, ScopeTransaction, 4, 'u', 's', 'e', 'r', byte(KindString), 5, 'a', 'l', 'i', 'c', 'e',
		ActionSetVar, 3, ScopeTransaction, 5, 'a', 'l', 'l', 'o', 'w', byte(KindBool) | 0x10,
		ActionSetVar, 3, ScopeTransaction, 6, 's', 't', 'a', 't', 'u', 's', byte(KindInt32), 0xF3, 0x0A}
	if !bytes.Equal(b, want) {
		t.Errorf("actions = % x\nwant      % x", b, want)
	}
	if v, _, err := ReadValue(b[len(b)-3:]); err != nil || v.Int != 403 {
		t.Errorf("status read back as %+v, %v", v, err)
	}
}

func TestAppendDoesNotAllocate(t *testing.T) {
	buf := make([]byte, 0, 512)
	if n := testing.AllocsPerRun(100, func() {
		b, start := AppendFrameHeader(buf[:0], TypeAck, FlagFin, 123456, 7)
		b = AppendSetVarString(b, ScopeTransaction, "user", "alice@example.com")
		b = AppendSetVarBool(b, ScopeTransaction, "allow", true)
		FinishFrame(b, start)
	}); n != 0 {
		t.Errorf("encoding an ACK allocates %v times", n)
	}
	raw := hello(false)
	if n := testing.AllocsPerRun(100, func() {
		f, _ := ParseFrame(raw[4:])
		l := NewKVList(f.Payload)
		for _, _, ok := l.Next(); ok; _, _, ok = l.Next() {
		}
	}); n != 0 {
		t.Errorf("decoding a HELLO allocates %v times", n)
	}
}

// FuzzDecode: no input makes the decoders panic or loop.
func FuzzDecode(f *testing.F) {
	f.Add(hello(true)[4:])
	b, start := AppendFrameHeader(nil, TypeNotify, FlagFin, 9, 1)
	f.Add(FinishFrame(append(b, notify()...), start)[4:])
	f.Add([]byte{3, 0, 0, 0, 1, 0xF0})
	f.Fuzz(func(t *testing.T, data []byte) {
		fr, err := ParseFrame(data)
		if err != nil {
			return
		}
		l := NewKVList(fr.Payload)
		for _, _, ok := l.Next(); ok; _, _, ok = l.Next() {
		}
		m := NewMessages(fr.Payload)
		var args KVList
		for _, ok := m.Next(&args); ok; _, ok = m.Next(&args) {
			for _, _, ok := args.Next(); ok; _, _, ok = args.Next() {
			}
		}
	})
}
