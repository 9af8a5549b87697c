package filter

import (
	"encoding/json"

	"github.com/scimgate/scimgate/scim/schema"
)

// Test documents, shaped as stored documents are: canonical attribute names,
// extension attributes under the extension URN, dateTimes as RFC 3339
// strings. They follow the examples of RFC 7643 section 8.

const (
	bjensenID = "2819c223-7f76-453a-919d-413861904646"
	managerID = "26118915-6090-4610-87e4-49d8ca9f808d"
	groupID   = "e9e30dba-f08f-4109-8486-d5c6a331660a"
)

// bjensen is a fully populated User.
func bjensen() Map {
	return Map{
		"schemas":     []any{schema.UserURN, schema.EnterpriseURN},
		"id":          bjensenID,
		"externalId":  "BJensen-ext",
		"userName":    "bjensen@example.com",
		"displayName": "Babs Jensen",
		"nickName":    "", // empty: not present
		"title":       "Tour Guide",
		"active":      true,
		"name": map[string]any{
			"formatted":  "Ms. Barbara J Jensen III",
			"familyName": "Jensen",
			"givenName":  "Barbara",
		},
		"emails": []any{
			map[string]any{"value": "bjensen@example.com", "type": "work", "primary": true},
			map[string]any{"value": "babs@jensen.org", "type": "home"},
		},
		"phoneNumbers": []any{}, // empty: not present
		"addresses": []any{
			map[string]any{"type": "work", "streetAddress": "100 Universal City Plaza", "locality": "Hollywood", "primary": true},
		},
		"groups": []any{
			map[string]any{"value": groupID, "display": "Tour Guides", "type": "direct"},
		},
		"x509Certificates": []any{
			map[string]any{"value": "MIIDQzCCAqygAwIBAgICEAAwDQYJKoZIhvcNAQEFBQAw"},
		},
		"meta": map[string]any{
			"resourceType": "User",
			"created":      "2010-01-23T04:56:22Z",
			"lastModified": "2011-05-13T04:42:34Z",
			"version":      `W/"3694e05e9dff591"`,
			"location":     "https://example.com/v2/Users/" + bjensenID,
		},
		schema.EnterpriseURN: map[string]any{
			"employeeNumber": "701984",
			"costCenter":     "4130",
			"organization":   "Universal Studios",
			"division":       "Theme Park",
			"department":     "Tour Operations",
			"manager":        map[string]any{"value": managerID, "displayName": "John Smith"},
		},
	}
}

// minimal is a User with few attributes, a non-ASCII nickName and an
// explicitly null title.
func minimal() Map {
	return Map{
		"id":       "a1",
		"userName": "Élodie",
		"nickName": "ÉLODIE",
		"title":    nil,
		"active":   false,
		"meta":     map[string]any{"resourceType": "User", "created": "2020-06-01T12:00:00+02:00"},
	}
}

// odd is a User whose values have unexpected types, as a hand-edited or
// legacy document might: comparisons against them must not match or panic.
func odd() Map {
	return Map{
		"userName": json.Number("5"),
		"active":   "true",
		"emails":   "notalist",
		"name":     []any{"x"},
		"meta":     map[string]any{"created": "yesterday", "lastModified": 42.0},
		schema.EnterpriseURN: map[string]any{
			"manager": "not-an-object",
		},
	}
}

// tourGuides is a Group.
func tourGuides() Map {
	return Map{
		"schemas":     []any{schema.GroupURN},
		"id":          groupID,
		"displayName": "Tour Guides",
		"members": []any{
			map[string]any{"value": bjensenID, "type": "User", "display": "Babs Jensen"},
			map[string]any{"value": "902c246b-6245-4190-8e05-00816be7344a", "type": "User", "display": "Mandy Pepperidge"},
		},
		"meta": map[string]any{"resourceType": "Group", "created": "2010-01-23T04:56:22Z"},
	}
}

var docs = map[string]Map{
	"bjensen":    bjensen(),
	"minimal":    minimal(),
	"odd":        odd(),
	"tourGuides": tourGuides(),
	"empty":      {},
}
