package filter

import (
	"encoding/json"
	"strings"
	"unicode/utf8"

	"github.com/scimgate/scimgate/scim/schema"
)

// parser is a recursive-descent parser for the filter grammar of RFC 7644
// section 3.4.2.2:
//
//	filter    = or
//	or        = and *(SP "or" SP and)
//	and       = unary *(SP "and" SP unary)
//	unary     = "not" *WSP "(" filter ")" / "(" filter ")" / attrExp / valuePath
//	attrExp   = attrPath SP "pr" / attrPath SP compareOp SP compValue
//	valuePath = attrPath "[" filter "]"        ; not inside another valuePath
//
// It resolves and type-checks as it goes, so every error carries the offset
// of the offending token, and builds the evaluation tree alongside the
// syntax tree. Recursion happens only at "(", "not" and "[", each of which
// counts against MaxDepth; and/or chains are loops.
type parser struct {
	rt    *schema.ResourceType
	lx    lexer
	tok   token
	depth int

	// parent is the attribute whose value filter is being parsed, or nil at
	// the top level. Paths inside a value filter resolve against its
	// sub-attributes.
	parent     *schema.Attribute
	parentPath AttrPath
}

// newParser checks the limits that apply to any input and reads the first
// token.
func newParser(rt *schema.ResourceType, src string) (*parser, error) {
	if rt == nil || rt.Schema == nil {
		return nil, errorf(-1, "no resource type to resolve attributes against")
	}
	if len(src) > MaxLength {
		return nil, errorf(MaxLength, "longer than %d bytes", MaxLength)
	}
	if !utf8.ValidString(src) {
		off := 0
		for off < len(src) {
			r, n := utf8.DecodeRuneInString(src[off:])
			if r == utf8.RuneError && n <= 1 {
				break
			}
			off += n
		}
		return nil, errorf(off, "invalid UTF-8")
	}
	p := &parser{rt: rt, lx: lexer{src: src}}
	if err := p.advance(); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *parser) advance() error {
	t, err := p.lx.next()
	if err != nil {
		return err
	}
	p.tok = t
	return nil
}

// isWord reports whether the current token is the keyword kw, in any case.
func (p *parser) isWord(kw string) bool {
	return p.tok.kind == tWord && strings.EqualFold(p.tok.text, kw)
}

// enter records one more level of nesting.
func (p *parser) enter(off int) error {
	p.depth++
	if p.depth > MaxDepth {
		return errorf(off, "nested deeper than %d levels", MaxDepth)
	}
	return nil
}

// parseFilter parses a whole filter (or the inside of a value filter) and
// requires the following token to be end.
func (p *parser) parseFilter(end tokKind) (Expr, node, error) {
	if p.tok.kind == end {
		if end == tRBrack {
			return nil, nil, errorf(p.tok.off, "empty value filter")
		}
		return nil, nil, errorf(p.tok.off, "empty filter")
	}
	e, n, err := p.parseOr()
	if err != nil {
		return nil, nil, err
	}
	if p.tok.kind != end {
		switch {
		case end == tRBrack:
			return nil, nil, errorf(p.tok.off, "missing ']' (found %s)", p.tok.describe())
		case end == tRParen:
			return nil, nil, errorf(p.tok.off, "missing ')' (found %s)", p.tok.describe())
		}
		return nil, nil, errorf(p.tok.off, "unexpected %s after expression", p.tok.describe())
	}
	return e, n, nil
}

func (p *parser) parseOr() (Expr, node, error) {
	le, ln, err := p.parseAnd()
	if err != nil {
		return nil, nil, err
	}
	for p.isWord("or") {
		if err := p.logical(); err != nil {
			return nil, nil, err
		}
		re, rn, err := p.parseAnd()
		if err != nil {
			return nil, nil, err
		}
		le, ln = &Or{Left: le, Right: re}, &orNode{ln, rn}
	}
	return le, ln, nil
}

func (p *parser) parseAnd() (Expr, node, error) {
	le, ln, err := p.parseUnary()
	if err != nil {
		return nil, nil, err
	}
	for p.isWord("and") {
		if err := p.logical(); err != nil {
			return nil, nil, err
		}
		re, rn, err := p.parseUnary()
		if err != nil {
			return nil, nil, err
		}
		le, ln = &And{Left: le, Right: re}, &andNode{ln, rn}
	}
	return le, ln, nil
}

// logical consumes an "and" or "or", which the grammar requires to be
// surrounded by whitespace: `a pr and(b pr)` is as malformed as `a prand b pr`.
func (p *parser) logical() error {
	kw := strings.ToLower(p.tok.text)
	if !p.tok.sp {
		return errorf(p.tok.off, "missing space before %q", kw)
	}
	if err := p.advance(); err != nil {
		return err
	}
	if p.tok.kind != tEOF && !p.tok.sp {
		return errorf(p.tok.off, "missing space after %q", kw)
	}
	return nil
}

func (p *parser) parseUnary() (Expr, node, error) {
	switch {
	case p.tok.kind == tLParen:
		return p.parseGroup(false)
	case p.isWord("not"):
		return p.parseGroup(true)
	case p.tok.kind == tWord:
		return p.parseAttrExp()
	case p.tok.kind == tEOF:
		return nil, nil, errorf(p.tok.off, "unexpected end of input, expected an expression")
	}
	return nil, nil, errorf(p.tok.off, "unexpected %s, expected an expression", p.tok.describe())
}

// parseGroup parses "(" filter ")" or, when not is set, "not" "(" filter ")".
func (p *parser) parseGroup(not bool) (Expr, node, error) {
	if err := p.enter(p.tok.off); err != nil {
		return nil, nil, err
	}
	if not {
		if err := p.advance(); err != nil {
			return nil, nil, err
		}
		if p.tok.kind != tLParen {
			return nil, nil, errorf(p.tok.off, "missing '(' after \"not\" (found %s)", p.tok.describe())
		}
	}
	if err := p.advance(); err != nil {
		return nil, nil, err
	}
	e, n, err := p.parseFilter(tRParen)
	if err != nil {
		return nil, nil, err
	}
	if err := p.advance(); err != nil {
		return nil, nil, err
	}
	p.depth--
	if not {
		return &Not{X: e}, &notNode{n}, nil
	}
	return e, n, nil
}

// parseAttrExp parses an attribute comparison, presence test or value path.
func (p *parser) parseAttrExp() (Expr, node, error) {
	word, off := p.tok.text, p.tok.off
	path, err := p.resolve(word, off)
	if err != nil {
		return nil, nil, err
	}
	if err := p.advance(); err != nil {
		return nil, nil, err
	}
	if p.tok.kind == tLBrack && !p.tok.sp {
		return p.parseValuePath(path, off)
	}
	if p.tok.kind != tWord {
		return nil, nil, errorf(p.tok.off, "missing operator after %q (found %s)", word, p.tok.describe())
	}
	opOff, opWord := p.tok.off, p.tok.text
	if strings.EqualFold(opWord, "pr") {
		if err := p.advance(); err != nil {
			return nil, nil, err
		}
		return &Present{Path: path}, newPresent(path, p.parent != nil), nil
	}
	op, ok := parseOp(opWord)
	if !ok {
		return nil, nil, errorf(opOff, "unknown operator %q", opWord)
	}
	if err := p.advance(); err != nil {
		return nil, nil, err
	}
	valOff := p.tok.off
	if p.tok.kind != tEOF && !p.tok.sp {
		return nil, nil, errorf(valOff, "missing space after %q", op)
	}
	val, err := p.value(op)
	if err != nil {
		return nil, nil, err
	}
	if err := p.advance(); err != nil {
		return nil, nil, err
	}
	return newCompare(path, p.display(path), op, val, p.parent != nil, off, opOff, valOff)
}

// display names path for error messages, qualifying a relative path with
// its parent: "emails.type" rather than "type".
func (p *parser) display(path AttrPath) string {
	if p.parent != nil {
		return p.parentPath.String() + "." + path.Attr.Name
	}
	return path.String()
}

// value converts the current token to a comparison literal.
func (p *parser) value(op Op) (any, error) {
	switch p.tok.kind {
	case tString:
		return p.tok.text, nil
	case tNumber:
		return json.Number(p.tok.text), nil
	case tWord:
		switch strings.ToLower(p.tok.text) {
		case "true":
			return true, nil
		case "false":
			return false, nil
		case "null":
			return nil, nil
		}
		return nil, errorf(p.tok.off, "invalid value %q: strings must be quoted", p.tok.text)
	case tEOF:
		return nil, errorf(p.tok.off, "missing value after %q", op)
	}
	return nil, errorf(p.tok.off, "invalid value: found %s", p.tok.describe())
}

// parseValuePath parses the "[" filter "]" following path.
func (p *parser) parseValuePath(path AttrPath, off int) (Expr, node, error) {
	if err := p.checkValuePath(path, off, false); err != nil {
		return nil, nil, err
	}
	e, n, err := p.valueFilter(path)
	if err != nil {
		return nil, nil, err
	}
	if p.tok.kind == tDot && !p.tok.sp {
		// emails[type eq "work"].value eq "x": not in the RFC grammar, but
		// Microsoft Entra ID sends it when matching users on a work email.
		// It means emails[type eq "work" and value eq "x"].
		if err := p.advance(); err != nil {
			return nil, nil, err
		}
		if p.tok.kind != tWord || p.tok.sp {
			return nil, nil, errorf(p.tok.off, "missing sub-attribute after \"].\"")
		}
		p.parent, p.parentPath = path.Attr, path
		se, sn, err := p.parseAttrExp()
		p.parent, p.parentPath = nil, AttrPath{}
		if err != nil {
			return nil, nil, err
		}
		if _, nested := se.(*ValuePath); nested {
			return nil, nil, errorf(off, "a value filter cannot follow a sub-attribute")
		}
		e, n = &And{Left: e, Right: se}, &andNode{n, sn}
	}
	return &ValuePath{Path: path, Filter: e}, &valuePathNode{loc: locate(path, false), inner: n}, nil
}

// checkValuePath reports whether a value filter may follow path.
// multi requires a multi-valued attribute, as PATCH paths do.
func (p *parser) checkValuePath(path AttrPath, off int, multi bool) error {
	switch {
	case p.parent != nil:
		return errorf(p.tok.off, "nested value filters are not allowed")
	case path.Sub != nil:
		return errorf(p.tok.off, "a value filter cannot follow sub-attribute %q", path.String())
	case path.Attr.Type != schema.Complex:
		return errorf(off, "attribute %q is not complex and cannot have a value filter", path.String())
	case multi && !path.Attr.MultiValued:
		return errorf(off, "attribute %q is not multi-valued and cannot have a value filter", path.String())
	}
	return nil
}

// valueFilter parses "[" filter "]" with the current token at "[", leaving
// the token after "]" current.
func (p *parser) valueFilter(path AttrPath) (Expr, node, error) {
	if err := p.enter(p.tok.off); err != nil {
		return nil, nil, err
	}
	if err := p.advance(); err != nil {
		return nil, nil, err
	}
	p.parent, p.parentPath = path.Attr, path
	e, n, err := p.parseFilter(tRBrack)
	if err != nil {
		return nil, nil, err
	}
	p.parent, p.parentPath = nil, AttrPath{}
	p.depth--
	if err := p.advance(); err != nil {
		return nil, nil, err
	}
	return e, n, nil
}

// resolve resolves a path word at the current position: against the
// sub-attributes of the enclosing attribute inside a value filter, against
// the resource type otherwise.
func (p *parser) resolve(word string, off int) (AttrPath, error) {
	if p.parent == nil {
		return resolvePath(p.rt, word, off, false)
	}
	name, rest, dotted := strings.Cut(word, ".")
	a := p.parent.Sub(name)
	if a == nil {
		return AttrPath{}, errorf(off, "unknown sub-attribute %q", p.parentPath.String()+"."+name)
	}
	if dotted {
		// Sub-attributes are never complex in SCIM (RFC 7643 section 2.3.8).
		return AttrPath{}, errorf(off+len(name)+1, "sub-attribute %q has no sub-attribute %q",
			p.parentPath.String()+"."+a.Name, rest)
	}
	return AttrPath{Attr: a}, nil
}

// resolvePath resolves an attribute path word: [URN ":"] attr ["." sub].
// Schema URNs contain dots ("2.0") and colons, so a qualified word is split
// at its last colon and only the part after it is split at the dot.
// Unqualified names resolve against the core schema, then the common
// attributes, then the extensions in order. A bare extension URN is
// accepted only when bare is set, yielding a path with a nil Attr.
func resolvePath(rt *schema.ResourceType, word string, off int, bare bool) (AttrPath, error) {
	var (
		s         *schema.Schema
		a         *schema.Attribute
		rest      = word
		restOff   = off
		qualified bool
	)
	if i := strings.LastIndexByte(word, ':'); i >= 0 {
		if bs := findSchema(rt, word); bs != nil {
			if bs == rt.Schema || !bare {
				return AttrPath{}, errorf(off, "schema URN %q is not an attribute", bs.ID)
			}
			return AttrPath{Schema: bs}, nil
		}
		if s = findSchema(rt, word[:i]); s == nil {
			return AttrPath{}, errorf(off, "unknown schema %q", word[:i])
		}
		rest, restOff, qualified = word[i+1:], off+i+1, true
	}
	name, sub, dotted := strings.Cut(rest, ".")
	if name == "" {
		return AttrPath{}, errorf(restOff, "missing attribute name in %q", word)
	}
	if qualified {
		a = s.Attr(name)
		if a == nil && s == rt.Schema {
			a = schema.Common.Attr(name)
		}
		if a == nil {
			return AttrPath{}, errorf(restOff, "unknown attribute %q in schema %q", name, s.ID)
		}
	} else if s, a = lookup(rt, name); a == nil {
		return AttrPath{}, errorf(off, "unknown attribute %q", name)
	}
	path := AttrPath{Schema: s, Attr: a}
	if !dotted {
		return path, nil
	}
	subOff := restOff + len(name) + 1
	switch {
	case a.Type != schema.Complex:
		return AttrPath{}, errorf(subOff, "attribute %q is not complex and has no sub-attribute %q", path.String(), sub)
	case sub == "":
		return AttrPath{}, errorf(subOff, "missing sub-attribute name after %q", path.String()+".")
	case strings.Contains(sub, "."):
		return AttrPath{}, errorf(subOff, "attribute path %q has too many levels", word)
	}
	if path.Sub = a.Sub(sub); path.Sub == nil {
		return AttrPath{}, errorf(subOff, "unknown sub-attribute %q", path.String()+"."+sub)
	}
	return path, nil
}

// findSchema returns the core or extension schema of rt with the given URN
// or one of its aliases (case-insensitive), or nil.
func findSchema(rt *schema.ResourceType, urn string) *schema.Schema {
	if rt.Schema.Named(urn) {
		return rt.Schema
	}
	for _, e := range rt.Extensions {
		if e.Schema != nil && e.Schema.Named(urn) {
			return e.Schema
		}
	}
	return nil
}

// lookup resolves an unqualified attribute name. The core schema wins over
// the common attributes, which win over extensions, so that adding an
// extension can never change the meaning of an existing filter on a core
// attribute.
func lookup(rt *schema.ResourceType, name string) (*schema.Schema, *schema.Attribute) {
	if a := rt.Schema.Attr(name); a != nil {
		return rt.Schema, a
	}
	if a := schema.Common.Attr(name); a != nil {
		return rt.Schema, a
	}
	for _, e := range rt.Extensions {
		if a := e.Schema.Attr(name); a != nil { // Attr is nil-safe
			return e.Schema, a
		}
	}
	return nil, nil
}
