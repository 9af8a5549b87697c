package scim

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/scimgate/scimgate/scim/schema"
)

// marshalMap marshals v and decodes it back into a generic map.
func marshalMap(t *testing.T, v any) map[string]any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("json.Marshal(%T) = %v", v, err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("json.Unmarshal(%s) = %v", b, err)
	}
	return m
}

func TestNewSchemaDoc(t *testing.T) {
	const base = "https://gate.example.com/scim/v2"
	for _, s := range schema.Schemas {
		t.Run(s.Name, func(t *testing.T) {
			doc := marshalMap(t, NewSchemaDoc(base, s))
			want := map[string]any{
				"schemas": []any{SchemaSchema},
				"id":      s.ID,
				"name":    s.Name,
				"meta":    map[string]any{"resourceType": "Schema", "location": base + "/Schemas/" + s.ID},
			}
			for k, v := range want {
				if diff := cmp.Diff(v, doc[k]); diff != "" {
					t.Errorf("NewSchemaDoc(%s)[%q] mismatch (-want +got):\n%s", s.ID, k, diff)
				}
			}
			if d, _ := doc["description"].(string); d == "" {
				t.Errorf("NewSchemaDoc(%s) has no description", s.ID)
			}
			attrs, _ := doc["attributes"].([]any)
			checkAttrDocs(t, s.ID, s.Attributes, attrs)
		})
	}
}

// checkAttrDocs checks that docs describes attrs, in order, with every
// characteristic of RFC 7643 section 7.
func checkAttrDocs(t *testing.T, where string, attrs []*schema.Attribute, docs []any) {
	t.Helper()
	if len(docs) != len(attrs) {
		t.Fatalf("%s: %d attributes documented, want %d", where, len(docs), len(attrs))
	}
	for i, a := range attrs {
		d, ok := docs[i].(map[string]any)
		if !ok {
			t.Fatalf("%s: attribute %d is %T, want an object", where, i, docs[i])
		}
		name := where + "." + a.Name
		want := map[string]any{
			"name":        a.Name,
			"type":        string(a.Type),
			"multiValued": a.MultiValued,
			"description": a.Description,
			"required":    a.Required,
			"caseExact":   a.CaseExact,
			"mutability":  string(a.Mutability),
			"returned":    string(a.Returned),
			"uniqueness":  string(a.Uniqueness),
		}
		for k, v := range want {
			got, present := d[k]
			if !present {
				t.Errorf("%s: characteristic %q missing", name, k)
				continue
			}
			if got != v {
				t.Errorf("%s: %s = %v, want %v", name, k, got, v)
			}
		}
		if a.Description == "" {
			t.Errorf("%s: no description", name)
		}
		for _, k := range []string{"mutability", "returned", "uniqueness", "type"} {
			if s, _ := d[k].(string); s == "" {
				t.Errorf("%s: %s is empty", name, k)
			}
		}
		if len(a.CanonicalValues) > 0 {
			if diff := cmp.Diff(toAny(a.CanonicalValues), d["canonicalValues"]); diff != "" {
				t.Errorf("%s: canonicalValues mismatch (-want +got):\n%s", name, diff)
			}
		}
		if len(a.ReferenceTypes) > 0 {
			if diff := cmp.Diff(toAny(a.ReferenceTypes), d["referenceTypes"]); diff != "" {
				t.Errorf("%s: referenceTypes mismatch (-want +got):\n%s", name, diff)
			}
		}
		subs, hasSubs := d["subAttributes"].([]any)
		if (a.Type == schema.Complex) != hasSubs {
			t.Errorf("%s: type %s with subAttributes %v", name, a.Type, d["subAttributes"])
		}
		if hasSubs {
			checkAttrDocs(t, name, a.SubAttributes, subs)
		}
	}
}

func toAny(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

func TestSchemaDocCharacteristics(t *testing.T) {
	// Spot checks of characteristics that clients rely on.
	doc := NewSchemaDoc("", schema.User)
	find := func(attrs []attrDoc, name string) attrDoc {
		i := slices.IndexFunc(attrs, func(a attrDoc) bool { return a.Name == name })
		if i < 0 {
			t.Fatalf("attribute %q not documented", name)
		}
		return attrs[i]
	}
	userName := find(doc.Attributes, "userName")
	if !userName.Required || userName.Uniqueness != "server" || userName.CaseExact {
		t.Errorf("userName = %+v, want required, server-unique, not caseExact", userName)
	}
	password := find(doc.Attributes, "password")
	if password.Mutability != "writeOnly" || password.Returned != "never" {
		t.Errorf("password = %+v, want writeOnly, returned never", password)
	}
	groups := find(doc.Attributes, "groups")
	if groups.Mutability != "readOnly" || !groups.MultiValued {
		t.Errorf("groups = %+v, want readOnly and multi-valued", groups)
	}
	if ref := find(groups.SubAttributes, "$ref"); ref.Type != "reference" || !slices.Equal(ref.ReferenceTypes, []string{"Group"}) {
		t.Errorf("groups.$ref = %+v, want a reference to Group", ref)
	}
	emailType := find(find(doc.Attributes, "emails").SubAttributes, "type")
	if !slices.Equal(emailType.CanonicalValues, []string{"work", "home", "other"}) {
		t.Errorf("emails.type canonicalValues = %v", emailType.CanonicalValues)
	}
	members := find(NewSchemaDoc("", schema.Group).Attributes, "members")
	if v := find(members.SubAttributes, "value"); v.Mutability != "immutable" || !v.CaseExact {
		t.Errorf("members.value = %+v, want immutable and caseExact", v)
	}
	if d := find(members.SubAttributes, "display"); d.Mutability != "readOnly" {
		t.Errorf("members.display = %+v, want readOnly", d)
	}
}

func TestNewResourceTypeDoc(t *testing.T) {
	const base = "https://gate.example.com/scim/v2"
	tests := []struct {
		rt   *schema.ResourceType
		want string
	}{
		{schema.UserType, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],"id":"User","name":"User","endpoint":"/Users",
			"description":"User Account","schema":"urn:ietf:params:scim:schemas:core:2.0:User",
			"schemaExtensions":[{"schema":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User","required":false}],
			"meta":{"resourceType":"ResourceType","location":"https://gate.example.com/scim/v2/ResourceTypes/User"}}`},
		{schema.GroupType, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],"id":"Group","name":"Group","endpoint":"/Groups",
			"description":"Group","schema":"urn:ietf:params:scim:schemas:core:2.0:Group","schemaExtensions":[],
			"meta":{"resourceType":"ResourceType","location":"https://gate.example.com/scim/v2/ResourceTypes/Group"}}`},
	}
	for _, tt := range tests {
		var want map[string]any
		if err := json.Unmarshal([]byte(tt.want), &want); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, marshalMap(t, NewResourceTypeDoc(base, tt.rt))); diff != "" {
			t.Errorf("NewResourceTypeDoc(%s) mismatch (-want +got):\n%s", tt.rt.Name, diff)
		}
	}
}

func TestNewServiceProviderConfig(t *testing.T) {
	got := marshalMap(t, NewServiceProviderConfig("https://gate.example.com/scim/v2",
		Limits{MaxResults: 250, BulkMaxOperations: 77, BulkMaxPayload: 1 << 20}))
	want := map[string]any{
		"schemas":          []any{ServiceProviderConfigSchema},
		"documentationUri": "https://github.com/scimgate/scimgate",
		"patch":            map[string]any{"supported": true},
		"bulk":             map[string]any{"supported": true, "maxOperations": 77.0, "maxPayloadSize": 1048576.0},
		"filter":           map[string]any{"supported": true, "maxResults": 250.0},
		"changePassword":   map[string]any{"supported": false},
		"sort":             map[string]any{"supported": true},
		"etag":             map[string]any{"supported": true},
		"meta":             map[string]any{"resourceType": "ServiceProviderConfig", "location": "https://gate.example.com/scim/v2/ServiceProviderConfig"},
	}
	schemes, _ := got["authenticationSchemes"].([]any)
	delete(got, "authenticationSchemes")
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("NewServiceProviderConfig mismatch (-want +got):\n%s", diff)
	}
	if len(schemes) != 1 {
		t.Fatalf("authenticationSchemes = %v, want one", schemes)
	}
	s, _ := schemes[0].(map[string]any)
	if s["type"] != "oauthbearertoken" || s["primary"] != true || s["name"] == "" || s["description"] == "" {
		t.Errorf("authenticationSchemes[0] = %v, want a primary oauthbearertoken scheme with name and description", s)
	}
}
