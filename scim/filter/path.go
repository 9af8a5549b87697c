package filter

import (
	"strings"

	"github.com/scimgate/scimgate/scim/schema"
)

// ParseAttrPath parses an attribute path without filters, as used by the
// sortBy, attributes and excludedAttributes parameters: [URN ":"] attr
// ["." sub], with names matched case-insensitively.
//
// It also accepts the bare URN of one of rt's extensions (for example
// excludedAttributes=urn:ietf:params:scim:schemas:extension:enterprise:2.0:User),
// returning a path whose Attr is nil, whose Schema is the extension, and
// whose Key and String are the extension URN. Callers that need an attribute
// must check for this case.
func ParseAttrPath(rt *schema.ResourceType, src string) (AttrPath, error) {
	p, err := newParser(rt, src)
	if err != nil {
		return AttrPath{}, err
	}
	if p.tok.kind != tWord {
		if p.tok.kind == tEOF {
			return AttrPath{}, errorf(p.tok.off, "empty attribute path")
		}
		return AttrPath{}, errorf(p.tok.off, "unexpected %s, expected an attribute path", p.tok.describe())
	}
	path, err := resolvePath(rt, p.tok.text, p.tok.off, true)
	if err != nil {
		return AttrPath{}, err
	}
	if err := p.advance(); err != nil {
		return AttrPath{}, err
	}
	if p.tok.kind != tEOF {
		return AttrPath{}, errorf(p.tok.off, "unexpected %s after attribute path", p.tok.describe())
	}
	return path, nil
}

// Path is a PATCH operation path (RFC 7644 section 3.5.2):
//
//	PATH = attrPath / valuePath [subAttr]
//
// for example `members`, `name.givenName`, `members[value eq "2819c223"]`,
// `emails[type eq "work"].value` or
// `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value`.
type Path struct {
	// AttrPath names the attribute (Attr, never nil) and, for the plain form
	// "a.b", its sub-attribute. For the value-path forms Sub is the
	// sub-attribute after "]", or nil.
	AttrPath
	// ValueFilter selects elements of the multi-valued attribute Attr;
	// nil unless the path has "[...]".
	ValueFilter *ValueFilter
}

// String renders the path canonically, e.g. `emails[type eq "work"].value`.
func (p Path) String() string {
	if p.ValueFilter == nil {
		return p.AttrPath.String()
	}
	var b strings.Builder
	AttrPath{Schema: p.Schema, Attr: p.Attr}.write(&b)
	b.WriteByte('[')
	writeExpr(&b, p.ValueFilter.expr, 0)
	b.WriteByte(']')
	if p.Sub != nil {
		b.WriteByte('.')
		b.WriteString(p.Sub.Name)
	}
	return b.String()
}

// ParsePath parses a PATCH operation path over resources of type rt.
// A value filter is allowed only on a multi-valued complex attribute, and
// the path must name an attribute (a bare extension URN is an error).
func ParsePath(rt *schema.ResourceType, src string) (*Path, error) {
	p, err := newParser(rt, src)
	if err != nil {
		return nil, err
	}
	if p.tok.kind != tWord {
		if p.tok.kind == tEOF {
			return nil, errorf(p.tok.off, "empty path")
		}
		return nil, errorf(p.tok.off, "unexpected %s, expected an attribute path", p.tok.describe())
	}
	off := p.tok.off
	ap, err := resolvePath(rt, p.tok.text, off, false)
	if err != nil {
		return nil, err
	}
	if err := p.advance(); err != nil {
		return nil, err
	}
	path := &Path{AttrPath: ap}
	if p.tok.kind == tLBrack && !p.tok.sp {
		if err := p.checkValuePath(ap, off, true); err != nil {
			return nil, err
		}
		e, n, err := p.valueFilter(ap)
		if err != nil {
			return nil, err
		}
		path.ValueFilter = &ValueFilter{expr: e, n: n}
		if p.tok.kind == tDot && !p.tok.sp {
			if err := p.subAttr(path); err != nil {
				return nil, err
			}
		}
	}
	if p.tok.kind != tEOF {
		return nil, errorf(p.tok.off, "unexpected %s after path", p.tok.describe())
	}
	return path, nil
}

// subAttr parses the "." subAttr after a value filter's "]".
func (p *parser) subAttr(path *Path) error {
	if err := p.advance(); err != nil {
		return err
	}
	name, off := p.tok.text, p.tok.off
	if p.tok.kind != tWord || p.tok.sp {
		return errorf(off, "missing sub-attribute name after \"]\"")
	}
	sub := path.Attr.Sub(name)
	if sub == nil || strings.ContainsAny(name, ".:") {
		return errorf(off, "unknown sub-attribute %q", path.AttrPath.String()+"."+name)
	}
	path.Sub = sub
	return p.advance()
}

// ValueFilter matches one element of a multi-valued complex attribute, for
// the "[...]" of a PATCH path. It is immutable and safe for concurrent use.
type ValueFilter struct {
	expr Expr
	n    node
}

// Expr returns the filter's syntax tree; its paths are relative to the
// attribute the filter applies to (Schema nil, Attr a sub-attribute).
func (v *ValueFilter) Expr() Expr {
	if v == nil {
		return nil
	}
	return v.expr
}

// Match reports whether elem, one element of the attribute, satisfies the
// filter. A nil ValueFilter matches every element.
func (v *ValueFilter) Match(elem map[string]any) bool {
	if v == nil || v.n == nil {
		return true
	}
	return v.n.eval(nil, elem)
}

// String renders the filter canonically, without brackets.
func (v *ValueFilter) String() string {
	if v == nil || v.expr == nil {
		return ""
	}
	var b strings.Builder
	writeExpr(&b, v.expr, 0)
	return b.String()
}
