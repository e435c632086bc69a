package parse

import (
	"bytes"
	"unicode/utf8"
)

// field numbers the contract members, indexing the raw values scanRecord
// sorts out.
type field uint8

const (
	fVendorTxnID field = iota
	fOrderID
	fSellerID
	fType
	fStatus
	fAmount
	fFee
	fCurrency
	fCreatedAt
	fUpdatedAt
	fSettledAt
	fMetadata
	numFields
	fUnknown = numFields
)

// fieldOf returns the contract member a (decoded) name designates, or
// fUnknown. Names match exactly: case-sensitive.
func fieldOf(name []byte) field {
	switch string(name) {
	case fieldVendorTxnID:
		return fVendorTxnID
	case fieldOrderID:
		return fOrderID
	case fieldSellerID:
		return fSellerID
	case fieldType:
		return fType
	case fieldStatus:
		return fStatus
	case fieldAmount:
		return fAmount
	case fieldFee:
		return fFee
	case fieldCurrency:
		return fCurrency
	case fieldCreatedAt:
		return fCreatedAt
	case fieldUpdatedAt:
		return fUpdatedAt
	case fieldSettledAt:
		return fSettledAt
	case fieldMetadata:
		return fMetadata
	default:
		return fUnknown
	}
}

// rawValue is a member's value as scanned: a slice of the record.
type rawValue struct {
	b []byte // nil when the member is absent
	// decode is set for a string whose content may differ from its Go value
	// (see scanner.str).
	decode bool
}

// member is a top-level member the contract does not name.
type member struct {
	name  []byte // decoded; aliases the record when it needed no unquoting
	value []byte // the raw value, a slice of the record
	key   span   // where ParseRecord put the name in its string buffer
}

// linearDupLimit is the number of unknown members checked for duplicates by
// comparing them pairwise; past it scanRecord switches to a map, so a
// hostile record with many members costs linear, not quadratic, time.
const linearDupLimit = 16

// scanRecord scans raw as a record: exactly one well-formed JSON object,
// surrounding whitespace allowed, accepting what encoding/json's Decoder
// accepts. It stores the raw value of each contract member in contract (nil
// when absent) and appends the other members to extra, in order. ok is
// false when raw is not such an object; dup reports that a member name
// (after unescaping) appears twice. Values are slices of raw, not copies.
func scanRecord(raw []byte, contract *[numFields]rawValue, extra []member) (_ []member, ok, dup bool) {
	s := scanner{b: raw}
	s.ws()
	if s.peek() != '{' {
		return extra, false, false
	}
	s.i++
	var seen map[string]struct{} // unknown names, once past linearDupLimit
	s.ws()
	if s.peek() == '}' {
		s.i++
	} else {
		for more := true; more; {
			s.ws()
			if s.peek() != '"' {
				return extra, false, false
			}
			ks, ke, decode, ok := s.str()
			if !ok {
				return extra, false, false
			}
			name := raw[ks:ke]
			if decode && needsUnquote(name) {
				name = appendUnquoted(make([]byte, 0, len(name)+utf8.UTFMax), name)
			}
			s.ws()
			if s.peek() != ':' {
				return extra, false, false
			}
			s.i++
			s.ws()
			vs := s.i
			decode = false
			if s.peek() == '"' {
				_, _, decode, ok = s.str()
			} else {
				// Depth 0, not 1: encoding/json's Decoder, which
				// ParseRecord was built on, counts a member value's nesting
				// from zero.
				ok = s.value(0)
			}
			if !ok {
				return extra, false, false
			}
			value := raw[vs:s.i]
			if f := fieldOf(name); f != fUnknown {
				// A scanned value is never empty, so nil means unseen.
				dup = dup || contract[f].b != nil
				contract[f] = rawValue{b: value, decode: decode}
			} else {
				switch {
				case seen != nil:
				case len(extra) < linearDupLimit:
					for _, m := range extra {
						dup = dup || bytes.Equal(m.name, name)
					}
				default:
					seen = make(map[string]struct{}, 2*linearDupLimit)
					for _, m := range extra {
						seen[string(m.name)] = struct{}{}
					}
				}
				if seen != nil {
					if _, ok := seen[string(name)]; ok {
						dup = true
					}
					seen[string(name)] = struct{}{}
				}
				extra = append(extra, member{name: name, value: value})
			}
			s.ws()
			switch s.peek() {
			case ',':
				s.i++
			case '}':
				s.i++
				more = false
			default:
				return extra, false, false
			}
		}
	}
	s.ws()
	if s.i != len(raw) {
		return extra, false, false
	}
	return extra, true, dup
}
