// Package parse decodes the vendor's settlement records exactly and
// tolerantly: every contract field is kept with its presence (missing, null,
// present, invalid) so the gate can tell the vendor's defects apart, money
// is exact (decimal, never float64), and unknown members and metadata are
// kept as the vendor sent them. It holds no Beam code and does no I/O.
package parse

import (
	"encoding/json"
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
//
// It scans raw once with the validating scanner Key uses, decoding only the
// contract members; the Record does not alias raw. Its results are exactly
// those of the encoding/json Decoder it replaced, kept in the tests as
// parseRecordReference (FuzzParseRecordMatchesReference).
func ParseRecord(raw []byte) (Record, error) {
	var (
		contract [numFields]rawValue
		extraArr [linearDupLimit]member
	)
	extra, ok, dup := scanRecord(raw, &contract, extraArr[:0])
	if !ok {
		return Record{}, reasonErr(ReasonRecordNotObject, ErrNotObject)
	}
	if dup {
		return Record{}, reasonErr(ReasonDuplicateKey, ErrDuplicateKey)
	}

	// Every string the record keeps or parses (string members decoded,
	// number literals as sent, unknown member names) goes into one buffer,
	// made into one string: one allocation instead of one per member.
	var (
		scratch [512]byte
		buf     = scratch[:0]
		spans   [fMetadata]span
	)
	for f := range fMetadata {
		v := contract[f].b
		if v == nil {
			continue
		}
		start := len(buf)
		switch {
		case v[0] == '"':
			buf = contract[f].appendContent(buf)
			if f == fCurrency {
				upperASCII(buf[start:])
			}
		case (f == fAmount || f == fFee) && isNumberStart(v[0]):
			buf = append(buf, v...)
		}
		spans[f] = span{start, len(buf)}
	}
	for i := range extra {
		start := len(buf)
		buf = append(buf, extra[i].name...)
		extra[i].key = span{start, len(buf)}
	}
	all := string(buf)
	str := func(f field) string { return all[spans[f].start:spans[f].end] }

	rec := Record{
		VendorTxnID: text(contract[fVendorTxnID].b, str(fVendorTxnID)),
		OrderID:     text(contract[fOrderID].b, str(fOrderID)),
		SellerID:    text(contract[fSellerID].b, str(fSellerID)),
		Type:        text(contract[fType].b, str(fType)),
		Status:      text(contract[fStatus].b, str(fStatus)),
		Amount:      number(contract[fAmount].b, str(fAmount)),
		Fee:         number(contract[fFee].b, str(fFee)),
		Currency:    text(contract[fCurrency].b, str(fCurrency)),
		CreatedAt:   timestamp(contract[fCreatedAt].b, str(fCreatedAt)),
		UpdatedAt:   timestamp(contract[fUpdatedAt].b, str(fUpdatedAt)),
		SettledAt:   timestamp(contract[fSettledAt].b, str(fSettledAt)),
	}

	// Metadata and unknown members are copied, exactly as sent, into one
	// buffer the record owns, each capped so that appending to one cannot
	// overwrite the next.
	size := len(contract[fMetadata].b)
	for _, m := range extra {
		size += len(m.value)
	}
	data := make([]byte, 0, size)
	keep := func(v []byte) json.RawMessage {
		start := len(data)
		data = append(data, v...)
		return data[start:len(data):len(data)]
	}
	if v := contract[fMetadata].b; v != nil {
		rec.Metadata = keep(v)
	}
	if len(extra) > 0 {
		rec.Extra = make(map[string]json.RawMessage, len(extra))
		for _, m := range extra {
			rec.Extra[all[m.key.start:m.key.end]] = keep(m.value)
		}
	}
	return rec, nil
}

// span is a range [start, end) of a buffer.
type span struct{ start, end int }

func isNumberStart(c byte) bool { return c == '-' || isDigit(c) }

// text is a string member from its raw value v (nil when absent) and, when
// v is a string, its decoded value s.
func text(v []byte, s string) Text {
	switch {
	case v == nil:
		return Text{}
	case v[0] == 'n': // a scanned value starting with n is null
		return Text{State: Null}
	case v[0] == '"':
		return Text{State: Present, Value: s}
	default:
		return Text{State: Invalid}
	}
}

// number is a money member from its raw value v (nil when absent) and, when
// v is a string or a number, its decoded value or literal s.
func number(v []byte, s string) Number {
	switch {
	case v == nil:
		return Number{}
	case v[0] == 'n':
		return Number{State: Null}
	case v[0] == '"':
		d, err := decimal.Parse(s)
		if err != nil {
			return Number{State: Invalid}
		}
		return Number{State: Present, Value: d}
	case isNumberStart(v[0]):
		d, err := decimal.FromJSONNumber(json.Number(s))
		if err != nil {
			return Number{State: Invalid, FromJSONNumber: true}
		}
		return Number{State: Present, Value: d, FromJSONNumber: true}
	default:
		return Number{State: Invalid}
	}
}

// timestamp is a time member from its raw value v (nil when absent) and,
// when v is a string, its decoded value s.
func timestamp(v []byte, s string) Timestamp {
	switch {
	case v == nil:
		return Timestamp{}
	case v[0] == 'n':
		return Timestamp{State: Null}
	case v[0] == '"':
		t, ok := parseTimestamp(s)
		if !ok {
			return Timestamp{State: Invalid}
		}
		return Timestamp{State: Present, Value: t}
	default:
		return Timestamp{State: Invalid}
	}
}

// upperASCII upper-cases ASCII letters only, in place, so no Unicode case
// mapping can turn an unknown code into a known one.
func upperASCII(b []byte) {
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			b[i] = c - ('a' - 'A')
		}
	}
}

// Raw is one vendor record as it sits in the raw zone: its exact bytes, the
// raw object (page) it came from, and its position in that page's data
// array. It is the element type of gate.Split's input.
type Raw struct {
	Ref   string `json:"ref"`
	Index int    `json:"index"`
	Data  []byte `json:"data"`
}
