package scim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/scimgate/scimgate/scim/filter"
	"github.com/scimgate/scimgate/scim/schema"
)

// A document is a resource's attributes as a JSON-like map: canonical
// attribute names, core and common attributes at the top level, extension
// attributes in an object under the extension's URN. Leaf values are
// string, bool, json.Number; multi-valued attributes are []any.

// Normalize validates a full resource representation (a POST or PUT body)
// against rt and returns the document to store: canonical names, coerced
// values (Entra's "True"/"False" strings become booleans, a bare string
// for a complex attribute becomes its value sub-attribute), and readOnly
// and writeOnly attributes dropped as RFC 7644 section 3.5.1 prescribes.
// Unknown attributes are an error rather than silently lost. Keys are
// applied in sorted order, so that a body naming an attribute twice ("name"
// and "name.givenName", or "userName" and "USERNAME") normalises the same
// way every time.
func Normalize(rt *schema.ResourceType, raw map[string]any) (map[string]any, error) {
	doc := map[string]any{}
	for _, k := range sortedKeys(raw) {
		v := raw[k]
		if strings.EqualFold(k, "schemas") {
			if err := checkSchemas(rt, v); err != nil {
				return nil, err
			}
			continue
		}
		p, err := filter.ParseAttrPath(rt, k)
		if err != nil {
			return nil, Errorf(CodeInvalidValue, "unknown attribute %q for resource type %s", k, rt.Name)
		}
		if err := assign(doc, p, v, true); err != nil {
			return nil, err
		}
	}
	if err := checkRequired(rt, doc, CodeInvalidValue); err != nil {
		return nil, err
	}
	return doc, nil
}

// checkSchemas verifies the schemas attribute of a request body.
func checkSchemas(rt *schema.ResourceType, v any) error {
	list, ok := v.([]any)
	if !ok {
		return Errorf(CodeInvalidSyntax, "schemas must be an array of schema URNs")
	}
	core := false
	for _, s := range list {
		urn, ok := s.(string)
		if !ok {
			return Errorf(CodeInvalidSyntax, "schemas must be an array of schema URNs")
		}
		switch {
		case rt.Schema.Named(urn):
			core = true
		case rt.Extension(urn) != nil:
		default:
			return Errorf(CodeInvalidValue, "schema %q is not supported for %s; supported: %s", urn, rt.Name, schemaList(rt))
		}
	}
	if !core {
		return Errorf(CodeInvalidValue, "schemas must include %s", rt.Schema.ID)
	}
	return nil
}

func schemaList(rt *schema.ResourceType) string {
	var ids []string
	for _, s := range rt.Schemas() {
		ids = append(ids, s.ID)
	}
	return strings.Join(ids, ", ")
}

// checkRequired reports the first required attribute the document lacks,
// as an error with the given code: invalidValue for a body that omits it,
// mutability for a PATCH that unassigns it (RFC 7644 section 3.5.2.2).
func checkRequired(rt *schema.ResourceType, doc map[string]any, code Code) error {
	for _, s := range rt.Schemas() {
		container := doc
		if s != rt.Schema {
			container, _ = doc[s.ID].(map[string]any)
		}
		for _, a := range s.Attributes {
			if !a.Required {
				continue
			}
			v := container[a.Name]
			if v == nil || v == "" {
				return Errorf(code, "attribute %s is required", a.Name)
			}
		}
	}
	return nil
}

// container returns the map that holds p's attribute: the document itself
// for core and common attributes, the extension object otherwise, created
// when create is set.
func container(doc map[string]any, p filter.AttrPath, create bool) map[string]any {
	if p.Key() == p.Attr.Name {
		return doc
	}
	ext, _ := doc[p.Key()].(map[string]any)
	if ext == nil && create {
		ext = map[string]any{}
		doc[p.Key()] = ext
	}
	return ext
}

// assign sets the attribute at p to the normalised v in doc, deleting it
// when v normalises to nothing. skipReadOnly drops read-only and write-only
// attributes instead of setting them, as a POST or PUT body requires.
func assign(doc map[string]any, p filter.AttrPath, v any, skipReadOnly bool) error {
	if p.Attr == nil { // a bare extension URN: an object of its attributes
		obj, ok := v.(map[string]any)
		if !ok {
			if v == nil {
				delete(doc, p.Key())
				return nil
			}
			return Errorf(CodeInvalidValue, "%s must be an object", p.Key())
		}
		for _, k := range sortedKeys(obj) {
			sv := obj[k]
			a := p.Schema.Attr(k)
			if a == nil {
				return Errorf(CodeInvalidValue, "unknown attribute %q in %s", k, p.Schema.ID)
			}
			if err := assign(doc, filter.AttrPath{Schema: p.Schema, Attr: a}, sv, skipReadOnly); err != nil {
				return err
			}
		}
		return nil
	}
	if skipReadOnly && (p.Attr.Mutability == schema.ReadOnly || p.Attr.Mutability == schema.WriteOnly) {
		return nil
	}
	c := container(doc, p, true)
	defer pruneExtension(doc, p)
	if p.Sub == nil {
		nv, err := normValue(p.Attr, v, p.String())
		if err != nil {
			return err
		}
		setOrDelete(c, p.Attr.Name, nv)
		return nil
	}
	if p.Attr.MultiValued {
		return Errorf(CodeInvalidValue, "%s is multi-valued; use a PATCH value filter to change %s", p.Attr.Name, p.String())
	}
	if skipReadOnly && p.Sub.Mutability == schema.ReadOnly {
		return nil
	}
	nv, err := normSingle(p.Sub, v, p.String())
	if err != nil {
		return err
	}
	parent, _ := c[p.Attr.Name].(map[string]any)
	if parent == nil {
		parent = map[string]any{}
	}
	setOrDelete(parent, p.Sub.Name, nv)
	setOrDelete(c, p.Attr.Name, emptyToNil(parent))
	return nil
}

// pruneExtension removes an extension object left empty.
func pruneExtension(doc map[string]any, p filter.AttrPath) {
	if p.Attr == nil || p.Key() == p.Attr.Name {
		return
	}
	if ext, ok := doc[p.Key()].(map[string]any); ok && len(ext) == 0 {
		delete(doc, p.Key())
	}
}

// sortedKeys returns m's keys in order. Maps are walked in this order
// wherever two keys may name the same attribute (they match
// case-insensitively), so that the result does not depend on Go's map
// iteration order.
func sortedKeys(m map[string]any) []string {
	return slices.Sorted(maps.Keys(m))
}

func setOrDelete(m map[string]any, k string, v any) {
	if v == nil {
		delete(m, k)
		return
	}
	m[k] = v
}

func emptyToNil(m map[string]any) any {
	if len(m) == 0 {
		return nil
	}
	return m
}

// normValue normalises a value for attribute a; nil means unassigned.
func normValue(a *schema.Attribute, v any, where string) (any, error) {
	if v == nil {
		return nil, nil
	}
	if !a.MultiValued {
		if _, isList := v.([]any); isList {
			return nil, Errorf(CodeInvalidValue, "%s is single-valued; got an array", where)
		}
		return normSingle(a, v, where)
	}
	list, ok := v.([]any)
	if !ok {
		list = []any{v}
	}
	out := make([]any, 0, len(list))
	primaries := 0
	for i, e := range list {
		ne, err := normSingle(a, e, fmt.Sprintf("%s[%d]", where, i))
		if err != nil {
			return nil, err
		}
		if ne == nil {
			continue
		}
		if m, ok := ne.(map[string]any); ok && m["primary"] == true {
			primaries++
		}
		out = append(out, ne)
	}
	if primaries > 1 {
		return nil, Errorf(CodeInvalidValue, "%s: at most one value may be primary", where)
	}
	out = dedupe(a, out)
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// normSingle normalises one value (not a list) for attribute a.
func normSingle(a *schema.Attribute, v any, where string) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch a.Type {
	case schema.Complex:
		m, ok := v.(map[string]any)
		if !ok {
			// Entra sends the enterprise manager as a bare id string.
			if s, isStr := v.(string); isStr && a.Sub("value") != nil {
				m = map[string]any{"value": s}
			} else {
				return nil, Errorf(CodeInvalidValue, "%s must be an object", where)
			}
		}
		out := make(map[string]any, len(m))
		for _, k := range sortedKeys(m) {
			sv := m[k]
			sub := a.Sub(k)
			if sub == nil {
				return nil, Errorf(CodeInvalidValue, "unknown sub-attribute %q of %s", k, where)
			}
			if sub.Mutability == schema.ReadOnly {
				continue
			}
			nv, err := normSingle(sub, sv, where+"."+sub.Name)
			if err != nil {
				return nil, err
			}
			setOrDelete(out, sub.Name, nv)
		}
		// A value that says anything must say what it requires: a member
		// without its id is a mistake to report, not to drop.
		if len(m) > 0 {
			for _, sub := range a.SubAttributes {
				if sub.Required && (out[sub.Name] == nil || out[sub.Name] == "") {
					return nil, Errorf(CodeInvalidValue, "%s.%s is required", where, sub.Name)
				}
			}
		}
		return emptyToNil(out), nil
	case schema.String, schema.Reference, schema.Binary:
		switch x := v.(type) {
		case string:
			return x, nil
		case json.Number:
			return x.String(), nil
		}
		return nil, Errorf(CodeInvalidValue, "%s must be a string", where)
	case schema.Boolean:
		switch x := v.(type) {
		case bool:
			return x, nil
		case string: // Entra ID sends "True" and "False"
			switch strings.ToLower(strings.TrimSpace(x)) {
			case "true":
				return true, nil
			case "false":
				return false, nil
			}
		}
		return nil, Errorf(CodeInvalidValue, "%s must be a boolean", where)
	case schema.DateTime:
		if s, ok := v.(string); ok {
			if _, err := time.Parse(time.RFC3339Nano, s); err == nil {
				return s, nil
			}
		}
		return nil, Errorf(CodeInvalidValue, "%s must be an RFC 3339 date-time", where)
	case schema.Integer:
		if n, ok := v.(json.Number); ok {
			if _, err := n.Int64(); err == nil {
				return n, nil
			}
		}
		return nil, Errorf(CodeInvalidValue, "%s must be an integer", where)
	case schema.Decimal:
		if n, ok := v.(json.Number); ok {
			if _, err := n.Float64(); err == nil {
				return n, nil
			}
		}
		return nil, Errorf(CodeInvalidValue, "%s must be a number", where)
	}
	return nil, Errorf(CodeInternal, "attribute %s has unknown type %q", where, a.Type)
}

// DecodeJSON decodes a JSON object the way every request body is decoded:
// numbers kept exact, trailing data rejected.
func DecodeJSON(body []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	// Decoded as any, so that a valid value of another type is reported
	// as such rather than with encoding/json's Go type names.
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, Errorf(CodeInvalidSyntax, "request body is not valid JSON: %v", err)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, Errorf(CodeInvalidSyntax, "request body must be a JSON object")
	}
	// Token rather than More: More reports false for a stray "]" or "}".
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, Errorf(CodeInvalidSyntax, "request body has data after the JSON object")
	}
	return m, nil
}
