package filter

import (
	"encoding/json"
	"math"
	"strings"
	"time"

	"github.com/scimgate/scimgate/scim/schema"
)

// locate computes where the values named by path live in a document: for a
// top-level path, under the document key (and, for an extension attribute,
// under the attribute's name inside the extension object); for a relative
// path, under the sub-attribute's name in the element.
func locate(p AttrPath, rel bool) locator {
	if rel {
		return locator{rel: true, key: p.Attr.Name}
	}
	l := locator{key: p.Key()}
	if p.ext() {
		l.attr = p.Attr.Name
	}
	if p.Sub != nil {
		l.sub = p.Sub.Name
	}
	return l
}

// newPresent builds the evaluator of `path pr`.
func newPresent(path AttrPath, rel bool) node {
	return &leaf{loc: locate(path, rel), kind: kPresent}
}

// newCompare type-checks `path op val` against the schema and builds its
// syntax and evaluation nodes. name is the path as error messages show it
// (relative paths are prefixed with their parent); the offsets locate the
// path, operator and value.
func newCompare(path AttrPath, name string, op Op, val any, rel bool, pathOff, opOff, valOff int) (Expr, node, error) {
	loc := locate(path, rel)
	if val == nil {
		// RFC 7644 leaves null comparisons unspecified; "eq null" as
		// "unassigned" and "ne null" as "present" are what clients mean.
		// Anything else has no sensible meaning.
		switch op {
		case Eq:
			return &Compare{Path: path, Op: op}, &leaf{loc: loc, kind: kAbsent}, nil
		case Ne:
			return &Compare{Path: path, Op: op}, &leaf{loc: loc, kind: kPresent}, nil
		}
		return nil, nil, errorf(opOff, "operator %q cannot compare with null", op)
	}
	a := path.Attr
	if path.Sub != nil {
		a = path.Sub
	}
	if a.Type == schema.Complex {
		// RFC 7644 section 3.4.2.2 compares a complex attribute given
		// without a sub-attribute (`emails co "@example.com"`) through its
		// "value" sub-attribute.
		v := a.Sub("value")
		if v == nil {
			return nil, nil, errorf(pathOff, "complex attribute %q has no \"value\" sub-attribute to compare with", name)
		}
		a, loc.sub = v, v.Name
	}
	t, norm, err := newTest(a, name, op, val, opOff, valOff)
	if err != nil {
		return nil, nil, err
	}
	l := &leaf{loc: loc, kind: kTest, test: t}
	if op == Ne {
		// RFC 7644 section 3.4.2.2: a multi-valued attribute matches when
		// any of its values does, so `emails.type ne "work"` matches a user
		// with a home email whatever else it has, as `emails[type ne
		// "work"]` does, and no email at all matches nothing. "None equals"
		// is `not (emails.type eq "work")`. A singular attribute matches
		// when its value is not equal, including when it is unassigned:
		// the RFC is silent there, and NOT(eq) is what clients expect.
		l.kind = kNotTest
		if path.Attr.MultiValued {
			l.kind = kSomeNotTest
		}
	}
	return &Compare{Path: path, Op: op, Value: norm}, l, nil
}

// newTest compiles the comparison of attribute a (the attribute actually
// compared, after any implicit ".value") with a non-null literal. It returns
// the literal normalised for the syntax tree.
func newTest(a *schema.Attribute, name string, op Op, val any, opOff, valOff int) (valTest, any, error) {
	t := valTest{op: opcodes[op]}
	switch a.Type {
	case schema.String, schema.Reference, schema.Binary:
		s, ok := val.(string)
		if !ok {
			return t, nil, errorf(valOff, "%s attribute %q must be compared with a string", a.Type, name)
		}
		switch {
		case a.Type == schema.Binary && op.ordering():
			return t, nil, errorf(opOff, "operator %q is not supported on binary attribute %q", op, name)
		case a.Type == schema.Binary || a.CaseExact:
			// Binary values are base64, where case is significant whatever
			// the attribute's caseExact says.
			t.kind, t.s = vString, s
		default:
			// Lower-case once here so Match compares without allocating.
			t.kind, t.s = vFold, strings.ToLower(s)
		}
		return t, s, nil
	case schema.Boolean:
		if op != Eq && op != Ne {
			return t, nil, errorf(opOff, "operator %q is not supported on boolean attribute %q", op, name)
		}
		t.kind = vBool
		switch x := val.(type) {
		case bool:
			t.b = x
		case string:
			// Some identity providers send `active eq "true"`.
			switch {
			case strings.EqualFold(x, "true"):
				t.b = true
			case strings.EqualFold(x, "false"):
				t.b = false
			default:
				return t, nil, errorf(valOff, "boolean attribute %q must be compared with true or false", name)
			}
		default:
			return t, nil, errorf(valOff, "boolean attribute %q must be compared with true or false", name)
		}
		return t, t.b, nil
	case schema.DateTime:
		if op.substring() {
			return t, nil, errorf(opOff, "operator %q is not supported on dateTime attribute %q", op, name)
		}
		s, ok := val.(string)
		if !ok {
			return t, nil, errorf(valOff, "dateTime attribute %q must be compared with an RFC 3339 string", name)
		}
		// RFC 3339 allows lower-case "t" and "z"; Go's parser does not.
		tm, err := time.Parse(time.RFC3339, strings.ToUpper(s))
		if err != nil {
			return t, nil, errorf(valOff, "invalid dateTime %q: want RFC 3339 such as \"2011-05-13T04:42:34Z\"", s)
		}
		t.kind, t.t = vTime, tm
		return t, s, nil
	case schema.Integer, schema.Decimal:
		if op.substring() {
			return t, nil, errorf(opOff, "operator %q is not supported on %s attribute %q", op, a.Type, name)
		}
		n, ok := val.(json.Number)
		if !ok {
			return t, nil, errorf(valOff, "%s attribute %q must be compared with a number", a.Type, name)
		}
		f, err := n.Float64()
		if err != nil || math.IsInf(f, 0) {
			return t, nil, errorf(valOff, "number %s out of range", n)
		}
		t.kind, t.f = vNumber, f
		return t, n, nil
	}
	return t, nil, errorf(opOff, "attribute %q of type %q cannot be compared", name, a.Type)
}
