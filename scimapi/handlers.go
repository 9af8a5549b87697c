package scimapi

import (
	"bytes"
	"net/http"
	"strconv"
	"strings"

	"github.com/scimgate/scimgate/directory"
	"github.com/scimgate/scimgate/scim"
	"github.com/scimgate/scimgate/scim/filter"
	"github.com/scimgate/scimgate/scim/schema"
)

func (s *Server) discovery(w http.ResponseWriter, r *request, seg []string) error {
	if r.URL.Query().Has("filter") {
		// RFC 7644 section 4: discovery endpoints do not filter.
		return scim.Errorf(scim.CodeForbidden, "filtering is not supported on %s", seg[0])
	}
	base := r.caller.Base
	var items []any
	switch seg[0] {
	case "ResourceTypes":
		for _, rt := range schema.ResourceTypes {
			if len(seg) == 2 && seg[1] != rt.ID {
				continue
			}
			items = append(items, scim.NewResourceTypeDoc(base, rt))
		}
	case "Schemas":
		for _, sc := range schema.Schemas {
			if len(seg) == 2 && !strings.EqualFold(seg[1], sc.ID) {
				continue
			}
			items = append(items, scim.NewSchemaDoc(base, sc))
		}
	}
	if len(seg) == 2 {
		if len(items) == 0 {
			return scim.Errorf(scim.CodeNotFound, "%s %q not found", strings.TrimSuffix(seg[0], "s"), seg[1])
		}
		return writeJSON(w, http.StatusOK, items[0])
	}
	return writeJSON(w, http.StatusOK, map[string]any{
		"schemas":      []string{scim.ListResponseSchema},
		"totalResults": len(items),
		"itemsPerPage": len(items),
		"startIndex":   1,
		"Resources":    items,
	})
}

func (s *Server) list(w http.ResponseWriter, r *request, rt *schema.ResourceType) error {
	q, err := query(r.Request, rt)
	if err != nil {
		return err
	}
	page, err := s.dir.Query(r.Context(), r.caller, rt, q)
	if err != nil {
		return err
	}
	return writeList(w, page.Total, q.StartIndex, page.Resources, q.Projection)
}

func (s *Server) search(w http.ResponseWriter, r *request, rt *schema.ResourceType) error {
	body, err := readBody(r.Request, s.opts.MaxBodyBytes)
	if err != nil {
		return err
	}
	raw, err := scim.ParseSearchBody(body)
	if err != nil {
		return err
	}
	q, err := raw.Compile(rt)
	if err != nil {
		return err
	}
	page, err := s.dir.Query(r.Context(), r.caller, rt, q)
	if err != nil {
		return err
	}
	return writeList(w, page.Total, q.StartIndex, page.Resources, q.Projection)
}

// searchRoot searches every resource type (POST /.search) as one list:
// Users then Groups, or one sorted list with sortBy. An attribute that
// only one type has (userName) does not exclude the other type from the
// results: attributes only shape each result, and a sortBy a type lacks
// sorts that type's resources last. A filter that cannot apply to a type
// selects nothing from it.
func (s *Server) searchRoot(w http.ResponseWriter, r *request) error {
	body, err := readBody(r.Request, s.opts.MaxBodyBytes)
	if err != nil {
		return err
	}
	raw, err := scim.ParseSearchBody(body)
	if err != nil {
		return err
	}
	var parts []directory.TypedQuery
	var firstErr error
	for _, rt := range schema.ResourceTypes {
		q, err := forType(raw, rt).Compile(rt)
		if err != nil {
			if firstErr == nil {
				firstErr = err // Users' first: it names what no type has
			}
			continue
		}
		parts = append(parts, directory.TypedQuery{Type: rt, Query: q})
	}
	if len(parts) == 0 {
		return firstErr
	}
	page, err := s.dir.Search(r.Context(), r.caller, parts, raw.StartIndex, raw.Count)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	listHead(&buf, page.Total, raw.StartIndex, len(page.Resources))
	for i, res := range page.Resources {
		if i > 0 {
			buf.WriteByte(',')
		}
		for _, p := range parts {
			if p.Type == res.Type {
				scim.Render(&buf, res.Type, res.Doc, p.Query.Projection)
			}
		}
	}
	buf.WriteString("]}\n")
	return writeRaw(w, http.StatusOK, buf.Bytes())
}

// forType keeps the attribute names of a root search that rt knows.
func forType(raw scim.RawQuery, rt *schema.ResourceType) scim.RawQuery {
	known := func(lists []string) []string {
		if lists == nil {
			return nil
		}
		out := []string{"id"} // attributes= was given: keep it a selection
		for _, list := range lists {
			for _, name := range strings.Split(list, ",") {
				if _, err := filter.ParseAttrPath(rt, strings.TrimSpace(name)); err == nil {
					out = append(out, name)
				}
			}
		}
		return out
	}
	q := raw
	q.Attributes = known(raw.Attributes)
	if raw.Excluded != nil {
		q.Excluded = known(raw.Excluded)[1:]
	}
	if _, err := filter.ParseAttrPath(rt, raw.SortBy); raw.SortBy != "" && err != nil {
		q.SortBy = ""
	}
	return q
}

func listHead(buf *bytes.Buffer, total, start, n int) {
	buf.WriteString(`{"schemas":["` + scim.ListResponseSchema + `"],"totalResults":`)
	buf.WriteString(strconv.Itoa(total))
	buf.WriteString(`,"itemsPerPage":`)
	buf.WriteString(strconv.Itoa(n))
	buf.WriteString(`,"startIndex":`)
	buf.WriteString(strconv.Itoa(start))
	buf.WriteString(`,"Resources":[`)
}

func writeList(w http.ResponseWriter, total, start int, resources []*directory.Resource, proj *scim.Projection) error {
	var buf bytes.Buffer
	listHead(&buf, total, start, len(resources))
	for i, res := range resources {
		if i > 0 {
			buf.WriteByte(',')
		}
		scim.Render(&buf, res.Type, res.Doc, proj)
	}
	buf.WriteString("]}\n")
	return writeRaw(w, http.StatusOK, buf.Bytes())
}

func writeRaw(w http.ResponseWriter, status int, body []byte) error {
	w.Header().Set("Content-Type", ContentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, err := w.Write(body)
	return err
}

func (s *Server) create(w http.ResponseWriter, r *request, rt *schema.ResourceType) error {
	q, err := query(r.Request, rt)
	if err != nil {
		return err
	}
	body, err := readBody(r.Request, s.opts.MaxBodyBytes)
	if err != nil {
		return err
	}
	res, err := s.dir.Create(r.Context(), r.caller, rt, body, q.Projection)
	if err != nil {
		return err
	}
	return writeResource(w, http.StatusCreated, res, q.Projection)
}

func (s *Server) get(w http.ResponseWriter, r *request, rt *schema.ResourceType, id string) error {
	q, err := query(r.Request, rt)
	if err != nil {
		return err
	}
	// RFC 7232 section 6: If-Match first (412 when it fails), then
	// If-None-Match, which on a read answers 304 rather than 412.
	pre := precondition(r.Request)
	conditional := pre.IfMatch != "" || pre.IfNoneMatch != ""
	// checked answers the preconditions for a version of the resource:
	// done when it wrote the 304 (or returned the 412).
	checked := func(tag string) (done bool, err error) {
		if err := (directory.Precondition{IfMatch: pre.IfMatch}).Check(func() (string, error) { return tag, nil }); err != nil {
			return true, err
		}
		if pre.IfNoneMatch != "" && directory.TagMatches(pre.IfNoneMatch, tag) {
			w.Header().Set("ETag", tag)
			w.WriteHeader(http.StatusNotModified)
			return true, nil
		}
		return false, nil
	}
	var tag string
	if conditional {
		// The tag alone first: a 304 or 412 need not render the resource
		// (a group of 100,000 members).
		if tag, err = s.dir.Tag(r.Context(), r.caller, rt, id); err != nil {
			return err
		}
		if done, err := checked(tag); done {
			return err
		}
	}
	res, err := s.dir.Get(r.Context(), r.caller, rt, id, q.Projection)
	if err != nil {
		return err
	}
	if conditional && res.Tag != tag {
		// A write landed between the two reads: the answer must hold for
		// the version it sends.
		if done, err := checked(res.Tag); done {
			return err
		}
	}
	return writeResource(w, http.StatusOK, res, q.Projection)
}

// precondition reads the conditional headers of a request on one resource
// (RFC 7232 sections 3.1 and 3.2). On PUT, PATCH and DELETE the directory
// evaluates both in the write's transaction: a failed If-Match and a
// matching If-None-Match are both 412 there.
func precondition(r *http.Request) directory.Precondition {
	return directory.Precondition{IfMatch: r.Header.Get("If-Match"), IfNoneMatch: r.Header.Get("If-None-Match")}
}

func (s *Server) replace(w http.ResponseWriter, r *request, rt *schema.ResourceType, id string) error {
	q, err := query(r.Request, rt)
	if err != nil {
		return err
	}
	body, err := readBody(r.Request, s.opts.MaxBodyBytes)
	if err != nil {
		return err
	}
	res, err := s.dir.Replace(r.Context(), r.caller, rt, id, body, precondition(r.Request), q.Projection)
	if err != nil {
		return err
	}
	return writeResource(w, http.StatusOK, res, q.Projection)
}

// patch answers 200 with the resource, except for groups when the client
// asked for no attributes: then 204, so that a membership change on a
// large group never lists its members (RFC 7644 section 3.5.2 allows both).
func (s *Server) patch(w http.ResponseWriter, r *request, rt *schema.ResourceType, id string) error {
	q, err := query(r.Request, rt)
	if err != nil {
		return err
	}
	body, err := readBody(r.Request, s.opts.MaxBodyBytes)
	if err != nil {
		return err
	}
	ops, err := scim.ParsePatch(rt, body)
	if err != nil {
		return err
	}
	params := r.URL.Query()
	render := rt != schema.GroupType || params.Has("attributes") || params.Has("excludedAttributes")
	res, err := s.dir.Patch(r.Context(), r.caller, rt, id, ops, precondition(r.Request), q.Projection, render)
	if err != nil {
		return err
	}
	if !render {
		w.Header().Set("ETag", res.ETag())
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	return writeResource(w, http.StatusOK, res, q.Projection)
}

func (s *Server) delete(w http.ResponseWriter, r *request, rt *schema.ResourceType, id string) error {
	if err := s.dir.Delete(r.Context(), r.caller, rt, id, precondition(r.Request)); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
