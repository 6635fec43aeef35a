package conformance

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// Dump returns a canonical text form of v, one "path = value" line per
// leaf, sorted, so that two states compare as strings and their
// difference reads as paths. It follows pointers, interfaces, maps (by
// key), slices and the exported fields of structs; it writes times in
// RFC 3339 with their location, protobuf messages as JSON, and nothing
// for a nil or empty map or slice (an empty map that a snapshot omits is
// the same state). Unexported fields are left out: they hold caches,
// locks and counters, not the read model's state.
//
// Dump does not look at a projection's Snapshot: a field that Snapshot
// drops or Restore loses shows as a difference.
func Dump(v any) string {
	var lines []string
	dump(&lines, "", reflect.ValueOf(v), 0)
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

var (
	timeType  = reflect.TypeFor[time.Time]()
	protoType = reflect.TypeFor[proto.Message]()
)

func dump(lines *[]string, path string, v reflect.Value, depth int) {
	emit := func(s string) { *lines = append(*lines, path+" = "+s) }
	if depth > 64 {
		emit("<too deep>")
		return
	}
	if !v.IsValid() {
		emit("nil")
		return
	}
	if v.Type() == timeType {
		emit(v.Interface().(time.Time).Format(time.RFC3339Nano) + " " + v.Interface().(time.Time).Location().String())
		return
	}
	if v.Type().Implements(protoType) && v.CanInterface() {
		if v.Kind() == reflect.Pointer && v.IsNil() {
			emit("nil")
			return
		}
		b, err := protojson.MarshalOptions{}.Marshal(v.Interface().(proto.Message))
		if err != nil {
			emit("<" + err.Error() + ">")
			return
		}
		emit(string(b))
		return
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			emit("nil")
			return
		}
		dump(lines, path, v.Elem(), depth+1)
	case reflect.Struct:
		t := v.Type()
		for i := range t.NumField() {
			if f := t.Field(i); f.IsExported() {
				dump(lines, path+"."+f.Name, v.Field(i), depth+1)
			}
		}
	case reflect.Map:
		keys := v.MapKeys()
		slices.SortFunc(keys, func(a, b reflect.Value) int { return strings.Compare(fmt.Sprint(a), fmt.Sprint(b)) })
		for _, k := range keys {
			dump(lines, fmt.Sprintf("%s[%q]", path, fmt.Sprint(k)), v.MapIndex(k), depth+1)
		}
	case reflect.Slice, reflect.Array:
		if v.Len() > 0 {
			emit(fmt.Sprintf("len %d", v.Len()))
		}
		for i := range v.Len() {
			dump(lines, fmt.Sprintf("%s[%d]", path, i), v.Index(i), depth+1)
		}
	case reflect.String:
		emit(fmt.Sprintf("%q", v.String()))
	case reflect.Func, reflect.Chan, reflect.UnsafePointer:
		// Not state.
	default:
		emit(fmt.Sprint(v.Interface()))
	}
}

// diff describes how two dumps differ: the first lines only one has.
func diff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	only := func(a, b []string) []string {
		set := make(map[string]bool, len(b))
		for _, l := range b {
			set[l] = true
		}
		var out []string
		for _, l := range a {
			if !set[l] {
				out = append(out, l)
			}
		}
		return out
	}
	var sb strings.Builder
	for _, side := range []struct {
		name  string
		lines []string
	}{{"got", only(g, w)}, {"want", only(w, g)}} {
		fmt.Fprintf(&sb, "\n  only in %s (%d lines):", side.name, len(side.lines))
		for i, l := range side.lines {
			if i == 8 {
				fmt.Fprintf(&sb, "\n    ...")
				break
			}
			fmt.Fprintf(&sb, "\n    %s", l)
		}
	}
	return sb.String()
}
