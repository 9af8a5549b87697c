package config

import (
	"reflect"
	"strings"
)

// reloadable are the field paths a running server applies on reload; a
// change to any other field needs a restart.
var reloadable = map[string]bool{"routes": true}

// NeedsRestart returns the field paths (as in FieldError, "log.level",
// "audit.export") whose values differ between the running configuration
// and next, leaving out the routes, which a reload applies. A list that is
// empty in both counts as unchanged, whether written or left out.
func NeedsRestart(running, next *Config) []string {
	var out []string
	diffFields(reflect.ValueOf(*running), reflect.ValueOf(*next), "", &out)
	return out
}

func diffFields(a, b reflect.Value, path string, out *[]string) {
	t := a.Type()
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if name == "" || name == "-" {
			continue
		}
		p := join(path, name)
		if reloadable[p] {
			continue
		}
		fa, fb := a.Field(i), b.Field(i)
		switch {
		case fa.Kind() == reflect.Struct && fa.Type() != durationType:
			diffFields(fa, fb, p, out)
		case fa.Kind() == reflect.Slice && fa.Len() == 0 && fb.Len() == 0:
		case !reflect.DeepEqual(fa.Interface(), fb.Interface()):
			*out = append(*out, p)
		}
	}
}
