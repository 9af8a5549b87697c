// Package schema holds the SCIM 2.0 schema model (RFC 7643 section 7) and
// the definitions scimgate serves: the core User and Group schemas and the
// Enterprise User extension. Every other SCIM package reads attribute
// characteristics (type, case exactness, mutability, returned) from here, so
// what /Schemas advertises is exactly what the server enforces.
package schema

import "strings"

// Type is a SCIM attribute data type.
type Type string

// The SCIM attribute data types (RFC 7643 section 2.3).
const (
	String    Type = "string"
	Boolean   Type = "boolean"
	Decimal   Type = "decimal"
	Integer   Type = "integer"
	DateTime  Type = "dateTime"
	Binary    Type = "binary"
	Reference Type = "reference"
	Complex   Type = "complex"
)

// Mutability says whether and how a client may change an attribute.
type Mutability string

// The mutability characteristics (RFC 7643 section 7).
const (
	ReadOnly  Mutability = "readOnly"
	ReadWrite Mutability = "readWrite"
	Immutable Mutability = "immutable"
	WriteOnly Mutability = "writeOnly"
)

// Returned says when an attribute appears in a response.
type Returned string

// The returned characteristics (RFC 7643 section 7).
const (
	Always    Returned = "always"
	Never     Returned = "never"
	Default   Returned = "default"
	OnRequest Returned = "request"
)

// Uniqueness says how unique a value must be.
type Uniqueness string

// The uniqueness characteristics (RFC 7643 section 7).
const (
	None   Uniqueness = "none"
	Server Uniqueness = "server"
	Global Uniqueness = "global"
)

// Attribute describes one attribute or sub-attribute.
type Attribute struct {
	Name            string
	Type            Type
	MultiValued     bool
	Description     string
	Required        bool
	CanonicalValues []string
	CaseExact       bool
	Mutability      Mutability
	Returned        Returned
	Uniqueness      Uniqueness
	ReferenceTypes  []string
	SubAttributes   []*Attribute
	// Aliases are other names accepted for a sub-attribute in requests,
	// such as SCIM 1.1's manager.managerId. Documents use Name.
	Aliases []string

	subs map[string]*Attribute // lower-case name -> sub-attribute
}

// Sub returns the sub-attribute with the given name, matched
// case-insensitively as RFC 7643 requires, or nil.
func (a *Attribute) Sub(name string) *Attribute {
	if a == nil {
		return nil
	}
	return a.subs[strings.ToLower(name)]
}

// Schema is one schema: a core resource schema or an extension.
type Schema struct {
	ID          string
	Name        string
	Description string
	Attributes  []*Attribute
	// Extension marks a schema extension: its attributes live in an object
	// under the schema URN rather than at the top level of a resource.
	Extension bool
	// Aliases are other URNs accepted for this schema in requests, such as
	// the SCIM 1.0 URNs some OneLogin templates still send. Responses always
	// use ID.
	Aliases []string

	attrs map[string]*Attribute
}

// Named reports whether urn names this schema: its ID or an alias,
// case-insensitively.
func (s *Schema) Named(urn string) bool {
	if strings.EqualFold(urn, s.ID) {
		return true
	}
	for _, a := range s.Aliases {
		if strings.EqualFold(urn, a) {
			return true
		}
	}
	return false
}

// Attr returns the top-level attribute with the given name
// (case-insensitive), or nil.
func (s *Schema) Attr(name string) *Attribute {
	if s == nil {
		return nil
	}
	return s.attrs[strings.ToLower(name)]
}

// Extension is a schema extension attached to a resource type.
type Extension struct {
	Schema   *Schema
	Required bool
}

// ResourceType describes a SCIM resource type such as User or Group.
type ResourceType struct {
	ID          string // "User"
	Name        string // "User"
	Endpoint    string // "/Users"
	Description string
	Schema      *Schema
	Extensions  []Extension
}

// Extension returns the extension schema with the given URN
// (case-insensitive), or nil.
func (rt *ResourceType) Extension(urn string) *Schema {
	for _, e := range rt.Extensions {
		if e.Schema.Named(urn) {
			return e.Schema
		}
	}
	return nil
}

// Schemas returns the core schema followed by the extension schemas.
func (rt *ResourceType) Schemas() []*Schema {
	out := []*Schema{rt.Schema}
	for _, e := range rt.Extensions {
		out = append(out, e.Schema)
	}
	return out
}

// Lookup resolves an attribute name as a client may write it: a plain name
// ("userName"), a URN-qualified name
// ("urn:ietf:params:scim:schemas:core:2.0:User:userName") or the bare URN of
// an extension. It returns the schema the attribute belongs to and the
// attribute; for a bare extension URN the attribute is nil. Common
// attributes (id, externalId, meta) resolve against the core schema.
func (rt *ResourceType) Lookup(name string) (*Schema, *Attribute, bool) {
	if i := strings.LastIndexByte(name, ':'); i >= 0 {
		for _, s := range rt.Schemas() {
			if s.Named(name) {
				if s == rt.Schema {
					return nil, nil, false
				}
				return s, nil, true
			}
		}
		urn, attr := name[:i], name[i+1:]
		var s *Schema
		for _, c := range rt.Schemas() {
			if c.Named(urn) {
				s = c
			}
		}
		if s == nil {
			return nil, nil, false
		}
		a := s.Attr(attr)
		if a == nil && s == rt.Schema {
			a = Common.Attr(attr)
		}
		return s, a, a != nil
	}
	if a := rt.Schema.Attr(name); a != nil {
		return rt.Schema, a, true
	}
	if a := Common.Attr(name); a != nil {
		return rt.Schema, a, true
	}
	return nil, nil, false
}

// index builds the case-insensitive lookup tables of a schema.
func index(s *Schema) *Schema {
	s.attrs = make(map[string]*Attribute, len(s.Attributes))
	for _, a := range s.Attributes {
		indexAttr(a)
		s.attrs[strings.ToLower(a.Name)] = a
	}
	return s
}

func indexAttr(a *Attribute) {
	if a.Mutability == "" {
		a.Mutability = ReadWrite
	}
	if a.Returned == "" {
		a.Returned = Default
	}
	if a.Uniqueness == "" {
		a.Uniqueness = None
	}
	if len(a.SubAttributes) == 0 {
		return
	}
	a.subs = make(map[string]*Attribute, len(a.SubAttributes))
	for _, s := range a.SubAttributes {
		indexAttr(s)
		a.subs[strings.ToLower(s.Name)] = s
		for _, alias := range s.Aliases {
			a.subs[strings.ToLower(alias)] = s
		}
	}
}
