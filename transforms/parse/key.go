package parse

import (
	"bytes"
	"encoding/json"
	"fmt"
	"unicode/utf8"
)

// Key returns the dedup key of a raw record, its vendor_txn_id, and its
// updated_at as UTC unix nanoseconds, without decoding anything else.
//
// Key is the fast path of the first processing pass. It validates the whole
// record's JSON syntax (so it accepts exactly the records ParseRecord
// accepts) but only decodes the two values it returns; metadata and other
// members are skipped, not built. For every record it accepts, ParseRecord
// yields the same vendor_txn_id and updated_at (FuzzKey proves this).
//
// It returns a *ReasonError, in this order of precedence:
// record_not_object (ErrNotObject), duplicate_key (ErrDuplicateKey),
// vendor_txn_id_missing (ErrVendorTxnID: absent, null, not a string, or
// not 1..64 characters) and updated_at_invalid (ErrUpdatedAt: absent, null,
// or not strict RFC 3339, see ParseTimestamp).
func Key(raw []byte) (id string, updatedAtNanos int64, err error) {
	s := scanner{b: raw}
	s.ws()
	if s.peek() != '{' {
		return "", 0, reasonErr(ReasonRecordNotObject, ErrNotObject)
	}
	s.i++

	var (
		names  [24][]byte // member names seen so far, for duplicates
		seen   = names[:0]
		dup    bool
		idRaw  []byte
		updRaw []byte
	)
	notObject := func() (string, int64, error) {
		return "", 0, reasonErr(ReasonRecordNotObject, ErrNotObject)
	}
	s.ws()
	if s.peek() == '}' {
		s.i++
	} else {
		for more := true; more; {
			s.ws()
			if s.peek() != '"' {
				return notObject()
			}
			ks, ke, escaped, ok := s.str()
			if !ok {
				return notObject()
			}
			name := raw[ks:ke]
			if escaped || !utf8.Valid(name) {
				var v string
				if err := json.Unmarshal(raw[ks-1:ke+1], &v); err != nil {
					return notObject()
				}
				name = []byte(v)
			}
			for _, prev := range seen {
				if bytes.Equal(prev, name) {
					dup = true
				}
			}
			seen = append(seen, name)

			s.ws()
			if s.peek() != ':' {
				return notObject()
			}
			s.i++
			s.ws()
			vs := s.i
			// Depth 0, not 1: encoding/json's Decoder, which ParseRecord
			// uses, counts a member value's nesting from zero.
			if !s.value(0) {
				return notObject()
			}
			switch string(name) {
			case fieldVendorTxnID:
				idRaw = raw[vs:s.i]
			case fieldUpdatedAt:
				updRaw = raw[vs:s.i]
			}
			s.ws()
			switch s.peek() {
			case ',':
				s.i++
			case '}':
				s.i++
				more = false
			default:
				return notObject()
			}
		}
	}
	s.ws()
	if s.i != len(raw) {
		return notObject()
	}
	if dup {
		return "", 0, reasonErr(ReasonDuplicateKey, ErrDuplicateKey)
	}

	id, ok := decodeString(idRaw)
	if !ok || !ValidVendorTxnID(id) {
		return "", 0, reasonErr(ReasonVendorTxnIDMissing, ErrVendorTxnID)
	}
	upd, ok := decodeString(updRaw)
	if !ok {
		return "", 0, reasonErr(ReasonUpdatedAtInvalid, ErrUpdatedAt)
	}
	t, ok := parseTimestamp(upd)
	if !ok {
		return "", 0, reasonErr(ReasonUpdatedAtInvalid, fmt.Errorf("%w: %q", ErrUpdatedAt, clip(upd)))
	}
	return id, t.UnixNano(), nil
}

// ValidVendorTxnID reports whether id meets the contract: 1 to 64
// characters (Unicode code points).
func ValidVendorTxnID(id string) bool {
	return id != "" && utf8.RuneCountInString(id) <= 64
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
