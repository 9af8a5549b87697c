// Package store defines the persistence contract shared by every scimgate
// backend (SQLite now, Postgres later) and the types that cross it. The
// contract is deliberately dumb: it stores rows and enforces the invariants
// only a database can (uniqueness, atomicity, durability, ordering). SCIM
// semantics live above it, in package directory.
//
// The conformance suite in store/storetest states the contract as tests;
// every backend must pass it.
package store

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors callers branch on. Backends wrap them with %w.
var (
	ErrNotFound = errors.New("not found")
	// ErrConflict reports a uniqueness violation (tenant name, userName,
	// group displayName).
	ErrConflict = errors.New("conflict")
	// ErrClosed is returned by every method once the store is closed.
	ErrClosed = errors.New("store closed")
)

// Resource types stored as rows, and the change-log types of credentials.
const (
	TypeUser        = "User"
	TypeGroup       = "Group"
	TypeAccessToken = "AccessToken"
	TypeTenant      = "Tenant"
	TypeSession     = "Session"
)

// Tenant is one identity-provider connection. Every resource, token and
// change belongs to exactly one tenant.
type Tenant struct {
	ID      int64
	Name    string
	Created time.Time
}

// Token is a SCIM bearer token. Only a hash of its secret is stored.
type Token struct {
	ID          string // public identifier, part of the bearer string
	TenantID    int64
	Hash        []byte // SHA-256 of the secret part
	Description string
	Created     time.Time
	Expires     time.Time // zero: never
	LastUsed    time.Time // zero: never
	Revoked     time.Time // zero: not revoked
}

// AccessToken is an API token owned by a directory user, for scripts,
// services and agents. Only a hash of its secret is stored.
type AccessToken struct {
	ID          string
	TenantID    int64
	UserID      string
	Hash        []byte // SHA-256 of the secret part
	Description string
	Created     time.Time
	Expires     time.Time // zero: never
	Revoked     time.Time // zero: not revoked
}

// Session is a browser session after sign-in. Only a hash of the cookie's
// secret is stored.
type Session struct {
	ID        string
	TenantID  int64
	UserID    string
	Hash      []byte // SHA-256 of the secret part of the cookie
	Created   time.Time
	LastSeen  time.Time
	Expires   time.Time // absolute end, whatever the activity
	Revoked   time.Time // zero: not revoked
	IDToken   string    // the ID token of the sign-in, for RP-initiated logout
	UserAgent string
	Remote    string
}

// SigningKey is a private key the gateway signs assertions with.
type SigningKey struct {
	ID      string
	Alg     string // "ES256"
	Private []byte // PKCS #8, DER
	Created time.Time
}

// Resource is one stored SCIM resource. Doc holds the resource's attributes
// as JSON (without id, meta, members and computed attributes); the other
// fields are the columns the store indexes or the directory needs without
// decoding Doc.
type Resource struct {
	TenantID   int64
	Type       string // TypeUser or TypeGroup
	ID         string
	NameKey    string // case-folded userName or displayName; unique per tenant and type
	ExternalID string
	Display    string // what members[].display shows for this resource
	Active     bool   // users: the active attribute; groups: always true
	Version    int64  // incremented on every change, members included
	Created    time.Time
	Modified   time.Time
	Doc        []byte
}

// Member is one direct membership edge of a group.
type Member struct {
	ID      string // member resource id
	Type    string // TypeUser or TypeGroup
	Display string // filled on reads from the member's Display
}

// EdgeChange is one membership edge added or removed by a change.
type EdgeChange struct {
	Group      string `json:"group"`
	Member     string `json:"member"`
	MemberType string `json:"type"`
	Added      bool   `json:"added"`
}

// Change operations.
const (
	OpCreate  = "create"
	OpReplace = "replace"
	OpPatch   = "patch"
	OpDelete  = "delete"
	OpRevoke  = "revoke"
)

// Change is one entry of the change log. It is appended in the same
// transaction as the state change it describes.
type Change struct {
	Seq          int64 // assigned by the store: strictly increasing in commit order
	TenantID     int64
	At           time.Time
	Actor        string // who made the change: a token id, "cli", "system"
	ResourceType string // TypeUser, TypeGroup, "Tenant", "ScimToken"
	ResourceID   string
	Op           string
	Before       []byte // JSON of the resource before; nil on create
	After        []byte // JSON of the resource after; nil on delete
	Edges        []EdgeChange
	// Detail holds JSON with anything else worth keeping, such as member
	// ids a PATCH skipped because they do not exist.
	Detail []byte
	// Prev and Hash chain the log (see HashChange); set by AppendChange.
	Prev, Hash []byte
}

// Page selects a window of an ordered listing.
type Page struct {
	Offset int // 0-based
	Limit  int // <0: no limit
}

// Store is the persistence contract.
type Store interface {
	// Update runs fn in a read-write transaction. When Update returns nil the
	// transaction is durable (it survives a crash of the process or the
	// machine) and every commit hook has seen its changes. When fn returns
	// an error nothing it wrote is kept and Update returns that error.
	// Backends may commit several Updates together; each fn still sees the
	// effects of the ones ordered before it and none of the others.
	Update(ctx context.Context, fn func(Tx) error) error
	// View runs fn in a read-only transaction over a consistent snapshot of
	// committed state.
	View(ctx context.Context, fn func(ReadTx) error) error
	// OnCommit registers a hook called with the changes of every committed
	// transaction, in sequence order, before the Update that made them
	// returns. Hooks must be fast and must not call the store.
	OnCommit(hook func([]Change))
	Close() error
}

// ReadTx reads committed state.
type ReadTx interface {
	AuditReadTx
	AuditExportReadTx
	HistoryReadTx
	Tenant(ctx context.Context, id int64) (Tenant, error)
	TenantByName(ctx context.Context, name string) (Tenant, error)
	Tenants(ctx context.Context) ([]Tenant, error)

	Token(ctx context.Context, id string) (Token, error)
	Tokens(ctx context.Context, tenantID int64) ([]Token, error)

	// Resource returns the resource with the given id of the given type.
	Resource(ctx context.Context, tenantID int64, typ, id string) (*Resource, error)
	// ResourceByName looks a resource up by its case-folded name key.
	ResourceByName(ctx context.Context, tenantID int64, typ, nameKey string) (*Resource, error)
	// ResourcesByExternalID returns every resource with that externalId.
	ResourcesByExternalID(ctx context.Context, tenantID int64, typ, externalID string) ([]*Resource, error)
	// Resources lists resources in creation order.
	Resources(ctx context.Context, tenantID int64, typ string, page Page) ([]*Resource, error)
	// CountResources counts the resources of one type.
	CountResources(ctx context.Context, tenantID int64, typ string) (int, error)
	// ScanResources calls fn for every resource of one type in creation
	// order, stopping at the first error, which it returns.
	ScanResources(ctx context.Context, tenantID int64, typ string, fn func(*Resource) error) error

	// Members lists a group's direct members, with Display filled in, in
	// the order they were added.
	Members(ctx context.Context, tenantID int64, groupID string) ([]Member, error)
	// MemberCount counts a group's direct members.
	MemberCount(ctx context.Context, tenantID int64, groupID string) (int, error)
	// HasMember reports whether memberID is a direct member of groupID.
	HasMember(ctx context.Context, tenantID int64, groupID, memberID string) (bool, error)
	// ParentGroups lists the groups memberID is a direct member of, with
	// Display holding each group's display name.
	ParentGroups(ctx context.Context, tenantID int64, memberID string) ([]Member, error)
	// MemberGroups lists the ids of the groups that are direct members of
	// groupID.
	MemberGroups(ctx context.Context, tenantID int64, groupID string) ([]string, error)

	// Memberships calls fn for every membership edge of a tenant, stopping
	// at the first error, which it returns.
	Memberships(ctx context.Context, tenantID int64, fn func(groupID, memberID, memberType string) error) error

	// AccessToken returns an access token by id.
	AccessToken(ctx context.Context, id string) (AccessToken, error)
	// AccessTokens lists a tenant's access tokens, or one user's when
	// userID is not empty.
	AccessTokens(ctx context.Context, tenantID int64, userID string) ([]AccessToken, error)

	// SigningKeys lists the signing keys, oldest first.
	SigningKeys(ctx context.Context) ([]SigningKey, error)

	// Session returns a session by id.
	Session(ctx context.Context, id string) (Session, error)
	// Sessions lists a tenant's sessions, or one user's when userID is set.
	Sessions(ctx context.Context, tenantID int64, userID string) ([]Session, error)

	// Changes returns up to limit changes with Seq > after, in order.
	Changes(ctx context.Context, after int64, limit int) ([]Change, error)
	// LastSeq is the sequence number of the last change, 0 when none.
	LastSeq(ctx context.Context) (int64, error)
}

// Tx reads and writes inside one transaction.
type Tx interface {
	ReadTx
	AuditTx
	AuditExportTx

	// CreateTenant adds a tenant; ErrConflict if the name is taken.
	CreateTenant(ctx context.Context, name string, at time.Time) (Tenant, error)

	PutToken(ctx context.Context, t Token) error
	RevokeToken(ctx context.Context, id string, at time.Time) error
	// TouchToken records the last use of a token.
	TouchToken(ctx context.Context, id string, at time.Time) error

	// InsertResource adds a resource; ErrConflict if its NameKey is taken.
	InsertResource(ctx context.Context, r *Resource) error
	// UpdateResource overwrites a resource's row; ErrNotFound if missing,
	// ErrConflict if its new NameKey is taken.
	UpdateResource(ctx context.Context, r *Resource) error
	// DeleteResource removes a resource and every membership edge that
	// names it, as group or as member, and returns those edges.
	DeleteResource(ctx context.Context, tenantID int64, typ, id string) ([]EdgeChange, error)

	// AddMembers adds edges to a group, ignoring ones that exist, and
	// returns the edges it actually added.
	AddMembers(ctx context.Context, tenantID int64, groupID string, members []Member) ([]EdgeChange, error)
	// RemoveMembers removes edges from a group, ignoring ones that do not
	// exist, and returns the edges it actually removed.
	RemoveMembers(ctx context.Context, tenantID int64, groupID string, memberIDs []string) ([]EdgeChange, error)
	// ClearMembers removes every member of a group and returns the edges.
	ClearMembers(ctx context.Context, tenantID int64, groupID string) ([]EdgeChange, error)

	// PutAccessToken adds an access token.
	PutAccessToken(ctx context.Context, t AccessToken) error
	// RevokeAccessToken revokes a token; ErrNotFound unless it exists and
	// is not revoked yet.
	RevokeAccessToken(ctx context.Context, id string, at time.Time) error
	// DeleteAccessTokens deletes every access token of a user and returns
	// their ids.
	DeleteAccessTokens(ctx context.Context, tenantID int64, userID string) ([]string, error)

	// PutSigningKey adds a signing key.
	PutSigningKey(ctx context.Context, k SigningKey) error

	// PutSession adds a session.
	PutSession(ctx context.Context, s Session) error
	// RevokeSession revokes a session; ErrNotFound unless it exists and is
	// not revoked yet.
	RevokeSession(ctx context.Context, id string, at time.Time) error
	// TouchSession records a session's last activity.
	TouchSession(ctx context.Context, id string, at time.Time) error
	// DeleteSessions deletes every session of a user and returns their ids.
	DeleteSessions(ctx context.Context, tenantID int64, userID string) ([]string, error)
	// PurgeSessions deletes at most limit sessions that expired, or were
	// revoked, before before, and returns them.
	PurgeSessions(ctx context.Context, before time.Time, limit int) ([]Session, error)

	// AppendChange adds c to the change log and sets c.Seq, c.Prev and
	// c.Hash.
	AppendChange(ctx context.Context, c *Change) error
}
