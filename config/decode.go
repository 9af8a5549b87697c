package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// decodeStrict decodes YAML into out (a pointer to a struct) after checking
// the document against out's type, so that an unknown key or a value of
// the wrong type is reported with its line, field path and a hint, and
// every such problem is reported at once.
func decodeStrict(data []byte, out any) error {
	var root yaml.Node
	docs := yaml.NewDecoder(bytes.NewReader(data))
	if err := docs.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return nil // empty file: defaults only
		}
		return fmt.Errorf("invalid YAML: %w", err)
	}
	// yaml reads the first document only: a second would be ignored.
	var second yaml.Node
	if err := docs.Decode(&second); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("invalid YAML: %w", err)
	} else if err == nil && len(second.Content) > 0 && second.Content[0].Tag != "!!null" {
		return &FieldError{Path: "(top level)", Line: second.Content[0].Line, Msg: "a second YAML document (after ---) would be ignored",
			Hint: "a configuration is one document: remove the --- and merge the two"}
	}
	if len(root.Content) == 0 {
		return nil // empty file: defaults only
	}
	if !withinNodes(root.Content[0], maxNodes) {
		return fmt.Errorf("invalid configuration: more than %d values once its aliases are expanded; write the values out, or use fewer aliases", maxNodes)
	}
	var errs []error
	check(root.Content[0], reflect.TypeOf(out).Elem(), "", &errs)
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(out); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("invalid configuration: %w", err)
	}
	return nil
}

var durationType = reflect.TypeOf(time.Duration(0))

// maxNodes bounds a configuration's size with its aliases expanded: a few
// aliases of aliases make a small file expand to billions of values
// ("billion laughs"), which checking and decoding would walk. A thousand
// routes of twenty groups each come to some 100,000.
const maxNodes = 1_000_000

// withinNodes reports whether n, aliases expanded, has at most budget
// nodes. It stops counting as soon as the budget is spent.
func withinNodes(n *yaml.Node, budget int) bool {
	var walk func(n *yaml.Node) bool
	walk = func(n *yaml.Node) bool {
		budget--
		if budget < 0 {
			return false
		}
		if n.Kind == yaml.AliasNode && n.Alias != nil {
			return walk(n.Alias)
		}
		for _, c := range n.Content {
			if !walk(c) {
				return false
			}
		}
		return true
	}
	return walk(n)
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// check walks node against type t.
func check(n *yaml.Node, t reflect.Type, path string, errs *[]error) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Tag == "!!null" {
		return
	}
	bad := func(msg, hint string) {
		where := path
		if where == "" {
			where = "(top level)"
		}
		*errs = append(*errs, &FieldError{Path: where, Line: n.Line, Msg: msg, Hint: hint})
	}
	switch {
	case t == durationType:
		if _, err := time.ParseDuration(n.Value); n.Kind != yaml.ScalarNode || err != nil {
			bad(fmt.Sprintf("%q is not a duration", n.Value), `for example "30s" or "12h"`)
		}
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			bad("must be a mapping of keys to values", "")
			return
		}
		fields := map[string]reflect.Type{}
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name != "" && name != "-" {
				fields[name] = f.Type
			}
		}
		dupKeys(n, path, errs)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Tag == "!!merge" { // "<<: *anchor" merges another mapping here
				check(n.Content[i+1], t, path, errs)
				continue
			}
			ft, ok := fields[k.Value]
			if !ok {
				*errs = append(*errs, &FieldError{Path: join(path, k.Value), Line: k.Line, Msg: "unknown key", Hint: keyHint(k.Value, fields)})
				continue
			}
			check(n.Content[i+1], ft, join(path, k.Value), errs)
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			bad("must be a list", "")
			return
		}
		for i, c := range n.Content {
			at := fmt.Sprintf("%s[%d]", path, i)
			if c.Kind == yaml.ScalarNode && c.Tag == "!!null" {
				// "- " with nothing after it, or "~": dropped silently by
				// decoding, which hides a cut-off or mis-indented entry.
				*errs = append(*errs, &FieldError{Path: at, Line: c.Line, Msg: "is empty", Hint: "remove the empty entry, or indent its keys under the -"})
				continue
			}
			check(c, t.Elem(), at, errs)
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			bad("must be a mapping", "")
			return
		}
		dupKeys(n, path, errs)
		for i := 0; i+1 < len(n.Content); i += 2 {
			check(n.Content[i+1], t.Elem(), join(path, n.Content[i].Value), errs)
		}
	case reflect.Int, reflect.Int64, reflect.Int32:
		switch {
		case n.Kind != yaml.ScalarNode:
			bad("must be a single integer, not a list or mapping", "")
		case n.Tag != "!!int":
			bad(fmt.Sprintf("%q is not an integer", n.Value), quoteHint(n, "write the number without quotes"))
		default:
			if _, err := strconv.ParseInt(n.Value, 0, 64); err != nil {
				bad(fmt.Sprintf("%s is out of range", n.Value), "")
			}
		}
	case reflect.Float32, reflect.Float64:
		switch {
		case n.Kind != yaml.ScalarNode:
			bad("must be a single number, not a list or mapping", "")
		case n.Tag != "!!float" && n.Tag != "!!int":
			bad(fmt.Sprintf("%q is not a number", n.Value), quoteHint(n, "write the number without quotes"))
		}
	case reflect.Bool:
		switch {
		case n.Kind != yaml.ScalarNode:
			bad("must be true or false, not a list or mapping", "")
		case n.Tag != "!!bool":
			bad(fmt.Sprintf("%q is not a boolean", n.Value), quoteHint(n, "true or false, without quotes"))
		}
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			bad("must be a single value, not a list or mapping", "quote it if it contains a colon")
		}
	}
}

// dupKeys reports the keys a mapping gives twice: decoding would refuse
// them without saying where.
func dupKeys(n *yaml.Node, path string, errs *[]error) {
	first := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if k.Tag == "!!merge" {
			continue
		}
		if line, dup := first[k.Value]; dup {
			*errs = append(*errs, &FieldError{Path: join(path, k.Value), Line: k.Line,
				Msg: "is given twice", Hint: fmt.Sprintf("first on line %d; keep one", line)})
			continue
		}
		first[k.Value] = k.Line
	}
}

// quoteHint returns hint when the scalar was quoted, the likely mistake.
func quoteHint(n *yaml.Node, hint string) string {
	if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 {
		return hint
	}
	return ""
}

// keyHint suggests the closest known key and lists all of them.
func keyHint(key string, fields map[string]reflect.Type) string {
	names := make([]string, 0, len(fields))
	for name := range fields {
		names = append(names, name)
	}
	sort.Strings(names)
	best, bestD := "", 1<<30
	for _, name := range names {
		if d := distance(strings.ToLower(key), name); d < bestD {
			best, bestD = name, d
		}
	}
	hint := "known keys: " + strings.Join(names, ", ")
	if best != "" && bestD <= max(2, len(key)/3) {
		hint = fmt.Sprintf("did you mean %q? %s", best, hint)
	}
	return hint
}

// distance is the Levenshtein distance between a and b.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
