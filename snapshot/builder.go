package snapshot

import "slices"

// Builder assembles a snapshot piece by piece, for a directory other than
// the store's current one: package audit builds the directory as it was
// at a past time from the store's temporal index, and decides on it with
// the engine, so that point-in-time answers follow the live rules.
//
// Add tenants, then groups, then users, then memberships. Groups get
// their indexes in the order they are added: add them in creation order,
// as Load and Apply do, and group paths break ties alike.
type Builder struct {
	e *editor
}

// NewBuilder starts an empty snapshot whose last change is seq.
func NewBuilder(seq int64) *Builder {
	e := empty().edit()
	e.s.Seq = seq
	return &Builder{e: e}
}

// AddTenant adds a tenant.
func (b *Builder) AddTenant(id int64, name string) { b.e.s.tenants[name] = id }

// AddGroup adds a group.
func (b *Builder) AddGroup(k Key, displayName string) { b.e.putGroup(k, displayName) }

// AddUser adds a user with its userName and state.
func (b *Builder) AddUser(k Key, userName string, active bool) {
	b.e.putUser(k, &userDoc{UserName: userName, Active: &active})
}

// AddMember adds a direct membership of member (a user or, when isGroup,
// a group) in group. Memberships naming a group or user not added are
// ignored, as Apply ignores them.
func (b *Builder) AddMember(tenant int64, group, member string, isGroup bool) {
	b.e.addFreshEdge(tenant, group, member, isGroup)
}

// Snapshot returns the snapshot built; the Builder must not be used
// after.
func (b *Builder) Snapshot() *Snapshot {
	b.e.users.done().each(func(_ Key, u *User) {
		slices.Sort(u.Groups)
		u.Groups = slices.Compact(u.Groups)
	})
	b.e.nesting = true
	return b.e.done()
}
