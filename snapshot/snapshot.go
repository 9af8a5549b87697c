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
	"unicode"
	"unicode/utf8"
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
	Email       string   // primary email, else the first
	Emails      []string // every email, lower-cased
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

// Session is a browser session.
type Session struct {
	ID       string
	Owner    Key
	Hash     [32]byte
	Expires  time.Time // absolute
	LastSeen time.Time // as last stored; activity since is tracked in memory
	Revoked  bool
}

// attrKey indexes users by an attribute that need not be unique: kind 'x'
// for externalId, 'e' for an email (lower-cased).
type attrKey struct {
	Tenant int64
	Kind   byte
	Value  string
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

	users    *shardMap[Key, *User]
	names    *shardMap[nameKey, Key]
	attrs    *shardMap[attrKey, []Key]
	tokens   *shardMap[string, *Token]
	sessions *shardMap[string, *Session]

	tenants map[string]int64 // tenant name -> id

	groups    []*Group                   // by index; nil once deleted
	groupIdx  *shardMap[Key, int32]      // group key -> index
	ancestors [][]int32                  // by index: the group and every group above it
	byName    *shardMap[string, []int32] // lower-cased displayName -> indexes
}

func empty() *Snapshot {
	return &Snapshot{
		users:    newShardMap[Key, *User](hashKey),
		names:    newShardMap[nameKey, Key](func(k nameKey) uint64 { return hashString(k.Name) ^ uint64(k.Tenant) }),
		attrs:    newShardMap[attrKey, []Key](func(k attrKey) uint64 { return hashString(k.Value) ^ uint64(k.Tenant) ^ uint64(k.Kind)<<56 }),
		tokens:   newShardMap[string, *Token](hashString),
		sessions: newShardMap[string, *Session](hashString),
		tenants:  map[string]int64{},
		groupIdx: newShardMap[Key, int32](hashKey),
		byName:   newShardMap[string, []int32](hashString),
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

// UserBy finds the one user of a tenant whose attribute has value:
// attribute "userName", "externalId" or "email" (userNames and emails
// match case-insensitively). ok is false when none or several match.
//
// A value with a character outside ASCII that lower-cases into ASCII
// (KELVIN SIGN to "k") matches nobody: "\u212Aate@x.test" is not
// kate@x.test, whom it would name after folding.
func (s *Snapshot) UserBy(tenant int64, attribute, value string) (*User, bool) {
	for _, r := range value {
		if r >= utf8.RuneSelf && unicode.ToLower(r) < utf8.RuneSelf {
			return nil, false
		}
	}
	switch strings.ToLower(attribute) {
	case "username", "":
		return s.UserByName(tenant, strings.ToLower(value))
	case "externalid":
		return s.userByAttr(attrKey{tenant, 'x', value})
	case "email":
		return s.userByAttr(attrKey{tenant, 'e', strings.ToLower(value)})
	}
	return nil, false
}

func (s *Snapshot) userByAttr(k attrKey) (*User, bool) {
	keys, _ := s.attrs.get(k)
	if len(keys) != 1 {
		return nil, false
	}
	return s.users.get(keys[0])
}

// attrKeys lists the attribute index entries of a user.
func attrKeys(u *User) []attrKey {
	var out []attrKey
	if u.ExternalID != "" {
		out = append(out, attrKey{u.Tenant, 'x', u.ExternalID})
	}
	for _, e := range u.Emails {
		out = append(out, attrKey{u.Tenant, 'e', e})
	}
	return out
}

// Session returns a session by id.
func (s *Snapshot) Session(id string) (*Session, bool) { return s.sessions.get(id) }

// TenantID returns the id of the tenant with the given name.
func (s *Snapshot) TenantID(name string) (int64, bool) {
	if id, ok := s.tenants[name]; ok {
		return id, true
	}
	// Policies write tenant names by hand ("Acme/contractors"): another
	// case names the same tenant, unless two tenants differ only in case.
	var found int64
	n := 0
	for tn, id := range s.tenants {
		if strings.EqualFold(tn, name) {
			found = id
			n++
		}
	}
	return found, n == 1
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
	i, ok := s.groupIdx.get(k)
	if !ok {
		return nil, false
	}
	return s.groups[i], true
}

// NumGroupIndexes bounds every group index: indexes are below it.
func (s *Snapshot) NumGroupIndexes() int { return len(s.groups) }

// GroupsNamed returns the indexes of the groups with a displayName, matched
// case-insensitively (name must be lower-cased), across tenants.
func (s *Snapshot) GroupsNamed(name string) []int32 {
	list, _ := s.byName.get(name)
	return list
}

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

// EachToken calls fn for every access token, revoked and expired ones
// included, in no particular order.
func (s *Snapshot) EachToken(fn func(*Token)) { s.tokens.each(func(_ string, t *Token) { fn(t) }) }

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
		for _, ak := range attrKeys(u) {
			if keys, _ := s.attrs.get(ak); !slices.Contains(keys, k) {
				errs = append(errs, fmt.Errorf("user %v is not indexed by %c %q", k, ak.Kind, ak.Value))
			}
		}
	})
	s.attrs.each(func(ak attrKey, keys []Key) {
		for _, k := range keys {
			if u, ok := s.users.get(k); !ok || !slices.Contains(attrKeys(u), ak) {
				errs = append(errs, fmt.Errorf("%c %q indexes %v, which does not have it", ak.Kind, ak.Value, k))
			}
		}
		if len(keys) == 0 {
			errs = append(errs, fmt.Errorf("%c %q indexes nobody", ak.Kind, ak.Value))
		}
	})
	groups := len(s.groups) - countNil(s.groups)
	if s.groupIdx.len() != groups {
		errs = append(errs, fmt.Errorf("%d groups indexed by key, %d groups", s.groupIdx.len(), groups))
	}
	named := 0
	s.byName.each(func(name string, list []int32) {
		for _, i := range list {
			named++
			if g := s.Group(i); g == nil || strings.ToLower(g.Name) != name {
				errs = append(errs, fmt.Errorf("group name %q indexes group %d, which does not have it", name, i))
			}
		}
	})
	if named != groups {
		errs = append(errs, fmt.Errorf("%d group names indexed, %d groups", named, groups))
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
