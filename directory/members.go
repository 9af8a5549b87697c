package directory

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/scimgate/scimgate/scim"
	"github.com/scimgate/scimgate/store"
)

// memberEditor applies membership edits of one group inside a transaction
// (it implements scim.Members). It records the edges it changed, for the
// change event, and the member ids it skipped.
//
// A member id that names no user or group of the tenant is skipped, not
// rejected: Okta never retries a 400, so one stale id in a PATCH of a
// thousand members must not throw the other 999 away. The skipped ids are
// logged once the write commits, and kept in the change event's detail
// when the write changed anything (a PATCH that only names ids of nobody
// writes no event).
type memberEditor struct {
	ctx      context.Context
	tx       store.Tx
	tenant   int64
	group    string
	edges    []store.EdgeChange
	skipped  []string // the first maxSkippedKept
	nSkipped int
	up       int // levels of groups above group; -1 until needed
}

func newMemberEditor(ctx context.Context, tx store.Tx, tenant int64, group string) *memberEditor {
	return &memberEditor{ctx: ctx, tx: tx, tenant: tenant, group: group, up: -1}
}

// Add implements scim.Members.
func (e *memberEditor) Add(elems []any) error {
	if len(elems) == 0 {
		return nil
	}
	ms := make([]store.Member, 0, len(elems))
	seen := make(map[string]bool, len(elems))
	for _, el := range elems {
		m, _ := el.(map[string]any)
		id, _ := m["value"].(string)
		if id == "" {
			return scim.Errorf(scim.CodeInvalidValue, "every member needs a value (the member's id)")
		}
		if seen[id] {
			continue
		}
		seen[id] = true
		typ, err := e.memberType(id, m["type"])
		if err != nil {
			return err
		}
		if typ == "" || id == e.group {
			if e.nSkipped++; len(e.skipped) < maxSkippedKept {
				e.skipped = append(e.skipped, id)
			}
			continue
		}
		if typ == store.TypeGroup {
			if err := e.checkNesting(id); err != nil {
				return err
			}
		}
		ms = append(ms, store.Member{ID: id, Type: typ})
	}
	added, err := e.tx.AddMembers(e.ctx, e.tenant, e.group, ms)
	if err != nil {
		return err
	}
	e.edges = append(e.edges, added...)
	return nil
}

// memberType finds whether id is a user or a group of the tenant, trying
// the type the client named first; "" when it is neither.
func (e *memberEditor) memberType(id string, hint any) (string, error) {
	order := []string{store.TypeUser, store.TypeGroup}
	if hint == store.TypeGroup {
		order[0], order[1] = order[1], order[0]
	}
	for _, typ := range order {
		_, err := e.tx.Resource(e.ctx, e.tenant, typ, id)
		if err == nil {
			return typ, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return "", err
		}
	}
	return "", nil
}

// MaxNestingDepth bounds how many groups deep groups may nest (a group in
// a group in a group... counts each). Every group's ancestors are kept in
// memory for the decisions, and a user's groups are computed level by
// level: a chain of thousands would make both grow with its square. No
// identity provider nests anywhere near this deep.
const MaxNestingDepth = 32

// checkNesting refuses to make child a member of the editor's group when
// the chain of groups through them would be deeper than MaxNestingDepth.
func (e *memberEditor) checkNesting(child string) error {
	if e.up < 0 {
		up, err := e.levels(e.group, func(id string) ([]string, error) {
			ps, err := e.tx.ParentGroups(e.ctx, e.tenant, id)
			ids := make([]string, len(ps))
			for i, p := range ps {
				ids[i] = p.ID
			}
			return ids, err
		})
		if err != nil {
			return err
		}
		e.up = up
	}
	down, err := e.levels(child, func(id string) ([]string, error) { return e.tx.MemberGroups(e.ctx, e.tenant, id) })
	if err != nil {
		return err
	}
	if depth := e.up + 2 + down; depth > MaxNestingDepth {
		return scim.Errorf(scim.CodeInvalidValue, "group %s as a member of group %s would nest groups %d deep; at most %d are allowed", child, e.group, depth, MaxNestingDepth)
	}
	return nil
}

// levels counts the levels of groups next reaches from id, breadth first,
// giving up past MaxNestingDepth. Cycles end the walk.
func (e *memberEditor) levels(id string, next func(string) ([]string, error)) (int, error) {
	seen := map[string]bool{id: true}
	layer, n := []string{id}, 0
	for len(layer) > 0 && n <= MaxNestingDepth {
		var more []string
		for _, g := range layer {
			ids, err := next(g)
			if err != nil {
				return 0, err
			}
			for _, x := range ids {
				if !seen[x] {
					seen[x] = true
					more = append(more, x)
				}
			}
		}
		if len(more) > 0 {
			n++
		}
		layer = more
	}
	return n, nil
}

// Remove implements scim.Members.
func (e *memberEditor) Remove(ids []string) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	removed, err := e.tx.RemoveMembers(e.ctx, e.tenant, e.group, ids)
	if err != nil {
		return 0, err
	}
	e.edges = append(e.edges, removed...)
	return len(removed), nil
}

// Clear implements scim.Members.
func (e *memberEditor) Clear() error {
	removed, err := e.tx.ClearMembers(e.ctx, e.tenant, e.group)
	if err != nil {
		return err
	}
	e.edges = append(e.edges, removed...)
	return nil
}

// net reduces the edges changed to those whose state differs from where
// the request found it: a PUT, or a replace of members, clears the members
// and adds them back, and the same list again must change nothing (no new
// version, no event listing every member as removed and re-added).
func (e *memberEditor) net() {
	// The store reports only real changes, so an edge appears twice only
	// when it was flipped back: with every change the same way, none was.
	flipped := false
	for _, c := range e.edges {
		flipped = flipped || c.Added != e.edges[0].Added
	}
	if !flipped {
		return
	}
	type key struct{ member, typ string }
	type seen struct{ n, last int }
	m := make(map[key]seen, len(e.edges))
	for i, c := range e.edges {
		k := key{c.Member, c.MemberType}
		m[k] = seen{m[k].n + 1, i}
	}
	kept := e.edges[:0]
	for i, c := range e.edges {
		// Each change flips the edge: an even number of them leaves it as
		// it was; of an odd number, the last one is the change.
		if s := m[key{c.Member, c.MemberType}]; s.n%2 == 1 && s.last == i {
			kept = append(kept, c)
		}
	}
	clear(e.edges[len(kept):])
	e.edges = kept
}

// List implements scim.Members.
func (e *memberEditor) List() ([]map[string]any, error) {
	ms, err := e.tx.Members(e.ctx, e.tenant, e.group)
	if err != nil {
		return nil, err
	}
	out := make([]map[string]any, 0, len(ms))
	for _, m := range ms {
		out = append(out, map[string]any{"value": m.ID, "type": m.Type, "display": m.Display})
	}
	return out, nil
}

// maxSkippedKept bounds the skipped ids a change event keeps: the audit
// trail keeps every event for good, and a request may name any number of
// ids that do not exist.
const maxSkippedKept = 100

// detail is the change event's detail: the member ids skipped, the first
// maxSkippedKept of them and, when there were more, how many.
func (e *memberEditor) detail() []byte {
	if len(e.skipped) == 0 {
		return nil
	}
	d := map[string]any{"skipped_members": e.skipped}
	if e.nSkipped > len(e.skipped) {
		d["skipped_count"] = e.nSkipped
	}
	b, _ := json.Marshal(d)
	return b
}

// groupsOf computes a user's groups attribute: direct memberships, then
// groups reached through nested groups as "indirect". Cycles are harmless.
func groupsOf(ctx context.Context, tx store.ReadTx, c Caller, id string) ([]any, error) {
	var out []any
	seen := map[string]bool{}
	queue := []string{id}
	for depth := 0; len(queue) > 0; depth++ {
		var next []string
		for _, member := range queue {
			parents, err := tx.ParentGroups(ctx, c.TenantID, member)
			if err != nil {
				return nil, err
			}
			for _, g := range parents {
				if seen[g.ID] {
					continue
				}
				seen[g.ID] = true
				typ := "direct"
				if depth > 0 {
					typ = "indirect"
				}
				e := map[string]any{"value": g.ID, "$ref": c.Base + endpoint(store.TypeGroup) + "/" + g.ID, "type": typ}
				if g.Display != "" {
					e["display"] = g.Display
				}
				out = append(out, e)
				next = append(next, g.ID)
			}
		}
		queue = next
	}
	return out, nil
}
