package gate_test

import (
	"encoding/json"
	"testing"

	"github.com/marketplace/settle/transforms/gate"
)

func TestMetadataJSON(t *testing.T) {
	extra := map[string]json.RawMessage{"z": json.RawMessage(`1.50`), "a<b": json.RawMessage(`{ "k" : [ ] }`)}
	tests := []struct {
		name  string
		meta  string // "" for absent
		extra map[string]json.RawMessage
		want  string
	}{
		{name: "metadata without extras is passed through byte for byte", meta: "{ \"b\":1.50e0,\n\"a\":null }", want: "{ \"b\":1.50e0,\n\"a\":null }"},
		{name: "absent metadata without extras is null", want: "null"},
		{name: "null metadata without extras stays null", meta: "null", want: "null"},
		{name: "extras go first into an object and the vendor's bytes follow", meta: `{"b":1.50e0}`, extra: extra, want: `{"_extra":{"a\u003cb":{ "k" : [ ] },"z":1.50},"b":1.50e0}`},
		{name: "extras go into an empty object", meta: `{ }`, extra: extra, want: `{"_extra":{"a\u003cb":{ "k" : [ ] },"z":1.50} }`},
		{name: "extras make an object of absent metadata", extra: extra, want: `{"_extra":{"a\u003cb":{ "k" : [ ] },"z":1.50}}`},
		{name: "extras make an object of null metadata", meta: "null", extra: extra, want: `{"_extra":{"a\u003cb":{ "k" : [ ] },"z":1.50}}`},
		{name: "metadata that is not an object is kept beside the extras", meta: `[1,2]`, extra: extra, want: `{"_metadata":[1,2],"_extra":{"a\u003cb":{ "k" : [ ] },"z":1.50}}`},
		{name: "a vendor _extra member is not overwritten", meta: `{"_extra":1,"__extra":2}`, extra: map[string]json.RawMessage{"x": json.RawMessage(`true`)}, want: `{"___extra":{"x":true},"_extra":1,"__extra":2}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var meta json.RawMessage
			if tt.meta != "" {
				meta = json.RawMessage(tt.meta)
			}
			got := gate.MetadataJSON(meta, tt.extra)
			if got != tt.want {
				t.Errorf("MetadataJSON(%s, %v) = %s, want %s", tt.meta, tt.extra, got, tt.want)
			}
			if !json.Valid([]byte(got)) {
				t.Errorf("MetadataJSON(%s, %v) = %s, not valid JSON", tt.meta, tt.extra, got)
			}
		})
	}
}
