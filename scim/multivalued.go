package scim

import (
	"encoding/json"
	"reflect"
	"strings"

	"github.com/scimgate/scimgate/scim/schema"
)

// Multi-valued attributes must not hold the same value twice: RFC 7643
// section 2.4 says a service provider SHOULD NOT return the same (type,
// value) combination more than once, and RFC 7644 section 3.5.2.1 makes
// adding a value that exists already no change. Two values of a complex
// attribute with a "value" sub-attribute are the same when their value
// and type sub-attributes are equal under each sub-attribute's caseExact
// rule ("ALICE@home.org" is "alice@home.org" for emails, whose value is
// not caseExact); other values are the same only when they are equal.
//
// Group members are left out: the directory stores them as edges keyed by
// member id, where re-adding a member is already a no-op.

// dedupable reports whether the values of a are de-duplicated here.
func dedupable(a *schema.Attribute) bool {
	return a.MultiValued && a != schema.Group.Attr("members")
}

// sameValue reports whether x and y are the same value of attribute a.
func sameValue(a *schema.Attribute, x, y any) bool {
	xm, xok := x.(map[string]any)
	ym, yok := y.(map[string]any)
	if !xok || !yok || a.Type != schema.Complex {
		return reflect.DeepEqual(x, y)
	}
	valueSub := a.Sub("value")
	if valueSub == nil || xm["value"] == nil || ym["value"] == nil {
		return reflect.DeepEqual(x, y)
	}
	if !equalSub(valueSub, xm["value"], ym["value"]) {
		return false
	}
	if typeSub := a.Sub("type"); typeSub != nil {
		return equalSub(typeSub, xm["type"], ym["type"])
	}
	return true
}

// equalSub compares two values of sub-attribute sub; strings compare
// case-insensitively unless sub is caseExact. Binary and reference values
// are always case-exact (RFC 7643 sections 2.3.6 and 2.3.7).
func equalSub(sub *schema.Attribute, x, y any) bool {
	exact := sub.CaseExact || sub.Type == schema.Binary || sub.Type == schema.Reference
	xs, xok := x.(string)
	ys, yok := y.(string)
	if xok && yok && !exact {
		return strings.EqualFold(xs, ys)
	}
	return reflect.DeepEqual(x, y)
}

// valueIndex finds, among the values of a list, the one that is the same
// as another, in constant time on average: a request may carry a list of
// a hundred thousand values, and comparing each with each would take
// minutes. Values are bucketed by a key that values the same always
// share (their value and type sub-attributes, folded unless caseExact, or
// their JSON), then compared exactly.
type valueIndex struct {
	a       *schema.Attribute
	buckets map[string][]int
}

func newValueIndex(a *schema.Attribute, n int) *valueIndex {
	return &valueIndex{a: a, buckets: make(map[string][]int, n)}
}

// find returns the index of the value in list that is the same as v, or
// -1; list must hold the values added so far, at their indexes.
func (x *valueIndex) find(list []any, v any) int {
	for _, i := range x.buckets[x.key(v)] {
		if x.same(list[i], v) {
			return i
		}
	}
	return -1
}

// add records that list[i] is v.
func (x *valueIndex) add(i int, v any) {
	k := x.key(v)
	x.buckets[k] = append(x.buckets[k], i)
}

func (x *valueIndex) same(a, b any) bool {
	if !dedupable(x.a) {
		return reflect.DeepEqual(a, b)
	}
	return sameValue(x.a, a, b)
}

// key is shared by every two values that are the same.
func (x *valueIndex) key(v any) string {
	if m, ok := v.(map[string]any); ok && dedupable(x.a) && x.a.Type == schema.Complex {
		if vs := x.a.Sub("value"); vs != nil && m["value"] != nil {
			k := "v" + subKey(vs, m["value"])
			if ts := x.a.Sub("type"); ts != nil {
				k += "\x00" + subKey(ts, m["type"])
			}
			return k
		}
	}
	return "j" + jsonKey(v)
}

// subKey is a sub-attribute value's part of a key: strings folded unless
// compared exactly (equalSub), anything else its JSON.
func subKey(sub *schema.Attribute, v any) string {
	if s, ok := v.(string); ok {
		if sub.CaseExact || sub.Type == schema.Binary || sub.Type == schema.Reference {
			return "s" + s
		}
		return "s" + strings.ToLower(s)
	}
	return "j" + jsonKey(v)
}

func jsonKey(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(b)
}

// mergeDuplicate folds dup into kept, the value already held that dup
// repeats: only primary carries over, so that re-adding a value as the
// primary one makes it primary.
func mergeDuplicate(kept, dup any) {
	if km, ok := kept.(map[string]any); ok && isPrimary(dup) {
		km["primary"] = true
	}
}

func isPrimary(v any) bool {
	m, ok := v.(map[string]any)
	return ok && m["primary"] == true
}

// dedupe returns list without values that repeat an earlier one, the first
// of each kept and made primary when a repeat was. It reuses list's array.
func dedupe(a *schema.Attribute, list []any) []any {
	if !dedupable(a) || len(list) < 2 {
		return list
	}
	x := newValueIndex(a, len(list))
	out := list[:0]
	for _, v := range list {
		if i := x.find(out, v); i >= 0 {
			mergeDuplicate(out[i], v)
			continue
		}
		x.add(len(out), v)
		out = append(out, v)
	}
	clear(list[len(out):])
	return out
}
