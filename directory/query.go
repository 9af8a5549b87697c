package directory

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/scimgate/scimgate/scim"
	"github.com/scimgate/scimgate/scim/filter"
	"github.com/scimgate/scimgate/scim/schema"
	"github.com/scimgate/scimgate/store"
)

// Page is one page of a list or search.
type Page struct {
	Total      int // every match, not just this page
	StartIndex int
	Resources  []*Resource
}

// Query lists resources of one type: filter, sort, then paginate.
func (s *Service) Query(ctx context.Context, c Caller, rt *schema.ResourceType, q *scim.Query) (*Page, error) {
	if q.Filter != nil || q.SortBy != nil {
		return s.Search(ctx, c, []TypedQuery{{Type: rt, Query: q}}, q.StartIndex, q.Count)
	}
	// The common unfiltered listing pages in the database.
	page := &Page{StartIndex: q.StartIndex}
	err := s.view(ctx, func(tx store.ReadTx) error {
		count, offset := s.window(q.StartIndex, q.Count)
		total, err := tx.CountResources(ctx, c.TenantID, storeType(rt))
		if err != nil {
			return err
		}
		page.Total = total
		if count == 0 || offset >= total {
			return nil
		}
		rows, err := tx.Resources(ctx, c.TenantID, storeType(rt), store.Page{Offset: offset, Limit: count})
		if err != nil {
			return err
		}
		for _, r := range rows {
			res, err := s.build(ctx, tx, c, rt, r, q.Projection)
			if err != nil {
				return err
			}
			page.Resources = append(page.Resources, res)
		}
		return nil
	})
	return page, err
}

// window turns startIndex and count into an offset and a page size within
// the server's maximum.
func (s *Service) window(startIndex, count int) (int, int) {
	if count < 0 || count > s.maxResults {
		count = s.maxResults
	}
	return count, startIndex - 1
}

// TypedQuery is one resource type's part of a search.
type TypedQuery struct {
	Type  *schema.ResourceType
	Query *scim.Query
}

// hit is one matching resource of a search with its sort key. r has no
// document: a search may match every resource of a tenant, and only a
// page of them is rendered, loaded again.
type hit struct {
	part *TypedQuery
	r    *store.Resource
	key  any // string, time.Time, bool or nil
}

// Search filters every part, merges the matches in part order (creation
// order within a part), sorts them as one list when any part has sortBy
// (a part without it sorts last), and returns one page. The root /.search
// runs a part per resource type; sortOrder comes from the first part.
func (s *Service) Search(ctx context.Context, c Caller, parts []TypedQuery, startIndex, count int) (*Page, error) {
	page := &Page{StartIndex: startIndex}
	err := s.view(ctx, func(tx store.ReadTx) error {
		var hits []hit
		sorted := false
		for i := range parts {
			p := &parts[i]
			var err error
			if hits, err = s.match(ctx, tx, c, p, hits); err != nil {
				return err
			}
			sorted = sorted || p.Query.SortBy != nil
		}
		if sorted {
			sortHits(hits, parts[0].Query.Descending)
		}
		page.Total = len(hits)
		count, offset := s.window(startIndex, count)
		if offset >= len(hits) {
			return nil
		}
		for _, h := range hits[offset:min(offset+count, len(hits))] {
			r, err := tx.Resource(ctx, c.TenantID, storeType(h.part.Type), h.r.ID)
			if err != nil {
				return err // the read transaction sees what the match saw
			}
			res, err := s.build(ctx, tx, c, h.part.Type, r, h.part.Query.Projection)
			if err != nil {
				return err
			}
			page.Resources = append(page.Resources, res)
		}
		return nil
	})
	return page, err
}

// match appends to out every resource of part p that its filter selects,
// in creation order, with its sort key when p sorts, and without its
// document (see hit).
func (s *Service) match(ctx context.Context, tx store.ReadTx, c Caller, p *TypedQuery, out []hit) ([]hit, error) {
	rt, f, sortBy := p.Type, p.Query.Filter, p.Query.SortBy
	typ := storeType(rt)
	version := f != nil && f.Reads("meta.version")
	sortVersion := sortBy != nil && sortBy.String() == "meta.version"
	test := func(r *store.Resource) error {
		var v *view
		if f != nil {
			v = &view{ctx: ctx, tx: tx, c: c, rt: rt, r: r, version: version}
			ok := f.Match(v)
			if v.err != nil || !ok {
				return v.err
			}
		}
		h := hit{part: p}
		if sortBy != nil {
			if v == nil || v.version != sortVersion {
				v = &view{ctx: ctx, tx: tx, c: c, rt: rt, r: r, version: sortVersion}
			} // else the filter's view, its document decoded once
			if h.key = sortKey(*sortBy, v); v.err != nil {
				return v.err
			}
		}
		slim := *r
		slim.Doc = nil
		h.r = &slim
		out = append(out, h)
		return nil
	}
	if f != nil {
		if cands, ok, err := candidates(ctx, tx, c.TenantID, typ, f.Root()); err != nil {
			return nil, err
		} else if ok {
			for _, r := range cands {
				if err := test(r); err != nil {
					return nil, err
				}
			}
			return out, nil
		}
	}
	return out, tx.ScanResources(ctx, c.TenantID, typ, test)
}

// candidates uses the indexes for filters that pin an indexed attribute:
// id, externalId, userName or group displayName compared with eq, alone,
// in an "and", or in an "or" of such terms. It returns a superset of the
// matches (the full filter still runs on each), in creation order; ok is
// false when the filter needs a scan.
func candidates(ctx context.Context, tx store.ReadTx, tenant int64, typ string, e filter.Expr) ([]*store.Resource, bool, error) {
	switch x := e.(type) {
	case *filter.And:
		if rs, ok, err := candidates(ctx, tx, tenant, typ, x.Left); ok || err != nil {
			return rs, ok, err
		}
		return candidates(ctx, tx, tenant, typ, x.Right)
	case *filter.Or:
		l, ok, err := candidates(ctx, tx, tenant, typ, x.Left)
		if !ok || err != nil {
			return nil, false, err
		}
		r, ok, err := candidates(ctx, tx, tenant, typ, x.Right)
		if !ok || err != nil {
			return nil, false, err
		}
		return union(l, r), true, nil
	case *filter.Compare:
		v, isStr := x.Value.(string)
		if x.Op != filter.Eq || !isStr || x.Path.Sub != nil || x.Path.Key() != x.Path.Attr.Name {
			return nil, false, nil
		}
		var r *store.Resource
		var err error
		switch x.Path.Attr.Name {
		case "id":
			r, err = tx.Resource(ctx, tenant, typ, v)
		case "userName", "displayName":
			if (typ == store.TypeUser) != (x.Path.Attr.Name == "userName") {
				return nil, false, nil
			}
			r, err = tx.ResourceByName(ctx, tenant, typ, nameKey(v))
		case "externalId":
			rs, err := tx.ResourcesByExternalID(ctx, tenant, typ, v)
			return rs, err == nil, err
		default:
			return nil, false, nil
		}
		if errors.Is(err, store.ErrNotFound) {
			return nil, true, nil
		}
		if err != nil {
			return nil, false, err
		}
		return []*store.Resource{r}, true, nil
	}
	return nil, false, nil
}

func union(a, b []*store.Resource) []*store.Resource {
	seen := make(map[string]bool, len(a))
	out := append([]*store.Resource(nil), a...)
	for _, r := range a {
		seen[r.ID] = true
	}
	for _, r := range b {
		if !seen[r.ID] {
			out = append(out, r)
		}
	}
	slices.SortStableFunc(out, func(x, y *store.Resource) int { return x.Created.Compare(y.Created) })
	return out
}

// view exposes a stored resource to filter evaluation, decoding its
// document and computing members or groups only when the filter reads them.
// meta.version is there only when version is set: a user's costs the walk
// up its groups.
type view struct {
	ctx      context.Context
	tx       store.ReadTx
	c        Caller
	rt       *schema.ResourceType
	r        *store.Resource
	doc      map[string]any
	computed map[string]any // meta, members, groups: asked for once each
	err      error
	version  bool
}

// compute returns the attributes the document does not hold.
func (v *view) compute(name string) any {
	switch name {
	case "meta":
		meta := map[string]any{
			"resourceType": v.rt.Name,
			"created":      formatTime(v.r.Created),
			"lastModified": formatTime(v.r.Modified),
			"location":     v.c.Base + v.rt.Endpoint + "/" + v.r.ID,
		}
		if v.version {
			tag, _, err := tagOf(v.ctx, v.tx, v.c, v.rt, v.r)
			if err != nil {
				v.err = err
				return nil
			}
			meta["version"] = tag
		}
		return meta
	case "members":
		if v.rt != schema.GroupType {
			return nil
		}
		ms, err := v.tx.Members(v.ctx, v.c.TenantID, v.r.ID)
		if err != nil {
			v.err = err
			return nil
		}
		return memberElems(v.c.Base, ms)
	case "groups":
		if v.rt != schema.UserType {
			return nil
		}
		gs, err := groupsOf(v.ctx, v.tx, v.c, v.r.ID)
		if err != nil {
			v.err = err
		}
		return gs
	}
	return nil
}

func (v *view) Get(name string) any {
	switch name {
	case "id":
		return v.r.ID
	case "meta", "members", "groups":
		// Each term of a filter asks again: computed once a resource.
		val, ok := v.computed[name]
		if !ok {
			val = v.compute(name)
			if v.computed == nil {
				v.computed = map[string]any{}
			}
			v.computed[name] = val
		}
		return val
	}
	if v.doc == nil {
		doc, err := decodeDoc(v.r.Doc)
		if err != nil {
			v.err = err
			doc = map[string]any{}
		}
		v.doc = doc
	}
	return v.doc[name]
}

// sortHits sorts by the hits' keys (RFC 7644 section 3.4.2.3). Resources
// without a value sort last in either order; ties keep their order.
func sortHits(hits []hit, desc bool) {
	slices.SortStableFunc(hits, func(a, b hit) int {
		switch {
		case a.key == nil && b.key == nil:
			return 0
		case a.key == nil:
			return 1
		case b.key == nil:
			return -1
		}
		c := compareKeys(a.key, b.key)
		if desc {
			c = -c
		}
		return c
	})
}

// sortKey is the value a resource sorts by: multi-valued attributes sort by
// their primary value, else their first; strings case-folded unless the
// attribute is caseExact; dateTimes chronologically.
func sortKey(p filter.AttrPath, v *view) any {
	val := v.Get(p.Key())
	if p.Key() != p.Attr.Name {
		ext, _ := val.(map[string]any)
		val = ext[p.Attr.Name]
	}
	if list, ok := val.([]any); ok {
		val = nil
		for i, e := range list {
			m, _ := e.(map[string]any)
			if i == 0 || m["primary"] == true {
				val = e
			}
		}
	}
	sub := p.Sub
	if sub == nil && p.Attr.Type == schema.Complex {
		sub = p.Attr.Sub("value")
	}
	attr := p.Attr
	if sub != nil {
		m, _ := val.(map[string]any)
		val, attr = m[sub.Name], sub
	}
	switch x := val.(type) {
	case string:
		if attr.Type == schema.DateTime {
			if t, err := time.Parse(time.RFC3339Nano, x); err == nil {
				return t
			}
		}
		if !attr.CaseExact {
			return strings.ToLower(x)
		}
		return x
	case bool:
		return x
	}
	return nil
}

func compareKeys(a, b any) int {
	switch x := a.(type) {
	case string:
		y, _ := b.(string)
		return cmp.Compare(x, y)
	case time.Time:
		y, _ := b.(time.Time)
		return x.Compare(y)
	case bool:
		y, _ := b.(bool)
		switch {
		case x == y:
			return 0
		case !x:
			return -1
		}
		return 1
	}
	return 0
}
