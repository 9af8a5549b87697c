package scim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/scimgate/scimgate/scim/filter"
	"github.com/scimgate/scimgate/scim/schema"
)

// Projection selects the attributes of a response from the attributes and
// excludedAttributes parameters (RFC 7644 section 3.4.2.5). The zero value
// (and nil) selects the default set.
type Projection struct {
	include *pnode // non-nil when attributes= was given
	exclude *pnode
}

// pnode is a level of a projection tree: top-level attributes or extension
// URNs, then attributes, then sub-attributes. Keys are lower case.
type pnode struct {
	all  bool // the whole attribute is named
	kids map[string]*pnode
}

func (n *pnode) child(k string) *pnode {
	if n == nil {
		return nil
	}
	return n.kids[strings.ToLower(k)]
}

func (n *pnode) add(keys ...string) {
	for _, k := range keys {
		if n.kids == nil {
			n.kids = map[string]*pnode{}
		}
		k = strings.ToLower(k)
		c := n.kids[k]
		if c == nil {
			c = &pnode{}
			n.kids[k] = c
		}
		n = c
	}
	n.all = true
}

// ParseProjection builds a Projection from the comma-separated lists of
// the attributes and excludedAttributes parameters.
func ParseProjection(rt *schema.ResourceType, attributes, excluded []string) (*Projection, error) {
	p := &Projection{}
	var err error
	if p.include, err = projTree(rt, attributes, "attributes"); err != nil {
		return nil, err
	}
	if p.exclude, err = projTree(rt, excluded, "excludedAttributes"); err != nil {
		return nil, err
	}
	return p, nil
}

func projTree(rt *schema.ResourceType, lists []string, param string) (*pnode, error) {
	var root *pnode
	for _, list := range lists {
		for _, name := range strings.Split(list, ",") {
			name = strings.TrimSpace(name)
			if name == "" {
				continue
			}
			ap, err := filter.ParseAttrPath(rt, name)
			if err != nil {
				return nil, Errorf(CodeInvalidValue, "%s: unknown attribute %q", param, name)
			}
			if root == nil {
				root = &pnode{}
			}
			keys := []string{ap.Key()}
			if ap.Attr != nil && ap.Key() != ap.Attr.Name {
				keys = append(keys, ap.Attr.Name)
			}
			if ap.Sub != nil {
				keys = append(keys, ap.Sub.Name)
			}
			root.add(keys...)
		}
	}
	return root, nil
}

// Wants reports whether a response needs the top-level attribute a at all,
// so that callers can skip computing expensive ones (members, groups).
func (p *Projection) Wants(a *schema.Attribute) bool {
	in, ex := p.nodes()
	return decide(a, in.child(a.Name), ex.child(a.Name), in != nil)
}

func (p *Projection) nodes() (in, ex *pnode) {
	if p == nil {
		return nil, nil
	}
	return p.include, p.exclude
}

// decide reports whether attribute a appears, given its include and exclude
// nodes; listed says whether an attributes= list applies at this level.
func decide(a *schema.Attribute, in, ex *pnode, listed bool) bool {
	switch a.Returned {
	case schema.Never:
		return false
	case schema.Always:
		return true
	case schema.OnRequest:
		return in != nil
	}
	if listed {
		return in != nil
	}
	return ex == nil || !ex.all
}

// ListResponseSchema is the URN of a list response.
const ListResponseSchema = "urn:ietf:params:scim:api:messages:2.0:ListResponse"

// Render writes the JSON representation of a full document (stored
// attributes plus id, meta and computed attributes) with attributes in
// schema order, applying p and each attribute's returned characteristic.
func Render(buf *bytes.Buffer, rt *schema.ResourceType, doc map[string]any, p *Projection) {
	in, ex := p.nodes()
	var body bytes.Buffer
	var exts []string
	first := true
	// Common attributes id and externalId lead, meta closes.
	for _, a := range schema.Common.Attributes[:2] {
		writeAttr(&body, a, doc[a.Name], in.child(a.Name), ex.child(a.Name), in != nil, &first)
	}
	writeAttrs(&body, rt.Schema.Attributes, doc, in, ex, in != nil, &first)
	for _, e := range rt.Extensions {
		obj, _ := doc[e.Schema.ID].(map[string]any)
		if len(obj) == 0 {
			continue
		}
		ein, eex := in.child(e.Schema.ID), ex.child(e.Schema.ID)
		if in != nil && ein == nil || eex != nil && eex.all {
			continue
		}
		if ein != nil && ein.all {
			ein = nil // the whole extension: its default set
		}
		var inner bytes.Buffer
		innerFirst := true
		writeAttrs(&inner, e.Schema.Attributes, obj, ein, eex, ein != nil, &innerFirst)
		if inner.Len() == 0 {
			continue
		}
		exts = append(exts, e.Schema.ID)
		sep(&body, &first)
		writeString(&body, e.Schema.ID)
		body.WriteString(":{")
		body.Write(inner.Bytes())
		body.WriteByte('}')
	}
	meta := schema.Common.Attributes[2]
	writeAttr(&body, meta, doc[meta.Name], in.child(meta.Name), ex.child(meta.Name), in != nil, &first)

	buf.WriteString(`{"schemas":[`)
	writeString(buf, rt.Schema.ID)
	for _, e := range exts {
		buf.WriteByte(',')
		writeString(buf, e)
	}
	buf.WriteByte(']')
	if body.Len() > 0 {
		buf.WriteByte(',')
		buf.Write(body.Bytes())
	}
	buf.WriteByte('}')
}

func sep(buf *bytes.Buffer, first *bool) {
	if !*first {
		buf.WriteByte(',')
	}
	*first = false
}

func writeAttrs(buf *bytes.Buffer, attrs []*schema.Attribute, obj map[string]any, in, ex *pnode, listed bool, first *bool) {
	for _, a := range attrs {
		writeAttr(buf, a, obj[a.Name], in.child(a.Name), ex.child(a.Name), listed, first)
	}
}

// writeAttr writes "name":value for one attribute if it is set and selected.
func writeAttr(buf *bytes.Buffer, a *schema.Attribute, v any, in, ex *pnode, listed bool, first *bool) {
	if v == nil || !decide(a, in, ex, listed) {
		return
	}
	if a.Type != schema.Complex || a.Returned == schema.Always {
		sep(buf, first)
		writeString(buf, a.Name)
		buf.WriteByte(':')
		writeJSON(buf, v)
		return
	}
	// Sub-attribute selection applies below a complex attribute.
	subListed := in != nil && !in.all
	if in != nil && in.all {
		in = nil
	}
	if ex != nil && ex.all {
		ex = nil
	}
	var out bytes.Buffer
	if a.MultiValued {
		list, _ := v.([]any)
		n := 0
		out.WriteByte('[')
		for _, e := range list {
			m, ok := e.(map[string]any)
			if !ok {
				continue
			}
			var el bytes.Buffer
			elFirst := true
			writeAttrs(&el, a.SubAttributes, m, in, ex, subListed, &elFirst)
			if el.Len() == 0 {
				continue
			}
			if n > 0 {
				out.WriteByte(',')
			}
			n++
			out.WriteByte('{')
			out.Write(el.Bytes())
			out.WriteByte('}')
		}
		out.WriteByte(']')
		if n == 0 {
			return
		}
	} else {
		m, ok := v.(map[string]any)
		if !ok {
			return
		}
		var el bytes.Buffer
		elFirst := true
		writeAttrs(&el, a.SubAttributes, m, in, ex, subListed, &elFirst)
		if el.Len() == 0 {
			return
		}
		out.WriteByte('{')
		out.Write(el.Bytes())
		out.WriteByte('}')
	}
	sep(buf, first)
	writeString(buf, a.Name)
	buf.WriteByte(':')
	buf.Write(out.Bytes())
}

// writeJSON writes a JSON-like value. Maps are written with sorted keys so
// output is deterministic even for values outside the schema's shape.
func writeJSON(buf *bytes.Buffer, v any) {
	switch x := v.(type) {
	case nil:
		buf.WriteString("null")
	case string:
		writeString(buf, x)
	case bool:
		buf.WriteString(strconv.FormatBool(x))
	case json.Number:
		buf.WriteString(x.String())
	case float64:
		if math.IsInf(x, 0) || math.IsNaN(x) {
			buf.WriteString("null")
			return
		}
		buf.WriteString(strconv.FormatFloat(x, 'g', -1, 64))
	case int:
		buf.WriteString(strconv.Itoa(x))
	case int64:
		buf.WriteString(strconv.FormatInt(x, 10))
	case []any:
		buf.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				buf.WriteByte(',')
			}
			writeJSON(buf, e)
		}
		buf.WriteByte(']')
	case []string:
		buf.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				buf.WriteByte(',')
			}
			writeString(buf, e)
		}
		buf.WriteByte(']')
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		buf.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				buf.WriteByte(',')
			}
			writeString(buf, k)
			buf.WriteByte(':')
			writeJSON(buf, x[k])
		}
		buf.WriteByte('}')
	default:
		b, err := json.Marshal(x)
		if err != nil {
			writeString(buf, fmt.Sprint(x))
			return
		}
		buf.Write(b)
	}
}

const hexDigits = "0123456789abcdef"

// writeString writes s as a JSON string. Invalid UTF-8 becomes U+FFFD.
func writeString(buf *bytes.Buffer, s string) {
	buf.WriteByte('"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			buf.WriteString(s[start:i])
			switch c {
			case '"', '\\':
				buf.WriteByte('\\')
				buf.WriteByte(c)
			case '\n':
				buf.WriteString(`\n`)
			case '\r':
				buf.WriteString(`\r`)
			case '\t':
				buf.WriteString(`\t`)
			default:
				buf.WriteString(`\u00`)
				buf.WriteByte(hexDigits[c>>4])
				buf.WriteByte(hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			buf.WriteString(s[start:i])
			buf.WriteString(`\ufffd`)
			i += size
			start = i
			continue
		}
		// U+2028 and U+2029 are valid JSON but break JavaScript consumers.
		if r == '\u2028' || r == '\u2029' {
			buf.WriteString(s[start:i])
			fmt.Fprintf(buf, `\u%04x`, r)
			i += size
			start = i
			continue
		}
		i += size
	}
	buf.WriteString(s[start:])
	buf.WriteByte('"')
}
