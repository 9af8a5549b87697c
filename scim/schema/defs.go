package schema

// Schema URNs served by scimgate.
const (
	UserURN       = "urn:ietf:params:scim:schemas:core:2.0:User"
	GroupURN      = "urn:ietf:params:scim:schemas:core:2.0:Group"
	EnterpriseURN = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

	// SCIM 1.0 URNs, accepted as aliases: OneLogin templates written for
	// SCIM 1.1 still send them on its SCIM 2.0 connector, and some send
	// the same URNs with "2.0" in place of "1.0", which no RFC defines.
	core1URN            = "urn:scim:schemas:core:1.0"
	enterprise1URN      = "urn:scim:schemas:extension:enterprise:1.0"
	coreHybridURN       = "urn:scim:schemas:core:2.0"
	enterpriseHybridURN = "urn:scim:schemas:extension:enterprise:2.0"
)

func str(name, desc string) *Attribute {
	return &Attribute{Name: name, Type: String, Description: desc}
}

func readOnly(a *Attribute) *Attribute { a.Mutability = ReadOnly; return a }

func caseExact(a *Attribute) *Attribute { a.CaseExact = true; return a }

func canonical(a *Attribute, values ...string) *Attribute {
	a.CanonicalValues = values
	return a
}

// multi builds a multi-valued complex attribute with the usual value,
// display, type and primary sub-attributes.
func multi(name, desc string, valueType Type, types ...string) *Attribute {
	return &Attribute{
		Name: name, Type: Complex, MultiValued: true, Description: desc,
		SubAttributes: []*Attribute{
			{Name: "value", Type: valueType, Description: "The attribute's significant value."},
			str("display", "A human-readable name, primarily used for display purposes."),
			canonical(str("type", "A label indicating the attribute's function."), types...),
			{Name: "primary", Type: Boolean, Description: "Indicates the preferred value for this attribute."},
		},
	}
}

// photos is the photos attribute: its values are external references.
func photos() *Attribute {
	a := multi("photos", "URLs of photos of the User.", Reference, "photo", "thumbnail")
	a.SubAttributes[0].ReferenceTypes = []string{"external"}
	return a
}

// Common holds the attributes every resource carries (RFC 7643 section 3.1).
// It is not served as a schema of its own.
var Common = index(&Schema{
	ID: "common",
	Attributes: []*Attribute{
		{Name: "id", Type: String, CaseExact: true, Mutability: ReadOnly, Returned: Always, Uniqueness: Server,
			Description: "Unique identifier for the SCIM resource as defined by the service provider."},
		caseExact(str("externalId", "Identifier for the resource as defined by the provisioning client.")),
		{Name: "meta", Type: Complex, Mutability: ReadOnly, Description: "Resource metadata.",
			SubAttributes: []*Attribute{
				caseExact(readOnly(str("resourceType", "The name of the resource type of the resource."))),
				{Name: "created", Type: DateTime, Mutability: ReadOnly, Description: "When the resource was added."},
				{Name: "lastModified", Type: DateTime, Mutability: ReadOnly, Description: "When the resource was last modified."},
				{Name: "location", Type: Reference, ReferenceTypes: []string{"uri"}, CaseExact: true, Mutability: ReadOnly,
					Description: "The URI of the resource being returned."},
				caseExact(readOnly(str("version", "The version (ETag) of the resource."))),
			}},
	},
})

// User is the core User schema (RFC 7643 section 4.1).
var User = index(&Schema{
	ID: UserURN, Name: "User", Description: "User Account", Aliases: []string{core1URN, coreHybridURN},
	Attributes: []*Attribute{
		{Name: "userName", Type: String, Required: true, Uniqueness: Server,
			Description: "Unique identifier for the User, typically used to sign in; unique per tenant, case-insensitively."},
		{Name: "name", Type: Complex, Description: "The components of the user's real name.",
			SubAttributes: []*Attribute{
				str("formatted", "The full name, formatted for display."),
				str("familyName", "The family name of the User."),
				str("givenName", "The given name of the User."),
				str("middleName", "The middle name(s) of the User."),
				str("honorificPrefix", "The honorific prefix(es) of the User."),
				str("honorificSuffix", "The honorific suffix(es) of the User."),
			}},
		str("displayName", "The name of the User, suitable for display to end-users."),
		str("nickName", "The casual way to address the user."),
		{Name: "profileUrl", Type: Reference, ReferenceTypes: []string{"external"}, Description: "A URI of the User's online profile."},
		str("title", "The user's title."),
		str("userType", "Identifies the relationship between the organization and the user."),
		str("preferredLanguage", "The User's preferred written or spoken language."),
		str("locale", "The User's default location."),
		str("timezone", "The User's time zone in the IANA Time Zone database format."),
		{Name: "active", Type: Boolean, Description: "The User's administrative status; false means no access."},
		{Name: "password", Type: String, Mutability: WriteOnly, Returned: Never,
			Description: "Accepted and discarded: scimgate never stores or returns passwords."},
		multi("emails", "Email addresses for the user.", String, "work", "home", "other"),
		multi("phoneNumbers", "Phone numbers for the User.", String, "work", "home", "mobile", "fax", "pager", "other"),
		multi("ims", "Instant messaging addresses for the User.", String, "aim", "gtalk", "icq", "xmpp", "msn", "skype", "qq", "yahoo"),
		photos(),
		{Name: "addresses", Type: Complex, MultiValued: true, Description: "A physical mailing address for this User.",
			SubAttributes: []*Attribute{
				str("formatted", "The full mailing address, formatted for display."),
				str("streetAddress", "The full street address component."),
				str("locality", "The city or locality component."),
				str("region", "The state or region component."),
				str("postalCode", "The zip code or postal code component."),
				str("country", "The country name component."),
				canonical(str("type", "A label indicating the attribute's function."), "work", "home", "other"),
				{Name: "primary", Type: Boolean, Description: "Indicates the preferred mailing address."},
			}},
		{Name: "groups", Type: Complex, MultiValued: true, Mutability: ReadOnly,
			Description: "The groups the user belongs to, directly or through nested groups; computed, read-only.",
			SubAttributes: []*Attribute{
				caseExact(readOnly(str("value", "The identifier of the User's group."))),
				{Name: "$ref", Type: Reference, ReferenceTypes: []string{"Group"}, CaseExact: true, Mutability: ReadOnly,
					Description: "The URI of the corresponding Group resource."},
				readOnly(str("display", "A human-readable name, primarily used for display purposes.")),
				canonical(readOnly(str("type", "direct, or indirect through nested groups.")), "direct", "indirect"),
			}},
		multi("entitlements", "A list of entitlements for the User.", String),
		multi("roles", "A list of roles for the User.", String),
		multi("x509Certificates", "A list of certificates issued to the User.", Binary),
	},
})

// Group is the core Group schema (RFC 7643 section 4.2).
var Group = index(&Schema{
	ID: GroupURN, Name: "Group", Description: "Group", Aliases: []string{core1URN, coreHybridURN},
	Attributes: []*Attribute{
		{Name: "displayName", Type: String, Required: true, Uniqueness: Server,
			Description: "A human-readable name for the Group; unique per tenant, case-insensitively."},
		{Name: "members", Type: Complex, MultiValued: true, Description: "A list of members of the Group.",
			SubAttributes: []*Attribute{
				{Name: "value", Type: String, CaseExact: true, Mutability: Immutable, Required: true,
					Description: "Identifier of the member of this Group."},
				{Name: "$ref", Type: Reference, ReferenceTypes: []string{"User", "Group"}, CaseExact: true, Mutability: Immutable,
					Description: "The URI corresponding to a SCIM resource that is a member of this Group."},
				{Name: "type", Type: String, CanonicalValues: []string{"User", "Group"}, Mutability: Immutable,
					Description: "A label indicating the type of resource, e.g., 'User' or 'Group'."},
				readOnly(str("display", "The member's current display name; computed, read-only.")),
			}},
	},
})

// Enterprise is the Enterprise User extension (RFC 7643 section 4.3).
var Enterprise = index(&Schema{
	ID: EnterpriseURN, Name: "EnterpriseUser", Description: "Enterprise User", Extension: true,
	Aliases: []string{enterprise1URN, enterpriseHybridURN},
	Attributes: []*Attribute{
		str("employeeNumber", "Numeric or alphanumeric identifier assigned to a person."),
		str("costCenter", "Identifies the name of a cost center."),
		str("organization", "Identifies the name of an organization."),
		str("division", "Identifies the name of a division."),
		str("department", "Identifies the name of a department."),
		{Name: "manager", Type: Complex, Description: "The User's manager.",
			SubAttributes: []*Attribute{
				{Name: "value", Type: String, CaseExact: true, Aliases: []string{"managerId"},
					Description: "The id of the SCIM resource representing the User's manager (SCIM 1.1: managerId)."},
				{Name: "$ref", Type: Reference, ReferenceTypes: []string{"User"}, CaseExact: true,
					Description: "The URI of the SCIM resource representing the User's manager."},
				readOnly(str("displayName", "The displayName of the User's manager.")),
			}},
	},
})

// UserType and GroupType are the resource types scimgate serves.
var (
	UserType = &ResourceType{
		ID: "User", Name: "User", Endpoint: "/Users", Description: "User Account",
		Schema:     User,
		Extensions: []Extension{{Schema: Enterprise}},
	}
	GroupType = &ResourceType{
		ID: "Group", Name: "Group", Endpoint: "/Groups", Description: "Group",
		Schema: Group,
	}
)

// ResourceTypes lists every served resource type in a stable order.
var ResourceTypes = []*ResourceType{UserType, GroupType}

// Schemas lists every served schema in a stable order.
var Schemas = []*Schema{User, Group, Enterprise}
