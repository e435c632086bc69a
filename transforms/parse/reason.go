package parse

import (
	"errors"
)

// Reason codes of quarantined rows. The strings are shared with the vendor
// simulator (testing/) and stored in settlements_quarantine.reason, so they
// never change.
const (
	ReasonAmountMissing      = "amount_missing"        // amount absent or null
	ReasonAmountInvalid      = "amount_invalid"        // not a decimal string or number, or too large
	ReasonAmountNegative     = "amount_negative"       // below zero
	ReasonAmountPrecision    = "amount_precision"      // more fractional digits than the currency has
	ReasonFeeInvalid         = "fee_invalid"           // fee not a decimal, negative, too precise or too large
	ReasonCurrencyMissing    = "currency_missing"      // currency absent, null or ""
	ReasonCurrencyUnknown    = "currency_unknown"      // currency not allowed, or not a string
	ReasonVendorTxnIDMissing = "vendor_txn_id_missing" // absent, null, not a string, "" or over 64 characters
	ReasonSellerIDMissing    = "seller_id_missing"     // absent, null, not a string or ""
	ReasonTypeInvalid        = "type_invalid"          // not one of the contract's types
	ReasonStatusInvalid      = "status_invalid"        // not one of the contract's statuses
	ReasonCreatedAtInvalid   = "created_at_invalid"    // absent, null or not RFC 3339
	ReasonUpdatedAtInvalid   = "updated_at_invalid"    // absent, null or not RFC 3339
	ReasonSettledAtInvalid   = "settled_at_invalid"    // present, not null and not RFC 3339
	ReasonRecordNotObject    = "record_not_object"     // the record is not a well-formed JSON object
	ReasonPageUnparseable    = "page_unparseable"      // the whole page body could not be decoded

	// Reasons beyond the simulator's list: defects the contract forbids that
	// no other code describes.
	ReasonOrderIDInvalid = "order_id_invalid" // order_id present but neither a string nor null
	ReasonDuplicateKey   = "duplicate_key"    // a top-level member name appears twice
	// ReasonEventUnparseable: a pushed webhook body, correctly signed, that
	// is not an event (not JSON, no id or type, or a settlement event
	// without data).
	ReasonEventUnparseable = "event_unparseable"
)

// Sentinel errors of ParseRecord and Key, each carried inside a ReasonError.
var (
	ErrNotObject    = errors.New("record is not a well-formed JSON object")
	ErrDuplicateKey = errors.New("record has a duplicate member name")
	ErrVendorTxnID  = errors.New("vendor_txn_id is missing or invalid")
	ErrUpdatedAt    = errors.New("updated_at is missing or invalid")
)

// ReasonError is a record-level failure with its quarantine reason code.
// Err is one of the sentinels above, possibly wrapped.
type ReasonError struct {
	Reason string // one of the Reason constants
	Err    error
}

func (e *ReasonError) Error() string { return e.Reason + ": " + e.Err.Error() }

func (e *ReasonError) Unwrap() error { return e.Err }

// ReasonOf returns the reason code carried by err, or "" if err carries none.
func ReasonOf(err error) string {
	if re, ok := errors.AsType[*ReasonError](err); ok {
		return re.Reason
	}
	return ""
}

func reasonErr(reason string, err error) error { return &ReasonError{Reason: reason, Err: err} }
