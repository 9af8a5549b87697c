package filter

import (
	"encoding/json"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/scimgate/scimgate/scim/schema"
)

// Op is a comparison operator. In an Expr it is always one of the lower-case
// constants below; "pr" is represented by Present, not by an Op.
type Op string

// The comparison operators of RFC 7644 section 3.4.2.2.
const (
	Eq Op = "eq"
	Ne Op = "ne"
	Co Op = "co"
	Sw Op = "sw"
	Ew Op = "ew"
	Gt Op = "gt"
	Ge Op = "ge"
	Lt Op = "lt"
	Le Op = "le"
)

// ordering reports whether op is one of gt, ge, lt, le.
func (op Op) ordering() bool { return op == Gt || op == Ge || op == Lt || op == Le }

// substring reports whether op is one of co, sw, ew.
func (op Op) substring() bool { return op == Co || op == Sw || op == Ew }

// parseOp maps an operator word, in any case, to its Op.
func parseOp(word string) (Op, bool) {
	switch op := Op(strings.ToLower(word)); op {
	case Eq, Ne, Co, Sw, Ew, Gt, Ge, Lt, Le:
		return op, true
	}
	return "", false
}

// AttrPath is a resolved attribute path: [URN ":"] attr ["." sub].
//
// Paths inside a value filter (ValuePath.Filter, ValueFilter.Expr) are
// relative: their Attr is a sub-attribute of the enclosing attribute and
// their Schema is nil.
//
// Whether the attribute lives in an extension object is read from
// Schema.Extension, so an AttrPath built by hand behaves like a parsed one.
// AttrPaths are comparable with ==.
type AttrPath struct {
	Schema *schema.Schema    // schema the attribute belongs to (the core schema for common attributes)
	Attr   *schema.Attribute // never nil, except for a bare extension URN from ParseAttrPath
	Sub    *schema.Attribute // nil when no sub-attribute
}

// ext reports whether the attribute lives under an extension URN.
func (p AttrPath) ext() bool { return p.Schema != nil && p.Schema.Extension }

// String returns the canonical form of the path: canonical attribute names,
// core and common attributes unqualified ("name.givenName", "meta.created"),
// extension attributes qualified with the extension URN
// ("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value"),
// and a bare extension URN as itself.
func (p AttrPath) String() string {
	if p.Attr == nil {
		if p.Schema != nil {
			return p.Schema.ID
		}
		return ""
	}
	if !p.ext() && p.Sub == nil {
		return p.Attr.Name // the common case needs no allocation
	}
	var b strings.Builder
	p.write(&b)
	return b.String()
}

func (p AttrPath) write(b *strings.Builder) {
	if p.Attr == nil {
		b.WriteString(p.String())
		return
	}
	if p.ext() {
		b.WriteString(p.Schema.ID)
		b.WriteByte(':')
	}
	b.WriteString(p.Attr.Name)
	if p.Sub != nil {
		b.WriteByte('.')
		b.WriteString(p.Sub.Name)
	}
}

// Key returns the top-level document key holding the attribute: the
// attribute's canonical name for core and common attributes, the extension
// URN (canonical schema ID) for extension attributes and for a bare
// extension URN. For a relative path it is the sub-attribute's name, the key
// within the element.
func (p AttrPath) Key() string {
	if (p.ext() || p.Attr == nil) && p.Schema != nil {
		return p.Schema.ID
	}
	if p.Attr == nil {
		return ""
	}
	return p.Attr.Name
}

// Expr is a node of a filter's syntax tree. Its implementations are *And,
// *Or, *Not, *Compare, *Present and *ValuePath (always pointers, so a type
// switch has exactly one case per node kind). The tree has no parenthesis
// nodes: grouping is expressed by its shape.
type Expr interface {
	isExpr()
}

// And matches when both operands match.
type And struct{ Left, Right Expr }

// Or matches when either operand matches.
type Or struct{ Left, Right Expr }

// Not matches when X does not.
type Not struct{ X Expr }

// Compare is an attribute comparison such as `userName eq "bjensen"`.
//
// Value is a string, bool, json.Number or nil (null). It is the literal as
// written except that, for a boolean attribute, the strings "true" and
// "false" (accepted because real identity providers send them) are
// normalised to bool.
type Compare struct {
	Path  AttrPath
	Op    Op
	Value any
}

// Present is the "pr" (present) test.
type Present struct {
	Path AttrPath
}

// ValuePath is a value filter such as `emails[type eq "work"]`: it matches
// when one element of the complex attribute Path satisfies Filter as a
// whole. Path.Sub is nil; the paths inside Filter are relative to Path.Attr.
type ValuePath struct {
	Path   AttrPath
	Filter Expr
}

func (*And) isExpr()       {}
func (*Or) isExpr()        {}
func (*Not) isExpr()       {}
func (*Compare) isExpr()   {}
func (*Present) isExpr()   {}
func (*ValuePath) isExpr() {}

// Binding strengths used when rendering: a sub-expression is parenthesised
// only when it binds more loosely than its position requires.
const (
	precOr = iota + 1
	precAnd
	precUnary
)

// writeExpr renders e canonically: lower-case keywords and operators, single
// spaces, canonical attribute paths, JSON literals, and parentheses only
// where the tree's shape needs them. Because and/or chains parse
// left-associatively, a right operand of the same operator keeps its
// parentheses, so re-parsing the output always yields the same tree; and
// since every parenthesis in the output stands for one in the input, the
// output never nests deeper than the input did.
func writeExpr(b *strings.Builder, e Expr, prec int) {
	switch x := e.(type) {
	case *Or:
		if prec > precOr {
			b.WriteByte('(')
		}
		writeExpr(b, x.Left, precOr)
		b.WriteString(" or ")
		writeExpr(b, x.Right, precAnd)
		if prec > precOr {
			b.WriteByte(')')
		}
	case *And:
		if prec > precAnd {
			b.WriteByte('(')
		}
		writeExpr(b, x.Left, precAnd)
		b.WriteString(" and ")
		writeExpr(b, x.Right, precUnary)
		if prec > precAnd {
			b.WriteByte(')')
		}
	case *Not:
		b.WriteString("not (")
		writeExpr(b, x.X, 0)
		b.WriteByte(')')
	case *Compare:
		x.Path.write(b)
		b.WriteByte(' ')
		b.WriteString(string(x.Op))
		b.WriteByte(' ')
		writeValue(b, x.Value)
	case *Present:
		x.Path.write(b)
		b.WriteString(" pr")
	case *ValuePath:
		x.Path.write(b)
		b.WriteByte('[')
		writeExpr(b, x.Filter, 0)
		b.WriteByte(']')
	}
}

// writeValue renders a comparison literal as JSON.
func writeValue(b *strings.Builder, v any) {
	switch x := v.(type) {
	case nil:
		b.WriteString("null")
	case bool:
		b.WriteString(strconv.FormatBool(x))
	case json.Number:
		b.WriteString(string(x))
	case string:
		writeString(b, x)
	}
}

// writeString writes s as a JSON string, escaping only what JSON requires so
// that the rendering stays readable in logs.
func writeString(b *strings.Builder, s string) {
	const hex = "0123456789abcdef"
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\r':
			b.WriteString(`\r`)
		case c == '\t':
			b.WriteString(`\t`)
		case c < 0x20:
			b.WriteString(`\u00`)
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&0xf])
		case c < utf8.RuneSelf:
			b.WriteByte(c)
		default:
			// Literals come from the lexer and are valid UTF-8, but a
			// hand-built Compare might not be: render invalid bytes as
			// U+FFFD so the output is always valid JSON.
			r, n := utf8.DecodeRuneInString(s[i:])
			b.WriteRune(r)
			i += n - 1
		}
	}
	b.WriteByte('"')
}
