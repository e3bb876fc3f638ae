package config

import (
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2/unstable"
)

var durationType = reflect.TypeFor[Duration]()

// durationKeys appends the dotted key of every Duration field reachable from
// t to keys; fields of array elements ([[upstream]]) appear as
// "upstream[].fail_window".
func durationKeys(keys []string, t reflect.Type, prefix string) []string {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
		if name == "" || name == "-" {
			continue
		}
		switch {
		case f.Type == durationType:
			keys = append(keys, prefix+name)
		case f.Type.Kind() == reflect.Struct:
			keys = durationKeys(keys, f.Type, prefix+name+".")
		case f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.Struct:
			keys = durationKeys(keys, f.Type.Elem(), prefix+name+"[].")
		}
	}
	return keys
}

// checkDurationTypes reports Duration keys given a TOML value other than a
// string (timeouts.connect = 5). go-toml hands such a value's text to
// UnmarshalText but drops its position from the error, so this pass finds
// the line. A document that does not parse is left to the decoder.
func checkDurationTypes(data []byte) []*Error {
	keys := durationKeys(nil, reflect.TypeFor[Config](), "")
	var errs []*Error
	var p unstable.Parser
	p.Reset(data)
	var table []string
	// The array tables being filled, outermost first ("upstream", then
	// "upstream.backends"), and how many elements of each have begun: keys
	// inside one are reported as "upstream[2].fail_window" and matched as
	// "upstream[].fail_window".
	var arrays []string
	elems := map[string]int{}
	for p.NextExpression() {
		expr := p.Expression()
		switch expr.Kind {
		case unstable.Table, unstable.ArrayTable:
			table = table[:0]
			for it := expr.Key(); it.Next(); {
				table = append(table, string(it.Node().Data))
			}
			t := strings.Join(table, ".")
			arrays = slices.DeleteFunc(arrays, func(a string) bool { return !within(t, a) })
			if expr.Kind == unstable.ArrayTable {
				if len(arrays) > 0 && arrays[len(arrays)-1] == t {
					arrays = arrays[:len(arrays)-1]
				}
				arrays = append(arrays, t)
				elems[t]++
			}
		case unstable.KeyValue:
			path := append([]string(nil), table...)
			var first *unstable.Node
			for it := expr.Key(); it.Next(); {
				if first == nil {
					first = it.Node()
				}
				path = append(path, string(it.Node().Data))
			}
			key, shape := strings.Join(path, "."), strings.Join(path, ".")
			for i := len(arrays) - 1; i >= 0; i-- { // innermost first
				a := arrays[i]
				key = a + "[" + strconv.Itoa(elems[a]-1) + "]" + key[len(a):]
				shape = a + "[]" + shape[len(a):]
			}
			v := expr.Value()
			if v.Kind == unstable.String || !slices.Contains(keys, shape) {
				continue
			}
			line := 0
			if first != nil {
				line = p.Shape(first.Raw).Start.Line
			}
			errs = append(errs, &Error{Line: line, Key: key,
				Msg: "want a duration string such as \"5s\", not " + string(p.Raw(v.Raw)), Err: ErrInvalid})
		}
	}
	return errs
}

// within reports whether dotted key k is table t or inside it.
func within(k, t string) bool {
	return k == t || strings.HasPrefix(k, t+".")
}
