package parse

import (
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
	var (
		contract [numFields]rawValue
		extra    [linearDupLimit]member
	)
	_, ok, dup := scanRecord(raw, &contract, extra[:0])
	if !ok {
		return "", 0, reasonErr(ReasonRecordNotObject, ErrNotObject)
	}
	if dup {
		return "", 0, reasonErr(ReasonDuplicateKey, ErrDuplicateKey)
	}

	id, ok = contract[fVendorTxnID].str()
	if !ok || !ValidVendorTxnID(id) {
		return "", 0, reasonErr(ReasonVendorTxnIDMissing, ErrVendorTxnID)
	}
	upd, ok := contract[fUpdatedAt].str()
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
