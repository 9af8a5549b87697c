package scim

import (
	"github.com/scimgate/scimgate/scim/schema"
)

// Discovery message URNs (RFC 7643 sections 5-7).
const (
	ServiceProviderConfigSchema = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
	ResourceTypeSchema          = "urn:ietf:params:scim:schemas:core:2.0:ResourceType"
	SchemaSchema                = "urn:ietf:params:scim:schemas:core:2.0:Schema"
)

// Limits are the server limits advertised in /ServiceProviderConfig and
// enforced by the handlers.
type Limits struct {
	MaxResults        int   // filter.maxResults: largest page
	BulkMaxOperations int   // bulk.maxOperations
	BulkMaxPayload    int64 // bulk.maxPayloadSize in bytes
}

// Meta is the meta attribute of discovery resources.
type Meta struct {
	ResourceType string `json:"resourceType"`
	Location     string `json:"location"`
}

type supported struct {
	Supported bool `json:"supported"`
}

// ServiceProviderConfig is the /ServiceProviderConfig resource.
type ServiceProviderConfig struct {
	Schemas          []string   `json:"schemas"`
	DocumentationURI string     `json:"documentationUri,omitempty"`
	Patch            supported  `json:"patch"`
	Bulk             bulkConfig `json:"bulk"`
	Filter           filterConf `json:"filter"`
	ChangePassword   supported  `json:"changePassword"`
	Sort             supported  `json:"sort"`
	ETag             supported  `json:"etag"`
	AuthSchemes      []authSpec `json:"authenticationSchemes"`
	Meta             Meta       `json:"meta"`
}

type bulkConfig struct {
	Supported      bool  `json:"supported"`
	MaxOperations  int   `json:"maxOperations"`
	MaxPayloadSize int64 `json:"maxPayloadSize"`
}

type filterConf struct {
	Supported  bool `json:"supported"`
	MaxResults int  `json:"maxResults"`
}

type authSpec struct {
	Type        string `json:"type"`
	Name        string `json:"name"`
	Description string `json:"description"`
	Primary     bool   `json:"primary"`
}

// NewServiceProviderConfig describes exactly what the server supports.
func NewServiceProviderConfig(base string, l Limits) ServiceProviderConfig {
	return ServiceProviderConfig{
		Schemas:          []string{ServiceProviderConfigSchema},
		DocumentationURI: "https://github.com/scimgate/scimgate",
		Patch:            supported{true},
		Bulk:             bulkConfig{Supported: true, MaxOperations: l.BulkMaxOperations, MaxPayloadSize: l.BulkMaxPayload},
		Filter:           filterConf{Supported: true, MaxResults: l.MaxResults},
		ChangePassword:   supported{false},
		Sort:             supported{true},
		ETag:             supported{true},
		AuthSchemes: []authSpec{{
			Type:        "oauthbearertoken",
			Name:        "OAuth Bearer Token",
			Description: "A scimgate SCIM token sent as Authorization: Bearer; each token belongs to one tenant.",
			Primary:     true,
		}},
		Meta: Meta{ResourceType: "ServiceProviderConfig", Location: base + "/ServiceProviderConfig"},
	}
}

// ResourceTypeDoc is a /ResourceTypes resource.
type ResourceTypeDoc struct {
	Schemas          []string       `json:"schemas"`
	ID               string         `json:"id"`
	Name             string         `json:"name"`
	Endpoint         string         `json:"endpoint"`
	Description      string         `json:"description"`
	Schema           string         `json:"schema"`
	SchemaExtensions []extensionDoc `json:"schemaExtensions"`
	Meta             Meta           `json:"meta"`
}

type extensionDoc struct {
	Schema   string `json:"schema"`
	Required bool   `json:"required"`
}

// NewResourceTypeDoc describes rt.
func NewResourceTypeDoc(base string, rt *schema.ResourceType) ResourceTypeDoc {
	d := ResourceTypeDoc{
		Schemas:          []string{ResourceTypeSchema},
		ID:               rt.ID,
		Name:             rt.Name,
		Endpoint:         rt.Endpoint,
		Description:      rt.Description,
		Schema:           rt.Schema.ID,
		SchemaExtensions: []extensionDoc{},
		Meta:             Meta{ResourceType: "ResourceType", Location: base + "/ResourceTypes/" + rt.ID},
	}
	for _, e := range rt.Extensions {
		d.SchemaExtensions = append(d.SchemaExtensions, extensionDoc{Schema: e.Schema.ID, Required: e.Required})
	}
	return d
}

// SchemaDoc is a /Schemas resource.
type SchemaDoc struct {
	Schemas     []string  `json:"schemas"`
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	Description string    `json:"description"`
	Attributes  []attrDoc `json:"attributes"`
	Meta        Meta      `json:"meta"`
}

type attrDoc struct {
	Name            string    `json:"name"`
	Type            string    `json:"type"`
	MultiValued     bool      `json:"multiValued"`
	Description     string    `json:"description"`
	Required        bool      `json:"required"`
	CanonicalValues []string  `json:"canonicalValues,omitempty"`
	CaseExact       bool      `json:"caseExact"`
	Mutability      string    `json:"mutability"`
	Returned        string    `json:"returned"`
	Uniqueness      string    `json:"uniqueness"`
	ReferenceTypes  []string  `json:"referenceTypes,omitempty"`
	SubAttributes   []attrDoc `json:"subAttributes,omitempty"`
}

// NewSchemaDoc describes s from the same definitions the server enforces.
func NewSchemaDoc(base string, s *schema.Schema) SchemaDoc {
	return SchemaDoc{
		Schemas:     []string{SchemaSchema},
		ID:          s.ID,
		Name:        s.Name,
		Description: s.Description,
		Attributes:  attrDocs(s.Attributes),
		Meta:        Meta{ResourceType: "Schema", Location: base + "/Schemas/" + s.ID},
	}
}

func attrDocs(attrs []*schema.Attribute) []attrDoc {
	out := make([]attrDoc, 0, len(attrs))
	for _, a := range attrs {
		out = append(out, attrDoc{
			Name:            a.Name,
			Type:            string(a.Type),
			MultiValued:     a.MultiValued,
			Description:     a.Description,
			Required:        a.Required,
			CanonicalValues: a.CanonicalValues,
			CaseExact:       a.CaseExact,
			Mutability:      string(a.Mutability),
			Returned:        string(a.Returned),
			Uniqueness:      string(a.Uniqueness),
			ReferenceTypes:  a.ReferenceTypes,
			SubAttributes:   attrDocs(a.SubAttributes),
		})
	}
	return out
}
