package gate

import (
	"bytes"
	"encoding/json"
	"maps"
	"slices"
	"strings"
)

// MetadataJSON builds the warehouse metadata column from the record's
// metadata bytes and its unknown top-level members (parse.Record.Extra).
//
// Without extras it is the metadata exactly as sent, or "null" when absent.
// With extras, they are folded in as one object member, named "_extra"
// (or "__extra", "___extra"… if the vendor's metadata already uses that
// name), holding the extras with sorted names and their values' bytes as
// sent:
//
//   - metadata an object: the member is inserted first and the vendor's
//     bytes follow untouched: {"_extra":{...},<vendor members>}
//   - metadata absent or null: {"_extra":{...}}
//   - metadata another JSON value: {"_metadata":<value>,"_extra":{...}}
func MetadataJSON(meta json.RawMessage, extra map[string]json.RawMessage) string {
	trimmed := bytes.TrimSpace(meta)
	if len(extra) == 0 {
		if len(trimmed) == 0 {
			return "null"
		}
		return string(meta)
	}

	isObject := len(trimmed) > 0 && trimmed[0] == '{'
	name := "_extra"
	if isObject {
		var members map[string]json.RawMessage
		if err := json.Unmarshal(trimmed, &members); err == nil {
			for {
				if _, taken := members[name]; !taken {
					break
				}
				name = "_" + name
			}
		}
	}

	var b strings.Builder
	b.WriteByte('{')
	switch {
	case isObject:
	case len(trimmed) == 0 || string(trimmed) == "null":
	default:
		b.WriteString(`"_metadata":`)
		b.Write(trimmed)
		b.WriteByte(',')
	}
	writeString(&b, name)
	b.WriteString(`:{`)
	for i, k := range slices.Sorted(maps.Keys(extra)) {
		if i > 0 {
			b.WriteByte(',')
		}
		writeString(&b, k)
		b.WriteByte(':')
		b.Write(extra[k])
	}
	b.WriteByte('}')
	if isObject {
		rest := trimmed[1:] // the vendor's members and closing brace
		if len(bytes.TrimSpace(rest)) > 1 {
			b.WriteByte(',')
		}
		b.Write(rest)
	} else {
		b.WriteByte('}')
	}
	return b.String()
}

func writeString(b *strings.Builder, s string) {
	q, _ := json.Marshal(s) // a string always marshals
	b.Write(q)
}
