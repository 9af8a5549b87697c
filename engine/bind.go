package engine

import (
	"fmt"
	"slices"
	"strings"

	"github.com/scimgate/scimgate/policy"
	"github.com/scimgate/scimgate/snapshot"
)

// bindings are a policy's group and user names resolved against one
// generation of the directory's groups and tenants. Decisions then test
// bits instead of comparing names.
type bindings struct {
	policy   *policy.Policy
	gen      int64 // snapshot.GroupGen the groups were bound for
	routes   []routeBinding
	warnings []string
}

type routeBinding struct {
	allowGroups, denyGroups bitset
	allowUsers, denyUsers   userRules
}

// bitset holds group indexes.
type bitset []uint64

func (b bitset) has(i int32) bool {
	w := int(i >> 6)
	return w < len(b) && b[w]&(1<<(uint(i)&63)) != 0
}

func (b *bitset) set(i int32) {
	w := int(i >> 6)
	for len(*b) <= w {
		*b = append(*b, 0)
	}
	(*b)[w] |= 1 << (uint(i) & 63)
}

// member reports whether the user is in one of the set's groups, directly
// or through nesting.
func (b bitset) member(s *snapshot.Snapshot, u *snapshot.User) bool {
	if len(b) == 0 {
		return false
	}
	for _, g := range u.Groups {
		for _, a := range s.Ancestors(g) {
			if b.has(a) {
				return true
			}
		}
	}
	return false
}

// userRule names a user: in one tenant, or (tenant 0) by a userName in
// any tenant (see allows and denies).
type userRule struct {
	tenant int64
	name   string
}

type userRules []userRule

// allows reports whether an allow rule names u: an unqualified name only
// while no other tenant has a user of that name.
func (rs userRules) allows(s *snapshot.Snapshot, u *snapshot.User) bool {
	for _, r := range rs {
		if r.name != u.NameKey {
			continue
		}
		if r.tenant != 0 {
			if r.tenant == u.Tenant {
				return true
			}
			continue
		}
		if uniqueName(s, u) {
			return true
		}
	}
	return false
}

// denies reports whether a deny rule names u: an unqualified name in every
// tenant, so that another identity provider creating a user of the same
// name cannot switch the rule off.
func (rs userRules) denies(u *snapshot.User) bool {
	for _, r := range rs {
		if r.name == u.NameKey && (r.tenant == 0 || r.tenant == u.Tenant) {
			return true
		}
	}
	return false
}

// uniqueName reports whether no other tenant has a user with u's name: an
// unqualified name must not let one identity provider grant access to a
// user another provider also created.
func uniqueName(s *snapshot.Snapshot, u *snapshot.User) bool {
	unique := true
	s.TenantIDs(func(id int64) {
		if id != u.Tenant {
			if _, ok := s.UserByName(id, u.NameKey); ok {
				unique = false
			}
		}
	})
	return unique
}

// bindingsFor returns the bindings for s, binding again when the policy or
// the directory's groups changed.
func (e *Engine) bindingsFor(s *snapshot.Snapshot) *bindings {
	p := e.policy.Load()
	if b := e.bound.Load(); b != nil && b.gen == s.GroupGen && b.policy == p {
		return b
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if b := e.bound.Load(); b != nil && b.gen == s.GroupGen && b.policy == p {
		return b
	}
	b := bind(p, s)
	old := e.bound.Load()
	// A decision on an older snapshot must not replace newer bindings.
	if old == nil || old.policy != p || old.gen <= s.GroupGen {
		e.bound.Store(b)
		if old == nil || !slices.Equal(old.warnings, b.warnings) {
			for _, w := range b.warnings {
				e.log.Warn("policy name not bound", "problem", w)
			}
		}
	}
	return b
}

// Warnings reports the policy names that match nothing or are ambiguous in
// the current directory.
func (e *Engine) Warnings() []string { return e.bindingsFor(e.src.Current()).warnings }

func bind(p *policy.Policy, s *snapshot.Snapshot) *bindings {
	b := &bindings{policy: p, gen: s.GroupGen, routes: make([]routeBinding, len(p.Routes))}
	for i, r := range p.Routes {
		rb := &b.routes[i]
		at := func(what string, ref policy.Ref) string {
			return fmt.Sprintf("route %s: %s %q", r.Name, what, ref.Raw)
		}
		for _, ref := range r.AllowGroups {
			b.bindGroup(s, &rb.allowGroups, ref, at("allow group", ref), false)
		}
		for _, ref := range r.DenyGroups {
			b.bindGroup(s, &rb.denyGroups, ref, at("deny group", ref), true)
		}
		for _, ref := range r.AllowUsers {
			if b.unknownTenant(s, ref, at("allow user", ref)) {
				continue
			}
			rb.allowUsers = append(rb.allowUsers, userRuleOf(s, ref))
			b.checkUser(s, ref, at("allow user", ref), false)
		}
		for _, ref := range r.DenyUsers {
			rb.denyUsers = append(rb.denyUsers, userRuleOf(s, ref))
			b.checkUser(s, ref, at("deny user", ref), true)
		}
	}
	return b
}

// unknownTenant reports, with a warning, whether an allow rule's
// "tenant/name" names a tenant the directory does not have (yet). Such a
// rule admits nobody: read as a whole name instead, it would let any
// other tenant's IdP create "tenant/name" and be admitted. A name that
// has a slash of its own is written with its tenant first
// ("okta/Eng/Platform"). Deny rules keep reading it as a whole name too,
// which only refuses more.
func (b *bindings) unknownTenant(s *snapshot.Snapshot, ref policy.Ref, where string) bool {
	if ref.Tenant == "" {
		return false
	}
	if _, ok := s.TenantID(ref.Tenant); ok {
		return false
	}
	b.warnings = append(b.warnings, where+": no tenant "+ref.Tenant+" (yet), so it admits nobody; a name with a slash of its own is written after its tenant's, as in TENANT/"+strings.TrimSpace(ref.Raw))
	return true
}

// bindGroup sets the indexes of the groups ref names. "tenant/name" names a
// group of that tenant; when the tenant does not exist, an allow rule
// binds nothing (unknownTenant) and a deny rule reads the whole string as
// a group name. An unqualified name that several tenants use fails
// closed either way: in an allow rule it binds nothing, rather than let
// one IdP's group grant access meant for another's; in a deny rule it
// binds the groups of every tenant, so that another IdP creating a group
// of the same name cannot switch the rule off.
func (b *bindings) bindGroup(s *snapshot.Snapshot, set *bitset, ref policy.Ref, where string, deny bool) {
	if !deny && b.unknownTenant(s, ref, where) {
		return
	}
	if ref.Tenant != "" {
		if tid, ok := s.TenantID(ref.Tenant); ok {
			n := 0
			for _, i := range s.GroupsNamed(ref.Short) {
				if g := s.Group(i); g != nil && g.Tenant == tid {
					set.set(i)
					n++
				}
			}
			if n == 0 {
				b.warnings = append(b.warnings, where+": no such group in tenant "+ref.Tenant)
			}
			return
		}
	}
	idx := s.GroupsNamed(ref.Name)
	var tenants []int64
	for _, i := range idx {
		if g := s.Group(i); g != nil && !slices.Contains(tenants, g.Tenant) {
			tenants = append(tenants, g.Tenant)
		}
	}
	switch {
	case len(idx) == 0:
		b.warnings = append(b.warnings, where+": no such group (yet)")
	case len(tenants) > 1 && !deny:
		b.warnings = append(b.warnings, where+": several tenants have a group of that name, so it admits nobody; qualify it as tenant/"+strings.TrimSpace(ref.Raw))
	default:
		if len(tenants) > 1 {
			b.warnings = append(b.warnings, where+": several tenants have a group of that name, so it refuses the members of all of them; qualify it as tenant/"+strings.TrimSpace(ref.Raw))
		}
		for _, i := range idx {
			set.set(i)
		}
	}
}

// checkUser warns about a user name that names nobody, or, unqualified,
// users of several tenants (see userRules).
func (b *bindings) checkUser(s *snapshot.Snapshot, ref policy.Ref, where string, deny bool) {
	if ref.Tenant != "" {
		if tid, ok := s.TenantID(ref.Tenant); ok {
			if _, ok := s.UserByName(tid, ref.Short); !ok {
				b.warnings = append(b.warnings, where+": no such user in tenant "+ref.Tenant)
			}
			return
		}
	}
	n := 0
	s.TenantIDs(func(tid int64) {
		if _, ok := s.UserByName(tid, ref.Name); ok {
			n++
		}
	})
	switch {
	case n == 0:
		b.warnings = append(b.warnings, where+": no such user (yet)")
	case n > 1 && !deny:
		b.warnings = append(b.warnings, where+": several tenants have a user of that name, so it admits nobody; qualify it as tenant/"+strings.TrimSpace(ref.Raw))
	case n > 1:
		b.warnings = append(b.warnings, where+": several tenants have a user of that name, so it refuses all of them; qualify it as tenant/"+strings.TrimSpace(ref.Raw))
	}
}

func userRuleOf(s *snapshot.Snapshot, ref policy.Ref) userRule {
	if ref.Tenant != "" {
		if tid, ok := s.TenantID(ref.Tenant); ok {
			return userRule{tenant: tid, name: ref.Short}
		}
	}
	return userRule{name: ref.Name}
}
