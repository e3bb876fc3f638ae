package config

import (
	"reflect"
	"strings"

	"github.com/pelletier/go-toml/v2/unstable"
)

var durationType = reflect.TypeFor[Duration]()

// durationKeys appends the dotted key of every Duration field reachable from
// t through struct fields (not through arrays) to keys.
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
	inArray := false
	for p.NextExpression() {
		expr := p.Expression()
		switch expr.Kind {
		case unstable.Table, unstable.ArrayTable:
			table = table[:0]
			for it := expr.Key(); it.Next(); {
				table = append(table, string(it.Node().Data))
			}
			inArray = expr.Kind == unstable.ArrayTable
		case unstable.KeyValue:
			if inArray {
				continue
			}
			path := append([]string(nil), table...)
			var first *unstable.Node
			for it := expr.Key(); it.Next(); {
				if first == nil {
					first = it.Node()
				}
				path = append(path, string(it.Node().Data))
			}
			key := strings.Join(path, ".")
			v := expr.Value()
			if v.Kind == unstable.String || !contains(keys, key) {
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

func contains(s []string, x string) bool {
	for _, y := range s {
		if y == x {
			return true
		}
	}
	return false
}
