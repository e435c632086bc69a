// Package parse decodes the vendor's settlement records exactly and
// tolerantly: every contract field is kept with its presence (missing, null,
// present, invalid) so the gate can tell the vendor's defects apart, money
// is exact (decimal, never float64), and unknown members and metadata are
// kept as the vendor sent them. It holds no Beam code and does no I/O.
package parse

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"time"

	"github.com/marketplace/settle/transforms/decimal"
)

// Contract member names of a settlement record.
const (
	fieldVendorTxnID = "vendor_txn_id"
	fieldOrderID     = "order_id"
	fieldSellerID    = "seller_id"
	fieldType        = "type"
	fieldStatus      = "status"
	fieldAmount      = "amount"
	fieldFee         = "fee"
	fieldCurrency    = "currency"
	fieldCreatedAt   = "created_at"
	fieldUpdatedAt   = "updated_at"
	fieldSettledAt   = "settled_at"
	fieldMetadata    = "metadata"
)

// State says how a contract member appeared in a record.
type State uint8

const (
	// Missing: the member is absent. The zero value.
	Missing State = iota
	// Null: the member is JSON null.
	Null
	// Present: the member has the right JSON type and a well-formed value.
	Present
	// Invalid: the member is there but has the wrong JSON type or a
	// malformed value (a decimal string that is not a decimal, a timestamp
	// that is not RFC 3339).
	Invalid
)

func (s State) String() string {
	switch s {
	case Missing:
		return "missing"
	case Null:
		return "null"
	case Present:
		return "present"
	case Invalid:
		return "invalid"
	default:
		return "state(" + strconv.Itoa(int(s)) + ")"
	}
}

// Text is a string member. Value is set only when State is Present; ""
// is a Present empty string, distinct from Missing and Null.
type Text struct {
	State State
	Value string
}

// Number is a money member. The vendor sends a decimal string ("12.50") by
// contract, and sometimes a JSON number (12.5, 1.25e1); both are converted
// exactly. Value is set only when State is Present. FromJSONNumber records
// that the vendor sent a JSON number rather than a string.
type Number struct {
	State          State
	Value          decimal.Decimal
	FromJSONNumber bool
}

// Timestamp is a time member, parsed with ParseTimestamp. Value (UTC) is set
// only when State is Present.
type Timestamp struct {
	State State
	Value time.Time
}

// Record is one decoded settlement record. The zero Record has every member
// Missing.
type Record struct {
	VendorTxnID Text
	OrderID     Text
	SellerID    Text
	Type        Text
	Status      Text
	Amount      Number
	Fee         Number
	// Currency.Value is upper-cased (ASCII letters only).
	Currency  Text
	CreatedAt Timestamp
	UpdatedAt Timestamp
	SettledAt Timestamp
	// Metadata is the metadata member's bytes exactly as sent (any JSON
	// value), nil when absent and "null" when null.
	Metadata json.RawMessage
	// Extra holds the members the contract does not name, with their bytes
	// exactly as sent; nil when there are none.
	Extra map[string]json.RawMessage
}

// ParseRecord decodes one raw record (a JSON object). Defects in members are
// not errors: they show as the member's State, and the gate turns them into
// reason codes. Member names match exactly (case-sensitive, after JSON
// unescaping).
//
// It returns a *ReasonError only for the record as a whole:
// record_not_object (ErrNotObject) when raw is not exactly one well-formed
// JSON object (surrounding whitespace allowed), and duplicate_key
// (ErrDuplicateKey) when a member name appears twice, since the vendor's
// intent is then ambiguous.
func ParseRecord(raw []byte) (Record, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	notObject := func() (Record, error) {
		return Record{}, reasonErr(ReasonRecordNotObject, ErrNotObject)
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return notObject()
	}
	var (
		rec   Record
		seen  = make(map[string]struct{}, 16)
		dup   bool
		value json.RawMessage
	)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return notObject()
		}
		name, ok := tok.(string)
		if !ok {
			return notObject()
		}
		value = nil
		if err := dec.Decode(&value); err != nil {
			return notObject()
		}
		if _, ok := seen[name]; ok {
			dup = true
		}
		seen[name] = struct{}{}
		rec.set(name, value)
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return notObject()
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return notObject()
	}
	if dup {
		return Record{}, reasonErr(ReasonDuplicateKey, ErrDuplicateKey)
	}
	return rec, nil
}

// set stores one member. value is a copy owned by the record.
func (r *Record) set(name string, value json.RawMessage) {
	switch name {
	case fieldVendorTxnID:
		r.VendorTxnID = text(value)
	case fieldOrderID:
		r.OrderID = text(value)
	case fieldSellerID:
		r.SellerID = text(value)
	case fieldType:
		r.Type = text(value)
	case fieldStatus:
		r.Status = text(value)
	case fieldCurrency:
		r.Currency = text(value)
		r.Currency.Value = upperASCII(r.Currency.Value)
	case fieldAmount:
		r.Amount = number(value)
	case fieldFee:
		r.Fee = number(value)
	case fieldCreatedAt:
		r.CreatedAt = timestamp(value)
	case fieldUpdatedAt:
		r.UpdatedAt = timestamp(value)
	case fieldSettledAt:
		r.SettledAt = timestamp(value)
	case fieldMetadata:
		r.Metadata = value
	default:
		if r.Extra == nil {
			r.Extra = make(map[string]json.RawMessage)
		}
		r.Extra[name] = value
	}
}

func isNull(v json.RawMessage) bool { return string(v) == "null" }

func text(v json.RawMessage) Text {
	if isNull(v) {
		return Text{State: Null}
	}
	s, ok := decodeString(v)
	if !ok {
		return Text{State: Invalid}
	}
	return Text{State: Present, Value: s}
}

func number(v json.RawMessage) Number {
	if isNull(v) {
		return Number{State: Null}
	}
	if s, ok := decodeString(v); ok {
		d, err := decimal.Parse(s)
		if err != nil {
			return Number{State: Invalid}
		}
		return Number{State: Present, Value: d}
	}
	if len(v) > 0 && (v[0] == '-' || isDigit(v[0])) {
		d, err := decimal.FromJSONNumber(json.Number(v))
		if err != nil {
			return Number{State: Invalid, FromJSONNumber: true}
		}
		return Number{State: Present, Value: d, FromJSONNumber: true}
	}
	return Number{State: Invalid}
}

func timestamp(v json.RawMessage) Timestamp {
	if isNull(v) {
		return Timestamp{State: Null}
	}
	s, ok := decodeString(v)
	if !ok {
		return Timestamp{State: Invalid}
	}
	t, ok := parseTimestamp(s)
	if !ok {
		return Timestamp{State: Invalid}
	}
	return Timestamp{State: Present, Value: t}
}

// upperASCII upper-cases ASCII letters only, so no Unicode case mapping can
// turn an unknown code into a known one.
func upperASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if 'a' <= s[i] && s[i] <= 'z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'a' <= b[j] && b[j] <= 'z' {
					b[j] -= 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// Raw is one vendor record as it sits in the raw zone: its exact bytes, the
// raw object (page) it came from, and its position in that page's data
// array. It is the element type of gate.Split's input.
type Raw struct {
	Ref   string `json:"ref"`
	Index int    `json:"index"`
	Data  []byte `json:"data"`
}
