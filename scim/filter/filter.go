// Package filter parses, validates and evaluates SCIM 2.0 filters (RFC 7644
// section 3.4.2.2) and attribute paths, including PATCH operation paths
// (RFC 7644 section 3.5.2), against the schema model of package schema.
//
// Everything schema-dependent happens once, at compile time: attribute names
// are resolved case-insensitively and canonicalised, unknown attributes are
// rejected, literals are type-checked against the attribute's type and
// characteristics (RFC 7643 section 2), and pre-processed (lower-cased for
// case-insensitive strings, parsed for dateTimes). Filter.Match only reads
// the document, and allocates nothing for strings, booleans and UTC
// dateTimes.
//
// Evaluation semantics, where the RFC leaves room:
//
//   - String and reference attributes compare case-insensitively unless the
//     attribute is caseExact; binary attributes always compare exactly.
//   - dateTime attributes compare chronologically; document values that are
//     not RFC 3339 never match. Booleans support only eq and ne, and accept
//     the strings "true" and "false" as literals.
//   - A multi-valued attribute matches when any of its values matches; a
//     complex attribute compared without a sub-attribute is compared through
//     its "value" sub-attribute.
//   - ne on a multi-valued attribute matches when any value is not equal
//     (`emails.type ne "work"` matches a user with a home email and a work
//     one); an element lacking the compared sub-attribute counts as not
//     equal, and an attribute without values matches nothing. "No value
//     equals" is written `not (emails.type eq "work")`.
//   - ne on a singular attribute is NOT(eq): it also matches when the
//     attribute is unassigned, which the RFC leaves open.
//   - "eq null" matches an unassigned attribute and "ne null" an assigned one;
//     "unassigned" means what "pr" does not match: null, "", or an array or
//     object without a present value.
//   - Values of an unexpected type in the document never match a comparison.
//
// All errors are *Error, which callers map to a SCIM 400 invalidFilter or
// invalidPath.
package filter

import (
	"fmt"
	"strings"

	"github.com/scimgate/scimgate/scim/schema"
)

// Limits on untrusted input. Filters arrive in URLs and request bodies; the
// limits bound the parser's work and recursion so that no input can exhaust
// memory or the stack.
const (
	// MaxLength is the longest filter or path accepted, in bytes.
	MaxLength = 16 << 10
	// MaxDepth is the deepest nesting of parentheses, not(...) and value
	// filters accepted.
	MaxDepth = 64
)

// Error is the only error type returned by this package (always as *Error).
// Callers map it to a SCIM 400 response with scimType invalidFilter or
// invalidPath.
type Error struct {
	Msg    string
	Offset int // byte offset of the problem in the input, or -1
}

func (e *Error) Error() string {
	if e.Offset >= 0 {
		return fmt.Sprintf("filter: %s at offset %d", e.Msg, e.Offset)
	}
	return "filter: " + e.Msg
}

func errorf(off int, format string, args ...any) error {
	return &Error{Msg: fmt.Sprintf(format, args...), Offset: off}
}

// Resource is what a filter is evaluated against.
type Resource interface {
	// Get returns a top-level attribute by canonical name ("userName",
	// "meta", "members") or an extension's object by its URN (canonical
	// schema ID); nil when unassigned.
	Get(name string) any
}

// Map adapts a document to Resource. Its keys must be canonical attribute
// names and canonical extension URNs, as stored documents have; values are
// what encoding/json produces (with or without UseNumber).
type Map map[string]any

// Get returns m[name].
func (m Map) Get(name string) any { return m[name] }

// Filter is a compiled, validated filter for one resource type. It is
// immutable and safe for concurrent use.
type Filter struct {
	root Expr
	n    node
}

// Compile parses src as a filter over resources of type rt, resolving and
// type-checking every attribute path against rt's schemas.
func Compile(rt *schema.ResourceType, src string) (*Filter, error) {
	p, err := newParser(rt, src)
	if err != nil {
		return nil, err
	}
	e, n, err := p.parseFilter(tEOF)
	if err != nil {
		return nil, err
	}
	return &Filter{root: e, n: n}, nil
}

// Root returns the filter's syntax tree, for callers such as a query planner
// that recognise shapes like `userName eq "x"`. It must not be modified.
func (f *Filter) Root() Expr {
	if f == nil {
		return nil
	}
	return f.root
}

// Match reports whether r satisfies the filter. A nil Filter matches
// everything, like an absent filter parameter.
func (f *Filter) Match(r Resource) bool {
	if f == nil || f.n == nil {
		return true
	}
	return f.n.eval(r, nil)
}

// String renders the filter canonically: lower-case operators and keywords,
// canonical attribute paths (extension attributes URN-qualified), JSON
// literals, single spaces, and only the parentheses the tree needs, e.g.
// `userName eq "bjensen" and (emails[type eq "work"] or title pr)`.
// Compiling the result gives a filter with the same String.
func (f *Filter) String() string {
	if f == nil || f.root == nil {
		return ""
	}
	var b strings.Builder
	writeExpr(&b, f.root, 0)
	return b.String()
}

// Reads reports whether matching reads the attribute at path, given in
// canonical form ("meta.version"), in a comparison or presence test,
// inside a value filter too. It lets a caller skip computing attributes
// the filter never looks at.
func (f *Filter) Reads(path string) bool { return reads(f.root, path, nil) }

func reads(e Expr, path string, outer *AttrPath) bool {
	at := func(p AttrPath) bool {
		if outer != nil {
			p = AttrPath{Schema: outer.Schema, Attr: outer.Attr, Sub: p.Attr}
		}
		return p.String() == path
	}
	switch x := e.(type) {
	case *And:
		return reads(x.Left, path, outer) || reads(x.Right, path, outer)
	case *Or:
		return reads(x.Left, path, outer) || reads(x.Right, path, outer)
	case *Not:
		return reads(x.X, path, outer)
	case *Compare:
		return at(x.Path)
	case *Present:
		return at(x.Path)
	case *ValuePath:
		return reads(x.Filter, path, &x.Path)
	}
	return false
}
