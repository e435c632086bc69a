package vendorapi

import (
	"encoding/json"
	"fmt"
)

// ParsePageReference is ParsePage as it was before it used jsonscan: two
// encoding/json decodes. FuzzParsePageMatchesReference holds the two to the
// same results.
var ParsePageReference = parsePageReference

func parsePageReference(body []byte) (Envelope, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil {
		return Envelope{}, fmt.Errorf("decoding page envelope: %w: %w", ErrMalformedPage, err)
	}
	w := struct{ Data, HasMore, NextCursor, Error json.RawMessage }{
		Data: fields["data"], HasMore: fields["has_more"], NextCursor: fields["next_cursor"], Error: fields["error"],
	}
	if !isNull(w.Error) {
		return Envelope{}, fmt.Errorf("decoding page envelope: %w", errorObject(200, w.Error))
	}
	if isNull(w.Data) {
		return Envelope{}, fmt.Errorf("decoding page envelope: %w: no data array", ErrMalformedPage)
	}
	var env Envelope
	if err := json.Unmarshal(w.Data, &env.Records); err != nil {
		return Envelope{}, fmt.Errorf("decoding page envelope: %w: data is not an array: %w", ErrMalformedPage, err)
	}
	if env.Records == nil {
		env.Records = []json.RawMessage{}
	}
	if isNull(w.HasMore) {
		return Envelope{}, fmt.Errorf("decoding page envelope: %w: no has_more", ErrMalformedPage)
	}
	if err := json.Unmarshal(w.HasMore, &env.HasMore); err != nil {
		return Envelope{}, fmt.Errorf("decoding page envelope: %w: has_more is not a boolean: %w", ErrMalformedPage, err)
	}
	if !env.HasMore {
		return env, nil
	}
	if isNull(w.NextCursor) {
		return Envelope{}, fmt.Errorf("decoding page envelope: %w: has_more without next_cursor", ErrMalformedPage)
	}
	if err := json.Unmarshal(w.NextCursor, &env.NextCursor); err != nil {
		return Envelope{}, fmt.Errorf("decoding page envelope: %w: next_cursor is not a string: %w", ErrMalformedPage, err)
	}
	if env.NextCursor == "" {
		return Envelope{}, fmt.Errorf("decoding page envelope: %w: has_more with an empty next_cursor", ErrMalformedPage)
	}
	return env, nil
}
