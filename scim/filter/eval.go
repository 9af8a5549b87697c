package filter

import (
	"cmp"
	"encoding/json"
	"strconv"
	"strings"
	"time"
)

// node is a compiled filter expression. Top-level nodes read from r;
// nodes inside a value filter read from elem, the element under test.
// Evaluation does not allocate for string, boolean and UTC dateTime
// values, which covers what Match sees on hot paths.
type node interface {
	eval(r Resource, elem map[string]any) bool
}

type andNode struct{ l, r node }
type orNode struct{ l, r node }
type notNode struct{ x node }

func (n *andNode) eval(r Resource, e map[string]any) bool { return n.l.eval(r, e) && n.r.eval(r, e) }
func (n *orNode) eval(r Resource, e map[string]any) bool  { return n.l.eval(r, e) || n.r.eval(r, e) }
func (n *notNode) eval(r Resource, e map[string]any) bool { return !n.x.eval(r, e) }

// locator says where a leaf's values live in a document.
type locator struct {
	rel  bool   // inside a value filter: key is looked up in the element
	key  string // top-level document key, or the element key when rel
	attr string // attribute within the extension object; "" for core and common attributes
	sub  string // sub-attribute taken from each complex value; "" for none
}

// value returns the attribute's value (before sub-attribute selection):
// nil when it, or the extension object holding it, is unassigned.
func (l *locator) value(r Resource, elem map[string]any) any {
	if l.rel {
		return elem[l.key]
	}
	if r == nil {
		return nil
	}
	v := r.Get(l.key)
	if l.attr != "" {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[l.attr]
	}
	return v
}

// valuePathNode matches when one element of a complex attribute satisfies
// inner as a whole, so `emails[type eq "work" and value co "@x"]` needs
// both on the same email.
type valuePathNode struct {
	loc   locator
	inner node
}

func (n *valuePathNode) eval(r Resource, elem map[string]any) bool {
	switch x := n.loc.value(r, elem).(type) {
	case []any:
		for _, e := range x {
			if m, ok := e.(map[string]any); ok && n.inner.eval(nil, m) {
				return true
			}
		}
	case []map[string]any:
		for _, m := range x {
			if n.inner.eval(nil, m) {
				return true
			}
		}
	case map[string]any:
		// A single-valued complex attribute is its own only element.
		return n.inner.eval(nil, x)
	}
	return false
}

// leafKind selects what a leaf computes over the attribute's values.
type leafKind uint8

const (
	kPresent     leafKind = iota // some value is present: pr, ne null
	kAbsent                      // no value is present: eq null
	kTest                        // some value passes the test
	kNotTest                     // no value passes the test: ne on a singular attribute
	kSomeNotTest                 // some value fails the test: ne on a multi-valued attribute
)

// leaf is a compiled comparison or presence test. A multi-valued attribute
// matches when any of its values does.
type leaf struct {
	loc  locator
	kind leafKind
	test valTest
}

func (n *leaf) eval(r Resource, elem map[string]any) bool {
	v := n.loc.value(r, elem)
	switch n.kind {
	case kAbsent, kNotTest:
		return !n.any(v)
	case kSomeNotTest:
		return n.someNot(v)
	}
	return n.any(v)
}

// someNot reports whether some value of the multi-valued v fails the
// leaf's test, each value judged as a singular ne would be: an element
// without the compared sub-attribute fails it. No value at all is no match.
func (n *leaf) someNot(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case []any:
		for _, e := range x {
			if !n.one(e) {
				return true
			}
		}
		return false
	case []map[string]any:
		for _, e := range x {
			if !n.one(e) {
				return true
			}
		}
		return false
	}
	return !n.one(v)
}

// any reports whether some value of v (each element when v is multi-valued)
// passes the leaf's check.
func (n *leaf) any(v any) bool {
	switch x := v.(type) {
	case []any:
		for _, e := range x {
			if n.one(e) {
				return true
			}
		}
		return false
	case []map[string]any:
		for _, e := range x {
			if n.one(e) {
				return true
			}
		}
		return false
	}
	return n.one(v)
}

// one checks a single value, selecting the sub-attribute first if any.
func (n *leaf) one(v any) bool {
	if n.loc.sub != "" {
		m, ok := v.(map[string]any)
		if !ok {
			return false
		}
		v = m[n.loc.sub]
		if vs, ok := v.([]any); ok {
			// Not produced by the served schemas, but a document may hold a
			// list where a scalar was expected: treat it as multi-valued.
			for _, e := range vs {
				if n.check(e) {
					return true
				}
			}
			return false
		}
	}
	return n.check(v)
}

func (n *leaf) check(v any) bool {
	if n.kind == kPresent || n.kind == kAbsent {
		return present(v)
	}
	return n.test.test(v)
}

// present implements "pr": a value is present unless it is null, an empty
// string, or an array or object with no present value in it.
func present(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case string:
		return x != ""
	case []any:
		for _, e := range x {
			if present(e) {
				return true
			}
		}
		return false
	case map[string]any:
		for _, e := range x {
			if present(e) {
				return true
			}
		}
		return false
	case []map[string]any:
		for _, e := range x {
			if present(e) {
				return true
			}
		}
		return false
	}
	return true
}

// opcode is Op without the string comparisons on the hot path; ne is
// compiled as not-eq and has no opcode.
type opcode uint8

const (
	opEq opcode = iota
	opCo
	opSw
	opEw
	opGt
	opGe
	opLt
	opLe
)

var opcodes = map[Op]opcode{Eq: opEq, Ne: opEq, Co: opCo, Sw: opSw, Ew: opEw, Gt: opGt, Ge: opGe, Lt: opLt, Le: opLe}

// valKind says how a literal compares with document values.
type valKind uint8

const (
	vString valKind = iota // case-exact string
	vFold                  // case-insensitive string; s is lower-cased
	vBool
	vNumber
	vTime
)

// valTest compares one document value with a pre-processed literal.
// A document value of another type never matches.
type valTest struct {
	op   opcode
	kind valKind
	b    bool
	s    string
	f    float64
	t    time.Time
}

func (t *valTest) test(v any) bool {
	switch t.kind {
	case vString:
		s, ok := v.(string)
		if !ok {
			return false
		}
		switch t.op {
		case opEq:
			return s == t.s
		case opCo:
			return strings.Contains(s, t.s)
		case opSw:
			return strings.HasPrefix(s, t.s)
		case opEw:
			return strings.HasSuffix(s, t.s)
		}
		return ordered(strings.Compare(s, t.s), t.op)
	case vFold:
		s, ok := v.(string)
		return ok && foldTest(s, t.s, t.op)
	case vBool:
		b, ok := v.(bool)
		return ok && b == t.b
	case vNumber:
		f, ok := toFloat(v)
		return ok && ordered(cmp.Compare(f, t.f), t.op)
	case vTime:
		tm, ok := toTime(v)
		return ok && ordered(tm.Compare(t.t), t.op)
	}
	return false
}

// ordered maps a three-way comparison result to the operator's verdict.
func ordered(c int, op opcode) bool {
	switch op {
	case opEq:
		return c == 0
	case opGt:
		return c > 0
	case opGe:
		return c >= 0
	case opLt:
		return c < 0
	case opLe:
		return c <= 0
	}
	return false
}

func toFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case json.Number:
		f, err := strconv.ParseFloat(string(x), 64)
		return f, err == nil
	case float64:
		return x, true
	case float32:
		return float64(x), true
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	case int32:
		return float64(x), true
	}
	return 0, false
}

// toTime reads a document dateTime. Values that are not RFC 3339 never
// match: a stored value the server cannot order is not "before" anything.
func toTime(v any) (time.Time, bool) {
	switch x := v.(type) {
	case string:
		t, err := time.Parse(time.RFC3339, x)
		return t, err == nil
	case time.Time:
		return x, true
	}
	return time.Time{}, false
}

// foldTest compares s case-insensitively with lit, which is already
// lower-cased. Case-insensitive means equal after strings.ToLower. ASCII
// values, the vast majority, are lowered byte by byte on the fly; others are
// lowered with strings.ToLower, which allocates only if s has upper case.
func foldTest(s, lit string, op opcode) bool {
	if !isASCII(s) {
		s = strings.ToLower(s)
		switch op {
		case opEq:
			return s == lit
		case opCo:
			return strings.Contains(s, lit)
		case opSw:
			return strings.HasPrefix(s, lit)
		case opEw:
			return strings.HasSuffix(s, lit)
		}
		return ordered(strings.Compare(s, lit), op)
	}
	switch op {
	case opEq:
		return len(s) == len(lit) && foldPrefix(s, lit)
	case opCo:
		if len(s)*len(lit) > 1<<12 {
			// Matched at each position, a long value costs its length
			// times the literal's: strings.Contains does not.
			return strings.Contains(strings.ToLower(s), lit)
		}
		for i := 0; i+len(lit) <= len(s); i++ {
			if foldPrefix(s[i:], lit) {
				return true
			}
		}
		return false
	case opSw:
		return len(s) >= len(lit) && foldPrefix(s, lit)
	case opEw:
		return len(s) >= len(lit) && foldPrefix(s[len(s)-len(lit):], lit)
	}
	return ordered(foldCompare(s, lit), op)
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// foldPrefix reports whether the ASCII string s, lowered, starts with lit.
// The caller guarantees len(s) >= len(lit).
func foldPrefix(s, lit string) bool {
	for i := 0; i < len(lit); i++ {
		if lowerASCII(s[i]) != lit[i] {
			return false
		}
	}
	return true
}

// foldCompare compares the ASCII string s, lowered, with lit bytewise, as
// strings.Compare(strings.ToLower(s), lit) would.
func foldCompare(s, lit string) int {
	n := min(len(s), len(lit))
	for i := 0; i < n; i++ {
		if c := lowerASCII(s[i]); c != lit[i] {
			return cmp.Compare(c, lit[i])
		}
	}
	return cmp.Compare(len(s), len(lit))
}
