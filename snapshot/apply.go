package snapshot

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/scimgate/scimgate/store"
)

// editor builds the next snapshot from the current one. Untouched parts
// are shared with the current snapshot; touched parts are copied first.
type editor struct {
	s        *Snapshot
	users    *shardEdit[Key, *User]
	names    *shardEdit[nameKey, Key]
	attrs    *shardEdit[attrKey, []Key]
	tokens   *shardEdit[string, *Token]
	sessions *shardEdit[string, *Session]
	groupIdx *shardEdit[Key, int32]
	byName   *shardEdit[string, []int32]

	groupsCopied bool
	nesting      bool     // group parents changed: recompute ancestors
	reload       []string // access tokens to read from the store
	reloadSess   []string // sessions to read from the store
}

func (s *Snapshot) edit() *editor {
	c := *s
	return &editor{s: &c, users: s.users.edit(), names: s.names.edit(), attrs: s.attrs.edit(), tokens: s.tokens.edit(), sessions: s.sessions.edit(),
		groupIdx: s.groupIdx.edit(), byName: s.byName.edit()}
}

// done returns the new snapshot.
func (e *editor) done() *Snapshot {
	e.s.users, e.s.names, e.s.attrs = e.users.done(), e.names.done(), e.attrs.done()
	e.s.tokens, e.s.sessions = e.tokens.done(), e.sessions.done()
	e.s.groupIdx, e.s.byName = e.groupIdx.done(), e.byName.done()
	if e.nesting {
		e.s.ancestors = computeAncestors(e.s.groups)
	}
	return e.s
}

// copyGroups makes the group tables of the new snapshot its own.
func (e *editor) copyGroups() {
	if e.groupsCopied {
		return
	}
	e.groupsCopied = true
	e.s.groups = slices.Clone(e.s.groups)
	e.s.ancestors = slices.Clone(e.s.ancestors)
	e.s.GroupGen++
}

// userDoc is what the gate reads of a stored user document.
type userDoc struct {
	UserName    string `json:"userName"`
	Active      *bool  `json:"active"`
	ExternalID  string `json:"externalId"`
	DisplayName string `json:"displayName"`
	Emails      []struct {
		Value   string `json:"value"`
		Primary bool   `json:"primary"`
	} `json:"emails"`
}

func (d *userDoc) allEmails() []string {
	var out []string
	for _, e := range d.Emails {
		if v := strings.ToLower(e.Value); v != "" && !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

func (d *userDoc) email() string {
	for _, e := range d.Emails {
		if e.Primary {
			return e.Value
		}
	}
	if len(d.Emails) > 0 {
		return d.Emails[0].Value
	}
	return ""
}

// apply applies one change.
func (e *editor) apply(c store.Change) error {
	e.s.Seq = c.Seq
	k := Key{Tenant: c.TenantID, ID: c.ResourceID}
	switch c.ResourceType {
	case store.TypeUser:
		if c.Op == store.OpDelete {
			e.deleteUser(k, c.Detail)
			return nil
		}
		var d userDoc
		if err := json.Unmarshal(c.After, &d); err != nil {
			return fmt.Errorf("change %d: user document: %w", c.Seq, err)
		}
		e.putUser(k, &d)
		e.deleteCredentials(c.Detail) // a deactivation ends sessions
		return e.edges(c)
	case store.TypeGroup:
		if err := e.edges(c); err != nil {
			return err
		}
		if c.Op == store.OpDelete {
			e.deleteGroup(k)
			return nil
		}
		var d struct {
			DisplayName string `json:"displayName"`
		}
		if err := json.Unmarshal(c.After, &d); err != nil {
			return fmt.Errorf("change %d: group document: %w", c.Seq, err)
		}
		e.putGroup(k, d.DisplayName)
		// Edges of a create name the group before it exists: apply again.
		if c.Op == store.OpCreate {
			return e.edges(c)
		}
		return nil
	case store.TypeTenant:
		var d struct {
			Name string `json:"name"`
		}
		if c.Op == store.OpCreate && json.Unmarshal(c.After, &d) == nil {
			e.copyGroups() // bindings depend on tenant names too
			e.s.tenants = maps.Clone(e.s.tenants)
			e.s.tenants[d.Name] = c.TenantID
		}
	case store.TypeSession:
		switch c.Op {
		case store.OpCreate:
			e.reloadSess = append(e.reloadSess, c.ResourceID)
		case store.OpRevoke:
			if x, ok := e.sessions.get(c.ResourceID); ok {
				revoked := *x
				revoked.Revoked = true
				e.sessions.set(c.ResourceID, &revoked)
			}
		case store.OpDelete: // purged once ended
			e.sessions.del(c.ResourceID)
		}
	case store.TypeAccessToken:
		switch c.Op {
		case store.OpCreate:
			e.reload = append(e.reload, c.ResourceID)
		case store.OpRevoke:
			if t, ok := e.tokens.get(c.ResourceID); ok {
				revoked := *t
				revoked.Revoked = true
				e.tokens.set(c.ResourceID, &revoked)
			}
		case store.OpDelete:
			e.tokens.del(c.ResourceID)
		}
	}
	return nil
}

func (e *editor) putUser(k Key, d *userDoc) {
	u := &User{
		Key: k, UserName: d.UserName, NameKey: strings.ToLower(d.UserName), ExternalID: d.ExternalID,
		Email: d.email(), Emails: d.allEmails(), DisplayName: d.DisplayName, Active: d.Active == nil || *d.Active,
	}
	if old, ok := e.users.get(k); ok {
		u.Groups = old.Groups
		if old.NameKey != u.NameKey {
			e.names.del(nameKeyOf(k.Tenant, old.NameKey))
		}
		e.unindexAttrs(old)
	}
	e.users.set(k, u)
	e.names.set(nameKeyOf(k.Tenant, u.NameKey), k)
	for _, ak := range attrKeys(u) {
		keys, _ := e.attrs.get(ak)
		if !slices.Contains(keys, k) {
			e.attrs.set(ak, append(slices.Clone(keys), k))
		}
	}
}

// unindexAttrs removes a user's externalId and email index entries.
func (e *editor) unindexAttrs(u *User) {
	for _, ak := range attrKeys(u) {
		keys, _ := e.attrs.get(ak)
		rest := slices.DeleteFunc(slices.Clone(keys), func(x Key) bool { return x == u.Key })
		if len(rest) == 0 {
			e.attrs.del(ak)
		} else {
			e.attrs.set(ak, rest)
		}
	}
}

// deleteUser removes a user and the tokens the delete removed with it.
func (e *editor) deleteUser(k Key, detail []byte) {
	if old, ok := e.users.get(k); ok {
		if cur, ok := e.names.get(nameKeyOf(k.Tenant, old.NameKey)); ok && cur == k {
			e.names.del(nameKeyOf(k.Tenant, old.NameKey))
		}
		e.unindexAttrs(old)
		e.users.del(k)
	}
	e.deleteCredentials(detail)
}

// deleteCredentials removes the tokens and sessions a change's detail
// says it deleted.
func (e *editor) deleteCredentials(detail []byte) {
	if len(detail) == 0 {
		return
	}
	var d struct {
		AccessTokens []string `json:"access_tokens_deleted"`
		Sessions     []string `json:"sessions_deleted"`
	}
	if json.Unmarshal(detail, &d) == nil {
		for _, id := range d.AccessTokens {
			e.tokens.del(id)
		}
		for _, id := range d.Sessions {
			e.sessions.del(id)
		}
	}
}

func (e *editor) putGroup(k Key, name string) {
	lower := strings.ToLower(name)
	i, ok := e.groupIdx.get(k)
	if ok && e.s.groups[i].Name == name {
		return
	}
	e.copyGroups()
	if !ok {
		i = int32(len(e.s.groups))
		e.s.groups = append(e.s.groups, &Group{Key: k, Index: i, Name: name})
		e.s.ancestors = append(e.s.ancestors, []int32{i})
		e.groupIdx.set(k, i)
	} else {
		old := e.s.groups[i]
		e.removeName(strings.ToLower(old.Name), i)
		g := *old
		g.Name = name
		e.s.groups[i] = &g
	}
	cur, _ := e.byName.get(lower)
	e.byName.set(lower, append(slices.Clone(cur), i))
}

func (e *editor) removeName(lower string, i int32) {
	cur, _ := e.byName.get(lower)
	list := slices.DeleteFunc(slices.Clone(cur), func(x int32) bool { return x == i })
	if len(list) == 0 {
		e.byName.del(lower)
	} else {
		e.byName.set(lower, list)
	}
}

func (e *editor) deleteGroup(k Key) {
	i, ok := e.groupIdx.get(k)
	if !ok {
		return
	}
	e.copyGroups()
	e.removeName(strings.ToLower(e.s.groups[i].Name), i)
	e.s.groups[i] = nil
	e.s.ancestors[i] = nil
	e.groupIdx.del(k)
	// The delete's edges removed the group from its parents and children;
	// those group edges already asked for the ancestors to be recomputed.
}

// edges applies the membership edges of a change. Edges naming a user or
// group the snapshot does not hold (yet) are skipped; a group's create
// applies its edges again once the group exists.
func (e *editor) edges(c store.Change) error {
	for _, ed := range c.Edges {
		gi, ok := e.groupIdx.get(Key{Tenant: c.TenantID, ID: ed.Group})
		if !ok {
			continue
		}
		mk := Key{Tenant: c.TenantID, ID: ed.Member}
		switch ed.MemberType {
		case store.TypeUser:
			u, ok := e.users.get(mk)
			if !ok {
				continue
			}
			nu := *u
			nu.Groups = setEdge(u.Groups, gi, ed.Added)
			e.users.set(mk, &nu)
		case store.TypeGroup:
			ci, ok := e.groupIdx.get(mk)
			if !ok {
				continue
			}
			e.copyGroups()
			child := *e.s.groups[ci]
			child.Parents = setEdge(child.Parents, gi, ed.Added)
			e.s.groups[ci] = &child
			e.nesting = true
		}
	}
	return nil
}

// setEdge returns a sorted copy of list with x added or removed.
// addFreshEdge adds a direct membership of member (a user or, when
// isGroup, a group) in group to a snapshot that no other shares yet (Load,
// Builder), skipping the copy-on-write steps: a user's edges are appended,
// and sorted once all are in. Memberships naming a group or user not
// there are ignored, as Apply ignores them.
func (e *editor) addFreshEdge(tenant int64, group, member string, isGroup bool) {
	gi, ok := e.groupIdx.get(Key{Tenant: tenant, ID: group})
	if !ok {
		return
	}
	mk := Key{Tenant: tenant, ID: member}
	if isGroup {
		if ci, ok := e.groupIdx.get(mk); ok {
			e.s.groups[ci].Parents = setEdge(e.s.groups[ci].Parents, gi, true)
		}
		return
	}
	if u, ok := e.users.get(mk); ok {
		u.Groups = append(u.Groups, gi)
	}
}

func setEdge(list []int32, x int32, add bool) []int32 {
	i, found := slices.BinarySearch(list, x)
	switch {
	case add && !found:
		return slices.Insert(slices.Clone(list), i, x)
	case !add && found:
		return slices.Delete(slices.Clone(list), i, i+1)
	}
	return list
}

// computeAncestors returns, for every group, the group itself and every
// group above it. Nesting cycles are harmless: each group is visited once.
func computeAncestors(groups []*Group) [][]int32 {
	out := make([][]int32, len(groups))
	seen := make([]int32, len(groups)) // stamp of the last walk that saw a group
	for i, g := range groups {
		if g == nil {
			continue
		}
		stamp := int32(i + 1)
		anc := []int32{int32(i)}
		seen[i] = stamp
		for q := 0; q < len(anc); q++ {
			cur := groups[anc[q]]
			if cur == nil {
				continue
			}
			for _, p := range cur.Parents {
				if int(p) < len(groups) && groups[p] != nil && seen[p] != stamp {
					seen[p] = stamp
					anc = append(anc, p)
				}
			}
		}
		slices.Sort(anc)
		out[i] = anc
	}
	return out
}
