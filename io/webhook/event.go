package webhook

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// Event types of the contract that carry a settlement.
const (
	TypeSettlementCreated = "settlement.created"
	TypeSettlementUpdated = "settlement.updated"
)

// ErrMalformedEvent is returned by ParseEvent for a body that is not an
// event: not a JSON object, or without a string id and type.
var ErrMalformedEvent = errors.New("malformed webhook event")

// Event is one pushed event. Data is the settlement record's bytes verbatim
// (amounts stay the vendor's decimal text).
type Event struct {
	ID      string          `json:"id"`
	Type    string          `json:"type"`
	Created string          `json:"created"`
	Data    json.RawMessage `json:"data"`
}

// IsSettlement reports whether the event's type carries a settlement
// record; other types are kept in the raw zone and otherwise ignored.
func (e Event) IsSettlement() bool {
	return e.Type == TypeSettlementCreated || e.Type == TypeSettlementUpdated
}

// ParseEvent decodes an event body. A settlement event must have data
// (its record is judged by the same row rules as a listed record). Returns
// an error wrapping ErrMalformedEvent otherwise.
func ParseEvent(body []byte) (Event, error) {
	var e Event
	if err := json.Unmarshal(body, &e); err != nil {
		return Event{}, fmt.Errorf("parsing event: %w: %w", ErrMalformedEvent, err)
	}
	if e.ID == "" || e.Type == "" {
		return Event{}, fmt.Errorf("parsing event: no id or type: %w", ErrMalformedEvent)
	}
	if e.IsSettlement() && (len(e.Data) == 0 || bytes.Equal(e.Data, []byte("null"))) {
		return Event{}, fmt.Errorf("parsing event %s: no data: %w", e.ID, ErrMalformedEvent)
	}
	return e, nil
}
