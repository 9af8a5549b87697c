// Package snapshot is the gate's live view of the directory: an immutable,
// in-memory snapshot of users (active or not), groups, transitive group
// membership and access tokens, swapped atomically. Decisions read it
// through a pointer and never touch the database.
//
// A Live keeps the current snapshot: it loads it once from the store, then
// applies every committed change in sequence order, from the store's commit
// hook (so a SCIM change is visible to decisions before the SCIM response is
// written) and by tailing the change log (for changes other processes make,
// such as a token revoked from the command line).
package snapshot

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Key identifies a user or group: its tenant and SCIM id.
type Key struct {
	Tenant int64
	ID     string
}

// User is a directory user as the gate sees it.
type User struct {
	Key
	UserName    string // as provisioned
	NameKey     string // lower-cased userName, for lookups and policy
	ExternalID  string
	Email       string // primary email, else the first
	DisplayName string
	Active      bool
	Groups      []int32 // direct groups, by index, sorted
}

// Group is a directory group.
type Group struct {
	Key
	Index   int32
	Name    string  // displayName
	Parents []int32 // groups this group is a direct member of, sorted
}

// Token is an access token.
type Token struct {
	ID      string
	Owner   Key
	Hash    [32]byte
	Expires time.Time // zero: never
	Revoked bool
}

// nameKey indexes users by tenant and lower-cased userName.
type nameKey struct {
	Tenant int64
	Name   string
}

// Snapshot is one immutable version of the directory view.
type Snapshot struct {
	// Seq is the last change applied.
	Seq int64
	// GroupGen changes whenever groups are created, renamed, deleted or
	// nested differently: bindings of policy group names to group indexes
	// stay valid while it does not.
	GroupGen int64

	users  *shardMap[Key, *User]
	names  *shardMap[nameKey, Key]
	tokens *shardMap[string, *Token]

	tenants map[string]int64 // tenant name -> id

	groups    []*Group           // by index; nil once deleted
	groupIdx  map[Key]int32      // group key -> index
	ancestors [][]int32          // by index: the group and every group above it
	byName    map[string][]int32 // lower-cased displayName -> indexes
}

func empty() *Snapshot {
	return &Snapshot{
		users:    newShardMap[Key, *User](hashKey),
		names:    newShardMap[nameKey, Key](func(k nameKey) uint64 { return hashString(k.Name) ^ uint64(k.Tenant) }),
		tokens:   newShardMap[string, *Token](hashString),
		tenants:  map[string]int64{},
		groupIdx: map[Key]int32{},
		byName:   map[string][]int32{},
	}
}

// User returns a user by key.
func (s *Snapshot) User(k Key) (*User, bool) { return s.users.get(k) }

// UserByName returns a tenant's user by userName, case-insensitively
// (nameKey must already be lower-cased).
func (s *Snapshot) UserByName(tenant int64, nameKey string) (*User, bool) {
	k, ok := s.names.get(nameKeyOf(tenant, nameKey))
	if !ok {
		return nil, false
	}
	return s.users.get(k)
}

func nameKeyOf(tenant int64, name string) nameKey { return nameKey{Tenant: tenant, Name: name} }

// TenantID returns the id of the tenant with the given name.
func (s *Snapshot) TenantID(name string) (int64, bool) {
	id, ok := s.tenants[name]
	return id, ok
}

// TenantIDs calls fn for every tenant id.
func (s *Snapshot) TenantIDs(fn func(int64)) {
	for _, id := range s.tenants {
		fn(id)
	}
}

// Token returns an access token by id.
func (s *Snapshot) Token(id string) (*Token, bool) { return s.tokens.get(id) }

// Group returns a group by index; nil when there is none.
func (s *Snapshot) Group(i int32) *Group {
	if i < 0 || int(i) >= len(s.groups) {
		return nil
	}
	return s.groups[i]
}

// GroupByKey returns a group by tenant and id.
func (s *Snapshot) GroupByKey(k Key) (*Group, bool) {
	i, ok := s.groupIdx[k]
	if !ok {
		return nil, false
	}
	return s.groups[i], true
}

// NumGroupIndexes bounds every group index: indexes are below it.
func (s *Snapshot) NumGroupIndexes() int { return len(s.groups) }

// GroupsNamed returns the indexes of the groups with a displayName, matched
// case-insensitively (name must be lower-cased), across tenants.
func (s *Snapshot) GroupsNamed(name string) []int32 { return s.byName[name] }

// Ancestors returns the group at index i and every group it is nested in,
// directly or not.
func (s *Snapshot) Ancestors(i int32) []int32 {
	if i < 0 || int(i) >= len(s.ancestors) {
		return nil
	}
	return s.ancestors[i]
}

// Counts reports the number of users, groups and tokens.
func (s *Snapshot) Counts() (users, groups, tokens int) {
	for _, g := range s.groups {
		if g != nil {
			groups++
		}
	}
	return s.users.len(), groups, s.tokens.len()
}

// EachUser calls fn for every user, in no particular order.
func (s *Snapshot) EachUser(fn func(*User)) { s.users.each(func(_ Key, u *User) { fn(u) }) }

// GroupNames returns the display names of every group a user belongs to,
// directly or through nesting, sorted and without duplicates.
func (s *Snapshot) GroupNames(u *User) []string {
	var names []string
	seen := map[int32]bool{}
	for _, g := range u.Groups {
		for _, a := range s.Ancestors(g) {
			if !seen[a] {
				seen[a] = true
				if grp := s.Group(a); grp != nil {
					names = append(names, grp.Name)
				}
			}
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// Verify checks the snapshot's indexes against each other: every name
// index entry names a user with that name and every user is indexed, every
// group is indexed by key and name. It is for tests and debugging.
func (s *Snapshot) Verify() error {
	var errs []error
	s.names.each(func(nk nameKey, k Key) {
		if u, ok := s.users.get(k); !ok || u.NameKey != nk.Name || u.Tenant != nk.Tenant {
			errs = append(errs, fmt.Errorf("name %q of tenant %d indexes %v, which does not have it", nk.Name, nk.Tenant, k))
		}
	})
	s.users.each(func(k Key, u *User) {
		if got, ok := s.names.get(nameKeyOf(k.Tenant, u.NameKey)); !ok || got != k {
			errs = append(errs, fmt.Errorf("user %v is not indexed by name %q", k, u.NameKey))
		}
	})
	if len(s.groupIdx) != len(s.groups)-countNil(s.groups) {
		errs = append(errs, fmt.Errorf("%d groups indexed by key, %d groups", len(s.groupIdx), len(s.groups)-countNil(s.groups)))
	}
	named := 0
	for name, list := range s.byName {
		for _, i := range list {
			named++
			if g := s.Group(i); g == nil || strings.ToLower(g.Name) != name {
				errs = append(errs, fmt.Errorf("group name %q indexes group %d, which does not have it", name, i))
			}
		}
	}
	if named != len(s.groupIdx) {
		errs = append(errs, fmt.Errorf("%d group names indexed, %d groups", named, len(s.groupIdx)))
	}
	return errors.Join(errs...)
}

func countNil(gs []*Group) int {
	n := 0
	for _, g := range gs {
		if g == nil {
			n++
		}
	}
	return n
}
