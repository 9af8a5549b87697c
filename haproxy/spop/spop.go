// Package spop encodes and decodes the frames of HAProxy's Stream
// Processing Offload Protocol (SPOP 2.0, doc/SPOE.txt in HAProxy's
// sources), which the SPOE filter speaks to its agents.
//
// Decoding never copies: names, strings and payloads alias the frame they
// were read from, valid until the buffer is reused. Encoding appends to a
// caller's buffer. Both are allocation-free.
package spop

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Frame types.
const (
	TypeUnset             byte = 0
	TypeHAProxyHello      byte = 1
	TypeHAProxyDisconnect byte = 2
	TypeNotify            byte = 3
	TypeAgentHello        byte = 101
	TypeAgentDisconnect   byte = 102
	TypeAck               byte = 103
)

// Frame flags.
const (
	FlagFin   uint32 = 1
	FlagAbort uint32 = 2
)

// Status codes of a DISCONNECT frame.
const (
	StatusNormal         = 0
	StatusIO             = 1
	StatusTimeout        = 2
	StatusTooBig         = 3
	StatusInvalid        = 4
	StatusNoVersion      = 5
	StatusNoFrameSize    = 6
	StatusNoCapabilities = 7
	StatusBadVersion     = 8
	StatusBadFrameSize   = 9
	StatusFragmentation  = 10
	StatusUnknown        = 99
)

// Variable scopes of a set-var action.
const (
	ScopeProcess     byte = 0
	ScopeSession     byte = 1
	ScopeTransaction byte = 2
	ScopeRequest     byte = 3
	ScopeResponse    byte = 4
)

// Action types.
const (
	ActionSetVar   byte = 1
	ActionUnsetVar byte = 2
)

// Kind is the type of a typed datum.
type Kind byte

// Data types.
const (
	KindNull   Kind = 0
	KindBool   Kind = 1
	KindInt32  Kind = 2
	KindUint32 Kind = 3
	KindInt64  Kind = 4
	KindUint64 Kind = 5
	KindIPv4   Kind = 6
	KindIPv6   Kind = 7
	KindString Kind = 8
	KindBinary Kind = 9
)

// ErrShort is returned for data that ends before its encoding does.
var ErrShort = errors.New("spop: truncated data")

// AppendVarint appends v in SPOP's variable-length encoding (HAProxy's
// peers encoding): below 240 one byte; above, four bits in a first byte
// marked 0xF0 and then seven bits a byte, high bit set on all but the last.
func AppendVarint(b []byte, v uint64) []byte {
	if v < 240 {
		return append(b, byte(v))
	}
	b = append(b, byte(v)|240)
	v = (v - 240) >> 4
	for v >= 128 {
		b = append(b, byte(v)|128)
		v = (v - 128) >> 7
	}
	return append(b, byte(v))
}

// Varint decodes a varint at the start of b and returns it with the number
// of bytes it took.
func Varint(b []byte) (uint64, int, error) {
	if len(b) == 0 {
		return 0, 0, ErrShort
	}
	v := uint64(b[0])
	if v < 240 {
		return v, 1, nil
	}
	shift := uint(4)
	for i := 1; i < len(b); i++ {
		if shift > 63 {
			return 0, 0, errors.New("spop: varint overflows 64 bits")
		}
		c := b[i]
		v += uint64(c) << shift
		shift += 7
		if c < 128 {
			return v, i + 1, nil
		}
	}
	return 0, 0, ErrShort
}

// Frame is one decoded frame. Payload aliases the decoded buffer.
type Frame struct {
	Type     byte
	Flags    uint32
	StreamID uint64
	FrameID  uint64
	Payload  []byte
}

// ParseFrame decodes a frame, without its 4-byte length prefix.
func ParseFrame(b []byte) (Frame, error) {
	if len(b) < 5 {
		return Frame{}, ErrShort
	}
	f := Frame{Type: b[0], Flags: binary.BigEndian.Uint32(b[1:5])}
	b = b[5:]
	var n int
	var err error
	if f.StreamID, n, err = Varint(b); err != nil {
		return Frame{}, fmt.Errorf("spop: stream id: %w", err)
	}
	b = b[n:]
	if f.FrameID, n, err = Varint(b); err != nil {
		return Frame{}, fmt.Errorf("spop: frame id: %w", err)
	}
	f.Payload = b[n:]
	return f, nil
}

// AppendFrameHeader starts a frame in b: the length prefix, to be filled in
// by FinishFrame, then type, flags and ids. It returns b and the offset of
// the frame's start.
func AppendFrameHeader(b []byte, typ byte, flags uint32, streamID, frameID uint64) ([]byte, int) {
	start := len(b)
	b = append(b, 0, 0, 0, 0, typ)
	b = binary.BigEndian.AppendUint32(b, flags)
	b = AppendVarint(b, streamID)
	b = AppendVarint(b, frameID)
	return b, start
}

// FinishFrame writes the length prefix of the frame that starts at start.
func FinishFrame(b []byte, start int) []byte {
	binary.BigEndian.PutUint32(b[start:], uint32(len(b)-start-4))
	return b
}

// Value is one typed datum. Bytes aliases the decoded buffer for strings,
// binaries and addresses.
type Value struct {
	Kind  Kind
	Bool  bool
	Int   int64  // KindInt32, KindInt64
	Uint  uint64 // KindUint32, KindUint64
	Bytes []byte // KindString, KindBinary, KindIPv4, KindIPv6
}

// String is a value's text: the string, or "" for other kinds.
func (v Value) String() string {
	if v.Kind == KindString {
		return string(v.Bytes)
	}
	return ""
}

// ReadValue decodes a typed datum at the start of b.
func ReadValue(b []byte) (Value, int, error) {
	if len(b) == 0 {
		return Value{}, 0, ErrShort
	}
	v := Value{Kind: Kind(b[0] & 0x0F)}
	flags := b[0] >> 4
	switch v.Kind {
	case KindNull:
		return v, 1, nil
	case KindBool:
		v.Bool = flags&1 == 1
		return v, 1, nil
	case KindInt32, KindInt64, KindUint32, KindUint64:
		u, n, err := Varint(b[1:])
		if err != nil {
			return Value{}, 0, err
		}
		if v.Kind == KindInt32 || v.Kind == KindInt64 {
			v.Int = int64(u)
		} else {
			v.Uint = u
		}
		return v, 1 + n, nil
	case KindIPv4, KindIPv6:
		size := 4
		if v.Kind == KindIPv6 {
			size = 16
		}
		if len(b) < 1+size {
			return Value{}, 0, ErrShort
		}
		v.Bytes = b[1 : 1+size]
		return v, 1 + size, nil
	case KindString, KindBinary:
		l, n, err := Varint(b[1:])
		if err != nil {
			return Value{}, 0, err
		}
		if l > uint64(len(b)-1-n) {
			return Value{}, 0, ErrShort
		}
		v.Bytes = b[1+n : 1+n+int(l)]
		return v, 1 + n + int(l), nil
	}
	return Value{}, 0, fmt.Errorf("spop: unknown data type %d", v.Kind)
}

// readString decodes a length-prefixed string (a name) at the start of b.
func readString(b []byte) ([]byte, int, error) {
	l, n, err := Varint(b)
	if err != nil {
		return nil, 0, err
	}
	if l > uint64(len(b)-n) {
		return nil, 0, ErrShort
	}
	return b[n : n+int(l)], n + int(l), nil
}

// AppendString appends a string datum (type byte, length, bytes).
func AppendString(b []byte, s string) []byte {
	b = append(b, byte(KindString))
	b = AppendVarint(b, uint64(len(s)))
	return append(b, s...)
}

// AppendBool appends a boolean datum.
func AppendBool(b []byte, v bool) []byte {
	if v {
		return append(b, byte(KindBool)|0x10)
	}
	return append(b, byte(KindBool))
}

// AppendUint32 appends an unsigned 32-bit datum.
func AppendUint32(b []byte, v uint32) []byte {
	return AppendVarint(append(b, byte(KindUint32)), uint64(v))
}

// AppendInt32 appends a signed 32-bit datum.
func AppendInt32(b []byte, v int32) []byte {
	return AppendVarint(append(b, byte(KindInt32)), uint64(int64(v)))
}

// appendName appends a KV or variable name: a length-prefixed string with
// no type byte.
func appendName(b []byte, name string) []byte {
	b = AppendVarint(b, uint64(len(name)))
	return append(b, name...)
}

// AppendKVString appends a KV-list item whose value is a string.
func AppendKVString(b []byte, name, value string) []byte {
	return AppendString(appendName(b, name), value)
}

// AppendKVUint32 appends a KV-list item whose value is a uint32.
func AppendKVUint32(b []byte, name string, value uint32) []byte {
	return AppendUint32(appendName(b, name), value)
}

// AppendSetVar appends a set-var action whose value, already encoded as a
// typed datum, is value.
func AppendSetVar(b []byte, scope byte, name string, value []byte) []byte {
	b = append(b, ActionSetVar, 3, scope)
	b = appendName(b, name)
	return append(b, value...)
}

// AppendSetVarString appends a set-var action with a string value.
func AppendSetVarString(b []byte, scope byte, name, value string) []byte {
	b = append(b, ActionSetVar, 3, scope)
	b = appendName(b, name)
	return AppendString(b, value)
}

// AppendSetVarInt appends a set-var action with a signed 32-bit value.
func AppendSetVarInt(b []byte, scope byte, name string, value int32) []byte {
	b = append(b, ActionSetVar, 3, scope)
	b = appendName(b, name)
	return AppendInt32(b, value)
}

// AppendSetVarBool appends a set-var action with a boolean value.
func AppendSetVarBool(b []byte, scope byte, name string, value bool) []byte {
	b = append(b, ActionSetVar, 3, scope)
	b = appendName(b, name)
	return AppendBool(b, value)
}

// KVList iterates over a KV-LIST.
type KVList struct {
	b   []byte
	n   int // items left, or -1 for a list that runs to the end of b
	err error
}

// NewKVList iterates over a payload that is a KV-LIST to its end (the
// payload of a HELLO or DISCONNECT frame).
func NewKVList(b []byte) KVList { return KVList{b: b, n: -1} }

// Next returns the next item; ok is false at the end or on an error, which
// Err then returns.
func (l *KVList) Next() (name []byte, v Value, ok bool) {
	if l.err != nil || l.n == 0 || (l.n < 0 && len(l.b) == 0) {
		return nil, Value{}, false
	}
	name, n, err := readString(l.b)
	if err != nil {
		l.err = fmt.Errorf("spop: KV name: %w", err)
		return nil, Value{}, false
	}
	v, m, err := ReadValue(l.b[n:])
	if err != nil {
		l.err = fmt.Errorf("spop: KV %q: %w", name, err)
		return nil, Value{}, false
	}
	l.b = l.b[n+m:]
	if l.n > 0 {
		l.n--
	}
	return name, v, true
}

// Err is the error that ended the iteration, if any.
func (l *KVList) Err() error { return l.err }

// rest is what follows the list once it has been read to its end.
func (l *KVList) rest() []byte { return l.b }

// Messages iterates over the LIST-OF-MESSAGES of a NOTIFY frame.
type Messages struct {
	b    []byte
	args *KVList // the current message's arguments, to skip if unread
	err  error
}

// NewMessages iterates over a NOTIFY payload.
func NewMessages(b []byte) Messages { return Messages{b: b} }

// Next returns the next message and an iterator over its arguments, which
// is valid until the following call.
func (m *Messages) Next(args *KVList) (name []byte, ok bool) {
	if m.err != nil {
		return nil, false
	}
	if m.args != nil {
		// Skip what the caller left unread of the previous message.
		for {
			if _, _, more := m.args.Next(); !more {
				break
			}
		}
		if err := m.args.Err(); err != nil {
			m.err = err
			return nil, false
		}
		m.b = m.args.rest()
		m.args = nil
	}
	if len(m.b) == 0 {
		return nil, false
	}
	name, n, err := readString(m.b)
	if err != nil {
		m.err = fmt.Errorf("spop: message name: %w", err)
		return nil, false
	}
	if len(m.b) < n+1 {
		m.err = ErrShort
		return nil, false
	}
	*args = KVList{b: m.b[n+1:], n: int(m.b[n])}
	m.args = args
	return name, true
}

// Err is the error that ended the iteration, if any.
func (m *Messages) Err() error {
	if m.err != nil {
		return m.err
	}
	if m.args != nil {
		return m.args.Err()
	}
	return nil
}
