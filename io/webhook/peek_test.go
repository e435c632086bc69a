package webhook

import (
	"encoding/json"
	"testing"
)

// peekEventReference is what peekEvent must give: encoding/json's reading
// of the top-level id and type.
func peekEventReference(body []byte) (id, typ string) {
	var e struct {
		ID   json.RawMessage `json:"id"`
		Type json.RawMessage `json:"type"`
	}
	if json.Unmarshal(body, &e) != nil {
		return "", ""
	}
	var s string
	if json.Unmarshal(e.ID, &s) == nil {
		id = s
	}
	s = ""
	if json.Unmarshal(e.Type, &s) == nil {
		typ = s
	}
	return id, typ
}

var peekSeeds = []string{
	`{"id":"evt_1","type":"settlement.updated","data":{"id":"inner"}}`,
	`{"type":"settlement.created","id":"evt_2"}`,
	`{"ID":"upper","Type":"T"}`,
	`{"id":"first","id":"second"}`,
	`{"id":"exact","iD":"folded"}`,
	`{"id":5,"type":null}`,
	`{"id":"a\u00e9\"b\\n","type":"\ud83d\ude00"}`,
	"{\"id\":\"bad \xff utf8\"}",
	`{"id":"x"} trailing`,
	`{"id":"x",}`,
	`[{"id":"x"}]`,
	`null`,
	`"id"`,
	``,
	` { "id" : "spaced" , "type" : "t" } `,
	`{"\u0069d":"escaped key"}`,
	`{"ſ":"long s","K":"kelvin","İd":"dotted"}`,
	`{"id":{"nested":"object"},"type":["array"]}`,
	`{"id":"deep","x":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}`,
}

// TestPeekEventMatchesEncodingJSON runs the seeds of the fuzz test below.
func TestPeekEventMatchesEncodingJSON(t *testing.T) {
	for _, body := range peekSeeds {
		gotID, gotType := peekEvent([]byte(body))
		wantID, wantType := peekEventReference([]byte(body))
		if gotID != wantID || gotType != wantType {
			t.Errorf("peekEvent(%q) = %q, %q; encoding/json gives %q, %q", body, gotID, gotType, wantID, wantType)
		}
	}
	if id, typ := peekEvent([]byte(peekSeeds[0])); id != "evt_1" || typ != "settlement.updated" {
		t.Errorf("peekEvent of an event = %q, %q", id, typ)
	}
}

// FuzzPeekEventMatchesEncodingJSON: for any body, peekEvent reads the id
// and type encoding/json reads (it names the raw object, so a redelivery
// must land under the same name whatever the reader).
func FuzzPeekEventMatchesEncodingJSON(f *testing.F) {
	for _, s := range peekSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		gotID, gotType := peekEvent(body)
		wantID, wantType := peekEventReference(body)
		if gotID != wantID || gotType != wantType {
			t.Errorf("peekEvent(%q) = %q, %q; encoding/json gives %q, %q", body, gotID, gotType, wantID, wantType)
		}
	})
}
