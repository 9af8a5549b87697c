package scim

import (
	"encoding/json"
	"errors"
	"net/url"
	"strconv"
	"strings"

	"github.com/scimgate/scimgate/scim/filter"
	"github.com/scimgate/scimgate/scim/schema"
)

// SearchRequestSchema is the URN of a POST .search body.
const SearchRequestSchema = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"

// RawQuery holds list and search parameters before they are checked
// against a resource type; a root-level search checks them once per type.
type RawQuery struct {
	Filter     string
	SortBy     string
	SortOrder  string
	StartIndex int // 1-based; values below 1 mean 1
	Count      int // -1: absent
	Attributes []string
	Excluded   []string
}

// CaseDuplicate checks that no two keys of m differ only in letter case
// ("op" and "Op"): the parsers match names case-insensitively and read a
// map in no fixed order, so such a request would mean one thing or the
// other from one call to the next. what names the object for the error.
func CaseDuplicate[V any](m map[string]V, what string) error {
	if len(m) < 2 {
		return nil
	}
	seen := make(map[string]string, len(m))
	for k := range m {
		l := strings.ToLower(k)
		if other, ok := seen[l]; ok {
			return Errorf(CodeInvalidSyntax, "%s has both %q and %q: names are not case-sensitive", what, min(k, other), max(k, other))
		}
		seen[l] = k
	}
	return nil
}

// ParseQueryParams reads list parameters from a URL query. Parameter names
// are matched case-insensitively.
func ParseQueryParams(v url.Values) (RawQuery, error) {
	q := RawQuery{StartIndex: 1, Count: -1}
	if err := CaseDuplicate(v, "the query"); err != nil {
		return RawQuery{}, err
	}
	for k, vals := range v {
		if len(vals) == 0 {
			continue
		}
		val := vals[len(vals)-1]
		var err error
		switch strings.ToLower(k) {
		case "filter":
			q.Filter = val
		case "sortby":
			q.SortBy = val
		case "sortorder":
			q.SortOrder = val
		case "startindex":
			q.StartIndex, err = parseIndex(k, val)
		case "count":
			q.Count, err = parseCount(k, val)
		case "attributes":
			q.Attributes = vals
		case "excludedattributes":
			q.Excluded = vals
		}
		if err != nil {
			return RawQuery{}, err
		}
	}
	return q.clamp(), nil
}

func parseIndex(name, s string) (int, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if errors.Is(err, strconv.ErrRange) {
		err = nil // an integer past int64: clamped as a large one is
	}
	if err != nil {
		return 0, Errorf(CodeInvalidValue, "%s must be an integer, got %q", name, s)
	}
	return int(max(min(n, 1<<31), -1<<31)), nil
}

// parseCount parses a count parameter. A negative count means 0 (RFC 7644
// section 3.4.2.4); it must not be left at -1, which means absent.
func parseCount(name, s string) (int, error) {
	n, err := parseIndex(name, s)
	return max(n, 0), err
}

func (q RawQuery) clamp() RawQuery {
	if q.StartIndex < 1 {
		q.StartIndex = 1
	}
	return q
}

// ParseSearchBody reads a POST .search body (RFC 7644 section 3.4.3).
func ParseSearchBody(body map[string]any) (RawQuery, error) {
	q := RawQuery{StartIndex: 1, Count: -1}
	if err := CaseDuplicate(body, "the search request"); err != nil {
		return RawQuery{}, err
	}
	for k, v := range body {
		var err error
		switch strings.ToLower(k) {
		case "schemas":
			list, _ := v.([]any)
			ok := false
			for _, s := range list {
				if u, _ := s.(string); strings.EqualFold(u, SearchRequestSchema) {
					ok = true
				}
			}
			if !ok {
				return RawQuery{}, Errorf(CodeInvalidValue, "schemas must include %s", SearchRequestSchema)
			}
		case "filter":
			q.Filter, err = bodyString(k, v)
		case "sortby":
			q.SortBy, err = bodyString(k, v)
		case "sortorder":
			q.SortOrder, err = bodyString(k, v)
		case "startindex":
			q.StartIndex, err = bodyInt(k, v)
		case "count":
			q.Count, err = bodyInt(k, v)
			q.Count = max(q.Count, 0) // negative means 0, as in parseCount
		case "attributes":
			q.Attributes, err = bodyStrings(k, v)
		case "excludedattributes":
			q.Excluded, err = bodyStrings(k, v)
		}
		if err != nil {
			return RawQuery{}, err
		}
	}
	return q.clamp(), nil
}

func bodyString(k string, v any) (string, error) {
	s, ok := v.(string)
	if !ok {
		return "", Errorf(CodeInvalidValue, "%s must be a string", k)
	}
	return s, nil
}

func bodyInt(k string, v any) (int, error) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, Errorf(CodeInvalidValue, "%s must be an integer", k)
	}
	return parseIndex(k, n.String())
}

func bodyStrings(k string, v any) ([]string, error) {
	list, ok := v.([]any)
	if !ok {
		if s, isStr := v.(string); isStr {
			return []string{s}, nil
		}
		return nil, Errorf(CodeInvalidValue, "%s must be an array of attribute names", k)
	}
	out := make([]string, 0, len(list))
	for _, e := range list {
		s, ok := e.(string)
		if !ok {
			return nil, Errorf(CodeInvalidValue, "%s must be an array of attribute names", k)
		}
		out = append(out, s)
	}
	return out, nil
}

// Query is a list or search request checked against one resource type.
type Query struct {
	Filter     *filter.Filter // nil: every resource
	SortBy     *filter.AttrPath
	Descending bool
	StartIndex int
	Count      int // -1: absent
	Projection *Projection
}

// Compile checks q against rt.
func (q RawQuery) Compile(rt *schema.ResourceType) (*Query, error) {
	out := &Query{StartIndex: q.StartIndex, Count: q.Count}
	if strings.TrimSpace(q.Filter) != "" {
		f, err := filter.Compile(rt, q.Filter)
		if err != nil {
			return nil, Errorf(CodeInvalidFilter, "%v", err)
		}
		out.Filter = f
	}
	if q.SortBy != "" {
		p, err := filter.ParseAttrPath(rt, q.SortBy)
		if err != nil || p.Attr == nil {
			return nil, Errorf(CodeInvalidValue, "sortBy: unknown attribute %q", q.SortBy)
		}
		out.SortBy = &p
	}
	switch strings.ToLower(q.SortOrder) {
	case "", "ascending":
	case "descending":
		out.Descending = true
	default:
		return nil, Errorf(CodeInvalidValue, "sortOrder must be ascending or descending, got %q", q.SortOrder)
	}
	proj, err := ParseProjection(rt, q.Attributes, q.Excluded)
	if err != nil {
		return nil, err
	}
	out.Projection = proj
	return out, nil
}
