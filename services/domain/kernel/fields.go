package kernel

import (
	"encoding/json"
	"strings"
	"unicode"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Fields renders a message's fields as JSON values, named as in the
// schema (protojson with proto names), with enum values shown as words,
// as the API takes them ("goals_met", not "DISCHARGE_REASON_GOALS_MET").
// A nil message has no fields.
func Fields(m proto.Message) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	b, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(m)
	if err != nil {
		return nil
	}
	out := map[string]any{}
	_ = json.Unmarshal(b, &out)
	enumWords(m.ProtoReflect(), out)
	return out
}

// enumWords replaces, in out (m as protojson renders it with proto
// names), every enum value's name by its word: the name without the
// enum's prefix, in lower case. Nested messages are done too.
func enumWords(m protoreflect.Message, out map[string]any) {
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		name := string(fd.Name())
		switch {
		case fd.IsMap():
		case fd.Kind() == protoreflect.EnumKind && fd.IsList():
			if vals, ok := out[name].([]any); ok {
				for i := range vals {
					vals[i] = enumWord(fd.Enum(), v.List().Get(i).Enum())
				}
			}
		case fd.Kind() == protoreflect.EnumKind:
			if _, ok := out[name]; ok {
				out[name] = enumWord(fd.Enum(), v.Enum())
			}
		case fd.Kind() == protoreflect.MessageKind && fd.IsList():
			if vals, ok := out[name].([]any); ok {
				for i := range vals {
					if sub, ok := vals[i].(map[string]any); ok {
						enumWords(v.List().Get(i).Message(), sub)
					}
				}
			}
		case fd.Kind() == protoreflect.MessageKind:
			if sub, ok := out[name].(map[string]any); ok {
				enumWords(v.Message(), sub)
			}
		}
		return true
	})
}

// enumWord is the word of value n of enum e: CancelReason's
// CANCEL_REASON_ENTERED_IN_ERROR is "entered_in_error". A number the
// schema does not know stays a number.
func enumWord(e protoreflect.EnumDescriptor, n protoreflect.EnumNumber) any {
	ev := e.Values().ByNumber(n)
	if ev == nil {
		return int32(n)
	}
	return EnumWord(string(ev.Name()), e)
}

// upperSnake spells a CamelCase name in UPPER_SNAKE_CASE, as the enum
// value prefixes are: CancelReason -> CANCEL_REASON.
func upperSnake(s string) string {
	var b strings.Builder
	for i, r := range s {
		if i > 0 && unicode.IsUpper(r) {
			b.WriteByte('_')
		}
		b.WriteRune(unicode.ToUpper(r))
	}
	return b.String()
}

// EnumWord is the word of the enum value named name of enum e: the name
// without the enum's prefix, in lower case.
func EnumWord(name string, e protoreflect.EnumDescriptor) string {
	return strings.ToLower(strings.TrimPrefix(name, upperSnake(string(e.Name()))+"_"))
}
