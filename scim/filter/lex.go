package filter

import (
	"fmt"
	"unicode/utf16"
	"unicode/utf8"
)

// tokKind classifies a token.
type tokKind uint8

const (
	tEOF    tokKind = iota
	tWord           // attribute path, operator or keyword (and, or, not, pr, true, false, null)
	tString         // JSON string; text holds the decoded value
	tNumber         // JSON number; text holds it verbatim
	tLParen         // (
	tRParen         // )
	tLBrack         // [
	tRBrack         // ]
	tDot            // . outside a word: only valid after "]" in a PATCH path
)

// token is one lexical token. Keywords are not distinguished from attribute
// paths here because only the parser knows which one a position expects:
// "pr" after a path is an operator, but at the start of an expression it
// would be an (unknown) attribute name.
type token struct {
	kind tokKind
	text string
	off  int  // byte offset of the token's first character in the source
	sp   bool // whether whitespace precedes the token; the grammar requires it in places
}

// describe renders a token for error messages.
func (t token) describe() string {
	switch t.kind {
	case tEOF:
		return "end of input"
	case tWord:
		return fmt.Sprintf("%q", t.text)
	case tString:
		return "string"
	case tNumber:
		return "number " + t.text
	case tLParen:
		return "'('"
	case tRParen:
		return "')'"
	case tLBrack:
		return "'['"
	case tRBrack:
		return "']'"
	case tDot:
		return "'.'"
	}
	return "token"
}

// lexer splits a filter or path into tokens on demand. The source has been
// checked to be valid UTF-8 and at most MaxLength bytes before lexing.
type lexer struct {
	src string
	pos int
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
func isDigit(c byte) bool { return '0' <= c && c <= '9' }
func isAlpha(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

// isWordChar reports whether c may continue a word. Besides the RFC 7644
// nameChar set ("-", "_", DIGIT, ALPHA) a word takes ":" and "." so that a
// URN-qualified path with a sub-attribute such as
// "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value"
// is one token, and "$" for the "$ref" sub-attribute that real clients filter on.
func isWordChar(c byte) bool {
	return isAlpha(c) || isDigit(c) || c == '-' || c == '_' || c == '$' || c == ':' || c == '.'
}

// next returns the next token.
func (l *lexer) next() (token, error) {
	start := l.pos
	for l.pos < len(l.src) && isSpace(l.src[l.pos]) {
		l.pos++
	}
	t := token{off: l.pos, sp: l.pos > start}
	if l.pos >= len(l.src) {
		t.kind = tEOF
		return t, nil
	}
	c := l.src[l.pos]
	switch {
	case c == '(':
		return l.punct(t, tLParen), nil
	case c == ')':
		return l.punct(t, tRParen), nil
	case c == '[':
		return l.punct(t, tLBrack), nil
	case c == ']':
		return l.punct(t, tRBrack), nil
	case c == '.':
		return l.punct(t, tDot), nil
	case c == '"':
		return l.lexString(t)
	case c == '-' || isDigit(c):
		return l.lexNumber(t)
	case isAlpha(c) || c == '$':
		for l.pos < len(l.src) && isWordChar(l.src[l.pos]) {
			l.pos++
		}
		t.kind, t.text = tWord, l.src[t.off:l.pos]
		return t, nil
	}
	r, _ := utf8.DecodeRuneInString(l.src[l.pos:])
	return t, errorf(l.pos, "unexpected character %q", r)
}

// punct consumes a one-byte punctuation token.
func (l *lexer) punct(t token, k tokKind) token {
	l.pos++
	t.kind = k
	return t
}

// lexNumber scans a JSON number (RFC 8259 section 6).
func (l *lexer) lexNumber(t token) (token, error) {
	s, i := l.src, l.pos
	digits := func() bool {
		j := i
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		return i > j
	}
	bad := func() (token, error) { return t, errorf(t.off, "invalid number") }
	if s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case !digits():
		return bad()
	}
	if i < len(s) && s[i] == '.' {
		i++
		if !digits() {
			return bad()
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if !digits() {
			return bad()
		}
	}
	// "12abc" or "0123" is not a number followed by a word: reject it here
	// rather than report a confusing error about the next token.
	if i < len(s) && isWordChar(s[i]) {
		return bad()
	}
	l.pos = i
	t.kind, t.text = tNumber, s[t.off:i]
	return t, nil
}

// lexString scans a JSON string (RFC 8259 section 7). Strings without
// escapes are sliced from the source without copying.
func (l *lexer) lexString(t token) (token, error) {
	s := l.src
	i := t.off + 1
	for i < len(s) {
		c := s[i]
		if c == '"' {
			l.pos = i + 1
			t.kind, t.text = tString, s[t.off+1:i]
			return t, nil
		}
		if c == '\\' {
			break
		}
		if c < 0x20 {
			return t, errorf(i, "control character in string")
		}
		i++
	}
	buf := []byte(s[t.off+1 : i])
	for i < len(s) {
		c := s[i]
		switch {
		case c == '"':
			l.pos = i + 1
			t.kind, t.text = tString, string(buf)
			return t, nil
		case c < 0x20:
			return t, errorf(i, "control character in string")
		case c != '\\':
			buf = append(buf, c)
			i++
			continue
		}
		if i+1 >= len(s) {
			break
		}
		switch e := s[i+1]; e {
		case '"', '\\', '/':
			buf = append(buf, e)
		case 'b':
			buf = append(buf, '\b')
		case 'f':
			buf = append(buf, '\f')
		case 'n':
			buf = append(buf, '\n')
		case 'r':
			buf = append(buf, '\r')
		case 't':
			buf = append(buf, '\t')
		case 'u':
			r, ok := hex4(s, i+2)
			if !ok {
				return t, errorf(i, `invalid \u escape in string`)
			}
			i += 6
			if utf16.IsSurrogate(r) {
				// Like encoding/json, decode a valid surrogate pair and
				// replace a lone surrogate with U+FFFD.
				r2, ok := rune(0), false
				if i+1 < len(s) && s[i] == '\\' && s[i+1] == 'u' {
					r2, ok = hex4(s, i+2)
				}
				if d := utf16.DecodeRune(r, r2); ok && d != utf8.RuneError {
					r = d
					i += 6
				} else {
					r = utf8.RuneError
				}
			}
			buf = utf8.AppendRune(buf, r)
			continue
		default:
			return t, errorf(i, "invalid escape %q in string", s[i:i+2])
		}
		i += 2
	}
	return t, errorf(t.off, "unterminated string")
}

// hex4 decodes the four hex digits at s[i:i+4].
func hex4(s string, i int) (rune, bool) {
	if i+4 > len(s) {
		return 0, false
	}
	var r rune
	for _, c := range []byte(s[i : i+4]) {
		switch {
		case isDigit(c):
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}
