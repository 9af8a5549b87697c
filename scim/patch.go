package scim

import (
	"fmt"
	"reflect"
	"strings"

	"github.com/scimgate/scimgate/scim/filter"
	"github.com/scimgate/scimgate/scim/schema"
)

// PatchSchema is the URN of a PATCH request.
const PatchSchema = "urn:ietf:params:scim:api:messages:2.0:PatchOp"

// MaxPatchOperations bounds the operations of one PATCH request.
const MaxPatchOperations = 10000

// PatchOp is one validated PATCH operation.
type PatchOp struct {
	Op       string       // "add", "replace" or "remove"
	Path     *filter.Path // nil when the request has no path
	Value    any
	HasValue bool
}

// ParsePatch validates a PATCH request body. Operation names are accepted
// in any case because Entra ID sends "Add", "Replace" and "Remove".
func ParsePatch(rt *schema.ResourceType, body map[string]any) ([]PatchOp, error) {
	if err := CaseDuplicate(body, "the PATCH request"); err != nil {
		return nil, err
	}
	var rawOps any
	for k, v := range body {
		switch {
		case strings.EqualFold(k, "schemas"):
			list, _ := v.([]any)
			ok := false
			for _, s := range list {
				if u, _ := s.(string); strings.EqualFold(u, PatchSchema) {
					ok = true
				}
			}
			if !ok {
				return nil, Errorf(CodeInvalidValue, "schemas must include %s", PatchSchema)
			}
		case strings.EqualFold(k, "Operations"):
			rawOps = v
		}
	}
	list, ok := rawOps.([]any)
	if !ok || len(list) == 0 {
		return nil, Errorf(CodeInvalidValue, "Operations must be a non-empty array")
	}
	if len(list) > MaxPatchOperations {
		return nil, Errorf(CodeTooMany, "a PATCH may carry at most %d operations", MaxPatchOperations)
	}
	ops := make([]PatchOp, 0, len(list))
	for i, raw := range list {
		m, ok := raw.(map[string]any)
		if !ok {
			return nil, Errorf(CodeInvalidSyntax, "Operations[%d] must be an object", i)
		}
		if err := CaseDuplicate(m, fmt.Sprintf("Operations[%d]", i)); err != nil {
			return nil, err
		}
		var op PatchOp
		for k, v := range m {
			switch strings.ToLower(k) {
			case "op":
				s, _ := v.(string)
				op.Op = strings.ToLower(s)
			case "path":
				if v == nil {
					continue // null is unassigned (RFC 7643 section 2.5): no path
				}
				s, ok := v.(string)
				if !ok {
					return nil, Errorf(CodeInvalidPath, "Operations[%d].path must be a string", i)
				}
				if strings.TrimSpace(s) == "" {
					continue
				}
				p, err := filter.ParsePath(rt, s)
				if err != nil {
					return nil, Errorf(CodeInvalidPath, "Operations[%d].path %q: %v", i, s, err)
				}
				op.Path = p
			case "value":
				op.Value, op.HasValue = v, true
			}
		}
		switch op.Op {
		case "add", "replace":
			if !op.HasValue {
				return nil, Errorf(CodeInvalidValue, "Operations[%d]: %s needs a value", i, op.Op)
			}
		case "remove":
			if op.Path == nil {
				return nil, Errorf(CodeNoTarget, "Operations[%d]: remove needs a path", i)
			}
		default:
			return nil, Errorf(CodeInvalidValue, "Operations[%d].op must be add, replace or remove", i)
		}
		ops = append(ops, op)
	}
	return ops, nil
}

// Members edits a group's membership while a PATCH is applied. The
// directory implements it against the store so that adding or removing one
// member costs the same whatever the group's size.
type Members interface {
	// Add adds normalised member elements; existing members are no-ops.
	Add(elems []any) error
	// Remove removes members by id, ignoring ids that are not members, and
	// reports how many it removed.
	Remove(ids []string) (int, error)
	// Clear removes every member.
	Clear() error
	// List returns every member as an element (value, type, display), for
	// value filters that are not plain id matches.
	List() ([]map[string]any, error)
}

// ApplyPatch applies ops, in order, to a copy of doc and returns the copy.
// doc holds the stored attributes plus "id" so that a client echoing the id
// (Okta does on group renames) is recognised as no change. members may be
// nil for resource types without members. Either every operation applies
// or ApplyPatch returns an error; membership edits made through members
// before an error must be rolled back by the caller's transaction.
func ApplyPatch(rt *schema.ResourceType, doc map[string]any, ops []PatchOp, members Members) (map[string]any, error) {
	out, _ := deepCopy(doc).(map[string]any)
	if out == nil {
		out = map[string]any{}
	}
	pa := &patcher{rt: rt, doc: out, members: members}
	for _, op := range ops {
		if err := pa.apply(op); err != nil {
			return nil, err
		}
	}
	if err := checkRequired(rt, out, CodeMutability); err != nil {
		return nil, err
	}
	return out, nil
}

type patcher struct {
	rt      *schema.ResourceType
	doc     map[string]any
	members Members
	work    int // values of multi-valued attributes visited so far
}

// MaxPatchWork bounds the values of multi-valued attributes that one
// PATCH may visit, counting for each operation the attribute's values and
// the operation's: each operation may walk the whole list, and the
// store's writer, shared by every tenant, waits meanwhile. A group's
// members count only when an operation lists them all (a value filter
// other than value eq "id"). A PATCH over it is refused before anything
// is written.
const MaxPatchWork = 200_000

// spend counts an operation on a multi-valued attribute holding cur and
// given value.
func (pa *patcher) spend(cur, value any) error {
	n := 1
	if l, ok := cur.([]any); ok {
		n += len(l)
	}
	if l, ok := value.([]any); ok {
		n += len(l)
	}
	return pa.spendN(n)
}

// spendN counts n values visited.
func (pa *patcher) spendN(n int) error {
	if pa.work += n; pa.work > MaxPatchWork {
		return Errorf(CodeTooMany, "this PATCH visits more than %d values of multi-valued attributes; send it as several requests", MaxPatchWork)
	}
	return nil
}

func (pa *patcher) apply(op PatchOp) error {
	if op.Path != nil {
		return pa.applyPath(op.Op, op.Path, op.Value, op.HasValue)
	}
	obj, ok := op.Value.(map[string]any)
	if !ok {
		return Errorf(CodeInvalidValue, "%s without a path needs an object value", op.Op)
	}
	// Sorted for deterministic results when keys overlap ("name" and
	// "name.givenName" in one object).
	for _, k := range sortedKeys(obj) {
		if strings.EqualFold(k, "schemas") {
			continue
		}
		ap, err := filter.ParseAttrPath(pa.rt, k)
		if err != nil {
			return Errorf(CodeInvalidPath, "unknown attribute %q in %s value", k, op.Op)
		}
		if ap.Attr == nil { // an extension object: each of its attributes
			ext, ok := obj[k].(map[string]any)
			if !ok {
				return Errorf(CodeInvalidValue, "%s must be an object", k)
			}
			for _, ek := range sortedKeys(ext) {
				ev := ext[ek]
				a := ap.Schema.Attr(ek)
				if a == nil {
					return Errorf(CodeInvalidPath, "unknown attribute %q in %s", ek, ap.Schema.ID)
				}
				if err := pa.applyPath(op.Op, &filter.Path{AttrPath: filter.AttrPath{Schema: ap.Schema, Attr: a}}, ev, true); err != nil {
					return err
				}
			}
			continue
		}
		if err := pa.applyPath(op.Op, &filter.Path{AttrPath: ap}, obj[k], true); err != nil {
			return err
		}
	}
	return nil
}

func (pa *patcher) applyPath(op string, p *filter.Path, value any, hasValue bool) error {
	a := p.Attr
	switch a.Mutability {
	case schema.ReadOnly:
		// Echoing a read-only value unchanged is not a modification.
		if op != "remove" && p.Sub == nil && p.ValueFilter == nil && reflect.DeepEqual(pa.doc[a.Name], value) {
			return nil
		}
		return Errorf(CodeMutability, "%s is read-only", p.String())
	case schema.WriteOnly:
		return nil // password: accepted, never stored
	}
	if pa.members != nil && pa.rt.Schema.Attr("members") == a {
		return pa.applyMembers(op, p, value, hasValue)
	}
	if p.Sub != nil && (p.Sub.Mutability == schema.ReadOnly || p.Sub.Mutability == schema.Immutable) {
		return Errorf(CodeMutability, "%s is %s", p.String(), p.Sub.Mutability)
	}
	c := container(pa.doc, p.AttrPath, op != "remove")
	defer pruneExtension(pa.doc, p.AttrPath)
	if c == nil {
		return nil // removing from an absent extension
	}
	if a.MultiValued {
		if err := pa.spend(c[a.Name], value); err != nil {
			return err
		}
	}
	switch {
	case p.ValueFilter != nil:
		return pa.filtered(op, c, p, value)
	case p.Sub != nil:
		return pa.subAttr(op, c, p, value)
	case op == "remove":
		if a.MultiValued && hasValue {
			return removeValues(c, a, value)
		}
		delete(c, a.Name)
		return nil
	}
	nv, err := normValue(a, value, p.String())
	if err != nil {
		return err
	}
	switch {
	case a.MultiValued && op == "add":
		return addValues(c, a, nv)
	case a.Type == schema.Complex && !a.MultiValued && value != nil:
		// Add and replace both merge sub-attributes into a single-valued
		// complex attribute (RFC 7644 section 3.5.2.1 and 3.5.2.3); a
		// sub-attribute given as null is unassigned (RFC 7643 section 2.5).
		// A null value for the whole attribute is handled by the default
		// case: it unassigns the attribute.
		cur, _ := c[a.Name].(map[string]any)
		merged := map[string]any{}
		for k, v := range cur {
			merged[k] = v
		}
		mergeSubs(merged, a, value, nv)
		setOrDelete(c, a.Name, emptyToNil(merged))
	default:
		setOrDelete(c, a.Name, nv)
	}
	return nil
}

// subAttr handles "name.givenName"-style paths without a value filter.
func (pa *patcher) subAttr(op string, c map[string]any, p *filter.Path, value any) error {
	a, sub := p.Attr, p.Sub
	if a.MultiValued {
		if op != "remove" {
			return Errorf(CodeInvalidPath, "%s is multi-valued; select values with a filter such as %s[type eq \"work\"].%s", a.Name, a.Name, sub.Name)
		}
		list, _ := c[a.Name].([]any)
		for _, e := range list {
			if m, ok := e.(map[string]any); ok {
				delete(m, sub.Name)
			}
		}
		setOrDelete(c, a.Name, compact(list))
		return nil
	}
	cur, _ := c[a.Name].(map[string]any)
	if op == "remove" {
		if cur != nil {
			delete(cur, sub.Name)
			setOrDelete(c, a.Name, emptyToNil(cur))
		}
		return nil
	}
	nv, err := normSingle(sub, value, p.String())
	if err != nil {
		return err
	}
	if cur == nil {
		cur = map[string]any{}
	}
	setOrDelete(cur, sub.Name, nv)
	setOrDelete(c, a.Name, emptyToNil(cur))
	return nil
}

// filtered handles value-filter paths such as emails[type eq "work"] and
// emails[type eq "work"].value.
func (pa *patcher) filtered(op string, c map[string]any, p *filter.Path, value any) error {
	a := p.Attr
	list, _ := c[a.Name].([]any)
	var hits []int
	for i, e := range list {
		if m, ok := e.(map[string]any); ok && p.ValueFilter.Match(m) {
			hits = append(hits, i)
		}
	}
	elem := func(i int) map[string]any { return list[i].(map[string]any) }
	if op == "remove" {
		if len(hits) == 0 && pa.rt.Schema.Attr("members") != a {
			// RFC 7644 section 3.12: a path filter that yields no match is
			// noTarget. Group members keep their idempotent removal (see
			// applyMembers), which this path serves without an editor.
			return Errorf(CodeNoTarget, "no value of %s matches %s", a.Name, p.String())
		}
		if p.Sub != nil {
			for _, i := range hits {
				delete(elem(i), p.Sub.Name)
			}
		} else {
			// One pass: removing each hit by shifting the rest would cost
			// the list's length for every hit.
			kept, h := list[:0], 0
			for i, e := range list {
				if h < len(hits) && hits[h] == i {
					h++
					continue
				}
				kept = append(kept, e)
			}
			clear(list[len(kept):])
			list = kept
		}
		setOrDelete(c, a.Name, compact(list))
		return nil
	}
	if p.Sub != nil {
		nv, err := normSingle(p.Sub, value, p.String())
		if err != nil {
			return err
		}
		if len(hits) == 0 {
			// Entra ID sets emails[type eq "work"].value on users that have
			// no work email yet: create the value the filter describes.
			m, ok := elementFromFilter(p.ValueFilter.Expr())
			if !ok {
				return Errorf(CodeNoTarget, "no value of %s matches %s", a.Name, p.String())
			}
			list = append(list, m)
			hits = append(hits, len(list)-1)
		}
		for _, i := range hits {
			setOrDelete(elem(i), p.Sub.Name, nv)
		}
		// A hit may now be primary: set through .primary, or created from
		// a filter such as [type eq "work" and primary eq true].
		for _, i := range hits {
			if elem(i)["primary"] == true {
				clearPrimary(list, i)
				break
			}
		}
		setOrDelete(c, a.Name, compact(dedupe(a, list)))
		return nil
	}
	if len(hits) == 0 {
		return Errorf(CodeNoTarget, "no value of %s matches %s", a.Name, p.String())
	}
	nv, err := normSingle(a, value, p.String())
	if err != nil {
		return err
	}
	repl, _ := nv.(map[string]any)
	for _, i := range hits {
		m := elem(i)
		if op == "replace" {
			clear(m)
		}
		mergeSubs(m, a, value, repl)
	}
	if repl["primary"] == true {
		clearPrimary(list, hits[0])
	}
	setOrDelete(c, a.Name, compact(dedupe(a, list)))
	return nil
}

// mergeSubs merges the normalised complex value nv of attribute a into m.
// Sub-attributes that the raw value gives as null are removed from m: null
// is equivalent to unassigned (RFC 7643 section 2.5), and normalisation
// has already dropped them from nv.
func mergeSubs(m map[string]any, a *schema.Attribute, raw, nv any) {
	if n, ok := nv.(map[string]any); ok {
		for k, v := range n {
			m[k] = v
		}
	}
	rm, _ := raw.(map[string]any)
	for k, v := range rm {
		if v != nil {
			continue
		}
		if sub := a.Sub(k); sub != nil && sub.Mutability != schema.ReadOnly {
			delete(m, sub.Name)
		}
	}
}

// addValues appends the values of nv not already present. A value that is
// present already (the same type and value, see sameValue) changes nothing
// (RFC 7644 section 3.5.2.1) except that it may make the existing value
// primary.
func addValues(c map[string]any, a *schema.Attribute, nv any) error {
	add, _ := nv.([]any)
	if len(add) == 0 {
		return nil
	}
	list, _ := c[a.Name].([]any)
	x := newValueIndex(a, len(list)+len(add))
	for i, v := range list {
		x.add(i, v)
	}
	primary := -1
	for _, v := range add {
		i := x.find(list, v)
		if i < 0 {
			x.add(len(list), v)
			list = append(list, v)
			i = len(list) - 1
		} else {
			mergeDuplicate(list[i], v)
		}
		if isPrimary(v) {
			primary = i
		}
	}
	if primary >= 0 {
		clearPrimary(list, primary)
	}
	c[a.Name] = list
	return nil
}

// removeValues removes the given values from a multi-valued attribute:
// complex values match on their "value" sub-attribute when they have one.
func removeValues(c map[string]any, a *schema.Attribute, value any) error {
	nv, err := normValue(a, value, a.Name)
	if err != nil {
		return err
	}
	drop, _ := nv.([]any)
	list, _ := c[a.Name].([]any)
	gone, err := dropped(a, list, drop)
	if err != nil {
		return err
	}
	var kept []any
	for i, e := range list {
		if !gone[i] {
			kept = append(kept, e)
		}
	}
	setOrDelete(c, a.Name, compact(kept))
	return nil
}

// maxUnindexedCompares bounds the comparisons of values to remove that
// cannot be looked up by value (a complex value without "value") with
// the values of an attribute: each is compared with each.
const maxUnindexedCompares = 1 << 20

// dropped marks the values of list that a value of drop removes
// (matchesAny). A value to remove is looked up by its value — the
// "value" sub-attribute of a complex value, a simple value itself —
// rather than compared with every value of the list: a PATCH may name
// a hundred thousand values to remove from as many.
func dropped(a *schema.Attribute, list, drop []any) ([]bool, error) {
	var valueSub *schema.Attribute
	if a.Type == schema.Complex {
		valueSub = a.Sub("value")
	}
	// keyOf is the key values that matchesAny may match share; ok is
	// false for a value without one. A value with a key never matches a
	// value without (matchesAny's cases compare the "value"
	// sub-attributes, or simple values, or whole values of one shape).
	keyOf := func(v any) (string, bool) {
		m, isMap := v.(map[string]any)
		switch {
		case a.Type != schema.Complex && !isMap:
			return subKey(a, v), true
		case valueSub != nil && isMap && m["value"] != nil:
			return subKey(valueSub, m["value"]), true
		}
		return "", false
	}
	byKey := make(map[string][]int, len(list))
	for i, e := range list {
		if k, ok := keyOf(e); ok {
			byKey[k] = append(byKey[k], i)
		}
	}
	gone := make([]bool, len(list))
	unindexed := 0
	for _, d := range drop {
		one := []any{d}
		if k, ok := keyOf(d); ok {
			for _, i := range byKey[k] {
				gone[i] = gone[i] || matchesAny(a, list[i], one)
			}
			continue
		}
		if unindexed += len(list); unindexed > maxUnindexedCompares {
			return nil, Errorf(CodeTooMany, "too many values of %s to compare with the values to remove; name them by value", a.Name)
		}
		for i, e := range list {
			gone[i] = gone[i] || matchesAny(a, e, one)
		}
	}
	return gone, nil
}

// matchesAny reports whether e is one of the values to remove. Values
// compare as add compares them (sameValue: strings without case unless
// caseExact), except that a value to remove that names no type removes
// the value whatever its type: {"value": "x@h.org"} removes the work
// address, {"value": "x@h.org", "type": "home"} does not.
func matchesAny(a *schema.Attribute, e any, drop []any) bool {
	em, _ := e.(map[string]any)
	var valueSub, typeSub *schema.Attribute
	if a.Type == schema.Complex {
		valueSub, typeSub = a.Sub("value"), a.Sub("type")
	}
	for _, d := range drop {
		dm, _ := d.(map[string]any)
		switch {
		case em != nil && dm != nil && dm["value"] != nil && valueSub != nil:
			if equalSub(valueSub, em["value"], dm["value"]) &&
				(dm["type"] == nil || typeSub == nil || equalSub(typeSub, em["type"], dm["type"])) {
				return true
			}
		case em != nil && dm != nil && dm["value"] != nil:
			if reflect.DeepEqual(em["value"], dm["value"]) {
				return true
			}
		case em == nil && dm == nil && a.Type != schema.Complex:
			if equalSub(a, e, d) {
				return true
			}
		default:
			if reflect.DeepEqual(e, d) {
				return true
			}
		}
	}
	return false
}

// compact drops elements left empty; nil when nothing remains.
func compact(list []any) any {
	var out []any
	for _, e := range list {
		if m, ok := e.(map[string]any); ok && len(m) == 0 {
			continue
		}
		out = append(out, e)
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// clearPrimary unsets primary on every element but list[keep]: at most one
// value may be primary (RFC 7643 section 2.4).
func clearPrimary(list []any, keep int) {
	for i, e := range list {
		if m, ok := e.(map[string]any); ok && i != keep && m["primary"] == true {
			delete(m, "primary")
		}
	}
}

// elementFromFilter builds the element a filter of equality tests joined by
// "and" describes, such as {"type":"work"} for type eq "work".
func elementFromFilter(e filter.Expr) (map[string]any, bool) {
	switch x := e.(type) {
	case *filter.Compare:
		if x.Op != filter.Eq || x.Value == nil || x.Path.Sub != nil {
			return nil, false
		}
		return map[string]any{x.Path.Attr.Name: x.Value}, true
	case *filter.And:
		l, ok1 := elementFromFilter(x.Left)
		r, ok2 := elementFromFilter(x.Right)
		if !ok1 || !ok2 {
			return nil, false
		}
		for k, v := range r {
			l[k] = v
		}
		return l, true
	}
	return nil, false
}

// idsFromFilter recognises value filters that name member ids exactly,
// value eq "id" joined by "or", so that they need no member listing.
func idsFromFilter(e filter.Expr) ([]string, bool) {
	switch x := e.(type) {
	case *filter.Compare:
		s, ok := x.Value.(string)
		if x.Op != filter.Eq || !ok || x.Path.Attr.Name != "value" || x.Path.Sub != nil {
			return nil, false
		}
		return []string{s}, true
	case *filter.Or:
		l, ok1 := idsFromFilter(x.Left)
		r, ok2 := idsFromFilter(x.Right)
		return append(l, r...), ok1 && ok2
	}
	return nil, false
}

// applyMembers routes operations on a group's members to the Members
// editor instead of rewriting a member list.
func (pa *patcher) applyMembers(op string, p *filter.Path, value any, hasValue bool) error {
	if p.Sub != nil {
		return Errorf(CodeMutability, "%s: member sub-attributes are immutable; remove the member and add it again", p.String())
	}
	a := p.Attr
	if p.ValueFilter != nil {
		if op == "add" {
			return Errorf(CodeInvalidPath, "%s: add members with path \"members\" and a list of values", p.String())
		}
		ids, ok := idsFromFilter(p.ValueFilter.Expr())
		if !ok {
			all, err := pa.members.List()
			if err != nil {
				return err
			}
			if err := pa.spendN(1 + len(all)); err != nil {
				return err
			}
			ids = ids[:0]
			for _, m := range all {
				if p.ValueFilter.Match(m) {
					id, _ := m["value"].(string)
					ids = append(ids, id)
				}
			}
		}
		removed, err := pa.members.Remove(ids)
		if err != nil {
			return err
		}
		if op == "remove" {
			return nil // removing a member that is not there is a no-op
		}
		if removed == 0 {
			// RFC 7644 section 3.5.2.3: a replace whose filter matches no
			// value fails rather than adding silently.
			return Errorf(CodeNoTarget, "no member matches %s", p.String())
		}
		nv, err := normValue(a, value, p.String())
		if err != nil {
			return err
		}
		list, _ := nv.([]any)
		return pa.members.Add(list)
	}
	if op == "remove" {
		if !hasValue {
			return pa.members.Clear()
		}
		// Entra ID: {"op":"Remove","path":"members","value":[{"value":"id"}]}
		// removes those members only.
		nv, err := normValue(a, value, p.String())
		if err != nil {
			return err
		}
		list, _ := nv.([]any)
		var ids []string
		for _, e := range list {
			m, _ := e.(map[string]any)
			if id, ok := m["value"].(string); ok {
				ids = append(ids, id)
			}
		}
		if len(ids) == 0 {
			// A remove that names no member must not answer success and do
			// nothing; omit value to remove every member.
			return Errorf(CodeInvalidValue, "%s: remove with a value must name members as [{\"value\": \"id\"}]; omit value to remove every member", p.String())
		}
		_, err = pa.members.Remove(ids)
		return err
	}
	nv, err := normValue(a, value, p.String())
	if err != nil {
		return err
	}
	list, _ := nv.([]any)
	if op == "replace" {
		if err := pa.members.Clear(); err != nil {
			return err
		}
	}
	return pa.members.Add(list)
}

// deepCopy copies a JSON-like value.
func deepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = deepCopy(e)
		}
		return m
	case []any:
		l := make([]any, len(x))
		for i, e := range x {
			l[i] = deepCopy(e)
		}
		return l
	}
	return v
}
