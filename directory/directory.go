// Package directory holds scimgate's identity directory: tenants, users,
// groups and memberships. It applies SCIM operations to the store, each in
// one transaction together with its change event, so that the change log
// and the state can never disagree.
package directory

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/scimgate/scimgate/scim"
	"github.com/scimgate/scimgate/scim/schema"
	"github.com/scimgate/scimgate/store"
)

// Service is the directory. It is safe for concurrent use.
type Service struct {
	store      store.Store
	now        func() time.Time
	newID      func() string
	log        *slog.Logger
	maxResults int
	tokens     tokenCache
}

// Options configures a Service. Zero values select the defaults.
type Options struct {
	Now        func() time.Time // default time.Now
	NewID      func() string    // default: random UUID v4
	Logger     *slog.Logger     // default: discard
	MaxResults int              // largest page of a list; default 1000
}

// New returns a directory over s.
func New(s store.Store, o Options) *Service {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.NewID == nil {
		o.NewID = NewUUID
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.MaxResults <= 0 {
		o.MaxResults = 1000
	}
	return &Service{store: s, now: o.Now, newID: o.NewID, log: o.Logger, maxResults: o.MaxResults}
}

// MaxResults is the largest page a list returns.
func (s *Service) MaxResults() int { return s.maxResults }

// NewUUID returns a random (version 4) UUID.
func NewUUID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// Caller is who makes a SCIM call and how responses refer to resources.
type Caller struct {
	TenantID int64
	Actor    string // the SCIM token id, recorded in change events
	Base     string // SCIM base URL for meta.location and $ref, no trailing slash
}

// Resource is a resource ready to render: its document includes id, meta
// and the computed attributes the projection asked for.
type Resource struct {
	Type *schema.ResourceType
	ID   string
	Tag  string // entity tag, also meta.version
	Doc  map[string]any
}

// ETag is the resource's entity tag, also its meta.version.
func (r *Resource) ETag() string { return r.Tag }

func etag(v int64) string { return fmt.Sprintf(`W/"%d"`, v) }

// userTag is a user's entity tag. A user's representation includes its
// computed groups (direct and nested, with their names), which change
// without the user's row changing, so the tag covers them as well: a
// conditional request never sees an old representation as current.
func userTag(v int64, groups []any) string {
	if len(groups) == 0 {
		return etag(v)
	}
	h := sha256.New()
	for _, g := range groups {
		e, _ := g.(map[string]any)
		fmt.Fprintf(h, "%v\x00%v\x00%v\n", e["value"], e["type"], e["display"])
	}
	return fmt.Sprintf(`W/"%d-%x"`, v, h.Sum(nil)[:6])
}

// TagMatches reports whether an If-Match or If-None-Match header value
// names entity tag want. "*" matches any existing resource.
func TagMatches(header, want string) bool {
	for _, tag := range strings.Split(header, ",") {
		tag = strings.TrimSpace(tag)
		if tag == "*" || tag == want || "W/"+tag == want {
			return true
		}
	}
	return false
}

func storeType(rt *schema.ResourceType) string {
	if rt == schema.GroupType {
		return store.TypeGroup
	}
	return store.TypeUser
}

func notFound(rt *schema.ResourceType, id string) error {
	return scim.Errorf(scim.CodeNotFound, "%s %q not found", rt.Name, id)
}

// mapStoreErr turns store sentinels into protocol errors.
func mapStoreErr(rt *schema.ResourceType, id string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrNotFound):
		return notFound(rt, id)
	}
	return err
}

// decodeDoc decodes a stored document.
func decodeDoc(b []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("decode stored document: %w", err)
	}
	if m == nil {
		m = map[string]any{}
	}
	return m, nil
}

func encodeDoc(doc map[string]any) ([]byte, error) {
	return json.Marshal(doc)
}

// row derives the indexed columns of a resource from its document.
func row(rt *schema.ResourceType, tenant int64, id string, doc map[string]any) *store.Resource {
	r := &store.Resource{TenantID: tenant, Type: storeType(rt), ID: id, Active: true}
	r.ExternalID, _ = doc["externalId"].(string)
	if rt == schema.GroupType {
		name, _ := doc["displayName"].(string)
		r.NameKey, r.Display = nameKey(name), name
		return r
	}
	name, _ := doc["userName"].(string)
	r.NameKey, r.Display = nameKey(name), name
	if dn, _ := doc["displayName"].(string); dn != "" {
		r.Display = dn
	}
	// A user is active unless explicitly deactivated, as IdPs assume.
	r.Active = doc["active"] != false
	return r
}

// nameKey folds a userName or group displayName for uniqueness checks and
// lookups, which are case-insensitive (caseExact false in RFC 7643).
func nameKey(s string) string { return strings.ToLower(s) }

func uniquenessErr(rt *schema.ResourceType, doc map[string]any) error {
	if rt == schema.GroupType {
		return scim.Errorf(scim.CodeUniqueness, "a group with displayName %q already exists", doc["displayName"])
	}
	return scim.Errorf(scim.CodeUniqueness, "a user with userName %q already exists", doc["userName"])
}

// change builds a change event for a resource.
func change(c Caller, at time.Time, rt *schema.ResourceType, id, op string, before, after []byte) *store.Change {
	return &store.Change{
		TenantID: c.TenantID, At: at, Actor: c.Actor,
		ResourceType: storeType(rt), ResourceID: id, Op: op,
		Before: before, After: after,
	}
}

// eventDoc is what change events record of a resource: its stored
// attributes and id. Members are recorded as edges, never as a list, so
// that an event's size does not grow with the group.
func eventDoc(id string, doc map[string]any) []byte {
	m := make(map[string]any, len(doc)+1)
	for k, v := range doc {
		m[k] = v
	}
	m["id"] = id
	b, _ := json.Marshal(m)
	return b
}

func (s *Service) update(ctx context.Context, fn func(store.Tx) error) error {
	return s.store.Update(ctx, fn)
}

func (s *Service) view(ctx context.Context, fn func(store.ReadTx) error) error {
	return s.store.View(ctx, fn)
}

// marshalJSON is json.Marshal for values that always encode.
func marshalJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}
