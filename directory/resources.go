package directory

import (
	"context"
	"errors"
	"maps"
	"reflect"
	"time"

	"github.com/scimgate/scimgate/scim"
	"github.com/scimgate/scimgate/scim/schema"
	"github.com/scimgate/scimgate/store"
)

// Create adds a resource from a POST body and returns it as stored.
func (s *Service) Create(ctx context.Context, c Caller, rt *schema.ResourceType, body map[string]any, proj *scim.Projection) (*Resource, error) {
	doc, err := scim.Normalize(rt, body)
	if err != nil {
		return nil, err
	}
	members := takeMembers(rt, doc)
	id := s.newID()
	var out *Resource
	var ed *memberEditor // a group's, for the ids it skipped
	err = s.update(ctx, func(tx store.Tx) error {
		now := s.now().UTC()
		r := row(rt, c.TenantID, id, doc)
		r.Version, r.Created, r.Modified = 1, now, now
		if r.Doc, err = encodeDoc(doc); err != nil {
			return err
		}
		if err := tx.InsertResource(ctx, r); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return uniquenessErr(rt, doc)
			}
			return err
		}
		ev := change(c, now, rt, id, store.OpCreate, nil, eventDoc(id, doc))
		if rt == schema.GroupType {
			ed = newMemberEditor(ctx, tx, c.TenantID, id)
			if err := ed.Add(members); err != nil {
				return err
			}
			ev.Edges, ev.Detail = ed.edges, ed.detail()
		}
		if err := tx.AppendChange(ctx, ev); err != nil {
			return err
		}
		out, err = s.build(ctx, tx, c, rt, r, proj)
		return err
	})
	if err != nil {
		return nil, err
	}
	s.logSkipped(c, ed)
	return out, nil
}

// logSkipped logs the member ids a committed write skipped (see
// memberEditor): an IdP that pushed a group before its members, or names
// members of another tenant. A change event keeps them only when the
// write changed something.
func (s *Service) logSkipped(c Caller, ed *memberEditor) {
	if ed == nil || ed.nSkipped == 0 {
		return
	}
	s.log.Warn("group members skipped: the tenant has no user or group with these ids",
		"tenant_id", c.TenantID, "group_id", ed.group, "skipped", ed.skipped, "skipped_count", ed.nSkipped)
}

// takeMembers removes the members list from a group document: members are
// stored as edges, not in the document.
func takeMembers(rt *schema.ResourceType, doc map[string]any) []any {
	if rt != schema.GroupType {
		return nil
	}
	list, _ := doc["members"].([]any)
	delete(doc, "members")
	return list
}

// Get returns one resource.
func (s *Service) Get(ctx context.Context, c Caller, rt *schema.ResourceType, id string, proj *scim.Projection) (*Resource, error) {
	var out *Resource
	err := s.view(ctx, func(tx store.ReadTx) error {
		r, err := tx.Resource(ctx, c.TenantID, storeType(rt), id)
		if err != nil {
			return mapStoreErr(rt, id, err)
		}
		out, err = s.build(ctx, tx, c, rt, r, proj)
		return err
	})
	return out, err
}

// Tag returns the current entity tag of a resource, for conditional reads.
func (s *Service) Tag(ctx context.Context, c Caller, rt *schema.ResourceType, id string) (string, error) {
	var tag string
	err := s.view(ctx, func(tx store.ReadTx) error {
		r, err := tx.Resource(ctx, c.TenantID, storeType(rt), id)
		if err != nil {
			return mapStoreErr(rt, id, err)
		}
		tag, _, err = tagOf(ctx, tx, c, rt, r)
		return err
	})
	return tag, err
}

// tagOf computes a stored resource's entity tag. For a user it also
// returns the computed groups the tag covers.
func tagOf(ctx context.Context, tx store.ReadTx, c Caller, rt *schema.ResourceType, r *store.Resource) (string, []any, error) {
	if rt != schema.UserType {
		return etag(r.Version), nil, nil
	}
	gs, err := groupsOf(ctx, tx, c, r.ID)
	if err != nil {
		return "", nil, err
	}
	return userTag(r.Version, gs), gs, nil
}

// Precondition carries the If-Match and If-None-Match headers of a write;
// empty fields are unconditional. It is checked in the write's own
// transaction, so no change can slip in between the check and the write.
type Precondition struct {
	IfMatch     string
	IfNoneMatch string
}

// Check evaluates the precondition against the current entity tag of a
// write's target (RFC 7232 section 6): an If-Match that does not match,
// then an If-None-Match that matches, is 412. tag is called only when a
// header is present, since a user's tag costs a read of its groups.
func (p Precondition) Check(tag func() (string, error)) error {
	if p.IfMatch == "" && p.IfNoneMatch == "" {
		return nil
	}
	t, err := tag()
	if err != nil {
		return err
	}
	if p.IfMatch != "" && !TagMatches(p.IfMatch, t) {
		return scim.Errorf(scim.CodePreconditionFailed, "resource version is %s, not %s", t, p.IfMatch)
	}
	if p.IfNoneMatch != "" && TagMatches(p.IfNoneMatch, t) {
		return scim.Errorf(scim.CodePreconditionFailed, "resource version %s matches If-None-Match %s", t, p.IfNoneMatch)
	}
	return nil
}

func (p Precondition) check(ctx context.Context, tx store.ReadTx, c Caller, rt *schema.ResourceType, r *store.Resource) error {
	return p.Check(func() (string, error) {
		tag, _, err := tagOf(ctx, tx, c, rt, r)
		return tag, err
	})
}

// Replace replaces a resource's attributes with a PUT body.
func (s *Service) Replace(ctx context.Context, c Caller, rt *schema.ResourceType, id string, body map[string]any, pre Precondition, proj *scim.Projection) (*Resource, error) {
	doc, err := scim.Normalize(rt, body)
	if err != nil {
		return nil, err
	}
	members := takeMembers(rt, doc)
	return s.modify(ctx, c, rt, id, pre, proj, true, store.OpReplace, func(_ map[string]any, ed *memberEditor) (map[string]any, error) {
		if ed != nil {
			if err := ed.Clear(); err != nil {
				return nil, err
			}
			if err := ed.Add(members); err != nil {
				return nil, err
			}
		}
		return doc, nil
	})
}

// Patch applies PATCH operations atomically. When render is false the
// returned Resource has no document, so that a PATCH on a large group does
// not pay for listing its members.
func (s *Service) Patch(ctx context.Context, c Caller, rt *schema.ResourceType, id string, ops []scim.PatchOp, pre Precondition, proj *scim.Projection, render bool) (*Resource, error) {
	return s.modify(ctx, c, rt, id, pre, proj, render, store.OpPatch, func(cur map[string]any, ed *memberEditor) (map[string]any, error) {
		in := maps.Clone(cur)
		in["id"] = id
		var m scim.Members
		if ed != nil {
			m = ed
		}
		next, err := scim.ApplyPatch(rt, in, ops, m)
		if err != nil {
			return nil, err
		}
		delete(next, "id")
		return next, nil
	})
}

// modify runs a read-modify-write of one resource in one transaction. It
// writes nothing, and keeps the version, when fn changes nothing. fn must
// not modify cur.
func (s *Service) modify(ctx context.Context, c Caller, rt *schema.ResourceType, id string, pre Precondition, proj *scim.Projection,
	render bool, op string, fn func(cur map[string]any, ed *memberEditor) (map[string]any, error),
) (*Resource, error) {
	var out *Resource
	var ed *memberEditor
	err := s.update(ctx, func(tx store.Tx) error {
		r, err := tx.Resource(ctx, c.TenantID, storeType(rt), id)
		if err != nil {
			return mapStoreErr(rt, id, err)
		}
		if err := pre.check(ctx, tx, c, rt, r); err != nil {
			return err
		}
		cur, err := decodeDoc(r.Doc)
		if err != nil {
			return err
		}
		ed = nil
		if rt == schema.GroupType {
			ed = newMemberEditor(ctx, tx, c.TenantID, id)
		}
		next, err := fn(cur, ed)
		if err != nil {
			return err
		}
		changed := !reflect.DeepEqual(cur, next)
		if ed != nil {
			ed.net()
		}
		if changed || (ed != nil && len(ed.edges) > 0) {
			if err := s.write(ctx, tx, c, rt, r, cur, next, ed, op); err != nil {
				return err
			}
		}
		if !render {
			tag, _, err := tagOf(ctx, tx, c, rt, r)
			out = &Resource{Type: rt, ID: r.ID, Tag: tag}
			return err
		}
		out, err = s.build(ctx, tx, c, rt, r, proj)
		return err
	})
	if err == nil {
		s.logSkipped(c, ed)
	}
	return out, err
}

// write stores a changed resource and its change event.
func (s *Service) write(ctx context.Context, tx store.Tx, c Caller, rt *schema.ResourceType, r *store.Resource,
	before, next map[string]any, ed *memberEditor, op string,
) error {
	now := s.now().UTC()
	nr := row(rt, c.TenantID, r.ID, next)
	nr.Version, nr.Created, nr.Modified = r.Version+1, r.Created, now
	var err error
	if nr.Doc, err = encodeDoc(next); err != nil {
		return err
	}
	if err := tx.UpdateResource(ctx, nr); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return uniquenessErr(rt, next)
		}
		return err
	}
	if nr.Display != r.Display {
		// Groups show their members' names: a renamed member changes them.
		parents, err := tx.ParentGroups(ctx, c.TenantID, r.ID)
		if err != nil {
			return err
		}
		ids := make([]string, len(parents))
		for i, p := range parents {
			ids[i] = p.ID
		}
		if err := touchGroups(ctx, tx, c.TenantID, ids, now); err != nil {
			return err
		}
	}
	ev := change(c, now, rt, r.ID, op, eventDoc(r.ID, before), eventDoc(r.ID, next))
	if ed != nil {
		ev.Edges, ev.Detail = ed.edges, ed.detail()
	}
	if rt == schema.UserType && r.Active && !nr.Active {
		// Deactivation ends the user's browser sessions, in the same
		// transaction: suspending an account is how an incident starts,
		// and a session stolen before must not come back with a
		// reactivation. Access tokens stay, refused while the owner is
		// inactive (scripts keep working once the owner is back).
		sessions, err := tx.DeleteSessions(ctx, c.TenantID, r.ID)
		if err != nil {
			return err
		}
		if len(sessions) > 0 {
			ev.Detail = marshalJSON(map[string]any{"sessions_deleted": sessions})
		}
	}
	if err := tx.AppendChange(ctx, ev); err != nil {
		return err
	}
	*r = *nr
	return nil
}

// Delete removes a resource with its memberships and records a tombstone
// event listing the removed edges.
func (s *Service) Delete(ctx context.Context, c Caller, rt *schema.ResourceType, id string, pre Precondition) error {
	return s.update(ctx, func(tx store.Tx) error {
		r, err := tx.Resource(ctx, c.TenantID, storeType(rt), id)
		if err != nil {
			return mapStoreErr(rt, id, err)
		}
		if err := pre.check(ctx, tx, c, rt, r); err != nil {
			return err
		}
		doc, err := decodeDoc(r.Doc)
		if err != nil {
			return err
		}
		edges, err := tx.DeleteResource(ctx, c.TenantID, storeType(rt), id)
		if err != nil {
			return mapStoreErr(rt, id, err)
		}
		now := s.now().UTC()
		var parents []string
		for _, e := range edges {
			if e.Member == id {
				parents = append(parents, e.Group)
			}
		}
		if err := touchGroups(ctx, tx, c.TenantID, parents, now); err != nil {
			return err
		}
		ev := change(c, now, rt, id, store.OpDelete, eventDoc(id, doc), nil)
		ev.Edges = edges
		if rt == schema.UserType {
			// A deleted user's credentials go in the same transaction.
			tokens, err := tx.DeleteAccessTokens(ctx, c.TenantID, id)
			if err != nil {
				return err
			}
			sessions, err := tx.DeleteSessions(ctx, c.TenantID, id)
			if err != nil {
				return err
			}
			detail := map[string]any{}
			if len(tokens) > 0 {
				detail["access_tokens_deleted"] = tokens
			}
			if len(sessions) > 0 {
				detail["sessions_deleted"] = sessions
			}
			if len(detail) > 0 {
				ev.Detail = marshalJSON(detail)
			}
		}
		return tx.AppendChange(ctx, ev)
	})
}

// touchGroups gives groups a new version when their members' list changed
// without a change of their own (a member renamed or deleted): a
// conditional request must not be answered from their old version.
func touchGroups(ctx context.Context, tx store.Tx, tenant int64, ids []string, now time.Time) error {
	for _, id := range ids {
		g, err := tx.Resource(ctx, tenant, store.TypeGroup, id)
		if err != nil {
			return err
		}
		g.Version, g.Modified = g.Version+1, now
		if err := tx.UpdateResource(ctx, g); err != nil {
			return err
		}
	}
	return nil
}

// build assembles the full document of a stored resource: attributes, id,
// meta and the computed attributes the projection wants.
func (s *Service) build(ctx context.Context, tx store.ReadTx, c Caller, rt *schema.ResourceType, r *store.Resource, proj *scim.Projection) (*Resource, error) {
	doc, err := decodeDoc(r.Doc)
	if err != nil {
		return nil, err
	}
	tag, groups, err := tagOf(ctx, tx, c, rt, r)
	if err != nil {
		return nil, err
	}
	loc := c.Base + rt.Endpoint + "/" + r.ID
	doc["id"] = r.ID
	doc["meta"] = map[string]any{
		"resourceType": rt.Name,
		"created":      formatTime(r.Created),
		"lastModified": formatTime(r.Modified),
		"location":     loc,
		"version":      tag,
	}
	switch rt {
	case schema.GroupType:
		if proj.Wants(schema.Group.Attr("members")) {
			ms, err := tx.Members(ctx, c.TenantID, r.ID)
			if err != nil {
				return nil, err
			}
			if len(ms) > 0 {
				doc["members"] = memberElems(c.Base, ms)
			}
		}
	case schema.UserType:
		if proj.Wants(schema.User.Attr("groups")) && len(groups) > 0 {
			doc["groups"] = groups
		}
	}
	return &Resource{Type: rt, ID: r.ID, Tag: tag, Doc: doc}, nil
}

// formatTime renders meta times in UTC with millisecond precision.
func formatTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z07:00") }

func memberElems(base string, ms []store.Member) []any {
	out := make([]any, 0, len(ms))
	for _, m := range ms {
		e := map[string]any{
			"value": m.ID,
			"type":  m.Type,
			"$ref":  base + endpoint(m.Type) + "/" + m.ID,
		}
		if m.Display != "" {
			e["display"] = m.Display
		}
		out = append(out, e)
	}
	return out
}

func endpoint(typ string) string {
	if typ == store.TypeGroup {
		return schema.GroupType.Endpoint
	}
	return schema.UserType.Endpoint
}
