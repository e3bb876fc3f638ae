package bench

import (
	"reflect"
	"strings"
	"testing"
)

// fillNonZero sets every field of v, a struct, to a non-zero value: numbers
// to 1, bools to true, strings to "x", maps and slices to one element.
func fillNonZero(v reflect.Value) {
	switch v.Kind() {
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fillNonZero(v.Field(i))
			}
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(1)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(1)
	case reflect.Float32, reflect.Float64:
		v.SetFloat(1)
	case reflect.Bool:
		v.SetBool(true)
	case reflect.String:
		v.SetString("x")
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		fillNonZero(k)
		fillNonZero(e)
		m.SetMapIndex(k, e)
		v.Set(m)
	case reflect.Slice:
		e := reflect.New(v.Type().Elem()).Elem()
		fillNonZero(e)
		v.Set(reflect.Append(reflect.MakeSlice(v.Type(), 0, 1), e))
	}
}

// zeroLeaves returns the paths of the fields of v, a struct, that are still
// zero, looking into nested structs.
func zeroLeaves(v reflect.Value, prefix string) []string {
	var out []string
	for i := range v.NumField() {
		f, fv := v.Type().Field(i), v.Field(i)
		switch {
		case !f.IsExported():
		case fv.Kind() == reflect.Struct:
			out = append(out, zeroLeaves(fv, prefix+f.Name+".")...)
		case fv.IsZero():
			out = append(out, prefix+f.Name)
		}
	}
	return out
}

// mergeFilled merges, with merge, two reports of type R whose every field
// is set, into a zero report, and returns it.
func mergeFilled[R any](merge func(rep *R, parts []*R)) any {
	var a, b R
	fillNonZero(reflect.ValueOf(&a).Elem())
	fillNonZero(reflect.ValueOf(&b).Elem())
	rep := new(R)
	merge(rep, []*R{&a, &b})
	return rep
}

// mergeTimedNoHist is mergeTimed with an empty histogram.
func mergeTimedNoHist[R any, P timedReport[R]](rep P, parts []*R) {
	mergeTimed(rep, parts, newClientHistogram())
}

// TestMergeCoversEveryField merges two workers' reports whose every field
// is set and checks that every field of the result is set too, except the
// ones the parent fills itself (the run's parameters, its samples of the
// targets and the kernel). A field added to a report and forgotten in its
// addPart fails here: merge it, or list it as the parent's.
func TestMergeCoversEveryField(t *testing.T) {
	// The run's parameters, and the parent's samples; "Kernel*" is every
	// field named so, "Machine" the struct and all its fields. Latency comes
	// from the merged histogram, empty here.
	params := []string{"Mode", "URL", "Sessions", "Sources", "Machine", "ClientPath", "TLS.Curves", "TLS.Resume", "Targets", "Latency"}
	tests := []struct {
		name   string
		merge  func() any
		parent []string
	}{
		{"idle", func() any { return mergeFilled(mergeIdle) }, []string{"Hold", "Ping", "Rate", "Kernel*"}},
		{"echo", func() any { return mergeFilled(mergeTimedNoHist[EchoReport]) }, []string{"Size", "Window", "Duration", "Warmup"}},
		{"handshake", func() any { return mergeFilled(mergeTimedNoHist[HandshakeReport]) }, []string{"Workers", "Duration", "Warmup", "CloseTimeout", "Rate"}},
		{"fanout", func() any { return mergeFilled(mergeTimedNoHist[FanoutReport]) }, []string{"Subscribers", "Channels", "MsgRate", "Size", "Duration", "Warmup",
			"BytesPerSec"}}, // BytesPerSec is the merged rate times the parent's Size
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, f := range zeroLeaves(reflect.ValueOf(tt.merge()).Elem(), "") {
				if !parentField(params, f) && !parentField(tt.parent, f) {
					t.Errorf("field %s is not merged from the workers' reports", f)
				}
			}
		})
	}
}

// parentField reports whether field path f is one of list: the same name,
// a field of a listed struct, or matched by a listed "Prefix*".
func parentField(list []string, f string) bool {
	for _, e := range list {
		if p, ok := strings.CutSuffix(e, "*"); ok && strings.HasPrefix(f, p) ||
			f == e || strings.HasPrefix(f, e+".") {
			return true
		}
	}
	return false
}
