package scimapi

import (
	"bytes"
	"net/http"
	"strconv"
	"strings"

	"github.com/scimgate/scimgate/directory"
	"github.com/scimgate/scimgate/scim"
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

// searchRoot searches every resource type (POST /.search): Users first,
// then Groups, paginated as one list. A filter that names attributes of
// only one type selects from that type alone.
func (s *Server) searchRoot(w http.ResponseWriter, r *request) error {
	body, err := readBody(r.Request, s.opts.MaxBodyBytes)
	if err != nil {
		return err
	}
	raw, err := scim.ParseSearchBody(body)
	if err != nil {
		return err
	}
	type part struct {
		rt    *schema.ResourceType
		q     *scim.Query
		total int
	}
	var parts []part
	var firstErr error
	for _, rt := range schema.ResourceTypes {
		q, err := raw.Compile(rt)
		if err != nil {
			firstErr = err
			continue
		}
		parts = append(parts, part{rt: rt, q: q})
	}
	if len(parts) == 0 {
		return firstErr
	}
	total := 0
	for i := range parts {
		q := *parts[i].q
		q.StartIndex, q.Count = 1, 0
		page, err := s.dir.Query(r.Context(), r.caller, parts[i].rt, &q)
		if err != nil {
			return err
		}
		parts[i].total = page.Total
		total += page.Total
	}
	count := raw.Count
	if count < 0 || count > s.dir.MaxResults() {
		count = s.dir.MaxResults()
	}
	offset := raw.StartIndex - 1
	var resources []*directory.Resource
	for _, p := range parts {
		if count > 0 && offset < p.total {
			q := *p.q
			q.StartIndex, q.Count = offset+1, count
			page, err := s.dir.Query(r.Context(), r.caller, p.rt, &q)
			if err != nil {
				return err
			}
			resources = append(resources, page.Resources...)
			count -= len(page.Resources)
		}
		offset = max(0, offset-p.total)
	}
	var buf bytes.Buffer
	listHead(&buf, total, raw.StartIndex, len(resources))
	for i, res := range resources {
		if i > 0 {
			buf.WriteByte(',')
		}
		var proj *scim.Projection
		for _, p := range parts {
			if p.rt == res.Type {
				proj = p.q.Projection
			}
		}
		scim.Render(&buf, res.Type, res.Doc, proj)
	}
	buf.WriteString("]}\n")
	return writeRaw(w, http.StatusOK, buf.Bytes())
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
	if inm := r.Header.Get("If-None-Match"); inm != "" {
		v, err := s.dir.Version(r.Context(), r.caller, rt, id)
		if err != nil {
			return err
		}
		if directory.VersionMatches(inm, v) {
			w.Header().Set("ETag", (&directory.Resource{Version: v}).ETag())
			w.WriteHeader(http.StatusNotModified)
			return nil
		}
	}
	res, err := s.dir.Get(r.Context(), r.caller, rt, id, q.Projection)
	if err != nil {
		return err
	}
	return writeResource(w, http.StatusOK, res, q.Projection)
}

func precondition(r *http.Request) directory.Precondition {
	return directory.Precondition{IfMatch: r.Header.Get("If-Match")}
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
